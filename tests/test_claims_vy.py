"""Statements of Vojnovic & Yun (arXiv 2502.18548, v3) that no other test covered.

Each test checks the toolkit's public API against an independent computation: a closed form
in mpmath or sympy, a root found here with scipy on the defining equation, a best response
found by numerical optimisation, or an expectation enumerated over outputs. The claims are
declared in tests/claims.py and listed with their status in docs/claims.md.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import reference as ref
import sympy as sp
import torch
from scipy import optimize
from scipy.special import softmax

from gvpo_theory import binary, grpo_stationary_policy, kl_optimal_policy
from gvpo_theory.dynamics import grpo_expected_update
from gvpo_theory.torch.losses import grpo_loss

DPS = 40  # digits of the mpmath references (set locally, never globally)


def mp_g2(p_ref: float, ratio: float) -> float:
    """Eq. (14) in 40-digit arithmetic: π = ½·[1 − s + √((1 − s)² + 4s·p_ref)], s = β/γ."""
    with mpmath.workdps(DPS):
        p, s = mpmath.mpf(p_ref), mpmath.mpf(ratio)
        return float((1 - s + mpmath.sqrt((1 - s) ** 2 + 4 * s * p)) / 2)


def mp_ginf(p_ref: float, beta: float) -> float:
    """Eq. (15) in 40-digit arithmetic: (1 + 2β²p + √(1 + 4β²p(1 − p)))/(2(1 + β²))."""
    with mpmath.workdps(DPS):
        p, b2 = mpmath.mpf(p_ref), mpmath.mpf(beta) ** 2
        return float((1 + 2 * b2 * p + mpmath.sqrt(1 + 4 * b2 * p * (1 - p))) / (2 * (1 + b2)))


def mp_pooling(p_ref: float, beta: float) -> float:
    """π*(a) = p·e^{1/β}/(p·e^{1/β} + 1 − p) in 40-digit arithmetic."""
    with mpmath.workdps(DPS):
        p, e = mpmath.mpf(p_ref), mpmath.exp(1 / mpmath.mpf(beta))
        return float(p * e / (p * e + 1 - p))


# ---------------------------------------------------------------------------- groups of two


@pytest.mark.claim("vy-g2-beta-equals-gamma", way="closed form")
@pytest.mark.parametrize("gamma", [1.0, 0.6, 0.25])
def test_g2_at_beta_equal_to_margin_is_square_root_of_reference(gamma: float) -> None:
    """β = γ: eq. (14) reduces to π² = π_ref, so π(a) = √π_ref(a) (deterministic and noisy rewards)."""
    p_ref = np.array([1e-9, 1e-4, 0.01, 0.3, 0.5, 0.9, 1 - 1e-6])
    with mpmath.workdps(DPS):
        expected = np.array([float(mpmath.sqrt(mpmath.mpf(p))) for p in p_ref])
    np.testing.assert_allclose(binary.stationary_g2(p_ref, gamma, margin=gamma), expected, rtol=1e-14)
    # the engine on a noisy verifier with s_a − s_b = γ (exact P_2 of the reward mixture)
    s = ((1.0 + gamma) / 2.0, (1.0 - gamma) / 2.0)
    engine = binary.stationary(p_ref[1:-1], gamma, 2, success=s)
    np.testing.assert_allclose(engine, expected[1:-1], rtol=1e-12)


@pytest.mark.claim("vy-increasing-in-pref", way="exact numerics")
@pytest.mark.parametrize("beta", [0.04, 0.3, 1.0, 3.0])
def test_stationary_increases_with_reference(beta: float) -> None:
    """π(a) is strictly increasing in π_ref(a): d/dπ[π(1 − P_G(a|π)/β)] > 0 on the physical branch.

    Checked on an independent brentq root of π·(1 − P_G(a|π)/β) = π_ref (tests/reference.py)
    and on the closed forms, then the engine is compared with them.
    """
    p_ref = np.array([1e-6, 1e-3, 0.01, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.999])
    for g in (2, 8):
        independent = np.array([ref.binary_finite_g(p, beta, g) for p in p_ref])
        assert np.all(np.diff(independent) > 0)
        np.testing.assert_allclose(binary.stationary(p_ref, beta, g), independent, atol=1e-12)
    g2 = np.array([mp_g2(p, beta) for p in p_ref])
    ginf = np.array([mp_ginf(p, beta) for p in p_ref])
    assert np.all(np.diff(g2) > 0) and np.all(np.diff(ginf) > 0)
    np.testing.assert_allclose(binary.stationary_g2(p_ref, beta), g2, rtol=1e-13)
    np.testing.assert_allclose(binary.stationary(p_ref, beta, math.inf), ginf, rtol=1e-12)


@pytest.mark.claim("vy-pref-to-zero", way="closed form")
@pytest.mark.parametrize(("beta", "gamma"), [(0.3, 1.0), (0.04, 1.0), (0.2, 0.6), (0.9, 1.0)])
def test_g2_limit_as_reference_vanishes(beta: float, gamma: float) -> None:
    """G = 2, β < γ: π(a) → 1 − β/γ as π_ref(a) → 0, at the rate dπ/dπ_ref = s/(1 − s), s = β/γ.

    (Implicit differentiation of π² + (s − 1)π − s·π_ref = 0 at π = 1 − s.)
    """
    s = beta / gamma
    p_ref = np.array([1e-12, 1e-9, 1e-6, 1e-3])
    got = binary.stationary_g2(p_ref, beta, margin=gamma)
    np.testing.assert_allclose(got, [mp_g2(p, s) for p in p_ref], rtol=1e-14)
    # the gap to the limit is first order in π_ref(a), with the implicit-function slope
    slope = (got - (1.0 - s)) / p_ref
    np.testing.assert_allclose(slope[1:3], s / (1.0 - s), rtol=1e-3)
    assert abs(got[0] - (1.0 - s)) < 1e-10


@pytest.mark.claim("vy-pref-to-zero", way="exact numerics")
@pytest.mark.parametrize("beta", [0.04, 0.3, 1.0, 2.5])
def test_large_group_limit_as_reference_vanishes(beta: float) -> None:
    """G = ∞: π(a) → 1/(1 + β²) as π_ref(a) → 0, slope dπ/dπ_ref = 2β²/(1 + β²) there.

    (At π = 1/(1 + β²), √(π(1 − π)) = β/(1 + β²), so d/dπ[π − √(π(1 − π))/β] = (1 + β²)/(2β²).)
    """
    limit = 1.0 / (1.0 + beta * beta)
    p_ref = np.array([1e-12, 1e-9, 1e-6, 1e-3])
    got = binary.stationary(p_ref, beta, math.inf)
    np.testing.assert_allclose(got, [mp_ginf(p, beta) for p in p_ref], rtol=1e-12)
    slope = (got - limit) / p_ref
    np.testing.assert_allclose(slope[1:3], 2 * beta**2 / (1 + beta**2), rtol=1e-3)
    assert abs(got[0] - limit) < 1e-10


@pytest.mark.claim("vy-pref-to-zero", way="exact numerics")
@pytest.mark.parametrize("group_size", [2, 8, math.inf])
def test_zero_reference_mass_is_a_jump(group_size: float) -> None:
    """At π_ref(a) = 0 exactly, π = π_ref/(1 − P/β) gives π(a) = 0: the limit above is not the value.

    The general solver accepts a zero reference mass and keeps the support; the binary closed
    forms reject it (π_ref(a) must lie in (0, 1)) rather than return either answer.
    """
    beta = 0.3
    at_zero = grpo_stationary_policy([0.0, 1.0], [1.0, 0.0], beta, group_size)
    assert bool(at_zero.converged) and at_zero.policy[0] == 0.0
    near_zero = grpo_stationary_policy([1e-12, 1 - 1e-12], [1.0, 0.0], beta, group_size)
    # p_G ≥ p_2 ≥ 1 − β (test_larger_groups_are_more_reward_biased); 1/(1 + β²) at G = ∞
    bound = 1.0 / (1.0 + beta**2) if math.isinf(group_size) else 1.0 - beta
    assert near_zero.policy[0] > bound - 1e-9
    with pytest.raises(ValueError, match="p_ref"):
        binary.stationary_g2(0.0, beta)


# ---------------------------------------------------------------------------- large groups


@pytest.mark.claim("vy-ginf-bound-above-g2", way="closed form")
def test_large_group_bound_exceeds_g2_bound_for_every_beta() -> None:
    """1/(1 + β²) − (1 − β) = β(β² − β + 1)/(1 + β²) > 0, since β² − β + 1 = (β − ½)² + ¾."""
    b = sp.symbols("beta", positive=True)
    gap = sp.factor(sp.together(1 / (1 + b**2) - (1 - b)))
    assert sp.simplify(gap - b * (b**2 - b + 1) / (1 + b**2)) == 0
    assert sp.expand((b - sp.Rational(1, 2)) ** 2 + sp.Rational(3, 4) - (b**2 - b + 1)) == 0
    assert sp.discriminant(b**2 - b + 1, b) < 0  # no real root: positive for every β
    # the toolkit's bounds, at a reference mass below both
    betas = np.logspace(-4, 4, 81)
    g2 = binary.lower_bound(1e-12, betas, group_size=2)
    ginf = binary.lower_bound(1e-12, betas, group_size=math.inf)
    assert np.all(ginf > g2)


@pytest.mark.claim("vy-eq19-square-root", way="closed form")
def test_large_group_condition_has_the_square_root() -> None:
    """Eq. (19) needs the square root: squaring β(π − π_ref) = √(π(1 − π)) gives
    (1 + β²)π² − (1 + 2β²π_ref)π + β²π_ref² = 0, whose larger root is eq. (15); the printed
    variant β(π − π_ref) = π(1 − π) is the G = 2 condition, which the G = ∞ answer violates.
    """
    p, pr, b = sp.symbols("p p_ref beta", positive=True)
    quadratic = sp.expand((b * (p - pr)) ** 2 - p * (1 - p))
    eq15 = (1 + 2 * b**2 * pr + sp.sqrt(1 + 4 * b**2 * pr * (1 - pr))) / (2 * (1 + b**2))
    assert sp.simplify(quadratic.subs(p, eq15)) == 0
    for p_ref, beta in [(0.3, 1.0), (0.05, 0.2), (0.9, 3.0), (1e-6, 0.04)]:
        pi = float(binary.stationary(p_ref, beta, math.inf))
        with_root = beta * (pi - p_ref) - math.sqrt(pi * (1 - pi))
        assert abs(with_root) < 1e-12
        without_root = beta * (pi - p_ref) - pi * (1 - pi)
        assert abs(without_root) > 1e-3
        # the printed variant is exactly the G = 2 fixed point
        pi2 = mp_g2(p_ref, beta)
        assert abs(beta * (pi2 - p_ref) - pi2 * (1 - pi2)) < 1e-14


@pytest.mark.claim("vy-large-groups-greedier", way="exact numerics")
@pytest.mark.parametrize("std", ["population", "sample"])
def test_larger_groups_are_more_reward_biased(std: str) -> None:
    """p_2 ≤ p_3 ≤ … ≤ p_∞ on a (β, π_ref) grid, with p_G from an independent brentq root of
    π·(1 − P_G(a|π)/β) = π_ref (binomial P_G, tests/reference.py) and p_∞ from eq. (15)."""
    sizes = (2, 3, 4, 6, 8, 16, 32, 64)
    for beta in (0.04, 0.3, 1.0, 3.0):
        for p_ref in (1e-4, 0.05, 0.3, 0.7):
            finite = [ref.binary_finite_g(p_ref, beta, g, std) for g in sizes]
            curve = np.array([*finite, ref.binary_ginf(p_ref, beta)])
            assert np.all(np.diff(curve) >= -1e-13), (beta, p_ref, curve)
            assert curve[-1] >= curve[0]
            engine = [float(binary.stationary(p_ref, beta, g, std=std)) for g in (2, 8, math.inf)]
            np.testing.assert_allclose(engine, curve[[0, 4, -1]], atol=1e-11)


@pytest.mark.claim("vy-trl-beta", way="exact numerics")
def test_trl_default_beta() -> None:
    """β = 0.04 (TRL's default): G = 2 keeps π(a) ≥ 1 − β = 0.96, G = ∞ keeps π(a) ≥ 1/(1 + β²);
    pooling is greedier than GRPO at π_ref(a) = 0.01 (logit shift 1/β = 25) but follows
    π_ref(a) → 0, where GRPO does not."""
    beta = 0.04
    for p_ref in (0.01, 0.1, 0.5):
        p2 = float(binary.stationary_g2(p_ref, beta))
        p8 = float(binary.stationary(p_ref, beta, 8))
        pinf = float(binary.stationary(p_ref, beta, math.inf))
        pool = float(binary.logarithmic_pooling(p_ref, beta))
        assert p2 == pytest.approx(mp_g2(p_ref, beta), rel=1e-14)
        assert p8 == pytest.approx(ref.binary_finite_g(p_ref, beta, 8), abs=1e-12)
        assert pinf == pytest.approx(mp_ginf(p_ref, beta), rel=1e-13)
        assert pool == pytest.approx(mp_pooling(p_ref, beta), rel=1e-14)
        assert 0.96 <= p2 < p8 < pinf < pool
        assert pinf >= 1.0 / (1.0 + beta**2)
    # π_ref(a) = 0.01: G = 2 is 0.9604, pooling 1 − 1.4e-9
    assert mp_g2(0.01, beta) == pytest.approx(0.96041649, abs=1e-8)
    assert 1.0 - mp_pooling(0.01, beta) == pytest.approx(99 * math.exp(-25), rel=1e-8)
    # π_ref(a) = 1e-12: pooling has fallen to ~0.067, GRPO stays at its bounds
    tiny = 1e-12
    assert float(binary.logarithmic_pooling(tiny, beta)) == pytest.approx(mp_pooling(tiny, beta), rel=1e-12)
    assert mp_pooling(tiny, beta) < 0.07 < 0.96 < float(binary.stationary_g2(tiny, beta))


# ---------------------------------------------------------------------------- the k3 estimator


def _k3_expectation(logits: np.ndarray, old: np.ndarray, pi_ref: np.ndarray, beta: float) -> torch.Tensor:
    """E_{o~π_old}[β·D(o)] with D the toolkit's k3 penalty inside ``grpo_loss``: a tied group
    (o, o) has zero advantage, so its loss is β·D(o); weighted by π_old(o) here."""
    k = len(old)
    theta = torch.tensor(np.broadcast_to(logits, (k, k)).copy(), dtype=torch.float64, requires_grad=True)
    samples = torch.arange(k).repeat(2, 1).T.contiguous()
    rewards = torch.zeros((k, 2), dtype=torch.float64)
    ref_logits = torch.tensor(np.log(np.broadcast_to(pi_ref, (k, k))), dtype=torch.float64)
    per_arm = []
    for o in range(k):
        per_arm.append(grpo_loss(theta[o:o + 1], samples[o:o + 1], rewards[o:o + 1], ref_logits[o:o + 1],
                                 beta, penalty="reverse_kl"))
    return (torch.tensor(old) * torch.stack(per_arm)).sum(), theta


def _mp_kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in 40-digit arithmetic."""
    with mpmath.workdps(DPS):
        terms = (mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b)) for a, b in zip(p, q))
        return float(mpmath.fsum(terms))


@pytest.mark.claim("vy-k3-unbiased", way="closed form")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k3_is_unbiased_only_at_the_old_policy(seed: int) -> None:
    """E_{π_old}[π_ref/π_θ − log(π_ref/π_θ) − 1] = KL(π_θ ‖ π_ref) iff π_θ = π_old (here: equal
    at π_θ = π_old to rounding, off by ≥ 1e-3 elsewhere), KL in 40-digit arithmetic."""
    rng = np.random.default_rng(seed)
    old, pi_ref = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    beta = 0.7
    at_old, _ = _k3_expectation(np.log(old), old, pi_ref, beta)
    assert at_old.item() / beta == pytest.approx(_mp_kl(old, pi_ref), rel=1e-13, abs=1e-15)
    moved = softmax(np.log(old) + rng.normal(0.0, 0.8, 4))
    off, _ = _k3_expectation(np.log(moved), old, pi_ref, beta)
    # the exact expectation away from π_old, and its bias against KL(π_θ ‖ π_ref)
    exact = sum(o * (r / m - math.log(r / m) - 1) for o, r, m in zip(old, pi_ref, moved))
    assert off.item() / beta == pytest.approx(exact, rel=1e-12)
    assert abs(off.item() / beta - _mp_kl(moved, pi_ref)) > 1e-3


@pytest.mark.claim("vy-k3-reverse-kl-gradient", way="closed form")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k3_gradient_is_the_reverse_kl_gradient(seed: int) -> None:
    """∇_θ E_{π_old}[k3] at θ = log π_old equals ∇_θ KL(π_ref ‖ softmax θ) = π − π_ref, and not
    ∇_θ KL(softmax θ ‖ π_ref) = π·(log(π/π_ref) − KL) (softmax-logit gradients in closed form);
    the engine's expected update with tied rewards (P_G = 0) is −β times the same."""
    rng = np.random.default_rng(seed)
    old, pi_ref = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    beta = 0.7
    value, theta = _k3_expectation(np.log(old), old, pi_ref, beta)
    value.backward()
    grad = theta.grad.sum(0).numpy() / beta  # every row holds the same θ
    reverse = old - pi_ref
    direct = old * (np.log(old / pi_ref) - _mp_kl(old, pi_ref))
    np.testing.assert_allclose(grad, reverse, atol=1e-14)
    assert np.max(np.abs(grad - direct)) > 1e-2
    update = grpo_expected_update(old, pi_ref, [1.0, 1.0, 1.0, 1.0], beta, 4)
    np.testing.assert_allclose(update, -beta * reverse, atol=1e-14)


# ---------------------------------------------------------------------------- direct KL


def _tied_preference_matrix(rewards: np.ndarray) -> np.ndarray:
    """P(y ≻ y') = 1, ½, 0 for r(y) >, =, < r(y')."""
    diff = rewards[:, None] - rewards[None, :]
    return np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))


def _best_response(pref: np.ndarray, opponent: np.ndarray, pi_ref: np.ndarray, tau: float) -> np.ndarray:
    """argmax_π π·(pref @ opponent) − τ·KL(π ‖ π_ref), by BFGS over logits (no closed form used)."""

    def negative(theta: np.ndarray) -> float:
        pi = softmax(theta)
        return -(pi @ pref @ opponent - tau * np.sum(pi * (np.log(pi) - np.log(pi_ref))))

    res = optimize.minimize(negative, np.log(pi_ref), method="BFGS", options={"gtol": 1e-12, "maxiter": 2000})
    return softmax(res.x)


@pytest.mark.claim("vy-direct-kl-g2-nlhf", way="exact numerics")
@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_g2_direct_kl_is_nlhf_at_half_beta(beta: float) -> None:
    """The G = 2 direct-KL stationary policy is the symmetric Nash equilibrium of
    max_π min_π' P(π ≻ π') − τKL(π ‖ π_ref) + τKL(π' ‖ π_ref) with τ = β/2: it is its own best
    response (found by numerical optimisation), and it is not for τ = β."""
    rewards = np.array([1.0, 0.5, 0.5, 0.0, 0.25])  # two outputs tie
    pi_ref = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    pref = _tied_preference_matrix(rewards)
    res = grpo_stationary_policy(pi_ref, rewards, beta, 2, penalty="direct_kl", std="population")
    assert bool(res.converged)
    pi = res.policy
    np.testing.assert_allclose(_best_response(pref, pi, pi_ref, beta / 2.0), pi, atol=1e-7)
    assert np.max(np.abs(_best_response(pref, pi, pi_ref, beta) - pi)) > 1e-3
    # binary question: P(a ≻ π) − P(b ≻ π) = ½, a logit shift of ½/(β/2) = 1/β: logarithmic pooling
    pb = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], beta, 2, penalty="direct_kl").policy
    np.testing.assert_allclose(_best_response(_tied_preference_matrix(np.array([1.0, 0.0])), pb,
                                              np.array([0.3, 0.7]), beta / 2.0), pb, atol=1e-7)
    np.testing.assert_allclose(pb, kl_optimal_policy([0.3, 0.7], [1.0, 0.0], beta), atol=1e-14)


def _direct_kl_rate(x: float, p_ref: float, beta: float) -> float:
    """d(θ_a − θ_b)/dt of the expected direct-KL GRPO update at G = ∞, π(a) = σ(x), written out:
    F_o = π(o)·P_∞(o) − β·π(o)·(log(π(o)/π_ref(o)) − KL), P_∞ = (r − E r)/sd."""
    pi = np.array([1.0 / (1.0 + math.exp(-x)), 1.0 / (1.0 + math.exp(x))])
    q = np.array([p_ref, 1.0 - p_ref])
    pref = ref.infinite_group_preference(pi, np.array([1.0, 0.0]))
    log_ratio = np.log(pi / q)
    f = pi * pref - beta * pi * (log_ratio - pi @ log_ratio)
    return float(f[0] - f[1])


@pytest.mark.claim("vy-direct-kl-ginf-roots", way="exact numerics")
@pytest.mark.parametrize(("p_ref", "beta"), [(0.3, 2.0), (0.2, 1.0), (0.5, 3.0), (0.05, 0.8)])
def test_direct_kl_large_group_two_roots_lower_is_stable(p_ref: float, beta: float) -> None:
    """x = logit π_ref + (2/β)cosh(x/2) has two roots around x* = 2·asinh β (brentq on each side);
    the expected dynamics' rate has negative slope (stable) at the lower root and positive slope
    (unstable) at the upper one, and the solver returns the lower root."""
    lp = math.log(p_ref / (1.0 - p_ref))

    def h(x: float) -> float:
        return lp + (2.0 / beta) * math.cosh(x / 2.0) - x

    x_star = 2.0 * math.asinh(beta)
    assert h(x_star) < 0
    lo = optimize.brentq(h, lp, x_star, xtol=1e-15)
    hi = optimize.brentq(h, x_star, x_star + 4.0 * (1.0 + beta) * (5.0 + abs(lp)), xtol=1e-14)
    for x in (lo, hi):
        assert abs(_direct_kl_rate(x, p_ref, beta)) < 1e-9  # both are stationary
    d = 1e-5
    slope_lo = (_direct_kl_rate(lo + d, p_ref, beta) - _direct_kl_rate(lo - d, p_ref, beta)) / (2 * d)
    slope_hi = (_direct_kl_rate(hi + d, p_ref, beta) - _direct_kl_rate(hi - d, p_ref, beta)) / (2 * d)
    assert slope_lo < -1e-3 and slope_hi > 1e-3
    # the toolkit's expected update agrees with the written-out rate, and its solver picks lo
    pi_lo = 1.0 / (1.0 + math.exp(-lo))
    upd = grpo_expected_update([pi_lo, 1 - pi_lo], [p_ref, 1 - p_ref], [1.0, 0.0], beta, math.inf,
                               penalty="direct_kl")
    assert abs(upd[0] - upd[1]) < 1e-9
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, math.inf, penalty="direct_kl")
    assert bool(res.converged)
    assert res.policy[0] == pytest.approx(pi_lo, abs=1e-12)


@pytest.mark.claim("vy-direct-kl-ginf-roots", way="exact numerics")
@pytest.mark.parametrize(("p_ref", "beta"), [(0.5, 0.5), (0.8, 1.0), (0.3, 0.3)])
def test_direct_kl_large_group_no_root_below_threshold(p_ref: float, beta: float) -> None:
    """Below the threshold min_x h(x) = h(2·asinh β) > 0: no stationary point; the solver says so."""
    lp = math.log(p_ref / (1.0 - p_ref))
    x_star = 2.0 * math.asinh(beta)
    assert lp + (2.0 / beta) * math.cosh(x_star / 2.0) - x_star > 0
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, math.inf, penalty="direct_kl")
    assert not bool(res.converged)
