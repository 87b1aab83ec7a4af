"""Windowed binomial pmf in the saddle-point form, and GRPO's two-level preference from it.

The binomial pmf b(k; n, p) is evaluated as in Loader's algorithm (the one behind R's
dbinom and, in spirit, boost's):

    b(k; n, p) = exp(δ(n) − δ(k) − δ(n − k) − bd0(k, np) − bd0(n − k, nq)) · √(n / (2π k (n − k))),

with δ(x) = log x! − (x + ½)·log x + x − ½·log 2π (Stirling's error, a short series for
x > 15, a table below) and bd0(x, M) = x·log(x/M) + M − x ≥ 0 (a series in
v = (x − M)/(x + M) when x ≈ M, so nothing cancels). Every term is small or exactly
computed, so the relative error is ~1e-14 where log-gamma differences lose ~1e-10 at
n = 10^6; k = 0 and k = n are q^n and p^n by log1p.

Only a window of k is evaluated. Since b(k; n, p) ≤ exp(−n·KL(k/n ‖ p)) =
exp(−bd0(k, np) − bd0(n − k, nq)) (the method-of-types bound), every k with
bd0(k, np) + bd0(n − k, nq) > 746 has a pmf below the smallest subnormal double: the window
is the interval where the bound is at most 746 (about np ± 38.6·√(npq) for a central p),
and the zeros outside it are exact in double precision. The exponent is evaluated once over
a band around np that contains the window (checked at its ends) and the window is read off
it, the pmf reusing the exponent; where the band check fails (extreme skew) the window's
ends are found by bisection on the convex exponent. At n = 10^6, p = ½ it has ~39 k terms instead of 10^6.

:func:`binary_preference` uses the window for the two-level advantages a_0, a_1 of
rewards {0, 1} (docs/theory.md, `binary-g2` and `binary-ginf`; Vojnovic & Yun eq. (2)):
with M ~ Binomial(G − 1, p) ones among the other members,
a_1 = E[A(1; M + 1 ones)], a_0 = E[A(0; M ones)].
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The window keeps every k whose pmf bound exp(−exponent) is at least exp(−746) (< 4.9e-324).
WINDOW_EXPONENT = 746.0

_S0, _S1, _S2, _S3, _S4 = 1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# δ(x) for x = 0..15 from log x! (exact factorial, one rounding): absolute error ~4e-15.
_STIRLERR_TABLE = np.array(
    [0.0]
    + [math.log(math.factorial(x)) - (x + 0.5) * math.log(x) + x - _LOG_SQRT_2PI for x in range(1, 16)]
)
_SCALES = ("population", "sample", "none")
_BASELINES = ("mean", "leave_one_out")


def _stirlerr(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """δ(x) = log x! − (x + ½)log x + x − log √(2π) for integer-valued x ≥ 0 (float array)."""
    small = x <= 15
    xs = np.where(small, 16.0, x)
    x2 = xs * xs
    series = (_S0 - (_S1 - (_S2 - (_S3 - _S4 / x2) / x2) / x2) / x2) / xs
    return np.where(small, _STIRLERR_TABLE[np.where(small, x, 0).astype(np.int64)], series)


def _bd0(x: NDArray[np.float64], mean: NDArray[np.float64]) -> NDArray[np.float64]:
    """bd0(x, M) = x·log(x/M) + M − x ≥ 0, without cancellation (x ≥ 0, M > 0).

    Near x = M: with v = (x − M)/(x + M), bd0 = (x − M)·v + 2x·Σ_{j≥1} v^{2j+1}/(2j + 1)
    (|v| < 0.1: 9 terms reach 1e-18 relative, fewer when max |v| is smaller).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        total = x + mean
        near = np.abs(x - mean) < 0.1 * total
        v = np.where(near, (x - mean) / np.where(near, total, 1.0), 0.0)
        v2 = v * v
        term = 2.0 * x * v
        series = (x - mean) * v
        # terms until max v² ^ j < 1e-18 (at most 9 for |v| < 0.1)
        top = float(np.max(v2)) if v2.size else 0.0
        n_terms = 1 if top == 0.0 else max(1, min(9, math.ceil(-18.0 / math.log10(top))))
        for j in range(1, n_terms + 1):
            term = term * v2
            series = series + term / (2 * j + 1)
        if np.all(near):  # a window around the mean: the series everywhere
            return series
        # log(x/M) = log1p((x − M)/M): one rounding in the ratio, none in the difference of
        # logs (x·log(x/M) nearly cancels M − x just outside the series' range)
        rel = (x - mean) / mean
        use_log1p = np.abs(rel) < 1.0
        log_ratio = np.where(
            use_log1p,
            np.log1p(np.where(use_log1p, rel, 0.0)),
            np.log(np.where(x > 0, x, 1.0)) - np.log(mean),
        )
        direct = np.where(x > 0, x * log_ratio, 0.0) + mean - x
    return np.where(near, series, direct)


def _check_n(n: int, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {n!r}")
    return int(n)


def _check_p(p: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"p must be numeric; got {p!r}") from exc
    if np.any(np.isnan(arr)) or np.any((arr < 0.0) | (arr > 1.0)):
        raise ValueError("p must lie in [0, 1] (no NaN)")
    return arr


def _exponent(k: NDArray[np.float64], n: int, p: NDArray[np.float64], q: NDArray[np.float64]):
    """n·KL(k/n ‖ p) = bd0(k, np) + bd0(n − k, nq), for 0 < p < 1."""
    return _bd0(k, n * p) + _bd0(n - k, n * q)


def binomial_window(n: int, p: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """[lo, hi] per p: every k outside has b(k; n, p) < exp(−746), i.e. 0 in double precision.

    The exponent n·KL(k/n ‖ p) is convex in k with its minimum at np, so each end is found
    by bisection over the integers (~log2 n steps, vectorised over p).
    """
    n = _check_n(n)
    pa = _check_p(p)
    pf = pa.reshape(-1)
    lo = np.zeros(pf.shape, dtype=np.int64)
    hi = np.full(pf.shape, n, dtype=np.int64)
    inner = (pf > 0) & (pf < 1)
    lo[pf >= 1] = n
    hi[pf <= 0] = 0
    if np.any(inner) and n > 0:
        pi = pf[inner]
        qi = 1.0 - pi
        centre = np.clip(np.floor(n * pi), 0, n).astype(np.int64)
        # lowest k in [0, centre] with exponent <= T: bisection on the decreasing left branch
        a = np.zeros_like(centre)
        b = centre.copy()
        ok0 = _exponent(a.astype(np.float64), n, pi, qi) <= WINDOW_EXPONENT
        while np.any(b - a > 1):
            mid = (a + b) // 2
            below = _exponent(mid.astype(np.float64), n, pi, qi) <= WINDOW_EXPONENT
            b = np.where(below, mid, b)
            a = np.where(below, a, mid)
        lo_i = np.where(ok0, 0, b)
        # highest k in [centre + 1, n] with exponent <= T (centre + 1 is always kept)
        a = np.minimum(centre + 1, n)
        b = np.full_like(a, n)
        okn = _exponent(b.astype(np.float64), n, pi, qi) <= WINDOW_EXPONENT
        while np.any(b - a > 1):
            mid = (a + b) // 2
            below = _exponent(mid.astype(np.float64), n, pi, qi) <= WINDOW_EXPONENT
            a = np.where(below, mid, a)
            b = np.where(below, b, mid)
        hi_i = np.where(okn, n, a)
        lo[inner], hi[inner] = lo_i, hi_i
    return lo.reshape(pa.shape), hi.reshape(pa.shape)


def _pmf_at(
    k: NDArray[np.float64], n: int, p: NDArray[np.float64], exponent: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """b(k; n, p) by the saddle-point form, elementwise (k integer-valued floats in [0, n]);
    ``exponent``: bd0(k, np) + bd0(n − k, nq) where already computed (k in (0, n))."""
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore", under="ignore", over="ignore"):
        inner = (k > 0) & (k < n)
        ki = np.where(inner, k, 1.0)
        if exponent is None:
            exponent = _bd0(ki, n * p) + _bd0(n - ki, n * q)
        lc = _stirlerr(np.float64(n)) - _stirlerr(ki) - _stirlerr(n - ki) - exponent
        lf = 2.0 * _LOG_SQRT_2PI + np.log(ki) + np.log(n - ki) - math.log(n)
        mid = np.exp(lc - 0.5 * lf)
        # k = 0: q^n (q = 1 − p is exact for p >= 1/2), else exp(n·log1p(−p)); k = n: p^n
        q0 = np.where(p >= 0.5, np.power(q, n), np.exp(n * np.log1p(-p)))
        ends = np.where(k == 0, q0, np.power(p, n))
        out = np.where(inner, mid, ends)
    out = np.where(p <= 0, (k == 0).astype(np.float64), out)
    out = np.where(p >= 1, (k == n).astype(np.float64), out)
    return out


#: Half-width of the band tried first: the window reaches ~38.6 sd from the mean for a
#: central p, and the skew (q − p)/sd moves its ends by ~(38.6²/6)·(q − p) counts
#: (Cornish–Fisher), so the band is np ± (39.5 sd + 260·|q − p| + 16).
_BAND_SD, _BAND_SKEW, _BAND_MARGIN = 39.5, 260.0, 16


def _band_terms(n: int, p: NDArray[np.float64]):
    """:func:`_window_terms` from one evaluation of the exponent over a band around np, or
    None when the band does not contain the whole window (its ends must lie outside it, or
    be 0 and n): the window is the set where the convex exponent is ≤ 746, so it is read off
    the band exactly, and the pmf reuses the exponent (no bisection, no second evaluation)."""
    q = 1.0 - p
    if not np.all((p > 0) & (p < 1)):
        return None
    half = _BAND_SD * np.sqrt(n * p * q) + _BAND_SKEW * np.abs(q - p) + _BAND_MARGIN
    lo = np.clip(np.floor(n * p - half), 0, n).astype(np.int64)
    hi = np.clip(np.ceil(n * p + half), 0, n).astype(np.int64)
    width = int(np.max(hi - lo)) + 1
    k = lo[:, None] + np.arange(width, dtype=np.int64)[None, :]
    in_band = k <= hi[:, None]
    kf = np.minimum(k, n).astype(np.float64)
    inner = (kf > 0) & (kf < n)
    ki = np.where(inner, kf, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", under="ignore", over="ignore"):
        expo = _bd0(ki, (n * p)[:, None]) + _bd0(n - ki, (n * q)[:, None])
    rows = np.arange(p.size)
    closed_lo = (lo == 0) | (expo[:, 0] > WINDOW_EXPONENT)
    closed_hi = (hi == n) | (expo[rows, hi - lo] > WINDOW_EXPONENT)
    if not np.all(closed_lo & closed_hi):
        return None
    # the ends k = 0 and k = n count by their own exponent n·log(1/q), n·log(1/p)
    with np.errstate(divide="ignore"):
        end_expo = np.where(kf == 0, -n * np.log1p(-p)[:, None], -n * np.log(p)[:, None])
    live = in_band & (np.where(inner, expo, end_expo) <= WINDOW_EXPONENT)
    pmf = np.where(live, _pmf_at(kf, n, p[:, None], np.where(inner, expo, 0.0)), 0.0)
    return kf, pmf


def _window_terms(n: int, p: NDArray[np.float64]):
    """(k (B, W), pmf (B, W)) on the padded windows of a flat p (B,); padding has pmf 0."""
    if n > 0 and p.size:
        band = _band_terms(n, p)
        if band is not None:
            return band
    lo, hi = binomial_window(n, p)
    width = int(np.max(hi - lo)) + 1 if p.size else 1
    k = lo[:, None] + np.arange(width, dtype=np.int64)[None, :]
    live = k <= hi[:, None]
    kf = np.minimum(k, n).astype(np.float64)
    pmf = np.where(live, _pmf_at(kf, n, p[:, None]), 0.0)
    return kf, pmf


def binomial_pmf(n: int, p: ArrayLike) -> NDArray[np.float64]:
    """b(k; n, p) for k = 0..n, shape (*p.shape, n + 1), exact zeros outside the window.

    Relative error ~1e-14 inside the window (module docstring), also for p ~ 1e-300 and
    p near 1; p = 0 and p = 1 give the point masses at 0 and n.
    """
    n = _check_n(n)
    pa = _check_p(p)
    pf = pa.reshape(-1)
    out = np.zeros((pf.size, n + 1))
    if pf.size:
        kf, pmf = _window_terms(n, pf)
        rows = np.broadcast_to(np.arange(pf.size)[:, None], kf.shape)
        live = pmf > 0
        out[rows[live], kf[live].astype(np.int64)] = pmf[live]
    return out.reshape(*pa.shape, n + 1)


def binary_preference(
    p: ArrayLike,
    group_size: int,
    scale: str = "population",
    eps: float = 0.0,
    *,
    baseline: str = "mean",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(a_0, a_1): expected GRPO advantage of a member scoring 0 and 1, rewards {0, 1}.

    p is the probability of reward 1 for each other member (vectorised, any shape). With
    T ones in the group of G, mean T/G and population variance T(G − T)/G²:

        A(1; T) = f·(1 − T/G)/(s(T) + eps),   A(0; T) = −f·(T/G)/(s(T) + eps),

    s = √(T(G − T))/G (population), √(T(G − T)/(G(G − 1))) (sample) or A = f·(r − T/G)
    (no scale, eps unused); A = 0 when all G rewards tie (T = 0 or T = G); f = G/(G − 1)
    for the leave-one-out baseline, 1 for the group mean. Then a_1 = E[A(1; M + 1)] and
    a_0 = E[A(0; M)] with M ~ Binomial(G − 1, p), summed over the window of
    :func:`binomial_window`. Identity: (1 − p)·a_0 + p·a_1 = 0.
    """
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2; got {group_size!r}")
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {_SCALES}; got {scale!r}")
    if baseline not in _BASELINES:
        raise ValueError(f"baseline must be one of {_BASELINES}; got {baseline!r}")
    e = float(eps)
    if not (math.isfinite(e) and e >= 0.0):
        raise ValueError(f"eps must be a finite number >= 0; got {eps!r}")
    g = int(group_size)
    pa = _check_p(p)
    pf = pa.reshape(-1)
    f = g / (g - 1) if baseline == "leave_one_out" else 1.0
    if scale == "none":
        # E[r − mean] given the member's reward r: (G − 1)/G·(r − p), exactly
        a0 = f * (g - 1) / g * (0.0 - pf)
        a1 = f * (g - 1) / g * (1.0 - pf)
        return a0.reshape(pa.shape), a1.reshape(pa.shape)
    kf, pmf = _window_terms(g - 1, pf)

    def adv(ones: NDArray[np.float64], reward: float) -> NDArray[np.float64]:
        other = g - ones
        tie = (ones <= 0) | (other <= 0)
        prod = np.where(tie, 1.0, ones * other)
        s = np.sqrt(prod) / g if scale == "population" else np.sqrt(prod / (g * (g - 1.0)))
        dev = (other if reward == 1.0 else -ones) / g
        return np.where(tie, 0.0, f * dev / (s + e))

    a1 = np.sum(pmf * adv(kf + 1.0, 1.0), axis=-1)
    a0 = np.sum(pmf * adv(kf, 0.0), axis=-1)
    return a0.reshape(pa.shape), a1.reshape(pa.shape)
