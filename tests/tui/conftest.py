"""A fixture artifacts folder for the control room: runs, a queue, a night, specs, triage.

Runs carry their checks' verdict (``run.json`` ``check``: test.pytest grades codegen@1),
two merges were refused by the gate, and the night has a ``reviewers.json``.

Everything is written with fixed times and ids, and the room gets a frozen clock in UTC, so
snapshots of every screen come out the same on any machine.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC
from pathlib import Path

import pytest

from pantheon_engine.atomic import append_jsonl, atomic_write_json
from pantheon_engine.flows_builtin import BUILTIN_DIR
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_tui.context import RoomContext, TuiSettings

REPO = Path(__file__).resolve().parents[2]
FROZEN = 1795240800.0  # 2026-11-21 06:00:00 UTC: "the morning after"
NIGHT_ID = "20261120T220000Z-night-0f3a"
NIGHT_START = FROZEN - 8 * 3600


def spec(title: str, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "workspace": "..",
        "title": title,
        "scope": f"{title}: keep the rest of textkit unchanged.",
        "acceptance": [f"{title} works", "tests pass"],
        "files": ["textkit/words.py"],
        "tests": "tests",
    }
    data.update(extra)
    return data


def _run(root: Path, run_id: str, *, flow: str, status: str, started: float,
         nodes: dict[str, str], failed: tuple[str, str, str] | None = None,
         job_id: int | None = None, reviews: tuple[str, str] | None = None,
         check: bool | None = None) -> None:
    from datetime import datetime

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds")

    run_dir = root / "runs" / run_id
    agents = {"plan": "plan.validate@1", "codegen": "codegen@1", "test": "test.pytest@1",
              "reviewA": "review.peer@1", "reviewB": "review.peer@1", "merge": "merge.gate@1"}
    meta: dict[str, object] = {
        "run_id": run_id, "flow": flow, "flow_file": str(BUILTIN_DIR / f"{flow}.yaml"),
        "input": spec("Add shout()"), "mode": "night", "engine": "openvino",
        "model": "smollm2-135m", "agents": agents, "workspace": str(root / "ws"),
        "status": status, "started_at": iso(started), "finished_at": iso(started + 95),
        "nodes": nodes, "night_id": NIGHT_ID,
    }
    if job_id is not None:
        meta["job_id"] = job_id
    meta["check"] = {"nodes": ["test"], "passed": check, "graded": ["codegen@1"],
                     "error": "1 failed, 1 passed" if check is False else None}
    for node, state in nodes.items():
        if state == "not_run":
            continue
        node_dir = run_dir / node
        atomic_write_json(node_dir / "input.json", {"title": "Add shout()"})
        atomic_write_json(node_dir / "metrics.json", {"status": state, "agent": agents[node]})
        (node_dir / "prompt.txt").write_text(f"You are {agents[node]}.\nTask: Add shout().\n")
        append_jsonl(node_dir / "tool_calls.jsonl",
                     {"step": 1, "tool": "read_file", "args": {"path": "textkit/words.py"}})
        if state == "ok" and node == "codegen":
            (node_dir / "diff.patch").write_text(
                "--- a/textkit/words.py\n+++ b/textkit/words.py\n@@ -1,2 +1,5 @@\n"
                " def count_words(text):\n     return len(text.split())\n+\n"
                "+def shout(text):\n+    return text.upper() + '!'\n")
            atomic_write_json(node_dir / "output.json", {"diff": "…", "files_changed": 1,
                                                         "lines_added": 3, "lines_removed": 0})
        if state == "ok" and node == "test":
            (node_dir / "tests.log").write_text("tests/test_words.py ..  [100%]\n2 passed\n")
        if node in ("reviewA", "reviewB") and reviews is not None:
            verdict = reviews[0] if node == "reviewA" else reviews[1]
            atomic_write_json(node_dir / "review.json", {"verdict": verdict, "notes": "ok"})
        if state == "ok" and node == "merge":
            atomic_write_json(node_dir / "output.json", {"merged": True, "branch":
                                                         f"pantheon/{run_id}",
                                                         "commit": "4c6108f"})
    if failed is not None:
        node, kind, message = failed
        atomic_write_json(run_dir / node / "error.json", {
            "node": node, "agent": agents[node], "error_kind": kind, "error": message,
            "attempts": 1, "hint": None})
        meta["failed_node"] = node
        meta["error_kind"] = kind
    atomic_write_json(run_dir / "run.json", meta)


REFUSED_REASON = "not merged: review rejected the change (reviewB: shout() drops the newline)"
REVIEWERS = {
    "reviewers": {"review.peer@1": {
        "canaries": 12, "correct": 9, "accuracy": 0.75, "bad_seen": 6, "false_passes": 2,
        "false_pass_rate": 2 / 6, "window": 50, "total": 12, "errors": 0}},
    "kappa": {"value": None, "pairs": 24, "undefined": True},
    "gate": {"false_pass_max": 0.2, "kappa_min": 0.6, "min_canaries": 10},
}
ALL_OK = dict.fromkeys(("plan", "codegen", "test", "reviewA", "reviewB", "merge"), "ok")


def _failed_at(node: str) -> dict[str, str]:
    order = ["plan", "codegen", "test", "reviewA", "reviewB", "merge"]
    states = {}
    for name in order:
        index, failed = order.index(name), order.index(node)
        states[name] = "ok" if index < failed else ("failed" if index == failed else "not_run")
    return states


def build_room(root: Path) -> RoomContext:
    """Write the fixture folder under ``root`` and return a frozen-clock context on it."""
    artifacts = root / "artifacts"
    specs = root / "specs"
    specs.mkdir(parents=True)
    (specs / "add-shout.json").write_text(json.dumps(spec("Add shout()"), indent=2))
    (specs / "count-vowels.json").write_text(json.dumps(spec("Add count_vowels()"), indent=2))
    (specs / "broken.json").write_text('{"title": "half a spec",')
    # the workspace the specs name (".." from specs/): queueing checks their paths in it
    (root / "textkit").mkdir()
    (root / "textkit" / "words.py").write_text('"""Word helpers."""\n')
    (root / "tests").mkdir()
    shutil.copytree(BUILTIN_DIR, root / "flows", ignore=shutil.ignore_patterns("*.py", "__*"))
    (root / "themes").mkdir()  # the project's own themes: none (the room ships its own)

    clock = [NIGHT_START - 600]
    with JobQueue.for_artifacts(artifacts, clock=lambda: clock[0]) as queue:
        # no path of this machine in what the room shows: the job viewer's snapshot holds
        # the job's JSON, and a clone elsewhere must draw the same screen
        flow = "spec2code"
        jobs = [queue.add(flow, spec(f"Task {i}"), flow_name="spec2code",
                          group_key="plan.validate")
                for i in range(1, 10)]
        clock[0] = NIGHT_START
        for job, outcome in zip(jobs[:6], ("done", "done", "failed", "done", "failed",
                                           "running"), strict=True):
            claimed = queue.claim("nighthost:1:abc", lease_s=10 ** 9)
            assert claimed is not None and claimed.id == job.id
            clock[0] += 60
            if outcome == "done":
                queue.complete(job.id, "nighthost:1:abc", f"run-{job.id:03d}")
            elif outcome == "failed":
                queue.fail(job.id, "nighthost:1:abc", error_kind="max_steps",
                           error="max_steps (6) reached", run_id=f"run-{job.id:03d}",
                           retry=False)
        queue.reprioritise(jobs[7].id, 5)
    t = NIGHT_START
    _run(artifacts, "run-001", flow="spec2code", status="ok", started=t + 60,
         nodes=ALL_OK, job_id=1, reviews=("approve", "approve"), check=True)
    _run(artifacts, "run-002", flow="spec2code", status="ok", started=t + 120,
         nodes=ALL_OK, job_id=2, reviews=("approve", "request_changes"), check=True)
    _run(artifacts, "run-003", flow="spec2code", status="failed", started=t + 180,
         nodes=_failed_at("codegen"), job_id=3,
         failed=("codegen", "max_steps", "max_steps (6) reached without a final answer"))
    _run(artifacts, "run-004", flow="spec2code", status="ok", started=t + 240,
         nodes=ALL_OK, job_id=4, reviews=("approve", "approve"), check=True)
    _run(artifacts, "run-005", flow="spec2code", status="failed", started=t + 300,
         nodes=_failed_at("codegen"), job_id=5,
         failed=("codegen", "max_steps", "max_steps (6) reached without a final answer"))
    _run(artifacts, "run-007", flow="spec2code", status="failed", started=t + 420,
         nodes=_failed_at("test"), failed=("test", "tests_failed", "1 failed, 1 passed"),
         check=False)
    # the work passed its check, the merge gate refused it
    _run(artifacts, "run-008", flow="spec2code", status="failed", started=t + 480,
         nodes=_failed_at("merge"), reviews=("approve", "request_changes"), check=True,
         failed=("merge", "review_rejected", REFUSED_REASON))
    _run(artifacts, "run-009", flow="spec2code", status="failed", started=t + 540,
         nodes=_failed_at("merge"), reviews=("approve", "approve"), check=True,
         failed=("merge", "reviewer_gate",
                 "not merged: review.peer@1 is not measured yet: 4 canaries, needs 10"))

    night = artifacts / "nights" / NIGHT_ID
    night.mkdir(parents=True)
    atomic_write_json(night / "night.json", {"night_id": NIGHT_ID, "concurrency": 8})
    atomic_write_json(night / "reviewers.json", REVIEWERS)
    for i in range(96):
        append_jsonl(night / "metrics.jsonl", metrics_sample(i))
    # the writer is mid-line: a reader must leave this alone
    with (night / "metrics.jsonl").open("a") as handle:
        handle.write('{"t": 17952')

    append_jsonl(artifacts / "triage.jsonl", {"run_id": "run-005", "node": "codegen",
                                              "mark": "ignored", "at": FROZEN - 300})
    settings = TuiSettings(flow=str(root / "flows" / "spec2code.yaml"))
    return RoomContext(artifacts=artifacts, specs=specs, flows=root / "flows",
                       themes=root / "themes", settings=settings, clock=lambda: FROZEN,
                       tz=UTC, watch=False, poll_s=3600.0)


def metrics_sample(i: int) -> dict[str, object]:
    """Sample ``i`` of the fixture night (every 5 minutes; shapes that look like a night)."""
    wave = round(2 + 2 * math.sin(i / 9))  # 0..4, a slow swell over the night
    return {
        "t": NIGHT_START + 300 * i, "night_id": NIGHT_ID,
        "batch_size": 4 + wave, "avg_batch_size": 5.5, "tokens_per_s": 380.0 + 25 * wave,
        "queue_depth": max(0, 40 - i // 2), "running": 6, "done": i // 3, "failed": i // 20,
        "c": 8, "lambda_per_h": 6.0, "mu_per_h": 1.2, "rho": round(0.45 + 0.05 * wave, 3),
        "p_wait": 0.2, "erlang_mean_wait_s": 40.0 + wave, "observed_mean_wait_s": 35.0 + wave,
        "observed_p95_wait_s": 90.0, "schema_error_rate": 0.02,
        # the last half hour both reviewers agreed on every item: κ undefined (null)
        "kappa": round(0.5 + 0.04 * wave, 3) if i < 90 else None, "review_pairs": i // 4,
        "canaries": i // 8, "canary_accuracy": 0.75, "canary_false_pass_rate": 0.25,
    }


@pytest.fixture
def room(tmp_path: Path) -> RoomContext:
    return build_room(tmp_path)
