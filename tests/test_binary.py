"""Binary-question closed forms (gvpo_theory.binary) against independent computations.

References: the raw fixed-point equations solved by brentq and np.roots, the same
formulas in 50-digit mpmath, the sympy-derived forms of gvpo_theory.symbolic.binary, the
numeric engine (grpo_stationary_policy, kl_optimal_policy) and tests/reference.py.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import mpmath
import numpy as np
import pytest
import reference as ref
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from gvpo_theory import RewardDistribution, binary, grpo_stationary_policy, kl_optimal_policy
from gvpo_theory.symbolic import binary as sym
from gvpo_theory.symbolic.objective import beta as beta_sym

# Every closed form must evaluate without floating-point warnings, even at β/γ = 1e±4.
pytestmark = pytest.mark.filterwarnings("error")

P_REFS = np.array([1e-6, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-6])
BETAS = np.logspace(-4, 4, 17)
MARGINS = np.array([-1.0, -0.6, -0.05, 0.05, 0.3, 1.0])

p_refs = st.floats(1e-6, 1 - 1e-6)
log_betas = st.floats(-4.0, 4.0)
pos_margins = st.floats(0.01, 1.0)


# ------------------------------------------------------------------ independent references


def mp_margin_root(p_ref: float, beta: float, gamma: float) -> float:
    """Root in (0, 1) of π² + (β/γ − 1)π − (β/γ)p_ref = 0 in 50-digit arithmetic."""
    with mpmath.workdps(50):
        p, b, g = mpmath.mpf(p_ref), mpmath.mpf(beta), mpmath.mpf(gamma)
        if g == 0:
            return float(p)
        c = b / g
        disc = mpmath.sqrt((1 - c) ** 2 + 4 * c * p)
        roots = [((1 - c) + disc) / 2, ((1 - c) - disc) / 2]
        inside = [r for r in roots if 0 < r < 1]
        assert len(inside) == 1
        return float(inside[0])


def mp_ginf(p_ref: float, beta: float) -> float:
    """docs/theory.md §4's G = ∞ closed form in 50-digit arithmetic."""
    with mpmath.workdps(50):
        p, b = mpmath.mpf(p_ref), mpmath.mpf(beta)
        return float((1 + 2 * b**2 * p + mpmath.sqrt(1 + 4 * b**2 * p * (1 - p))) / (2 * (1 + b**2)))


def mp_pooling(p_ref: float, beta: float, gamma: float) -> float:
    """p_ref·e^{γ/β} / (p_ref·e^{γ/β} + 1 − p_ref) in 50-digit arithmetic."""
    with mpmath.workdps(50):
        p = mpmath.mpf(p_ref)
        w = p * mpmath.exp(mpmath.mpf(gamma) / mpmath.mpf(beta))
        return float(w / (w + 1 - p))


def brentq_g2(p_ref: float, beta: float, gamma: float) -> float:
    """Raw reverse-KL fixed point π·(1 − P_2(a|π)/β) = p_ref with P_2(a|π) = γ(1 − π)."""

    def f(p: float) -> float:
        return p * (1.0 - gamma * (1.0 - p) / beta) - p_ref

    return optimize.brentq(f, 0.0, 1.0, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def brentq_ginf(p_ref: float, beta: float) -> float:
    """Raw reverse-KL fixed point p − sqrt(p(1 − p))/β = p_ref on [p_ref, 1]."""

    def f(p: float) -> float:
        return p - math.sqrt(p * (1.0 - p)) / beta - p_ref

    return optimize.brentq(f, p_ref, 1.0, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def roots_g2(p_ref: float, beta: float, gamma: float) -> float:
    """np.roots on the eq. (14) quadratic, keeping the root in (0, 1)."""
    c = beta / gamma
    roots = np.roots([1.0, c - 1.0, -c * p_ref])
    inside = [r.real for r in roots if abs(r.imag) == 0 and 0 < r.real < 1]
    assert len(inside) == 1
    return inside[0]


@lru_cache(maxsize=8)
def sym_mp(name: str):
    """Lambdified (mpmath) symbolic closed forms of gvpo_theory.symbolic.binary."""
    if name == "margin":
        return sp.lambdify((sym.p_ref, beta_sym, sym.gamma), sym.margin_solution(), "mpmath")
    if name == "ginf":
        return sp.lambdify((sym.p_ref, beta_sym), sym.stationary_closed_form(math.inf), "mpmath")
    if name == "pooling":
        return sp.lambdify((sym.p_ref, beta_sym), sym.log_pooling_binary(), "mpmath")
    raise KeyError(name)


def sym_eval(name: str, *args: float) -> float:
    with mpmath.workdps(60):
        return float(sym_mp(name)(*[mpmath.mpf(a) for a in args]))


def bernoulli_p2(p: float, s_a: float, s_b: float, std: str) -> tuple[float, float]:
    """(P_2(a), P_2(b)) by enumerating the other output and both Bernoulli rewards."""
    success = {0: s_a, 1: s_b}
    pi = {0: p, 1: 1.0 - p}
    out = []
    for first in (0, 1):
        total = 0.0
        for other, r1, r2 in itertools.product((0, 1), (0, 1), (0, 1)):
            w = pi[other]
            w *= success[first] if r1 else 1.0 - success[first]
            w *= success[other] if r2 else 1.0 - success[other]
            group = np.array([[r1, r2]], dtype=float)
            total += w * ref.first_member_advantage(group, std)[0]
        out.append(total)
    return out[0], out[1]


def assert_rel(actual, expected, rtol=1e-12, atol=0.0) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ reference values


def test_theory_reference_values() -> None:
    # docs/theory.md §4, p_ref = 0.3, population std.
    assert_rel(binary.stationary_g2(0.3, 1.0), 0.5477225575051661, rtol=1e-15)
    assert_rel(binary.stationary_g2(0.3, 0.5), 0.7109772228646444, rtol=1e-15)
    assert_rel(binary.stationary_ginf(0.3, 1.0), 0.7391164991562634, rtol=1e-15)
    assert_rel(binary.stationary_ginf(0.3, 0.5), 0.9, rtol=1e-15)
    assert_rel(binary.logarithmic_pooling(0.3, 1.0), 0.538101526224449, rtol=1e-14)
    assert_rel(binary.stationary(0.3, 1.0, 8), 0.7077703622209384, rtol=1e-12)


# ------------------------------------------------------------------ G = 2 closed form


@pytest.mark.claim("vy-eq14-g2", way="closed form")
def test_g2_against_mpmath_and_brentq_on_grid() -> None:
    p, b, g = np.meshgrid(P_REFS, BETAS, MARGINS, indexing="ij")
    got = binary.stationary_g2(p, b, g)
    assert got.shape == p.shape
    want = np.vectorize(mp_margin_root)(p, b, g)
    assert_rel(got, want, rtol=1e-13)
    raw = np.vectorize(brentq_g2)(p, b, g)
    assert_rel(got, raw, rtol=1e-12)


def test_g2_against_np_roots() -> None:
    for p, b, g in itertools.product((0.05, 0.3, 0.8), (0.03, 0.5, 1.0, 4.0, 30.0), (0.2, 1.0)):
        assert_rel(binary.stationary_g2(p, b, g), roots_g2(p, b, g), rtol=1e-12)


@pytest.mark.claim("vy-eq14-g2", way="closed form")
def test_g2_against_symbolic_eq14() -> None:
    for p, b, g in itertools.product((1e-4, 0.3, 0.9), (1e-3, 0.2, 1.0, 7.0, 1e3), (0.1, 0.55, 1.0)):
        assert_rel(binary.stationary_g2(p, b, g), sym_eval("margin", p, b, g), rtol=1e-13)


@pytest.mark.claim("vy-eq14-g2", way="exact numerics")
def test_g2_against_engine() -> None:
    p, b = np.meshgrid(P_REFS[1:-1], BETAS, indexing="ij")
    pi_ref = np.stack([p, 1.0 - p], axis=-1)
    res = grpo_stationary_policy(pi_ref, np.array([1.0, 0.0]), b, 2)
    assert np.all(res.converged)
    assert_rel(binary.stationary_g2(p, b), res.policy[..., 0], rtol=1e-12)
    # A noisy verifier with margin 0.6, solved by the engine's general (stochastic) path.
    res = grpo_stationary_policy([0.3, 0.7], RewardDistribution.bernoulli([0.8, 0.2]), BETAS, 2)
    assert np.all(res.converged)
    assert_rel(binary.stationary_g2(0.3, BETAS, 0.6), res.policy[:, 0], rtol=1e-11)


def test_g2_negative_margin_is_the_mirror_problem() -> None:
    # Swapping the names of a and b: π(a; p_ref, −γ) = 1 − π(b; 1 − p_ref, γ).
    for p, b, g in itertools.product((0.1, 0.3, 0.6), (0.05, 1.0, 20.0), (0.2, 1.0)):
        assert_rel(binary.stationary_g2(p, b, -g), 1.0 - mp_margin_root(1.0 - p, b, g), rtol=1e-13)


def test_g2_zero_margin_is_reference() -> None:
    assert_rel(binary.stationary_g2(P_REFS, 0.7, 0.0), P_REFS, rtol=0)


def test_broadcasting() -> None:
    p = np.array([[0.1], [0.4], [0.8]])
    b = np.array([0.2, 1.0, 5.0, 50.0])
    got = binary.stationary_g2(p, b, 0.5)
    assert got.shape == (3, 4)
    for i, j in itertools.product(range(3), range(4)):
        assert got[i, j] == binary.stationary_g2(float(p[i, 0]), float(b[j]), 0.5)
    assert np.ndim(binary.stationary_g2(0.3, 1.0)) == 0
    assert binary.stationary_ginf(p, b).shape == (3, 4)
    assert binary.logarithmic_pooling(p, b).shape == (3, 4)
    assert binary.stationary(p, b, 4).shape == (3, 4)


@pytest.mark.claim("vy-g2-beta-over-gamma", way="closed form")
@given(p=p_refs, x=log_betas, g1=pos_margins, g2=pos_margins)
@settings(max_examples=30)
def test_g2_depends_on_beta_over_margin_only(p: float, x: float, g1: float, g2: float) -> None:
    ratio = 10.0**x
    assert_rel(binary.stationary_g2(p, ratio * g1, g1), binary.stationary_g2(p, ratio * g2, g2), rtol=1e-13)
    assert_rel(binary.stationary_g2(p, ratio * g1, g1), binary.stationary_g2(p, ratio, 1.0), rtol=1e-13)


@pytest.mark.claim("vy-g2-limits", way="closed form")
@pytest.mark.claim("vy-g2-lower-bound", way="closed form")
@given(p=p_refs, x1=log_betas, x2=log_betas, g=pos_margins)
@settings(max_examples=30)
def test_g2_monotone_in_beta_towards_reference(p: float, x1: float, x2: float, g: float) -> None:
    b_lo, b_hi = 10.0 ** min(x1, x2), 10.0 ** max(x1, x2)
    ulp = 4 * np.finfo(float).eps  # monotone up to rounding (β's 1e-13 apart are allowed)
    lo, hi = binary.stationary_g2(p, b_lo, g), binary.stationary_g2(p, b_hi, g)
    assert lo >= hi * (1 - ulp) and hi >= p * (1 - ulp)
    assert lo >= binary.lower_bound(p, b_lo, g) * (1 - ulp)
    assert hi >= binary.lower_bound(p, b_hi, g) * (1 - ulp)
    # a worse answer (negative margin) loses mass, less of it as β grows
    lo, hi = binary.stationary_g2(p, b_lo, -g), binary.stationary_g2(p, b_hi, -g)
    assert lo <= hi * (1 + ulp) and hi <= p * (1 + ulp)


@pytest.mark.claim("vy-g2-limits", way="closed form")
@given(p=p_refs, g=pos_margins)
@settings(max_examples=30)
def test_g2_limits(p: float, g: float) -> None:
    # β → 0: π → 1, with 1 − π ≤ β/γ (the lower bound 1 − β/γ).
    small = binary.stationary_g2(p, 1e-4, g)
    assert 0.0 <= 1.0 - small <= 1e-4 / g * (1 + 1e-9)
    # β → ∞: π → p_ref, with π − p_ref = γπ(1 − π)/β ≤ γ/(4β).
    large = binary.stationary_g2(p, 1e4, g)
    assert 0.0 <= large - p <= g / 4e4 * (1 + 1e-9)
    assert_rel(large - p, g * large * (1 - large) / 1e4, rtol=1e-6, atol=4 * np.finfo(float).eps)


# ------------------------------------------------------------------ G = ∞


@pytest.mark.claim("vy-eq15-ginf", way="closed form")
def test_ginf_against_mpmath_brentq_symbolic_engine() -> None:
    p, b = np.meshgrid(P_REFS, BETAS, indexing="ij")
    got = binary.stationary_ginf(p, b)
    assert_rel(got, np.vectorize(mp_ginf)(p, b), rtol=1e-14)
    assert_rel(got, np.vectorize(brentq_ginf)(p, b), rtol=1e-12)
    sel = (0.01, 0.3, 0.99)
    for pi_ref, beta in itertools.product(sel, (1e-3, 0.3, 1.0, 5.0, 1e3)):
        assert_rel(binary.stationary_ginf(pi_ref, beta), sym_eval("ginf", pi_ref, beta), rtol=1e-13)
    pm, bm = np.meshgrid(P_REFS[1:-1], BETAS[4:], indexing="ij")
    res = grpo_stationary_policy(np.stack([pm, 1 - pm], -1), np.array([1.0, 0.0]), bm, math.inf)
    assert np.all(res.converged)
    assert_rel(binary.stationary_ginf(pm, bm), res.policy[..., 0], rtol=1e-12)


def test_ginf_sample_std_equals_population() -> None:
    assert_rel(binary.stationary_ginf(P_REFS, 0.8, std="sample"), binary.stationary_ginf(P_REFS, 0.8), rtol=0)


@pytest.mark.claim("vy-no-std-direct-kl-pooling", way="closed form")
def test_ginf_without_std() -> None:
    # P_∞(a) = 1 − p: reverse KL is eq. (14) with γ = 1; direct KL is logarithmic pooling.
    for p, b in itertools.product((0.05, 0.3, 0.9), (0.01, 0.4, 1.0, 30.0)):
        assert_rel(binary.stationary_ginf(p, b, std="none"), brentq_g2(p, b, 1.0), rtol=1e-12)
        assert_rel(binary.stationary_ginf(p, b, std="none", penalty="direct_kl"), mp_pooling(p, b, 1.0),
                   rtol=1e-13)
    res = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], BETAS[4:], math.inf, std="none", penalty="direct_kl")
    assert_rel(binary.stationary_ginf(0.3, BETAS[4:], std="none", penalty="direct_kl"), res.policy[:, 0],
               rtol=1e-12)


@pytest.mark.claim("vy-ginf-lower-bound", way="closed form")
@given(p=p_refs)
@settings(max_examples=30)
def test_ginf_limits_and_bound(p: float) -> None:
    small = binary.stationary_ginf(p, 1e-4)
    assert 0.0 <= 1.0 - small <= 1e-8 * (1 + 1e-9)  # π ≥ 1/(1 + β²)
    large = binary.stationary_ginf(p, 1e4)
    assert 0.0 <= large - p <= 0.5e-4 * (1 + 1e-9)  # π − p_ref = sqrt(π(1 − π))/β
    for b in (1e-4, 0.1, 1.0, 10.0, 1e4):
        assert binary.stationary_ginf(p, b) >= binary.lower_bound(p, b, 1.0, math.inf)


def test_ginf_extreme_beta_stays_finite() -> None:
    assert_rel(binary.stationary_ginf(0.3, [1e-300, 1e300]), [1.0, 0.3], rtol=1e-15)
    assert_rel(binary.stationary_g2(0.3, [1e-300, 1e300]), [1.0, 0.3], rtol=1e-15)
    assert_rel(binary.logarithmic_pooling(0.3, [1e-300, 1e300]), [1.0, 0.3], rtol=1e-15)


# ------------------------------------------------------------------ logarithmic pooling


@pytest.mark.claim("rlhf-log-pooling", way="closed form")
def test_pooling_against_mpmath_symbolic_engine() -> None:
    p, b, g = np.meshgrid(P_REFS, BETAS, MARGINS, indexing="ij")
    got = binary.logarithmic_pooling(p, b, g)
    assert_rel(got, np.vectorize(mp_pooling)(p, b, g), rtol=1e-13, atol=1e-300)
    for pi_ref, beta in itertools.product((0.01, 0.3, 0.9), (0.05, 0.3, 1.0, 5.0, 1e3)):
        assert_rel(binary.logarithmic_pooling(pi_ref, beta), sym_eval("pooling", pi_ref, beta), rtol=1e-13)
    # The KL optimum with a noisy verifier uses the expected rewards (s_a, s_b).
    dist = RewardDistribution.bernoulli([0.9, 0.35])
    pi_star = kl_optimal_policy([0.3, 0.7], dist, BETAS[4:])
    assert_rel(binary.logarithmic_pooling(0.3, BETAS[4:], binary.confidence_margin(0.9, 0.35)), pi_star[:, 0],
               rtol=1e-12)


# ------------------------------------------------------------------ margin


@pytest.mark.claim("vy-confidence-margin", way="exact numerics")
def test_confidence_margin_by_enumeration() -> None:
    for s_a, s_b in itertools.product((0.0, 0.2, 0.5, 0.9, 1.0), repeat=2):
        wins = losses = 0.0
        for r_a, r_b in itertools.product((0, 1), repeat=2):
            w = (s_a if r_a else 1 - s_a) * (s_b if r_b else 1 - s_b)
            wins += w * (r_a > r_b)
            losses += w * (r_b > r_a)
        assert_rel(binary.confidence_margin(s_a, s_b), wins - losses, rtol=1e-15, atol=1e-16)
    assert binary.confidence_margin([0.8, 0.5], [[0.2], [0.5]]).shape == (2, 2)


@pytest.mark.claim("vy-g2-beta-over-gamma", way="exact numerics")
@pytest.mark.parametrize("std", ["population", "sample", "none"])
@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
def test_margin_g2_against_raw_fixed_point(std: str, penalty: str) -> None:
    # P_2 from enumerating groups of two with Bernoulli rewards (0.85, 0.25): γ = 0.6.
    s_a, s_b = 0.85, 0.25
    for p_ref, beta in itertools.product((0.1, 0.3, 0.7), (0.05, 0.4, 1.0, 8.0)):

        def f(p: float, p_ref: float = p_ref, beta: float = beta) -> float:
            pa, pb = bernoulli_p2(p, s_a, s_b, std)
            if penalty == "reverse_kl":
                return p * (1.0 - pa / beta) - p_ref
            return math.log(p / (1 - p)) - math.log(p_ref / (1 - p_ref)) - (pa - pb) / beta

        want = optimize.brentq(f, 1e-12, 1 - 1e-12, xtol=1e-300, rtol=4 * np.finfo(float).eps)
        got = binary.stationary_margin(p_ref, beta, 0.6, 2, std=std, penalty=penalty)
        assert_rel(got, want, rtol=1e-11)
        engine = binary.stationary(p_ref, beta, 2, std, penalty, success=(s_a, s_b))
        assert_rel(got, engine, rtol=1e-11)


@pytest.mark.claim("vy-stationarity", way="exact numerics")
@pytest.mark.parametrize("group_size", [3, 5, 8])
@pytest.mark.parametrize("std", ["population", "sample"])
def test_stationary_finite_g_deterministic(group_size: int, std: str) -> None:
    for p_ref, beta in itertools.product((0.05, 0.3, 0.8), (0.1, 0.6, 2.0, 30.0)):
        want = ref.binary_finite_g(p_ref, beta, group_size, std)
        assert_rel(binary.stationary(p_ref, beta, group_size, std), want, rtol=1e-12)
        assert_rel(binary.stationary_margin(p_ref, beta, 1.0, group_size, std), want, rtol=1e-12)


def test_stationary_margin_beyond_g2_depends_on_more_than_margin() -> None:
    # stationary_margin uses s = ((1 + γ)/2, (1 − γ)/2); another pair with the same γ differs.
    beta = np.array([0.2, 1.0, 5.0])
    sym_pair = binary.stationary_margin(0.3, beta, 0.4, 8)
    assert_rel(sym_pair, binary.stationary(0.3, beta, 8, success=(0.7, 0.3)), rtol=1e-14)
    other = binary.stationary(0.3, beta, 8, success=(0.4, 0.0))
    assert np.all(np.abs(sym_pair - other) > 1e-3)
    # ... while at G = 2 they agree (P_2(a) = γ(1 − π)).
    at_g2 = binary.stationary(0.3, beta, 2, success=(0.4, 0.0))
    assert_rel(at_g2, binary.stationary_margin(0.3, beta, 0.4, 2), rtol=1e-11)


def test_stationary_margin_zero_is_reference() -> None:
    for g in (2, 5, math.inf):
        assert_rel(binary.stationary_margin(0.3, 0.5, 0.0, g), 0.3, rtol=1e-13)


def test_stationary_reports_missing_direct_kl_point_as_nan() -> None:
    # Direct KL with std at G = ∞ has no interior stationary point for small β (docs/theory.md §4 /
    # symbolic.direct_kl_ginf_threshold): max_x x − (2/β)cosh(x/2) < logit p_ref.
    out = binary.stationary(0.3, [0.05, 50.0], math.inf, penalty="direct_kl")
    assert np.isnan(out[0]) and 0.3 < out[1] < 1.0


@pytest.mark.claim("vy-g2-lower-bound", way="closed form")
@pytest.mark.claim("vy-ginf-lower-bound", way="closed form")
def test_lower_bound_values() -> None:
    assert_rel(binary.lower_bound(0.3, [0.1, 0.5, 2.0], 1.0), [0.9, 0.5, 0.3], rtol=1e-15)
    assert_rel(binary.lower_bound(0.3, [0.5, 2.0], 1.0, math.inf), [0.8, 0.3], rtol=1e-15)


# ------------------------------------------------------------------ validation


def _call(name: str, **kw):
    defaults = {
        "logarithmic_pooling": {"p_ref": 0.3, "beta": 1.0},
        "stationary_g2": {"p_ref": 0.3, "beta": 1.0},
        "stationary_ginf": {"p_ref": 0.3, "beta": 1.0},
        "stationary": {"p_ref": 0.3, "beta": 1.0, "group_size": 4},
        "stationary_margin": {"p_ref": 0.3, "beta": 1.0, "margin": 0.5},
        "lower_bound": {"p_ref": 0.3, "beta": 1.0},
    }[name]
    return getattr(binary, name)(**{**defaults, **kw})


ALL = ["logarithmic_pooling", "stationary_g2", "stationary_ginf", "stationary", "stationary_margin",
       "lower_bound"]
BAD_P_REF = [0.0, 1.0, -0.1, 1.5, float("nan"), float("inf"), [0.3, float("nan")], "x"]
BAD_BETA = [0.0, -1.0, float("nan"), float("inf"), [1.0, -1.0]]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", BAD_P_REF)
def test_bad_p_ref(name: str, bad) -> None:
    with pytest.raises(ValueError, match="p_ref"):
        _call(name, p_ref=bad)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", BAD_BETA)
def test_bad_beta(name: str, bad) -> None:
    with pytest.raises(ValueError, match="beta"):
        _call(name, beta=bad)


@pytest.mark.parametrize("name", ["logarithmic_pooling", "stationary_g2", "stationary_margin", "lower_bound"])
@pytest.mark.parametrize("bad", [1.5, -1.01, float("nan"), float("inf")])
def test_bad_margin(name: str, bad) -> None:
    with pytest.raises(ValueError, match="margin"):
        _call(name, margin=bad)


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_lower_bound_needs_positive_margin(bad: float) -> None:
    with pytest.raises(ValueError, match="margin must be > 0"):
        binary.lower_bound(0.3, 1.0, bad)
    with pytest.raises(ValueError, match="margin must be 1"):
        binary.lower_bound(0.3, 1.0, 0.5, math.inf)


@pytest.mark.parametrize("name", ["stationary", "stationary_margin", "lower_bound"])
@pytest.mark.parametrize("bad", [1, 0, 2.5, -3, True, float("nan"), "2"])
def test_bad_group_size(name: str, bad) -> None:
    with pytest.raises(ValueError, match="group_size"):
        _call(name, group_size=bad)


def test_lower_bound_group_size_without_bound() -> None:
    with pytest.raises(ValueError, match=r"group_size must be 2 or math\.inf"):
        binary.lower_bound(0.3, 1.0, 1.0, 5)


@pytest.mark.parametrize("name", ["stationary_ginf", "stationary", "stationary_margin"])
def test_bad_std_and_penalty(name: str) -> None:
    with pytest.raises(ValueError, match="std must be one of"):
        _call(name, std="torch")
    with pytest.raises(ValueError, match="penalty must be one of"):
        _call(name, penalty="k3")


def test_ginf_direct_kl_with_std_has_no_closed_form() -> None:
    with pytest.raises(ValueError, match="penalty='direct_kl'"):
        binary.stationary_ginf(0.3, 1.0, penalty="direct_kl")


@pytest.mark.parametrize("bad", [(1.2, 0.0), (0.5, -0.1), (float("nan"), 0.0), (0.5,)])
def test_bad_success(bad) -> None:
    with pytest.raises(ValueError, match="success"):
        binary.stationary(0.3, 1.0, 4, success=bad)


@pytest.mark.parametrize("arg", ["s_a", "s_b"])
@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan")])
def test_bad_confidence_margin_inputs(arg: str, bad: float) -> None:
    kw = {"s_a": 0.8, "s_b": 0.2, arg: bad}
    with pytest.raises(ValueError, match=arg):
        binary.confidence_margin(**kw)


def test_stationary_margin_needs_scalar_margin() -> None:
    with pytest.raises(ValueError, match="margin must be a scalar"):
        binary.stationary_margin(0.3, 1.0, [0.2, 0.5])
