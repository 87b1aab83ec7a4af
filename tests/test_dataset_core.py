"""gvpo_theory.dataset: the Dataset type, binomial intervals, statuses, pass@k, KL and ties.

Every formula is checked against an independent computation: binomial tail sums
(scipy.stats.binom) for Clopper–Pearson, the defining quadratic for Wilson, enumeration of
groups for the tie probability, the engine's full-policy KL, direct products for pass@k.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom, norm

import gvpo_theory as gt
from gvpo_theory.dataset import Dataset, pass_at_k, pass_rate_interval
from gvpo_theory.dataset.predict import level_kl, tie_probability

K = np.array([0, 1, 3, 7, 8, 0, 5, 20])
N = np.array([8, 8, 8, 8, 8, 1, 50, 20])


def test_clopper_pearson_matches_binomial_tails():
    lo, hi = pass_rate_interval(K, N, confidence=0.9, method="clopper-pearson")
    for k, n, a, b in zip(K, N, lo, hi):
        if k > 0:  # P[X >= k | p = lower] = alpha/2
            assert binom.sf(k - 1, n, a) == pytest.approx(0.05, abs=1e-10)
        else:
            assert a == 0.0
        if k < n:  # P[X <= k | p = upper] = alpha/2
            assert binom.cdf(k, n, b) == pytest.approx(0.05, abs=1e-10)
        else:
            assert b == 1.0


def test_wilson_solves_its_quadratic():
    lo, hi = pass_rate_interval(K, N, confidence=0.95, method="wilson")
    z = norm.ppf(0.975)
    for k, n, a, b in zip(K, N, lo, hi):
        p_hat = k / n
        for end, fixed in ((a, k == 0), (b, k == n)):
            if fixed:
                assert end in (0.0, 1.0)
            else:  # (p_hat - p)^2 = z^2 p (1 - p) / n
                assert (p_hat - end) ** 2 == pytest.approx(z * z * end * (1 - end) / n, abs=1e-12)
        assert a <= p_hat <= b


@pytest.mark.parametrize("bad, match", [
    (dict(successes=[3], samples=[2]), "successes must lie in"),
    (dict(successes=[1.5], samples=[2]), "whole numbers"),
    (dict(successes=[0], samples=[0]), "samples must be >= 1"),
    (dict(successes=[1], samples=[4], confidence=1.0), "confidence"),
    (dict(successes=[1], samples=[4], method="exact"), "method"),
])
def test_interval_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        pass_rate_interval(**bad)


def test_status_codes():
    ds = Dataset.from_pass_rates([0.0, 1.0, 0.4])
    assert list(ds.status) == ["none-correct", "all-correct", "interior"]
    g = Dataset(np.array([0.0, 0.5, 1.0]),
                np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [0, 0, 1.0]]))
    assert list(g.status) == ["missing-levels", "single-level", "interior", "all-correct"]


@pytest.mark.parametrize("bad, match", [
    ([0.2, 1.2], "pass_rates must lie in"),
    ([-0.1], "pass_rates must lie in"),
    ([[0.2]], "1-D"),
    ([np.nan], "finite"),
    ([], "at least one prompt"),
])
def test_pass_rates_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        Dataset.from_pass_rates(bad)


def test_pass_at_k_against_products():
    acc = np.array([0.0, 1e-20, 0.3, 0.999, 1.0])
    for k in (1, 8, 64):
        direct = np.array([1.0 - math.prod([1.0 - a] * k) for a in acc])
        assert np.allclose(pass_at_k(acc, k), direct, rtol=1e-12, atol=1e-15)
    assert pass_at_k(np.array([1e-20]), 64)[0] == pytest.approx(64e-20, rel=1e-12)


@pytest.mark.parametrize("g", [2, 3, 5])
def test_tie_probability_by_enumeration(g):
    q = np.array([[0.2, 0.5, 0.3], [0.0, 1.0, 0.0], [0.1, 0.0, 0.9]])
    for row, got in zip(q, tie_probability(q, g)):
        tied = sum(math.prod(row[i] for i in grp)
                   for grp in itertools.product(range(3), repeat=g) if len(set(grp)) == 1)
        assert got == pytest.approx(tied, abs=1e-15)


def test_level_kl_is_the_full_policy_kl():
    # K = 6 outputs on 3 levels: the engine's full policy re-weights pi_ref within levels
    rng = np.random.default_rng(3)
    pi_ref = rng.dirichlet(np.ones(6), size=4)
    rewards = np.array([0.0, 0.0, 0.5, 1.0, 1.0, 0.5])
    res = gt.grpo_stationary_policy(pi_ref, rewards, 0.3, gt.objective("grpo", 4))
    one_hot = rewards[:, None] == np.array([0.0, 0.5, 1.0])
    q, q_ref = res.policy @ one_hot, pi_ref @ one_hot
    assert np.allclose(level_kl(q, q_ref), gt.kl_divergence(res.policy, pi_ref), rtol=1e-12, atol=1e-15)


def test_subset_keeps_rows():
    ds = Dataset.from_counts([1, 2, 3], [4, 4, 4], ids=["a", "b", "c"])
    sub = ds.subset([2, 0])
    assert list(sub.prompt_ids) == ["c", "a"]
    assert np.array_equal(sub.pass_rates, [0.75, 0.25])
    assert np.array_equal(sub.lower, ds.lower[[2, 0]])
