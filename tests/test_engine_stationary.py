"""GRPO stationary policies (docs/theory.md §3, §4).

Every fixed point is re-checked here from the returned policy alone, with P_G recomputed
by the reference implementations (level enumeration, binomial sums, closed forms), never
with the engine's own preference model.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from reference import (
    binary_finite_g,
    binary_g2,
    binary_ginf,
    binary_preference,
    brute_force_preference,
    exact_preference,
    log_pooling,
    pairwise_preference,
)
from scipy import stats

from gvpo_theory.pooling import kl_optimal_policy
from gvpo_theory.preference import preference_model
from gvpo_theory.problem import RewardDistribution
from gvpo_theory.stationary import grpo_stationary_policy

STDS = ("population", "sample", "none")
FIXED_POINT = 1e-10


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def fixed_point_gap(pi: np.ndarray, pi_ref: np.ndarray, pref: np.ndarray, beta: float,
                    penalty: str) -> float:
    """max_o violation of π = π_ref/(1 − P/β) (reverse KL, multiplied out) or of
    π ∝ π_ref·exp(P/β) (direct KL)."""
    if penalty == "reverse_kl":
        return float(np.max(np.abs(pi * (1.0 - pref / beta) - pi_ref)))
    on = pi_ref > 0
    log_w = np.where(on, np.log(np.where(on, pi_ref, 1.0)) + pref / beta, -np.inf)
    target = np.exp(log_w - np.max(log_w))
    return float(np.max(np.abs(pi - target / target.sum())))


# ------------------------------------------------------------------ reference values


@pytest.mark.parametrize(
    ("beta", "group_size", "expected"),
    [
        (1.0, 2, 0.5477225575051661),
        (1.0, 8, 0.7077703622209384),
        (1.0, math.inf, 0.7391164991562634),
        (0.5, 2, 0.7109772228646444),
        (0.5, math.inf, 0.9),
    ],
)
def test_theory_reference_values(beta: float, group_size: float, expected: float) -> None:
    res = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], beta, group_size)
    assert bool(res.converged)
    assert res.policy[0] == pytest.approx(expected, abs=1e-12)
    assert res.policy[1] == pytest.approx(1.0 - expected, abs=1e-12)


def test_reference_value_g8_by_independent_root() -> None:
    assert binary_finite_g(0.3, 1.0, 8) == pytest.approx(0.7077703622209384, abs=1e-14)


def test_logarithmic_pooling_reference_value() -> None:
    assert kl_optimal_policy([0.3, 0.7], [1.0, 0.0], 1.0)[0] == pytest.approx(0.538101526224449,
                                                                              abs=1e-12)


# ------------------------------------------------------------------ binary closed forms

p_refs = st.floats(1e-6, 1 - 1e-6)
log_betas = st.floats(math.log(1e-3), math.log(1e3)).map(math.exp)


@pytest.mark.claim("vy-eq14-g2", way="closed form")
@given(p_ref=p_refs, beta=log_betas)
def test_binary_group_of_two_closed_form(p_ref: float, beta: float) -> None:
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, 2)
    assert bool(res.converged)
    p = res.policy[0]
    assert p == pytest.approx(binary_g2(p_ref, beta), rel=1e-10, abs=1e-13)
    # The quadratic itself, scaled by its largest term.
    assert abs(p * p + (beta - 1) * p - beta * p_ref) <= 1e-12 * max(1.0, beta)


@pytest.mark.claim("vy-eq15-ginf", way="closed form")
@given(p_ref=p_refs, beta=log_betas)
def test_binary_infinite_group_closed_form(p_ref: float, beta: float) -> None:
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, math.inf)
    assert bool(res.converged)
    p = res.policy[0]
    assert p == pytest.approx(binary_ginf(p_ref, beta), rel=1e-10, abs=1e-13)
    # Lower bound of the paper: p >= max(1/(1 + β²), p_ref) in the large-group limit.
    assert p >= max(1 / (1 + beta * beta), p_ref) * (1 - 1e-12)


@given(p_ref=p_refs, beta=log_betas)
def test_binary_sample_std_group_of_two_is_paper_eq14(p_ref: float, beta: float) -> None:
    # Sample std scales P_2 by γ = 1/sqrt(2): Vojnovic & Yun eq. (14) with β/γ.
    c = beta * math.sqrt(2.0)
    expected = 0.5 * ((1 - c) + math.sqrt((1 - c) ** 2 + 4 * c * p_ref))
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, 2, std="sample")
    assert res.policy[0] == pytest.approx(expected, rel=1e-10, abs=1e-13)


@pytest.mark.claim("vy-stationarity", way="exact numerics")
@pytest.mark.parametrize("group_size", [3, 5, 16, 64, 200])
@pytest.mark.parametrize("std", ["population", "sample"])
@pytest.mark.parametrize(("p_ref", "beta"), [(0.3, 1.0), (0.05, 0.2), (0.9, 3.0), (0.5, 0.01)])
def test_binary_finite_group_by_independent_root(
    group_size: int, std: str, p_ref: float, beta: float
) -> None:
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, group_size, std=std)
    assert bool(res.converged)
    assert res.policy[0] == pytest.approx(binary_finite_g(p_ref, beta, group_size, std), abs=1e-12)


@pytest.mark.claim("vy-g2-limits", way="exact numerics")
@given(p_ref=p_refs, g=st.one_of(st.integers(2, 64), st.just(math.inf)))
def test_binary_moves_towards_reference_as_beta_grows(p_ref: float, g: float) -> None:
    grid = np.geomspace(1e-3, 1e3, 25)
    res = grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], grid, g)
    assert np.all(res.converged)
    p = res.policy[:, 0]
    assert np.all(p >= p_ref - 1e-15)  # the better answer never loses mass
    gap = p - p_ref
    assert np.all(np.diff(gap) <= 1e-14), gap
    assert gap[-1] < 1e-2 and gap[0] > gap[-1]


def test_binary_batch_of_problems_matches_single_solves() -> None:
    p_ref = np.linspace(0.01, 0.99, 7)
    beta = np.geomspace(0.01, 100, 5)[:, None]
    pi_ref = np.stack([p_ref, 1 - p_ref], axis=-1)
    res = grpo_stationary_policy(pi_ref, [1.0, 0.0], beta, 8)
    assert res.policy.shape == (5, 7, 2)
    assert res.converged.shape == res.residual.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            assert res.policy[i, j, 0] == pytest.approx(
                binary_finite_g(p_ref[j], float(beta[i, 0]), 8), abs=1e-12)


# ------------------------------------------------------------------ general K, property based


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(2, 5))
    atoms = st.one_of(st.floats(1e-3, 1.0), st.just(0.0), st.just(1e-12))
    w = np.array(draw(st.lists(atoms, min_size=k, max_size=k)))
    if np.count_nonzero(w) == 0:
        w[0] = 1.0
    r = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=k, max_size=k)))
    return w / w.sum(), r


group_sizes = st.one_of(st.integers(2, 64), st.just(math.inf))


@pytest.mark.claim("vy-stationarity", way="exact numerics")
@given(problem=problems(), beta=log_betas, g=group_sizes, std=st.sampled_from(STDS))
def test_reverse_kl_stationary_point_properties(
    problem: tuple[np.ndarray, np.ndarray], beta: float, g: float, std: str
) -> None:
    pi_ref, r = problem
    res = grpo_stationary_policy(pi_ref, r, beta, g, std=std)
    pi = res.policy
    assert bool(res.converged), (res.residual, res.method)
    assert np.all(pi >= 0) and pi.sum() == pytest.approx(1.0, abs=1e-13)
    np.testing.assert_array_equal(pi[pi_ref == 0], 0.0)
    pref = exact_preference(pi, r, g, std)
    assert fixed_point_gap(pi, pi_ref, pref, beta, "reverse_kl") <= FIXED_POINT
    # P_G < β on the support (1 − P/β > 0 up to rounding), and E_π[P_G] = 0.
    assert np.all(pref[pi_ref > 0] < beta * (1 + 1e-12))
    assert abs(pi @ res.preference) <= 1e-12 * max(1.0, float(np.max(np.abs(res.preference))))
    np.testing.assert_allclose(res.preference, pref, rtol=1e-9, atol=1e-11)


@pytest.mark.claim("vy-direct-kl-stationarity", way="exact numerics")
@given(problem=problems(), beta=log_betas, g=st.integers(2, 64), std=st.sampled_from(STDS))
def test_direct_kl_stationary_point_properties(
    problem: tuple[np.ndarray, np.ndarray], beta: float, g: int, std: str
) -> None:
    pi_ref, r = problem
    res = grpo_stationary_policy(pi_ref, r, beta, g, std=std, penalty="direct_kl")
    pi = res.policy
    assert bool(res.converged), (res.residual, res.method)
    assert np.all(pi >= 0) and pi.sum() == pytest.approx(1.0, abs=1e-13)
    np.testing.assert_array_equal(pi[pi_ref == 0], 0.0)
    pref = exact_preference(pi, r, g, std)
    assert fixed_point_gap(pi, pi_ref, pref, beta, "direct_kl") <= FIXED_POINT


# Regressions (direct KL, small β: stationary level masses below ~e^−700), all fixed in
# 923e99f. Before: the binary bracket [−700, 700] missed x = log(q1/q0) ≈ 806 and returned
# [0.5, 0.5] unconverged; fixed_point_violation gave NaN (0·inf) for a profile off the
# support of π_ref; the natural-flow fallback took log(0) (RuntimeWarning, NaN policy);
# and scipy's binom.pmf raised OverflowError at a level mass ~1e-307.
@pytest.mark.parametrize(
    ("pi_ref", "rewards", "beta", "group_size"),
    [
        pytest.param([0.99624713, 0.00375287], [0.5, 3.0], 0.0098, 64,
                     id="binary-bracket-too-narrow"),
        pytest.param([0.0, 0.32922723, 0.3357451, 0.33502767], [3.0, 0.5, 0.0, 0.5],
                     0.0013156871678566683, 37, id="nan-residual-off-support"),
        pytest.param([0.75874087, 0.24125913, 0.0], [0.5, 1.0, 0.0], 0.0020677103815866732, 55,
                     id="natural-flow-log-zero"),
        pytest.param([0.75874087, 0.24125913, 0.0], [0.5, 1.0, 0.0], 0.01, 55,
                     id="binom-pmf-overflow"),
    ],
)
def test_direct_kl_tiny_level_masses(
    pi_ref: list[float], rewards: list[float], beta: float, group_size: int
) -> None:
    pi_ref_arr, r = np.asarray(pi_ref), np.asarray(rewards)
    res = grpo_stationary_policy(pi_ref_arr, r, beta, group_size, penalty="direct_kl")
    pi = res.policy
    assert np.all(np.isfinite(pi)) and pi.sum() == pytest.approx(1.0, abs=1e-13)
    pref = exact_preference(pi, r, group_size, "population")
    assert fixed_point_gap(pi, pi_ref_arr, pref, beta, "direct_kl") <= FIXED_POINT
    assert bool(res.converged), (res.residual, res.method)


# Regression (fixed in 923e99f): scipy.stats.binom.pmf raises OverflowError (boost
# ibeta_derivative) for success probabilities near the smallest normal double.
def test_preference_at_a_level_mass_near_the_smallest_normal() -> None:
    p = 1.2042119966650157e-307
    pa, pb = preference_model([p, 1.0 - p], [1.0, 0.0], 55)
    assert pa == pytest.approx(math.sqrt(54.0), rel=1e-12)
    assert pb == pytest.approx(-p * math.sqrt(54.0), rel=1e-9)


@pytest.mark.claim("vy-no-std-direct-kl-pooling", way="exact numerics")
@given(
    k=st.integers(2, 6),
    data=st.data(),
    beta=st.floats(math.log(1e-2), math.log(1e3)).map(math.exp),
    g=st.one_of(st.integers(2, 10_000), st.just(math.inf)),
)
def test_no_std_direct_kl_is_logarithmic_pooling(
    k: int, data: st.DataObject, beta: float, g: float
) -> None:
    w = np.array(data.draw(st.lists(st.one_of(st.floats(1e-3, 1.0), st.just(0.0)), min_size=k,
                                    max_size=k)))
    assume(w.sum() > 0)
    pi_ref = w / w.sum()
    r = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=k, max_size=k)))
    res = grpo_stationary_policy(pi_ref, r, beta, g, std="none", penalty="direct_kl")
    beta_eff = beta if math.isinf(g) else g * beta / (g - 1)
    assert bool(res.converged)
    np.testing.assert_allclose(res.policy, kl_optimal_policy(pi_ref, r, beta_eff), rtol=1e-9,
                               atol=1e-10)


def test_no_std_direct_kl_pooling_fixed_case() -> None:
    pi_ref = np.array([0.1, 0.2, 0.3, 0.4])
    r = np.array([1.0, -0.5, 0.25, 0.0])
    for g in (2, 3, 10):
        res = grpo_stationary_policy(pi_ref, r, 0.4, g, std="none", penalty="direct_kl")
        np.testing.assert_allclose(res.policy, log_pooling(pi_ref, r, g * 0.4 / (g - 1)), atol=1e-10)


@pytest.mark.claim("vy-not-log-pooling", way="exact numerics")
def test_grpo_optimum_differs_from_kl_optimum() -> None:
    res = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 8)
    assert abs(res.policy[0] - kl_optimal_policy([0.3, 0.7], [1.0, 0.0], 1.0)[0]) > 0.1


def test_single_reward_level_is_the_reference() -> None:
    pi_ref = np.array([0.2, 0.0, 0.8])
    for penalty in ("reverse_kl", "direct_kl"):
        res = grpo_stationary_policy(pi_ref, [1.0, 1.0, 1.0], 0.01, 16, penalty=penalty)
        np.testing.assert_allclose(res.policy, pi_ref, atol=1e-15)
    # Only one level reachable within the support: also π_ref.
    res = grpo_stationary_policy(pi_ref, [1.0, 5.0, 1.0], 0.01, 16)
    np.testing.assert_allclose(res.policy, pi_ref, atol=1e-15)


@pytest.mark.claim("derived-noisy-rewards", way="exact numerics")
def test_stochastic_rewards_fixed_point_by_brute_force() -> None:
    pi_ref = np.array([0.2, 0.5, 0.3])
    success = np.array([0.9, 0.3, 0.6])
    beta, g = 0.5, 4
    res = grpo_stationary_policy(pi_ref, RewardDistribution.bernoulli(success), beta, g)
    assert bool(res.converged)
    pi = res.policy
    # Brute force over (output, reward) pairs, as in test_engine_preference.
    pair_p = np.concatenate([pi * (1 - success), pi * success])
    pair_r = np.concatenate([np.zeros(3), np.ones(3)])
    pair_pref = brute_force_preference(pair_p, pair_r, g, "population")
    pref = (1 - success) * pair_pref[:3] + success * pair_pref[3:]
    assert fixed_point_gap(pi, pi_ref, pref, beta, "reverse_kl") <= FIXED_POINT


def test_batch_with_per_problem_rewards() -> None:
    pi_ref = np.array([[0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    r = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 0.0]])
    res = grpo_stationary_policy(pi_ref, r, np.array([0.5, 2.0]), 6)
    assert res.policy.shape == (2, 3)
    for i, beta in enumerate((0.5, 2.0)):
        single = grpo_stationary_policy(pi_ref[i], r[i], beta, 6)
        np.testing.assert_allclose(res.policy[i], single.policy, atol=1e-13)
        pref = exact_preference(res.policy[i], r[i], 6, "population")
        assert fixed_point_gap(res.policy[i], pi_ref[i], pref, beta, "reverse_kl") <= FIXED_POINT


# ------------------------------------------------------------------ size and extremes


def test_million_outputs_binary_group_1024() -> None:
    k = 1_000_000
    rng = np.random.default_rng(0)
    pi_ref = rng.random(k)
    pi_ref /= pi_ref.sum()
    r = (rng.random(k) < 0.2).astype(float)
    beta, g = 0.3, 1024
    res = grpo_stationary_policy(pi_ref, r, beta, g)
    assert bool(res.converged)
    p = float(res.policy[r == 1].sum())
    pa, pb = binary_preference(p, g)
    pref = np.where(r == 1, pa, pb)
    assert fixed_point_gap(res.policy, pi_ref, pref, beta, "reverse_kl") <= 1e-12
    assert p == pytest.approx(binary_finite_g(float(pi_ref[r == 1].sum()), beta, g), abs=1e-11)
    # Within a level π is π_ref rescaled.
    on = r == 1
    np.testing.assert_allclose(res.policy[on] / pi_ref[on], p / pi_ref[on].sum(), rtol=1e-12)


def binary_g2_stable(p_ref: float, beta: float) -> float:
    """Positive root of p² + (β − 1)p − β·p_ref = 0 without cancellation.

    (The textbook form in reference.binary_g2 loses all digits for β ≫ 1 and tiny p_ref:
    1 − β + sqrt(...) cancels.) For β >= 1 the root is 2β·p_ref / ((β − 1) + sqrt(...)).
    """
    disc = math.sqrt((beta - 1.0) ** 2 + 4.0 * beta * p_ref)
    if beta >= 1.0:
        return 2.0 * beta * p_ref / ((beta - 1.0) + disc)
    return ((1.0 - beta) + disc) / 2.0


def binary_preference_pair(pi_a: float, pi_b: float, group_size: float, std: str) -> np.ndarray:
    """(P_G(a), P_G(b)) for r(a) = 1, r(b) = 0 from *both* masses (docs/theory.md §4).

    Computing 1 − p from p throws away the digits of the minority mass when p ≈ 1, so
    the binomial of the number M of other a's is evaluated on its lighter side and
    G = ∞ uses the ratio π_b/π_a directly: P_∞(a) = sqrt(π_b/π_a), P_∞(b) = −sqrt(π_a/π_b).
    """
    if math.isinf(group_size):
        return np.array([math.sqrt(pi_b / pi_a), -math.sqrt(pi_a / pi_b)])
    g = int(group_size)
    m = np.arange(g)
    if pi_a <= pi_b:
        pmf = stats.binom.pmf(m, g - 1, pi_a)
    else:
        pmf = stats.binom.pmf(g - 1 - m, g - 1, pi_b)
    pa = float(pmf @ np.sqrt((g - m - 1) / (m + 1.0)))
    pb = float(-(pmf @ np.sqrt(m / (g - m + 0.0))))
    scale = math.sqrt((g - 1) / g) if std == "sample" else 1.0
    return np.array([pa, pb]) * scale


@pytest.mark.parametrize("beta", [1e-4, 1e-2, 1.0, 1e4])
@pytest.mark.parametrize("p_ref", [1e-12, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-12])
@pytest.mark.parametrize("group_size", [2, 64, 10_000, math.inf])
@pytest.mark.parametrize("std", ["population", "sample"])
def test_binary_extremes(beta: float, p_ref: float, group_size: float, std: str) -> None:
    pi_ref = np.array([p_ref, 1 - p_ref])
    res = grpo_stationary_policy(pi_ref, [1.0, 0.0], beta, group_size, std=std)
    assert bool(res.converged), (res.residual, res.min_denominator)
    assert float(res.residual) <= 1e-12
    pi = res.policy
    pref = binary_preference_pair(pi[0], pi[1], group_size, std)
    # Multiplied-out fixed point π(1 − P/β) = π_ref, scaled by its largest term π·|P|/β
    # (P is formed with relative error ~1e-16, so that term bounds what rounding allows).
    scale = max(1.0, float(np.max(pi * np.abs(pref) / beta)))
    assert fixed_point_gap(pi, pi_ref, pref, beta, "reverse_kl") <= 1e-12 * scale
    p = pi[0]
    if group_size == 2 and std == "population":
        # Relative 1e-9: the solver forms 1 − a/β with absolute rounding, which limits the
        # relative accuracy of a tiny p to ~1e-16/p·(few) (e.g. 4e-10 at p = 1e-6).
        assert p == pytest.approx(binary_g2_stable(p_ref, beta), rel=1e-9, abs=0)
    if math.isinf(group_size):
        assert p == pytest.approx(binary_ginf(p_ref, beta), rel=1e-9, abs=1e-15)


THREE_LEVEL_PI_REF = np.array([1e-9, 0.3, 0.7 - 2e-9, 1e-9])
THREE_LEVEL_REWARDS = np.array([2.0, 1.0, 0.0, 1.0])


@functools.cache
def solve_three_levels(beta: float, group_size: float, penalty: str):
    """One (slow, up to seconds) solve shared by the two tests below."""
    return grpo_stationary_policy(THREE_LEVEL_PI_REF, THREE_LEVEL_REWARDS, beta, group_size,
                                  penalty=penalty)


@pytest.mark.parametrize("beta", [1e-4, 1e4])
@pytest.mark.parametrize("group_size", [3, math.inf])
@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
def test_three_levels_extreme_beta(beta: float, group_size: float, penalty: str) -> None:
    pi_ref, r = THREE_LEVEL_PI_REF, THREE_LEVEL_REWARDS
    res = solve_three_levels(beta, group_size, penalty)
    if penalty == "direct_kl" and math.isinf(group_size) and beta < 1:
        # No interior stationary point exists: P_∞ is unbounded as a level empties, so
        # direct-KL GRPO runs to a deterministic policy; the solver must say so.
        assert not bool(res.converged)
        return
    # The policy itself (the ``converged`` flag is checked separately below).
    assert float(res.residual) <= 1e-10, (res.residual, res.method)
    pref = exact_preference(res.policy, r, group_size, "population")
    assert fixed_point_gap(res.policy, pi_ref, pref, beta, penalty) <= 1e-10
    assert np.all(pref[pi_ref > 0] < beta * (1 + 1e-12)) or penalty == "direct_kl"


# Regression (fixed in 923e99f): with β = 1e-4 the best level has 1 − P/β = π_ref/π ~ 1e-9,
# so the level-Newton log residual cannot get below ~1e-7 in double precision; the solver
# used to report converged=False although the policy satisfies the fixed point to ~1e-14.
@pytest.mark.parametrize(
    ("beta", "group_size", "penalty"),
    [
        (1e-4, 3, "reverse_kl"),
        (1e-4, math.inf, "reverse_kl"),
        (1e4, 3, "reverse_kl"),
        (1e4, math.inf, "reverse_kl"),
        (1e-4, 3, "direct_kl"),
        (1e4, math.inf, "direct_kl"),
    ],
)
def test_three_levels_extreme_beta_reports_converged(
    beta: float, group_size: float, penalty: str
) -> None:
    res = solve_three_levels(beta, group_size, penalty)
    assert bool(res.converged), (res.residual, res.log_residual, res.method)


# Regression (fixed in 923e99f): three reward levels of which π_ref reaches two went to the
# level-Newton path, which returned p = 0.4999999995 (converged=False) instead of the binary
# answer 0.500000000001. Found by the thorough hypothesis profile.
def test_two_reachable_levels_of_three_match_the_binary_solution() -> None:
    pi_ref = np.array([0.0, 1.0, 0.0, 1e-12]) / (1 + 1e-12)
    res = grpo_stationary_policy(pi_ref, [0.0, 0.0, 0.5, 1.0], 1.0, math.inf)
    assert res.policy[3] == pytest.approx(binary_ginf(pi_ref[3], 1.0), abs=1e-13)
    assert bool(res.converged), (res.residual, res.method)


def test_reverse_kl_best_level_with_tiny_reference_mass() -> None:
    pi_ref = np.array([0.6959611779609495, 0.00403192279909897, 7.037089922032135e-13,
                       0.3000068992392478])
    pi_ref = pi_ref / pi_ref.sum()
    r = np.array([1.0, 0.0, 3.0, 1.0])
    beta = 0.4209954763819427
    res = grpo_stationary_policy(pi_ref, r, beta, 2, std="sample")
    pref = pairwise_preference(res.policy, r) / math.sqrt(2.0)  # G = 2, sample std
    assert fixed_point_gap(res.policy, pi_ref, pref, beta, "reverse_kl") <= 1e-12
    assert res.policy[2] == pytest.approx(0.40462248760397021, abs=1e-13)
    assert bool(res.converged), (res.residual, res.min_denominator)


@pytest.mark.slow
@given(problem=problems(), beta=log_betas, g=group_sizes, std=st.sampled_from(STDS),
       penalty=st.sampled_from(["reverse_kl", "direct_kl"]))
def test_stationary_point_properties_thorough(
    problem: tuple[np.ndarray, np.ndarray], beta: float, g: float, std: str, penalty: str
) -> None:
    pi_ref, r = problem
    res = grpo_stationary_policy(pi_ref, r, beta, g, std=std, penalty=penalty)
    if not bool(res.converged):
        assert penalty == "direct_kl" and math.isinf(g) and std != "none"
        return
    pref = exact_preference(res.policy, r, g, std)
    assert fixed_point_gap(res.policy, pi_ref, pref, beta, penalty) <= FIXED_POINT
