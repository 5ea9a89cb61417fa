"""The independent acceptance check for docops tasks: does the resulting file meet its rules?

This module decides pass or fail from the files alone: the document as it is now and, when
known, as it was before the change. It has its own front matter parser (and date and list
readers) and shares no code with the tools the agent edits with, the scripted solver or the
suite generator, so a bug in any of them cannot make its own work look right. Besides each
rule it checks that nothing else was broken: the body is kept, keys no rule governs keep
their values, and no key appears that no rule asks for.

The ``date`` and ``list`` rules are exact: a rule names a key whose value must be
rewritten, not replaced, so the check requires the value the rule implies.

- ``date``: the value is written YYYY-MM-DD and is the day the original value names.
  :func:`days_named` reads the original: a YAML date or timestamp (its day), ``20240305``,
  ``2024-03-05`` / ``2024/3/5`` / ``2024.03.05`` (year first, optionally with a time),
  ``March 5, 2024``, ``Mar 5 2024``, ``5 March 2024``, ``5th Mar, 2024`` (English month
  names and their three-letter abbreviations), and ``05/03/2024`` style day-month-year or
  month-day-year, which names one day only when just one reading is a real day
  (``25/03/2024``) or both readings agree (``03/03/2024``). ``03/04/2024`` could be the 3rd
  of April or the 4th of March: the check does not guess, it fails the rule with a detail
  naming both readings (the task cannot be graded; the generator never writes such a date).
  An original that names no day the parser knows (``someday``, ``'2024-02-30'``, a two-digit
  year) fails the same way: no value could be confirmed as the right day.
- ``list``: the value is a YAML list holding the original's items in the original order. A
  list keeps its items; a string holds the parts between its commas and semicolons
  (``ops, release`` and ``ops;release`` hold ``ops`` and ``release``, ``ops`` holds
  ``ops``; spaces do not separate items); an empty value holds none; another scalar is one
  item. Scalar items compare as they read (``2024`` and ``'2024'`` are the same item). A
  mapping holds no items the check can name, so the rule fails with that as its detail.

Two rules take their value from the document's body (read by
:mod:`pantheon_engine.docops.body`), and the key must exist and hold exactly that value:

- ``body_line``: the name on the body's line that starts with the rule's marker. Exactly
  one such name must be found: no marker line, or lines naming different people, fail the
  rule with a detail saying so (there is no one value to require).
- ``changelog_date``: the newest day among the entries listed under the rule's section
  heading, written YYYY-MM-DD. Every entry's date is read as ``date`` reads an original
  (:func:`days_named`); a missing section, an empty one, or an entry whose date names no
  single day fails the rule (the newest day cannot be confirmed).

The original value is the key's value in the text before the change; when that has no such
key, the value of the key a ``renamed`` rule or the ``lowercase_keys`` rule turns into it
(one candidate only). With no text before, no readable text before, or no original value
(a key the change added, which the preservation check reports), only the form is checked
(any real YYYY-MM-DD day, any list): there is nothing to compare with, and guessing a day
or items would make the verdict depend on the guess.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml
from pydantic import BaseModel, Field, model_validator

from pantheon_engine.docops.body import (
    entry_date_text,
    marker_names,
    prose_lines,
    section_entries,
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

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = r"(?:(?:[Tt]|\s+)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")
_ORDINAL = r"(?:st|nd|rd|th)?"
_MONTH_FIRST = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2})" + _ORDINAL + r",?\s+(\d{4})")
_DAY_FIRST = re.compile(r"(\d{1,2})" + _ORDINAL + r"\.?\s+(?:of\s+)?([A-Za-z]+)\.?,?\s+(\d{4})")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_MONTHS = {**{name: n for n, name in enumerate(_MONTH_NAMES, 1)},
           **{name[:3]: n for n, name in enumerate(_MONTH_NAMES, 1)}, "sept": 9}
_LIST_SEPARATORS = re.compile(r"[,;]")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$")


class RuleResult(BaseModel):
    label: str
    text: str
    ok: bool
    detail: str = ""
    #: the share of the rule's requirements met, 0 to 1 (1 when ``ok``): a lowercase rule
    #: over two keys with one fixed is 0.5, a rename whose old key is gone but whose new
    #: key does not hold the value yet is 0.5; every other rule is met or not
    progress: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _met_is_whole(self) -> RuleResult:
        if self.ok:  # also for reports written before progress was recorded
            self.progress = 1.0
        return self


class CheckReport(BaseModel):
    """The verdict on one document: every rule's result and what else broke."""

    passed: bool
    rules: list[RuleResult]
    broken: list[str] = []  # things outside the rules that the change broke
    error: str | None = None  # the document could not be read as Markdown with front matter

    @property
    def progress(self) -> float:
        """The share of the rules' requirements met (0 for an unreadable document; a
        document without rules that reads is 1), ignoring what else the change broke."""
        if self.error:
            return 0.0
        if not self.rules:
            return 1.0
        return sum(r.progress for r in self.rules) / len(self.rules)

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
    for line in prose_lines(body):
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


def _day(year: str | int, month: str | int, day: str | int) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def days_named(value: Any) -> tuple[dt.date, ...]:
    """The days a front matter value can be read as naming: none, one, or (ambiguous) two.

    See the module docstring for the spellings read. A timestamp names its date as written
    (its time and zone are dropped); booleans, numbers other than ``YYYYMMDD``, lists and
    mappings name no day.
    """
    if isinstance(value, dt.datetime):
        return (value.date(),)
    if isinstance(value, dt.date):
        return (value,)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ()
    text = str(value).strip()
    days: list[dt.date | None] = []
    if match := _YEAR_FIRST.fullmatch(text):
        days = [_day(match[1], match[3], match[4])]
    elif match := _COMPACT.fullmatch(text):
        days = [_day(match[1], match[2], match[3])]
    elif match := _YEAR_LAST.fullmatch(text):
        days = [_day(match[4], match[3], match[1]), _day(match[4], match[1], match[3])]
    elif match := _MONTH_FIRST.fullmatch(text):
        month = _MONTHS.get(match[1].lower())
        days = [_day(match[3], month, match[2]) if month else None]
    elif match := _DAY_FIRST.fullmatch(text):
        month = _MONTHS.get(match[2].lower())
        days = [_day(match[3], month, match[1]) if month else None]
    return tuple(sorted({d for d in days if d is not None}))


def items_held(value: Any) -> list[Any] | None:
    """The items a front matter value holds, in order (None: a mapping, no items to name)."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return None
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in _LIST_SEPARATORS.split(value) if part.strip()]
    return [value]


def _item_key(item: Any) -> Any:
    """What an item is compared by: a scalar by how it reads, anything else by its value."""
    if item is None or isinstance(item, str | int | float | bool | dt.date):
        return ("scalar", scalar_text(item))
    return ("value", item)


def _flow(items: list[Any]) -> str:
    return yaml.safe_dump(items, default_flow_style=True, allow_unicode=True,
                          width=10_000).strip()


def _original(key: str, rules: list[Rule], before: Document | None) -> tuple[str, Any] | None:
    """The key (in the text before) and value that ``key`` holds after the change, if any.

    The key itself, or the one a ``renamed`` rule (or ``lowercase_keys``) turns into it;
    None when there is no text before, or no single such key.
    """
    if before is None:
        return None
    meta = before.meta
    if key in meta:
        return key, meta[key]
    lowercase = any(isinstance(r, LowercaseKeys) for r in rules)
    sources = {r.key for r in rules if isinstance(r, KeyRenamed) and r.key in meta
               and (r.to == key or (lowercase and r.to.lower() == key))}
    if not sources and lowercase:
        sources = {k for k in meta if k.lower() == key}
    if len(sources) != 1:
        return None
    source = sources.pop()
    return source, meta[source]


def _date_verdict(key: str, value: Any, original: tuple[str, Any] | None) -> tuple[bool, str]:
    if not is_date(value):
        return False, f"`{key}` is {scalar_text(value)!r}, not YYYY-MM-DD"
    if original is None:
        return True, ""
    source, old = original
    got = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    days = days_named(old)
    if not days:
        return False, (f"the original `{source}` value {scalar_text(old)!r} names no day the "
                       f"check can read, so `{key}` cannot be confirmed")
    if len(days) > 1:
        readings = " or ".join(d.isoformat() for d in days)
        return False, (f"the original `{source}` value {scalar_text(old)!r} is ambiguous "
                       f"({readings}); the check does not guess which day it names")
    if got != days[0]:
        return False, f"`{key}` is {got.isoformat()}, the original names {days[0].isoformat()}"
    return True, ""


def _list_verdict(key: str, value: Any, original: tuple[str, Any] | None) -> tuple[bool, str]:
    if not isinstance(value, list):
        return False, f"`{key}` is a {type(value).__name__}, not a list"
    if original is None:
        return True, ""
    source, old = original
    items = items_held(old)
    if items is None:
        return False, (f"the original `{source}` value is a mapping: the check cannot tell "
                       f"which items `{key}` should hold")
    if [_item_key(i) for i in value] != [_item_key(i) for i in items]:
        return False, (f"`{key}` holds {_flow(value)}, the original holds {_flow(items)} "
                       "(the same items, in the same order)")
    return True, ""


def body_name(body: str, marker: str) -> tuple[str | None, str]:
    """The one name the body's ``marker`` lines give, or None and why there is none."""
    names = sorted(set(marker_names(body, marker)))
    if not names:
        return None, f"no body line starts with {marker!r}"
    if len(names) > 1:
        return None, f"the {marker!r} lines name several people: {', '.join(names)}"
    return names[0], ""


def newest_entry_day(body: str, section: str) -> tuple[dt.date | None, str]:
    """The newest day listed under the ``section`` heading, or None and why there is none."""
    entries = section_entries(body, section)
    if entries is None:
        return None, f"the body has no {section!r} heading"
    if not entries:
        return None, f"the {section!r} section lists no entries"
    days = []
    for entry in entries:
        written = entry_date_text(entry)
        named = days_named(written) if written is not None else ()
        if len(named) != 1:
            return None, (f"the {section!r} entry {entry!r} names no single day, so the "
                          "newest cannot be confirmed")
        days.append(named[0])
    return max(days), ""


def _body_value_verdict(rule: BodyLine | ChangelogDate, meta: dict[str, Any],
                        body: str) -> tuple[bool, str]:
    if isinstance(rule, BodyLine):
        name, why = body_name(body, rule.marker)
        if name is None:
            return False, why
        if rule.key not in meta:
            return False, f"`{rule.key}` is missing; the body names {name!r}"
        got = meta[rule.key]
        if not isinstance(got, str) or got != name:
            return False, f"`{rule.key}` is {scalar_text(got)!r}, the body names {name!r}"
        return True, ""
    day, why = newest_entry_day(body, rule.section)
    if day is None:
        return False, why
    if rule.key not in meta:
        return False, f"`{rule.key}` is missing; the newest {rule.section!r} entry is {day}"
    got = meta[rule.key]
    if not is_date(got):
        return False, f"`{rule.key}` is {scalar_text(got)!r}, not YYYY-MM-DD"
    written = got if isinstance(got, dt.date) else dt.date.fromisoformat(got)
    if written != day:
        return False, (f"`{rule.key}` is {written.isoformat()}, the newest {rule.section!r} "
                       f"entry is {day.isoformat()}")
    return True, ""


def _rule_result(rule: Rule, doc: Document, before: Document | None,
                 rules: list[Rule]) -> RuleResult:
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
            ok, detail = _date_verdict(rule.key, meta[rule.key],
                                       _original(rule.key, rules, before))
    elif isinstance(rule, ListValue):
        if rule.key in meta:
            ok, detail = _list_verdict(rule.key, meta[rule.key],
                                       _original(rule.key, rules, before))
    elif isinstance(rule, BodyLine | ChangelogDate):
        ok, detail = _body_value_verdict(rule, meta, doc.body)
    elif isinstance(rule, TitleFromHeading):
        heading = first_heading(doc.body)
        if heading is None:
            ok, detail = False, "the document has no `# ` heading"
        else:
            ok = scalar_text(meta.get("title")) == heading and "title" in meta
            detail = f"title should be {heading!r}"
    return RuleResult(label=rule.label, text=rule.text(), ok=ok, detail="" if ok else detail,
                      progress=1.0 if ok else _progress(rule, meta, before))


def _progress(rule: Rule, meta: dict[str, Any], before: Document | None) -> float:
    """The share of an unmet rule's requirements that the document meets already.

    ``lowercase_keys``: of the keys that were not lowercase before or are not now, those
    that no longer appear so; ``renamed``: the old key gone and the new one holding the old
    value, half each. Any other rule is one requirement: unmet, 0.
    """
    if isinstance(rule, LowercaseKeys):
        upper_now = {k for k in meta if k != k.lower()}
        upper_before = {k for k in (before.meta if before is not None else {})
                        if k != k.lower()}
        fixed = len(upper_before - upper_now)
        return fixed / (fixed + len(upper_now)) if upper_now else 0.0
    if isinstance(rule, KeyRenamed) and before is not None and rule.key in before.meta:
        gone = rule.key not in meta
        moved = rule.to in meta and meta[rule.to] == before.meta[rule.key]
        return (gone + moved) / 2
    return 0.0


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
        elif isinstance(rule, BodyLine | ChangelogDate):
            may_add.add(rule.key)
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
    """Grade a document against its rules (and, given the text before, what else changed).

    Without ``before`` (or when it cannot be read) there is no original value, so the
    ``date`` and ``list`` rules check the form only; see the module docstring.
    """
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
    results = [_rule_result(rule, doc, prior, rules) for rule in rules]
    broken = _broken(rules, doc, prior) if prior is not None else []
    return CheckReport(passed=all(r.ok for r in results) and not broken, rules=results,
                       broken=broken)
