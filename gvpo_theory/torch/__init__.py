"""Torch verification module: batched tabular bandits trained with GVPO and GRPO.

The engine (numpy) says where training should end: π* ∝ π_ref·exp(E[r]/β) for GVPO and
the GRPO stationary policy for GRPO. This package trains B independent tabular softmax
policies at once, on CPU or GPU, and measures how close they get:

* :mod:`.bandits`  — seeded synthetic problems (π_ref, per-arm reward distributions).
* :mod:`.samplers` — where a group comes from: on-policy, π_ref, uniform, a fixed
  off-policy mixture, a replay buffer; inverse-CDF sampling throughout.
* :mod:`.losses`   — GVPO and GRPO losses (autograd), their analytic tabular gradients,
  and the exact expected gradients (no sampling).
* :mod:`.fast`     — the fused GVPO step (no autograd) used for GPU throughput.
* :mod:`.trainer`  — :func:`verify`: optimiser, step-size schedule, iterate averaging,
  metrics against the engine's targets.

Every public entry point validates its input (:mod:`._checks`, built on the engine's
:mod:`gvpo_theory.problem` checks): tensors of the documented rank, float32 or float64 where
floating (integer, bool, complex and half tensors are refused), one device and one dtype
per call, int64 sample indices in [0, K), finite values, probability rows that sum to 1,
and no booleans or strings as numbers. Bad input is a ``ValueError`` naming the argument.
The value checks cost one fused reduction and one device→host sync per call;
:func:`gvpo_sgd_step_` lets a throughput loop skip its own with ``check_finite=False``.

torch is imported only here; ``pip install "gvpo-theory[torch]"`` (or ``make setup``).
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
    raise ModuleNotFoundError(
        "gvpo_theory.torch needs PyTorch: pip install 'torch==2.13.0' (CPU build) or 'gvpo-theory[torch]'"
    ) from exc

from .bandits import Bandits, make_bandits
from .fast import gvpo_sgd_step_
from .losses import (
    grpo_advantages,
    grpo_expected_grad,
    grpo_grad,
    grpo_loss,
    gvpo_expected_grad,
    gvpo_grad,
    gvpo_loss,
    gvpo_weights,
)
from .samplers import (
    FixedSampler,
    MixtureSampler,
    OnPolicySampler,
    ReplaySampler,
    Sampler,
    SupportWarning,
    make_sampler,
    sample_categorical,
)
from .trainer import RunResult, VerifyReport, restricted_optimum, verify

__all__ = [
    "Bandits",
    "FixedSampler",
    "MixtureSampler",
    "OnPolicySampler",
    "ReplaySampler",
    "RunResult",
    "Sampler",
    "SupportWarning",
    "VerifyReport",
    "grpo_advantages",
    "grpo_expected_grad",
    "grpo_grad",
    "grpo_loss",
    "gvpo_expected_grad",
    "gvpo_grad",
    "gvpo_loss",
    "gvpo_sgd_step_",
    "gvpo_weights",
    "make_bandits",
    "make_sampler",
    "restricted_optimum",
    "sample_categorical",
    "verify",
]
