"""Safeguarded Newton for batches of two-level problems at finite G (docs/theory.md §3).

With two reward levels the expected advantage of a group member scoring level l is a
polynomial of degree G − 1 in the mass q = q_1 of the better level, in Bernstein form:

    a_l(q) = Σ_j b_j(q)·A_l(j),   b_j(q) = C(G − 1, j)·q^j·(1 − q)^(G−1−j),

where j counts the other G − 1 members at level 1 and A_l(j) is the estimator's advantage
for that group (the enumeration table of :mod:`gvpo_theory.preference`). Its derivative
is the Bernstein difference form a_l'(q) = (G − 1)·Σ_j b^(G−2)_j(q)·(A_l(j + 1) − A_l(j)).
Both are evaluated by Horner's rule in the ratio u = min(q_0, q_1)/max(q_0, q_1) <= 1 of
the logit x, times max(q_0, q_1)^(G−1) (>= 2^−(G−1)): no power underflows, and a mass of
1e-300 keeps its digits.

The root is that of the same increasing function of x = log(q_1/q_0) that the bracketed
solver uses (:func:`gvpo_theory.binary_solver._sign_from`), with its exact derivative:
Newton steps that leave the current bracket, or do not shrink it, are replaced by
bisection, so the iteration keeps the bracket's guarantee and converges quadratically
near a simple root. A batch of 10⁶ problems at G = 8 takes ~8 evaluations.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

from ._threads import blas_threads
from .objective import Objective
from .penalties import DirectKL, ReverseKL
from .preference import MAX_TERMS, _advantage_table

#: Largest G for which the Bernstein evaluation is used: the (batch, G) weight matrix
#: then costs no more than the generic kernel, and the table has G rows.
MAX_NEWTON_GROUP = 256

_MAX_ITERATIONS = 200


def applies(obj: Objective) -> bool:
    """True for the objectives this solver covers: a finite G up to MAX_NEWTON_GROUP in
    level space, with the k3 (reverse KL) or direct-KL penalty."""
    g = obj.group_size
    return (
        obj.level_space
        and type(obj.penalty) in (ReverseKL, DirectKL)
        and isinstance(g, int)
        and 2 <= g <= MAX_NEWTON_GROUP
    )


@lru_cache(maxsize=64)
def _bernstein_tables(levels: tuple[float, float], obj: Objective) -> tuple[NDArray[np.float64], ...]:
    """Power-form coefficients of the Bernstein sums, for Horner in u = exp(−|x|) <= 1.

    Row k of ``low`` (k = 0..G−1) multiplies u^k when q_1 <= q_0 (u = q_1/q_0):
    C(G−1, k)·A(k, l); ``high`` is the same with k counted from the other end (u = q_0/q_1):
    C(G−1, k)·A(G−1−k, l). ``low1``/``high1`` are those of the slope's sum with G − 2 and
    the differences A(j + 1, l) − A(j, l). Each has shape (rows, 2) for the two levels.
    """
    g = int(obj.group_size)
    table = _advantage_table(np.asarray(levels), g, obj.advantage, MAX_TERMS)
    order = np.argsort(table.counts[:, 1])  # rows by j, the count at the better level
    adv = table.advantage[order]
    n = g - 1
    j = np.arange(n + 1, dtype=np.float64)
    c = np.exp(gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0))[:, None]
    dadv = np.diff(adv, axis=0)
    j1 = np.arange(n, dtype=np.float64)
    c1 = np.exp(gammaln(float(n)) - gammaln(j1 + 1.0) - gammaln(n - j1))[:, None]
    out = (c * adv, c * adv[::-1], c1 * dadv, c1 * dadv[::-1])
    for arr in out:
        arr.setflags(write=False)
    return out


def _horner(u: NDArray[np.float64], h: NDArray[np.float64], low_c: NDArray[np.float64],
            high_c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Σ_k coef_k·u^k, shape (2, B), each element with the coefficients of its side.

    The side enters as a 0/1 weight ``h`` on the coefficient difference, so the batch runs
    one Horner loop on contiguous 1-D arrays per level (no boolean gathers or scatters).
    """
    out = np.empty((2, u.size))
    for level in range(2):
        low, diff = low_c[:, level], high_c[:, level] - low_c[:, level]
        acc = out[level]
        np.multiply(h, diff[-1], out=acc)
        acc += low[-1]
        for k in range(low.shape[0] - 2, -1, -1):
            acc *= u
            acc += low[k]
            acc += diff[k] * h
    return out


def _advantages_and_slopes(
    x: NDArray[np.float64], tables: tuple
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(q, a, a') at logits x: q, a, a' of shape (2, B), rows = levels; a' = da/dq_1.

    a_l = max(q_0, q_1)^(G−1)·Σ_k coef_k·u^k with u = min/max = exp(−|x|) <= 1, so the
    prefactor is >= 2^−(G−1) and no power underflows; the slope likewise with G − 2.
    """
    low, high_c, low1, high1 = tables
    n = low.shape[0] - 1
    high = x > 0
    h = high.astype(np.float64)
    u = np.exp(-np.abs(x))
    log_big = -np.log1p(u)  # log max(q_0, q_1) (np.logaddexp is ~50x slower)
    a = _horner(u, h, low, high_c)
    a *= np.exp(n * log_big)
    slope = _horner(u, h, low1, high1)
    slope *= n * np.exp((n - 1) * log_big)
    q_big = np.exp(log_big)
    q_small = u * q_big
    q = np.stack([np.where(high, q_small, q_big), np.where(high, q_big, q_small)])
    return q, a, slope


def _value_and_derivative(
    x: NDArray[np.float64], q_ref: NDArray[np.float64], beta: NDArray[np.float64],
    tables: tuple, exponential: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """h(x) of the bracketed solver and dh/dx, with dq_1/dx = q_0·q_1."""
    q, a, slope = _advantages_and_slopes(x, tables)
    q0, q1 = q[0], q[1]
    dq = q0 * q1
    with np.errstate(over="ignore", invalid="ignore"):
        if exponential:
            logit_q = np.log(q_ref[1]) - np.log(q_ref[0])
            h = x - logit_q - (a[1] - a[0]) / beta
            dh = 1.0 - (slope[1] - slope[0]) * dq / beta
            return h, dh
        upper = q1 * (1.0 - a[1] / beta) - q_ref[1]
        d_upper = dq * (1.0 - a[1] / beta) - q1 * slope[1] * dq / beta
        lower = q_ref[0] - q0 * (1.0 - a[0] / beta)
        d_lower = dq * (1.0 - a[0] / beta) + q0 * slope[0] * dq / beta
        light = q_ref[1] <= q_ref[0]
        return np.where(light, upper, lower), np.where(light, d_upper, d_lower)


def sign_function(
    x: NDArray[np.float64], q_ref: NDArray[np.float64], levels: NDArray[np.float64],
    beta: NDArray[np.float64], obj: Objective,
) -> NDArray[np.float64]:
    """h(x) for batches shaped like the bracketed solver's (x (...), q_ref (..., 2)):
    the same function as :func:`gvpo_theory.binary_solver._binary_sign`, by Horner."""
    tables = _bernstein_tables((float(levels[0]), float(levels[1])), obj)
    shape = np.broadcast_shapes(np.shape(x), q_ref.shape[:-1])
    flat_x = np.broadcast_to(x, shape).reshape(-1).astype(np.float64)
    flat_q = np.ascontiguousarray(np.broadcast_to(q_ref, (*shape, 2)).reshape(-1, 2).T)
    flat_b = np.broadcast_to(beta, shape).reshape(-1).astype(np.float64)
    h, _ = _value_and_derivative(flat_x, flat_q, flat_b, tables, obj.penalty.exponential_weights)
    return h.reshape(shape)


def _start(
    q_ref: NDArray[np.float64], beta: NDArray[np.float64], obj: Objective, gap: float
) -> NDArray[np.float64]:
    """A first iterate near the root: the closed-form stationary logit of a nearby problem.

    Direct KL: logit Q (its h is nearly linear). Reverse KL with a std: the G = ∞ root
    p = (1 + 2β²Q + √(1 + 4β²Q(1 − Q)))/(2(1 + β²)) (docs/theory.md §4); without a std:
    the exact root of p·(1 − γ(1 − p)/β) = Q with γ = ((G − 1)/G)·(baseline factor)·gap.
    """
    q1 = q_ref[1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if obj.penalty.exponential_weights:
            return np.log(q1) - np.log(q_ref[0])
        if obj.advantage.scale != "none":
            b2 = beta * beta
            p = (1.0 + 2.0 * b2 * q1 + np.sqrt(1.0 + 4.0 * b2 * q1 * q_ref[0])) / (2.0 * (1.0 + b2))
        else:
            g = obj.group_size
            gamma = obj.advantage.baseline_factor(g) * (g - 1) / g * gap
            d = beta - gamma
            p = 2.0 * beta * q1 / (d + np.sqrt(d * d + 4.0 * gamma * beta * q1))
        return np.log(p) - np.log1p(-p)


def newton_binary(
    lo: NDArray[np.float64], hi: NDArray[np.float64], f_lo: NDArray[np.float64],
    f_hi: NDArray[np.float64], q_ref: NDArray[np.float64], levels: NDArray[np.float64],
    beta: NDArray[np.float64], obj: Objective,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Roots x (B,) inside brackets [lo, hi] with h(lo) < 0 < h(hi), and iteration counts.

    All arrays are flat (B,) (q_ref (B, 2)). Starts at the logit of q_ref clipped into the
    bracket; stops when the bracket or the step is within 4e-16 relative of x, or h = 0.
    """
    tables = _bernstein_tables((float(levels[0]), float(levels[1])), obj)
    exponential = obj.penalty.exponential_weights
    lo, hi = lo.astype(np.float64).copy(), hi.astype(np.float64).copy()
    q_ref = np.ascontiguousarray(q_ref.T)  # (2, B): each level one contiguous row
    x = _start(q_ref, beta, obj, float(levels[1] - levels[0]))
    x = np.where(np.isfinite(x) & (x > lo) & (x < hi), x, 0.5 * (lo + hi))
    state = {
        "x": x, "lo": lo, "hi": hi,
        "f_lo": f_lo.astype(np.float64).copy(), "f_hi": f_hi.astype(np.float64).copy(),
        "dx": hi - lo, "dx_old": hi - lo, "width_1": hi - lo, "width_2": hi - lo,
        "iters": np.zeros(x.shape, dtype=np.int64),
    }
    with blas_threads(1):
        _iterate(state, q_ref, beta, tables, exponential)
    return state["x"], state["iters"]


def _iterate(state: dict, q_ref: NDArray[np.float64], beta: NDArray[np.float64], tables: tuple,
             exponential: bool) -> None:
    """The safeguarded loop of :func:`newton_binary`, updating ``state``'s arrays in place.

    Each problem takes, in order of preference: the Newton step (slope > 0, inside the
    bracket, at most half the step before last — rtsafe's test of progress); else the
    false-position point of the bracket; else, when the bracket failed to halve in two
    iterations, its midpoint. Every iterate stays inside a bracket that only shrinks.
    """
    x, lo, hi, f_lo, f_hi = state["x"], state["lo"], state["hi"], state["f_lo"], state["f_hi"]
    active = np.ones(x.shape, dtype=bool)
    for _ in range(_MAX_ITERATIONS):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        xa = x[idx]
        h, dh = _value_and_derivative(xa, q_ref[:, idx], beta[idx], tables, exponential)
        state["iters"][idx] += 1
        left, right = h < 0, h > 0
        lo_a, hi_a = np.where(left, xa, lo[idx]), np.where(right, xa, hi[idx])
        fl_a, fh_a = np.where(left, h, f_lo[idx]), np.where(right, h, f_hi[idx])
        lo[idx], hi[idx], f_lo[idx], f_hi[idx] = lo_a, hi_a, fl_a, fh_a
        width = hi_a - lo_a
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = h / dh
            trial = xa - step
            false_pos = (lo_a * fh_a - hi_a * fl_a) / (fh_a - fl_a)
        newton = (np.isfinite(trial) & (dh > 0) & (trial > lo_a) & (trial < hi_a)
                  & (np.abs(2.0 * step) <= np.abs(state["dx_old"][idx])))
        stalled = width > 0.5 * state["width_2"][idx]
        fp_ok = np.isfinite(false_pos) & (false_pos > lo_a) & (false_pos < hi_a) & ~stalled
        x_new = np.where(newton, trial, np.where(fp_ok, false_pos, 0.5 * (lo_a + hi_a)))
        state["dx_old"][idx] = state["dx"][idx]
        state["dx"][idx] = np.abs(x_new - xa)
        state["width_2"][idx], state["width_1"][idx] = state["width_1"][idx], width
        scale = 4e-16 * np.maximum(1.0, np.abs(xa))
        # a Newton step below the rounding of x is convergence (x − step rounds onto x)
        converged = np.isfinite(step) & (dh > 0) & (np.abs(step) <= scale)
        done = (h == 0) | (width <= scale) | converged
        x[idx] = np.where((h == 0) | converged, xa, x_new)
        active[idx] = ~done
