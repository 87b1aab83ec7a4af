"""Stochastic rewards (docs/theory.md §4b): per-output reward distributions D_o in the engine.

Every expectation is checked against a brute-force enumeration written here: all
(output, reward) tuples of the other G − 1 group members, each weighted by
π(o_j)·D_{o_j}(l_j), with the group advantage computed from its definition
(A_1 = (r_1 − mean r)/(std r + eps), every member 0 when all rewards tie, as documented
in gvpo_theory/preference.py). Stationary policies are checked by substituting them into
the fixed-point equations of docs/theory.md §3 with that brute-force P_G.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import exact_preference

from gvpo_theory import (
    RewardDistribution,
    grpo_stationary_policy,
    kl_optimal_policy,
    preference_model,
)
from gvpo_theory.dynamics import gvpo_expected_update

STDS = ("population", "sample", "none")
PENALTIES = ("reverse_kl", "direct_kl")
GROUP_SIZES = (2, 3, 5, math.inf)


# ------------------------------------------------------------------ brute force


def group_advantage(groups: np.ndarray, std: str, eps: float) -> np.ndarray:
    """A_1 for every row (n, G) of rewards; 0 for a row whose rewards all tie."""
    g = groups.shape[1]
    dev = groups[:, 0] - groups.mean(axis=1)
    if std == "none":
        return dev
    var = np.sum((groups - groups.mean(axis=1, keepdims=True)) ** 2, axis=1)
    var /= g if std == "population" else g - 1
    tie = np.all(groups == groups[:, :1], axis=1)
    return np.where(tie, 0.0, dev / np.where(tie, 1.0, np.sqrt(var) + eps))


def brute_force_preference(
    pi: np.ndarray, levels: np.ndarray, probs: np.ndarray, group_size: int, std: str, eps: float = 0.0
) -> np.ndarray:
    """P_G(o|π) = E[A_1 | o_1 = o]: enumerate the first reward and all (o_j, r_j), j = 2..G."""
    k, n_lev = probs.shape
    cells = list(itertools.product(range(k), range(n_lev)))  # (output, level) of one member
    cell_w = np.array([pi[o] * probs[o, l] for o, l in cells])
    cell_r = np.array([levels[l] for _, l in cells])
    others = np.array(list(itertools.product(range(len(cells)), repeat=group_size - 1)), dtype=np.intp)
    w_others = np.prod(cell_w[others], axis=1)
    out = np.zeros(k)
    for o in range(k):
        for l in range(n_lev):
            if probs[o, l] == 0:
                continue
            groups = np.column_stack([np.full(others.shape[0], levels[l]), cell_r[others]])
            out[o] += probs[o, l] * (w_others @ group_advantage(groups, std, eps))
    return out


def infinite_group_preference(pi: np.ndarray, levels: np.ndarray, probs: np.ndarray, std: str) -> np.ndarray:
    """P_∞(o|π) = (E[r|o] − μ_m)/σ_m (no std: E[r|o] − μ_m), m = Σ_o π(o)·D_o."""
    m = pi @ probs
    mu = m @ levels
    sigma = math.sqrt(m @ (levels - mu) ** 2)
    dev = probs @ levels - mu
    return dev if std == "none" else dev / sigma


def random_problem(seed: int, k: int, n_lev: int, *, sparse: bool = True):
    """(π, levels, D) with some zero probabilities and a duplicated profile."""
    rng = np.random.default_rng(seed)
    levels = np.sort(rng.choice(np.arange(-4, 9), size=n_lev, replace=False) / 4.0)
    probs = rng.dirichlet(np.ones(n_lev), size=k)
    pi = rng.dirichlet(np.ones(k))
    if sparse:
        probs[rng.random(probs.shape) < 0.25] = 0.0
        probs[np.arange(k), rng.integers(n_lev, size=k)] += 0.3  # no empty row
        probs /= probs.sum(axis=1, keepdims=True)
        if k > 2 and rng.random() < 0.5:
            probs[-1] = probs[0]
    return pi, levels, probs


def one_hot(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    levels = np.unique(rewards)
    probs = (rewards[:, None] == levels[None, :]).astype(float)
    return levels, probs


# ------------------------------------------------------------------ point masses


DET_REWARDS = (np.array([1.0, 0.0]), np.array([0.0, 1.0, 0.5, 1.0]), np.array([2.0, -1.0, 0.0]))


@pytest.mark.parametrize("rewards", DET_REWARDS, ids=["binary", "three-level", "signed"])
@pytest.mark.parametrize("std", STDS)
@pytest.mark.parametrize("group_size", GROUP_SIZES)
def test_point_masses_reproduce_deterministic_preference(rewards, std, group_size) -> None:
    rng = np.random.default_rng(7)
    pi = rng.dirichlet(np.ones(rewards.size), size=3)
    levels, probs = one_hot(rewards)
    got = preference_model(pi, RewardDistribution(levels, probs), group_size, std)
    np.testing.assert_array_equal(got, preference_model(pi, rewards, group_size, std))
    for row, p in zip(got, pi):
        np.testing.assert_allclose(row, exact_preference(p, rewards, group_size, std), rtol=0, atol=1e-12)


# Engine bug (reported): for one-hot RewardDistributions the profiles come from
# np.unique(probs, axis=0), which sorts one-hot rows in *decreasing* level order, while
# the deterministic code paths (_solve_binary, _policy_from_mixture) read the profile
# masses as level masses. Point masses then give a wrong (and unconverged) policy, and
# a crash when some level carries no output.

@pytest.mark.parametrize("rewards", DET_REWARDS, ids=["binary", "three-level", "signed"])
@pytest.mark.parametrize("std", STDS)
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("group_size", GROUP_SIZES)
def test_point_masses_reproduce_deterministic_stationary(rewards, std, penalty, group_size) -> None:
    pi_ref = np.linspace(1.0, 2.0, rewards.size)
    pi_ref /= pi_ref.sum()
    levels, probs = one_hot(rewards)
    det = grpo_stationary_policy(pi_ref, rewards, 2.0, group_size, std, penalty)
    pm = grpo_stationary_policy(pi_ref, RewardDistribution(levels, probs), 2.0, group_size, std, penalty)
    assert bool(det.converged) and bool(pm.converged)
    np.testing.assert_allclose(pm.policy, det.policy, rtol=0, atol=1e-12)


def test_point_masses_with_an_unused_level() -> None:
    # levels (0, 1, 2) with outputs scoring 2 and 0: the same problem as rewards (2, 0).
    dist = RewardDistribution(np.array([0.0, 1.0, 2.0]), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    got = grpo_stationary_policy([0.3, 0.7], dist, 1.0, 3)
    want = grpo_stationary_policy([0.3, 0.7], np.array([2.0, 0.0]), 1.0, 3)
    np.testing.assert_allclose(got.policy, want.policy, rtol=0, atol=1e-12)


def test_deterministic_helper_is_point_masses() -> None:
    r = np.array([0.5, -1.0, 0.5, 3.0])
    dist = RewardDistribution.deterministic(r)
    np.testing.assert_array_equal(dist.levels, [-1.0, 0.5, 3.0])
    np.testing.assert_array_equal(dist.probs, one_hot(r)[1])
    np.testing.assert_array_equal(dist.expected(), r)


# ------------------------------------------------------------------ brute force vs exact P_G


@pytest.mark.claim("derived-noisy-rewards", way="exact numerics")
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.sampled_from([2, 3]),
    n_lev=st.sampled_from([2, 3]),
    group_size=st.sampled_from([2, 3, 4]),
    std=st.sampled_from(STDS),
    eps=st.sampled_from([0.0, 0.25]),
)
@settings(max_examples=40)
def test_preference_matches_brute_force(seed, k, n_lev, group_size, std, eps) -> None:
    pi, levels, probs = random_problem(seed, k, n_lev)
    got = preference_model(pi, RewardDistribution(levels, probs), group_size, std, eps)
    want = brute_force_preference(pi, levels, probs, group_size, std, eps)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert abs(pi @ got) < 1e-12  # E_π[P_G] = 0


@pytest.mark.parametrize("group_size", [2, 3, 4])
@pytest.mark.parametrize("std", STDS)
def test_preference_grid_with_zero_policy_mass(group_size, std) -> None:
    levels = np.array([-1.0, 0.0, 2.5])
    probs = np.array([[0.2, 0.0, 0.8], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    for pi in ([0.5, 0.5, 0.0], [0.0, 0.3, 0.7], [0.2, 0.3, 0.5]):
        pi = np.array(pi)
        got = preference_model(pi, RewardDistribution(levels, probs), group_size, std)
        np.testing.assert_allclose(got, brute_force_preference(pi, levels, probs, group_size, std),
                                   rtol=0, atol=1e-12)


def test_preference_batched_distributions() -> None:
    probs = np.stack([random_problem(s, 3, 3, sparse=False)[2] for s in range(4)])
    levels = np.array([0.0, 0.5, 1.0])
    pi = np.stack([random_problem(10 + s, 3, 3)[0] for s in range(4)])
    got = preference_model(pi, RewardDistribution(levels, probs), 3, "sample", 0.1)
    for i in range(4):
        np.testing.assert_allclose(got[i], brute_force_preference(pi[i], levels, probs[i], 3, "sample", 0.1),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("std", STDS)
def test_infinite_group_preference(std) -> None:
    for seed in range(5):
        pi, levels, probs = random_problem(seed, 3, 3)
        got = preference_model(pi, RewardDistribution(levels, probs), math.inf, std)
        np.testing.assert_allclose(got, infinite_group_preference(pi, levels, probs, std), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ stationary policies


def assert_fixed_point(pi_ref, pi, pref, beta, penalty, atol=1e-10) -> None:
    if penalty == "reverse_kl":
        np.testing.assert_allclose(pi * (1.0 - pref / beta), pi_ref, rtol=0, atol=atol)
        assert np.all(1.0 - pref / beta > 0)
    else:
        target = pi_ref * np.exp(pref / beta)
        np.testing.assert_allclose(pi, target / target.sum(), rtol=0, atol=atol)


@pytest.mark.claim("derived-noisy-rewards", way="exact numerics")
@pytest.mark.parametrize("group_size", [2, 3, 4, math.inf])
@pytest.mark.parametrize("std", STDS)
@pytest.mark.parametrize("penalty", PENALTIES)
def test_stationary_is_a_fixed_point_of_brute_force_preference(group_size, std, penalty) -> None:
    levels = np.array([0.0, 0.5, 1.0])
    probs = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.3, 0.4, 0.3]])
    pi_ref = np.array([0.2, 0.5, 0.3])
    for beta in (0.7, 3.0):
        dist = RewardDistribution(levels, probs)
        res = grpo_stationary_policy(pi_ref, dist, beta, group_size, std, penalty)
        assert bool(res.converged)
        pi = res.policy
        if math.isinf(group_size):
            pref = infinite_group_preference(pi, levels, probs, std)
        else:
            pref = brute_force_preference(pi, levels, probs, group_size, std)
        assert_fixed_point(pi_ref, pi, pref, beta, penalty)


@pytest.mark.claim("vy-no-std-direct-kl-pooling", way="exact numerics")
@pytest.mark.parametrize("group_size", [2, 3, 8, math.inf])
def test_no_std_direct_kl_is_pooling_on_expected_rewards(group_size) -> None:
    # P_G(o) = ((G − 1)/G)·(E[r|o] − μ_m), so π ∝ π_ref·exp((G − 1)·E[r|o]/(G·β)).
    levels = np.array([-1.0, 0.0, 2.0])
    probs = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.0, 1.0, 0.0], [0.3, 0.4, 0.3]])
    pi_ref = np.array([0.1, 0.4, 0.2, 0.3])
    factor = 1.0 if math.isinf(group_size) else (group_size - 1) / group_size
    for beta in (0.3, 1.0, 5.0):
        res = grpo_stationary_policy(pi_ref, RewardDistribution(levels, probs), beta, group_size, "none",
                                     "direct_kl")
        w = pi_ref * np.exp(factor * (probs @ levels) / beta)
        np.testing.assert_allclose(res.policy, w / w.sum(), rtol=1e-11, atol=0)


# ------------------------------------------------------------------ binary Bernoulli, G = 2


G2_FACTOR = {"population": 1.0, "sample": 1.0 / math.sqrt(2.0), "none": 0.5}


@pytest.mark.claim("vy-confidence-margin", way="exact numerics")
@given(s_a=st.floats(0.0, 1.0), s_b=st.floats(0.0, 1.0), p=st.floats(0.0, 1.0), std=st.sampled_from(STDS))
@settings(max_examples=40)
def test_g2_bernoulli_preference_is_margin_times_loss(s_a, s_b, p, std) -> None:
    gamma = s_a - s_b  # P(r_a > r_b) − P(r_b > r_a) for independent Bernoulli rewards
    got = preference_model([p, 1.0 - p], RewardDistribution.bernoulli([s_a, s_b]), 2, std)
    kappa = G2_FACTOR[std]
    np.testing.assert_allclose(got, [kappa * gamma * (1.0 - p), -kappa * gamma * p], rtol=0, atol=1e-12)


def eq14(p_ref: float, ratio: float) -> float:
    """The paper's eq. (14) at β/γ = ratio > 0."""
    return 0.5 * ((1.0 - ratio) + math.sqrt((1.0 - ratio) ** 2 + 4.0 * ratio * p_ref))


@pytest.mark.claim("vy-g2-beta-over-gamma", way="exact numerics")
@given(
    s_b=st.floats(0.0, 0.5),
    gamma=st.floats(0.05, 0.5),
    s_b2=st.floats(0.0, 0.5),
    ratio=st.floats(0.05, 20.0),
    p_ref=st.floats(0.02, 0.98),
)
@settings(max_examples=15)
def test_g2_bernoulli_stationary_depends_on_beta_over_margin(s_b, gamma, s_b2, ratio, p_ref) -> None:
    beta = ratio * gamma
    pis = []
    for lo in (s_b, s_b2):
        dist = RewardDistribution.bernoulli([lo + gamma, lo])
        res = grpo_stationary_policy([p_ref, 1 - p_ref], dist, beta, 2)
        assert bool(res.converged)
        pis.append(float(res.policy[0]))
    np.testing.assert_allclose(pis, eq14(p_ref, ratio), rtol=1e-10)


# ------------------------------------------------------------------ KL / GVPO optimum


def brute_force_gvpo_update(pi, pi_ref, levels, probs, beta, k) -> np.ndarray:
    """E[β·Σ_i w_i·e_{y_i}] over on-policy groups of k (output, reward) pairs."""
    n_out, n_lev = probs.shape
    cells = list(itertools.product(range(n_out), range(n_lev)))
    out = np.zeros(n_out)
    for group in itertools.product(cells, repeat=k):
        w = np.prod([pi[o] * probs[o, l] for o, l in group])
        if w == 0:
            continue
        r = np.array([levels[l] for _, l in group])
        ell = np.array([math.log(pi[o] / pi_ref[o]) for o, _ in group])
        weights = (r - r.mean()) - beta * (ell - ell.mean())
        for (o, _), wi in zip(group, weights):
            out[o] += w * beta * wi
    return out


def test_kl_optimum_uses_expected_reward() -> None:
    levels = np.array([0.0, 1.0, 3.0])
    probs = np.array([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0], [0.9, 0.0, 0.1], [0.2, 0.2, 0.6]])
    pi_ref = np.array([0.4, 0.3, 0.2, 0.1])
    mean_r = np.array([1.5, 1.0, 0.3, 2.0])
    for beta in (0.1, 1.0, 10.0):
        w = pi_ref * np.exp(mean_r / beta)
        want = w / w.sum()
        np.testing.assert_allclose(kl_optimal_policy(pi_ref, RewardDistribution(levels, probs), beta), want,
                                   rtol=1e-12)
        # only E[r|o] counts: the risky output 0 (mean 1.5) gains on the sure output 1
        # (mean 1.0) at every β, whatever its variance.
        assert want[0] > want[1] * pi_ref[0] / pi_ref[1]


@pytest.mark.claim("derived-noisy-rewards", way="exact numerics")
@pytest.mark.parametrize("k", [2, 3])
def test_gvpo_update_vanishes_at_expected_reward_pooling(k) -> None:
    levels = np.array([0.0, 1.0, 3.0])
    probs = np.array([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0], [0.9, 0.0, 0.1]])
    pi_ref = np.array([0.5, 0.3, 0.2])
    beta = 0.8
    w = pi_ref * np.exp((probs @ levels) / beta)
    pi_star = w / w.sum()
    dist = RewardDistribution(levels, probs)
    at_star = brute_force_gvpo_update(pi_star, pi_ref, levels, probs, beta, k)
    np.testing.assert_allclose(at_star, 0.0, atol=1e-13)
    np.testing.assert_allclose(gvpo_expected_update(pi_star, pi_ref, dist, beta, None, k), 0.0, atol=1e-13)
    # elsewhere the engine's expected update equals the brute-force expectation
    pi = np.array([0.2, 0.5, 0.3])
    want = brute_force_gvpo_update(pi, pi_ref, levels, probs, beta, k)
    got = gvpo_expected_update(pi, pi_ref, dist, beta, None, k)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    # pooling on the *modal* reward is not the optimum
    modal = pi_ref * np.exp(levels[np.argmax(probs, axis=1)] / beta)
    assert np.max(np.abs(brute_force_gvpo_update(modal / modal.sum(), pi_ref, levels, probs, beta, k))) > 1e-3


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("levels", "probs", "match"),
    [
        ([0.0, 1.0], [[1.2, -0.2], [0.5, 0.5]], "reward_probs must be non-negative"),
        ([0.0, 1.0], [[0.6, 0.6], [0.5, 0.5]], "reward_probs must sum to 1"),
        ([0.0, 1.0], [[0.3, 0.3], [0.5, 0.5]], "reward_probs must sum to 1"),
        ([0.0, 1.0], [[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]], "levels"),
        ([0.0, 0.5, 1.0], [[0.5, 0.5], [0.5, 0.5]], "levels"),
        ([0.0, float("nan")], [[0.5, 0.5], [0.5, 0.5]], "levels must be finite"),
        ([0.0, float("inf")], [[0.5, 0.5], [0.5, 0.5]], "levels must be finite"),
        ([1.0, 0.0], [[0.5, 0.5], [0.5, 0.5]], "levels must be strictly increasing"),
        ([0.0, 0.0], [[0.5, 0.5], [0.5, 0.5]], "levels must be strictly increasing"),
        ([], [[]], "levels must be a non-empty"),
        ([[0.0, 1.0]], [[0.5, 0.5]], "levels must be a non-empty 1-D"),
        ([0.0, 1.0], [0.5, 0.5], "reward_probs must have shape"),
        ([0.0, 1.0], [[float("nan"), 0.5], [0.5, 0.5]], "reward_probs must be finite"),
        ([0.0, 1.0], [["a", "b"]], "reward_probs must be numeric"),
    ],
)
def test_bad_reward_distribution(levels, probs, match) -> None:
    with pytest.raises(ValueError, match=match):
        RewardDistribution(np.asarray(levels, dtype=float), probs)


@pytest.mark.parametrize("bad", [[1.1, 0.5], [-0.1, 0.5], [float("nan"), 0.5], 0.5])
def test_bad_bernoulli(bad) -> None:
    with pytest.raises(ValueError, match="success_prob"):
        RewardDistribution.bernoulli(bad)


def test_distribution_output_count_must_match_policy() -> None:
    dist = RewardDistribution.bernoulli([0.9, 0.5, 0.1])
    with pytest.raises(ValueError, match="rewards has 3 outputs but the policy has 2"):
        preference_model([0.5, 0.5], dist, 3)
    with pytest.raises(ValueError, match="rewards has 3 outputs but the policy has 2"):
        grpo_stationary_policy([0.5, 0.5], dist, 1.0, 3)
