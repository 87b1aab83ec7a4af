"""Every framework entry of the registry against the frameworks' transcribed arithmetic.

References: tests/framework_reference.py (numpy transcriptions of TRL / verl / GVPO loss
code for length-1 outputs) with expectations by brute-force enumeration of all K^G ordered
groups — independent of gvpo_theory's preference tables and solvers. Here:

(a) each entry's exact expected update (gvpo_theory.frameworks.expected_update) equals the
    enumeration over groups of its framework's per-group gradient, to 1e-12;
(b) each entry's stationary policy (where one exists) is a zero of that enumerated expected
    gradient to 1e-9, and where the entry says "boundary" the enumerated dynamics do run
    there;
(c) the derivations: k1 in the reward is stationary at π* for every normalisation and
    restoring around it; k3 in the reward is the Fisher–Rao gradient flow of
    V = E r − β·KL(π‖π_ref) + β·KL(π_ref‖π); ReMax and OPO reduce to RLOO and Dr. GRPO; the
    official GVPO code's rollout map π ∝ π_old·exp(r/β) minimises its expected loss exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from framework_reference import (
    Setting,
    expected_gradient,
    group_loss,
    gvpo_official,
    gvpo_paper,
    random_problem,
    verl_grpo,
    verl_grpo_passk,
    verl_opo,
    verl_remax,
)

from gvpo_theory import estimators
from gvpo_theory.frameworks import (
    expected_update,
    gvpo_rollout_iterates,
    passk_level_advantages,
    stationary_point,
)
from gvpo_theory.objective import OBJECTIVES, as_objective, objective
from gvpo_theory.pooling import kl_optimal_policy
from gvpo_theory.shaping import k3_inverse, potential, shaped_rewards

MATCH = 1e-12

PROBLEMS = [
    (2, 4, [1.0, 0.0]),
    (3, 3, [1.0, 0.0, 0.5]),
    (3, 4, [0.2, 1.0, -0.5]),
    (4, 3, [1.0, 0.5, 0.5, 0.0]),
]


def verl_k3(**kw) -> Setting:
    """verl GRPO (std + 1e-6) with the *unclamped* k3 in the loss (kl kind "k3")."""
    return Setting("verl[grpo,unclamped k3]", kw.pop("advantage", "mean_std"), "verl", epsilon=1e-6,
                   kl="k3", **kw)


# entry (name, field changes) → its framework transcription
TRANSCRIBED = [
    (("kl-loss-k1", {}), verl_grpo(kl_loss_type="k1")),
    (("kl-loss-k2", {}), verl_grpo(kl_loss_type="k2")),
    (("kl-loss-k3", {}), verl_k3()),
    (("kl-loss-low-var-kl", {}), verl_grpo()),
    (("grpo-vectorized", {}), verl_k3(advantage="mean_std_var_floor")),
    (("kl-reward-k1", {}), verl_grpo(kl_loss_type=None, kl_in_reward="kl")),
    (("kl-reward-k3", {}),
     Setting("verl[kl_in_reward=k3]", "mean_std", "verl", epsilon=1e-6, kl_in_reward="k3")),
    (("kl-reward-low-var-kl", {}), verl_grpo(kl_loss_type=None, kl_in_reward="low_var_kl")),
    (("kl-reward-k1", {"scale": "none"}), verl_grpo(norm_adv_by_std_in_grpo=False, kl_loss_type=None,
                                                    kl_in_reward="kl")),
    (("dapo", {}), verl_grpo(kl_loss_type=None, filter_groups=True)),
    (("dapo", {"penalty": "low_var_kl"}), verl_grpo(filter_groups=True)),
    (("dapo", {"penalty": "k1"}), verl_grpo(kl_loss_type="k1", filter_groups=True)),
    (("dapo", {"penalty": "direct_kl"}), verl_grpo(kl_loss_type="k2", filter_groups=True)),
    (("gvpo", {}), gvpo_paper()),
    (("gvpo-official", {}), gvpo_official()),
    (("remax", {}), verl_remax()),
    (("remax", {"penalty": "low_var_kl"}), verl_remax("low_var_kl")),
    (("opo", {}), verl_opo()),
    (("grpo-passk", {}), verl_grpo_passk()),
    (("grpo-passk", {"scale": "none", "penalty": "direct_kl"}),
     verl_grpo_passk(norm_adv_by_std_in_grpo=False, kl_loss_type="k2")),
]


def _id(item) -> str:
    (name, changes), _ = item
    return name + ("" if not changes else str(sorted(changes.items())))


# ------------------------------------------------------------------ (a) expected updates


@pytest.mark.parametrize("item", TRANSCRIBED, ids=_id)
def test_expected_update_is_the_enumerated_framework_gradient(item):
    (name, changes), setting = item
    for k, g, rewards in PROBLEMS:
        for seed, beta in enumerate((0.04, 0.6)):
            pi, ref = random_problem(k, 31 * k + 7 * g + seed)
            obj = objective(name, g, **changes)
            brute = -expected_gradient(setting, pi, ref, rewards, beta, g)
            np.testing.assert_allclose(expected_update(pi, ref, rewards, beta, obj), brute,
                                       rtol=0, atol=MATCH, err_msg=f"{name} {changes} K={k} G={g}")


def test_low_var_kl_update_where_the_clamp_binds():
    # π_ref/π = 40 and 25 on two outputs: the clamp binds there; enumerated verl loss agrees.
    pi, ref = np.array([0.01, 0.02, 0.47, 0.5]), np.array([0.4, 0.5, 0.05, 0.05])
    rewards = [1.0, 0.0, 0.5, 0.2]
    obj = objective("kl-loss-low-var-kl", 3)
    for beta in (0.001, 0.04, 1.0):
        brute = -expected_gradient(verl_grpo(), pi, ref, rewards, beta, 3)
        np.testing.assert_allclose(expected_update(pi, ref, rewards, beta, obj), brute, rtol=0, atol=MATCH)


def test_passk_level_advantages_by_hand():
    # G = 2, levels (0, 1), masses (q0, q1): a member scoring 1 is the unique max iff the
    # other scores 0 (prob q0); then A = (1 − 0)/(sample std of {0, 1} = 1/√2 → +eps).
    q = np.array([0.7, 0.3])
    obj = objective("grpo-passk", 2)
    a = passk_level_advantages(q, np.array([0.0, 1.0]), obj)
    np.testing.assert_allclose(a, [0.0, 0.7 / (math.sqrt(0.5) + 1e-6)], rtol=1e-15)


def test_remax_and_opo_reduce_to_rloo_and_dr_grpo_in_expectation():
    # Any baseline that does not depend on the sample drops out of the expected gradient:
    # ReMax's r(greedy) gives π(o)(r(o) − E_π r), RLOO's direction; OPO with length-1 outputs
    # is the group mean, Dr. GRPO.
    for k, g, rewards in PROBLEMS:
        pi, ref = random_problem(k, 5 * k + g)
        r = np.asarray(rewards)
        np.testing.assert_allclose(-expected_gradient(verl_remax(), pi, ref, r, 0.3, g), pi * (r - pi @ r),
                                   rtol=0, atol=MATCH)
        np.testing.assert_allclose(-expected_gradient(verl_opo(), pi, ref, r, 0.3, g),
                                   (g - 1) / g * pi * (r - pi @ r), rtol=0, atol=MATCH)
    assert objective("remax", 4).advantage == objective("rloo", 4).advantage
    assert objective("opo", 4).advantage == objective("dr-grpo", 4).advantage


def test_batch_level_and_non_level_entries_raise_clear_errors():
    with pytest.raises(ValueError, match=r"couples prompts; see gvpo_theory\.dataset"):
        objective("reinforce++", 8)
    with pytest.raises(ValueError, match=r"gvpo_theory\.frameworks"):
        as_objective(objective("kl-reward-k1", 8))
    with pytest.raises(ValueError, match="reward_kl"):
        objective("grpo", 8, reward_kl="abs")
    with pytest.raises(ValueError, match="unknown field"):
        objective("grpo", 8, temperature=1.0)
    with pytest.raises(ValueError, match="objective must be an Objective"):
        expected_update([0.5, 0.5], [0.5, 0.5], [1.0, 0.0], 0.1, "grpo")
    with pytest.raises(ValueError, match="beta must be > 0 for GVPO"):
        expected_update([0.5, 0.5], [0.5, 0.5], [1.0, 0.0], 0.0, objective("gvpo", 4))
    for name, entry in OBJECTIVES.items():
        assert entry.label and name == entry.name


# ------------------------------------------------------------------ (b) stationary points


def _brute_rest(setting, pi, ref, rewards, beta, g) -> float:
    return float(np.max(np.abs(expected_gradient(setting, pi, ref, rewards, beta, g))))


@pytest.mark.parametrize(("name", "changes", "setting", "beta"), [
    ("kl-loss-low-var-kl", {}, verl_grpo(), 0.5),
    ("kl-loss-k2", {}, verl_grpo(kl_loss_type="k2"), 0.1),
    ("kl-reward-k1", {}, verl_grpo(kl_loss_type=None, kl_in_reward="kl"), 0.3),
    ("kl-reward-k1", {"scale": "none"}, verl_grpo(norm_adv_by_std_in_grpo=False, kl_loss_type=None,
                                                  kl_in_reward="kl"), 0.3),
    ("dapo", {"penalty": "low_var_kl"}, verl_grpo(filter_groups=True), 2.0),
    ("dapo", {"penalty": "direct_kl"}, verl_grpo(kl_loss_type="k2", filter_groups=True), 0.2),
    ("grpo-passk", {"penalty": "direct_kl"}, verl_grpo_passk(kl_loss_type="k2"), 0.3),
    ("gvpo", {}, gvpo_paper(), 0.4),
])
def test_interior_stationary_points_are_zeros_of_the_enumerated_gradient(name, changes, setting, beta):
    ref, rewards, g = np.array([0.3, 0.45, 0.25]), np.array([1.0, 0.0, 0.5]), 3
    sol = stationary_point(ref, rewards, beta, objective(name, g, **changes))
    assert sol.kind == "interior" and sol.converged, sol.message
    assert _brute_rest(setting, sol.policy, ref, rewards, beta, g) <= 1e-9
    # ... and not a trivial point: π moved away from π_ref
    assert np.max(np.abs(sol.policy - ref)) > 1e-3


def test_dapo_filter_moves_the_k3_stationary_point():
    # The filter weights each output's KL by P(its group is not tied) = 1 − m_l^{G−1}: the
    # rest point differs from GRPO's k3 point, and is a zero of the enumerated DAPO gradient.
    ref, rewards, g, beta = np.array([0.3, 0.7]), np.array([1.0, 0.0]), 4, 0.3
    dapo = stationary_point(ref, rewards, beta, objective("dapo", g, penalty="reverse_kl"))
    plain = stationary_point(ref, rewards, beta, objective("kl-loss-k3", g))
    assert dapo.converged and plain.converged
    assert abs(dapo.policy[0] - plain.policy[0]) > 1e-3
    setting = verl_k3(filter_groups=True)
    assert _brute_rest(setting, dapo.policy, ref, rewards, beta, g) <= 1e-9
    assert _brute_rest(setting, plain.policy, ref, rewards, beta, g) > 1e-4


def _integrate_brute(setting, pi0, ref, rewards, beta, g, steps, lr, stop=None):
    """Euler on the logits with the enumerated expected framework gradient (until ``stop``)."""
    theta = np.log(pi0)
    for _ in range(steps):
        pi = np.exp(theta - theta.max())
        pi /= pi.sum()
        if stop is not None and stop(pi):
            return pi
        theta = theta - lr * expected_gradient(setting, pi, ref, rewards, beta, g)
    pi = np.exp(theta - theta.max())
    return pi / pi.sum()


@pytest.mark.parametrize("beta", [0.001, 0.04])
def test_verl_low_var_kl_sends_the_losing_outputs_to_zero(beta):
    # A 4-arm bandit: the k3 fixed point has π_ref/π far above 13.61 on the losers, so verl's
    # clamp binds there; the entry reports the boundary limit (the losers at 0, verified), and
    # verl's own expected dynamics (enumerated) drive the losing outputs' mass towards 0, not
    # to the k3 point.
    ref, rewards, g = np.array([0.2, 0.3, 0.25, 0.25]), np.array([1.0, 0.0, 0.0, 0.5]), 4
    obj = objective("kl-loss-low-var-kl", g)
    sol = stationary_point(ref, rewards, beta, obj)
    k3 = stationary_point(ref, rewards, beta, objective("kl-loss-k3", g))
    assert k3.converged and not sol.converged and sol.verified and sol.kind == "boundary"
    assert np.all(sol.policy[rewards < rewards.max()] == 0.0)
    assert np.max(ref / k3.policy) > estimators.CLAMP_RATIO
    assert np.max(np.abs(expected_update(k3.policy, ref, rewards, beta, obj))) > 1e-4
    # Once clamped, a loser's logit moves at π(o)·P(o) (no KL force), so its mass decays like
    # 1/t: doubling the time roughly halves it, instead of settling at the k3 point.
    losers = rewards < rewards.max()
    pi = _integrate_brute(verl_grpo(epsilon=1e-6), ref, ref, rewards, beta, g, steps=500, lr=2.0)
    pi_2t = _integrate_brute(verl_grpo(epsilon=1e-6), pi, ref, rewards, beta, g, steps=500, lr=2.0)
    assert pi_2t[losers].sum() < 0.6 * pi[losers].sum()
    if beta == 0.04:
        assert pi_2t[losers].sum() < 0.2 * k3.policy[losers].sum()


def test_k3_in_the_reward_runs_to_the_boundary_for_moderate_beta_and_rests_for_large_beta():
    ref, rewards, g = np.array([0.3, 0.7]), np.array([1.0, 0.0]), 4
    setting = Setting("verl[kl_in_reward=k3, no std]", "mean", "verl", kl_in_reward="k3")
    small = stationary_point(ref, rewards, 5.0, objective("kl-reward-k3", g, scale="none"))
    assert small.kind == "boundary"
    pi = _integrate_brute(setting, ref, ref, rewards, 5.0, g, steps=3000, lr=0.05, stop=lambda p: p[1] < 1e-3)
    assert pi[1] < 1e-3  # the unrewarded output's mass vanishes under the enumerated dynamics
    large = stationary_point(ref, rewards, 50.0, objective("kl-reward-k3", g, scale="none"))
    assert large.kind == "interior" and large.converged, large.message
    assert _brute_rest(setting, large.policy, ref, rewards, 50.0, g) <= 1e-9
    # not π*: the condition is r − β·k3 constant, not r − β·log(π/π_ref) constant
    assert abs(large.policy[0] - kl_optimal_policy(ref, rewards, 50.0)[0]) > 1e-3


# ------------------------------------------------------------------ (c) derivations


@pytest.mark.parametrize("adv", ["mean_std", "mean", "leave_one_out"])
def test_k1_in_the_reward_is_stationary_at_pi_star_and_restoring_around_it(adv):
    # At π*, r − β·log(π/π_ref) is constant: every group ties, every update vanishes. Off π*
    # the enumerated update points back: <F, log(π/π*)> < 0 for random perturbations.
    ref, rewards, g, beta = np.array([0.5, 0.25, 0.25]), np.array([0.0, 1.0, 0.3]), 3, 0.7
    star = kl_optimal_policy(ref, rewards, beta)
    setting = Setting(f"k1 in reward [{adv}]", adv, "verl", epsilon=1e-6, kl_in_reward="k1")
    shaped = shaped_rewards(rewards, star, ref, beta, "k1")
    assert np.ptp(shaped) < 1e-15
    rng = np.random.default_rng(3)
    for _ in range(4):
        delta = rng.normal(size=3) * 1e-3
        pi = star * np.exp(delta)
        pi /= pi.sum()
        f = -expected_gradient(setting, pi, ref, rewards, beta, g)
        assert f @ np.log(pi / star) < 0
    sol = stationary_point(ref, rewards, beta, objective("kl-reward-k1", g))
    np.testing.assert_allclose(sol.policy, star, rtol=1e-14)


def test_k1_in_the_reward_at_pi_star_gives_a_zero_update_when_the_ties_are_exact():
    # Rewards chosen so that r − log(π*/π_ref) ties exactly in floating point (β = 1, powers of
    # two): the enumerated framework update is exactly 0 under every normalisation.
    ref, star = np.array([0.5, 0.25, 0.25]), np.array([0.25, 0.5, 0.25])
    rewards = np.log(star) - np.log(ref)
    for adv in ("mean_std", "mean", "leave_one_out"):
        setting = Setting(adv, adv, "verl", epsilon=0.0, kl_in_reward="k1")
        assert np.all(expected_gradient(setting, star, ref, rewards, 1.0, 3) == 0.0)


def test_k3_in_the_reward_is_the_gradient_flow_of_the_jeffreys_potential():
    # ∂V/∂π_o − E_π ∂V/∂π = r'(o) − E_π r' with V = E r − β KL(π‖π_ref) + β KL(π_ref‖π);
    # checked by central differences of V along e_o − π directions.
    pi, ref = random_problem(4, 11)
    rewards, beta, h = np.array([0.3, -1.0, 2.0, 0.7]), 0.8, 1e-6
    # (and the same for k1, whose potential is the RLHF objective)
    for kind in ("k3", "k1"):
        shaped = shaped_rewards(rewards, pi, ref, beta, kind)
        for o in range(4):
            d = np.eye(4)[o] - pi
            up = potential(pi + h * d, ref, rewards, beta, kind)
            down = potential(pi - h * d, ref, rewards, beta, kind)
            assert (up - down) / (2 * h) == pytest.approx(d @ shaped, abs=1e-8)


def test_k3_inverse_by_lambert_w():
    y = np.array([0.0, 1e-6, 0.3, 2.0, 9.5])
    for upper in (False, True):
        u = k3_inverse(y, np.full(y.shape, upper))
        np.testing.assert_allclose(u - np.log(u) - 1.0, y, rtol=1e-12, atol=1e-15)
        assert np.all(u >= 1.0) if upper else np.all(u <= 1.0)


def test_low_var_kl_clamp_thresholds():
    for x in (estimators.CLAMP_LOG_RATIO_HIGH, estimators.CLAMP_LOG_RATIO_LOW):
        assert math.exp(x) - x - 1.0 == pytest.approx(estimators.VALUE_CLAMP, rel=1e-13)
    assert estimators.CLAMP_RATIO == pytest.approx(13.6109, abs=1e-4)
    assert math.exp(-estimators.CLAMP_LOG_RATIO_LOW) == pytest.approx(5.99e4, rel=1e-3)


def test_gvpo_official_rollout_map_minimises_its_expected_loss_exactly():
    # With the anchor π_old fixed through a rollout, the official loss's expectation over all
    # groups from π_old is >= 0 and is 0 at π_new ∝ π_old·exp(r/β) (enumerated here), and
    # positive at perturbations: the unique minimiser. Iterating gives π_t ∝ π_0·exp(t r/β).
    from framework_reference import all_groups

    pi_old, rewards, beta, g = np.array([0.2, 0.5, 0.3]), np.array([1.0, 0.0, 0.4]), 0.7, 3
    groups = all_groups(3, g)
    weight = np.prod(pi_old[groups], axis=1)

    def expected_loss(pi_new):
        theta = np.log(pi_new)
        return sum(w * group_loss(gvpo_official(), theta, np.log(pi_old), grp, rewards, pi_old, beta)
                   for w, grp in zip(weight, groups))

    nxt = gvpo_rollout_iterates(pi_old, rewards, beta, 1)[1]
    assert expected_loss(nxt) < 1e-28
    rng = np.random.default_rng(0)
    for _ in range(3):
        pert = nxt * np.exp(1e-3 * rng.normal(size=3))
        assert expected_loss(pert / pert.sum()) > 1e-9
    iterates = gvpo_rollout_iterates(pi_old, rewards, beta, 6)
    odds = iterates[:, 1] / iterates[:, 0]
    np.testing.assert_allclose(odds[1:] / odds[:-1], math.exp(-(1.0 - 0.0) / beta), rtol=1e-12)
    sol = stationary_point(pi_old, rewards, beta, objective("gvpo-official", g))
    assert sol.kind == "boundary"
    np.testing.assert_array_equal(sol.policy, [1.0, 0.0, 0.0])


# ------------------------------------------------------------------ faithful torch losses

TORCH_ENTRIES = [
    ("kl-loss-k1", {}), ("kl-loss-k2", {}), ("kl-loss-k3", {}), ("kl-loss-low-var-kl", {}),
    ("grpo-vectorized", {}), ("kl-reward-k1", {}), ("kl-reward-k3", {}), ("kl-reward-low-var-kl", {}),
    ("dapo", {}), ("dapo", {"penalty": "low_var_kl"}), ("gvpo", {}), ("gvpo-official", {}),
    ("opo", {}), ("gpg", {}), ("grpo-passk", {"penalty": "k1"}), ("rloo", {}),
]


@pytest.mark.parametrize(("name", "changes"), TORCH_ENTRIES, ids=lambda x: str(x))
def test_torch_framework_losses_autograd_closed_form_and_expectation(name, changes):
    import torch
    from framework_reference import all_groups

    from gvpo_theory.torch.framework_losses import framework_expected_grad, framework_grad, framework_loss

    k, g, beta = 3, 3, 0.3
    obj = objective(name, g, **changes)
    # π_ref/π up to 40 on the first arm: low_var_kl's clamp binds there
    pi = torch.tensor([[0.01, 0.59, 0.40], [0.3, 0.45, 0.25]], dtype=torch.float64)
    ref = torch.tensor([[0.4, 0.3, 0.3], [0.2, 0.5, 0.3]], dtype=torch.float64)
    arm_rewards = torch.tensor([[1.0, 0.0, 0.5], [0.2, 1.0, -0.5]], dtype=torch.float64)
    logits, ref_logits = torch.log(pi), torch.log(ref)
    groups = torch.from_numpy(all_groups(k, g))
    # (1) autograd of the faithful loss = the closed form, group by group
    for row in (0, 5, 13, 26):
        samples = groups[row].repeat(2, 1)
        theta = logits.clone().requires_grad_(True)
        framework_loss(obj, theta, samples, arm_rewards, ref_logits, beta).backward()
        closed = framework_grad(obj, logits, samples, arm_rewards, ref_logits, beta)
        torch.testing.assert_close(theta.grad, closed, rtol=0, atol=1e-13)
    # (2) the closed form averaged over all K^G groups = the exact expected gradient (engine)
    n = groups.shape[0]
    total = torch.zeros_like(logits)
    for ctx in range(2):  # every group of one context as a batch of n rows
        rows = dict(logits=logits[ctx].expand(n, k), arm_rewards=arm_rewards[ctx].expand(n, k),
                    ref_logits=ref_logits[ctx].expand(n, k))
        weight = torch.prod(pi[ctx][groups], dim=1, keepdim=True)
        grads = framework_grad(obj, rows["logits"], groups, rows["arm_rewards"], rows["ref_logits"], beta)
        total[ctx] = (weight * grads).sum(0)
    expected = framework_expected_grad(obj, logits, arm_rewards, ref_logits, beta)
    torch.testing.assert_close(total, expected, rtol=0, atol=1e-12)
