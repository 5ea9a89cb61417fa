"""Back-of-the-envelope capacity maths for a night run (M/M/c queue).

A night's micro-tasks arrive at rate ``λ`` (``arrival_rate``) and ``c`` (``servers``)
agent slots each finish tasks at rate ``μ`` (``service_rate``). Rates may use any time
unit (per hour, per second) as long as both use the same one; every duration returned
(:func:`mean_wait`, :func:`wait_quantile`, ...) is in that unit.

* offered load ``a = λ/μ`` (Erlangs), utilisation ``ρ = λ/(cμ) = a/c``;
* the queue is stable only when ``ρ < 1`` (``a < c``); otherwise it grows without bound,
  every task waits (``p_wait = 1``) and the mean wait is ``inf``;
* Erlang C ``C(c, a)`` is the probability that a task has to wait. It is computed from the
  Erlang B recursion ``B(0) = 1``, ``B(k) = a·B(k-1) / (k + a·B(k-1))`` and
  ``C = B / (1 - ρ(1 - B))``: every intermediate value lies in ``[0, 1]``, so nothing
  overflows, and ``c`` in the tens of thousands costs one short loop;
* mean wait in queue ``Wq = C / (cμ - λ)``, mean response ``W = Wq + 1/μ``, and the wait
  tail ``P(Wq > t) = C·exp(-(cμ - λ)·t)``.

:func:`expected_accepted` is the primer's peer-review throughput estimate
``E[accepted] ≈ T·Σ μᵢ·pᵢ²``: specialist ``i`` produces ``μᵢ`` items an hour, each passing
a reviewer with probability ``pᵢ``, and two independent reviewers must both pass it.

Bad inputs (a rate that is zero, negative or not finite, fewer than one server, ...) raise
:class:`~pantheon_engine.errors.ConfigError` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

from pydantic import BaseModel, ConfigDict

from pantheon_engine.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_RHO",
    "CapacityReport",
    "capacity_report",
    "erlang_b",
    "erlang_c",
    "expected_accepted",
    "mean_response",
    "mean_wait",
    "offered_load",
    "prob_wait_exceeds",
    "smallest_servers",
    "utilisation",
    "wait_quantile",
]

DEFAULT_MAX_RHO = 0.8
"""Keep utilisation at or below this so queues don't explode by dawn (primer §1.1)."""

_SEARCH_LIMIT = 1_000_000
"""Default ceiling on the server count :func:`smallest_servers` will consider."""


# --- validation --------------------------------------------------------------------------


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if math.isnan(out):
        raise ConfigError(f"{name} must be a number, got nan")
    return out


def _positive(name: str, value: object) -> float:
    out = _real(name, value)
    if not (0.0 < out < math.inf):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return out


def _non_negative(name: str, value: object) -> float:
    out = _real(name, value)
    if not (0.0 <= out < math.inf):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return out


def _servers(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    out = int(value)
    if out < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return out


def _probability(name: str, value: object) -> float:
    out = _real(name, value)
    if not (0.0 <= out <= 1.0):
        raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
    return out


# --- Erlang formulas ---------------------------------------------------------------------


def _erlang_b_step(k: int, a: float, b_prev: float) -> float:
    """``B(k)`` from ``B(k-1)`` for offered load ``a``."""
    ab = a * b_prev
    return ab / (k + ab)


def _erlang_b(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = _erlang_b_step(k, a, b)
    return b


def _c_from_b(c: int, a: float, b: float) -> float:
    """Erlang C from Erlang B for the same ``c`` and ``a`` (requires ``a < c``)."""
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang B: probability that all ``servers`` are busy with no queue (blocking).

    ``offered_load`` is ``a = λ/μ`` in Erlangs; ``0`` gives ``0.0``.
    """
    c = _servers("servers", servers)
    a = _non_negative("offered_load", offered_load)
    return _erlang_b(c, a)


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: probability that an arriving task has to wait (M/M/c).

    ``offered_load`` is ``a = λ/μ`` in Erlangs. Returns ``1.0`` when ``a >= servers``
    (``ρ >= 1``: the queue is unstable and every task waits) and ``0.0`` when ``a = 0``.
    """
    c = _servers("servers", servers)
    a = _non_negative("offered_load", offered_load)
    if a >= c:
        return 1.0
    return _c_from_b(c, a, _erlang_b(c, a))


# --- M/M/c measures ----------------------------------------------------------------------


def _rates(arrival_rate: float, service_rate: float) -> tuple[float, float]:
    return _positive("arrival_rate", arrival_rate), _positive("service_rate", service_rate)


def offered_load(arrival_rate: float, service_rate: float) -> float:
    """Offered load ``a = λ/μ`` in Erlangs (the average number of busy servers)."""
    lam, mu = _rates(arrival_rate, service_rate)
    return lam / mu


def utilisation(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Utilisation ``ρ = λ/(cμ)``; the queue is stable only when it is below 1."""
    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers("servers", servers)
    return lam / (c * mu)


def _mean_wait(lam: float, mu: float, c: int, p_wait: float) -> float:
    a = lam / mu
    if a >= c:
        return math.inf
    return p_wait / (mu * (c - a))


def mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time a task waits in the queue, ``Wq = C(c, a) / (cμ - λ)``.

    In the time unit of the rates; ``inf`` when ``ρ >= 1``.
    """
    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers("servers", servers)
    a = lam / mu
    if a >= c:
        return math.inf
    return _mean_wait(lam, mu, c, _c_from_b(c, a, _erlang_b(c, a)))


def mean_response(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time from arrival to completion, ``W = Wq + 1/μ`` (``inf`` when ``ρ >= 1``)."""
    wq = mean_wait(arrival_rate, service_rate, servers)
    return wq + 1.0 / float(service_rate)


def prob_wait_exceeds(arrival_rate: float, service_rate: float, servers: int, t: float) -> float:
    """``P(Wq > t) = C(c, a)·exp(-(cμ - λ)·t)`` for a wait threshold ``t >= 0``.

    ``t`` is in the time unit of the rates. Returns ``1.0`` when ``ρ >= 1``.
    """
    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers("servers", servers)
    t = _non_negative("t", t)
    a = lam / mu
    if a >= c:
        return 1.0
    p_wait = _c_from_b(c, a, _erlang_b(c, a))
    return p_wait * math.exp(-mu * (c - a) * t)


def wait_quantile(arrival_rate: float, service_rate: float, servers: int, q: float) -> float:
    """The ``q``-quantile of the wait in queue: smallest ``t`` with ``P(Wq <= t) >= q``.

    ``0.0`` when at least a fraction ``q`` of tasks do not wait at all (``q <= 1 - C``);
    otherwise ``ln(C / (1 - q)) / (cμ - λ)``. ``inf`` for ``q = 1`` (unless nobody waits)
    and whenever ``ρ >= 1``. In the time unit of the rates.
    """
    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers("servers", servers)
    q = _probability("q", q)
    a = lam / mu
    if a >= c:
        return math.inf
    p_wait = _c_from_b(c, a, _erlang_b(c, a))
    if q <= 1.0 - p_wait:
        return 0.0
    if q >= 1.0:
        return math.inf
    return math.log(p_wait / (1.0 - q)) / (mu * (c - a))


# --- reports and sizing ------------------------------------------------------------------


class CapacityReport(BaseModel):
    """M/M/c figures for one configuration; durations are in the time unit of the rates."""

    model_config = ConfigDict(frozen=True)

    arrival_rate: float
    """``λ``: tasks arriving per unit of time."""
    service_rate: float
    """``μ``: tasks one server finishes per unit of time."""
    servers: int
    """``c``: concurrent server slots."""
    offered_load: float
    """``a = λ/μ`` in Erlangs."""
    utilisation: float
    """``ρ = λ/(cμ)``."""
    stable: bool
    """``ρ < 1``: the queue does not grow without bound."""
    p_wait: float
    """Erlang C: probability that a task waits at all (1.0 when unstable)."""
    mean_wait: float
    """``Wq``: mean wait in the queue (``inf`` when unstable)."""
    mean_response: float
    """``W = Wq + 1/μ``: mean time from arrival to completion (``inf`` when unstable)."""
    mean_queue_length: float
    """``Lq = λ·Wq``: mean number of tasks waiting (``inf`` when unstable)."""


def capacity_report(arrival_rate: float, service_rate: float, servers: int) -> CapacityReport:
    """Every M/M/c figure for ``λ``, ``μ`` and ``c`` in one :class:`CapacityReport`."""
    lam, mu = _rates(arrival_rate, service_rate)
    c = _servers("servers", servers)
    a = lam / mu
    stable = a < c
    p_wait = _c_from_b(c, a, _erlang_b(c, a)) if stable else 1.0
    wq = _mean_wait(lam, mu, c, p_wait)
    return CapacityReport(
        arrival_rate=lam,
        service_rate=mu,
        servers=c,
        offered_load=a,
        utilisation=lam / (c * mu),
        stable=stable,
        p_wait=p_wait,
        mean_wait=wq,
        mean_response=wq + 1.0 / mu,
        mean_queue_length=lam * wq,
    )


def smallest_servers(
    arrival_rate: float,
    service_rate: float,
    *,
    max_rho: float = DEFAULT_MAX_RHO,
    target_wait: float | None = None,
    max_servers: int = _SEARCH_LIMIT,
) -> int:
    """The smallest ``c`` with ``ρ <= max_rho`` and, if given, mean wait ``<= target_wait``.

    The queue must also be stable (``ρ < 1``), so ``max_rho = 1`` means "just stable".
    ``target_wait`` is in the time unit of the rates and must be positive (with tasks
    arriving, some always wait, so a mean wait of exactly zero is never reached). Raises
    :class:`ConfigError` when no ``c <= max_servers`` meets the targets.
    """
    lam, mu = _rates(arrival_rate, service_rate)
    rho_cap = _real("max_rho", max_rho)
    if not (0.0 < rho_cap <= 1.0):
        raise ConfigError(f"max_rho must be in (0, 1], got {max_rho!r}")
    target = None if target_wait is None else _positive("target_wait", target_wait)
    limit = _servers("max_servers", max_servers)
    a = lam / mu

    def ok_rho(c: int) -> bool:
        return lam / (c * mu) <= rho_cap and a < c

    # Start from the closed form and correct for floating-point rounding either way.
    c = max(1, math.ceil(a / rho_cap))
    while c <= limit and not ok_rho(c):
        c += 1
    while c > 1 and ok_rho(c - 1):
        c -= 1
    if c > limit:
        raise ConfigError(
            f"utilisation <= {rho_cap} needs more than max_servers={limit} servers "
            f"(offered load {a:.6g} Erlangs)"
        )
    if target is None:
        return c

    # Mean wait falls as c grows; walk up, extending the Erlang B recursion one step at
    # a time so the whole search costs O(answer).
    b = _erlang_b(c, a)
    while True:
        if _mean_wait(lam, mu, c, _c_from_b(c, a, b)) <= target:
            return c
        if c >= limit:
            raise ConfigError(
                f"a mean wait <= {target:.6g} needs more than max_servers={limit} servers "
                f"(offered load {a:.6g} Erlangs)"
            )
        c += 1
        b = _erlang_b_step(c, a, b)


# --- peer-reviewed throughput ------------------------------------------------------------


def expected_accepted(hours: float, specialists: Iterable[Sequence[float]]) -> float:
    """Expected accepted items over ``hours``: ``T·Σ μᵢ·pᵢ²`` (primer §1.2).

    ``specialists`` holds one ``(mu_per_hour, pass_rate)`` pair per specialist: its
    throughput (items per hour, > 0) and the probability (0..1) that one reviewer passes
    its item. Two independent reviewers must both pass, hence ``pᵢ²``. No specialists
    (or zero hours) gives ``0.0``.
    """
    t = _non_negative("hours", hours)
    terms: list[float] = []
    for i, spec in enumerate(specialists):
        try:
            mu_raw, p_raw = spec
        except (TypeError, ValueError):
            raise ConfigError(
                f"specialists[{i}] must be a (mu_per_hour, pass_rate) pair, got {spec!r}"
            ) from None
        mu = _positive(f"specialists[{i}].mu_per_hour", mu_raw)
        p = _probability(f"specialists[{i}].pass_rate", p_raw)
        terms.append(mu * p * p)
    return t * math.fsum(terms)
