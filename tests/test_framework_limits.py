"""Boundary limits of the framework entries (gvpo_theory.frameworks.stationary_point) against
long independent integrations of the frameworks' own expected gradients.

The reference dynamics are dz/dt = −E[∇_θ L] with E[∇_θ L] from tests/framework_reference.py
(numpy transcriptions of TRL / verl / GVPO loss code for one-token outputs, expectations by
enumerating all K^G ordered groups: no gvpo_theory), integrated by a plain RK4 written here —
in log time u = log(1 + t) where the approach is a power law, in flow time where it is
exponential (DAPO's filter, whose P(not tied) → 0 speeds the dynamics up).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from framework_reference import Setting, expected_gradient, gvpo_official, verl_grpo
from scipy.integrate import solve_ivp

from gvpo_theory.frameworks import gvpo_rollout_iterates, stationary_point
from gvpo_theory.objective import objective


def _softmax(z):
    p = np.exp(z - z.max())
    return p / p.sum()


def rk4(setting, ref, rewards, beta, g, *, end, step, log_time):
    """π after integrating dz/dt = −E[∇L] from π_ref to t = e^end − 1 (log time) or t = end."""
    def f(z, u):
        scale = math.exp(u) if log_time else 1.0
        return -scale * expected_gradient(setting, _softmax(z), ref, rewards, beta, g)

    z, u = np.log(ref), 0.0
    for _ in range(round(end / step)):
        k1 = f(z, u)
        k2 = f(z + 0.5 * step * k1, u + 0.5 * step)
        k3 = f(z + 0.5 * step * k2, u + 0.5 * step)
        k4 = f(z + step * k3, u + step)
        z, u = z + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4), u + step
    return _softmax(z)


def radau(setting, ref, rewards, beta, g, *, t_end, floor=1e-13):
    """π from scipy's Radau in flow time on the transcribed gradient (stiff KL forces), stopped
    when an output's mass falls below ``floor`` (finite-time extinction)."""
    def f(_t, z):
        return -expected_gradient(setting, _softmax(z), ref, rewards, beta, g)

    def low(_t, z):
        return float(np.min(_softmax(z))) - floor

    low.terminal = True
    sol = solve_ivp(f, (0.0, t_end), np.log(ref), method="Radau", rtol=1e-10, atol=1e-12, events=low)
    return _softmax(sol.y[:, -1]), float(sol.t[-1])


def test_gvpo_official_flow_goes_to_the_richest_best_output_not_to_pi_ref_restricted():
    # Two outputs share the best reward; the expected flow of the shipped loss
    # (β·π(o)(r(o) − E_π r)) moves each logit of that level at π(o)·c(t): the richer one wins.
    ref, rewards, beta, g = np.array([0.2, 0.5, 0.3]), np.array([1.0, 0.0, 1.0]), 0.5, 3
    sol = stationary_point(ref, rewards, beta, objective("gvpo-official", g))
    assert sol.kind == "boundary" and sol.verified and not sol.converged
    np.testing.assert_array_equal(sol.policy, [0.0, 0.0, 1.0])
    pi_a = rk4(gvpo_official(), ref, rewards, beta, g, end=20.0, step=0.05, log_time=True)
    pi_b = rk4(gvpo_official(), ref, rewards, beta, g, end=30.0, step=0.05, log_time=True)
    assert pi_b[2] > 1 - 1e-4 and pi_b[0] < 0.1 * pi_a[0]  # the other best output still falls
    assert pi_b[1] < 1e-10
    # with each rollout's inner problem solved exactly, the map's limit differs
    np.testing.assert_allclose(gvpo_rollout_iterates(ref, rewards, beta, 400)[-1], [0.4, 0.0, 0.6],
                               atol=1e-12)


def test_dapo_without_kl_goes_to_the_richest_best_output():
    ref, rewards, g = np.array([0.3, 0.2, 0.5]), np.array([1.0, 1.0, 0.0]), 3
    sol = stationary_point(ref, rewards, 0.04, objective("dapo", g))
    assert sol.kind == "boundary" and sol.verified and not sol.converged
    np.testing.assert_array_equal(sol.policy, [1.0, 0.0, 0.0])
    setting = verl_grpo(kl_loss_type=None, filter_groups=True)
    pi = rk4(setting, ref, rewards, 0.04, g, end=60.0, step=0.02, log_time=False)
    np.testing.assert_allclose(pi, sol.policy, atol=1e-6)


@pytest.mark.parametrize("beta", [0.001, 0.04])
def test_dapo_with_low_var_kl_limit_matches_the_transcribed_flow(beta):
    # DAPO's filter with verl's clamped KL: the update is 0/0 on the limit's face; the entry
    # follows the best level's own dynamics to their end (the clamp releases the poorer
    # best output too).
    ref, rewards, g = np.array([0.2, 0.3, 0.25, 0.25]), np.array([1.0, 0.0, 1.0, 0.5]), 3
    sol = stationary_point(ref, rewards, beta, objective("dapo", g, penalty="low_var_kl"))
    assert sol.kind == "boundary" and sol.verified and not sol.converged, sol.message
    pi = rk4(verl_grpo(filter_groups=True), ref, rewards, beta, g, end=80.0, step=0.04, log_time=False)
    np.testing.assert_allclose(pi, sol.policy, atol=1e-6)


def test_low_var_kl_in_the_loss_with_two_best_outputs_keeps_pi_ref_inside_the_best_level():
    # The clamp frees the losers, but inside the best level the k3 force still holds
    # π ∝ π_ref: the limit is π_ref restricted to the best level (not the richest output).
    ref, rewards, g, beta = np.array([0.2, 0.3, 0.25, 0.25]), np.array([1.0, 0.0, 1.0, 0.5]), 3, 0.04
    sol = stationary_point(ref, rewards, beta, objective("kl-loss-low-var-kl", g))
    assert sol.kind == "boundary" and sol.verified and not sol.converged
    np.testing.assert_allclose(sol.policy, [0.2 / 0.45, 0.0, 0.25 / 0.45, 0.0], atol=1e-12)
    near, _ = radau(verl_grpo(), ref, rewards, beta, g, t_end=1e5)
    far, _ = radau(verl_grpo(), ref, rewards, beta, g, t_end=1e6)
    np.testing.assert_allclose(far, sol.policy, atol=1e-5)
    # the best level's ratio approaches π_ref's as the losers' O(1/t) mass drains away
    dev_near, dev_far = abs(near[0] / near[2] - 0.8), abs(far[0] / far[2] - 0.8)
    assert dev_far < 5e-5 and dev_far < 0.2 * dev_near


@pytest.mark.parametrize(("scale", "beta"), [("sample", 0.04), ("none", 1.0)])
def test_k3_in_the_reward_limit_matches_the_transcribed_flow(scale, beta):
    ref, rewards, g = np.array([0.3, 0.7]), np.array([1.0, 0.0]), 4
    sol = stationary_point(ref, rewards, beta, objective("kl-reward-k3", g, scale=scale))
    assert sol.kind == "boundary" and sol.verified and not sol.converged, sol.message
    np.testing.assert_array_equal(sol.policy, [1.0, 0.0])
    adv = "mean_std" if scale == "sample" else "mean"
    setting = Setting("verl[kl_in_reward=k3]", adv, "verl", epsilon=1e-6, kl_in_reward="k3")
    pi, t = radau(setting, ref, rewards, beta, g, t_end=1e8)
    assert pi[1] < 1e-6, (pi, t)


def test_no_placeholder_for_any_entry_on_a_binary_question():
    # every registry entry returns a rest point or a verified limit, never the start or a
    # last flow point
    from gvpo_theory.objective import OBJECTIVES

    ref, rewards = np.array([0.3, 0.7]), np.array([1.0, 0.0])
    for name, entry in OBJECTIVES.items():
        if entry.batch_level:
            continue
        for beta in (0.001, 0.04, 1.0):
            sol = stationary_point(ref, rewards, beta, objective(name, 4))
            assert sol.verified and sol.converged == (sol.kind == "interior"), (name, beta, sol.message)
            assert not np.allclose(sol.policy, ref), (name, beta)
