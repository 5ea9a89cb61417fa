"""Triage of failed nodes: marks that survive restarts, and putting a failure back in the queue.

Marks live in ``artifacts/triage.jsonl``, one line per decision (append-only, newest wins),
so a mark is never lost to a crash and the history of a failure stays readable. A failure
is keyed by run and node: ``<run_id>/<node>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from pantheon_engine.atomic import append_jsonl, iter_jsonl, read_dict
from pantheon_engine.errors import SpecError
from pantheon_engine.night.jobqueue import Job, JobQueue, QueueError
from pantheon_engine.night.summary_model import Summary

__all__ = [
    "ARTIFACT_ORDER",
    "TRIAGE_FILENAME",
    "Failure",
    "FailureBin",
    "Mark",
    "TriageLog",
    "TriageMark",
    "artifact_files",
    "failure_bins",
    "failure_detail",
    "requeue_run",
]

TRIAGE_FILENAME = "triage.jsonl"
Mark = Literal["triaged", "requeued", "ignored", "open"]


class TriageMark(BaseModel):
    run_id: str
    node: str
    mark: Mark
    at: float
    job_id: int | None = None
    note: str | None = None

    @property
    def key(self) -> str:
        return f"{self.run_id}/{self.node}"


class TriageLog:
    """The triage decisions of an artifacts folder."""

    def __init__(self, artifacts: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(artifacts) / TRIAGE_FILENAME
        self.clock = clock

    def marks(self) -> dict[str, TriageMark]:
        """``<run_id>/<node>`` -> its newest mark (a mark of ``open`` clears earlier ones)."""
        found: dict[str, TriageMark] = {}
        for record in iter_jsonl(self.path):
            try:
                mark = TriageMark.model_validate(record)
            except ValidationError:
                continue
            if mark.mark == "open":
                found.pop(mark.key, None)
            else:
                found[mark.key] = mark
        return found

    def mark(self, run_id: str, node: str, mark: Mark, *, job_id: int | None = None,
             note: str | None = None) -> TriageMark:
        record = TriageMark(run_id=run_id, node=node, mark=mark, at=self.clock(),
                            job_id=job_id, note=note)
        append_jsonl(self.path, record.model_dump(exclude_none=True), durable=True)
        return record


@dataclass(frozen=True)
class Failure:
    """One failed node of one run; ``path`` is its folder relative to the artifacts folder."""

    run_id: str
    node: str
    agent: str
    error_kind: str

    @property
    def key(self) -> str:
        return f"{self.run_id}/{self.node}"

    @property
    def path(self) -> str:
        return f"runs/{self.run_id}/{self.node}"


@dataclass
class FailureBin:
    """Failures sharing agent, node and error kind (a red bin of the morning report)."""

    agent: str
    node: str
    error_kind: str
    failures: list[Failure] = field(default_factory=list)


def failure_bins(summary: Summary) -> list[FailureBin]:
    """The report's red bins with one :class:`Failure` per failed node, biggest bin first."""
    bins = []
    for red in summary.red_bins:
        group = FailureBin(red.agent, red.node, red.error_kind)
        for rel in red.paths:
            parts = rel.split("/")
            if len(parts) >= 3 and parts[0] == "runs":
                group.failures.append(Failure(parts[1], red.node, red.agent, red.error_kind))
        bins.append(group)
    return bins


def failure_detail(artifacts: Path | str, failure: Failure) -> dict[str, Any]:
    """What a triager reads first: the error message and hint, the run's flow, job and times.

    Unreadable files give ``None`` values, never an exception: the report is drawn while
    runs are still being written.
    """
    root = Path(artifacts)
    run = read_dict(root / "runs" / failure.run_id / "run.json") or {}
    error = read_dict(root / failure.path / "error.json") or {}
    return {
        "run_id": failure.run_id,
        "node": failure.node,
        "agent": failure.agent,
        "error_kind": failure.error_kind,
        "message": error.get("message") or error.get("error") or run.get("error"),
        "hint": error.get("hint"),
        "attempts": error.get("attempts"),
        "flow": run.get("flow"),
        "job_id": run.get("job_id"),
        "night_id": run.get("night_id"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
    }


def requeue_run(artifacts: Path | str, run_id: str) -> Job:
    """Queue a failed run again: its job when it came from the queue, else a new job.

    A job is requeued with its attempts reset; a run started by hand (``pantheon run``)
    becomes a new job with the run's flow file and input.
    """
    root = Path(artifacts)
    run = read_dict(root / "runs" / run_id / "run.json") or {}
    if not run:
        raise SpecError(f"run {run_id}: no readable run.json under {root / 'runs'}")
    job_id = run.get("job_id")
    with JobQueue.for_artifacts(root) as queue:
        if isinstance(job_id, int) and queue.get(job_id) is not None:
            return queue.requeue(job_id)
        flow_file = run.get("flow_file")
        data = run.get("input")
        if not isinstance(flow_file, str) or not isinstance(data, dict):
            raise QueueError(f"run {run_id}: run.json names no flow file and input to queue")
        if not Path(flow_file).is_file():
            raise QueueError(f"run {run_id}: flow file {flow_file} not found",
                             hint="open the control room from the project folder")
        if isinstance(run.get("workspace"), str):
            data = {**data, "workspace": run["workspace"]}
        return queue.add(Path(flow_file).resolve(), data, flow_name=run.get("flow"))


# The order a triager reads a node's files in; anything else follows by name.
ARTIFACT_ORDER = (
    "error.json", "prompt.txt", "tool_calls.jsonl", "model_calls.jsonl", "output.json",
    "diff.patch", "tests.log", "report.json", "review.json", "input.json", "metrics.json",
)


def artifact_files(artifacts: Path | str, run_id: str, node: str) -> list[Path]:
    """The files of one node's artifact folder, error first, then as :data:`ARTIFACT_ORDER`."""
    folder = Path(artifacts) / "runs" / run_id / node
    try:
        files = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []
    rank = {name: i for i, name in enumerate(ARTIFACT_ORDER)}
    return sorted(files, key=lambda p: (rank.get(p.name, len(rank)), p.name))
