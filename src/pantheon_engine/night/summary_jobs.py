"""The morning report's job counts, from the queue: each job once, across workers.

Runs are counted from ``runs/`` (one folder per run); a job that a dead worker held and
another worker finished may have left two, and several workers each write their own night.
The queue has one row per job, with its state, its run and the host of the worker that
claimed it last: counting there counts every job once however many workers shared it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from pantheon_engine.night.queue_base import JobQueueBase
from pantheon_engine.night.queue_model import STATES
from pantheon_engine.night.summary_model import QueueJobs


def queue_jobs(queue: JobQueueBase, run_job_ids: Iterable[int],
               since: datetime | None = None) -> QueueJobs:
    """The jobs the report's runs belong to (``run.json`` ``job_id``) and, with ``since``,
    every job claimed or finished since then (a job can fail before it has a run); a
    naive ``since`` is UTC."""
    wanted = {int(i) for i in run_job_ids}
    found = queue.jobs_by_id(wanted)
    if since is not None:
        after = (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
        for job in queue.list(states=["running", "done", "failed", "cancelled"], limit=None):
            if max(job.started_at or 0.0, job.finished_at or 0.0) >= after:
                found.setdefault(job.id, job)
    states = Counter(job.state for job in found.values())
    workers = Counter(job.worker_host for job in found.values() if job.worker_host)
    return QueueJobs(
        queue=queue.location, jobs=len(found),
        states={state: states[state] for state in STATES if states[state]},
        workers=dict(sorted(workers.items())),
        claimed_again=sum(1 for job in found.values() if job.attempts > 1),
        not_in_queue=len(wanted - set(found)))
