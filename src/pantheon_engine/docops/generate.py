"""Generate a docops task suite: varied Markdown documents, messy front matter, house rules.

:func:`make_docops_suite` writes ``<out>/workspace/`` (a git repository of Markdown files
under ``docs/train/`` and ``docs/holdout/``, so the two splits never share a document),
``<out>/tasks.jsonl`` (one ``doc.frontmatter`` task per document) and ``<out>/suite.json``
(how it was made). Everything follows from the seed: the same seed writes the same suite.

Each draw is a document (:mod:`~pantheon_engine.docops.documents`) and one to four rules.
A draw is kept only if
the scripted solver's calls, applied through the real ``fm_*`` tools, give a file that
:func:`~pantheon_engine.docops.check.check_document` passes, and if it needs at most five
edits; about one task in eight is a document that already complies (nothing to do), so an
agent that edits blindly is caught as surely as one that does nothing.

The *scope* says how much of a document's work one task asks for. ``file`` (the default)
gives a task all of the document's rules; ``rule`` keeps one of them: a rule the document
breaks (drawn from those the solver can fix alone within five edits), or any rule of a
document that complies. The same documents and the same checks, cut finer: a learning
curve per scope shows what a narrower task buys a small model.

The *phrasing* says how rules are worded and where their words come from. ``template``
(the default): each kind has one wording (``rule.text()``), and both splits draw from one
vocabulary of keys and values, so most holdout sentences and answers are train ones.
``paraphrase``: the split of each document is drawn first; each split draws its documents
from its own house (:mod:`~pantheon_engine.docops.vocab`: no key a rule names, value, list
word, person or day in common), rules include the two kinds that read their value from the
body, and every rule is worded by the split's own phrasing families
(:mod:`~pantheon_engine.docops.phrasing`). ``report.json``
(:mod:`~pantheon_engine.docops.report`) says how far the holdout is from train.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.documents import Doc, Entry, draw_document, slug, yaml_value
from pantheon_engine.docops.phrasing import SPLITS, Split, phrase_rules
from pantheon_engine.docops.report import TaskFacts, edit_of, suite_report, write_report
from pantheon_engine.docops.rules import (
    RULE_KINDS,
    BodyLine,
    ChangelogDate,
    DateValue,
    KeyAbsent,
    KeyEquals,
    KeyRenamed,
    ListValue,
    LowercaseKeys,
    Rule,
    TitleFromHeading,
    rule_sentences,
    rules_json,
)
from pantheon_engine.docops.solver import ToolCallSpec, solve
from pantheon_engine.docops.vocab import CLASSIC, PARAPHRASE_HOUSES, Vocab
from pantheon_engine.errors import ConfigError, PantheonError
from pantheon_engine.gitops import GIT_IDENTITY
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool

AGENT = "doc.frontmatter"
MAX_EDITS = 5
COMPLIANT_SHARE = 0.12
MAX_TASKS = 100_000
MAX_REDRAWS = 1_000
#: commits carry a fixed date so one seed gives the same repository, commit ids included
COMMIT_DATE = "2024-01-01T00:00:00+0000"
REPORT_FILE = "report.json"
_SUITE_FILES = ("workspace", "tasks.jsonl", "suite.json", REPORT_FILE)

T = TypeVar("T")
Scope = Literal["file", "rule"]
SCOPES: tuple[Scope, ...] = ("file", "rule")
Phrasing = Literal["template", "paraphrase"]
PHRASINGS: tuple[Phrasing, ...] = ("template", "paraphrase")

# --- rules -------------------------------------------------------------------------------


def _clashes(rule: Rule, chosen: list[Rule]) -> bool:
    """Rules that would contradict each other (or be the same rule twice)."""
    for other in chosen:
        if other.label == rule.label:
            return True
        for a, b in ((rule, other), (other, rule)):
            if isinstance(a, KeyRenamed):
                if isinstance(b, KeyRenamed) and a.to == b.to:
                    return True
                if isinstance(b, DateValue | ListValue | KeyEquals) and b.key == a.to:
                    return True
                if isinstance(b, KeyAbsent) and b.key in (a.key, a.to):
                    return True
            if isinstance(a, KeyEquals) and isinstance(b, KeyAbsent) and a.key == b.key:
                return True
            if isinstance(a, BodyLine | ChangelogDate) and a.key in (
                    getattr(b, "key", None), getattr(b, "to", None)):
                return True  # one key, two values required of it
    return False


def _candidate_rules(rng: random.Random, doc: Doc, lowercase: bool,
                     vocab: Vocab = CLASSIC) -> list[tuple[float, Rule]]:
    keys = doc.key_names()
    present = {k.lower() if lowercase else k for k in keys}
    lowered = {k.lower() for k in keys}
    cands: list[tuple[float, Rule]] = [(1.5, TitleFromHeading())]
    for key in keys:
        if key == key.lower() and (key in vocab.legacy_keys or key == vocab.flag_key):
            cands.append((2.5, KeyAbsent(key=key)))
        if key in vocab.renames and vocab.renames[key] not in lowered:
            cands.append((2.5, KeyRenamed(key=key, to=vocab.renames[key])))
    for key in vocab.date_keys:
        cands.append((2.5 if key in present else 0.2, DateValue(key=key)))
    for key in vocab.list_keys:
        cands.append((2.5 if key in present else 0.2, ListValue(key=key)))
    for key in rng.sample(sorted(vocab.equals_values), 3):
        if key == vocab.flag_key and vocab.flag_key not in present:
            continue
        cands.append((1.5 if key in present else 0.8,
                      KeyEquals(key=key, value=rng.choice(vocab.equals_values[key]))))
    if rng.random() < 0.3:
        absent = rng.choice(sorted(set(vocab.legacy_keys) - lowered))
        cands.append((0.4, KeyAbsent(key=absent)))
    if rng.random() < 0.2:
        old, new = rng.choice(sorted(vocab.renames.items()))
        if old not in lowered and new not in lowered:
            cands.append((0.3, KeyRenamed(key=old, to=new)))
    if doc.marker is not None:
        cands.append((2.5, BodyLine(key=vocab.person_key, marker=doc.marker)))
    if doc.section is not None:
        cands.append((2.5, ChangelogDate(key=vocab.changelog_key, section=doc.section)))
    return cands


def _draw_rules(rng: random.Random, doc: Doc, vocab: Vocab = CLASSIC) -> list[Rule]:
    wanted = rng.choice([1, 2, 2, 3, 3, 4, 4, 4])
    has_upper = any(k != k.lower() for k in doc.key_names())
    lowercase = rng.random() < (0.55 if has_upper else 0.05)
    chosen: list[Rule] = [LowercaseKeys()] if lowercase else []
    cands = _candidate_rules(rng, doc, lowercase, vocab)
    while len(chosen) < wanted and cands:
        (_, rule), = rng.choices(cands, [w for w, _ in cands])
        cands = [c for c in cands if c[1] is not rule]
        if not _clashes(rule, chosen):
            chosen.append(rule)
    rng.shuffle(chosen)
    return chosen


# --- solving and checking through the real tools ------------------------------------------


def _apply_in_memory(doc: Doc, calls: list[ToolCallSpec]) -> Doc:
    """The document after the solver's calls, keeping the writing style of untouched keys."""
    entries = [Entry(e.key, e.text) for e in doc.entries or []]
    for name, args in calls:
        if name == "fm_rename":
            for entry in entries:
                if entry.key == args["key"]:
                    entry.key = args["new_key"]
        elif name == "fm_delete":
            entries = [e for e in entries if e.key != args["key"]]
        else:
            value = yaml.safe_load(args["value"]) if args.get("parse") else args["value"]
            text = yaml_value(value)
            for entry in entries:
                if entry.key == args["key"]:
                    entry.text = text
                    break
            else:
                entries.append(Entry(args["key"], text))
    return replace(doc, entries=entries)


async def _solved_by_tools(scratch: Path, text: str, rules: list[Rule],
                           calls: list[ToolCallSpec]) -> bool:
    """Apply ``calls`` with the real tools to a copy of ``text``; does the result pass?"""
    target = scratch / "doc.md"
    target.write_text(text, encoding="utf-8")
    ctx = ToolContext(workspace=scratch)
    try:
        for name, args in calls:
            await get_tool(name).invoke(ctx, {"path": "doc.md", **args}, 10)
    except PantheonError:
        return False
    return check_document(target.read_text(encoding="utf-8"), rules, text).passed


@dataclass
class _Task:
    doc: Doc
    edits: int
    split: Split = "train"
    path: str = ""
    #: the phrasing families of its rules (a paraphrased suite; empty for templates)
    families: list[str] = field(default_factory=list)


async def _one_rule(rng: random.Random, scratch: Path, task: _Task) -> _Task | None:
    """``task`` cut to one of its rules (rule scope), or None when no rule stands alone."""
    text = task.doc.render()
    fits: list[tuple[Rule, int]] = []
    for rule in task.doc.rules:
        calls = solve(text, [rule])
        if task.edits == 0:
            if not calls and check_document(text, [rule], text).passed:
                fits.append((rule, 0))
        elif 1 <= len(calls) <= MAX_EDITS and await _solved_by_tools(scratch, text, [rule],
                                                                     calls):
            fits.append((rule, len(calls)))
    if not fits:
        return None
    rule, edits = rng.choice(fits)
    return _Task(replace(task.doc, rules=[rule]), edits)


async def _draw_task(rng: random.Random, scratch: Path, compliant: bool,
                     scope: Scope = "file", vocab: Vocab = CLASSIC) -> tuple[_Task, int]:
    """One solvable task of ``vocab``'s house (and how many draws were thrown away)."""
    redrawn = 0
    while True:
        doc = draw_document(rng, vocab)
        doc.rules = _draw_rules(rng, doc, vocab)
        text = doc.render()
        calls = solve(text, doc.rules)
        found: _Task | None = None
        if 1 <= len(calls) <= MAX_EDITS and await _solved_by_tools(scratch, text, doc.rules,
                                                                   calls):
            if not compliant:
                found = _Task(doc, len(calls))
            else:
                done = _apply_in_memory(doc, calls)
                done_text = done.render()
                if not solve(done_text, done.rules) and check_document(
                        done_text, done.rules, done_text).passed:
                    found = _Task(done, 0)
        if found is not None and scope == "rule":
            found = await _one_rule(rng, scratch, found)
        if found is not None:
            return found, redrawn
        redrawn += 1
        if redrawn > MAX_REDRAWS:  # pragma: no cover - a broken generator, not bad luck
            raise RuntimeError(f"no solvable docops task in {MAX_REDRAWS} draws")


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --- the suite -----------------------------------------------------------------------------


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a folder", hint="choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ConfigError(f"{out} exists and is not empty",
                              hint="choose another --out, or --force to replace the suite "
                              "there")
        for name in _SUITE_FILES:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _git(workspace: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_DATE=COMMIT_DATE, GIT_COMMITTER_DATE=COMMIT_DATE)
    proc = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed in {workspace}: {proc.stderr.strip()}")


def _compliant_indices(rng: random.Random, tasks: int) -> set[int]:
    return set(rng.sample(range(tasks), round(tasks * COMPLIANT_SHARE))) if tasks >= 4 \
        else set()


async def _draw_all(rng: random.Random, tasks: int,
                    scope: Scope = "file") -> tuple[list[_Task], int]:
    """The template suite's tasks, all from the classic house (split afterwards)."""
    compliant = _compliant_indices(rng, tasks)
    drawn: list[_Task] = []
    redrawn = 0
    with tempfile.TemporaryDirectory(prefix="pantheon-docops-") as scratch:
        for index in range(tasks):
            task, thrown = await _draw_task(rng, Path(scratch), index in compliant, scope)
            drawn.append(task)
            redrawn += thrown
    return drawn, redrawn


async def _draw_paraphrased(rng: random.Random, tasks: int, holdout: set[int],
                            scope: Scope) -> tuple[list[_Task], int]:
    """The paraphrased suite's tasks: each split from its own house, phrased with its own
    families (:mod:`pantheon_engine.docops.phrasing`)."""
    compliant = _compliant_indices(rng, tasks)
    drawn: list[_Task] = []
    redrawn = 0
    with tempfile.TemporaryDirectory(prefix="pantheon-docops-") as scratch:
        for index in range(tasks):
            split: Split = "holdout" if index in holdout else "train"
            task, thrown = await _draw_task(rng, Path(scratch), index in compliant, scope,
                                            PARAPHRASE_HOUSES[split])
            phrased = phrase_rules(task.doc.rules, split, rng)
            task.doc.rules, task.families, task.split = phrased.rules, phrased.families, split
            drawn.append(task)
            redrawn += thrown
    return drawn, redrawn


def _facts(task: _Task) -> TaskFacts:
    """What the overlap report compares: the task's sentences and its answer."""
    calls = solve(task.doc.render(), task.doc.rules)
    return TaskFacts(split=task.split, sentences=rule_sentences(task.doc.rules),
                     edits=[edit_of(call) for call in calls])


def make_docops_suite(out: Path, tasks: int, seed: int, holdout_share: float = 0.4, *,
                      force: bool = False, scope: Scope = "file",
                      phrasing: Phrasing = "template") -> dict[str, Any]:
    """Write a docops suite of ``tasks`` tasks to ``out``; returns a summary of it.

    ``holdout_share`` of the documents (rounded) go to the holdout split. ``scope``:
    ``file`` (all of a document's rules per task) or ``rule`` (one). ``phrasing``:
    ``template`` (every rule kind worded one way, one house of keys and values for both
    splits) or ``paraphrase`` (rules worded by the paraphrase grammar, with the holdout's
    phrasing families, keys, values, people and days kept apart from train's; see
    :mod:`pantheon_engine.docops.vocab`). An existing, non-empty ``out`` is refused unless
    ``force`` (which replaces only the suite's own ``workspace/``, ``tasks.jsonl``,
    ``suite.json`` and ``report.json``).
    """
    if not 1 <= tasks <= MAX_TASKS:
        raise ConfigError(f"--tasks must be between 1 and {MAX_TASKS}, got {tasks}")
    if not 0.0 <= holdout_share <= 1.0:
        raise ConfigError(f"--holdout-share must be between 0 and 1, got {holdout_share}")
    if scope not in SCOPES:
        raise ConfigError(f"--scope {scope!r}: expected one of {', '.join(SCOPES)}")
    if phrasing not in PHRASINGS:
        raise ConfigError(f"--phrasing {phrasing!r}: expected one of {', '.join(PHRASINGS)}")
    out = Path(out)
    _prepare_out(out, force)
    rng = random.Random(seed)
    if phrasing == "paraphrase":
        holdout = set(rng.sample(range(tasks), round(tasks * holdout_share)))
        drawn, redrawn = _run_sync(_draw_paraphrased(rng, tasks, holdout, scope))
    else:
        drawn, redrawn = _run_sync(_draw_all(rng, tasks, scope))
        holdout = set(rng.sample(range(tasks), round(tasks * holdout_share)))
        for index, task in enumerate(drawn):
            task.split = "holdout" if index in holdout else "train"
    width = max(3, len(str(tasks)))
    workspace = out / "workspace"
    (workspace / "docs").mkdir(parents=True)
    (workspace / "README.md").write_text(
        "# Documentation\n\nMarkdown pages whose front matter follows the house rules.\n",
        encoding="utf-8")
    lines = []
    counters: Counter[str] = Counter()
    for split in SPLITS:
        (workspace / "docs" / split).mkdir()
        mine = [t for t in drawn if t.split == split]
        for number, task in enumerate(mine, 1):
            task.path = f"docs/{split}/{number:0{width}d}-{slug(task.doc.heading)}.md"
            (workspace / task.path).write_text(task.doc.render(), encoding="utf-8")
            kinds = sorted({r.kind for r in task.doc.rules}, key=RULE_KINDS.index)
            counters.update(kinds)
            meta: dict[str, Any] = {"edits": task.edits, "rule_kinds": kinds, "scope": scope}
            if phrasing != "template":
                meta["phrasing_families"] = task.families
            lines.append(json.dumps({
                "id": f"{split}-{number:0{width}d}", "agent": AGENT,
                "input": {"path": task.path, "rules": rules_json(task.doc.rules)},
                "split": split, "meta": meta,
            }, ensure_ascii=False))
    _git(workspace, "init", "-q", "-b", "main")
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-q", "-m", f"docops suite: {tasks} documents, seed {seed}"
         + ("" if scope == "file" else f", {scope} scope")
         + ("" if phrasing == "template" else f", {phrasing} phrasing"))
    (out / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    generator = {"name": "docops", "tasks": tasks, "seed": seed, "holdout_share": holdout_share,
                 "scope": scope}
    if phrasing != "template":
        generator["phrasing"] = phrasing
    described = f"{scope} scope" + ("" if phrasing == "template" else f", {phrasing} phrasing")
    (out / "suite.json").write_text(json.dumps({
        "description": f"docops: {tasks} front matter tasks from seed {seed}, {described}",
        "generator": generator}, indent=2) + "\n", encoding="utf-8")
    report = suite_report([_facts(t) for t in drawn], phrasing=phrasing,
                          families={s: sorted({f for t in drawn if t.split == s
                                               for f in t.families}) for s in SPLITS})
    write_report(out / REPORT_FILE, report)
    edits = Counter(t.edits for t in drawn)
    return {
        "out": str(out), "tasks": tasks, "seed": seed, "holdout_share": holdout_share,
        "scope": scope, "phrasing": phrasing,
        "splits": {s: sum(t.split == s for t in drawn) for s in SPLITS},
        "edits": {n: edits[n] for n in range(MAX_EDITS + 1)},
        "rule_kinds": {k: counters[k] for k in RULE_KINDS},
        "redrawn": redrawn,
        "report": report.model_dump(mode="json"),
    }
