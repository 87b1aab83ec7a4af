"""Noisy judges at tiny reference masses, and batches that must equal separate solves.

The reference for a binary problem with a Bernoulli judge (s_a, s_b) is an independent
root solve written here: the k3 fixed point p·(1 − P(a|p)/β) = p_ref is bracketed on
[p_ref, 1] in mpmath at 40 digits, with P(a|p) from the definition — the other G − 1
members are a with probability p, each member passes with its own success probability,
and A_1 is the population-std advantage (0 when the group ties).
"""

from __future__ import annotations

import math
from functools import cache

import mpmath
import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory import binary

mpmath.mp.dps = 40


@cache
def _first_member_advantage(passes_first: int, n_pass_others: int, g: int) -> mpmath.mpf:
    """A_1 (population std) for a group with ``passes_first`` and n_pass_others of G − 1 passing."""
    k = passes_first + n_pass_others
    if k in (0, g):
        return mpmath.mpf(0)
    mean = mpmath.mpf(k) / g
    sd = mpmath.sqrt(mean * (1 - mean))
    return (passes_first - mean) / sd


def _pref_a(p, s_a, s_b, g):
    """P(a | π) for π(a) = p: E[A_1 | o_1 = a] over outputs and judge draws."""
    pass_prob = p * s_a + (1 - p) * s_b  # one other member passes
    total = mpmath.mpf(0)
    for j in range(g):  # passes among the other G − 1
        w = mpmath.binomial(g - 1, j) * pass_prob**j * (1 - pass_prob) ** (g - 1 - j)
        total += w * (s_a * _first_member_advantage(1, j, g) + (1 - s_a) * _first_member_advantage(0, j, g))
    return total


def _reference(p_ref, s_a, s_b, beta, g):
    """Every root of p·(1 − P(a|p)/β) − p_ref on [p_ref, 1], by sign changes on a dense grid
    refined with mpmath's bisection-safe solver."""
    p_ref, beta = mpmath.mpf(p_ref), mpmath.mpf(beta)

    def f(p):
        return p * (1 - _pref_a(p, s_a, s_b, g) / beta) - p_ref

    grid = [p_ref + (1 - p_ref) * mpmath.mpf(i) / 400 for i in range(401)]
    vals = [f(x) for x in grid]
    roots = []
    for lo, hi, flo, fhi in zip(grid, grid[1:], vals, vals[1:]):
        if flo == 0:
            roots.append(lo)
        elif flo * fhi < 0:
            roots.append(mpmath.findroot(f, (lo, hi), solver="anderson"))
    return [float(r) for r in roots]


CASES = [  # (p_ref, s_a, s_b, beta, G) from the reliability report, plus a spread of others
    (1e-8, 0.8, 0.7, 0.02, 2),
    (1e-6, 0.8, 0.7, 0.02, 2),
    (1e-9, 0.7, 0.3, 0.01, 8),
    (1e-12, 0.9, 0.2, 0.05, 4),
    (1e-10, 0.6, 0.4, 0.1, 2),
]


@pytest.mark.parametrize(("p_ref", "s_a", "s_b", "beta", "g"), CASES)
def test_noisy_judge_at_tiny_reference_mass_converges_to_a_true_root(p_ref, s_a, s_b, beta, g):
    res = gt.grpo_stationary_policy([p_ref, 1 - p_ref], gt.RewardDistribution.bernoulli([s_a, s_b]),
                                    beta, g)
    assert res.converged, res.message
    roots = _reference(p_ref, s_a, s_b, beta, g)
    assert roots, "the reference found no root"
    assert min(abs(res.policy[0] - r) for r in roots) < 1e-9
    assert res.policy.min() > 0  # never a zero on an output π_ref supports


def test_binary_stationary_with_a_noisy_judge_is_not_nan():
    # G = 2: P_2(a) = γ(1 − p), γ = s_a − s_b, so eq. (14) with margin γ is the answer
    got = binary.stationary(1e-8, 0.02, 2, success=(0.8, 0.7))
    assert got == pytest.approx(float(binary.stationary_g2(1e-8, 0.02, margin=0.1)), abs=1e-12)


@pytest.mark.slow
def test_noisy_judge_sweep_has_no_false_not_converged():
    """A seeded sweep: every solve converges, and every k3 answer satisfies the fixed point
    recomputed here from the returned policy (the independent check of the root)."""
    rng = np.random.default_rng(7)
    n = 0
    for _ in range(3000):
        p_ref = 10.0 ** rng.uniform(-12, -1)
        s = np.sort(rng.uniform(0.05, 0.95, 2))[::-1]
        beta = 10.0 ** rng.uniform(-2, 0.5)
        g = int(rng.choice([2, 4, 8]))
        res = gt.grpo_stationary_policy([p_ref, 1 - p_ref], gt.RewardDistribution.bernoulli(s), beta, g)
        assert res.converged, (p_ref, s, beta, g, res.message)
        p = res.policy[0]
        pa = float(_pref_a(mpmath.mpf(p), float(s[0]), float(s[1]), g))
        assert abs(p * (1 - pa / beta) - p_ref) < 1e-9 + 1e-6 * p_ref
        n += 1
    assert n == 3000


def test_a_batch_equals_separate_solves_when_merging_levels_would_cost_more():
    ra = rb = np.full(6, 1 / 6)
    wa = np.arange(6) / 10
    wb = wa + 0.05
    batch = gt.grpo_stationary_policy(np.vstack([ra, rb]), np.vstack([wa, wb]), 1.0, 16)
    assert np.all(batch.converged)
    for row, (pi_ref, r) in enumerate(((ra, wa), (rb, wb))):
        alone = gt.grpo_stationary_policy(pi_ref, r, 1.0, 16)
        np.testing.assert_allclose(batch.policy[row], alone.policy, rtol=0, atol=1e-15)


@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
def test_a_batch_with_repeated_problems_equals_separate_solves(penalty):
    rng = np.random.default_rng(3)
    # direct KL at G = inf integrates the flow on some instances (about 1-2 s each): fewer
    for _ in range(20 if penalty == "reverse_kl" else 3):
        a = rng.dirichlet(np.ones(3))
        b = rng.dirichlet(np.ones(3))
        ra, rb = rng.choice([0.0, 0.5, 1.0], 3), rng.choice([0.0, 0.5, 1.0], 3)
        batch = gt.grpo_stationary_policy(np.vstack([a, b, a]), np.vstack([ra, rb, ra]), 0.7, math.inf,
                                          penalty=penalty)
        for row, (pi_ref, r) in enumerate(((a, ra), (b, rb), (a, ra))):
            alone = gt.grpo_stationary_policy(pi_ref, r, 0.7, math.inf, penalty=penalty)
            assert bool(batch.converged[row]) == bool(alone.converged)
            np.testing.assert_allclose(batch.policy[row], alone.policy, rtol=0, atol=1e-12)
