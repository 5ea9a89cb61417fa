"""The independent rules check: every rule on known-good and known-bad documents, what else
a change may break, rule files, and the scripted solver that proves tasks solvable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pantheon_engine.agents.docops import state_text
from pantheon_engine.agents.io import DocTask
from pantheon_engine.docops.check import check_document, first_heading
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
    with pytest.raises(SpecError, match="rule 0"):
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
                    "2. If there is a key `tags`, its value is a YAML list.")


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
