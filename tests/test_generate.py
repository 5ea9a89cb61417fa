"""The docops suite generator: varied, deterministic, solvable tasks that a no-op fails."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from pantheon_engine.docops.check import (
    check_document,
    days_named,
    is_date,
    items_held,
    read_document,
)
from pantheon_engine.docops.documents import MONTHS
from pantheon_engine.docops.documents import date_text as _date_text
from pantheon_engine.docops.documents import words_text as _words_text
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.docops.rules import RULE_KINDS, DateValue, ListValue, parse_rules
from pantheon_engine.docops.solver import as_list_text, normalise_date, solve
from pantheon_engine.docops.vocab import TAG_WORDS
from pantheon_engine.errors import ConfigError
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool

PANTHEON = [sys.executable, "-m", "pantheon_engine"]


def read_tasks(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "tasks.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("suites") / "docops-7"
    return out, make_docops_suite(out, 300, seed=7)


def test_summary_counts_what_was_written(suite: tuple[Path, dict[str, Any]]) -> None:
    out, summary = suite
    tasks = read_tasks(out)
    assert len(tasks) == summary["tasks"] == 300
    assert summary["splits"] == {"train": 180, "holdout": 120}
    assert summary["edits"] == {n: sum(t["meta"]["edits"] == n for t in tasks) for n in range(6)}
    assert set(summary["rule_kinds"]) == set(RULE_KINDS)


def test_splits_come_from_disjoint_documents(suite: tuple[Path, dict[str, Any]]) -> None:
    out, _ = suite
    tasks = read_tasks(out)
    paths = [t["input"]["path"] for t in tasks]
    assert len(set(paths)) == len(paths), "one task per document"
    for task in tasks:
        assert task["input"]["path"].startswith(f"docs/{task['split']}/")
        assert re.fullmatch(r"docs/(train|holdout)/\d{3}-[a-z0-9-]+\.md", task["input"]["path"])
    assert len({t["id"] for t in tasks}) == len(tasks)
    on_disk = {str(p.relative_to(out / "workspace")) for p in (out / "workspace").rglob("*.md")
               if p.parent.parent.name == "docs"}
    assert on_disk == set(paths)


def test_workspace_is_a_committed_git_repository(suite: tuple[Path, dict[str, Any]]) -> None:
    out, _ = suite
    status = subprocess.run(["git", "status", "--porcelain"], cwd=out / "workspace",
                            capture_output=True, text=True, check=True)
    assert status.stdout == ""
    tracked = subprocess.run(["git", "ls-files"], cwd=out / "workspace", capture_output=True,
                             text=True, check=True).stdout.split()
    assert all(t["input"]["path"] in tracked for t in read_tasks(out))


def test_edit_counts_are_the_solvers_and_span_zero_to_five(
        suite: tuple[Path, dict[str, Any]]) -> None:
    out, _ = suite
    tasks = read_tasks(out)
    counts: Counter[int] = Counter()
    for task in tasks:
        text = (out / "workspace" / task["input"]["path"]).read_text()
        rules = parse_rules(task["input"]["rules"])
        assert len(solve(text, rules)) == task["meta"]["edits"]
        assert 1 <= len(rules) <= 4
        assert task["meta"]["rule_kinds"] == sorted({r.kind for r in rules},
                                                    key=RULE_KINDS.index)
        counts[task["meta"]["edits"]] += 1
    assert set(counts) <= set(range(6))
    assert 0.10 <= counts[0] / len(tasks) <= 0.15
    assert all(counts[n] > 0 for n in range(6))


async def test_every_task_is_solved_by_the_solver_through_the_real_tools(
        suite: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, _ = suite
    workspace = tmp_path / "ws"
    shutil.copytree(out / "workspace", workspace, ignore=shutil.ignore_patterns(".git"))
    ctx = ToolContext(workspace=workspace)
    for task in read_tasks(out):
        path = task["input"]["path"]
        rules = parse_rules(task["input"]["rules"])
        before = (workspace / path).read_text()
        for name, args in solve(before, rules):
            await get_tool(name).invoke(ctx, {"path": path, **args}, 10)
        report = check_document((workspace / path).read_text(), rules, before)
        assert report.passed, (task["id"], report.failed_labels, report.broken)


def _flow(items: list[Any]) -> str:
    return yaml.safe_dump(items, default_flow_style=True).strip()


async def test_a_perturbed_answer_fails_where_the_solvers_passes(
        suite: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Every task's solved file, with its date one day off, one list item dropped, or the
    prompt's example list `[a, b]`, fails on exactly that rule."""
    out, _ = suite
    ctx = ToolContext(workspace=tmp_path)
    target = tmp_path / "doc.md"

    async def edited(text: str, key: str, value: str) -> str:
        target.write_text(text)
        await get_tool("fm_set").invoke(ctx, {"path": "doc.md", "key": key, "value": value,
                                              "parse": True}, 10)
        return target.read_text()

    perturbed: Counter[str] = Counter()
    for task in read_tasks(out):
        before = (out / "workspace" / task["input"]["path"]).read_text()
        rules = parse_rules(task["input"]["rules"])
        target.write_text(before)
        for name, args in solve(before, rules):
            await get_tool(name).invoke(ctx, {"path": "doc.md", **args}, 10)
        solved = target.read_text()
        assert check_document(solved, rules, before).passed, task["id"]
        meta = read_document(solved).meta
        for rule in rules:
            if not isinstance(rule, DateValue | ListValue) or rule.key not in meta:
                continue
            value = meta[rule.key]
            if isinstance(rule, DateValue):
                day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
                wrong = [(day + dt.timedelta(days=1)).isoformat()]
            else:
                wrong = [_flow(value[:i] + value[i + 1:]) for i in range(len(value))]
                wrong += [] if value == ["a", "b"] else ["[a, b]"]
            for answer in wrong:
                report = check_document(await edited(solved, rule.key, answer), rules, before)
                assert report.failed_labels == [rule.label], (task["id"], answer)
                assert "the original" in report.rules[rules.index(rule)].detail
                perturbed[rule.kind] += 1
    assert perturbed["date"] >= 50 and perturbed["list"] >= 50, perturbed


def _shape(text: str) -> str:
    """A date as written, with numbers and month names abstracted (``N Mon N``)."""
    text = re.sub(r"\d+", "N", text)
    text = re.sub("|".join(MONTHS), "Month", text)
    return re.sub("|".join(m[:3] for m in MONTHS), "Mon", text)


def test_every_date_spelling_the_generator_writes_names_one_day() -> None:
    shapes: Counter[str] = Counter()
    for seed in range(600):
        rng = random.Random(seed)
        day = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2500))
        text = _date_text(rng, day)
        shapes[_shape(text)] += 1
        before = f"---\ndate:{text}\n---\n# A\n"
        value = read_document(before).meta["date"]
        assert days_named(value) == (day,), text
        # the solver leaves a value written YYYY-MM-DD as it is, and reads every other one
        assert is_date(value) or normalise_date(value) == day.isoformat(), text
        rules = parse_rules([{"kind": "date", "key": "date"}])
        assert check_document(f"---\ndate: {day.isoformat()}\n---\n# A\n", rules,
                              before).passed, text
        for other in (day + dt.timedelta(days=1), day - dt.timedelta(days=1),
                      day + dt.timedelta(days=365)):
            report = check_document(f"---\ndate: {other.isoformat()}\n---\n# A\n", rules,
                                    before)
            assert not report.passed, (text, other)
            assert report.rules[0].detail == (f"`date` is {other.isoformat()}, the original "
                                              f"names {day.isoformat()}")
    assert set(shapes) == {" N-N-N", " N/N/N", " Month N, N", " Mon N, N", " N Mon N",
                           " N Month N", " N", " N.N.N", " N-N-NTN:N:N", ' "N-N-N"'}, shapes


def test_every_list_spelling_the_generator_writes_holds_its_words_in_order() -> None:
    shapes: Counter[str] = Counter()
    rules = parse_rules([{"kind": "list", "key": "tags"}])
    for seed in range(600):
        rng = random.Random(seed)
        words = rng.sample(TAG_WORDS, rng.randint(2, 4))
        text = _words_text(rng, words)
        shapes[re.sub(r"[a-z]+", "w", text)] += 1
        before = f"---\ntags:{text}\n---\n# A\n"
        value = read_document(before).meta["tags"]
        held = words if text != f" {words[0]}" else words[:1]
        assert items_held(value) == held, text
        if not isinstance(value, list):
            assert yaml.safe_load(as_list_text(value)) == held, text
        assert check_document(f"---\ntags: {_flow(held)}\n---\n# A\n", rules, before).passed
        for wrong in (held[1:], held[::-1] if len(held) > 1 else [*held, "extra"], ["a", "b"]):
            assert not check_document(f"---\ntags: {_flow(wrong)}\n---\n# A\n", rules,
                                      before).passed, (text, wrong)
    assert {" w, w", " w;w", " w", " [w, w]", "\n  - w\n  - w"} <= set(shapes), shapes


def test_replying_final_at_once_fails_the_check_on_most_tasks(
        suite: tuple[Path, dict[str, Any]]) -> None:
    out, _ = suite
    failed = 0
    tasks = read_tasks(out)
    for task in tasks:
        text = (out / "workspace" / task["input"]["path"]).read_text()
        passed = check_document(text, parse_rules(task["input"]["rules"]), text).passed
        assert passed == (task["meta"]["edits"] == 0), task["id"]
        failed += not passed
    assert failed / len(tasks) >= 0.85


def test_documents_and_rules_vary(suite: tuple[Path, dict[str, Any]]) -> None:
    out, _ = suite
    tasks = read_tasks(out)
    texts = [(out / "workspace" / t["input"]["path"]).read_text() for t in tasks]
    headings = {line for text in texts for line in text.splitlines() if line.startswith("# ")}
    assert len(headings) >= 150
    assert all(re.search(r"^# \S", text, re.M) for text in texts)
    keys = Counter(k for text in texts for k in read_document(text).meta)
    assert any(k in keys for k in ("Title", "Author", "Date", "Tags", "Draft"))
    assert {"weight", "toc", "series", "layout"} & set(keys), "keys no rule touches"
    blob = "\n".join(texts)
    for spelling in (r"\d{4}/\d{2}/\d{2}", r"[A-Z][a-z]+ \d{1,2}, \d{4}",
                     r"\d{1,2} [A-Z][a-z]{2} \d{4}", r": \d{8}\n", r": \w+, \w+"):
        assert re.search(spelling, blob), spelling
    rule_sets = {json.dumps(t["input"]["rules"]) for t in tasks}
    assert len(rule_sets) >= 200
    several = [t["input"]["rules"] for t in tasks if len(t["input"]["rules"]) >= 2]
    # every kind but the two that read their value from the body (paraphrased suites only)
    template_kinds = set(RULE_KINDS) - {"body_line", "changelog_date"}
    assert {rules[0]["kind"] for rules in several} == template_kinds, "rule order varies"
    assert {rules[-1]["kind"] for rules in several} == template_kinds


def test_same_seed_same_suite_other_seed_other_suite(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_docops_suite(a, 40, seed=3)
    make_docops_suite(b, 40, seed=3)
    make_docops_suite(c, 40, seed=4)
    assert (a / "tasks.jsonl").read_text() == (b / "tasks.jsonl").read_text()
    for path in (a / "workspace").rglob("*.md"):
        assert path.read_text() == (b / "workspace" / path.relative_to(a / "workspace")
                                    ).read_text()

    def head(folder: Path) -> str:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder / "workspace",
                              capture_output=True, text=True, check=True).stdout
    assert head(a) == head(b)
    assert (a / "tasks.jsonl").read_text() != (c / "tasks.jsonl").read_text()


def test_holdout_share_decides_the_split_sizes(tmp_path: Path) -> None:
    summary = make_docops_suite(tmp_path / "s", 20, seed=1, holdout_share=0.25)
    assert summary["splits"] == {"train": 15, "holdout": 5}


def test_a_non_empty_out_folder_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "s"
    make_docops_suite(out, 5, seed=1)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        make_docops_suite(out, 5, seed=2)
    make_docops_suite(out, 6, seed=2, force=True)
    assert len(read_tasks(out)) == 6
    assert (out / "notes.txt").read_text() == "mine"


def test_cli_make_prints_a_summary_and_refuses_an_existing_suite(tmp_path: Path) -> None:
    out = tmp_path / "docops-7"
    args = [*PANTHEON, "suite", "make", "docops", "--tasks", "30", "--seed", "7",
            "--out", str(out)]
    made = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert "30 tasks" in made.stdout and "train 18" in made.stdout
    assert "holdout 12" in made.stdout and "edits needed" in made.stdout
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = subprocess.run([*args, "--force", "--holdout-share", "0.5"], capture_output=True,
                            text=True, timeout=120)
    assert forced.returncode == 0, forced.stderr
    assert "holdout 15" in forced.stdout


def test_cli_make_refuses_an_unknown_generator(tmp_path: Path) -> None:
    proc = subprocess.run([*PANTHEON, "suite", "make", "spec2code", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "docops" in proc.stderr
