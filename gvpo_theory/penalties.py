"""The KL penalties of GRPO-family objectives, each with the numpy kernels it brings.

A penalty enters GRPO's objective as −β·E_{o~π_old}[D(o)] (docs/theory.md §3). On a
softmax tabular policy at θ = log π_old its gradient on the logit θ_o is −β times

* ``reverse_kl`` — GRPO's k3 estimator D = π_ref/π − log(π_ref/π) − 1 in the loss
  (Vojnovic & Yun, eqs. (8)–(10)): ∇ = π(o) − π_ref(o), which is the gradient of the
  *reverse* KL(π_ref ‖ π). Stationary weights: π(o) = π_ref(o)/(1 − P_G(o|π)/β).
* ``direct_kl`` — D = log(π/π_ref), i.e. KL(π ‖ π_ref): ∇ = π(o)·(log(π(o)/π_ref(o)) − KL).
  Stationary weights: π(o) ∝ π_ref(o)·exp(P_G(o|π)/β).

Each penalty is a frozen, hashable value whose methods are the kernels the solvers and
the dynamics need (log-domain stationary weights and their derivative, the flow rate,
the logit gradient, the fixed-point violation, the rounding floor), so no caller
branches on a penalty's name. Kernels take validated arrays and do not re-validate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

_EPS64 = float(np.finfo(np.float64).eps)


def _log(p: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return np.log(p)


@dataclass(frozen=True)
class Penalty(ABC):
    """Base of the penalties: a name (the ``penalty=`` keyword) and a display label.

    ``exponential_weights`` is True when the stationary weights are π ∝ π_ref·exp(P/β)
    (unbounded log-odds for small β: the bracketed solvers widen their bracket), False
    when they are π_ref/(1 − P/β) (bounded by the constraint P < β).
    """

    name: str
    label: str
    exponential_weights: bool

    # -- stationary weights, level/profile space (s indexes reward profiles) ---------

    @abstractmethod
    def log_weights(
        self, q_log: NDArray[np.float64], pref: NDArray[np.float64], beta: float
    ) -> NDArray[np.float64] | None:
        """log w_s of the fixed-point map for profile masses Q_s and P_s; None where undefined."""
        ...

    @abstractmethod
    def dlog_weights(
        self, dpref: NDArray[np.float64], pref: NDArray[np.float64], beta: float,
        weights: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """d log w_s along the directions whose dP_s are the columns of ``dpref``."""
        ...

    @abstractmethod
    def relative_rate(
        self, log_w: NDArray[np.float64], q_log: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """(penalty gradient on θ_s)/w_s at profile masses w = exp(log_w), log domain."""
        ...

    @abstractmethod
    def rounding_floor(self, ratio: NDArray[np.float64]) -> float:
        """The log residual double precision can resolve given P_s/β (see the solvers)."""
        ...

    # -- policies --------------------------------------------------------------------

    @abstractmethod
    def logit_gradient(self, p: NDArray[np.float64], ref: NDArray[np.float64]) -> NDArray[np.float64]:
        """∇_θ E_{o~π}[D(o)] at θ = log π, shape (..., K) (the penalty's part of the update)."""
        ...

    @abstractmethod
    def profile_weights(
        self, pref: NDArray[np.float64], beta: NDArray[np.float64], q_ref: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Unnormalised π(o)/π_ref(o) per profile from P_s (..., S); 0 off the support."""
        ...

    @abstractmethod
    def violation(
        self, pi: NDArray, pi_ref: NDArray, q_ref: NDArray, pref: NDArray, profile_of: NDArray,
        beta: NDArray,
    ) -> tuple[NDArray, NDArray, NDArray]:
        """(gap π − target (..., K), relative gap (..., K), min 1 − P/β (...))."""
        ...


@dataclass(frozen=True)
class ReverseKL(Penalty):
    """GRPO's k3 estimator in the loss, acting as a reverse KL (module docstring)."""

    name: str = "reverse_kl"
    label: str = "k3 penalty (reverse KL)"
    exponential_weights: bool = False

    def log_weights(self, q_log, pref, beta):
        den = 1.0 - pref / beta
        if np.any(den <= 0):
            return None
        return q_log - np.log(den)

    def dlog_weights(self, dpref, pref, beta, weights):
        return dpref / (beta * (1.0 - pref / beta))[:, None]

    def relative_rate(self, log_w, q_log):
        return 1.0 - np.exp(q_log - log_w)

    def rounding_floor(self, ratio):
        den = 1.0 - ratio
        if np.any(den <= 0):
            return 0.0
        return float(64.0 * _EPS64 * np.max((1.0 + np.abs(ratio)) / den))

    def logit_gradient(self, p, ref):
        return p - ref

    def profile_weights(self, pref, beta, q_ref):
        den = 1.0 - pref / beta[..., None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((q_ref > 0) & (den > 0), 1.0 / np.where(den > 0, den, 1.0), 0.0)

    def violation(self, pi, pi_ref, q_ref, pref, profile_of, beta):
        support = pi_ref > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            den_s = 1.0 - pref / beta[..., None]
            gap = pi * den_s[..., profile_of] - pi_ref
            rel = np.where(support, gap / np.where(support, pi_ref, 1.0), 0.0)
        min_den = np.min(np.where(q_ref > 0, den_s, np.inf), axis=-1)
        return gap, rel, min_den


@dataclass(frozen=True)
class DirectKL(Penalty):
    """KL(π ‖ π_ref) itself (k1 differentiated through π, or k2: module docstring)."""

    name: str = "direct_kl"
    label: str = "direct KL(π‖π_ref)"
    exponential_weights: bool = True

    def log_weights(self, q_log, pref, beta):
        u = q_log + pref / beta
        return u - logsumexp(u)

    def dlog_weights(self, dpref, pref, beta, weights):
        return (dpref - weights @ dpref) / beta

    def relative_rate(self, log_w, q_log):
        kl = float(np.exp(log_w) @ (log_w - q_log))
        return log_w - q_log - kl

    def rounding_floor(self, ratio):
        return float(64.0 * _EPS64 * (1.0 + np.max(np.abs(ratio))))

    def logit_gradient(self, p, ref):
        if np.any((p > 0) & (ref == 0)):
            raise ValueError("direct_kl needs pi to be 0 wherever pi_ref is 0 (KL would be infinite)")
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.where(p > 0, _log(p) - _log(np.where(ref > 0, ref, 1.0)), 0.0)
        kl = np.sum(p * log_ratio, axis=-1, keepdims=True)
        return p * (log_ratio - kl)

    def profile_weights(self, pref, beta, q_ref):
        log_w = np.where(q_ref > 0, pref / beta[..., None], -np.inf)
        log_w = log_w - np.max(log_w, axis=-1, keepdims=True)
        return np.exp(log_w)

    def violation(self, pi, pi_ref, q_ref, pref, profile_of, beta):
        support = pi_ref > 0
        b = beta[..., None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_un = np.where(q_ref > 0, _log(np.where(q_ref > 0, q_ref, 1.0)) + pref / b, -np.inf)
            factor = np.exp(pref / b - logsumexp(log_un, axis=-1, keepdims=True))
            # profiles off the support of π_ref get no mass (0·inf would be NaN)
            factor = np.where(q_ref > 0, factor, 0.0)
            target = pi_ref * factor[..., profile_of]
            gap = pi - target
            rel = np.where(support, gap / np.where(support, target, 1.0), 0.0)
        return gap, rel, np.ones(pi.shape[:-1])


#: The penalties by their ``penalty=`` name.
PENALTIES: dict[str, Penalty] = {p.name: p for p in (ReverseKL(), DirectKL())}
