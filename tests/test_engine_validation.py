"""Input validation: every public engine function rejects bad input with a ValueError
that names the offending argument (and states the rule), before any arithmetic.
"""

from __future__ import annotations

import math

import pytest

from gvpo_theory.pooling import kl_divergence, kl_optimal_log_policy, kl_optimal_policy
from gvpo_theory.preference import preference_model, preference_model_mc
from gvpo_theory.stationary import grpo_stationary_policy

PI = [0.3, 0.7]
R = [1.0, 0.0]

# (bad pi_ref, rule in the message)
BAD_DISTRIBUTIONS = [
    ([-0.1, 1.1], "non-negative"),
    ([0.5, 0.5 + 1e-8], "sum to 1"),
    ([0.5, 0.4], "sum to 1"),
    ([math.nan, 1.0], "finite"),
    ([math.inf, 0.0], "finite"),
]

POLICY_FUNCTIONS = {
    "kl_optimal_policy": lambda p: kl_optimal_policy(p, R, 1.0),
    "kl_optimal_log_policy": lambda p: kl_optimal_log_policy(p, R, 1.0),
    "grpo_stationary_policy": lambda p: grpo_stationary_policy(p, R, 1.0, 4),
}


@pytest.mark.parametrize(("bad", "rule"), BAD_DISTRIBUTIONS)
@pytest.mark.parametrize("name", sorted(POLICY_FUNCTIONS))
def test_bad_reference_policy(name: str, bad: list[float], rule: str) -> None:
    with pytest.raises(ValueError, match=rf"\bpi_ref\b.*{rule}"):
        POLICY_FUNCTIONS[name](bad)


@pytest.mark.parametrize(("bad", "rule"), BAD_DISTRIBUTIONS)
def test_bad_policy_for_preference(bad: list[float], rule: str) -> None:
    with pytest.raises(ValueError, match=rf"\bpi\b.*{rule}"):
        preference_model(bad, R, 4)
    with pytest.raises(ValueError, match=rf"\bpi\b.*{rule}"):
        preference_model_mc(bad, R, 4, n_groups=10)


@pytest.mark.parametrize(("bad", "rule"), BAD_DISTRIBUTIONS)
def test_bad_kl_divergence_arguments(bad: list[float], rule: str) -> None:
    with pytest.raises(ValueError, match=rf"\bp\b.*{rule}"):
        kl_divergence(bad, PI)
    with pytest.raises(ValueError, match=rf"\bq\b.*{rule}"):
        kl_divergence(PI, bad)
