"""The persistent job queue of night runs: SQLite (WAL), jobs claimed with leases.

One file (``<artifacts>/queue.sqlite`` by default) holds every job. Several processes may
use it at once: each ``JobQueue`` opens its own connection, and every state change runs in
one short ``BEGIN IMMEDIATE`` transaction, so two claimers never take the same job.

Life of a job::

    queued --claim--> running --complete--> done
      ^                 |  \\--fail---------> failed --requeue--> queued
      |                 |  \\--fail(retry)--> queued (while attempts < max_attempts)
      +----release------+
    queued/running --cancel--> cancelled --requeue--> queued

A claim sets a lease (``lease_owner``, ``lease_expires_at``). A worker that runs long calls
``heartbeat`` to extend it. When a night crashes its leases run out and the next ``claim``
takes those jobs again (``attempts`` counts claims); a job whose lease ran out after its
last allowed attempt becomes ``failed`` with ``error_kind = "lease_expired"`` instead.

Lease rules (chosen so a worker never has to catch an exception in its hot loop):

* ``heartbeat``, ``complete``, ``fail`` and ``release`` return ``True`` when ``owner`` still
  holds the job (state ``running``, same ``lease_owner``) and ``False`` otherwise: the
  job was reclaimed by another worker, cancelled, or already finished. A lease that ran out
  but was not yet reclaimed is still held: the owner may extend or finish it.
* The operator commands ``cancel``, ``requeue`` and ``reprioritise`` raise ``QueueError``
  (a ``UserError``) for an unknown job or a state they cannot act on, and return the
  updated ``Job``; ``cancel_many`` and ``requeue_many`` check every job first and change
  all of them or none. ``clear`` removes the jobs of some states (never ``running``).
* ``claim`` with a ``group_key`` prefers claimable jobs of that group, whatever their
  priority, then falls back to the usual order (priority high first, then oldest).
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pantheon_engine.errors import RunFailure, UserError
from pantheon_engine.sqlite_files import apply_schema, is_busy, open_wal

SCHEMA_VERSION = 1
QUEUE_FILENAME = "queue.sqlite"
BUSY_TIMEOUT_MS = 30_000

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed", "cancelled")

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

# Claim order: priority high first, then oldest (id breaks ties of equal timestamps).
_ORDER = "priority DESC, created_at ASC, id ASC"
_CLAIMABLE = "(state = 'queued' OR (state = 'running' AND lease_expires_at <= :now))"


class QueueError(UserError):
    """The queue file or a queue command is wrong (unknown job, bad state, newer schema)."""


class QueueBusy(RunFailure):
    """The queue file stayed locked by another process past the busy timeout."""

    kind = "queue_busy"


def default_queue_path(artifacts_root: Path | str) -> Path:
    """Where a night's queue lives: ``<artifacts>/queue.sqlite``."""
    return Path(artifacts_root) / QUEUE_FILENAME


def new_owner() -> str:
    """A lease owner name unique to this worker: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True only when ``owner`` names a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class NewJob(BaseModel):
    """One job to add (``add_many`` takes a list of these)."""

    model_config = ConfigDict(extra="forbid")

    flow: str = Field(min_length=1)
    input: Any = None
    priority: int = 0
    flow_name: str | None = None
    group_key: str | None = None
    max_attempts: int = Field(default=3, ge=1)


class Job(BaseModel):
    """One row of the ``jobs`` table."""

    model_config = ConfigDict(frozen=True)

    id: int
    flow: str
    flow_name: str
    input_json: str
    priority: int
    state: JobState
    attempts: int
    max_attempts: int
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    run_id: str | None = None
    error_kind: str | None = None
    error: str | None = None
    group_key: str | None = None

    @property
    def input(self) -> Any:
        """The job's input, decoded from ``input_json``."""
        return json.loads(self.input_json)

    def lease_live(self, now: float) -> bool:
        """True while a running job's lease has not run out at ``now``."""
        return (
            self.state == "running"
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )


class JobQueue:
    """A handle on the queue file; one SQLite connection, usable from several threads.

    ``clock`` returns unix seconds; tests inject a fake one to move time.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
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

    # --- plumbing ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def _migrate(self) -> None:
        with self._tx() as conn:
            apply_schema(conn, _SCHEMA, SCHEMA_VERSION, what="queue file", path=self.path,
                         error=QueueError,
                         hint="upgrade Pantheon, or point the night at another queue file")

    def _row(self, conn: sqlite3.Connection, job_id: int) -> Job | None:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.model_validate(dict(row)) if row is not None else None

    def _must(self, conn: sqlite3.Connection, job_id: int) -> Job:
        job = self._row(conn, job_id)
        if job is None:
            raise QueueError(f"no job {job_id} in queue {self.path}")
        return job

    # --- adding ------------------------------------------------------------------------

    def _insert(self, conn: sqlite3.Connection, spec: NewJob, now: float) -> Job:
        try:
            input_json = json.dumps(spec.input, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise QueueError(f"job input for {spec.flow} is not JSON: {exc}") from exc
        flow_name = spec.flow_name or Path(spec.flow).stem
        cur = conn.execute(
            "INSERT INTO jobs (flow, flow_name, input_json, priority, state, attempts,"
            " max_attempts, created_at, group_key)"
            " VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?)",
            (
                spec.flow,
                flow_name,
                input_json,
                spec.priority,
                spec.max_attempts,
                now,
                spec.group_key,
            ),
        )
        job = self._row(conn, int(cur.lastrowid or 0))
        assert job is not None
        return job

    def add(
        self,
        flow: Path | str,
        input: Any = None,
        *,
        priority: int = 0,
        flow_name: str | None = None,
        group_key: str | None = None,
        max_attempts: int = 3,
    ) -> Job:
        """Queue one run of ``flow`` with ``input``; ``flow_name`` defaults to the file stem."""
        spec = _new_job(
            flow=str(flow),
            input=input,
            priority=priority,
            flow_name=flow_name,
            group_key=group_key,
            max_attempts=max_attempts,
        )
        with self._tx() as conn:
            return self._insert(conn, spec, self.clock())

    def add_many(self, jobs: Iterable[NewJob | dict[str, Any]]) -> builtins.list[Job]:
        """Queue many jobs in one transaction (all or none)."""
        specs = _new_jobs(jobs)
        with self._tx() as conn:
            now = self.clock()
            return [self._insert(conn, spec, now) for spec in specs]

    def replace_queued(self, old: Callable[[Job], bool],
                       jobs: Iterable[NewJob | dict[str, Any]]) -> tuple[int, builtins.list[Job]]:
        """Remove the ``queued`` jobs that ``old`` picks and add ``jobs``, in one
        transaction; returns (how many were removed, the jobs added).

        For work that is queued again from scratch (``pantheon demo --force``): its earlier
        jobs never ran and would only run twice. Jobs in any other state are history and
        stay.
        """
        specs = _new_jobs(jobs)
        with self._tx() as conn:
            rows = conn.execute("SELECT * FROM jobs WHERE state = 'queued'").fetchall()
            stale = [job.id for job in (Job.model_validate(dict(r)) for r in rows) if old(job)]
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in stale])
            now = self.clock()
            return len(stale), [self._insert(conn, spec, now) for spec in specs]

    # --- workers -----------------------------------------------------------------------

    def _expire(self, conn: sqlite3.Connection, now: float) -> int:
        """Fail running jobs whose lease ran out after their last allowed attempt."""
        cur = conn.execute(
            "UPDATE jobs SET state = 'failed', error_kind = 'lease_expired',"
            " error = 'lease of ' || COALESCE(lease_owner, '?') || ' expired after attempt '"
            " || attempts || ' of ' || max_attempts,"
            " finished_at = :now, lease_expires_at = NULL"
            " WHERE state = 'running' AND lease_expires_at <= :now"
            " AND attempts >= max_attempts",
            {"now": now},
        )
        return cur.rowcount

    def claim(
        self, owner: str, *, lease_s: float = 60.0, group_key: str | None = None
    ) -> Job | None:
        """Take the next job (or ``None`` when nothing is claimable) and lease it to ``owner``.

        Claimable: ``queued`` jobs, and ``running`` jobs whose lease ran out (a crashed
        worker's). Order: jobs of ``group_key`` first when given, then priority high first,
        then oldest.
        """
        if lease_s <= 0:
            raise QueueError(f"lease_s must be positive, got {lease_s}")
        with self._tx() as conn:
            now = self.clock()
            self._expire(conn, now)
            params: dict[str, Any] = {"now": now, "group": group_key}
            order = _ORDER
            if group_key is not None:
                order = "(group_key IS :group) DESC, " + _ORDER
            row = conn.execute(
                f"SELECT id FROM jobs WHERE {_CLAIMABLE} ORDER BY {order} LIMIT 1", params
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                " lease_owner = :owner, lease_expires_at = :expires, started_at = :now,"
                " finished_at = NULL"
                " WHERE id = :id",
                {"owner": owner, "expires": now + lease_s, "now": now, "id": row["id"]},
            )
            return self._row(conn, row["id"])

    def _held(self, sql: str, params: dict[str, Any]) -> bool:
        """Run ``sql`` (an UPDATE ending in the lease guard) and say whether it hit a row."""
        with self._tx() as conn:
            params = {**params, "now": self.clock()}
            cur = conn.execute(
                sql + " WHERE id = :id AND state = 'running' AND lease_owner = :owner", params
            )
            return cur.rowcount == 1

    def heartbeat(self, job_id: int, owner: str, lease_s: float = 60.0) -> bool:
        """Extend the lease to now + ``lease_s`` if ``owner`` still holds the job."""
        return self._held(
            "UPDATE jobs SET lease_expires_at = :now + :lease_s",
            {"id": job_id, "owner": owner, "lease_s": lease_s},
        )

    def expire_dead_leases(self) -> int:
        """End the leases of running jobs whose owner process on this host has died.

        A night killed outright holds its claims until their leases run out; a resumed
        night on the same host need not wait. Returns how many leases were ended.
        """
        ended = 0
        for job in self.list(states=["running"], limit=None):
            if job.lease_owner and owner_is_dead(job.lease_owner):
                with self._tx() as conn:
                    cur = conn.execute(
                        "UPDATE jobs SET lease_expires_at = :now WHERE id = :id AND"
                        " state = 'running' AND lease_owner = :owner",
                        {"now": self.clock(), "id": job.id, "owner": job.lease_owner},
                    )
                    ended += cur.rowcount
        return ended

    def attach_run(self, job_id: int, owner: str, run_id: str) -> bool:
        """Record the run a claimed job is working in, before it starts.

        A night that dies leaves this behind: the night that reclaims the job resumes that
        run (the nodes that completed are not run again). ``False`` if ``owner`` lost it.
        """
        return self._held("UPDATE jobs SET run_id = :run_id", {"id": job_id, "owner": owner,
                                                                 "run_id": run_id})

    def complete(self, job_id: int, owner: str, run_id: str | None) -> bool:
        """Mark the job ``done`` with its ``run_id``; ``False`` if ``owner`` lost it."""
        return self._held(
            "UPDATE jobs SET state = 'done', run_id = :run_id, finished_at = :now,"
            " lease_expires_at = NULL, error_kind = NULL, error = NULL",
            {"id": job_id, "owner": owner, "run_id": run_id},
        )

    def fail(
        self,
        job_id: int,
        owner: str,
        error_kind: str,
        error: str,
        run_id: str | None = None,
        *,
        retry: bool = False,
    ) -> bool:
        """Mark the job ``failed``; ``False`` if ``owner`` lost it.

        With ``retry=True`` a job that has attempts left goes back to ``queued`` instead
        (the error stays recorded until it finishes).
        """
        state = (
            "CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END"
            if retry
            else "'failed'"
        )
        return self._held(
            f"UPDATE jobs SET state = {state}, error_kind = :kind, error = :error,"
            " run_id = :run_id, lease_expires_at = NULL,"
            f" finished_at = CASE WHEN {state} = 'failed' THEN :now ELSE NULL END,"
            f" lease_owner = CASE WHEN {state} = 'failed' THEN lease_owner ELSE NULL END",
            {"id": job_id, "owner": owner, "kind": error_kind, "error": error, "run_id": run_id},
        )

    def release(self, job_id: int, owner: str) -> bool:
        """Give a claimed job back (Ctrl-C drain): ``queued`` again, the attempt not counted."""
        return self._held(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,"
            " attempts = MAX(attempts - 1, 0)",
            {"id": job_id, "owner": owner},
        )

    # --- operator commands -------------------------------------------------------------

    #: the states each operator command acts on (the room and ``pantheon queue`` alike)
    CANCELS: tuple[JobState, ...] = ("queued", "running")
    REQUEUES: tuple[JobState, ...] = ("failed", "cancelled")
    CLEARS: tuple[JobState, ...] = ("queued", "done", "failed", "cancelled")

    def _operate(self, verb: str, job_ids: Iterable[int], allowed: tuple[JobState, ...],
                 sql: str, params: Callable[[int], tuple[Any, ...]]) -> builtins.list[Job]:
        """Run ``sql`` on every job of ``job_ids`` in one transaction, after checking them
        all: an unknown id, or a job in a state ``verb`` does not act on, raises
        :class:`QueueError` naming every such job, and nothing changes."""
        ids = builtins.list(dict.fromkeys(int(i) for i in job_ids))
        with self._tx() as conn:
            jobs = {i: self._row(conn, i) for i in ids}
            unknown = [str(i) for i, job in jobs.items() if job is None]
            if unknown:
                noun = "job" if len(unknown) == 1 else "jobs"
                raise QueueError(f"no {noun} {', '.join(unknown)} in queue {self.path}",
                                 hint="pantheon queue list shows the jobs there")
            wrong = [job for job in jobs.values() if job is not None and job.state not in allowed]
            if wrong:
                states = ", ".join(f"job {job.id} is {job.state}" for job in wrong)
                raise QueueError(f"{states}; only {' or '.join(allowed)} jobs {verb}")
            for job_id in ids:
                conn.execute(sql, params(job_id))
            return [self._must(conn, job_id) for job_id in ids]

    def cancel_many(self, job_ids: Iterable[int]) -> builtins.list[Job]:
        """Cancel ``queued`` or ``running`` jobs (a worker's next lease call gets False):
        all of them, or none when one is unknown or in another state."""
        return self._operate(
            "cancel", job_ids, self.CANCELS,
            "UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_expires_at = NULL"
            " WHERE id = ?",
            lambda job_id: (self.clock(), job_id))

    def cancel(self, job_id: int) -> Job:
        """Cancel a ``queued`` or ``running`` job (its worker's next lease call gets False)."""
        return self.cancel_many([job_id])[0]

    def requeue_many(self, job_ids: Iterable[int]) -> builtins.list[Job]:
        """Put ``failed`` or ``cancelled`` jobs back in the queue with their attempts reset:
        all of them, or none when one is unknown or in another state."""
        return self._operate(
            "requeue", job_ids, self.REQUEUES,
            "UPDATE jobs SET state = 'queued', attempts = 0, lease_owner = NULL,"
            " lease_expires_at = NULL, started_at = NULL, finished_at = NULL,"
            " run_id = NULL, error_kind = NULL, error = NULL WHERE id = ?",
            lambda job_id: (job_id,))

    def requeue(self, job_id: int) -> Job:
        """Put a ``failed`` or ``cancelled`` job back in the queue with its attempts reset."""
        return self.requeue_many([job_id])[0]

    def clear(self, states: Iterable[str] = ("done", "failed", "cancelled")) -> dict[str, int]:
        """Remove the jobs in ``states`` from the queue file, in one transaction; returns
        how many of each state went. By default the jobs that are over (done, failed,
        cancelled): their runs stay under ``runs/``. ``queued`` jobs may be cleared too
        (they never ran); ``running`` ones may not: a night holds them (cancel them first).
        """
        wanted = builtins.list(dict.fromkeys(states))
        unknown = [s for s in wanted if s not in STATES]
        if unknown:
            raise QueueError(f"unknown job state(s): {', '.join(unknown)}",
                             hint=f"states: {', '.join(STATES)}")
        held = [s for s in wanted if s not in self.CLEARS]
        if held:
            raise QueueError(f"{', '.join(held)} jobs do not clear: a night holds them",
                             hint="cancel them first (pantheon queue cancel JOB_ID), or wait "
                                  "for the night to finish them")
        removed: dict[str, int] = {}
        with self._tx() as conn:
            for state in wanted:
                removed[state] = conn.execute("DELETE FROM jobs WHERE state = ?",
                                              (state,)).rowcount
        return removed

    def reprioritise(self, job_id: int, priority: int) -> Job:
        """Change a job's priority (takes effect at the next claim)."""
        with self._tx() as conn:
            self._must(conn, job_id)
            conn.execute("UPDATE jobs SET priority = ? WHERE id = ?", (int(priority), job_id))
            return self._must(conn, job_id)

    # --- reading -----------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._row(self._conn, job_id)

    def counts(self) -> dict[str, int]:
        """Jobs per state; every state is present (0 when none)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"
            ).fetchall()
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        out.update({r["state"]: r["n"] for r in rows})
        return out

    def depth(self) -> int:
        """Number of ``queued`` jobs."""
        with self._lock:
            return int(
                self._conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
            )

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` when the file is sound."""
        with self._lock:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def list(
        self, states: Iterable[str] | None = None, limit: int | None = 1000
    ) -> builtins.list[Job]:
        """Jobs in claim order (priority high first, then oldest), optionally by state."""
        sql = "SELECT * FROM jobs"
        params: builtins.list[Any] = []
        if states is not None:
            wanted = builtins.list(states)
            unknown = [s for s in wanted if s not in STATES]
            if unknown:
                raise QueueError(f"unknown job state(s): {', '.join(unknown)}")
            if not wanted:
                return []
            sql += f" WHERE state IN ({', '.join('?' for _ in wanted)})"
            params.extend(wanted)
        sql += f" ORDER BY {_ORDER}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [Job.model_validate(dict(r)) for r in rows]


def _new_jobs(jobs: Iterable[NewJob | dict[str, Any]]) -> list[NewJob]:
    return [
        j if isinstance(j, NewJob) else _new_job(**{**j, "flow": str(j.get("flow", ""))})
        for j in jobs
    ]


def _new_job(**fields: Any) -> NewJob:
    try:
        return NewJob.model_validate(fields)
    except ValidationError as exc:
        raise QueueError(f"invalid job: {exc}") from exc
