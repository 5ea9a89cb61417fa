"""Fan-out: one job per file that a glob matches, all sharing one input (house rules, say).

``pantheon queue add docops --rules rules.yaml --each 'docs/**/*.md'`` comes here. Each
job's input is the shared part plus ``{"path": <file relative to the workspace>,
"workspace": <the workspace, absolute>}``. Everything is checked before anything is
queued: the glob must match, every file must stay inside the workspace (the same
confinement the tools apply later), a flow that edits documents gets only Markdown files,
and every input must fit the flow's entry agent. Then all jobs go in one transaction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pantheon_engine.agents.io import DocTask
from pantheon_engine.docops.rules import load_rules_file, rules_json
from pantheon_engine.errors import SpecError, WorkspaceError
from pantheon_engine.night.jobqueue import Job, NewJob, default_queue_path
from pantheon_engine.night.queue_open import Location, open_queue
from pantheon_engine.night.specs import FlowInput, load_input
from pantheon_engine.tools.workspace import resolve_in_workspace, workspace_root

__all__ = [
    "MARKDOWN_SUFFIXES",
    "FanOut",
    "fan_out",
    "match_files",
    "queue_each",
    "required_suffixes",
    "shared_input",
]

MARKDOWN_SUFFIXES = (".md", ".markdown")
_SHOWN = 10  # files named in an error before "and N more"

#: keys that fan-out sets for every job; a shared input must leave them out
_PER_FILE_KEYS = ("path", "workspace")


@dataclass(frozen=True)
class FanOut:
    """What ``queue_each`` queued: the jobs (one per file, in file order) and the depth."""

    jobs: list[Job]
    files: list[str]
    workspace: Path
    depth: int


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def shared_input(*, rules_file: Path | None = None,
                 input_file: Path | None = None) -> dict[str, Any]:
    """The part every job shares: ``{"rules": [...]}`` from a rules file (YAML or JSON) or
    the JSON object of an input file; at most one of the two; neither: an empty input."""
    if rules_file is not None and input_file is not None:
        raise SpecError("give the shared input once: --rules FILE or --input FILE, not both")
    if rules_file is not None:
        return {"rules": rules_json(load_rules_file(rules_file))}
    if input_file is None:
        return {}
    data = load_input(input_file)
    named = [key for key in _PER_FILE_KEYS if key in data]
    if named:
        raise SpecError(f"{input_file}: the shared input names {', '.join(named)}",
                        hint="--each gives every job its own path, and --workspace the "
                             "folder; leave these keys out of the shared input")
    return data


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") and p not in (".", "..") for p in parts)


def match_files(workspace: Path | str, pattern: str) -> list[str]:
    """Files under ``workspace`` that ``pattern`` matches (``**`` crosses folders), as
    sorted POSIX paths relative to the workspace.

    As in the shell, names starting with a dot are skipped unless the pattern names one.
    A match that leads outside the workspace (``..``, a symlink) is a :class:`SpecError`;
    so is a pattern that matches no file.
    """
    root = workspace_root(workspace)
    text = pattern.strip()
    if not text:
        raise SpecError("--each: the glob is empty", hint="e.g. --each 'docs/**/*.md'")
    if os.path.isabs(text):
        real = os.path.realpath(os.path.dirname(text))
        try:
            inside = os.path.commonpath([str(root), real]) == str(root)
        except ValueError:
            inside = False
        if not inside:
            raise SpecError(f"--each {pattern!r}: the glob leads outside the workspace {root}",
                            hint="write the glob relative to the workspace (--workspace DIR)")
        text = os.path.relpath(os.path.join(real, os.path.basename(text)), root)
    text = text.replace(os.sep, "/")
    hidden_ok = _hidden(PurePosixPath(text).parts)
    try:
        matches = [p for p in root.glob(text) if p.is_file()]
    except (ValueError, NotImplementedError) as exc:
        raise SpecError(f"--each {pattern!r}: not a usable glob: {exc}") from exc
    found: dict[str, None] = {}
    for match in matches:
        rel = PurePosixPath(os.path.normpath(os.path.relpath(match, root)).replace(os.sep, "/"))
        if not hidden_ok and _hidden(rel.parts):
            continue
        try:
            resolve_in_workspace(root, str(rel), must_exist=True)
        except WorkspaceError as exc:
            raise SpecError(f"--each {pattern!r} matches {rel}, outside the workspace {root}: "
                            f"{exc.message}", hint="keep the glob inside the workspace") from None
        found[str(rel)] = None
    if not found:
        raise SpecError(f"--each {pattern!r}: no file in {root} matches",
                        hint="globs are relative to the workspace (--workspace DIR, default "
                             "the current folder); quote them so the shell leaves them alone")
    return sorted(found)


def required_suffixes(flow: FlowInput) -> tuple[str, ...] | None:
    """File suffixes the flow's entry agent works on (Markdown for document agents such
    as ``doc.frontmatter``); ``None``: any file."""
    if any(issubclass(agent.input_model, DocTask) for agent in flow.entry_agents):
        return MARKDOWN_SUFFIXES
    return None


def fan_out(flow: FlowInput, pattern: str, *, shared: dict[str, Any] | None = None,
            workspace: Path | str | None = None, priority: int = 0) -> list[NewJob]:
    """One checked job per matched file; raises :class:`SpecError` (nothing queued) when
    the glob matches nothing, a file does not suit the flow, or an input does not fit."""
    root = workspace_root(workspace if workspace is not None else Path.cwd())
    files = match_files(root, pattern)
    suffixes = required_suffixes(flow)
    if suffixes is not None:
        wrong = [f for f in files if PurePosixPath(f).suffix.lower() not in suffixes]
        if wrong:
            raise SpecError(
                f"--each {pattern!r}: {len(wrong)} of {len(files)} matched files are not "
                f"Markdown ({', '.join(suffixes)}): {_listing(wrong)}",
                hint=f"flow {flow.name!r} ({flow.entry}) edits Markdown documents; narrow the "
                     "glob, e.g. 'docs/**/*.md'")
    base = dict(shared or {})
    jobs = []
    for rel in files:
        data = {**base, "path": rel, "workspace": str(root)}
        flow.check(data, source=f"{rel} (--each {pattern!r})")
        jobs.append(flow.job(data, priority=priority))
    return jobs


def queue_each(artifacts: Path | str, flow: FlowInput, pattern: str, *,
               shared: dict[str, Any] | None = None, workspace: Path | str | None = None,
               priority: int = 0, queue: Location | None = None) -> FanOut:
    """Check every file's job first, then queue them all in one transaction on ``queue``
    (default: the artifacts folder's)."""
    root = workspace_root(workspace if workspace is not None else Path.cwd())
    jobs = fan_out(flow, pattern, shared=shared, workspace=root, priority=priority)
    with open_queue(queue if queue is not None else default_queue_path(artifacts)) as opened:
        added = opened.add_many(jobs)
        depth = opened.depth()
    return FanOut(jobs=added, files=[j.input["path"] for j in jobs], workspace=root,
                  depth=depth)
