"""Run an agent over a suite split and measure it: ``pantheon eval``'s engine room.

Every sample is an ordinary run through the same :class:`Orchestrator` and tool loop as a
night, so an eval measures exactly what a night does. An agent task runs a two-node flow,
the agent and the check that grades it; a flow task runs its flow. A sample passes only
when the run's checks passed (``RunResult.check["passed"]``), never because the agent said
it was done. All samples start at once behind one semaphore, so a batching engine sees up
to ``concurrency`` requests in flight.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.artifacts import new_run_id
from pantheon_engine.atomic import read_json
from pantheon_engine.docops.check import CheckReport
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import RunFailure, SpecError
from pantheon_engine.evals.results import EvalResult, SampleResult, TaskResult
from pantheon_engine.evals.strata import task_needs_work
from pantheon_engine.evals.suite import Suite, SuiteTask, resolve_flow
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import ID_PATTERN, Flow, load_flow_checked, validate_flow
from pantheon_engine.run.orchestrator import Orchestrator, RunResult

#: called after each sample: (samples done, samples in all, task id, the sample's result)
Progress = Callable[[int, int, str, SampleResult], None]

ERROR_MAX = 300
"""Longest error message kept per sample in eval.json (the run folder has the rest)."""


def agent_spec(registry: AgentRegistry, ref: str) -> AgentSpec:
    """The registered agent ``name`` or ``name@version``; a version mismatch is refused.

    The registry's own ``spec.ref`` is taken as it is (an agent file may declare any version
    string); anything else must parse as an :class:`AgentRef`.
    """
    name = AgentRef.name_of(ref)
    if name in registry and ref == registry.get(name).ref:
        return registry.get(name)
    wanted = AgentRef.parse(ref)
    spec = registry.get(wanted.name)
    if wanted.version is not None and str(wanted) != spec.ref:
        raise SpecError(f"{wanted} is not registered: the registry has {spec.ref}",
                        hint=f"evaluate {spec.ref} (or just {spec.name})")
    return spec


def _agent_node_id(name: str) -> str:
    """The agent's node id in its eval flow: the last part of its name (``frontmatter``).

    The same id a flow file would use, so replies recorded from such a run replay here.
    """
    last = name.rsplit(".", 1)[-1]
    return last if re.match(ID_PATTERN, last) and last != "check" else "agent"


def agent_flow(spec: AgentSpec, registry: AgentRegistry) -> Flow:
    """The two-node flow an agent task runs: the agent on the input, then its check."""
    if spec.check is None:
        raise SpecError(f"{spec.ref} names no check: an eval has nothing to grade it with",
                        hint="set `check=` on the AgentSpec to the check agent that grades it")
    if spec.role == "check":
        raise SpecError(f"{spec.ref} is a check, not an agent to evaluate")
    node = _agent_node_id(spec.name)
    flow = Flow.model_validate({
        "name": f"eval.{spec.name}", "description": f"{spec.ref} graded by {spec.check}",
        "nodes": [
            {"id": node, "agent": spec.name, "inputs": ["input"]},
            {"id": "check", "agent": spec.check, "inputs": [node]},
        ],
        "output": "check",
    })
    validate_flow(flow, known_agents=lambda name: name in registry, agent_hint=registry.hint)
    return flow


@dataclass
class _Job:
    task: SuiteTask
    flow: Flow
    input: dict[str, Any]
    sample: int


def plan(suite: Suite, spec: AgentSpec, split: str | None,
         registry: AgentRegistry) -> list[tuple[SuiteTask, Flow, dict[str, Any]]]:
    """The split's tasks that exercise ``spec``, each with its flow and run input.

    A task naming an agent matches that agent; a task naming a flow matches when one of the
    flow's nodes runs the agent. Inputs are checked against their flows before anything
    runs, so a bad suite fails at once and not halfway through an eval.
    """
    own: Flow | None = None
    flows: dict[Path, Flow] = {}
    chosen = []
    checker = Orchestrator(registry=registry, engine=None, policy=Policy(mode="day"),
                           artifacts_root=Path("."))
    for task in suite.split(None if split in (None, "all") else split):
        if task.agent is not None:
            if AgentRef.name_of(task.agent) != spec.name:
                continue
            own = own or agent_flow(spec, registry)
            flow = own
        elif task.flow is not None:
            path = resolve_flow(task.flow, suite.folder)
            if path not in flows:
                flows[path] = load_flow_checked(path, registry)
            flow = flows[path]
            if not any(n.agent == spec.name for n in flow.nodes):
                continue
            if not any(registry.get(n.agent).role == "check" for n in flow.nodes):
                raise SpecError(f"task {task.id!r} (line {task.line}): flow {flow.name!r} has "
                                "no check node, so nothing would grade it",
                                hint="add a check node (e.g. check.rules) to the flow")
        else:
            continue
        run_input = {**task.input, "workspace": str(suite.workspace)}
        try:
            checker.validate_input(flow, run_input)
        except SpecError as exc:
            raise SpecError(f"task {task.id!r} (line {task.line}): {exc.message}",
                            hint=exc.hint) from None
        chosen.append((task, flow, run_input))
    return chosen


def failed_labels(run_dir: Path, check_nodes: list[str]) -> list[str]:
    """The unmet rules the checks reported (``report.json`` of each check node)."""
    labels: list[str] = []
    for node in check_nodes:
        try:
            report = CheckReport.model_validate(read_json(run_dir / node / "report.json"))
        except (OSError, ValueError):
            continue  # the check did not get to run, or it is not a rules check
        labels += [label for label in report.failed_labels if label not in labels]
    return labels


def sample_result(result: RunResult, sample: int) -> SampleResult:
    """One sample's record; ``passed`` is the checks' verdict and nothing else."""
    check = result.check or {}
    verdict = check.get("passed")
    passed = verdict is True
    kind = result.error_kind
    if not passed and kind is None:
        kind = "not_graded"
    error = result.error or check.get("error")
    return SampleResult(
        sample=sample, passed=passed, error_kind=kind,
        error=str(error)[:ERROR_MAX] if error else None,
        failed=[] if passed else failed_labels(Path(result.dir), list(check.get("nodes", []))),
        steps=sum(n.steps for n in result.nodes),
        tool_calls=sum(n.tool_calls for n in result.nodes),
        prompt_tokens=sum(n.prompt_tokens for n in result.nodes),
        completion_tokens=sum(n.completion_tokens for n in result.nodes),
        seconds=result.seconds, run_id=result.run_id,
        search={k: result.search[k] for k in ("k", "tried", "tokens", "passed_first",
                                                "accepted")} if result.search else None,
    )


async def run_eval(suite: Suite, *, agent: str, split: str | None, engine: Engine | None,
                   registry: AgentRegistry, artifacts: Path, samples: int = 1,
                   temperature: float | None = None, concurrency: int = 32, seed: int = 0,
                   on_progress: Progress | None = None, policy: Policy | None = None,
                   eval_id: str | None = None, traces: Any = None,
                   limit: int | None = None, search: int = 1) -> EvalResult:
    """Run ``agent`` over the split ``samples`` times per task and write ``eval.json``.

    ``limit``: only the split's first ``limit`` tasks (suite order).

    ``engine`` must be started already. Sample ``s`` runs with seed ``seed + s``. ``traces``:
    a TraceStore that records every request and reply (None: artifacts only). Runs go to
    ``<artifacts>/evals/<eval_id>/runs/``; a user error (unknown agent, a split with no
    task for the agent, an input that does not fit) raises before any run starts.
    """
    if samples < 1:
        raise SpecError(f"--samples must be at least 1, got {samples}")
    if concurrency < 1:
        raise SpecError(f"--concurrency must be at least 1, got {concurrency}")
    spec = agent_spec(registry, agent)
    chosen = plan(suite, spec, split, registry)[:limit]
    split_name = split or "all"
    if not chosen:
        raise SpecError(f"no {split_name} task of {suite.folder} runs {spec.name}",
                        hint="check the split and each task's `agent` or `flow` in tasks.jsonl")
    policy = policy or Policy(mode="night")
    eval_id = eval_id or new_run_id(f"eval-{spec.name}")
    root = Path(artifacts) / "evals" / eval_id
    root.mkdir(parents=True, exist_ok=True)
    jobs = [_Job(task, flow, run_input, s) for task, flow, run_input in chosen
            for s in range(samples)]
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(job: _Job) -> SampleResult:
        nonlocal done
        async with gate:
            orchestrator = Orchestrator(
                registry=registry, engine=engine, policy=policy, artifacts_root=root,
                seed=seed + job.sample, temperature=temperature, traces=traces,
                search=search,
                run_meta={"eval_id": eval_id, "task_id": job.task.id, "sample": job.sample,
                          **({"measurement_only": True} if suite.measurement_only else {})})
            started = time.perf_counter()
            try:
                result = await orchestrator.run(job.flow, job.input, suite.workspace)
            except RunFailure as exc:  # the run could not even start its nodes
                record = SampleResult(sample=job.sample, passed=False, error_kind=exc.kind,
                                      error=exc.message[:ERROR_MAX],
                                      seconds=time.perf_counter() - started)
            else:
                record = sample_result(result, job.sample)
        done += 1
        if on_progress is not None:
            on_progress(done, len(jobs), job.task.id, record)
        return record

    started = time.perf_counter()
    running = [asyncio.create_task(one(job)) for job in jobs]
    try:
        records = await asyncio.gather(*running)
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    seconds = time.perf_counter() - started

    by_task: dict[str, TaskResult] = {}
    for job, record in zip(jobs, records, strict=True):
        entry = by_task.setdefault(job.task.id, TaskResult(
            id=job.task.id, split=job.task.split, samples=0, passed=0, results=[],
            needs_work=task_needs_work(job.task.meta, agent=spec.name,
                                       generator=suite.generator)))
        entry.samples += 1
        entry.passed += record.passed
        entry.results.append(record)
    result = EvalResult.build(
        eval_id=eval_id, agent=spec.ref, engine=engine.name if engine else None,
        model=engine.for_agent(spec.name).model if engine else None,
        suite=str(suite.folder), split=split_name,
        samples=samples, temperature=temperature, seed=seed, seconds=seconds,
        tasks=list(by_task.values()), dir=str(root), measurement_only=suite.measurement_only)
    result.write(root / "eval.json")
    return result
