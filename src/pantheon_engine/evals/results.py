"""What an eval found: every sample's verdict, the pass rates with their uncertainty.

``eval.json`` keeps each task's samples, so two evals of the same suite compare task by
task (:func:`compare`, an exact McNemar test) and not only by their headline rates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from pantheon_engine.atomic import atomic_write_json, read_json
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.stats import mcnemar_exact, pass_at_k, wilson_interval
from pantheon_engine.run.search import SearchTally

IntervalOver = Literal["tasks", "samples pooled"]


class SampleResult(BaseModel):
    """One run of one task: its verdict comes from the run's checks, never the agent."""

    sample: int
    passed: bool
    #: why the run failed: the failed node's error kind (check_failed, max_steps, …)
    error_kind: str | None = None
    error: str | None = None
    #: labels of the rules the check found unmet (plus "preserve" when it broke something)
    failed: list[str] = Field(default_factory=list)
    steps: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    run_id: str | None = None
    #: with ``--search K``: the run's search totals (k, tried, tokens, passed_first,
    #: accepted); ``passed`` is then the verdict with search
    search: dict[str, Any] | None = None


class TaskResult(BaseModel):
    id: str
    split: str
    #: samples run (n_i) and samples passed (c_i)
    samples: int
    passed: int
    results: list[SampleResult]
    #: whether the task asks for any change at all (a docops document that already complies
    #: does not); None: the suite does not say (see :mod:`pantheon_engine.evals.strata`)
    needs_work: bool | None = None


class BaselineScore(BaseModel):
    """A trivial strategy on the same tasks as the eval, graded by the same check.

    ``won``/``lost``/``p_value``: the eval's tasks that it passed and this baseline failed,
    the other way round, and the exact McNemar test on them (see :func:`compare`).
    """

    description: str = ""
    passed: int
    total: int
    rate: float
    interval: tuple[float, float] = (0.0, 0.0)
    #: an upper bound (a scripted solver), never the bar a model is read against
    upper_bound: bool = False
    #: the folder of the baseline's own eval.json and run bundles
    dir: str | None = None
    won: int | None = None
    lost: int | None = None
    p_value: float | None = None

    @property
    def line(self) -> str:
        """``0.172 [0.098, 0.283] 11/64``, as the summary writes pass@1."""
        lo, hi = self.interval
        return f"{self.rate:.3f} [{lo:.3f}, {hi:.3f}] {self.passed}/{self.total}"


def best_baseline(baselines: dict[str, BaselineScore]) -> tuple[str, BaselineScore] | None:
    """The baseline with the highest rate (upper bounds left out): the bar to read against."""
    bars = [(name, score) for name, score in baselines.items() if not score.upper_bound]
    return max(bars, key=lambda item: item[1].rate) if bars else None


def render_baselines(baselines: dict[str, BaselineScore], rate: float | None = None) -> list[str]:
    """The baselines' lines of a summary; with the model's ``rate``, read against the best."""
    if not baselines:
        return []
    total = next(iter(baselines.values())).total
    lines = [f"baselines on the same {total} tasks, same check:"]
    best = best_baseline(baselines)
    for name, score in baselines.items():
        mark = " (upper bound, not a bar)" if score.upper_bound else \
            (" ← best" if best is not None and best[0] == name else "")
        paired = ""
        if score.won is not None and score.lost is not None and score.p_value is not None:
            paired = (f" · model won {score.won}, lost {score.lost}, "
                      f"McNemar p = {score.p_value:.3g}")
        lines.append(f"  {name:<22} {score.line}{mark}{paired}"
                     + (f"  ({score.description})" if score.description else ""))
    if best is not None and rate is not None:
        lines.append(f"pass@1 − best baseline ({best[0]}) = {rate - best[1].rate:+.3f}")
    return lines


class EvalResult(BaseModel):
    """An agent measured on one split of a suite (the content of ``eval.json``)."""

    eval_id: str
    agent: str  # name@version
    engine: str | None
    model: str | None
    suite: str
    split: str  # "train", "holdout" or "all"
    samples: int  # k: samples per task
    temperature: float | None  # None: each agent's own temperature
    seed: int = 0
    tasks_n: int
    total_samples: int
    passed_samples: int
    #: mean over tasks of c_i / n_i
    pass_at_1: float
    #: Wilson 95 % interval: over tasks (one sample each) or over every sample pooled (k > 1)
    pass_at_1_interval: tuple[float, float]
    interval_over: IntervalOver
    #: unbiased pass@k (k = samples), mean over tasks; only when samples > 1
    pass_at_k: float | None = None
    failures_by_rule: dict[str, int] = Field(default_factory=dict)
    failures_by_kind: dict[str, int] = Field(default_factory=dict)
    steps_mean: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_s: float = 0.0
    seconds: float = 0.0
    dir: str | None = None
    #: the suite is a measurement only (HumanEval): its runs are never mined
    measurement_only: bool = False
    #: trivial strategies on the same tasks, graded by the same check (name -> score)
    baselines: dict[str, BaselineScore] = Field(default_factory=dict)
    #: with ``--search K``: pass@1 without search and accepted with search, apart
    search: SearchTally | None = None
    tasks: list[TaskResult]

    @classmethod
    def build(cls, *, eval_id: str, agent: str, engine: str | None, model: str | None,
              suite: str, split: str, samples: int, temperature: float | None, seed: int,
              seconds: float, tasks: list[TaskResult], dir: str | None = None,
              measurement_only: bool = False) -> EvalResult:
        """Every aggregate computed from the per-task results."""
        records = [r for t in tasks for r in t.results]
        passed = sum(r.passed for r in records)
        rates = [t.passed / t.samples for t in tasks if t.samples]
        by_rule: Counter[str] = Counter()
        by_kind: Counter[str] = Counter()
        for record in records:
            if record.passed:
                continue
            by_rule.update(dict.fromkeys(record.failed, 1))
            by_kind[record.error_kind or "unknown"] += 1
        completion = sum(r.completion_tokens for r in records)
        searched = SearchTally()
        for record in records:
            searched.add(record.search)
        at_k = None
        if samples > 1:
            at_k = sum(pass_at_k(t.samples, t.passed, samples) for t in tasks) / len(tasks) \
                if tasks else 0.0
        return cls(
            eval_id=eval_id, agent=agent, engine=engine, model=model, suite=suite,
            split=split, samples=samples, temperature=temperature, seed=seed,
            tasks_n=len(tasks), total_samples=len(records), passed_samples=passed,
            pass_at_1=sum(rates) / len(rates) if rates else 0.0,
            pass_at_1_interval=wilson_interval(passed, len(records)),
            interval_over="tasks" if samples == 1 else "samples pooled",
            pass_at_k=at_k,
            failures_by_rule=dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
            failures_by_kind=dict(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
            steps_mean=sum(r.steps for r in records) / len(records) if records else 0.0,
            prompt_tokens=sum(r.prompt_tokens for r in records),
            completion_tokens=completion,
            tokens_per_s=completion / seconds if seconds > 0 else 0.0,
            seconds=seconds, dir=dir, measurement_only=measurement_only, tasks=tasks,
            search=searched if searched.runs else None,
        )

    def write(self, path: Path | str) -> Path:
        """Write the result as JSON, atomically (the usual place: ``<eval dir>/eval.json``)."""
        atomic_write_json(Path(path), self.model_dump(mode="json"))
        return Path(path)

    @classmethod
    def load(cls, path: Path | str) -> EvalResult:
        """Read an ``eval.json`` (or the eval folder holding one)."""
        source = Path(path)
        if source.is_dir():
            source = source / "eval.json"
        try:
            return cls.model_validate(read_json(source))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{source}: not a readable eval result: {exc}") from exc

    def render_text(self) -> str:
        """A short human summary: the rates with their intervals, then where it failed."""
        lo, hi = self.pass_at_1_interval
        over = "" if self.interval_over == "tasks" else ", interval over all samples"
        temp = "agent default" if self.temperature is None else f"{self.temperature:g}"
        lines = [
            f"eval {self.eval_id}: {self.agent} on {self.suite} ({self.split}), "
            f"{self.tasks_n} tasks × {self.samples} sample(s), T={temp}, "
            f"engine {self.engine or 'none'} {self.model or ''}".rstrip(),
            f"pass@1 = {self.pass_at_1:.3f} [{lo:.3f}, {hi:.3f}] "
            f"{self.passed_samples}/{self.total_samples}{over}",
        ]
        if self.pass_at_k is not None:
            lines.append(f"pass@{self.samples} = {self.pass_at_k:.3f}")
        if self.search is not None:
            lines.append(self.search.line())
        lines += render_baselines(self.baselines, self.pass_at_1)
        if self.failures_by_kind:
            lines.append("failed by kind: " + ", ".join(
                f"{k} {v}" for k, v in self.failures_by_kind.items()))
        if self.failures_by_rule:
            lines.append("failed rules: " + ", ".join(
                f"{k} {v}" for k, v in self.failures_by_rule.items()))
        lines.append(f"steps {self.steps_mean:.1f}/sample · tokens {self.prompt_tokens} in, "
                     f"{self.completion_tokens} out · {self.tokens_per_s:.0f} tok/s · "
                     f"{self.seconds:.1f}s")
        return "\n".join(lines)


class Comparison(BaseModel):
    """Two evals of the same tasks, paired task by task."""

    a: str
    b: str
    tasks: int  # tasks both evals ran
    both: int
    only_a: int
    only_b: int
    neither: int
    #: two-sided exact McNemar p-value on the discordant tasks
    p_value: float
    #: task ids each eval passed and the other did not
    won_by_a: list[str]
    won_by_b: list[str]


def task_passed(task: TaskResult) -> bool:
    """A task counts as passed when more than half its samples passed (k = 1: the sample)."""
    return task.passed * 2 > task.samples


def compare(a: EvalResult, b: EvalResult, only: Collection[str] | None = None) -> Comparison:
    """Pair two evals on the tasks both ran; McNemar's exact test on where they differ.

    ``only``: pair just these task ids (one stratum of the tasks), not every shared one.
    """
    in_b = {t.id: t for t in b.tasks}
    both = only_a = only_b = neither = 0
    won_a: list[str] = []
    won_b: list[str] = []
    paired = 0
    for task in a.tasks:
        other = in_b.get(task.id)
        if other is None or (only is not None and task.id not in only):
            continue
        paired += 1
        pa, pb = task_passed(task), task_passed(other)
        if pa and pb:
            both += 1
        elif pa:
            only_a += 1
            won_a.append(task.id)
        elif pb:
            only_b += 1
            won_b.append(task.id)
        else:
            neither += 1
    return Comparison(a=a.eval_id, b=b.eval_id, tasks=paired, both=both, only_a=only_a,
                      only_b=only_b, neither=neither, p_value=mcnemar_exact(only_a, only_b),
                      won_by_a=won_a, won_by_b=won_b)
