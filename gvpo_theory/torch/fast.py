"""A fused GVPO training step for throughput: no autograd, no optimizer object.

On a tabular softmax policy the whole on-policy GVPO SGD step collapses to a few passes
over the (B, K) logits (docs/theory.md §5):

    g(o) = r(o) − β·(log π_θ(o) − log π_ref(o))          (B, K)
    y_1..y_k ~ π_θ by inverse CDF                          (B, k)
    w_i = g(y_i) − mean_j g(y_j)                           (= (R_i − R̄) − β(l_i − l̄))
    θ ← θ + lr·β·Σ_i w_i·e_{y_i}                           (scatter_add; −β Σ w e_y is ∂loss/∂θ)

It draws the same samples as :func:`~gvpo_theory.torch.samplers.sample_categorical`
with the same generator, so it reproduces the generic trainer step exactly (tested);
benchmarks/bench_torch.py times it against plain autograd + Adam, eager and compiled.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gvpo_sgd_step_(
    theta: Tensor,
    ref_logp: Tensor,
    mean_rewards: Tensor,
    beta: float,
    lr: float,
    group_size: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One on-policy GVPO SGD step on ``theta`` (B, K) in place; returns ``theta``.

    Args:
        theta: logits θ (B, K), updated in place.
        ref_logp: log π_ref (B, K), normalised.
        mean_rewards: r(o) (B, K) (GVPO's optimum depends on E[r|o] only).
        beta: β > 0.  lr: the SGD step on the summed loss (natural scale 1/(β²(k − 1))).
        group_size: k >= 2 samples per context.
        generator: torch generator for the uniforms (``None``: the global RNG).
    """
    logp = torch.log_softmax(theta, -1)
    cdf = logp.exp().cumsum(-1)
    u = torch.rand((theta.shape[0], group_size), generator=generator, device=theta.device, dtype=theta.dtype)
    y = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=theta.shape[1] - 1)
    g = mean_rewards - beta * (logp - ref_logp)
    gy = torch.gather(g, 1, y)
    w = gy - gy.mean(1, keepdim=True)
    return theta.scatter_add_(1, y, w.mul_(lr * beta))
