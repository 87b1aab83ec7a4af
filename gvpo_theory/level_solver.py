"""Stationary solver in reward-level space for any number of levels (docs/theory.md §3, §4b).

The unknowns are the L level masses m (the reward-level mixture at π), not the K
outputs. Gauss–Newton with step halving on R(z) = log m − log T(m), m = softmax([0, z]),
where T(m) = Σ_s w_s(m)·D_s is the mixture the fixed-point map sends m to (w from the
penalty's stationary weights); globalised by continuation in β from a β where the
answer is ≈ π_ref; where the branch folds, the natural-gradient flow from π_ref delivers
the start; for deterministic rewards with the k3 penalty a final polish on the
multiplied-out equations resolves best levels with tiny reference mass. Two reachable
levels take the bracketed binary solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from .binary_solver import solve_binary
from .flow import integrate_flow
from .objective import Objective
from .preference import (
    _lattice_for,
    level_advantages_and_jacobian_kernel,
    level_advantages_kernel,
)
from .problem import RewardStructure


@dataclass(frozen=True)
class _Problem:
    """One reduced problem: positive-mass profiles over reachable levels."""

    q_log: NDArray[np.float64]  # log Q_s, (S,)
    dist: NDArray[np.float64]  # D_s over reachable levels, (S, L)
    log_dist: NDArray[np.float64]
    levels: NDArray[np.float64]  # (L,)
    obj: Objective


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
    # a trial step may reach a vertex where a std-normalised advantage is unbounded; the
    # non-finite residual below rejects it, so the floating-point warnings are expected
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if want_jacobian:  # one dynamic program for both where P_G is one
            a, ja = level_advantages_and_jacobian_kernel(m, pb.levels, pb.obj)
        else:
            a = level_advantages_kernel(m, pb.levels, pb.obj)
        pref = pb.dist @ a
        log_w = pb.obj.penalty.log_weights(pb.q_log, pref, beta)
    if log_w is None:
        return None
    log_t = logsumexp(log_w[:, None] + pb.log_dist, axis=0)
    r = log_m - log_t
    if not np.all(np.isfinite(r)):
        return None
    if not want_jacobian:
        return r, None
    n_lev = m.size
    dm = (np.diag(m) - np.outer(m, m))[:, 1:]
    dlogm = np.eye(n_lev)[:, 1:] - m[None, 1:]
    dpref = pb.dist @ (ja @ dm)
    dlogw = pb.obj.penalty.dlog_weights(dpref, pref, beta, np.exp(log_w))
    # d log T_l = Σ_s (w_s·D_s(l)/T_l)·d log w_s, with the weights formed in the log domain
    share = np.exp(pb.log_dist + log_w[:, None] - log_t[None, :])
    jac = dlogm - share.T @ dlogw
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(jac))):
        return None
    return r, jac


def _newton(
    z: NDArray[np.float64], pb: _Problem, beta: float, tol: float, max_iter: int
) -> tuple[NDArray[np.float64], float, int]:
    """Newton (least squares on the L × (L − 1) system) with step halving on ‖R‖.

    Once ‖R‖∞ < :data:`_ROUNDING_ZONE` only the full step is tried: the root is known to
    ~1e-12 there and shorter steps could only move z by rounding (each try is a P_G
    evaluation, a dynamic program for many lattice levels). Where P_G is that dynamic program
    the trial points carry their Jacobian (the same table gives both), so an accepted step
    costs one evaluation, and one step inside the rounding zone ends the iteration (the next
    ones move ‖R‖∞ between ~1e-14 and ~1e-15 at ~0.1 s each; the polish finishes k3 problems).
    """
    out = _residual(z, pb, beta, True)
    if out is None:
        return z, math.inf, 0
    r, jac = out
    err = float(np.max(np.abs(r)))
    with_jac = _on_lattice(pb)
    it, zone_steps = 0, False
    for it in range(1, max_iter + 1):  # noqa: B007
        if err <= tol or (with_jac and err < _ROUNDING_ZONE and zone_steps):
            break
        zone_steps = err < _ROUNDING_ZONE
        delta = np.linalg.lstsq(jac, -r, rcond=None)[0]
        t, improved = 1.0, False
        t_min = 1e-8 if err >= _ROUNDING_ZONE else 0.75
        while t > t_min:
            trial = _residual(z + t * delta, pb, beta, with_jac)
            if trial is not None and float(np.max(np.abs(trial[0]))) < err:
                z = z + t * delta
                r, jac_t = trial
                err = float(np.max(np.abs(r)))
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        if err > tol:
            if jac_t is None:
                full = _residual(z, pb, beta, True)
                if full is None:
                    break
                jac_t = full[1]
            jac = jac_t
    return z, err, it


#: Below this ‖R‖∞ a Newton step is tried at full length only (see :func:`_newton`).
_ROUNDING_ZONE = 1e-12


def _on_lattice(pb: _Problem) -> bool:
    """Whether P_G of this problem is the lattice dynamic program (finite G, a std)."""
    g, adv = pb.obj.group_size, pb.obj.advantage
    if math.isinf(g) or adv.scale == "none":
        return False
    return _lattice_for(pb.levels, int(g), adv) is not None


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


#: The flow is abandoned after this many right-hand-side evaluations (a stiff flow that
#: has not settled by then is heading for the boundary, or crawling along it).
_MAX_FLOW_EVALUATIONS = 20_000

#: A profile whose log-mass falls this far below its π_ref log-mass has left the interior.
_VANISHED_LOG_MASS = -690.0


def _natural_flow(
    pb: _Problem, beta: float, t_max: float = 1e8
) -> NDArray[np.float64] | None:
    """Integrate the GRPO natural-gradient flow in profile space from π_ref; return z of m.

    dy_s/dt = P_s(w) − β·(1 − Q_s/w_s) (reverse KL) or P_s − β·(log(w_s/Q_s) − KL)
    (direct KL), w = softmax(y): the per-output expected GRPO update divided by π(o),
    whose rest points are the stationary points. Used when continuation fails (a fold
    in β): it lands where GRPO itself settles from π_ref. Returns None when the flow
    leaves the interior (with unbounded advantages — a std at G = ∞ — a profile's mass
    falls 1e300-fold below its π_ref mass: GRPO runs to the boundary) or has not settled within its
    evaluation budget, so no solve can hang here.
    """
    def rhs(_t: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        log_w = y - logsumexp(y)
        w = np.exp(log_w)
        pref = pb.dist @ level_advantages_kernel(w @ pb.dist, pb.levels, pb.obj)
        return pref - beta * pb.obj.penalty.relative_rate(log_w, pb.q_log)

    def settled(_t: float, y: NDArray[np.float64]) -> float:
        return float(np.max(np.abs(rhs(_t, y)))) - 1e-7

    def vanished(_t: float, y: NDArray[np.float64]) -> float:
        # relative to the profile's own reference mass: a stationary mass of 1e-299 on a
        # profile whose π_ref mass is 1e-300 is interior, not vanished
        return float(np.min(y - logsumexp(y) - pb.q_log)) - _VANISHED_LOG_MASS

    # Only unbounded advantages (a std at G = ∞) can drive a mass to 0 at a finite rate
    # ratio; with bounded ones a stationary mass of 1e-400 is a legitimate interior point
    # in the log domain, so the flow is followed there.
    unbounded = math.isinf(pb.obj.group_size) and pb.obj.std != "none"
    # The flow only has to deliver a start inside the basin of the stationary point it
    # settles at; level Newton (then the polish) finishes to rounding, so moderate
    # tolerances suffice and cut the cost of stiff problems several-fold.
    run = integrate_flow(rhs, pb.q_log, t_max=t_max, settle=settled,
                         vanish=vanished if unbounded else None,
                         max_evaluations=_MAX_FLOW_EVALUATIONS, rtol=1e-7, atol=1e-10)
    if run.status in ("budget", "vanished"):
        return None
    y = run.y
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
    ratio = (pb.dist @ level_advantages_kernel(m, pb.levels, pb.obj)) / beta
    return pb.obj.penalty.rounding_floor(ratio)


def solve_levels(
    q_ref: NDArray, structure: RewardStructure, beta: float, obj: Objective,
    w_start: NDArray | None = None,
) -> tuple[NDArray, int, bool]:
    """Profile masses w (S,) at the stationary point of one problem (profile masses q_ref).

    For deterministic rewards the profiles are the reward levels, so w is the level
    mixture m; otherwise m = Σ_s w_s·D_s. Returning w (not m) lets the caller form
    π = π_ref·w_s/Q_s exactly, also where 1 − P_s/β underflows relative to 1.

    ``w_start`` (profile masses, optional): a first Newton start near the answer (the
    G = ∞ stationary point for a large G, where every P_G evaluation is a dynamic program);
    when Newton does not converge from it, the solve proceeds from π_ref as without it.
    """
    keep = q_ref > 0
    dist = structure.dist[keep]
    reach = dist.sum(axis=0) > 0
    dist = dist[:, reach]
    w_full = np.zeros(structure.n_profiles)
    if int(keep.sum()) == 1:
        w_full[keep] = 1.0
        return w_full, 0, True
    if structure.deterministic and int(reach.sum()) == 2:
        # only two levels carry π_ref mass: the bracketed binary solver is exact there
        m2, iters, ok = solve_binary(q_ref[keep], structure.levels[reach], np.asarray(beta), obj)
        w_full[keep] = m2
        return w_full, int(iters), bool(ok)
    with np.errstate(divide="ignore"):
        log_dist = np.log(dist)
    pb = _Problem(np.log(q_ref[keep]), dist, log_dist, structure.levels[reach], obj)
    m0 = np.exp(pb.q_log) @ dist
    z0 = np.log(m0[1:]) - np.log(m0[0])
    z, err, total = _newton(z0, pb, beta, 1e-15, 50) if w_start is None else (z0, math.inf, 0)
    if w_start is not None:
        m_s = w_start[keep] @ dist
        if np.all(m_s > 0):
            z, err, total = _newton(np.log(m_s[1:]) - np.log(m_s[0]), pb, beta, 1e-15, 12)
        if err > _ACCEPT:
            z, err, it = _newton(z0, pb, beta, 1e-15, 50)
            total += it
    if err > _ACCEPT:
        a_scale = float(np.max(np.abs(level_advantages_kernel(m0, pb.levels, obj))))
        z, err, it = _continuation(pb, beta, z0, a_scale)
        total += it
    # the multiplied-out equations w_s·(1 − P_s/β) = Q_s exist for the k3 penalty only
    polish = not obj.penalty.exponential_weights
    if err > _ACCEPT and polish and err < 1e-3:
        # Close, but stalled at the log-space rounding floor (a tiny 1 − P/β): finish on
        # the well-scaled multiplied-out equations instead of integrating the flow.
        w, polished = _polish_profiles(_profile_masses(_softmax0(z), pb, beta), pb, beta)
        if polished:
            w_full[keep] = w
            return w_full, total, True
    if err > _ACCEPT:
        z_flow = _natural_flow(pb, beta)
        if z_flow is None:
            # the expected dynamics leave the interior: no interior stationary point is
            # reached from π_ref (the result says so; it is never reported as converged)
            w_full[keep] = _profile_masses(_softmax0(z), pb, beta)
            return w_full, total, False
        z, err, it = _newton(z_flow, pb, beta, 1e-15, 50)
        total += it
    ok = err <= max(_ACCEPT, _rounding_floor(z, pb, beta))
    w = _profile_masses(_softmax0(z), pb, beta)
    if polish:
        w, polished = _polish_profiles(w, pb, beta)
        ok = ok or polished
    w_full[keep] = w
    return w_full, total, bool(ok)


def _profile_masses(m: NDArray[np.float64], pb: _Problem, beta: float) -> NDArray[np.float64]:
    """Profile masses w that the fixed-point map assigns to the level mixture m.

    Deterministic rewards: w = m (profiles are levels). Otherwise the penalty's weights
    from P_s(m); where those are undefined (1 − P_s/β ≤ 0 by rounding), the least-squares
    solution of Σ_s w_s·D_s = m, kept positive, as a start for the polish.
    """
    if np.array_equal(pb.dist, np.eye(m.size)):
        return m
    pref = pb.dist @ level_advantages_kernel(m, pb.levels, pb.obj)
    log_w = pb.obj.penalty.log_weights(pb.q_log, pref, beta)
    if log_w is not None and np.all(np.isfinite(log_w)):
        return np.exp(log_w - logsumexp(log_w))
    w = np.linalg.lstsq(pb.dist.T, m, rcond=None)[0]
    w = np.maximum(w, np.exp(pb.q_log) * 1e-3)
    return w / w.sum()


def _softmax0(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Level masses m = softmax([0, z])."""
    logits = np.concatenate([[0.0], z])
    return np.exp(logits - logsumexp(logits))


def _polish_profiles(w: NDArray[np.float64], pb: _Problem, beta: float) -> tuple[NDArray[np.float64], bool]:
    """Newton on the multiplied-out profile equations F_s(w) = w_s·(1 − P_s(w)/β) − Q_s.

    k3 penalty. P_s(w) = Σ_l D_s(l)·a_l(m), m = Σ_t w_t·D_t. The log-space system divides
    by 1 − P_s/β, which is ~Q_s/w_s and can be 1e-12 for a profile with a tiny π_ref mass;
    F is well scaled there (its Jacobian diag(1 − P/β) − diag(w)·D·J_a·Dᵀ/β is O(1)), so a
    few steps from the log-space answer bring the masses to ~1e-16 absolute, which the
    verification of 1 − P/β > 0 needs. Returns (w, |F| <= 1e-14). Σ_s F_s = −Σ_s w_s·P_s/β
    = 0 on the simplex, so w_0 = 1 − Σ_{s>0} w_s.
    """
    q_ref = np.exp(pb.q_log)
    n = w.size
    dw_dz = np.vstack([-np.ones((1, n - 1)), np.eye(n - 1)])

    with_jac = _on_lattice(pb)  # then the trial's table gives the next Jacobian as well

    def f(x: NDArray[np.float64]) -> NDArray[np.float64]:
        m = x @ pb.dist
        if with_jac:
            a = level_advantages_and_jacobian_kernel(m, pb.levels, pb.obj)[0]
        else:
            a = level_advantages_kernel(m, pb.levels, pb.obj)
        return x * (1.0 - (pb.dist @ a) / beta) - q_ref

    x = w.copy()
    r = f(x)
    err = float(np.max(np.abs(r)))
    for _ in range(12):
        if err <= 1e-17 or np.any(x <= 0):
            break
        m = x @ pb.dist
        a, ja = level_advantages_and_jacobian_kernel(m, pb.levels, pb.obj)
        pref = pb.dist @ a
        ja = pb.dist @ ja @ pb.dist.T
        jac = (np.diag(1.0 - pref / beta) - x[:, None] * ja / beta) @ dw_dz
        step = np.linalg.lstsq(jac, -r, rcond=None)[0]
        trial = x + dw_dz @ step
        if np.any(trial <= 0):
            break
        trial /= trial.sum()
        r_trial = f(trial)
        e_trial = float(np.max(np.abs(r_trial)))
        if not e_trial < err:
            break
        x, r, err = trial, r_trial, e_trial
    return x, err <= 1e-14
