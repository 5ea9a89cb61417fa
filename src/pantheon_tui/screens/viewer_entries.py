"""What the artifact viewer lists: a node's files, a run's files, a job, a run's document.

Everything here is plain data and blocking reads (run it in a thread): :class:`Entry` is
one item of the viewer's list, either a file to read or text made here:

- :func:`node_entries` and :func:`run_entries`: the files of one node, or of every node of
  a run (error first, the failed node first);
- :func:`job_entry`: a job of the queue as JSON (its state, error and input), for a job
  that has no run yet or to say what the run was for;
- :func:`document_entries`: for a run of a document agent (docops), the document as the
  run found it and as the agent left it: on the run's branch when it merged, in its
  worktree while that is there, else the agent's successful edits replayed on the first
  (as ``pantheon fix`` rebuilds it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from pantheon_engine.agents.io import DocTask
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import read_dict
from pantheon_engine.errors import PantheonError
from pantheon_engine.night.jobqueue import Job
from pantheon_engine.night.triage import artifact_files

__all__ = ["Entry", "document_entries", "job_entry", "node_entries", "run_entries"]


@dataclass(frozen=True)
class Entry:
    """One item of the viewer's list.

    ``text`` None: the file at ``path`` is read and shown. Otherwise ``text`` is shown (as
    ``lexer``) and ``path`` is what ``y`` copies (the document in the user's workspace).
    """

    name: str
    path: Path
    text: str | None = None
    lexer: str | None = None
    note: str = ""

    @property
    def is_error(self) -> bool:
        return self.text is None and self.path.name == "error.json"


def node_entries(artifacts: Path, run_id: str, node: str) -> list[Entry]:
    """The files of ``runs/<run_id>/<node>``, error first."""
    return [Entry(p.name, p) for p in artifact_files(artifacts, run_id, node)]


def run_entries(artifacts: Path, run_id: str) -> list[Entry]:
    """The files of every node of a run, named ``node/file``: the failed node first, then
    the nodes in the flow's order (as ``run.json`` lists them), then any other folder."""
    run_dir = Path(artifacts) / "runs" / run_id
    meta = read_dict(run_dir / "run.json") or {}
    listed = meta.get("nodes") if isinstance(meta.get("nodes"), dict) else meta.get("agents")
    order = [str(n) for n in listed] if isinstance(listed, dict) else []
    try:
        folders = sorted(p.name for p in run_dir.iterdir() if p.is_dir())
    except OSError:
        folders = []
    nodes = [n for n in order if n in folders] + [n for n in folders if n not in order]
    failed = meta.get("failed_node")
    if failed in nodes:
        nodes.remove(failed)
        nodes.insert(0, failed)
    return [Entry(f"{node}/{p.name}", p) for node in nodes
            for p in artifact_files(artifacts, run_id, node)]


def job_entry(job: Job, queue_path: Path) -> Entry:
    """The job as the queue holds it, its input decoded (JSON)."""
    try:
        job_input: Any = json.loads(job.input_json)
    except ValueError:
        job_input = job.input_json
    data = job.model_dump(exclude={"input_json"})
    data["input"] = job_input
    return Entry("job", queue_path, text=json.dumps(data, indent=2,
                                                              ensure_ascii=False),
                 lexer="json", note=f"as {queue_path.name} holds it")


def document_entries(artifacts: Path, run_id: str) -> list[Entry]:
    """The document of a docops run before and after (none for any other run)."""
    from pantheon_engine.specialize.fixes import docops_node, read_run

    try:
        meta = read_run(artifacts, run_id)
        node, spec, _ref = docops_node(meta, default_registry())
        task = DocTask.model_validate(meta.get("input"))
    except (PantheonError, ValidationError, OSError):
        return []
    rel = PurePosixPath(task.path).as_posix()
    name = PurePosixPath(rel).name
    lexer = "markdown" if rel.endswith(".md") else "text"
    workspace = Path(str(meta.get("workspace") or "."))
    where = workspace / rel  # what `y` copies: the file in the user's workspace
    before, before_note = _before(meta, rel)
    entries = [Entry(f"before · {name}", where, text=before if before is not None
                     else f"({before_note})", lexer=lexer if before is not None else "text",
                     note=before_note)]
    if before is not None:
        calls = Path(artifacts) / "runs" / run_id / node / "tool_calls.jsonl"
        after, after_note = _after(meta, rel, before, task, calls, spec.tools)
        entries.append(Entry(f"after · {name}", where, text=after, lexer=lexer,
                             note=after_note))
    return entries


def _before(meta: dict[str, Any], rel: str) -> tuple[str | None, str]:
    """The document as the run found it, and where it was read."""
    from pantheon_engine.specialize.fixes import _base_text

    try:
        text = _base_text(meta, rel)
    except PantheonError as exc:
        return None, f"cannot read it: {exc.message}"
    return text, f"as the run found it (commit {str(meta.get('base') or '?')[:8]})"


def _after(meta: dict[str, Any], rel: str, before: str, task: DocTask, calls: Path,
           tools: list[str]) -> tuple[str, str]:
    """The document as the agent left it, and where that was found."""
    from pantheon_engine.specialize.fixes import _agent_state, _worktree, file_at_commit

    repo, branch = meta.get("repo"), meta.get("branch")
    if isinstance(repo, str) and isinstance(branch, str) and Path(repo).is_dir():
        merged = file_at_commit(Path(repo), branch, rel)
        if merged is not None:
            return merged, f"on the run's branch {branch}"
    worktree = _worktree(meta)
    if worktree is not None:
        try:
            return (worktree / rel).read_text(encoding="utf-8"), "in the run's worktree"
        except (OSError, UnicodeDecodeError):
            pass
    replayed = _agent_state(before, task, rel, calls, tools)
    if replayed is not None:
        return replayed, "the agent's edits replayed on the file as the run found it"
    return before, "unchanged: the agent made no edit that could be replayed"
