"""Labelled review items from a suite: right labels, both classes, splits kept apart, and
training examples that hold the reviewer's own prompt with the right verdict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.errors import SuiteError
from pantheon_engine.evals.codesuite.make import make_code_suite
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.loop.envelope import FinalAnswer, ToolCall, parse_envelope
from pantheon_engine.night.reviewing.canary import WRONG_KEY, make_canary
from pantheon_engine.specialize.reviewer_code import SuiteCodeCanary, mutants
from pantheon_engine.specialize.reviewer_items import (
    EXTRA_KEYS_BY_SPLIT,
    ITEM_SOURCE,
    build_items,
    item_examples,
)
from pantheon_engine.specialize.train_data import TrainDataError, load_examples


@pytest.fixture(scope="module")
def para_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A paraphrased docops suite: the holdout's rule wordings, keys and values are its own."""
    folder = tmp_path_factory.mktemp("para") / "suite"
    make_docops_suite(folder, 40, 11, 0.4, phrasing="paraphrase")
    return folder


@pytest.fixture(scope="module")
def code_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code") / "suite"
    make_code_suite(folder, 20, 5, 0.4)
    return folder


def test_docops_items_are_labelled_by_the_check_and_come_in_pairs(para_suite: Path) -> None:
    items = build_items(para_suite, "train", seed=1)
    by_task = Counter(i.task_id for i in items)
    assert set(by_task.values()) == {2}  # a good and a bad item per task, or none
    assert Counter(i.expected for i in items) == {"pass": len(by_task), "fail": len(by_task)}
    assert len(by_task) >= 10
    for item in items:
        canary = item.canary
        report = check_document(canary.after, parse_rules(canary.rules), canary.before)
        assert report.passed == (item.expected == "pass"), item.id
        assert canary.after != canary.before
        assert (item.defect is None) == (item.expected == "pass")
        if item.expected == "fail":  # the rationale says what the check found wrong
            assert item.rationale and item.rationale != "the diff makes the edits the rules " \
                "ask for and nothing else"
    kinds = Counter(i.defect.split(":")[0] for i in items if i.defect)
    assert len(kinds) >= 3, kinds


def test_a_wrong_key_defect_is_a_plausible_change_the_check_catches() -> None:
    import random

    from pantheon_engine.docops.rules import KeyEquals, KeyRenamed

    text = "---\ntitle: Guide\nstatus: draft\nauthor: ada\nwriter: bob\n---\n# Guide\n"
    rules = [KeyEquals(key="status", value="published"), KeyRenamed(key="author", to="owner")]
    canary = make_canary("x", "docs/x.md", text, rules, bad=True, rng=random.Random(0),
                         defects=(WRONG_KEY,))
    assert canary is not None and canary.defect is not None
    assert canary.defect.startswith("wrong_key:")
    assert not check_document(canary.after, rules, text).passed


def test_holdout_items_come_from_holdout_tasks_only_and_share_no_train_text(
        para_suite: Path) -> None:
    suite = load_suite(para_suite)
    train = suite.split("train")
    holdout_ids = {t.id for t in suite.split("holdout")}
    items = build_items(para_suite, "holdout")
    assert items and {i.task_id for i in items} <= holdout_ids
    assert {i.split for i in items} == {"holdout"}
    examples, skipped = asyncio_run(item_examples(items, suite=str(para_suite)))
    assert not skipped
    texts = ["\n".join(m["content"] for m in e["messages"]) for e in examples]
    train_paths = [str(t.input["path"]) for t in train]
    train_sentences = {r.text() for t in train for r in parse_rules(t.input["rules"])}
    train_extras = [f"+{key}: " for key, _ in EXTRA_KEYS_BY_SPLIT["train"]]
    for text in texts:
        assert not [p for p in train_paths if p in text]
        assert not [s for s in train_sentences if s in text]
        assert not [k for k in train_extras if k in text]


def test_examples_hold_each_nodes_prompt_and_the_right_verdict(para_suite: Path,
                                                               tmp_path: Path) -> None:
    items = build_items(para_suite, "train", limit=6)
    assert len(items) == 6
    examples, skipped = asyncio_run(item_examples(items, suite=str(para_suite)))
    assert not skipped
    assert len(examples) == 2 * len(items)  # one per review node of docops.yaml
    by_item = {i.id: i for i in items}
    personas = set()
    for example in examples:
        meta = example["meta"]
        item = by_item[meta["item"]]
        assert meta["source"] == ITEM_SOURCE and meta["agent"] == "review.peer@1"
        assert meta["kind"] == "final" and meta["expected"] == item.expected
        reply = parse_envelope(example["messages"][-1]["content"])
        assert isinstance(reply, FinalAnswer)
        assert reply.output["verdict"] == item.expected
        prompt = example["messages"][1]["content"]
        assert item.canary.diff in prompt  # the change under review, as a reviewer sees it
        personas.add(prompt.split("Persona: ", 1)[1].split("\n", 1)[0])
    assert len(personas) == 2
    out = tmp_path / "items.jsonl"
    out.write_text("".join(json.dumps(e) + "\n" for e in examples))
    data = load_examples(out)  # what pantheon train reads
    assert data.counts("source") == {ITEM_SOURCE: len(examples)}


def test_training_refuses_holdout_items(para_suite: Path, tmp_path: Path) -> None:
    items = build_items(para_suite, "holdout", limit=2)
    examples, _ = asyncio_run(item_examples(items, suite=str(para_suite)))
    out = tmp_path / "holdout.jsonl"
    out.write_text("".join(json.dumps(e) + "\n" for e in examples))
    with pytest.raises(TrainDataError, match="line 1: an example of the holdout split"):
        load_examples(out)


def test_a_suite_of_neither_kind_gives_no_items(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    (folder / "workspace").mkdir(parents=True)
    (folder / "tasks.jsonl").write_text(json.dumps({
        "id": "t1", "agent": "codegen", "split": "train",
        "input": {"title": "x", "acceptance": [], "files": ["a.py"]}}) + "\n")
    with pytest.raises(SuiteError):
        build_items(folder, "train")


# --- code suites ------------------------------------------------------------------------------


def _hidden_tests_pass(suite: Path, task_input: dict, program: str, tmp: Path) -> bool:
    """The task's own check, run for real: pytest on its hidden tests in a copy of the
    workspace with ``program`` written over the stub."""
    work = tmp / "ws"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(suite / "workspace", work, ignore=shutil.ignore_patterns(".git"))
    (work / task_input["files"][0]).write_text(program)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             task_input["tests"]], cwd=work, capture_output=True, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    return result.returncode == 0


def test_code_items_are_the_reference_and_a_change_the_hidden_tests_catch(
        code_suite: Path, tmp_path: Path) -> None:
    items = build_items(code_suite, "holdout", limit=4)
    assert [i.expected for i in items] == ["pass", "fail", "pass", "fail"]
    inputs = {t.id: t.input for t in load_suite(code_suite).tasks}
    for item in items:
        canary = item.canary
        assert isinstance(canary, SuiteCodeCanary)
        path = inputs[item.task_id]["files"][0]
        assert canary.base == {path: inputs[item.task_id]["existing"][path]}
        passed = _hidden_tests_pass(code_suite, inputs[item.task_id], canary.change[path],
                                    tmp_path)
        assert passed == (item.expected == "pass"), item.id
        assert canary.tests_passed == passed
    assert all(i.defect and i.defect.split(":")[0] in {"plausible_wrong", "wrong", "broken"}
               for i in items if i.expected == "fail")


def test_code_examples_are_review_reference_comparing_with_the_suites_reference(
        code_suite: Path) -> None:
    items = build_items(code_suite, "train", limit=2)
    examples, skipped = asyncio_run(item_examples(items, suite=str(code_suite)))
    assert not skipped  # the scripted reference gives each item its label
    assert [e["meta"]["kind"] for e in examples if e["meta"]["node"] == "reviewA"] == [
        "tool", "final", "tool", "final"]
    call = parse_envelope(examples[0]["messages"][-1]["content"],
                          block_args={"compare_reference": "reference"})
    assert isinstance(call, ToolCall) and call.name == "compare_reference"
    assert "def expected(" in call.args["reference"] and "INPUTS = [" in call.args["reference"]
    assert {e["meta"]["agent"] for e in examples} == {"review.reference@1"}


def test_a_code_suite_whose_stub_is_not_its_generators_is_refused(code_suite: Path,
                                                                  tmp_path: Path) -> None:
    copy = tmp_path / "edited"
    shutil.copytree(code_suite, copy)
    lines = (copy / "tasks.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    path = first["input"]["files"][0]
    first["input"]["existing"][path] += "# edited\n"
    (copy / "tasks.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with pytest.raises(SuiteError, match="stub is not the one"):
        build_items(copy, "train")


def test_mutants_change_one_thing_each() -> None:
    body = "if a < b:\n    return min(a, b) + 1\nreturn s.lower()"
    found = dict(mutants(body))
    assert found["Lt -> LtE"] == "if a <= b:\n    return min(a, b) + 1\nreturn s.lower()"
    assert found["min -> max"].startswith("if a < b:\n    return max(a, b)")
    assert found["1 -> 2"].endswith("+ 2\nreturn s.lower()")
    assert found[".lower -> .upper"].endswith("s.upper()")


def asyncio_run(coro):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.run(coro)
