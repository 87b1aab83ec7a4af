"""Faithful torch losses of the framework entries (length-1 outputs), three ways each.

For an :class:`~gvpo_theory.objective.Objective` of the registry (``objective("dapo", 8,
penalty="low_var_kl")``, ``objective("kl-reward-k1", 8)``, ``objective("gvpo-official", 8)``,
...), one group of G samples per context:

1. :func:`framework_loss` — the loss written the way the framework writes it: the
   importance ratio exp(log π_θ − sg log π_old) times the advantage, plus β times verl's
   ``kl_penalty`` of the chosen type evaluated on log π_θ (torch.clamp for low_var_kl, so a
   clamped output passes no gradient), averaged over the group; KL in the reward subtracts
   β·D(sg log π_old) from the rewards before the group normalisation; DAPO's dynamic sampling
   drops groups whose rewards tie (they contribute 0); GVPO is ½Σ((β(l_i − l̄)) − A_i)²/(G − 1)
   with l = log π_θ − log anchor, the anchor π_ref (paper) or sg π_θ (the official code).
2. :func:`framework_grad` — its gradient at θ = θ_old in closed form, Σ_i c_i·(e_{o_i} − π).
3. :func:`framework_expected_grad` — the exact expectation over groups,
   −(1 − T)·F with F = :func:`gvpo_theory.frameworks.expected_update` (T = P(tie) under
   dynamic sampling, whose refill divides by 1 − T; 0 otherwise).

Shapes: ``logits``/``ref_logits`` (B, K); ``samples`` (B, G) int64; ``arm_rewards`` (B, K)
the deterministic reward of every arm (the shaped reward needs π at the sample). Losses are
summed over contexts, float64 recommended. ReMax's greedy baseline is not written here: its
per-sample loss differs from RLOO's but its expectation is the same (tests/test_framework_entries.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .. import estimators
from ..frameworks import _PENALTY_ESTIMATOR, expected_update, tie_probabilities
from ..objective import Objective
from . import _checks


def _check(objective: Objective, logits: Tensor, samples: Tensor, arm_rewards: Tensor,
           ref_logits: Tensor) -> None:
    if not isinstance(objective, Objective):
        raise ValueError(f"objective must be an Objective; got {type(objective).__name__}")
    _checks.tensor(logits, "logits", ndim=2, shape="(B, K)")
    _checks.same_shape(ref_logits, "ref_logits", logits, "logits")
    _checks.same_shape(arm_rewards, "arm_rewards", logits, "logits")
    _checks.index_tensor(samples, "samples", batch=logits.shape[0], min_size=2)
    if objective.group_size != samples.shape[1]:
        raise ValueError(f"objective has group_size={objective.group_size} but the groups have "
                         f"{samples.shape[1]} members")


def kl_penalty(estimator: str, logp: Tensor, logp_ref: Tensor) -> Tensor:
    """verl's kl_penalty forward (core_algos.kl_penalty_forward) for the canonical estimators."""
    x = logp_ref - logp
    if estimator == "k1":
        return -x
    if estimator == "k2":
        return 0.5 * x * x
    if estimator == "k3":
        return torch.exp(x) - x - 1.0
    if estimator == "low_var_kl":
        y = torch.clamp(x, min=-estimators.LOG_RATIO_CLAMP, max=estimators.LOG_RATIO_CLAMP)
        return torch.clamp(torch.exp(y) - y - 1.0, min=-estimators.VALUE_CLAMP, max=estimators.VALUE_CLAMP)
    raise ValueError(f"unknown KL estimator {estimator!r}")


def _group_terms(objective: Objective, logits: Tensor, samples: Tensor, arm_rewards: Tensor,
                 ref_logits: Tensor, beta: float):
    """(advantages (B, G), kept-group mask (B, 1), log π_θ, log π_ref at the samples)."""
    logp = torch.gather(torch.log_softmax(logits, -1), 1, samples)
    lref = torch.gather(torch.log_softmax(ref_logits, -1), 1, samples)
    raw = torch.gather(arm_rewards, 1, samples)
    r = raw
    if objective.reward_kl is not None:
        r = raw - beta * kl_penalty(objective.reward_kl, logp.detach(), lref)
    adv = torch.from_numpy(objective.advantage.of_groups(r.detach().cpu().double().numpy()))
    adv = adv.to(device=logits.device, dtype=logits.dtype)
    kept = torch.ones_like(raw[:, :1])
    if objective.filter_ties:
        kept = (~torch.all(raw == raw[:, :1], dim=1, keepdim=True)).to(logits.dtype)
    return adv, kept, logp, lref


def framework_loss(objective: Objective, logits: Tensor, samples: Tensor, arm_rewards: Tensor,
                   ref_logits: Tensor, beta: float) -> Tensor:
    """The entry's per-group loss as its framework writes it (module docstring), summed."""
    _check(objective, logits, samples, arm_rewards, ref_logits)
    adv, kept, logp, lref = _group_terms(objective, logits, samples, arm_rewards, ref_logits, beta)
    g = samples.shape[1]
    if objective.loss != "grpo":
        anchor = lref if objective.loss == "gvpo" else logp.detach()
        implicit = beta * (logp - anchor)
        res = (implicit - implicit.mean(1, keepdim=True)) - adv
        return (0.5 * res * res).sum() / (g - 1)
    per_sample = -torch.exp(logp - logp.detach()) * adv
    estimator = _PENALTY_ESTIMATOR[objective.penalty.name]
    if estimator is not None:
        per_sample = per_sample + beta * kl_penalty(estimator, logp, lref)
    return (kept * per_sample).mean(1).sum()


def framework_grad(objective: Objective, logits: Tensor, samples: Tensor, arm_rewards: Tensor,
                   ref_logits: Tensor, beta: float) -> Tensor:
    """∇_θ of :func:`framework_loss` at θ = θ_old in closed form: Σ_i c_i·(e_{o_i} − π) with
    c_i = kept·(−A_i + β·D′_i)/G (D′ the estimator's slope) or, for GVPO,
    c_i = −β·(A_i − β·(l_i − l̄))/(G − 1)."""
    _check(objective, logits, samples, arm_rewards, ref_logits)
    with torch.no_grad():
        adv, kept, logp, lref = _group_terms(objective, logits, samples, arm_rewards, ref_logits, beta)
        g = samples.shape[1]
        if objective.loss != "grpo":
            l = logp - lref if objective.loss == "gvpo" else torch.zeros_like(logp)
            c = -beta * (adv - beta * (l - l.mean(1, keepdim=True))) / (g - 1)
        else:
            c = -adv
            estimator = _PENALTY_ESTIMATOR[objective.penalty.name]
            if estimator is not None:
                slope = estimators.slope(estimator, (lref - logp).cpu().double().numpy())
                c = c + beta * torch.from_numpy(slope).to(device=logits.device, dtype=logits.dtype)
            c = kept * c / g
        pi = torch.softmax(logits, -1)
        grad = torch.zeros_like(logits).scatter_add_(1, samples, c)
        return grad - c.sum(1, keepdim=True) * pi


def framework_expected_grad(objective: Objective, logits: Tensor, arm_rewards: Tensor,
                            ref_logits: Tensor, beta: float) -> Tensor:
    """E over groups of :func:`framework_grad`, exactly: −(1 − T)·F per context (docstring)."""
    _checks.tensor(logits, "logits", ndim=2, shape="(B, K)")
    pi = torch.softmax(logits.detach(), -1).cpu().double().numpy()
    ref = torch.softmax(ref_logits.detach(), -1).cpu().double().numpy()
    r = arm_rewards.detach().cpu().double().numpy()
    out = np.empty_like(pi)
    for b in range(pi.shape[0]):
        keep = 1.0
        if objective.filter_ties:
            keep = 1.0 - tie_probabilities(pi[b], r[b], int(objective.group_size))[0]
        out[b] = -keep * expected_update(pi[b], ref[b], r[b], beta, objective)
    return torch.from_numpy(out).to(device=logits.device, dtype=logits.dtype)
