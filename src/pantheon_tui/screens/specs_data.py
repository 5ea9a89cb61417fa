"""What the Specs screen edits, as plain data: the form's text and the list's prompts.

:class:`SpecForm` is the form as text (what the widgets hold) and converts to and from a
spec file's JSON object; :func:`problem_fields` and :func:`short_error` turn the engine's
findings into what the screen names; :func:`new_prompt` and :func:`entry_prompt` are the
list's entries. They live apart from the screen and are pure functions of their
arguments, so tests check them without an app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rich.text import Text

from pantheon_engine.night.specs import FieldProblem, SpecEntry

__all__ = ["DRAFT_MARK", "FORM_FIELDS", "SpecForm", "entry_prompt", "new_prompt",
           "problem_fields", "short_error"]

DRAFT_MARK = "● "


@dataclass(frozen=True)
class SpecForm:
    """What the form holds, as text: acceptance one item a line, files comma separated."""

    title: str = ""
    scope: str = ""
    acceptance: str = ""
    files: str = ""
    tests: str = ""
    workspace: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SpecForm:
        """The form of a spec's JSON object (lists joined, missing fields blank)."""
        return cls(
            title=_text(data.get("title")),
            scope=_text(data.get("scope")),
            acceptance=_joined(data.get("acceptance"), "\n"),
            files=_joined(data.get("files"), ", "),
            tests=_text(data.get("tests")),
            workspace=_text(data.get("workspace")),
        )

    def to_data(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The spec's JSON object: blank fields left out, other keys of ``extra`` kept."""
        data: dict[str, Any] = {
            "title": self.title.strip(),
            "scope": self.scope.strip(),
            "acceptance": [line.strip() for line in self.acceptance.splitlines()
                           if line.strip()],
            "files": [item.strip() for item in self.files.split(",") if item.strip()],
            "tests": self.tests.strip(),
            "workspace": self.workspace.strip(),
        }
        data = {key: value for key, value in data.items() if value}
        data.update({k: v for k, v in (extra or {}).items() if k not in FORM_FIELDS})
        return data


FORM_FIELDS = tuple(f.name for f in fields(SpecForm))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _joined(value: object, sep: str) -> str:
    if isinstance(value, list):
        return sep.join(_text(item) for item in value)
    return _text(value)


def problem_fields(problems: list[FieldProblem]) -> list[str]:
    """The top-level fields named by ``problems``, once each, in order."""
    found: list[str] = []
    for problem in problems:
        name = problem.field.split(".")[0]
        if name not in found:
            found.append(name)
    return found


def short_error(entry: SpecEntry) -> str:
    """A read error without the absolute path in front (it is in the list already)."""
    error = entry.error or ""
    return error.replace(str(entry.path), entry.name, 1)


def new_prompt(draft: SpecForm | None) -> Text:
    """The list's ``+ new spec`` entry, or the unsaved new spec's title when there is one."""
    if draft is None:
        return Text("+ new spec", style="dim")
    return Text(DRAFT_MARK + (draft.title.strip() or "new spec"), style="italic")


def entry_prompt(entry: SpecEntry, drafted: bool) -> Text:
    """A spec file's list entry: title over file name, or name over read error in red;
    ``drafted`` marks a spec with unsaved edits."""
    mark = DRAFT_MARK if drafted else ""
    if entry.error is not None:
        text = Text(mark + entry.name, style="bold red")
        text.append("\n" + short_error(entry), style="red")
        return text
    text = Text(mark + (entry.title or entry.name), style="bold")
    text.append("\n" + entry.name, style="dim")
    return text
