"""One run as the room's viewer shows it: its nodes with status and error, their artifact
files, and the change it made as a diff (``pantheon runs show``).

It reads a run bundle (see docs/artifacts.md) with the same tolerant readers as the
morning summary (:mod:`pantheon_engine.night.summary_read`) and lists a node's files in
the order the viewer does (:func:`pantheon_engine.night.triage.artifact_files`), so the
shell and the room say the same thing about a run.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pantheon_engine.atomic import read_dict
from pantheon_engine.errors import ConfigError
from pantheon_engine.night.lookup import require_artifacts
from pantheon_engine.night.summary_read import (
    agent_of,
    change_of,
    input_title,
    node_statuses,
    reason_of,
    text_or_none,
)
from pantheon_engine.night.triage import artifact_files

__all__ = ["NodeDetail", "RunDetail", "read_run"]

_SHOWN = 5  # run ids named in an error


class NodeDetail(BaseModel):
    node: str
    agent: str
    status: str
    error_kind: str | None = None
    error: str | None = None  # the whole error text (error.json, run.json, FAILED.json)
    hint: str | None = None
    files: list[str] = Field(default_factory=list)  # in the viewer's order


class RunDetail(BaseModel):
    """What ``pantheon runs show`` prints (and ``--json`` gives as it is)."""

    run_id: str
    folder: str  # the run's folder, as given under the artifacts folder
    flow: str
    title: str | None = None  # the input's title, else its path
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    night_id: str | None = None
    job_id: int | None = None
    workspace: str | None = None
    branch: str | None = None
    commit: str | None = None
    failed_node: str | None = None
    error_kind: str | None = None
    files: list[str] = Field(default_factory=list)  # the run's own files (run.json, …)
    nodes: list[NodeDetail] = Field(default_factory=list)
    diff: str | None = None  # the change the run made, whole
    diff_source: str | None = None  # a diff.patch (relative to artifacts) or the git diff


def _run_ids(root: Path) -> list[str]:
    try:
        return sorted(p.name for p in (root / "runs").iterdir() if p.is_dir())
    except OSError:
        return []


def _unknown(root: Path, run_id: str) -> ConfigError:
    """No run ``run_id``: say what there is (similar ids, else the newest)."""
    ids = _run_ids(root)
    if not ids:
        return ConfigError(f"no run {run_id}: no run has been made in {root} yet",
                           hint="pantheon run FLOW --input FILE, or pantheon night")
    close = ([i for i in ids if len(run_id) >= 4 and run_id in i]
             or difflib.get_close_matches(run_id, ids, n=3))
    if close:
        hint = f"did you mean {', '.join(close[:_SHOWN])}?"
    else:
        hint = f"the newest runs: {', '.join(ids[-_SHOWN:])}"
    return ConfigError(f"no run {run_id or repr(run_id)} in {root / 'runs'}", hint=hint)


def _merge_output(run_dir: Path, nodes: list[str]) -> dict[str, Any]:
    for node in nodes:
        out = read_dict(run_dir / node / "output.json") or {}
        if text_or_none(out.get("branch")) and text_or_none(out.get("commit")):
            return out
    return {}


def read_run(artifacts: Path | str, run_id: str) -> RunDetail:
    """The run ``run_id`` of ``artifacts``; :class:`ConfigError` (exit 2) when the folder
    or the run does not exist, naming runs that do."""
    root = require_artifacts(artifacts)
    plain = bool(run_id) and "/" not in run_id and run_id not in (".", "..")
    run_dir = root / "runs" / run_id
    meta = read_dict(run_dir / "run.json") if plain else None
    if meta is None:
        if plain and run_dir.is_dir():
            raise ConfigError(f"run {run_id}: {run_dir / 'run.json'} is missing or unreadable",
                              hint="a run that is starting writes it first: try again")
        raise _unknown(root, run_id)
    statuses = node_statuses(run_dir, meta)
    listed = meta.get("nodes")
    order = [n for n in listed if n in statuses] if isinstance(listed, dict) else []
    order += [n for n in statuses if n not in order]
    nodes = []
    for node in order:
        error = read_dict(run_dir / node / "error.json") or {}
        failed = statuses[node] == "failed"
        nodes.append(NodeDetail(
            node=node,
            agent=agent_of(meta, run_dir, node),
            status=statuses[node],
            error_kind=text_or_none(error.get("error_kind"))
            or (text_or_none(meta.get("error_kind")) if meta.get("failed_node") == node
                else None),
            error=reason_of(run_dir, meta, node) if failed else None,
            hint=text_or_none(error.get("hint")),
            files=[p.name for p in artifact_files(root, run_id, node)],
        ))
    merge = _merge_output(run_dir, order)
    commit = text_or_none(merge.get("commit"))
    change = change_of(run_dir, meta, commit)
    seconds = meta.get("seconds")
    job_id = meta.get("job_id")
    return RunDetail(
        run_id=run_id,
        folder=str(run_dir),
        flow=text_or_none(meta.get("flow")) or "unknown",
        title=input_title(meta.get("input")),
        status=text_or_none(meta.get("status")) or "running",
        started_at=text_or_none(meta.get("started_at")),
        finished_at=text_or_none(meta.get("finished_at")),
        seconds=float(seconds) if isinstance(seconds, int | float)
        and not isinstance(seconds, bool) else None,
        night_id=text_or_none(meta.get("night_id")),
        job_id=job_id if isinstance(job_id, int) and not isinstance(job_id, bool) else None,
        workspace=text_or_none(meta.get("workspace")),
        branch=text_or_none(merge.get("branch")) or text_or_none(meta.get("branch")),
        commit=commit,
        failed_node=text_or_none(meta.get("failed_node")),
        error_kind=text_or_none(meta.get("error_kind")),
        files=sorted(p.name for p in run_dir.iterdir() if p.is_file()),
        nodes=nodes,
        diff=change.diff if change is not None else None,
        diff_source=change.source if change is not None else None,
    )
