"""spec2code canaries: reviewed exactly as a real code change is, and scored apart from
document canaries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.night.demo import create_demo
from pantheon_engine.night.demo_code import SPECS
from pantheon_engine.night.reviewing.code_canary import code_canaries
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.night.reviewing.runner import CanaryRunner, flow_kind
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator

from conftest import FLOWS, reference_review


def verdict(value: str) -> str:
    return json.dumps({"type": "final", "output": {"verdict": value, "rationale": "read it"}})


def _timing_free(prompt: str) -> str:
    return re.sub(r" in \d+\.\d+s", " in Ns", prompt)


def test_code_flows_get_code_canaries_and_document_flows_document_ones() -> None:
    registry = default_registry()
    assert flow_kind(load_flow_checked(FLOWS / "spec2code.yaml", registry), registry) == "code"
    assert flow_kind(load_flow_checked(FLOWS / "docops.yaml", registry), registry) == "docs"
    pool = code_canaries(seed=3)
    assert sum(c.expected == "fail" for c in pool) * 2 == len(pool)
    # shuffled: not all good ones first, and the order follows the seed
    assert [c.expected for c in pool[:4]] != ["pass"] * 4
    assert [c.id for c in pool] == [c.id for c in code_canaries(seed=3)]


async def test_a_code_canary_prompt_is_the_prompt_of_the_same_real_change(
        tmp_path: Path) -> None:
    """A real spec2code run that writes shout() and the canary of that change give the
    reviewers the same prompt: same diff (git's own), same test summary, same spec."""
    registry = default_registry()
    flow = load_flow_checked(FLOWS / "spec2code.yaml", registry)
    repo = Path(create_demo(tmp_path / "demo", tmp_path / "art").workspace)
    canary = next(c for c in code_canaries() if c.id == "code-shout-good")
    spec = SPECS[0]
    engine = ReplayEngine([
        RecordedReply(key="codegen", text=json.dumps({
            "type": "tool", "name": "write_file",
            "args": {"path": spec["files"][0], "content": canary.change[spec["files"][0]]}})),
        RecordedReply(key="codegen", text=json.dumps({
            "type": "final", "output": {"summary": canary.summary}})),
        *[RecordedReply(key=node, text=text) for node in ("reviewA", "reviewB")
          for text in reference_review()] * 2,
    ])
    orchestrator = Orchestrator(registry=registry, engine=engine, policy=Policy(mode="day"),
                                artifacts_root=tmp_path / "art")
    real = await orchestrator.run(flow, {**spec, "workspace": str(repo)}, repo)
    assert [n.status for n in real.nodes if n.id == "test"] == ["ok"]

    ledger = ReviewerLedger()
    runner = CanaryRunner(registry=registry, engine=engine, policy=Policy(mode="day"),
                          ledger=ledger, pool=[], code_pool=[canary],
                          folder=tmp_path / "canaries", night_id="n1")
    verdicts = await runner.run_canary(flow, canary, "k1")
    assert verdicts == {"reviewA": "pass", "reviewB": "pass"}
    for node in ("reviewA", "reviewB"):
        real_prompt = (Path(real.dir) / node / "prompt.txt").read_text()
        canary_prompt = (tmp_path / "canaries" / "k1" / node / "prompt.txt").read_text()
        assert _timing_free(canary_prompt) == _timing_free(real_prompt)
        assert "def shout(text: str) -> str  (in textkit.words, new)" in canary_prompt
    assert ledger.kind_stats("review.reference@1", "code").canaries == 2
    assert ledger.kind_stats("review.reference@1", "docs").canaries == 0


async def test_a_change_outside_the_spec_files_is_no_review_item(tmp_path: Path) -> None:
    """The check refuses a change that writes a file its spec does not name, so such a
    change never reaches review and no reviewer is scored on it."""
    registry = default_registry()
    flow = load_flow_checked(FLOWS / "spec2code.yaml", registry)
    good = next(c for c in code_canaries() if c.id == "code-shout-good")
    stray = good.model_copy(update={"id": "code-shout-weakens-test", "expected": "fail",
                                    "change": {**good.change, "tests/test_words.py": None}})
    ledger = ReviewerLedger()
    runner = CanaryRunner(registry=registry, engine=ReplayEngine([]),
                          policy=Policy(mode="night"), ledger=ledger, pool=[],
                          code_pool=[stray], folder=tmp_path / "canaries", night_id="n1")
    assert await runner.run_canary(flow, stray, "k1") == {"reviewA": None, "reviewB": None}
    error = json.loads((tmp_path / "canaries" / "k1" / "error.json").read_text())
    assert error["error_kind"] == "canary_invalid"
    assert "writes tests/test_words.py, outside the spec's files" in error["error"]
    assert ledger.kind_stats("review.reference@1", "code").canaries == 0


def test_a_reviewer_trusted_on_documents_is_not_trusted_on_code() -> None:
    ledger = ReviewerLedger()
    for index in range(12):
        expected = "fail" if index % 2 else "pass"
        ledger.record(node="reviewA", agent="r@1", canary=f"d{index}", item="x",
                      expected=expected, got=expected, kind="docs")
        ledger.record(node="reviewA", agent="r@1", canary=f"c{index}", item="y",
                      expected=expected, got="pass", kind="code")
        ledger.add_pair(expected, expected, kind="docs")
        ledger.add_pair("pass", "pass", kind="code")
    assert ledger.gate_problems({"reviewA": "r@1"}, kind="docs") == []
    code = ledger.gate_problems({"reviewA": "r@1"}, kind="code")
    assert code == [
        "r@1 passed 6 of 6 bad code canaries (false-pass rate 1.00 > 0.20)",
        "reviewer agreement κ is undefined over the last 12 code verdict pairs (both "
        "reviewers gave every item the same verdict)"]
    state = ledger.to_json()
    assert set(state["reviewers"]["r@1"]["kinds"]) == {"docs", "code"}
    assert state["kappa_by_kind"]["docs"]["value"] == 1.0


def test_the_ledger_counts_good_work_a_reviewer_rejected() -> None:
    ledger = ReviewerLedger()
    for index, (expected, got) in enumerate([("pass", "fail"), ("pass", "pass"),
                                             ("fail", "fail"), ("pass", "fail")]):
        ledger.record(node="reviewA", agent="r@1", canary=f"k{index}", item="x",
                      expected=expected, got=got, kind="code")
    stats = ledger.kind_stats("r@1", "code")
    assert (stats.good_seen, stats.false_fails) == (3, 2)
    assert stats.false_fail_rate == pytest.approx(2 / 3)
    assert (stats.bad_seen, stats.false_passes, stats.false_pass_rate) == (1, 0, 0.0)


def test_the_report_shows_each_reviewers_record_per_kind(tmp_path: Path) -> None:
    from pantheon_engine.night.summary_read import read_reviewers

    ledger = ReviewerLedger(tmp_path / "nights" / "n1")
    ledger.record(node="reviewA", agent="review.peer@1", canary="k1", item="x",
                  expected="fail", got="pass", kind="code")
    ledger.record(node="reviewA", agent="review.peer@1", canary="k2", item="y",
                  expected="fail", got="fail", kind="docs")
    rows = {r.agent: r for r in read_reviewers(tmp_path, "n1", []).rows}
    assert list(rows) == ["review.peer@1", "review.peer@1 · code", "review.peer@1 · docs"]
    assert rows["review.peer@1 · code"].false_pass_rate == 1.0
    assert rows["review.peer@1 · docs"].false_pass_rate == 0.0
    assert rows["review.peer@1"].false_pass_rate == 0.5

