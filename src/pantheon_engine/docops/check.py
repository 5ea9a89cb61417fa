"""The independent acceptance check for docops tasks: does the resulting file meet its rules?

This module decides pass or fail from the files alone: the document as it is now and, when
known, as it was before the change. It has its own front matter parser and shares no code
with the tools the agent edits with, so a bug in an edit tool cannot make its own work
look right. Besides each rule it checks that nothing else was broken: the body is kept,
keys no rule governs keep their values, and no key appears that no rule asks for.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml
from pydantic import BaseModel

from pantheon_engine.docops.rules import (
    DateValue,
    KeyAbsent,
    KeyEquals,
    KeyRenamed,
    ListValue,
    LowercaseKeys,
    Rule,
    TitleFromHeading,
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$")


class RuleResult(BaseModel):
    label: str
    text: str
    ok: bool
    detail: str = ""


class CheckReport(BaseModel):
    """The verdict on one document: every rule's result and what else broke."""

    passed: bool
    rules: list[RuleResult]
    broken: list[str] = []  # things outside the rules that the change broke
    error: str | None = None  # the document could not be read as Markdown with front matter

    @property
    def failed_labels(self) -> list[str]:
        labels = [r.label for r in self.rules if not r.ok]
        if self.broken:
            labels.append("preserve")
        if self.error:
            labels.append("unreadable")
        return labels


class Document(BaseModel):
    meta: dict[str, Any]
    body: str
    has_front_matter: bool


class UnreadableDocument(ValueError):
    """The text's front matter is not a YAML mapping closed by ``---``."""


def read_document(text: str) -> Document:
    """Front matter (a YAML mapping between ``---`` lines) and body of a Markdown text."""
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return Document(meta={}, body=text, has_front_matter=False)
    rest = text.split("\n", 1)[1]
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip("\r").rstrip() in ("---", "..."):
            block = "\n".join(lines[:index])
            body = "\n".join(lines[index + 1 :])
            break
    else:
        raise UnreadableDocument("the front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load(block)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2024-02-30
        raise UnreadableDocument(f"the front matter is not valid YAML: {exc}") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise UnreadableDocument("the front matter is not a mapping of keys to values")
    return Document(meta={str(k): v for k, v in meta.items()}, body=body,
                    has_front_matter=True)


def first_heading(body: str) -> str | None:
    """The text of the first level-one ATX heading (``# Title``) of a Markdown body."""
    fenced = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            match = _HEADING.match(line)
            if match:
                return match.group(1).strip()
    return None


def scalar_text(value: Any) -> str:
    """How a YAML scalar reads as text (``true``, ``2024-05-01``, ``3``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def is_date(value: Any) -> bool:
    if isinstance(value, dt.datetime):
        return False
    if isinstance(value, dt.date):
        return True
    if isinstance(value, str) and _DATE.match(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


def _rule_result(rule: Rule, doc: Document, before: Document | None) -> RuleResult:
    meta = doc.meta
    ok, detail = True, ""
    if isinstance(rule, LowercaseKeys):
        upper = [k for k in meta if k != k.lower()]
        ok, detail = not upper, f"keys not lowercase: {upper}" if upper else ""
    elif isinstance(rule, KeyAbsent):
        ok, detail = rule.key not in meta, f"`{rule.key}` is still there"
    elif isinstance(rule, KeyEquals):
        got = meta.get(rule.key)
        ok = rule.key in meta and scalar_text(got) == rule.value
        detail = f"`{rule.key}` is {scalar_text(got)!r}" if rule.key in meta else \
            f"`{rule.key}` is missing"
    elif isinstance(rule, KeyRenamed):
        if rule.key in meta:
            ok, detail = False, f"`{rule.key}` is still there"
        elif before is not None and rule.key in before.meta:
            want = before.meta[rule.key]
            ok = rule.to in meta and meta[rule.to] == want
            detail = f"`{rule.to}` should hold the old value {scalar_text(want)!r}"
    elif isinstance(rule, DateValue):
        if rule.key in meta:
            ok = is_date(meta[rule.key])
            detail = f"`{rule.key}` is {scalar_text(meta[rule.key])!r}, not YYYY-MM-DD"
    elif isinstance(rule, ListValue):
        if rule.key in meta:
            ok = isinstance(meta[rule.key], list)
            detail = f"`{rule.key}` is a {type(meta[rule.key]).__name__}, not a list"
    elif isinstance(rule, TitleFromHeading):
        heading = first_heading(doc.body)
        if heading is None:
            ok, detail = False, "the document has no `# ` heading"
        else:
            ok = scalar_text(meta.get("title")) == heading and "title" in meta
            detail = f"title should be {heading!r}"
    return RuleResult(label=rule.label, text=rule.text(), ok=ok, detail="" if ok else detail)


def _governed(rules: list[Rule]) -> tuple[set[str], set[str], set[str], bool]:
    """Keys rules let go (may vanish), keys whose value rules set, keys rules may add."""
    may_vanish: set[str] = set()
    value_set: set[str] = set()
    may_add: set[str] = set()
    lowercase = False
    for rule in rules:
        if isinstance(rule, KeyAbsent):
            may_vanish.add(rule.key)
        elif isinstance(rule, KeyRenamed):
            may_vanish.add(rule.key)
            may_add.add(rule.to)
            value_set.add(rule.to)
        elif isinstance(rule, KeyEquals):
            may_add.add(rule.key)
            value_set.add(rule.key)
        elif isinstance(rule, DateValue | ListValue):
            value_set.add(rule.key)
        elif isinstance(rule, TitleFromHeading):
            may_add.add("title")
            value_set.add("title")
        elif isinstance(rule, LowercaseKeys):
            lowercase = True
    return may_vanish, value_set, may_add, lowercase


def _broken(rules: list[Rule], doc: Document, before: Document) -> list[str]:
    problems = []
    if doc.body.replace("\r\n", "\n") != before.body.replace("\r\n", "\n"):
        problems.append("the document body changed")
    may_vanish, value_set, may_add, lowercase = _governed(rules)
    expected: set[str] = set()
    for key, value in before.meta.items():
        if key in may_vanish:
            continue
        name = key.lower() if lowercase else key
        expected.add(name)
        if name not in doc.meta:
            if key in doc.meta:
                continue  # still under its old name: the lowercase rule reports it
            problems.append(f"key `{key}` was removed" if name == key
                            else f"key `{key}` was removed instead of becoming `{name}`")
        elif name not in value_set and key not in value_set and doc.meta[name] != value:
            problems.append(f"the value of `{name}` changed")
    for key in doc.meta:
        if key not in expected and key not in may_add and key not in before.meta:
            problems.append(f"key `{key}` was added, but no rule asks for it")
    return problems


def check_document(after: str, rules: list[Rule], before: str | None = None) -> CheckReport:
    """Grade a document against its rules (and, given the text before, what else changed)."""
    try:
        doc = read_document(after)
    except UnreadableDocument as exc:
        return CheckReport(passed=False, rules=[], error=str(exc))
    prior = None
    if before is not None:
        try:
            prior = read_document(before)
        except UnreadableDocument:
            prior = None
    results = [_rule_result(rule, doc, prior) for rule in rules]
    broken = _broken(rules, doc, prior) if prior is not None else []
    return CheckReport(passed=all(r.ok for r in results) and not broken, rules=results,
                       broken=broken)
