"""Balance a harvest: tasks that needed no work may not dominate it.

About one docops task in eight is a document that already complies; the only green reply
there is ``final`` at once. A weak model passes those far more often than the others, so
its own harvest is mostly "stop", and an adapter trained on it learns to stop (the
specialisation report measured exactly that). :func:`cap_no_work` keeps the examples of
such tasks to at most a share of the harvest (default 25 %), dropping the surplus (the
later ones, in harvest order) and saying how many.

A task's stratum is :func:`~pantheon_engine.evals.strata.task_needs_work` of its
``meta``: ``needs_work`` or ``no_work``; a task the suite cannot place (and an imported
example with no task) counts as needing work, as in the strata of a comparison.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.strata import task_needs_work
from pantheon_engine.evals.suite import Suite, SuiteTask
from pantheon_engine.specialize import DEFAULT_MAX_NO_WORK_SHARE
from pantheon_engine.specialize.mine import SOURCES, Example

NEEDS_WORK = "needs_work"
NO_WORK = "no_work"
STRATA: tuple[str, ...] = (NEEDS_WORK, NO_WORK)


def check_share(share: float) -> float:
    """``--max-no-work-share`` must be a share: 0 (none) to 1 (no cap)."""
    if not 0 <= share <= 1:
        raise ConfigError(f"--max-no-work-share must be between 0 and 1, got {share}",
                          hint="0.25 keeps no-work examples to a quarter of the harvest; "
                          "1 turns the cap off")
    return share


def task_strata(suite: Suite, tasks: Iterable[SuiteTask], agent: str) -> dict[str, str]:
    """Task id -> ``needs_work`` or ``no_work``."""
    return {task.id: NO_WORK if task_needs_work(task.meta, agent=agent,
                                                generator=suite.generator) is False
            else NEEDS_WORK for task in tasks}


def stratum_of(example: Example, strata: Mapping[str, str]) -> str:
    task = example.meta.task_id
    return strata.get(task, NEEDS_WORK) if task is not None else NEEDS_WORK


def cap_no_work(examples: Sequence[Example], strata: Mapping[str, str],
                share: float) -> tuple[list[Example], list[Example]]:
    """``examples`` with those of no-work tasks cut to at most ``share`` of the result.

    With ``n`` examples of tasks that need work, at most ``floor(share * n / (1 - share))``
    no-work examples stay (the first ones); ``share`` 1 keeps all. Returns the kept
    examples and the dropped ones, each in order.
    """
    check_share(share)
    work = sum(stratum_of(e, strata) != NO_WORK for e in examples)
    allowed = len(examples) if share >= 1 else math.floor(share * work / (1 - share) + 1e-9)
    kept: list[Example] = []
    dropped: list[Example] = []
    seen = 0
    for example in examples:
        if stratum_of(example, strata) == NO_WORK:
            seen += 1
            if seen > allowed:
                dropped.append(example)
                continue
        kept.append(example)
    return kept, dropped


class StratumCounts(BaseModel):
    """One stratum of a harvest: its tasks, those with a green trajectory or sample, the
    examples kept and those the cap dropped."""

    tasks: int = 0
    tasks_green: int = 0
    examples: int = 0
    dropped: int = 0


class SourceCounts(BaseModel):
    """What one source found: tasks with a green trajectory from it, its green
    trajectories (or samples) and its examples."""

    tasks_green: int = 0
    trajectories: int = 0
    examples: int = 0


class Balance(BaseModel):
    """What the no-work cap did."""

    max_no_work_share: float = Field(ge=0, le=1)
    no_work_kept: int = 0
    no_work_dropped: int = 0


def strata_counts(tasks: Iterable[str], green: Iterable[str], examples: Sequence[Example],
                  dropped: Sequence[Example], strata: Mapping[str, str]
                  ) -> dict[str, StratumCounts]:
    """Per stratum: tasks, green tasks, examples kept and dropped."""
    out = {name: StratumCounts() for name in STRATA}
    for task in tasks:
        out[strata.get(task, NEEDS_WORK)].tasks += 1
    for task in set(green):
        out[strata.get(task, NEEDS_WORK)].tasks_green += 1
    for example in examples:
        out[stratum_of(example, strata)].examples += 1
    for example in dropped:
        out[stratum_of(example, strata)].dropped += 1
    return out


def source_counts(green: Iterable[tuple[str, str]],
                  examples: Sequence[Example]) -> dict[str, SourceCounts]:
    """Per source: ``green`` holds one (source, task id) per green trajectory or sample."""
    trajectories: Counter[str] = Counter()
    tasks: dict[str, set[str]] = {}
    for source, task in green:
        trajectories[source] += 1
        tasks.setdefault(source, set()).add(task)
    kept: Counter[str] = Counter(e.meta.source for e in examples)
    order = {name: index for index, name in enumerate(SOURCES)}
    names = sorted(set(trajectories) | set(kept), key=lambda n: (order.get(n, len(order)), n))
    return {name: SourceCounts(tasks_green=len(tasks.get(name, ())),
                               trajectories=trajectories[name], examples=kept[name])
            for name in names}


__all__ = ["DEFAULT_MAX_NO_WORK_SHARE", "NEEDS_WORK", "NO_WORK", "STRATA", "Balance",
           "SourceCounts", "StratumCounts", "cap_no_work", "check_share", "source_counts",
           "strata_counts", "stratum_of", "task_strata"]
