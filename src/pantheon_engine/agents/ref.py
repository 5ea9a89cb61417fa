"""``name@N``: an agent, and optionally one of its registered versions, parsed once.

Commands take an agent as ``doc.frontmatter`` (its current version) or
``doc.frontmatter@2`` (that version), and runs record the version that ran the same way.
:meth:`AgentRef.parse` is the one strict parser of what a user typed;
:meth:`AgentRef.name_of` is for refs read back from files the engine wrote, where a reader
must not fail on a version it does not understand (an agent file may declare any version
string).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pantheon_engine.errors import SpecError

_NAME = re.compile(r"[^@\s]+")
_VERSION = re.compile(r"[0-9]+")
HINT = "write NAME or NAME@N, e.g. doc.frontmatter@2"


@dataclass(frozen=True)
class AgentRef:
    """An agent ``name`` and a version ``N`` (None: whichever is current)."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> AgentRef:
        """``name`` or ``name@N`` (surrounding blanks ignored); a :class:`SpecError` names
        the text and what is wrong with it."""
        name, at, version = text.strip().partition("@")
        why = None
        if not name:
            why = "no agent name" + (" before the @" if at else "")
        elif not _NAME.fullmatch(name):
            why = "an agent name has no blanks"
        elif at and not version:
            why = "no version after the @"
        elif at and not _VERSION.fullmatch(version):
            why = f"the version after the @ must be a number, not {version!r}"
        if why is not None:
            raise SpecError(f"{text!r} is not an agent reference: {why}", hint=HINT)
        return cls(name, int(version) if at else None)

    @staticmethod
    def name_of(text: str) -> str:
        """The agent a recorded ref names, whatever follows its ``@``; never raises."""
        return text.partition("@")[0]

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"
