"""GRPO's reward preference model P_G(o|π) (docs/theory.md §2, §4b).

References: brute force over all K^(G−1) output tuples with numpy's std (ddof 0/1),
an independent enumeration of reward-level counts, the binary binomial formula, the
closed forms (G = 2 pairwise, G = ∞, no std) and simulated groups.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from reference import (
    binary_preference,
    brute_force_preference,
    exact_preference,
    infinite_group_preference,
    mc_preference,
    pairwise_preference,
)

from gvpo_theory.preference import (
    MAX_TERMS,
    level_advantages,
    n_terms,
    preference_model,
    preference_model_mc,
)
from gvpo_theory.problem import RewardDistribution

STDS = ("population", "sample", "none")
REWARD_VALUES = (-1.0, 0.0, 0.5, 2.0)


@st.composite
def policies(draw: st.DrawFn, k: int, allow_zero: bool = True) -> np.ndarray:
    """Probability vectors with occasional exact zeros and tiny masses."""
    atoms = [st.floats(1e-3, 1.0)]
    if allow_zero:
        atoms += [st.just(0.0), st.just(1e-12)]
    w = np.array(draw(st.lists(st.one_of(*atoms), min_size=k, max_size=k)))
    if w.sum() == 0.0:
        w[draw(st.integers(0, k - 1))] = 1.0
    return w / w.sum()


@st.composite
def tied_rewards(draw: st.DrawFn, k: int) -> np.ndarray:
    return np.array(draw(st.lists(st.sampled_from(REWARD_VALUES), min_size=k, max_size=k)))


@st.composite
def small_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    k = draw(st.integers(2, 4))
    g = draw(st.integers(2, {2: 7, 3: 5, 4: 4}[k]))
    return draw(policies(k)), draw(tied_rewards(k)), g


@pytest.mark.claim("vy-preference-model", way="exact numerics")
@pytest.mark.claim("vy-advantage", way="exact numerics")
@given(problem=small_problems(), std=st.sampled_from(STDS))
def test_matches_brute_force_over_output_tuples(
    problem: tuple[np.ndarray, np.ndarray, int], std: str
) -> None:
    pi, r, g = problem
    got = preference_model(pi, r, g, std)
    np.testing.assert_allclose(got, brute_force_preference(pi, r, g, std), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("std", STDS)
def test_brute_force_fixed_case(std: str) -> None:
    # Three reward levels with a tie between outputs 1 and 3, a zero-mass output.
    pi = np.array([0.1, 0.25, 0.0, 0.4, 0.25])
    r = np.array([0.0, 1.0, 3.0, 1.0, -2.0])
    got = preference_model(pi, r, 5, std)
    np.testing.assert_allclose(got, brute_force_preference(pi, r, 5, std), rtol=1e-12, atol=1e-13)
    assert got[1] == got[3]


@pytest.mark.claim("vy-preference-model", way="exact numerics")
@given(
    k=st.integers(2, 6),
    g=st.integers(2, 64),
    std=st.sampled_from(STDS),
    data=st.data(),
)
def test_matches_level_enumeration(k: int, g: int, std: str, data: st.DataObject) -> None:
    pi = data.draw(policies(k))
    r = data.draw(tied_rewards(k))
    np.testing.assert_allclose(preference_model(pi, r, g, std), exact_preference(pi, r, g, std),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.claim("vy-preference-model", way="exact numerics")
@pytest.mark.parametrize(
    ("k", "g", "std", "seed"),
    [(6, 12, "population", 1), (5, 20, "sample", 2), (8, 9, "population", 3), (4, 40, "none", 4)],
)
def test_matches_simulated_groups(k: int, g: int, std: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(k))
    r = rng.integers(0, 4, size=k).astype(float)
    mean, se = mc_preference(pi, r, g, std, n_groups=40_000, seed=seed)
    got = preference_model(pi, r, g, std)
    # 5 standard errors per output (k ≤ 8 comparisons): false alarms ~ 1e-5.
    assert np.all(np.abs(got - mean) <= 5 * se + 1e-12), (got, mean, se)


@pytest.mark.parametrize("std", ["population", "sample"])
def test_engine_monte_carlo_is_honest(std: str) -> None:
    rng = np.random.default_rng(7)
    pi = rng.dirichlet(np.ones(5))
    r = np.array([0.0, 1.0, 1.0, 2.5, 4.0])
    est = preference_model_mc(pi, r, 16, std, n_groups=50_000, seed=3)
    exact = preference_model(pi, r, 16, std)
    assert est.value.shape == est.stderr.shape == (5,)
    assert np.all(est.stderr > 0)
    assert np.all(np.abs(est.value - exact) <= 5 * est.stderr)
    # Its standard error is that of a mean of 50 000 draws of A_1: check the scale.
    _, se_ref = mc_preference(pi, r, 16, std, n_groups=50_000, seed=4)
    np.testing.assert_allclose(est.stderr, se_ref, rtol=0.1)


@pytest.mark.claim("vy-g2-pairwise", way="exact numerics")
@given(pi=policies(5), r=tied_rewards(5))
def test_group_of_two_is_pairwise_comparison(pi: np.ndarray, r: np.ndarray) -> None:
    pair = pairwise_preference(pi, r)
    np.testing.assert_allclose(preference_model(pi, r, 2), pair, atol=1e-14)
    np.testing.assert_allclose(preference_model(pi, r, 2, "sample"), pair / math.sqrt(2), atol=1e-14)


@given(pi=policies(5), r=tied_rewards(5), g=st.one_of(st.integers(2, 64), st.sampled_from([500, 4096])))
def test_sample_std_is_population_times_factor(pi: np.ndarray, r: np.ndarray, g: int) -> None:
    if g > 64:
        r = (r > 0).astype(float)  # two levels: G terms, cheap for large G
    pop = preference_model(pi, r, g, "population")
    np.testing.assert_allclose(preference_model(pi, r, g, "sample"), pop * math.sqrt((g - 1) / g),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.claim("vy-no-std-preference", way="closed form")
@given(pi=policies(6), r=st.lists(st.floats(-5.0, 5.0), min_size=6, max_size=6),
       g=st.one_of(st.integers(2, 10_000), st.just(math.inf)))
def test_no_std_closed_form(pi: np.ndarray, r: list[float], g: float) -> None:
    rew = np.array(r)
    factor = 1.0 if math.isinf(g) else (g - 1) / g
    np.testing.assert_allclose(preference_model(pi, rew, g, "none"), factor * (rew - pi @ rew),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.claim("vy-large-group-preference", way="closed form")
@given(pi=policies(6), r=tied_rewards(6), std=st.sampled_from(["population", "sample"]))
def test_infinite_group_formula(pi: np.ndarray, r: np.ndarray, std: str) -> None:
    np.testing.assert_allclose(preference_model(pi, r, math.inf, std),
                               infinite_group_preference(pi, r), rtol=1e-12, atol=1e-12)


@pytest.mark.claim("vy-preference-model", way="exact numerics")
@given(pi=policies(5), r=tied_rewards(5), std=st.sampled_from(STDS),
       g=st.one_of(st.integers(2, 300), st.just(math.inf)))
def test_policy_average_is_zero(pi: np.ndarray, r: np.ndarray, std: str, g: float) -> None:
    # beyond MAX_TERMS count vectors the engine refuses (tested elsewhere) and points to MC
    assume(math.isinf(g) or std == "none" or n_terms(int(g), np.unique(r).size) <= MAX_TERMS)
    pref = preference_model(pi, r, g, std)
    scale = max(1.0, float(np.max(np.abs(pref))))
    assert abs(pi @ pref) <= 1e-12 * scale
    # Constant on each reward level.
    for value in np.unique(r):
        on = r == value
        np.testing.assert_allclose(pref[on], pref[on][0], rtol=0, atol=1e-15)


@given(m=policies(4), g=st.integers(2, 40), std=st.sampled_from(STDS))
def test_level_advantages_identity(m: np.ndarray, g: int, std: str) -> None:
    levels = np.array([-1.0, 0.0, 0.5, 2.0])
    a = level_advantages(m, levels, g, std)
    assert abs(m @ a) <= 1e-12 * max(1.0, float(np.max(np.abs(a))))


@pytest.mark.parametrize("p", [1e-9, 0.01, 0.3, 0.5, 0.97, 1 - 1e-9])
@pytest.mark.parametrize("g", [2, 3, 8, 64, 1000, 10_000])
@pytest.mark.parametrize("std", ["population", "sample"])
def test_binary_binomial_formula(p: float, g: int, std: str) -> None:
    pa, pb = binary_preference(p, g, std)
    got = preference_model([p, 1 - p], [1.0, 0.0], g, std)
    np.testing.assert_allclose(got, [pa, pb], rtol=1e-10, atol=1e-14)


@pytest.mark.claim("vy-large-group-preference", way="exact numerics")
def test_finite_group_converges_like_one_over_g() -> None:
    pi = np.array([0.2, 0.5, 0.3])
    r = np.array([0.0, 1.0, 3.0])
    limit = infinite_group_preference(pi, r)
    gaps = {g: float(np.max(np.abs(preference_model(pi, r, g) - limit))) for g in (50, 100, 200, 400)}
    for g in (100, 200, 400):
        ratio = gaps[g // 2] / gaps[g]
        assert 1.8 < ratio < 2.2, gaps  # halving the gap when G doubles: O(1/G)
    assert gaps[400] * 400 == pytest.approx(gaps[200] * 200, rel=0.05)


def test_binary_converges_like_one_over_g() -> None:
    limit = infinite_group_preference(np.array([0.3, 0.7]), np.array([1.0, 0.0]))
    scaled = [g * abs(preference_model([0.3, 0.7], [1.0, 0.0], g)[0] - limit[0])
              for g in (500, 1000, 2000, 4000)]
    np.testing.assert_allclose(scaled, scaled[-1], rtol=0.03)


@pytest.mark.claim("vy-advantage", way="exact numerics")
def test_ties_give_zero_advantage() -> None:
    # Single rewarded level in the support: every group ties, P_G = 0 (0/0 := 0).
    pi = np.array([0.5, 0.5, 0.0])
    r = np.array([1.0, 1.0, 5.0])
    for g in (2, 7, math.inf):
        for std in ("population", "sample"):
            got = preference_model(pi, r, g, std)
            np.testing.assert_array_equal(got[:2], 0.0)
    # The zero-mass output still has a preference: groups where it is the only distinct one.
    assert preference_model(pi, r, 2)[2] == pytest.approx(1.0, abs=1e-15)


def test_eps_in_denominator() -> None:
    # G = 2, population std: A_1 = (Δ/2)/(|Δ|/2 + eps).
    pi = np.array([0.4, 0.6])
    r = np.array([1.0, 0.0])
    eps = 0.25
    got = preference_model(pi, r, 2, "population", eps)
    a = 0.5 / (0.5 + eps)
    np.testing.assert_allclose(got, [0.6 * a, -0.4 * a], atol=1e-15)


def test_batch_and_per_problem_rewards() -> None:
    rng = np.random.default_rng(5)
    pi = rng.dirichlet(np.ones(4), size=(2, 3))
    r_shared = np.array([0.0, 1.0, 1.0, 2.0])
    got = preference_model(pi, r_shared, 6, "sample")
    assert got.shape == (2, 3, 4)
    r_each = rng.integers(0, 3, size=(2, 3, 4)).astype(float)
    got_each = preference_model(pi, r_each, 6, "sample")
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(got[i, j], exact_preference(pi[i, j], r_shared, 6, "sample"),
                                       rtol=1e-11, atol=1e-13)
            np.testing.assert_allclose(got_each[i, j],
                                       exact_preference(pi[i, j], r_each[i, j], 6, "sample"),
                                       rtol=1e-11, atol=1e-13)


def test_deterministic_reward_distribution_equals_plain_rewards() -> None:
    pi = np.array([0.2, 0.3, 0.1, 0.4])
    r = np.array([2.0, 0.0, 2.0, -1.0])
    for g in (2, 5, math.inf):
        np.testing.assert_allclose(preference_model(pi, RewardDistribution.deterministic(r), g),
                                   preference_model(pi, r, g), rtol=1e-13, atol=1e-15)


def test_stochastic_rewards_by_brute_force() -> None:
    # Bernoulli verifier: each member's reward is drawn given its output, independently.
    # P_G(o) = Σ_l D_o(l)·a_l(m) with m the mixture; brute force over (outputs, rewards).
    pi = np.array([0.5, 0.3, 0.2])
    success = np.array([0.9, 0.4, 0.0])
    g = 4
    dist = RewardDistribution.bernoulli(success)
    got = preference_model(pi, dist, g)
    # The other members are iid over 2K (output, reward) pairs; the first member's reward
    # is random too.
    pair_p = np.concatenate([pi * (1 - success), pi * success])
    pair_r = np.concatenate([np.zeros(3), np.ones(3)])
    pair_pref = brute_force_preference(pair_p, pair_r, g, "population")
    expected = (1 - success) * pair_pref[:3] + success * pair_pref[3:]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
