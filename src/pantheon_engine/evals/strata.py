"""Which tasks ask for work, and a paired comparison cut along that line.

About one docops task in eight is a document that already complies: nothing to edit. A
model that learns to answer ``final`` at once wins every such task, and on a holdout of a
hundred tasks that alone is a significant McNemar win over a base that fiddles with the
files. So each paired task is put in one of two strata, *needs work* (at least one change
is asked for) and *no work*, and each stratum gets its own counts and exact test; a
promotion also needs a significant win on the tasks that need work.

How a task says which it is, first match wins:

1. ``meta.needs_work`` (true or false): any suite may state it;
2. ``meta.edits`` (an integer, as docops suites write it): 0 is no work, 1 or more is work;
3. a code task (the ``codegen`` agent, or a suite written by a code generator such as
   ``humaneval``) always needs work: there is code to write;
4. anything else: the suite cannot tell. The task is counted as needing work (the strict
   reading: it must then be won on its merits) and the comparison says how many were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.results import Comparison, EvalResult, compare
from pantheon_engine.evals.suite import CONFIG_FILE, TASKS_FILE, TaskLine, generator_name

#: suites whose every task is code to write
CODE_SUITES = frozenset({"humaneval", "spec2code", "code"})
#: agents whose every task is code to write
CODE_AGENTS = frozenset({"codegen"})


def task_needs_work(meta: Mapping[str, Any], *, agent: str,
                    generator: str | None = None) -> bool | None:
    """Whether a task with this ``meta`` asks for any change; None when it cannot be told.

    ``agent``: the agent measured (name or name@N); ``generator``: the name of the suite's
    generator (suite.json), if any.
    """
    flag = meta.get("needs_work")
    if isinstance(flag, bool):
        return flag
    edits = meta.get("edits")
    if isinstance(edits, int) and not isinstance(edits, bool):
        return edits > 0
    source = meta.get("source")
    if AgentRef.name_of(agent) in CODE_AGENTS or generator in CODE_SUITES or \
            (isinstance(source, str) and source in CODE_SUITES):
        return True
    return None


def suite_work(folder: Path, agent: str) -> dict[str, bool | None]:
    """Each task's :func:`task_needs_work`, read from a suite folder's files.

    For evals written before tasks carried the answer themselves. Lenient: a folder or a
    line that cannot be read gives nothing for those tasks (they then count as unknown).
    """
    folder = Path(folder)
    generator = None
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        generator = generator_name(config.get("generator")) if isinstance(config, dict) \
            else None
    except (OSError, ValueError):
        pass
    try:
        text = (folder / TASKS_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return {}
    work: dict[str, bool | None] = {}
    for raw in text.splitlines():
        try:
            line = TaskLine.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            continue
        work[line.id] = task_needs_work(line.meta, agent=agent, generator=generator)
    return work


class Stratum(BaseModel):
    """The paired outcomes on one stratum's tasks; ``wins``: tasks the new version passed
    and the other failed, ``losses`` the other way round."""

    tasks: int
    both: int
    wins: int
    losses: int
    neither: int
    #: two-sided exact McNemar p on this stratum's discordant tasks
    p_value: float
    #: tasks counted here because the suite could not tell whether they need work
    assumed: int = 0

    @classmethod
    def of(cls, paired: Comparison, assumed: int = 0) -> Stratum:
        return cls(tasks=paired.tasks, both=paired.both, wins=paired.only_a,
                   losses=paired.only_b, neither=paired.neither, p_value=paired.p_value,
                   assumed=assumed)

    def significant_win(self, alpha: float) -> bool:
        return self.wins > self.losses and self.p_value < alpha

    def text(self) -> str:
        """``20 tasks, won 1, lost 0, both 3, neither 16, exact McNemar p = 1``."""
        tasks = f"{self.tasks} task" + ("" if self.tasks == 1 else "s")
        return (f"{tasks}, won {self.wins}, lost {self.losses}, both {self.both}, "
                f"neither {self.neither}, exact McNemar p = {self.p_value:.4g}")


class Strata(BaseModel):
    """A paired comparison cut in two: the tasks that need work and those that do not."""

    needs_work: Stratum
    no_work: Stratum

    def text(self) -> str:
        """Both strata on one line, and how many tasks were only assumed to need work."""
        assumed = self.needs_work.assumed
        note = f" ({assumed} of them because the suite does not say)" if assumed else ""
        return (f"needs work: {self.needs_work.text()}{note}; "
                f"no work: {self.no_work.text()}")


def stratify(new: EvalResult, against: EvalResult,
             work: Mapping[str, bool | None] | None = None) -> Strata:
    """Cut the paired tasks of ``new`` and ``against`` into needs work / no work.

    Each task's answer comes from its own record in either eval (``TaskResult.needs_work``),
    else from ``work`` (read from the suite, :func:`suite_work`), else it is unknown and
    counts as needing work. Two evals that answer differently for one task did not run the
    same tasks: :class:`ConfigError`.
    """
    work = work or {}
    in_against = {t.id: t for t in against.tasks}
    needs: set[str] = set()
    none: set[str] = set()
    assumed = 0
    for task in new.tasks:
        other = in_against.get(task.id)
        if other is None:
            continue
        if None not in (task.needs_work, other.needs_work) and \
                task.needs_work != other.needs_work:
            raise ConfigError(
                f"task {task.id!r} needs work in {new.agent}'s eval ({new.eval_id}) and not "
                f"in {against.agent}'s ({against.eval_id}) or the other way round: the suite "
                "changed between the two evals", hint="measure both versions again")
        answer = next((v for v in (task.needs_work, other.needs_work, work.get(task.id))
                       if v is not None), None)
        if answer is False:
            none.add(task.id)
        else:
            needs.add(task.id)
            assumed += answer is None
    return Strata(needs_work=Stratum.of(compare(new, against, needs), assumed),
                  no_work=Stratum.of(compare(new, against, none)))
