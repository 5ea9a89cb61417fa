"""Canaries: review items whose right verdict is known, built from docops tasks.

A canary is a document, its house rules and a change to it, exactly as a reviewer sees a
real docops change: a git-style unified diff, a summary in an agent's words and the task
input (path and rules) its prompt is built from. The change comes from the scripted
solver (:func:`pantheon_engine.docops.solver.solve`): applied as it is, it is a known-good
change; about half of the canaries carry one defect instead (a required edit left out, a
wrong value, a key that should be gone kept, or an edit no rule asks for). Every canary is
verified with the independent check: good ones pass :func:`check_document`, bad ones fail
it. Nothing in what the reviewer sees tells a canary from real work.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from pantheon_engine.docops.check import check_document, read_document, scalar_text
from pantheon_engine.docops.rules import (
    DateValue,
    KeyAbsent,
    KeyEquals,
    KeyRenamed,
    ListValue,
    LowercaseKeys,
    Rule,
    TitleFromHeading,
    parse_rules,
    rules_json,
)
from pantheon_engine.docops.solver import ToolCallSpec, solve
from pantheon_engine.errors import ConfigError, PantheonError
from pantheon_engine.tools.frontmatter import (
    FrontMatterError,
    join_front_matter,
    split_front_matter,
)

__all__ = [
    "ALL_DEFECTS",
    "EXTRA_KEYS",
    "WRONG_KEY",
    "Canary",
    "Verdict",
    "apply_calls",
    "generated_canaries",
    "git_diff",
    "load_canaries",
    "make_canary",
    "queue_canaries",
    "suite_canaries",
]

Verdict = Literal["pass", "fail"]

#: how agents sum up a front-matter change; drawn independently of the canary's verdict
SUMMARIES = (
    "front matter updated",
    "applied the house rules",
    "front matter follows the house rules now",
    "updated the front matter keys",
    "done",
)

DEFECTS = ("missing_edit", "wrong_value", "key_kept", "extra_edit")
#: a plausible but wrong change: the right edit made to another key (a value set on a
#: neighbour, a key renamed to a near spelling of its target, another key deleted)
WRONG_KEY = "wrong_key"
ALL_DEFECTS = (*DEFECTS, WRONG_KEY)
#: keys (and values) an ``extra_edit`` adds when no rule asks for them
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("priority", "high"), ("reviewed_by", "ada"), ("category", "misc"))


class Canary(BaseModel):
    """One known-answer review item and how it was made."""

    id: str
    path: str
    rules: list[dict[str, Any]]
    before: str
    after: str
    diff: str
    summary: str
    expected: Verdict
    #: for a bad canary, what is wrong with the change (``missing_edit: fm_set status``)
    defect: str | None = None
    source: str = "generated"

    @property
    def run_input(self) -> dict[str, Any]:
        """The task input the reviewer's prompt is built from, as for a real docops run."""
        return {"path": self.path, "rules": self.rules}

    def answer(self) -> dict[str, Any]:
        """The canary's identity and expected verdict, without the texts (for logs)."""
        return {"id": self.id, "path": self.path, "expected": self.expected,
                "defect": self.defect, "source": self.source}


# --- building blocks ----------------------------------------------------------------------


def apply_calls(text: str, calls: list[ToolCallSpec]) -> str:
    """``text`` after the ``fm_*`` calls, edited as the tools edit a file.

    The same front matter helpers as the tools split and join the text, so the result (and
    its diff) looks exactly like an agent's change. Raises :class:`FrontMatterError` for a
    call the tools would refuse.
    """
    meta, body = split_front_matter(text)
    current: dict[str, Any] = dict(meta or {})
    for name, args in calls:
        key = args["key"]
        if name == "fm_set":
            value: Any = args["value"]
            if args.get("parse"):
                value = yaml.safe_load(value)
            current[key] = value
        elif name == "fm_delete":
            if key not in current:
                raise FrontMatterError(f"fm_delete: no key {key!r}")
            current = {k: v for k, v in current.items() if k != key}
        elif name == "fm_rename":
            new = args["new_key"]
            if key not in current or new in current:
                raise FrontMatterError(f"fm_rename: cannot rename {key!r} to {new!r}")
            current = {(new if k == key else k): v for k, v in current.items()}
        else:
            raise FrontMatterError(f"not a front matter edit: {name}")
    if meta is None and not current:
        return text
    return join_front_matter(current, body)


def git_diff(rel: str, before: str, after: str) -> str:
    """A git-style unified diff of one file, in the form a docops agent's patch has."""
    lines = []
    for line in difflib.unified_diff(before.splitlines(keepends=True),
                                     after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return f"diff --git a/{rel} b/{rel}\n" + "".join(lines) if lines else ""


def _near_miss(value: str) -> str:
    """A plausible but wrong value: a date in another spelling, another capitalisation."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        year, month, day = value.split("-")
        return f"{day}.{month}.{year}"
    if value.lower() != value:
        return value.lower()
    if value:
        return value[:1].upper() + value[1:]
    return "tbd"


def _near_key(key: str, taken: Iterable[str]) -> str | None:
    """A near spelling of ``key`` that is not one of ``taken`` (a plural, a capital)."""
    used = set(taken)
    for candidate in (key + "s" if not key.endswith("s") else key[:-1],
                      key[:1].upper() + key[1:], key.replace("_", "-")):
        if candidate and candidate != key and candidate not in used:
            return candidate
    return None


def _wrong_key_calls(calls: list[ToolCallSpec], rules: list[Rule], meta: dict[str, Any]
                     ) -> list[tuple[str, list[ToolCallSpec]]]:
    """The edit each call makes, made to another key than the one its rule names."""
    governed = {getattr(r, "key", None) for r in rules} | {
        getattr(r, "to", None) for r in rules}
    out: list[tuple[str, list[ToolCallSpec]]] = []
    for index, (name, args) in enumerate(calls):
        key = args["key"]
        others = [k for k in meta if isinstance(k, str) and k != key and k not in governed]
        wrong: ToolCallSpec | None = None
        description = ""
        if name == "fm_set" and others:
            wrong = ("fm_set", {**args, "key": others[0]})
            description = f"wrong_key: {key}'s value written to {others[0]}"
        elif name == "fm_delete" and others:
            wrong = ("fm_delete", {"key": others[-1]})
            description = f"wrong_key: deleted {others[-1]} instead of {key}"
        elif name == "fm_rename":
            near = _near_key(args["new_key"], meta)
            if near is not None:
                wrong = ("fm_rename", {**args, "new_key": near})
                description = f"wrong_key: renamed {key} to {near}, not {args['new_key']}"
        if wrong is not None:
            out.append((description, [*calls[:index], wrong, *calls[index + 1:]]))
    return out


def _defect_calls(kind: str, calls: list[ToolCallSpec], rules: list[Rule], text: str,
                  rng: random.Random, extras: Sequence[tuple[str, str]] = EXTRA_KEYS,
                  ) -> list[tuple[str, list[ToolCallSpec]]]:
    """Candidate bad edit lists of one kind, each with a description of its defect.

    ``extras``: the keys and values an ``extra_edit`` may add."""
    meta = read_document(text).meta
    out: list[tuple[str, list[ToolCallSpec]]] = []
    if kind == "missing_edit" and len(calls) >= 2:
        for index, (name, args) in enumerate(calls):
            out.append((f"missing_edit: {name} {args['key']}", calls[:index] + calls[index + 1:]))
    elif kind == "wrong_value":
        for index, (name, args) in enumerate(calls):
            if name != "fm_set":
                continue
            if args.get("parse"):  # a list written as a plain string
                wrong = {"key": args["key"], "value": scalar_text(meta.get(args["key"]))
                         or args["value"]}
            else:
                wrong = {"key": args["key"], "value": _near_miss(args["value"])}
            if wrong["value"] == args["value"]:
                continue
            bad = [*calls[:index], ("fm_set", wrong), *calls[index + 1:]]
            out.append((f"wrong_value: {args['key']} = {wrong['value']!r}", bad))
    elif kind == "key_kept":
        for index, (name, args) in enumerate(calls):
            if name == "fm_delete":  # set to false / emptied instead of removed
                flag = isinstance(meta.get(args["key"]), bool)
                kept = ("fm_set", {"key": args["key"], "value": "false" if flag else "",
                                   "parse": flag})
                out.append((f"key_kept: {args['key']}",
                            [*calls[:index], kept, *calls[index + 1:]]))
    elif kind == "extra_edit":
        governed = {getattr(r, "key", None) for r in rules} | {
            getattr(r, "to", None) for r in rules} | {"title"}
        untouched = [k for k in meta if k not in governed and k.lower() == k]
        for key in untouched:
            value = scalar_text(meta[key])
            others = [v for v in _OTHER_VALUES.get(key, ()) if v != value]
            if others:
                out.append((f"extra_edit: changed {key}",
                            [*calls, ("fm_set", {"key": key, "value": rng.choice(others)})]))
        for key, value in extras:
            if key not in meta and key not in governed:
                out.append((f"extra_edit: added {key}",
                            [*calls, ("fm_set", {"key": key, "value": value})]))
    elif kind == WRONG_KEY:
        out.extend(_wrong_key_calls(calls, rules, meta))
    rng.shuffle(out)
    return out


def make_canary(canary_id: str, path: str, text: str, rules: list[Rule], *, bad: bool,
                rng: random.Random, source: str = "generated",
                defects: Sequence[str] = DEFECTS,
                extras: Sequence[tuple[str, str]] = EXTRA_KEYS) -> Canary | None:
    """A verified canary from one task, or None when this task cannot give one.

    A task gives none when the solver has nothing to do (no change to review), when the
    solver's change does not pass the check, or (for ``bad``) when no defect can be made
    that the check catches. ``defects``: the kinds of defect to draw from (in a shuffled
    order, the first that gives a change the check fails wins); ``extras``: the keys an
    ``extra_edit`` adds.
    """
    try:
        calls = solve(text, rules)
    except (PantheonError, ValueError):
        return None
    if not calls:
        return None
    try:
        good = apply_calls(text, calls)
    except FrontMatterError:
        return None
    if good == text or not check_document(good, rules, text).passed:
        return None
    after, defect = good, None
    if bad:
        kinds = list(defects)
        rng.shuffle(kinds)
        found = None
        for kind in kinds:
            for description, bad_calls in _defect_calls(kind, calls, rules, text, rng,
                                                        extras):
                try:
                    candidate = apply_calls(text, bad_calls)
                except (FrontMatterError, yaml.YAMLError):
                    continue
                if candidate in (text, good) or check_document(candidate, rules, text).passed:
                    continue
                found = (candidate, description)
                break
            if found:
                break
        if found is None:
            return None
        after, defect = found
    return Canary(id=canary_id, path=path, rules=rules_json(rules), before=text, after=after,
                  diff=git_diff(path, text, after), summary=rng.choice(SUMMARIES),
                  expected="fail" if bad else "pass", defect=defect, source=source)


def _balanced(count: int, rng: random.Random) -> list[bool]:
    """``count`` good/bad flags, half of them bad (rounded down), in a shuffled order."""
    flags = [i % 2 == 1 for i in range(count)]
    rng.shuffle(flags)
    return flags


# --- a small generator of docops tasks ----------------------------------------------------

_TITLES = ("Install guide", "Release notes", "Getting started", "Backup policy", "API overview",
           "Team handbook", "Incident review", "Style guide", "Deployment checklist",
           "Roadmap", "Security notes", "On-call rota")
_AUTHORS = ("ada", "grace", "linus", "margaret", "ken", "barbara")
_TAGS = ("ops, backup", "api; reference", "onboarding, team", "release, notes", "security")
_DATES = ("2024/05/01", "May 3, 2024", "12 June 2023", "2023.11.20", "2024-02-29")
_STATUSES = ("draft", "review", "published", "archived")
#: other plausible values of keys, for an edit that touches what no rule governs
_OTHER_VALUES: dict[str, tuple[str, ...]] = {
    "author": _AUTHORS, "status": _STATUSES, "date": ("2024-01-15", "2023-09-30"),
    "tags": ("misc", "general"),
}
_BODIES = (
    "This page explains what to do and when.\n",
    "Read this before you change anything.\n\n## Steps\n\n1. Check.\n2. Act.\n",
    "Questions go to the team channel.\n",
)


def _generated_task(rng: random.Random, index: int) -> tuple[str, str, list[Rule]]:
    """A Markdown file with untidy front matter and 2-4 house rules that need edits."""
    heading = rng.choice(_TITLES)
    slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
    path = f"docs/{slug}-{index:03d}.md"
    upper = rng.random() < 0.5
    lines: list[str] = []
    candidates: list[Rule] = []
    title = heading if rng.random() < 0.5 else heading.lower()
    lines.append(f"{'Title' if upper else 'title'}: {title}")
    if upper:
        case_rules: list[Rule] = [LowercaseKeys(), KeyRenamed(key="Title", to="title")]
        candidates.append(rng.choice(case_rules))
    if title != heading:
        candidates.append(TitleFromHeading())
    if rng.random() < 0.6:
        lines.append("draft: true")
        candidates.append(KeyAbsent(key="draft"))
    status = rng.choice(_STATUSES)
    lines.append(f"status: {status}")
    if status != "published":
        candidates.append(KeyEquals(key="status", value="published"))
    date = rng.choice(_DATES)
    lines.append(f"date: {date}")
    if "-" not in date:
        candidates.append(DateValue(key="date"))
    if rng.random() < 0.6:
        lines.append(f"tags: {rng.choice(_TAGS)}")
        candidates.append(ListValue(key="tags"))
    lines.append(f"author: {rng.choice(_AUTHORS)}")
    if rng.random() < 0.3:
        candidates.append(KeyRenamed(key="author", to="owner"))
    if rng.random() < 0.3:
        lines.append(f"legacy_id: {rng.randint(100, 999)}")
        candidates.append(KeyAbsent(key="legacy_id"))
    rules = rng.sample(candidates, k=min(len(candidates), rng.randint(2, 4)))
    if rng.random() < 0.3:  # a rule the file already meets, as real rule sets have
        rules.append(KeyAbsent(key="obsolete"))
    text = "---\n" + "\n".join(lines) + f"\n---\n# {heading}\n\n{rng.choice(_BODIES)}"
    return path, text, rules


def generated_canaries(seed: int = 0, count: int = 40) -> list[Canary]:
    """``count`` canaries (half bad) from documents generated in memory from ``seed``."""
    if count < 1:
        raise ConfigError(f"canary count must be at least 1, got {count}")
    rng = random.Random(seed)
    flags = _balanced(count, rng)
    canaries: list[Canary] = []
    attempt = 0
    while len(canaries) < count and attempt < count * 20:
        path, text, rules = _generated_task(rng, attempt)
        bad = flags[len(canaries)]
        canary = make_canary(f"gen{seed}-{attempt:03d}", path, text, rules, bad=bad, rng=rng,
                             source=f"generated(seed={seed})")
        attempt += 1
        if canary is not None:
            canaries.append(canary)
    return canaries


# --- canaries from a task suite -----------------------------------------------------------


def _task_input(task: Any) -> dict[str, Any]:
    data = getattr(task, "input", task)
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return dict(data) if isinstance(data, Mapping) else {}


def suite_canaries(folder: Path, *, seed: int = 0, split: str = "train",
                   loader: Callable[[Path], Any] | None = None) -> list[Canary]:
    """One canary per usable task of a suite's split (half of them bad).

    Each task's document is read from the suite's workspace, as a run of that task would
    find it.
    """
    if loader is None:
        from pantheon_engine.evals.suite import load_suite

        loader = load_suite
    suite = loader(Path(folder))
    tasks = list(suite.split(split))
    workspace = Path(suite.workspace)
    rng = random.Random(seed)
    flags = _balanced(len(tasks), rng)
    canaries: list[Canary] = []
    for index, (task, bad) in enumerate(zip(tasks, flags, strict=True)):
        data = _task_input(task)
        path = data.get("path")
        if not isinstance(path, str) or "rules" not in data:
            continue
        try:
            rules = parse_rules(data["rules"], source=f"{folder} task {index}")
            text = (workspace / path).read_text(encoding="utf-8")
        except (PantheonError, OSError, UnicodeDecodeError):
            continue
        task_id = str(getattr(task, "id", None) or index)
        canary = make_canary(f"{Path(folder).name}-{task_id}", path, text, rules, bad=bad,
                             rng=rng, source=f"suite {folder} ({split})")
        if canary is not None:
            canaries.append(canary)
    return canaries


def queue_canaries(inputs: Iterable[Mapping[str, Any]], *, seed: int = 0) -> list[Canary]:
    """Canaries on the documents the night itself works on: for each docops job (its
    workspace, path and rules) the solver's change and the same change with one defect,
    each verified by the check, shuffled by ``seed``.

    The reviewer then meets canaries from the very distribution of its real items: the same
    documents, paths, rules and prompt. A document that already follows its rules gives
    none (there is no change to review).
    """
    rng = random.Random(seed)
    canaries: list[Canary] = []
    seen: set[tuple[str, str]] = set()
    for data in inputs:
        path, workspace = data.get("path"), data.get("workspace")
        if not isinstance(path, str) or not isinstance(workspace, str) or "rules" not in data:
            continue
        if (workspace, path) in seen:
            continue
        seen.add((workspace, path))
        try:
            rules = parse_rules(data["rules"], source=f"job input {path}")
            text = (Path(workspace) / path).read_text(encoding="utf-8")
        except (PantheonError, OSError, UnicodeDecodeError):
            continue
        stem = re.sub(r"[^A-Za-z0-9]+", "-", Path(path).stem).strip("-") or "doc"
        for bad in (False, True):
            canary = make_canary(f"doc-{stem}-{'bad' if bad else 'good'}", path, text, rules,
                                 bad=bad, rng=rng, source="the night's documents")
            if canary is not None:
                canaries.append(canary)
    rng.shuffle(canaries)
    return canaries


class CanarySource(BaseModel):
    """Where a night's canaries come from: a suite folder, or documents generated in memory."""

    suite: Path | None = None
    split: str = "train"
    seed: int = 0
    count: int = Field(default=40, ge=2)


#: a pool from the night's own documents is used when it holds at least this many items
MIN_QUEUE_POOL = 6


def load_canaries(source: CanarySource,
                  jobs: Iterable[Mapping[str, Any]] = ()) -> list[Canary]:
    """The canary pool of a night; a clear error when the source gives none.

    Without a suite, the night's own queued documents (``jobs``: the queued jobs' inputs)
    give the pool when they yield enough good and bad items; otherwise it is generated.
    """
    from_queue = queue_canaries(jobs, seed=source.seed) if source.suite is None else []
    if len(from_queue) >= MIN_QUEUE_POOL and {c.expected for c in from_queue} == {
            "pass", "fail"}:
        canaries = from_queue
        where = "the night's documents"
    elif source.suite is None:
        canaries = generated_canaries(source.seed, source.count)
        where = "the built-in generator"
    else:
        if not Path(source.suite).is_dir():
            raise ConfigError(f"--canaries {source.suite}: not a task suite folder",
                              hint="give a suite folder (tasks.jsonl and its workspace), or "
                              "leave --canaries out to generate canaries")
        canaries = suite_canaries(Path(source.suite), seed=source.seed, split=source.split)
        where = f"suite {source.suite} ({source.split})"
    if not any(c.expected == "fail" for c in canaries) or not any(
            c.expected == "pass" for c in canaries):
        raise ConfigError(f"no usable canaries from {where}: a pool needs good and bad items",
                          hint="canaries are built from docops tasks whose rules need edits")
    return canaries
