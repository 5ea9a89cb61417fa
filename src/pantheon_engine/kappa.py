"""Cohen's kappa: how far two reviewers agree beyond what chance would give.

Each pair is the two verdicts given to one item (``("pass", "fail")``, ...); any hashable
category works. With ``n`` pairs, ``p_o`` the share of pairs that agree and
``p_e = Σ_k (n_k^A / n)(n_k^B / n)`` the agreement expected if the two reviewers were
independent with their observed rates,

    κ = (p_o - p_e) / (1 - p_e)

computed here as ``(n·agree - Σ n_k^A n_k^B) / (n² - Σ n_k^A n_k^B)`` in exact integers,
with one division at the end. ``κ = 1`` is perfect agreement, ``0`` chance level, and
negative values agree less often than chance.

Conventions:

* no pairs at all: ``None`` (nothing to measure);
* ``p_e = 1``: both reviewers gave every item the same single category. They then agree
  on every item (``p_o = 1``) and the formula is ``0/0``: κ is undefined and ``None`` is
  returned. Two reviewers that pass everything agree perfectly and show no judgement at
  all; their agreement says nothing about their reliability, so callers report such a κ as
  undefined and a merge gate treats it, over a full window, as not reliable.
  ``p_e = 1`` with ``p_o < 1`` cannot happen.

:class:`KappaWindow` keeps a rolling window of the latest pairs (for a merge gate such as
"κ over the last 50 reviews must stay >= 0.6"), and :func:`kappa_by` computes κ per key
(an agent, a flow, an ``(agent, flow)`` tuple).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable, Iterable
from typing import TypeVar

from pantheon_engine.errors import ConfigError

#: the merge gate's default: two reviewers must agree at least this far beyond chance
KAPPA_MIN = 0.6

__all__ = ["KAPPA_MIN", "KappaWindow", "cohen_kappa", "kappa_by"]

K = TypeVar("K", bound=Hashable)


def _kappa_from_counts(n: int, agree: int, count_a: Counter, count_b: Counter) -> float | None:
    if n == 0:
        return None
    chance = sum(count * count_b[cat] for cat, count in count_a.items())
    denominator = n * n - chance
    if denominator == 0:  # p_e == 1: one shared category throughout: 0/0, undefined
        return None
    return (n * agree - chance) / denominator


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's κ for ``(verdict_a, verdict_b)`` pairs; ``None`` when it is undefined.

    Undefined means no pairs, or both reviewers gave every item the same single verdict
    (expected agreement 1: see the module docstring).
    """
    count_a: Counter = Counter()
    count_b: Counter = Counter()
    n = agree = 0
    for a, b in pairs:
        n += 1
        count_a[a] += 1
        count_b[b] += 1
        if a == b:
            agree += 1
    return _kappa_from_counts(n, agree, count_a, count_b)


class KappaWindow:
    """Cohen's κ over the most recent ``size`` pairs; older pairs drop out as new arrive.

    ``ready`` says the window holds at least ``min_pairs`` pairs. ``kappa`` is computed
    whatever the count (``None`` when empty or when the window holds a single shared
    category, where κ is undefined), so a gate should check ``ready`` first and treat an
    undefined κ over a ready window as not reliable. Counts are kept incrementally:
    ``add`` is O(1), ``kappa`` is O(categories).
    """

    def __init__(self, size: int, min_pairs: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"size must be a whole number >= 1, got {size!r}")
        if isinstance(min_pairs, bool) or not isinstance(min_pairs, int) or min_pairs < 1:
            raise ConfigError(f"min_pairs must be a whole number >= 1, got {min_pairs!r}")
        if min_pairs > size:
            raise ConfigError(
                f"min_pairs must not exceed size ({size}), got {min_pairs!r}: "
                "the window could never become ready"
            )
        self.size = size
        self.min_pairs = min_pairs
        self._pairs: deque[tuple[Hashable, Hashable]] = deque()
        self._count_a: Counter = Counter()
        self._count_b: Counter = Counter()
        self._agree = 0

    def add(self, a: Hashable, b: Hashable) -> None:
        """Record one item's two verdicts, evicting the oldest pair when full."""
        if len(self._pairs) == self.size:
            old_a, old_b = self._pairs.popleft()
            self._forget(self._count_a, old_a)
            self._forget(self._count_b, old_b)
            if old_a == old_b:
                self._agree -= 1
        self._pairs.append((a, b))
        self._count_a[a] += 1
        self._count_b[b] += 1
        if a == b:
            self._agree += 1

    @staticmethod
    def _forget(counts: Counter, category: Hashable) -> None:
        counts[category] -= 1
        if counts[category] == 0:
            del counts[category]

    def clear(self) -> None:
        """Drop every pair."""
        self._pairs.clear()
        self._count_a.clear()
        self._count_b.clear()
        self._agree = 0

    @property
    def kappa(self) -> float | None:
        """κ over the pairs now in the window (``None`` when empty or undefined)."""
        return _kappa_from_counts(len(self._pairs), self._agree, self._count_a, self._count_b)

    @property
    def ready(self) -> bool:
        """Whether the window holds at least ``min_pairs`` pairs."""
        return len(self._pairs) >= self.min_pairs

    @property
    def pairs(self) -> tuple[tuple[Hashable, Hashable], ...]:
        """The pairs now in the window, oldest first."""
        return tuple(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return (
            f"KappaWindow(size={self.size}, min_pairs={self.min_pairs}, "
            f"pairs={len(self._pairs)}, kappa={self.kappa!r})"
        )


def kappa_by(
    pairs_with_keys: Iterable[tuple[K, Hashable, Hashable]], *, min_pairs: int = 1
) -> dict[K, float | None]:
    """Cohen's κ per key from ``(key, verdict_a, verdict_b)`` triples.

    Keys are whatever groups the reviews: an agent name, a flow, an ``(agent, flow)``
    tuple. Keys come out in order of first appearance; a key with fewer than
    ``min_pairs`` pairs, or whose κ is undefined, maps to ``None``.
    """
    if isinstance(min_pairs, bool) or not isinstance(min_pairs, int) or min_pairs < 1:
        raise ConfigError(f"min_pairs must be a whole number >= 1, got {min_pairs!r}")
    groups: dict[K, list[tuple[Hashable, Hashable]]] = {}
    for key, a, b in pairs_with_keys:
        groups.setdefault(key, []).append((a, b))
    return {
        key: cohen_kappa(group) if len(group) >= min_pairs else None
        for key, group in groups.items()
    }
