"""Values a house rule reads from a document's body rather than from the rule itself.

Part of the independent check (:mod:`pantheon_engine.docops.check` grades with it). The
generator writes bodies with its own code (:mod:`pantheon_engine.docops.documents`), so
the values it writes into a body are read back by code that did not write them. Lines
inside fenced code blocks (```` ``` ````) are never read.

- A *marker line* starts (after optional ``*``/``_`` emphasis) with a marker such as
  ``Maintained by``; the name is the rest of the line without a leading ``:``, emphasis, or
  a sentence's closing ``.``: ``Maintained by Ada Byron.``, ``_Maintained by: Ada Byron_``
  and ``Maintained by **Ada Byron**`` all name ``Ada Byron``.
- A *section* is the list under a heading (``##`` to ``######``) whose text is the section
  name (case and surrounding space aside), up to the next heading. Its *entries* are the
  items of that list (``- `` or ``* ``); an entry's date is what comes before its first
  ``: `` or a spaced dash (`` — ``, `` – ``, `` - ``): ``- March 5, 2024: new section``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_HEADING = re.compile(r"^(#{1,6})[ \t]+(?P<text>.+?)[ \t#]*$")
_ITEM = re.compile(r"^[ \t]*[-*][ \t]+(?P<text>.+?)[ \t]*$")
_ENTRY = re.compile(r"^(?P<date>.+?)(?::[ \t]| [—–-] )")
_EMPHASIS = "*_"


def prose_lines(body: str) -> Iterator[str]:
    """The body's lines outside fenced code blocks."""
    fenced = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def marker_names(body: str, marker: str) -> list[str]:
    """The names on the body's marker lines, in order (one per line that starts with it)."""
    names = []
    for line in prose_lines(body):
        text = line.strip().strip(_EMPHASIS).lstrip()
        if not text.startswith(marker):
            continue
        rest = text[len(marker):]
        if rest and rest[0] not in " \t:":
            continue  # a longer word: "Maintained byline"
        name = rest.lstrip(" \t:").rstrip()
        name = name.removesuffix(".").strip().strip(_EMPHASIS).strip()
        name = name.removesuffix(".").strip()
        if name:
            names.append(name)
    return names


def section_entries(body: str, section: str) -> list[str] | None:
    """The list items under the heading named ``section`` (None: no such heading)."""
    wanted = section.strip().casefold()
    entries: list[str] | None = None
    for line in prose_lines(body):
        heading = _HEADING.match(line)
        if heading is not None:
            if entries is not None:
                break  # the next heading ends the section
            if len(heading.group(1)) >= 2 and heading.group("text").strip().casefold() == wanted:
                entries = []
            continue
        if entries is not None and (item := _ITEM.match(line)):
            entries.append(item.group("text"))
    return entries


def entry_date_text(entry: str) -> str | None:
    """The date an entry starts with, as written (None: the entry has no date part)."""
    match = _ENTRY.match(entry)
    return match.group("date").strip() if match else None
