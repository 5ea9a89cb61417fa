"""The paraphrased docops suite: a holdout that a script learned from train cannot fake.

Its holdout is worded by phrasing families no train task uses, over keys, values, people
and days no train task has; two rule kinds take their value from the document's body, and
the check requires exactly that value.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.docops.body import entry_date_text, marker_names, section_entries
from pantheon_engine.docops.check import check_document, days_named, items_held, read_document
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.docops.phrasing import FAMILIES, families, phrase_rules, say
from pantheon_engine.docops.report import TaskFacts, overlap, suite_report
from pantheon_engine.docops.rules import (
    RULE_KINDS,
    BodyLine,
    ChangelogDate,
    ListValue,
    parse_rules,
    rule_sentences,
    rules_json,
    rules_text,
)
from pantheon_engine.docops.solver import solve
from pantheon_engine.docops.vocab import PARA_HOLDOUT, PARA_TRAIN, shared_words
from pantheon_engine.evals.baselines import BaselineEngine
from pantheon_engine.evals.docops_baselines import PhrasingParser, rule_texts
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool

AGENT = "doc.frontmatter"
PARAMS = ("key", "value", "to", "marker", "section")


def read_tasks(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "tasks.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("suites") / "docops-paraphrase-7"
    return out, make_docops_suite(out, 160, seed=7, phrasing="paraphrase")


def _by_split(folder: Path) -> dict[str, list[dict[str, Any]]]:
    tasks = read_tasks(folder)
    return {s: [t for t in tasks if t["split"] == s] for s in ("train", "holdout")}


# --- the suite -----------------------------------------------------------------------------


def test_same_seed_same_suite_other_seed_other_suite(tmp_path: Path) -> None:
    def make(name: str, seed: int) -> Path:
        make_docops_suite(tmp_path / name, 40, seed=seed, phrasing="paraphrase")
        return tmp_path / name

    a, b, c = make("a", 3), make("b", 3), make("c", 4)
    for name in ("tasks.jsonl", "suite.json", "report.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    head = [subprocess.run(["git", "rev-parse", "HEAD"], cwd=f / "workspace", text=True,
                           capture_output=True, check=True).stdout for f in (a, b, c)]
    assert head[0] == head[1] != head[2]
    assert (a / "tasks.jsonl").read_bytes() != (c / "tasks.jsonl").read_bytes()
    assert json.loads((a / "suite.json").read_text())["generator"]["phrasing"] == "paraphrase"


def test_the_template_suite_is_written_as_before(tmp_path: Path) -> None:
    """No rule carries its own wording, no task records families: the default suite."""
    make_docops_suite(tmp_path / "t", 30, seed=5)
    for task in read_tasks(tmp_path / "t"):
        assert all("phrasing" not in rule for rule in task["input"]["rules"])
        assert set(task["meta"]) == {"edits", "rule_kinds", "scope"}
        assert not {"body_line", "changelog_date"} & set(task["meta"]["rule_kinds"])


def test_holdout_families_never_phrase_a_train_task(suite: tuple[Path, Any]) -> None:
    out, _ = suite
    splits = _by_split(out)
    used = {s: {f for t in tasks for f in t["meta"]["phrasing_families"]}
            for s, tasks in splits.items()}
    assert used["train"] and used["holdout"]
    assert not used["train"] & used["holdout"]
    split_of = {f.name: f.split for f in FAMILIES}
    assert all(split_of[f] == s for s, names in used.items() for f in names)
    # each task's rules are worded, and the prompt's sentences are its families' sentences
    sentences = {s: {x for t in tasks for x in rule_sentences(parse_rules(t["input"]["rules"]))}
                 for s, tasks in splits.items()}
    assert not sentences["train"] & sentences["holdout"]
    for tasks in splits.values():
        for task in tasks:
            rules = parse_rules(task["input"]["rules"])
            assert all(rule.phrasing for rule in rules)
            assert len(task["meta"]["phrasing_families"]) >= len(rules)


def _document_words(folder: Path, task: dict[str, Any]) -> set[str]:
    """The values the task's rules make an answer copy from its document."""
    text = (folder / "workspace" / task["input"]["path"]).read_text()
    doc = read_document(text)
    words: set[str] = set()
    for rule in parse_rules(task["input"]["rules"]):
        if isinstance(rule, ListValue) and rule.key in doc.meta:
            words |= {str(item) for item in items_held(doc.meta[rule.key]) or []}
        elif isinstance(rule, BodyLine):
            words |= set(marker_names(doc.body, rule.marker))
        elif isinstance(rule, ChangelogDate):
            entries = section_entries(doc.body, rule.section) or []
            words |= {entry_date_text(e) or "" for e in entries}
    return words


def test_holdout_keys_values_and_document_words_are_not_train_ones(
        suite: tuple[Path, Any]) -> None:
    out, _ = suite
    splits = _by_split(out)
    params = {s: {str(r[p]) for t in tasks for r in t["input"]["rules"] for p in PARAMS
                  if p in r} for s, tasks in splits.items()}
    assert params["train"] and params["holdout"]
    assert not params["train"] & params["holdout"]
    copied = {s: set().union(*(_document_words(out, t) for t in tasks))
              for s, tasks in splits.items()}
    assert copied["train"] and copied["holdout"]
    assert not copied["train"] & copied["holdout"]
    # and the houses they come from share nothing a rule or an answer could name
    assert shared_words(PARA_TRAIN, PARA_HOLDOUT) == {
        "keys": set(), "values": set(), "subjects": set(), "days": set()}


def test_the_report_finds_no_holdout_sentence_or_answer_in_train(
        suite: tuple[Path, Any]) -> None:
    out, summary = suite
    report = json.loads((out / "report.json").read_text())
    assert report == summary["report"]
    assert report["phrasing"] == "paraphrase"
    assert report["overlap"]["sentence_in_train"]["count"] == 0
    assert report["overlap"]["answer_in_train"]["count"] == 0
    assert report["overlap"]["edit_in_train"]["count"] == 0
    assert report["overlap"]["sentence_in_train"]["of"] == summary["splits"]["holdout"]
    assert report["splits"]["holdout"]["families"]
    assert {"body_line", "changelog_date"} <= {k for k, n in summary["rule_kinds"].items() if n}


def test_the_template_suite_report_finds_its_holdout_in_train(tmp_path: Path) -> None:
    summary = make_docops_suite(tmp_path / "t", 60, seed=7, scope="rule")
    share = summary["report"]["overlap"]["sentence_in_train"]["share"]
    assert share > 0.5  # the same templates and keys on both sides (0 when paraphrased)


async def test_the_solver_passes_every_task_through_the_real_tools(
        suite: tuple[Path, Any], tmp_path: Path) -> None:
    out, _ = suite
    rule_scope = tmp_path / "rule"
    make_docops_suite(rule_scope, 60, seed=8, phrasing="paraphrase", scope="rule")
    for folder in (out, rule_scope):
        workspace = tmp_path / f"ws-{folder.name}"
        shutil.copytree(folder / "workspace", workspace, ignore=shutil.ignore_patterns(".git"))
        ctx = ToolContext(workspace=workspace)
        for task in read_tasks(folder):
            path = task["input"]["path"]
            rules = parse_rules(task["input"]["rules"])
            before = (workspace / path).read_text()
            calls = solve(before, rules)
            assert len(calls) == task["meta"]["edits"]
            for name, args in calls:
                await get_tool(name).invoke(ctx, {"path": path, **args}, 10)
            report = check_document((workspace / path).read_text(), rules, before)
            assert report.passed, (task["id"], report.failed_labels, report.broken)
            if calls:
                assert not check_document(before, rules, before).passed


async def test_a_generated_task_fails_with_another_name_or_day(
        suite: tuple[Path, Any], tmp_path: Path) -> None:
    """Solved, then the body-derived value swapped for another of the house's people or
    for an older entry's day: the check fails the rule it reads from the body."""
    out, _ = suite
    workspace = tmp_path / "ws"
    shutil.copytree(out / "workspace", workspace, ignore=shutil.ignore_patterns(".git"))
    ctx = ToolContext(workspace=workspace)
    tried = 0
    for task in read_tasks(out):
        path = task["input"]["path"]
        rules = parse_rules(task["input"]["rules"])
        derived = [r for r in rules if isinstance(r, BodyLine | ChangelogDate)]
        if not derived:
            continue
        before = (workspace / path).read_text()
        for name, args in solve(before, rules):
            await get_tool(name).invoke(ctx, {"path": path, **args}, 10)
        solved = (workspace / path).read_text()
        for rule in derived:
            house = PARA_TRAIN if task["split"] == "train" else PARA_HOLDOUT
            right = read_document(solved).meta[rule.key]
            if isinstance(rule, BodyLine):
                wrong = next(p for p in house.people if p != right)
            else:
                body = read_document(solved).body
                days = {days_named(entry_date_text(e))[0]
                        for e in section_entries(body, rule.section) or []}
                wrong = min(days) if len(days) > 1 else right - dt.timedelta(days=1)
            await get_tool("fm_set").invoke(ctx, {"path": path, "key": rule.key,
                                                  "value": str(wrong)}, 10)
            report = check_document((workspace / path).read_text(), rules, before)
            assert rule.label in report.failed_labels, (task["id"], wrong)
            await get_tool("fm_set").invoke(ctx, {"path": path, "key": rule.key,
                                                  "value": str(right)}, 10)
            assert check_document((workspace / path).read_text(), rules, before).passed
            tried += 1
    assert tried >= 20


# --- the grammar -------------------------------------------------------------------------


def test_every_kind_has_families_in_both_splits_and_a_sentence_names_its_parameters() -> None:
    rules = parse_rules([
        {"kind": "absent", "key": "layout"}, {"kind": "equals", "key": "lang", "value": "fr"},
        {"kind": "renamed", "key": "writer", "to": "author"}, {"kind": "date", "key": "date"},
        {"kind": "list", "key": "tags"}, {"kind": "lowercase_keys"}, {"kind": "title_heading"},
        {"kind": "body_line", "key": "author", "marker": "Maintained by"},
        {"kind": "changelog_date", "key": "updated", "section": "Changelog"}])
    assert {r.kind for r in rules} == set(RULE_KINDS)
    assert families("and", "train") and families("and", "holdout")
    forms = [f.form for f in FAMILIES]
    assert len(forms) == len(set(forms)), "a form in two families (or two splits)"
    rng = random.Random(0)
    for rule in rules:
        for split in ("train", "holdout"):
            assert len(families(rule.kind, split)) >= 4
            for family in families(rule.kind, split):
                text = say(rule, family, rng)
                for name in PARAMS:
                    if isinstance(value := getattr(rule, name, None), str):
                        assert value in text, (family.name, text)
                assert not re.search(r"[{}|]|<(key|value|to|marker|section|title)>", text)


def test_two_rules_in_one_sentence_are_shown_once() -> None:
    rules = parse_rules([{"kind": "absent", "key": "layout"},
                         {"kind": "equals", "key": "lang", "value": "fr"}])
    rng = random.Random(0)
    while True:
        phrased = phrase_rules(rules, "holdout", rng)
        if phrased.rules[0].phrasing == phrased.rules[1].phrasing:
            break
    text = rules_text(phrased.rules)
    assert text.count("\n") == 0 and text.startswith("1. ")
    assert "layout" in text and "fr" in text
    # the rules JSON carries the sentence, and reads back as the same rules
    again = parse_rules(rules_json(phrased.rules))
    assert again == phrased.rules
    assert [r.plain() for r in again] == rules
    assert [text for text, _ in rule_texts({"path": "a.md", "rules": rules_json(again)})] \
        == [phrased.rules[0].phrasing] * 2


def test_a_phrasing_must_be_one_line() -> None:
    from pantheon_engine.errors import SpecError

    with pytest.raises(SpecError, match="phrasing"):
        parse_rules([{"kind": "absent", "key": "x", "phrasing": "Drop x.\n2. Also y."}])


# --- the check on values read from the body -----------------------------------------------

BODY = ("# Rollout notes\n\nSome text.\n\n_Maintained by: Hedy Lamarr._\n\n"
        "## Revision log\n\n- 2023-05-02: Fixed links\n- March 9, 2024 — New steps\n"
        "- 7 Jan 2022 - First version\n\n## See also\n\n- 2025-01-01: not an entry\n")
PERSON = BodyLine(key="creator", marker="Maintained by")
NEWEST = ChangelogDate(key="revised", section="Revision log")


def doc(front: str, body: str = BODY) -> str:
    return f"---\n{front}---\n{body}"


def test_body_line_requires_the_name_the_body_gives() -> None:
    before = doc("creator: Dennis Ritchie\n")
    assert check_document(doc("creator: Hedy Lamarr\n"), [PERSON], before).passed
    wrong = check_document(doc("creator: Dennis Ritchie\n"), [PERSON], before)
    assert not wrong.passed and "Hedy Lamarr" in wrong.rules[0].detail
    near = check_document(doc("creator: Hedy Lamarr.\n"), [PERSON], before)
    assert not near.passed
    assert not check_document(doc("title: x\n"), [PERSON], doc("title: x\n")).passed
    # no marker line, or lines naming two people: no one value to require
    plain = "# T\n\nText.\n"
    assert "no body line" in check_document(doc("creator: A\n", plain), [PERSON]
                                            ).rules[0].detail
    two = "# T\n\nMaintained by Ann Lee.\n\nMaintained by **Bo Chan**.\n"
    assert "several" in check_document(doc("creator: Ann Lee\n", two), [PERSON]
                                       ).rules[0].detail


def test_changelog_date_requires_the_newest_entry_written_iso() -> None:
    before = doc("revised: 2022-01-07\n")
    assert check_document(doc("revised: 2024-03-09\n"), [NEWEST], before).passed
    for wrong in ("2023-05-02", "2022-01-07", "2024-03-10", "2025-01-01"):
        report = check_document(doc(f"revised: {wrong}\n"), [NEWEST], before)
        assert not report.passed, wrong
        assert "2024-03-09" in report.rules[0].detail
    assert not check_document(doc("revised: March 9, 2024\n"), [NEWEST], before).passed
    assert not check_document(doc("title: x\n"), [NEWEST]).passed
    unreadable = "# T\n\n## Revision log\n\n- 03/04/2024: ambiguous\n"
    assert "no single day" in check_document(doc("revised: 2024-03-04\n", unreadable),
                                             [NEWEST]).rules[0].detail


def test_the_solver_writes_the_document_derived_values() -> None:
    text = doc("title: Rollout notes\nRevised: 2020-01-01\n")
    calls = solve(text, [PERSON, NEWEST, *parse_rules([{"kind": "lowercase_keys"}])])
    assert ("fm_set", {"key": "creator", "value": "Hedy Lamarr"}) in calls
    assert ("fm_set", {"key": "revised", "value": "2024-03-09"}) in calls
    assert ("fm_rename", {"key": "Revised", "new_key": "revised"}) in calls


def test_body_readers_skip_code_and_read_each_marker_form() -> None:
    body = ("```\nMaintained by Nobody\n```\n*Maintained by Ann Lee*\n"
            "Maintained by **Bo Chan**.\nMaintained byline: none\n")
    assert marker_names(body, "Maintained by") == ["Ann Lee", "Bo Chan"]
    assert section_entries(body, "Changelog") is None
    assert entry_date_text("March 9, 2024 — New steps") == "March 9, 2024"
    assert entry_date_text("no date here") is None


# --- the overlap report --------------------------------------------------------------------


def test_overlap_counts_sentences_answers_and_edits() -> None:
    drop, setx = ("fm_delete", "layout", ""), ("fm_set", "lang", "fr")
    rename = ("fm_rename", "writer", "author")
    facts = [
        TaskFacts(split="train", sentences=["Drop layout.", "Set lang to fr."],
                  edits=[drop, setx]),
        TaskFacts(split="train", sentences=["Rename writer."], edits=[rename]),
        TaskFacts(split="train", sentences=["Nothing."], edits=[]),
        # same sentence as train, same whole answer as train task 2
        TaskFacts(split="holdout", sentences=["Rename writer."], edits=[rename]),
        # new sentence; one of its two edits a train task makes, the answer is new
        TaskFacts(split="holdout", sentences=["Get rid of layout."],
                  edits=[drop, ("fm_set", "lang", "de")]),
        # the same answer as train task 1, in the other order, other words
        TaskFacts(split="holdout", sentences=["Set lang to fr", "Strip layout."],
                  edits=[setx, drop]),
        # complies already: not an answer to count; its sentence is a train one
        TaskFacts(split="holdout", sentences=["Nothing."], edits=[]),
    ]
    got = overlap(facts)
    assert (got.sentence_in_train.count, got.sentence_in_train.of) == (2, 4)
    assert (got.answer_in_train.count, got.answer_in_train.of) == (2, 3)
    assert (got.edit_in_train.count, got.edit_in_train.of) == (4, 5)
    assert got.edit_in_train.share == 0.8
    report = suite_report(facts, phrasing="template")
    assert report.splits["train"].tasks == 3 and report.splits["holdout"].needing_edits == 3
    assert report.splits["train"].sentences == 4
    assert "2/4 = 50.0 %" in "\n".join(report.lines())


# --- the parser baseline ------------------------------------------------------------------


async def test_the_train_phrasing_parser_scores_low_on_the_paraphrased_holdout(
        tmp_path: Path) -> None:
    folder = tmp_path / "para"
    make_docops_suite(folder, 40, seed=2, phrasing="paraphrase")
    registry = default_registry()
    loaded = load_suite(folder, registry)
    parser = PhrasingParser.from_suite(loaded, "train")
    holdout = loaded.split("holdout")
    # it reads its own split's sentences and not one of the holdout's
    read = [parser.parse(s) for t in loaded.split("train")
            for s in rule_sentences(parse_rules(t.input["rules"]))]
    assert all(r is not None for r in read)
    assert not [s for t in holdout for s in rule_sentences(parse_rules(t.input["rules"]))
                if parser.parse(s) is not None]
    engine = BaselineEngine("parser", parser.strategy(), AGENT, registry)
    result = await run_eval(loaded, agent=AGENT, split="holdout", engine=engine,
                            registry=registry, artifacts=tmp_path / "art", concurrency=4)
    passed = {t.id for t in result.tasks if t.passed}
    compliant = {t.id for t in holdout if t.meta["edits"] == 0}
    assert passed == compliant  # only the documents that needed nothing
    assert len(passed) <= 0.25 * len(holdout)


# --- the command -----------------------------------------------------------------------------


def test_cli_make_paraphrase_prints_the_report_and_refuses_an_unknown_phrasing(
        tmp_path: Path) -> None:
    pantheon = [sys.executable, "-m", "pantheon_engine", "suite", "make", "docops",
                "--tasks", "30", "--seed", "7"]
    made = subprocess.run([*pantheon, "--phrasing", "paraphrase", "--out", str(tmp_path / "p")],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert "report.json:" in made.stdout
    assert "holdout tasks with a rule sentence seen in train: 0/12 = 0.0 %" in made.stdout
    assert "holdout edits that a train task makes: 0/" in made.stdout
    bad = subprocess.run([*pantheon, "--phrasing", "poetic", "--out", str(tmp_path / "q")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "template, paraphrase" in bad.stderr
