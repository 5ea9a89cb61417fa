"""M/M/c capacity maths: Erlang B/C against exact rational arithmetic and published values."""

from __future__ import annotations

import math
import random
import time
from fractions import Fraction

import pytest

from pantheon_engine.errors import ConfigError, UserError
from pantheon_engine.night.capacity import (
    DEFAULT_MAX_RHO,
    CapacityReport,
    capacity_report,
    erlang_b,
    erlang_c,
    expected_accepted,
    mean_response,
    mean_wait,
    offered_load,
    prob_wait_exceeds,
    smallest_servers,
    utilisation,
    wait_quantile,
)

# --- independent exact references ----------------------------------------------------------


def _scaled_terms(c: int, a: Fraction) -> list[int]:
    """``a^k/k!`` for k = 0..c, all multiplied by ``q^c·c!`` (a = p/q) so they are integers."""
    p, q = a.numerator, a.denominator
    return [p**k * q ** (c - k) * (math.factorial(c) // math.factorial(k)) for k in range(c + 1)]


def exact_erlang_b(c: int, a: Fraction | int) -> Fraction:
    """Textbook Erlang B, ``(a^c/c!) / Σ_{k=0..c} a^k/k!``, in exact arithmetic."""
    terms = _scaled_terms(c, Fraction(a))
    return Fraction(terms[c], sum(terms))


def exact_erlang_c(c: int, a: Fraction | int) -> Fraction:
    """Textbook Erlang C, ``(a^c/c!·c/(c-a)) / (Σ_{k<c} a^k/k! + a^c/c!·c/(c-a))``."""
    a = Fraction(a)
    assert a < c
    terms = _scaled_terms(c, a)
    top = terms[c] * Fraction(c) / (c - a)
    return top / (sum(terms[:c]) + top)


# --- Erlang C: published values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        # a = 2 Erlangs, c = 3: C = 4/9 ≈ 0.4444, the classic worked M/M/3 example
        # (Wolfram's ErlangC documentation uses c = 3, a = 2 as its basic example); by
        # hand: Σ_{k<3} 2^k/k! = 5, 2^3/3!·3/(3-2) = 4, so C = 4/(5+4) = 4/9.
        (3, 2, 0.4444),
        # a = 10 Erlangs, c = 12 agents: C ≈ 0.4494, the call-centre table value quoted in
        # the task brief; confirmed here by the exact formula (0.449388...).
        (12, 10, 0.4494),
        # 120 customers/h, 3 min each (a = 6), 10 assistants: "from the Erlang C curve, the
        # probability of waiting is about 0.10" (textbook exercise quoted on Mathematics
        # Stack Exchange); the exact value is 0.1013.
        (10, 6, 0.1013),
        # Support centre: 30 calls/h, 5 min each (a = 2.5). Wolfram's ErlangC documentation
        # asks for the fewest staff so that 90% of calls are not delayed; C(6, 2.5) ≈ 0.0474
        # is the first value below 0.1 (see test_smallest_servers_for_p_wait_target).
        (6, Fraction(5, 2), 0.0474),
    ],
)
def test_erlang_c_published_values(servers: int, load: Fraction | int, expected: float) -> None:
    exact = exact_erlang_c(servers, load)  # every table value is recomputed exactly too
    assert float(exact) == pytest.approx(expected, abs=5e-5)
    assert erlang_c(servers, float(load)) == pytest.approx(float(exact), rel=1e-12)


def test_erlang_c_two_erlangs_three_servers_is_four_ninths() -> None:
    assert exact_erlang_c(3, 2) == Fraction(4, 9)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9, rel=1e-15)


def test_erlang_b_published_value() -> None:
    # Erlang B table (blocking probability): 10 circuits at 1% grade of service carry
    # 4.46 Erlangs. Recomputed exactly: B(10, 4.46) = 0.009985.
    exact = exact_erlang_b(10, Fraction("4.46"))
    assert float(exact) == pytest.approx(0.01, abs=2e-5)
    assert erlang_b(10, 4.46) == pytest.approx(float(exact), rel=1e-12)


def test_erlang_b_small_closed_forms() -> None:
    # B(1, a) = a/(1+a); B(2, 1) = (1/2)/(1 + 1 + 1/2) = 1/5.
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(1, 3.0) == pytest.approx(0.75)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


@pytest.mark.parametrize("servers", [1, 2, 3, 5, 8, 13, 21, 34])
def test_erlang_b_and_c_match_exact_formula_grid(servers: int) -> None:
    for load in (0.1, 0.5, 1.0, 2.75, 0.5 * servers, 0.9 * servers, 0.999 * servers):
        exact_load = Fraction(load)  # the float's exact binary value
        assert erlang_b(servers, load) == pytest.approx(
            float(exact_erlang_b(servers, exact_load)), rel=1e-12
        )
        if load < servers:
            assert erlang_c(servers, load) == pytest.approx(
                float(exact_erlang_c(servers, exact_load)), rel=1e-11
            )


def test_erlang_c_random_inputs_match_exact_formula() -> None:
    rng = random.Random(20251007)
    for _ in range(200):
        servers = rng.randint(1, 60)
        load = rng.uniform(0.01, servers * 0.999)
        assert erlang_c(servers, load) == pytest.approx(
            float(exact_erlang_c(servers, Fraction(load))), rel=1e-10
        )


def test_erlang_c_is_at_least_erlang_b_and_falls_with_servers() -> None:
    load = 7.5
    previous = 1.0
    for servers in range(8, 40):
        c_value = erlang_c(servers, load)
        assert erlang_b(servers, load) <= c_value <= 1.0
        assert c_value < previous
        previous = c_value


def test_zero_offered_load() -> None:
    assert erlang_b(4, 0.0) == 0.0
    assert erlang_c(4, 0) == 0.0


@pytest.mark.parametrize(("servers", "load"), [(3, 3.0), (3, 3.5), (1, 1.0), (10, 1e9)])
def test_erlang_c_is_one_when_unstable(servers: int, load: float) -> None:
    assert erlang_c(servers, load) == 1.0


# --- large server counts -------------------------------------------------------------------


def test_large_c_does_not_overflow_and_matches_exact() -> None:
    # 1900^2000 / 2000! would overflow a float many times over; the recursion never does.
    value = erlang_c(2000, 1900.0)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(float(exact_erlang_c(2000, 1900)), rel=1e-9)
    assert erlang_b(2000, 1900.0) == pytest.approx(float(exact_erlang_b(2000, 1900)), rel=1e-9)


def test_ten_thousand_servers_is_fast_and_finite() -> None:
    start = time.perf_counter()
    value = erlang_c(10_000, 9_900.0)
    report = capacity_report(9_900.0, 1.0, 10_000)
    assert time.perf_counter() - start < 2.0
    assert 0.0 < value < 1.0
    assert math.isfinite(report.mean_wait) and report.mean_wait > 0
    # Deep in the light-traffic regime C underflows gracefully to (near) zero.
    assert 0.0 <= erlang_c(10_000, 10.0) < 1e-300


# --- M/M/c measures ---------------------------------------------------------------------------


def test_utilisation_and_offered_load() -> None:
    assert utilisation(120, 10, 15) == pytest.approx(0.8)
    assert offered_load(120, 10) == pytest.approx(12.0)
    assert utilisation(1.5, 2.0, 1) == pytest.approx(0.75)


@pytest.mark.parametrize(("lam", "mu"), [(1.0, 2.0), (3.0, 4.0), (0.1, 10.0), (9.99, 10.0)])
def test_mean_wait_mm1_closed_form(lam: float, mu: float) -> None:
    rho = lam / mu
    assert erlang_c(1, rho) == pytest.approx(rho)  # M/M/1: P(wait) = ρ
    assert mean_wait(lam, mu, 1) == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert mean_response(lam, mu, 1) == pytest.approx(1 / (mu - lam), rel=1e-12)


@pytest.mark.parametrize(("lam", "mu"), [(1.0, 2.0), (3.0, 2.0), (7.0, 4.0), (0.5, 10.0)])
def test_mean_wait_mm2_closed_form(lam: float, mu: float) -> None:
    rho = lam / (2 * mu)
    # M/M/2: P(wait) = 2ρ²/(1+ρ), Wq = ρ²/(μ(1-ρ²)).
    assert erlang_c(2, lam / mu) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)
    assert mean_wait(lam, mu, 2) == pytest.approx(rho**2 / (mu * (1 - rho**2)), rel=1e-12)


def test_mean_wait_general_closed_form_and_time_units() -> None:
    # λ = 120/h, μ = 10/h, c = 15: Wq = C(15, 12) / (150 - 120) hours.
    exact = float(exact_erlang_c(15, 12))
    assert mean_wait(120, 10, 15) == pytest.approx(exact / 30, rel=1e-12)
    # The same system in per-minute rates gives the same wait, in minutes.
    assert mean_wait(2.0, 1 / 6, 15) == pytest.approx(60 * exact / 30, rel=1e-12)


@pytest.mark.parametrize(("lam", "mu", "servers"), [(10.0, 5.0, 2), (12.0, 5.0, 2), (100, 1, 3)])
def test_unstable_queue(lam: float, mu: float, servers: int) -> None:
    assert utilisation(lam, mu, servers) >= 1.0
    assert mean_wait(lam, mu, servers) == math.inf
    assert mean_response(lam, mu, servers) == math.inf
    assert prob_wait_exceeds(lam, mu, servers, 1e6) == 1.0
    assert wait_quantile(lam, mu, servers, 0.5) == math.inf
    report = capacity_report(lam, mu, servers)
    assert not report.stable
    assert report.p_wait == 1.0
    assert report.mean_wait == math.inf
    assert report.mean_response == math.inf
    assert report.mean_queue_length == math.inf


def test_prob_wait_exceeds_and_quantile_are_inverse() -> None:
    lam, mu, c = 120.0, 10.0, 14
    p_wait = erlang_c(c, lam / mu)
    theta = c * mu - lam
    assert prob_wait_exceeds(lam, mu, c, 0) == pytest.approx(p_wait)
    assert prob_wait_exceeds(lam, mu, c, 0.1) == pytest.approx(p_wait * math.exp(-theta * 0.1))
    for q in (0.6, 0.9, 0.99, 0.999):
        assert q > 1 - p_wait
        t = wait_quantile(lam, mu, c, q)
        assert t > 0
        assert prob_wait_exceeds(lam, mu, c, t) == pytest.approx(1 - q, rel=1e-9)
    # At least 1 - C of tasks never wait, so lower quantiles are zero.
    assert wait_quantile(lam, mu, c, (1 - p_wait) * 0.99) == 0.0
    assert wait_quantile(lam, mu, c, 0.0) == 0.0
    assert wait_quantile(lam, mu, c, 1.0) == math.inf


def test_mean_wait_is_integral_of_tail() -> None:
    # E[Wq] = ∫0^∞ P(Wq > t) dt = C/θ.
    lam, mu, c = 5.0, 2.0, 3
    theta = c * mu - lam
    assert mean_wait(lam, mu, c) == pytest.approx(prob_wait_exceeds(lam, mu, c, 0) / theta)


# --- report --------------------------------------------------------------------------------


def test_capacity_report_fields() -> None:
    report = capacity_report(120, 10, 15)
    assert isinstance(report, CapacityReport)
    assert report.arrival_rate == 120.0
    assert report.service_rate == 10.0
    assert report.servers == 15
    assert report.offered_load == pytest.approx(12.0)
    assert report.utilisation == pytest.approx(0.8)
    assert report.stable
    assert report.p_wait == pytest.approx(erlang_c(15, 12.0))
    assert report.mean_wait == pytest.approx(mean_wait(120, 10, 15))
    assert report.mean_response == pytest.approx(report.mean_wait + 0.1)
    assert report.mean_queue_length == pytest.approx(120 * report.mean_wait)  # Little's law
    again = CapacityReport.model_validate(report.model_dump())
    assert again == report
    with pytest.raises(ValueError):
        report.servers = 3  # frozen


# --- sizing --------------------------------------------------------------------------------


def test_smallest_servers_utilisation_cap() -> None:
    # λ = 120/h, μ = 10/h: a = 12 Erlangs; ρ ≤ 0.8 needs c ≥ 12/0.8 = 15 (ρ = 0.8 exactly).
    assert DEFAULT_MAX_RHO == 0.8
    assert smallest_servers(120, 10) == 15
    assert utilisation(120, 10, 14) > 0.8
    assert smallest_servers(120, 10, max_rho=0.75) == 16  # 120/160 = 0.75 exactly
    assert smallest_servers(120, 10, max_rho=1.0) == 13  # just stable: c = 12 gives ρ = 1
    assert smallest_servers(0.5, 10) == 1


def test_smallest_servers_survives_rounding() -> None:
    # 0.7/0.1/0.7 is 9.999999999999998 in floats; the true answer is 10.
    assert smallest_servers(0.7, 0.1, max_rho=0.7) == 10


@pytest.mark.parametrize("target", [0.5, 0.05, 0.01, 1e-4, 1e-9])
def test_smallest_servers_wait_target(target: float) -> None:
    lam, mu = 120.0, 10.0
    c = smallest_servers(lam, mu, target_wait=target)
    assert c >= 15
    assert mean_wait(lam, mu, c) <= target
    if c > 15:
        assert mean_wait(lam, mu, c - 1) > target


def test_smallest_servers_loose_wait_target_keeps_rho_cap() -> None:
    assert smallest_servers(120, 10, target_wait=100.0) == 15


def test_smallest_servers_for_p_wait_target() -> None:
    # Wolfram's ErlangC support-centre exercise (a = 2.5, 90% not delayed): 6 staff.
    counts = [c for c in range(3, 20) if erlang_c(c, 2.5) <= 0.1]
    assert counts[0] == 6
    assert float(exact_erlang_c(5, Fraction(5, 2))) > 0.1


def test_smallest_servers_limit() -> None:
    with pytest.raises(ConfigError, match="max_servers"):
        smallest_servers(1e6, 1.0, max_servers=1000)
    with pytest.raises(ConfigError, match="max_servers"):
        smallest_servers(120, 10, target_wait=1e-12, max_servers=16)


# --- expected accepted ---------------------------------------------------------------------


def test_expected_accepted() -> None:
    # 8 h × (10/h × 0.9² + 5/h × 0.5²) = 8 × (8.1 + 1.25) = 74.8
    assert expected_accepted(8, [(10, 0.9), (5, 0.5)]) == pytest.approx(74.8)
    assert expected_accepted(8, [(10, 1.0)]) == pytest.approx(80.0)
    assert expected_accepted(8, [(10, 0.0)]) == 0.0
    assert expected_accepted(8, []) == 0.0
    assert expected_accepted(0, [(10, 0.9)]) == 0.0
    assert expected_accepted(2.5, iter([(4, 0.5)])) == pytest.approx(2.5)  # any iterable


def test_expected_accepted_is_quadratic_in_pass_rate() -> None:
    base = expected_accepted(10, [(6, 0.4)])
    assert expected_accepted(10, [(6, 0.8)]) == pytest.approx(4 * base)


@pytest.mark.parametrize(
    ("specialists", "named"),
    [
        ([(0, 0.5)], r"specialists\[0\]\.mu_per_hour"),
        ([(10, 0.5), (-1, 0.5)], r"specialists\[1\]\.mu_per_hour"),
        ([(10, 1.5)], r"specialists\[0\]\.pass_rate"),
        ([(10, -0.1)], r"specialists\[0\]\.pass_rate"),
        ([(10,)], r"specialists\[0\] must be a \(mu_per_hour, pass_rate\) pair"),
        ([10], r"specialists\[0\] must be"),
    ],
)
def test_expected_accepted_validation(specialists: list, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        expected_accepted(8, specialists)


def test_expected_accepted_rejects_negative_hours() -> None:
    with pytest.raises(ConfigError, match="hours"):
        expected_accepted(-1, [(10, 0.9)])


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: utilisation(0, 10, 3), "arrival_rate"),
        (lambda: utilisation(-1, 10, 3), "arrival_rate"),
        (lambda: utilisation(10, 0, 3), "service_rate"),
        (lambda: utilisation(10, -2.5, 3), "service_rate"),
        (lambda: utilisation(10, math.inf, 3), "service_rate"),
        (lambda: utilisation(math.nan, 1, 3), "arrival_rate"),
        (lambda: utilisation("10", 1, 3), "arrival_rate"),
        (lambda: utilisation(True, 1, 3), "arrival_rate"),
        (lambda: utilisation(10, 1, 0), "servers"),
        (lambda: utilisation(10, 1, -3), "servers"),
        (lambda: utilisation(10, 1, 2.0), "servers"),
        (lambda: mean_wait(10, 1, 0), "servers"),
        (lambda: mean_wait(0, 1, 2), "arrival_rate"),
        (lambda: mean_response(1, 0, 2), "service_rate"),
        (lambda: capacity_report(1, 1, 0), "servers"),
        (lambda: erlang_b(0, 1.0), "servers"),
        (lambda: erlang_b(3, -1.0), "offered_load"),
        (lambda: erlang_c(-1, 1.0), "servers"),
        (lambda: erlang_c(3, math.inf), "offered_load"),
        (lambda: offered_load(1, 0), "service_rate"),
        (lambda: prob_wait_exceeds(1, 2, 1, -0.5), "t"),
        (lambda: wait_quantile(1, 2, 1, 1.5), "q"),
        (lambda: wait_quantile(1, 2, 1, -0.1), "q"),
        (lambda: smallest_servers(0, 10), "arrival_rate"),
        (lambda: smallest_servers(10, 0), "service_rate"),
        (lambda: smallest_servers(10, 1, max_rho=0), "max_rho"),
        (lambda: smallest_servers(10, 1, max_rho=1.2), "max_rho"),
        (lambda: smallest_servers(10, 1, target_wait=0), "target_wait"),
        (lambda: smallest_servers(10, 1, target_wait=-1), "target_wait"),
    ],
)
def test_validation_names_the_argument(call, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    assert str(info.value).startswith(f"{named} must be")
    assert isinstance(info.value, UserError) and info.value.exit_code == 2


def test_integral_servers_types_are_accepted() -> None:
    class Seven(int):
        pass

    assert utilisation(7, 1, Seven(7)) == pytest.approx(1.0)
