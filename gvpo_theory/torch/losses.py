"""GVPO and GRPO losses on batched tabular softmax policies, three ways each.

Shapes: ``logits``/``ref_logits`` (B, K) — θ and log π_ref (any additive constant);
``samples`` (B, k) int64 arm indices of one group per context; ``rewards`` (B, k) the
rewards those samples received; ``beta`` a float or a (B,) tensor. Losses are *summed*
over contexts (contexts are independent problems, so each context's gradient is its own,
whatever B is) and are to be minimised.

1. ``*_loss``  — the loss as written in the papers, differentiated by autograd
   (the baseline a user would write);
2. ``*_grad``  — its gradient in closed form (a scatter_add of per-sample weights), no
   autograd graph: the fast path, identical up to rounding (tested);
3. ``*_expected_grad`` — the exact expectation of that gradient over the group (no
   sampling), equal to minus the engine's :mod:`gvpo_theory.dynamics` updates (tested).

Every function validates its input first (:mod:`._checks`): float32/float64 logits,
ref_logits and rewards of one dtype on one device, int64 samples in [0, K) with k >= 2,
finite values, β real, finite and > 0 (a number, or a (B,) tensor), probability rows
(``sampling_probs``, ``reward_probs``) non-negative and summing to 1. A violation is a
``ValueError`` naming the argument; the value checks are one fused reduction per call.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..objective import Advantage, Objective, as_objective
from ..preference import advantage_table
from . import _checks


def _check_group(logits: Tensor, samples: Tensor, rewards: Tensor, ref_logits: Tensor) -> None:
    """Shapes, dtypes (float32/float64 logits and rewards, int64 samples), one device; then, in
    one fused reduction, finite logits/ref_logits/rewards and samples in [0, K)."""
    _checks.tensor(logits, "logits", ndim=2, shape="(B, K)")
    _checks.tensor(ref_logits, "ref_logits", ndim=2, shape="(B, K)")
    _checks.same_shape(ref_logits, "ref_logits", logits, "logits")
    _checks.index_tensor(samples, "samples", batch=logits.shape[0], min_size=2)
    _checks.tensor(rewards, "rewards", ndim=2, shape="(B, k)")
    _checks.same_shape(rewards, "rewards", samples, "samples")
    _checks.same_device(logits=logits, samples=samples, rewards=rewards, ref_logits=ref_logits)
    _checks.same_dtype(logits=logits, rewards=rewards, ref_logits=ref_logits)
    checks = _checks.DataChecks().finite(logits=logits.detach(), ref_logits=ref_logits, rewards=rewards)
    checks.indices("samples", samples, logits.shape[1]).raise_if_failed()


def _beta(beta: float | Tensor, like: Tensor, allow_zero: bool = False) -> Tensor:
    """β as a 0-d or (B, 1) tensor (validated: real, finite, > 0 — >= 0 with ``allow_zero``,
    for GRPO, where β = 0 drops the KL term; a number on the host)."""
    checks = _checks.DataChecks()
    b = _checks.beta(beta, like, checks, allow_zero=allow_zero)
    checks.raise_if_failed()
    return b


# ----------------------------------------------------------------------------- GVPO


def gvpo_weights(
    logits: Tensor, samples: Tensor, rewards: Tensor, ref_logits: Tensor, beta: float | Tensor
) -> Tensor:
    """w_i = (R_i − R̄) − β·(l_i − l̄), l_i = log π_θ(y_i)/π_ref(y_i) (Zhang et al., eq. (8)).

    At π* every w_i is exactly 0 for any group: r − β·l is constant there (docs/theory.md §5).
    """
    _check_group(logits, samples, rewards, ref_logits)
    b = _beta(beta, logits)
    log_ratio = torch.log_softmax(logits, -1) - torch.log_softmax(ref_logits, -1)
    l = torch.gather(log_ratio, 1, samples)
    return (rewards - rewards.mean(1, keepdim=True)) - b * (l - l.mean(1, keepdim=True))


def _gvpo_factor(scale: str, k: int) -> float:
    if scale not in ("sum", "paper"):
        raise ValueError(f"scale must be 'sum' or 'paper'; got {scale!r}")
    return 1.0 if scale == "sum" else 1.0 / (k - 1)


def gvpo_loss(
    logits: Tensor,
    samples: Tensor,
    rewards: Tensor,
    ref_logits: Tensor,
    beta: float | Tensor,
    scale: str = "sum",
) -> Tensor:
    """GVPO loss −β·Σ_i w_i·log π_θ(y_i), weights detached (docs/theory.md §5), summed over contexts.

    ``scale="paper"`` divides by (k − 1) as the GVPO paper does. Its gradient is that of
    ½·Σ_i (β(l_i − l̄) − (R_i − R̄))², the MSE between centred implicit and actual rewards.
    β > 0: at β = 0 the loss is identically 0 (and π* ∝ π_ref·exp(r/β) degenerates to
    π_ref restricted to the reward argmax), so β = 0 is refused.
    """
    w = gvpo_weights(logits, samples, rewards, ref_logits, beta).detach()
    b = _beta(beta, logits)
    logp = torch.gather(torch.log_softmax(logits, -1), 1, samples)
    return -(b * w * logp).sum() * _gvpo_factor(scale, samples.shape[1])


def gvpo_grad(
    logits: Tensor,
    samples: Tensor,
    rewards: Tensor,
    ref_logits: Tensor,
    beta: float | Tensor,
    scale: str = "sum",
) -> Tensor:
    """∂(gvpo_loss)/∂θ in closed form: −β·Σ_i w_i·e_{y_i} (the −π·Σ_i w_i term is 0)."""
    w = gvpo_weights(logits, samples, rewards, ref_logits, beta)
    b = _beta(beta, logits)
    grad = torch.zeros_like(logits).scatter_add_(1, samples, w)
    return grad.mul_(-b * _gvpo_factor(scale, samples.shape[1]))


def gvpo_expected_grad(
    logits: Tensor,
    ref_logits: Tensor,
    mean_rewards: Tensor,
    beta: float | Tensor,
    sampling_probs: Tensor,
    group_size: int,
    scale: str = "sum",
) -> Tensor:
    """E[∂(gvpo_loss)/∂θ] over groups y_1..y_k ~ π_s: −β(k − 1)·π_s(o)·(g(o) − E_{π_s} g),
    g = E[r|o] − β·log(π_θ(o)/π_ref(o)) (docs/theory.md §5; minus ``dynamics.gvpo_expected_update``)."""
    k = _checks.count(group_size, "group_size", min_value=2)
    _gvpo_factor(scale, k)
    tensors = {"logits": logits, "ref_logits": ref_logits, "mean_rewards": mean_rewards,
               "sampling_probs": sampling_probs}
    for name, t in tensors.items():
        _checks.tensor(t, name, ndim=2, shape="(B, K)")
        _checks.same_shape(t, name, logits, "logits")
    _checks.same_device(**tensors)
    _checks.same_dtype(**tensors)
    checks = _checks.DataChecks().finite(
        logits=logits.detach(), ref_logits=ref_logits, mean_rewards=mean_rewards
    )
    checks.probabilities("sampling_probs", sampling_probs)
    b = _checks.beta(beta, logits, checks)
    checks.raise_if_failed()
    g = mean_rewards - b * (torch.log_softmax(logits, -1) - torch.log_softmax(ref_logits, -1))
    centred = g - (sampling_probs * g).sum(-1, keepdim=True)
    return -b * (k - 1) * _gvpo_factor(scale, k) * sampling_probs * centred


# ----------------------------------------------------------------------------- GRPO


def grpo_advantages(
    rewards: Tensor, std: str | None = None, eps: float | None = None, *,
    advantage: Advantage | None = None,
) -> Tensor:
    """A_i = (R_i − b_i)/s within each group (B, G) (Vojnovic & Yun, eq. (2); docs/theory.md §2).

    The estimator is ``advantage`` (an :class:`~gvpo_theory.objective.Advantage`) or the
    keywords: s divides by G (``std="population"``, the paper, default) or G − 1
    (``"sample"``, torch.std as in TRL/verl); ``"none"`` gives A_i = R_i − R̄ (Dr. GRPO);
    the leave-one-out baseline (RLOO) multiplies by G/(G − 1). A group whose rewards are
    all equal gets A = 0 (0/0 := 0), decided by comparing rewards, not a float std with 0.
    """
    _checks.tensor(rewards, "rewards", ndim=2, shape="(B, G)")
    if rewards.shape[1] < 2:
        raise ValueError(f"rewards: a group needs G >= 2 members (a group of one has no baseline); "
                         f"got G = {rewards.shape[1]}")
    if advantage is None:
        advantage = as_objective(2, std, None, eps).advantage
    elif std is not None or eps is not None:
        raise ValueError("std and eps must not be given together with advantage")
    elif not isinstance(advantage, Advantage):
        raise ValueError(f"advantage must be an objective.Advantage; got {type(advantage).__name__}")
    _checks.DataChecks().finite(rewards=rewards).raise_if_failed()
    return _advantages(rewards, advantage)


def _advantages(rewards: Tensor, advantage: Advantage) -> Tensor:
    """:func:`grpo_advantages` on validated input."""
    g = rewards.shape[1]
    centred = rewards - rewards.mean(1, keepdim=True)
    factor = advantage.baseline_factor(g)
    if advantage.scale == "none":
        return centred * factor if factor != 1.0 else centred
    var = (centred * centred).sum(1, keepdim=True) / (g - (advantage.scale == "sample"))
    tie = rewards.amax(1, keepdim=True) == rewards.amin(1, keepdim=True)
    e = advantage.eps
    sd = var.clamp_min(e).sqrt() if advantage.eps_at == "var" else var.sqrt()
    scale = torch.where(tie, torch.ones_like(var), sd + e)
    return torch.where(tie, torch.zeros_like(centred), factor * centred / scale)


def _objective(
    std: str | None, penalty: str | None, eps: float | None, objective: Objective | None,
    group_size: int,
) -> Objective:
    """The objective of a call: ``objective`` (checked against the groups' size) or the keywords."""
    if objective is None:
        return as_objective(group_size, std, penalty, eps)
    obj = as_objective(objective, std, penalty, eps)
    if obj.group_size != group_size:
        raise ValueError(
            f"objective has group_size={obj.group_size} but the groups have {group_size} members"
        )
    return obj


def grpo_loss(
    logits: Tensor,
    samples: Tensor,
    rewards: Tensor,
    ref_logits: Tensor,
    beta: float | Tensor,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    objective: Objective | None = None,
) -> Tensor:
    """On-policy GRPO loss, minus the objective of Vojnovic & Yun eq. (3), summed over contexts:

        −(1/G)·Σ_i [ (π_θ(o_i)/π_old(o_i))·A_i − β·D(o_i) ],   o_i ~ π_old = π_θ (detached).

    The objective is ``objective`` (:class:`~gvpo_theory.objective.Objective`, its G equal to
    the groups' size) or the keywords (defaults: population std, k3, eps 0).
    ``penalty="reverse_kl"``: GRPO's k3 estimator D = π_ref/π_θ − log(π_ref/π_θ) − 1, whose
    expected gradient is π_θ − π_ref (it acts as a reverse KL). ``"direct_kl"``: the
    score-function surrogate sg(log π_θ/π_ref)·log π_θ, whose expected gradient is ∇KL(π_θ‖π_ref)
    (the naive k1 sample log π_θ/π_ref has zero expected gradient on-policy). β >= 0: β = 0
    drops the KL term (TRL's and verl's default), leaving the pure policy-gradient surrogate.
    """
    _check_group(logits, samples, rewards, ref_logits)
    obj = _objective(std, penalty, eps, objective, samples.shape[1])
    b = _beta(beta, logits, allow_zero=True)
    logp_all = torch.log_softmax(logits, -1)
    logp = torch.gather(logp_all, 1, samples)
    lref = torch.gather(torch.log_softmax(ref_logits, -1), 1, samples)
    adv = _advantages(rewards, obj.advantage)
    surrogate = torch.exp(logp - logp.detach()) * adv
    if obj.penalty.name == "reverse_kl":
        d = torch.exp(lref - logp) - (lref - logp) - 1.0
    else:
        d = (logp - lref).detach() * logp
    return -(surrogate - b * d).mean(1).sum()


def grpo_grad(
    logits: Tensor,
    samples: Tensor,
    rewards: Tensor,
    ref_logits: Tensor,
    beta: float | Tensor,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    objective: Objective | None = None,
) -> Tensor:
    """∂(grpo_loss)/∂θ in closed form. With c_i the per-sample coefficient of ∇log π_θ(o_i),

        c_i = A_i − β·(1 − π_ref(o_i)/π_θ(o_i))   (k3)   or   A_i − β·log(π_θ(o_i)/π_ref(o_i)),

    the gradient is −(1/G)·(Σ_i c_i·e_{o_i} − π_θ·Σ_i c_i).
    """
    _check_group(logits, samples, rewards, ref_logits)
    obj = _objective(std, penalty, eps, objective, samples.shape[1])
    b = _beta(beta, logits, allow_zero=True)
    logp_all = torch.log_softmax(logits, -1)
    l = torch.gather(logp_all - torch.log_softmax(ref_logits, -1), 1, samples)
    adv = _advantages(rewards, obj.advantage)
    pen = -torch.expm1(-l) if obj.penalty.name == "reverse_kl" else l
    c = adv - b * pen
    grad = torch.zeros_like(logits).scatter_add_(1, samples, c)
    grad -= torch.exp(logp_all) * c.sum(1, keepdim=True)
    return grad.mul_(-1.0 / samples.shape[1])


def preference_torch(
    policy: Tensor, levels: Tensor, reward_probs: Tensor, group_size: int | Objective,
    std: str | None = None, eps: float | None = None,
) -> Tensor:
    """Exact P_G(o|π) (B, K) in torch (docs/theory.md §2, §4b): m = Σ_o π(o)·D_o, then
    a_l(m) = Σ_c Mult(c; G − 1, m)·A(l, c) over the count vectors c of the other G − 1
    rewards (the engine's enumeration table), and P_G(o) = Σ_l D_o(l)·a_l(m)."""
    table = advantage_table(levels.detach().double().cpu().numpy(), as_objective(group_size, std, None, eps))
    dev, dt = policy.device, policy.dtype
    counts = torch.tensor(np.array(table.counts), dtype=dt, device=dev)
    log_coef = torch.tensor(np.array(table.log_coef), dtype=dt, device=dev)
    adv = torch.tensor(np.array(table.advantage), dtype=dt, device=dev)
    m = torch.einsum("bk,bkl->bl", policy, reward_probs)
    # log m with unoccupied levels at a finite −1e30: their count-0 terms contribute 0 and
    # count>0 terms weight 0, with finite gradients (m_l ≡ 0 there: no arm scores level l).
    pos = m > 0
    log_m = torch.where(pos, torch.log(torch.where(pos, m, torch.ones_like(m))), torch.full_like(m, -1e30))
    log_pmf = log_coef + log_m @ counts.T
    a = torch.exp(log_pmf) @ adv
    return torch.einsum("bkl,bl->bk", reward_probs, a)


def grpo_expected_grad(
    logits: Tensor,
    ref_logits: Tensor,
    levels: Tensor,
    reward_probs: Tensor,
    beta: float | Tensor,
    group_size: int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
) -> Tensor:
    """E[∂(grpo_loss)/∂θ] on-policy, exactly (docs/theory.md §3; minus ``dynamics.grpo_expected_update``):

        −[π(o)·P_G(o|π) − β·(π(o) − π_ref(o))]                (k3)
        −[π(o)·P_G(o|π) − β·π(o)·(log(π(o)/π_ref(o)) − KL)]    (direct KL)

    ``levels`` (L,) and ``reward_probs`` (B, K, L) describe the rewards
    (:meth:`Bandits.level_structure`); P_G by exact enumeration (C(G + L − 2, L − 1) terms).
    """
    obj = as_objective(group_size, std, penalty, eps)
    if not isinstance(obj.group_size, int):
        raise ValueError(f"group_size must be an integer >= 2; got {obj.group_size!r}")
    _checks.tensor(logits, "logits", ndim=2, shape="(B, K)")
    _checks.tensor(ref_logits, "ref_logits", ndim=2, shape="(B, K)")
    _checks.same_shape(ref_logits, "ref_logits", logits, "logits")
    _checks.tensor(levels, "levels", ndim=1, shape="(L,)")
    _checks.tensor(reward_probs, "reward_probs", ndim=3, shape="(B, K, L)")
    if reward_probs.shape[:2] != logits.shape or reward_probs.shape[2] != levels.shape[0]:
        raise ValueError("reward_probs must have shape (B, K, L) matching logits (B, K) and levels (L,)")
    _checks.same_device(logits=logits, ref_logits=ref_logits, levels=levels, reward_probs=reward_probs)
    _checks.same_dtype(logits=logits, ref_logits=ref_logits, reward_probs=reward_probs)
    checks = _checks.DataChecks().finite(logits=logits.detach(), ref_logits=ref_logits, levels=levels)
    checks.probabilities("reward_probs", reward_probs)
    b = _checks.beta(beta, logits, checks, allow_zero=True)
    checks.raise_if_failed()
    logp = torch.log_softmax(logits, -1)
    log_ref = torch.log_softmax(ref_logits, -1)
    pi = torch.exp(logp)
    pref = preference_torch(pi, levels, reward_probs, obj)
    if obj.penalty.name == "reverse_kl":
        pen = pi - torch.exp(log_ref)
    else:
        l = logp - log_ref
        pen = pi * (l - (pi * l).sum(-1, keepdim=True))
    return -(pi * pref - b * pen)
