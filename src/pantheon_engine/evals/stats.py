"""The statistics of pass rates: Wilson intervals, the unbiased pass@k, exact McNemar.

Pass rates in Pantheon are measurements over a finite number of tasks, so every rate is
reported with its uncertainty.
"""

from __future__ import annotations

import math
from math import comb

#: z for a two-sided 95 % interval
Z95 = 1.959963984540054


def wilson_interval(passed: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``passed`` successes out of ``total`` trials.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 or
    ``total`` successes (0 of 64 gives about [0, 0.057]). ``total == 0`` gives (0, 1).
    """
    if total < 0 or passed < 0 or passed > total:
        raise ValueError(f"need 0 <= passed <= total, got {passed} of {total}")
    if total == 0:
        return 0.0, 1.0
    p = passed / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low = 0.0 if passed == 0 else max(0.0, centre - half)  # exact ends, no 1e-18 residue
    high = 1.0 if passed == total else min(1.0, centre + half)
    return low, high


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from ``n`` samples of which ``c`` passed.

    ``1 - C(n - c, k) / C(n, k)``: the chance that at least one of ``k`` samples drawn
    without replacement from the ``n`` passes. Needs ``1 <= k <= n``.
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    ``only_a``: tasks A passed and B failed; ``only_b``: the reverse. Under the null
    hypothesis (A and B equally good) each discordant pair goes either way with chance
    1/2, so the p-value is a two-sided binomial test on ``min`` of the two.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError("discordant counts must be >= 0")
    n = only_a + only_b
    if n == 0:
        return 1.0
    low = min(only_a, only_b)
    tail: float = sum(comb(n, i) for i in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)
