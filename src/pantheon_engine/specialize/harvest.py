"""Harvest: green training data for one agent from a suite's train split.

The ways to get green conversations out of a model too weak to pass on its own:

* ``best-of-k``: ``k`` samples per task at temperature > 0 through the ordinary eval
  machinery, every request recorded in the trace store; the runs whose checks pass are
  green runs like any other, and their steps become examples (source ``best-of-k``).
  Or queued as night jobs (:func:`queue_best_of_k`): a harvest is then a night like any
  other (queue, leases, resume, metrics, report), and mining collects its green runs.
* ``search``: verifier-guided search with partial credit
  (:mod:`pantheon_engine.specialize.search` for documents,
  :mod:`pantheon_engine.specialize.code_search` for code), source ``search``.
* ``feedback``: best-of-k whose failed checks go back to the agent; what then passes is
  rationalised (:mod:`pantheon_engine.specialize.feedback`), source ``feedback``.
* ``demos``: the scripted demonstrator through the real loop
  (:mod:`pantheon_engine.specialize.demos`), source ``demo`` (an upper bound, not a model's
  work); and ``--demos FILE`` imports green conversations from a JSONL file (source
  ``import``) in any mode.
* a teacher (:mod:`pantheon_engine.specialize.teacher`): best-of-k, search or feedback with
  a stronger model's engine answering the agent's own loop, source ``teacher``.

Every harvest writes ``<artifacts>/specialize/<agent>/harvest-<id>.jsonl`` (examples in the
mining format, see :mod:`pantheon_engine.specialize.mine`) and ``harvest-<id>.json`` (what
it did, counts per source and per stratum). Examples of tasks that needed no work are
capped to a share of the harvest (:mod:`pantheon_engine.specialize.balance`).
``pantheon traces mine --include`` merges harvest files with the examples mined from
traces. Only the train split is ever harvested.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.artifacts import new_run_id, utc_now
from pantheon_engine.atomic import atomic_write_json, atomic_write_text
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError, SpecError
from pantheon_engine.evals.runner import agent_flow, agent_spec, plan, run_eval
from pantheon_engine.evals.suite import Suite, SuiteTask
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.balance import (
    DEFAULT_MAX_NO_WORK_SHARE,
    NO_WORK,
    Balance,
    SourceCounts,
    StratumCounts,
    cap_no_work,
    check_share,
    source_counts,
    strata_counts,
    task_strata,
)
from pantheon_engine.specialize.code_search import code_plan, search_code_task
from pantheon_engine.specialize.demos import Trajectory, demonstrate, doc_task, is_doc_task
from pantheon_engine.specialize.episode import TaskFlow, task_flows
from pantheon_engine.specialize.feedback import FeedbackConfig, FeedbackOutcome, feedback_sample
from pantheon_engine.specialize.mine import (
    HARVEST_MARKER,
    MINER_SKIPS,
    Curator,
    Example,
    ExampleCounts,
    HoldoutGuard,
    agent_tool_defs,
    mine,
    read_examples,
    source_label,
    tool_defs,
    write_examples,
)
from pantheon_engine.specialize.search import SearchConfig, SearchOutcome, search_task

Mode = Literal["best-of-k", "search", "demos", "feedback"]
MODES: tuple[str, ...] = ("best-of-k", "search", "demos", "feedback")
#: called after each task (or sample): (done, total, task id, passed)
Progress = Callable[[int, int, str, bool], None]


class HarvestResult(BaseModel):
    """What one harvest did (the content of ``harvest-<id>.json``)."""

    harvest_id: str
    agent: str
    mode: str
    suite: str
    split: str
    tasks: int
    samples: int | None = None
    temperature: float | None = None
    engine: str | None = None
    model: str | None = None
    started_at: str
    seconds: float = 0.0
    #: how the trajectories ended (search, demos) or samples passed / failed (best-of-k)
    outcomes: dict[str, int] = Field(default_factory=dict)
    #: tasks with at least one green trajectory or sample
    tasks_green: int = 0
    #: model samples drawn (best-of-k: runs; search: candidates)
    sampled: int = 0
    eval_id: str | None = None
    imported: str | None = None
    #: the teacher model that wrote the replies (source ``teacher``); the prompts are the
    #: agent's own
    teacher: str | None = None
    #: feedback mode: the most feedback rounds a trajectory got
    feedback_rounds: int | None = None
    #: per source: tasks with a green trajectory or sample from it, how many, examples
    sources: dict[str, SourceCounts] = Field(default_factory=dict)
    #: per stratum (``needs_work``, ``no_work``): tasks, green tasks, examples, dropped
    strata: dict[str, StratumCounts] = Field(default_factory=dict)
    #: what the no-work cap kept and dropped
    balance: Balance | None = None
    counts: ExampleCounts = Field(default_factory=ExampleCounts)
    out: str | None = None

    def render(self) -> str:
        outcomes = ", ".join(f"{k} {v}" for k, v in self.outcomes.items()) or "none"
        by = f" by {self.teacher} (teacher)" if self.teacher else ""
        lines = [f"harvest {self.harvest_id} ({self.mode}{by}) of {self.agent}: {self.tasks} "
                 f"{self.split} task(s), {self.tasks_green} green; {outcomes}"]
        if self.sampled:
            lines.append(f"model samples: {self.sampled}")
        if self.sources:
            lines.append("green by source: " + "; ".join(
                f"{source_label(name)} {c.tasks_green} task(s), {c.trajectories} "
                f"trajectory(ies), {c.examples} example(s)"
                for name, c in self.sources.items()))
        if self.strata:
            parts = []
            for name, c in self.strata.items():
                text = (f"{name.replace('_', ' ')} {c.tasks} task(s), {c.tasks_green} green, "
                        f"{c.examples} example(s)")
                if c.dropped:
                    text += f" ({c.dropped} dropped by the no-work cap)"
                parts.append(text)
            lines.append("by stratum: " + "; ".join(parts))
        if self.balance is not None and self.balance.no_work_dropped:
            lines.append(f"no-work cap {self.balance.max_no_work_share:.0%}: kept "
                         f"{self.balance.no_work_kept}, dropped "
                         f"{self.balance.no_work_dropped} example(s) of tasks that needed "
                         "no work")
        lines.append(self.counts.render())
        return "\n".join(lines)


def harvest_dir(artifacts: Path, spec: AgentSpec) -> Path:
    """Where an agent's harvests go: ``<artifacts>/specialize/<agent>/``."""
    return Path(artifacts) / "specialize" / spec.name


def new_harvest_id(mode: str) -> str:
    return new_run_id(mode)


def train_tasks(suite: Suite, spec: AgentSpec, split: str,
                registry: AgentRegistry) -> list[SuiteTask]:
    """The split's tasks that run ``spec``; refuses any split but ``train``, and a suite
    that is a measurement only (HumanEval)."""
    suite.refuse_training("harvesting")
    if split != "train":
        raise ConfigError(f"harvesting the {split!r} split is refused: only train tasks may "
                          "become training data", hint="use --split train; the holdout "
                          "split measures the trained agent and must stay unseen")
    chosen = [task for task, _, _ in plan(suite, spec, split, registry)]
    if not chosen:
        raise SpecError(f"no train task of {suite.folder} runs {spec.name}",
                        hint="check each task's `agent` or `flow` in tasks.jsonl")
    return chosen


def _finish(result: HarvestResult, curator: Curator, folder: Path, started: float,
            skipped: Counter[str] | None = None, *, strata: Mapping[str, str],
            green: Sequence[tuple[str, str]] = (),
            max_no_work_share: float = DEFAULT_MAX_NO_WORK_SHARE) -> HarvestResult:
    """Cap the no-work examples, count per source and stratum, write both files.

    ``strata``: task id -> stratum for the harvested tasks; ``green``: one (source, task id)
    per green trajectory or sample."""
    kept, dropped = cap_no_work(curator.kept, strata, max_no_work_share)
    curator.kept = kept
    if dropped:
        curator.dropped["no_work_cap"] += len(dropped)
    out = folder / f"harvest-{result.harvest_id}.jsonl"
    write_examples(out, curator.kept)
    result.counts = ExampleCounts.of(curator, skipped)
    result.sources = source_counts(green, kept)
    result.strata = strata_counts(strata, (task for _, task in green), kept, dropped, strata)
    result.balance = Balance(max_no_work_share=max_no_work_share,
                             no_work_kept=result.strata[NO_WORK].examples,
                             no_work_dropped=len(dropped))
    result.out = str(out)
    result.seconds = time.perf_counter() - started
    atomic_write_json(folder / f"harvest-{result.harvest_id}.json",
                      result.model_dump(mode="json"))
    return result


def agent_flow_file(artifacts: Path, spec: AgentSpec, registry: AgentRegistry) -> Path:
    """The agent-then-check flow an agent task runs, as a flow file night jobs can name."""
    flow = agent_flow(spec, registry)
    path = harvest_dir(artifacts, spec) / f"{flow.name}.yaml"
    data = flow.model_dump(mode="json", exclude={"source"}, exclude_defaults=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path


def queue_best_of_k(suite: Suite, *, agent: str, registry: AgentRegistry, artifacts: Path,
                    split: str = "train", samples: int = 8, temperature: float = 0.8,
                    seed: int = 0, priority: int = 0) -> HarvestResult:
    """Queue ``samples`` night jobs per train task instead of running them now.

    Each job carries its seed (``seed + sample``), the temperature and the facts mining
    needs (task id, split, source ``best-of-k``, the harvest id) in its input's
    :data:`~pantheon_engine.night.drain.SAMPLING_KEY`; ``pantheon night`` drains them like any
    other jobs (leases, resume, metrics, report) and ``pantheon traces mine`` collects the
    green runs.
    """
    from pantheon_engine.night.drain import SAMPLING_KEY
    from pantheon_engine.night.jobqueue import JobQueue, NewJob

    if temperature <= 0:
        raise ConfigError(f"best-of-k needs a temperature above 0, got {temperature}")
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    spec = agent_spec(registry, agent)
    train_tasks(suite, spec, split, registry)  # the same refusals as a harvest run now
    chosen = plan(suite, spec, split, registry)
    started, started_at = time.perf_counter(), utc_now()
    harvest_id = new_harvest_id("best-of-k")
    own_flow: Path | None = None
    jobs = []
    for task, flow, run_input in chosen:
        if task.flow is not None:
            flow_file = suite.flow_file(task)
        else:
            own_flow = own_flow or agent_flow_file(artifacts, spec, registry)
            flow_file = own_flow
        for sample in range(samples):
            meta = {"task_id": task.id, "sample": sample, "split": task.split,
                    "source": "best-of-k", "harvest_id": harvest_id}
            jobs.append(NewJob(flow=str(flow_file), flow_name=flow.name, group_key=spec.name,
                               priority=priority, input={**run_input, SAMPLING_KEY: {
                                   "seed": seed + sample, "temperature": temperature,
                                   "meta": meta}}))
    with JobQueue.for_artifacts(artifacts) as queue:
        added = queue.add_many(jobs)
    result = HarvestResult(
        harvest_id=harvest_id, agent=spec.ref, mode="best-of-k", suite=str(suite.folder),
        split=split, tasks=len(chosen), samples=samples, temperature=temperature,
        started_at=started_at, outcomes={"queued": len(added)},
        seconds=time.perf_counter() - started)
    folder = harvest_dir(artifacts, spec)
    atomic_write_json(folder / f"harvest-{harvest_id}.json", result.model_dump(mode="json"))
    return result


def _import(curator: Curator, demos: Path | None, spec: AgentSpec,
            tools: list[dict[str, Any]]) -> None:
    """Imported examples (source ``import``); one without tools gets the agent's."""
    if demos is not None:
        curator.add_all(e if e.tools else e.model_copy(update={"tools": tools})
                        for e in read_examples(demos, source="import", agent=spec.ref))


async def _tool_defs(spec: AgentSpec, suite: Suite,
                     tasks: Sequence[SuiteTask]) -> list[dict[str, Any]]:
    """The agent's tool definitions as its prompt shows them (prepared on the first task)."""
    if not tasks:
        return tool_defs(spec)
    return await agent_tool_defs(spec, {**tasks[0].input, "workspace": str(suite.workspace)},
                                 suite.workspace)


async def harvest_best_of_k(
        suite: Suite, *, agent: str, registry: AgentRegistry, engine: Engine,
        artifacts: Path, split: str = "train", samples: int = 8, temperature: float = 0.8,
        seed: int = 0, concurrency: int = 32, policy: Policy | None = None,
        demos: Path | None = None, on_progress: Progress | None = None,
        limit: int | None = None, teacher: str | None = None,
        max_no_work_share: float = DEFAULT_MAX_NO_WORK_SHARE) -> HarvestResult:
    """``samples`` runs per train task through :func:`run_eval`, traces recorded; the
    green runs' steps become the harvest's examples (source ``best-of-k``, or ``teacher``
    when ``teacher`` names the model ``engine`` serves instead of the agent's own).
    ``limit``: only the split's first ``limit`` tasks."""
    from pantheon_engine.loop.traces import TraceStore

    if temperature <= 0:
        raise ConfigError(f"best-of-k needs a temperature above 0, got {temperature}",
                          hint="k samples at temperature 0 are k copies of one answer")
    check_share(max_no_work_share)
    spec = agent_spec(registry, agent)
    tasks = train_tasks(suite, spec, split, registry)[:limit]
    started, started_at = time.perf_counter(), utc_now()
    harvest_id = new_harvest_id("best-of-k")
    source = "teacher" if teacher else "best-of-k"
    eval_root = (Path(artifacts) / "evals" / harvest_id).resolve()
    eval_root.mkdir(parents=True, exist_ok=True)
    # written first, so that the runs of an interrupted harvest still count as its own
    atomic_write_json(eval_root / HARVEST_MARKER, {
        "source": source, "harvest_id": harvest_id, "agent": spec.ref,
        "suite": str(suite.folder), "split": split, "samples": samples,
        "temperature": temperature, **({"teacher": teacher} if teacher else {})})

    def progress(done: int, total: int, task_id: str, record: Any) -> None:
        if on_progress is not None:
            on_progress(done, total, task_id, bool(record.passed))

    store = TraceStore.for_artifacts(artifacts)
    try:
        evaluated = await run_eval(
            suite, agent=agent, split=split, engine=engine, registry=registry,
            artifacts=artifacts, samples=samples, temperature=temperature,
            concurrency=concurrency, seed=seed, on_progress=progress, policy=policy,
            eval_id=harvest_id, traces=store, limit=limit)
    finally:
        store.close()
    curator = Curator(HoldoutGuard.from_suite(suite, split))
    mined, _ = await mine(artifacts, spec, agent=spec.ref, curator=curator,
                          run_filter=lambda run: run.dir.resolve().parent.parent == eval_root)
    _import(curator, demos, spec, await _tool_defs(spec, suite, tasks))
    result = HarvestResult(
        harvest_id=harvest_id, agent=spec.ref, mode="best-of-k", suite=str(suite.folder),
        split=split, tasks=len(tasks), samples=samples, temperature=temperature,
        engine=engine.name, model=engine.for_agent(spec.name).model, started_at=started_at,
        outcomes={"passed": evaluated.passed_samples,
                  "failed": evaluated.total_samples - evaluated.passed_samples},
        tasks_green=sum(t.passed > 0 for t in evaluated.tasks),
        sampled=evaluated.total_samples, eval_id=harvest_id,
        imported=str(demos) if demos else None, teacher=teacher)
    skipped = Counter({k: v for k, v in mined.counts.dropped.items() if k in MINER_SKIPS})
    green = [(source, t.id) for t in evaluated.tasks for r in t.results if r.passed]
    return _finish(result, curator, harvest_dir(artifacts, spec), started, skipped,
                   strata=task_strata(suite, tasks, spec.name), green=green,
                   max_no_work_share=max_no_work_share)


async def harvest_trajectories(
        suite: Suite, *, agent: str, registry: AgentRegistry, artifacts: Path,
        mode: Literal["search", "demos"], engine: Engine | None = None,
        split: str = "train", config: SearchConfig | None = None, concurrency: int = 4,
        policy: Policy | None = None, demos: Path | None = None,
        keep_unfinished: bool = False, tasks: Sequence[SuiteTask] | None = None,
        on_progress: Progress | None = None, teacher: str | None = None,
        max_no_work_share: float = DEFAULT_MAX_NO_WORK_SHARE) -> HarvestResult:
    """Search or demonstrate every train task; keep the trajectories that end green.

    A trajectory counts when the file then meets the task's rules and the loop accepted
    the final answer; with ``keep_unfinished`` (search only) the tool steps of a file that
    passes without a sampled final answer are kept too. ``teacher``: the model ``engine``
    serves is a teacher's (search only): the examples' source is ``teacher``.
    """
    check_share(max_no_work_share)
    spec = agent_spec(registry, agent)
    allowed = train_tasks(suite, spec, split, registry)
    chosen = list(tasks) if tasks is not None else allowed
    for task in chosen:
        if task.split != "train":
            raise ConfigError(f"task {task.id!r} is a {task.split} task: only train tasks "
                              "may become training data")
        if mode == "demos" or is_doc_task(task):
            doc_task(task)  # demonstrations need rule-checked tasks: before anything runs
    # search on anything but a document: code tasks, through their flow and tests
    code = {flow.task.id: flow for flow in task_flows(
        suite, spec, [t for t in chosen if not is_doc_task(t)], registry)} \
        if mode == "search" else {}
    for flow in code.values():
        code_plan(flow)
    if mode == "search" and engine is None:
        raise ConfigError("search needs a model engine")
    config = config or SearchConfig()
    started, started_at = time.perf_counter(), utc_now()
    harvest_id = new_harvest_id(mode)
    folder = harvest_dir(artifacts, spec)
    trajectories_dir = folder / f"harvest-{harvest_id}"
    source = ("teacher" if teacher else "search") if mode == "search" else "demo"
    tools = await _tool_defs(spec, suite, chosen)
    curator = Curator(HoldoutGuard.from_suite(suite, split))
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(max(1, concurrency))
    done = green = sampled = 0
    searches: list[SearchOutcome] = []

    async def one(task: SuiteTask) -> tuple[SuiteTask, Trajectory]:
        nonlocal done, sampled
        async with gate:
            run_id = f"{harvest_id}-{task.id}"
            where = trajectories_dir / task.id
            if mode == "search" and task.id in code:
                assert engine is not None
                trajectory, outcome = await search_code_task(
                    spec, code[task.id], registry=registry, engine=engine, root=where,
                    config=config, run_id=run_id, policy=policy)
                searches.append(outcome)
                sampled += outcome.sampled
            elif mode == "search":
                assert engine is not None
                trajectory, outcome = await search_task(spec, task, suite.workspace, engine,
                                                        where, config, run_id=run_id,
                                                        policy=policy)
                searches.append(outcome)
                sampled += outcome.sampled
            else:
                trajectory = await demonstrate(spec, task, suite.workspace, where,
                                               run_id=run_id, policy=policy)
        done += 1
        if on_progress is not None:
            on_progress(done, len(chosen), task.id, trajectory.status == "passed")
        return task, trajectory

    finished = await asyncio.gather(*(one(task) for task in chosen))
    model = engine.for_agent(spec.name).model if (engine is not None and mode == "search") \
        else "demo:solver"
    kept: list[tuple[str, str]] = []
    for task, trajectory in finished:  # in task order: the file does not depend on timing
        outcomes[trajectory.status] += 1
        keep = trajectory.status == "passed" or (
            keep_unfinished and trajectory.status == "passed_no_final")
        if not keep:
            continue
        green += 1
        kept.append((source, task.id))
        examples: list[Example] = trajectory.examples(source=source, agent=spec.ref,
                                                      tools=tools, model=model,
                                                      teacher=teacher)
        curator.add_all(examples)
    if searches:
        order = {task.id: index for index, task in enumerate(chosen)}
        atomic_write_json(trajectories_dir / "search.json",
                          [s.model_dump(mode="json") for s in
                           sorted(searches, key=lambda s: order[s.task_id])])
    _import(curator, demos, spec, tools)
    result = HarvestResult(
        harvest_id=harvest_id, agent=spec.ref, mode=mode, suite=str(suite.folder),
        split=split, tasks=len(chosen),
        samples=config.k if mode == "search" else None,
        temperature=config.temperature if mode == "search" else None,
        engine=engine.name if engine is not None and mode == "search" else None,
        model=model, started_at=started_at, outcomes=dict(sorted(outcomes.items())),
        tasks_green=green, sampled=sampled, imported=str(demos) if demos else None,
        teacher=teacher if mode == "search" else None)
    return _finish(result, curator, folder, started,
                   strata=task_strata(suite, chosen, spec.name), green=kept,
                   max_no_work_share=max_no_work_share)


async def harvest_feedback(
        suite: Suite, *, agent: str, registry: AgentRegistry, engine: Engine,
        artifacts: Path, split: str = "train", config: FeedbackConfig | None = None,
        concurrency: int = 8, policy: Policy | None = None, demos: Path | None = None,
        tasks: Sequence[SuiteTask] | None = None, limit: int | None = None,
        on_progress: Progress | None = None, teacher: str | None = None,
        max_no_work_share: float = DEFAULT_MAX_NO_WORK_SHARE) -> HarvestResult:
    """``config.samples`` runs per train task, each with up to ``config.rounds`` feedback
    rounds (:mod:`pantheon_engine.specialize.feedback`); what passes is rationalised.

    Sample ``s`` runs at ``config.temperature`` with seed ``config.seed + s``, as a
    best-of-k sample does, so a sample that passes with no feedback is a best-of-k green run
    (source ``best-of-k``) and one that passes after feedback is what feedback added
    (source ``feedback``). With ``teacher`` every kept trajectory is the teacher's
    (source ``teacher``). ``concurrency``: samples at once.
    """
    config = config or FeedbackConfig()
    check_share(max_no_work_share)
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    spec = agent_spec(registry, agent)
    allowed = train_tasks(suite, spec, split, registry)
    chosen = list(tasks) if tasks is not None else allowed[:limit]
    for task in chosen:
        if task.split != "train":
            raise ConfigError(f"task {task.id!r} is a {task.split} task: only train tasks "
                              "may become training data")
    flows = task_flows(suite, spec, chosen, registry)  # before anything runs
    started, started_at = time.perf_counter(), utc_now()
    harvest_id = new_harvest_id("feedback")
    folder = harvest_dir(artifacts, spec)
    root = (folder / f"harvest-{harvest_id}").resolve()
    policy = policy or Policy(mode="night")
    tools = await _tool_defs(spec, suite, chosen)
    model = engine.for_agent(spec.name).model
    jobs = [(flow, sample) for flow in flows for sample in range(config.samples)]
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(flow: TaskFlow, sample: int) -> tuple[TaskFlow, FeedbackOutcome,
                                                         Trajectory | None]:
        nonlocal done
        async with gate:
            outcome, trajectory = await feedback_sample(
                flow, spec=spec, registry=registry, engine=engine, policy=policy, root=root,
                run_id=f"{harvest_id}-{flow.task.id}-s{sample}", rounds=config.rounds,
                seed=config.seed + sample, temperature=config.temperature)
        outcome.sample = sample
        done += 1
        if on_progress is not None:
            on_progress(done, len(jobs), flow.task.id, trajectory is not None)
        return flow, outcome, trajectory

    running = [asyncio.create_task(one(flow, sample)) for flow, sample in jobs]
    try:
        finished = await asyncio.gather(*running)
    except BaseException:
        for job in running:
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    curator = Curator(HoldoutGuard.from_suite(suite, split))
    outcomes: Counter[str] = Counter()
    green: list[tuple[str, str]] = []
    for flow, outcome, trajectory in finished:  # in task and sample order
        outcomes[outcome.status] += 1
        if trajectory is None:
            continue
        source = "teacher" if teacher else "feedback" if outcome.rounds else "best-of-k"
        green.append((source, flow.task.id))
        curator.add_all(trajectory.examples(
            source=source, agent=spec.ref, tools=tools, model=model, teacher=teacher,
            feedback_rounds=outcome.rounds or None))
    atomic_write_json(root / "feedback.json",
                      [outcome.model_dump(mode="json") for _, outcome, _ in finished])
    _import(curator, demos, spec, tools)
    result = HarvestResult(
        harvest_id=harvest_id, agent=spec.ref, mode="feedback", suite=str(suite.folder),
        split=split, tasks=len(flows), samples=config.samples,
        temperature=config.temperature, engine=engine.name, model=model,
        started_at=started_at,
        outcomes={k: outcomes[k] for k in ("passed", "passed_after_feedback", "unreplayable",
                                           "failed") if outcomes[k]},
        tasks_green=len({task for _, task in green}), sampled=len(jobs),
        imported=str(demos) if demos else None, teacher=teacher,
        feedback_rounds=config.rounds)
    return _finish(result, curator, folder, started,
                   strata=task_strata(suite, chosen, spec.name), green=green,
                   max_no_work_share=max_no_work_share)


async def import_only(suite: Suite, *, agent: str, registry: AgentRegistry, artifacts: Path,
                      demos: Path, split: str = "train",
                      max_no_work_share: float = DEFAULT_MAX_NO_WORK_SHARE) -> HarvestResult:
    """A harvest that only imports ``demos`` (validated, curated) into a harvest file."""
    check_share(max_no_work_share)
    spec = agent_spec(registry, agent)
    started, started_at = time.perf_counter(), utc_now()
    harvest_id = new_harvest_id("import")
    curator = Curator(HoldoutGuard.from_suite(suite, split))
    allowed = train_tasks(suite, spec, split, registry)
    _import(curator, demos, spec, await _tool_defs(spec, suite, allowed))
    result = HarvestResult(harvest_id=harvest_id, agent=spec.ref, mode="import",
                           suite=str(suite.folder), split=split, tasks=0,
                           started_at=started_at, imported=str(demos))
    strata = {task: stratum for task, stratum in task_strata(suite, allowed, spec.name).items()
              if task in {e.meta.task_id for e in curator.kept}}
    return _finish(result, curator, harvest_dir(artifacts, spec), started, strata=strata,
                   max_no_work_share=max_no_work_share)


__all__ = ["MODES", "HarvestResult", "agent_flow_file", "harvest_best_of_k", "harvest_dir",
           "harvest_feedback", "harvest_trajectories", "import_only", "queue_best_of_k",
           "train_tasks"]
