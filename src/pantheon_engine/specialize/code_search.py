"""Verifier-guided search on code tasks: candidates are scored by the share of tests passed.

A code task (the ``codegen`` agent, graded by ``test.pytest`` on the task's tests) runs
through its own flow in a git worktree (:mod:`.episode`). At every step the verifier
samples ``k`` candidate replies; a ``write_file`` of one of the plan's files is applied to
a scratch copy of the worktree and the task's tests run there, all of them (not stopping
at the first failure): the candidate's score is the share of tests that pass. The loop
gets the candidate with the highest share above the current one; once every test passes
only a final answer is taken, and it must come from the model. Partial credit lets the
search climb: a body that passes the examples but not the edge cases is a step forward.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.context import AgentContext
from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.agents.spec import AgentSpec, Prepared
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import SpecError
from pantheon_engine.loop.tool_loop import block_args
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.demos import Trajectory, TrajectoryStatus
from pantheon_engine.specialize.episode import (
    TaskFlow,
    check_passed,
    episode_steps,
    node_passed,
    run_episode,
    with_spec,
)
from pantheon_engine.specialize.search import (
    CandidateRefused,
    Scorer,
    SearchConfig,
    SearchOutcome,
    SearchStuck,
    State,
    VerifierEngine,
)
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.dev import TESTS_TIMEOUT_S, PytestCounts, parse_pytest_summary
from pantheon_engine.tools.procs import run_process
from pantheon_engine.tools.registry import get_tool
from pantheon_engine.tools.workspace import resolve_in_workspace

#: folders a scratch copy of a worktree leaves out
SCRATCH_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache")


def tests_share(counts: PytestCounts) -> float:
    """The share of tests that passed (0 when none ran: a module that does not import)."""
    ran = counts.passed + counts.failed + counts.errors
    return counts.passed / ran if ran else 0.0


class CodeScorer(Scorer):
    """A code task: the share of its tests that pass with the plan's files as they are."""

    def __init__(self, files: list[str], tests: str, *, timeout_s: float = TESTS_TIMEOUT_S
                 ) -> None:
        self.files = list(files)
        self.tests = tests
        self.timeout_s = timeout_s
        self.tool_ctx: ToolContext | None = None
        self._scratch: Path | None = None
        self._scores: dict[str, tuple[float, bool]] = {}

    def bind(self, workspace: Path, tool_ctx: ToolContext) -> None:
        """A scratch copy of the worktree (its tests included); ``tool_ctx``: the run's own
        (sandbox, scrubbed environment), pointed at the scratch copy."""
        self.close()
        self._scratch = Path(tempfile.mkdtemp(prefix="pantheon-code-search-")) / "ws"
        shutil.copytree(workspace, self._scratch, ignore=SCRATCH_IGNORE, symlinks=True)
        self.tool_ctx = dataclasses.replace(tool_ctx, workspace=self._scratch)

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch.parent, ignore_errors=True)
            self._scratch = None

    def _text(self, root: Path) -> str:
        """The plan's files as they are under ``root`` (JSON: name -> text, or null)."""
        files: dict[str, str | None] = {}
        for name in self.files:
            path = resolve_in_workspace(root, name)
            files[name] = path.read_text(encoding="utf-8") if path.is_file() else None
        return json.dumps(files, sort_keys=True)

    def _put(self, text: str) -> None:
        """Write the plan's files of state ``text`` into the scratch copy."""
        assert self._scratch is not None
        for name, body in json.loads(text).items():
            path = resolve_in_workspace(self._scratch, name)
            if body is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body, encoding="utf-8")

    async def _score(self, text: str) -> tuple[float, bool]:
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if key not in self._scores:
            self._put(text)
            self._scores[key] = await self.run_tests()
        return self._scores[key]

    async def run_tests(self) -> tuple[float, bool]:
        """Every test of the task on the scratch copy: (share passed, all passed)."""
        assert self._scratch is not None and self.tool_ctx is not None
        resolve_in_workspace(self._scratch, self.tests)  # confined to the scratch copy
        target = self.tests if not self.tests.startswith("-") else f"./{self.tests}"
        argv = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
                "--color=no", target]
        env = {**self.tool_ctx.env, "PYTHONDONTWRITEBYTECODE": "1"}
        for name in ("PYTHONSAFEPATH", "PYTEST_CURRENT_TEST"):
            env.pop(name, None)
        result = await run_process(argv, cwd=self._scratch, env=env,
                                   timeout_s=self.timeout_s, output_cap=self.tool_ctx.output_cap,
                                   command_prefix=self.tool_ctx.command_prefix,
                                   raise_on_timeout=False)
        _, counts = parse_pytest_summary(result.output)
        share = 0.0 if result.timed_out else tests_share(counts)
        return share, result.returncode == 0 and not result.timed_out and share == 1.0

    async def state(self, workspace: Path) -> State:
        if self._scratch is None:
            raise SpecError("code search: the scorer has no scratch copy of the worktree")
        text = self._text(workspace)
        score, passed = await self._score(text)
        return State(text=text, score=score, passed=passed)

    async def try_call(self, workspace: Path, state: State, tool: Tool[Any, Any],
                       args: dict[str, Any], timeout_s: float) -> tuple[float, bool]:
        assert self._scratch is not None and self.tool_ctx is not None
        path = args.get("path")
        if tool.name == "write_file" and path not in self.files:
            raise CandidateRefused("schema")
        self._put(state.text)
        await tool.invoke(self.tool_ctx, args, timeout_s)
        after = self._text(self._scratch)
        if after == state.text:
            return state.score, False
        score, _ = await self._score(after)
        return score, True


class _Plan(BaseModel):
    model_config = {"extra": "allow"}

    files: list[str]
    tests: str


def code_plan(flow: TaskFlow) -> _Plan:
    """The plan's files and tests path of a code task; a SpecError for anything else."""
    try:
        return _Plan.model_validate(flow.run_input)
    except ValueError:
        raise SpecError(f"task {flow.task.id!r} is neither a document task nor a code task "
                        "(files and tests)", hint="search works on docops and code tasks"
                        ) from None


async def search_code_task(spec: AgentSpec, flow: TaskFlow, *, registry: AgentRegistry,
                           engine: Engine, root: Path, config: SearchConfig, run_id: str,
                           policy: Policy | None = None
                           ) -> tuple[Trajectory, SearchOutcome]:
    """Search one code task through its flow; the trajectory's steps are the chosen replies.

    ``status`` as :func:`~pantheon_engine.specialize.search.search_task` has it: ``passed``
    (the tests pass and the model's final answer ended the loop), ``passed_no_final``,
    ``stuck`` or ``failed``.
    """
    plan = code_plan(flow)
    scorer = CodeScorer(plan.files, plan.tests)
    verifier = VerifierEngine(engine.for_agent(spec.name), spec, scorer, config,
                              rng=random.Random(f"{config.seed}:{flow.task.id}"))
    original = spec.prepare
    tools = [get_tool(name) for name in spec.tools]

    async def prepare(ctx: AgentContext, data: BaseModel) -> Prepared:
        prepared = await original(ctx, data) if original is not None else Prepared()
        verifier.bind(ctx.workspace)
        verifier.blocks = block_args(tools, prepared.schema_overrides, prepared.bound_args)
        verifier.bound = prepared.bound_args
        scorer.bind(ctx.workspace, ctx.tool_ctx)
        return prepared

    searching = dataclasses.replace(spec, prepare=prepare)
    try:
        run = await run_episode(flow, registry=with_spec(registry, searching), engine=verifier,
                                policy=policy or Policy(mode="night"), root=root,
                                run_id=run_id, meta={"search": config.k})
    finally:
        scorer.close()
    if verifier.failure is not None:
        raise verifier.failure
    steps = episode_steps(run, flow.node, verifier.calls)
    passed = check_passed(run)
    status: TrajectoryStatus
    if passed and node_passed(run, flow.node):
        status = "passed"
    elif passed or (run.error_kind == SearchStuck.kind and verifier.passing):
        status = "passed_no_final"
    elif run.error_kind == SearchStuck.kind:
        status = "stuck"
    else:
        status = "failed"
    trajectory = Trajectory(task_id=flow.task.id, run_id=run.run_id, status=status,
                            steps=steps, error=run.error, error_kind=run.error_kind,
                            passed_check=passed or verifier.passing)
    return trajectory, SearchOutcome(task_id=flow.task.id, status=status,
                                     steps=verifier.step_stats, sampled=verifier.sampled,
                                     error=run.error)


__all__ = ["CodeScorer", "code_plan", "search_code_task", "tests_share"]
