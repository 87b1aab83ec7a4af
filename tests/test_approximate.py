"""Monte Carlo stationary policy (gvpo_theory.approximate) against the exact level solver."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory.approximate import approximate_stationary_policy

LEVELS4 = [0.0, 0.13, 0.71, 1.0]
LEVELS3 = [0.0, 0.37, 1.0]


def _problem(levels: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs covering every level (two levels repeated), a random π_ref."""
    r = np.array([*levels, levels[0], levels[-1]])
    return np.random.default_rng(seed).dirichlet(np.ones(r.size)), r


@pytest.mark.parametrize(("levels", "g", "std", "penalty", "beta"), [
    (LEVELS4, 8, None, None, 0.5),
    (LEVELS4, 8, "sample", "direct_kl", 1.0),
    (LEVELS3, 16, None, None, 0.5),
    (LEVELS3, 16, "sample", None, 0.3),
    (LEVELS3, 16, None, "direct_kl", 2.0),
])
def test_within_four_standard_errors_of_exact(levels, g, std, penalty, beta):
    pi_ref, r = _problem(levels, 1)
    exact = gt.grpo_stationary_policy(pi_ref, r, beta, g, std, penalty)
    assert exact.converged
    est = approximate_stationary_policy(pi_ref, r, beta, g, std, penalty, n_groups=40_000, seed=5)
    assert np.all(est.policy_stderr > 0)
    assert np.all(np.abs(est.policy - exact.policy) <= 4 * est.policy_stderr + 1e-12)
    assert est.policy.sum() == pytest.approx(1.0, abs=1e-12)
    # P_G at the solution against the exact a_l at the exact level masses
    pref_exact = gt.preference_model(exact.policy, r, g, std)
    assert np.all(np.abs(est.preference - pref_exact) <= 4 * est.preference_stderr + 1e-3)
    assert "Monte Carlo approximation" in est.message


def test_standard_error_shrinks_like_root_n():
    pi_ref, r = _problem(LEVELS4, 2)
    small = approximate_stationary_policy(pi_ref, r, 0.5, 8, n_groups=10_000, seed=1)
    large = approximate_stationary_policy(pi_ref, r, 0.5, 8, n_groups=160_000, seed=1)
    ratio = small.policy_stderr / large.policy_stderr
    assert np.all(np.abs(ratio - 4.0) < 0.6), ratio  # sqrt(160_000 / 10_000) = 4


def test_beyond_enumeration_cap():
    levels = np.array([0.0, 0.137, 0.291, 0.4433, 0.58, 0.7191, 0.86, 1.0])
    pi_ref = np.full(levels.size, 1 / levels.size)
    with pytest.raises(ValueError, match="approximate_stationary_policy"):
        gt.grpo_stationary_policy(pi_ref, levels, 0.5, 64)
    est = gt.approximate_stationary_policy(pi_ref, levels, 0.5, 64, n_groups=50_000)
    assert np.all(np.isfinite(est.policy)) and np.all(np.isfinite(est.policy_stderr))
    assert np.all(est.policy_stderr > 0) and math.isfinite(est.residual_stderr)
    assert est.policy.sum() == pytest.approx(1.0, abs=1e-12)
    assert "holds to" in est.message and est.n_groups == 50_000
    # GRPO moves mass towards the best answer: the order of the rewards
    assert np.all(np.diff(est.policy) > 0)


def test_one_reachable_level_is_exact():
    est = approximate_stationary_policy([0.5, 0.5, 0.0], [1.0, 1.0, 0.0], 0.5, 8, n_groups=10)
    assert np.array_equal(est.policy, [0.5, 0.5, 0.0]) and np.all(est.policy_stderr == 0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"pi_ref": [0.5, 0.6]}, "pi_ref"),
    ({"pi_ref": [[0.5, 0.5]] * 2}, "pi_ref must be 1-D"),
    ({"beta": 0.0}, "beta"),
    ({"beta": [0.5, 0.5]}, "beta must be one number"),
    ({"group_size": 1}, "group_size"),
    ({"group_size": math.inf}, "group_size must be finite"),
    ({"n_groups": 1}, "n_groups"),
    ({"seed": -1}, "seed"),
    ({"n_rounds": 0}, "n_rounds"),
    ({"tol": 0.0}, "tol"),
    ({"penalty": "nope"}, "penalty"),
    ({"rewards": gt.RewardDistribution([0.0, 1.0], [[1.0, 0.0], [0.5, 0.5]])}, "deterministic"),
])
def test_bad_input_named(kwargs, match):
    args = {"pi_ref": [0.5, 0.5], "rewards": [0.0, 1.0], "beta": 0.5, "group_size": 4,
            "n_groups": 100} | kwargs
    with pytest.raises(ValueError, match=match):
        approximate_stationary_policy(**args)
