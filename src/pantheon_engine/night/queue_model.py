"""What every job queue holds, whatever stores it: jobs, their states, the queue's errors.

The SQLite queue (:mod:`pantheon_engine.night.jobqueue`) and the PostgreSQL one
(:mod:`pantheon_engine.night.jobqueue_pg`) store the same rows and follow the same rules
(:mod:`pantheon_engine.night.queue_base`); this module is what their callers read.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pantheon_engine.errors import RunFailure, UserError

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed", "cancelled")


class QueueError(UserError):
    """The queue or a queue command is wrong (unknown job, bad state, newer schema, a queue
    URL that names no usable database)."""


class QueueBusy(RunFailure):
    """The queue file stayed locked by another process past the busy timeout."""

    kind = "queue_busy"


class QueueUnavailable(RunFailure):
    """The queue's database did not answer, and retrying for the allowed time did not help
    (or a change was sent and its outcome is unknown)."""

    kind = "queue_unavailable"


def new_owner() -> str:
    """A lease owner name unique to this worker: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_host(owner: str | None) -> str | None:
    """The host part of a lease owner written by :func:`new_owner` (None for none)."""
    if not owner:
        return None
    return owner.partition(":")[0] or None


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

    @property
    def worker_host(self) -> str | None:
        """The host of the worker that holds (or last held) the job's claim."""
        return owner_host(self.lease_owner)

    def lease_live(self, now: float) -> bool:
        """True while a running job's lease has not run out at ``now``."""
        return (
            self.state == "running"
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )


def new_jobs(jobs: Any) -> list[NewJob]:
    """``NewJob``s and dicts as ``NewJob``s; a bad one is a :class:`QueueError`."""
    return [
        j if isinstance(j, NewJob) else new_job(**{**j, "flow": str(j.get("flow", ""))})
        for j in jobs
    ]


def new_job(**fields: Any) -> NewJob:
    try:
        return NewJob.model_validate(fields)
    except ValidationError as exc:
        raise QueueError(f"invalid job: {exc}") from exc


def input_json(spec: NewJob) -> str:
    """The job's input as stored; input that is not JSON is a :class:`QueueError`."""
    try:
        return json.dumps(spec.input, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise QueueError(f"job input for {spec.flow} is not JSON: {exc}") from exc
