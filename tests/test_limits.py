"""Boundary limits and β = 0 (gvpo_theory.limits; docs/theory.md §8) against independent integration.

The reference flow here is written from its definition, dz(o)/dt = π(o)·P_G(o|π) − β·∇_o,
with P_G from tests/reference.py (enumeration / closed forms, no gvpo_theory) and the
direct-KL gradient π·(log(π/π_ref) − KL) written out, integrated by a plain RK4 in log time
u = log(1 + t) (where the power-law approach is smooth) or by scipy's Radau in flow time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

import gvpo_theory as gt
from gvpo_theory.limits import (
    beta_zero_limit,
    flow_limit,
    within_level_distribution,
)
from gvpo_theory.objective import Advantage, Objective
from gvpo_theory.penalties import ALL_PENALTIES
from tests.reference import exact_preference

# ----------------------------------------------------------------- reference flow


def large_group_preference(pi, rewards):
    """P_∞(o) = (r(o) − E r)/sd(r) with r(o) − E r = Σ_j π_j·(r(o) − r_j) (no cancellation)."""
    dev = (rewards[:, None] - rewards[None, :]) @ pi
    return dev / math.sqrt(pi @ dev**2)


def preference(pi, rewards, group_size, std):
    """P_G from tests/reference.py; the closed forms (G = ∞, no std) written without the
    cancellation of r − E r when one level holds all but 1e-13 of the mass."""
    if std == "none":
        factor = 1.0 if math.isinf(group_size) else (group_size - 1) / group_size
        return factor * (rewards[:, None] - rewards[None, :]) @ pi
    if math.isinf(group_size):
        return large_group_preference(pi, rewards)
    return exact_preference(pi, rewards, group_size, std)


def reference_update(pi, ref, rewards, beta, group_size, std, penalty="direct_kl"):
    """F = π·P − β·∇ (∇ of the direct KL, or of k3: π − π_ref), from the definitions."""
    f = pi * preference(pi, rewards, group_size, std)
    if beta:
        if penalty == "direct_kl":
            live = pi > 0
            log_ratio = np.where(live, np.log(np.where(live, pi, 1.0) / np.where(live, ref, 1.0)), 0.0)
            f = f - beta * pi * (log_ratio - pi @ log_ratio)
        else:
            f = f - beta * (pi - ref)
    return f


def rk4_log_time(rhs, y0, u_stops, h=0.02):
    """Plain RK4 for dy/du = e^u·rhs(y) (u = log(1 + t) ≈ log t); states at each u in u_stops."""
    y, u, out = np.array(y0, dtype=np.float64), 0.0, []
    for stop in u_stops:
        while u < stop - 1e-12:
            step = min(h, stop - u)

            def g(uu, yy):
                return math.exp(uu) * rhs(yy)

            k1 = g(u, y)
            k2 = g(u + step / 2, y + step / 2 * k1)
            k3 = g(u + step / 2, y + step / 2 * k2)
            k4 = g(u + step, y + step * k3)
            y, u = y + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4), u + step
        out.append(y.copy())
    return out


def softmax(z):
    return np.exp(z - logsumexp(z))


# ----------------------------------------------------------------- β = 0, exact


PI0 = np.array([0.2, 0.15, 0.05, 0.3, 0.3])
R5 = np.array([1.0, 1.0, 1.0, 0.0, 0.0])


def beta_zero_run(group_size, std, u_stops):
    """Integrate the β = 0 flow with the level clock τ' = π(B)·P_B as an extra state."""
    best = R5 == R5.max()

    def rhs(y):
        pi = softmax(y[:-1])
        pref = preference(pi, R5, group_size, std)
        return np.append(pi * pref, pi[best].sum() * pref[best][0])

    return rk4_log_time(rhs, np.append(np.log(PI0), 0.0), u_stops)


@pytest.mark.parametrize(("group_size", "std"), [(8, "population"), (4, "sample"), (3, "none")])
def test_beta_zero_bounded_law_against_integration(group_size, std):
    """π(loser)·t → 1/((1 + N/n*)·|a*|) and π(o)/π(o*) ∝ t^(−N/(n*+N)); the path is ρ(λ(τ))."""
    lim = beta_zero_limit(PI0, R5, group_size, std=std)
    np.testing.assert_array_equal(lim.policy, [1.0, 0, 0, 0, 0])
    assert lim.loser_power == 1 and lim.within_exponent == pytest.approx(2 / 3, abs=1e-15)
    # a* by hand: one loser among G − 1 winners
    group = np.array([0.0] + [1.0] * (group_size - 1))
    dev = group[0] - group.mean()
    scale = {"population": group.std(), "sample": group.std(ddof=1), "none": 1.0}[std]
    a_star = dev / scale
    np.testing.assert_allclose(lim.loser_coefficient[3:], 1.0 / (3.0 * abs(a_star)), rtol=1e-14)
    u1, u2 = 24.0, 30.0
    states = beta_zero_run(group_size, std, [2.0, 6.0, u1, u2])
    for y in states:
        pi, tau = softmax(y[:-1]), y[-1]
        rho = pi[:3] / pi[:3].sum()
        # the within-level distribution sits on the closed-form curve at the level's clock
        np.testing.assert_allclose(rho, within_level_distribution(PI0[:3] / 0.4, tau), rtol=1e-7,
                                   atol=1e-300)
    t1, t2 = math.expm1(u1), math.expm1(u2)
    p1, p2 = softmax(states[2][:-1]), softmax(states[3][:-1])
    np.testing.assert_allclose(p2[3:] * t2, lim.loser_coefficient[3:], rtol=1e-6)
    slope = -(math.log(p2[1] / p2[0]) - math.log(p1[1] / p1[0])) / (math.log(t2) - math.log(t1))
    assert slope == pytest.approx(lim.within_exponent, abs=1e-4)


def test_beta_zero_unbounded_law_at_infinite_group():
    """A std at G = ∞: π(loser)·t² → 4D/((1 + N/n*)²·d) and γ = 2N/(n* + N)."""
    r = np.array([1.0, 1.0, 1.0, 0.0, 0.5])
    lim = beta_zero_limit(PI0, r, math.inf)
    d = np.array([1.0, 0.5])
    np.testing.assert_allclose(lim.loser_coefficient[3:], 4 * 1.5 / (9 * d), rtol=1e-14)
    assert lim.loser_power == 2 and lim.within_exponent == pytest.approx(4 / 3)

    def rhs(z):
        pi = softmax(z)
        return pi * large_group_preference(pi, r)

    u1, u2 = 20.0, 24.0
    z1, z2 = rk4_log_time(rhs, np.log(PI0), [u1, u2])
    t1, t2 = math.expm1(u1), math.expm1(u2)
    p1, p2 = softmax(z1), softmax(z2)
    np.testing.assert_allclose(p2[3:] * t2**2, lim.loser_coefficient[3:], rtol=1e-5)
    slope = -(math.log(p2[1] / p2[0]) - math.log(p1[1] / p1[0])) / (math.log(t2) - math.log(t1))
    assert slope == pytest.approx(lim.within_exponent, abs=1e-3)


def test_tied_maxima_share_the_limit_and_entropies():
    pi0 = np.array([0.25, 0.25, 0.1, 0.4])
    r = np.array([2.0, 2.0, 2.0, 1.0])
    lim = beta_zero_limit(pi0, r, 8)
    np.testing.assert_array_equal(lim.policy, [0.5, 0.5, 0.0, 0.0])
    rho = np.array([0.25, 0.25, 0.1]) / 0.6
    assert lim.entropy_start == pytest.approx(-np.sum(rho * np.log(rho)), rel=1e-14)
    assert lim.entropy_limit == pytest.approx(math.log(2), rel=1e-15)
    assert lim.within_exponent == pytest.approx(1 / 3)  # N = 1, n* = 2


def test_within_level_curve_properties():
    """τ(λ) = −Σ log(1 − λρ₀) is inverted exactly; τ = 0 is ρ₀, τ = ∞ the argmax."""
    rho0 = np.array([0.5, 0.3, 0.2])
    for lam in (0.1, 1.0, 1.9, 2.0 - 1e-9):
        tau = -np.sum(np.log1p(-lam * rho0))
        expected = rho0 / (1 - lam * rho0)
        np.testing.assert_allclose(within_level_distribution(rho0, tau), expected / expected.sum(),
                                   rtol=1e-9)
    np.testing.assert_allclose(within_level_distribution(rho0, 0.0), rho0, rtol=1e-15)
    np.testing.assert_array_equal(within_level_distribution(rho0, math.inf), [1.0, 0, 0])


CORE = ("grpo", "grpo-sample", "dr-grpo", "rloo", "grpo-direct-kl")


@pytest.mark.parametrize("obj", [gt.objective(name, 8) for name in CORE] + [
    Objective(Advantage(), ALL_PENALTIES[name], 8) for name in ("low_var_kl", "k1", "none")])
def test_every_objective_accepts_beta_zero(obj):
    res = gt.grpo_stationary_policy(PI0, R5, 0.0, obj)
    assert res.kind == "boundary" and not res.converged
    np.testing.assert_array_equal(res.policy, [1.0, 0, 0, 0, 0])
    assert res.limit.beta_zero is not None and "β = 0" in res.message
    assert float(res.residual) == 0.0


def test_beta_zero_single_level_does_not_move():
    res = gt.grpo_stationary_policy([0.2, 0.8], [1.0, 1.0], 0.0, 8)
    assert res.kind == "interior" and bool(res.converged)
    np.testing.assert_allclose(res.policy, [0.2, 0.8], rtol=1e-15)


def test_beta_zero_noisy_rewards_against_integration():
    """Bernoulli rewards at β = 0: the flow is integrated; the best success rate takes all."""
    s = np.array([0.8, 0.6, 0.3])
    pi0 = np.array([0.2, 0.5, 0.3])
    lim = flow_limit(pi0, gt.RewardDistribution.bernoulli(s), 0.0, 4)
    assert lim.kind == "boundary"
    np.testing.assert_allclose(lim.policy, [1.0, 0.0, 0.0], atol=1e-15)
    assert np.all(lim.vanished == [False, True, True])
    assert np.all(lim.decay_exponent[1:] > 0.5)


# ----------------------------------------------------------------- boundary limits, β > 0


def test_direct_kl_large_group_limit_against_long_integration():
    """No interior point (β = 0.2): the reward-0 level empties; inside the best level the
    limit is π_ref restricted (P_B → 0 there), also found by integrating to t = 1e5."""
    beta = 0.2
    lim = flow_limit(PI0, R5, beta, math.inf, penalty="direct_kl")
    assert lim.kind == "boundary"
    np.testing.assert_allclose(lim.policy, [0.5, 0.375, 0.125, 0.0, 0.0], rtol=1e-12, atol=0)
    assert lim.residual <= 1e-10
    sol = solve_ivp(lambda _t, z: reference_update(softmax(z), PI0, R5, beta, math.inf, "population"),
                    (0.0, 1e5), np.log(PI0), method="Radau", rtol=1e-10, atol=1e-12)
    pi = softmax(sol.y[:, -1])
    np.testing.assert_allclose(pi, lim.policy, atol=1e-4)
    assert pi[3] * 1e10 < 10.0  # the losers fall like t^-2


def test_three_levels_two_vanish():
    pi_ref, r = np.array([0.2, 0.4, 0.4]), np.array([0.0, 1.0, 0.5])
    res = gt.grpo_stationary_policy(pi_ref, r, 0.5, math.inf, penalty="direct_kl", eps=0.0)
    assert res.kind == "boundary" and not res.converged
    np.testing.assert_array_equal(res.policy, [0.0, 1.0, 0.0])
    assert "no interior stationary point" in res.message
    sol = solve_ivp(lambda _t, z: reference_update(softmax(z), pi_ref, r, 0.5, math.inf, "population"),
                    (0.0, 1e5), np.log(pi_ref), method="Radau", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(softmax(sol.y[:, -1]), res.policy, atol=1e-3)


def test_start_decides_the_basin():
    """Direct KL, G = ∞, π_ref(a) = 0.3, β = 2: two interior points; from π(a) = 0.999999 the
    flow runs to π(a) = 1, from 0.5 to the stable interior point 0.53886."""
    ref = [0.3, 0.7]
    far = gt.grpo_stationary_policy(ref, [1, 0], 2.0, math.inf, penalty="direct_kl",
                                    pi0=[0.999999, 1e-6])
    assert far.kind == "boundary"
    np.testing.assert_array_equal(far.policy, [1.0, 0.0])
    near = gt.grpo_stationary_policy(ref, [1, 0], 2.0, math.inf, penalty="direct_kl", pi0=[0.5, 0.5])
    plain = gt.grpo_stationary_policy(ref, [1, 0], 2.0, math.inf, penalty="direct_kl")
    assert near.kind == "interior" and bool(near.converged)
    assert near.policy[0] == pytest.approx(float(plain.policy[0]), abs=1e-12)
    assert near.policy[0] == pytest.approx(0.53886, abs=5e-6)


def test_clamped_penalty_limit_is_a_verified_face_point():
    """verl's clamped k3 (no KL gradient once π_ref/π > 13.6): the limit the flow reaches is
    stationary on its face, and long integration (independent RK in flow time) agrees."""
    obj = Objective(Advantage(), ALL_PENALTIES["low_var_kl"], 8)
    ref, r = np.array([0.3, 0.7]), np.array([1.0, 0.0])
    beta = 0.05
    lim = flow_limit(ref, r, beta, obj, pi0=[0.99, 0.01])
    pen = ALL_PENALTIES["low_var_kl"]

    def rhs(_t, z):
        pi = softmax(z)
        return pi * exact_preference(pi, r, 8, "population") - beta * pen.logit_gradient(pi, ref)

    assert lim.kind == "boundary"  # the clamp lets the losing output empty

    sol = solve_ivp(rhs, (0.0, 1e5), np.log([0.99, 0.01]), method="Radau", rtol=1e-10, atol=1e-12)
    pi = softmax(sol.y[:, -1])
    np.testing.assert_allclose(pi, lim.policy, atol=1e-4)
    assert lim.residual <= 1e-10


def test_mixed_batch_and_no_placeholder():
    """A batch with a boundary problem, an interior one and β = 0: each answered, none 0.5."""
    res = gt.grpo_stationary_policy([[0.3, 0.7], [0.6, 0.4], [0.3, 0.7]], [1.0, 0.0],
                                    [0.5, 2.0, 0.0], math.inf, penalty="direct_kl")
    assert list(res.kind) == ["boundary", "interior", "boundary"]
    np.testing.assert_array_equal(res.policy[0], [1.0, 0.0])
    np.testing.assert_array_equal(res.policy[2], [1.0, 0.0])
    assert bool(res.converged[1]) and not res.converged[0]
    assert res.limit[0] is not None and res.limit[1] is None
    assert "boundary limit" in res.message


@pytest.mark.parametrize("beta", [0.05, 0.3, 0.9])
def test_every_unconverged_binary_solve_is_a_verified_boundary_limit(beta):
    """Where the binary solver brackets nothing, the front door answers with the limit."""
    for p_ref in (0.1, 0.5, 0.9):
        res = gt.grpo_stationary_policy([p_ref, 1 - p_ref], [1.0, 0.0], beta, math.inf,
                                        penalty="direct_kl")
        assert bool(res.converged) or (res.kind == "boundary" and float(res.residual) <= 1e-10)
        assert not np.allclose(res.policy, [0.5, 0.5])


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"beta": -0.1}, "beta must be >= 0"),
        ({"beta": math.nan}, "beta must not be NaN"),
        ({"pi0": [0.5, 0.6]}, "pi0 must sum to 1"),
        ({"pi0": [1.0, 0.0]}, "pi0 must be > 0 wherever pi_ref is > 0"),
        ({"pi0": [0.5, 0.5, 0.0]}, "pi0"),
        ({"pi0": [-0.5, 1.5]}, "pi0 must be non-negative"),
    ],
)
def test_bad_input_names_the_argument(kwargs, needle):
    args = {"beta": 1.0, **kwargs}
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], group_size=8, **args)
    with pytest.raises(ValueError, match=needle.split()[0]):
        flow_limit([0.3, 0.7], [1.0, 0.0], group_size=8, **args)


def test_start_with_mass_off_the_reference_support_is_refused():
    with pytest.raises(ValueError, match="pi0 must be 0 wherever pi_ref is 0"):
        flow_limit([0.5, 0.5, 0.0], [1.0, 0.0, 2.0], 1.0, 8, pi0=[0.4, 0.4, 0.2])


def test_fig10_data_follow_the_derived_law(tmp_path):
    """Figure 10's data: within-level shares sum to 1; the losing mass meets c/t (G = 8)."""
    import csv

    from analyses import fig10_beta_zero as fig10

    fig10.run(fig10.parse_args(["--out", str(tmp_path), "--t-max", "1e10", "--n-t", "7"]))
    rows = list(csv.DictReader((tmp_path / "fig10_beta_zero.csv").open()))
    last = rows[-1]
    shares = [float(last[f"grpo_G8_rho{j}"]) for j in range(1, 5)]
    assert sum(shares) == pytest.approx(1.0, abs=1e-9)
    lim = beta_zero_limit(fig10.PI_REF, fig10.REWARDS, 8)
    expected = np.nansum(lim.loser_coefficient) / float(last["t"])
    assert float(last["grpo_G8_losing_mass"]) == pytest.approx(expected, rel=1e-6)
