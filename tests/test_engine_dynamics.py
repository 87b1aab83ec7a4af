"""Expected GRPO / GVPO updates and their flows (docs/theory.md §3, §5).

The engine's closed-form expected updates are checked against brute force written here:
every group tuple is enumerated with itertools.product, the group-normalised advantages
(or GVPO weights) are formed from their definitions, and the per-tuple softmax-logit
gradients are averaged with the tuple probabilities. A second, independent route
differentiates the surrogate objectives themselves by complex-step differentiation
(exact to rounding). Flows are checked against the exact solvers and against the
reference fixed points of tests/reference.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from reference import binary_finite_g, exact_preference, log_pooling

from gvpo_theory.dynamics import (
    expected_gradient_ascent,
    grpo_expected_update,
    grpo_flow,
    gvpo_expected_update,
    gvpo_flow,
)
from gvpo_theory.pooling import kl_optimal_policy
from gvpo_theory.problem import RewardDistribution
from gvpo_theory.stationary import grpo_stationary_policy

MATCH = 1e-12

# ------------------------------------------------------------------ brute force


def group_members(pi: np.ndarray, rewards: np.ndarray | RewardDistribution):
    """The 'atoms' one group member can be: (output index, reward, probability).

    Deterministic rewards: one atom per output. A RewardDistribution: one atom per
    (output, reward level) pair with probability π(o)·D_o(l).
    """
    if isinstance(rewards, RewardDistribution):
        k, n_lev = rewards.probs.shape
        out = np.repeat(np.arange(k), n_lev)
        rew = np.tile(rewards.levels, k)
        prob = (pi[:, None] * rewards.probs).reshape(-1)
        return out, rew, prob
    return np.arange(pi.size), np.asarray(rewards, dtype=np.float64), pi


def enumerate_groups(pi: np.ndarray, rewards, group_size: int):
    """All group tuples: (outputs (N, G), rewards (N, G), probability (N,))."""
    out, rew, prob = group_members(pi, rewards)
    idx = np.array(list(itertools.product(range(out.size), repeat=group_size)), dtype=np.intp)
    weight = np.prod(prob[idx], axis=1)
    return out[idx], rew[idx], weight


def group_advantages(r: np.ndarray, std: str, eps: float) -> np.ndarray:
    """A_i = (r_i − mean r)/(std r + eps) per group row; 0 for a tied group (preference.py:
    ties are decided by all rewards being equal, std population = ddof 0, sample = ddof 1,
    none = no scale)."""
    dev = r - r.mean(axis=1, keepdims=True)
    if std == "none":
        return dev
    sd = r.std(axis=1, ddof={"population": 0, "sample": 1}[std], keepdims=True)
    tie = np.all(r == r[:, :1], axis=1, keepdims=True)
    return np.where(tie, 0.0, dev / np.where(tie, 1.0, sd + eps))


def brute_grpo_update(pi, pi_ref, rewards, beta, group_size, std="population",
                      penalty="reverse_kl", eps=0.0) -> np.ndarray:
    """E over groups of the GRPO ascent direction on the logits at θ = log π (old = current).

    Per group: (1/G)·Σ_i A_i·∇θ log π(o_i) (the ratio is 1 at θ = θ_old), with
    ∇θ log π(o) = e_o − π. Penalty (docs/theory.md §3): k3 estimator D(o) = x − log x − 1,
    x = π_ref(o)/π(o), averaged over the members, whose θ-gradient is (1 − x)·(e_o − π);
    direct KL: the gradient of KL(π_θ ‖ π_ref), by complex step.
    """
    pi, pi_ref = np.asarray(pi, float), np.asarray(pi_ref, float)
    k = pi.size
    outs, r, w = enumerate_groups(pi, rewards, group_size)
    adv = group_advantages(r, std, eps)
    score = np.eye(k)[outs] - pi  # (N, G, K): ∇θ log π(o_i)
    pg = w @ np.einsum("ng,ngk->nk", adv, score) / group_size
    if penalty == "reverse_kl":
        x = pi_ref[outs] / pi[outs]
        pen = w @ np.einsum("ng,ngk->nk", 1.0 - x, score) / group_size
    else:
        pen = complex_step_gradient(lambda th: kl_complex(th, pi_ref), np.log(pi))
    return pg - beta * pen


def brute_gvpo_update(pi, pi_ref, rewards, beta, pi_s, group_size, scale="sum") -> np.ndarray:
    """E over groups y_1..y_k ~ π_s of −∇θ of GVPO's loss −β·Σ_i w_i·log π_θ(y_i),
    w_i = (R_i − R̄) − β·(l_i − l̄), l_i = log(π(y_i)/π_ref(y_i)), w detached (docs/theory.md §5)."""
    pi, pi_ref = np.asarray(pi, float), np.asarray(pi_ref, float)
    s = pi if pi_s is None else np.asarray(pi_s, float)
    k = pi.size
    outs, r, w = enumerate_groups(s, rewards, group_size)
    keep = w > 0  # tuples that cannot be drawn never enter (and may hit log 0)
    outs, r, w = outs[keep], r[keep], w[keep]
    ell = np.log(pi[outs]) - np.log(pi_ref[outs])
    weights = (r - r.mean(axis=1, keepdims=True)) - beta * (ell - ell.mean(axis=1, keepdims=True))
    score = np.eye(k)[outs] - pi
    out = beta * (w @ np.einsum("ng,ngk->nk", weights, score))
    return out / (group_size - 1) if scale == "paper" else out


# ------------------------------------------------------------------ complex step


def softmax_complex(theta: np.ndarray) -> np.ndarray:
    e = np.exp(theta - np.max(theta.real))
    return e / e.sum()


def kl_complex(theta: np.ndarray, pi_ref: np.ndarray) -> complex:
    p = softmax_complex(theta)
    return np.sum(p * (np.log(p) - np.log(pi_ref)))


def complex_step_gradient(f, theta: np.ndarray, h: float = 1e-30) -> np.ndarray:
    """∂f/∂θ_j = Im f(θ + i·h·e_j)/h: no subtraction, exact to rounding."""
    grad = np.empty(theta.size)
    for j in range(theta.size):
        t = theta.astype(complex)
        t[j] += 1j * h
        grad[j] = f(t).imag / h
    return grad


def grpo_surrogate_gradient(pi, pi_ref, rewards, beta, group_size, std, penalty, eps=0.0):
    """Gradient of the GRPO objective itself, at θ = θ_old = log π:
    E_groups~π_old[(1/G)·Σ_i (π_θ(o_i)/π_old(o_i))·A_i] − β·(E_{o~π_old} D_θ(o) for k3,
    or KL(π_θ ‖ π_ref) for the direct KL)."""
    pi, pi_ref = np.asarray(pi, float), np.asarray(pi_ref, float)
    outs, r, w = enumerate_groups(pi, rewards, group_size)
    adv = group_advantages(r, std, eps)

    def objective(theta: np.ndarray) -> complex:
        p = softmax_complex(theta)
        ratio = p[outs] / pi[outs]
        value = w @ np.mean(ratio * adv, axis=1)
        if penalty == "reverse_kl":
            x = pi_ref / p
            value = value - beta * np.sum(pi * (x - np.log(x) - 1.0))
        else:
            value = value - beta * kl_complex(theta, pi_ref)
        return value

    return complex_step_gradient(objective, np.log(pi))


def gvpo_mse_gradient(pi, pi_ref, rewards, beta, pi_s, group_size):
    """−∇θ of E_groups~π_s[(1/2)·Σ_i (β(l_i − l̄) − (R_i − R̄))²] (docs/theory.md §5: GVPO's loss
    gradient is this MSE's gradient), by complex step."""
    pi, pi_ref = np.asarray(pi, float), np.asarray(pi_ref, float)
    s = pi if pi_s is None else np.asarray(pi_s, float)
    outs, r, w = enumerate_groups(s, rewards, group_size)
    rc = r - r.mean(axis=1, keepdims=True)

    def neg_mse(theta: np.ndarray) -> complex:
        p = softmax_complex(theta)
        ell = np.log(p[outs]) - np.log(pi_ref[outs])
        resid = beta * (ell - ell.mean(axis=1, keepdims=True)) - rc
        return -0.5 * (w @ np.sum(resid * resid, axis=1))

    return complex_step_gradient(neg_mse, np.log(pi))


# ------------------------------------------------------------------ problems

PI = np.array([0.2, 0.5, 0.3])
PI_REF = np.array([0.4, 0.35, 0.25])
PI4 = np.array([0.1, 0.4, 0.3, 0.2])
PI_REF4 = np.array([0.25, 0.25, 0.3, 0.2])

GRPO_PROBLEMS = {
    # name: (pi, pi_ref, rewards)
    "binary": (np.array([0.3, 0.7]), np.array([0.6, 0.4]), np.array([1.0, 0.0])),
    "three-levels": (PI, PI_REF, np.array([1.0, 0.0, 2.5])),
    "ties": (PI4, PI_REF4, np.array([1.0, 0.0, 1.0, -0.5])),
    # Rewards whose group means round (mean(0.1, 0.1, 0.1) != 0.1): a tied group has
    # dev ~ std ~ 1e-17, so only the explicit tie convention gives A = 0 there.
    "inexact-ties": (PI4, PI_REF4, np.array([0.1, 0.7, 0.1, 0.3])),
    "bernoulli": (PI, PI_REF, RewardDistribution.bernoulli([0.9, 0.3, 0.6])),
    "stochastic-3": (PI, PI_REF, RewardDistribution(
        np.array([0.0, 0.5, 2.0]), np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0]]))),
}


# ------------------------------------------------------------------ GRPO update


@pytest.mark.claim("vy-stationarity", way="exact numerics")
@pytest.mark.parametrize("problem", sorted(GRPO_PROBLEMS))
@pytest.mark.parametrize("group_size", [2, 3, 4])
@pytest.mark.parametrize("std", ["population", "sample", "none"])
@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
def test_grpo_expected_update_is_brute_force(problem: str, group_size: int, std: str,
                                             penalty: str) -> None:
    pi, pi_ref, rewards = GRPO_PROBLEMS[problem]
    beta = 0.7
    got = grpo_expected_update(pi, pi_ref, rewards, beta, group_size, std, penalty)
    want = brute_grpo_update(pi, pi_ref, rewards, beta, group_size, std, penalty)
    np.testing.assert_allclose(got, want, rtol=0, atol=MATCH)
    assert abs(got.sum()) <= MATCH


@pytest.mark.claim("vy-k3-reverse-kl-gradient", way="exact numerics")
@pytest.mark.parametrize("problem", ["three-levels", "inexact-ties", "stochastic-3"])
@pytest.mark.parametrize(("std", "eps"), [("population", 0.0), ("sample", 1e-4), ("population", 0.3),
                                          ("none", 0.0)])
@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
def test_grpo_update_is_the_gradient_of_the_objective(problem: str, std: str, eps: float,
                                                      penalty: str) -> None:
    pi, pi_ref, rewards = GRPO_PROBLEMS[problem]
    beta, g = 0.4, 4
    got = grpo_expected_update(pi, pi_ref, rewards, beta, g, std, penalty, eps)
    np.testing.assert_allclose(got, grpo_surrogate_gradient(pi, pi_ref, rewards, beta, g, std,
                                                            penalty, eps), rtol=0, atol=MATCH)
    np.testing.assert_allclose(got, brute_grpo_update(pi, pi_ref, rewards, beta, g, std, penalty,
                                                      eps), rtol=0, atol=MATCH)


@pytest.mark.parametrize("group_size", [5, 6])
def test_grpo_update_larger_groups(group_size: int) -> None:
    pi, pi_ref, rewards = GRPO_PROBLEMS["ties"]
    for beta in (0.05, 3.0):
        got = grpo_expected_update(pi, pi_ref, rewards, beta, group_size, "sample")
        np.testing.assert_allclose(
            got, brute_grpo_update(pi, pi_ref, rewards, beta, group_size, "sample"), rtol=0, atol=MATCH)


def test_grpo_update_reference_with_zero_mass() -> None:
    # k3 with π_ref(o) = 0: the member-wise gradient (1 − π_ref/π)(e_o − π) is finite.
    pi = np.array([0.2, 0.5, 0.3])
    pi_ref = np.array([0.0, 0.6, 0.4])
    r = np.array([2.0, 1.0, 0.0])
    got = grpo_expected_update(pi, pi_ref, r, 0.3, 3)
    np.testing.assert_allclose(got, brute_grpo_update(pi, pi_ref, r, 0.3, 3), rtol=0, atol=MATCH)


def test_grpo_update_batched() -> None:
    pi = np.stack([PI, np.array([0.6, 0.1, 0.3])])
    beta = np.array([0.5, 2.0])
    r = np.array([1.0, 0.0, 2.5])
    got = grpo_expected_update(pi, PI_REF, r, beta, 3, "sample", "direct_kl")
    assert got.shape == (2, 3)
    for i in range(2):
        np.testing.assert_allclose(
            got[i], brute_grpo_update(pi[i], PI_REF, r, beta[i], 3, "sample", "direct_kl"),
            rtol=0, atol=MATCH)


# ------------------------------------------------------------------ GVPO update

PI_S = {
    "on-policy": None,
    "reference": PI_REF,
    "uniform": np.full(3, 1 / 3),
    "off-policy": np.array([0.7, 0.1, 0.2]),
    "partial-support": np.array([0.5, 0.0, 0.5]),
}


@pytest.mark.parametrize("sampler", sorted(PI_S))
@pytest.mark.parametrize("group_size", [2, 3, 5])
@pytest.mark.parametrize("scale", ["sum", "paper"])
@pytest.mark.parametrize("rewards", ["deterministic", "stochastic"])
def test_gvpo_expected_update_is_brute_force(sampler: str, group_size: int, scale: str,
                                             rewards: str) -> None:
    r = GRPO_PROBLEMS["three-levels" if rewards == "deterministic" else "stochastic-3"][2]
    pi_s = PI_S[sampler]
    beta = 0.6
    got = gvpo_expected_update(PI, PI_REF, r, beta, pi_s, group_size, scale)
    want = brute_gvpo_update(PI, PI_REF, r, beta, pi_s, group_size, scale)
    np.testing.assert_allclose(got, want, rtol=0, atol=MATCH)
    # Closed form of docs/theory.md §5 for the sum scale: β(k − 1)·π_s·(g − E_{π_s} g).
    s = PI if pi_s is None else pi_s
    mean_r = r.expected() if isinstance(r, RewardDistribution) else r
    g = mean_r - beta * np.log(PI / PI_REF)
    factor = (group_size - 1) if scale == "sum" else 1
    np.testing.assert_allclose(got, beta * factor * s * (g - s @ g), rtol=0, atol=MATCH)


@pytest.mark.claim("gvpo-mse", way="exact numerics")
@pytest.mark.parametrize("sampler", ["on-policy", "off-policy", "partial-support"])
def test_gvpo_update_is_the_gradient_of_the_mse(sampler: str) -> None:
    r = np.array([1.0, 0.0, 2.5])
    beta, k = 0.8, 4
    got = gvpo_expected_update(PI, PI_REF, r, beta, PI_S[sampler], k)
    np.testing.assert_allclose(got, gvpo_mse_gradient(PI, PI_REF, r, beta, PI_S[sampler], k),
                               rtol=0, atol=MATCH)


def test_gvpo_update_off_support_of_reference() -> None:
    # π_ref(o) = 0 is allowed where π_s never samples o.
    pi = np.array([0.3, 0.3, 0.4])
    pi_ref = np.array([0.5, 0.0, 0.5])
    pi_s = np.array([0.6, 0.0, 0.4])
    r = np.array([0.0, 5.0, 1.0])
    got = gvpo_expected_update(pi, pi_ref, r, 0.5, pi_s, 3)
    np.testing.assert_allclose(got, brute_gvpo_update(pi, pi_ref, r, 0.5, pi_s, 3), rtol=0,
                               atol=MATCH)
    assert got[1] == 0.0


@pytest.mark.claim("gvpo-any-sampler", way="exact numerics")
@pytest.mark.parametrize("sampler", sorted(PI_S))
def test_gvpo_weights_vanish_at_the_kl_optimum(sampler: str) -> None:
    # docs/theory.md §5: at π* every sampled weight w_i is 0, whatever the group, so the
    # sampled gradient has zero variance there (not only zero mean).
    r = np.array([1.0, 0.0, 2.5])
    beta = 0.6
    star = log_pooling(PI_REF, r, beta)
    s = star if PI_S[sampler] is None else PI_S[sampler]
    outs, rew, w = enumerate_groups(s, r, 4)
    ell = np.log(star[outs]) - np.log(PI_REF[outs])
    weights = (rew - rew.mean(1, keepdims=True)) - beta * (ell - ell.mean(1, keepdims=True))
    assert np.max(np.abs(weights[w > 0])) <= 1e-14
    np.testing.assert_allclose(gvpo_expected_update(star, PI_REF, r, beta, PI_S[sampler], 4), 0.0,
                               rtol=0, atol=1e-14)


# ------------------------------------------------------------------ flows and fixed points

FLOW_PROBLEMS = [
    # (pi_ref, rewards, beta, group_size, std, penalty)
    pytest.param(np.array([0.3, 0.7]), np.array([1.0, 0.0]), 1.0, 8, "population", "reverse_kl",
                 id="binary-G8"),
    pytest.param(np.array([0.2, 0.5, 0.3]), np.array([2.0, 1.0, 0.0]), 0.5, 4, "population",
                 "reverse_kl", id="three-levels-G4"),
    pytest.param(np.array([0.1, 0.3, 0.35, 0.25]), np.array([1.0, 0.5, 0.0, 0.5]), 0.8, 3, "sample",
                 "direct_kl", id="three-levels-sample-direct"),
    pytest.param(np.array([0.25, 0.25, 0.5]), np.array([1.0, 0.0, -1.0]), 2.0, math.inf,
                 "population", "reverse_kl", id="three-levels-Ginf"),
]


def fixed_point_gap(pi, pi_ref, pref, beta, penalty) -> float:
    if penalty == "reverse_kl":
        return float(np.max(np.abs(pi * (1.0 - pref / beta) - pi_ref)))
    target = pi_ref * np.exp(pref / beta)
    return float(np.max(np.abs(pi - target / target.sum())))


@pytest.mark.claim("vy-stationarity", way="training")
@pytest.mark.parametrize(("pi_ref", "rewards", "beta", "group_size", "std", "penalty"), FLOW_PROBLEMS)
def test_grpo_flow_reaches_the_stationary_policy(pi_ref, rewards, beta, group_size, std,
                                                 penalty) -> None:
    flow = grpo_flow(pi_ref, rewards, beta, group_size, std, penalty, tol=1e-12)
    assert flow.settled, flow.update_norm
    exact = grpo_stationary_policy(pi_ref, rewards, beta, group_size, std, penalty)
    assert bool(exact.converged)
    np.testing.assert_allclose(flow.policy, exact.policy, rtol=0, atol=1e-8)
    # Both are fixed points by the reference preference model (not the engine's).
    for pi in (flow.policy, exact.policy):
        pref = exact_preference(pi, rewards, group_size, std)
        assert fixed_point_gap(pi, pi_ref, pref, beta, penalty) <= 1e-8
    # The stationary policy zeroes the expected update: engine and brute force.
    pi = exact.policy
    np.testing.assert_allclose(grpo_expected_update(pi, pi_ref, rewards, beta, group_size, std,
                                                    penalty), 0.0, rtol=0, atol=1e-10)
    if not math.isinf(group_size):
        np.testing.assert_allclose(brute_grpo_update(pi, pi_ref, rewards, beta, group_size, std,
                                                     penalty), 0.0, rtol=0, atol=1e-10)


@pytest.mark.claim("vy-stationarity", way="training")
def test_grpo_flow_binary_matches_independent_root() -> None:
    flow = grpo_flow([0.3, 0.7], [1.0, 0.0], 1.0, 8, tol=1e-12)
    assert flow.policy[0] == pytest.approx(binary_finite_g(0.3, 1.0, 8), abs=1e-8)
    assert flow.policy[0] == pytest.approx(0.7077703622209384, abs=1e-8)  # docs/theory.md §4
    assert np.all(np.diff(flow.times) > 0) and flow.policies.shape == (flow.times.size, 2)


@pytest.mark.claim("gvpo-any-sampler", way="training")
@pytest.mark.parametrize(
    ("pi_ref", "rewards", "beta", "pi_s", "group_size"),
    [
        pytest.param(np.array([0.3, 0.7]), np.array([1.0, 0.0]), 1.0, None, 4, id="binary-on-policy"),
        pytest.param(np.array([0.2, 0.5, 0.3]), np.array([2.0, 1.0, 0.0]), 0.5, None, 3,
                     id="three-levels-on-policy"),
        pytest.param(np.array([0.2, 0.5, 0.3]), np.array([2.0, 1.0, 0.0]), 0.5,
                     np.array([0.1, 0.1, 0.8]), 5, id="three-levels-off-policy"),
        pytest.param(np.array([0.1, 0.3, 0.35, 0.25]), np.array([1.0, 0.5, 0.0, 0.5]), 0.3,
                     np.full(4, 0.25), 2, id="ties-uniform"),
    ],
)
def test_gvpo_flow_reaches_the_kl_optimum(pi_ref, rewards, beta, pi_s, group_size) -> None:
    flow = gvpo_flow(pi_ref, rewards, beta, pi_s, group_size, tol=1e-12)
    assert flow.settled, flow.update_norm
    want = log_pooling(pi_ref, rewards, beta)  # π_ref·exp(r/β)/Z written out (reference.py)
    np.testing.assert_allclose(flow.policy, want, rtol=0, atol=1e-8)
    np.testing.assert_allclose(kl_optimal_policy(pi_ref, rewards, beta), want, rtol=0, atol=1e-14)
    np.testing.assert_allclose(brute_gvpo_update(want, pi_ref, rewards, beta, pi_s, group_size), 0.0,
                               rtol=0, atol=1e-10)


@pytest.mark.claim("vy-not-log-pooling", way="training")
def test_grpo_and_gvpo_flows_settle_at_different_policies() -> None:
    # docs/theory.md §5: GRPO's optimum is generally not π*.
    pi_ref, r = np.array([0.3, 0.7]), np.array([1.0, 0.0])
    grpo = grpo_flow(pi_ref, r, 1.0, 8, tol=1e-12).policy
    gvpo = gvpo_flow(pi_ref, r, 1.0, None, 8, tol=1e-12).policy
    assert gvpo[0] == pytest.approx(0.538101526224449, abs=1e-8)  # docs/theory.md §4
    assert abs(grpo[0] - gvpo[0]) > 0.1


@pytest.mark.claim("vy-stationarity", way="training")
def test_expected_gradient_ascent_reaches_the_stationary_policy() -> None:
    pi_ref, r, beta, g = np.array([0.3, 0.7]), np.array([1.0, 0.0]), 1.0, 8
    pi, steps, norm = expected_gradient_ascent(
        lambda p: grpo_expected_update(p, pi_ref, r, beta, g), pi_ref, learning_rate=2.0,
        tol=1e-12)
    assert norm <= 1e-12 and 0 < steps < 1_000_000
    assert pi[0] == pytest.approx(binary_finite_g(0.3, beta, g), abs=1e-10)


def test_beta_zero_is_the_pure_grpo_policy_gradient_and_gvpo_refuses_it():
    # β = 0: F = π·P_G exactly (P_G by level enumeration in tests/reference.py); the flow
    # has no interior rest point and heads for the rewarded outputs; GVPO refuses β = 0.
    from gvpo_theory.dynamics import grpo_flow

    pi, ref, r = np.array([0.2, 0.5, 0.3]), np.array([0.3, 0.3, 0.4]), np.array([1.0, 0.0, 0.5])
    for g, std in ((4, "population"), (6, "sample"), (math.inf, "none")):
        f = grpo_expected_update(pi, ref, r, 0.0, g, std=std)
        np.testing.assert_allclose(f, pi * exact_preference(pi, r, g, std), rtol=0, atol=1e-15)
    flow = grpo_flow(ref, r, 0.0, 4, t_max=50.0)
    assert not flow.settled and flow.policy[0] > 0.9
    with pytest.raises(ValueError, match="beta must be > 0"):
        gvpo_expected_update(pi, ref, r, 0.0, None, 4)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        grpo_expected_update(pi, ref, r, -0.1, 4)
