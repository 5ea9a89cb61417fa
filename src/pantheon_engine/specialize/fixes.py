"""Morning fixes: a failed docops run fixed by hand becomes a demonstration for its agent.

The flow, shared by ``pantheon fix`` and the control room's report screen:

1. :func:`prepare_fix` finds the run's task (the file and its house rules, from
   ``run.json``), reads the file as the run's base commit has it, and writes the copy to
   edit under ``<artifacts>/fixes/<run_id>/<path>``. The copy starts as the run left the
   file: from the run's worktree when that is still there (an interrupted run keeps it for
   its resume; a finished run's worktree is removed when it ends), else the base text with
   the agent's successful ``fm_*`` calls of ``tool_calls.jsonl`` replayed on it, else the
   base text. An earlier fix attempt's copy is kept and opened again.
2. Someone edits that copy (``$VISUAL``/``$EDITOR``, see :func:`editor_command`).
3. :func:`apply_fix` grades the copy with the task's independent check
   (:func:`pantheon_engine.docops.check.check_document`, against the base text). A copy
   that fails is refused with the check's reasons; the copy stays where it is.
4. A passing copy is turned into tool calls (:func:`fix_calls`: the difference between the
   base and the fixed front matter as ``fm_rename``, ``fm_delete`` and ``fm_set``), which are
   replayed through the agent's real tool loop by the demonstration machinery
   (:func:`pantheon_engine.specialize.demos.run_trajectory` with a
   :class:`~pantheon_engine.specialize.demos.DemoEngine`). Only a replay whose replies all
   fit the agent's grammar and that ends with the file passing the check is kept: its steps
   are appended, with source ``fix``, to ``<artifacts>/specialize/<agent>/fixes.jsonl``, a
   harvest-format file that ``pantheon traces mine --include`` reads. The failure is then
   marked ``triaged`` with a note saying so.

What each attempt did is written to ``<artifacts>/fixes/<run_id>.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from pantheon_engine.agents.io import DocTask
from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.artifacts import utc_now
from pantheon_engine.atomic import atomic_write_json, atomic_write_text, iter_jsonl, read_dict
from pantheon_engine.docops.check import (
    CheckReport,
    check_document,
)
from pantheon_engine.errors import ConfigError, SpecError, WorkspaceError
from pantheon_engine.evals.suite import ID_PATTERN, SuiteTask
from pantheon_engine.loop.envelope import FinalAnswer, envelope_text
from pantheon_engine.night.triage import TriageLog
from pantheon_engine.specialize.demos import (
    DEMO_SUMMARY,
    DemoEngine,
    DemoMismatch,
    Trajectory,
    run_trajectory,
)
from pantheon_engine.specialize.fix_diff import (
    FixCall,
    InexpressibleFix,
    fix_calls,
)
from pantheon_engine.specialize.mine import (
    Curator,
    Example,
    agent_tool_defs,
    read_examples,
    write_examples,
)
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool
from pantheon_engine.tools.workspace import resolve_in_workspace

FIXES_DIR = "fixes"
#: the harvest-format file a fix's examples are appended to, in the agent's harvest folder
FIXES_FILE = "fixes.jsonl"
#: the ``model`` an example of a hand fix records
FIX_MODEL = "fix:hand"
#: the editor when neither VISUAL nor EDITOR is set
DEFAULT_EDITOR = "vi"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Origin = Literal["worktree", "agent", "base", "earlier fix"]
FixStatus = Literal["recorded", "check_failed", "not_expressible", "replay_failed"]


class FixTarget(BaseModel):
    """A failed run's document, ready to be edited: where the copy is and what it must meet."""

    run_id: str
    #: the node of the report's failure (``check``, ``frontmatter``, ``merge`` ...)
    failed_node: str
    #: the docops agent's node and the agent@version the run served there
    node: str
    agent: str
    task: DocTask
    task_id: str | None = None
    base_text: str
    #: the copy to edit (absolute)
    file: Path
    #: what the copy started from
    origin: Origin

    @property
    def path(self) -> str:
        return self.task.path


class FixResult(BaseModel):
    """What one fix attempt came to (the content of ``<artifacts>/fixes/<run_id>.json``)."""

    run_id: str
    node: str
    agent: str
    path: str
    file: str
    origin: str
    status: FixStatus
    passed_check: bool = False
    #: why the fix was not recorded: the check's failed rules, or what could not be replayed
    reasons: list[str] = Field(default_factory=list)
    calls: list[FixCall] = Field(default_factory=list)
    examples: int = 0
    out: str | None = None
    at: str = Field(default_factory=utc_now)

    @property
    def recorded(self) -> bool:
        return self.status == "recorded"

    def headline(self) -> str:
        """One line for a notification."""
        if self.recorded:
            return (f"{self.run_id}: fix recorded as {self.examples} example(s) for "
                    f"{self.agent} in {self.out}")
        what = {"check_failed": "the fixed file does not pass its check",
                "not_expressible": "the fix cannot be written as the agent's tool calls",
                "replay_failed": "the replay through the agent's loop did not pass"}
        return f"{self.run_id}: not recorded, {what[self.status]}; the file is kept at {self.file}"

    def render(self) -> str:
        lines = [self.headline()]
        lines += [f"  - {reason}" for reason in self.reasons]
        if self.calls:
            lines.append("calls: " + "; ".join(c.text() for c in self.calls))
        return "\n".join(lines)


# --- finding the run's task and file ----------------------------------------------------


def fixes_dir(artifacts: Path) -> Path:
    return Path(artifacts) / FIXES_DIR


def fix_file_folder(artifacts: Path, run_id: str) -> Path:
    """Where the copies of one run's file are edited: ``<artifacts>/fixes/<run_id>/``."""
    return fixes_dir(artifacts) / run_id


def fixes_jsonl(artifacts: Path, spec: AgentSpec) -> Path:
    """``<artifacts>/specialize/<agent>/fixes.jsonl``: next to the agent's harvest files."""
    return Path(artifacts) / "specialize" / spec.name / FIXES_FILE


def read_run(artifacts: Path, run_id: str) -> dict[str, Any]:
    """The ``run.json`` of ``<artifacts>/runs/<run_id>``; a SpecError when there is none."""
    if not _RUN_ID.match(run_id):
        raise SpecError(f"{run_id!r} is not a run id",
                        hint="run ids are folder names under <artifacts>/runs")
    meta = read_dict(Path(artifacts) / "runs" / run_id / "run.json")
    if not meta:
        raise SpecError(f"run {run_id}: no readable run.json under {Path(artifacts) / 'runs'}",
                        hint="pass --artifacts when the runs live elsewhere")
    return meta


def _is_doc_agent(spec: AgentSpec) -> bool:
    return spec.role == "agent" and spec.uses_model and issubclass(spec.input_model, DocTask)


def docops_node(meta: dict[str, Any], registry: AgentRegistry,
                node: str | None = None) -> tuple[str, AgentSpec, str]:
    """The run's docops agent: (its node, its spec, the agent@version the run recorded).

    ``node`` is the failure's node: the agent's own (a loop that ran out of steps) or a node
    downstream of it (its check, the merge gate); then the agent the check graded is meant.
    """
    raw_agents = meta.get("agents")
    agents: dict[str, Any] = raw_agents if isinstance(raw_agents, dict) else {}
    found: list[tuple[str, AgentSpec, str]] = []
    for node_id, ref in agents.items():
        name = AgentRef.name_of(str(ref))
        if name in registry and _is_doc_agent(registry.get(name)):
            found.append((str(node_id), registry.get(name), str(ref)))
    if node is not None:
        if node not in agents:
            raise SpecError(f"run {meta.get('run_id')}: no node {node!r}; nodes: "
                            + ", ".join(map(str, agents)))
        own = [f for f in found if f[0] == node]
        if own:
            return own[0]
    raw_check = meta.get("check")
    check: dict[str, Any] = raw_check if isinstance(raw_check, dict) else {}
    graded = {AgentRef.name_of(str(g)) for g in check.get("graded") or []}
    narrowed = [f for f in found if f[1].name in graded] or found
    if len(narrowed) == 1:
        return narrowed[0]
    if not narrowed:
        raise SpecError(f"run {meta.get('run_id')} ran no document agent "
                        f"({', '.join(map(str, agents.values())) or 'no agents recorded'})",
                        hint="hand fixes become demonstrations for docops agents "
                        "(a Markdown file and its house rules)")
    raise SpecError(f"run {meta.get('run_id')} ran several document agents: "
                    + ", ".join(f[0] for f in narrowed), hint="name one with --node")


def file_at_commit(repo: Path, commit: str, rel: str) -> str | None:
    """The text of ``rel`` at ``commit`` of ``repo`` (None when absent or unreadable)."""
    try:
        proc = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=repo,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    try:
        return proc.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _worktree(meta: dict[str, Any]) -> Path | None:
    """The run's worktree when it is still there (runs remove theirs when they end)."""
    worktree = meta.get("worktree")
    if isinstance(worktree, str) and (Path(worktree) / ".git").exists():
        return Path(worktree)
    return None


def _base_text(meta: dict[str, Any], rel: str) -> str:
    repo, base = meta.get("repo"), meta.get("base")
    text = None
    if isinstance(repo, str) and isinstance(base, str) and Path(repo).is_dir():
        text = file_at_commit(Path(repo), base, rel)
    worktree = _worktree(meta)
    if text is None and worktree is not None:
        text = file_at_commit(worktree, "HEAD", rel)
    if text is None:
        raise SpecError(f"run {meta.get('run_id')}: cannot read {rel} as the run found it "
                        f"(repository {repo}, commit {base})",
                        hint="the run's repository or its base commit is gone")
    return text


def _agent_state(base: str, task: DocTask, rel: str, calls_file: Path,
                 tools: list[str]) -> str | None:
    """The base text with the agent's successful calls replayed (None if any cannot be).

    Every attempt of the node worked on the same worktree, so every successful call of
    ``tool_calls.jsonl`` counts, in order.
    """
    calls = [r for r in iter_jsonl(calls_file) if r.get("ok")]
    if not calls:
        return None
    with tempfile.TemporaryDirectory(prefix="pantheon-fix-") as tmp:
        target = resolve_in_workspace(Path(tmp), rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(base, encoding="utf-8")
        ctx = ToolContext(workspace=Path(tmp), env={})
        for record in calls:
            name, args = record.get("name"), record.get("args")
            if name not in tools or not isinstance(args, dict) \
                    or args.get("path") not in (rel, task.path):
                return None
            args = {**args, "path": rel}
            tool = get_tool(str(name))
            if not tool.inline or inspect.iscoroutinefunction(tool.fn):
                return None
            try:
                tool.fn(ctx, tool.parse_args(args))
            except Exception:  # the file is no longer what the agent saw: start from base
                return None
        return target.read_text(encoding="utf-8")


def prepare_fix(artifacts: Path, run_id: str, node: str | None = None, *,
                registry: AgentRegistry | None = None, fresh: bool = False) -> FixTarget:
    """Find the run's document and write the copy to edit (see the module's docstring).

    ``fresh``: start again from the run's file even when an earlier attempt left a copy.
    Refuses a run of a holdout task (its fix must not become training data) and a task
    whose path leads outside the fix folder.
    """
    artifacts = Path(artifacts)
    meta = read_run(artifacts, run_id)
    registry = registry or default_registry()
    failed = node or str(meta.get("failed_node") or "")
    raw_agents = meta.get("agents")
    agents: dict[str, Any] = raw_agents if isinstance(raw_agents, dict) else {}
    agent_node, spec, ref = docops_node(meta, registry,
                                        node or (failed if failed in agents else None))
    if meta.get("split") == "holdout":
        raise ConfigError(f"run {run_id} ran a holdout task: its fix may not become "
                          "training data", hint="the holdout split measures the agent")
    try:
        task = DocTask.model_validate(meta.get("input"))
    except ValidationError as exc:
        raise SpecError(f"run {run_id}: its input is not a docops task: "
                        f"{exc.errors()[0]['msg']}") from None
    folder = fix_file_folder(artifacts, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = resolve_in_workspace(folder, task.path)  # refuses paths that lead out
    rel = target.relative_to(folder.resolve()).as_posix()
    base = _base_text(meta, rel)
    origin: Origin = "earlier fix"
    if fresh or not target.is_file():
        worktree = _worktree(meta)
        text: str | None = None
        if worktree is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError, WorkspaceError):
                text = resolve_in_workspace(worktree, rel).read_text(encoding="utf-8")
                origin = "worktree"
        if text is None:
            text = _agent_state(base, task, rel, artifacts / "runs" / run_id / agent_node
                                / "tool_calls.jsonl", spec.tools)
            origin = "agent"
        if text is None:
            text, origin = base, "base"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, text)
    task_id = meta.get("task_id")
    return FixTarget(run_id=run_id, failed_node=failed or agent_node, node=agent_node,
                     agent=ref, task=task, task_id=str(task_id) if task_id else None,
                     base_text=base, file=target, origin=origin)


def editor_command(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """``$VISUAL``, else ``$EDITOR``, else ``vi``, split like a shell would, then the file."""
    env = os.environ if env is None else env
    editor = (env.get("VISUAL") or "").strip() or (env.get("EDITOR") or "").strip() \
        or DEFAULT_EDITOR
    return [*shlex.split(editor), str(path)]


# --- grading, replaying, recording ---------------------------------------------------------


def check_reasons(report: CheckReport) -> list[str]:
    """The check's reasons, worded as ``check.rules`` words them."""
    reasons = [f"{r.label}: {r.detail}" if r.detail else r.label
               for r in report.rules if not r.ok]
    return reasons + report.broken + ([report.error] if report.error else [])


async def replay_fix(spec: AgentSpec, target: FixTarget, calls: list[FixCall],
                     folder: Path) -> tuple[Trajectory, list[dict[str, Any]]]:
    """Send ``calls`` and the final answer through the agent's loop on the base text.

    Returns the trajectory and the agent's tool definitions as its prompt shows them.
    ``folder`` receives the replay's node artifacts (emptied first).
    """
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    run_input = target.task.model_dump(mode="json", exclude={"workspace"})
    task_id = target.task_id if target.task_id and re.match(ID_PATTERN, target.task_id) \
        else f"fix-{target.run_id}"[:100]
    task = SuiteTask(id=task_id, agent=spec.name, input=run_input, split="train", line=1)
    replies = [c.text() for c in calls]
    replies.append(envelope_text(FinalAnswer(output={"summary": DEMO_SUMMARY})))
    with tempfile.TemporaryDirectory(prefix="pantheon-fix-base-") as tmp:
        source = Path(tmp)
        path = resolve_in_workspace(source, target.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(target.base_text, encoding="utf-8")
        tools = await agent_tool_defs(spec, {**run_input, "workspace": tmp}, source)
        trajectory = await run_trajectory(spec, task, source, DemoEngine(replies), folder,
                                          run_id=target.run_id)
    return trajectory, tools


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_examples(path: Path, run_id: str, examples: list[Example]) -> int:
    """Append ``examples`` to the JSONL at ``path``, replacing an earlier fix of ``run_id``.

    Every example goes through a :class:`~pantheon_engine.specialize.mine.Curator` (no
    secret-looking string, no duplicate). Returns how many of ``examples`` were kept.
    """
    with _locked(path):
        earlier = [e for e in (read_examples(path) if path.is_file() else [])
                   if e.meta.run_id != run_id]
        curator = Curator()
        curator.add_all(earlier)
        kept = curator.add_all(examples)
        write_examples(path, curator.kept)
    return kept


def _reasons_of(trajectory: Trajectory) -> list[str]:
    reasons = []
    if trajectory.error_kind == DemoMismatch.kind:
        reasons.append(f"a call is outside the agent's grammar: {trajectory.error}")
    elif trajectory.error:
        reasons.append(f"the loop stopped ({trajectory.error_kind}): {trajectory.error}")
    refused = [f"step {s.step}: {s.reply} ({s.outcome or 'no outcome'})"
               for s in trajectory.steps if s.outcome not in ("tool", "final")]
    reasons += [f"the loop refused {r}" for r in refused]
    if not trajectory.passed_check:
        reasons.append("the replayed file does not pass the check")
    return reasons or [f"the replay ended {trajectory.status}"]


async def apply_fix(artifacts: Path, target: FixTarget, *,
                    registry: AgentRegistry | None = None,
                    clock: Callable[[], float] = time.time) -> FixResult:
    """Check the edited copy; when it passes, replay it and record the demonstration."""
    artifacts = Path(artifacts)
    registry = registry or default_registry()
    spec = registry.get(AgentRef.name_of(target.agent))
    try:
        fixed = target.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the fixed file {target.file}: {exc}") from None
    result = FixResult(run_id=target.run_id, node=target.node, agent=target.agent,
                       path=target.path, file=str(target.file), origin=target.origin,
                       status="check_failed")
    report = check_document(fixed, target.task.rules, target.base_text)
    result.passed_check = report.passed
    if not report.passed:
        result.reasons = check_reasons(report)
        return _save(artifacts, result)
    try:
        result.calls = fix_calls(target.base_text, fixed, target.task.rules)
    except InexpressibleFix as exc:
        result.status, result.reasons = "not_expressible", [str(exc)]
        return _save(artifacts, result)
    replay_dir = fixes_dir(artifacts) / f"{target.run_id}.replay"
    trajectory, tools = await replay_fix(spec, target, result.calls, replay_dir)
    clean = trajectory.status == "passed" and all(
        s.outcome in ("tool", "final") for s in trajectory.steps)
    if not clean:
        result.status, result.reasons = "replay_failed", _reasons_of(trajectory)
        return _save(artifacts, result)
    examples = [e.model_copy(update={"meta": e.meta.model_copy(
        update={"task_id": target.task_id})})
        for e in trajectory.examples(source="fix", agent=spec.ref, tools=tools,
                                     model=FIX_MODEL)]
    out = fixes_jsonl(artifacts, spec)
    result.examples = record_examples(out, target.run_id, examples)
    result.status, result.out = "recorded", str(out)
    TriageLog(artifacts, clock=clock).mark(
        target.run_id, target.failed_node, "triaged",
        note=f"fixed by hand: {result.examples} example(s) for {spec.ref}")
    return _save(artifacts, result)


def apply_fix_blocking(artifacts: Path, target: FixTarget, *,
                       registry: AgentRegistry | None = None,
                       clock: Callable[[], float] = time.time) -> FixResult:
    """:func:`apply_fix` for callers outside an event loop (a thread worker, the CLI)."""
    return asyncio.run(apply_fix(artifacts, target, registry=registry, clock=clock))


def _save(artifacts: Path, result: FixResult) -> FixResult:
    atomic_write_json(fixes_dir(artifacts) / f"{result.run_id}.json",
                      result.model_dump(mode="json"))
    return result


__all__ = ["FIXES_FILE", "FIX_MODEL", "FixCall", "FixResult", "FixTarget", "InexpressibleFix",
           "apply_fix", "apply_fix_blocking", "check_reasons", "docops_node", "editor_command",
           "fix_calls", "fixes_jsonl", "prepare_fix", "record_examples", "replay_fix"]
