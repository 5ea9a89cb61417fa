"""Follow a JSONL file that another process is appending to (``metrics.jsonl``).

The reader keeps a byte offset and hands out only complete lines: a partial last line
stays in the file until its newline arrives. A file that shrank (replaced or truncated)
is read again from the start, and so is one whose first bytes changed (truncated and
written again). Lines that are not JSON objects are skipped and counted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pantheon_engine.atomic import decode_record

__all__ = ["JsonlTail", "latest_night", "night_dirs"]

HEAD_BYTES = 64


class JsonlTail:
    """Incremental reader: each :meth:`read_new` returns the records appended since the last."""

    def __init__(self, path: Path | str, *, chunk_bytes: int = 1 << 20) -> None:
        self.path = Path(path)
        self.offset = 0
        self.skipped = 0  # lines that were not JSON objects
        self.resets = 0  # times the file shrank and was read again
        self._chunk = chunk_bytes
        self._identity: tuple[int, int] | None = None
        self._head = b""  # the file's first bytes: a rewritten file has other ones

    def read_new(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        """Complete records appended since the last call (all of them, or ``max_bytes`` worth)."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return []
        records: list[dict[str, Any]] = []
        with handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            head = handle.read(HEAD_BYTES) if self.offset else b""
            if (
                stat.st_size < self.offset
                or (self._identity is not None and identity != self._identity)
                or head[: len(self._head)] != self._head
            ):
                self.offset = 0
                self.resets += 1
                self._head = b""
            self._identity = identity
            handle.seek(self.offset)
            consumed = 0
            pending = b""
            while max_bytes is None or consumed < max_bytes:
                block = handle.read(self._chunk)
                if not block:
                    break  # what is left in ``pending`` is a partial line
                data = pending + block
                end = data.rfind(b"\n")
                if end < 0:
                    pending = data
                    continue
                complete, pending = data[: end + 1], data[end + 1 :]
                self.offset += len(complete)
                consumed += len(complete)
                self._parse(complete, records)
            if len(self._head) < HEAD_BYTES and self.offset:
                handle.seek(0)
                self._head = handle.read(min(HEAD_BYTES, self.offset))
        return records

    def _parse(self, complete: bytes, records: list[dict[str, Any]]) -> None:
        for raw in complete.splitlines():
            if not raw.strip():
                continue
            record = decode_record(raw)
            if record is None:
                self.skipped += 1
            else:
                records.append(record)


def night_dirs(artifacts: Path | str) -> list[Path]:
    """Night folders (``artifacts/nights/<night_id>``), oldest first."""
    nights = Path(artifacts) / "nights"
    try:
        found = [p for p in nights.iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=lambda p: (_mtime(p / "metrics.jsonl"), p.name))


def latest_night(artifacts: Path | str) -> Path | None:
    """The night folder written to most recently, or ``None`` before the first night."""
    found = night_dirs(artifacts)
    return found[-1] if found else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
