"""How well a reviewer version judges labelled review items, and whether a new one wins.

:func:`measure_reviewers` shows every item (:mod:`.reviewer_items`, usually of a suite's
holdout split) to every review node of the flow its kind of work runs in, exactly as a
night's canaries are reviewed (:class:`~pantheon_engine.night.reviewing.runner.CanaryRunner`:
same prompt code, params, personas), with the reviewer agent served at the version asked
for. It reports, per node and pooled: accuracy, the false-pass rate (bad items passed /
bad items), the false-fail rate (good items failed / good items); Cohen's κ between the
first two nodes; the same numbers for the merge gate's reading of the pair (an item
passes only when every node passes it); and what a reviewer that always passes and one
that always fails get on the same items. A review that gave no verdict is an error: not
scored in the rates, counted wrong in the paired test.

Two versions compare by the paired test :mod:`pantheon_engine.evals.promote` applies to
agents: each measurement becomes an eval (one task per item, passed when the merge gate's
reading of the pair is right), the two evals a ``VersionComparison`` (exact McNemar), and
a promotion goes through :func:`~pantheon_engine.evals.promote.promote`, after one more
rule of its own: a reviewer whose gate passes more bad items than the current one's is
never promoted, however many good items it now passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.artifacts import new_run_id, utc_now
from pantheon_engine.atomic import atomic_write_json, read_dict
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.promote import (
    DEFAULT_ALPHA,
    PromotionRefused,
    VersionComparison,
    promote,
    write_comparison,
)
from pantheon_engine.evals.results import EvalResult, SampleResult, TaskResult
from pantheon_engine.kappa import KAPPA_MIN, cohen_kappa
from pantheon_engine.night.reviewing.canary import Canary
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.night.reviewing.runner import CanaryRunner, review_nodes
from pantheon_engine.policy import Mode
from pantheon_engine.run.serving import EngineOptions, ServingScope, open_serving
from pantheon_engine.run.versions import Promotion, VersionStore, record_eval
from pantheon_engine.specialize.review_item import ReviewItem
from pantheon_engine.specialize.reviewer_items import review_flow

__all__ = ["FALSE_PASS_TARGET", "ItemResult", "ReviewerMeasurement", "Score",
           "Target", "compare_measurements", "measure_reviewers", "promote_reviewer",
           "score", "to_eval"]

#: the target a trained reviewer is measured against: at most this false-pass rate ...
FALSE_PASS_TARGET = 0.10
#: items reviewed at once
DEFAULT_CONCURRENCY = 32
REVIEWERS_FILE = "reviewers.json"


class Score(BaseModel):
    """A reviewer's verdicts on labelled items: rates over the items it gave a verdict on."""

    scored: int = 0
    errors: int = 0
    correct: int = 0
    accuracy: float | None = None
    bad_seen: int = 0
    false_passes: int = 0
    false_pass_rate: float | None = None
    good_seen: int = 0
    false_fails: int = 0
    false_fail_rate: float | None = None

    def line(self) -> str:
        """``accuracy 0.85, false-pass 0.10, false-fail 0.20 (40 scored, 0 errors)``."""
        return (f"accuracy {_num(self.accuracy)}, false-pass {_num(self.false_pass_rate)}, "
                f"false-fail {_num(self.false_fail_rate)} ({self.scored} scored, "
                f"{self.errors} errors)")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def score(expected: Sequence[str], got: Sequence[str | None]) -> Score:
    """The score of verdicts ``got`` (None: no verdict) against the labels ``expected``."""
    if len(expected) != len(got):
        raise ValueError("one verdict per label")
    pairs = [(e, g) for e, g in zip(expected, got, strict=True) if g is not None]
    bad = [g for e, g in pairs if e == "fail"]
    good = [g for e, g in pairs if e == "pass"]
    correct = sum(e == g for e, g in pairs)
    false_passes = sum(g == "pass" for g in bad)
    false_fails = sum(g == "fail" for g in good)
    return Score(scored=len(pairs), errors=len(got) - len(pairs), correct=correct,
                 accuracy=_rate(correct, len(pairs)), bad_seen=len(bad),
                 false_passes=false_passes, false_pass_rate=_rate(false_passes, len(bad)),
                 good_seen=len(good), false_fails=false_fails,
                 false_fail_rate=_rate(false_fails, len(good)))


def gate_verdict(verdicts: Sequence[str | None]) -> str | None:
    """How the merge gate reads the pair: fail when a node failed the item, pass when
    every node passed it, None when a node gave no verdict and none failed it."""
    if "fail" in verdicts:
        return "fail"
    if verdicts and all(v == "pass" for v in verdicts):
        return "pass"
    return None


class ItemResult(BaseModel):
    """One item's label and every review node's verdict on it (None: no verdict)."""

    id: str
    task_id: str
    expected: str
    defect: str | None = None
    verdicts: dict[str, str | None]
    errors: dict[str, str] = Field(default_factory=dict)

    @property
    def gate(self) -> str | None:
        return gate_verdict(list(self.verdicts.values()))


class Target(BaseModel):
    """What a reviewer pair must reach: false-pass at most this on every node, κ at least
    that."""

    false_pass_max: float = Field(default=FALSE_PASS_TARGET, ge=0, le=1)
    kappa_min: float = Field(default=KAPPA_MIN, ge=-1, le=1)

    def problems(self, nodes: dict[str, Score], kappa: float | None) -> list[str]:
        """Why the pair misses the target (empty: it meets it)."""
        found = []
        for node, s in nodes.items():
            if s.false_pass_rate is None:
                found.append(f"{node} gave no verdict on a bad item")
            elif s.false_pass_rate > self.false_pass_max:
                found.append(f"{node} false-pass {s.false_pass_rate:.2f} > "
                             f"{self.false_pass_max:.2f}")
        if len(nodes) >= 2:
            if kappa is None:
                found.append("κ is undefined (both nodes gave one verdict throughout, or "
                             "no item got two verdicts)")
            elif kappa < self.kappa_min:
                found.append(f"κ {kappa:.2f} < {self.kappa_min:g}")
        return found


class ReviewerMeasurement(BaseModel):
    """A reviewer version on labelled items (the content of ``reviewers.json``)."""

    id: str
    created_at: str = Field(default_factory=utc_now)
    agent: str  # the reviewer agent@version served
    suite: str
    split: str
    kind: str  # docs | code
    flow: str
    engine: str | None = None
    model: str | None = None
    seed: int = 0
    items: int
    bad: int
    tasks: int
    seconds: float
    nodes: dict[str, Score]
    #: every node's verdicts pooled
    pooled: Score
    #: the merge gate's reading of the pair (an item passes only when every node passes it)
    gate: Score
    kappa: float | None
    pairs: int
    baselines: dict[str, Score]
    target: Target
    target_problems: list[str]
    results: list[ItemResult]
    dir: str | None = None

    @property
    def target_met(self) -> bool:
        return not self.target_problems

    @property
    def best_constant(self) -> float:
        """The accuracy of the better of the two constant reviewers on these items."""
        return max((s.accuracy or 0.0) for s in self.baselines.values())

    @property
    def beats_baselines(self) -> bool:
        """Whether the gate's reading of the pair is right more often than a constant
        verdict would be: the target alone is met by a pair that fails (almost)
        everything, which shows no judgement."""
        return self.gate.accuracy is not None and self.gate.accuracy > self.best_constant

    def render_text(self) -> str:
        lines = [f"{self.agent} on {self.suite} ({self.split}): {self.items} items "
                 f"({self.bad} bad) from {self.tasks} tasks, {self.flow} flow's review "
                 f"nodes, engine {self.engine or 'none'} {self.model or ''}".rstrip()
                 + f", {self.seconds:.0f} s"]
        for node, s in self.nodes.items():
            lines.append(f"  {node}: {s.line()}")
        lines.append(f"  all nodes: {self.pooled.line()}")
        lines.append(f"  merge gate (every node passes): {self.gate.line()}")
        kappa = "undefined" if self.kappa is None else f"{self.kappa:.2f}"
        lines.append(f"  κ {kappa} over {self.pairs} pairs")
        for name, s in self.baselines.items():
            lines.append(f"  baseline {name}: accuracy {_num(s.accuracy)}, false-pass "
                         f"{_num(s.false_pass_rate)}, false-fail {_num(s.false_fail_rate)}; "
                         "κ undefined")
        goal = (f"false-pass ≤ {self.target.false_pass_max:.2f} per node and κ ≥ "
                f"{self.target.kappa_min:g}")
        lines.append(f"  target ({goal}): " + (
            "met" if self.target_met else "not met: " + "; ".join(self.target_problems)))
        lines.append(f"  judgement: gate accuracy {_num(self.gate.accuracy)} against "
                     f"{self.best_constant:.2f} for the better constant verdict: " + (
                         "better" if self.beats_baselines else "no better"))
        return "\n".join(lines)


def summarise(items: Sequence[ReviewItem], verdicts: Sequence[dict[str, str | None]],
              errors: Sequence[dict[str, str]], nodes: Sequence[str], *, agent: str,
              suite: str, split: str, kind: str, flow: str, seconds: float,
              target: Target | None = None, engine: str | None = None,
              model: str | None = None, seed: int = 0,
              measurement_id: str | None = None) -> ReviewerMeasurement:
    """The numbers of a measurement from each item's verdicts (the pure part, testable
    without a model)."""
    target = target or Target()
    expected = [i.expected for i in items]
    per_node = {n: score(expected, [v.get(n) for v in verdicts]) for n in nodes}
    pooled = score([e for e in expected for _ in nodes],
                   [v.get(n) for v in verdicts for n in nodes])
    results = [ItemResult(id=i.id, task_id=i.task_id, expected=i.expected, defect=i.defect,
                          verdicts={n: v.get(n) for n in nodes}, errors=dict(e))
               for i, v, e in zip(items, verdicts, errors, strict=True)]
    gate = score(expected, [r.gate for r in results])
    pairs = [(v[nodes[0]], v[nodes[1]]) for v in verdicts if len(nodes) >= 2
             and v.get(nodes[0]) is not None and v.get(nodes[1]) is not None]
    kappa = cohen_kappa(pairs) if pairs else None
    baselines = {name: score(expected, [verdict] * len(items))
                 for name, verdict in (("always pass", "pass"), ("always fail", "fail"))}
    return ReviewerMeasurement(
        id=measurement_id or new_run_id(f"reviewers-{AgentRef.name_of(agent)}"),
        agent=agent, suite=suite, split=split, kind=kind, flow=flow, engine=engine,
        model=model, seed=seed, items=len(items),
        bad=sum(e == "fail" for e in expected), tasks=len({i.task_id for i in items}),
        seconds=round(seconds, 1), nodes=per_node, pooled=pooled, gate=gate,
        kappa=kappa, pairs=len(pairs), baselines=baselines, target=target,
        target_problems=target.problems(per_node, kappa), results=results)


def _reviewer_agent(flow_name: str, agents: set[str], version: str | None) -> dict[str, int]:
    """The version to pin (agent -> N), checked to be a reviewer of the flow."""
    if version is None:
        return {}
    ref = AgentRef.parse(version)
    if ref.name not in agents:
        raise ConfigError(f"{ref.name} is not a reviewer of the {flow_name} flow (its "
                          f"reviewers: {', '.join(sorted(agents))})",
                          hint="name a version of the flow's reviewer agent, e.g. "
                          f"{sorted(agents)[0]}@2")
    return {ref.name: ref.version} if ref.version is not None else {}


async def measure_reviewers(
    items: Sequence[ReviewItem], *, suite: str, split: str, version: str | None,
    engine: EngineOptions, mode: Mode, artifacts: Path, concurrency: int = DEFAULT_CONCURRENCY,
    target: Target | None = None, seed: int = 0,
    registry: AgentRegistry | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> ReviewerMeasurement:
    """Every item through every review node of its flow, the reviewer served at
    ``version`` (``name@N``; None: the current version); the result is also written to
    ``<artifacts>/evals/<id>/reviewers.json``, with each item's prompts and reviews under
    ``items/``. ``on_item(done, total)`` is told as items finish."""
    if not items:
        raise ConfigError("no review items to measure")
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    kinds = {i.kind for i in items}
    if len(kinds) != 1:
        raise ConfigError("the items mix docops and code work: measure them apart")
    kind = next(iter(kinds))
    registry = registry or default_registry()
    flow = review_flow(kind, registry)
    agents = {n.agent for n in review_nodes(flow, registry)}
    pinned = _reviewer_agent(flow.name, agents, version)
    measurement_id = new_run_id(f"reviewers-{'-'.join(sorted(agents))}")
    folder = Path(artifacts) / "evals" / measurement_id

    def scope() -> ServingScope[None]:
        return ServingScope(registry, agents=agents, prepared=None, pinned=pinned or None)

    async with open_serving(mode, engine, artifacts=Path(artifacts), scope=scope) as served:
        nodes = review_nodes(flow, served.registry)
        served_agent = served.registry.get(nodes[0].agent).ref
        runner = CanaryRunner(
            registry=served.registry, engine=served.engine, policy=served.policy,
            ledger=ReviewerLedger(), folder=folder / "items", night_id=measurement_id,
            pool=[i.canary for i in items if isinstance(i.canary, Canary)],
            code_pool=[i.canary for i in items if not isinstance(i.canary, Canary)],
            share=0.0, calibration=0, seed=seed)
        slots = asyncio.Semaphore(concurrency)
        done = 0

        async def review(number: int, item: ReviewItem) -> dict[str, str | None]:
            nonlocal done
            async with slots:
                verdicts = await runner.run_canary(flow, item.canary, f"{number:04d}-{item.id}")
            done += 1
            if on_item is not None:
                on_item(done, len(items))
            return verdicts

        started = time.perf_counter()
        verdicts = await asyncio.gather(*(review(n, i) for n, i in enumerate(items)))
        seconds = time.perf_counter() - started
        engine_name = served.engine.name if served.engine else None
        model = served.engine.model if served.engine else None
    errors = [_errors(folder / "items" / f"{n:04d}-{i.id}", [node.id for node in nodes])
              for n, i in enumerate(items)]
    result = summarise(items, verdicts, errors, [n.id for n in nodes], agent=served_agent,
                       suite=suite, split=split, kind=kind, flow=flow.name, seconds=seconds,
                       target=target, engine=engine_name, model=model, seed=seed,
                       measurement_id=measurement_id)
    result.dir = str(folder)
    atomic_write_json(folder / REVIEWERS_FILE, result.model_dump(mode="json"))
    return result


def _errors(folder: Path, nodes: Sequence[str]) -> dict[str, str]:
    """Each node's error kind on one item, read from its ``error.json``."""
    found: dict[str, str] = {}
    for node in nodes:  # a node's own error, else the item's (it could not be set up)
        for path in (folder / node / "error.json", folder / "error.json"):
            if path.is_file():
                found[node] = str((read_dict(path) or {}).get("error_kind") or "error")
                break
    return found


def to_eval(measurement: ReviewerMeasurement) -> EvalResult:
    """A measurement as an eval of the reviewer: one task per item, passed when the merge
    gate's reading of the pair is the item's label (a missing verdict is a miss). Every
    item needs judgement, so every task counts as needing work."""
    tasks = []
    for r in measurement.results:
        right = r.gate == r.expected
        kind = None if right else ("no_verdict" if r.gate is None else
                                   "false_pass" if r.expected == "fail" else "false_fail")
        tasks.append(TaskResult(id=r.id, split=measurement.split, samples=1, passed=int(right),
                                results=[SampleResult(sample=0, passed=right, error_kind=kind)],
                                needs_work=True))
    return EvalResult.build(eval_id=measurement.id, agent=measurement.agent,
                            engine=measurement.engine, model=measurement.model,
                            suite=measurement.suite, split=measurement.split, samples=1,
                            temperature=None, seed=measurement.seed,
                            seconds=measurement.seconds, tasks=tasks, dir=measurement.dir)


def compare_measurements(artifacts: Path, new: ReviewerMeasurement,
                         against: ReviewerMeasurement) -> tuple[VersionComparison, Path]:
    """Both measurements as evals (written next to them, each kept as its version's latest
    holdout eval) and their paired comparison, written where ``pantheon promote`` reads it."""
    if [r.id for r in new.results] != [r.id for r in against.results]:
        raise ConfigError("the two measurements reviewed different items")
    store = VersionStore(artifacts)
    evals = []
    for measurement in (new, against):
        result = to_eval(measurement)
        if measurement.dir is not None:
            result.write(Path(measurement.dir) / "eval.json")
        record_eval(store, result)
        evals.append(result)
    return write_comparison(store, evals[0], evals[1])


def promote_reviewer(artifacts: Path, new: ReviewerMeasurement,
                     against: ReviewerMeasurement, *, alpha: float = DEFAULT_ALPHA,
                     why: str = "") -> tuple[Promotion, str]:
    """Make ``new``'s version current when it wins the paired test against the current
    version (:func:`~pantheon_engine.evals.promote.promote`) and its merge gate passes no
    larger share of bad items than the current one's; else :class:`PromotionRefused`."""
    ref = AgentRef.parse(new.agent)
    assert ref.version is not None  # a measurement records the version that served
    fp_new, fp_old = new.gate.false_pass_rate, against.gate.false_pass_rate
    if fp_new is not None and fp_old is not None and fp_new > fp_old:
        raise PromotionRefused(
            f"promotion of {new.agent} refused: its reviewers let more bad items through "
            f"(gate false-pass {fp_new:.2f} against {fp_old:.2f} for {against.agent})",
            hint=f"the current version stays {against.agent}")
    change, decision = promote(VersionStore(artifacts), ref.name, ref.version, alpha=alpha,
                               why=why)
    return change, decision.reason
