"""The objective spec (gvpo_theory.objective) and the estimators it adds: RLOO, eps inside the sqrt.

References are computed here from the definitions, by brute force over ordered groups
(every o_1..o_G weighted by Π π(o_i)), never by the engine.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import gvpo_theory as gt
from gvpo_theory.dynamics import grpo_expected_update
from gvpo_theory.objective import OBJECTIVES, Advantage, Objective, as_objective, objective
from gvpo_theory.preference import level_advantages, preference_model
from gvpo_theory.torch.losses import grpo_advantages, grpo_expected_grad, grpo_grad

F64 = torch.float64


def _group_advantages(r: np.ndarray, baseline: str, scale: str, eps: float, eps_at: str) -> np.ndarray:
    """A_i for one group r (G,), written from the definitions (loops, no vectorised tricks)."""
    g = r.size
    if np.all(r == r[0]):
        return np.zeros(g)
    out = np.empty(g)
    for i in range(g):
        others = np.delete(r, i)
        base = r.mean() if baseline == "mean" else others.mean()
        if scale == "none":
            s = 1.0
        else:
            var = float(np.var(r, ddof=0 if scale == "population" else 1))
            s = math.sqrt(max(var, eps)) + eps if eps_at == "var" else math.sqrt(var) + eps
        out[i] = (r[i] - base) / s
    return out


def _brute_expected_update(pi, pi_ref, r, beta, g, baseline, scale, eps=0.0, eps_at="std",
                           penalty="reverse_kl"):
    """E over all K^G ordered groups of the ascent direction on θ:

    (1/G)·Σ_i A_i·(e_{o_i} − π)  minus β·∇_θ E_π[D] (k3: π − π_ref; direct KL: π(log π/π_ref − KL)).
    """
    k = pi.size
    total = np.zeros(k)
    for grp in itertools.product(range(k), repeat=g):
        w = float(np.prod(pi[list(grp)]))
        if w == 0.0:
            continue
        a = _group_advantages(r[list(grp)], baseline, scale, eps, eps_at)
        grad = np.zeros(k)
        for i, o in enumerate(grp):
            grad += a[i] * (np.eye(k)[o] - pi)
        total += w * grad / g
    if penalty == "reverse_kl":
        pen = pi - pi_ref
    else:
        lr = np.log(pi / pi_ref)
        pen = pi * (lr - pi @ lr)
    return total - beta * pen


def _brute_preference(pi, r, g, baseline, scale, eps=0.0, eps_at="std"):
    """P_G(o|π) = E[A_1 | o_1 = o] over all ordered (o_2..o_G)."""
    k = pi.size
    out = np.zeros(k)
    for o in range(k):
        for rest in itertools.product(range(k), repeat=g - 1):
            w = float(np.prod(pi[list(rest)]))
            grp = np.array([r[o], *r[list(rest)]])
            out[o] += w * _group_advantages(grp, baseline, scale, eps, eps_at)[0]
    return out


RNG = np.random.default_rng(20261123)
PROBLEMS = [(RNG.dirichlet(np.ones(3)), RNG.dirichlet(np.ones(3)), np.array([0.0, 0.4, 1.0]))
            for _ in range(3)]


# ---------------------------------------------------------------------- the spec itself


def test_keywords_and_registry_build_equal_hashable_objectives():
    assert as_objective(8) == objective("grpo", 8)
    assert as_objective(8, "sample") == objective("grpo-sample", 8)
    assert as_objective(8, "none", eps=0.3) == objective("dr-grpo", 8)  # eps plays no role
    assert as_objective(8, penalty="direct_kl") == objective("grpo-direct-kl", 8)
    assert len({as_objective(8), objective("grpo", 8), as_objective(4)}) == 2
    assert objective("grpo-sample", 8, eps=1e-4).eps == 1e-4


def test_registry_entries_have_distinct_labels_and_names():
    labels = [e.label for e in OBJECTIVES.values()]
    assert len(set(labels)) == len(labels)
    assert set(OBJECTIVES) >= {"grpo", "grpo-sample", "dr-grpo", "rloo", "grpo-direct-kl"}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Advantage(scale="pop"), "std must be one of"),
        (lambda: Advantage(baseline="median"), "baseline must be one of"),
        (lambda: Advantage(eps=-1.0), "eps"),
        (lambda: Advantage(eps_at="inside"), "eps_at must be one of"),
        (lambda: objective("ppo", 8), "objective must be one of"),
        (lambda: objective("grpo", 1), "group_size"),
        (lambda: as_objective(8, penalty="k2"), "penalty must be one of"),
        (lambda: as_objective(objective("rloo", 8), std="sample"), "std must not be given"),
        (lambda: Objective(group_size=8, penalty="reverse_kl"), "penalty must be a Penalty"),
    ],
)
def test_bad_specs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_objective_passes_wherever_group_size_is_taken():
    pi_ref, r, b = [0.3, 0.7], [1.0, 0.0], 1.0
    by_kw = gt.grpo_stationary_policy(pi_ref, r, b, 8, std="sample", penalty="direct_kl", eps=1e-4)
    by_obj = gt.grpo_stationary_policy(
        pi_ref, r, b, Objective(Advantage(scale="sample", eps=1e-4), gt.PENALTIES["direct_kl"], 8)
    )
    np.testing.assert_array_equal(by_kw.policy, by_obj.policy)
    assert by_obj.objective == by_kw.objective


def test_single_problem_result_fields_are_scalars_with_a_message():
    res = gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 8)
    for field in (res.converged, res.iterations, res.residual, res.min_denominator):
        assert np.ndim(field) == 0 and not isinstance(field, np.ndarray)
    assert res.message.startswith("converged")
    batch = gt.grpo_stationary_policy([[0.3, 0.7], [0.5, 0.5]], [1.0, 0.0], 1.0, 8)
    assert batch.converged.shape == (2,)
    assert "2 problems converged" in batch.message


def test_unconverged_message_says_why():
    res = gt.grpo_stationary_policy([0.7, 0.3], [0.0, 1.0], 0.5, math.inf, penalty="direct_kl")
    assert not res.converged
    assert "no interior stationary point" in res.message


# ---------------------------------------------------------------------- RLOO, engine


@pytest.mark.parametrize("g", [2, 3, 4])
@pytest.mark.parametrize("scale", ["none", "population", "sample"])
def test_leave_one_out_preference_matches_brute_force(g, scale):
    for pi, _, r in PROBLEMS:
        want = _brute_preference(pi, r, g, "leave_one_out", scale)
        got = preference_model(pi, r, Objective(Advantage("leave_one_out", scale), group_size=g))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_rloo_preference_is_reward_minus_mean_for_every_group_size():
    for pi, _, r in PROBLEMS:
        for g in (2, 5, 64, math.inf):
            got = preference_model(pi, r, objective("rloo", g))
            np.testing.assert_allclose(got, r - pi @ r, rtol=0, atol=1e-15)


@pytest.mark.parametrize("g", [2, 3, 4])
def test_rloo_stationary_point_zeroes_the_brute_force_expected_gradient(g):
    for _, pi_ref, r in PROBLEMS:
        for beta in (0.3, 1.0, 4.0):
            res = gt.grpo_stationary_policy(pi_ref, r, beta, objective("rloo", g))
            assert res.converged
            f = _brute_expected_update(res.policy, pi_ref, r, beta, g, "leave_one_out", "none")
            assert np.max(np.abs(f)) < 1e-13
            # the closed form: π = π_ref/(1 − (r − E_π r)/β), independent of G
            pi = res.policy
            np.testing.assert_allclose(pi * (1.0 - (r - pi @ r) / beta), pi_ref, rtol=0, atol=1e-13)


def test_rloo_with_direct_kl_converges_to_the_kl_optimum():
    rloo_kl = Objective(Advantage("leave_one_out", "none"), gt.PENALTIES["direct_kl"], 4)
    for _, pi_ref, r in PROBLEMS:
        for beta in (0.1, 1.0):
            res = gt.grpo_stationary_policy(pi_ref, r, beta, rloo_kl)
            star = pi_ref * np.exp(r / beta)
            np.testing.assert_allclose(res.policy, star / star.sum(), rtol=1e-12, atol=1e-15)


def test_rloo_equals_dr_grpo_at_a_rescaled_beta():
    for _, pi_ref, r in PROBLEMS:
        rloo = gt.grpo_stationary_policy(pi_ref, r, 1.0, objective("rloo", 6)).policy
        dr = gt.grpo_stationary_policy(pi_ref, r, 5.0 / 6.0, objective("dr-grpo", 6)).policy
        np.testing.assert_allclose(rloo, dr, rtol=0, atol=1e-13)


def test_rloo_expected_update_matches_brute_force():
    for pi, pi_ref, r in PROBLEMS:
        want = _brute_expected_update(pi, pi_ref, r, 0.7, 3, "leave_one_out", "none")
        got = grpo_expected_update(pi, pi_ref, r, 0.7, objective("rloo", 3))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------- eps inside the sqrt


@pytest.mark.parametrize("eps", [0.0, 0.01, 0.3])
def test_eps_inside_the_sqrt_matches_brute_force(eps):
    adv = Advantage(scale="sample", eps=eps, eps_at="var")
    for pi, _, r in PROBLEMS:
        for g in (2, 3, 4):
            want = _brute_preference(pi, r, g, "mean", "sample", eps, "var")
            got = preference_model(pi, r, Objective(adv, group_size=g))
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_eps_inside_the_sqrt_at_large_group_is_the_closed_form():
    adv = Advantage(eps=0.5, eps_at="var")
    m = np.array([0.2, 0.5, 0.3])
    v = np.array([0.0, 0.4, 1.0])
    var = m @ (v - m @ v) ** 2  # 0.1284 < eps: the scale is sqrt(eps) + eps
    got = level_advantages(m, v, Objective(adv, group_size=math.inf))
    np.testing.assert_allclose(got, (v - m @ v) / (math.sqrt(max(var, 0.5)) + 0.5), atol=1e-15)


# ---------------------------------------------------------------------- RLOO, torch


def test_torch_leave_one_out_advantages_match_the_definition():
    r = torch.tensor([[0.0, 1.0, 1.0, 0.5], [2.0, 2.0, 2.0, 2.0]], dtype=F64)
    got = grpo_advantages(r, advantage=objective("rloo", 4).advantage).numpy()
    for row, want_row in zip(got, r.numpy()):
        np.testing.assert_allclose(row, _group_advantages(want_row, "leave_one_out", "none", 0, "std"),
                                   atol=1e-15)


@pytest.mark.parametrize("name", ["rloo", "grpo", "grpo-sample", "grpo-direct-kl"])
def test_torch_gradient_averaged_over_every_group_is_the_engine_update(name):
    """Σ over all K^G groups of P(group)·grpo_grad equals −grpo_expected_update, and
    grpo_expected_grad equals it too: the faithful loss and the engine agree exactly."""
    g = 3
    obj = objective(name, g)
    for pi, pi_ref, r in PROBLEMS[:2]:
        k = pi.size
        groups = torch.tensor(list(itertools.product(range(k), repeat=g)))
        n = groups.shape[0]
        logits = torch.log(torch.tensor(pi, dtype=F64)).expand(n, k).contiguous()
        ref = torch.log(torch.tensor(pi_ref, dtype=F64)).expand(n, k).contiguous()
        rewards = torch.tensor(r, dtype=F64)[groups]
        grads = grpo_grad(logits, groups, rewards, ref, 0.8, objective=obj)
        weights = torch.tensor(pi, dtype=F64)[groups].prod(1, keepdim=True)
        averaged = (weights * grads).sum(0).numpy()
        engine = grpo_expected_update(pi, pi_ref, r, 0.8, obj)
        np.testing.assert_allclose(averaged, -engine, rtol=0, atol=1e-14)
        levels = torch.tensor(np.unique(r), dtype=F64)
        probs = torch.tensor((r[:, None] == np.unique(r)[None, :]).astype(float), dtype=F64)[None]
        exp = grpo_expected_grad(logits[:1], ref[:1], levels, probs, 0.8, obj).numpy()[0]
        np.testing.assert_allclose(exp, -engine, rtol=0, atol=1e-14)


def test_torch_objective_group_size_must_match_the_groups():
    logits = torch.zeros(1, 3, dtype=F64)
    with pytest.raises(ValueError, match="objective has group_size=8"):
        grpo_grad(logits, torch.zeros(1, 4, dtype=torch.int64), torch.zeros(1, 4, dtype=F64), logits,
                  1.0, objective=objective("rloo", 8))
