"""Bracketed stationary solver for two reward levels (docs/theory.md §3, §4).

Every problem of a batch at once: Illinois regula falsi (bisecting whenever the bracket
fails to halve) on the logit x = log(q_1/q_0) over [−700, 700] (both level masses stay
positive in double precision), widened for the exponential weights of the direct KL,
using a function of x that increases through the stationary root. Bracketed, so it
cannot diverge for small β or large G.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from . import binary_newton
from ._scalar import binary_stationary_masses
from .objective import Objective
from .penalties import ReverseKL
from .preference import level_advantages_kernel

_X_BRACKET = 700.0  # exp(-700) ~ 1e-304: both level masses stay positive


def _sigmoid_pair(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """[q_0, q_1] = [σ(−x), σ(x)] with each entry accurate near 0 and 1."""
    return np.stack([np.exp(-np.logaddexp(0.0, x)), np.exp(-np.logaddexp(0.0, -x))], axis=-1)


def _binary_sign(
    x: NDArray, q_ref: NDArray, levels: NDArray, beta: NDArray, obj: Objective
) -> NDArray:
    """A function of the logit x = log(q_1/q_0), increasing through the stationary root.

    k3 / reverse KL: q_1·(1 − a_1/β) − Q_1; direct KL: x − logit Q − (a_1 − a_0)/β.
    """
    m = _sigmoid_pair(x)
    a = level_advantages_kernel(m, levels, obj)
    # a/β overflows to ±inf for β near the smallest double: the sign is still right
    with np.errstate(over="ignore", invalid="ignore"):
        return _sign_from(x, m, a, q_ref, beta, obj)


def _sign_from(
    x: NDArray, m: NDArray, a: NDArray, q_ref: NDArray, beta: NDArray, obj: Objective
) -> NDArray:
    """The body of :func:`_binary_sign` given the level masses m and advantages a."""
    if not obj.penalty.exponential_weights:
        # q1·(1 − a1/β) − Q1 = Q0 − q0·(1 − a0/β) (since Σ_l q_l·a_l = 0), increasing in x
        # at a simple root. Written on the lighter level: Q = 1 − 1e-20 rounds to 1.
        upper = m[..., 1] * (1.0 - a[..., 1] / beta) - q_ref[..., 1]
        lower = q_ref[..., 0] - m[..., 0] * (1.0 - a[..., 0] / beta)
        return np.where(q_ref[..., 1] <= q_ref[..., 0], upper, lower)
    return x - (np.log(q_ref[..., 1]) - np.log(q_ref[..., 0])) - (a[..., 1] - a[..., 0]) / beta


def _large_group_closed_form(obj: Objective) -> bool:
    """G = ∞, k3 penalty, a std and no eps: the root has a closed form (docs/theory.md §4)."""
    return (math.isinf(obj.group_size) and type(obj.penalty) is ReverseKL and obj.level_space
            and obj.advantage.scale != "none" and obj.advantage.eps == 0.0)


def _large_group_logit(q_ref: NDArray, beta: NDArray) -> NDArray:
    """x = log(q_1/q_0) at the G = ∞ k3 root, in the log domain.

    With a_1 = √(q_0/q_1), a_0 = −√(q_1/q_0) the fixed point is
    q_1 = (1 + 2β²Q_1 + √(1 + 4β²Q_0Q_1))/(2(1 + β²)) and, rationalised so that nothing
    cancels, q_0 = 2β²Q_0²/D with D = 1 + 2β²Q_0 + √(1 + 4β²Q_0Q_1). In logs, a reference
    mass Q_0 = 1e-300 gives log q_0 ≈ 2·log Q_0 (q_0 ~ 1e-600, beyond double range, yet
    its logit and the policy it rounds to are exact).
    """
    q0, q1 = q_ref[..., 0], q_ref[..., 1]
    b2 = beta * beta
    root = np.sqrt(1.0 + 4.0 * b2 * q0 * q1)
    log_q0 = math.log(2.0) + np.log(b2) + 2.0 * np.log(q0) - np.log(1.0 + 2.0 * b2 * q0 + root)
    log_q1 = np.log(1.0 + 2.0 * b2 * q1 + root) - np.log(2.0 * (1.0 + b2))
    return log_q1 - log_q0


def solve_binary(
    q_ref: NDArray, levels: NDArray, beta: NDArray, obj: Objective
) -> tuple[NDArray, NDArray, NDArray]:
    """Vectorised bracketed root finding for two-level problems: (m, iterations, ok)."""
    interior = (q_ref[..., 0] > 0) & (q_ref[..., 1] > 0)
    qi = np.where(interior[..., None], q_ref, 0.5)
    if _large_group_closed_form(obj):
        x = _large_group_logit(qi, np.broadcast_to(beta, qi.shape[:-1]))
        m = np.where(interior[..., None], _sigmoid_pair(x), q_ref)
        return m, np.zeros(qi.shape[:-1], dtype=np.int64), np.ones(qi.shape[:-1], dtype=bool)
    width = np.full(qi.shape[:-1], _X_BRACKET)
    exponential = obj.penalty.exponential_weights
    if exponential and (not math.isinf(obj.group_size) or obj.std == "none"):
        # Direct KL puts x = logit Q + (a1 − a0)/β, which exceeds ±700 for small β (the
        # worse level's mass underflows to 0, correctly). |a1 − a0| is largest for a lone
        # member (m at a vertex), so this bracket contains every root. (G = ∞ with a std
        # has unbounded advantages near the vertices: the grid search below handles it.)
        ends = level_advantages_kernel(np.eye(2), levels, obj)
        spread = float(np.max(np.abs(ends[:, 1] - ends[:, 0])))
        with np.errstate(divide="ignore"):
            logit_q = np.abs(np.log(qi[..., 1]) - np.log(qi[..., 0]))
        width = np.maximum(width, logit_q + 2.0 * spread / np.broadcast_to(beta, width.shape) + 50.0)
    lo, hi = -width, width.copy()
    sign = binary_newton.sign_function if binary_newton.applies(obj) else _binary_sign
    f_lo = sign(lo, qi, levels, beta, obj)
    f_hi = sign(hi, qi, levels, beta, obj)
    ok = (f_lo < 0) & (f_hi > 0)
    if exponential and np.any(~ok & interior):
        # Direct KL with unbounded advantages (G = ∞): h(x) tends to −∞ at both ends
        # and is concave, so the stable stationary point is the lower root, bracketed by
        # [−700, first grid point where h > 0]. If h < 0 on the whole grid there is no
        # interior stationary point: GRPO runs to the boundary (converged = False).
        grid = np.linspace(-700.0, 700.0, 2801)  # both q_l > 0 in double
        bad = np.nonzero((~ok & interior).reshape(-1))[0]
        flat_hi, flat_ok = hi.reshape(-1), ok.reshape(-1)
        qf = qi.reshape(-1, 2)
        bf = np.broadcast_to(beta, qi.shape[:-1]).reshape(-1)
        for i in bad:
            vals = _binary_sign(grid, qf[i], levels, bf[i], obj)
            pos = np.nonzero(vals > 0)[0]
            if pos.size:
                flat_hi[i] = grid[pos[0]]
                flat_ok[i] = True
        hi, ok = flat_hi.reshape(hi.shape), flat_ok.reshape(ok.shape)
    if binary_newton.applies(obj) and np.all(ok):
        # finite G: the advantages are Bernstein polynomials with exact slopes, so a
        # safeguarded Newton (same function, same bracket) needs ~8 evaluations, not ~30
        flat_q = qi.reshape(-1, 2)
        beta_f = np.broadcast_to(beta, qi.shape[:-1]).reshape(-1).astype(np.float64)
        x, iters = binary_newton.newton_binary(
            lo.reshape(-1), hi.reshape(-1), f_lo.reshape(-1), f_hi.reshape(-1), flat_q, levels,
            beta_f, obj,
        )
        x, iters = x.reshape(qi.shape[:-1]), iters.reshape(qi.shape[:-1])
        m = np.where(interior[..., None], _sigmoid_pair(x), q_ref)
        return m, iters, ok | ~interior
    # Illinois (regula falsi with endpoint halving), bisecting whenever the bracket fails
    # to halve in two steps: bracketed, hence safe, and superlinear near the root.
    iters = np.zeros(qi.shape[:-1], dtype=np.int64)
    beta_b = np.broadcast_to(beta, qi.shape[:-1])
    width_2ago = width_1ago = hi - lo
    last_side = np.zeros(qi.shape[:-1], dtype=np.int8)
    for _ in range(400):
        active = ok & (hi - lo > 4e-16 * np.maximum(1.0, np.abs(lo) + np.abs(hi)))
        if not np.any(active):
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        stalled = (hi - lo) > 0.5 * width_2ago
        use_mid = ~np.isfinite(x) | (x <= lo) | (x >= hi) | stalled
        x = np.where(use_mid, 0.5 * (lo + hi), x)
        width_2ago, width_1ago = width_1ago, hi - lo
        # evaluate only the problems still bracketing: most settle in ~10 steps
        f_x = np.zeros_like(x)
        f_x[active] = _binary_sign(
            x[active], qi[active], levels, beta_b[active], obj
        )
        left = f_x < 0  # the root lies in (x, hi)
        exact = f_x == 0
        upd_lo = active & left
        upd_hi = active & ~left
        # Illinois: when the same end is kept twice, halve its function value.
        f_hi = np.where(upd_lo & (last_side == 1), 0.5 * f_hi, f_hi)
        f_lo = np.where(upd_hi & (last_side == -1), 0.5 * f_lo, f_lo)
        lo, f_lo = np.where(upd_lo, x, lo), np.where(upd_lo, f_x, f_lo)
        hi, f_hi = np.where(upd_hi, x, hi), np.where(upd_hi, f_x, f_hi)
        lo = np.where(active & exact, x, lo)
        hi = np.where(active & exact, x, hi)
        last_side = np.where(upd_lo, 1, np.where(upd_hi, -1, last_side)).astype(np.int8)
        iters += active
    x = 0.5 * (lo + hi)
    m = np.where(interior[..., None], _sigmoid_pair(x), q_ref)
    return m, iters, ok | ~interior


#: Largest G for which one binary problem takes the scalar path of :mod:`gvpo_theory._scalar`
#: (its advantages are exact direct products, as the engine's for G − 1 <= 256).
SCALAR_MAX_GROUP_SIZE = 257


def scalar_covers(obj: Objective) -> bool:
    """Whether :func:`gvpo_theory._scalar.binary_stationary_masses` solves this objective:
    the k3 (reverse-KL) penalty, the group-mean baseline, population or sample std without
    eps (then the advantage does not depend on the two reward values), 2 ≤ G ≤ 257.
    Anything else (new penalties and estimators included) takes the vectorised solver."""
    adv, g = obj.advantage, obj.group_size
    return (
        type(obj.penalty) is ReverseKL
        and adv.baseline == "mean"
        and adv.scale in ("population", "sample")
        and adv.eps == 0.0
        and not math.isinf(g)
        and g <= SCALAR_MAX_GROUP_SIZE
    )


def solve_binary_scalar(
    q1_ref: float, q0_ref: float, beta: float, obj: Objective
) -> tuple[float, float, int] | None:
    """(q_0, q_1, evaluations) of one interior binary problem on Python floats, or None
    where :func:`scalar_covers` says no (the caller then uses :func:`solve_binary`)."""
    if not (scalar_covers(obj) and q1_ref > 0.0 and q0_ref > 0.0):
        return None
    try:
        return binary_stationary_masses(q1_ref, q0_ref, beta, int(obj.group_size), obj.std)
    except ValueError:  # no sign change on the bracket: leave it to the bracketed solver
        return None
