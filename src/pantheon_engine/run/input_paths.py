"""The paths a flow input names, checked in the user's workspace before anything runs.

An input can fit its model and still name a document outside the workspace, one that does
not exist, or a folder where a file belongs. Left alone, that surfaces hours later as a
failed run whose error names a run's worktree, not the user's folder. ``queue add``,
``run``, ``suite check`` and the room's queue action all check inputs here first, so each
refuses the same inputs with the same words: the field, the path as written and the
workspace it was looked up in.

Which fields are paths is known per input model (:data:`PATH_FIELDS`, subclasses
included); an agent whose input model is not listed names no paths we can check.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel

from pantheon_engine.agents.io import DocTask, Spec
from pantheon_engine.errors import SpecError, WorkspaceError
from pantheon_engine.tools.workspace import resolve_in_workspace, workspace_root

__all__ = [
    "MARKDOWN_SUFFIXES",
    "PATH_FIELDS",
    "PathField",
    "PathProblem",
    "check_input_paths",
    "input_path_problems",
]

MARKDOWN_SUFFIXES = (".md", ".markdown")

PathKind = Literal["file", "folder", "any"]


@dataclass(frozen=True)
class PathField:
    """One input field that names a path relative to the workspace.

    ``many``: the field is a list of paths. ``must_exist``: the path must be there when
    the job is queued (a file a change will create need not). ``suffixes``: the file kinds
    the agent works on (empty: any).
    """

    field: str
    kind: PathKind = "file"
    must_exist: bool = True
    suffixes: tuple[str, ...] = ()
    many: bool = False


#: the path fields of each known input model (a subclass, such as ``Plan``, inherits them)
PATH_FIELDS: dict[type[BaseModel], tuple[PathField, ...]] = {
    DocTask: (PathField("path", suffixes=MARKDOWN_SUFFIXES),),
    Spec: (PathField("files", must_exist=False, many=True), PathField("tests", kind="any")),
}


@dataclass(frozen=True)
class PathProblem:
    """One path of an input that does not suit the workspace; ``field`` is dotted
    (``files.1``) as in a field problem."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _fields(models: Iterable[type[BaseModel]]) -> list[PathField]:
    found: dict[PathField, None] = {}
    for model in models:
        for known, fields in PATH_FIELDS.items():
            if issubclass(model, known):
                found.update(dict.fromkeys(fields))
    return list(found)


def _values(data: Mapping[str, Any], spec: PathField) -> list[tuple[str, str]]:
    """(dotted field, path) for each string the field holds; other types are the input
    model's business and are skipped here."""
    value = data.get(spec.field)
    if spec.many:
        items = value if isinstance(value, list) else []
        return [(f"{spec.field}.{i}", v) for i, v in enumerate(items) if isinstance(v, str)]
    return [(spec.field, value)] if isinstance(value, str) else []


def _refusal(exc: WorkspaceError) -> str:
    """The reason of a confinement refusal without its ``path '…' refused:`` prefix."""
    return exc.message.partition(" refused: ")[2] or exc.message


def _problem(root: Path, spec: PathField, value: str) -> str | None:
    """What is wrong with one path (``None``: it suits)."""
    try:
        real = resolve_in_workspace(root, value)
    except WorkspaceError as exc:
        return f"{value!r} is refused: {_refusal(exc)}"
    if not os.path.lexists(real):
        if spec.must_exist:
            return f"{value!r} does not exist in the workspace {root}"
        return None
    if spec.kind == "file" and not real.is_file():
        return f"{value!r} is not a file in the workspace {root}"
    if spec.kind == "folder" and not real.is_dir():
        return f"{value!r} is not a folder in the workspace {root}"
    if spec.suffixes and PurePosixPath(value).suffix.lower() not in spec.suffixes:
        kind = "a Markdown document" if spec.suffixes == MARKDOWN_SUFFIXES else "a file"
        return (f"{value!r} in the workspace {root} is not {kind} "
                f"({', '.join(spec.suffixes)})")
    return None


def input_path_problems(models: Iterable[type[BaseModel]], data: Mapping[str, Any],
                        workspace: Path | str) -> list[PathProblem]:
    """Every path field of ``data`` (for the input ``models``) that does not suit the
    workspace: outside it, missing, the wrong kind of file. Empty: every path suits."""
    try:
        root = workspace_root(workspace)
    except WorkspaceError:
        return [PathProblem("workspace", f"{os.fspath(workspace)!r} is not an existing folder")]
    found: list[PathProblem] = []
    for spec in _fields(models):
        for field, value in _values(data, spec):
            message = _problem(root, spec, value)
            if message is not None:
                found.append(PathProblem(field, message))
    return found


def check_input_paths(models: Iterable[type[BaseModel]], data: Mapping[str, Any],
                      workspace: Path | str, *, source: str = "input",
                      hint: str | None = None) -> None:
    """Raise :class:`SpecError` naming ``source``, every path that does not suit and the
    workspace; return quietly when every path suits."""
    found = input_path_problems(models, data, workspace)
    if found:
        raise SpecError(f"{source}: " + "; ".join(map(str, found)), hint=hint or (
            "paths in an input are relative to its workspace; fix the path, or point "
            "\"workspace\" at the folder that holds it"))
