"""Answers that used to be lost to scale: tiny reward gaps, tiny reference masses (G = ∞).

Each expected value comes from an independent computation: mpmath at 800 digits for the
closed-form P_∞, the scale invariance of std-normalised advantages, and the direct-KL fixed
point π ∝ π_ref·exp(P_∞/β) re-checked in mpmath.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest

import gvpo_theory as gt


def _p_inf_mp(pi: list, r: list) -> list:
    """P_∞(o | π) = (r(o) − E_π r)/sd_π(r) in 800-digit arithmetic (masses of 1e-300
    times reward gaps of 1e-200 must survive the mean)."""
    with mpmath.workdps(800):
        pi_m, r_m = [mpmath.mpf(x) for x in pi], [mpmath.mpf(x) for x in r]
        total = sum(pi_m)  # [1e-300, 1] sums to 1 in double, not here
        pi_m = [p / total for p in pi_m]
        mu = sum(p * x for p, x in zip(pi_m, r_m))
        sd = mpmath.sqrt(sum(p * (x - mu) ** 2 for p, x in zip(pi_m, r_m)))
        return [(x - mu) / sd for x in r_m]


@pytest.mark.parametrize(("pi", "r"), [
    ([1e-300, 1.0], [1.0, 1.0 + 2.0**-40]),
    ([1e-300, 1.0], [0.0, 1e-200]),
    ([1e-150, 0.5, 0.5], [3.0, 1.0, 1.0 + 1e-9]),
    ([0.3, 0.7], [0.0, 1e-300]),
    ([0.3, 0.7], [-1e308, 1e308]),
])
def test_large_group_preference_does_not_underflow(pi, r) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = gt.preference_model(pi, r, math.inf)
    want = _p_inf_mp(pi, r)
    for g, w in zip(got, want):
        assert math.isfinite(g)
        assert abs(g - float(w)) <= 1e-11 * abs(float(w))


@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
@pytest.mark.parametrize("gap", [1e-10, 1e-200])
def test_std_normalised_answer_is_invariant_to_the_reward_scale(penalty, gap) -> None:
    """With a std and eps = 0 the advantage ignores the reward scale: r and gap·r agree.
    (β = 4: direct KL at G = ∞ has an interior stationary point from π_ref there.)"""
    unit = gt.grpo_stationary_policy([0.3, 0.7], [0.0, 1.0], 4.0, math.inf, penalty=penalty)
    tiny = gt.grpo_stationary_policy([0.3, 0.7], [0.0, gap], 4.0, math.inf, penalty=penalty)
    assert bool(unit.converged) and bool(tiny.converged)
    np.testing.assert_allclose(tiny.policy, unit.policy, rtol=1e-12, atol=0)


def test_direct_kl_stationary_point_with_a_reference_mass_of_1e_300() -> None:
    """An output with π_ref = 1e-300 whose stationary mass stays near that scale is an
    interior point, not a vanished one: the policy must satisfy π ∝ π_ref·exp(P_∞/β)."""
    pi_ref, r, beta = [1e-300, 0.5, 0.5 - 1e-300], [1.0, 0.0, 0.5], 1.0
    res = gt.grpo_stationary_policy(pi_ref, r, beta, math.inf, penalty="direct_kl")
    assert bool(res.converged), res.message
    pi = [mpmath.mpf(x) for x in res.policy]
    p = _p_inf_mp(res.policy.tolist(), r)
    w = [mpmath.mpf(q) * mpmath.exp(x / beta) for q, x in zip(pi_ref, p)]
    z = sum(w)
    for got, target in zip(pi, w):
        assert abs(got - target / z) <= 1e-13  # the engine's contract is absolute
    # and the tiny output to a relative 1e-8 (P_∞ is steep there: sd_π ≈ 1.5e-3)
    assert abs(pi[0] / (w[0] / z) - 1) <= 1e-8


def _ginf_worse_mass_mp(q0: float, beta: float) -> mpmath.mpf:
    """The worse output's mass at the G = ∞ k3 fixed point, q0 + √(q0·q1)/β = Q0, by an
    800-digit root solve in s = √q0 (q1 = 1 − s²)."""
    with mpmath.workdps(800):
        big_q = mpmath.mpf(q0)
        b = mpmath.mpf(beta)
        s = mpmath.findroot(lambda s: s * s + s * mpmath.sqrt(1 - s * s) / b - big_q, b * big_q)
        return s * s


@pytest.mark.parametrize(("q0", "beta"), [(1e-150, 1.0), (1e-120, 0.01), (1e-300, 1.0), (1e-300, 100.0)])
def test_large_group_k3_with_a_tiny_reference_mass(q0: float, beta: float) -> None:
    """π_ref = (Q0, 1 − Q0) with r = (0, 1) at G = ∞: the worse output keeps ~β²·Q0²,
    which is below the double range for Q0 = 1e-300; the policy must round to it."""
    res = gt.grpo_stationary_policy([q0, 1.0 - q0], [0.0, 1.0], beta, math.inf)
    assert bool(res.converged), res.message
    want = _ginf_worse_mass_mp(q0, beta)
    if want < mpmath.mpf("1e-305"):  # below the normal double range: rounds to (almost) 0
        assert res.policy[0] < 1e-305
    else:
        assert abs(res.policy[0] / want - 1) < 1e-12
    assert res.policy[1] == 1.0
