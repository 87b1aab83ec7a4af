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
