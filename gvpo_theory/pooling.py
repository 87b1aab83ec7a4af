"""KL-regularised optimum (logarithmic pooling), and KL divergences.

The objective max_π E_π[r] − β·KL(π ‖ π_ref) has the unique maximiser (docs/theory.md §1)

    π*(o) = π_ref(o)·exp(r(o)/β) / Z,    Z = Σ_o π_ref(o)·exp(r(o)/β),

the *logarithmic pooling* of π_ref with the Gibbs policy of r. It is the optimum of
KL-regularised RLHF and, by GVPO's Theorem (Zhang et al., 2025), the unique optimum of
the GVPO loss for every sampling distribution with full support.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .problem import Rewards, as_float_array, check_beta, check_distribution, expected_rewards


def _batch_broadcast(
    pi_ref: NDArray[np.float64], rewards: NDArray[np.float64], beta: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Broadcast π_ref (..., K), r (..., K) and β (...) to one batch shape."""
    if rewards.ndim == 0 or rewards.shape[-1] != pi_ref.shape[-1]:
        raise ValueError(
            f"rewards must have {pi_ref.shape[-1]} entries on its last axis (one per output); "
            f"got shape {rewards.shape}"
        )
    try:
        batch = np.broadcast_shapes(pi_ref.shape[:-1], rewards.shape[:-1], beta.shape)
    except ValueError as exc:
        raise ValueError(
            f"shapes do not broadcast: pi_ref {pi_ref.shape}, rewards {rewards.shape}, "
            f"beta {beta.shape} (beta broadcasts against the batch axes, not the outputs)"
        ) from exc
    k = pi_ref.shape[-1]
    return (
        np.broadcast_to(pi_ref, (*batch, k)),
        np.broadcast_to(rewards, (*batch, k)),
        np.broadcast_to(beta, batch)[..., None],
    )


def kl_optimal_log_policy(pi_ref: ArrayLike, rewards: Rewards, beta: ArrayLike) -> NDArray:
    """log π* of :func:`kl_optimal_policy`, −inf off the support of π_ref."""
    p = check_distribution(pi_ref, "pi_ref")
    r = expected_rewards(rewards)
    b = check_beta(beta)
    p, r, b = _batch_broadcast(p, r, b)
    support = p > 0
    # Shift by the best reward on the support: exponents are <= 0, so beta -> 0
    # cannot overflow, and beta -> inf gives exactly log pi_ref.
    r_max = np.max(np.where(support, r, -np.inf), axis=-1, keepdims=True)
    with np.errstate(divide="ignore", over="ignore"):
        logits = np.where(support, np.log(np.where(support, p, 1.0)) + (r - r_max) / b, -np.inf)
    top = np.max(logits, axis=-1, keepdims=True)
    log_z = top + np.log(np.sum(np.exp(logits - top), axis=-1, keepdims=True))
    return logits - log_z


def kl_optimal_policy(pi_ref: ArrayLike, rewards: Rewards, beta: ArrayLike) -> NDArray:
    """π* ∝ π_ref·exp(r/β), the maximiser of E_π[r] − β·KL(π ‖ π_ref) (docs/theory.md §1).

    Args:
        pi_ref: reference policy, shape (..., K); rows sum to 1.
        rewards: rewards r(o), shape (..., K) broadcastable with ``pi_ref``, or a
            :class:`~gvpo_theory.problem.RewardDistribution`, whose expected reward
            E[r | o] is used (the optimum of E_π[r] depends on r only through it).
        beta: β > 0, scalar or an array broadcasting against the *batch* axes of
            ``pi_ref`` (so ``beta`` of shape (n,) with ``pi_ref`` (K,) gives (n, K)).

    Computed in the log domain. Outputs with π_ref(o) = 0 keep π*(o) = 0 exactly;
    β → 0 puts all mass on the best-reward outputs of the support in proportion to
    π_ref; β → ∞ returns π_ref.
    """
    return np.exp(kl_optimal_log_policy(pi_ref, rewards, beta))


def kl_divergence(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """KL(p ‖ q) = Σ_o p(o)·log(p(o)/q(o)) along the last axis (0·log 0 = 0).

    Returns +inf where p puts mass outside the support of q.
    """
    p = check_distribution(p, "p")
    q = check_distribution(q, "q")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same number of outputs; got {p.shape}, {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return np.sum(terms, axis=-1)


def logit(p: ArrayLike) -> NDArray[np.float64]:
    """log(p / (1 − p)), elementwise, for p in (0, 1)."""
    arr = as_float_array(p, "p")
    return np.log(arr) - np.log1p(-arr)
