"""Scalar fast paths for one binary problem: closed forms and a bracketed root on floats.

The array functions of :mod:`gvpo_theory.binary` pay numpy's fixed costs (array creation,
broadcasting, NaN scans: ~60 µs for a 0.2 µs formula); these take and return Python floats
and use :mod:`math` only. Notation as in :mod:`gvpo_theory.binary`: p_ref = π_ref(a) ∈ (0, 1),
β > 0, margin γ ∈ [−1, 1]; rewards r(a) = 1 > r(b) = 0.

* :func:`g2` — G = 2, reverse KL, population std (docs/theory.md, `binary-g2`; V&Y eq. (14)):
  the root in (0, 1) of π² + (β/γ − 1)·π − (β/γ)·p_ref = 0, for γ = 1
  p = (1 − β + √((β − 1)² + 4β·p_ref))/2.
* :func:`ginf` — G = ∞, reverse KL, std normalisation (docs/theory.md, `binary-ginf`):
  p = (1 + 2β²·p_ref + √(1 + 4β²·p_ref·(1 − p_ref)))/(2(1 + β²)).
* :func:`binary_root` — Brent's method on a bracket, on floats.
* :func:`binary_stationary` — the reverse-KL fixed point p·(1 − a_1(p)/β) = p_ref for any
  finite G (docs/theory.md, `grpo-stationarity`), a_1 summed exactly over the G binomial
  terms, solved by :func:`binary_root`, with its residual.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

_X_MAX = 700.0  # logit bracket: exp(−700) ~ 1e-304 keeps both masses positive
_SQRT_HALF = math.sqrt(0.5)  # the sample-std advantage at G = 2 is sign(r_1 − r_2)/√2


def _logit_parts(p: float, q: float) -> float:
    return math.log(p) - math.log(q)


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _check_unit_open(x: float, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number in (0, 1); got {x!r}") from exc
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1); got {x!r}")
    return v


def _check_beta(x: float) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"beta must be a finite number > 0; got {x!r}") from exc
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"beta must be a finite number > 0; got {x!r}")
    return v


def g2(p_ref: float, beta: float, gamma: float = 1.0) -> float:
    """GRPO's reverse-KL stationary π(a) at G = 2 (population std), V&Y eq. (14).

    The root in (0, 1) of t·π² + (1 − t)·π − p_ref = 0 with t = γ/β, in four
    cancellation-free branches (r = |t| or 1/|t|, whichever is ≤ 1):

        0 ≤ t ≤ 1:   π = 2p_ref / ((1 − r) + √((1 − r)² + 4r·p_ref))
        t > 1:       π = ((1 − r) + √((1 − r)² + 4r·p_ref)) / 2
        −1 ≤ t < 0:  π = 2p_ref / ((1 + r) + √((1 − r)² + 4r·(1 − p_ref)))
        t < −1:      π = 2r·p_ref / ((1 + r) + √((1 − r)² + 4r·(1 − p_ref)))

    For γ = 1 this is p = (1 − β + √((β − 1)² + 4β·p_ref))/2 (docs/theory.md, `binary-g2`).
    """
    p = _check_unit_open(p_ref, "p_ref")
    b = _check_beta(beta)
    try:
        g = float(gamma)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"gamma must be a number in [-1, 1]; got {gamma!r}") from exc
    if not -1.0 <= g <= 1.0:
        raise ValueError(f"gamma must lie in [-1, 1]; got {gamma!r}")
    a = abs(g)
    small = a <= b
    r = a / b if small else b / a
    one_minus = 1.0 - r
    if g >= 0.0:
        root_d = math.sqrt(one_minus * one_minus + 4.0 * r * p)
        return 2.0 * p / (one_minus + root_d) if small else 0.5 * (one_minus + root_d)
    root_d = math.sqrt(one_minus * one_minus + 4.0 * r * (1.0 - p))
    return 2.0 * p / ((1.0 + r) + root_d) if small else 2.0 * r * p / ((1.0 + r) + root_d)


def ginf(p_ref: float, beta: float) -> float:
    """GRPO's reverse-KL stationary π(a) at G = ∞ with std normalisation (docs/theory.md, `binary-ginf`).

    p = (1 + 2β²·p_ref + √(1 + 4β²·p_ref(1 − p_ref))) / (2(1 + β²)), evaluated with u = β²
    for β ≤ 1 and, divided through by β², with u = 1/β² for β > 1 (u ∈ (0, 1], no overflow):
    p = (u + 2p_ref + √(u² + 4u·p_ref(1 − p_ref))) / (2(u + 1)). Every term is non-negative.
    """
    p = _check_unit_open(p_ref, "p_ref")
    b = _check_beta(beta)
    pq = p * (1.0 - p)
    if b <= 1.0:
        u = b * b
        return (1.0 + 2.0 * u * p + math.sqrt(1.0 + 4.0 * u * pq)) / (2.0 * (1.0 + u))
    u = (1.0 / b) / b
    return (u + 2.0 * p + math.sqrt(u * u + 4.0 * u * pq)) / (2.0 * (u + 1.0))


def binary_root(
    f: Callable[[float], float],
    lo: float,
    hi: float,
    *,
    xtol: float = 2e-14,
    rtol: float = 8.9e-16,
    maxiter: int = 200,
    f_lo: float | None = None,
    f_hi: float | None = None,
) -> tuple[float, int]:
    """(root, function evaluations) of f on [lo, hi] by Brent's method, on Python floats.

    f(lo) and f(hi) must have opposite signs (or one be 0); ``f_lo``/``f_hi`` pass them when
    already known. Inverse quadratic
    interpolation / secant steps, with a bisection whenever they would not shrink the
    bracket fast enough (Brent 1973; the algorithm of scipy.optimize.brentq), so it
    converges on any bracket; stops when the bracket is below xtol + rtol·|x|.
    """
    a, b = float(lo), float(hi)
    fa = f(a) if f_lo is None else f_lo
    fb = f(b) if f_hi is None else f_hi
    calls = (f_lo is None) + (f_hi is None)
    if fa == 0.0:
        return a, calls
    if fb == 0.0:
        return b, calls
    if (fa > 0.0) == (fb > 0.0):
        raise ValueError(f"f(lo) and f(hi) must have opposite signs; got f({a}) = {fa}, f({b}) = {fb}")
    c, fc = a, fa
    d = e = b - a
    for _ in range(maxiter):
        if (fb > 0.0) == (fc > 0.0):
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * rtol * abs(b) + 0.5 * xtol
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0.0:
            return b, calls
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:
                p, q = 2.0 * m * s, 1.0 - s
            else:
                q, r = fa / fc, fb / fc
                p = s * (2.0 * m * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if 2.0 * p < min(3.0 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = m
        else:
            d = e = m
        a, fa = b, fb
        b += d if abs(d) > tol else (tol if m > 0 else -tol)
        fb = f(b)
        calls += 1
    raise ValueError(f"binary_root did not converge in maxiter={maxiter} iterations")


@lru_cache(maxsize=64)
def _binary_terms(group_size: int, std: str) -> tuple[tuple[float, ...], ...]:
    """(C(n, k), A(1; k + 1 ones), A(0; k ones)) for k = 0..n = G − 1 (module docstring)."""
    g = group_size
    n = g - 1
    c = 1.0 if std == "population" else math.sqrt((g - 1.0) / g)
    coef = tuple(float(math.comb(n, k)) for k in range(n + 1))
    adv1 = tuple(
        c * (g - k - 1) / math.sqrt((k + 1) * (g - k - 1)) if k + 1 < g else 0.0 for k in range(n + 1)
    )
    adv0 = tuple(-c * k / math.sqrt(k * (g - k)) if k > 0 else 0.0 for k in range(n + 1))
    return coef, adv1, adv0


@lru_cache(maxsize=64)
def _binary_products(group_size: int, std: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(C(n, k)·A(1; k + 1 ones), C(n, k)·A(0; k ones)) for k = 0..n: the Horner coefficients."""
    coef, adv1, adv0 = _binary_terms(group_size, std)
    return tuple(c * a for c, a in zip(coef, adv1)), tuple(c * a for c, a in zip(coef, adv0))


def binary_advantages(q1: float, q0: float, group_size: int, std: str = "population") -> tuple[float, float]:
    """(a_0, a_1) for rewards {0, 1} with P(reward 1) = q1 (q0 = 1 − q1 given separately, so
    either can be tiny), by the exact sum over M ~ Binomial(G − 1, q1) ones among the others:
    a_1 = Σ_M b(M)·(G − M − 1)/(G·s(M + 1)), a_0 = −Σ_M b(M)·M/(G·s(M)), where
    s(T) = √(T(G − T))/G (population) or √(T(G − T)/(G(G − 1))) (sample), ties 0.
    b(M) = C(G − 1, M)·q1^M·q0^(G−1−M) with exact coefficients (no logs), meant for G up to
    ~256 (C(256, 128) ~ 6e75); larger G: :mod:`gvpo_theory.binomial`.
    """
    c1, c0 = _binary_products(group_size, std)
    n = group_size - 1
    # Horner in the ratio of the lighter to the heavier mass (≤ 1, so nothing overflows and
    # the heavier mass^n ≥ 2^-n stays normal); every coefficient of one sum has one sign.
    a0 = a1 = 0.0
    if q1 <= q0:
        r = q1 / q0
        for k1, k0 in zip(reversed(c1), reversed(c0)):
            a1 = a1 * r + k1
            a0 = a0 * r + k0
        scale = q0**n
    else:
        r = q0 / q1
        for k1, k0 in zip(c1, c0):
            a1 = a1 * r + k1
            a0 = a0 * r + k0
        scale = q1**n
    return a0 * scale, a1 * scale


def binary_stationary_masses(
    q1_ref: float, q0_ref: float, beta: float, group_size: int, std: str = "population"
) -> tuple[float, float, int]:
    """(q_0, q_1, evaluations): the reverse-KL fixed point of one binary problem, no validation.

    The two reference masses are given separately (each may be ~1e-300, so 1 − q_1 would
    round the other away), with q1_ref, q0_ref > 0 and q1_ref + q0_ref = 1; β > 0 finite;
    2 ≤ G ≤ 256 (:func:`binary_advantages`); ``std`` "population" or "sample". Solves, in the
    logit x = log(q_1/q_0), the fixed point q_1·(1 − a_1/β) = Q_1 written on the lighter
    reference level (as the engine's bracketed solver does): h(x) = q_1·(1 − a_1/β) − Q_1 if
    Q_1 ≤ Q_0, else Q_0 − q_0·(1 − a_0/β); h increases through the root, which lies at
    x ≥ logit Q_1 (a_1 ≥ 0). The G = 2 and G = ∞ closed forms bracket the root in most cases
    (π(a) moves monotonically with G); the safe bracket [logit Q_1, 700] is the fallback.
    """
    b = beta
    light_one = q1_ref <= q0_ref

    def h(x: float) -> float:
        q0, q1 = _masses(x)
        a0, a1 = binary_advantages(q1, q0, group_size, std)
        if light_one:
            return q1 * (1.0 - a1 / b) - q1_ref
        return q0_ref - q0 * (1.0 - a0 / b)

    lo, hi = _logit_parts(q1_ref, q0_ref), _X_MAX
    h_lo = h_hi = None
    calls = 0
    if q1_ref < 1.0:  # the closed forms take p_ref in (0, 1)
        kappa = 1.0 if std == "population" else _SQRT_HALF
        guesses = (g2(q1_ref, b, kappa), ginf(q1_ref, b))  # may round to 1 for tiny β
        for x in sorted(_logit(v) for v in guesses if 0.0 < v < 1.0):
            if not lo <= x <= hi:
                continue
            hx = h(x)
            calls += 1
            if hx < 0.0:
                lo, h_lo = x, hx
            else:
                hi, h_hi = x, hx
                break
    x, n = binary_root(h, lo, hi, xtol=1e-13, f_lo=h_lo, f_hi=h_hi)
    q0, q1 = _masses(x)
    return q0, q1, calls + n


def _masses(x: float) -> tuple[float, float]:
    """(q_0, q_1) = (σ(−x), σ(x)), each accurate near 0 and 1."""
    if x >= 0.0:
        z = math.exp(-x)
        return z / (1.0 + z), 1.0 / (1.0 + z)
    z = math.exp(x)
    return 1.0 / (1.0 + z), z / (1.0 + z)


def binary_stationary(
    p_ref: float, beta: float, group_size: int, std: str = "population"
) -> tuple[float, float]:
    """(π(a), residual) of GRPO's reverse-KL fixed point for one binary problem, 2 ≤ G ≤ 256.

    Validates its arguments and solves with :func:`binary_stationary_masses` (π_ref(b) =
    1 − p_ref). The residual is max_l |q_l·(1 − a_l/β) − π_ref(l)|.
    """
    p = _check_unit_open(p_ref, "p_ref")
    b = _check_beta(beta)
    if isinstance(group_size, bool) or not isinstance(group_size, int) or not 2 <= group_size <= 256:
        raise ValueError(f"group_size must be an integer in [2, 256]; got {group_size!r}")
    if std not in ("population", "sample"):
        raise ValueError(f"std must be 'population' or 'sample'; got {std!r}")
    p0 = 1.0 - p
    q0, q1, _ = binary_stationary_masses(p, p0, b, group_size, std)
    a0, a1 = binary_advantages(q1, q0, group_size, std)
    residual = max(abs(q1 * (1.0 - a1 / b) - p), abs(q0 * (1.0 - a0 / b) - p0))
    return q1, residual
