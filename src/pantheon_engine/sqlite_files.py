"""Open and version Pantheon's SQLite files (the job queue, the trace store) one way."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from pantheon_engine.errors import PantheonError


def is_busy(exc: sqlite3.Error) -> bool:
    """A lock that outlived the busy timeout (as opposed to a broken file)."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_wal(
    path: Path, *, busy_timeout_ms: int, synchronous: str, what: str,
    error: type[PantheonError], busy_error: type[PantheonError], fs_hint: str, bad_hint: str,
    prepare: Callable[[sqlite3.Connection], None],
) -> sqlite3.Connection:
    """Connect in autocommit mode, switch to WAL, run ``prepare`` (pragmas, schema).

    Every failure becomes ``error`` (or ``busy_error`` for a lock) naming ``what`` and the
    path; the connection is closed on the way out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise error(f"cannot open {what} {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise error(f"{what} {path}: cannot switch to WAL mode (got {mode!r})",
                        hint=fs_hint)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        prepare(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if is_busy(exc):
            raise busy_error(f"{what} {path} is locked: {exc}") from exc
        raise error(f"{what} {path} is not a usable SQLite database: {exc}",
                    hint=bad_hint) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def apply_schema(conn: sqlite3.Connection, schema: str, version: int, *, what: str,
                 path: Path, error: type[PantheonError], hint: str) -> None:
    """Inside the caller's transaction: create ``schema`` in a new file, refuse a newer one.

    The version lives in ``PRAGMA user_version``.
    """
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > version:
        raise error(f"{what} {path} has schema version {found}; this Pantheon understands "
                    f"up to version {version}", hint=hint)
    if found < version:
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
