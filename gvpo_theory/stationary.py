"""Stationary policies of GRPO, solved in reward-level space (docs/theory.md §3, §4b).

At a stationary point of GRPO the old and current policies coincide and the expected
ascent direction on every softmax logit vanishes (``dynamics.grpo_expected_update``):

    reverse KL (k3 estimator, GRPO as published):
        π(o) = π_ref(o) / (1 − P_G(o | π)/β),  with P_G(o | π) < β where π_ref(o) > 0;
    direct KL (k1, KL(π ‖ π_ref)):
        π(o) ∝ π_ref(o)·exp(P_G(o | π)/β).

(Vojnovic & Yun, 2025, the stationarity conditions of sections 2–3; the direct-KL and
no-std variants of their section 4.) P_G depends on π only through the reward-level
mixture m (level masses q_l for deterministic rewards), so the fixed point is a system
in the L level masses, not in the K outputs: K = 10^6 costs what K = 2 costs.

Solvers (all verified afterwards against the fixed point recomputed from the returned
policy with :func:`~gvpo_theory.preference.preference_model`):

* binary deterministic rewards, every batch element at once: bisection on the logit
  x = log(q_1/q_0) over [−700, 700] to full double precision, using the sign of
  q_1·(1 − a_1/β) − Q_1 (reverse KL) or of x − log(Q_1/Q_0) − (a_1 − a_0)/β
  (direct KL). Bracketed, so it cannot diverge for small β or large G.
* everything else: Gauss–Newton with step-halving on log m − log T(m), where
  T(m) = Σ_s w_s(m)·D_s is the level mixture the fixed point maps m to, globalised
  by continuation in β from a β where the answer is ≈ π_ref.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

from .preference import (
    MAX_TERMS,
    level_advantages,
    level_advantages_jacobian,
    profile_preferences,
)
from .problem import (
    PENALTIES,
    STD_MODES,
    RewardDistribution,
    Rewards,
    RewardStructure,
    as_float_array,
    check_beta,
    check_choice,
    check_distribution,
    check_eps,
    check_group_size,
    split_rewards,
)

#: A solution is reported ``converged`` when the fixed point holds to this tolerance.
FIXED_POINT_TOL = 1e-10

#: Rounding slack allowed on the check 1 − P/β > 0.
DENOMINATOR_SLACK = 1e-12

_X_BRACKET = 700.0  # exp(-700) ~ 1e-304: both level masses stay positive


@dataclass(frozen=True)
class StationaryResult:
    """A GRPO stationary policy and its diagnostics (cf. scipy's OptimizeResult).

    Attributes:
        policy: the stationary policy π, shape (..., K).
        level_masses: the reward-level mixture m = Σ_o π(o)·D_o at π, shape (..., L)
            (for deterministic rewards: the mass of each reward level). A tuple with
            one array per problem when the batch has per-problem rewards.
        levels: the reward levels (L,) (a tuple per problem in the per-problem case).
        preference: P_G(o | π) at the solution, shape (..., K).
        residual: max_o of the fixed-point violation, recomputed from ``policy``:
            |π(o)·(1 − P_G(o|π)/β) − π_ref(o)| (reverse KL) or
            |π(o) − π_ref(o)·exp(P_G(o|π)/β)/Z| (direct KL); shape (...).
        log_residual: the same violation in log space over the support of π_ref (a
            diagnostic: where π_ref(o) is tiny and 1 − P/β ≈ π_ref(o)/π(o) underflows
            relative to 1, it cannot be resolved in double precision).
        min_denominator: min over the support of 1 − P_G(o|π)/β (must be > 0 for the
            reverse-KL fixed point; reported as 1 for direct KL, where it plays no role).
        converged: the solver bracketed/converged, residual <= ``tol`` and
            min_denominator > 0, shape (...). False also flags problems with no
            interior stationary point (direct KL with G = ∞ and small β, where GRPO
            drifts to a deterministic policy).
        iterations: solver iterations (bisection steps or Newton steps), shape (...).
        method: which solver ran.
    """

    policy: NDArray[np.float64]
    level_masses: NDArray[np.float64] | tuple[NDArray[np.float64], ...]
    levels: NDArray[np.float64] | tuple[NDArray[np.float64], ...]
    preference: NDArray[np.float64]
    residual: NDArray[np.float64]
    log_residual: NDArray[np.float64]
    min_denominator: NDArray[np.float64]
    converged: NDArray[np.bool_]
    iterations: NDArray[np.int64]
    method: str


# --------------------------------------------------------------------------- binary


def _sigmoid_pair(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """[q_0, q_1] = [σ(−x), σ(x)] with each entry accurate near 0 and 1."""
    return np.stack([np.exp(-np.logaddexp(0.0, x)), np.exp(-np.logaddexp(0.0, -x))], axis=-1)


def _binary_sign(
    x: NDArray, q_ref: NDArray, levels: NDArray, beta: NDArray, group_size, std, eps, penalty
) -> NDArray:
    m = _sigmoid_pair(x)
    a = level_advantages(m, levels, group_size, std, eps)
    if penalty == "reverse_kl":
        # q1·(1 − a1/β) − Q1 = Q0 − q0·(1 − a0/β) (since Σ_l q_l·a_l = 0), increasing in x
        # at a simple root. Written on the lighter level: Q = 1 − 1e-20 rounds to 1.
        upper = m[..., 1] * (1.0 - a[..., 1] / beta) - q_ref[..., 1]
        lower = q_ref[..., 0] - m[..., 0] * (1.0 - a[..., 0] / beta)
        return np.where(q_ref[..., 1] <= q_ref[..., 0], upper, lower)
    return x - (np.log(q_ref[..., 1]) - np.log(q_ref[..., 0])) - (a[..., 1] - a[..., 0]) / beta


def _solve_binary(
    q_ref: NDArray, levels: NDArray, beta: NDArray, group_size, std, eps, penalty
) -> tuple[NDArray, NDArray, NDArray]:
    """Vectorised bracketed root finding for two-level problems: (m, iterations, ok)."""
    interior = (q_ref[..., 0] > 0) & (q_ref[..., 1] > 0)
    qi = np.where(interior[..., None], q_ref, 0.5)
    width = np.full(qi.shape[:-1], _X_BRACKET)
    if penalty == "direct_kl" and (not math.isinf(group_size) or std == "none"):
        # Direct KL puts x = logit Q + (a1 − a0)/β, which exceeds ±700 for small β (the
        # worse level's mass underflows to 0, correctly). |a1 − a0| is largest for a lone
        # member (m at a vertex), so this bracket contains every root. (G = ∞ with a std
        # has unbounded advantages near the vertices: the grid search below handles it.)
        ends = level_advantages(np.eye(2), levels, group_size, std, eps)
        spread = float(np.max(np.abs(ends[:, 1] - ends[:, 0])))
        with np.errstate(divide="ignore"):
            logit_q = np.abs(np.log(qi[..., 1]) - np.log(qi[..., 0]))
        width = np.maximum(width, logit_q + 2.0 * spread / np.broadcast_to(beta, width.shape) + 50.0)
    lo, hi = -width, width.copy()
    f_lo = _binary_sign(lo, qi, levels, beta, group_size, std, eps, penalty)
    f_hi = _binary_sign(hi, qi, levels, beta, group_size, std, eps, penalty)
    ok = (f_lo < 0) & (f_hi > 0)
    if penalty == "direct_kl" and np.any(~ok & interior):
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
            vals = _binary_sign(grid, qf[i], levels, bf[i], group_size, std, eps, penalty)
            pos = np.nonzero(vals > 0)[0]
            if pos.size:
                flat_hi[i] = grid[pos[0]]
                flat_ok[i] = True
        hi, ok = flat_hi.reshape(hi.shape), flat_ok.reshape(ok.shape)
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
            x[active], qi[active], levels, beta_b[active], group_size, std, eps, penalty
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


# --------------------------------------------------------------------------- general


@dataclass(frozen=True)
class _Problem:
    """One reduced problem: positive-mass profiles over reachable levels."""

    q_log: NDArray[np.float64]  # log Q_s, (S,)
    dist: NDArray[np.float64]  # D_s over reachable levels, (S, L)
    log_dist: NDArray[np.float64]
    levels: NDArray[np.float64]  # (L,)
    group_size: float | int
    std: str
    eps: float
    penalty: str


def _residual(
    z: NDArray[np.float64], pb: _Problem, beta: float, want_jacobian: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None] | None:
    """R(z) = log m − log T(m) for m = softmax([0, z]), and dR/dz; None where T is undefined.

    T(m) = Σ_s w_s(m)·D_s with w_s = Q_s/(1 − P_s/β) (reverse KL) or
    w ∝ Q·exp(P/β) (direct KL) and P_s = Σ_l D_s(l)·a_l(m). R = 0 exactly at a
    stationary point. The Jacobian is analytic (see level_advantages_jacobian).
    """
    logits = np.concatenate([[0.0], z])
    log_m = logits - logsumexp(logits)
    m = np.exp(log_m)
    a = level_advantages(m, pb.levels, pb.group_size, pb.std, pb.eps)
    pref = pb.dist @ a
    if pb.penalty == "reverse_kl":
        den = 1.0 - pref / beta
        if np.any(den <= 0):
            return None
        log_w = pb.q_log - np.log(den)
    else:
        u = pb.q_log + pref / beta
        log_w = u - logsumexp(u)
    log_t = logsumexp(log_w[:, None] + pb.log_dist, axis=0)
    r = log_m - log_t
    if not np.all(np.isfinite(r)):
        return None
    if not want_jacobian:
        return r, None
    n_lev = m.size
    dm = (np.diag(m) - np.outer(m, m))[:, 1:]
    dlogm = np.eye(n_lev)[:, 1:] - m[None, 1:]
    ja = level_advantages_jacobian(m, pb.levels, pb.group_size, pb.std, pb.eps)
    dpref = pb.dist @ (ja @ dm)
    if pb.penalty == "reverse_kl":
        dlogw = dpref / (beta * den)[:, None]
    else:
        dlogw = (dpref - np.exp(log_w) @ dpref) / beta
    # d log T_l = Σ_s (w_s·D_s(l)/T_l)·d log w_s, with the weights formed in the log domain
    share = np.exp(pb.log_dist + log_w[:, None] - log_t[None, :])
    jac = dlogm - share.T @ dlogw
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(jac))):
        return None
    return r, jac


def _newton(
    z: NDArray[np.float64], pb: _Problem, beta: float, tol: float, max_iter: int
) -> tuple[NDArray[np.float64], float, int]:
    """Newton (least squares on the L × (L − 1) system) with step halving on ‖R‖."""
    out = _residual(z, pb, beta, True)
    if out is None:
        return z, math.inf, 0
    r, jac = out
    err = float(np.max(np.abs(r)))
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        if err <= tol:
            break
        delta = np.linalg.lstsq(jac, -r, rcond=None)[0]
        t, improved = 1.0, False
        while t > 1e-8:
            trial = _residual(z + t * delta, pb, beta, False)
            if trial is not None and float(np.max(np.abs(trial[0]))) < err:
                z = z + t * delta
                r = trial[0]
                err = float(np.max(np.abs(r)))
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        if err > tol:
            full = _residual(z, pb, beta, True)
            if full is None:
                break
            jac = full[1]
    return z, err, it


#: Newton accepts a point when max |log m − log T(m)| is below this (double-precision
#: floor: P/β is formed with relative error ~1e-16·|P|/β).
_ACCEPT = 1e-10


def _continuation(
    pb: _Problem, beta: float, z0: NDArray[np.float64], a_scale: float
) -> tuple[NDArray[np.float64], float, int]:
    """Follow the branch that starts at π_ref (large β) down to the target β.

    Secant predictor in log β, Newton corrector, adaptive step (halved on failure).
    """
    b_hi = max(beta, 10.0 * max(a_scale, 1.0))
    z, err, total = _newton(z0, pb, b_hi, _ACCEPT * 1e-2, 50)
    if err > _ACCEPT:
        return z, err, total
    lb, lb_target = math.log(b_hi), math.log(beta)
    step = (lb - lb_target) / 10.0
    prev: tuple[float, NDArray[np.float64]] | None = None
    failures = 0
    # A step below 1e-4 in log β means the branch folds back (a saddle-node: the
    # stationary point that π_ref continues into disappears); give up and let the
    # caller fall back to the GRPO flow.
    while lb > lb_target and step > 1e-4 and failures < 40:
        lb_new = max(lb_target, lb - step)
        guess = z if prev is None else z + (z - prev[1]) * (lb - lb_new) / (prev[0] - lb)
        z_new, e_new, it = _newton(guess, pb, math.exp(lb_new), _ACCEPT * 1e-2, 8)
        total += it
        if e_new <= _ACCEPT or (
            e_new < 1e-3 and e_new <= _rounding_floor(z_new, pb, math.exp(lb_new))
        ):
            prev, z, lb = (lb, z), z_new, lb_new
            step *= 1.5
        else:
            step *= 0.5
            failures += 1
    if lb > lb_target:
        return z, math.inf, total
    z, err, it = _newton(z, pb, beta, 1e-15, 10)
    return z, err, total + it


def _natural_flow(
    pb: _Problem, beta: float, t_max: float = 1e8
) -> NDArray[np.float64]:
    """Integrate the GRPO natural-gradient flow in profile space from π_ref; return z of m.

    dy_s/dt = P_s(w) − β·(1 − Q_s/w_s) (reverse KL) or P_s − β·(log(w_s/Q_s) − KL)
    (direct KL), w = softmax(y): the per-output expected GRPO update divided by π(o),
    whose rest points are the stationary points. Used when continuation fails (a fold
    in β): it lands where GRPO itself settles from π_ref.
    """
    q = np.exp(pb.q_log)

    def rhs(_t: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        log_w = y - logsumexp(y)
        w = np.exp(log_w)
        pref = pb.dist @ level_advantages(w @ pb.dist, pb.levels, pb.group_size, pb.std, pb.eps)
        if pb.penalty == "reverse_kl":
            return pref - beta * (1.0 - np.exp(pb.q_log - log_w))
        kl = float(w @ (log_w - pb.q_log))
        return pref - beta * (log_w - pb.q_log - kl)

    def settled(_t: float, y: NDArray[np.float64]) -> float:
        return float(np.max(np.abs(rhs(_t, y)))) - 1e-7

    settled.terminal = True  # type: ignore[attr-defined]
    # The flow only has to deliver a start inside the basin of the stationary point it
    # settles at; level Newton (then the polish) finishes to rounding, so moderate
    # tolerances suffice and cut the cost of stiff problems several-fold.
    sol = solve_ivp(rhs, (0.0, t_max), pb.q_log.copy(), method="Radau", rtol=1e-7, atol=1e-10,
                    events=settled)
    y = sol.y[:, -1]
    del q
    # log m in the log domain: a level mass that underflows (small β) stays finite here.
    log_m = logsumexp((y - logsumexp(y))[:, None] + pb.log_dist, axis=0)
    return log_m[1:] - log_m[0]


def _rounding_floor(z: NDArray[np.float64], pb: _Problem, beta: float) -> float:
    """The log residual double precision can resolve at z: ~ε·|P/β| / (1 − P/β) per profile.

    Where 1 − P_s/β ≈ Q_s/w_s is tiny (β = 1e-4, a best level with π_ref mass 1e-9), the
    rounding of P/β alone moves log w_s by ε·|P_s/β|/(1 − P_s/β) ~ 1e-7, so no iterate can
    beat that; the policy is then judged by its absolute fixed-point residual instead.
    """
    logits = np.concatenate([[0.0], z])
    m = np.exp(logits - logsumexp(logits))
    ratio = (pb.dist @ level_advantages(m, pb.levels, pb.group_size, pb.std, pb.eps)) / beta
    eps = float(np.finfo(np.float64).eps)
    if pb.penalty == "reverse_kl":
        den = 1.0 - ratio
        if np.any(den <= 0):
            return 0.0
        return float(64.0 * eps * np.max((1.0 + np.abs(ratio)) / den))
    return float(64.0 * eps * (1.0 + np.max(np.abs(ratio))))


def _solve_general(
    q_ref: NDArray, structure: RewardStructure, beta: float, group_size, std, eps, penalty
) -> tuple[NDArray, int, bool]:
    """Level mixture m at the stationary point of one problem (profile masses q_ref)."""
    keep = q_ref > 0
    dist = structure.dist[keep]
    reach = dist.sum(axis=0) > 0
    dist = dist[:, reach]
    m_full = np.zeros(structure.n_levels)
    if int(reach.sum()) == 1:
        m_full[reach] = 1.0
        return m_full, 0, True
    if structure.deterministic and int(reach.sum()) == 2:
        # only two levels carry π_ref mass: the bracketed binary solver is exact there
        m2, iters, ok = _solve_binary(
            q_ref[keep], structure.levels[reach], np.asarray(beta), group_size, std, eps, penalty
        )
        m_full[reach] = m2
        return m_full, int(iters), bool(ok)
    with np.errstate(divide="ignore"):
        log_dist = np.log(dist)
    pb = _Problem(np.log(q_ref[keep]), dist, log_dist, structure.levels[reach], group_size, std,
                  eps, penalty)
    m0 = np.exp(pb.q_log) @ dist
    z0 = np.log(m0[1:]) - np.log(m0[0])
    z, err, total = _newton(z0, pb, beta, 1e-15, 50)
    if err > _ACCEPT:
        a_scale = float(np.max(np.abs(level_advantages(m0, pb.levels, group_size, std, eps))))
        z, err, it = _continuation(pb, beta, z0, a_scale)
        total += it
    polish = structure.deterministic and penalty == "reverse_kl"
    if err > _ACCEPT and polish and err < 1e-3:
        # Close, but stalled at the log-space rounding floor (a tiny 1 − P/β): finish on
        # the well-scaled multiplied-out equations instead of integrating the flow.
        m, polished = _polish_levels(_softmax0(z), pb, beta)
        if polished:
            m_full[reach] = m
            return m_full, total, True
    if err > _ACCEPT:
        z, err, it = _newton(_natural_flow(pb, beta), pb, beta, 1e-15, 50)
        total += it
    ok = err <= max(_ACCEPT, _rounding_floor(z, pb, beta))
    m = _softmax0(z)
    if polish:
        m, polished = _polish_levels(m, pb, beta)
        ok = ok or polished
    m_full[reach] = m
    return m_full, total, bool(ok)


def _softmax0(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Level masses m = softmax([0, z])."""
    logits = np.concatenate([[0.0], z])
    return np.exp(logits - logsumexp(logits))


def _polish_levels(m: NDArray[np.float64], pb: _Problem, beta: float) -> tuple[NDArray[np.float64], bool]:
    """Newton on the multiplied-out level equations F_l(q) = q_l·(1 − a_l(q)/β) − Q_l.

    Deterministic rewards, reverse KL. The log-space system divides by 1 − a_l/β, which is
    ~Q_l/q_l and can be 1e-12 for a best level with a tiny π_ref mass; F is well scaled
    there (its Jacobian is O(1)), so a few steps from the log-space answer bring the level
    masses to ~1e-16 absolute, which the verification of 1 − P/β > 0 needs. Returns
    (q, |F| <= 1e-14). Σ_l F_l = −Σ_l q_l·a_l/β = 0 on the simplex, so q_0 = 1 − Σ_{l>0} q_l.
    """
    q_ref = np.exp(pb.q_log)
    n = m.size
    dq_dz = np.vstack([-np.ones((1, n - 1)), np.eye(n - 1)])

    def f(q: NDArray[np.float64]) -> NDArray[np.float64]:
        a = level_advantages(q, pb.levels, pb.group_size, pb.std, pb.eps)
        return q * (1.0 - a / beta) - q_ref

    q = m.copy()
    r = f(q)
    err = float(np.max(np.abs(r)))
    for _ in range(8):
        if err <= 1e-17 or np.any(q <= 0):
            break
        a = level_advantages(q, pb.levels, pb.group_size, pb.std, pb.eps)
        ja = level_advantages_jacobian(q, pb.levels, pb.group_size, pb.std, pb.eps)
        jac = (np.diag(1.0 - a / beta) - q[:, None] * ja / beta) @ dq_dz
        step = np.linalg.lstsq(jac, -r, rcond=None)[0]
        trial = q + dq_dz @ step
        if np.any(trial <= 0):
            break
        trial /= trial.sum()
        r_trial = f(trial)
        e_trial = float(np.max(np.abs(r_trial)))
        if not e_trial < err:
            break
        q, r, err = trial, r_trial, e_trial
    return q, err <= 1e-14


# --------------------------------------------------------------------------- policy


def _policy_from_mixture(
    pi_ref: NDArray, q_ref: NDArray, structure: RewardStructure, m: NDArray, beta: NDArray,
    group_size, std, eps, penalty,
) -> NDArray:
    """π from the solved mixture: π_ref reweighted profile by profile.

    For deterministic rewards the weight of level l is exactly q_l/Q_l (one multiply per
    output), which stays accurate where 1 − P/β underflows relative to 1 (tiny π_ref,
    G = ∞). Otherwise the weights 1/(1 − P_s/β) or exp(P_s/β)/Z are formed per profile.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if structure.deterministic:
            weight = np.where(q_ref > 0, m / np.where(q_ref > 0, q_ref, 1.0), 0.0)
        else:
            a = level_advantages(m, structure.levels, group_size, std, eps)
            pref = a @ structure.dist.T
            if penalty == "reverse_kl":
                den = 1.0 - pref / beta[..., None]
                weight = np.where((q_ref > 0) & (den > 0), 1.0 / np.where(den > 0, den, 1.0), 0.0)
            else:
                log_w = np.where(q_ref > 0, pref / beta[..., None], -np.inf)
                log_w = log_w - np.max(log_w, axis=-1, keepdims=True)
                weight = np.exp(log_w)
    pi = pi_ref * weight[..., structure.profile_of]
    total = pi.sum(axis=-1, keepdims=True)
    return pi / np.where(total > 0, total, 1.0)


def fixed_point_violation(
    pi: NDArray, pi_ref: NDArray, q_ref: NDArray, pref: NDArray, profile_of: NDArray,
    beta: NDArray, penalty: str,
) -> tuple[NDArray, NDArray, NDArray]:
    """(max absolute violation, max log violation, min 1 − P/β) of the fixed point.

    ``pref`` (..., S) is P_G per reward profile, computed from ``pi`` itself; ``q_ref``
    (..., S) the π_ref mass of each profile (it normalises the direct-KL target). The
    log violation is max |log1p(relative violation)| over the support of π_ref.
    """
    b = beta[..., None]
    support = pi_ref > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if penalty == "reverse_kl":
            den_s = 1.0 - pref / b
            gap = pi * den_s[..., profile_of] - pi_ref
            rel = np.where(support, gap / np.where(support, pi_ref, 1.0), 0.0)
            min_den = np.min(np.where(q_ref > 0, den_s, np.inf), axis=-1)
        else:
            log_un = np.where(q_ref > 0, np.log(np.where(q_ref > 0, q_ref, 1.0)) + pref / b, -np.inf)
            factor = np.exp(pref / b - logsumexp(log_un, axis=-1, keepdims=True))
            # profiles off the support of π_ref get no mass (0·inf would be NaN)
            factor = np.where(q_ref > 0, factor, 0.0)
            target = pi_ref * factor[..., profile_of]
            gap = pi - target
            rel = np.where(support, gap / np.where(support, target, 1.0), 0.0)
            min_den = np.ones(pi.shape[:-1])
        hi_rel, lo_rel = np.max(rel, axis=-1), np.min(rel, axis=-1)
        log_gap = np.maximum(np.abs(np.log1p(hi_rel)), np.abs(np.log1p(np.maximum(lo_rel, -1.0))))
    log_gap = np.where(np.isnan(log_gap), np.inf, log_gap)
    return np.max(np.abs(gap), axis=-1), log_gap, min_den


def grpo_stationary_policy(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: ArrayLike,
    group_size: float | int,
    std: str = "population",
    penalty: str = "reverse_kl",
    eps: float = 0.0,
    *,
    tol: float = FIXED_POINT_TOL,
    max_terms: int = MAX_TERMS,
) -> StationaryResult:
    """The GRPO stationary policy for π_ref, rewards, β and G (docs/theory.md §3).

    Args:
        pi_ref: reference policy π_ref, shape (..., K).
        rewards: r(o), shape (K,) or (..., K), or a RewardDistribution (docs/theory.md §4b).
        beta: β > 0; broadcasts against the batch axes of ``pi_ref``.
        group_size: G >= 2 or ``math.inf``.
        std: ``"population"`` (the paper's eq. (2)), ``"sample"`` (torch.std, as in
            TRL and verl) or ``"none"`` (no scale normalisation, Dr. GRPO).
        penalty: ``"reverse_kl"`` — GRPO's k3 estimator π_ref/π − log(π_ref/π) − 1,
            which the paper shows acts as a reverse KL; ``"direct_kl"`` — KL(π ‖ π_ref).
        eps: added to the group std.
        tol: the fixed-point tolerance behind ``converged``.

    Returns:
        :class:`StationaryResult`. Checks (tested): ``std="none"`` with
        ``penalty="direct_kl"`` is logarithmic pooling with β' = G·β/(G − 1); G = 2 and
        G = ∞ binary problems match the closed forms of :mod:`gvpo_theory.binary`.
    """
    p = check_distribution(pi_ref, "pi_ref")
    b = check_beta(beta)
    g = check_group_size(group_size)
    check_choice(std, "std", STD_MODES)
    check_choice(penalty, "penalty", PENALTIES)
    e = check_eps(eps)
    try:
        batch = np.broadcast_shapes(p.shape[:-1], b.shape)
    except ValueError as exc:
        raise ValueError(
            f"beta shape {b.shape} does not broadcast with the batch axes of pi_ref "
            f"{p.shape[:-1]}"
        ) from exc
    p = np.broadcast_to(p, (*batch, p.shape[-1]))
    b = np.broadcast_to(b, batch).astype(np.float64)
    shared, per_problem = split_rewards(rewards, batch, p.shape[-1])
    opts = (g, std, e, penalty)
    if shared is None and not isinstance(rewards, RewardDistribution):
        collapsed = _solve_collapsed(p, rewards, b, opts, tol, max_terms)
        if collapsed is not None:
            return collapsed
    if shared is not None:
        out = _solve_structure(p, b, shared, opts, max_terms)
        level_masses: NDArray | tuple = out["level_masses"]
        levels: NDArray | tuple = shared.levels
        pi, pref = out["policy"], out["preference"]
        residual, log_residual, min_den = out["residual"], out["log_residual"], out["min_den"]
        solver_ok, iters, method = out["ok"], out["iterations"], out["method"]
    else:
        flat_p, flat_b = p.reshape(-1, p.shape[-1]), b.reshape(-1)
        parts = [
            _solve_structure(flat_p[i], flat_b[i], st, opts, max_terms)
            for i, st in enumerate(per_problem)
        ]

        def stack(key: str) -> NDArray:
            return np.asarray([part[key] for part in parts]).reshape(batch)

        pi = np.asarray([part["policy"] for part in parts]).reshape(p.shape)
        pref = np.asarray([part["preference"] for part in parts]).reshape(p.shape)
        residual, log_residual, min_den = stack("residual"), stack("log_residual"), stack("min_den")
        solver_ok, iters = stack("ok").astype(bool), stack("iterations").astype(np.int64)
        level_masses = tuple(part["level_masses"] for part in parts)
        levels = tuple(st.levels for st in per_problem)
        method = "per-problem: " + ", ".join(sorted({part["method"] for part in parts}))

    # 1 − P/β is verified up to rounding: where π_ref(o) ≪ π(o) it is ≈ π_ref/π ≪ 1e-16.
    converged = solver_ok & (residual <= tol) & (min_den > -DENOMINATOR_SLACK)
    return StationaryResult(
        policy=pi,
        level_masses=level_masses,
        levels=levels,
        preference=pref,
        residual=residual,
        log_residual=log_residual,
        min_denominator=min_den,
        converged=np.asarray(converged),
        iterations=np.asarray(iters),
        method=method,
    )


#: Per-problem deterministic rewards whose values come from at most this many distinct
#: levels overall are solved as one vectorised level-space batch.
COLLAPSE_MAX_LEVELS = 16


def _solve_collapsed(
    p: NDArray, rewards: ArrayLike, b: NDArray, opts: tuple, tol: float, max_terms: int
) -> StationaryResult | None:
    """Per-problem deterministic rewards drawn from a small common set of values.

    Every problem is rewritten over the union of reward levels: its π_ref becomes the
    level masses Q (..., L), zero on the levels it does not use. Those level problems
    share one reward structure, so they are solved together (vectorised), and each
    output gets π(o) = π_ref(o)·q_l/Q_l (docs/theory.md §3: π is π_ref re-weighted level by
    level). The fixed-point residual is then recomputed on the full policy.
    """
    g, std, e, penalty = opts
    r = np.broadcast_to(as_float_array(rewards, "rewards"), p.shape)
    levels, inverse = np.unique(r, return_inverse=True)
    if levels.size > COLLAPSE_MAX_LEVELS or levels.size < 2:
        return None
    inverse = inverse.reshape(r.shape)
    one_hot = inverse[..., None] == np.arange(levels.size)
    q_ref = np.einsum("...k,...kl->...l", p, one_hot)
    sub = grpo_stationary_policy(q_ref, levels, b, g, std, penalty, e, tol=tol, max_terms=max_terms)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q_ref > 0, sub.policy / np.where(q_ref > 0, q_ref, 1.0), 0.0)
    pi = p * np.take_along_axis(ratio, inverse, axis=-1)
    pref = np.take_along_axis(sub.preference, inverse, axis=-1)
    # verify on the full policy, each output its own profile
    residual, log_residual, min_den = fixed_point_violation(
        pi, p, p, pref, np.arange(p.shape[-1]), b, penalty
    )
    converged = sub.converged & (residual <= tol) & (min_den > -DENOMINATOR_SLACK)
    return StationaryResult(
        policy=pi,
        level_masses=sub.level_masses,
        levels=levels,
        preference=pref,
        residual=residual,
        log_residual=log_residual,
        min_denominator=min_den,
        converged=np.asarray(converged),
        iterations=sub.iterations,
        method=f"{sub.method} (per-problem rewards on {levels.size} common levels)",
    )


def _solve_structure(
    p: NDArray, b: NDArray, structure: RewardStructure, opts: tuple, max_terms: int
) -> dict:
    """Solve every problem sharing one reward structure, then verify from the policy."""
    g, std, e, penalty = opts
    b = np.asarray(b, dtype=np.float64)
    batch = b.shape
    q_ref = structure.profile_masses(p)
    if structure.deterministic and structure.n_levels == 2:
        m, iters, ok = _solve_binary(q_ref, structure.levels, b, *opts)
        method = "binary-bracketed"
    else:
        flat_q, flat_b = q_ref.reshape(-1, structure.n_profiles), b.reshape(-1)
        solved = [_solve_general(qi, structure, float(bi), *opts) for qi, bi in zip(flat_q, flat_b)]
        m = np.asarray([sol[0] for sol in solved]).reshape(*batch, structure.n_levels)
        iters = np.asarray([sol[1] for sol in solved], dtype=np.int64).reshape(batch)
        ok = np.asarray([sol[2] for sol in solved], dtype=bool).reshape(batch)
        method = "level-newton"
    pi = _policy_from_mixture(p, q_ref, structure, m, b, *opts)
    # Verification from the returned policy alone: its own profile masses and P_G.
    w = structure.profile_masses(pi)
    pref_s, level_masses = profile_preferences(w, structure, g, std, e, max_terms=max_terms)
    residual, log_residual, min_den = fixed_point_violation(
        pi, p, q_ref, pref_s, structure.profile_of, b, penalty
    )
    return {
        "policy": pi,
        "preference": pref_s[..., structure.profile_of],
        "level_masses": level_masses,
        "residual": residual,
        "log_residual": log_residual,
        "min_den": min_den,
        "ok": ok,
        "iterations": iters,
        "method": method,
    }
