"""Verifier-guided search: the model proposes each next call, the task's checks choose.

A weak model rarely solves a whole task in one go, but among several samples of its next
call one is often right. :class:`VerifierEngine` sits between the agent's tool loop and
the model engine. For every request the loop sends it samples ``k`` candidate replies
(the same request, temperature > 0, ``k`` different seeds), applies each candidate tool
call to a scratch copy of the file, scores the result with the task's own check
(:func:`~pantheon_engine.docops.check.check_document`: rules satisfied minus things
broken) and answers the loop with the best one; the loop then applies it for real and
goes on. Once the file passes, only a final answer is accepted, and it must come from the
model too: candidates are sampled for that step like any other. Nothing is forced: when
no candidate helps in ``rounds`` rounds of sampling the trajectory is abandoned.

:func:`search_task` runs one task so; the trajectories whose final state passes and that
end with the model's final answer become examples (source ``search``), each step's
messages exactly those the loop sent.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from pantheon_engine.agents.io import DocTask
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.docops.check import CheckReport, check_document
from pantheon_engine.engines.base import Completion, Engine, EngineRequest
from pantheon_engine.errors import EngineError, PantheonError
from pantheon_engine.evals.suite import SuiteTask
from pantheon_engine.loop.envelope import (
    EnvelopeError,
    FinalAnswer,
    looks_like_tool_call,
    parse_envelope,
)
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.demos import (
    RecordingEngine,
    Trajectory,
    TrajectoryStop,
    doc_task,
    read_task_file,
    run_trajectory,
)
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.registry import get_tool
from pantheon_engine.tools.workspace import resolve_in_workspace

CandidateKind = Literal["tool", "final", "invalid"]
#: score of a file the check cannot read at all
UNREADABLE = -1_000
#: distinct candidates per step recorded in search.json, and the length of their text
NOTES_KEPT = 8
NOTE_CHARS = 200


class SearchConfig(BaseModel):
    """How hard to search: candidates per step, temperature, rounds before giving up."""

    k: int = Field(default=8, ge=1, le=64)
    temperature: float = Field(default=0.8, gt=0)
    #: sampling rounds per step before the trajectory is abandoned
    rounds: int = Field(default=2, ge=1, le=10)
    seed: int = 0
    #: accept a call that changes the file without raising the score (off: such calls
    #: rarely lead anywhere and make poor training data)
    allow_neutral: bool = False


class SearchStuck(TrajectoryStop):
    """No candidate of any round moved the task forward (or, once it passed, was final)."""

    kind = "search_stuck"


@dataclass
class Candidate:
    completion: Completion
    kind: CandidateKind
    score: float = float("-inf")
    changed: bool = False
    why: str = ""


class CandidateNote(BaseModel):
    """One distinct candidate of a step, as judged (for search.json)."""

    text: str
    count: int
    kind: CandidateKind
    score: float | None = None
    changed: bool = False
    why: str = ""


class StepStats(BaseModel):
    """What one search step saw: candidates sampled, how many were usable, what it chose."""

    step: int
    sampled: int = 0
    distinct: int = 0
    invalid: int = 0
    improving: int = 0
    finals: int = 0
    rounds: int = 0
    chosen: str | None = None  # "tool" | "final" | None (stuck)
    score_before: float = 0.0
    score_after: float | None = None
    #: the distinct candidates, most often sampled first (at most :data:`NOTES_KEPT`)
    candidates: list[CandidateNote] = Field(default_factory=list)


def score_report(report: CheckReport) -> float:
    """Partial credit: each rule's share of requirements met (a lowercase rule over two
    keys with one fixed counts 0.5), summed, minus things broken; an unreadable file
    scores :data:`UNREADABLE`."""
    if report.error:
        return UNREADABLE
    return sum(r.progress for r in report.rules) - len(report.broken)


@dataclass
class State:
    """The task's state before a step: its text (to tell a change), score and verdict."""

    text: str
    score: float
    passed: bool


class CandidateRefused(Exception):
    """A candidate call the search does not try (another file than the task's)."""


class Scorer:
    """Scores a task's state and what one candidate call would make of it."""

    async def state(self, workspace: Path) -> State:
        raise NotImplementedError

    async def try_call(self, workspace: Path, state: State, tool: Tool[Any, Any],
                       args: dict[str, Any], timeout_s: float) -> tuple[float, bool]:
        """The score after ``tool(args)`` on a scratch copy, and whether it changed the
        state; :class:`CandidateRefused`, a PantheonError or an OSError for a call that
        cannot be tried."""
        raise NotImplementedError

    def close(self) -> None:
        """Remove what the scorer keeps on disk."""


class DocScorer(Scorer):
    """A document task: rules-check progress (:func:`score_report`) of the task's file."""

    def __init__(self, task: DocTask, original: str) -> None:
        self.task = task
        self.original = original
        self._scratch = Path(tempfile.mkdtemp(prefix="pantheon-search-"))

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _check(self, text: str) -> CheckReport:
        return check_document(text, self.task.rules, self.original)

    async def state(self, workspace: Path) -> State:
        text = resolve_in_workspace(workspace, self.task.path).read_text(encoding="utf-8")
        report = self._check(text)
        return State(text=text, score=score_report(report), passed=report.passed)

    async def try_call(self, workspace: Path, state: State, tool: Tool[Any, Any],
                       args: dict[str, Any], timeout_s: float) -> tuple[float, bool]:
        if "path" in tool.args_model.model_fields:
            if args.get("path", self.task.path) != self.task.path:
                raise CandidateRefused("schema")
            args = {**args, "path": self.task.path}
        scratch = resolve_in_workspace(self._scratch, self.task.path)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_text(state.text, encoding="utf-8")
        await tool.invoke(ToolContext(workspace=self._scratch), args, timeout_s)
        after = scratch.read_text(encoding="utf-8")
        return score_report(self._check(after)), after != state.text


class VerifierEngine(RecordingEngine):
    """Answers one tool loop with the best of ``k`` sampled candidates per step."""

    def __init__(self, inner: Engine, spec: AgentSpec, scorer: Scorer,
                 config: SearchConfig, *, rng: random.Random) -> None:
        super().__init__()
        self.inner = inner
        self.name = f"search:{inner.name}"
        self.model = inner.model
        self.supports_constraints = inner.supports_constraints
        self.spec = spec
        self.scorer = scorer
        self.workspace: Path | None = None
        self.config = config
        self.rng = rng
        self.step_stats: list[StepStats] = []  # not `stats`: that is the Engine method
        self.sampled = 0
        #: whether the state before the last step passed the task's check
        self.passing = False
        #: tool name -> its fenced-block argument; arguments the agent binds
        self.blocks: dict[str, str] = {}
        self.bound: dict[str, dict[str, Any]] = {}
        #: an error of the model engine itself: it stops the harvest
        self.failure: EngineError | None = None

    def bind(self, workspace: Path) -> None:
        self.workspace = workspace

    def close_scratch(self) -> None:
        self.scorer.close()

    async def _sample(self, request: EngineRequest, seed: int) -> Completion:
        try:
            return await self.inner.complete(request.model_copy(
                update={"temperature": self.config.temperature, "seed": seed}))
        except TrajectoryStop:
            raise
        except EngineError as exc:
            self.failure = exc
            raise

    async def complete(self, request: EngineRequest) -> Completion:
        if self.workspace is None:
            raise EngineError("search: no workspace bound to the verifier")
        current = await self.scorer.state(self.workspace)
        self.passing = current.passed
        stats = StepStats(step=len(self.step_stats) + 1, score_before=current.score)
        self.step_stats.append(stats)
        seen: Counter[str] = Counter()
        judged: dict[str, Candidate] = {}
        for _ in range(self.config.rounds):
            stats.rounds += 1
            seeds = [self.rng.randrange(2**31) for _ in range(self.config.k)]
            completions = await asyncio.gather(*(self._sample(request, seed)
                                                 for seed in seeds))
            stats.sampled += len(completions)
            self.sampled += len(completions)
            for completion in completions:
                seen[completion.text] += 1
                if completion.text not in judged:
                    judged[completion.text] = await self._judge(completion, current)
            stats.distinct = len(judged)
            usable = list(judged.values())
            stats.invalid = sum(c.kind == "invalid" for c in usable)
            stats.finals = sum(c.kind == "final" for c in usable)
            stats.improving = sum(c.kind == "tool" and c.changed
                                  and c.score > stats.score_before for c in usable)
            pick = self._choose(usable, seen, current.passed, stats.score_before)
            stats.candidates = _notes(judged, seen)
            if pick is not None:
                stats.chosen = pick.kind
                stats.score_after = pick.score if pick.kind == "tool" else stats.score_before
                return self.record(request, pick.completion.text)
        what = "a final answer" if current.passed else "a call that brings the task closer"
        raise SearchStuck(f"search: no candidate in {stats.sampled} samples was {what}")

    def _choose(self, candidates: list[Candidate], seen: Counter[str], passed: bool,
                before: float) -> Candidate | None:
        """The best usable candidate (most often sampled first among equals), or None."""
        def order(c: Candidate) -> tuple[float, int]:
            return (c.score, seen[c.completion.text])

        if passed:
            finals = [c for c in candidates if c.kind == "final"]
            return max(finals, key=lambda c: seen[c.completion.text]) if finals else None
        tools = [c for c in candidates if c.kind == "tool" and c.changed]
        better = [c for c in tools if c.score > before]
        if better:
            return max(better, key=order)
        if self.config.allow_neutral:
            level = [c for c in tools if c.score == before]
            if level:
                return max(level, key=order)
        return None

    async def _judge(self, completion: Completion, current: State) -> Candidate:
        """Parse a candidate the way the loop would, and score what it would do."""
        if completion.finish_reason == "length":
            return Candidate(completion, "invalid", why="truncated")
        try:
            envelope = parse_envelope(completion.text, self.blocks)
        except EnvelopeError as exc:
            return Candidate(completion, "invalid", why=exc.kind)
        if isinstance(envelope, FinalAnswer):
            if looks_like_tool_call(envelope.output):
                return Candidate(completion, "invalid", why="schema")
            try:
                self.spec.final.model_validate(envelope.output)
            except ValidationError:
                return Candidate(completion, "invalid", why="schema")
            return Candidate(completion, "final", score=current.score)
        if envelope.name not in self.spec.tools:
            return Candidate(completion, "invalid", why="unknown_tool")
        assert self.workspace is not None
        args = {**envelope.args, **self.bound.get(envelope.name, {})}
        try:
            score, changed = await self.scorer.try_call(
                self.workspace, current, get_tool(envelope.name), args,
                self.spec.limits.tool_timeout_s)
        except CandidateRefused as exc:
            return Candidate(completion, "invalid", why=str(exc))
        except (PantheonError, OSError) as exc:
            return Candidate(completion, "invalid", why=getattr(exc, "kind", "tool_error"))
        return Candidate(completion, "tool", score=score, changed=changed)


def _notes(judged: dict[str, Candidate], seen: Counter[str]) -> list[CandidateNote]:
    ranked = sorted(judged.values(), key=lambda c: -seen[c.completion.text])[:NOTES_KEPT]
    return [CandidateNote(text=c.completion.text[:NOTE_CHARS], count=seen[c.completion.text],
                          kind=c.kind, score=c.score if c.kind != "invalid" else None,
                          changed=c.changed, why=c.why) for c in ranked]


class SearchOutcome(BaseModel):
    """One task's search: how it ended, its steps' statistics, how many samples it took."""

    task_id: str
    status: str
    steps: list[StepStats]
    sampled: int
    error: str | None = None


async def search_task(spec: AgentSpec, task: SuiteTask, source_workspace: Path,
                      engine: Engine, folder: Path, config: SearchConfig, *, run_id: str,
                      policy: Policy | None = None) -> tuple[Trajectory, SearchOutcome]:
    """Search one rule-checked task; the trajectory's steps are the chosen replies.

    ``status``: ``passed`` (the file passes and the model's final answer ended the loop),
    ``passed_no_final`` (the file passes but no sampled candidate was a final answer),
    ``stuck`` (no candidate moved the file forward) or ``failed`` (the loop ran out of
    steps).
    """
    doc = doc_task(task)
    original = read_task_file(source_workspace, doc)
    verifier = VerifierEngine(engine.for_agent(spec.name), spec, DocScorer(doc, original),
                              config, rng=random.Random(f"{config.seed}:{task.id}"))
    try:
        trajectory = await run_trajectory(spec, task, source_workspace, verifier, folder,
                                          run_id=run_id, policy=policy)
    finally:
        verifier.close_scratch()
    if verifier.failure is not None:
        raise verifier.failure
    if trajectory.error_kind == SearchStuck.kind and trajectory.status == "failed":
        trajectory.status = "stuck"
    return trajectory, SearchOutcome(task_id=task.id, status=trajectory.status,
                                     steps=verifier.step_stats, sampled=verifier.sampled,
                                     error=trajectory.error)
