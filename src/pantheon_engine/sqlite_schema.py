"""Create or check the schema of one of Pantheon's SQLite files (queue, traces)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pantheon_engine.errors import PantheonError


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
