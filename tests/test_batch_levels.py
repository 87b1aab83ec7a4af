"""The batched level Newton (gvpo_theory.batch_levels) against independent computations.

* its a_l(m) and Jacobian against brute-force enumeration of the other G − 1 rewards (every
  tuple, not count vectors) and central finite differences;
* its least-squares step against numpy's SVD lstsq;
* every batched answer against the per-problem solver (adaptive continuation, lstsq, flow
  fallback: a different code path) to 1e-12, and the fixed point re-checked from the returned
  policy by brute-force group enumeration;
* the front door: one vectorised call equals the problems solved one call each.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory.batch_levels import (
    _newton_step,
    advantages_and_jacobian,
    batch_covers,
    solve_level_problems,
    solve_levels_batch,
)
from gvpo_theory.level_solver import solve_levels
from gvpo_theory.objective import as_objective
from gvpo_theory.problem import reward_structure


def _brute_advantages(m, levels, g, std):
    """a_l(m) by summing over every ordered tuple of the other G − 1 rewards."""
    n_lev = len(levels)
    out = np.zeros(n_lev)
    for l in range(n_lev):
        total = 0.0
        for others in itertools.product(range(n_lev), repeat=g - 1):
            prob = math.prod(m[j] for j in others)
            group = [levels[l]] + [levels[j] for j in others]
            mean = sum(group) / g
            var = sum((x - mean) ** 2 for x in group) / (g if std == "population" else g - 1)
            total += prob * ((levels[l] - mean) / math.sqrt(var) if var > 0 else 0.0)
        out[l] = total
    return out


@pytest.mark.parametrize("std", ["population", "sample"])
def test_advantages_and_jacobian_against_enumeration_and_differences(std):
    levels = np.array([0.0, 0.3, 1.0, 2.0])
    g = 4
    obj = as_objective(g, std)
    rng = np.random.default_rng(3)
    m = rng.dirichlet(np.ones(4), size=3)
    a, jac = advantages_and_jacobian(m, levels, obj)
    h = 1e-6
    for i in range(m.shape[0]):
        assert np.max(np.abs(a[i] - _brute_advantages(m[i], levels, g, std))) <= 1e-13
        # the polynomial Σ_c Mult(c; G − 1, m)·A(l, c) extends a_l off the simplex
        for j in range(4):
            up, down = m[i].copy(), m[i].copy()
            up[j] += h
            down[j] -= h
            fd = (_brute_advantages(up, levels, g, std) - _brute_advantages(down, levels, g, std)) / (2 * h)
            assert np.max(np.abs(jac[i, :, j] - fd)) <= 1e-8


def test_least_squares_step_against_lstsq():
    rng = np.random.default_rng(4)
    for n_lev in (3, 5, 11):
        jac = rng.normal(size=(20, n_lev, n_lev - 1))
        r = rng.normal(size=(20, n_lev))
        step = _newton_step(jac, r)
        ref = np.array([np.linalg.lstsq(jac[i], -r[i], rcond=None)[0] for i in range(20)])
        assert np.max(np.abs(step - ref)) <= 1e-11
    jac = rng.normal(size=(2, 3, 2))
    jac[0, :, 1] = 2.0 * jac[0, :, 0]  # dependent columns: no step
    step = _newton_step(jac, rng.normal(size=(2, 3)))
    assert np.all(np.isnan(step[0])) and np.all(np.isfinite(step[1]))


def _problems(n, n_lev, seed, zero_rows=0):
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(n_lev), size=n)
    q[:zero_rows, 1] = 0.0  # a level some problems leave empty: the per-problem path
    q /= q.sum(axis=1, keepdims=True)
    beta = 10 ** rng.uniform(-1, 1, n)
    return q, beta


@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
@pytest.mark.parametrize("std,g,levels", [
    ("population", 8, (0.0, 0.5, 1.0)),
    ("sample", 8, (0.0, 0.5, 1.0)),
    ("population", 5, (-1.0, 0.0, 0.2, 3.0)),
    ("sample", 16, (0.0, 1.0, 2.0)),
])
def test_batch_matches_per_problem_solver(penalty, std, g, levels):
    obj = as_objective(g, std, penalty)
    lv = np.array(levels)
    structure = reward_structure(lv, lv.size)
    assert batch_covers(structure, obj)
    q, beta = _problems(40, lv.size, seed=g + lv.size, zero_rows=2)
    w, _, ok = solve_levels_batch(q, structure, beta, obj)
    for i in range(q.shape[0]):
        w_ref, _, ok_ref = solve_levels(q[i], structure, float(beta[i]), obj)
        assert bool(ok[i]) == bool(ok_ref), i
        assert np.max(np.abs(w[i] - w_ref)) <= 1e-12, (i, q[i], beta[i])


def test_batch_fixed_point_against_group_enumeration():
    """The fixed point w_l·(1 − a_l(w)/β) = Q_l, with a_l summed over every group tuple."""
    lv = np.array([0.0, 0.5, 1.0])
    obj = as_objective(4, "population")
    q, beta = _problems(12, 3, seed=9)
    w, _, ok = solve_levels_batch(q, reward_structure(lv, 3), beta, obj)
    assert np.all(ok)
    for i in range(q.shape[0]):
        a = _brute_advantages(w[i], lv, 4, "population")
        assert np.max(np.abs(w[i] * (1.0 - a / beta[i]) - q[i])) <= 1e-14


def test_front_door_batch_equals_single_calls():
    rng = np.random.default_rng(5)
    n = 30
    ref = rng.dirichlet(np.ones(5), size=n)  # K = 5 outputs on 3 levels
    rewards = np.array([0.0, 1.0, 0.5, 1.0, 0.0])
    beta = 10 ** rng.uniform(-1, 1, n)
    res = gt.grpo_stationary_policy(ref, rewards, beta, 8)
    assert res.method == "level-newton (batched)"
    assert np.all(res.converged)
    for i in range(n):
        one = gt.grpo_stationary_policy(ref[i], rewards, beta[i], 8)
        assert one.method == "level-newton"
        assert np.max(np.abs(res.policy[i] - one.policy)) <= 1e-12


def test_per_problem_rewards_collapse_onto_the_batch():
    rng = np.random.default_rng(6)
    n = 20
    ref = rng.dirichlet(np.ones(4), size=n)
    rewards = rng.choice([0.0, 0.25, 1.0], size=(n, 4))
    rewards[:, :3] = [0.0, 0.25, 1.0]  # every problem uses all three levels
    beta = 10 ** rng.uniform(-0.5, 1, n)
    res = gt.grpo_stationary_policy(ref, rewards, beta, 6)
    assert "batched" in res.method
    for i in range(n):
        one = gt.grpo_stationary_policy(ref[i], rewards[i], beta[i], 6)
        assert np.max(np.abs(res.policy[i] - one.policy)) <= 1e-12


def test_dispatch():
    lv = np.array([0.0, 0.5, 1.0])
    structure = reward_structure(lv, 3)
    q, beta = _problems(3, 3, seed=1)
    assert solve_level_problems(q, structure, beta, as_objective(8, "none"))[3] == "affine-root"
    assert solve_level_problems(q, structure, beta, as_objective(math.inf))[3] == "affine-root"
    assert solve_level_problems(q[:1], structure, beta[:1], as_objective(8))[3] == "level-newton"
    assert solve_level_problems(q, structure, beta, as_objective(8))[3] == "level-newton (batched)"
    # noisy rewards and large enumerations are not batched
    assert not batch_covers(reward_structure(gt.RewardDistribution(lv, np.array(
        [[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]])), 2), as_objective(8))
    assert not batch_covers(reward_structure(np.arange(8.0), 8), as_objective(64))
