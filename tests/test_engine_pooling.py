"""kl_optimal_policy / kl_optimal_log_policy / kl_divergence (docs/theory.md §1).

Checked against the direct formula π_ref·exp(r/β)/Z, the β → 0 and β → ∞ limits written
out by hand, scipy's relative entropy, and element-by-element loops for broadcasting.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import log_pooling
from scipy import stats

from gvpo_theory.pooling import kl_divergence, kl_optimal_log_policy, kl_optimal_policy
from gvpo_theory.problem import RewardDistribution


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_binary_reference_value() -> None:
    # docs/theory.md §4: logarithmic pooling at p_ref = 0.3, β = 1.
    pi = kl_optimal_policy([0.3, 0.7], [1.0, 0.0], 1.0)
    assert pi[0] == pytest.approx(0.538101526224449, abs=1e-12)
    assert pi[0] == pytest.approx(0.3 * math.e / (0.3 * math.e + 0.7), abs=1e-15)


@pytest.mark.claim("rlhf-log-pooling", way="closed form")
@given(
    weights=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=8),
    data=st.data(),
    beta=st.floats(0.05, 50.0),
)
def test_matches_direct_formula(weights: list[float], data: st.DataObject, beta: float) -> None:
    pi_ref = np.array(weights) / sum(weights)
    rewards = np.array(data.draw(st.lists(st.floats(-2.0, 2.0), min_size=pi_ref.size,
                                          max_size=pi_ref.size)))
    got = kl_optimal_policy(pi_ref, rewards, beta)
    np.testing.assert_allclose(got, log_pooling(pi_ref, rewards, beta), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(kl_optimal_log_policy(pi_ref, rewards, beta), np.log(got),
                               rtol=1e-12, atol=1e-12)
    assert got.sum() == pytest.approx(1.0, abs=1e-14)


@pytest.mark.claim("rlhf-log-pooling", way="exact numerics")
def test_is_the_maximiser_of_the_regularised_objective() -> None:
    # E_π[r] − β·KL(π‖π_ref) is strictly concave; no perturbation of π* may improve it.
    rng = np.random.default_rng(0)
    pi_ref = rng.dirichlet(np.ones(6))
    r = rng.normal(size=6)
    beta = 0.7
    best = kl_optimal_policy(pi_ref, r, beta)

    def objective(p: np.ndarray) -> float:
        return float(p @ r - beta * stats.entropy(p, pi_ref))

    for _ in range(200):
        trial = best * np.exp(0.05 * rng.normal(size=6))
        assert objective(trial / trial.sum()) < objective(best)


@pytest.mark.parametrize("beta", [1e-4, 1e-30, 1e-300, 5e-324])
def test_small_beta_limit(beta: float) -> None:
    # Mass on the best rewards *within the support*, in proportion to π_ref. Output 0 has
    # the best reward overall but π_ref = 0, so it must stay at 0.
    pi_ref = np.array([0.0, 0.1, 0.3, 0.2, 0.4])
    rewards = np.array([9.0, 1.0, 1.0, 0.5, -3.0])
    got = kl_optimal_policy(pi_ref, rewards, beta)
    expected = np.array([0.0, 0.25, 0.75, 0.0, 0.0])
    gap = 0.5 / beta  # the runner-up is exp(−0.5/β) behind
    tol = 1e-15 if gap > 50 else math.exp(-gap) * 2
    np.testing.assert_allclose(got, expected, atol=tol)
    assert got[0] == 0.0
    logp = kl_optimal_log_policy(pi_ref, rewards, beta)
    assert logp[0] == -math.inf
    assert np.all(np.isfinite(logp[1:3]))


@pytest.mark.parametrize("beta", [1e6, 1e100, 1e300, 1.7e308])
def test_large_beta_limit(beta: float) -> None:
    pi_ref = np.array([0.2, 0.0, 0.5, 0.3])
    rewards = np.array([1e3, 5.0, -1e3, 0.0])
    got = kl_optimal_policy(pi_ref, rewards, beta)
    np.testing.assert_allclose(got, pi_ref, rtol=1e-2 if beta == 1e6 else 1e-14, atol=0)
    assert got[1] == 0.0


def test_extreme_rewards_do_not_overflow() -> None:
    got = kl_optimal_policy([0.5, 0.5], [1e300, -1e300], 1e-300)
    np.testing.assert_array_equal(got, [1.0, 0.0])
    got = kl_optimal_policy([1e-300, 1 - 1e-300], [1.0, 0.0], 1e-3)
    # log-domain: 1e-300·e^1000 overwhelms 1, all mass on output 0.
    np.testing.assert_allclose(got, [1.0, 0.0], atol=1e-15)


def test_tiny_and_zero_masses() -> None:
    pi_ref = np.array([1e-300, 0.0, 0.5, 0.5 - 1e-300])
    rewards = np.array([2.0, 2.0, 0.0, 1.0])
    got = kl_optimal_policy(pi_ref, rewards, 1.0)
    w = np.array([1e-300 * math.e**2, 0.0, 0.5, 0.5 * math.e])
    np.testing.assert_allclose(got, w / w.sum(), rtol=1e-13, atol=0)
    assert got[1] == 0.0


def test_point_mass_reference_is_a_fixed_point() -> None:
    got = kl_optimal_policy([0.0, 1.0, 0.0], [5.0, -1.0, 3.0], 0.01)
    np.testing.assert_array_equal(got, [0.0, 1.0, 0.0])


def test_broadcasting_over_batch_and_beta() -> None:
    rng = np.random.default_rng(1)
    pi_ref = rng.dirichlet(np.ones(5), size=3)  # (3, 5)
    pi_ref[1, 2] = 0.0
    pi_ref[1] /= pi_ref[1].sum()
    rewards = rng.normal(size=(3, 5))
    betas = np.array([[0.01], [0.3], [2.0], [1e3]])  # (4, 1) against the batch axis (3,)
    got = kl_optimal_policy(pi_ref, rewards, betas)
    assert got.shape == (4, 3, 5)
    for i in range(4):
        for j in range(3):
            np.testing.assert_allclose(got[i, j], kl_optimal_policy(pi_ref[j], rewards[j],
                                                                    betas[i, 0]), rtol=1e-14)
    assert np.all(got[:, 1, 2] == 0.0)


def test_beta_vector_with_single_problem() -> None:
    betas = np.array([0.1, 1.0, 10.0])
    got = kl_optimal_policy([0.3, 0.7], [1.0, 0.0], betas)
    assert got.shape == (3, 2)
    expected = [log_pooling(np.array([0.3, 0.7]), np.array([1.0, 0.0]), b) for b in betas]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_shared_rewards_broadcast_over_batch() -> None:
    pi_ref = np.array([[0.3, 0.7], [0.9, 0.1]])
    got = kl_optimal_policy(pi_ref, [1.0, 0.0], 1.0)
    expected = [log_pooling(row, np.array([1.0, 0.0]), 1.0) for row in pi_ref]
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_reward_distribution_uses_expected_reward() -> None:
    # max_π E_π[r] − β·KL depends on r only through E[r | o].
    dist = RewardDistribution.bernoulli([0.9, 0.2, 0.5])
    got = kl_optimal_policy([0.2, 0.3, 0.5], dist, 0.5)
    expected = log_pooling(np.array([0.2, 0.3, 0.5]), np.array([0.9, 0.2, 0.5]), 0.5)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_invariant_to_reward_shift() -> None:
    pi_ref = np.array([0.1, 0.6, 0.3])
    r = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(kl_optimal_policy(pi_ref, r + 1e6, 2.0),
                               kl_optimal_policy(pi_ref, r, 2.0), rtol=1e-9)


@given(
    p=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6),
    data=st.data(),
)
def test_kl_divergence_matches_scipy(p: list[float], data: st.DataObject) -> None:
    p_arr = np.array(p)
    if p_arr.sum() == 0:
        p_arr[0] = 1.0
    p_arr /= p_arr.sum()
    q_arr = np.array(data.draw(st.lists(st.floats(1e-3, 1.0), min_size=p_arr.size,
                                        max_size=p_arr.size)))
    q_arr /= q_arr.sum()
    assert kl_divergence(p_arr, q_arr) == pytest.approx(stats.entropy(p_arr, q_arr), rel=1e-12,
                                                        abs=1e-15)


def test_kl_divergence_support() -> None:
    assert kl_divergence([0.5, 0.5, 0.0], [0.5, 0.0, 0.5]) == math.inf
    assert kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2.0), abs=1e-15)
    np.testing.assert_allclose(kl_divergence([[0.5, 0.5], [1.0, 0.0]], [0.5, 0.5]),
                               [0.0, math.log(2.0)], atol=1e-15)
