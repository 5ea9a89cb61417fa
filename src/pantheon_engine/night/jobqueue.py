"""The persistent job queue of night runs on SQLite (WAL), jobs claimed with leases.

One file (``<artifacts>/queue.sqlite`` by default) holds every job. Several processes on
one machine may use it at once: each ``JobQueue`` opens its own connection, and every state
change runs in one short ``BEGIN IMMEDIATE`` transaction, so two claimers never take the
same job. Workers on several machines share a PostgreSQL queue instead
(:mod:`pantheon_engine.night.jobqueue_pg`; :func:`pantheon_engine.night.queue_open.open_queue`
picks the backend from a path or URL). The rules (states, leases, operator commands) are
the same for both: :mod:`pantheon_engine.night.queue_base`.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pantheon_engine.night.queue_base import JobQueueBase, Tx
from pantheon_engine.night.queue_model import (
    STATES,
    Job,
    JobState,
    NewJob,
    QueueBusy,
    QueueError,
    QueueUnavailable,
    new_owner,
    owner_host,
    owner_is_dead,
)
from pantheon_engine.sqlite_files import apply_schema, is_busy, open_wal

__all__ = ["QUEUE_FILENAME", "SCHEMA_VERSION", "STATES", "Job", "JobQueue", "JobQueueBase",
           "JobState", "NewJob", "QueueBusy", "QueueError", "QueueUnavailable",
           "default_queue_path", "new_owner", "owner_host", "owner_is_dead"]

T = TypeVar("T")

SCHEMA_VERSION = 1
QUEUE_FILENAME = "queue.sqlite"
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    flow             TEXT    NOT NULL,
    flow_name        TEXT    NOT NULL,
    input_json       TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    state            TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ({", ".join(f"'{s}'" for s in STATES)})),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    lease_owner      TEXT,
    lease_expires_at REAL,
    created_at       REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    run_id           TEXT,
    error_kind       TEXT,
    error            TEXT,
    group_key        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_pick ON jobs (state, priority DESC, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_group ON jobs (group_key, state);
"""


def default_queue_path(artifacts_root: Path | str) -> Path:
    """Where a night's queue lives: ``<artifacts>/queue.sqlite``."""
    return Path(artifacts_root) / QUEUE_FILENAME


class _SqliteTx:
    """:class:`~pantheon_engine.night.queue_base.Tx` on one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None
             ) -> builtins.list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute(sql, dict(params or {})).fetchall()]

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._conn.execute(sql, dict(params or {})).rowcount

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        return int(self._conn.execute(sql, dict(params)).lastrowid or 0)


class JobQueue(JobQueueBase):
    """A handle on the queue file; one SQLite connection, usable from several threads.

    ``clock`` returns unix seconds; tests inject a fake one to move time.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] | None = time.time,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()

        def prepare(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA foreign_keys = ON")
            self._conn = conn
            self._migrate()

        open_wal(self.path, busy_timeout_ms=busy_timeout_ms, synchronous="FULL",
                 what="queue file", error=QueueError, busy_error=QueueBusy,
                 fs_hint="keep the queue on a local filesystem",
                 bad_hint="move the file away; a new queue is created in its place",
                 prepare=prepare)

    @classmethod
    def for_artifacts(cls, artifacts_root: Path | str, **kwargs: Any) -> JobQueue:
        """Open the default queue of an artifacts folder (``<artifacts>/queue.sqlite``)."""
        return cls(default_queue_path(artifacts_root), **kwargs)

    @classmethod
    def open_existing(cls, artifacts_root: Path | str, **kwargs: Any) -> JobQueue | None:
        """The default queue of an artifacts folder for reading: ``None`` while it has no
        queue file. Unlike :meth:`for_artifacts` it creates nothing (a reading command
        must not leave a queue file behind); the caller checks that the folder exists."""
        path = default_queue_path(artifacts_root)
        return cls(path, **kwargs) if path.is_file() else None

    @property
    def location(self) -> str:
        return str(self.path)

    # --- plumbing ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock at once."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    raise QueueBusy(f"queue file {self.path} is locked: {exc}") from exc
                raise
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _write(self, work: Callable[[Tx], T], *, replayable: bool, single: bool = False) -> T:
        with self._tx() as conn:
            return work(_SqliteTx(conn))

    def _read(self, work: Callable[[Tx], T]) -> T:
        with self._lock:
            return work(_SqliteTx(self._conn))

    def _migrate(self) -> None:
        with self._tx() as conn:
            apply_schema(conn, _SCHEMA, SCHEMA_VERSION, what="queue file", path=self.path,
                         error=QueueError,
                         hint="upgrade Pantheon, or point the night at another queue file")

    # --- SQLite only -------------------------------------------------------------------

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` when the file is sound."""
        with self._lock:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
