"""Crash-safe file writes and tolerant readers.

Every artifact is written to a temporary file in the same folder, fsynced, then renamed
over the target, so a reader sees either the old file or the whole new one. JSONL files
are appended one complete line per ``write`` call; readers skip a partial last line.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pantheon_engine.faults import crash_point


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every filesystem allows it)."""
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


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        crash_point("before_rename")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps(data: Any) -> str:
    """The one JSON style of artifacts: indented, sorted keys off, UTF-8, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def atomic_write_json(path: Path | str, data: Any) -> None:
    atomic_write_text(path, dumps(data))


def append_jsonl(path: Path | str, record: Any, *, durable: bool = False) -> None:
    """Append one complete JSON line: a single ``write`` on an O_APPEND descriptor.

    Once ``write`` returns the line is the kernel's: a killed process never leaves half of
    it. ``durable=True`` also fsyncs, for lines that must survive a power cut; the
    per-step logs of the tool loop skip that (it stalls the loop on a small machine).
    """
    target = Path(path)
    line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def decode_record(raw: bytes) -> dict[str, Any] | None:
    """One JSONL line as a JSON object, or ``None`` when it is not one (torn, garbage)."""
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def iter_jsonl(path: Path | str) -> Iterator[dict[str, Any]]:
    """Yield the complete JSON objects of a JSONL file, skipping a torn or partial line."""
    target = Path(path)
    if not target.exists():
        return
    with target.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # partial last line: the writer is still at work (or crashed)
            record = decode_record(raw)
            if record is not None:
                yield record


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_dict(path: Path | str) -> dict[str, Any] | None:
    """A JSON object file, or ``None`` when it is missing, unreadable or not an object."""
    try:
        data = read_json(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
