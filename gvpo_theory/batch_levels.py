"""Many level problems at once: level-space Newton vectorised over a batch (docs/theory.md §3, §4b).

Problems that share one deterministic reward structure over L ≥ 3 levels — different π_ref
and β — are one system per problem in z = log(m_{1..L−1}/m_0), the level masses' logits:

    R(z) = log m − log w(m),   w_l = Q_l/(1 − a_l(m)/β)        (k3 penalty, reverse KL),
                               w_l ∝ Q_l·exp(a_l(m)/β)          (direct KL),

exactly the residual of :func:`gvpo_theory.level_solver.solve_levels` with the profiles equal
to the levels (D = identity). Here the whole batch takes Gauss–Newton steps together: one
evaluation of a_l and of its Jacobian ∂a_l/∂m_j for every row (for an enumerated advantage
table both come from the same multinomial weights, ``composition_pmf`` over a batch of m is one
matrix product), one batched least-squares solve (QR of the L × (L − 1) Jacobians), and a
batched backtracking line search that halves the step of each row until its max |R| falls.
Rows whose Newton reaches max |R| ≤ :data:`BATCH_ACCEPT` are answered; every other row — a
fold in β, a tiny 1 − P/β that needs the polish, a zero π_ref mass on some level — is handed
to the per-problem solver, which runs the same Newton first and then its continuation,
polish and flow fallbacks. So a batched answer is the root the per-problem solver's first
Newton would reach, and nothing is answered that the per-problem path would not answer.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ._threads import blas_threads
from .affine_solver import affine_covers, large_group_start, solve_affine
from .level_solver import solve_levels
from .objective import Advantage, Objective
from .penalties import DirectKL, ReverseKL
from .preference import MAX_TERMS, _advantage_table, _lattice_for
from .problem import RewardStructure

#: A batched row is answered when its max |log m − log w(m)| is at most this (as the
#: per-problem solver accepts a Newton or continuation end point before its polish).
BATCH_ACCEPT = 1e-10

#: Largest enumerated advantage table (count vectors) the batched Newton evaluates; above it
#: (or where the lattice dynamic program is the route) problems are solved one at a time.
BATCH_MAX_TERMS = 5_000

#: Rows whose Newton and line search run together (bounds the (rows, C) weight arrays).
_CHUNK = 32768

_MAX_ITER = 50
_MIN_STEP = 1e-8

#: A continuation corrector that needs a step below this has left the branch's basin (the
#: predictor overshot): the row halves its β step instead of halving further.
_CORRECTOR_MIN_STEP = 1.0 / 64

#: Below this max |R| a Newton step is tried at t = 1 only (see :func:`_newton_batch`).
_ROUNDING_ZONE = 1e-12


def batch_covers(structure: RewardStructure, obj: Objective, max_terms: int = MAX_TERMS) -> bool:
    """Whether :func:`solve_levels_batch` vectorises problems of this structure and objective:
    deterministic rewards on three or more levels, a finite G with a std (the affine cases
    have their own root), the k3 or direct-KL penalty, and an enumerated advantage table of at
    most :data:`BATCH_MAX_TERMS` count vectors."""
    if not structure.deterministic or structure.n_levels < 3 or affine_covers(obj):
        return False
    if math.isinf(obj.group_size) or type(obj.penalty) not in (ReverseKL, DirectKL):
        return False
    g = int(obj.group_size)
    if _lattice_for(structure.levels, g, obj.advantage, max_terms) is not None:
        return False
    return math.comb(g + structure.n_levels - 2, structure.n_levels - 1) <= min(BATCH_MAX_TERMS, max_terms)


def _softmax0(z: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(log m, m) for m = softmax([0, z]) row by row, z (B, L − 1)."""
    logits = np.concatenate([np.zeros((z.shape[0], 1)), z], axis=1)
    top = np.max(logits, axis=1, keepdims=True)
    log_m = logits - top - np.log(np.sum(np.exp(logits - top), axis=1, keepdims=True))
    return log_m, np.exp(log_m)


@lru_cache(maxsize=16)
def _tables(
    levels: tuple[float, ...], group_size: int, adv: Advantage, max_terms: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(counts (L, C), log multinomial coefficients (C,), A (C, L), A(l, c)·c_j (C, L·L))."""
    table = _advantage_table(np.asarray(levels), group_size, adv, max_terms)
    counts = table.counts.astype(np.float64)
    n_lev = counts.shape[1]
    both = (table.advantage[:, :, None] * counts[:, None, :]).reshape(-1, n_lev * n_lev)
    counts_t = counts.T.copy()
    for arr in (counts_t, both):
        arr.setflags(write=False)
    return counts_t, table.log_coef, table.advantage, both


def advantages_and_jacobian(
    m: NDArray[np.float64], levels: NDArray[np.float64], obj: Objective, max_terms: int = MAX_TERMS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(a (B, L), ∂a/∂m (B, L, L)) for level masses m (B, L), all positive, from one table.

    a_l = Σ_c Mult(c; G − 1, m)·A(l, c) and ∂a_l/∂m_j = Σ_c Mult(c)·(c_j/m_j)·A(l, c)
    (the enumeration form of :func:`gvpo_theory.preference.level_advantages_jacobian`), both
    from the same log-domain multinomial weights (as :func:`~gvpo_theory.preference.composition_pmf`
    forms them for three or more levels): two matrix products over the batch.
    """
    counts_t, log_coef, adv, both = _tables(tuple(levels.tolist()), int(obj.group_size),
                                           obj.advantage, max_terms)
    n_lev = m.shape[1]
    with blas_threads(1):  # (B, L)·(L, C) products: BLAS threads only spin-wait
        pmf = np.exp(np.log(m) @ counts_t + log_coef)
        a = pmf @ adv
        jac = (pmf @ both).reshape(-1, n_lev, n_lev) / m[:, None, :]
    return a, jac


def _evaluate(
    z: NDArray[np.float64], q_log: NDArray[np.float64], beta: NDArray[np.float64],
    levels: NDArray[np.float64], obj: Objective, max_terms: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(R (B, L), dR/dz (B, L, L − 1), max |R| (B,), inf where undefined) at z (B, L − 1)."""
    log_m, m = _softmax0(z)
    n_lev = m.shape[1]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        a, ja = advantages_and_jacobian(m, levels, obj, max_terms)
        ratio = a / beta[:, None]
        dm = m[:, :, None] * (np.eye(n_lev)[None, :, 1:] - m[:, None, 1:])  # ∂m/∂z
        dpref = np.matmul(ja, dm)
        if type(obj.penalty) is ReverseKL:
            den = 1.0 - ratio
            log_w = q_log - np.log(den)
            dlogw = dpref / (beta[:, None] * den)[:, :, None]
            bad = np.any(den <= 0, axis=1)
        else:
            u = q_log + ratio
            top = np.max(u, axis=1, keepdims=True)
            log_w = u - top - np.log(np.sum(np.exp(u - top), axis=1, keepdims=True))
            w = np.exp(log_w)
            dlogw = (dpref - np.einsum("bl,blj->bj", w, dpref)[:, None, :]) / beta[:, None, None]
            bad = np.zeros(m.shape[0], dtype=bool)
        r = log_m - log_w
        jac = (np.eye(n_lev)[None, :, 1:] - m[:, None, 1:]) - dlogw
        err = np.max(np.abs(r), axis=1)
    finite = np.all(np.isfinite(r), axis=1) & np.all(np.isfinite(jac), axis=(1, 2)) & ~bad
    err = np.where(finite, err, np.inf)
    return r, jac, err


def _newton_step(jac: NDArray[np.float64], r: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least-squares Gauss–Newton steps −J⁺R for a stack of L × (L − 1) Jacobians.

    Modified Gram–Schmidt on the columns of J with −R carried along (the backward-stable
    way to solve least squares with MGS), then back substitution; NaN rows where a column
    of J is numerically dependent on the previous ones (|residual column| ≤ 1e-14·|column|).
    """
    n_col = jac.shape[2]
    q = jac.copy()
    rhs = -r
    upper = np.zeros((jac.shape[0], n_col, n_col))
    coef = np.empty((jac.shape[0], n_col))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in range(n_col):
            col = q[:, :, k]
            norm = np.sqrt(np.einsum("bl,bl->b", col, col))
            scale = np.sqrt(np.einsum("bl,bl->b", jac[:, :, k], jac[:, :, k]))
            norm = np.where(norm > 1e-14 * scale, norm, np.nan)
            col /= norm[:, None]
            upper[:, k, k] = norm
            if k + 1 < n_col:
                proj = np.einsum("bl,blj->bj", col, q[:, :, k + 1 :])
                upper[:, k, k + 1 :] = proj
                q[:, :, k + 1 :] -= col[:, :, None] * proj[:, None, :]
            coef[:, k] = np.einsum("bl,bl->b", col, rhs)
            rhs = rhs - col * coef[:, k, None]
        out = np.empty_like(coef)
        for k in range(n_col - 1, -1, -1):
            tail = np.einsum("bj,bj->b", upper[:, k, k + 1 :], out[:, k + 1 :])
            out[:, k] = (coef[:, k] - tail) / upper[:, k, k]
    return out


def _newton_batch(
    z: NDArray[np.float64], q_log: NDArray[np.float64], beta: NDArray[np.float64],
    levels: NDArray[np.float64], obj: Objective, max_terms: int, tol: float, max_iter: int,
    min_step: float = _MIN_STEP,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Batched Gauss–Newton with step halving on max |R| from z (B, L − 1): (z, max |R|, steps).

    Row by row the iteration of :func:`gvpo_theory.level_solver._newton`: a step is taken
    at the first t = 1, 1/2, 1/4, … (> ``min_step``) that lowers max |R|; a row stops at
    ``tol`` or when no such t exists. Once max |R| < :data:`_ROUNDING_ZONE` only t = 1 is
    tried: the root is then known to ~1e-12 and a shorter step changes z by rounding only.
    """
    z = z.copy()
    r, jac, err = _evaluate(z, q_log, beta, levels, obj, max_terms)
    steps = np.zeros(z.shape[0], dtype=np.int64)
    live = np.isfinite(err) & (err > tol)
    for _ in range(max_iter):
        idx = np.nonzero(live)[0]
        if idx.size == 0:
            break
        steps[idx] += 1
        delta = _newton_step(jac[idx], r[idx])
        t = np.ones(idx.size)
        pending = np.all(np.isfinite(delta), axis=1)
        moved = np.zeros(idx.size, dtype=bool)
        while np.any(pending):
            sel = np.nonzero(pending)[0]
            rows = idx[sel]
            trial = z[rows] + t[sel, None] * delta[sel]
            r_t, jac_t, err_t = _evaluate(trial, q_log[rows], beta[rows], levels, obj, max_terms)
            better = err_t < err[rows]
            won = rows[better]
            z[won], r[won], jac[won], err[won] = trial[better], r_t[better], jac_t[better], err_t[better]
            moved[sel[better]] = True
            pending[sel[better]] = False
            t[sel[~better]] *= 0.5
            # at max |R| < 1e-12 a full step either lands or the row sits at its rounding
            # floor: shorter steps could only move z by rounding, so they are not tried
            pending &= (t > min_step) & ((t == 1.0) | (err[idx] >= _ROUNDING_ZONE))
        live[idx] = moved & (err[idx] > tol)
    return z, err, steps


def _continuation_batch(
    z0: NDArray[np.float64], q_log: NDArray[np.float64], beta: NDArray[np.float64],
    levels: NDArray[np.float64], obj: Objective, max_terms: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Follow each row's branch from π_ref (large β) down to its β, all rows together.

    Row by row the per-problem :func:`gvpo_theory.level_solver._continuation`: from
    β_hi = max(β, 10·max(max_l |a_l(π_ref)|, 1)), steps in log β of a tenth of the way,
    a secant predictor, at most 8 Newton steps per corrector (each step halved at most six
    times: a corrector that needs more has overshot and fails), the step × 1.5 after a
    success (max |R| ≤ 1e-10) and × 0.5 after a failure. A row whose step falls below 1e-4
    (the branch folds) or that fails 40 times gets max |R| = inf: the per-problem solver
    decides it (its rounding-floor acceptance and flow fallback are not repeated here).
    """
    _, m0 = _softmax0(z0)
    a0, _ = advantages_and_jacobian(m0, levels, obj, max_terms)
    b_hi = np.maximum(beta, 10.0 * np.maximum(np.max(np.abs(a0), axis=1), 1.0))
    z, err, total = _newton_batch(z0, q_log, b_hi, levels, obj, max_terms, 1e-12, 50)
    lb, lb_target = np.log(b_hi), np.log(beta)
    step = (lb - lb_target) / 10.0
    prev_z, prev_lb = z.copy(), np.full(z.shape[0], np.nan)
    failures = np.zeros(z.shape[0], dtype=np.int64)
    alive = err <= 1e-10
    while True:
        idx = np.nonzero(alive & (lb > lb_target) & (step > 1e-4) & (failures < 40))[0]
        if idx.size == 0:
            break
        lb_new = np.maximum(lb_target[idx], lb[idx] - step[idx])
        have = np.isfinite(prev_lb[idx])
        slope = np.where(have, (lb[idx] - lb_new) / np.where(have, prev_lb[idx] - lb[idx], 1.0), 0.0)
        guess = z[idx] + (z[idx] - prev_z[idx]) * slope[:, None]
        z_new, e_new, it = _newton_batch(guess, q_log[idx], np.exp(lb_new), levels, obj, max_terms,
                                         1e-12, 8, _CORRECTOR_MIN_STEP)
        total[idx] += it
        good = e_new <= 1e-10
        win = idx[good]
        prev_z[win], prev_lb[win] = z[win], lb[win]
        z[win], lb[win] = z_new[good], lb_new[good]
        step[win] *= 1.5
        step[idx[~good]] *= 0.5
        failures[idx[~good]] += 1
    idx = np.nonzero(alive & ~(lb > lb_target))[0]
    z_f, e_f, it = _newton_batch(z[idx], q_log[idx], beta[idx], levels, obj, max_terms, 1e-15, 10)
    z[idx], total[idx] = z_f, total[idx] + it
    err = np.full(z.shape[0], np.inf)
    err[idx] = e_f
    return z, err, total


def _polish_batch(
    w: NDArray[np.float64], q_ref: NDArray[np.float64], beta: NDArray[np.float64],
    levels: NDArray[np.float64], obj: Objective, max_terms: int,
) -> NDArray[np.float64]:
    """Newton on F(w) = w_l·(1 − a_l(w)/β) − Q_l (k3 penalty), every row at once.

    Row by row :func:`gvpo_theory.level_solver._polish_profiles` for deterministic rewards:
    at most 12 least-squares steps on the simplex (w_0 = 1 − Σ_{l>0} w_l), each kept only if
    it leaves every mass positive and lowers max |F|; a row stops at max |F| ≤ 1e-17.
    """
    n_lev = w.shape[1]
    dw_dz = np.vstack([-np.ones((1, n_lev - 1)), np.eye(n_lev - 1)])

    def f(x: NDArray[np.float64], q: NDArray[np.float64], b: NDArray[np.float64]):
        a, ja = advantages_and_jacobian(x, levels, obj, max_terms)
        with np.errstate(over="ignore", invalid="ignore"):
            r = x * (1.0 - a / b[:, None]) - q
            jac = (np.eye(n_lev)[None] * (1.0 - a / b[:, None])[:, :, None]
                   - x[:, :, None] * ja / b[:, None, None]) @ dw_dz
            e = np.max(np.abs(r), axis=1)
        return r, jac, np.where(np.isfinite(e), e, np.inf)

    x = w.copy()
    r, jac, err = f(x, q_ref, beta)
    live = err > 1e-17
    for _ in range(12):
        idx = np.nonzero(live)[0]
        if idx.size == 0:
            break
        step = _newton_step(jac[idx], r[idx])
        trial = x[idx] + step @ dw_dz.T
        positive = np.all(trial > 0, axis=1)  # NaN steps fail this too
        sel = idx[positive]
        trial = trial[positive]
        trial /= trial.sum(axis=1, keepdims=True)
        r_t, jac_t, e_t = f(trial, q_ref[sel], beta[sel])
        better = e_t < err[sel]
        won = sel[better]
        x[won], r[won], jac[won], err[won] = trial[better], r_t[better], jac_t[better], e_t[better]
        live[:] = False
        live[won] = err[won] > 1e-17
    return x


def solve_levels_batch(
    q_ref: NDArray[np.float64], structure: RewardStructure, beta: NDArray[np.float64],
    obj: Objective, max_terms: int = MAX_TERMS,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """Level masses w (B, L), Newton steps (B,) and ok (B,) for B problems sharing a structure.

    ``q_ref`` (B, L): each problem's π_ref mass per level; ``beta`` (B,). Requires
    :func:`batch_covers`. Rows with a level of zero π_ref mass, and rows the batched Newton
    leaves above :data:`BATCH_ACCEPT`, are solved by :func:`~gvpo_theory.level_solver.solve_levels`
    (module docstring).
    """
    n = q_ref.shape[0]
    w = np.empty_like(q_ref)
    iters = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    full = np.nonzero(np.all(q_ref > 0, axis=1))[0]
    for start in range(0, full.size, _CHUNK):
        rows = full[start : start + _CHUNK]
        q_log, b = np.log(q_ref[rows]), beta[rows]
        z0 = q_log[:, 1:] - q_log[:, :1]
        z, err, steps = _newton_batch(z0, q_log, b, structure.levels, obj, max_terms, 1e-15, _MAX_ITER)
        retry = np.nonzero(~(err <= BATCH_ACCEPT))[0]
        if retry.size:
            z_c, err_c, steps_c = _continuation_batch(z0[retry], q_log[retry], b[retry],
                                                      structure.levels, obj, max_terms)
            z[retry], err[retry], steps[retry] = z_c, err_c, steps[retry] + steps_c
        good = err <= BATCH_ACCEPT
        _, m = _softmax0(z[good])
        if type(obj.penalty) is ReverseKL:
            m = _polish_batch(m, q_ref[rows[good]], b[good], structure.levels, obj, max_terms)
        w[rows[good]] = m
        iters[rows[good]] = steps[good]
        ok[rows[good]] = True
        done[rows[good]] = True
    for i in np.nonzero(~done)[0]:
        wi, it, oki = solve_levels(q_ref[i], structure, float(beta[i]), obj)
        w[i], iters[i], ok[i] = wi, it, oki
    return w, iters, ok


def solve_level_problems(
    q_ref: NDArray[np.float64], structure: RewardStructure, beta: NDArray[np.float64],
    obj: Objective, max_terms: int = MAX_TERMS,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_], str]:
    """(w (B, S), steps (B,), ok (B,), method) for B problems sharing one reward structure of
    three or more levels or noisy profiles: the affine root where the preference model is affine
    in the reward, the batched Newton where :func:`batch_covers` says so (two or more
    problems), else one :func:`~gvpo_theory.level_solver.solve_levels` per problem."""
    if affine_covers(obj):
        solved = [solve_affine(qi, structure, float(bi), obj) for qi, bi in zip(q_ref, beta)]
        method = "affine-root"
    elif q_ref.shape[0] > 1 and batch_covers(structure, obj, max_terms):
        w, iters, ok = solve_levels_batch(q_ref, structure, beta, obj, max_terms)
        return w, iters, ok, "level-newton (batched)"
    else:
        solved = [
            solve_levels(qi, structure, float(bi), obj, large_group_start(qi, structure, float(bi), obj))
            for qi, bi in zip(q_ref, beta)
        ]
        method = "level-newton"
    w = np.asarray([sol[0] for sol in solved]).reshape(q_ref.shape[0], structure.n_profiles)
    iters = np.asarray([sol[1] for sol in solved], dtype=np.int64)
    ok = np.asarray([sol[2] for sol in solved], dtype=bool)
    return w, iters, ok, method
