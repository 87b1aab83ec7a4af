"""Input validation: every public engine function rejects bad input with a ValueError
that names the offending argument and states the rule, before any arithmetic.

Each case is (call, argument name, rule): the message must contain the argument name
as a word and, after it, the rule's key phrase.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from gvpo_theory.dynamics import (
    expected_gradient_ascent,
    grpo_expected_update,
    grpo_flow,
    gvpo_expected_update,
    gvpo_flow,
    integrate_flow,
)
from gvpo_theory.pooling import kl_divergence, kl_optimal_log_policy, kl_optimal_policy, logit
from gvpo_theory.preference import (
    advantage_table,
    level_advantages,
    level_advantages_jacobian,
    preference_model,
    preference_model_mc,
)
from gvpo_theory.problem import RewardDistribution
from gvpo_theory.stationary import grpo_stationary_policy

PI = [0.3, 0.7]
R = [1.0, 0.0]
LEVELS = [0.0, 1.0]


def _zero_update(p: np.ndarray) -> np.ndarray:
    return np.zeros_like(p)


# Every public function, with keyword overrides: name -> call(**overrides).
FUNCTIONS: dict[str, Callable[..., object]] = {
    "kl_optimal_policy": lambda pi_ref=PI, rewards=R, beta=1.0: kl_optimal_policy(pi_ref, rewards, beta),
    "kl_optimal_log_policy": lambda pi_ref=PI, rewards=R, beta=1.0: kl_optimal_log_policy(
        pi_ref, rewards, beta),
    "preference_model": lambda pi=PI, rewards=R, group_size=4, std="population", eps=0.0: (
        preference_model(pi, rewards, group_size, std, eps)),
    "preference_model_mc": lambda pi=PI, rewards=R, group_size=4, std="population", eps=0.0: (
        preference_model_mc(pi, rewards, group_size, std, eps, n_groups=10)),
    "level_advantages": lambda level_masses=PI, levels=LEVELS, group_size=4, std="population",
    eps=0.0: level_advantages(level_masses, levels, group_size, std, eps),
    "level_advantages_jacobian": lambda level_masses=PI, levels=LEVELS, group_size=4,
    std="population", eps=0.0: level_advantages_jacobian(level_masses, levels, group_size, std, eps),
    "advantage_table": lambda levels=LEVELS, group_size=4, std="population", eps=0.0: (
        advantage_table(levels, group_size, std, eps)),
    "grpo_stationary_policy": lambda pi_ref=PI, rewards=R, beta=1.0, group_size=4, std="population",
    penalty="reverse_kl", eps=0.0: grpo_stationary_policy(pi_ref, rewards, beta, group_size, std,
                                                          penalty, eps),
    "grpo_expected_update": lambda pi=PI, pi_ref=PI, rewards=R, beta=1.0, group_size=4,
    std="population", penalty="reverse_kl", eps=0.0: grpo_expected_update(
        pi, pi_ref, rewards, beta, group_size, std, penalty, eps),
    "gvpo_expected_update": lambda pi=PI, pi_ref=PI, rewards=R, beta=1.0, pi_s=None, group_size=4,
    scale="sum": gvpo_expected_update(pi, pi_ref, rewards, beta, pi_s, group_size, scale),
    "grpo_flow": lambda pi_ref=PI, rewards=R, beta=1.0, group_size=4, std="population",
    penalty="reverse_kl", eps=0.0, pi0=None: grpo_flow(pi_ref, rewards, beta, group_size, std,
                                                       penalty, eps, pi0=pi0, t_max=1.0),
    "gvpo_flow": lambda pi_ref=PI, rewards=R, beta=1.0, pi_s=None, group_size=4, pi0=None: gvpo_flow(
        pi_ref, rewards, beta, pi_s, group_size, pi0=pi0, t_max=1.0),
    "integrate_flow": lambda pi0=PI: integrate_flow(_zero_update, pi0, t_max=1.0),
    "expected_gradient_ascent": lambda pi0=PI, learning_rate=0.1: expected_gradient_ascent(
        _zero_update, pi0, learning_rate=learning_rate, max_steps=2),
}


def _takes(name: str, arg: str) -> bool:
    return arg in FUNCTIONS[name].__code__.co_varnames[: FUNCTIONS[name].__code__.co_argcount]


def _cases(arg: str, bad_values: list[tuple[object, str]], skip: tuple[str, ...] = ()):
    return [
        pytest.param(name, arg, value, rule, id=f"{name}-{arg}-{i}")
        for name in sorted(FUNCTIONS)
        if _takes(name, arg) and name not in skip
        for i, (value, rule) in enumerate(bad_values)
    ]


BAD_DISTRIBUTION = [
    ([-0.1, 1.1], "non-negative"),
    ([0.5, 0.5 + 1e-8], "sum to 1"),
    ([0.5, 0.4], "sum to 1"),
    ([math.nan, 1.0], "finite"),
    ([math.inf, 0.0], "finite"),
]
BAD_REWARDS = [
    ([math.nan, 0.0], "finite"),
    ([math.inf, 0.0], "finite"),
    ([-math.inf, 0.0], "finite"),
]
BAD_BETA = [
    (-1.0, ">=? 0"),
    (math.nan, "NaN"),
    (math.inf, "finite"),
    (-math.inf, ">=? 0"),
    ("big", "numeric"),
]
#: β = 0 means "no KL term" (the boundary limits of docs/theory.md §8) where GRPO's
#: dynamics are defined without one; elsewhere (π*, GVPO's weights) it is refused.
BETA_ZERO_ACCEPTED = ("grpo_stationary_policy", "grpo_expected_update", "grpo_flow")
BAD_GROUP_SIZE = [
    (1, ">= 2"),
    (0, ">= 2"),
    (-3, ">= 2"),
    (1.0, ">= 2"),
    (2.5, "integer"),
    (math.nan, "integer"),
    (-math.inf, "integer"),
    ("4", "integer"),
    (True, "integer"),
]
BAD_EPS = [(-1e-8, ">= 0"), (math.nan, ">= 0"), (math.inf, ">= 0")]
# Arguments that are probability vectors over the outputs.
DISTRIBUTION_ARGS = ("pi", "pi_ref", "pi_s", "pi0", "level_masses")

CASES = (
    [c for arg in DISTRIBUTION_ARGS for c in _cases(arg, BAD_DISTRIBUTION)]
    + _cases("rewards", BAD_REWARDS)
    + _cases("beta", BAD_BETA)
    + _cases("beta", [(0.0, "> 0")], skip=BETA_ZERO_ACCEPTED)
    + _cases("group_size", BAD_GROUP_SIZE)
    + _cases("eps", BAD_EPS)
    + _cases("std", [("Population", "one of"), ("pop", "one of"), ("", "one of")])
    + _cases("penalty", [("kl", "one of"), ("reverse-kl", "one of")])
    + _cases("scale", [("mean", "one of")])
    + _cases("levels", [([0.0, math.nan], "finite"), ([1.0, 0.0], "increasing"),
                        ([0.5, 0.5], "increasing"), ([], "non-empty"), ([[0.0, 1.0]], "1-D")])
    + _cases("learning_rate", [(0.0, "> 0"), (-0.1, "> 0"), (math.nan, "finite")])
)


@pytest.mark.parametrize(("name", "arg", "value", "rule"), CASES)
def test_bad_argument_is_named(name: str, arg: str, value: object, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{arg}\b.*(?:{rule})"):
        FUNCTIONS[name](**{arg: value})


# Shape mismatches: one argument with three outputs (or levels) against two elsewhere.
# The message must name one of the arguments involved and say what does not match.
MISMATCH_ARGS = ("pi", "pi_ref", "pi_s", "rewards", "level_masses", "levels")
MISMATCH_CASES = [
    pytest.param(name, arg, id=f"{name}-{arg}")
    for name in sorted(FUNCTIONS)
    for arg in (*MISMATCH_ARGS, "pi0")
    if _takes(name, arg) and not (arg == "pi0" and name in ("integrate_flow", "expected_gradient_ascent"))
    and not (arg == "levels" and name == "advantage_table")
]


@pytest.mark.parametrize(("name", "arg"), MISMATCH_CASES)
def test_shape_mismatch_is_named(name: str, arg: str) -> None:
    value = [0.0, 0.5, 1.0] if arg in ("rewards", "levels") else [0.2, 0.3, 0.5]
    involved = "|".join(a for a in MISMATCH_ARGS if _takes(name, a))
    with pytest.raises(ValueError, match=rf"\b(?:{involved})\b[^.]*\b(?:outputs?|entries|levels)\b"):
        FUNCTIONS[name](**{arg: value})


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_defaults_are_valid(name: str) -> None:
    FUNCTIONS[name]()


# ---------------------------------------------------------------- documented exceptions


@pytest.mark.parametrize("name", ["preference_model", "level_advantages", "grpo_stationary_policy",
                                  "grpo_expected_update", "grpo_flow", "level_advantages_jacobian"])
def test_infinite_group_size_is_allowed_where_documented(name: str) -> None:
    for g in (math.inf, np.float64(math.inf)):
        FUNCTIONS[name](group_size=g)


@pytest.mark.parametrize("name", ["preference_model_mc", "gvpo_expected_update", "gvpo_flow",
                                  "advantage_table"])
def test_infinite_group_size_is_rejected_where_there_is_no_limit(name: str) -> None:
    with pytest.raises(ValueError, match=r"\bgroup_size\b"):
        FUNCTIONS[name](group_size=math.inf)


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if _takes(n, "group_size")))
def test_integral_group_sizes_of_other_types_are_accepted(name: str) -> None:
    for g in (np.int64(4), 4.0, np.float64(4.0)):
        FUNCTIONS[name](group_size=g)


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if _takes(n, "pi_ref")))
def test_sum_tolerance_accepts_rounding(name: str) -> None:
    # Within the documented 1e-9 tolerance: accepted (and renormalised).
    FUNCTIONS[name](pi_ref=[0.3, 0.7 + 1e-12])


def test_bad_kl_divergence_arguments() -> None:
    for bad, rule in BAD_DISTRIBUTION[:5]:
        with pytest.raises(ValueError, match=rf"\bp\b.*{rule}"):
            kl_divergence(bad, PI)
        with pytest.raises(ValueError, match=rf"\bq\b.*{rule}"):
            kl_divergence(PI, bad)
    with pytest.raises(ValueError, match=r"\bp\b.*\bq\b.*outputs"):
        kl_divergence([0.2, 0.3, 0.5], PI)


def test_bad_logit_argument() -> None:
    with pytest.raises(ValueError, match=r"\bp\b.*finite"):
        logit([0.5, math.nan])


@pytest.mark.parametrize(
    ("beta", "pi_ref"),
    [(np.ones(3), np.full((2, 2), 0.5)), (np.ones((2, 1)), np.full((3, 2), 0.5))],
)
def test_beta_shape_must_broadcast_with_batch(beta: np.ndarray, pi_ref: np.ndarray) -> None:
    if beta.ndim == 2:
        pi_ref = np.broadcast_to(pi_ref, (4, 3, 2))
    with pytest.raises(ValueError, match=r"\bbeta\b.*broadcast|broadcast.*\bbeta\b"):
        kl_optimal_policy(pi_ref, R, beta)
    with pytest.raises(ValueError, match=r"\bbeta\b.*broadcast|broadcast.*\bbeta\b"):
        grpo_stationary_policy(pi_ref, R, beta, 4)


def test_per_problem_rewards_must_broadcast_with_batch() -> None:
    pi_ref = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match=r"\brewards\b.*broadcast"):
        grpo_stationary_policy(pi_ref, np.zeros((2, 2)), 1.0, 4)
    with pytest.raises(ValueError, match=r"\brewards\b.*broadcast"):
        preference_model(pi_ref, np.zeros((2, 2)), 4)


def test_reward_distribution_with_wrong_number_of_outputs() -> None:
    dist = RewardDistribution.bernoulli([0.1, 0.5, 0.9])
    for call in (
        lambda: preference_model(PI, dist, 4),
        lambda: grpo_stationary_policy(PI, dist, 1.0, 4),
        lambda: grpo_expected_update(PI, PI, dist, 1.0, 4),
        lambda: gvpo_expected_update(PI, PI, dist, 1.0, None, 4),
        lambda: kl_optimal_policy(PI, dist, 1.0),
    ):
        with pytest.raises(ValueError, match=r"\brewards\b.*(outputs|entries)"):
            call()


def test_mc_takes_one_problem_and_enough_groups() -> None:
    with pytest.raises(ValueError, match=r"\bpi\b.*1-D"):
        preference_model_mc(np.full((2, 2), 0.5), R, 4)
    with pytest.raises(ValueError, match=r"\bn_groups\b.*>= 2"):
        preference_model_mc(PI, R, 4, n_groups=1)


def test_flows_take_one_problem() -> None:
    with pytest.raises(ValueError, match=r"\bpi0\b.*1-D"):
        integrate_flow(_zero_update, np.full((2, 2), 0.5))


def test_gvpo_needs_positive_policies_where_it_samples() -> None:
    with pytest.raises(ValueError, match=r"\bpi\b.*\bpi_ref\b.*> 0"):
        gvpo_expected_update([1.0, 0.0], PI, R, 1.0, [0.5, 0.5], 4)
    with pytest.raises(ValueError, match=r"\bpi\b.*\bpi_ref\b.*> 0"):
        gvpo_expected_update(PI, [1.0, 0.0], R, 1.0, None, 4)
    # Off the support of pi_s the log-ratio never enters: accepted.
    gvpo_expected_update([0.5, 0.5], [1.0, 0.0], R, 1.0, [1.0, 0.0], 4)


def test_direct_kl_update_needs_pi_inside_reference_support() -> None:
    with pytest.raises(ValueError, match=r"\bpi\b.*\bpi_ref\b"):
        grpo_expected_update(PI, [1.0, 0.0], R, 1.0, 4, penalty="direct_kl")


# ---------------------------------------------------------------- RewardDistribution


@pytest.mark.parametrize(
    ("levels", "probs", "match"),
    [
        ([0.0, 1.0], [[0.5, 0.6], [0.5, 0.5]], r"\breward_probs\b.*sum to 1"),
        ([0.0, 1.0], [[-0.5, 1.5], [0.5, 0.5]], r"\breward_probs\b.*non-negative"),
        ([0.0, 1.0], [[math.nan, 1.0], [0.5, 0.5]], r"\breward_probs\b.*finite"),
        ([0.0, 1.0], [0.5, 0.5], r"\breward_probs\b.*\(\.\.\., K, L\)"),
        ([0.0, 1.0, 2.0], [[0.5, 0.5], [0.5, 0.5]], r"\breward_probs\b.*\blevels\b"),
        ([1.0, 0.0], [[0.5, 0.5], [0.5, 0.5]], r"\blevels\b.*increasing"),
        ([0.0, 0.0], [[0.5, 0.5], [0.5, 0.5]], r"\blevels\b.*increasing"),
        ([0.0, math.inf], [[0.5, 0.5], [0.5, 0.5]], r"\blevels\b.*finite"),
        ([], np.zeros((2, 0)), r"\blevels\b.*non-empty"),
        ([[0.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]], r"\blevels\b.*1-D"),
    ],
)
def test_reward_distribution_constructor(levels: object, probs: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RewardDistribution(levels, probs)


@pytest.mark.parametrize(
    ("success", "match"),
    [
        ([0.5, 1.5], r"\bsuccess_prob\b.*\[0, 1\]"),
        ([-0.1, 0.5], r"\bsuccess_prob\b.*\[0, 1\]"),
        ([math.nan, 0.5], r"\bsuccess_prob\b.*finite"),
        (0.5, r"\bsuccess_prob\b.*one entry per output"),
    ],
)
def test_reward_distribution_bernoulli(success: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RewardDistribution.bernoulli(success)


@pytest.mark.parametrize(
    ("rewards", "match"),
    [([0.0, math.nan], r"\brewards\b.*finite"), ([math.inf], r"\brewards\b.*finite"),
     (1.0, r"\brewards\b.*one entry per output")],
)
def test_reward_distribution_deterministic(rewards: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RewardDistribution.deterministic(rewards)


# ---------------------------------------------------------------- dynamics: step size and flow time


def test_learning_rate_must_be_a_scalar() -> None:
    with pytest.raises(ValueError, match=r"\blearning_rate\b"):
        expected_gradient_ascent(_zero_update, PI, learning_rate=[0.1, 0.2], max_steps=2)


def test_flow_time_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"\bt_max\b"):
        integrate_flow(_zero_update, PI, t_max=-1.0)
