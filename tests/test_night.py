"""A night on the replay engine: the queue drains, metrics stream, numbers add up."""

from __future__ import annotations

import json
from pathlib import Path

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.night.drain import Night
from pantheon_engine.night.jobqueue import JobQueue, NewJob
from pantheon_engine.policy import Policy

from conftest import FLOWS

TASK = {"path": "docs/guide.md", "rename": {"Title": "title"}, "delete": ["draft"],
        "set": {"status": "published"}}


def doc_replies(jobs: int, *, reject_every: int = 0,
                rejects: list[bool] | None = None) -> ReplayEngine:
    calls = [
        '{"type":"tool","name":"fm_rename","args":{"key":"Title","new_key":"title"}}',
        '{"type":"tool","name":"fm_delete","args":{"key":"draft"}}',
        '{"type":"tool","name":"fm_set","args":{"key":"status","value":"published"}}',
        '{"type":"final","output":{"summary":"done"}}',
    ]
    replies = []
    for job in range(jobs):
        replies += [RecordedReply(key="frontmatter", text=t) for t in calls]
        rejected = rejects[job] if rejects else bool(reject_every and job % reject_every == 0)
        verdict_b = "fail" if rejected else "pass"
        replies.append(RecordedReply(
            key="reviewA", text='{"type":"final","output":{"verdict":"pass","rationale":"ok"}}'))
        replies.append(RecordedReply(
            key="reviewB",
            text=f'{{"type":"final","output":{{"verdict":"{verdict_b}","rationale":"r"}}}}'))
    return ReplayEngine(replies)


def queue_jobs(art: Path, repo: Path, n: int) -> JobQueue:
    queue = JobQueue.for_artifacts(art)
    queue.add_many([NewJob(flow=str(FLOWS / "docops.yaml"), input={**TASK, "workspace": str(repo)},
                           flow_name="docops") for _ in range(n)])
    return queue


async def test_a_night_drains_the_queue_and_streams_metrics(docops_repo: Path,
                                                           tmp_path: Path) -> None:
    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 6)
    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(6, reject_every=3),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05)
    result = await night.run()
    assert (result.done, result.failed) == (4, 2)  # jobs 0 and 3 were rejected by reviewB
    counts = queue.counts()
    assert counts["done"] == 4 and counts["failed"] == 2 and counts["queued"] == 0
    failed = [j for j in queue.list(states=["failed"])]
    assert {j.error_kind for j in failed} == {"review_rejected"}
    lines = list(iter_jsonl(Path(result.dir) / "metrics.jsonl"))
    assert lines, "no metrics line"
    last = lines[-1]
    assert (last["done"], last["failed"], last["queue_depth"], last["running"]) == (4, 2, 0, 0)
    assert last["review_pairs"] == 6 and last["kappa"] is not None
    assert last["schema_error_rate"] == 0.0 and last["mu_per_h"] > 0
    # every run's work passed check.rules; the rejected ones failed later, at the merge
    assert (last["checked"], last["checked_passed"], last["check_pass_rate"]) == (6, 6, 1.0)
    for job in queue.list(states=["done"]):
        run = json.loads((art / "runs" / job.run_id / "run.json").read_text())
        assert run["night_id"] == night.night_id and run["status"] == "ok"
    night_json = json.loads((Path(result.dir) / "night.json").read_text())
    assert night_json["done"] == 4 and night_json["stopped_by"] == "empty"


async def test_a_stopped_night_claims_nothing_more(docops_repo: Path, tmp_path: Path) -> None:
    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 3)
    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(3),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05)
    night.stop("interrupted")
    result = await night.run()
    assert result.done == 0 and result.stopped_by == "interrupted"
    assert queue.depth() == 3  # nothing claimed, nothing lost


async def test_a_job_without_workspace_fails_cleanly(tmp_path: Path) -> None:
    art = tmp_path / "art"
    queue = JobQueue.for_artifacts(art)
    queue.add(str(FLOWS / "docops.yaml"), TASK, flow_name="docops")
    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(1),
                  policy=Policy(mode="night"), artifacts=art, concurrency=2, sample_s=0.05)
    result = await night.run()
    assert result.failed == 1
    job = queue.list(states=["failed"])[0]
    assert "workspace" in (job.error or "")


async def test_the_merge_gate_stops_merging_when_reviewers_stop_agreeing(
        docops_repo: Path, tmp_path: Path) -> None:
    from pantheon_engine.kappa import KappaWindow

    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 6)
    rejects = [False, True, False, True, False, False]
    night = Night(queue=queue, registry=default_registry(),
                  engine=doc_replies(6, rejects=rejects), policy=Policy(mode="night"),
                  artifacts=art, concurrency=1, sample_s=0.05,
                  kappa_window=KappaWindow(size=4, min_pairs=4))
    result = await night.run()
    jobs = sorted(queue.list(), key=lambda j: j.id)
    assert [j.state for j in jobs] == ["done", "failed", "done", "failed", "failed", "failed"]
    assert [j.error_kind for j in jobs[3:]] == ["kappa_gate"] * 3
    assert "κ = 0.00" in (jobs[4].error or "") and "below 0.6" in (jobs[4].error or "")
    assert result.done == 2


async def test_soak_200_replayed_jobs_none_lost_none_duplicated(docops_repo: Path,
                                                               tmp_path: Path) -> None:
    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 200)
    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(200),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.5)
    result = await night.run()
    assert (result.done, result.failed) == (200, 0)
    jobs = queue.list(limit=None)
    assert len(jobs) == 200 and {j.state for j in jobs} == {"done"}
    assert all(j.attempts == 1 for j in jobs)
    runs = [json.loads(p.read_text()) for p in (art / "runs").glob("*/run.json")]
    job_ids = [run["job_id"] for run in runs]
    assert len(job_ids) == 200 and len(set(job_ids)) == 200  # one run per job, exactly
    assert {run["run_id"] for run in runs} == {j.run_id for j in jobs}
    assert queue.integrity_check() == "ok"


async def test_a_crashed_nights_claims_are_finished_by_the_next(docops_repo: Path,
                                                                tmp_path: Path) -> None:
    import time

    from pantheon_engine.night.jobqueue import JobQueue

    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 4)
    # a night that claimed two jobs and died (kill -9): nobody heartbeats its leases
    crashed = JobQueue.for_artifacts(art)
    held = [crashed.claim("dead-night", lease_s=0.2) for _ in range(2)]
    assert all(held) and queue.depth() == 2
    time.sleep(0.3)
    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(4),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05)
    result = await night.run()
    assert (result.done, result.failed) == (4, 0)
    reclaimed = [queue.get(job.id) for job in held]
    assert all(j is not None and j.state == "done" and j.attempts == 2 for j in reclaimed)
    assert crashed.complete(held[0].id, "dead-night", "late") is False  # the dead owner lost it


async def test_stopping_mid_night_finishes_the_flow_in_flight(docops_repo: Path,
                                                              tmp_path: Path) -> None:
    """What Ctrl-C does: no new claims; the running flow completes; the rest stays queued."""
    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 4)
    night: Night

    def on_event(event: str, data: dict) -> None:
        if event == "job_started":
            night.stop("interrupted")

    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(4),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05,
                  on_event=on_event)
    result = await night.run()
    assert result.done == 1 and result.stopped_by == "interrupted"
    counts = queue.counts()
    assert counts["done"] == 1 and counts["queued"] == 3 and counts["running"] == 0


async def test_a_deadline_in_the_past_claims_nothing(docops_repo: Path, tmp_path: Path) -> None:
    import time

    art = tmp_path / "art"
    queue = queue_jobs(art, docops_repo, 2)
    night = Night(queue=queue, registry=default_registry(), engine=doc_replies(2),
                  policy=Policy(mode="night"), artifacts=art, concurrency=2, sample_s=0.05,
                  until=time.time() - 1)
    result = await night.run()
    assert result.stopped_by == "deadline" and result.done == 0 and queue.depth() == 2
