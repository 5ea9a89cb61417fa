"""Small drawing helpers the task families share: words, names, integers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

WORDS = (
    "apple", "river", "stone", "cloud", "maple", "tiger", "orbit", "lemon", "piano", "ember",
    "quartz", "delta", "sun", "ink", "owl", "arc", "fig", "kite", "moss", "yak", "echo",
    "idle", "umbra", "oasis", "north", "pixel", "raven", "salt", "tulip", "vivid", "wheat",
    "zebra", "amber", "basil", "cedar", "dune", "eagle", "fjord", "glade", "harbor", "iris",
    "jade", "koala", "lotus", "meadow", "nectar", "opal", "pearl", "quill", "ridge", "sable",
    "timber", "urchin", "violet", "willow", "yarrow", "zephyr", "anchor", "bridge", "candle",
)


def pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[rng.randrange(len(options))]


def words(rng: random.Random, low: int, high: int) -> list[str]:
    """Between ``low`` and ``high`` words (repeats possible)."""
    return [pick(rng, WORDS) for _ in range(rng.randint(low, high))]


def ints(rng: random.Random, low: int, high: int, lo: int, hi: int) -> list[int]:
    """Between ``low`` and ``high`` integers, each in ``[lo, hi]``."""
    return [rng.randint(lo, hi) for _ in range(rng.randint(low, high))]


def capitalize_some(rng: random.Random, items: list[str], share: float = 0.3) -> list[str]:
    return [w.capitalize() if rng.random() < share else w for w in items]


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
