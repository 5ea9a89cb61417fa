"""Search: a model node tried as up to K candidates, the flow's own check choosing one.

The model makes every decision; search only selects. With ``--search K`` a model node whose
output feeds a check node (an agent of role ``check``: ``test.pytest``, ``check.rules``) runs
as up to K candidates, each from the workspace as it was before the node. Candidate 1 is
exactly the run without search (same temperature, same seed), so one run also measures
pass@1 without search; candidates 2..K sample at ``SEARCH_TEMPERATURE`` (or the agent's own,
if higher) with seeds ``seed+1``, ``seed+2``... The first candidate whose check passes is
kept. When none passes, candidate 1 is kept and the check fails as it would have alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.errors import UserError
from pantheon_engine.run.flows import Flow

#: the sampling temperature of candidates 2..K (an agent that samples hotter keeps its own)
SEARCH_TEMPERATURE = 0.8
#: where a searched node keeps every candidate, under its own artifacts folder
CANDIDATES_DIR = "candidates"
CANDIDATE_FILE = "candidate.json"


def check_search(k: int) -> int:
    """``--search K``: K candidates at most; 1 is a run without search."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"--search must be a whole number of candidates, 1 or more; got {k!r}",
                        hint="--search 1 runs each node once (no search); "
                             "--search 4 tries up to 4 candidates")
    return k


def candidate_sampling(n: int, seed: int | None, temperature: float
                       ) -> tuple[int | None, float]:
    """Seed and temperature of candidate ``n`` (1-based); ``temperature`` is the agent's."""
    if n == 1:
        return seed, temperature
    return (seed or 0) + n - 1, max(SEARCH_TEMPERATURE, temperature)


def searched_check(flow: Flow, registry: AgentRegistry, node_id: str) -> str | None:
    """The check node that selects among ``node_id``'s candidates, or None (run it once).

    It is the first descendant (in flow order) whose agent is a check. Search needs that
    check to read the node directly and to run unconditionally: a check further down, or
    one behind a ``when:``, would make a candidate's verdict depend on nodes that have not
    run yet, so such a node runs once as without search.
    """
    if not registry.get(flow.node(node_id).agent).uses_model:
        return None
    below = {node_id}
    for node in flow.nodes:  # flow order is a topological order
        if not below.intersection(flow.deps(node.id)):
            continue
        below.add(node.id)
        if registry.get(node.agent).role == "check":
            direct = node_id in flow.deps(node.id) and node.when is None
            return node.id if direct else None
    return None


class Candidate(BaseModel):
    """One candidate of a searched node and its check's verdict."""

    n: int
    seed: int | None
    temperature: float
    status: str  # the node's status for this candidate
    check: Literal["passed", "failed", "not_run"]
    error_kind: str | None = None
    error: str | None = None
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class NodeSearch(BaseModel):
    """The search of one node: what was tried and which candidate was kept."""

    node: str
    check: str
    candidates: list[Candidate] = []
    #: the candidate whose check passed (1: without search); None: none passed
    accepted: int | None = None

    @property
    def kept(self) -> int:
        return self.accepted or 1


class SearchRecord(BaseModel):
    """``run.json``'s ``search``: K and every searched node (none: nothing to select by)."""

    k: int = Field(ge=1)
    nodes: list[NodeSearch] = []

    @property
    def tried(self) -> int:
        return sum(len(node.candidates) for node in self.nodes)

    @property
    def tokens(self) -> int:
        return sum(c.tokens for node in self.nodes for c in node.candidates)

    @property
    def passed_first(self) -> bool | None:
        """Whether every searched node's candidate 1 passed its check: pass@1 without
        search (None: no node was searched)."""
        if not self.nodes:
            return None
        return all(bool(n.candidates) and n.candidates[0].check == "passed"
                   for n in self.nodes)

    @property
    def accepted(self) -> int | None:
        """The latest candidate a searched node needed (1: none needed search); None when
        a searched node accepted no candidate or no node was searched."""
        if not self.nodes or any(n.accepted is None for n in self.nodes):
            return None
        return max(n.accepted or 1 for n in self.nodes)

    def summary(self) -> dict[str, Any]:
        """The record with its totals, as ``run.json`` and ``RunResult`` carry it."""
        return {**self.model_dump(mode="json"), "tried": self.tried, "tokens": self.tokens,
                "passed_first": self.passed_first, "accepted": self.accepted}


def keep_candidate(node_dir: Path, check_dir: Path, kept: int, check_id: str) -> None:
    """Make candidate ``kept``'s files the node's, and its check's files the check's."""
    source = node_dir / CANDIDATES_DIR / str(kept)
    for item in sorted(source.iterdir()):
        if item.name == CANDIDATE_FILE:
            continue
        target = check_dir if item.name == check_id and item.is_dir() else node_dir / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        item.rename(target)


class SearchTally(BaseModel):
    """Many runs' search records summed: what a night's summary and an eval print.

    ``passed_first`` counts runs whose candidate 1 passed (pass@1 without search, measured
    in the same runs); ``accepted`` counts runs whose check passed with search. Samples
    (candidates tried) and tokens are everything the searched nodes spent, so the cost per
    accepted task includes the candidates that failed.
    """

    k: int = 1
    runs: int = 0
    passed_first: int = 0
    accepted: int = 0
    samples: int = 0
    tokens: int = 0

    def add(self, search: dict[str, Any] | None) -> None:
        """Count one run's ``RunResult.search`` (None: a run without search is not
        counted)."""
        if not search:
            return
        self.k = max(self.k, int(search.get("k", 1)))
        self.runs += 1
        self.passed_first += search.get("passed_first") is True
        self.accepted += search.get("accepted") is not None
        self.samples += int(search.get("tried", 0))
        self.tokens += int(search.get("tokens", 0))

    def line(self) -> str:
        """One line: pass@1 without search, accepted with search, cost per accepted task."""
        per = (f"{self.samples / self.accepted:.1f} samples, "
               f"{self.tokens / self.accepted:.0f} tokens per accepted task"
               if self.accepted else f"{self.samples} samples, {self.tokens} tokens, "
               "none accepted")
        return (f"search K={self.k}: pass@1 without search {self.passed_first}/{self.runs} · "
                f"accepted with search {self.accepted}/{self.runs} · {per}")
