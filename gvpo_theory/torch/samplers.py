"""Sampling distributions π_s for groups of k arms, and inverse-CDF categorical sampling.

GVPO's optimum is π* ∝ π_ref·exp(r/β) for *any* sampling distribution with full support
(Zhang et al., 2025, Theorem 3.2; docs/theory.md §5). The samplers here are the ones practice
uses: on-policy (π_θ, detached), the reference model, uniform exploration, a fixed
off-policy mixture, and a replay buffer of earlier on-policy samples.

Sampling uses the inverse CDF (cumsum + searchsorted on uniform draws): on a GPU it is
~60× faster than ``torch.multinomial`` at B = 2^20 contexts (../benchmarks/README.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import _checks

#: Names :func:`make_sampler` understands.
SAMPLERS: tuple[str, ...] = ("on-policy", "reference", "uniform", "mixture", "replay")


class SupportWarning(UserWarning):
    """A sampling distribution gives zero probability to some arm: GVPO's optimum is then
    not unique, and training reaches :func:`~gvpo_theory.torch.trainer.restricted_optimum`
    instead of π*."""


def sample_categorical(probs: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """k iid draws per row of ``probs`` (B, K) by inverse CDF; returns int64 (B, k).

    Rows need not be normalised (the CDF is scaled by its last entry); arms of zero mass
    are never drawn (``right=True`` skips empty CDF steps, also for a uniform draw of 0).
    ``probs`` must be float32/float64, finite and >= 0 with a positive total in every row
    (checked in one reduction; a NaN row would otherwise draw its last arm every time).
    """
    _checks.tensor(probs, "probs", ndim=2, shape="(B, K)")
    if probs.shape[1] == 0:
        raise ValueError("probs must have at least one arm (K >= 1)")
    k = _checks.count(k, "k")
    _checks.generator(generator, probs.device)
    _checks.DataChecks().probabilities("probs", probs, positive_total=True).raise_if_failed()
    cdf = probs.cumsum(-1)
    u = torch.rand((probs.shape[0], k), generator=generator, device=probs.device, dtype=probs.dtype)
    idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    return idx.clamp_(max=probs.shape[1] - 1)


def _check_fixed(probs: Tensor, name: str, arg: str = "probs", *, warn: bool = True) -> Tensor:
    """Validate a fixed π_s (B, K) given as argument ``arg`` of sampler ``name``; warn with
    :class:`SupportWarning` (when ``warn``) where it has zeros."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a string; got {type(name).__name__}")
    label = f"{arg} ({name} sampling probabilities)"
    _checks.tensor(probs, label, ndim=2, shape="(B, K)")
    if probs.shape[1] == 0:
        raise ValueError(f"{label} must have at least one arm (K >= 1)")
    if not torch.isfinite(probs).all() or (probs < 0).any():
        raise ValueError(f"{label} must be finite and >= 0")
    total = probs.sum(-1)
    if ((total - 1).abs() > 1e-6 * probs.shape[1]).any():
        raise ValueError(f"{label} must sum to 1 in every context")
    zero = probs <= 0
    if warn and zero.any():
        warnings.warn(
            f"sampler {name!r} gives zero probability to {int(zero.sum())} arm(s) in "
            f"{int(zero.any(-1).sum())} context(s). GVPO's optimum is unique only for a sampling "
            "distribution with full support: unsampled arms keep their logits, and training "
            "converges to restricted_optimum(...) (π* on the sampled arms, with their total "
            "logit conserved), not to π*.",
            SupportWarning,
            stacklevel=3,
        )
    return probs


def _check_policy(policy: object, like: Tensor | None = None) -> Tensor:
    """The current policy π_θ (B, K); with ``like`` (a fixed π_s), of its shape and device."""
    _checks.tensor(policy, "policy", ndim=2, shape="(B, K)")
    if like is not None:
        _checks.same_shape(policy, "policy", like, "the sampler's fixed probabilities")
        _checks.same_device(policy=policy, fixed_probabilities=like)
    return policy  # type: ignore[return-value]


class Sampler:
    """Base class: ``probs(policy)`` is π_s (B, K) (for the exact expected gradient and
    diagnostics); ``sample(policy, k, generator)`` draws a group of k arms per context."""

    name: str = "sampler"

    def probs(self, policy: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, policy: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
        return sample_categorical(self.probs(policy), k, generator)

    @property
    def on_policy(self) -> bool:
        return False


class OnPolicySampler(Sampler):
    """π_s = π_θ (detached): GRPO's and on-policy GVPO's sampler."""

    name = "on-policy"

    def probs(self, policy: Tensor) -> Tensor:
        return _check_policy(policy).detach()

    @property
    def on_policy(self) -> bool:
        return True


class FixedSampler(Sampler):
    """A fixed π_s (B, K): the reference model, uniform exploration, another model's
    samples. Warns with :class:`SupportWarning` where π_s has zeros."""

    def __init__(self, probs: Tensor, name: str = "fixed") -> None:
        self.name = name
        self._probs = _check_fixed(probs, name)

    def probs(self, policy: Tensor) -> Tensor:
        _check_policy(policy, self._probs)
        return self._probs


class MixtureSampler(Sampler):
    """π_s = α·π_θ + (1 − α)·μ with μ fixed (B, K) and α = ``on_policy_weight`` ∈ [0, 1].

    α = 0 is a fixed off-policy mixture; 0 < α < 1 mixes fresh and stale samples. The
    support is that of μ (plus π_θ's when α > 0), checked at construction when α = 0.
    """

    def __init__(self, fixed: Tensor, on_policy_weight: float = 0.0, name: str = "mixture") -> None:
        alpha = _checks.real(on_policy_weight, "on_policy_weight")
        if not (0.0 <= alpha <= 1.0):
            raise ValueError(f"on_policy_weight must lie in [0, 1]; got {on_policy_weight!r}")
        self.name = name
        self.alpha = alpha
        # validated whatever α; zeros in μ matter (SupportWarning) only when α = 0
        self._fixed = _check_fixed(fixed, name, "fixed", warn=self.alpha == 0.0)

    def probs(self, policy: Tensor) -> Tensor:
        _check_policy(policy, self._fixed)
        if self.alpha == 0.0:
            return self._fixed
        return self.alpha * policy.detach() + (1.0 - self.alpha) * self._fixed


@dataclass
class ReplaySampler(Sampler):
    """Groups drawn uniformly from a replay buffer of the last ``capacity`` steps'
    on-policy samples (k fresh draws are added at every call).

    π_s is then the average of recent policies — not π_θ, and changing over time — yet
    with full support, so GVPO still converges to π* (tested). ``probs`` returns the
    buffer's empirical distribution (the distribution the group is actually drawn from).
    """

    capacity: int = 8
    name: str = "replay"
    _buffer: Tensor | None = field(default=None, init=False, repr=False)
    _filled: int = field(default=0, init=False, repr=False)
    _cursor: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.capacity = _checks.count(self.capacity, "capacity")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string; got {type(self.name).__name__}")

    def _push(self, arms: Tensor) -> None:
        k = arms.shape[1]
        if (
            self._buffer is None
            or self._buffer.shape[0] != arms.shape[0]
            or self._buffer.shape[1] != self.capacity * k
        ):
            self._buffer = torch.empty(
                (arms.shape[0], self.capacity * k), dtype=arms.dtype, device=arms.device
            )
            self._filled = self._cursor = 0
        self._buffer[:, self._cursor * k : (self._cursor + 1) * k] = arms
        self._cursor = (self._cursor + 1) % self.capacity
        self._filled = min(self._filled + 1, self.capacity)

    def sample(self, policy: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
        self._push(sample_categorical(_check_policy(policy).detach(), k, generator))
        size = self._filled * k
        pick = torch.randint(0, size, (policy.shape[0], k), generator=generator, device=policy.device)
        return torch.gather(self._buffer[:, :size], 1, pick)

    def probs(self, policy: Tensor) -> Tensor:
        _check_policy(policy)
        if self._buffer is None:
            return policy.detach()
        size = self._filled * (self._buffer.shape[1] // self.capacity)
        counts = torch.zeros_like(policy)
        counts.scatter_add_(
            1, self._buffer[:, :size], torch.ones_like(self._buffer[:, :size], dtype=policy.dtype)
        )
        return counts / size


def make_sampler(name: str, pi_ref: Tensor, *, seed: int = 0, replay_capacity: int = 8) -> Sampler:
    """A named sampler for policies shaped like ``pi_ref`` (B, K).

    ``"mixture"`` is ½·π_ref + ½·ν with ν = softmax of standard-normal logits (a different
    model's samples, seeded): fixed, off-policy, with full support.
    """
    _checks.choice(name, "sampler", SAMPLERS)
    _checks.tensor(pi_ref, "pi_ref", ndim=2, shape="(B, K)")
    _checks.DataChecks().probabilities("pi_ref", pi_ref).raise_if_failed()
    seed = _checks.count(seed, "seed", min_value=0, max_value=2**63 - 7920)
    replay_capacity = _checks.count(replay_capacity, "replay_capacity")
    if name == "on-policy":
        return OnPolicySampler()
    if name == "reference":
        return FixedSampler(pi_ref, "reference")
    if name == "uniform":
        return FixedSampler(torch.full_like(pi_ref, 1.0 / pi_ref.shape[1]), "uniform")
    if name == "mixture":
        gen = torch.Generator().manual_seed(seed + 7919)
        other = torch.softmax(torch.randn(pi_ref.shape, generator=gen, dtype=torch.float64), -1)
        return MixtureSampler(0.5 * pi_ref + 0.5 * other.to(pi_ref), 0.0, "mixture")
    if name == "replay":
        return ReplaySampler(capacity=replay_capacity)
    raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {name!r}")
