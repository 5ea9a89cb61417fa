"""Feedback: the check's verdict goes back to the agent, and what then passes is kept without it.

A weak model often stops too early or gets one rule wrong, and says ``final``. Here that
final answer is graded at once by the task's own check (``check.rules`` for a document,
``test.pytest`` for code, in the run's worktree, exactly as the flow's check node will
grade it). When the check fails and rounds remain, the final is refused and the check's
failure lines (the rules not met and why, or pytest's failing assertions) go back to the
agent as a new user turn, ``ERROR (check): ...``, and the loop goes on. This uses the loop's
own public hook: an agent's finish hook that raises
:class:`~pantheon_engine.loop.limits.CheckFailed` has its message fed back like any other
failure. An agent whose prompt keeps no history (``Limits.history = 0``, as
``doc.frontmatter``) would never see it, so :class:`FeedbackEngine` adds the refused
final and the feedback turn to each later request unless the loop's history holds them.

A trajectory that then passes is **rationalised**: its replies, less the refused finals,
are replayed through the agent's unmodified loop (:class:`~.episode.ScriptedEngine`) in a
fresh worktree, so each stored example is the exact request the loop sends at pass@1 (the
original prompt, the agent's calls and their results) with no feedback turn and no failed
final in it. Only a replay that passes the check again is kept; one that does not (the
trajectory relied on the feedback's wording, say, or exceeds the step budget without its
extra rounds) is counted ``unreplayable``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from pantheon_engine.agents.context import AgentContext, run_agent
from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.agents.spec import AgentSpec, CheckFailed
from pantheon_engine.artifacts import NodeArtifacts
from pantheon_engine.atomic import read_dict
from pantheon_engine.docops.check import CheckReport
from pantheon_engine.engines.base import Completion, Engine, EngineRequest, Message
from pantheon_engine.errors import EngineError, RunFailure
from pantheon_engine.policy import Policy
from pantheon_engine.specialize import DEFAULT_FEEDBACK_ROUNDS
from pantheon_engine.specialize.demos import Trajectory, TrajectoryStop
from pantheon_engine.specialize.episode import (
    ScriptedEngine,
    TaskFlow,
    check_passed,
    episode_steps,
    node_passed,
    run_episode,
    with_spec,
)

#: feedback rounds per trajectory when none is given
DEFAULT_ROUNDS = DEFAULT_FEEDBACK_ROUNDS
#: the most lines and characters of check output one feedback turn carries
FEEDBACK_LINES = 12
FEEDBACK_CHARS = 1_500
#: how the loop words a check failure it feeds back (tool_loop's ``_Outcome.failure``)
CHECK_PREFIX = "ERROR (check): "

FeedbackStatus = Literal["passed", "passed_after_feedback", "failed", "unreplayable"]


class FeedbackConfig(BaseModel):
    """Feedback rounds per trajectory; samples per task; their temperature and seeds."""

    rounds: int = Field(default=DEFAULT_ROUNDS, ge=0, le=5)
    samples: int = Field(default=1, ge=1, le=64)
    temperature: float = Field(default=0.8, gt=0)
    seed: int = 0


class FeedbackTurn(BaseModel):
    """One round: the model call whose final answer was refused, and what it was told."""

    step: int
    reply: str
    text: str


class FeedbackOutcome(BaseModel):
    """One sample of one task: how it ended, the feedback it got, its runs."""

    task_id: str
    sample: int
    status: FeedbackStatus
    rounds: int = 0
    feedback: list[FeedbackTurn] = Field(default_factory=list)
    run_id: str
    replay_run_id: str | None = None
    error: str | None = None


# --- what the check said, as lines a model can act on ------------------------------------


def failure_lines(folder: Path, message: str) -> list[str]:
    """The check's reasons: the rules not met (with the detail the check gives) and what
    else broke, from a rules check's ``report.json``; pytest's failing tests and
    assertions from ``tests.log``; else the check's own message."""
    report = read_dict(folder / "report.json")
    if report is not None and "rules" in report:
        try:
            checked = CheckReport.model_validate(report)
        except ValueError:
            checked = None
        if checked is not None:
            lines = [f"- rule not met: {r.text}" + (f" ({r.detail})" if r.detail else "")
                     for r in checked.rules if not r.ok]
            lines += [f"- {b}" for b in checked.broken]
            if checked.error:
                lines.append(f"- {checked.error}")
            if lines:
                return lines
    log = folder / "tests.log"
    if log.is_file():
        lines = pytest_failures(log.read_text(encoding="utf-8", errors="replace"))
        if lines:
            return lines
    return [message]


_TEST_HEADER = re.compile(r"^_{3,} (\S.*?) _{3,}$")
_SUMMARY = re.compile(r"^=+ (.*\b(?:passed|failed|errors?)\b.*) =+$|^(\d+ (?:passed|failed).*)$")


def pytest_failures(log: str) -> list[str]:
    """Pytest's account of each failing test: its name, the failing line, the ``E`` lines,
    then the closing summary (``1 failed, 1 passed``)."""
    lines: list[str] = []
    summary = ""
    errors_kept = 0
    for raw in log.splitlines():
        line = raw.rstrip()
        if match := _TEST_HEADER.match(line):
            lines.append(f"{match.group(1)} failed:")
            errors_kept = 0
        elif line.startswith(">"):
            lines.append("  " + line[1:].strip())
        elif line.startswith("E ") and line[1:].strip() and errors_kept < 3:
            lines.append("  " + line[1:].strip())
            errors_kept += 1
        elif match := _SUMMARY.match(line.strip()):
            summary = (match.group(1) or match.group(2) or "").strip()
    if summary:
        summary = re.sub(r"\s+in [\d.]+s.*$", "", summary)
        lines.append(summary)
    return lines


def feedback_text(lines: Sequence[str]) -> str:
    """The feedback turn: the check's lines (capped), then what to do."""
    kept: list[str] = []
    size = 0
    for line in lines[:FEEDBACK_LINES]:
        if size + len(line) > FEEDBACK_CHARS:
            break
        kept.append(line)
        size += len(line) + 1
    if len(kept) < len(lines):
        kept.append(f"... ({len(lines) - len(kept)} more)")
    return ("the task's check ran on your result and it failed:\n" + "\n".join(kept)
            + "\nThe task is not done. Fix this with tool calls, then reply final.")


# --- one trajectory with feedback ----------------------------------------------------------


class FeedbackEngine(Engine):
    """The model engine, plus the latest feedback turn wherever the loop's history lacks it.

    ``calls`` keeps every request as the loop sent it (without the added turns) and the
    completion the model gave.
    """

    def __init__(self, inner: Engine, session: FeedbackSession) -> None:
        self.inner = inner
        self.session = session
        self.name = inner.name
        self.model = inner.model
        self.supports_constraints = inner.supports_constraints
        self.calls: list[tuple[EngineRequest, Completion]] = []
        #: an error of the model engine itself (not of the model): it stops the harvest
        self.failure: EngineError | None = None

    async def complete(self, request: EngineRequest) -> Completion:
        sent = request
        turn = self.session.turns[-1] if self.session.turns else None
        if turn is not None and not any(turn.text in m.content for m in request.messages):
            sent = request.model_copy(update={"messages": [
                *request.messages, Message(role="assistant", content=turn.reply),
                Message(role="user", content=CHECK_PREFIX + turn.text)]})
        try:
            completion = await self.inner.complete(sent)
        except TrajectoryStop:
            raise
        except EngineError as exc:
            self.failure = exc
            raise
        self.calls.append((request, completion))
        return completion


class FeedbackSession:
    """One trajectory: the engine that adds feedback, and the agent whose final answers the
    task's check grades before the loop accepts them."""

    def __init__(self, inner: Engine, spec: AgentSpec, check: AgentSpec, flow: TaskFlow,
                 rounds: int) -> None:
        self.spec = spec
        self.check = check
        self.flow = flow
        self.rounds = rounds
        self.turns: list[FeedbackTurn] = []
        self.engine = FeedbackEngine(inner, self)

    def agent(self) -> AgentSpec:
        """``spec`` whose finish hook runs the check. Each feedback round allows one more
        step and one more failure (a refused final costs both), granted when it is given: a
        sample that gets no feedback runs under the agent's own limits, as at pass@1."""
        original = self.spec.finish
        output_model = self.spec.output_model

        async def finish(ctx: AgentContext, data: BaseModel, final: BaseModel) -> BaseModel:
            output = await original(ctx, data, final) if original is not None \
                else output_model.model_validate(final.model_dump())
            if len(self.turns) >= self.rounds:
                return output
            passed, lines = await self._grade(ctx, output)
            if passed:
                return output
            last = self.engine.calls[-1][1].text if self.engine.calls else ""
            turn = FeedbackTurn(step=len(self.engine.calls), reply=last.strip(),
                                text=feedback_text(lines))
            self.turns.append(turn)
            # the loop holds this run's own copy of the limits and reads them every step
            ctx.agent.limits.max_steps += 1
            ctx.agent.limits.max_failures += 1
            raise CheckFailed(turn.text)

        return dataclasses.replace(self.spec, finish=finish,
                                   limits=self.spec.limits.model_copy())

    async def _grade(self, ctx: AgentContext, output: BaseModel) -> tuple[bool, list[str]]:
        """Run the task's check on the worktree as the flow's check node would."""
        node = self.flow.flow.node(self.flow.check)
        upstream = {self.flow.node: output.model_dump(mode="json")}
        folder = ctx.artifacts.dir / f"feedback-{len(self.turns) + 1}"
        check_ctx = AgentContext(
            run_id=ctx.run_id, node_id=node.id, agent=self.check, workspace=ctx.workspace,
            tool_ctx=ctx.tool_ctx, artifacts=NodeArtifacts(folder), engine=None,
            run_input=ctx.run_input, params=dict(node.params), upstream=upstream)
        try:
            data = self.check.input_model.model_validate(
                self.check.gather(upstream, ctx.run_input))
            await run_agent(check_ctx, data)
        except RunFailure as exc:
            return False, failure_lines(folder, exc.message)
        except ValueError as exc:
            return False, [f"the check could not read the result: {exc}"]
        return True, []


async def feedback_sample(flow: TaskFlow, *, spec: AgentSpec, registry: AgentRegistry,
                          engine: Engine, policy: Policy, root: Path, run_id: str,
                          rounds: int, seed: int | None, temperature: float | None
                          ) -> tuple[FeedbackOutcome, Trajectory | None]:
    """One sample of one task with up to ``rounds`` feedback rounds, rationalised.

    Returns the outcome and, when the check passed and the replay without the feedback
    passed too, the rationalised trajectory (its steps are the replay's requests).
    """
    session = FeedbackSession(engine.for_agent(spec.name), spec, registry.get(
        flow.flow.node(flow.check).agent), flow, rounds)
    run = await run_episode(flow, registry=with_spec(registry, session.agent()),
                            engine=session.engine, policy=policy, root=root / "feedback",
                            run_id=run_id, seed=seed, temperature=temperature,
                            meta={"feedback_rounds": rounds})
    if session.engine.failure is not None:
        raise session.engine.failure
    outcome = FeedbackOutcome(task_id=flow.task.id, sample=0, status="failed",
                              rounds=len(session.turns), feedback=session.turns,
                              run_id=run.run_id, error=run.error)
    if not check_passed(run):
        return outcome, None
    refused = {turn.step for turn in session.turns}
    replies = [(completion.text, completion.finish_reason)
               for step, (_, completion) in enumerate(session.engine.calls, 1)
               if step not in refused]
    trajectory = await rationalise(flow, spec=spec, registry=registry, replies=replies,
                                   policy=policy, root=root / "rationalised",
                                   run_id=f"{run_id}-r", model=engine.model,
                                   engine_name=engine.name,
                                   constrained=engine.supports_constraints)
    outcome.replay_run_id = trajectory.run_id
    if trajectory.status != "passed":
        outcome.status, outcome.error = "unreplayable", trajectory.error
        return outcome, None
    outcome.status = "passed_after_feedback" if session.turns else "passed"
    return outcome, trajectory


async def rationalise(flow: TaskFlow, *, spec: AgentSpec, registry: AgentRegistry,
                      replies: Sequence[tuple[str, Any]], policy: Policy, root: Path,
                      run_id: str, model: str = "scripted", engine_name: str = "scripted",
                      constrained: bool = True) -> Trajectory:
    """Replay ``replies`` through ``spec``'s own loop on a fresh worktree of the task.

    ``passed`` only when the loop accepted a final answer, every reply was used and the
    task's check passed; the steps are what the loop sent, as at pass@1.
    """
    scripted = ScriptedEngine(replies, name=engine_name, model=model,
                              supports_constraints=constrained)
    run = await run_episode(flow, registry=with_spec(registry, spec), engine=scripted,
                            policy=policy, root=root, run_id=run_id,
                            meta={"rationalised": True})
    steps = episode_steps(run, flow.node, scripted.calls)
    passed = check_passed(run)
    error = run.error
    if passed and scripted.left:
        error = f"the replay ended with {scripted.left} reply(ies) unused"
    ok = passed and node_passed(run, flow.node) and not scripted.left
    return Trajectory(task_id=flow.task.id, run_id=run.run_id,
                      status="passed" if ok else "failed", steps=steps,
                      error=None if ok else error, error_kind=run.error_kind,
                      passed_check=passed)


__all__ = ["DEFAULT_ROUNDS", "FeedbackConfig", "FeedbackEngine", "FeedbackOutcome",
           "FeedbackSession", "FeedbackTurn", "failure_lines", "feedback_sample",
           "feedback_text", "pytest_failures", "rationalise"]
