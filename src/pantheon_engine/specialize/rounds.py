"""``pantheon specialize --rounds N``: rounds of self-training from verified work only.

Each round:

1. **harvest** the train split with the *current* version, from every source asked for
   (best-of-k, verifier-guided search, check feedback, a teacher model by day): only what the
   task's check passes is kept, each example labelled with its source;
2. **mine** everything verified so far (this round's harvests, the earlier rounds', and any
   files given, such as the nights' mined green work) into one dataset; the scripted solver
   is never a source here;
3. **train** a fresh adapter from the *base* weights on that dataset (not on top of the last
   adapter: a round's version is what all verified data teaches the base);
4. **eval** it against the current version on the same holdout tasks (paired), with and
   without check-guided search when ``search`` > 1;
5. **promote** it only if the guard accepts (a significant win overall and on the tasks that
   need work); the next round harvests with whichever version is current.

Each round's numbers (holdout pass@1 with its 95 % interval, accepted with search, examples
and green tasks per source, samples and tokens per accepted task, training time and peak
memory) go to ``<artifacts>/specialize/<agent>/<id>/rounds.json``; the benchmark
(``bench/learn.py``) prints them as one table per round.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.artifacts import utc_now
from pantheon_engine.atomic import atomic_write_json
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.run.versions import VersionStore
from pantheon_engine.specialize import HARVEST_MODES
from pantheon_engine.specialize.harvest import HarvestResult
from pantheon_engine.specialize.pipeline import (
    Measured,
    Paired,
    Phase,
    SpecializeOptions,
    Specializer,
)

#: the sources a round harvests from when none is named: the model's own samples
DEFAULT_SOURCES = ("best-of-k",)
#: harvest modes that are not a round's source: the scripted solver is an upper-bound line,
#: never data a headline number rests on; an import is data the user hands over (``extra``)
NOT_SOURCES = frozenset({"demos", "import"})
#: a source that is not a harvest mode: best-of-k with a bigger model (``teacher``)
TEACHER = "teacher"


class RoundsOptions(BaseModel):
    """What ``pantheon specialize --rounds N`` does (training settings as one round of
    ``pantheon specialize``)."""

    agent: str
    suite: Path
    rounds: int = Field(default=3, ge=1)
    sources: list[str] = Field(default_factory=lambda: list(DEFAULT_SOURCES))
    #: train tasks harvested per round (the first N of the split)
    tasks: int | None = Field(default=64, ge=1)
    #: holdout tasks measured per round (None: all)
    holdout: int | None = Field(default=None, ge=1)
    #: candidates per step for the "accepted with search" line (1: not measured)
    search: int = Field(default=1, ge=1)
    #: more verified examples (JSONL in the mining format), e.g. a night's mined green work
    extra: list[Path] = Field(default_factory=list)
    #: the catalogue model of the ``teacher`` source (best-of-k with it; the student's
    #: prompts are what is stored)
    teacher: str | None = None
    base: SpecializeOptions


class SourceRound(BaseModel):
    """What one source found in one round."""

    source: str
    tasks: int
    tasks_green: int
    sampled: int
    examples: int
    seconds: float
    harvest: str | None = None


class RoundReport(BaseModel):
    """One round's numbers."""

    round: int
    harvested_with: str
    sources: list[SourceRound] = Field(default_factory=list)
    #: examples in the round's dataset by source (everything verified so far)
    examples: dict[str, int] = Field(default_factory=dict)
    version: str | None = None
    train_seconds: float | None = None
    peak_rss_mb: float | None = None
    steps: int | None = None
    #: the new version against the one current when the round began
    result: Paired | None = None
    #: holdout with check-guided search: accepted, samples and tokens per accepted task
    searched: dict[str, Any] | None = None
    note: str | None = None
    seconds: float = 0.0


class RoundsReport(BaseModel):
    id: str
    agent: str
    suite: str
    started_at: str
    base: Measured | None = None
    base_searched: dict[str, Any] | None = None
    rounds: list[RoundReport] = Field(default_factory=list)
    seconds: float = 0.0
    options: dict[str, Any] = Field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"rounds of {self.agent} on {self.suite}: {len(self.rounds)} round(s), "
               f"{self.seconds / 60:.1f} min"]
        if self.base is not None:
            out.append(f"round 0 (the starting version): {self.base.text()}")
        for r in self.rounds:
            out.append(f"round {r.round} (harvested with {r.harvested_with}), "
                       f"{r.seconds / 60:.1f} min:")
            for s in r.sources:
                out.append(f"  {s.source}: {s.tasks_green}/{s.tasks} task(s) green, "
                           f"{s.sampled} sample(s), {s.examples} example(s), "
                           f"{s.seconds:.0f} s")
            out.append("  data: " + (", ".join(f"{k} {v}" for k, v in r.examples.items())
                                     or "none"))
            if r.version:
                out.append(f"  trained {r.version}: {r.steps} steps, "
                           f"{(r.train_seconds or 0) / 60:.1f} min, peak RSS "
                           f"{(r.peak_rss_mb or 0) / 1024:.1f} GB")
            if r.result is not None:
                p = r.result
                out.append(f"  holdout: {p.new.text()} vs {p.against.text()}; "
                           f"{p.lift_points:+.1f} points, won {p.wins}, lost {p.losses}, "
                           f"p = {p.p_value:.3g}; "
                           + ("promoted" if p.promoted else "not promoted")
                           + (f" ({p.decision})" if p.decision else ""))
            if r.searched:
                out.append(f"  with search: {search_text(r.searched)}")
            if r.note:
                out.append(f"  {r.note}")
        return out


def search_text(tally: dict[str, Any]) -> str:
    """The line of a search tally (:meth:`pantheon_engine.run.search.SearchTally.line`)."""
    return str(tally.get("line") or ", ".join(f"{k} {v}" for k, v in tally.items()))


def check_sources(sources: Sequence[str], known: Sequence[str],
                  teacher: str | None = None) -> list[str]:
    """The sources, in order, without repeats; a :class:`ConfigError` for a scripted one,
    one no harvest knows, or ``teacher`` without a teacher model."""
    chosen = list(dict.fromkeys(sources))
    if not chosen:
        raise ConfigError("a round needs at least one source", hint="--source best-of-k")
    scripted = [s for s in chosen if s in NOT_SOURCES]
    if scripted:
        raise ConfigError(f"{', '.join(scripted)} cannot be a round's source: rounds learn "
                          "from verified model work only (the scripted solver is an "
                          "upper-bound line; hand over data with --extra FILE)")
    if TEACHER in chosen and not teacher:
        raise ConfigError("the teacher source needs a teacher model",
                          hint="--teacher qwen2.5-coder-1.5b")
    unknown = [s for s in chosen if s not in known and s != TEACHER]
    if unknown:
        raise ConfigError(f"unknown source(s) {', '.join(unknown)}",
                          hint="one of " + ", ".join(
                              [k for k in known if k not in NOT_SOURCES] + [TEACHER]))
    return chosen


class Rounds(Specializer):
    """Runs the rounds; each phase is the command a user would run, called in-process."""

    def __init__(self, options: RoundsOptions, say: Phase = print, **kwargs: Any) -> None:
        super().__init__(options.base, say, **kwargs)
        self.r = options
        self.rounds_report = RoundsReport(
            id=self.id, agent=self.name, suite=str(options.suite), started_at=utc_now(),
            options=options.model_dump(mode="json"))

    def save_rounds(self) -> Path:
        self.rounds_report.seconds = round(time.monotonic() - self._started, 1)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "rounds.json"
        atomic_write_json(path, self.rounds_report.model_dump(mode="json"))
        (self.folder / "rounds.txt").write_text(
            "\n".join(self.rounds_report.lines()) + "\n", encoding="utf-8")
        return path

    def _searched(self, ref: str) -> dict[str, Any] | None:
        if self.r.search <= 1:
            return None
        result = self._evaluate(ref, limit=self.r.holdout, search=self.r.search)
        if result.search is None:
            return None
        return {**result.search.model_dump(mode="json"), "line": result.search.line()}

    def _harvest_source(self, source: str) -> tuple[SourceRound, HarvestResult]:
        started = time.monotonic()
        if source == TEACHER:
            found = self._harvest("best-of-k", limit=self.r.tasks, teacher=self.r.teacher)
        else:
            found = self._harvest(source, limit=self.r.tasks)
        return SourceRound(source=source, tasks=found.tasks, tasks_green=found.tasks_green,
                           sampled=found.sampled, examples=found.counts.examples,
                           seconds=round(time.monotonic() - started, 1),
                           harvest=found.out), found

    def run_rounds(self) -> RoundsReport:
        r = self.r
        sources = check_sources(r.sources, HARVEST_MODES, r.teacher)
        load_suite(r.suite).refuse_training("specializing on")
        missing = [str(p) for p in r.extra if not p.is_file()]
        if missing:
            raise ConfigError(f"--extra file(s) not found: {', '.join(missing)}")
        store = VersionStore(self.o.artifacts)
        verified: list[Path] = list(r.extra)
        self.say("[round 0] the starting version on the holdout")
        current = self._current_ref(store)
        current_eval = self._evaluate(current, limit=r.holdout)
        self.rounds_report.base = Measured.of(current_eval)
        self.rounds_report.base_searched = self._searched(current)
        self.save_rounds()
        for number in range(1, r.rounds + 1):
            started = time.monotonic()
            report = RoundReport(round=number, harvested_with=current)
            self.rounds_report.rounds.append(report)
            for source in sources:
                self.say(f"[round {number}] harvest: {source} with {current}")
                found, result = self._harvest_source(source)
                report.sources.append(found)
                if result.out and result.counts.examples:
                    verified.append(Path(result.out))
                self.save_rounds()
            if not verified:
                report.note = ("nothing verified yet: no source found a green example, so "
                               "no adapter was trained this round")
                report.seconds = round(time.monotonic() - started, 1)
                self.save_rounds()
                continue
            self.say(f"[round {number}] mine and train from the base")
            data = self.folder / f"round-{number}" / "data.jsonl"
            data.parent.mkdir(parents=True, exist_ok=True)
            mined = self._mine(data, verified)
            report.examples = dict(mined.counts.by_source)
            trained = self._train(data, data.parent / "train", steps=self.o.max_steps)
            version = self._register(data.parent / "train",
                                     note=f"pantheon specialize --rounds {self.id}, "
                                     f"round {number}")
            report.version, report.steps = version.ref, trained.steps
            report.train_seconds = trained.train_s
            report.peak_rss_mb = trained.peak_rss_mb
            self.say(f"[round {number}] {version.ref} against {current} on the holdout")
            new_eval = self._evaluate(version.ref, limit=r.holdout)
            report.result = self._compare(new_eval, current_eval, promote=self.o.promote)
            report.searched = self._searched(version.ref)
            if report.result.promoted:
                current, current_eval = version.ref, new_eval
            report.seconds = round(time.monotonic() - started, 1)
            self.save_rounds()
        self.save_rounds()
        return self.rounds_report

    def _current_ref(self, store: VersionStore) -> str:
        if self.name in store.agents():
            return store.current(self.name).ref
        return str(AgentRef(self.name, 1))
