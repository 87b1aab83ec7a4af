"""Dataset predictions: per-prompt answers equal independent single-prompt solves.

Each prompt of a vectorised prediction is compared with a separate call of the engine
(gvpo_theory.grpo_stationary_policy on that prompt alone), the no-std closed form with the
engine's bracketed solver, GVPO with logarithmic pooling, and the interval with the
monotone map evaluated at the interval's ends.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory import binary
from gvpo_theory.dataset import Dataset, predict

RNG = np.random.default_rng(11)
P = np.concatenate([[0.0, 1.0, 1e-6, 1 - 1e-6, 0.5], RNG.beta(0.8, 1.5, size=20)])
BETA = 0.05


# direct KL with a std at G = inf has no interior stationary point at small beta: not listed
CASES = [(n, g) for n in ("grpo", "grpo-sample", "dr-grpo", "rloo", "grpo-direct-kl")
         for g in (2, 8, math.inf) if not (n == "grpo-direct-kl" and math.isinf(g))]


@pytest.mark.parametrize("name, g", CASES)
def test_each_prompt_equals_a_single_engine_solve(name, g):
    obj = gt.objective(name, g)
    pred = predict(Dataset.from_pass_rates(P), BETA, obj)
    for p, got, conv in zip(P, pred.accuracy, pred.converged):
        assert conv
        if p in (0.0, 1.0):
            assert got == p
            continue
        one = gt.grpo_stationary_policy(np.array([1.0 - p, p]), np.array([0.0, 1.0]), BETA, obj)
        assert bool(one.converged)
        assert got == pytest.approx(float(one.policy[1]), rel=1e-11, abs=1e-14)


def test_gvpo_is_logarithmic_pooling_and_its_own_reference():
    pred = predict(Dataset.from_pass_rates(P), BETA, "gvpo", 8)
    inner = (P > 0) & (P < 1)
    assert np.allclose(pred.accuracy[inner], binary.logarithmic_pooling(P[inner], BETA), rtol=1e-13)
    assert np.allclose(pred.movement_ratio[inner], 1.0, rtol=1e-10)
    assert np.allclose(pred.effective_beta[inner & (P < 0.9)], BETA, rtol=1e-8)


def test_g2_population_grpo_is_eq14():
    pred = predict(Dataset.from_pass_rates(P), BETA, "grpo", 2)
    inner = (P > 0) & (P < 1)
    assert np.allclose(pred.accuracy[inner], binary.stationary_g2(P[inner], BETA), rtol=1e-11)


def test_graded_prompts_equal_single_solves():
    levels = np.array([0.0, 0.5, 1.0])
    masses = np.array([[0.2, 0.5, 0.3], [0.6, 0.0, 0.4], [0.0, 1.0, 0.0], [0.1, 0.1, 0.8]])
    obj = gt.objective("grpo-sample", 4)
    pred = predict(Dataset(levels, masses), 0.2, obj)
    assert list(pred.status) == ["interior", "missing-levels", "single-level", "interior"]
    for row, got in zip(masses, pred.masses):
        one = gt.grpo_stationary_policy(row, levels, 0.2, obj)
        assert np.allclose(got, one.policy, rtol=1e-11, atol=1e-14)
    star = gt.kl_optimal_policy(masses, levels, 0.2)
    assert np.allclose(pred.pi_star_accuracy, star[:, -1], rtol=1e-13)


def test_interval_is_the_map_at_the_ends():
    ds = Dataset.from_counts([0, 2, 5, 8], [8, 8, 8, 8], confidence=0.9, interval="wilson")
    obj = gt.objective("grpo-sample", 8)
    pred = predict(ds, BETA, obj)
    for lo, hi, a, b in zip(ds.lower, ds.upper, pred.accuracy_lower, pred.accuracy_upper):
        for end, got in ((lo, a), (hi, b)):
            if end in (0.0, 1.0):
                assert got == end
            else:
                one = gt.grpo_stationary_policy(np.array([1 - end, end]), np.array([0.0, 1.0]), BETA, obj)
                assert got == pytest.approx(float(one.policy[1]), rel=1e-11)
    assert np.all(pred.accuracy_lower <= pred.accuracy) and np.all(pred.accuracy <= pred.accuracy_upper)


@pytest.mark.parametrize("name", ["grpo", "grpo-sample", "dr-grpo", "rloo", "grpo-direct-kl", "gvpo"])
def test_map_from_pass_rate_is_increasing(name):
    grid = np.linspace(1e-4, 1 - 1e-4, 400)
    acc = predict(Dataset.from_pass_rates(grid), 0.1, name, 8).accuracy
    assert np.all(np.diff(acc) > 0)


def test_no_signal_prompts_stay_put_and_stay_tied():
    pred = predict(Dataset.from_pass_rates([0.0, 1.0]), BETA, "grpo", 8)
    assert np.array_equal(pred.accuracy, [0.0, 1.0])
    assert np.array_equal(pred.tie_start, [1.0, 1.0]) and np.array_equal(pred.tie_end, [1.0, 1.0])
    assert np.array_equal(pred.kl, [0.0, 0.0])
    assert np.all(np.isnan(pred.movement_ratio))
    assert list(pred.status) == ["none-correct", "all-correct"]


def test_summary_means():
    pred = predict(Dataset.from_pass_rates(P), BETA, "dr-grpo", 8)
    s = pred.summary
    assert s["mean_accuracy"] == pytest.approx(np.mean(pred.accuracy), rel=1e-15)
    assert s["pass@64"] == pytest.approx(np.mean(1 - (1 - pred.accuracy) ** 64), rel=1e-12)
    assert s["share_tied_start"] == pytest.approx(np.mean(P**8 + (1 - P) ** 8), rel=1e-12)
    assert s["status_counts"] == {"all-correct": 1, "interior": 23, "none-correct": 1}
    rows = pred.rows()
    assert len(rows) == P.size and rows[3]["accuracy"] == pred.accuracy[3]


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="grpo"), "group_size is required"),
    (dict(method=gt.objective("grpo", 4), group_size=4), "must not be given"),
    (dict(method="ppo", group_size=4), "method must be one of"),
    (dict(method="grpo", group_size=1), "group_size"),
    (dict(method="grpo", group_size=4, normalisation="batch"), "normalisation"),
    (dict(method="gvpo", group_size=4, normalisation="batch-trl"), "GRPO-family"),
    (dict(method="grpo", group_size=4, ks=[0]), "ks"),
    (dict(method="grpo", group_size=4, beta=0.0), "beta"),
])
def test_bad_input(kwargs, match):
    args = dict(dataset=Dataset.from_pass_rates([0.3]), beta=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        predict(**args)
