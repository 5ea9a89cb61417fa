"""The reviewer ledger: how each reviewer does on canaries, and how far two reviewers agree.

Per reviewer agent@version (and, inside it, per review node and per kind of work: ``docs``,
``code``) the ledger keeps the results of the latest canaries in a rolling window: canaries
seen, accuracy, and the false-pass rate (bad canaries it passed / bad canaries it saw).
Cohen's κ between the two reviewers of a flow is kept over their paired verdicts, real
items and canaries together, overall and per kind. The merge gate asks
:meth:`ReviewerLedger.gate_problems` before it merges, for the kind of work it merges: a
reviewer that is reliable on documents is not trusted on code until measured on code.

Given a folder the ledger writes ``canaries.jsonl`` (one line per canary verdict) and
``reviewers.json`` (its state, rewritten atomically at every change).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pantheon_engine.atomic import append_jsonl, atomic_write_json
from pantheon_engine.errors import ConfigError
from pantheon_engine.kappa import KAPPA_MIN, KappaWindow

__all__ = ["FALSE_PASS_MAX", "KAPPA_MIN", "MIN_CANARIES", "CanaryResult", "GateConfig",
           "ReviewerLedger", "ReviewerStats"]

#: the merge gate's defaults: a reviewer may pass at most this share of bad canaries,
FALSE_PASS_MAX = 0.2
#: two reviewers must agree at least KAPPA_MIN beyond chance (Cohen's κ, in kappa.py),
#: and a reviewer counts as measured after this many canaries
MIN_CANARIES = 10


class GateConfig(BaseModel):
    false_pass_max: float = Field(default=FALSE_PASS_MAX, ge=0, le=1)
    kappa_min: float = Field(default=KAPPA_MIN, ge=-1, le=1)
    min_canaries: int = Field(default=MIN_CANARIES, ge=1)


class CanaryResult(BaseModel):
    """One reviewer's verdict on one canary (a line of ``canaries.jsonl``)."""

    t: float
    node: str
    agent: str
    canary: str
    item: str
    expected: str
    got: str | None
    correct: bool
    #: the review did not produce a verdict (error kind); such lines are not scored
    error: str | None = None
    flow: str | None = None
    #: the kind of work reviewed: docs or code
    kind: str | None = None


class ReviewerStats(BaseModel):
    """A reviewer's canary record over the rolling window."""

    canaries: int = 0
    correct: int = 0
    accuracy: float | None = None
    bad_seen: int = 0
    false_passes: int = 0
    false_pass_rate: float | None = None
    #: good canaries seen and failed: a reviewer that rejects good work blocks merges
    good_seen: int = 0
    false_fails: int = 0
    false_fail_rate: float | None = None
    #: the window's size: the latest this many canary verdicts are counted
    window: int = 0
    #: scored canary verdicts this night (the window holds the latest of them)
    total: int = 0
    errors: int = 0


@dataclass
class _Record:
    size: int
    results: deque[tuple[str, str]] = field(default_factory=deque)  # (expected, got)
    total: int = 0
    errors: int = 0

    def add(self, expected: str, got: str) -> None:
        if len(self.results) == self.size:
            self.results.popleft()
        self.results.append((expected, got))
        self.total += 1

    def stats(self) -> ReviewerStats:
        seen = len(self.results)
        correct = sum(e == g for e, g in self.results)
        bad = [g for e, g in self.results if e == "fail"]
        passed_bad = sum(g == "pass" for g in bad)
        good = [g for e, g in self.results if e == "pass"]
        failed_good = sum(g == "fail" for g in good)
        return ReviewerStats(
            canaries=seen, correct=correct, accuracy=correct / seen if seen else None,
            bad_seen=len(bad), false_passes=passed_bad,
            false_pass_rate=passed_bad / len(bad) if bad else None,
            good_seen=len(good), false_fails=failed_good,
            false_fail_rate=failed_good / len(good) if good else None,
            window=self.size, total=self.total, errors=self.errors)


class ReviewerLedger:
    """Canary results per reviewer, κ between the reviewers, and the gate's verdict."""

    def __init__(self, folder: Path | None = None, *, window: int = 50,
                 kappa: KappaWindow | None = None, gate: GateConfig | None = None) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"the canary window must be a whole number >= 1, got {window!r}")
        self.folder = Path(folder) if folder is not None else None
        self.window = window
        self.kappa = kappa if kappa is not None else KappaWindow(size=50, min_pairs=10)
        self.gate = gate or GateConfig()
        self._agents: dict[str, _Record] = {}
        self._nodes: dict[str, dict[str, _Record]] = {}
        self._kinds: dict[str, dict[str, _Record]] = {}
        self._kind_kappa: dict[str, KappaWindow] = {}

    # -- recording ---------------------------------------------------------------------

    def record(self, *, node: str, agent: str, canary: str, item: str, expected: str,
               got: str | None, error: str | None = None, flow: str | None = None,
               kind: str | None = None) -> CanaryResult:
        """One canary verdict of reviewer ``agent`` at review node ``node``.

        A review that gave no verdict (``got`` None: the node failed) is logged with its
        error but not scored: it says nothing about the reviewer's judgement.
        """
        result = CanaryResult(t=time.time(), node=node, agent=agent, canary=canary, item=item,
                              expected=expected, got=got, correct=got == expected,
                              error=error if got is None else None, flow=flow, kind=kind)
        records = [self._agents.setdefault(agent, _Record(self.window)),
                   self._nodes.setdefault(agent, {}).setdefault(node, _Record(self.window))]
        if kind is not None:
            records.append(self._kinds.setdefault(agent, {}).setdefault(
                kind, _Record(self.window)))
        for rec in records:
            if got is None:
                rec.errors += 1
            else:
                rec.add(expected, got)
        if self.folder is not None:
            append_jsonl(self.folder / "canaries.jsonl", result.model_dump(mode="json"))
        self.save()
        return result

    def add_pair(self, verdict_a: str, verdict_b: str, *, kind: str | None = None) -> None:
        """The two reviewers' verdicts on one item (a real change or a canary)."""
        self.kappa.add(verdict_a, verdict_b)
        if kind is not None:
            self._kind_window(kind).add(verdict_a, verdict_b)
        self.save()

    def _kind_window(self, kind: str) -> KappaWindow:
        """The κ window of one kind of work, made at its first pair."""
        window = self._kind_kappa.get(kind)
        if window is None:
            window = self._kind_kappa[kind] = KappaWindow(size=self.kappa.size,
                                                          min_pairs=self.kappa.min_pairs)
        return window

    def _window(self, kind: str | None) -> KappaWindow:
        """The κ window the gate reads: overall, or one kind's (empty before its first pair;
        reading does not make one)."""
        if kind is None:
            return self.kappa
        return self._kind_kappa.get(kind) or KappaWindow(size=self.kappa.size,
                                                           min_pairs=self.kappa.min_pairs)

    # -- reading -----------------------------------------------------------------------

    def stats(self, agent: str) -> ReviewerStats:
        record = self._agents.get(agent)
        return record.stats() if record else ReviewerStats(window=self.window)

    def kind_stats(self, agent: str, kind: str) -> ReviewerStats:
        record = self._kinds.get(agent, {}).get(kind)
        return record.stats() if record else ReviewerStats(window=self.window)

    def node_stats(self, agent: str, node: str) -> ReviewerStats:
        record = self._nodes.get(agent, {}).get(node)
        return record.stats() if record else ReviewerStats(window=self.window)

    @property
    def reviewers(self) -> list[str]:
        return list(self._agents)

    def kappa_state(self, kind: str | None = None) -> dict[str, Any]:
        window = self._window(kind)
        value = window.kappa
        pairs = len(window)
        return {"value": value, "pairs": pairs, "undefined": pairs > 0 and value is None,
                "ready": window.ready, "size": window.size, "min_pairs": window.min_pairs}

    def gate_problems(self, reviewers: Mapping[str, str | None], *,
                      false_pass_max: float | None = None, kappa_min: float | None = None,
                      min_canaries: int | None = None, kind: str | None = None
                      ) -> list[str]:
        """Why the reviewers of one merge are not to be trusted (empty: they are).

        With ``kind`` (docs, code) the reviewers' record and κ on that kind of work are
        read; without it, their record over everything.

        ``reviewers`` maps each review node of the merge to its agent@version (None when
        unknown). A reviewer is trusted once it has at least ``min_canaries`` canaries in
        its window, among them at least one bad one, and passed no larger share of the bad
        ones than ``false_pass_max``. Once the κ window is ready, κ must be defined and at
        least ``kappa_min``.
        """
        fp_max = self.gate.false_pass_max if false_pass_max is None else float(false_pass_max)
        k_min = self.gate.kappa_min if kappa_min is None else float(kappa_min)
        needed = self.gate.min_canaries if min_canaries is None else int(min_canaries)
        problems: list[str] = []
        for node, agent in reviewers.items():
            if agent is None:
                problems.append(f"the reviewer of node {node} is not measured "
                                "(its agent@version is unknown to the ledger)")
        on = "" if kind is None else f" {kind}"
        for agent in dict.fromkeys(a for a in reviewers.values() if a is not None):
            s = self.stats(agent) if kind is None else self.kind_stats(agent, kind)
            if s.canaries < needed:
                problems.append(f"{agent} is not measured yet: {s.canaries}{on} canaries, "
                                f"needs {needed}")
            elif s.bad_seen == 0 or s.false_pass_rate is None:
                problems.append(f"{agent} is not measured yet: {s.canaries}{on} canaries but "
                                "no bad one among them")
            elif s.false_pass_rate > fp_max:
                problems.append(
                    f"{agent} passed {s.false_passes} of {s.bad_seen} bad{on} canaries "
                    f"(false-pass rate {s.false_pass_rate:.2f} > {fp_max:.2f})")
        window = self._window(kind)
        if window.ready:
            value = window.kappa
            if value is None:
                problems.append(
                    f"reviewer agreement κ is undefined over the last {len(window)}{on} "
                    "verdict pairs (both reviewers gave every item the same verdict)")
            elif value < k_min:
                problems.append(
                    f"reviewer agreement κ = {value:.2f} over the last {len(window)}{on} "
                    f"verdict pairs is below {k_min:g}")
        return problems

    # -- files -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The content of ``reviewers.json``."""
        reviewers: dict[str, Any] = {}
        for agent in self._agents:
            nodes = {node: self.node_stats(agent, node).model_dump()
                     for node in self._nodes.get(agent, {})}
            kinds = {kind: self.kind_stats(agent, kind).model_dump()
                     for kind in self._kinds.get(agent, {})}
            reviewers[agent] = {**self.stats(agent).model_dump(), "nodes": nodes,
                                "kinds": kinds}
        return {"reviewers": reviewers, "kappa": self.kappa_state(),
                "kappa_by_kind": {kind: self.kappa_state(kind) for kind in self._kind_kappa},
                "gate": self.gate.model_dump()}

    def metrics(self) -> dict[str, Any]:
        """The canary numbers of a ``metrics.jsonl`` line, pooled over all reviewers.

        ``canaries`` counts the scored canary verdicts of the night; the rates are over the
        reviewers' rolling windows, as the merge gate sees them.
        """
        stats = [self.stats(agent) for agent in self._agents]
        seen = sum(s.canaries for s in stats)
        bad = sum(s.bad_seen for s in stats)
        return {
            "canaries": sum(s.total for s in stats),
            "canary_accuracy": sum(s.correct for s in stats) / seen if seen else None,
            "canary_false_pass_rate": sum(s.false_passes for s in stats) / bad if bad else None,
        }

    def save(self) -> None:
        if self.folder is not None:
            atomic_write_json(self.folder / "reviewers.json", self.to_json())
