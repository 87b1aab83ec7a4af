"""The KL penalties of GRPO-family objectives, each with the numpy kernels it brings.

A penalty enters GRPO's objective as −β·E_{o~π_old}[D(o)] (docs/theory.md §3). On a
softmax tabular policy at θ = log π_old its gradient on the logit θ_o is −β times

* ``reverse_kl`` — GRPO's k3 estimator D = π_ref/π − log(π_ref/π) − 1 in the loss
  (Vojnovic & Yun, eqs. (8)–(10)): ∇ = π(o) − π_ref(o), which is the gradient of the
  *reverse* KL(π_ref ‖ π). Stationary weights: π(o) = π_ref(o)/(1 − P_G(o|π)/β).
* ``direct_kl`` — D = log(π/π_ref), i.e. KL(π ‖ π_ref): ∇ = π(o)·(log(π(o)/π_ref(o)) − KL).
  Stationary weights: π(o) ∝ π_ref(o)·exp(P_G(o|π)/β).

The frameworks' other estimators in the loss (:mod:`gvpo_theory.estimators`;
:data:`KL_LOSS` maps their names to penalties):

* ``k2`` (verl "mse") is ``direct_kl`` exactly: D′ = log(π/π_ref), E_π[D′·(e_o − π)] = ∇KL.
* ``k1`` (verl "kl") — D = log(π/π_ref): D′ = 1, so E_π[D′·(e_o − π)] = 0. Its expected
  gradient is identically zero at θ = θ_old whatever β is: the objective acts as β = 0
  and has no interior stationary weights (:class:`ZeroKL`; ``"none"`` is the same
  kernel for "no KL term").
* ``low_var_kl`` (verl's default kl_loss_type) — k3 with verl's clamps: an output with
  π_ref/π > 13.611 (or π/π_ref > 5.99·10⁴) gets no KL gradient (:class:`LowVarKL`). Its
  stationary condition is the k3 one where no clamp binds; where one binds at the k3
  point, that point is not stationary (the clamped output's mass keeps flowing).

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

from .estimators import low_var_kl_free

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

    #: True when the penalty's expected gradient at θ = θ_old is identically zero (k1 in
    #: the loss, no KL term): the objective then acts as β = 0 and has no interior
    #: stationary weights; its answer is a boundary limit.
    zero_gradient = False

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


@dataclass(frozen=True)
class ZeroKL(Penalty):
    """A penalty whose expected gradient at θ = θ_old vanishes (verl's k1 in the loss).

    E_{o~π}[1·(e_o − π)] = 0: π_ref never enters the expected update, which is π·P_G
    alone, as at β = 0. No stationary weights exist (:meth:`log_weights` returns None);
    the fixed-point violation is the update π·P_G itself (it has no β scale).
    """

    name: str = "k1"
    label: str = "k1 in the loss (zero expected gradient: acts as β = 0)"
    exponential_weights: bool = False
    zero_gradient = True

    def log_weights(self, q_log, pref, beta):
        return None

    def dlog_weights(self, dpref, pref, beta, weights):
        return np.zeros_like(dpref)

    def relative_rate(self, log_w, q_log):
        return np.zeros_like(log_w)

    def rounding_floor(self, ratio):
        return float(64.0 * _EPS64 * (1.0 + np.max(np.abs(ratio))))

    def logit_gradient(self, p, ref):
        return np.zeros_like(np.asarray(p, dtype=np.float64))

    def profile_weights(self, pref, beta, q_ref):
        raise ValueError(f"penalty {self.name!r} has no stationary weights: its expected gradient "
                         "is zero, so the objective acts as beta = 0 (a boundary limit)")

    def violation(self, pi, pi_ref, q_ref, pref, profile_of, beta):
        with np.errstate(invalid="ignore"):
            gap = pi * pref[..., profile_of]
        rel = np.where(pi > 0, pref[..., profile_of], 0.0)
        return gap, rel, np.ones(pi.shape[:-1])


@dataclass(frozen=True)
class NoKL(ZeroKL):
    """No KL term at all (TRL β = 0, verl without use_kl_loss, DAPO, GPG): the same kernels
    as :class:`ZeroKL`."""

    name: str = "none"
    label: str = "no KL term"


@dataclass(frozen=True)
class LowVarKL(ReverseKL):
    """verl's clamped k3 ("low_var_kl") in the loss (module docstring).

    Per sample D′ = 1 − π_ref/π where no clamp binds, else 0 (:mod:`gvpo_theory.estimators`),
    so the expected gradient is c − π·Σc with c(o) = (π(o) − π_ref(o))·free(o). Where no
    output is clamped this is k3's π − π_ref, and the stationary weights, their
    derivative and the rounding floor are k3's. The flow rate and the violation use the
    clamped gradient: at a k3 fixed point where an output has π_ref/π > 13.611 the
    violation is the (non-zero) clamped update divided by β, so the point is not reported
    as stationary.
    """

    name: str = "low_var_kl"
    label: str = "verl low_var_kl (k3 clamped: no gradient once π_ref/π > 13.61)"

    def relative_rate(self, log_w, q_log):
        x = q_log - log_w
        free = low_var_kl_free(x)
        w = np.exp(log_w)
        c = np.where(free, w - np.exp(q_log), 0.0)
        return np.where(free, -np.expm1(np.where(free, x, 0.0)), 0.0) - np.sum(c)

    def logit_gradient(self, p, ref):
        p = np.asarray(p, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = _log(ref) - _log(p)
        c = np.where(low_var_kl_free(x) & (p > 0), p - ref, 0.0)
        return c - p * np.sum(c, axis=-1, keepdims=True)

    def violation(self, pi, pi_ref, q_ref, pref, profile_of, beta):
        support = pi_ref > 0
        b = beta[..., None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            gap = self.logit_gradient(pi, pi_ref) - pi * pref[..., profile_of] / b
            rel = np.where(support, gap / np.where(support, pi_ref, 1.0), 0.0)
            den_s = 1.0 - pref / b
        min_den = np.min(np.where(q_ref > 0, den_s, np.inf), axis=-1)
        return gap, rel, min_den


#: The penalties by their ``penalty=`` name (the keyword choices of the public functions).
PENALTIES: dict[str, Penalty] = {p.name: p for p in (ReverseKL(), DirectKL())}

#: Every penalty by name, the keyword ones and the frameworks' estimators in the loss.
ALL_PENALTIES: dict[str, Penalty] = {
    p.name: p for p in (ReverseKL(), DirectKL(), ZeroKL(), NoKL(), LowVarKL())
}

#: The frameworks' KL estimators in the loss → the penalty each acts as (module docstring).
KL_LOSS: dict[str, Penalty] = {
    "k1": ZeroKL(), "k2": DirectKL(), "k3": ReverseKL(), "low_var_kl": LowVarKL(),
}
