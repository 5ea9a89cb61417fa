"""Triage readers and writers: bins from the report, details, marks, requeue, file order."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantheon_engine.atomic import append_jsonl, atomic_write_json
from pantheon_engine.errors import SpecError
from pantheon_engine.flows_builtin import BUILTIN_DIR
from pantheon_engine.night.jobqueue import JobQueue, QueueError
from pantheon_engine.night.summary import build_summary
from pantheon_engine.night.triage import (
    Failure,
    TriageLog,
    artifact_files,
    failure_bins,
    failure_detail,
    requeue_run,
)

FLOW = BUILTIN_DIR / "spec2code.yaml"


def failed_run(root: Path, run_id: str, *, node: str = "codegen", kind: str = "max_steps",
               job_id: int | None = None, flow_file: Path | None = FLOW) -> None:
    run_dir = root / "runs" / run_id
    meta: dict[str, object] = {
        "run_id": run_id, "flow": "spec2code", "status": "failed",
        "started_at": "2026-11-20T22:03:00+00:00", "finished_at": "2026-11-20T22:04:35+00:00",
        "nodes": {"plan": "ok", node: "failed"}, "agents": {"plan": "plan@1", node: f"{node}@1"},
        "failed_node": node, "error_kind": kind, "input": {"title": "x"},
        "night_id": "n1",
    }
    if job_id is not None:
        meta["job_id"] = job_id
    if flow_file is not None:
        meta["flow_file"] = str(flow_file)
    atomic_write_json(run_dir / "run.json", meta)
    atomic_write_json(run_dir / node / "error.json", {
        "error_kind": kind, "error": f"{kind} happened", "hint": "raise max_steps",
        "attempts": 2})
    (run_dir / node / "prompt.txt").write_text("prompt\n")
    atomic_write_json(run_dir / "plan" / "metrics.json", {"status": "ok"})


def test_bins_and_detail(tmp_path: Path) -> None:
    failed_run(tmp_path, "run-1")
    failed_run(tmp_path, "run-2")
    failed_run(tmp_path, "run-3", node="test", kind="tests_failed")
    bins = failure_bins(build_summary(tmp_path))
    assert [(b.node, b.error_kind, len(b.failures)) for b in bins] == [
        ("codegen", "max_steps", 2), ("test", "tests_failed", 1)]
    failure = bins[0].failures[0]
    assert failure == Failure("run-1", "codegen", "codegen@1", "max_steps")
    assert failure.path == "runs/run-1/codegen"
    detail = failure_detail(tmp_path, failure)
    assert detail["message"] == "max_steps happened"
    assert (detail["hint"], detail["attempts"], detail["flow"]) == ("raise max_steps", 2,
                                                                    "spec2code")
    assert detail["started_at"] == "2026-11-20T22:03:00+00:00"


def test_detail_of_unreadable_files_is_empty_not_an_error(tmp_path: Path) -> None:
    failed_run(tmp_path, "run-1")
    (tmp_path / "runs" / "run-1" / "run.json").write_text("{torn")
    (tmp_path / "runs" / "run-1" / "codegen" / "error.json").write_bytes(b"\xff\xfe")
    detail = failure_detail(tmp_path, Failure("run-1", "codegen", "a", "k"))
    assert detail["message"] is None and detail["hint"] is None and detail["flow"] is None


def test_marks_newest_wins_open_clears_and_garbage_is_skipped(tmp_path: Path) -> None:
    clock = [100.0]
    log = TriageLog(tmp_path, clock=lambda: clock[0])
    log.mark("run-1", "codegen", "ignored")
    with log.path.open("a") as handle:
        handle.write("garbage\n[1]\n")
    append_jsonl(log.path, {"run_id": "run-1", "node": "codegen", "mark": "bogus", "at": 1})
    clock[0] = 200.0
    log.mark("run-1", "codegen", "requeued", job_id=7)
    log.mark("run-2", "test", "triaged")
    log.mark("run-2", "test", "open")
    with log.path.open("a") as handle:
        handle.write('{"run_id": "run-3", "node"')  # torn last line
    marks = TriageLog(tmp_path).marks()
    assert list(marks) == ["run-1/codegen"]
    assert (marks["run-1/codegen"].mark, marks["run-1/codegen"].job_id,
            marks["run-1/codegen"].at) == ("requeued", 7, 200.0)


def test_artifact_files_order(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "run-1" / "codegen"
    folder.mkdir(parents=True)
    for name in ("zz.txt", "metrics.json", "diff.patch", "prompt.txt", "error.json", "aa.log"):
        (folder / name).write_text("x")
    (folder / "sub").mkdir()
    names = [p.name for p in artifact_files(tmp_path, "run-1", "codegen")]
    assert names == ["error.json", "prompt.txt", "diff.patch", "metrics.json", "aa.log",
                     "zz.txt"]
    assert artifact_files(tmp_path, "run-9", "codegen") == []


def test_requeue_a_failed_job_and_refuse_a_queued_one(tmp_path: Path) -> None:
    with JobQueue.for_artifacts(tmp_path) as queue:
        job = queue.add(FLOW, {"title": "x"}, flow_name="spec2code")
        queue.claim("host:1", lease_s=60)
        queue.fail(job.id, "host:1", error_kind="max_steps", error="boom", retry=False)
    failed_run(tmp_path, "run-1", job_id=job.id)
    again = requeue_run(tmp_path, "run-1")
    assert (again.id, again.state) == (job.id, "queued")
    with pytest.raises(QueueError, match="only failed or cancelled"):
        requeue_run(tmp_path, "run-1")


def test_requeue_a_run_without_job_adds_one(tmp_path: Path) -> None:
    failed_run(tmp_path, "run-1")
    job = requeue_run(tmp_path, "run-1")
    assert job.state == "queued" and job.input["title"] == "x"


def test_requeue_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        requeue_run(tmp_path, "run-missing")
    failed_run(tmp_path, "run-1", flow_file=None)
    with pytest.raises(QueueError, match="names no flow file"):
        requeue_run(tmp_path, "run-1")
    failed_run(tmp_path, "run-2", flow_file=tmp_path / "gone.yaml")
    with pytest.raises(QueueError, match="not found") as caught:
        requeue_run(tmp_path, "run-2")
    assert caught.value.hint
