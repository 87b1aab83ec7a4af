"""Batch-level normalisation: the coupled fixed point, checked by brute force.

Independent checks: the expected policy gradient of every prompt is computed by enumerating
all G-sample groups with the batch scale in the advantage (no engine), and must vanish at
the returned policies; the batch variance is recomputed by the law of total variance (TRL)
or by enumerating groups (REINFORCE++), and must equal σ_B².
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory.dataset import Dataset, predict, solve_batch_std
from gvpo_theory.dataset.batch_norm import scale_of
from gvpo_theory.dynamics import grpo_expected_update

RNG = np.random.default_rng(5)
P = np.concatenate([[0.0, 1.0, 0.5], RNG.beta(0.6, 1.0, size=40)])


def brute_gradient(pi, pi_ref, levels, scale, beta, g, baseline="mean", penalty="reverse_kl"):
    """E[(1/G)·Σ_i A_i·(e_{o_i} − π)] − β·(penalty gradient), over all K^G ordered groups.

    A_i = (r_i − b_i)/scale with b_i the group mean (or the mean of the other G − 1).
    """
    k = pi.size
    grad = np.zeros(k)
    for grp in itertools.product(range(k), repeat=g):
        prob = math.prod(pi[o] for o in grp)
        r = levels[list(grp)]
        for i, o in enumerate(grp):
            base = r.mean() if baseline == "mean" else (r.sum() - r[i]) / (g - 1)
            a = (r[i] - base) / scale
            e = -pi.copy()
            e[o] += 1.0
            grad += prob * a * e / g
    if penalty == "reverse_kl":  # E_π[(1 − π_ref/π)(e_o − π)]
        pen = sum(pi[o] * (1 - pi_ref[o] / pi[o]) * (np.eye(k)[o] - pi) for o in range(k) if pi[o] > 0)
    else:  # E_π[log(π/π_ref)(e_o − π)]
        pen = sum(pi[o] * np.log(pi[o] / pi_ref[o]) * (np.eye(k)[o] - pi) for o in range(k) if pi[o] > 0)
    return grad - beta * pen


def test_batch_advantage_is_no_std_on_scaled_rewards():
    levels = np.array([0.0, 1.0])
    for seed in range(4):
        rng = np.random.default_rng(seed)
        pi, pi_ref = rng.dirichlet([1, 1]), rng.dirichlet([1, 1])
        scale, beta, g = rng.uniform(0.05, 0.6), rng.uniform(0.01, 0.5), 5
        for baseline in ("mean", "leave_one_out"):
            obj = gt.Objective(gt.Advantage(baseline=baseline, scale="none"), gt.PENALTIES["reverse_kl"], g)
            engine = grpo_expected_update(pi, pi_ref, levels / scale, beta, obj)
            brute = brute_gradient(pi, pi_ref, levels, scale, beta, g, baseline)
            assert np.allclose(engine, brute, atol=1e-13)


def total_variance(q, levels):
    """Law of total variance: mean of within-prompt variances + variance of prompt means."""
    means = q @ levels
    within = np.array([np.sum(row * (levels - m) ** 2) for row, m in zip(q, means)])
    return within.mean() + np.mean((means - means.mean()) ** 2)


def group_centred_variance(q, levels, g):
    """E[(1/G)·Σ_j (r_j − r̄)²] by enumerating every group, averaged over prompts."""
    out = []
    for row in q:
        tot = 0.0
        for grp in itertools.product(range(levels.size), repeat=g):
            r = levels[list(grp)]
            tot += math.prod(row[o] for o in grp) * np.mean((r - r.mean()) ** 2)
        out.append(tot)
    return float(np.mean(out))


@pytest.mark.parametrize("convention", ["trl", "reinforce++"])
@pytest.mark.parametrize("baseline", ["mean", "leave_one_out"])
def test_every_prompt_and_the_batch_equation_hold(convention, baseline):
    g, beta = 4, 0.05
    ds = Dataset.from_pass_rates(P)
    sol = solve_batch_std(ds, beta, g, convention=convention, baseline=baseline)
    assert sol.converged and sol.unique and len(sol.roots) == 1
    levels = ds.levels
    # the batch-std equation, independently
    if convention == "trl":
        v = total_variance(sol.masses, levels)
    else:
        v = group_centred_variance(sol.masses, levels, g)
    assert abs(sol.sigma**2 - v) <= 1e-12
    assert sol.scale == pytest.approx(scale_of(sol.sigma, convention, sol.eps), rel=1e-15)
    expected_scale = sol.sigma + 1e-4 if convention == "trl" else math.sqrt(sol.sigma**2 + 1e-8)
    assert sol.scale == pytest.approx(expected_scale, rel=1e-15)
    # every prompt's fixed point: the brute-force expected gradient vanishes
    for q, q_ref in zip(sol.masses, ds.masses):
        grad = brute_gradient(q, q_ref, levels, sol.scale, beta, g, baseline)
        assert np.max(np.abs(grad)) <= 1e-10


def test_graded_and_direct_kl_roots_hold():
    levels = np.array([0.0, 0.5, 1.0])
    masses = np.array([[0.3, 0.4, 0.3], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 0.6, 0.4]])
    ds = Dataset(levels, masses)
    for penalty, beta in (("reverse_kl", 0.1), ("direct_kl", 3.0)):
        sol = solve_batch_std(ds, beta, 3, penalty=penalty)
        assert sol.converged and not sol.unique and 0.01 < sol.sigma < 0.5
        assert abs(sol.sigma**2 - total_variance(sol.masses, levels)) <= 1e-12
        for q, q_ref in zip(sol.masses, masses):
            support = q_ref > 0
            grad = brute_gradient(q[support], q_ref[support], levels[support], sol.scale, beta, 3,
                                  penalty=penalty)
            assert np.max(np.abs(grad)) <= 1e-10


def test_direct_kl_collapse_is_reported():
    """Direct KL: V(π(σ)) vanishes like exp(−c/σ), below σ² for every σ at small β."""
    inner = P[2:]  # every prompt can move: all of them end on the correct answer
    sol = solve_batch_std(Dataset.from_pass_rates(inner), 0.1, 8, penalty="direct_kl")
    assert "collapses" in sol.message and sol.sigma < 1e-100
    assert np.all(sol.masses[:, 1] == 1.0)
    # with unsolvable prompts in the batch the rewards keep a spread: an interior root
    mixed = solve_batch_std(Dataset.from_pass_rates(P), 0.1, 8, penalty="direct_kl")
    assert mixed.converged and mixed.sigma > 0.1


@pytest.mark.parametrize("convention, eps", [("trl", 0.0), ("trl", 1e-4), ("reinforce++", 1e-8)])
def test_root_function_decreases(convention, eps):
    """The convergence argument: log V(π(σ)) − 2·log σ strictly decreases (binary, k3)."""
    from gvpo_theory.dataset.batch_norm import batch_variance
    from gvpo_theory.dataset.solve import solve_prompts

    ds = Dataset.from_pass_rates(P)
    obj = gt.Objective(gt.Advantage(scale="none"), gt.PENALTIES["reverse_kl"], 8)
    sig = np.geomspace(1e-6, 0.5, 200)
    f = []
    for s in sig:
        q = solve_prompts(ds.masses, ds.levels / scale_of(s, convention, eps), 0.02, obj)[0]
        f.append(math.log(batch_variance(q, ds.levels, convention, 8)) - 2 * math.log(s))
    assert np.all(np.diff(f) < 0)
    assert f[0] > 0 > f[-1]


def test_no_signal_dataset():
    sol = solve_batch_std(Dataset.from_pass_rates([1.0, 1.0]), 0.1, 4)
    assert sol.sigma < 1e-100 and "nothing moves" in sol.message
    assert np.array_equal(sol.masses[:, 1], [1.0, 1.0])
    mixed = solve_batch_std(Dataset.from_pass_rates([0.0, 1.0]), 0.1, 4)
    assert mixed.sigma == pytest.approx(0.5, rel=1e-15)


def test_predict_batch_uses_the_batch_solution():
    ds = Dataset.from_pass_rates(P)
    pred = predict(ds, 0.05, "grpo-sample", 8, normalisation="batch-trl")
    sol = solve_batch_std(ds, 0.05, 8)
    assert np.array_equal(pred.masses, sol.masses)
    assert pred.summary["batch_std"] == sol.sigma


@pytest.mark.parametrize("kwargs, match", [
    (dict(convention="ppo"), "convention"),
    (dict(penalty="k2"), "penalty"),
    (dict(eps=-1.0), "eps"),
    (dict(baseline="median"), "baseline"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_batch_std(Dataset.from_pass_rates([0.3, 0.6]), 0.1, 4, **kwargs)
