"""Exact limits of the expected flow on a line (gvpo_theory.line_limits) against independent computations.

References, none of which calls gvpo_theory's flow code: the flow written from its
definition, dz(o)/dt = π(o)·P_G(o|π) − β·∇_o, with P_G from tests/reference.py and each
penalty's gradient written out (k3: π − π_ref; direct KL: π·(log(π/π_ref) − KL); verl's
low_var_kl: k3's where π_ref/π lies inside the clamps, 0 elsewhere, recentred), integrated
by scipy's LSODA in flow time (interior attractors) or by a plain RK4 in log time
u = log(1 + t) (power-law approach to a vertex); mpmath roots of the G = ∞ direct-KL
fixed-point equation; the exact β = 0 closed form; and the flow integration of
gvpo_theory.limits (its internal ``_integrate`` path) for noisy rewards.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

import gvpo_theory as gt
from gvpo_theory import limits
from gvpo_theory.estimators import CLAMP_LOG_RATIO_HIGH, CLAMP_LOG_RATIO_LOW
from gvpo_theory.line_limits import METHOD, line_limits
from gvpo_theory.objective import Advantage, Objective
from gvpo_theory.penalties import ALL_PENALTIES
from gvpo_theory.problem import RewardDistribution, reward_structure
from tests.reference import exact_preference

REF = np.array([0.3, 0.7])
R2 = np.array([1.0, 0.0])
LOW_VAR = Objective(Advantage(), ALL_PENALTIES["low_var_kl"], 8)


def softmax(z):
    return np.exp(z - logsumexp(z))


def reference_update(pi, ref, rewards, beta, group_size, std, penalty):
    """F = π·P − β·∇ from the definitions (module docstring)."""
    f = pi * exact_preference(pi, rewards, group_size, std)
    if penalty == "reverse_kl":
        grad = pi - ref
    elif penalty == "direct_kl":
        log_ratio = np.log(pi / ref)
        grad = pi * (log_ratio - pi @ log_ratio)
    else:  # low_var_kl: the k3 gradient passes only where the log ratio is inside the clamps
        x = np.log(ref / pi)
        c = np.where((x <= CLAMP_LOG_RATIO_HIGH) & (x >= CLAMP_LOG_RATIO_LOW), pi - ref, 0.0)
        grad = c - pi * c.sum()
    return f - beta * grad


def radau_limit(ref, rewards, beta, group_size, std, penalty, pi0=None, t_end=3e3):
    start = np.log(ref if pi0 is None else np.asarray(pi0, dtype=np.float64))
    sol = solve_ivp(lambda _t, z: reference_update(softmax(z), ref, rewards, beta, group_size, std, penalty),
                    (0.0, t_end), start, method="LSODA", rtol=1e-11, atol=1e-13)
    return softmax(sol.y[:, -1])


def rk4_log_mass(ref, rewards, beta, group_size, std, penalty, pi0, u_stops, h=0.01):
    """log π(b) at each u of u_stops: RK4 on the logit gap x in log time (dx/du = e^u·(F_a − F_b))."""
    def rhs(u, x):
        pi = np.array([1.0, math.exp(-x)]) / (1.0 + math.exp(-x))
        f = reference_update(pi, ref, rewards, beta, group_size, std, penalty)
        return math.exp(u) * (f[0] - f[1])

    x, u, out = math.log(pi0[0] / pi0[1]), 0.0, []
    for stop in u_stops:
        while u < stop - 1e-12:
            s = min(h, stop - u)
            k1 = rhs(u, x)
            k2 = rhs(u + s / 2, x + s / 2 * k1)
            k3 = rhs(u + s / 2, x + s / 2 * k2)
            k4 = rhs(u + s, x + s * k3)
            x, u = x + s / 6 * (k1 + 2 * k2 + 2 * k3 + k4), u + s
        out.append(-(max(x, 0.0) + math.log1p(math.exp(-abs(x)))))
    return np.array(out)


def measured_exponent(log_mass, u_stops):
    """−d log π/d log t between the last two stops (t = e^u − 1 ≈ e^u)."""
    t = np.expm1(np.asarray(u_stops))
    return -(log_mass[-1] - log_mass[-2]) / (math.log(t[-1]) - math.log(t[-2]))


# ----------------------------------------------------------------- direct KL, G = ∞


def direct_kl_roots(q_ref, beta):
    """Every root in (0, 1) of logit q = logit q_ref + 1/(β·√(q(1 − q))) (G = ∞, rewards 1, 0),
    by a dense sign scan and mpmath at 50 digits."""
    mpmath.mp.dps = 50

    def f(x):
        q = 1 / (1 + mpmath.exp(-x))
        return x - mpmath.log(q_ref / (1 - q_ref)) - 1 / (beta * mpmath.sqrt(q * (1 - q)))

    grid = np.linspace(-10.0, 30.0, 4001)
    vals = [f(mpmath.mpf(x)) for x in grid]
    roots = [mpmath.findroot(f, (grid[i], grid[i + 1]), solver="anderson")
             for i in range(grid.size - 1) if vals[i] * vals[i + 1] < 0]
    return [float(1 / (1 + mpmath.exp(-r))) for r in roots]


def test_direct_kl_two_stationary_points_and_the_vertex():
    """π_ref(a) = 0.3, β = 2: the stable point 0.53886 (reached from 0.5 and from just below the
    unstable 0.99224) and, above the unstable point, the vertex π(a) = 1 (losers ~ t^-2)."""
    stable, unstable = direct_kl_roots(0.3, 2.0)
    assert stable == pytest.approx(0.53886, abs=5e-6) and unstable == pytest.approx(0.99224, abs=5e-6)
    starts = np.array([[0.5, 0.5], [0.05, 0.95], [unstable - 1e-4, 1 - unstable + 1e-4],
                       [unstable + 1e-4, 1 - unstable - 1e-4], [0.999999, 1e-6]])
    res = line_limits(REF, R2, 2.0, math.inf, penalty="direct_kl", pi0=starts)
    assert list(res.kind) == ["interior"] * 3 + ["boundary"] * 2
    np.testing.assert_allclose(res.policy[:3, 0], stable, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(res.policy[3:], [[1.0, 0.0]] * 2)
    assert np.all(res.vanished[3:, 1]) and not np.any(res.vanished[:3])
    assert np.all(res.residual <= 1e-12)
    # the vertex's decay law: measured by RK4 in log time from 0.999999 (t up to e^16)
    stops = [14.0, 16.0]
    log_b = rk4_log_mass(REF, R2, 2.0, math.inf, "population", "direct_kl", starts[4], stops)
    assert res.decay_exponent[4, 1] == pytest.approx(2.0, abs=1e-3)
    assert measured_exponent(log_b, stops) == pytest.approx(res.decay_exponent[4, 1], abs=0.02)
    # through the front door from the same starts (flow_limit dispatches to the line)
    lim = limits.flow_limit(REF, R2, 2.0, math.inf, penalty="direct_kl", pi0=starts[4])
    assert lim.method == METHOD and lim.kind == "boundary" and math.isinf(lim.time)
    np.testing.assert_array_equal(lim.policy, [1.0, 0.0])


# ----------------------------------------------------------------- k3 and the clamped k3


@pytest.mark.parametrize(("group_size", "beta"), [(8, 0.04), (8, 0.5), (math.inf, 0.3)])
def test_k3_interior_against_radau_and_the_solver(group_size, beta):
    res = line_limits(REF, R2, beta, group_size)
    assert res.kind[0] == "interior"
    pi = radau_limit(REF, R2, beta, group_size, "population", "reverse_kl")
    np.testing.assert_allclose(res.policy[0], pi, rtol=0, atol=1e-9)
    solved = gt.grpo_stationary_policy(REF, R2, beta, group_size)
    assert bool(solved.converged)
    np.testing.assert_allclose(res.policy[0], solved.policy, rtol=0, atol=1e-12)


@pytest.mark.parametrize("beta", [0.001, 0.04])
def test_clamped_low_var_kl_losing_output_vanishes(beta):
    """verl's clamp binds on the way to the k3 point: the losing output empties like 1/t."""
    res = line_limits(REF, R2, beta, LOW_VAR)
    assert res.kind[0] == "boundary" and list(res.vanished[0]) == [False, True]
    np.testing.assert_array_equal(res.policy[0], [1.0, 0.0])
    assert res.residual[0] == 0.0
    assert res.decay_exponent[0, 1] == pytest.approx(1.0, abs=1e-3)
    stops = [16.0, 18.0]
    log_b = rk4_log_mass(REF, R2, beta, 8, "population", "low_var_kl", REF, stops)
    assert log_b[-1] < math.log(1e-6)
    assert measured_exponent(log_b, stops) == pytest.approx(1.0, abs=0.01)
    lim = limits.flow_limit(REF, R2, beta, LOW_VAR)
    assert lim.kind == "boundary" and lim.method == METHOD
    np.testing.assert_array_equal(lim.policy, [1.0, 0.0])


def test_clamped_low_var_kl_stops_just_before_its_clamp():
    """β = 0.18589: the k3 point has π_ref(b)/π(b) = 13.595, 0.12 % below the clamp at 13.611:
    the flow stops there, which a march that stepped across the clamp would miss (the drift
    is positive again past it)."""
    beta = 0.18588962
    res = line_limits(REF, R2, beta, LOW_VAR)
    assert res.kind[0] == "interior"
    solved = gt.grpo_stationary_policy(REF, R2, beta, LOW_VAR)
    assert bool(solved.converged)
    np.testing.assert_allclose(res.policy[0], solved.policy, rtol=0, atol=1e-12)
    assert REF[1] / res.policy[0, 1] == pytest.approx(13.595, abs=0.001)
    pi = radau_limit(REF, R2, beta, 8, "population", "low_var_kl")
    np.testing.assert_allclose(res.policy[0], pi, rtol=0, atol=1e-9)


# ----------------------------------------------------------------- β = 0 and noisy rewards


@pytest.mark.parametrize(("group_size", "power"), [(8, 1), (math.inf, 2)])
def test_beta_zero_matches_the_closed_form(group_size, power):
    res = line_limits(REF, R2, 0.0, group_size, pi0=[0.01, 0.99])
    exact = gt.beta_zero_limit([0.01, 0.99], R2, group_size)
    np.testing.assert_array_equal(res.policy[0], exact.policy)
    assert res.decay_exponent[0, 1] == pytest.approx(power, abs=1e-3)
    assert exact.loser_power == power


def test_noisy_rewards_against_the_flow_integration():
    """Two outputs with noisy rewards (β = 0.3, k3): flow_limit's line answer against the
    integration path of gvpo_theory.limits (LSODA in flow time, then the face's solve)."""
    rewards = RewardDistribution([0.0, 1.0], [[0.2, 0.8], [0.7, 0.3]])
    obj = gt.objective("grpo", 8)
    lim = limits.flow_limit(REF, rewards, 0.3, obj)
    assert lim.method == METHOD and lim.kind == "interior"
    cl = limits._classes(REF, REF, reward_structure(rewards, 2))
    y, _, settled, _ = limits._integrate(cl, 0.3, obj, limits.LIMIT_TOL)
    assert settled
    pi = np.exp(limits._log_policy(y, cl))[cl.member]
    np.testing.assert_allclose(lim.policy, pi, rtol=0, atol=1e-9)


# ----------------------------------------------------------------- two classes, batches


@pytest.mark.parametrize(("beta", "kind"), [(0.04, "boundary"), (0.5, "interior")])
def test_two_classes_of_two_outputs_move_as_the_two_output_problem(beta, kind):
    """Outputs (a, a', b, b') with π_ref = (.15, .15, .35, .35), rewards (1, 1, 0, 0): two
    classes, one line; the level masses at the limit are those of (0.3, 0.7) at the same β
    (clamped k3: the stationary weights π_ref/(1 − P/β) add up per level)."""
    lim = limits.flow_limit([0.15, 0.15, 0.35, 0.35], [1, 1, 0, 0], beta, LOW_VAR)
    two = line_limits(REF, R2, beta, LOW_VAR)
    assert lim.method == METHOD and lim.kind == kind == two.kind[0]
    np.testing.assert_allclose(lim.policy[[0, 2]] * 2, two.policy[0], rtol=0, atol=1e-12)
    assert lim.policy[0] == lim.policy[1] and lim.policy[2] == lim.policy[3]


def test_batch_equals_one_problem_at_a_time():
    beta = np.geomspace(1e-3, 1.0, 9)
    res = line_limits(REF, R2, beta, LOW_VAR)
    for i, b in enumerate(beta):
        one = limits.flow_limit(REF, R2, float(b), LOW_VAR)
        assert res.kind[i] == one.kind
        np.testing.assert_allclose(res.policy[i], one.policy, rtol=0, atol=1e-12)


def test_start_at_a_stationary_point_stays():
    solved = gt.grpo_stationary_policy(REF, R2, 0.5, 8)
    res = line_limits(REF, R2, 0.5, 8, pi0=solved.policy)
    np.testing.assert_allclose(res.policy[0], solved.policy, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", sorted(ALL_PENALTIES))
def test_every_logit_gradient_sums_to_zero(name):
    """The identity the drift is formed with: Σ_o ∇_o = 0 (n_A·∇_A + n_B·∇_B = 0)."""
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(5), size=20)
    ref = rng.dirichlet(np.ones(5), size=20)
    p[:5, 0] = 1e-9
    p = p / p.sum(axis=1, keepdims=True)
    g = ALL_PENALTIES[name].logit_gradient(p, ref)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, rtol=0, atol=1e-15)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"pi_ref": [0.2, 0.3, 0.5]}, "pi_ref must have shape (2,) or (n, 2)"),
        ({"pi_ref": [0.3, 0.6]}, "pi_ref"),
        ({"beta": -0.1}, "beta"),
        ({"beta": [[0.1, 0.2]]}, "beta must be a number or 1-D"),
        ({"pi0": [1.0, 0.0]}, "pi0 must be > 0 wherever pi_ref is > 0"),
        ({"beta": [0.1, 0.2, 0.3], "pi0": [[0.5, 0.5], [0.4, 0.6]]}, "do not broadcast"),
    ],
)
def test_bad_input_names_the_argument(kwargs, needle):
    args = {"pi_ref": REF, "rewards": R2, "beta": 0.1, "group_size": 8, **kwargs}
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        line_limits(**args)
