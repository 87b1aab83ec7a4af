"""Batch-level reward normalisation in torch: TRL's ``scale_rewards="batch"`` and verl's
REINFORCE++-baseline, for one group of G samples per context and B contexts per batch.

The advantage divides a group-centred reward by **one** scale taken over the whole batch
(docs/frameworks.md, TRL ``GRPOTrainer``, ``scale_rewards="batch"``; verl
``reinforce_plus_plus_baseline``):

* ``convention="trl"``: A_i = c_b·(r_i − r̄_group)/(S + 10⁻⁴), S = ``rewards.std()`` over all
  N = B·G rewards of the batch — the sample std, dividing by N − 1 (torch's default, Bessel);
* ``convention="reinforce++"``: x_i = c_b·(r_i − r̄_group), then whitened over the batch,
  A_i = (x_i − x̄)/√(var(x) + 10⁻⁸) with var the N − 1 sample variance (x̄ = 0 exactly in
  exact arithmetic: the centred rewards of each group sum to 0);

with c_b = 1 for the group-mean baseline and G/(G − 1) for the leave-one-out baseline. A tied
group gets A = 0 from its numerator; a batch whose rewards all tie has S = 0 and every A = 0.

:func:`batch_std_loss` is the per-sample loss as TRL writes it for one-token completions,
−ρ_i·A_i + β·D_i with ρ = exp(log π_θ − sg log π_θ) (= 1, clipping inactive at θ = θ_old) and
D the k3 estimator π_ref/π_θ − log(π_ref/π_θ) − 1 (or, ``penalty="direct_kl"``, the
bias-corrected estimator, whose gradient is that of KL(π_θ‖π_ref)), averaged over each group
and summed over contexts. TRL averages over all B·G samples of the batch instead: that is
this loss divided by B, a constant factor that moves no stationary point. The advantages are
data (computed from the sampled rewards, no gradient), as in TRL.

:func:`batch_std_grad` is its gradient at θ = θ_old in closed form,
−(1/G)·(Σ_i c_i·e_{o_i} − π·Σ_i c_i) with c_i = A_i − β·D′_i.

In the large-batch limit the scale concentrates on the dataset's batch std σ_B, and each
prompt's expected update is the no-std (Dr. GRPO) update on the rewards r/(σ_B + eps): the
coupled fixed point of :func:`gvpo_theory.dataset.solve_batch_std`, which
:mod:`.dataset_training` trains towards.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..objective import Advantage
from ..penalties import PENALTIES
from . import _checks
from .losses import _beta, _check_group

#: Batch-std conventions: name → eps (TRL adds it to the std; REINFORCE++ to the variance).
BATCH_CONVENTIONS: dict[str, float] = {"trl": 1e-4, "reinforce++": 1e-8}

#: Group baselines the batch-normalised advantage accepts.
BASELINES: tuple[str, ...] = ("mean", "leave_one_out")


def _check_rewards(rewards: object, convention: object, baseline: object) -> Tensor:
    _checks.tensor(rewards, "rewards", ndim=2, shape="(B, G)")
    if rewards.shape[1] < 2:
        raise ValueError(f"rewards: a group needs G >= 2 members (a group of one has no baseline); "
                         f"got G = {rewards.shape[1]}")
    _checks.choice(convention, "convention", tuple(BATCH_CONVENTIONS))
    _checks.choice(baseline, "baseline", BASELINES)
    _checks.DataChecks().finite(rewards=rewards).raise_if_failed()
    return rewards


def batch_scale(rewards: Tensor, convention: str = "trl", eps: float | None = None) -> Tensor:
    """The batch's divisor (0-d tensor): S + eps with S the N − 1 sample std of all rewards
    (``"trl"``), or √(var + eps) of the group-centred rewards (``"reinforce++"``)."""
    _check_rewards(rewards, convention, "mean")
    e = BATCH_CONVENTIONS[convention] if eps is None else _checks.positive(eps, "eps")
    if convention == "trl":
        return rewards.std() + e
    centred = rewards - rewards.mean(1, keepdim=True)
    return torch.sqrt(centred.var() + e)


def batch_std_advantages(
    rewards: Tensor, convention: str = "trl", *, baseline: str = "mean", eps: float | None = None,
) -> Tensor:
    """A (B, G): group-centred rewards over one batch-level scale (module docstring).

    Args:
        rewards: (B, G) rewards, one group per row, the whole batch.
        convention: ``"trl"`` (default) or ``"reinforce++"`` (:data:`BATCH_CONVENTIONS`).
        baseline: ``"mean"`` (both frameworks) or ``"leave_one_out"`` (×G/(G − 1)).
        eps: the convention's eps (default 1e-4 for TRL, 1e-8 for REINFORCE++), > 0.
    """
    _check_rewards(rewards, convention, baseline)
    e = BATCH_CONVENTIONS[convention] if eps is None else _checks.positive(eps, "eps")
    g = rewards.shape[1]
    factor = Advantage(baseline=baseline, scale="none").baseline_factor(g)
    centred = factor * (rewards - rewards.mean(1, keepdim=True))
    if convention == "trl":
        return centred / (rewards.std() + e)
    return (centred - centred.mean()) / torch.sqrt(centred.var() + e)


def _penalty(penalty: object) -> str:
    _checks.choice(penalty, "penalty", ("reverse_kl", "direct_kl"))
    return PENALTIES[penalty].name


def batch_std_loss(
    logits: Tensor, samples: Tensor, rewards: Tensor, ref_logits: Tensor, beta: float | Tensor,
    *, convention: str = "trl", baseline: str = "mean", penalty: str = "reverse_kl",
    eps: float | None = None,
) -> Tensor:
    """−(1/G)·Σ_i [ρ_i·A_i − β·D_i] summed over contexts, A from :func:`batch_std_advantages`
    (module docstring). Shapes: ``logits``/``ref_logits`` (B, K), ``samples``/``rewards`` (B, G)."""
    _check_group(logits, samples, rewards, ref_logits)
    pen = _penalty(penalty)
    b = _beta(beta, logits)
    adv = batch_std_advantages(rewards, convention, baseline=baseline, eps=eps)
    logp = torch.gather(torch.log_softmax(logits, -1), 1, samples)
    lref = torch.gather(torch.log_softmax(ref_logits, -1), 1, samples)
    surrogate = torch.exp(logp - logp.detach()) * adv
    if pen == "reverse_kl":
        d = torch.exp(lref - logp) - (lref - logp) - 1.0
    else:  # TRL's use_bias_correction_kl: ρ·k3, whose gradient at ρ = 1 is log(π/π_ref)·∇log π
        d = torch.exp(logp - logp.detach()) * (torch.exp(lref - logp) - (lref - logp) - 1.0)
    return -(surrogate - b * d).mean(1).sum()


def batch_std_grad(
    logits: Tensor, samples: Tensor, rewards: Tensor, ref_logits: Tensor, beta: float | Tensor,
    *, convention: str = "trl", baseline: str = "mean", penalty: str = "reverse_kl",
    eps: float | None = None,
) -> Tensor:
    """∂(batch_std_loss)/∂θ at θ = θ_old in closed form: −(1/G)·(Σ_i c_i·e_{o_i} − π·Σ_i c_i),
    c_i = A_i − β·(1 − π_ref(o_i)/π_θ(o_i)) (k3) or A_i − β·log(π_θ(o_i)/π_ref(o_i)) (direct KL)."""
    _check_group(logits, samples, rewards, ref_logits)
    pen = _penalty(penalty)
    b = _beta(beta, logits)
    adv = batch_std_advantages(rewards, convention, baseline=baseline, eps=eps)
    logp_all = torch.log_softmax(logits.detach(), -1)
    l = torch.gather(logp_all - torch.log_softmax(ref_logits, -1), 1, samples)
    c = adv - b * (-torch.expm1(-l) if pen == "reverse_kl" else l)
    grad = torch.zeros_like(logits).scatter_add_(1, samples, c)
    grad -= torch.exp(logp_all) * c.sum(1, keepdim=True)
    return grad.mul_(-1.0 / samples.shape[1])
