"""Demonstrations: conversations recorded through the real tool loop, with scripted replies.

For a rule-checked task the scripted solver (:func:`pantheon_engine.docops.solver.solve`)
knows the edits that make the file compliant. :func:`demonstrate` sends them through the
agent's own tool loop (:func:`pantheon_engine.agents.context.run_agent`) with a
:class:`DemoEngine` that answers each request with the next scripted reply, then the final
answer. So every recorded request is exactly what the loop sends at that step (system
prompt, task, live state) and every reply is in the compact form the grammar admits: the
engine claims constraint support, receives the loop's grammar with each request and
refuses a scripted reply the grammar would not let the model write.

:func:`run_trajectory` (shared with the verifier-guided search) runs one task in a scratch
workspace holding a copy of the task's file and returns what each step sent and got.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pantheon_engine.agents.context import AgentContext, run_agent
from pantheon_engine.agents.io import DocTask
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.artifacts import NodeArtifacts
from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.solver import solve
from pantheon_engine.engines.base import Completion, Engine, EngineRequest
from pantheon_engine.errors import EngineError, NodeFailed, SpecError, WorkspaceError
from pantheon_engine.evals.suite import SuiteTask
from pantheon_engine.loop.envelope import FinalAnswer, ToolCall, envelope_text
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.mine import Example, make_example
from pantheon_engine.tools.workspace import resolve_in_workspace

#: the demonstrator's final summary: short (the agent's replies have a small token budget)
#: and the same every time, so the final step is easy to learn
DEMO_SUMMARY = "the front matter follows the house rules"

TrajectoryStatus = Literal["passed", "passed_no_final", "failed", "stuck", "invalid"]


class TrajectoryStop(EngineError):
    """An engine of a trajectory ends it on purpose (not a failure of the model engine)."""

    kind = "trajectory_stop"


class DemoMismatch(TrajectoryStop):
    """A scripted reply the loop's grammar would refuse, or no scripted reply left."""

    kind = "demo_mismatch"


@dataclass
class Step:
    """One model call of a trajectory: the request sent, the reply given, its outcome."""

    step: int
    request: EngineRequest
    reply: str
    outcome: str = ""


@dataclass
class Trajectory:
    """One task run through the loop by a demonstrator or a search."""

    task_id: str
    run_id: str
    status: TrajectoryStatus
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    #: why the loop stopped without a final answer (``max_steps``, ``search_stuck``, ...)
    error_kind: str | None = None
    #: the file's final text passes the task's rules
    passed_check: bool = False

    def examples(self, *, source: str, agent: str, tools: list[dict[str, Any]],
                 model: str | None = None, teacher: str | None = None,
                 feedback_rounds: int | None = None) -> list[Example]:
        """The steps whose reply the loop accepted (a tool call or the final), as examples."""
        out = []
        for step in self.steps:
            if step.outcome not in ("tool", "final"):
                continue
            out.append(make_example(step.request.messages, step.reply, tools=tools,
                                    source=source, agent=agent, kind=step.outcome,
                                    run_id=self.run_id, task_id=self.task_id, step=step.step,
                                    model=model, teacher=teacher,
                                    feedback_rounds=feedback_rounds))
        return out


class RecordingEngine(Engine):
    """Base for engines that answer one loop and remember each request and chosen reply."""

    def __init__(self) -> None:
        self.calls: list[tuple[EngineRequest, str]] = []

    def bind(self, workspace: Path) -> None:
        """Told the scratch workspace the loop's tools work in, before the first request."""

    def record(self, request: EngineRequest, text: str) -> Completion:
        self.calls.append((request, text))
        return Completion(text=text, finish_reason="stop", engine=self.name, model=self.model)


class DemoEngine(RecordingEngine):
    """Answers a tool loop with scripted replies, refusing any the loop's grammar refuses."""

    name = "demo"
    model = "demo:solver"
    supports_constraints = True  # the loop then sends its grammar: the replies must fit it

    def __init__(self, replies: Iterable[str]) -> None:
        super().__init__()
        self._replies = deque(replies)

    async def complete(self, request: EngineRequest) -> Completion:
        if not self._replies:
            raise DemoMismatch("the demonstration has no scripted reply left")
        text = self._replies.popleft()
        constraint = request.constraint
        if constraint is not None and constraint.regex is not None \
                and re.fullmatch(constraint.regex, text) is None:
            raise DemoMismatch(f"the scripted reply {text[:120]!r} is outside the agent's "
                               "grammar")
        return self.record(request, text)


def doc_task(task: SuiteTask) -> DocTask:
    """The task's input as a rules-checked docops task; a SpecError for anything else."""
    try:
        return DocTask.model_validate(task.input)
    except ValueError as exc:
        raise SpecError(f"task {task.id!r} is not a rules-checked document task: {exc}",
                        hint="demonstrations and search work on docops tasks "
                        "(a path and house rules)") from None


def is_doc_task(task: SuiteTask) -> bool:
    """Whether the task's input is a rules-checked document task."""
    try:
        DocTask.model_validate(task.input)
    except ValueError:
        return False
    return True


def agent_node_id(spec: AgentSpec) -> str:
    """The agent's node id in an eval's flow (the last part of its name)."""
    last = spec.name.rsplit(".", 1)[-1]
    return last if re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", last) and last != "check" else "agent"


def read_task_file(workspace: Path, task: DocTask) -> str:
    try:
        return resolve_in_workspace(workspace, task.path).read_text(encoding="utf-8")
    except (OSError, WorkspaceError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {task.path} in {workspace}: {exc}") from None


async def run_trajectory(spec: AgentSpec, task: SuiteTask, source_workspace: Path,
                         engine: RecordingEngine, folder: Path, *, run_id: str,
                         policy: Policy | None = None) -> Trajectory:
    """Run ``spec`` on ``task`` in a scratch copy of its file, through the real loop.

    ``folder`` receives the node's artifacts (prompt.txt, model_calls.jsonl, ...). The
    result's steps pair each request the engine answered with the outcome the loop gave
    its reply; ``passed_check`` says whether the file then meets the task's rules. A loop
    that fails (``NodeFailed``) or an engine that stops the trajectory
    (:class:`TrajectoryStop`) ends it with an error; any other engine error propagates.
    """
    doc = doc_task(task)
    original = read_task_file(source_workspace, doc)
    with tempfile.TemporaryDirectory(prefix="pantheon-trajectory-") as tmp:
        workspace = Path(tmp)
        target = resolve_in_workspace(workspace, doc.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resolve_in_workspace(source_workspace, doc.path), target)
        engine.bind(workspace)
        run_input = {**task.input, "workspace": str(workspace)}
        data = spec.input_model.model_validate(run_input)
        artifacts = NodeArtifacts(folder)
        tool_ctx = (policy or Policy(mode="day")).tool_context(workspace)
        ctx = AgentContext(run_id=run_id, node_id=agent_node_id(spec), agent=spec,
                           workspace=workspace, tool_ctx=tool_ctx, artifacts=artifacts,
                           engine=engine, run_input=run_input, seed=None)
        error: str | None = None
        kind: str | None = None
        loop_ok = False
        try:
            await run_agent(ctx, data)
            loop_ok = True
        except (NodeFailed, TrajectoryStop) as exc:
            kind, error = exc.kind, exc.message
        after = target.read_text(encoding="utf-8")
    passed = check_document(after, doc.rules, original).passed
    outcomes = {int(r["step"]): str(r.get("outcome", ""))
                for r in iter_jsonl(folder / "model_calls.jsonl")}
    steps = [Step(step=i, request=request, reply=text, outcome=outcomes.get(i, ""))
             for i, (request, text) in enumerate(engine.calls, 1)]
    if loop_ok and passed:
        status: TrajectoryStatus = "passed"
    elif passed:
        status = "passed_no_final"
    else:
        status = "failed"
    return Trajectory(task_id=task.id, run_id=run_id, status=status, steps=steps,
                      error=error, error_kind=kind, passed_check=passed)


def scripted_replies(text: str, task: DocTask) -> list[str]:
    """The solver's calls as compact tool-call envelopes, then the final answer."""
    replies = [envelope_text(ToolCall(name=name, args=args)) for name, args in
               solve(text, task.rules)]
    return [*replies, envelope_text(FinalAnswer(output={"summary": DEMO_SUMMARY}))]


async def demonstrate(spec: AgentSpec, task: SuiteTask, source_workspace: Path, folder: Path,
                      *, run_id: str, policy: Policy | None = None) -> Trajectory:
    """Record the scripted demonstrator solving ``task`` through the agent's loop.

    The trajectory is ``passed`` only when the loop accepted the final answer and the file
    then meets the rules; a reply the grammar refuses (a value longer than the grammar
    allows, say) makes it ``invalid``.
    """
    doc = doc_task(task)
    engine = DemoEngine(scripted_replies(read_task_file(source_workspace, doc), doc))
    trajectory = await run_trajectory(spec, task, source_workspace, engine, folder,
                                      run_id=run_id, policy=policy)
    if trajectory.error_kind == DemoMismatch.kind:
        trajectory.status = "invalid"
    elif trajectory.status == "passed" and any(
            s.outcome not in ("tool", "final") for s in trajectory.steps):
        trajectory.status = "invalid"  # a scripted call the loop refused: not a clean demo
    return trajectory
