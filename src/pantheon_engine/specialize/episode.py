"""One task through its own flow, with an engine of the harvest's choosing.

Feedback, rationalisation and the search on code tasks run a task the way an eval does: the
:class:`~pantheon_engine.run.orchestrator.Orchestrator` opens a git worktree of the suite's
workspace, runs the task's flow (the agent, then the check that grades it) and writes an
ordinary run folder. What differs is the engine (one that adds feedback turns, one that
replays recorded replies, one that samples candidates) and, for feedback, the agent's finish
hook. The harvest then pairs each request the engine answered with the outcome the loop
gave its reply (``model_calls.jsonl`` of the agent's node).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.engines.base import Completion, EngineRequest, FinishReason
from pantheon_engine.errors import SpecError
from pantheon_engine.evals.runner import plan
from pantheon_engine.evals.suite import Suite, SuiteTask
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import Flow
from pantheon_engine.run.orchestrator import Orchestrator, RunResult
from pantheon_engine.run.search import searched_check
from pantheon_engine.specialize.demos import DemoMismatch, RecordingEngine, Step


@dataclass(frozen=True)
class TaskFlow:
    """A task with the flow it runs, its run input, the agent's node and the node of the
    check that grades the agent directly."""

    task: SuiteTask
    flow: Flow
    run_input: dict[str, Any]
    node: str
    check: str


def task_flows(suite: Suite, spec: AgentSpec, tasks: Sequence[SuiteTask],
               registry: AgentRegistry) -> list[TaskFlow]:
    """Each of ``tasks`` with its flow; a task whose agent no check grades directly (a check
    further down a flow, or behind a ``when:``) is a :class:`SpecError`."""
    wanted = {task.id for task in tasks}
    found = []
    for task, flow, run_input in plan(suite, spec, "all", registry):
        if task.id not in wanted:
            continue
        node = next(n.id for n in flow.nodes if n.agent == spec.name)
        check = searched_check(flow, registry, node)
        if check is None:
            raise SpecError(f"task {task.id!r}: no check of flow {flow.name!r} grades node "
                            f"{node!r} directly, so its verdict cannot be fed back",
                            hint="feedback and code search need the agent's own check right "
                            "below it (as an agent task's eval flow has it)")
        found.append(TaskFlow(task=task, flow=flow, run_input=run_input, node=node,
                              check=check))
    order = {task.id: index for index, task in enumerate(tasks)}
    return sorted(found, key=lambda f: order[f.task.id])


def with_spec(registry: AgentRegistry, spec: AgentSpec) -> AgentRegistry:
    """``registry`` with ``spec`` in place of the agent of the same name."""
    return AgentRegistry(spec if agent.name == spec.name else agent for agent in registry)


async def run_episode(flow: TaskFlow, *, registry: AgentRegistry, engine: Any,
                      policy: Policy, root: Path, run_id: str, seed: int | None = None,
                      temperature: float | None = None,
                      meta: dict[str, Any] | None = None) -> RunResult:
    """Run ``flow``'s task once in a fresh worktree; the run folder goes under
    ``root/runs/``. No trace store: these runs are not mined as they stand."""
    orchestrator = Orchestrator(
        registry=registry, engine=engine, policy=policy, artifacts_root=root, seed=seed,
        temperature=temperature,
        run_meta={"task_id": flow.task.id, "split": flow.task.split, **(meta or {})})
    return await orchestrator.run(flow.flow, flow.run_input, Path(flow.run_input["workspace"]),
                                  run_id=run_id)


def node_passed(run: RunResult, node: str) -> bool:
    """The node ended ``ok`` (a model agent: its loop accepted a final answer)."""
    return any(n.id == node and n.status == "ok" for n in run.nodes)


def check_passed(run: RunResult) -> bool:
    """The run's checks passed (the only verdict a harvest keeps anything on)."""
    return (run.check or {}).get("passed") is True


def episode_steps(run: RunResult, node: str,
                  calls: Sequence[tuple[EngineRequest, str]]) -> list[Step]:
    """Each request the engine answered, its reply, and the loop's outcome for it."""
    outcomes = {int(r["step"]): str(r.get("outcome", ""))
                for r in iter_jsonl(Path(run.dir) / node / "model_calls.jsonl")}
    return [Step(step=i, request=request, reply=text, outcome=outcomes.get(i, ""))
            for i, (request, text) in enumerate(calls, 1)]


class ScriptedEngine(RecordingEngine):
    """Answers a loop with recorded replies, in order, each with its finish reason.

    ``supports_constraints``: as the engine that wrote the replies, so the loop hands the
    same grammar; a reply that does not fit it (or none left) stops the run
    (:class:`~pantheon_engine.specialize.demos.DemoMismatch`).
    """

    def __init__(self, replies: Iterable[tuple[str, FinishReason]], *, name: str = "scripted",
                 model: str = "scripted", supports_constraints: bool = True) -> None:
        super().__init__()
        self._replies = deque(replies)
        self.name = name
        self.model = model
        self.supports_constraints = supports_constraints

    @property
    def left(self) -> int:
        """Replies not asked for."""
        return len(self._replies)

    async def complete(self, request: EngineRequest) -> Completion:
        import re

        if not self._replies:
            raise DemoMismatch("the recorded trajectory has no reply left")
        text, reason = self._replies.popleft()
        constraint = request.constraint
        if reason == "stop" and constraint is not None and constraint.regex is not None \
                and re.fullmatch(constraint.regex, text) is None:
            raise DemoMismatch(f"the recorded reply {text[:120]!r} is outside the agent's "
                               "grammar here")
        self.calls.append((request, text))
        return Completion(text=text, finish_reason=reason, engine=self.name, model=self.model)


__all__ = ["ScriptedEngine", "TaskFlow", "check_passed", "episode_steps", "node_passed",
           "run_episode", "task_flows", "with_spec"]
