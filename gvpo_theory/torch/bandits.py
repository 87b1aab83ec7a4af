"""Seeded synthetic contextual bandits: B independent contexts × K arms, as tensors.

Each context b has a reference policy π_ref(·|b) (stored as logits) and, for every arm o,
a reward distribution D_{b,o} over a shared set of L reward levels — a point mass for
deterministic rewards (docs/theory.md §4b). Rewards are drawn at sampling time, so a noisy judge
(a Bernoulli verifier) is trained on exactly as it would be in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..problem import RewardDistribution, check_memory_estimate
from . import _checks

#: Reward kinds :func:`make_bandits` generates.
REWARD_KINDS: tuple[str, ...] = ("binary", "levels", "continuous", "bernoulli")


@dataclass(frozen=True)
class Bandits:
    """A batch of tabular bandit problems.

    Attributes:
        ref_logits: log π_ref, shape (B, K), finite (every arm has positive mass).
        mean_rewards: E[r | b, o], shape (B, K) — the reward itself when deterministic.
        levels: the L reward values of stochastic rewards, shape (L,), or ``None``.
        reward_probs: D_{b,o}(l), shape (B, K, L), or ``None`` for deterministic rewards.
    """

    ref_logits: Tensor
    mean_rewards: Tensor
    levels: Tensor | None = None
    reward_probs: Tensor | None = None

    def __post_init__(self) -> None:
        ref, r = self.ref_logits, self.mean_rewards
        _checks.tensor(ref, "ref_logits", ndim=2, shape="(B, K)")
        _checks.tensor(r, "mean_rewards", ndim=2, shape="(B, K)", floating=False)
        if r.shape != ref.shape:
            raise ValueError(
                f"mean_rewards shape {tuple(r.shape)} must equal ref_logits shape {tuple(ref.shape)}"
            )
        if ref.shape[1] < 2:
            raise ValueError("a bandit needs at least K = 2 arms")
        if not ref.is_floating_point() or r.dtype != ref.dtype:
            raise ValueError("ref_logits and mean_rewards must share one floating dtype")
        if r.device != ref.device:
            raise ValueError("ref_logits and mean_rewards must be on the same device")
        if not (torch.isfinite(ref).all() and torch.isfinite(r).all()):
            raise ValueError("ref_logits and mean_rewards must be finite (no NaN/inf)")
        if (self.levels is None) != (self.reward_probs is None):
            raise ValueError("levels and reward_probs must be given together")
        if self.reward_probs is not None:
            p, lev = self.reward_probs, self.levels
            _checks.tensor(lev, "levels", ndim=1, shape="(L,)")
            _checks.tensor(p, "reward_probs", ndim=3, shape="(B, K, L)")
            if p.shape[:2] != ref.shape or lev.ndim != 1 or p.shape[2] != lev.shape[0]:
                raise ValueError("reward_probs must have shape (B, K, L) with levels of shape (L,)")
            if p.device != ref.device or lev.device != ref.device:
                raise ValueError("levels and reward_probs must be on the device of ref_logits")
            _checks.same_dtype(ref_logits=ref, levels=lev, reward_probs=p)
            if not (torch.isfinite(lev).all() and (lev[1:] > lev[:-1]).all()):
                raise ValueError("levels must be finite and strictly increasing (distinct reward values)")
            if not torch.isfinite(p).all() or (p < 0).any() or ((p.sum(-1) - 1).abs() > 1e-6).any():
                raise ValueError("reward_probs rows must be probability vectors (finite, >= 0, sum to 1)")

    @property
    def contexts(self) -> int:
        return int(self.ref_logits.shape[0])

    @property
    def arms(self) -> int:
        return int(self.ref_logits.shape[1])

    @property
    def device(self) -> torch.device:
        return self.ref_logits.device

    @property
    def dtype(self) -> torch.dtype:
        return self.ref_logits.dtype

    @property
    def stochastic(self) -> bool:
        return self.reward_probs is not None

    @property
    def pi_ref(self) -> Tensor:
        return torch.softmax(self.ref_logits, dim=-1)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Bandits:
        """The same problems on another device and/or floating dtype."""

        device = None if device is None else _checks.device(device)
        dtype = None if dtype is None else _checks.float_dtype(dtype)

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device=device, dtype=dtype)

        return Bandits(
            move(self.ref_logits), move(self.mean_rewards), move(self.levels), move(self.reward_probs)
        )

    def subset(self, index: slice | Tensor) -> Bandits:
        """The contexts ``index`` (a slice, int64 indices in [−B, B), or a (B,) bool mask) as a
        smaller batch."""
        _check_subset(index, self.contexts, self.device)
        probs = None if self.reward_probs is None else self.reward_probs[index]
        return Bandits(self.ref_logits[index], self.mean_rewards[index], self.levels, probs)

    def sample_rewards(self, arms: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Rewards of the drawn arms (B, k): the value itself, or a draw from D_{b,o} (inverse CDF)."""
        _checks.index_tensor(arms, "arms", batch=self.contexts)
        _checks.same_device(arms=arms, ref_logits=self.ref_logits)
        _checks.generator(generator, arms.device)
        _checks.DataChecks().indices("arms", arms, self.arms).raise_if_failed()
        if self.reward_probs is None:
            return torch.gather(self.mean_rewards, 1, arms)
        probs = self.reward_probs[torch.arange(self.contexts, device=arms.device)[:, None], arms]
        cdf = probs.cumsum(-1)
        u = torch.rand(arms.shape, generator=generator, device=arms.device, dtype=cdf.dtype)
        level = torch.searchsorted(cdf, (u * cdf[..., -1]).unsqueeze(-1), right=True).squeeze(-1)
        return self.levels[level.clamp_(max=self.levels.shape[0] - 1)]

    def level_structure(self, max_levels: int = 8) -> tuple[Tensor, Tensor] | None:
        """(levels (L,), D (B, K, L)) when all contexts share at most ``max_levels`` reward
        values — what the exact expected GRPO gradient needs — else ``None``."""
        max_levels = _checks.count(max_levels, "max_levels")
        if self.reward_probs is not None:
            return self.levels, self.reward_probs
        levels, inverse = torch.unique(self.mean_rewards, return_inverse=True)
        if levels.numel() > max_levels:
            return None
        one_hot = torch.nn.functional.one_hot(inverse, levels.numel()).to(self.dtype)
        return levels, one_hot

    def engine_problem(self) -> tuple[np.ndarray, np.ndarray | RewardDistribution]:
        """(π_ref (B, K), rewards) as float64 numpy, in the engine's input format."""
        pi_ref = torch.softmax(self.ref_logits.double(), -1).cpu().numpy()
        if self.reward_probs is None:
            return pi_ref, self.mean_rewards.double().cpu().numpy()
        probs = self.reward_probs.double().cpu().numpy()
        return pi_ref, RewardDistribution(
            self.levels.double().cpu().numpy(), probs / probs.sum(-1, keepdims=True)
        )


def make_bandits(
    contexts: int,
    arms: int,
    *,
    rewards: str = "binary",
    n_levels: int = 3,
    concentration: float = 1.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
) -> Bandits:
    """B = ``contexts`` random problems with K = ``arms`` arms (numpy-seeded, so the same
    seed gives the same problems on every device).

    π_ref(·|b) ~ Dirichlet(concentration·1_K). Rewards:

    * ``"binary"``     — each arm correct (1) or not (0) with probability ½ (RLVR-like; ties).
    * ``"levels"``     — values on the grid {0, 1/(n_levels − 1), …, 1} (many ties).
    * ``"continuous"`` — Uniform(0, 1), all distinct.
    * ``"bernoulli"``  — a noisy verifier: arm o passes with probability s_{b,o} ~ U(0, 1),
      drawn afresh at every sample; levels {0, 1}.
    """
    contexts = _checks.count(contexts, "contexts")
    arms = _checks.count(arms, "arms", min_value=2)
    _checks.choice(rewards, "rewards", REWARD_KINDS)
    if rewards == "levels":
        n_levels = _checks.count(n_levels, "n_levels", min_value=2)
    concentration = _checks.positive(concentration, "concentration")
    seed = _checks.count(seed, "seed", min_value=0)
    dtype = _checks.float_dtype(dtype)
    device = _checks.device(device)
    # Peak memory measured at ≤ 56 bytes per (context, arm) in float64 (numpy draws, the
    # log-domain Dirichlet, bernoulli probabilities, the tensors); 64 + 2·itemsize bounds it.
    per_entry = 64 + 2 * torch.finfo(dtype).bits // 8
    check_memory_estimate(per_entry * contexts * arms, "contexts × arms", contexts * arms)
    rng = np.random.default_rng(seed)
    gam = rng.standard_gamma(concentration, size=(contexts, arms))
    # Dirichlet draws in the log domain: log π_ref = log Γ − log ΣΓ; Γ underflows to 0
    # only for absurdly small concentrations, which then get the smallest normal mass.
    log_ref = np.log(np.maximum(gam, np.finfo(np.float64).tiny))
    log_ref -= np.log(
        np.sum(np.exp(log_ref - log_ref.max(1, keepdims=True)), 1, keepdims=True)
    ) + log_ref.max(1, keepdims=True)
    levels = probs = None
    if rewards == "binary":
        mean = (rng.random((contexts, arms)) < 0.5).astype(np.float64)
    elif rewards == "levels":
        mean = rng.integers(0, n_levels, size=(contexts, arms)) / (n_levels - 1)
    elif rewards == "continuous":
        mean = rng.random((contexts, arms))
    else:
        s = rng.random((contexts, arms))
        mean = s
        levels = np.array([0.0, 1.0])
        probs = np.stack([1.0 - s, s], axis=-1)

    def tensor(x: np.ndarray | None) -> Tensor | None:
        return None if x is None else torch.as_tensor(x, dtype=dtype, device=device)

    return Bandits(tensor(log_ref), tensor(mean), tensor(levels), tensor(probs))


def _check_subset(index: object, batch: int, device: torch.device) -> None:
    """A context selection for :meth:`Bandits.subset`."""
    if isinstance(index, slice):
        return
    if not isinstance(index, Tensor):
        raise ValueError(f"index must be a slice or a tensor of context indices; got {type(index).__name__}")
    if index.dtype == torch.bool:
        if tuple(index.shape) != (batch,):
            raise ValueError(f"index as a bool mask must have shape ({batch},); got {tuple(index.shape)}")
        return
    if index.device.type != "cpu" and index.device != device:
        raise ValueError(f"index is on {index.device} but the bandits are on {device}")
    if index.dtype != torch.int64 or index.ndim != 1:
        raise ValueError(
            f"index must be a 1-D int64 (or bool) tensor; got {index.dtype}, shape {tuple(index.shape)}"
        )
    if index.numel() and not bool(((index >= -batch) & (index < batch)).all()):
        raise ValueError(f"index must lie in [-{batch}, {batch}) (B = {batch} contexts)")
