"""Paired comparisons of two versions, and the rule that guards a promotion.

``pantheon eval A@new --against A@current`` evaluates both versions on the same holdout
tasks and writes a :class:`VersionComparison` to ``<artifacts>/evals/comparisons/``: both
pass@1 with their Wilson intervals and the exact McNemar test on the paired outcomes.

``pantheon promote A@N`` reads the latest comparison of ``A@N`` against the current version
and makes ``A@N`` current only when it is significantly better twice over: on every paired
task (more tasks won than lost, McNemar's p below ``alpha``, 0.05 by default) *and* on the
tasks that need work (:mod:`~pantheon_engine.evals.strata`), so that a version which has
only learnt to stop at once, and wins the documents that already comply, is refused.
Anything else is refused with the numbers. A version whose files changed since it was
measured is not the version measured, so the comparison records a digest of its files and
the promotion checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.artifacts import new_run_id, utc_now
from pantheon_engine.atomic import atomic_write_json, read_json
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.results import Comparison, EvalResult, compare
from pantheon_engine.evals.strata import Strata, stratify, suite_work
from pantheon_engine.run.versions import (
    Promotion,
    VersionError,
    VersionStore,
    current_user,
    files_digest,
)

DEFAULT_ALPHA = 0.05
HOLDOUT = "holdout"


class PromotionRefused(VersionError):
    """A promotion the evidence does not support; the message carries the numbers."""

    exit_code = 1  # the command worked; the answer is no


class EvalSide(BaseModel):
    """One side of a comparison: a version's eval on the paired tasks."""

    ref: str
    number: int
    eval_id: str
    dir: str | None
    pass_at_1: float
    interval: tuple[float, float]
    passed: int
    total: int
    files_digest: str

    def rate(self) -> str:
        lo, hi = self.interval
        return f"{self.ref} pass@1 {self.pass_at_1:.3f} [{lo:.3f}, {hi:.3f}] " \
               f"({self.passed}/{self.total})"


class VersionComparison(BaseModel):
    """``new`` against ``against`` on the same tasks; ``paired.only_a`` = tasks new won."""

    id: str
    agent: str
    created_at: str = Field(default_factory=utc_now)
    suite: str
    split: str
    samples: int
    new: EvalSide
    against: EvalSide
    paired: Comparison
    #: the paired tasks cut into needs work / no work; None in a comparison written before
    #: strata were recorded (a promotion then asks for it to be measured again)
    strata: Strata | None = None

    @property
    def wins(self) -> int:
        return self.paired.only_a

    @property
    def losses(self) -> int:
        return self.paired.only_b

    def render_text(self) -> str:
        paired = self.paired
        lines = [
            f"{self.agent} on {self.suite} ({self.split}), {paired.tasks} paired tasks",
            f"  {self.new.rate()}",
            f"  {self.against.rate()}",
            f"  paired: both {paired.both}, only {self.new.ref} {paired.only_a}, only "
            f"{self.against.ref} {paired.only_b}, neither {paired.neither}; exact McNemar "
            f"p = {paired.p_value:.4g}",
        ]
        strata = self.strata
        if strata is None:
            lines.append("  strata: not recorded (measured before they were); measure again")
            return "\n".join(lines)
        for name, stratum in (("needs work", strata.needs_work), ("no work", strata.no_work)):
            lines.append(f"  {name}: {stratum.text()}")
        if strata.needs_work.assumed:
            lines.append(f"  ({strata.needs_work.assumed} task(s) counted as needing work: "
                         "the suite does not say whether they do)")
        return "\n".join(lines)


class Decision(BaseModel):
    accepted: bool
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)


def comparisons_dir(artifacts: Path) -> Path:
    return Path(artifacts) / "evals" / "comparisons"


def _side(result: EvalResult, number: int, digest: str) -> EvalSide:
    return EvalSide(ref=result.agent, number=number, eval_id=result.eval_id, dir=result.dir,
                    pass_at_1=result.pass_at_1, interval=tuple(result.pass_at_1_interval),
                    passed=result.passed_samples, total=result.total_samples,
                    files_digest=digest)


def write_comparison(store: VersionStore, new: EvalResult, against: EvalResult
                     ) -> tuple[VersionComparison, Path]:
    """Pair two evals of versions of one agent and write the comparison JSON."""
    new_ref, against_ref = AgentRef.parse(new.agent), AgentRef.parse(against.agent)
    agent = new_ref.name
    if agent != against_ref.name:
        raise VersionError(f"cannot compare {new.agent} with {against.agent}: two agents")
    if (new.suite, new.split) != (against.suite, against.split):
        raise VersionError(f"{new.agent} ran on {new.suite} ({new.split}), {against.agent} on "
                           f"{against.suite} ({against.split}): not the same tasks")
    if new_ref.version is None or against_ref.version is None:
        raise VersionError(f"cannot compare {new.agent} with {against.agent}: an eval of a "
                           "version names it (NAME@N)")
    a, b = store.get(agent, new_ref.version), store.get(agent, against_ref.version)
    unknown = any(t.needs_work is None for t in (*new.tasks, *against.tasks))
    work = suite_work(Path(new.suite), agent) if unknown else {}
    try:
        strata = stratify(new, against, work)
    except ConfigError as exc:
        raise VersionError(exc.message, hint=exc.hint) from None
    record = VersionComparison(
        id=new_run_id(f"{agent}-{a.number}-vs-{b.number}"), agent=agent, suite=new.suite,
        split=new.split, samples=new.samples,
        new=_side(new, a.number, files_digest(a)),
        against=_side(against, b.number, files_digest(b)), paired=compare(new, against),
        strata=strata)
    path = comparisons_dir(store.artifacts) / f"{record.id}.json"
    atomic_write_json(path, record.model_dump(mode="json"))
    return record, path


def compare_versions(artifacts: Path, new: EvalResult, against: EvalResult
                     ) -> tuple[VersionComparison, Path]:
    """``pantheon eval A@new --against A@old``: pair the two evals, write the comparison."""
    return write_comparison(VersionStore(artifacts), new, against)


def latest_comparison(artifacts: Path, agent: str, new: int,
                      against: int) -> VersionComparison | None:
    """The most recent comparison of ``agent@new`` against ``agent@against``."""
    found: list[VersionComparison] = []
    for path in comparisons_dir(artifacts).glob("*.json"):
        try:
            record = VersionComparison.model_validate(read_json(path))
        except (OSError, ValueError, ValidationError):
            continue
        if (record.agent, record.new.number, record.against.number) == (agent, new, against):
            found.append(record)
    return max(found, key=lambda r: (r.created_at, r.id)) if found else None


def decide(record: VersionComparison, alpha: float = DEFAULT_ALPHA) -> Decision:
    """Significantly better on the paired holdout outcomes, both on every task and on the
    tasks that need work, or not (and why)."""
    paired, strata = record.paired, record.strata
    evidence = {
        "comparison": record.id, "suite": record.suite, "split": record.split,
        "tasks": paired.tasks, "wins": paired.only_a, "losses": paired.only_b,
        "p_value": paired.p_value, "alpha": alpha,
        "new": {"ref": record.new.ref, "pass_at_1": record.new.pass_at_1,
                "interval": list(record.new.interval), "eval_id": record.new.eval_id},
        "against": {"ref": record.against.ref, "pass_at_1": record.against.pass_at_1,
                    "interval": list(record.against.interval),
                    "eval_id": record.against.eval_id},
        "strata": None if strata is None else strata.model_dump(mode="json"),
    }
    numbers = (f"{record.new.rate()} vs {record.against.rate()}; on {paired.tasks} paired "
               f"tasks {record.new.ref} won {paired.only_a}, lost {paired.only_b}; exact "
               f"McNemar p = {paired.p_value:.4g}")
    if strata is not None:
        numbers += f"; {strata.text()}"
    if record.split != HOLDOUT:
        return Decision(accepted=False, evidence=evidence, reason=(
            f"the comparison ran on the {record.split} split; only holdout tasks the "
            f"version never trained on count ({numbers})"))
    if paired.only_a <= paired.only_b:
        return Decision(accepted=False, evidence=evidence,
                        reason=f"{record.new.ref} is not better: {numbers}")
    if paired.p_value >= alpha:
        return Decision(accepted=False, evidence=evidence, reason=(
            f"{record.new.ref} is not significantly better: p = {paired.p_value:.4g} is not "
            f"below alpha = {alpha:g} ({numbers})"))
    if strata is None:
        return Decision(accepted=False, evidence=evidence, reason=(
            f"comparison {record.id} does not say which tasks needed work (it was written "
            f"before that was recorded), so a win by stopping at once cannot be ruled out "
            f"({numbers})"))
    work = strata.needs_work
    if not work.significant_win(alpha):
        return Decision(accepted=False, evidence=evidence, reason=(
            f"{record.new.ref} is not significantly better on the {work.tasks} tasks that "
            f"need work: won {work.wins}, lost {work.losses}, p = {work.p_value:.4g} (alpha "
            f"= {alpha:g}); a win made on tasks with nothing to do does not count alone "
            f"({numbers})"))
    return Decision(accepted=True, evidence=evidence,
                    reason=f"{record.new.ref} is significantly better: {numbers}")


def eval_command(store: VersionStore, agent: str, new: int, against: int) -> str:
    """The command that produces the comparison a promotion needs."""
    suite = "SUITE_DIR"
    for number in (new, against):
        info = store.get(agent, number).eval
        if info is not None:
            suite = info.suite
            break
    return (f"pantheon eval {agent}@{new} --against {agent}@{against} --suite {suite} "
            f"--split holdout --artifacts {store.artifacts}")


def promote(store: VersionStore, agent: str, number: int, *, alpha: float = DEFAULT_ALPHA,
            by: str | None = None, why: str = "") -> tuple[Promotion, Decision]:
    """Make ``agent@number`` current if the latest paired holdout comparison against the
    current version says it is significantly better; raise :class:`PromotionRefused`."""
    if not 0 < alpha < 1:
        raise VersionError(f"--alpha must be between 0 and 1, got {alpha:g}")
    version = store.get(agent, number)
    current = store.current(agent)
    if number == current.number:
        raise PromotionRefused(f"{version.ref} is already current")
    store.verify(version)
    record = latest_comparison(store.artifacts, agent, number, current.number)
    if record is None:
        raise PromotionRefused(
            f"no paired comparison of {version.ref} against the current {current.ref} yet",
            hint=f"run: {eval_command(store, agent, number, current.number)}")
    if record.new.files_digest != files_digest(version) or \
            record.against.files_digest != files_digest(current):
        raise PromotionRefused(
            f"comparison {record.id} measured other files than {version.ref} and "
            f"{current.ref} hold now",
            hint=f"measure again: {eval_command(store, agent, number, current.number)}")
    if record.strata is None:
        raise PromotionRefused(
            f"comparison {record.id} of {version.ref} against {current.ref} does not say "
            "which tasks needed work (it was written before that was recorded)",
            hint=f"measure again: {eval_command(store, agent, number, current.number)}")
    decision = decide(record, alpha)
    if not decision.accepted:
        raise PromotionRefused(f"promotion of {version.ref} refused: {decision.reason}",
                               hint=f"the current version stays {current.ref}")
    change = store.set_current(agent, number, action="promote",
                               why=why or decision.reason, by=by or current_user(),
                               evidence=decision.evidence)
    return change, decision
