"""What TRL, verl and the official GVPO code compute for length-1 outputs, against the engine.

tests/framework_reference.py transcribes each framework's per-group loss (docs/frameworks.md
records the repository, commit and file each formula was read from). Here:

(a) its closed-form gradients at θ = θ_old match central finite differences of the losses;
(b) TRL with β > 0 and scale_rewards="group" is, in expectation over groups,
    grpo_expected_update(..., std="sample", penalty="reverse_kl", eps=1e-4);
(c) verl GRPO without std is std="none" (Dr. GRPO), with std it is std="sample", eps=1e-6;
    RLOO is Dr. GRPO times G/(G − 1);
(d) verl's k2 and TRL's bias-corrected k3 act as penalty="direct_kl";
(e) verl's low_var_kl is k3 until its value clamp binds, and then gives that output no
    KL gradient at all;
(f) verl's k1 in the loss has zero expected KL gradient at π_θ = π_old;
plus the two GVPO variants against gvpo_expected_update, verl's KL-in-reward, and DAPO's
group filter.

Convention: framework_reference returns loss gradients (descent directions); the engine's F
is the ascent direction of the expected objective (1/G)·Σ_i A_i·ratio_i − β·E[D], so the
comparisons are F = −expected_gradient (scale 1: TRL and verl average the per-sample losses
of a batch made of this one group; every loss_type / loss_agg_mode only multiplies both the
policy term and the KL term by the same positive constant for length-1 outputs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from framework_reference import (
    LOW_VAR_KL_VALUE_CLAMP,
    Setting,
    advantages,
    expected_gradient,
    group_gradient,
    group_loss,
    gvpo_official,
    gvpo_paper,
    kl_gradient,
    kl_slope,
    kl_value,
    random_problem,
    trl,
    verl_grpo,
    verl_grpo_passk,
    verl_rloo,
)

from gvpo_theory.dynamics import grpo_expected_update, gvpo_expected_update

MATCH = 1e-12

# (K, G) small enough to enumerate K^G groups quickly, with binary, three-level and
# all-distinct rewards (ties inside groups matter for the std conventions).
PROBLEMS = [
    (2, 2, [1.0, 0.0]),
    (2, 4, [0.0, 1.0]),
    (3, 3, [1.0, 0.0, 0.0]),
    (3, 4, [0.2, 1.0, -0.5]),
    (4, 3, [1.0, 0.5, 0.5, 0.0]),
    (4, 4, [0.3, -1.2, 2.0, 0.7]),
]


def engine_pg(pi, rewards, group_size, std, eps=0.0):
    """The engine's policy-gradient part π·P_G alone: the k3 penalty gradient π − π_ref is 0
    when π_ref = π."""
    return grpo_expected_update(pi, pi, rewards, 1.0, group_size, std=std, penalty="reverse_kl", eps=eps)


# ------------------------------------------------------------------ (a) gradients


FD_SETTINGS = [
    trl(),
    trl("none"),
    trl(use_bias_correction_kl=True),
    verl_grpo(),
    verl_grpo(norm_adv_by_std_in_grpo=False),
    verl_grpo(vectorized=True),
    verl_grpo(kl_loss_type="k1"),
    verl_grpo(kl_loss_type="k2"),
    verl_grpo(kl_loss_type="abs"),
    verl_grpo(kl_loss_type=None, kl_in_reward="kl"),
    verl_grpo(kl_loss_type=None, kl_in_reward="low_var_kl"),
    verl_rloo(kl_loss_type="low_var_kl"),
    verl_grpo_passk(kl_loss_type="k2"),
    gvpo_official(),
    gvpo_paper(),
]


def finite_difference(setting: Setting, theta, arms, rewards, pi_ref, beta, h=1e-6):
    """Central differences of L(θ) at θ = θ_old (θ_old held fixed inside L)."""
    grad = np.empty(theta.size)
    for k in range(theta.size):
        step = np.zeros(theta.size)
        step[k] = h
        up = group_loss(setting, theta + step, theta, arms, rewards, pi_ref, beta)
        down = group_loss(setting, theta - step, theta, arms, rewards, pi_ref, beta)
        grad[k] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("setting", FD_SETTINGS, ids=lambda s: s.name)
def test_closed_form_gradient_matches_finite_differences(setting):
    rng = np.random.default_rng(7)
    for trial in range(6):
        k, g = 3 + trial % 2, 3 + trial % 3
        theta = rng.normal(size=k)
        pi = np.exp(theta - theta.max())
        pi /= pi.sum()
        theta = np.log(pi)  # θ_old = log π exactly, as group_gradient assumes
        pi_ref = rng.dirichlet(np.full(k, 2.0))
        rewards = rng.normal(size=k)
        arms = rng.integers(0, k, size=g)
        beta = 0.05 + rng.random()
        analytic = group_gradient(setting, pi, arms, rewards, pi_ref, beta)
        numeric = finite_difference(setting, theta, arms, rewards, pi_ref, beta)
        assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-8), (setting.name, arms)


def test_low_var_kl_gradient_matches_finite_differences_where_the_clamp_binds():
    # π_ref/π = 40 on output 0: the clamped k3 is flat there, and the FD sees it.
    pi = np.array([0.01, 0.59, 0.4])
    pi_ref = np.array([0.4, 0.3, 0.3])
    setting = verl_grpo(kl_loss_type="low_var_kl")
    arms = np.array([0, 1, 0, 2])
    analytic = group_gradient(setting, pi, arms, [1.0, 0.0, 0.5], pi_ref, 0.7)
    numeric = finite_difference(setting, np.log(pi), arms, np.array([1.0, 0.0, 0.5]), pi_ref, 0.7)
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ (b) TRL = the engine


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS)
def test_trl_group_scaling_with_kl_is_sample_std_k3_eps_1e4(k, g, rewards):
    for seed in range(3):
        pi, ref = random_problem(k, 100 * k + 10 * g + seed)
        beta = (0.04, 0.5, 3.0)[seed]
        brute = -expected_gradient(trl(), pi, ref, rewards, beta, g)
        engine = grpo_expected_update(pi, ref, rewards, beta, g, std="sample", penalty="reverse_kl", eps=1e-4)
        np.testing.assert_allclose(brute, engine, rtol=0, atol=MATCH)


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS[:4])
def test_trl_without_kl_and_without_scaling(k, g, rewards):
    pi, ref = random_problem(k, k + g)
    # β = 0 (TRL's default): no KL term, no reference model — π·P_G alone.
    np.testing.assert_allclose(-expected_gradient(trl(), pi, ref, rewards, 0.0, g),
                               engine_pg(pi, rewards, g, "sample", 1e-4), rtol=0, atol=MATCH)
    # scale_rewards="none": Dr. GRPO's advantage.
    np.testing.assert_allclose(
        -expected_gradient(trl("none"), pi, ref, rewards, 0.3, g),
        grpo_expected_update(pi, ref, rewards, 0.3, g, std="none", penalty="reverse_kl"), rtol=0, atol=MATCH)


# ------------------------------------------------------------------ (c) verl GRPO / RLOO


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS)
def test_verl_grpo_std_conventions(k, g, rewards):
    pi, ref = random_problem(k, 7 * k + g)
    beta = 0.2
    no_std = -expected_gradient(verl_grpo(norm_adv_by_std_in_grpo=False), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(
        no_std, grpo_expected_update(pi, ref, rewards, beta, g, std="none", penalty="reverse_kl"),
        rtol=0, atol=MATCH)
    with_std = -expected_gradient(verl_grpo(), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(
        with_std,
        grpo_expected_update(pi, ref, rewards, beta, g, std="sample", penalty="reverse_kl", eps=1e-6),
        rtol=0, atol=MATCH)
    # another epsilon is another (std + eps)
    eps = 0.05
    np.testing.assert_allclose(
        -expected_gradient(verl_grpo(epsilon=eps), pi, ref, rewards, beta, g),
        grpo_expected_update(pi, ref, rewards, beta, g, std="sample", penalty="reverse_kl", eps=eps),
        rtol=0, atol=MATCH)


def test_verl_grpo_vectorized_floors_the_variance():
    # Rewards 1e-3 apart: sample var = 5e-7 < epsilon = 1e-6, so grpo_vectorized divides by
    # sqrt(1e-6) + 1e-6 where grpo divides by std + 1e-6.
    group = np.array([0.0, 1e-3])
    plain = advantages(verl_grpo(), group)
    floored = advantages(verl_grpo(vectorized=True), group)
    sd = math.sqrt(5e-7)
    np.testing.assert_allclose(plain, [-5e-4 / (sd + 1e-6), 5e-4 / (sd + 1e-6)], rtol=1e-14)
    np.testing.assert_allclose(floored, [-5e-4 / (1e-3 + 1e-6), 5e-4 / (1e-3 + 1e-6)], rtol=1e-14)
    # Well-separated rewards: the two estimators agree exactly.
    group = np.array([0.0, 1.0, 1.0, 0.5])
    np.testing.assert_allclose(advantages(verl_grpo(vectorized=True), group), advantages(verl_grpo(), group),
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS)
def test_verl_rloo_is_dr_grpo_times_g_over_g_minus_1(k, g, rewards):
    pi, ref = random_problem(k, 3 * k + g)
    beta = 0.3
    brute = -expected_gradient(verl_rloo(kl_loss_type="low_var_kl"), pi, ref, rewards, beta, g)
    scale = g / (g - 1)  # applies to the advantage only, not to the KL term
    engine = scale * grpo_expected_update(pi, ref, rewards, beta / scale, g, std="none", penalty="reverse_kl")
    np.testing.assert_allclose(brute, engine, rtol=0, atol=MATCH)
    # ... so its policy-gradient part is π(o)·(r(o) − E_π r) exactly
    pg = -expected_gradient(verl_rloo(), pi, ref, rewards, beta, g)
    r = np.asarray(rewards)
    np.testing.assert_allclose(pg, pi * (r - pi @ r), rtol=0, atol=MATCH)


# ------------------------------------------------------------------ (d) direct KL


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS)
def test_verl_k2_and_trl_bias_corrected_kl_are_direct_kl(k, g, rewards):
    pi, ref = random_problem(k, 11 * k + g)
    beta = 0.7
    engine_sample = grpo_expected_update(pi, ref, rewards, beta, g,
                                         std="sample", penalty="direct_kl", eps=1e-6)
    k2 = -expected_gradient(verl_grpo(kl_loss_type="k2"), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(k2, engine_sample, rtol=0, atol=MATCH)
    corrected = -expected_gradient(trl(use_bias_correction_kl=True), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(
        corrected,
        grpo_expected_update(pi, ref, rewards, beta, g, std="sample", penalty="direct_kl", eps=1e-4),
        rtol=0, atol=MATCH)


def test_trl_bias_corrected_kl_is_the_gradient_of_kl():
    # E_{π_old}[ratio·k3] = Σ_o π_θ(o)·k3(o) = KL(π_θ ‖ π_ref) for every θ, so its gradient is
    # ∇KL = π·(log(π/π_ref) − KL); so is the expected gradient of k2.
    pi, ref = random_problem(5, 3)
    log_ratio = np.log(pi / ref)
    grad_kl = pi * (log_ratio - pi @ log_ratio)
    for kind in ("trl_k3_bias_corrected", "k2"):
        np.testing.assert_allclose(kl_gradient(kind, pi, ref), grad_kl, rtol=0, atol=1e-15)
    np.testing.assert_allclose(kl_gradient("trl_k3", pi, ref), pi - ref, rtol=0, atol=1e-15)


# ------------------------------------------------------------------ (e) low_var_kl clamps


def test_low_var_kl_is_k3_until_the_value_clamp_binds():
    # The clamp value 10 is reached at log(π_ref/π) = x* with e^x* − x* − 1 = 10, x* = 2.6109.
    x_star = 2.610868638149876
    assert math.isclose(math.exp(x_star) - x_star - 1.0, LOW_VAR_KL_VALUE_CLAMP, rel_tol=1e-14)
    lp_ref = math.log(0.5)
    for factor, binds in ((13.5, False), (13.7, True), (1e3, True), (1 / 5e4, False), (1 / 7e4, True)):
        lp = lp_ref - math.log(factor)  # π_ref/π = factor
        k3 = kl_value("trl_k3", lp, lp_ref)
        clamped = kl_value("low_var_kl", lp, lp_ref)
        slope = kl_slope("low_var_kl", lp, lp_ref)
        if binds:
            assert clamped == LOW_VAR_KL_VALUE_CLAMP < k3 and slope == 0.0
        else:
            assert clamped == pytest.approx(k3, rel=1e-13) and slope == pytest.approx(1 - factor, rel=1e-12)


def test_low_var_kl_gives_no_kl_gradient_to_an_output_far_below_pi_ref():
    # Concrete case: π = (0.02, 0.49, 0.49), π_ref = (0.5, 0.25, 0.25). For output 0,
    # π_ref/π = 25 and k3 = 25 − ln 25 − 1 = 20.78 > 10: verl's clamp binds.
    pi = np.array([0.02, 0.49, 0.49])
    ref = np.array([0.5, 0.25, 0.25])
    assert kl_value("trl_k3", math.log(0.02), math.log(0.5)) == pytest.approx(25 - math.log(25) - 1)
    s = 1 - 0.25 / 0.49  # D′ = 1 − π_ref/π of outputs 1 and 2
    assert kl_slope("low_var_kl", np.log(pi), np.log(ref)).tolist() == pytest.approx([0.0, s, s])

    # One group of four copies of output 0, tied rewards (so no policy-gradient term):
    # unclamped k3 pulls output 0 up, low_var_kl does not move the policy at all.
    arms, rewards, beta = np.zeros(4, dtype=int), [1.0, 0.0, 0.0], 0.1
    k3_grad = group_gradient(trl(), pi, arms, rewards, ref, beta)
    np.testing.assert_allclose(k3_grad, beta * (1 - 25.0) * (np.eye(3)[0] - pi), rtol=1e-14)
    assert k3_grad[0] < 0  # a loss gradient: descending it raises θ_0
    np.testing.assert_array_equal(group_gradient(verl_grpo(), pi, arms, rewards, ref, beta), np.zeros(3))

    # In expectation: k3's KL gradient is π − π_ref = (−0.48, 0.24, 0.24); the clamped one
    # keeps only outputs 1 and 2, E[D′·(e_o − π)] = (−0.0096, 0.0048, 0.0048), 50 times smaller.
    np.testing.assert_allclose(kl_gradient("trl_k3", pi, ref), pi - ref, atol=1e-15)
    clamped = kl_gradient("low_var_kl", pi, ref)
    expected = np.array([-0.02 * 0.98 * s, 0.49 * s * (1 - 0.98), 0.49 * s * (1 - 0.98)])
    np.testing.assert_allclose(clamped, expected, rtol=1e-13)
    np.testing.assert_allclose(clamped, [-0.0096, 0.0048, 0.0048], rtol=1e-12)

    # The whole verl update then differs from the engine's k3 update by exactly that.
    g = 3
    brute = -expected_gradient(verl_grpo(), pi, ref, rewards, beta, g)
    engine = grpo_expected_update(pi, ref, rewards, beta, g, std="sample", penalty="reverse_kl", eps=1e-6)
    np.testing.assert_allclose(brute - engine, beta * (pi - ref - clamped), rtol=0, atol=MATCH)
    assert np.max(np.abs(brute - engine)) > 0.04


def test_engine_k3_fixed_point_is_not_at_rest_under_verl_clamps():
    # At a k3 fixed point π_ref/π = 1 − P_G/β; for β = 0.01 (π_ref = (0.3, 0.7), r = (1, 0),
    # G = 4) that is ≈150 for the unrewarded output, far past 13.61: verl's update there is
    # not zero and points further toward the rewarded output.
    from gvpo_theory import grpo_stationary_policy

    ref, rewards, beta, g = np.array([0.3, 0.7]), np.array([1.0, 0.0]), 0.01, 4
    pi = grpo_stationary_policy(ref, rewards, beta, g, std="sample", penalty="reverse_kl", eps=1e-6).policy
    assert ref[1] / pi[1] > 100
    engine = grpo_expected_update(pi, ref, rewards, beta, g, std="sample", penalty="reverse_kl", eps=1e-6)
    verl = -expected_gradient(verl_grpo(), pi, ref, rewards, beta, g)
    assert np.max(np.abs(engine)) < 1e-12
    assert verl[0] > 5e-3 and verl[1] == pytest.approx(-verl[0], abs=1e-15)


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS[:3])
def test_low_var_kl_equals_engine_k3_while_unclamped(k, g, rewards):
    pi, ref = random_problem(k, 5 * k + g)
    assert np.all(np.log(ref / pi) < 2.6)
    np.testing.assert_allclose(
        -expected_gradient(verl_grpo(), pi, ref, rewards, 0.3, g),
        grpo_expected_update(pi, ref, rewards, 0.3, g, std="sample", penalty="reverse_kl", eps=1e-6),
        rtol=0, atol=MATCH)


# ------------------------------------------------------------------ (f) k1, abs


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS[:4])
def test_verl_k1_in_the_loss_has_zero_expected_kl_gradient(k, g, rewards):
    pi, ref = random_problem(k, 13 * k + g)
    with_k1 = expected_gradient(verl_grpo(kl_loss_type="k1"), pi, ref, rewards, 5.0, g)
    without = expected_gradient(verl_grpo(kl_loss_type=None), pi, ref, rewards, 5.0, g)
    np.testing.assert_allclose(with_k1, without, rtol=0, atol=MATCH)
    np.testing.assert_allclose(kl_gradient("k1", pi, ref), 0.0, atol=1e-16)
    # ... although a single group's KL gradient is not zero
    one_group = [0] * g
    k1_part = (group_gradient(verl_grpo(kl_loss_type="k1"), pi, one_group, rewards, ref, 5.0)
               - group_gradient(verl_grpo(kl_loss_type=None), pi, one_group, rewards, ref, 5.0))
    assert np.max(np.abs(k1_part)) > 0.1


def test_verl_abs_kl_gradient_is_a_sign():
    pi, ref = random_problem(4, 17)
    sign = np.sign(np.log(pi / ref))
    np.testing.assert_allclose(kl_gradient("abs", pi, ref), pi * (sign - pi @ sign), atol=1e-16)


# ------------------------------------------------------------------ GVPO


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS)
def test_gvpo_official_and_paper(k, g, rewards):
    pi, ref = random_problem(k, 19 * k + g)
    beta = 0.4
    # Official code: anchored at π_old = π, so the implicit reward is 0 at θ_old — the
    # update is the paper's with π_ref replaced by π: β·π(o)·(r(o) − E_π r), no reference.
    official = -expected_gradient(gvpo_official(), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(
        official, gvpo_expected_update(pi, pi, rewards, beta, None, g, scale="paper"), rtol=0, atol=MATCH)
    r = np.asarray(rewards)
    np.testing.assert_allclose(official, beta * pi * (r - pi @ r), rtol=0, atol=MATCH)
    # Paper: anchored at π_ref.
    paper = -expected_gradient(gvpo_paper(), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(
        paper, gvpo_expected_update(pi, ref, rewards, beta, None, g, scale="paper"), rtol=0, atol=MATCH)


# ------------------------------------------------------------------ KL in reward, DAPO filter


@pytest.mark.parametrize(("k", "g", "rewards"), PROBLEMS[:4])
def test_verl_k1_kl_in_reward_with_rloo_is_gvpo_paper_over_beta(k, g, rewards):
    # Shaped reward r − β·log(π_old/π_ref) with a leave-one-out baseline: in expectation
    # π(o)·(g(o) − E_π g), g = r − β·log(π/π_ref) — GVPO's direction divided by β; without
    # std (Dr. GRPO) it is (G − 1)/G of that.
    pi, ref = random_problem(k, 23 * k + g)
    beta = 0.6
    gvpo = gvpo_expected_update(pi, ref, rewards, beta, None, g, scale="paper") / beta
    rloo = -expected_gradient(verl_rloo(kl_in_reward="kl"), pi, ref, rewards, beta, g)
    np.testing.assert_allclose(rloo, gvpo, rtol=0, atol=MATCH)
    dr = -expected_gradient(verl_grpo(norm_adv_by_std_in_grpo=False, kl_loss_type=None, kl_in_reward="kl"),
                            pi, ref, rewards, beta, g)
    np.testing.assert_allclose(dr, (g - 1) / g * gvpo, rtol=0, atol=MATCH)


def test_dapo_filter_groups_rescales_the_policy_gradient_and_reweights_the_kl():
    k, g, rewards = 3, 3, np.array([1.0, 0.0, 0.0])
    pi, ref = random_problem(k, 29)
    p_top = pi[0]
    no_tie = 1 - p_top**g - (1 - p_top) ** g  # groups with both reward levels
    filtered = -expected_gradient(verl_grpo(kl_loss_type=None, filter_groups=True), pi, ref, rewards, 0.3, g)
    np.testing.assert_allclose(filtered, engine_pg(pi, rewards, g, "sample", 1e-6) / no_tie,
                               rtol=0, atol=MATCH)
    # With the KL loss the filter keeps the KL only on members of non-tied groups: not β·(π − π_ref)/1.
    with_kl = -expected_gradient(verl_grpo(filter_groups=True), pi, ref, rewards, 0.3, g)
    assert not np.allclose(with_kl - filtered, -0.3 * (pi - ref), atol=1e-6)


def test_passk_gives_only_a_unique_maximum_an_advantage():
    np.testing.assert_allclose(advantages(verl_grpo_passk(norm_adv_by_std_in_grpo=False), [0.0, 1.0, 0.5]),
                               [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(advantages(verl_grpo_passk(), [1.0, 1.0, 0.0]), [0.0, 0.0, 0.0])
    sd = np.std([0.0, 1.0, 0.5], ddof=1)
    np.testing.assert_allclose(advantages(verl_grpo_passk(), [0.0, 1.0, 0.5]), [0.0, 0.5 / (sd + 1e-6), 0.0])


def test_tied_groups_have_zero_advantage_in_every_estimator():
    for setting in (trl(), trl("none"), verl_grpo(), verl_grpo(vectorized=True), verl_rloo(),
                    verl_grpo_passk(), gvpo_official()):
        np.testing.assert_array_equal(advantages(setting, [[0.7, 0.7, 0.7], [0.0, 0.0, 0.0]]), 0.0)
