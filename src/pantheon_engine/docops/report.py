"""How far a suite's holdout is from its train split: the report written with a docops suite.

A holdout measures what was learned only if its tasks are not the train tasks again. Two
ways they can be:

- the *sentence*: a holdout task states a rule in words some train task uses (the same
  key, the same template). Counted per holdout task: does any of its rule sentences appear
  among the train tasks' sentences?
- the *answer*: the edits a holdout task needs are exactly the edits some train task
  needed (``fm_delete layout``; ``fm_rename writer author``). An *edit* is the tool and its
  arguments (``fm_set`` with its key and value); a task's *answer* is the set of its edits
  (none for a task that already complies). Counted per holdout task that needs edits (is
  its whole answer a train task's answer?) and per edit (does some train task make it?).

The facts come from the tasks as written: each task's sentences as the prompt shows them
(:func:`~pantheon_engine.docops.rules.rule_sentences`) and the scripted solver's edits.
``pantheon suite make --baselines`` adds the baselines' scores on the holdout.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pantheon_engine.atomic import atomic_write_json

Edit = tuple[str, str, str]
SPLITS = ("train", "holdout")


def edit_of(call: tuple[str, dict[str, Any]]) -> Edit:
    """A tool call as an edit: the tool, the key, and the value or new name ('' if none)."""
    name, args = call
    other = args.get("value", args.get("new_key", ""))
    return name, str(args.get("key", "")), str(other)


class TaskFacts(BaseModel):
    """One task as the report sees it: its split, its rule sentences, its edits."""

    model_config = ConfigDict(frozen=True)

    split: str
    sentences: list[str]
    edits: list[Edit] = Field(default_factory=list)

    @property
    def answer(self) -> frozenset[Edit]:
        return frozenset(self.edits)


class Share(BaseModel):
    """``count`` of ``of``, and the share (0 when ``of`` is 0)."""

    count: int
    of: int
    share: float

    @classmethod
    def of_counts(cls, count: int, of: int) -> Share:
        return cls(count=count, of=of, share=round(count / of, 4) if of else 0.0)

    def text(self) -> str:
        return f"{self.count}/{self.of} = {100 * self.share:.1f} %"


class SplitStats(BaseModel):
    tasks: int
    needing_edits: int
    sentences: int  # distinct rule sentences
    families: list[str] = Field(default_factory=list)  # phrasing families used (paraphrase)
    rule_sentences_per_task: float


class Overlap(BaseModel):
    """The holdout against train (see the module docstring)."""

    sentence_in_train: Share  # holdout tasks with a rule sentence some train task has
    answer_in_train: Share  # holdout tasks needing edits whose answer a train task had
    edit_in_train: Share  # holdout edits that some train task makes


class BaselineLine(BaseModel):
    passed: int
    total: int
    rate: float
    interval: tuple[float, float]


class SuiteReport(BaseModel):
    phrasing: str
    splits: dict[str, SplitStats]
    overlap: Overlap
    #: the baselines on the holdout (``pantheon suite make --baselines``), by name
    baselines: dict[str, BaselineLine] = Field(default_factory=dict)

    def lines(self) -> list[str]:
        """The report as the command prints it."""
        out = []
        for split, stats in self.splits.items():
            families = f", {len(stats.families)} phrasing families" if stats.families else ""
            out.append(f"{split}: {stats.tasks} tasks, {stats.needing_edits} needing edits, "
                       f"{stats.sentences} distinct rule sentences{families}")
        overlap = self.overlap
        out += [
            f"holdout tasks with a rule sentence seen in train: "
            f"{overlap.sentence_in_train.text()}",
            f"holdout answers (edits needed) that a train task had: "
            f"{overlap.answer_in_train.text()}",
            f"holdout edits that a train task makes: {overlap.edit_in_train.text()}",
        ]
        for name, line in self.baselines.items():
            low, high = line.interval
            out.append(f"baseline {name} on the holdout: {line.passed}/{line.total} = "
                       f"{100 * line.rate:.1f} % [{100 * low:.1f}, {100 * high:.1f}]")
        return out


def overlap(facts: list[TaskFacts]) -> Overlap:
    train = [f for f in facts if f.split == "train"]
    holdout = [f for f in facts if f.split == "holdout"]
    sentences = {s for f in train for s in f.sentences}
    answers = {f.answer for f in train if f.edits}
    edits = {e for f in train for e in f.edits}
    needing = [f for f in holdout if f.edits]
    holdout_edits = [e for f in holdout for e in f.edits]
    return Overlap(
        sentence_in_train=Share.of_counts(
            sum(any(s in sentences for s in f.sentences) for f in holdout), len(holdout)),
        answer_in_train=Share.of_counts(sum(f.answer in answers for f in needing),
                                        len(needing)),
        edit_in_train=Share.of_counts(sum(e in edits for e in holdout_edits),
                                      len(holdout_edits)),
    )


def suite_report(facts: list[TaskFacts], *, phrasing: str,
                 families: dict[str, list[str]] | None = None) -> SuiteReport:
    """Each split's numbers and the holdout's overlap with train."""
    splits = {}
    for split in SPLITS:
        mine = [f for f in facts if f.split == split]
        counted = Counter(s for f in mine for s in f.sentences)
        splits[split] = SplitStats(
            tasks=len(mine), needing_edits=sum(bool(f.edits) for f in mine),
            sentences=len(counted), families=(families or {}).get(split, []),
            rule_sentences_per_task=round(sum(len(f.sentences) for f in mine) / len(mine), 3)
            if mine else 0.0)
    return SuiteReport(phrasing=phrasing, splits=splits, overlap=overlap(facts))


def write_report(path: Path, report: SuiteReport) -> None:
    atomic_write_json(path, report.model_dump(mode="json"))


def read_report(path: Path) -> SuiteReport:
    return SuiteReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
