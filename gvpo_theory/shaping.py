"""KL in the reward (verl ``use_kl_in_reward``, classical RLHF shaping) for one-token outputs.

Before the advantage every sample's reward becomes r'(o) = r(o) − β·D(o), with D the KL
estimator (:mod:`gvpo_theory.estimators`) evaluated at π_old (data: not differentiated).
At θ = θ_old the expected ascent direction is F_o = π(o)·P_G(o | π; r'_π): GRPO's
preference model of the *shaped* rewards, which themselves depend on π.

Stationary condition (docs/theory.md, "KL in the reward"). A group whose shaped rewards
all tie has A = 0 under every normalisation (mean or leave-one-out baseline, with or
without a std, with eps anywhere); and where r' is not constant on the support of π the
best output has P_G > 0. So with full support

    π is stationary  ⇔  r'(o) = r(o) − β·D(o) is the same for every output,

whatever the normalisation. For **k1** (D = log(π/π_ref)) this is π ∝ π_ref·exp(r/β) = π*
exactly. For **k3** (D = h(u) = u − log u − 1, u = π_ref/π) it is h(u_o) = (r(o) − c)/β
for one constant c ≤ min r, solved per output by Lambert's W, u = −W_k(−e^{−1−y}) (k = 0:
u ≤ 1, π ≥ π_ref; k = −1: u ≥ 1), with c fixed by Σπ = 1: not π*.

With a mean baseline and no std the dynamics are a Fisher–Rao (replicator) gradient flow,
dπ_o/dt = f·π_o·(∂V/∂π_o − E_π ∂V/∂π), of

    k1:  V(π) = E_π r − β·KL(π ‖ π_ref)                          (concave: π* is global)
    k3:  V(π) = E_π r − β·KL(π ‖ π_ref) + β·KL(π_ref ‖ π)        (∂V/∂π_o = r'(o) + const)

so k3-shaping *rewards* the reverse KL: V → +∞ wherever an output with π_ref > 0 loses
its mass. Its interior stationary points are critical points of V; the one reached from
π_ref is a local maximum when it exists (large β), and for small β the flow runs to the
boundary. verl's ``low_var_kl`` clips the value at 10: an output with h(u) > 10 has
r' = r − 10β, independent of π, and can be stationary only by a coincidence.

Deterministic rewards; the policy is π_ref reweighted per reward level along the flow from
π_ref (outputs of one level keep equal π/π_ref), so the solve is in level masses.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq
from scipy.special import lambertw

from . import estimators
from .rate_solver import RateSolution, solve_rates


def shaped_rewards(rewards: NDArray[np.float64], pi: NDArray[np.float64], pi_ref: NDArray[np.float64],
                   beta: float, estimator: str) -> NDArray[np.float64]:
    """r'(o) = r(o) − β·D(o) at π_old = π (−inf·0 guarded: outputs with π = 0 keep r)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(pi_ref) - np.log(pi)
        d = estimators.value(estimator, x)
    return np.where(pi > 0, rewards - beta * d, rewards)


def potential(pi: NDArray[np.float64], pi_ref: NDArray[np.float64], rewards: NDArray[np.float64],
              beta: float, estimator: str) -> float:
    """V(π) of the module docstring (k1, k3): the potential whose replicator gradient flow is
    the mean-baseline dynamics with the estimator in the reward."""
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_fwd = float(np.sum(np.where(pi > 0, pi * (np.log(pi) - np.log(pi_ref)), 0.0)))
        kl_rev = float(np.sum(np.where(pi_ref > 0, pi_ref * (np.log(pi_ref) - np.log(pi)), 0.0)))
    value = float(pi @ rewards) - beta * kl_fwd
    if estimator == "k1":
        return value
    if estimator == "k3":
        return value + beta * kl_rev
    raise ValueError(f"V is defined for 'k1' and 'k3'; got {estimator!r}")


def k3_inverse(y: NDArray[np.float64], upper: NDArray[np.bool_]) -> NDArray[np.float64]:
    """u with u − log u − 1 = y >= 0: the root >= 1 where ``upper``, the root <= 1 elsewhere."""
    y = np.asarray(y, dtype=np.float64)
    arg = np.maximum(-np.exp(-1.0 - y), -math.exp(-1.0))  # the branch point −1/e at y = 0
    with np.errstate(invalid="ignore"):
        lo = -lambertw(arg, 0).real
        hi = -lambertw(arg, -1).real
    return np.where(y <= 0.0, 1.0, np.where(upper, hi, lo))


def _level_rates(levels: NDArray, q_ref: NDArray, beta: float, estimator: str):
    """Profile-space rate of the mean-baseline flow: ρ_s = r'_s − E_w r' (log-mass units)."""
    q_log = np.log(q_ref)

    def rate(log_w: NDArray[np.float64]) -> NDArray[np.float64]:
        w = np.exp(log_w)
        with np.errstate(invalid="ignore", over="ignore"):
            r_shaped = levels - beta * estimators.value(estimator, q_log - log_w)
            return r_shaped - w @ r_shaped

    return rate


def stationary_levels(levels: NDArray[np.float64], q_ref: NDArray[np.float64], beta: float,
                      estimator: str) -> RateSolution:
    """Level masses where the flow from π_ref settles with ``estimator`` in the reward.

    k1: the closed form w ∝ Q·exp(v/β). k3 / low_var_kl: the mean-baseline flow from Q (the
    stationary set is the same for every normalisation), then the exact condition
    h(Q_s/w_s) = (v_s − c)/β solved for c by bracketing, each level on the branch (u ≤ 1 or
    u >= 1) where the flow left it. A level mass below 1e-300 along the flow: boundary.
    """
    if estimator == "k1":
        log_w = np.log(q_ref) + levels / beta
        log_w -= np.max(log_w)
        w = np.exp(log_w) / np.sum(np.exp(log_w))
        return RateSolution(w, "interior", True, 0, "closed form π ∝ π_ref·exp(r/β)")
    sol = solve_rates(_level_rates(levels, q_ref, beta, estimator), np.log(q_ref))
    if sol.kind != "interior":
        return sol
    upper = q_ref > sol.masses  # u = Q/w > 1
    v_min = float(np.min(levels))

    def excess(c: float) -> float:
        u = k3_inverse((levels - c) / beta, upper)
        return float(np.sum(q_ref / u)) - 1.0

    w_flow = sol.masses
    c0 = float(w_flow @ (levels - beta * estimators.value(estimator, np.log(q_ref / w_flow))))
    lo, hi = c0 - 1e-6 * (1.0 + abs(c0)), min(c0 + 1e-6 * (1.0 + abs(c0)), v_min)
    try:
        c = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    except ValueError:
        return RateSolution(w_flow, "interior", False, sol.iterations,
                            "the flow settled but the exact condition could not be bracketed")
    u = k3_inverse((levels - c) / beta, upper)
    if estimator == "low_var_kl" and np.any(estimators.value("k3", np.log(u)) > estimators.VALUE_CLAMP):
        return RateSolution(w_flow, "interior", False, sol.iterations,
                            "a level sits where low_var_kl's value clamp binds")
    w = q_ref / u
    ok = math.isclose(float(np.sum(w)), 1.0, abs_tol=1e-13)
    return RateSolution(w / np.sum(w), "interior", ok, sol.iterations,
                        "r − β·D constant across levels (exact condition solved for c)")
