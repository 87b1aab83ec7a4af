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

from . import _checks


def gvpo_sgd_step_(
    theta: Tensor,
    ref_logp: Tensor,
    mean_rewards: Tensor,
    beta: float,
    lr: float,
    group_size: int,
    generator: torch.Generator | None = None,
    *,
    check_finite: bool = True,
) -> Tensor:
    """One on-policy GVPO SGD step on ``theta`` (B, K) in place; returns ``theta``.

    Args:
        theta: logits θ (B, K), updated in place.
        ref_logp: log π_ref (B, K), normalised.
        mean_rewards: r(o) (B, K) (GVPO's optimum depends on E[r|o] only).
        beta: β > 0.  lr: the SGD step on the summed loss (natural scale 1/(β²(k − 1))).
        group_size: k >= 2 samples per context.
        generator: torch generator for the uniforms (``None``: the global RNG).
        check_finite: refuse (a ``ValueError`` naming the argument, θ untouched) NaN or
            ±inf entries in ``theta``, ``ref_logp`` or ``mean_rewards``: one sum over the
            three tensors and one device→host read-back per step. Measured on CPU (float32,
            one thread, k = 8, ``benchmarks/bench_validation.py``): +4–6% per step at
            B = 4096, K = 16 and below 5% at B = 16384; at B = 64 its ~15 µs are a large
            share of a ~0.1 ms step. On a GPU the read-back is a synchronisation per step.
            ``False`` skips it, for ``torch.compile``d or throughput loops that check their
            own state.

    Shapes, dtypes (float32/float64, shared), the device, β, lr and the group size are
    always checked (metadata only, no sync).
    """
    _check_step(theta, ref_logp, mean_rewards, generator)
    beta = _checks.scalar_beta(beta)
    lr = _checks.positive(lr, "lr")
    group_size = _checks.count(group_size, "group_size", min_value=2)
    if check_finite:
        checks = _checks.DataChecks().finite(theta=theta, ref_logp=ref_logp, mean_rewards=mean_rewards)
        checks.raise_if_failed()
    logp = torch.log_softmax(theta, -1)
    cdf = logp.exp().cumsum(-1)
    u = torch.rand((theta.shape[0], group_size), generator=generator, device=theta.device, dtype=theta.dtype)
    y = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=theta.shape[1] - 1)
    g = mean_rewards - beta * (logp - ref_logp)
    gy = torch.gather(g, 1, y)
    w = gy - gy.mean(1, keepdim=True)
    return theta.scatter_add_(1, y, w.mul_(lr * beta))


def _check_step(theta: Tensor, ref_logp: Tensor, mean_rewards: Tensor, generator: object) -> None:
    if (  # the valid case in one expression (~2 µs); the named checks below find the culprit
        isinstance(theta, Tensor) and isinstance(ref_logp, Tensor) and isinstance(mean_rewards, Tensor)
        and theta.ndim == 2 and theta.dtype in _checks.FLOAT_DTYPES and not theta.requires_grad
        and ref_logp.shape == theta.shape == mean_rewards.shape
        and ref_logp.dtype == theta.dtype == mean_rewards.dtype
        and ref_logp.device == theta.device == mean_rewards.device
        and (generator is None or (isinstance(generator, torch.Generator)
                                   and generator.device.type == theta.device.type))
    ):
        return
    _checks.tensor(theta, "theta", ndim=2, shape="(B, K)")
    if theta.requires_grad:
        raise ValueError("theta must not require grad: the step updates it in place, without autograd")
    for name, t in (("ref_logp", ref_logp), ("mean_rewards", mean_rewards)):
        _checks.tensor(t, name, ndim=2, shape="(B, K)")
        _checks.same_shape(t, name, theta, "theta")
    _checks.same_device(theta=theta, ref_logp=ref_logp, mean_rewards=mean_rewards)
    _checks.same_dtype(theta=theta, ref_logp=ref_logp, mean_rewards=mean_rewards)
    _checks.generator(generator, theta.device)
