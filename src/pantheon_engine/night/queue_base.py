"""The job queue's rules, written once for every database that stores it.

Life of a job::

    queued --claim--> running --complete--> done
      ^                 |  \\--fail---------> failed --requeue--> queued
      |                 |  \\--fail(retry)--> queued (while attempts < max_attempts)
      +----release------+
    queued/running --cancel--> cancelled --requeue--> queued

A claim sets a lease (``lease_owner``, ``lease_expires_at``). A worker that runs long calls
``heartbeat`` to extend it. When a worker dies its leases run out and the next ``claim``
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

:class:`JobQueueBase` holds these rules as SQL that SQLite and PostgreSQL both read
(named parameters ``:name``, no dialect functions); a backend supplies the transactions
(:meth:`JobQueueBase._write`, :meth:`JobQueueBase._read`) and, for PostgreSQL, the row
locks (``FOR UPDATE SKIP LOCKED`` when picking a job to claim).
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from pantheon_engine.night.queue_model import (
    STATES,
    Job,
    JobState,
    NewJob,
    QueueError,
    input_json,
    new_job,
    new_jobs,
    owner_is_dead,
)

T = TypeVar("T")

#: Claim order: priority high first, then oldest (id breaks ties of equal timestamps).
ORDER = "priority DESC, created_at ASC, id ASC"
#: Claimable: queued, or running with a lease that ran out and attempts left (one without
#: attempts left is failed by :data:`EXPIRE` instead).
CLAIMABLE = ("(state = 'queued' OR (state = 'running' AND lease_expires_at <= :now"
             " AND attempts < max_attempts))")
#: Fail running jobs whose lease ran out after their last allowed attempt ({lock}: the
#: backend's row lock for rows others may be taking).
EXPIRE = ("UPDATE jobs SET state = 'failed', error_kind = 'lease_expired',"
          " error = 'lease of ' || COALESCE(lease_owner, '?') || ' expired after attempt '"
          " || attempts || ' of ' || max_attempts,"
          " finished_at = :now, lease_expires_at = NULL"
          " WHERE id IN (SELECT id FROM jobs WHERE state = 'running'"
          " AND lease_expires_at <= :now AND attempts >= max_attempts{lock})")
#: What a claim sets on the job it takes.
TAKE = ("UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = :owner,"
        " lease_expires_at = :expires, started_at = :now, finished_at = NULL")


def claim_order(group_key: str | None) -> str:
    """The claim order: jobs of ``group_key`` first (when given), then :data:`ORDER`."""
    if group_key is None:
        return ORDER
    return "CASE WHEN group_key = :group THEN 0 ELSE 1 END, " + ORDER


class Tx(Protocol):
    """One transaction (or one read) on the queue's database."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None
             ) -> builtins.list[dict[str, Any]]:
        """The rows ``sql`` returns, as dicts."""

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run ``sql``; how many rows it changed."""

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run an ``INSERT`` of one row into ``jobs``; the new row's id."""


class JobQueueBase(ABC):
    """A job queue: the rules of the module docstring, on a backend's transactions.

    ``clock`` returns unix seconds; tests inject a fake one to move time. ``None`` asks the
    backend for its own clock (PostgreSQL: the database server's, so hosts whose clocks
    disagree still agree on when a lease runs out).
    """

    #: appended to the query that picks a job to claim (PostgreSQL: ``FOR UPDATE SKIP
    #: LOCKED``, so claimers pass over each other's rows instead of waiting for them)
    LOCK_SKIP = ""
    #: appended to the reads an operator command checks before it writes
    LOCK_WAIT = ""

    #: the states each operator command acts on (the room and ``pantheon queue`` alike)
    CANCELS: tuple[JobState, ...] = ("queued", "running")
    REQUEUES: tuple[JobState, ...] = ("failed", "cancelled")
    CLEARS: tuple[JobState, ...] = ("queued", "done", "failed", "cancelled")

    clock: Callable[[], float] | None

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the queue is, for messages (a file path, or a URL without its password)."""

    @abstractmethod
    def _write(self, work: Callable[[Tx], T], *, replayable: bool, single: bool = False) -> T:
        """Run ``work`` in one write transaction and commit it. ``replayable``: running
        ``work`` twice does no harm (a lease call), so a backend that lost its connection
        while committing may run it again instead of saying the outcome is unknown.
        ``single``: ``work`` runs one statement, atomic on its own (a backend may save the
        ``BEGIN`` and ``COMMIT`` round trips)."""

    @abstractmethod
    def _read(self, work: Callable[[Tx], T]) -> T:
        """Run ``work``, which only reads."""

    @abstractmethod
    def close(self) -> None:
        """Let go of the database connection."""

    def _server_now(self) -> float:
        """The backend's clock when no ``clock`` was given."""
        import time

        return time.time()

    def now(self) -> float:
        """The queue's time (unix seconds): the injected clock, else the backend's."""
        return self.clock() if self.clock is not None else self._server_now()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- rows --------------------------------------------------------------------------

    def _row(self, tx: Tx, job_id: int, lock: str = "") -> Job | None:
        rows = tx.rows(f"SELECT * FROM jobs WHERE id = :id{lock}", {"id": job_id})
        return Job.model_validate(rows[0]) if rows else None

    def _must(self, tx: Tx, job_id: int) -> Job:
        job = self._row(tx, job_id)
        if job is None:
            raise QueueError(f"no job {job_id} in queue {self.location}")
        return job

    # --- adding ------------------------------------------------------------------------

    def _insert(self, tx: Tx, spec: NewJob, now: float) -> Job:
        data = input_json(spec)
        flow_name = spec.flow_name or Path(spec.flow).stem
        job_id = tx.insert(
            "INSERT INTO jobs (flow, flow_name, input_json, priority, state, attempts,"
            " max_attempts, created_at, group_key)"
            " VALUES (:flow, :flow_name, :input_json, :priority, 'queued', 0, :max_attempts,"
            " :now, :group_key)",
            {"flow": spec.flow, "flow_name": flow_name, "input_json": data,
             "priority": spec.priority, "max_attempts": spec.max_attempts, "now": now,
             "group_key": spec.group_key},
        )
        return self._must(tx, job_id)

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
        spec = new_job(flow=str(flow), input=input, priority=priority, flow_name=flow_name,
                       group_key=group_key, max_attempts=max_attempts)
        input_json(spec)  # refused before any connection is touched
        now = self.now()
        return self._write(lambda tx: self._insert(tx, spec, now), replayable=False)

    def add_many(self, jobs: Iterable[NewJob | dict[str, Any]]) -> builtins.list[Job]:
        """Queue many jobs in one transaction (all or none)."""
        specs = new_jobs(jobs)
        for spec in specs:
            input_json(spec)
        now = self.now()
        return self._write(lambda tx: [self._insert(tx, spec, now) for spec in specs],
                           replayable=False)

    def replace_queued(self, old: Callable[[Job], bool],
                       jobs: Iterable[NewJob | dict[str, Any]]) -> tuple[int, builtins.list[Job]]:
        """Remove the ``queued`` jobs that ``old`` picks and add ``jobs``, in one
        transaction; returns (how many were removed, the jobs added).

        For work that is queued again from scratch (``pantheon demo --force``): its earlier
        jobs never ran and would only run twice. Jobs in any other state are history and
        stay.
        """
        specs = new_jobs(jobs)
        for spec in specs:
            input_json(spec)
        now = self.now()

        def work(tx: Tx) -> tuple[int, builtins.list[Job]]:
            rows = tx.rows(f"SELECT * FROM jobs WHERE state = 'queued'{self.LOCK_WAIT}")
            stale = [job.id for job in map(Job.model_validate, rows) if old(job)]
            for job_id in stale:
                tx.run("DELETE FROM jobs WHERE id = :id", {"id": job_id})
            return len(stale), [self._insert(tx, spec, now) for spec in specs]

        return self._write(work, replayable=False)

    # --- workers -----------------------------------------------------------------------

    def _expire(self, tx: Tx, now: float) -> int:
        """Fail running jobs whose lease ran out after their last allowed attempt."""
        return tx.run(EXPIRE.format(lock=self.LOCK_SKIP), {"now": now})

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
        order = claim_order(group_key)

        def work(tx: Tx) -> Job | None:
            now = self.now()
            self._expire(tx, now)
            rows = tx.rows(f"SELECT id FROM jobs WHERE {CLAIMABLE} ORDER BY {order} LIMIT 1"
                           f"{self.LOCK_SKIP}", {"now": now, "group": group_key})
            if not rows:
                return None
            job_id = rows[0]["id"]
            tx.run(TAKE + " WHERE id = :id",
                   {"owner": owner, "expires": now + lease_s, "now": now, "id": job_id})
            return self._row(tx, job_id)

        return self._write(work, replayable=True)

    def _held(self, sql: str, params: dict[str, Any]) -> bool:
        """Run ``sql`` (an UPDATE ending in the lease guard) and say whether it hit a row."""

        def work(tx: Tx) -> bool:
            changed = tx.run(
                sql + " WHERE id = :id AND state = 'running' AND lease_owner = :owner",
                {**params, "now": self.now()})
            return changed == 1

        return self._write(work, replayable=True, single=True)

    def heartbeat(self, job_id: int, owner: str, lease_s: float = 60.0) -> bool:
        """Extend the lease to now + ``lease_s`` if ``owner`` still holds the job."""
        return self._held(
            "UPDATE jobs SET lease_expires_at = :now + :lease_s",
            {"id": job_id, "owner": owner, "lease_s": float(lease_s)},
        )

    def expire_dead_leases(self) -> int:
        """End the leases of running jobs whose owner process on this host has died.

        A night killed outright holds its claims until their leases run out; a resumed
        night on the same host need not wait. Returns how many leases were ended.
        """
        dead = [job for job in self.list(states=["running"], limit=None)
                if job.lease_owner and owner_is_dead(job.lease_owner)]

        def work(tx: Tx) -> int:
            return sum(tx.run("UPDATE jobs SET lease_expires_at = :now WHERE id = :id AND"
                              " state = 'running' AND lease_owner = :owner",
                              {"now": self.now(), "id": job.id, "owner": job.lease_owner})
                       for job in dead)

        return self._write(work, replayable=True) if dead else 0

    def attach_run(self, job_id: int, owner: str, run_id: str) -> bool:
        """Record the run a claimed job is working in, before it starts.

        A worker that dies leaves this behind: the worker that reclaims the job resumes that
        run (the nodes that completed are not run again). ``False`` if ``owner`` lost it.
        """
        return self._held("UPDATE jobs SET run_id = :run_id",
                          {"id": job_id, "owner": owner, "run_id": run_id})

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
            " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
            {"id": job_id, "owner": owner},
        )

    # --- operator commands -------------------------------------------------------------

    def _operate(self, verb: str, job_ids: Iterable[int], allowed: tuple[JobState, ...],
                 sql: str, params: Callable[[int], dict[str, Any]]) -> builtins.list[Job]:
        """Run ``sql`` on every job of ``job_ids`` in one transaction, after checking them
        all: an unknown id, or a job in a state ``verb`` does not act on, raises
        :class:`QueueError` naming every such job, and nothing changes."""
        ids = builtins.list(dict.fromkeys(int(i) for i in job_ids))

        def work(tx: Tx) -> builtins.list[Job]:
            jobs = {i: self._row(tx, i, self.LOCK_WAIT) for i in sorted(ids)}
            unknown = [str(i) for i in ids if jobs[i] is None]
            if unknown:
                noun = "job" if len(unknown) == 1 else "jobs"
                raise QueueError(f"no {noun} {', '.join(unknown)} in queue {self.location}",
                                 hint="pantheon queue list shows the jobs there")
            wrong = [job for i in ids if (job := jobs[i]) is not None
                     and job.state not in allowed]
            if wrong:
                states = ", ".join(f"job {job.id} is {job.state}" for job in wrong)
                raise QueueError(f"{states}; only {' or '.join(allowed)} jobs {verb}")
            for job_id in ids:
                tx.run(sql, params(job_id))
            return [self._must(tx, job_id) for job_id in ids]

        return self._write(work, replayable=False)

    def cancel_many(self, job_ids: Iterable[int]) -> builtins.list[Job]:
        """Cancel ``queued`` or ``running`` jobs (a worker's next lease call gets False):
        all of them, or none when one is unknown or in another state."""
        return self._operate(
            "cancel", job_ids, self.CANCELS,
            "UPDATE jobs SET state = 'cancelled', finished_at = :now, lease_expires_at = NULL"
            " WHERE id = :id",
            lambda job_id: {"now": self.now(), "id": job_id})

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
            " run_id = NULL, error_kind = NULL, error = NULL WHERE id = :id",
            lambda job_id: {"id": job_id})

    def requeue(self, job_id: int) -> Job:
        """Put a ``failed`` or ``cancelled`` job back in the queue with its attempts reset."""
        return self.requeue_many([job_id])[0]

    def clear(self, states: Iterable[str] = ("done", "failed", "cancelled")) -> dict[str, int]:
        """Remove the jobs in ``states`` from the queue, in one transaction; returns how
        many of each state went. By default the jobs that are over (done, failed,
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
        return self._write(
            lambda tx: {state: tx.run("DELETE FROM jobs WHERE state = :state",
                                      {"state": state}) for state in wanted},
            replayable=False)

    def reprioritise(self, job_id: int, priority: int) -> Job:
        """Change a job's priority (takes effect at the next claim)."""

        def work(tx: Tx) -> Job:
            self._must(tx, job_id)
            tx.run("UPDATE jobs SET priority = :priority WHERE id = :id",
                   {"priority": int(priority), "id": job_id})
            return self._must(tx, job_id)

        return self._write(work, replayable=True)

    # --- reading -----------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        return self._read(lambda tx: self._row(tx, job_id))

    def counts(self) -> dict[str, int]:
        """Jobs per state; every state is present (0 when none)."""
        rows = self._read(lambda tx: tx.rows(
            "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"))
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        out.update({r["state"]: int(r["n"]) for r in rows})
        return out

    def depth(self) -> int:
        """Number of ``queued`` jobs."""
        rows = self._read(lambda tx: tx.rows(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'"))
        return int(rows[0]["n"])

    def list(
        self, states: Iterable[str] | None = None, limit: int | None = 1000
    ) -> builtins.list[Job]:
        """Jobs in claim order (priority high first, then oldest), optionally by state."""
        sql = "SELECT * FROM jobs"
        params: dict[str, Any] = {}
        if states is not None:
            wanted = builtins.list(states)
            unknown = [s for s in wanted if s not in STATES]
            if unknown:
                raise QueueError(f"unknown job state(s): {', '.join(unknown)}")
            if not wanted:
                return []
            names = [f"s{i}" for i in range(len(wanted))]
            sql += f" WHERE state IN ({', '.join(':' + n for n in names)})"
            params.update(zip(names, wanted, strict=True))
        sql += f" ORDER BY {ORDER}"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = int(limit)
        return [Job.model_validate(r) for r in self._read(lambda tx: tx.rows(sql, params))]

    def jobs_by_id(self, job_ids: Iterable[int]) -> dict[int, Job]:
        """The jobs of ``job_ids`` that are in the queue, by id (one query per 500)."""
        ids = sorted({int(i) for i in job_ids})

        def work(tx: Tx) -> builtins.list[dict[str, Any]]:
            rows = []
            for start in range(0, len(ids), 500):
                names = {f"i{n}": job_id for n, job_id in enumerate(ids[start:start + 500])}
                rows += tx.rows("SELECT * FROM jobs WHERE id IN"
                                f" ({', '.join(':' + n for n in names)})", names)
            return rows

        jobs = [Job.model_validate(row) for row in self._read(work)] if ids else []
        return {job.id: job for job in jobs}
