"""The morning report: summary numbers from a hand-made artifacts folder, and the files."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.kappa import cohen_kappa
from pantheon_engine.report import Summary, build_summary, render_markdown, write_report

DOCOPS = {
    "frontmatter": "doc.frontmatter@1.0.0",
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
                {"node": node, "agent": agents[node], "error_kind": kind, "error": "boom"},
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
    )
    # r1: docops, merged
    make_run(
        root,
        "r1",
        flow="docops",
        agents=DOCOPS,
        hour=1,
        nodes=ok_nodes(DOCOPS),
        status="ok",
        reviews={"reviewA": "pass", "reviewB": "pass"},
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
    # r3, r4: spec2code, tests failed
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
            outputs={
                "codegen": {"diff": "d", "files_changed": 1, "lines_added": 1, "lines_removed": 0}
            },
        )
    # r5: docops, reviewers disagree, the merge gate rejects
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
    )
    # r6: docops, still running: no nodes in run.json, frontmatter done
    run6 = make_run(root, "r6", flow="docops", agents=DOCOPS, hour=6, nodes=None, status="running")
    _write(
        run6 / "frontmatter" / "metrics.json",
        {"id": "frontmatter", "agent": DOCOPS["frontmatter"], "status": "ok"},
    )
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
    metrics.parent.mkdir(parents=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    metrics.write_text(text + '{"t": 1735779840, "batch_size": 100, "queue_depth": 99, "rh')
    return root


def test_night_summary_numbers(artifacts: Path) -> None:
    s = build_summary(artifacts, night_id="n1")
    assert (s.totals.runs, s.totals.ok, s.totals.failed, s.totals.running) == (6, 2, 3, 1)
    assert [r.run_id for r in s.runs] == ["r1", "r2", "r3", "r4", "r5", "r6"]

    assert [
        (p.run_id, p.flow, p.branch, p.files_changed, p.lines_added, p.lines_removed) for p in s.prs
    ] == [("r1", "docops", "pantheon/r1", 1, 3, 1), ("r2", "spec2code", "pantheon/r2", 2, 10, 2)]
    assert s.prs[0].commit == "abc1"

    bins = [(b.agent, b.node, b.error_kind, b.count, b.paths) for b in s.red_bins]
    assert bins == [
        (
            "test.pytest@1.0.0",
            "test",
            "tests_failed",
            2,
            ["runs/r3/test/error.json", "runs/r4/test/error.json"],
        ),
        ("merge.gate@1.0.0", "merge", "review_rejected", 1, ["runs/r5/merge/error.json"]),
    ]
    for red in s.red_bins:
        assert all((artifacts / p).is_file() for p in red.paths)

    rates = {r.agent: (r.ran, r.ok) for r in s.pass_rates}
    assert rates == {
        "codegen.patch@1.0.0": (3, 3),
        "doc.frontmatter@1.0.0": (3, 3),
        "merge.gate@1.0.0": (3, 2),
        "review.peer@1.0.0": (6, 6),
        "spec.plan@1.0.0": (3, 3),
        "test.pytest@1.0.0": (3, 1),
    }
    assert next(r for r in s.pass_rates if r.agent == "test.pytest@1.0.0").rate == 1 / 3

    # pairs (pass,pass) (pass,pass) (pass,fail): p_o = 2/3 = p_e, so κ = 0
    assert s.kappa.pairs == 3
    assert s.kappa.overall == pytest.approx(0.0)
    assert s.kappa.agreement == pytest.approx(2 / 3)

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


def test_all_runs_kappa_and_versions(artifacts: Path) -> None:
    s = build_summary(artifacts)
    assert s.night is None
    assert (s.totals.runs, s.totals.failed) == (7, 4)
    # A = p p p f, B = p p f f: n=4, agree=3, chance=3*2+1*2=8 -> (12-8)/(16-8)
    assert s.kappa.pairs == 4
    assert s.kappa.overall == pytest.approx(0.5)
    assert s.kappa.overall == cohen_kappa(
        [("pass", "pass"), ("pass", "pass"), ("pass", "fail"), ("fail", "fail")]
    )
    by_flow = {f.flow: (f.pairs, f.kappa) for f in s.kappa.by_flow}
    # docops: (p,p) (p,f) (f,f): agree=2, chance=2*1+1*2=4 -> (6-4)/(9-4)
    assert by_flow["docops"] == (3, pytest.approx(0.4))
    assert by_flow["spec2code"] == (1, 1.0)  # one shared verdict: defined as 1
    merge_bins = {b.agent: b.paths for b in s.red_bins if b.node == "merge"}
    assert merge_bins == {
        "merge.gate@0.9.0": ["runs/r0/merge/error.json"],
        "merge.gate@1.0.0": ["runs/r5/merge/error.json"],
    }
    rates = {r.agent: (r.ran, r.ok) for r in s.pass_rates}
    assert rates["merge.gate@0.9.0"] == (1, 0)


def test_since_filter(artifacts: Path) -> None:
    s = build_summary(artifacts, since=datetime(2025, 1, 2, 3, 30, tzinfo=UTC))
    assert [r.run_id for r in s.runs] == ["r4", "r5", "r6"]
    assert s.prs == []
    naive = build_summary(artifacts, since=datetime(2025, 1, 2, 0, 0))  # taken as UTC
    assert [r.run_id for r in naive.runs] == ["r1", "r2", "r3", "r4", "r5", "r6"]
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
    assert len(links) == 3
    for link in links:
        assert (out / link).resolve().is_file(), link
    assert "pantheon/r1" in md and "tests_failed" in md

    page = paths[2].read_text()
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    assert page.count("<svg") == 2 and page.count("<polyline") == 2
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == 3
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
    assert "6 runs: 2 ok, 3 failed, 1 running; 2 merged" in text
    assert "(runs/r3/test/error.json)" in text  # links relative to the artifacts folder
    assert "| test.pytest@1.0.0 | 3 | 1 | 33% |" in text
    assert "last ρ" in text


def test_empty_artifacts_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    s = build_summary(empty, night_id="n9")
    assert s.totals.runs == 0 and s.prs == [] and s.red_bins == [] and s.pass_rates == []
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
    assert "No failures." in render_markdown(s2)


def test_kappa_by_reviewer_agent(tmp_path: Path) -> None:
    """Pairs group by the reviewers' agent@version, as run.json names them."""
    from pantheon_engine.atomic import atomic_write_json
    from pantheon_engine.report import build_summary

    verdicts = [("pass", "pass"), ("fail", "fail"), ("pass", "fail"), ("pass", "pass")]
    for index, (a, b) in enumerate(verdicts):
        run = tmp_path / "runs" / f"r{index}"
        version = "1" if index < 2 else "2"
        atomic_write_json(run / "run.json", {
            "run_id": f"r{index}", "flow": "docops", "status": "ok",
            "started_at": "2026-11-21T00:00:00+00:00",
            "nodes": {"reviewA": "ok", "reviewB": "ok"},
            "agents": {"reviewA": f"review.peer@{version}", "reviewB": f"review.peer@{version}"},
        })
        atomic_write_json(run / "reviewA" / "review.json", {"verdict": a, "rationale": "x"})
        atomic_write_json(run / "reviewB" / "review.json", {"verdict": b, "rationale": "x"})
    summary = build_summary(tmp_path)
    by_agent = {a.agent: (a.pairs, a.kappa) for a in summary.kappa.by_agent}
    assert by_agent["review.peer@1"] == (2, 1.0)
    assert by_agent["review.peer@2"][0] == 2 and by_agent["review.peer@2"][1] == 0.0
