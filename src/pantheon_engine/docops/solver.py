"""A scripted solver for docops tasks: the tool calls that make a document meet its rules.

It is a demonstrator, not part of the agent: suites use it to count the edits a task
needs, canaries use it to build known-good changes, and tests use it to prove that a task
is solvable through the agent's tools. It never feeds the agent's prompt or grammar.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml

from pantheon_engine.docops.check import (
    body_name,
    first_heading,
    is_date,
    newest_entry_day,
    read_document,
    scalar_text,
)
from pantheon_engine.docops.rules import (
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
)

ToolCallSpec = tuple[str, dict[str, Any]]

_DATE_FORMATS = ("%Y/%m/%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y%m%d",
                 "%Y.%m.%d", "%Y-%m-%dT%H:%M:%S")


def normalise_date(value: Any) -> str | None:
    """A date in one of the common unambiguous spellings, as YYYY-MM-DD (None if unknown)."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = scalar_text(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def as_list_text(value: Any) -> str:
    """A YAML flow list of a comma- or semicolon-separated scalar (``a, b`` -> ``[a, b]``)."""
    items = [part.strip() for part in re.split(r"[,;]", scalar_text(value)) if part.strip()]
    return yaml.safe_dump(items, default_flow_style=True).strip()


def solve(text: str, rules: list[Rule]) -> list[ToolCallSpec]:
    """The ``fm_*`` calls (without ``path``) that bring ``text`` in line with ``rules``."""
    doc = read_document(text)
    meta = dict(doc.meta)
    calls: list[ToolCallSpec] = []

    def rename(old: str, new: str) -> None:
        calls.append(("fm_rename", {"key": old, "new_key": new}))
        meta[new] = meta.pop(old)

    for rule in rules:
        if isinstance(rule, KeyRenamed) and rule.key in meta and rule.to not in meta:
            rename(rule.key, rule.to)
    if any(isinstance(r, LowercaseKeys) for r in rules):
        for key in list(meta):
            if key != key.lower() and key.lower() not in meta:
                rename(key, key.lower())
    for rule in rules:
        if isinstance(rule, KeyAbsent | KeyRenamed) and rule.key in meta:
            calls.append(("fm_delete", {"key": rule.key}))
            meta.pop(rule.key)
    for rule in rules:
        if isinstance(rule, KeyEquals) and (
                rule.key not in meta or scalar_text(meta[rule.key]) != rule.value):
            calls.append(("fm_set", {"key": rule.key, "value": rule.value}))
            meta[rule.key] = rule.value
        elif isinstance(rule, DateValue) and rule.key in meta and not is_date(meta[rule.key]):
            fixed = normalise_date(meta[rule.key])
            if fixed is not None:
                calls.append(("fm_set", {"key": rule.key, "value": fixed}))
                meta[rule.key] = fixed
        elif isinstance(rule, ListValue) and rule.key in meta \
                and not isinstance(meta[rule.key], list):
            listed = as_list_text(meta[rule.key])
            calls.append(("fm_set", {"key": rule.key, "value": listed, "parse": True}))
            meta[rule.key] = yaml.safe_load(listed)
        elif isinstance(rule, TitleFromHeading):
            heading = first_heading(doc.body)
            if heading is not None and scalar_text(meta.get("title")) != heading:
                calls.append(("fm_set", {"key": "title", "value": heading}))
                meta["title"] = heading
        elif isinstance(rule, BodyLine):
            name, _ = body_name(doc.body, rule.marker)
            if name is not None and meta.get(rule.key) != name:
                calls.append(("fm_set", {"key": rule.key, "value": name}))
                meta[rule.key] = name
        elif isinstance(rule, ChangelogDate):
            day, _ = newest_entry_day(doc.body, rule.section)
            current = meta.get(rule.key)
            if day is not None and not (is_date(current) and str(current) == day.isoformat()):
                calls.append(("fm_set", {"key": rule.key, "value": day.isoformat()}))
                meta[rule.key] = day.isoformat()
    return calls
