"""Cohen's kappa: textbook examples, conventions, the rolling window and per-key grouping."""

from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction

import pytest

from pantheon_engine.errors import ConfigError
from pantheon_engine.kappa import KappaWindow, cohen_kappa, kappa_by


def table(yy: int, yn: int, ny: int, nn: int) -> list[tuple[str, str]]:
    """A 2×2 agreement table as pairs (rater A first)."""
    return [("yes", "yes")] * yy + [("yes", "no")] * yn + [("no", "yes")] * ny + [("no", "no")] * nn


def reference_kappa(pairs: list[tuple[str, str]]) -> Fraction:
    """κ = (p_o - p_e)/(1 - p_e) straight from the definition, in exact fractions."""
    n = len(pairs)
    p_o = Fraction(sum(a == b for a, b in pairs), n)
    count_a = Counter(a for a, _ in pairs)
    count_b = Counter(b for _, b in pairs)
    p_e = sum(Fraction(count_a[k], n) * Fraction(count_b[k], n) for k in count_a)
    return (p_o - p_e) / (1 - p_e)


# --- cohen_kappa ------------------------------------------------------------------------------


def test_wikipedia_example_is_point_four() -> None:
    # Wikipedia, "Cohen's kappa", simple example: 50 proposals, A and B both yes on 20,
    # A yes/B no on 5, A no/B yes on 10, both no on 15. p_o = 35/50 = 0.7,
    # p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = (0.7 - 0.5)/(1 - 0.5) = 0.4.
    pairs = table(20, 5, 10, 15)
    assert reference_kappa(pairs) == Fraction(2, 5)
    assert cohen_kappa(pairs) == pytest.approx(0.4, abs=1e-15)


@pytest.mark.parametrize(
    ("cells", "expected", "exact"),
    [
        # Wikipedia, "Cohen's kappa", same 60% agreement, different κ: the balanced table
        # 45/15/25/15 gives κ ≈ 0.1304 (= 6/46) and the unbalanced 25/35/5/35 gives
        # κ ≈ 0.2593 (= 14/54), recomputed exactly by reference_kappa.
        ((45, 15, 25, 15), 0.1304, Fraction(3, 23)),
        ((25, 35, 5, 35), 0.2593, Fraction(7, 27)),
    ],
)
def test_wikipedia_same_agreement_different_kappa(
    cells: tuple[int, int, int, int], expected: float, exact: Fraction
) -> None:
    pairs = table(*cells)
    assert reference_kappa(pairs) == exact
    assert float(exact) == pytest.approx(expected, abs=5e-5)
    assert cohen_kappa(pairs) == pytest.approx(float(exact), rel=1e-15)


def test_perfect_agreement_is_one() -> None:
    assert cohen_kappa(table(12, 0, 0, 7)) == 1.0
    assert cohen_kappa([("a", "a"), ("b", "b"), ("c", "c")]) == 1.0


def test_chance_level_agreement_is_zero() -> None:
    # B's verdict is split 50/50 whatever A said: exactly what independence predicts.
    assert cohen_kappa(table(25, 25, 25, 25)) == 0.0
    assert cohen_kappa(table(30, 10, 30, 10)) == 0.0  # unequal marginals, still independent


def test_systematic_disagreement_is_negative() -> None:
    assert cohen_kappa(table(0, 5, 5, 0)) == -1.0
    assert cohen_kappa(table(2, 8, 8, 2)) == pytest.approx(-0.6)


def test_no_pairs_is_none() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa(iter(())) is None


def test_identical_verdicts_are_undefined() -> None:
    # p_e = 1 (both raters always "pass"): 0/0 by the formula. Two rubber stamps agree
    # perfectly and show no judgement: κ is undefined, never a reassuring 1.0.
    assert cohen_kappa([("pass", "pass")] * 10) is None
    assert cohen_kappa([("fail", "fail")]) is None
    # one item of the other category on both sides makes it defined (and perfect)
    assert cohen_kappa([("pass", "pass")] * 9 + [("fail", "fail")]) == 1.0


def test_one_rater_constant_other_not_is_zero() -> None:
    # A always says pass; B varies. p_e = p_o = share of B's passes, so κ = 0.
    pairs = [("pass", "pass")] * 7 + [("pass", "fail")] * 3
    assert cohen_kappa(pairs) == 0.0


def test_three_categories_and_symmetry() -> None:
    pairs = (
        [("pass", "pass")] * 14
        + [("fail", "fail")] * 9
        + [("skip", "skip")] * 3
        + [("pass", "fail")] * 4
        + [("fail", "pass")] * 2
        + [("skip", "pass")] * 3
        + [("pass", "skip")] * 1
    )
    expected = float(reference_kappa(pairs))
    assert cohen_kappa(pairs) == pytest.approx(expected, rel=1e-15)
    assert cohen_kappa((b, a) for a, b in pairs) == pytest.approx(expected, rel=1e-15)
    assert cohen_kappa(reversed(pairs)) == pytest.approx(expected, rel=1e-15)


def test_random_pairs_match_definition() -> None:
    rng = random.Random(7)
    cats = ["pass", "fail", "unsure", "skip"]
    for _ in range(100):
        n = rng.randint(1, 80)
        pairs = [(rng.choice(cats), rng.choice(cats)) for _ in range(n)]
        got = cohen_kappa(pairs)
        if len({a for a, _ in pairs} | {b for _, b in pairs}) == 1:
            assert got is None
        else:
            assert got == pytest.approx(float(reference_kappa(pairs)), rel=1e-12, abs=1e-15)
            assert -1.0 <= got <= 1.0


# --- KappaWindow --------------------------------------------------------------------------------


def test_window_readiness() -> None:
    window = KappaWindow(size=5, min_pairs=3)
    assert len(window) == 0 and not window.ready and window.kappa is None
    window.add("pass", "pass")
    window.add("fail", "fail")
    assert not window.ready
    assert window.kappa == 1.0  # computed even before ready
    window.add("pass", "fail")
    assert window.ready and len(window) == 3


def test_window_evicts_oldest() -> None:
    window = KappaWindow(size=3, min_pairs=1)
    for pair in [("x", "y"), ("a", "a"), ("b", "b"), ("a", "b")]:
        window.add(*pair)
    assert len(window) == 3
    assert window.pairs == (("a", "a"), ("b", "b"), ("a", "b"))
    assert window.kappa == cohen_kappa(window.pairs)
    # Old categories leave the counts entirely: with only ("p","p") left, p_e = 1 and κ
    # is undefined again, although the window is full and ready.
    for _ in range(3):
        window.add("p", "p")
    assert window.pairs == (("p", "p"),) * 3
    assert window.ready and window.kappa is None


def test_window_matches_recomputation_on_a_stream() -> None:
    rng = random.Random(11)
    window = KappaWindow(size=20, min_pairs=10)
    stream: list[tuple[str, str]] = []
    for i in range(500):
        a = rng.choice("ABC")
        b = a if rng.random() < 0.6 else rng.choice("ABC")
        window.add(a, b)
        stream.append((a, b))
        recent = stream[-20:]
        assert window.pairs == tuple(recent)
        assert window.ready == (i + 1 >= 10)
        expected = cohen_kappa(recent)
        assert window.kappa == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_window_clear() -> None:
    window = KappaWindow(size=4, min_pairs=2)
    window.add("a", "a")
    window.add("b", "a")
    window.clear()
    assert len(window) == 0 and window.kappa is None and not window.ready
    window.add("a", "b")
    window.add("b", "a")
    assert window.kappa == -1.0
    assert "KappaWindow(size=4, min_pairs=2, pairs=2" in repr(window)


@pytest.mark.parametrize(
    ("size", "min_pairs", "named"),
    [
        (0, 1, "size"),
        (-3, 1, "size"),
        (2.5, 1, "size"),
        (5, 0, "min_pairs"),
        (5, None, "min_pairs"),
        (5, 6, "min_pairs"),
    ],
)
def test_window_validation(size, min_pairs, named: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{named} must"):
        KappaWindow(size=size, min_pairs=min_pairs)


# --- kappa_by -------------------------------------------------------------------------------------


def test_kappa_by_groups_by_key() -> None:
    rows = (
        [(("coder", "fix"), a, b) for a, b in table(20, 5, 10, 15)]
        + [(("coder", "docs"), a, b) for a, b in table(3, 0, 0, 2)]
        + [(("writer", "docs"), a, b) for a, b in table(0, 2, 2, 0)]
    )
    random.Random(3).shuffle(rows)
    result = kappa_by(rows)
    assert result[("coder", "fix")] == pytest.approx(0.4)
    assert result[("coder", "docs")] == 1.0
    assert result[("writer", "docs")] == -1.0
    assert set(result) == {("coder", "fix"), ("coder", "docs"), ("writer", "docs")}


def test_kappa_by_order_and_min_pairs() -> None:
    rows = [("b", "x", "x"), ("a", "x", "y"), ("b", "y", "y"), ("a", "y", "x"), ("c", "x", "x")]
    assert list(kappa_by(rows)) == ["b", "a", "c"]
    assert kappa_by(rows, min_pairs=2) == {"b": 1.0, "a": -1.0, "c": None}
    assert kappa_by([("same", "pass", "pass")] * 4) == {"same": None}  # undefined κ
    assert kappa_by([]) == {}
    with pytest.raises(ConfigError, match=r"^min_pairs must"):
        kappa_by(rows, min_pairs=0)
