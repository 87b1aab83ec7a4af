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

* binary deterministic rewards, every batch element at once: the bracketed solver of
  :mod:`gvpo_theory.binary_solver`;
* everything else: the level-space Newton solver of :mod:`gvpo_theory.level_solver`.

This module is the front door: it validates the input once, builds the
:class:`~gvpo_theory.objective.Objective`, batches problems that share a reward
structure, and verifies every answer from the returned policy alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .batch_levels import solve_level_problems
from .binary_solver import solve_binary, solve_binary_scalar
from .fast_paths import level_violation, plain_binary_fields, solve_single_binary
from .limits import FlowLimit, check_start, flow_limit
from .objective import Objective, as_objective
from .penalties import Penalty
from .preference import MAX_TERMS, n_terms, profile_preferences
from .problem import (
    SUM_TOL,
    RewardDistribution,
    Rewards,
    RewardStructure,
    as_float_array,
    check_beta,
    check_distribution,
    check_positive_int,
    check_tolerance,
    reward_structure,
    split_rewards,
)

#: A solution is reported ``converged`` when the fixed point holds to this tolerance.
FIXED_POINT_TOL = 1e-10

#: Rounding slack allowed on the check 1 − P/β > 0.
DENOMINATOR_SLACK = 1e-12


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
        converged: an interior stationary point holds: the solver bracketed/converged,
            residual <= ``tol`` and min_denominator > 0, shape (...). False for a
            boundary limit (``kind == "boundary"``: no interior stationary point is reached).
        iterations: solver iterations (bisection steps or Newton steps), shape (...).
        method: which solver ran.
        message: why the solve did or did not converge, in one sentence.
        objective: the :class:`~gvpo_theory.objective.Objective` that was solved.
        kind: ``"interior"`` (a stationary point with every reachable output kept) or
            ``"boundary"`` (the expected flow empties some outputs: ``policy`` is its limit,
            docs/theory.md §8), a string, or an array of them for a batch.
        limit: the :class:`~gvpo_theory.limits.FlowLimit` of a problem answered by the
            flow (β = 0, a start ``pi0``, or no interior point reached), with its
            description, decay exponents and (β = 0) the exact within-level law; None for
            problems the stationary solver answered. An object array for a batch.

    For a single problem the per-problem fields (residual, converged, iterations, ...)
    are NumPy scalars; for a batch, arrays of the batch shape. At a boundary limit
    ``residual`` is max_o |F_o| of the expected update and ``log_residual`` and
    ``min_denominator`` are NaN (not defined there); at β = 0 ``residual`` is max_o |F_o|.
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
    message: str
    objective: Objective
    kind: str | NDArray[np.str_] = "interior"
    limit: FlowLimit | NDArray[np.object_] | None = None


# --------------------------------------------------------------------------- policy


def _policy_from_profiles(pi_ref: NDArray, q_ref: NDArray, structure: RewardStructure, w: NDArray) -> NDArray:
    """π from the solved profile masses: π_ref reweighted profile by profile, π(o) = π_ref(o)·w_s/Q_s.

    One multiply per output, exact where 1 − P/β underflows relative to 1 (tiny π_ref,
    G = ∞): the solvers deliver w itself, not 1/(1 − P/β).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(q_ref > 0, w / np.where(q_ref > 0, q_ref, 1.0), 0.0)
    pi = pi_ref * weight[..., structure.profile_of]
    total = pi.sum(axis=-1, keepdims=True)
    return pi / np.where(total > 0, total, 1.0)


def fixed_point_violation(
    pi: NDArray, pi_ref: NDArray, q_ref: NDArray, pref: NDArray, profile_of: NDArray,
    beta: NDArray, penalty: Penalty,
) -> tuple[NDArray, NDArray, NDArray]:
    """(max absolute violation, max log violation, min 1 − P/β) of the fixed point.

    ``pref`` (..., S) is P_G per reward profile, computed from ``pi`` itself; ``q_ref``
    (..., S) the π_ref mass of each profile (it normalises the direct-KL target). The
    log violation is max |log1p(relative violation)| over the support of π_ref.
    """
    gap, rel, min_den = penalty.violation(pi, pi_ref, q_ref, pref, profile_of, beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        hi_rel, lo_rel = np.max(rel, axis=-1), np.min(rel, axis=-1)
        log_gap = np.maximum(np.abs(np.log1p(hi_rel)), np.abs(np.log1p(np.maximum(lo_rel, -1.0))))
    log_gap = np.where(np.isnan(log_gap), np.inf, log_gap)
    return np.max(np.abs(gap), axis=-1), log_gap, min_den


def _message(
    converged: NDArray, solver_ok: NDArray, residual: NDArray, min_den: NDArray, tol: float,
    obj: Objective,
) -> str:
    """Why the solve did (not) converge, in one sentence (cf. scipy's result messages)."""
    n = converged.size
    if np.all(converged):
        worst = float(np.max(residual)) if n else 0.0
        return (f"converged: the fixed point holds to {worst:.1e} (tol {tol:.0e})" if n <= 1 else
                f"all {n} problems converged: the fixed point holds to {worst:.1e} (tol {tol:.0e})")
    reasons = []
    no_root = ~solver_ok
    if np.any(no_root):
        reasons.append(
            f"{int(no_root.sum())} found no interior stationary point from π_ref "
            + ("(direct KL with a std at large G and small β: GRPO drifts to the boundary)"
               if obj.penalty.exponential_weights else "(the solver did not converge)")
        )
    big = solver_ok & (residual > tol)
    if np.any(big):
        reasons.append(f"{int(big.sum())} stopped with a fixed-point residual above tol "
                       f"(worst {float(np.max(np.where(big, residual, 0))):.1e} > {tol:.0e})")
    neg = solver_ok & (residual <= tol) & (min_den <= -DENOMINATOR_SLACK)
    if np.any(neg):
        reasons.append(f"{int(neg.sum())} violate 1 − P_G/β > 0 (no valid k3 stationary point)")
    prefix = "not converged: " if n <= 1 else f"{int((~converged).sum())} of {n} problems not converged: "
    return prefix + "; ".join(reasons)


def _scalar(x: NDArray) -> NDArray:
    """A 0-d array becomes a NumPy scalar (single problems); arrays pass through."""
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


def grpo_stationary_policy(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    tol: float = FIXED_POINT_TOL,
    max_terms: int = MAX_TERMS,
    pi0: ArrayLike | None = None,
) -> StationaryResult:
    """Where GRPO's expected dynamics settle for π_ref, rewards, β and the objective (docs/theory.md §3, §8).

    No placeholder is ever returned: each problem gets the interior stationary point the
    solvers find (``kind="interior"``), or, where none is reached from the start, the
    boundary limit of the expected flow (``kind="boundary"``: which outputs vanish and the
    stationary point of the survivors, :func:`~gvpo_theory.limits.flow_limit`).

    Args:
        pi_ref: reference policy π_ref, shape (..., K).
        rewards: r(o), shape (K,) or (..., K), or a RewardDistribution (docs/theory.md §4b).
        beta: β >= 0; broadcasts against the batch axes of ``pi_ref``. β = 0 (no KL term,
            the default of TRL and verl) is answered by the exact limit of the flow:
            the best reward level, and inside it the outputs with the largest start mass.
        group_size: G >= 2 or ``math.inf``; or an :class:`~gvpo_theory.objective.Objective`
            (``gt.objective("rloo", 8)``), which then fixes std, penalty and eps too.
        std: ``"population"`` (the paper's eq. (2), default), ``"sample"`` (torch.std, as in
            TRL and verl) or ``"none"`` (no scale normalisation, Dr. GRPO).
        penalty: ``"reverse_kl"`` (default) — GRPO's k3 estimator π_ref/π − log(π_ref/π) − 1,
            which the paper shows acts as a reverse KL; ``"direct_kl"`` — KL(π ‖ π_ref).
        eps: added to the group std (default 0).
        tol: the fixed-point tolerance behind ``converged``.
        pi0: the start of the expected flow (default π_ref), shape (..., K), with π_ref's
            support; given, every problem is answered by the flow from it (so a start
            inside another basin reaches that basin's stationary point or limit).

    Returns:
        :class:`StationaryResult`. Checks (tested): ``std="none"`` with
        ``penalty="direct_kl"`` is logarithmic pooling with β' = G·β/(G − 1); G = 2 and
        G = ∞ binary problems match the closed forms of :mod:`gvpo_theory.binary`.
    """
    obj = as_objective(group_size, std, penalty, eps)
    tol = check_tolerance(tol, "tol")
    max_terms = check_positive_int(max_terms, "max_terms")
    if pi0 is None:  # K = 2 in plain floats, converged: no arrays until the result
        fast = plain_binary_fields(pi_ref, rewards, beta, obj, tol, DENOMINATOR_SLACK, SUM_TOL)
        if fast is not None:
            return StationaryResult(**fast)
    p = check_distribution(pi_ref, "pi_ref")
    b = check_beta(beta, allow_zero=True)
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
    start = None if pi0 is None else np.broadcast_to(check_start(pi0, p), p.shape)
    if start is not None:
        return _with_limits(None, p, rewards, b, obj, shared, start, tol, max_terms)
    zero = b == 0  # β = 0: answered by the flow's exact limit (the solvers get a stand-in β)
    res = _solve(p, rewards, np.where(zero, 1.0, b), obj, shared, per_problem, tol, max_terms)
    if np.all(res.converged) and not np.any(zero):
        return res
    return _with_limits(res, p, rewards, b, obj, shared, None, tol, max_terms, zero)


def _solve(
    p: NDArray, rewards: Rewards, b: NDArray, obj: Objective, shared: RewardStructure | None,
    per_problem: list | None, tol: float, max_terms: int,
) -> StationaryResult:
    """Validated problems in, verified StationaryResult out."""
    batch = b.shape
    if shared is None and not isinstance(rewards, RewardDistribution):
        collapsed = _solve_collapsed(p, rewards, b, obj, tol, max_terms)
        if collapsed is not None:
            return collapsed
    if shared is not None:
        out = _solve_structure(p, b, shared, obj, max_terms)
        level_masses: NDArray | tuple = out["level_masses"]
        levels: NDArray | tuple = shared.levels
        pi, pref = out["policy"], out["preference"]
        residual, log_residual, min_den = out["residual"], out["log_residual"], out["min_den"]
        solver_ok, iters, method = out["ok"], out["iterations"], out["method"]
    else:
        flat_p, flat_b = p.reshape(-1, p.shape[-1]), b.reshape(-1)
        parts = [
            _solve_structure(flat_p[i], flat_b[i], st, obj, max_terms)
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
    return _result(pi, level_masses, levels, pref, residual, log_residual, min_den, solver_ok,
                   iters, method, tol, obj)


def _result(
    pi: NDArray, level_masses, levels, pref: NDArray, residual: NDArray, log_residual: NDArray,
    min_den: NDArray, solver_ok: NDArray, iters: NDArray, method: str, tol: float, obj: Objective,
) -> StationaryResult:
    # 1 − P/β is verified up to rounding: where π_ref(o) ≪ π(o) it is ≈ π_ref/π ≪ 1e-16.
    solver_ok = np.asarray(solver_ok, dtype=bool)
    converged = solver_ok & (residual <= tol) & (min_den > -DENOMINATOR_SLACK)
    return StationaryResult(
        policy=pi,
        level_masses=level_masses,
        levels=levels,
        preference=pref,
        residual=_scalar(residual),
        log_residual=_scalar(log_residual),
        min_denominator=_scalar(min_den),
        converged=_scalar(converged),
        iterations=_scalar(np.asarray(iters, dtype=np.int64)),
        method=method,
        message=_message(np.atleast_1d(converged), np.atleast_1d(solver_ok),
                         np.atleast_1d(residual), np.atleast_1d(min_den), tol, obj),
        objective=obj,
        kind=_scalar(np.full(np.shape(converged), "interior")),
    )


#: Per-problem deterministic rewards whose values come from at most this many distinct
#: levels overall are solved as one vectorised level-space batch.
COLLAPSE_MAX_LEVELS = 16


def _solve_collapsed(
    p: NDArray, rewards: ArrayLike, b: NDArray, obj: Objective, tol: float, max_terms: int
) -> StationaryResult | None:
    """Per-problem deterministic rewards drawn from a small common set of values.

    Every problem is rewritten over the union of reward levels: its π_ref becomes the
    level masses Q (..., L), zero on the levels it does not use. Those level problems
    share one reward structure, so they are solved together (vectorised), and each
    output gets π(o) = π_ref(o)·q_l/Q_l (docs/theory.md §3: π is π_ref re-weighted level by
    level). The fixed-point residual is then recomputed on the full policy.
    """
    r = np.broadcast_to(as_float_array(rewards, "rewards"), p.shape)
    levels, inverse = np.unique(r, return_inverse=True)
    if levels.size > COLLAPSE_MAX_LEVELS or levels.size < 2:
        return None
    finite = not math.isinf(obj.group_size) and obj.std != "none"
    if finite and n_terms(int(obj.group_size), levels.size) > max_terms:
        # the union of levels would need a larger enumeration than any single problem:
        # merging makes it dearer, so the problems are solved one by one
        return None
    inverse = inverse.reshape(r.shape)
    one_hot = inverse[..., None] == np.arange(levels.size)
    q_ref = np.einsum("...k,...kl->...l", p, one_hot)
    structure, _ = split_rewards(levels, (), levels.size)
    sub = _solve(q_ref, levels, b, obj, structure, None, tol, max_terms)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q_ref > 0, sub.policy / np.where(q_ref > 0, q_ref, 1.0), 0.0)
    pi = p * np.take_along_axis(ratio, inverse, axis=-1)
    pref = np.take_along_axis(sub.preference, inverse, axis=-1)
    # verify on the full policy, each output its own profile
    residual, log_residual, min_den = fixed_point_violation(
        pi, p, p, pref, np.arange(p.shape[-1]), b, obj.penalty
    )
    return _result(pi, sub.level_masses, levels, pref, residual, log_residual, min_den,
                   np.asarray(sub.converged), sub.iterations,
                   f"{sub.method} (per-problem rewards on {levels.size} common levels)", tol, obj)


def _solve_structure(
    p: NDArray, b: NDArray, structure: RewardStructure, obj: Objective, max_terms: int
) -> dict:
    """Solve every problem sharing one reward structure, then verify from the policy."""
    b = np.asarray(b, dtype=np.float64)
    batch = b.shape
    fast = solve_single_binary(p, b, structure, obj)  # K = 2: solved and verified on floats
    if fast is not None:
        return fast
    q_ref = structure.profile_masses(p)
    scalar = solve_binary_scalar(float(q_ref[1]), float(q_ref[0]), float(b), obj) if (
        structure.deterministic and structure.n_levels == 2 and b.ndim == 0) else None
    if scalar is not None:
        w, iters, ok = np.array(scalar[:2]), np.int64(scalar[2]), np.bool_(True)
        method = "binary-scalar"
    elif structure.deterministic and structure.n_levels == 2:
        w, iters, ok = solve_binary(q_ref, structure.levels, b, obj)
        method = "binary-bracketed"
    else:
        # the affine root, the batched level Newton, or one level solve per problem
        w, iters, ok, method = solve_level_problems(
            q_ref.reshape(-1, structure.n_profiles), structure, b.reshape(-1), obj, max_terms)
        w, iters, ok = w.reshape(*batch, structure.n_profiles), iters.reshape(batch), ok.reshape(batch)
    pi = _policy_from_profiles(p, q_ref, structure, w)
    # Verification from the returned policy alone: its own profile masses and P_G.
    w = structure.profile_masses(pi)
    pref_s, level_masses = profile_preferences(w, structure, obj, max_terms=max_terms)
    per_level = level_violation(p, w, q_ref, pref_s, structure, b, obj.penalty)  # large K
    residual, log_residual, min_den = per_level if per_level is not None else fixed_point_violation(
        pi, p, q_ref, pref_s, structure.profile_of, b, obj.penalty
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


# --------------------------------------------------------------------------- limits


def _row_rewards(rewards: Rewards, shared: RewardStructure | None, batch: tuple, k: int, i: int) -> Rewards:
    """The rewards of flat problem i (the shared ones, or its own row)."""
    if shared is not None:
        return rewards
    if isinstance(rewards, RewardDistribution):
        probs = np.broadcast_to(rewards.probs, (*batch, k, rewards.levels.size))
        return RewardDistribution(rewards.levels, probs.reshape(-1, k, rewards.levels.size)[i])
    return np.broadcast_to(as_float_array(rewards, "rewards"), (*batch, k)).reshape(-1, k)[i]


def _limit_row(
    lim: FlowLimit, ref: NDArray, row_rewards: Rewards, beta: float, obj: Objective, tol: float,
    max_terms: int,
) -> dict:
    """The result fields of one problem answered by the flow (its limit, verified)."""
    structure = reward_structure(row_rewards, ref.size)
    pi = lim.policy
    w = structure.profile_masses(pi)
    pref_s, level_masses = profile_preferences(w, structure, obj, max_terms=max_terms)
    if lim.kind == "interior" and beta > 0:
        residual, log_residual, min_den = fixed_point_violation(
            pi, ref, structure.profile_masses(ref), pref_s, structure.profile_of,
            np.asarray(beta), obj.penalty)
        ok = bool(residual <= tol and min_den > -DENOMINATOR_SLACK)
    else:
        residual, log_residual, min_den = np.float64(lim.residual), np.nan, np.nan
        ok = lim.kind == "interior" and lim.residual <= tol
    return {"policy": pi, "preference": pref_s[structure.profile_of], "level_masses": level_masses,
            "levels": structure.levels, "residual": float(residual),
            "log_residual": float(log_residual), "min_den": float(min_den), "converged": ok,
            "kind": lim.kind, "limit": lim}


def _with_limits(
    res: StationaryResult | None, p: NDArray, rewards: Rewards, b: NDArray, obj: Objective,
    shared: RewardStructure | None, start: NDArray | None, tol: float, max_terms: int,
    force: NDArray[np.bool_] | None = None,
) -> StationaryResult:
    """Answer by the expected flow every problem the solvers did not (β = 0, a start π0,
    no interior stationary point reached): no placeholder policy leaves the front door.

    ``res`` holds the solvers' answers (None: every problem goes to the flow); ``force``
    marks problems that go to the flow whatever the solver said (β = 0). A problem the
    solver left unconverged keeps the solver's answer only where the flow also ends in the
    interior with no smaller fixed-point residual.
    """
    batch, k = b.shape, p.shape[-1]
    flat_p, flat_b = p.reshape(-1, k), b.reshape(-1)
    n = flat_b.size
    fields = ("policy", "preference", "residual", "log_residual", "min_den", "converged")
    if res is None:
        rows: list = [None] * n
        kinds, limits = np.full(n, "interior", dtype=object), np.full(n, None, dtype=object)
        todo, iters, method = range(n), np.zeros(n, dtype=np.int64), "expected flow"
    else:
        rows = [None] * n
        kinds, limits = np.full(n, "interior", dtype=object), np.full(n, None, dtype=object)
        forced = np.zeros(n, dtype=bool) if force is None else np.asarray(force).reshape(-1)
        todo = np.nonzero(~np.asarray(res.converged).reshape(-1) | forced)[0]
        iters, method = np.asarray(res.iterations).reshape(-1).copy(), res.method + " + expected flow"
    for i in todo:
        row_r = _row_rewards(rewards, shared, batch, k, int(i))
        pi0 = None if start is None else start.reshape(-1, k)[i]
        lim = flow_limit(flat_p[i], row_r, float(flat_b[i]), obj, pi0=pi0, tol=tol)
        row = _limit_row(lim, flat_p[i], row_r, float(flat_b[i]), obj, tol, max_terms)
        if res is not None and not forced[i] and lim.kind == "interior" and not (
                row["residual"] < float(np.asarray(res.residual).reshape(-1)[i])):
            continue
        rows[i], kinds[i], limits[i] = row, lim.kind, lim
    if res is None:
        base = {key: [rows[i][key] for i in range(n)] for key in (*fields, "level_masses", "levels")}
    else:
        base = {
            "policy": list(res.policy.reshape(-1, k)), "preference": list(res.preference.reshape(-1, k)),
            "residual": list(np.asarray(res.residual).reshape(-1)),
            "log_residual": list(np.asarray(res.log_residual).reshape(-1)),
            "min_den": list(np.asarray(res.min_denominator).reshape(-1)),
            "converged": list(np.asarray(res.converged).reshape(-1)),
            "level_masses": (list(res.level_masses) if isinstance(res.level_masses, tuple)
                             else list(np.asarray(res.level_masses).reshape(n, -1))),
            "levels": (list(res.levels) if isinstance(res.levels, tuple) else [res.levels] * n),
        }
        for i in range(n):
            if rows[i] is not None:
                for key in base:
                    base[key][i] = rows[i][key]
    same_levels = all(np.array_equal(lv, base["levels"][0]) for lv in base["levels"])
    if same_levels:
        levels: NDArray | tuple = np.asarray(base["levels"][0])
        level_masses: NDArray | tuple = np.asarray(base["level_masses"]).reshape(*batch, -1)
    else:
        levels, level_masses = tuple(base["levels"]), tuple(base["level_masses"])

    def arr(key: str, dtype: type = np.float64) -> NDArray:
        return _scalar(np.asarray(base[key], dtype=dtype).reshape(batch))

    converged = arr("converged", bool)
    boundary = np.asarray([kd == "boundary" for kd in kinds])
    return StationaryResult(
        policy=np.asarray(base["policy"]).reshape(p.shape),
        level_masses=level_masses,
        levels=levels,
        preference=np.asarray(base["preference"]).reshape(p.shape),
        residual=arr("residual"),
        log_residual=arr("log_residual"),
        min_denominator=arr("min_den"),
        converged=converged,
        iterations=_scalar(iters.reshape(batch)),
        method=method,
        message=_limit_message(res, rows, boundary, np.atleast_1d(converged).reshape(-1), tol),
        objective=obj,
        kind=_scalar(np.asarray(kinds.astype(str)).reshape(batch)),
        limit=limits.reshape(batch)[()] if not batch else limits.reshape(batch),
    )


def _limit_message(
    res: StationaryResult | None, rows: list, boundary: NDArray, converged: NDArray, tol: float
) -> str:
    """One sentence: the limit's own message for one problem, counts for a batch."""
    n = boundary.size
    if n == 1:
        if rows[0] is not None:
            return rows[0]["limit"].message
        return res.message if res is not None else ""
    parts = []
    if np.any(converged):
        parts.append(f"{int(converged.sum())} of {n} problems converged to an interior stationary "
                     f"point (tol {tol:.0e})")
    if np.any(boundary):
        parts.append(f"{int(boundary.sum())} end at a boundary limit of the expected flow (no "
                     "interior stationary point is reached; see .limit)")
    other = ~converged & ~boundary
    if np.any(other):
        parts.append(f"{int(other.sum())} not converged")
    return "; ".join(parts)
