"""Where the model cache lives, and the small checks and helpers every pull shares.

The cache is ``$PANTHEON_HOME/models`` (``~/.cache/pantheon/models`` when
``PANTHEON_HOME`` is not set): one folder per catalogue model
(:mod:`pantheon_engine.engines.catalogue`), ``hf/`` for Hugging Face downloads
(:mod:`pantheon_engine.engines.pull_hf`) and ``compat/`` for OpenVINO-compatible copies of
GGUF files users bring (:mod:`pantheon_engine.engines.gguf_compat`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from pantheon_engine.atomic import fsync_dir

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = [
    "GGUF_MAGIC",
    "ModelInfo",
    "ModelKind",
    "compat_dir",
    "hf_dir",
    "install_folder",
    "is_gguf_file",
    "is_ir_folder",
    "models_dir",
    "pantheon_home",
    "progress_bar",
]

GGUF_MAGIC = b"GGUF"
ModelKind = Literal["gguf", "ir", "hf"]


class ModelInfo(BaseModel):
    """One line of ``pantheon models list``."""

    name: str
    kind: ModelKind
    path: Path | None = None
    present: bool = False
    size: int | None = None  # of what is in the cache (None when absent)
    download_size: int | None = None  # what a pull fetches, when known
    source: str = ""
    license: str = ""
    sha256: str | None = None  # pinned SHA-256 of the download, when known
    file_sha256: str | None = None  # of the cached file, when it differs (re-encoded)
    default: bool = False


def pantheon_home() -> Path:
    """``$PANTHEON_HOME``, or ``~/.cache/pantheon``."""
    home = os.environ.get("PANTHEON_HOME")
    if home:
        return Path(home).expanduser()
    return Path("~/.cache/pantheon").expanduser()


def models_dir() -> Path:
    return pantheon_home() / "models"


def hf_dir() -> Path:
    """Where Hugging Face downloads are cached: ``models_dir()/hf``."""
    return models_dir() / "hf"


def compat_dir() -> Path:
    """Where OpenVINO-compatible copies of users' GGUF files go: ``models_dir()/compat``."""
    return models_dir() / "compat"


def is_gguf_file(path: Path) -> bool:
    """A regular file that starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def is_ir_folder(path: Path) -> bool:
    return path.is_dir() and (path / "openvino_model.xml").is_file()


def progress_bar(enabled: bool) -> Progress:
    """A rich progress display on stderr (byte counts, speed, time left); silent if off."""
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


def install_folder(tmp: Path, final: Path) -> None:
    """Rename a finished download folder into place (replacing an older copy)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        aside = Path(tempfile.mkdtemp(prefix=".old-", dir=final.parent))
        os.rename(final, aside / final.name)
        os.rename(tmp, final)
        shutil.rmtree(aside, ignore_errors=True)
    fsync_dir(final.parent)
