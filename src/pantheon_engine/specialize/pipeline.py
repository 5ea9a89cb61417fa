"""``pantheon specialize``: the whole loop for one agent, one phase after another.

1. **own**: the current version's own green traces (best-of-k or verifier-guided search on
   the suite's train split);
2. **demos**: demonstrations (the scripted solver through the real loop, or a JSONL import);
3. **mine**: both into one dataset (holdout leaks and secrets dropped), and the model's own
   examples alone into a second one;
4. **train**: a LoRA adapter, saving checkpoints after the first N examples for the curve,
   registered as the next version;
5. **curve**: each checkpoint served and measured on the holdout: the learning curve p(N)
   with the seeds' fit, saved where the report and the room read it. Every point is one
   pass over its N examples (:func:`curve_steps`): the last is the end of the first epoch,
   and an adapter trained for more epochs is measured in the comparison, not on the curve;
6. **eval**: the new version against the current one on the same holdout tasks (exact
   McNemar on the paired outcomes, also on the tasks that need work alone);
7. **promote**: the new version becomes current only if the guard accepts it;
8. **own-only**: an adapter trained on the model's own examples alone, measured the same
   way, so the lift from the model's own data is stated apart from the demonstrations';
9. **control**: an adapter trained on shuffled replies, compared with the new version and
   with the base; the guard must refuse it against both (against the base it may win the
   tasks with nothing to do by learning to stop at once, which is why those do not count
   alone).

Every phase is the command a user would run by hand (``harvest``, ``traces mine``,
``train``, ``eval``, ``promote``) called in-process, each with its own progress bar, and
everything is written under ``<artifacts>/specialize/<agent>/<id>/`` with a
``report.json`` that states the numbers.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from rich.console import Console

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.artifacts import new_run_id, utc_now
from pantheon_engine.atomic import atomic_write_json
from pantheon_engine.config import SMALL_MODEL, configured_model, load_settings
from pantheon_engine.engines.catalogue import base_gguf
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.curve import CurvePoint, make_curve, save_curve
from pantheon_engine.evals.evaluate import evaluate
from pantheon_engine.evals.promote import PromotionRefused, compare_versions, decide
from pantheon_engine.evals.promote import promote as promote_version
from pantheon_engine.evals.results import EvalResult
from pantheon_engine.evals.strata import Strata
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.run.serving import EngineOptions
from pantheon_engine.run.versions import AgentVersion, VersionStore
from pantheon_engine.specialize.controls import shuffle_replies
from pantheon_engine.specialize.harvest import HarvestResult
from pantheon_engine.specialize.harvest_service import harvest, mine_examples
from pantheon_engine.specialize.mine import MineResult, render_sources
from pantheon_engine.specialize.train import TrainResult, split_eval
from pantheon_engine.specialize.train_data import load_examples
from pantheon_engine.specialize.train_service import train_with_progress

OwnMode = Literal["best-of-k", "search", "none"]
DEFAULT_CURVE = (50, 100, 200, 400)
HARVESTS_ONLY = "no-trace-store.sqlite"
"""A trace store path that does not exist: mining then reads only the harvest files, which
already hold every green run's examples (the store would add the same ones again)."""
SCOPE_WORDS = {"file": "every rule of a file in one task",
               "rule": "one rule per task"}


class SpecializeOptions(BaseModel):
    """What ``pantheon specialize`` does, and with which settings."""

    agent: str
    suite: Path
    artifacts: Path = Path("artifacts")
    own_mode: OwnMode = "best-of-k"
    own_samples: int = Field(default=2, ge=1)
    own_tasks: int | None = Field(default=64, ge=1)
    own_temperature: float = Field(default=0.8, gt=0)
    own_min: int = Field(default=8, ge=1)
    """fewest own examples worth an adapter of their own"""
    demos: bool = True
    import_demos: Path | None = None
    epochs: int = Field(default=2, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    batch: int = Field(default=8, ge=1)
    micro_batch: int = Field(default=4, ge=1)
    lr: float = Field(default=2e-4, gt=0)
    rank: int = Field(default=16, ge=1)
    lora_alpha: float = Field(default=32, gt=0)
    curve: list[int] = Field(default_factory=lambda: list(DEFAULT_CURVE))
    curve_tasks: int | None = Field(default=None, ge=1)
    target: float | None = Field(default=None, gt=0, lt=1)
    control: bool = True
    control_steps: int = Field(default=20, ge=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    promote: bool = True
    concurrency: int = Field(default=32, ge=1)
    seed: int = 0
    engine: str | None = None
    model: str | None = None
    config: Path | None = None


class Measured(BaseModel):
    """One version measured on the holdout."""

    version: str
    passed: int
    total: int
    pass_at_1: float
    interval: tuple[float, float]
    eval_id: str
    seconds: float

    @classmethod
    def of(cls, result: EvalResult) -> Measured:
        return cls(version=result.agent, passed=result.passed_samples,
                   total=result.total_samples, pass_at_1=result.pass_at_1,
                   interval=tuple(result.pass_at_1_interval), eval_id=result.eval_id,
                   seconds=round(result.seconds, 1))

    def text(self) -> str:
        lo, hi = self.interval
        return (f"{self.version}: {self.passed}/{self.total} = {100 * self.pass_at_1:.1f} % "
                f"[{100 * lo:.1f} %, {100 * hi:.1f} %]")


class Paired(BaseModel):
    """A version against the one it was compared with, on the same tasks."""

    new: Measured
    against: Measured
    wins: int
    losses: int
    p_value: float
    comparison: str
    #: the paired tasks cut into needs work / no work
    strata: Strata | None = None
    #: what the guard says (whether or not a promotion was tried)
    accepted: bool | None = None
    #: None: no promotion was tried (the guard's answer is in ``accepted``)
    promoted: bool | None = None
    decision: str | None = None

    @property
    def lift_points(self) -> float:
        return 100 * (self.new.pass_at_1 - self.against.pass_at_1)


class TrainingInfo(BaseModel):
    version: str
    examples: int
    sources: dict[str, int]
    steps: int
    seconds: float
    seconds_per_step: float
    peak_rss_mb: float
    final_loss: float | None
    final_eval_loss: float | None


class SpecializeReport(BaseModel):
    """Everything one ``pantheon specialize`` measured (``report.json``)."""

    id: str
    agent: str
    suite: str
    scope: str
    started_at: str
    seconds: float = 0.0
    phases: dict[str, float] = Field(default_factory=dict)
    own: dict[str, Any] = Field(default_factory=dict)
    examples: dict[str, int] = Field(default_factory=dict)
    training: TrainingInfo | None = None
    curve: str | None = None
    curve_points: list[dict[str, Any]] = Field(default_factory=list)
    result: Paired | None = None
    own_only: Paired | None = None
    own_only_note: str | None = None
    #: the shuffled-reply control against the new version, and against the base
    control: Paired | None = None
    control_base: Paired | None = None
    #: how the curve's points were made, and why the final adapter may not be one of them
    curve_note: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"specialize {self.agent} on {self.suite} ({self.scope} scope): "
               f"{self.seconds / 60:.1f} min"]
        out.append("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in self.phases.items()))
        if self.own:
            out.append(f"own harvest: {self.own.get('green', 0)} green of "
                       f"{self.own.get('sampled', 0)} samples on {self.own.get('tasks', 0)} "
                       f"task(s), {self.own.get('examples', 0)} example(s)")
        out.append("examples: " + render_sources(self.examples))
        if self.training:
            t = self.training
            out.append(f"trained {t.version}: {t.steps} steps on {t.examples} examples, "
                       f"{t.seconds / 60:.1f} min ({t.seconds_per_step:.1f} s/step), peak "
                       f"RSS {t.peak_rss_mb / 1024:.1f} GB")
        for point in self.curve_points:
            out.append(f"  curve N={point['examples']:>5}: {point['passed']}/"
                       f"{point['total']} ({100 * point['pass_rate']:.1f} %)")
        if self.curve_note:
            out.append(f"  {self.curve_note}")
        for label, paired in (("result", self.result), ("own data only", self.own_only),
                              ("control (shuffled replies) vs the new version", self.control),
                              ("control (shuffled replies) vs the base", self.control_base)):
            if paired is None:
                continue
            out.append(f"{label}: {paired.new.text()} vs {paired.against.text()}; "
                       f"{paired.lift_points:+.1f} points, won {paired.wins}, lost "
                       f"{paired.losses}, McNemar p = {paired.p_value:.3g}")
            if paired.strata is not None:
                out.append(f"  {paired.strata.text()}")
            if paired.decision:
                if paired.promoted is not None:
                    verdict = "promoted" if paired.promoted else "not promoted"
                else:
                    verdict = "the guard accepts" if paired.accepted else "the guard refuses"
                out.append(f"  {verdict}: {paired.decision}")
        if self.own_only_note:
            out.append(f"own data only: {self.own_only_note}")
        return out


Phase = Callable[[str], None]


def curve_steps(sizes: list[int], batch: int, train_examples: int,
                total_steps: int | None = None) -> dict[int, int]:
    """The step of each learning-curve point, and the examples it has seen then.

    Every point is one pass over its N examples, so that the points compare: the adapter
    after ``ceil(N / batch)`` steps of the first epoch has seen ``N`` distinct examples
    once each (N rounded up to whole batches). The end of the first epoch (every training
    example once) is always a point; sizes beyond it are left out. A run of more epochs
    goes on to see each example again, so its final adapter is *not* a point of the curve:
    it is measured in the comparison against the current version instead.

    ``total_steps``: the run's length when ``max_steps`` cuts it short of one epoch (then
    the run's end is the last point).
    """
    if train_examples < 1:
        return {}
    last = math.ceil(train_examples / batch)
    if total_steps is not None:
        last = min(last, total_steps)
    steps: dict[int, int] = {}
    for n in sorted(set(sizes)):
        step = math.ceil(n / batch)
        if 0 < step < last:
            steps[step] = min(step * batch, train_examples)
    steps[last] = min(last * batch, train_examples)
    return steps


def curve_plan(points: dict[int, int], final_step: int,
               saved: Collection[str]) -> list[tuple[int, int, bool]]:
    """``(step, examples, is the final adapter)`` of each curve point to measure.

    ``points``: :func:`curve_steps`; ``final_step``: the steps the run made; ``saved``: the
    steps a checkpoint was saved after (as the trainer records them). A point at the final
    step is the final adapter itself (a run that ended inside its first epoch); a point with
    no checkpoint (the run stopped before it) is left out.
    """
    plan = []
    for step, n in sorted(points.items()):
        if step == final_step:
            plan.append((step, n, True))
        elif str(step) in saved:
            plan.append((step, n, False))
    return plan


def suite_scope(suite: Path) -> str:
    """The scope the suite was generated with (``file`` when it does not say)."""
    try:
        data = json.loads((suite / "suite.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "file"
    generator = data.get("generator") if isinstance(data, dict) else None
    scope = generator.get("scope") if isinstance(generator, dict) else None
    return str(scope) if scope else "file"


class Specializer:
    """Runs the phases; ``say`` prints a line, each phase's own bar shows its progress on
    ``console`` (stderr unless given)."""

    def __init__(self, options: SpecializeOptions, say: Phase = print,
                 console: Console | None = None) -> None:
        self.o = options
        self.say = say
        self.console = console if console is not None else Console(stderr=True)
        self.name = AgentRef.parse(options.agent).name
        #: one model for every phase: harvested on, trained on, evaluated on
        self.model = options.model or configured_model(load_settings(options.config)) \
            or SMALL_MODEL
        self.id = new_run_id(f"specialize-{self.name}")
        self.folder = options.artifacts / "specialize" / self.name / self.id
        self.report = SpecializeReport(
            id=self.id, agent=self.name, suite=str(options.suite),
            scope=suite_scope(options.suite), started_at=utc_now(),
            options=options.model_dump(mode="json"))
        self._started = time.monotonic()

    # --- the commands each phase runs ---------------------------------------------------

    def _engine(self) -> EngineOptions:
        return EngineOptions(name=self.o.engine, model=self.model, config=self.o.config)

    def _evaluate(self, ref: str, *, limit: int | None = None, search: int = 1) -> EvalResult:
        return asyncio.run(evaluate(
            ref, suite=self.o.suite, split="holdout", samples=1, temperature=None,
            concurrency=self.o.concurrency, seed=self.o.seed, mode="night",
            engine=self._engine(), artifacts=self.o.artifacts, console=self.console,
            show_progress=True, limit=limit, search=search))

    def _harvest(self, mode: str, *, limit: int | None = None,
                 demos: Path | None = None, teacher: str | None = None) -> HarvestResult:
        return asyncio.run(harvest(
            self.name, suite=self.o.suite, mode=mode, split="train",
            samples=self.o.own_samples, temperature=self.o.own_temperature, demos=demos,
            rounds=2, keep_unfinished=False, queue=False, concurrency=None, seed=self.o.seed,
            policy_mode="night", engine=self._engine(), artifacts=self.o.artifacts,
            console=self.console, show_progress=True, limit=limit, teacher=teacher))

    def _mine(self, out: Path, include: list[Path]) -> MineResult:
        return asyncio.run(mine_examples(
            self.name, out=out, artifacts=self.o.artifacts, suite=self.o.suite,
            split="train", include=include, traces=self.folder / HARVESTS_ONLY,
            console=self.console, quiet=True))

    def _train(self, data: Path, out: Path, *, steps: int | None,
               checkpoints: Sequence[int] = ()) -> TrainResult:
        return train_with_progress(
            self.name, data, out, gguf=base_gguf(self.model, self.o.config),
            console=self.console,
            rank=self.o.rank, alpha=self.o.lora_alpha, lr=self.o.lr, epochs=self.o.epochs,
            batch=self.o.batch, micro_batch=self.o.micro_batch, max_steps=steps,
            seed=self.o.seed, checkpoints=list(checkpoints))

    def _register(self, train_dir: Path, *, note: str,
                  checkpoint: int | None = None) -> AgentVersion:
        return VersionStore(self.o.artifacts).register_training(
            self.name, train_dir, note=note, checkpoint=checkpoint)

    def _compare(self, new: EvalResult, against: EvalResult, *, promote: bool) -> Paired:
        record, path = compare_versions(self.o.artifacts, new, against)
        decision = decide(record, self.o.alpha)
        paired = Paired(new=Measured.of(new), against=Measured.of(against), wins=record.wins,
                        losses=record.losses, p_value=record.paired.p_value,
                        comparison=str(path), strata=record.strata,
                        accepted=decision.accepted, decision=decision.reason)
        if promote:
            ref = AgentRef.parse(new.agent)
            assert ref.version is not None
            try:
                _, decision = promote_version(VersionStore(self.o.artifacts), ref.name,
                                              ref.version, alpha=self.o.alpha,
                                              why="pantheon specialize")
                paired.promoted, paired.decision = True, decision.reason
            except PromotionRefused as exc:
                paired.promoted, paired.decision = False, exc.message
        return paired

    def compare_control(self, control: EvalResult, new: EvalResult, base: EvalResult) -> None:
        """The control against the new version and against the base, both in the report.

        Against the new version alone a control is refused by being worse; against the
        base it shows whether the guard is fooled by what the control did learn (to stop
        at once wins the tasks with nothing to do). A promotion is tried against whichever
        of the two is current now, the other comparison is judged by the same rule.
        """
        promoted = bool(self.report.result and self.report.result.promoted)
        self.report.control = self._compare(control, new, promote=promoted)
        self.report.control_base = self._compare(control, base, promote=not promoted)

    # --- the phases ------------------------------------------------------------------------

    def _phase(self, name: str, started: float) -> None:
        self.report.phases[name] = round(time.monotonic() - started, 1)
        self.save()

    def save(self) -> Path:
        self.report.seconds = round(time.monotonic() - self._started, 1)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.folder / "report.json", self.report.model_dump(mode="json"))
        (self.folder / "report.txt").write_text("\n".join(self.report.lines()) + "\n",
                                                encoding="utf-8")
        return self.folder / "report.json"

    def run(self) -> SpecializeReport:
        o = self.o
        # a measurement-only suite (HumanEval) never becomes training data: refuse at once
        load_suite(o.suite).refuse_training("specializing on")
        self.folder.mkdir(parents=True, exist_ok=True)
        store = VersionStore(o.artifacts)
        current = store.current(self.name).number if self.name in store.agents() else 1
        self.say(f"[1/9] own traces: {o.own_mode} on the train split")
        includes: list[Path] = []
        own_file: Path | None = None
        started = time.monotonic()
        if o.own_mode != "none":
            own = self._harvest(o.own_mode, limit=o.own_tasks)
            self.report.own = {"mode": o.own_mode, "tasks": own.tasks, "sampled": own.sampled,
                               "green": own.outcomes.get("passed", own.tasks_green),
                               "tasks_green": own.tasks_green,
                               "examples": own.counts.examples}
            if own.out and own.counts.examples:
                own_file = Path(own.out)
                includes.append(own_file)
        self._phase("own", started)

        self.say("[2/9] demonstrations")
        started = time.monotonic()
        demos: HarvestResult | None = None
        if o.import_demos is not None:
            demos = self._harvest("import", demos=o.import_demos)
        elif o.demos:
            demos = self._harvest("demos")
        if demos is not None:
            assert demos.out is not None  # a harvest that ran (none is queued) wrote its file
            includes.append(Path(demos.out))
        self._phase("demos", started)

        self.say("[3/9] mining the dataset")
        started = time.monotonic()
        data = self.folder / "data.jsonl"
        if not includes:
            raise ConfigError("no training data: the own harvest found no green example and "
                              "demonstrations are off", hint="allow --demos, or import some "
                              "with --import-demos FILE")
        mined = self._mine(data, includes)
        self.report.examples = dict(mined.counts.by_source)
        self._phase("mine", started)

        self.say(f"[4/9] training on {mined.counts.examples} examples")
        started = time.monotonic()
        loaded = load_examples(data)
        train_n = len(split_eval(loaded, 0.1, o.seed)[0])
        points = curve_steps(o.curve, o.batch, train_n, o.max_steps)
        total = o.max_steps or o.epochs * math.ceil(train_n / o.batch)
        # a point at the run's last step is the final adapter itself: no checkpoint for it
        result = self._train(data, self.folder / "train", steps=o.max_steps,
                             checkpoints=sorted(s for s in points if s != total))
        version = self._register(self.folder / "train",
                                 note=f"pantheon specialize {self.id}")
        self.report.training = TrainingInfo(
            version=version.ref, examples=mined.counts.examples,
            sources=dict(mined.counts.by_source), steps=result.steps,
            seconds=result.train_s, seconds_per_step=result.seconds_per_step,
            peak_rss_mb=result.peak_rss_mb, final_loss=result.final_loss,
            final_eval_loss=result.final_eval_loss)
        self._phase("train", started)

        self.say("[5/9] the learning curve: each checkpoint on the holdout")
        started = time.monotonic()
        base_ref = str(AgentRef(self.name, current))
        base_eval = self._evaluate(base_ref, limit=o.curve_tasks)
        measured: list[tuple[int, int, EvalResult, str]] = [(0, 0, base_eval, base_ref)]
        new_eval: EvalResult | None = None
        for step, n, final in curve_plan(points, result.steps, result.checkpoints):
            if final:  # the run ended inside its first epoch: its last point
                new_eval = self._evaluate(version.ref, limit=o.curve_tasks)
                measured.append((step, n, new_eval, version.ref))
                continue
            point_version = self._register(self.folder / "train", checkpoint=step,
                                           note=f"learning curve: the adapter after its first "
                                           f"{n} examples, seen once ({self.id})")
            measured.append((step, n, self._evaluate(point_version.ref, limit=o.curve_tasks),
                             point_version.ref))
        self.report.curve_note = (
            "each curve point is one pass over its N examples (a checkpoint inside the first "
            "epoch)" + ("" if new_eval is not None else
                        f"; {version.ref} trained {result.steps} steps "
                        f"({result.epochs_done:g} epochs), so it is measured in the "
                        "comparison, not on the curve"))
        self.report.curve = str(self._save_curve(measured, result))
        self._phase("curve", started)

        self.say("[6/9] the new version against the current one on the holdout")
        started = time.monotonic()
        if o.curve_tasks is not None:  # the curve ran on part of the holdout: all of it now
            base_eval = self._evaluate(base_ref)
        if new_eval is None or o.curve_tasks is not None:
            new_eval = self._evaluate(version.ref)
        self._phase("eval", started)

        self.say("[7/9] promotion")
        started = time.monotonic()
        self.report.result = self._compare(new_eval, base_eval, promote=o.promote)
        self._phase("promote", started)

        self.say("[8/9] the model's own data alone")
        started = time.monotonic()
        own_n = self.report.own.get("examples", 0)
        if own_file is None or own_n < o.own_min:
            self.report.own_only_note = (
                f"{own_n} example(s) of its own (from {self.report.own.get('green', 0)} "
                f"green sample(s)), fewer than the {o.own_min} an adapter needs (--own-min): "
                "no adapter was trained on them alone, so no lift from the model's own data "
                "was measured" if o.own_mode != "none"
                else "no own harvest was asked for (--own none)")
        else:
            own_data = self.folder / "own.jsonl"
            self._mine(own_data, [own_file])
            steps = max(1, math.ceil(own_n * 0.9 / o.batch) * o.epochs)
            self._train(own_data, self.folder / "train-own", steps=steps)
            own_version = self._register(self.folder / "train-own",
                                         note=f"own data only ({self.id})")
            self.report.own_only = self._compare(self._evaluate(own_version.ref), base_eval,
                                                 promote=False)
        self._phase("own-only", started)

        self.say("[9/9] control: shuffled replies, which promotion must refuse")
        started = time.monotonic()
        if o.control:
            shuffled = self.folder / "shuffled.jsonl"
            shuffle_replies(data, shuffled, seed=o.seed)
            self._train(shuffled, self.folder / "train-control", steps=o.control_steps)
            control = self._register(self.folder / "train-control",
                                     note=f"control: shuffled replies ({self.id})")
            self.compare_control(self._evaluate(control.ref), new_eval, base_eval)
        self._phase("control", started)
        self.save()
        return self.report

    def _save_curve(self, measured: list[tuple[int, int, EvalResult, str]],
                    result: TrainResult) -> Path:
        """``measured``: (step, examples seen, eval, version) of each point."""
        points = [CurvePoint(examples=n, passed=e.passed_samples, total=e.total_samples,
                             pass_rate=e.pass_at_1, interval=tuple(e.pass_at_1_interval),
                             version=ref, eval_id=e.eval_id,
                             train_seconds=None if step == 0 else
                             round(result.seconds_per_step * step, 1))
                  for step, n, e, ref in measured]
        self.report.curve_points = [p.model_dump(mode="json") for p in points]
        scope = self.report.scope
        curve = make_curve(self.name, scope, str(self.o.suite), points, target=self.o.target,
                           description=SCOPE_WORDS.get(scope))
        return save_curve(self.o.artifacts, curve)
