"""The engine's fast paths against independent computations.

* one binary problem on floats (gvpo_theory.fast_paths) vs the vectorised bracketed solver
  (a different algorithm on arrays) and a 50-digit brute-force root;
* the scalar closed forms of gvpo_theory.binary on Python floats vs their array versions.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory import binary
from gvpo_theory.binary_solver import solve_binary
from gvpo_theory.objective import as_objective

P_REFS = [1e-300, 1e-12, 1e-3, 0.3, 0.5, 0.9, 1 - 1e-12]
BETAS = [1e-4, 1e-2, 0.3, 1.0, 10.0, 1e4]


@pytest.mark.parametrize("g", [2, 3, 8, 64, 257])
@pytest.mark.parametrize("std", ["population", "sample"])
def test_single_binary_matches_vectorised_solver(g, std):
    obj = as_objective(g, std)
    for p in P_REFS:
        for b in BETAS:
            res = gt.grpo_stationary_policy([p, 1 - p], [1.0, 0.0], b, g, std=std)
            assert res.method == "binary-scalar"
            q_ref = np.array([[1 - p, p]])
            m, _, ok = solve_binary(q_ref, np.array([0.0, 1.0]), np.array([b]), obj)
            assert ok[0]
            assert abs(res.policy[0] - m[0, 1]) <= 1e-12, (p, b)
            assert abs(res.policy[1] - m[0, 0]) <= 1e-12, (p, b)
            assert bool(res.converged), res.message


def _mp_binary(p, b, g):
    """π(a) at population std by bisection on p·(1 − a_1/β) = p_ref at 50 digits."""
    with mpmath.workdps(50):
        p_ref, beta = mpmath.mpf(p), mpmath.mpf(b)

        def h(q):
            a1 = mpmath.fsum(
                mpmath.binomial(g - 1, k) * q**k * (1 - q) ** (g - 1 - k)
                * (mpmath.sqrt(mpmath.mpf(g - k - 1) / (k + 1)) if k + 1 < g else 0)
                for k in range(g)
            )
            return q * (1 - a1 / beta) - p_ref

        lo, hi = p_ref, mpmath.mpf(1)
        for _ in range(170):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if h(mid) < 0 else (lo, mid)
        return float(lo)


@pytest.mark.parametrize("p,b,g", [(0.3, 1.0, 8), (0.05, 0.2, 16), (0.7, 3.0, 5)])
def test_single_binary_against_mpmath(p, b, g):
    res = gt.grpo_stationary_policy(np.array([p, 1 - p]), np.array([1.0, 0.0]), b, g)
    assert abs(res.policy[0] - _mp_binary(p, b, g)) <= 1e-13
    assert abs(float(binary.stationary(p, b, g)) - _mp_binary(p, b, g)) <= 1e-13


def test_single_binary_fields_match_general_verification():
    # the float verification against the front door's array verification of the same policy
    res = gt.grpo_stationary_policy([0.3, 0.7], [0.0, 2.0], 0.5, 8)
    assert res.method == "binary-scalar"
    pref = gt.preference_model(res.policy, [0.0, 2.0], 8)
    np.testing.assert_allclose(res.preference, pref, rtol=0, atol=1e-14)
    gap = res.policy * (1 - pref / 0.5) - np.array([0.3, 0.7])
    assert abs(float(res.residual) - np.max(np.abs(gap))) <= 1e-16
    assert abs(float(res.min_denominator) - np.min(1 - pref / 0.5)) <= 1e-15
    np.testing.assert_allclose(res.level_masses, res.policy, rtol=0, atol=0)  # levels 0 < 2


def test_single_binary_falls_back_where_not_covered():
    for kwargs in ({"penalty": "direct_kl"}, {"std": "none"}, {"eps": 1e-3}):
        res = gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 8, **kwargs)
        assert res.method == "binary-bracketed"
    assert gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 1024).method == "binary-bracketed"
    assert gt.grpo_stationary_policy([0.0, 1.0], [1.0, 0.0], 1.0, 8).method == "binary-bracketed"
    # an RLOO objective is not the scalar kernel's estimator
    assert gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, gt.objective("rloo", 8)).method != (
        "binary-scalar")


def test_single_binary_many_outputs_uses_scalar_root():
    ref = np.array([0.1, 0.2, 0.3, 0.4])
    rew = np.array([1.0, 0.0, 1.0, 0.0])
    res = gt.grpo_stationary_policy(ref, rew, 0.7, 16)
    assert res.method == "binary-scalar" and bool(res.converged)
    batch = gt.grpo_stationary_policy(np.vstack([ref, ref]), rew, np.array([0.7, 0.7]), 16)
    assert batch.method == "binary-bracketed"
    np.testing.assert_allclose(res.policy, batch.policy[0], rtol=0, atol=1e-13)


def test_binary_scalar_closed_forms_match_arrays():
    for p in P_REFS[1:-1]:
        for b in BETAS:
            for gamma in (1.0, 0.4, 0.0, -0.6):
                s = binary.stationary_g2(p, b, gamma)
                a = binary.stationary_g2(np.array([p]), np.array([b]), np.array([gamma]))[0]
                assert isinstance(s, np.float64) and abs(s - a) <= 1e-16
            s = binary.stationary_ginf(p, b)
            assert isinstance(s, np.float64) and abs(s - binary.stationary_ginf(np.array([p]), b)[0]) <= 1e-16


def test_binary_stationary_scalar_matches_array_path():
    for p in (1e-9, 0.3, 0.8):
        for b in (1e-3, 0.5, 20.0):
            for g in (2, 8, 100):
                s = binary.stationary(p, b, g)
                a = binary.stationary(np.array([p]), np.array([b]), g)[0]
                assert isinstance(s, np.float64)
                assert abs(s - a) <= 1e-12, (p, b, g)
    with pytest.raises(ValueError, match="p_ref"):
        binary.stationary(1.5, 1.0, 8)
    with pytest.raises(ValueError, match="beta"):
        binary.stationary(0.3, math.inf, 8)
