"""Binomial confidence intervals for a pass rate estimated from n samples.

A prompt answered correctly k times in n independent samples from π_ref has the pass-rate
estimate p̂ = k/n. Two intervals for p_ref at confidence 1 − α, both vectorised:

* Clopper–Pearson (exact, conservative): the lower end solves P[Bin(n, p) ≥ k] = α/2 and
  the upper end P[Bin(n, p) ≤ k] = α/2, i.e. Beta quantiles
  lower = B⁻¹(α/2; k, n − k + 1), upper = B⁻¹(1 − α/2; k + 1, n − k), with lower = 0 at
  k = 0 and upper = 1 at k = n.
* Wilson (score interval): the two roots in p of (p̂ − p)² = z²·p(1 − p)/n, z the
  1 − α/2 normal quantile:
  (p̂ + z²/(2n) ± z·√(p̂(1 − p̂)/n + z²/(4n²))) / (1 + z²/n).

Both contain p̂ and stay inside [0, 1]. Since every objective's map p_ref → π(a) is
increasing (docs/theory.md §6), an interval on p_ref maps endpoint by endpoint
to an interval on the prediction.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaincinv, ndtri

from ..problem import as_numeric_array, check_choice

#: Interval methods: name → description.
INTERVALS: dict[str, str] = {
    "clopper-pearson": "exact binomial (Beta quantiles), conservative",
    "wilson": "Wilson score interval",
}


def check_confidence(confidence: object, name: str = "confidence") -> float:
    """A confidence level in the open interval (0, 1)."""
    arr = as_numeric_array(confidence, name)
    if arr.ndim != 0 or not (0.0 < float(arr) < 1.0):
        raise ValueError(f"{name} must be a single number in the open interval (0, 1); got {confidence!r}")
    return float(arr)


def check_counts(successes: ArrayLike, samples: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Validate (k, n): whole numbers with n >= 1 and 0 <= k <= n, of one shape."""
    k = as_numeric_array(successes, "successes")
    n = as_numeric_array(samples, "samples")
    if k.shape != n.shape:
        raise ValueError(f"successes shape {k.shape} must equal samples shape {n.shape}")
    for arr, name in ((k, "successes"), (n, "samples")):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be whole numbers")
    if np.any(n < 1):
        raise ValueError("samples must be >= 1")
    if np.any((k < 0) | (k > n)):
        raise ValueError("successes must lie in [0, samples]")
    return k.astype(np.int64), n.astype(np.int64)


def pass_rate_interval(
    successes: ArrayLike, samples: ArrayLike, *, confidence: float = 0.95,
    method: str = "clopper-pearson",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(lower, upper) confidence bounds on each pass rate from k successes in n samples.

    Args:
        successes: k, whole numbers in [0, n].
        samples: n >= 1, the same shape.
        confidence: 1 − α in (0, 1) (default 0.95).
        method: ``"clopper-pearson"`` (default) or ``"wilson"`` (module docstring).

    Returns:
        Two float arrays of the input's shape with 0 <= lower <= k/n <= upper <= 1.
    """
    k, n = check_counts(successes, samples)
    conf = check_confidence(confidence)
    check_choice(method, "method", tuple(INTERVALS))
    alpha = 1.0 - conf
    kf, nf = k.astype(np.float64), n.astype(np.float64)
    if method == "clopper-pearson":
        with np.errstate(invalid="ignore", divide="ignore"):
            lower = np.where(k == 0, 0.0, betaincinv(kf, nf - kf + 1.0, alpha / 2.0))
            upper = np.where(k == n, 1.0, betaincinv(kf + 1.0, nf - kf, 1.0 - alpha / 2.0))
        return lower, upper
    z = float(ndtri(1.0 - alpha / 2.0))
    p_hat = kf / nf
    centre = p_hat + z * z / (2.0 * nf)
    half = z * np.sqrt(p_hat * (1.0 - p_hat) / nf + z * z / (4.0 * nf * nf))
    denom = 1.0 + z * z / nf
    lower = np.where(k == 0, 0.0, np.maximum((centre - half) / denom, 0.0))
    upper = np.where(k == n, 1.0, np.minimum((centre + half) / denom, 1.0))
    return lower, upper
