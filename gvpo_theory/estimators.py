"""The per-sample KL estimators of TRL and verl, as their losses evaluate them.

For one sampled output o write x = log π_ref(o) − log π_θ(o) (so π_ref/π = e^x) and
δ = −x = log π_θ(o) − log π_ref(o). verl's ``kl_penalty`` (core_algos.py) and TRL's
GRPO loss evaluate (docs/frameworks.md, with the commits read):

    k1  (verl "kl", "k1")           D = δ
    k2  (verl "mse", "k2")          D = ½·δ²
    k3  (TRL; the paper's eq. (3))  D = e^x − x − 1
    low_var_kl (verl "low_var_kl", "k3")
                                    D = clip(e^y − y − 1, −10, 10),  y = clip(x, −20, 20)

Each is a function of log π_θ(o) (π_ref is detached). D′ = dD/d log π_θ is the factor
that multiplies ∇_θ log π_θ(o) = e_o − π in the loss gradient at θ = θ_old:

    k1: 1      k2: δ      k3: 1 − e^x = 1 − π_ref/π
    low_var_kl: 1 − π_ref/π where neither clip binds (torch.clamp passes the gradient on
                the closed interval [min, max]), 0 where one does.

The value clip of low_var_kl binds where e^x − x − 1 > 10. Its two roots are
x = −11 − W_k(−e^{−11}) (k = 0 and −1 branches of Lambert's W), so it binds for
π_ref/π > −W_{−1}(−e^{−11}) = 13.6109 (x > 2.6109) and for π/π_ref > e^{11 − e^{−11}…}
= 5.99·10⁴ (x < −10.99998); the ±20 log-ratio clip lies inside that region and never
changes D. Everything here is elementwise numpy in the log domain.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import lambertw

#: verl's kl_penalty / kl_loss_type spellings → the canonical estimator name here.
VERL_KL_NAMES: dict[str, str] = {
    "kl": "k1", "k1": "k1", "mse": "k2", "k2": "k2", "low_var_kl": "low_var_kl", "k3": "low_var_kl",
}

#: The canonical estimators and what they are.
KL_ESTIMATORS: dict[str, str] = {
    "k1": "log(π/π_ref)",
    "k2": "½·log²(π/π_ref)",
    "k3": "π_ref/π − log(π_ref/π) − 1",
    "low_var_kl": "k3 with log(π_ref/π) clipped to ±20 and the value clipped to [−10, 10] (verl)",
}

#: verl's clamps (core_algos.kl_penalty_forward, "low_var_kl").
LOG_RATIO_CLAMP = 20.0
VALUE_CLAMP = 10.0

#: The two log ratios x = log(π_ref/π) where e^x − x − 1 = 10 (Lambert W, module docstring).
CLAMP_LOG_RATIO_HIGH = float(-(VALUE_CLAMP + 1.0) - lambertw(-math.exp(-(VALUE_CLAMP + 1.0)), -1).real)
CLAMP_LOG_RATIO_LOW = float(-(VALUE_CLAMP + 1.0) - lambertw(-math.exp(-(VALUE_CLAMP + 1.0)), 0).real)
#: π_ref/π above which low_var_kl gives an output no KL gradient (13.6109...).
CLAMP_RATIO = math.exp(CLAMP_LOG_RATIO_HIGH)


def canonical_kl(name: str, argument: str = "kl") -> str:
    """The canonical estimator for a TRL/verl spelling ("kl", "mse", "k3", ...)."""
    if isinstance(name, str) and name in KL_ESTIMATORS:
        return name
    if isinstance(name, str) and name in VERL_KL_NAMES:
        return VERL_KL_NAMES[name]
    choices = sorted(set(KL_ESTIMATORS) | set(VERL_KL_NAMES))
    raise ValueError(f"{argument} must be one of {', '.join(map(repr, choices))}; got {name!r}")


def _k3(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """e^x − x − 1 without cancellation near x = 0 (expm1)."""
    return np.expm1(x) - x


def value(name: str, log_ratio: NDArray[np.float64]) -> NDArray[np.float64]:
    """D for log_ratio x = log(π_ref/π) (elementwise; x = ±inf allowed where it makes sense)."""
    x = np.asarray(log_ratio, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "k1":
            return -x
        if name == "k2":
            return 0.5 * x * x
        if name == "k3":
            return _k3(x)
        if name == "low_var_kl":
            y = np.clip(x, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
            return np.clip(_k3(y), -VALUE_CLAMP, VALUE_CLAMP)
    raise ValueError(f"unknown KL estimator {name!r}")


def low_var_kl_free(log_ratio: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Where neither of low_var_kl's clamps binds (the gradient passes), as verl's torch code
    decides it: |x| <= 20 and e^y − y − 1 <= 10 (inclusive, torch.clamp's convention)."""
    x = np.asarray(log_ratio, dtype=np.float64)
    y = np.clip(x, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    with np.errstate(invalid="ignore"):
        return (np.abs(x) <= LOG_RATIO_CLAMP) & (_k3(y) <= VALUE_CLAMP)


def slope(name: str, log_ratio: NDArray[np.float64]) -> NDArray[np.float64]:
    """D′ = dD/d log π at the given log ratio x = log(π_ref/π) (module docstring)."""
    x = np.asarray(log_ratio, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "k1":
            return np.ones_like(x)
        if name == "k2":
            return -x
        if name == "k3":
            return -np.expm1(x)
        if name == "low_var_kl":
            free = low_var_kl_free(x)
            return np.where(free, -np.expm1(np.where(free, x, 0.0)), 0.0)
    raise ValueError(f"unknown KL estimator {name!r}")
