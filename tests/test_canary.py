"""Canaries: known-answer review items, the reviewer ledger, and the merge gate that reads it."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.docops.check import check_document, days_named, items_held, read_document
from pantheon_engine.docops.rules import (
    DateValue,
    KeyAbsent,
    KeyEquals,
    KeyRenamed,
    ListValue,
    parse_rules,
)
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ConfigError
from pantheon_engine.kappa import KappaWindow
from pantheon_engine.night.drain import Night
from pantheon_engine.night.jobqueue import JobQueue, NewJob
from pantheon_engine.night.reviewing.canary import (
    SUMMARIES,
    CanarySource,
    generated_canaries,
    load_canaries,
    make_canary,
    queue_canaries,
)
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.night.reviewing.runner import CanaryRunner
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator

from conftest import FLOWS

TASK = {"path": "docs/guide.md", "rename": {"Title": "title"}, "delete": ["draft"],
        "set": {"status": "published"}}
DOC_CALLS = [
    '{"type":"tool","name":"fm_rename","args":{"key":"Title","new_key":"title"}}',
    '{"type":"tool","name":"fm_delete","args":{"key":"draft"}}',
    '{"type":"tool","name":"fm_set","args":{"key":"status","value":"published"}}',
    '{"type":"final","output":{"summary":"done"}}',
]


def verdict(value: str) -> str:
    return f'{{"type":"final","output":{{"verdict":"{value}","rationale":"looked at it"}}}}'


# --- canary items -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_good_canaries_pass_the_check_and_bad_ones_fail_it(seed: int) -> None:
    canaries = generated_canaries(seed, 40)
    assert len(canaries) == 40
    assert Counter(c.expected for c in canaries) == {"pass": 20, "fail": 20}
    for canary in canaries:
        report = check_document(canary.after, parse_rules(canary.rules), canary.before)
        assert report.passed == (canary.expected == "pass"), canary.id
        assert (canary.defect is None) == (canary.expected == "pass")
        assert canary.diff.startswith(f"diff --git a/{canary.path} b/{canary.path}\n"
                                      f"--- a/{canary.path}\n+++ b/{canary.path}\n@@ ")
        assert canary.summary in SUMMARIES
    kinds = Counter(c.defect.split(":")[0] for c in canaries if c.defect)
    assert len(kinds) >= 3, kinds  # bad canaries are bad in different ways
    assert generated_canaries(seed, 40) == canaries  # the seed decides everything


def test_a_bad_canary_is_the_good_change_with_one_defect() -> None:
    text = "---\nTitle: Guide\ndraft: true\nauthor: ada\n---\n# Guide\n"
    rules = [KeyRenamed(key="Title", to="title"), KeyAbsent(key="draft"),
             KeyEquals(key="status", value="published")]
    good = make_canary("g", "docs/g.md", text, rules, bad=False, rng=random.Random(1))
    assert good is not None and good.expected == "pass"
    assert good.after == "---\ntitle: Guide\nauthor: ada\nstatus: published\n---\n# Guide\n"
    seen = set()
    for seed in range(40):
        bad = make_canary("b", "docs/g.md", text, rules, bad=True, rng=random.Random(seed))
        assert bad is not None and bad.expected == "fail" and bad.after != good.after
        assert not check_document(bad.after, rules, text).passed
        seen.add(bad.defect.split(":")[0])
    assert seen == {"missing_edit", "wrong_value", "key_kept", "extra_edit"}
    # a task with nothing to do gives no canary: there is no change to review
    done = "---\ntitle: Guide\nstatus: published\n---\n# Guide\n"
    assert make_canary("n", "docs/g.md", done, rules, bad=False, rng=random.Random(0)) is None


def test_good_canaries_keep_the_day_and_the_items_and_a_shifted_day_fails() -> None:
    """The check is exact about dates and lists, so a good canary is the right day and the
    same items: the same change with the day moved by one fails."""
    seen: Counter[str] = Counter()
    for seed in (0, 1, 7):
        for canary in generated_canaries(seed, 40):
            rules = parse_rules(canary.rules)
            old, new = read_document(canary.before).meta, read_document(canary.after).meta
            for rule in rules:
                if canary.expected != "pass" or not isinstance(rule, DateValue | ListValue):
                    continue
                if isinstance(rule, ListValue):
                    assert new[rule.key] == items_held(old[rule.key]), canary.id
                    seen["list"] += 1
                    continue
                (day,) = days_named(old[rule.key])
                assert days_named(new[rule.key]) == (day,), canary.id
                shifted = (day + dt.timedelta(days=1)).isoformat()
                after = re.sub(rf"^{rule.key}: .*$", f"{rule.key}: {shifted}", canary.after,
                               count=1, flags=re.M)
                report = check_document(after, rules, canary.before)
                assert report.failed_labels == [rule.label], canary.id
                seen["date"] += 1
    assert seen["date"] >= 10 and seen["list"] >= 10, seen


def test_canaries_from_a_task_suite(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    docs = suite / "workspace" / "docs"
    docs.mkdir(parents=True)
    lines = []
    for index in range(6):
        (docs / f"d{index}.md").write_text(
            f"---\nTitle: Doc {index}\ndraft: true\nstatus: review\n---\n# Doc {index}\n")
        lines.append(json.dumps({
            "id": f"t{index}", "agent": "doc.frontmatter", "split": "train",
            "input": {"path": f"docs/d{index}.md", "rules": [
                {"kind": "lowercase_keys"}, {"kind": "absent", "key": "draft"},
                {"kind": "equals", "key": "status", "value": "published"}]}}))
    (suite / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    canaries = load_canaries(CanarySource(suite=suite, seed=3))
    assert [c.id for c in canaries] == [f"suite-t{i}" for i in range(6)]
    assert Counter(c.expected for c in canaries) == {"pass": 3, "fail": 3}
    for canary in canaries:
        assert canary.before == (suite / "workspace" / canary.path).read_text()
        assert check_document(canary.after, parse_rules(canary.rules),
                              canary.before).passed == (canary.expected == "pass")
    with pytest.raises(ConfigError, match="not a task suite folder"):
        load_canaries(CanarySource(suite=tmp_path / "nowhere"))


async def test_a_canary_review_prompt_is_built_like_a_real_one(docops_repo: Path,
                                                              tmp_path: Path) -> None:
    """The same document, rules and change: the reviewer gets the very same prompt."""
    registry = default_registry()
    flow = load_flow_checked(FLOWS / "docops.yaml", registry)
    art = tmp_path / "art"
    engine = ReplayEngine(
        [RecordedReply(key="frontmatter", text=t) for t in DOC_CALLS]
        + [RecordedReply(key=node, text=verdict("pass")) for node in ("reviewA", "reviewB")] * 2)
    orchestrator = Orchestrator(registry=registry, engine=engine, policy=Policy(mode="day"),
                                artifacts_root=art)
    real = await orchestrator.run(flow, {**TASK, "workspace": str(docops_repo)}, docops_repo)
    assert real.status == "ok"

    rules = [KeyRenamed(key="Title", to="title"), KeyAbsent(key="draft"),
             KeyEquals(key="status", value="published")]
    text = (docops_repo / "docs" / "guide.md").read_text()
    canary = make_canary("guide", "docs/guide.md", text, rules, bad=False,
                         rng=random.Random(0))
    assert canary is not None
    ledger = ReviewerLedger()
    runner = CanaryRunner(registry=registry, engine=engine, policy=Policy(mode="day"),
                          ledger=ledger, pool=[canary], folder=tmp_path / "canaries",
                          night_id="n1")
    verdicts = await runner.run_canary(flow, canary, "k1")
    assert verdicts == {"reviewA": "pass", "reviewB": "pass"}
    for node in ("reviewA", "reviewB"):
        real_prompt = (Path(real.dir) / node / "prompt.txt").read_text()
        canary_prompt = (tmp_path / "canaries" / "k1" / node / "prompt.txt").read_text()
        assert canary_prompt == real_prompt
        assert "DIFF:\ndiff --git a/docs/guide.md b/docs/guide.md" in canary_prompt
    assert ledger.stats("review.peer@1").canaries == 2
    assert json.loads((tmp_path / "canaries" / "k1" / "canary.json").read_text())[
        "expected"] == "pass"


# --- the ledger ---------------------------------------------------------------------------


def test_the_ledger_scores_reviewers_over_a_window(tmp_path: Path) -> None:
    ledger = ReviewerLedger(tmp_path, window=4)
    for index, (expected, got) in enumerate(
            [("fail", "pass"), ("pass", "pass"), ("fail", "fail"), ("fail", "pass"),
             ("pass", "fail"), ("fail", "fail")]):
        ledger.record(node="reviewA", agent="r@1", canary=f"k{index}", item="x",
                      expected=expected, got=got)
    ledger.record(node="reviewA", agent="r@1", canary="k9", item="x", expected="fail",
                  got=None, error="loop")  # no verdict: logged, not scored
    stats = ledger.stats("r@1")  # the window holds the last four scored verdicts
    assert (stats.canaries, stats.correct, stats.bad_seen, stats.false_passes) == (4, 2, 3, 1)
    assert stats.accuracy == 0.5 and stats.false_pass_rate == pytest.approx(1 / 3)
    assert (stats.total, stats.errors, stats.window) == (6, 1, 4)
    lines = list(iter_jsonl(tmp_path / "canaries.jsonl"))
    assert len(lines) == 7 and lines[-1]["got"] is None and not lines[-1]["correct"]
    assert {k: lines[0][k] for k in ("node", "agent", "canary", "expected", "got", "correct")} \
        == {"node": "reviewA", "agent": "r@1", "canary": "k0", "expected": "fail",
            "got": "pass", "correct": False}
    saved = json.loads((tmp_path / "reviewers.json").read_text())
    assert saved["reviewers"]["r@1"]["false_pass_rate"] == pytest.approx(1 / 3)
    assert saved["reviewers"]["r@1"]["nodes"]["reviewA"]["canaries"] == 4
    assert saved["kappa"] == {"value": None, "pairs": 0, "undefined": False, "ready": False,
                              "size": 50, "min_pairs": 10}
    assert saved["gate"] == {"false_pass_max": 0.2, "kappa_min": 0.6, "min_canaries": 10}


def test_the_gate_needs_measured_reviewers_and_defined_agreement() -> None:
    ledger = ReviewerLedger(kappa=KappaWindow(size=10, min_pairs=4))
    assert ledger.gate_problems({"reviewA": "r@1", "reviewB": None}) == [
        "the reviewer of node reviewB is not measured (its agent@version is unknown to the "
        "ledger)", "r@1 is not measured yet: 0 canaries, needs 10"]
    for index in range(10):
        expected = "fail" if index % 2 else "pass"
        ledger.record(node="reviewA", agent="r@1", canary=str(index), item="x",
                      expected=expected, got=expected)
    assert ledger.gate_problems({"reviewA": "r@1"}) == []
    for _ in range(4):  # both reviewers pass everything: κ undefined once the window is ready
        ledger.add_pair("pass", "pass")
    assert ledger.kappa_state()["undefined"] is True
    assert ledger.gate_problems({"reviewA": "r@1"}) == [
        "reviewer agreement κ is undefined over the last 4 verdict pairs (both reviewers "
        "gave every item the same verdict)"]
    ledger.add_pair("fail", "fail")
    assert ledger.gate_problems({"reviewA": "r@1"}) == []  # κ = 1.0 now
    assert ledger.gate_problems({"reviewA": "r@1"}, min_canaries=11) == [
        "r@1 is not measured yet: 10 canaries, needs 11"]


# --- a replayed night with canaries -------------------------------------------------------


def canary_night(art: Path, repo: Path, jobs: int, replies: list[RecordedReply], *,
                 calibration: int = 10) -> tuple[Night, JobQueue]:
    queue = JobQueue.for_artifacts(art)
    queue.add_many([NewJob(flow=str(FLOWS / "docops.yaml"),
                           input={**TASK, "workspace": str(repo)}, flow_name="docops")
                    for _ in range(jobs)])
    night = Night(queue=queue, registry=default_registry(), engine=ReplayEngine(replies),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05,
                  canary_share=1.0, canary_calibration=calibration)
    return night, queue


def review_stream(jobs: int, calibration: int, answer) -> list[RecordedReply]:
    """Replies in the order a one-slot night asks for them: the calibration canaries, then
    per job its frontmatter, its two reviews and the canary that follows it."""
    pool = generated_canaries(0, 40)
    replies: list[RecordedReply] = []
    order = [("canary", pool[i]) for i in range(calibration)]
    for job in range(jobs):
        order += [("job", None), ("canary", pool[calibration + job])]
    for kind, canary in order:
        if kind == "job":
            replies += [RecordedReply(key="frontmatter", text=t) for t in DOC_CALLS]
        for node in ("reviewA", "reviewB"):
            replies.append(RecordedReply(key=node, text=verdict(
                "pass" if canary is None else answer(canary))))
    return replies


async def test_a_rubber_stamp_reviewer_is_refused_by_the_gate(docops_repo: Path,
                                                             tmp_path: Path) -> None:
    art = tmp_path / "art"
    night, queue = canary_night(art, docops_repo, 2, review_stream(2, 10, lambda c: "pass"))
    result = await night.run()
    assert (result.done, result.failed) == (0, 2)
    jobs = sorted(queue.list(), key=lambda j: j.id)
    assert {j.error_kind for j in jobs} == {"reviewer_gate"}
    bad = sum(c.expected == "fail" for c in generated_canaries(0, 40)[:10])
    assert 3 <= bad <= 7
    first = jobs[0].error or ""
    assert first.startswith("not merged: ")
    # both review nodes run review.peer@1: each calibration canary counts twice
    assert (f"review.peer@1 passed {2 * bad} of {2 * bad} bad docs canaries "
            f"(false-pass rate 1.00 > 0.20)") in first
    assert "κ is undefined over the last 11 docs verdict pairs" in first
    assert not any(j.run_id and (art / "runs" / j.run_id / "merge" / "report.json").exists()
                   for j in jobs)

    folder = Path(result.dir)
    lines = list(iter_jsonl(folder / "canaries.jsonl"))
    assert len(lines) == 2 * 12  # 10 calibration + one after each job, two reviewers each
    assert {line["got"] for line in lines} == {"pass"}
    reviewers = json.loads((folder / "reviewers.json").read_text())
    peer = reviewers["reviewers"]["review.peer@1"]
    assert peer["canaries"] == 24 and peer["false_pass_rate"] == 1.0
    assert peer["accuracy"] == pytest.approx(1 - peer["bad_seen"] / 24)
    assert reviewers["kappa"]["value"] is None and reviewers["kappa"]["undefined"] is True
    last = list(iter_jsonl(folder / "metrics.jsonl"))[-1]
    assert last["canaries"] == 24 and last["canary_false_pass_rate"] == 1.0
    assert last["kappa"] is None and last["review_pairs"] == 2
    night_json = json.loads((folder / "night.json").read_text())
    assert night_json["canaries"]["share"] == 1.0 and night_json["canaries"]["pool"] == 40


async def test_an_accurate_reviewer_is_trusted_and_merges(docops_repo: Path,
                                                          tmp_path: Path) -> None:
    art = tmp_path / "art"
    night, queue = canary_night(art, docops_repo, 2,
                                review_stream(2, 10, lambda c: c.expected))
    result = await night.run()
    assert (result.done, result.failed) == (2, 0), [j.error for j in queue.list()]
    folder = Path(result.dir)
    lines = list(iter_jsonl(folder / "canaries.jsonl"))
    assert len(lines) == 24 and all(line["correct"] for line in lines)
    assert {line["node"] for line in lines} == {"reviewA", "reviewB"}
    reviewers = json.loads((folder / "reviewers.json").read_text())
    peer = reviewers["reviewers"]["review.peer@1"]
    assert peer["accuracy"] == 1.0 and peer["false_pass_rate"] == 0.0
    assert reviewers["kappa"]["value"] == 1.0 and reviewers["kappa"]["pairs"] == 14
    last = list(iter_jsonl(folder / "metrics.jsonl"))[-1]
    assert last["canary_accuracy"] == 1.0 and last["canary_false_pass_rate"] == 0.0
    for node in ("reviewA", "reviewB"):  # canary artifacts, one folder per review node
        assert len(list((folder / "canaries").glob(f"*/{node}/prompt.txt"))) == 12


async def test_reviewers_are_not_trusted_before_enough_canaries(docops_repo: Path,
                                                                tmp_path: Path) -> None:
    art = tmp_path / "art"
    night, queue = canary_night(art, docops_repo, 1,
                                review_stream(1, 3, lambda c: c.expected), calibration=3)
    result = await night.run()
    assert result.failed == 1
    job = queue.list()[0]
    assert job.error_kind == "reviewer_gate"
    assert "review.peer@1 is not measured yet: 6 docs canaries, needs 10" in (job.error or "")


async def test_without_canaries_a_night_has_no_ledger(docops_repo: Path,
                                                      tmp_path: Path) -> None:
    art = tmp_path / "art"
    queue = JobQueue.for_artifacts(art)
    queue.add(str(FLOWS / "docops.yaml"), {**TASK, "workspace": str(docops_repo)},
              flow_name="docops")
    replies = [RecordedReply(key="frontmatter", text=t) for t in DOC_CALLS] + [
        RecordedReply(key=n, text=verdict("pass")) for n in ("reviewA", "reviewB")]
    night = Night(queue=queue, registry=default_registry(), engine=ReplayEngine(replies),
                  policy=Policy(mode="night"), artifacts=art, concurrency=1, sample_s=0.05)
    result = await night.run()
    assert result.done == 1 and night.ledger is None
    assert not (Path(result.dir) / "reviewers.json").exists()
    last = list(iter_jsonl(Path(result.dir) / "metrics.jsonl"))[-1]
    assert (last["canaries"], last["canary_accuracy"], last["kappa"]) == (0, None, None)
    with pytest.raises(ConfigError, match="canary share"):
        Night(queue=queue, registry=default_registry(), engine=None,
              policy=Policy(mode="night"), artifacts=art, canary_share=1.5)


def test_a_nights_own_documents_give_its_canaries(tmp_path: Path) -> None:
    """Canaries from the queued docops jobs: the same documents, paths and rules as the
    night's real items, good and bad, each verified by the check."""
    from pantheon_engine.night.demo import create_demo

    create_demo(tmp_path / "demo", tmp_path / "art")
    inputs = [j.input for j in JobQueue.for_artifacts(tmp_path / "art").list()
              if j.flow_name == "docops"]
    pool = queue_canaries(inputs, seed=1)
    paths = {data["path"] for data in inputs}
    assert len(pool) >= 6 and {c.path for c in pool} <= paths
    assert {c.expected for c in pool} == {"pass", "fail"}
    for canary in pool:
        data = next(d for d in inputs if d["path"] == canary.path)
        assert canary.before == (Path(data["workspace"]) / canary.path).read_text()
        rules = parse_rules(canary.rules)
        passed = check_document(canary.after, rules, canary.before).passed
        assert passed == (canary.expected == "pass"), canary.defect
    assert [c.expected for c in pool] != sorted(c.expected for c in pool)  # interleaved
    assert load_canaries(CanarySource(), inputs)[0].source == "the night's documents"
    # too few documents: the generator fills the pool instead
    assert load_canaries(CanarySource(), inputs[:1])[0].source.startswith("generated")
