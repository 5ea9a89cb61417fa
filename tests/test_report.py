"""The morning report: summary numbers from a hand-made artifacts folder, and the files.

Pass rates come from each run's ``check`` verdict, reviewers from the night's
``reviewers.json``, refusals from failures of the merge node; every expected number
below is worked out by hand from the fixture.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.kappa import cohen_kappa
from pantheon_engine.night.report import render_markdown, write_report
from pantheon_engine.night.report_html import render_html
from pantheon_engine.night.report_text import kappa_text, pass_rate_text
from pantheon_engine.night.summary import build_summary
from pantheon_engine.night.summary_model import PassRate, Summary

DOCOPS = {
    "frontmatter": "doc.frontmatter@1.0.0",
    "check": "check.rules@1.0.0",
    "reviewA": "review.peer@1.0.0",
    "reviewB": "review.peer@1.0.0",
    "merge": "merge.gate@1.0.0",
}
SPEC = {
    "plan": "spec.plan@1.0.0",
    "codegen": "codegen.patch@1.0.0",
    "test": "test.pytest@1.0.0",
    "reviewA": "review.peer@1.0.0",
    "reviewB": "review.peer@1.0.0",
    "merge": "merge.gate@1.0.0",
}
T0 = 1735779600.0  # 2025-01-02T01:00:00Z


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def make_run(
    root: Path,
    run_id: str,
    *,
    flow: str,
    agents: dict[str, str],
    hour: int,
    nodes: dict[str, str] | None,
    status: str,
    night: str = "n1",
    day: int = 2,
    failed: tuple[str, str] | None = None,
    outputs: dict[str, dict[str, Any]] | None = None,
    reviews: dict[str, str] | None = None,
    check: dict[str, Any] | None = None,
    error: str = "boom",
) -> Path:
    run = root / "runs" / run_id
    meta: dict[str, Any] = {
        "run_id": run_id,
        "flow": flow,
        "status": status,
        "agents": agents,
        "started_at": f"2025-01-{day:02d}T{hour:02d}:00:00.000+00:00",
        "night_id": night,
    }
    if nodes is not None:
        meta.update(
            nodes=nodes,
            finished_at=f"2025-01-{day:02d}T{hour:02d}:05:00.000+00:00",
            failed_node=failed[0] if failed else None,
            error_kind=failed[1] if failed else None,
            branch=f"pantheon/{run_id}" if status == "ok" else None,
        )
    if check is not None:
        meta["check"] = check
    _write(run / "run.json", meta)
    for node, node_status in (nodes or {}).items():
        if node_status not in ("ok", "failed"):
            continue
        metrics = {
            "id": node,
            "agent": agents[node],
            "status": node_status,
            "steps": 2,
            "tool_calls": 1,
            "failures": {},
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "seconds": 1.5,
            "error_kind": None,
        }
        if node_status == "failed":
            kind = failed[1] if failed else "unknown"
            metrics["error_kind"] = kind
            _write(
                run / node / "error.json",
                {"node": node, "agent": agents[node], "error_kind": kind, "error": error},
            )
        _write(run / node / "metrics.json", metrics)
    for node, output in (outputs or {}).items():
        _write(run / node / "output.json", output)
    for node, verdict in (reviews or {}).items():
        _write(
            run / node / "review.json",
            {"verdict": verdict, "rationale": "because", "reviewer": node},
        )
    return run


def ok_nodes(agents: dict[str, str]) -> dict[str, str]:
    return dict.fromkeys(agents, "ok")


def docops_check(passed: bool | None, error: str | None = None) -> dict[str, Any]:
    return {"nodes": ["check"], "passed": passed, "graded": [DOCOPS["frontmatter"]], "error": error}


def spec_check(passed: bool | None) -> dict[str, Any]:
    return {"nodes": ["test"], "passed": passed, "graded": [SPEC["codegen"]], "error": None}


def failed_at(agents: dict[str, str], node: str) -> dict[str, str]:
    """ok before ``node``, failed at it, not_run after (in the agents' order)."""
    order = list(agents)
    at = order.index(node)
    return {n: "ok" if i < at else "failed" if i == at else "not_run" for i, n in enumerate(order)}


REVIEWERS = {
    "reviewers": {
        "review.peer@1.0.0": {
            "canaries": 10,
            "correct": 8,
            "accuracy": 0.8,
            "bad_seen": 5,
            "false_passes": 1,
            "false_pass_rate": 0.2,
            "window": 50,
        },
        "review.strict@2": {
            "canaries": 0,
            "correct": 0,
            "accuracy": None,
            "bad_seen": 0,
            "false_passes": 0,
            "false_pass_rate": None,
            "window": 50,
        },
    },
    "kappa": {"value": None, "pairs": 12, "undefined": True},
    "gate": {"false_pass_max": 0.2, "kappa_min": 0.6, "min_canaries": 10},
}


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    # r0: an earlier night, both reviewers fail, an older merge gate rejects
    old = {**DOCOPS, "merge": "merge.gate@0.9.0"}
    make_run(
        root,
        "r0",
        flow="docops",
        agents=old,
        hour=1,
        day=1,
        night="n0",
        nodes={**ok_nodes(old), "merge": "failed"},
        status="failed",
        failed=("merge", "review_rejected"),
        reviews={"reviewA": "fail", "reviewB": "fail"},
    )  # an old run: no ``check`` in its run.json
    # r1: docops, check passed, merged
    make_run(
        root,
        "r1",
        flow="docops",
        agents=DOCOPS,
        hour=1,
        nodes=ok_nodes(DOCOPS),
        status="ok",
        reviews={"reviewA": "pass", "reviewB": "pass"},
        check=docops_check(True),
        outputs={
            "frontmatter": {"diff": "d", "files_changed": 1, "lines_added": 3, "lines_removed": 1},
            "merge": {
                "merged": True,
                "branch": "pantheon/r1",
                "commit": "abc1",
                "files_changed": 1,
                "reviews": [],
            },
        },
    )
    # r2: spec2code, merged
    make_run(
        root,
        "r2",
        flow="spec2code",
        agents=SPEC,
        hour=2,
        nodes=ok_nodes(SPEC),
        status="ok",
        reviews={"reviewA": "pass", "reviewB": "pass"},
        check=spec_check(True),
        outputs={
            "codegen": {"diff": "d", "files_changed": 2, "lines_added": 10, "lines_removed": 2},
            "merge": {
                "merged": True,
                "branch": "pantheon/r2",
                "commit": "abc2",
                "files_changed": 2,
                "reviews": [],
            },
        },
    )
    # r3, r4: spec2code, tests failed (the check failed: a failure of the work)
    failed_at_test = {
        "plan": "ok",
        "codegen": "ok",
        "test": "failed",
        "reviewA": "not_run",
        "reviewB": "not_run",
        "merge": "not_run",
    }
    for run_id, hour in (("r3", 3), ("r4", 4)):
        make_run(
            root,
            run_id,
            flow="spec2code",
            agents=SPEC,
            hour=hour,
            nodes=failed_at_test,
            status="failed",
            failed=("test", "tests_failed"),
            check=spec_check(False),
            outputs={
                "codegen": {"diff": "d", "files_changed": 1, "lines_added": 1, "lines_removed": 0}
            },
        )
    # r5: docops, check passed, reviewers disagree, the merge gate refuses
    make_run(
        root,
        "r5",
        flow="docops",
        agents=DOCOPS,
        hour=5,
        nodes={**ok_nodes(DOCOPS), "merge": "failed"},
        status="failed",
        failed=("merge", "review_rejected"),
        reviews={"reviewA": "pass", "reviewB": "fail"},
        check=docops_check(True),
        error="not merged: review rejected the change (reviewB: the date is wrong)",
    )
    # r6: docops, still running: no nodes in run.json, frontmatter done
    run6 = make_run(root, "r6", flow="docops", agents=DOCOPS, hour=6, nodes=None, status="running")
    _write(
        run6 / "frontmatter" / "metrics.json",
        {"id": "frontmatter", "agent": DOCOPS["frontmatter"], "status": "ok"},
    )
    # r8: docops, the agent ran out of steps: its check never ran (not graded)
    make_run(
        root,
        "r8",
        flow="docops",
        agents=DOCOPS,
        hour=8,
        nodes=failed_at(DOCOPS, "frontmatter"),
        status="failed",
        failed=("frontmatter", "max_steps"),
        check=docops_check(None),
    )
    # r9: docops, the rules check failed: a failure of the work, not a refusal
    make_run(
        root,
        "r9",
        flow="docops",
        agents=DOCOPS,
        hour=9,
        nodes=failed_at(DOCOPS, "check"),
        status="failed",
        failed=("check", "check_failed"),
        check=docops_check(False, "rules unmet: absent:draft"),
        error="rules unmet: absent:draft",
    )
    # r10: docops, check passed, the κ gate refuses
    make_run(
        root,
        "r10",
        flow="docops",
        agents=DOCOPS,
        hour=10,
        nodes={**ok_nodes(DOCOPS), "merge": "failed"},
        status="failed",
        failed=("merge", "kappa_gate"),
        reviews={"reviewA": "fail", "reviewB": "pass"},
        check=docops_check(True),
        error="not merged: reviewer agreement κ = 0.10 over the last 20 review pairs",
    )
    # r11: an old docops run, merged, written before runs carried ``check``
    make_run(
        root, "r11", flow="docops", agents=DOCOPS, hour=11, nodes=ok_nodes(DOCOPS), status="ok"
    )
    _write(root / "nights" / "n1" / "reviewers.json", REVIEWERS)
    # noise: a folder without run.json and a torn run.json
    (root / "runs" / "junk").mkdir()
    (root / "runs" / "torn").mkdir()
    (root / "runs" / "torn" / "run.json").write_text('{"run_id": "torn", "sta')
    # the night's engine metrics, with a partial last line
    lines = [
        {
            "t": T0,
            "batch_size": 2,
            "tokens_per_s": 100.0,
            "queue_depth": 3,
            "rho": 0.5,
            "p_wait": 0.2,
            "mean_wait": 1.0,
        },
        {
            "t": T0 + 60,
            "batch_size": 4,
            "tokens_per_s": 200.0,
            "queue_depth": 5,
            "rho": 0.7,
            "p_wait": 0.4,
            "erlang_mean_wait_s": 3.0,  # the night runner's field name
        },
        {"t": T0 + 120, "tokens_per_s": 150.0},
        {"t": T0 + 180, "batch_size": 6, "queue_depth": 1, "rho": 0.9},
    ]
    metrics = root / "nights" / "n1" / "metrics.jsonl"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    metrics.write_text(text + '{"t": 1735779840, "batch_size": 100, "queue_depth": 99, "rh')
    return root


def test_night_summary_numbers(artifacts: Path) -> None:
    s = build_summary(artifacts, night_id="n1")
    t = s.totals
    assert (t.runs, t.ok, t.failed, t.running) == (10, 3, 6, 1)
    # checks: passed r1 r2 r5 r10, failed r3 r4 r9, not graded r8; r6 runs, r11 has none
    assert (t.checks_passed, t.checks_failed, t.not_graded, t.refused) == (4, 3, 1, 2)
    assert [r.run_id for r in s.runs] == [
        "r1",
        "r2",
        "r3",
        "r4",
        "r5",
        "r6",
        "r8",
        "r9",
        "r10",
        "r11",
    ]
    assert [r.check_passed for r in s.runs] == [
        True,
        True,
        False,
        False,
        True,
        None,
        None,
        False,
        True,
        None,
    ]

    assert [
        (p.run_id, p.flow, p.branch, p.files_changed, p.lines_added, p.lines_removed) for p in s.prs
    ] == [
        ("r1", "docops", "pantheon/r1", 1, 3, 1),
        ("r2", "spec2code", "pantheon/r2", 2, 10, 2),
        ("r11", "docops", "pantheon/r11", 0, 0, 0),
    ]
    assert s.prs[0].commit == "abc1"

    # failures of the work only: the merge gate's refusals are kept apart
    bins = [(b.agent, b.node, b.error_kind, b.count, b.paths) for b in s.red_bins]
    assert bins == [
        (
            "test.pytest@1.0.0",
            "test",
            "tests_failed",
            2,
            ["runs/r3/test/error.json", "runs/r4/test/error.json"],
        ),
        ("check.rules@1.0.0", "check", "check_failed", 1, ["runs/r9/check/error.json"]),
        (
            "doc.frontmatter@1.0.0",
            "frontmatter",
            "max_steps",
            1,
            ["runs/r8/frontmatter/error.json"],
        ),
    ]
    for red in s.red_bins:
        assert all((artifacts / p).is_file() for p in red.paths)

    # one verdict per run, from its check: the agents' own final answers count nowhere
    rates = {r.agent: (r.graded, r.passed, r.not_graded) for r in s.pass_rates}
    assert rates == {
        "doc.frontmatter@1.0.0": (4, 3, 1),  # r1 r5 r10 passed, r9 failed, r8 not graded
        "codegen.patch@1.0.0": (3, 1, 0),  # r2 passed, r3 r4 failed
    }
    doc = next(r for r in s.pass_rates if r.agent == "doc.frontmatter@1.0.0")
    assert doc.rate == 0.75
    # Wilson 95 %, 3 of 4: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    assert doc.low == pytest.approx(0.30064, abs=1e-4)
    assert doc.high == pytest.approx(0.95441, abs=1e-4)
    code = next(r for r in s.pass_rates if r.agent == "codegen.patch@1.0.0")
    assert code.rate == pytest.approx(1 / 3)
    assert code.low == pytest.approx(0.06149, abs=1e-4)
    assert code.high == pytest.approx(0.79234, abs=1e-4)

    refused = [
        (g.error_kind, g.count, [(r.run_id, r.agent, r.reason) for r in g.refusals])
        for g in s.refused
    ]
    kappa_reason = "not merged: reviewer agreement κ = 0.10 over the last 20 review pairs"
    review_reason = "not merged: review rejected the change (reviewB: the date is wrong)"
    assert refused == [
        ("kappa_gate", 1, [("r10", "merge.gate@1.0.0", kappa_reason)]),
        ("review_rejected", 1, [("r5", "merge.gate@1.0.0", review_reason)]),
    ]
    assert s.refused[0].refusals[0].path == "runs/r10/merge/error.json"

    # pairs (p,p) (p,p) (p,f) (f,p): agree 2, chance 3·3 + 1·1 = 10 -> (4·2 - 10)/(16 - 10)
    assert s.kappa.pairs == 4
    assert s.kappa.overall == pytest.approx(-1 / 3)
    assert s.kappa.agreement == pytest.approx(0.5)

    night = s.night
    assert night is not None and night.records == 4  # the partial line is skipped
    assert night.avg_batch_size == pytest.approx(4.0)
    assert night.avg_tokens_per_s == pytest.approx(150.0)
    assert night.max_queue_depth == 5
    assert night.last_rho == pytest.approx(0.9)
    assert night.mean_p_wait == pytest.approx(0.3)
    assert night.mean_wait == pytest.approx(2.0)
    assert [(p.t - T0, p.tokens_per_s, p.queue_depth) for p in night.series] == [
        (0, 100.0, 3),
        (60, 200.0, 5),
        (120, 150.0, None),
        (180, None, 1),
    ]


def test_reviewers_from_the_nights_file(artifacts: Path) -> None:
    rv = build_summary(artifacts, night_id="n1").reviewers
    assert rv.source == "nights/n1/reviewers.json" and rv.night_id == "n1"
    rows = {r.agent: r for r in rv.rows}
    assert list(rows) == ["review.peer@1.0.0", "review.strict@2"]
    peer = rows["review.peer@1.0.0"]
    assert (peer.canaries, peer.correct, peer.accuracy) == (10, 8, 0.8)
    assert (peer.bad_seen, peer.false_passes, peer.false_pass_rate, peer.window) == (5, 1, 0.2, 50)
    assert peer.pairs == 4  # review pairs it gave in the runs (κ is the summary's, one figure)
    strict = rows["review.strict@2"]
    assert strict.canaries == 0 and strict.accuracy is None and strict.pairs == 0
    assert rv.kappa is not None and rv.kappa.value is None and rv.kappa.undefined
    assert rv.kappa.pairs == 12
    assert rv.gate is not None and (
        rv.gate.false_pass_max,
        rv.gate.kappa_min,
        rv.gate.min_canaries,
    ) == (0.2, 0.6, 10)

    text = render_markdown(build_summary(artifacts, night_id="n1"))
    # the gate's own window (canaries included) is not a second κ beside the runs' one
    assert "κ undefined over 12" not in text
    assert "Agreement between the two reviewers: κ -0.33 over 4 review pairs." in text
    assert "false-pass rate ≤ 20 %, κ ≥ 0.6, at least 10 canaries" in text
    assert "| review.peer@1.0.0 | 10 | 8 | 80 % | 5 | 1 | 20 % | 50 | 4 |" in text
    assert "| review.strict@2 | 0 | 0 | n/a | 0 | 0 | n/a | 50 | 0 |" in text

    # no night named: the newest night that has a reviewers.json
    assert build_summary(artifacts).reviewers.source == "nights/n1/reviewers.json"


def test_reviewers_missing_or_partial(artifacts: Path) -> None:
    rv = build_summary(artifacts, night_id="n0").reviewers  # n0 has no file
    assert rv.source is None and rv.kappa is None and rv.gate is None
    # the reviewers of n0's runs still show, with their κ and no canary record
    assert [(r.agent, r.canaries, r.pairs) for r in rv.rows] == [
        ("review.peer@1.0.0", None, 1)
    ]
    text = render_markdown(build_summary(artifacts, night_id="n0"))
    assert "No reviewers.json: the reviewers' canaries were not measured." in text

    path = artifacts / "nights" / "n1" / "reviewers.json"
    _write(
        path,
        {
            "reviewers": {
                "review.peer@1.0.0": {"canaries": 3, "accuracy": "high"},
                "broken": [1, 2],
            },
            "kappa": {"pairs": 7},
            "gate": "strict",
        },
    )
    rv = build_summary(artifacts, night_id="n1").reviewers
    peer = rv.rows[0]
    assert [r.agent for r in rv.rows] == ["review.peer@1.0.0"]
    assert (peer.canaries, peer.correct, peer.accuracy, peer.false_pass_rate) == (
        3,
        None,
        None,
        None,
    )
    assert rv.kappa is not None and rv.kappa.value is None and rv.kappa.undefined
    assert rv.gate is None
    text = render_markdown(build_summary(artifacts, night_id="n1"))
    assert "κ undefined over 7" not in text and "κ -0.33 over 4 review pairs" in text

    path.write_text('{"reviewers": {"review.peer@1.0.0": {"canar')  # torn
    rv = build_summary(artifacts, night_id="n1").reviewers
    assert rv.source is None and rv.rows[0].canaries is None
    path.write_text("[1, 2]")
    assert build_summary(artifacts, night_id="n1").reviewers.source is None


def test_kappa_none_reads_undefined_never_one(artifacts: Path) -> None:
    summary = build_summary(artifacts, night_id="n1")
    summary.kappa.overall = None
    summary.kappa.by_flow[0].kappa = None
    text = render_markdown(summary)
    assert "| 10 | 3 | 6 | 1 | 3 | undefined | 4 |" in text
    assert "κ undefined over 4 review pairs (raw agreement" in text
    assert "| docops | 3 | undefined |" in text
    assert "1.00" not in text
    page = render_html(summary)
    assert "κ undefined over 4 review pairs (raw agreement" in page
    assert "κ undefined over 12" not in page
    assert kappa_text(None) == "undefined" and kappa_text(0.5) == "0.50"


def test_all_runs_kappa_and_versions(artifacts: Path) -> None:
    s = build_summary(artifacts)
    assert s.night is None
    assert (s.totals.runs, s.totals.failed) == (11, 7)
    # A = p p p f f, B = p p f p f: n=5, agree=3, chance=3·3+2·2=13 -> (15-13)/(25-13)
    assert s.kappa.pairs == 5
    assert s.kappa.overall == pytest.approx(1 / 6)
    assert s.kappa.overall == cohen_kappa(
        [("pass", "pass"), ("pass", "pass"), ("pass", "fail"), ("fail", "pass"), ("fail", "fail")]
    )
    by_flow = {f.flow: (f.pairs, f.kappa) for f in s.kappa.by_flow}
    # docops: (f,f) (p,p) (p,f) (f,p): agree=2, chance=2·2+2·2=8 -> (8-8)/(16-8)
    assert by_flow["docops"] == (4, pytest.approx(0.0))
    assert by_flow["spec2code"][0] == 1
    # an old run without ``check`` is refused all the same, and counts in no pass rate
    refused = {g.error_kind: sorted((r.run_id, r.agent) for r in g.refusals) for g in s.refused}
    assert refused == {
        "kappa_gate": [("r10", "merge.gate@1.0.0")],
        "review_rejected": [("r0", "merge.gate@0.9.0"), ("r5", "merge.gate@1.0.0")],
    }
    assert [g.error_kind for g in s.refused] == ["review_rejected", "kappa_gate"]  # biggest first
    assert {r.agent for r in s.pass_rates} == {"doc.frontmatter@1.0.0", "codegen.patch@1.0.0"}
    assert not any(b.node == "merge" for b in s.red_bins)


def test_pass_rate_of_three_in_twelve(tmp_path: Path) -> None:
    """3 of 12 graded runs passed, 2 more never reached the check: 25 % [9 %, 53 %]."""
    outcomes = [True] * 3 + [False] * 9 + [None] * 2
    for index, passed in enumerate(outcomes):
        if passed is None:
            nodes, failed = failed_at(DOCOPS, "frontmatter"), ("frontmatter", "max_steps")
        elif passed:
            nodes, failed = ok_nodes(DOCOPS), None
        else:
            nodes, failed = failed_at(DOCOPS, "check"), ("check", "check_failed")
        make_run(
            tmp_path,
            f"r{index:02d}",
            flow="docops",
            agents=DOCOPS,
            hour=index,
            nodes=nodes,
            status="ok" if passed else "failed",
            failed=failed,
            check=docops_check(passed),
        )
    s = build_summary(tmp_path)
    [rate] = s.pass_rates
    assert (rate.agent, rate.graded, rate.passed, rate.not_graded) == (
        "doc.frontmatter@1.0.0",
        12,
        3,
        2,
    )
    assert rate.rate == 0.25
    assert rate.low == pytest.approx(0.0889, abs=1e-4)
    assert rate.high == pytest.approx(0.5323, abs=1e-4)
    assert pass_rate_text(rate) == "3/12 passed checks  25 % [9 %, 53 %]  (2 not graded)"
    text = render_markdown(s)
    assert "| doc.frontmatter@1.0.0 | 12 | 3 | 25 % | [9 %, 53 %] | 2 |" in text
    page = render_html(s)
    assert "<td>25 %</td><td>[9 %, 53 %]</td>" in page
    summary_json = json.loads(s.model_dump_json())
    assert summary_json["pass_rates"][0] == {
        "agent": "doc.frontmatter@1.0.0",
        "graded": 12,
        "passed": 3,
        "not_graded": 2,
        "rate": 0.25,
        "low": rate.low,
        "high": rate.high,
    }
    # nothing graded yet: no rate, no interval
    empty = PassRate(agent="x@1", not_graded=2)
    assert pass_rate_text(empty) == "no run graded  (2 not graded)"


def test_runs_without_or_with_odd_checks_do_not_crash(tmp_path: Path) -> None:
    shapes: list[Any] = [
        None,
        "yes",
        {"passed": "maybe", "graded": ["a@1"]},
        {"passed": True, "graded": "a@1"},
        {"passed": False, "graded": [3, "b@1"]},
        {"passed": True},
    ]
    for index, check in enumerate(shapes):
        run = make_run(
            tmp_path,
            f"r{index}",
            flow="docops",
            agents=DOCOPS,
            hour=index,
            nodes=ok_nodes(DOCOPS),
            status="ok",
        )
        meta = json.loads((run / "run.json").read_text())
        meta["check"] = check
        _write(run / "run.json", meta)
    s = build_summary(tmp_path)
    assert s.totals.runs == 6
    # "maybe" is no verdict: that run counts nowhere; the others count for whom they name
    assert [(r.agent, r.graded, r.passed) for r in s.pass_rates] == [("b@1", 1, 0)]
    assert (s.totals.checks_passed, s.totals.checks_failed) == (2, 1)
    assert "## Pass rate per agent (from checks)" in render_markdown(s)


def test_since_filter(artifacts: Path) -> None:
    s = build_summary(artifacts, since=datetime(2025, 1, 2, 3, 30, tzinfo=UTC))
    assert [r.run_id for r in s.runs] == ["r4", "r5", "r6", "r8", "r9", "r10", "r11"]
    assert [p.run_id for p in s.prs] == ["r11"]
    naive = build_summary(artifacts, since=datetime(2025, 1, 2, 0, 0))  # taken as UTC
    assert [r.run_id for r in naive.runs][:3] == ["r1", "r2", "r3"]
    assert naive.totals.runs == 10
    both = build_summary(artifacts, night_id="n0", since=datetime(2025, 1, 2, tzinfo=UTC))
    assert both.totals.runs == 0


def test_night_filter_other_night(artifacts: Path) -> None:
    s = build_summary(artifacts, night_id="n0")
    assert [r.run_id for r in s.runs] == ["r0"]
    assert s.night is not None and s.night.records == 0 and s.night.series == []
    assert s.night.avg_tokens_per_s is None


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_write_report_files(artifacts: Path, tmp_path: Path, where: str) -> None:
    out = tmp_path / "report" if where == "outside" else artifacts / "reports" / "n1"
    s = build_summary(artifacts, night_id="n1")
    paths = write_report(artifacts, s, out)
    assert [p.name for p in paths] == ["summary.json", "report.md", "report.html"]
    assert all(p.is_file() for p in paths)
    assert not list(out.glob("*.tmp"))

    assert Summary.model_validate_json(paths[0].read_text()) == s

    md = paths[1].read_text()
    links = re.findall(r"\]\(<?([^)>]+)>?\)", md)
    assert len(links) == 6  # four failures of the work, two refusals
    for link in links:
        assert (out / link).resolve().is_file(), link
    assert "pantheon/r1" in md and "tests_failed" in md
    assert "## Refused by the merge gate" in md
    assert "| kappa_gate | 1 | reviewers agree too little: κ below the gate |" in md
    assert "| r5 | - | review_rejected | not merged: review rejected the change" in md

    page = paths[2].read_text()
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    assert page.count("<svg") == 2 and page.count("<polyline") == 2
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == 6
    assert "reviewB: the date is wrong" in page and "κ undefined over 12" not in page
    for href in hrefs:
        assert (out / href).resolve().is_file(), href


def test_html_escapes_text(artifacts: Path, tmp_path: Path) -> None:
    evil = {"frontmatter": "<script>alert(1)</script>@1"}
    make_run(
        artifacts,
        "r7",
        flow="doc<ops>&",
        agents=evil,
        hour=7,
        nodes={"frontmatter": "failed"},
        status="failed",
        failed=("frontmatter", "max_steps"),
    )
    s = build_summary(artifacts, night_id="n1")
    page = write_report(artifacts, s, tmp_path / "out")[2].read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@1" in page


def test_render_markdown_for_terminal(artifacts: Path) -> None:
    text = render_markdown(build_summary(artifacts, night_id="n1"))
    assert text.startswith("# Morning report (night n1)")
    assert (
        "10 runs: 3 ok, 6 failed, 1 running; checks 4 passed, 3 failed, 1 not graded; "
        "2 refused by the merge gate; 3 merged"
    ) in text
    assert "(runs/r3/test/error.json)" in text  # links relative to the artifacts folder
    assert "| doc.frontmatter@1.0.0 | 4 | 3 | 75 % | [30 %, 95 %] | 1 |" in text
    assert "| codegen.patch@1.0.0 | 3 | 1 | 33 % | [6 %, 79 %] | 0 |" in text
    # the check's own verdict is a failure of the work, listed with the red bins
    red = text[text.index("## Red bins") : text.index("## Refused")]
    assert "check_failed" in red and "review_rejected" not in red
    assert "last ρ" in text


def test_empty_artifacts_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    s = build_summary(empty, night_id="n9")
    assert s.totals.runs == 0 and s.prs == [] and s.red_bins == [] and s.pass_rates == []
    assert s.refused == [] and s.reviewers.source is None and s.reviewers.rows == []
    assert s.kappa.pairs == 0 and s.kappa.overall is None
    assert s.night is not None and s.night.records == 0
    paths = write_report(empty, s, tmp_path / "out")
    assert Summary.model_validate_json(paths[0].read_text()) == s
    assert "Nothing merged." in paths[1].read_text()
    page = paths[2].read_text()
    assert page.count("<svg") == 2 and "no data" in page
    assert "http://" not in page and "https://" not in page
    # no night at all, and an artifacts folder that does not exist yet
    s2 = build_summary(tmp_path / "missing")
    assert s2.night is None and s2.totals.runs == 0
    text = render_markdown(s2)
    assert "No failures." in text and "The gate refused nothing." in text
    assert "No run was graded by a check." in text


def test_kappa_by_reviewer_agent(tmp_path: Path) -> None:
    """Pairs group by the reviewers' agent@version, as run.json names them."""
    from pantheon_engine.atomic import atomic_write_json
    from pantheon_engine.night.summary import build_summary

    verdicts = [("pass", "pass"), ("fail", "fail"), ("pass", "fail"), ("pass", "pass")]
    for index, (a, b) in enumerate(verdicts):
        run = tmp_path / "runs" / f"r{index}"
        version = "1" if index < 2 else "2"
        atomic_write_json(
            run / "run.json",
            {
                "run_id": f"r{index}",
                "flow": "docops",
                "status": "ok",
                "started_at": "2026-11-21T00:00:00+00:00",
                "nodes": {"reviewA": "ok", "reviewB": "ok"},
                "agents": {
                    "reviewA": f"review.peer@{version}",
                    "reviewB": f"review.peer@{version}",
                },
            },
        )
        atomic_write_json(run / "reviewA" / "review.json", {"verdict": a, "rationale": "x"})
        atomic_write_json(run / "reviewB" / "review.json", {"verdict": b, "rationale": "x"})
    summary = build_summary(tmp_path)
    by_agent = {a.agent: (a.pairs, a.kappa) for a in summary.kappa.by_agent}
    assert by_agent["review.peer@1"] == (2, 1.0)
    assert by_agent["review.peer@2"][0] == 2 and by_agent["review.peer@2"][1] == 0.0


def _learning_curves(root: Path) -> None:
    from pantheon_engine.evals.curve import CurvePoint, make_curve, save_curve

    for scope, passed in (("rule", (0, 61, 98, 126, 141)), ("file", (0, 30, 45, 55, 58))):
        points = [CurvePoint(examples=n, passed=p, total=200, version=f"doc.frontmatter@{i + 1}")
                  for i, (n, p) in enumerate(zip((0, 50, 100, 200, 400), passed, strict=True))]
        save_curve(root, make_curve("doc.frontmatter", scope, "suites/docops-7", points,
                                    target=0.5))


def test_learning_curves_in_the_report(artifacts: Path, tmp_path: Path) -> None:
    _learning_curves(artifacts)
    broken = artifacts / "agents" / "codegen" / "curves" / "file.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    s = build_summary(artifacts, night_id="n1")
    assert [(c.agent, c.scope) for c in s.curves] == [("doc.frontmatter", "file"),
                                                      ("doc.frontmatter", "rule")]
    assert s.curve_problems and "agents/codegen/curves/file.json" in s.curve_problems[0]
    paths = write_report(artifacts, s, tmp_path / "out")
    assert Summary.model_validate_json(paths[0].read_text()) == s

    md = paths[1].read_text()
    section = md[md.index("## Learning curves") : md.index("## Reviewers")]
    assert "### doc.frontmatter · scope rule · suites/docops-7 holdout" in section
    assert "| 50 | 61/200 | 30 % | [25 %, 37 %] | doc.frontmatter@2 | - |" in section
    assert "Fit: p(N) = 0 % + (" in section
    assert re.search(r"Target 50 %: N ≈ \d+ examples\.", section)
    assert "Target 50 %: at or above the asymptote" in section  # the file scope tops out
    assert "codegen/curves/file.json: not valid JSON" in section

    page = paths[2].read_text()
    assert "<h2>Learning curves</h2>" in page
    assert page.count("<svg") == 3  # the two night charts and one per agent with curves
    chart = page[page.index('<svg class="curve"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count('class="point"') == 10 and chart.count('class="fit"') == 2
    assert 'class="target"' in chart and "training examples (N)" in chart
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_no_learning_curves_no_section(artifacts: Path, tmp_path: Path) -> None:
    (artifacts / "agents" / "doc.frontmatter").mkdir(parents=True)  # a version, no curve
    s = build_summary(artifacts, night_id="n1")
    assert s.curves == [] and s.curve_problems == []
    paths = write_report(artifacts, s, tmp_path / "out")
    assert "Learning curves" not in paths[1].read_text()
    page = paths[2].read_text()
    assert "Learning curves" not in page and 'class="curve"' not in page
