"""The independent rules check: every rule on known-good and known-bad documents, what else
a change may break, rule files, and the scripted solver that proves tasks solvable."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
from pathlib import Path

import pytest
import yaml

from pantheon_engine.agents.docops import state_text
from pantheon_engine.agents.io import DocTask
from pantheon_engine.docops import body as body_module
from pantheon_engine.docops import check as check_module
from pantheon_engine.docops.check import check_document, days_named, first_heading, items_held
from pantheon_engine.docops.rules import load_rules_file, parse_rules, rules_text
from pantheon_engine.docops.solver import normalise_date, solve
from pantheon_engine.errors import SpecError
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool


def doc(front: str, body: str = "# Getting started\n\nSome text.\n") -> str:
    return f"---\n{front}---\n{body}"


# (rule, a document that meets it, a document that breaks it)
CASES = [
    ({"kind": "lowercase_keys"}, doc("title: A\nowner: b\n"), doc("Title: A\nowner: b\n")),
    ({"kind": "absent", "key": "draft"}, doc("title: A\n"), doc("title: A\ndraft: true\n")),
    ({"kind": "equals", "key": "status", "value": "published"}, doc("status: published\n"),
     doc("status: draft\n")),
    ({"kind": "equals", "key": "status", "value": "published"}, doc("status: published\n"),
     doc("title: A\n")),
    ({"kind": "equals", "key": "draft", "value": "false"}, doc("draft: false\n"),
     doc("draft: 'no'\n")),
    ({"kind": "renamed", "key": "Author", "to": "owner"}, doc("owner: ana\n"),
     doc("Author: ana\n")),
    ({"kind": "date", "key": "date"}, doc("date: 2024-03-05\n"), doc("date: March 5, 2024\n")),
    ({"kind": "date", "key": "date"}, doc("date: '2024-03-05'\n"), doc("date: '2024-02-30'\n")),
    ({"kind": "date", "key": "date"}, doc("title: no date at all\n"), doc("date: 20240305\n")),
    ({"kind": "list", "key": "tags"}, doc("tags:\n- a\n- b\n"), doc("tags: a, b\n")),
    ({"kind": "list", "key": "tags"}, doc("tags: [a]\n"), doc("tags: {a: 1}\n")),
    ({"kind": "title_heading"}, doc("title: Getting started\n"), doc("title: Getting Started\n")),
    ({"kind": "title_heading"}, doc("title: Getting started\n"), doc("owner: x\n")),
]


@pytest.mark.parametrize(("rule", "good", "bad"), CASES,
                         ids=[f"{c[0]['kind']}-{i}" for i, c in enumerate(CASES)])
def test_each_rule_passes_good_and_fails_bad_documents(rule: dict, good: str, bad: str) -> None:
    rules = parse_rules([rule])
    assert check_document(good, rules).passed
    report = check_document(bad, rules)
    assert not report.passed
    assert report.failed_labels == [rules[0].label] and report.rules[0].detail


def test_a_heading_without_a_title_rule_target_fails_with_a_reason() -> None:
    report = check_document(doc("title: A\n", body="no heading here\n"),
                            parse_rules([{"kind": "title_heading"}]))
    assert not report.passed and "no `# ` heading" in report.rules[0].detail


def test_first_heading_skips_code_fences_and_lower_levels() -> None:
    assert first_heading("## Sub\n```\n# not this\n```\n# Real title #\n") == "Real title"


def test_renamed_needs_the_old_value_under_the_new_name() -> None:
    rules = parse_rules([{"kind": "renamed", "key": "Author", "to": "owner"}])
    before = doc("Author: ana\n")
    assert check_document(doc("owner: ana\n"), rules, before).passed
    moved_wrong = check_document(doc("owner: bob\n"), rules, before)
    assert not moved_wrong.passed and "ana" in moved_wrong.rules[0].detail


def test_a_change_that_breaks_something_else_fails_even_when_rules_hold() -> None:
    rules = parse_rules([{"kind": "absent", "key": "draft"}])
    before = doc("title: A\ndraft: true\nowner: ops\n")
    assert check_document(doc("title: A\nowner: ops\n"), rules, before).passed
    dropped = check_document(doc("title: A\n"), rules, before)
    assert not dropped.passed and dropped.broken == ["key `owner` was removed"]
    assert dropped.failed_labels == ["preserve"]
    changed = check_document(doc("title: B\nowner: ops\n"), rules, before)
    assert changed.broken == ["the value of `title` changed"]
    added = check_document(doc("title: A\nowner: ops\nextra: 1\n"), rules, before)
    assert added.broken == ["key `extra` was added, but no rule asks for it"]
    body = check_document(doc("title: A\nowner: ops\n", body="# Other\n"), rules, before)
    assert body.broken == ["the document body changed"]


def test_lowercase_keeps_values_under_the_lowercase_name() -> None:
    rules = parse_rules([{"kind": "lowercase_keys"}])
    before = doc("Owner: ops\n")
    assert check_document(doc("owner: ops\n"), rules, before).passed
    assert not check_document(doc("owner: dev\n"), rules, before).passed
    unchanged = check_document(before, rules, before)
    assert unchanged.failed_labels == ["lowercase_keys"]  # reported once, as the rule


def test_unreadable_documents_fail_with_the_reason() -> None:
    rules = parse_rules([{"kind": "lowercase_keys"}])
    for text, why in [("---\ntitle: a\n", "not closed"), ("---\n[a\n---\n", "not valid YAML"),
                      ("---\n- a\n---\n", "not a mapping"),
                      ("---\ndate: 2024-02-30\n---\n", "day is out of range")]:
        report = check_document(text, rules)
        assert not report.passed and why in (report.error or "")
        assert report.failed_labels == ["unreadable"]


def test_bad_rules_are_refused_with_the_rule_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"rules\[0\]"):
        parse_rules([{"kind": "sparkles"}])
    with pytest.raises(SpecError, match="key"):
        parse_rules([{"kind": "absent"}])
    with pytest.raises(SpecError, match="no rules"):
        parse_rules([])
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - kind: absent\n    key: draft\n  - kind: lowercase_keys\n")
    assert [r.label for r in load_rules_file(path)] == ["absent:draft", "lowercase_keys"]
    path.write_text("rules: [\n")
    with pytest.raises(SpecError, match=str(path)):
        load_rules_file(path)
    with pytest.raises(SpecError, match="cannot read"):
        load_rules_file(tmp_path / "missing.yaml")


def test_rules_read_as_numbered_english() -> None:
    text = rules_text(parse_rules([{"kind": "absent", "key": "draft"},
                                   {"kind": "list", "key": "tags"}]))
    assert text == ("1. The front matter has no key `draft`.\n"
                    "2. If there is a key `tags`, its value is a YAML list of the same items, "
                    "in order.")


def test_legacy_edit_lists_become_rules() -> None:
    task = DocTask.model_validate({"path": "a.md", "rename": {"Title": "title"},
                                   "delete": ["draft"], "set": {"status": "published"}})
    assert [r.label for r in task.rules] == ["renamed:Title", "absent:draft", "equals:status"]


@pytest.mark.parametrize(("text", "iso"), [("2024/03/05", "2024-03-05"),
                                           ("March 5, 2024", "2024-03-05"),
                                           ("5 Mar 2024", "2024-03-05"),
                                           ("20240305", "2024-03-05"), ("someday", None)])
def test_dates_in_other_spellings_normalise(text: str, iso: str | None) -> None:
    assert normalise_date(text) == iso


def test_the_solver_makes_every_rule_hold_through_the_real_tools(tmp_path: Path) -> None:
    rules = parse_rules([
        {"kind": "renamed", "key": "Author", "to": "owner"}, {"kind": "lowercase_keys"},
        {"kind": "absent", "key": "draft"}, {"kind": "equals", "key": "status",
                                             "value": "published"},
        {"kind": "date", "key": "date"}, {"kind": "list", "key": "tags"},
        {"kind": "title_heading"}])
    before = doc("Title: Old\ndraft: true\ndate: March 5, 2024\ntags: a, b\nAuthor: ana\n"
                 "keep: 1\n")
    (tmp_path / "a.md").write_text(before)
    calls = solve(before, rules)
    assert len(calls) == 7

    async def apply() -> None:
        for name, args in calls:
            await get_tool(name).invoke(ToolContext(workspace=tmp_path),
                                        {"path": "a.md", **args}, 10)

    asyncio.run(apply())
    report = check_document((tmp_path / "a.md").read_text(), rules, before)
    assert report.passed, report
    assert solve((tmp_path / "a.md").read_text(), rules) == []


def test_the_agent_state_shows_dates_and_edits_so_far() -> None:
    shown = state_text(doc("date: 2024-01-02\nTitle: x\n"), "a.md", ['fm_delete {"key":"x"}'])
    assert 'date: "2024-01-02"' in shown and "# Getting started" in shown
    assert shown.endswith('EDITS SO FAR: fm_delete {"key":"x"}')


def test_an_impossible_date_from_the_model_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    from pantheon_engine.errors import ToolFailure

    (tmp_path / "a.md").write_text(doc("title: A\n"))
    with pytest.raises(ToolFailure, match="day is out of range"):
        asyncio.run(get_tool("fm_set").invoke(
            ToolContext(workspace=tmp_path),
            {"path": "a.md", "key": "date", "value": "2024-02-30", "parse": True}, 10))


# --- the date and list rules are exact ------------------------------------------------------

DATE = parse_rules([{"kind": "date", "key": "updated"}])
TAGS = parse_rules([{"kind": "list", "key": "tags"}])


@pytest.mark.parametrize("answer", ["2024-03-03", "'2024-03-03'", '"2024-03-03"'])
def test_the_right_day_written_yyyy_mm_dd_passes(answer: str) -> None:
    before = doc("updated: March 3, 2024\n")
    assert check_document(doc(f"updated: {answer}\n"), DATE, before).passed


@pytest.mark.parametrize(("answer", "got"), [("2024-03-04", "2024-03-04"),
                                             ("2024-04-03", "2024-04-03"),  # day and month
                                             ("'2023-03-03'", "2023-03-03")])
def test_a_wrong_day_fails_naming_expected_and_got(answer: str, got: str) -> None:
    report = check_document(doc(f"updated: {answer}\n"), DATE, doc("updated: March 3, 2024\n"))
    assert not report.passed and report.failed_labels == ["date:updated"]
    assert report.rules[0].detail == f"`updated` is {got}, the original names 2024-03-03"


def test_a_right_day_not_written_yyyy_mm_dd_still_fails() -> None:
    before = doc("updated: March 3, 2024\n")
    for answer in ("2024/03/03", "2024-03-03T10:00:00", "3 Mar 2024", "20240303"):
        report = check_document(doc(f"updated: {answer}\n"), DATE, before)
        assert not report.passed and "not YYYY-MM-DD" in report.rules[0].detail, answer


def test_an_iso_date_that_is_changed_to_another_day_fails() -> None:
    before = doc("updated: 2024-03-03\n")
    assert check_document(before, DATE, before).passed
    report = check_document(doc("updated: 2024-03-02\n"), DATE, before)
    assert report.failed_labels == ["date:updated"]


def test_an_ambiguous_original_is_reported_not_guessed() -> None:
    before = doc("updated: 03/04/2024\n")
    for answer in ("2024-03-04", "2024-04-03"):
        report = check_document(doc(f"updated: {answer}\n"), DATE, before)
        assert not report.passed, answer
        assert report.rules[0].detail == (
            "the original `updated` value '03/04/2024' is ambiguous (2024-03-04 or "
            "2024-04-03); the check does not guess which day it names")
    # one reading only: a day past 12, or the same number twice
    assert check_document(doc("updated: 2024-03-25\n"), DATE, doc("updated: 25/03/2024\n")).passed
    assert check_document(doc("updated: 2024-03-25\n"), DATE, doc("updated: 03/25/2024\n")).passed
    assert check_document(doc("updated: 2024-03-03\n"), DATE, doc("updated: 03.03.2024\n")).passed


def test_an_original_that_names_no_day_fails_with_the_reason() -> None:
    for old in ("someday", "'2024-02-30'", "03/04/24", "Smarch 3, 2024"):
        report = check_document(doc("updated: 2024-03-03\n"), DATE, doc(f"updated: {old}\n"))
        assert not report.passed, old
        assert "names no day the check can read" in report.rules[0].detail


def test_without_an_original_only_the_form_is_checked() -> None:
    # no text before, or a key the change added: nothing to compare with (the preservation
    # check reports an added key)
    assert check_document(doc("updated: 2031-12-31\ntags: [a, b]\n"), DATE + TAGS).passed
    report = check_document(doc("title: A\nupdated: 2031-12-31\n"), DATE, doc("title: A\n"))
    assert report.rules[0].ok and report.broken == [
        "key `updated` was added, but no rule asks for it"]
    assert check_document(doc("updated: 2024-03-03\n"), DATE, "---\n[a\n---\n").passed


def test_the_original_is_found_under_a_renamed_or_capitalised_key() -> None:
    lower = parse_rules([{"kind": "lowercase_keys"}, {"kind": "date", "key": "date"},
                         {"kind": "list", "key": "tags"}])
    before = doc("Date: 5 Mar 2024\nTags: ops; release\n")
    assert check_document(doc("date: 2024-03-05\ntags: [ops, release]\n"), lower, before).passed
    wrong = check_document(doc("date: 2024-03-06\ntags: [ops]\n"), lower, before)
    assert wrong.failed_labels == ["date:date", "list:tags"]
    renamed = parse_rules([{"kind": "renamed", "key": "pubdate", "to": "date"},
                           {"kind": "date", "key": "date"}])
    before = doc("pubdate: 20240305\n")
    assert check_document(doc("date: 2024-03-05\n"), renamed, before).rules[1].ok
    assert not check_document(doc("date: 2024-05-03\n"), renamed, before).rules[1].ok


def test_the_prompts_example_list_fails_when_the_original_held_other_items() -> None:
    before = doc("tags: ops, release, howto\n")
    report = check_document(doc("tags: [a, b]\n"), TAGS, before)
    assert not report.passed and report.failed_labels == ["list:tags"]
    assert report.rules[0].detail == ("`tags` holds [a, b], the original holds "
                                      "[ops, release, howto] (the same items, in the same order)")
    for same in ("[ops, release, howto]", "\n  - ops\n  - release\n  - howto",
                 "['ops', \"release\", howto]"):
        assert check_document(doc(f"tags: {same}\n"), TAGS, before).passed, same
    for wrong in ("[ops, release]", "[release, ops, howto]", "[ops, release, howto, api]",
                  "['ops, release, howto']", "[]"):
        assert not check_document(doc(f"tags: {wrong}\n"), TAGS, before).passed, wrong


def test_a_list_keeps_its_items_and_other_originals_hold_what_they_read_as() -> None:
    before = doc("tags: [b, a]\n")
    assert check_document(before, TAGS, before).passed
    assert not check_document(doc("tags: [a, b]\n"), TAGS, before).passed
    for old, new in (("ops", "[ops]"), ("ops;api", "[ops, api]"), ("2024", "['2024']"),
                     ("", "[]"), ("' a ,, b ; '", "[a, b]")):
        assert check_document(doc(f"tags: {new}\n"), TAGS, doc(f"tags: {old}\n")).passed, old
    report = check_document(doc("tags: [a]\n"), TAGS, doc("tags: {a: 1}\n"))
    assert not report.passed and "is a mapping" in report.rules[0].detail


@pytest.mark.parametrize(("text", "days"), [
    ("2024-03-05", ["2024-03-05"]), ("'2024-03-05'", ["2024-03-05"]),
    ("2024-03-05T08:15:00", ["2024-03-05"]), ("2024-03-05 23:30:00+05:00", ["2024-03-05"]),
    ("2024/03/05", ["2024-03-05"]), ("2024/3/5", ["2024-03-05"]), ("2024.03.05", ["2024-03-05"]),
    ("20240305", ["2024-03-05"]), ("March 5, 2024", ["2024-03-05"]),
    ("Mar 5, 2024", ["2024-03-05"]), ("mar. 5 2024", ["2024-03-05"]),
    ("5 Mar 2024", ["2024-03-05"]), ("5 March 2024", ["2024-03-05"]),
    ("5th of March, 2024", ["2024-03-05"]), ("Sept 1, 2024", ["2024-09-01"]),
    ("05/03/2024", ["2024-03-05", "2024-05-03"]), ("13/03/2024", ["2024-03-13"]),
    ("2024/13/01", []), ("'2024-02-30'", []), ("20241305", []), ("someday", []),
    ("true", []), ("2024", []), ("[2024-03-05]", []), ("05/03/24", []),
])
def test_days_named_reads_one_day_two_when_ambiguous_none_when_unreadable(
        text: str, days: list[str]) -> None:
    value = yaml.safe_load(f"k: {text}")["k"]
    assert [d.isoformat() for d in days_named(value)] == days


def test_items_held_by_each_kind_of_value() -> None:
    assert items_held("a, b;c") == ["a", "b", "c"]
    assert items_held(["x", 1]) == ["x", 1]
    assert items_held(None) == [] and items_held("") == []
    assert items_held(dt.date(2024, 3, 5)) == [dt.date(2024, 3, 5)]
    assert items_held({"a": 1}) is None


def _engine_imports(path: str | None) -> set[str]:
    tree = ast.parse(Path(path or "").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    return {m for m in imported if m and m.startswith("pantheon_engine")}


def test_the_check_shares_no_code_with_the_generator_or_the_solver() -> None:
    assert not _engine_imports(check_module.__file__) - {
        "pantheon_engine.docops.rules", "pantheon_engine.docops.body"}
    # the body readers are the check's own: they import nothing of the engine
    assert not _engine_imports(body_module.__file__)
