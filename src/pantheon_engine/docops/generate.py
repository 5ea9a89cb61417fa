"""Generate a docops task suite: varied Markdown documents, messy front matter, house rules.

:func:`make_docops_suite` writes ``<out>/workspace/`` (a git repository of Markdown files
under ``docs/train/`` and ``docs/holdout/``, so the two splits never share a document),
``<out>/tasks.jsonl`` (one ``doc.frontmatter`` task per document) and ``<out>/suite.json``
(how it was made). Everything follows from the seed: the same seed writes the same suite.

Each draw is a document and one to four rules of the seven kinds. A draw is kept only if
the scripted solver's calls, applied through the real ``fm_*`` tools, give a file that
:func:`~pantheon_engine.docops.check.check_document` passes, and if it needs at most five
edits; about one task in eight is a document that already complies (nothing to do), so an
agent that edits blindly is caught as surely as one that does nothing.

The *scope* says how much of a document's work one task asks for. ``file`` (the default)
gives a task all of the document's rules; ``rule`` keeps one of them: a rule the document
breaks (drawn from those the solver can fix alone within five edits), or any rule of a
document that complies. The same documents and the same checks, cut finer: a learning
curve per scope shows what a narrower task buys a small model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.rules import (
    RULE_KINDS,
    DateValue,
    KeyAbsent,
    KeyEquals,
    KeyRenamed,
    ListValue,
    LowercaseKeys,
    Rule,
    TitleFromHeading,
    rules_json,
)
from pantheon_engine.docops.solver import ToolCallSpec, solve
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
_SUITE_FILES = ("workspace", "tasks.jsonl", "suite.json")

T = TypeVar("T")
Scope = Literal["file", "rule"]
SCOPES: tuple[Scope, ...] = ("file", "rule")

# --- content pools ---------------------------------------------------------------------------

SUBJECTS = [
    "the build cache", "release branches", "on-call rotations", "database migrations",
    "feature flags", "API versioning", "log retention", "the style guide", "code review",
    "incident reviews", "onboarding", "dependency updates", "test fixtures", "load testing",
    "error budgets", "the search index", "background jobs", "rate limiting", "access tokens",
    "nightly backups", "the design system", "accessibility checks", "the changelog",
    "cost reports", "queue workers", "schema changes", "cache invalidation", "mobile releases",
    "data retention", "translations", "the staging cluster", "service ownership",
    "alert routing", "secrets rotation", "the billing export", "flaky tests",
    "container images", "DNS changes", "the public API", "the CLI", "pagination",
    "webhooks", "audit logs", "single sign-on", "the docs site", "dark mode",
    "the payments service", "capacity planning", "trace sampling", "config files",
]
TITLE_FORMS = [
    "{S}", "A guide to {s}", "Notes on {s}", "How we handle {s}", "{S}: a primer",
    "Working with {s}", "{S} in practice", "Getting started with {s}", "{S} FAQ",
    "Troubleshooting {s}", "Why we changed {s}", "{S}, step by step", "Rethinking {s}",
    "{S} checklist", "Lessons from {s}", "{S} (2nd edition)",
]
SECTIONS = ["Background", "Why it matters", "How it works", "Steps", "Pitfalls", "See also",
            "Open questions", "Examples", "Rollout", "Who to ask"]
SENTENCES = [
    "This page explains {s} for new team members.",
    "Most questions about {s} come up during the first week.",
    "The {team} team owns {s} and reviews every change to it.",
    "We revisited {s} after the last incident review.",
    "Run `{cmd}` before you change anything related to {s}.",
    "Changes to {s} ship behind a flag for {n} days.",
    "If something looks wrong, ask in #{channel} first.",
    "Keep each change small; {s} is easier to review that way.",
    "The numbers below were measured on the staging cluster.",
    "Older notes about {s} live in the archive and are no longer maintained.",
    "A checklist at the end summarises what to verify.",
    "Expect about {n} minutes for the whole procedure.",
    "Nothing here replaces the runbook; it links to it.",
    "We document decisions about {s} so that they can be revisited.",
]
TEAMS = ["platform", "docs", "payments", "infra", "mobile", "search", "security", "data"]
COMMANDS = ["make check", "make docs", "just test", "npm run lint", "pytest -q",
            "cargo test", "go vet ./...", "tox -e py311"]
CHANNELS = ["help-platform", "docs", "ops", "releases", "security-questions"]
PEOPLE = ["Ada Byron", "Grace Hopper", "Linus Pauling", "Mae Jemison", "Alan Kay",
          "Barbara Liskov", "Ken Iverson", "Radia Perlman", "ops-team", "docs-team",
          "J. Doe", "Margaret Hamilton", "Edsger D.", "Frances Allen"]
TAG_WORDS = ["ops", "release", "howto", "python", "security", "api", "frontend", "testing",
             "infra", "data", "onboarding", "reference", "policy", "mobile", "performance"]
CATEGORY_WORDS = ["guides", "reference", "news", "howto", "internal", "runbooks"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

#: roles of front matter keys: the spellings a key may have (lowercase first)
KEY_SPELLINGS: dict[str, list[str]] = {
    "title": ["title", "Title"],
    "author": ["author", "Author", "writer", "by"],
    "date": ["date", "Date", "pubdate", "published"],
    "updated": ["updated", "Updated", "last_modified"],
    "tags": ["tags", "Tags", "keywords"],
    "categories": ["categories", "Categories"],
    "description": ["description", "Description", "summary", "excerpt"],
    "slug": ["slug", "permalink"],
    "draft": ["draft", "Draft"],
    "status": ["status", "Status"],
    "category": ["category", "Category"],
}
#: legacy names and the names house rules want instead
RENAMES = {"writer": "author", "by": "author", "pubdate": "date", "published": "date",
           "last_modified": "updated", "keywords": "tags", "summary": "description",
           "excerpt": "description", "permalink": "slug"}
LEGACY_KEYS: dict[str, list[str | int | bool]] = {
    "layout": ["post", "page", "doc"], "wp_id": [1042, 77, 3190],
    "old_url": ["/blog/2019/old-post", "/wiki/Page_1", "/docs/v1/guide"],
    "comments": [True, False], "legacy_id": ["A-113", "X7", "doc-0042"],
    "disqus_id": ["thread-12", "t-9981"], "migrated_from": ["confluence", "wiki"]}
#: keys that no rule ever names: a change must leave them alone
EXTRA_KEYS: dict[str, list[str | int | bool]] = {
    "weight": [1, 5, 10, 20], "toc": [True, False],
    "series": ["Platform basics", "Operations", "Release notes"],
    "reading_time": ["4 min", "10 min", "2 min"],
    "audience": ["engineers", "everyone", "new hires"],
    "nav_order": [1, 2, 3, 7], "cover_image": ["/img/cover.png", "img/hero.jpg"],
    "sidebar_label": ["Overview", "Guide", "FAQ"]}
EQUALS_VALUES = {"status": ["published", "review", "final", "archived"],
                 "lang": ["en", "de", "fr", "es", "en-GB"],
                 "visibility": ["public", "internal"],
                 "owner": ["docs-team", "platform", "sre", "payments"],
                 "category": CATEGORY_WORDS, "license": ["CC-BY-4.0", "MIT", "internal-only"],
                 "draft": ["false"]}
DATE_KEYS = ("date", "updated")
LIST_KEYS = ("tags", "categories")


# --- documents ---------------------------------------------------------------------------


@dataclass
class _Entry:
    """One front matter line: a key and its value as written after ``key:``."""

    key: str
    text: str


@dataclass
class _Doc:
    heading: str
    body: str
    entries: list[_Entry] | None  # None: the document has no front matter at all
    rules: list[Rule] = field(default_factory=list)

    def render(self) -> str:
        if self.entries is None:
            return self.body
        lines = "".join(f"{e.key}:{e.text}\n" for e in self.entries)
        return f"---\n{lines}---\n{self.body}"

    def key_names(self) -> list[str]:
        return [e.key for e in self.entries or []]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _heading(rng: random.Random) -> tuple[str, str]:
    """A page heading and the subject it is about."""
    subject = rng.choice(SUBJECTS)
    return rng.choice(TITLE_FORMS).format(s=subject, S=_cap(subject)), subject


def _sentences(rng: random.Random, subject: str, count: int) -> list[str]:
    return [form.format(s=subject, team=rng.choice(TEAMS), cmd=rng.choice(COMMANDS),
                        n=rng.randint(2, 30), channel=rng.choice(CHANNELS))
            for form in rng.sample(SENTENCES, count)]


def _body(rng: random.Random, heading: str, subject: str) -> str:
    parts = []
    if rng.random() < 0.1:
        parts.append("<!-- generated page: edit the source, not the export -->\n")
    parts.append(f"# {heading}\n")
    for index in range(rng.randint(1, 4)):
        if index and rng.random() < 0.5:
            parts.append(f"## {rng.choice(SECTIONS)}\n")
        kind = rng.random()
        if kind < 0.15:
            items = _sentences(rng, subject, rng.randint(2, 4))
            parts.append("".join(f"- {item}\n" for item in items))
        elif kind < 0.25:
            command = rng.choice(COMMANDS)
            parts.append(f"```sh\n# run from the repository root\n{command}\n```\n")
        else:
            parts.append(" ".join(_sentences(rng, subject, rng.randint(1, 3))) + "\n")
    return "\n".join(parts)


def _yaml_value(value: Any) -> str:
    """``value`` as YAML after ``key:`` in the plainest form that reads back the same."""
    if isinstance(value, list):
        return " " + yaml.safe_dump(value, allow_unicode=True, width=1000,
                                    default_flow_style=True).strip()
    dumped = yaml.safe_dump({"k": value}, allow_unicode=True, width=1000,
                            default_flow_style=False)
    return dumped[len("k:"):].rstrip("\n")


def _messy_string(rng: random.Random, value: str) -> str:
    roll = rng.random()
    if roll < 0.15 and '"' not in value and "\\" not in value:
        return f' "{value}"'
    if roll < 0.25:
        return " '" + value.replace("'", "''") + "'"
    return _yaml_value(value)


def _date_text(rng: random.Random, day: dt.date, *, clean: bool = False) -> str:
    """``day`` as written after ``date:``, in one of the spellings real front matter has.

    Every spelling names exactly one day: the year comes first (``2024/03/05``,
    ``20240305``, ``2024.03.05``, ISO with or without a time, quoted ISO) or the month is
    named (``March 5, 2024``, ``5 Mar 2024``). Never ``05/03/2024``: that could be the 5th
    of March or the 3rd of May, and the check (which requires the day the original names)
    does not guess.
    """
    if clean:
        return f" {day.isoformat()}"
    forms = [
        lambda d: f" {d.isoformat()}",
        lambda d: f" {d.year}/{d.month:02d}/{d.day:02d}",
        lambda d: f" {MONTHS[d.month - 1]} {d.day}, {d.year}",
        lambda d: f" {MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
        lambda d: f" {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
        lambda d: f" {d.day} {MONTHS[d.month - 1]} {d.year}",
        lambda d: f" {d.year}{d.month:02d}{d.day:02d}",
        lambda d: f" {d.year}.{d.month:02d}.{d.day:02d}",
        lambda d: f" {d.isoformat()}T{rng.randint(7, 18):02d}:{rng.choice([0, 15, 30]):02d}:00",
        lambda d: f' "{d.isoformat()}"',
    ]
    weights = [2, 3, 3, 2, 2, 1, 2, 1, 1, 1]
    return rng.choices(forms, weights)[0](day)


def _words_text(rng: random.Random, words: list[str]) -> str:
    """``words`` (or only the first) as written after ``tags:``: a comma or semicolon
    string, one word, a flow list or a block list; each holds its words in order."""
    roll = rng.random()
    if roll < 0.45:
        return " " + ", ".join(words)
    if roll < 0.55:
        return " " + ";".join(words)
    if roll < 0.65:
        return " " + words[0]
    if roll < 0.85:
        return " [" + ", ".join(words) + "]"
    return "".join(f"\n  - {w}" for w in words)


def _bool_text(rng: random.Random, value: bool) -> str:
    spellings = ["true", "True", "yes"] if value else ["false", "False", "no"]
    return " " + rng.choices(spellings, [6, 2, 1])[0]


def _role_value(rng: random.Random, role: str, heading: str) -> str:
    if role == "title":
        stale = [heading, heading, heading.lower(), f"{heading} (draft)", "Untitled",
                 _heading(rng)[0], heading.upper()]
        return _messy_string(rng, rng.choice(stale))
    if role == "author":
        return _messy_string(rng, rng.choice(PEOPLE))
    if role in ("date", "updated"):
        return _date_text(rng, dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2500)))
    if role == "tags":
        return _words_text(rng, rng.sample(TAG_WORDS, rng.randint(1, 4)))
    if role == "categories":
        return _words_text(rng, rng.sample(CATEGORY_WORDS, rng.randint(1, 3)))
    if role == "description":
        return _messy_string(rng, f"What to know about {heading.lower()}.")
    if role == "slug":
        return _yaml_value(_slug(heading))
    if role == "draft":
        return _bool_text(rng, rng.random() < 0.6)
    if role == "status":
        return " " + rng.choice(["draft", "review", "published", "Published", "wip"])
    if role == "category":
        return " " + rng.choice(CATEGORY_WORDS)
    raise ValueError(role)  # pragma: no cover - every role is listed above


def _front_matter(rng: random.Random, heading: str) -> list[_Entry] | None:
    if rng.random() < 0.04:
        return None
    chances = {"title": 0.7, "author": 0.65, "date": 0.8, "updated": 0.25, "tags": 0.6,
               "categories": 0.2, "description": 0.35, "slug": 0.2, "draft": 0.4,
               "status": 0.3, "category": 0.15}
    taken: set[str] = set()
    entries: list[_Entry] = []
    upper_left = rng.choice([0, 1, 1, 2, 2, 3])
    for role, chance in chances.items():
        if rng.random() >= chance:
            continue
        spellings = KEY_SPELLINGS[role]
        if upper_left <= 0:
            spellings = [k for k in spellings if k == k.lower()]
        key = rng.choice(spellings)
        if key.lower() in taken or RENAMES.get(key, "") in taken:
            continue
        if key != key.lower():
            upper_left -= 1
        taken.add(key.lower())
        entries.append(_Entry(key, _role_value(rng, role, heading)))
    for pool in (LEGACY_KEYS, EXTRA_KEYS):
        for key in rng.sample(sorted(pool), rng.choice([0, 1, 1, 2])):
            value = rng.choice(pool[key])
            text = _bool_text(rng, value) if isinstance(value, bool) else _yaml_value(value)
            entries.append(_Entry(key, text))
    title_first = bool(entries) and entries[0].key.lower() == "title" and rng.random() < 0.8
    head, rest = (entries[:1], entries[1:]) if title_first else ([], entries)
    rng.shuffle(rest)
    return head + rest


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
    return False


def _candidate_rules(rng: random.Random, doc: _Doc, lowercase: bool) -> list[tuple[float, Rule]]:
    keys = doc.key_names()
    present = {k.lower() if lowercase else k for k in keys}
    lowered = {k.lower() for k in keys}
    cands: list[tuple[float, Rule]] = [(1.5, TitleFromHeading())]
    for key in keys:
        if key == key.lower() and (key in LEGACY_KEYS or key == "draft"):
            cands.append((2.5, KeyAbsent(key=key)))
        if key in RENAMES and RENAMES[key] not in lowered:
            cands.append((2.5, KeyRenamed(key=key, to=RENAMES[key])))
    for key in DATE_KEYS:
        cands.append((2.5 if key in present else 0.2, DateValue(key=key)))
    for key in LIST_KEYS:
        cands.append((2.5 if key in present else 0.2, ListValue(key=key)))
    for key in rng.sample(sorted(EQUALS_VALUES), 3):
        if key == "draft" and "draft" not in present:
            continue
        cands.append((1.5 if key in present else 0.8,
                      KeyEquals(key=key, value=rng.choice(EQUALS_VALUES[key]))))
    if rng.random() < 0.3:
        absent = rng.choice(sorted(set(LEGACY_KEYS) - lowered))
        cands.append((0.4, KeyAbsent(key=absent)))
    if rng.random() < 0.2:
        old, new = rng.choice(sorted(RENAMES.items()))
        if old not in lowered and new not in lowered:
            cands.append((0.3, KeyRenamed(key=old, to=new)))
    return cands


def _draw_rules(rng: random.Random, doc: _Doc) -> list[Rule]:
    wanted = rng.choice([1, 2, 2, 3, 3, 4, 4, 4])
    has_upper = any(k != k.lower() for k in doc.key_names())
    lowercase = rng.random() < (0.55 if has_upper else 0.05)
    chosen: list[Rule] = [LowercaseKeys()] if lowercase else []
    cands = _candidate_rules(rng, doc, lowercase)
    while len(chosen) < wanted and cands:
        (_, rule), = rng.choices(cands, [w for w, _ in cands])
        cands = [c for c in cands if c[1] is not rule]
        if not _clashes(rule, chosen):
            chosen.append(rule)
    rng.shuffle(chosen)
    return chosen


# --- solving and checking through the real tools ------------------------------------------


def _apply_in_memory(doc: _Doc, calls: list[ToolCallSpec]) -> _Doc:
    """The document after the solver's calls, keeping the writing style of untouched keys."""
    entries = [_Entry(e.key, e.text) for e in doc.entries or []]
    for name, args in calls:
        if name == "fm_rename":
            for entry in entries:
                if entry.key == args["key"]:
                    entry.key = args["new_key"]
        elif name == "fm_delete":
            entries = [e for e in entries if e.key != args["key"]]
        else:
            value = yaml.safe_load(args["value"]) if args.get("parse") else args["value"]
            text = _yaml_value(value)
            for entry in entries:
                if entry.key == args["key"]:
                    entry.text = text
                    break
            else:
                entries.append(_Entry(args["key"], text))
    return _Doc(doc.heading, doc.body, entries, doc.rules)


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
    doc: _Doc
    edits: int
    split: str = "train"
    path: str = ""


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
    return _Task(_Doc(task.doc.heading, task.doc.body, task.doc.entries, [rule]), edits)


async def _draw_task(rng: random.Random, scratch: Path, compliant: bool,
                     scope: Scope = "file") -> tuple[_Task, int]:
    """One solvable task (and how many draws were thrown away to get it)."""
    redrawn = 0
    while True:
        heading, subject = _heading(rng)
        doc = _Doc(heading, _body(rng, heading, subject), _front_matter(rng, heading))
        doc.rules = _draw_rules(rng, doc)
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


def _slug(heading: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
    return slug[:40].rstrip("-") or "doc"


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


async def _draw_all(rng: random.Random, tasks: int,
                    scope: Scope = "file") -> tuple[list[_Task], int]:
    compliant = set(rng.sample(range(tasks), round(tasks * COMPLIANT_SHARE))) \
        if tasks >= 4 else set()
    drawn: list[_Task] = []
    redrawn = 0
    with tempfile.TemporaryDirectory(prefix="pantheon-docops-") as scratch:
        for index in range(tasks):
            task, thrown = await _draw_task(rng, Path(scratch), index in compliant, scope)
            drawn.append(task)
            redrawn += thrown
    return drawn, redrawn


def make_docops_suite(out: Path, tasks: int, seed: int, holdout_share: float = 0.4, *,
                      force: bool = False, scope: Scope = "file") -> dict[str, Any]:
    """Write a docops suite of ``tasks`` tasks to ``out``; returns a summary of it.

    ``holdout_share`` of the documents (rounded) go to the holdout split. ``scope``:
    ``file`` (all of a document's rules per task) or ``rule`` (one). An existing,
    non-empty ``out`` is refused unless ``force`` (which replaces only the suite's own
    ``workspace/``, ``tasks.jsonl`` and ``suite.json``).
    """
    if not 1 <= tasks <= MAX_TASKS:
        raise ConfigError(f"--tasks must be between 1 and {MAX_TASKS}, got {tasks}")
    if not 0.0 <= holdout_share <= 1.0:
        raise ConfigError(f"--holdout-share must be between 0 and 1, got {holdout_share}")
    if scope not in SCOPES:
        raise ConfigError(f"--scope {scope!r}: expected one of {', '.join(SCOPES)}")
    out = Path(out)
    _prepare_out(out, force)
    rng = random.Random(seed)
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
    for split in ("train", "holdout"):
        (workspace / "docs" / split).mkdir()
        mine = [t for t in drawn if t.split == split]
        for number, task in enumerate(mine, 1):
            task.path = f"docs/{split}/{number:0{width}d}-{_slug(task.doc.heading)}.md"
            (workspace / task.path).write_text(task.doc.render(), encoding="utf-8")
            kinds = sorted({r.kind for r in task.doc.rules}, key=RULE_KINDS.index)
            counters.update(kinds)
            lines.append(json.dumps({
                "id": f"{split}-{number:0{width}d}", "agent": AGENT,
                "input": {"path": task.path, "rules": rules_json(task.doc.rules)},
                "split": split,
                "meta": {"edits": task.edits, "rule_kinds": kinds, "scope": scope},
            }, ensure_ascii=False))
    _git(workspace, "init", "-q", "-b", "main")
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-q", "-m", f"docops suite: {tasks} documents, seed {seed}"
         + ("" if scope == "file" else f", {scope} scope"))
    (out / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    generator = {"name": "docops", "tasks": tasks, "seed": seed, "holdout_share": holdout_share,
                 "scope": scope}
    (out / "suite.json").write_text(json.dumps({
        "description": f"docops: {tasks} front matter tasks from seed {seed}, {scope} scope",
        "generator": generator}, indent=2) + "\n", encoding="utf-8")
    edits = Counter(t.edits for t in drawn)
    return {
        "out": str(out), "tasks": tasks, "seed": seed, "holdout_share": holdout_share,
        "scope": scope,
        "splits": {s: sum(t.split == s for t in drawn) for s in ("train", "holdout")},
        "edits": {n: edits[n] for n in range(MAX_EDITS + 1)},
        "rule_kinds": {k: counters[k] for k in RULE_KINDS},
        "redrawn": redrawn,
    }
