"""One binary problem with two outputs, solved and verified on Python floats (docs/theory.md §3, §4).

The front door's general path pays numpy's fixed costs (array creation, broadcasting,
reductions: several µs each) about forty times for a problem whose arithmetic is a few
hundred flops. For the commonest single problem — K = 2 outputs, rewards on two levels,
GRPO's k3 penalty, population or sample std without eps, 2 ≤ G ≤ 257 — this module solves
the fixed point with :func:`gvpo_theory._scalar.binary_stationary_masses` (Brent on the
logit) and verifies it the way :func:`gvpo_theory.stationary.fixed_point_violation` does,
from the returned policy alone, one reward level at a time:

    P_l = a_l(m) with m the returned policy's own level masses (exact binomial sum),
    residual = max_o |π(o)·(1 − P_{l(o)}/β) − π_ref(o)|,
    log residual = max(|log1p(max rel)|, |log1p(min rel)|), rel = gap/π_ref(o),
    min denominator = min_l (1 − P_l/β).

Everything else returns None and the caller takes the general path.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._scalar import binary_advantages
from .binary_solver import solve_binary_scalar
from .objective import Objective
from .penalties import DirectKL, Penalty, ReverseKL
from .problem import RewardStructure


def _log_gap(rel_hi: float, rel_lo: float) -> float:
    """max(|log1p(rel_hi)|, |log1p(max(rel_lo, −1))|), inf where undefined (as the engine)."""
    try:
        out = max(abs(math.log1p(rel_hi)), abs(math.log1p(max(rel_lo, -1.0))))
    except (ValueError, OverflowError):
        return math.inf
    return out if not math.isnan(out) else math.inf


class BinaryFixedPoint(NamedTuple):
    """One binary problem's answer and its verification, on floats (module docstring)."""

    pi_lo: float
    pi_hi: float
    a_lo: float
    a_hi: float
    residual: float
    log_residual: float
    min_denominator: float
    evaluations: int


def binary_fixed_point(p_hi: float, p_lo: float, beta: float, obj: Objective) -> BinaryFixedPoint | None:
    """Solve and verify one binary problem with reference masses (p_lo, p_hi) on the lower and
    upper reward level; None where :func:`~gvpo_theory.binary_solver.scalar_covers` says no or
    a mass is 0."""
    solved = solve_binary_scalar(p_hi, p_lo, beta, obj)
    if solved is None:
        return None
    w_lo, w_hi, calls = solved
    # π(o) = π_ref(o)·w_l/Q_l, normalised (as the front door's _policy_from_profiles forms it)
    pi_lo, pi_hi = p_lo * (w_lo / p_lo), p_hi * (w_hi / p_hi)
    total = pi_lo + pi_hi
    pi_lo, pi_hi = pi_lo / total, pi_hi / total
    # verification from the returned policy: its own level masses, P per level
    a_lo, a_hi = binary_advantages(pi_hi, pi_lo, int(obj.group_size), obj.std)
    den_lo, den_hi = 1.0 - a_lo / beta, 1.0 - a_hi / beta
    gap_lo, gap_hi = pi_lo * den_lo - p_lo, pi_hi * den_hi - p_hi
    rel_lo, rel_hi = gap_lo / p_lo, gap_hi / p_hi
    return BinaryFixedPoint(
        pi_lo, pi_hi, a_lo, a_hi, max(abs(gap_lo), abs(gap_hi)),
        _log_gap(max(rel_lo, rel_hi), min(rel_lo, rel_hi)), min(den_lo, den_hi), calls,
    )


def solve_single_binary(
    p: NDArray[np.float64], beta: NDArray[np.float64], structure: RewardStructure, obj: Objective
) -> dict | None:
    """The front door's result fields for one two-output binary problem, or None (module docstring)."""
    if p.shape != (2,) or beta.ndim != 0 or not structure.deterministic or structure.n_levels != 2:
        return None
    hi_out = int(structure.profile_of[1])  # output 1 sits on the upper level (1) or not (0)
    lo_out = 1 - hi_out
    fp = binary_fixed_point(float(p[hi_out]), float(p[lo_out]), float(beta), obj)
    if fp is None:
        return None
    policy = np.empty(2)
    policy[lo_out], policy[hi_out] = fp.pi_lo, fp.pi_hi
    pref = np.empty(2)
    pref[lo_out], pref[hi_out] = fp.a_lo, fp.a_hi
    return {
        "policy": policy,
        "preference": pref,
        "level_masses": np.array([fp.pi_lo, fp.pi_hi]),
        "residual": np.float64(fp.residual),
        "log_residual": np.float64(fp.log_residual),
        "min_den": np.float64(fp.min_denominator),
        "ok": np.bool_(True),
        "iterations": np.int64(fp.evaluations),
        "method": "binary-scalar",
    }


_PLAIN = (float, int)


def plain_binary_fields(
    pi_ref: object, rewards: object, beta: object, obj: Objective, tol: float, slack: float,
    sum_tol: float,
) -> dict | None:
    """The front door's result fields for one K = 2 problem given as plain Python numbers.

    Taken only where every check of the general path would pass: ``pi_ref`` and ``rewards``
    lists or tuples of two ints/floats (bools excluded), π_ref positive and finite with
    |Σ − 1| ≤ ``sum_tol`` (renormalised, as :func:`~gvpo_theory.problem.check_distribution`
    does), two distinct finite rewards, ``beta`` a finite float/int > 0, and an objective the
    scalar solver covers; and the answer is returned only when it is converged (residual ≤
    ``tol``, min 1 − P/β > −``slack``). Anything else, bad input included, returns None and
    takes the general path, whose checks raise the package's named errors.
    """
    if type(pi_ref) not in (list, tuple) or type(rewards) not in (list, tuple):
        return None
    if len(pi_ref) != 2 or len(rewards) != 2 or type(beta) not in _PLAIN:
        return None
    p0, p1 = pi_ref
    r0, r1 = rewards
    if type(p0) not in _PLAIN or type(p1) not in _PLAIN or type(r0) not in _PLAIN or type(r1) not in _PLAIN:
        return None
    b, p0, p1, r0, r1 = float(beta), float(p0), float(p1), float(r0), float(r1)
    total = p0 + p1
    if not (0.0 < b < math.inf and 0.0 < p0 < math.inf and 0.0 < p1 < math.inf
            and abs(total - 1.0) <= sum_tol and math.isfinite(r0) and math.isfinite(r1) and r0 != r1):
        return None
    p0, p1 = p0 / total, p1 / total
    hi_out = 1 if r1 > r0 else 0
    p_hi, p_lo = (p1, p0) if hi_out else (p0, p1)
    fp = binary_fixed_point(p_hi, p_lo, b, obj)
    if fp is None or not (fp.residual <= tol and fp.min_denominator > -slack):
        return None
    if hi_out:
        policy, pref = np.array([fp.pi_lo, fp.pi_hi]), np.array([fp.a_lo, fp.a_hi])
    else:
        policy, pref = np.array([fp.pi_hi, fp.pi_lo]), np.array([fp.a_hi, fp.a_lo])
    return {
        "policy": policy,
        "level_masses": np.array([fp.pi_lo, fp.pi_hi]),
        "levels": np.array([min(r0, r1), max(r0, r1)]),
        "preference": pref,
        "residual": np.float64(fp.residual),
        "log_residual": np.float64(fp.log_residual),
        "min_denominator": np.float64(fp.min_denominator),
        "converged": np.bool_(True),
        "iterations": np.int64(fp.evaluations),
        "method": "binary-scalar",
        "message": f"converged: the fixed point holds to {fp.residual:.1e} (tol {tol:.0e})",
        "objective": obj,
        "kind": np.str_("interior"),
    }


#: From this many outputs on, deterministic rewards are verified per reward level
#: (:func:`level_violation`); below it, output by output (the cost is negligible there).
PER_LEVEL_MIN_OUTPUTS = 4096


def level_violation(
    p: NDArray[np.float64], pi_levels: NDArray[np.float64], q_ref: NDArray[np.float64],
    pref: NDArray[np.float64], structure: RewardStructure, beta: NDArray[np.float64], penalty: Penalty,
) -> tuple[NDArray, NDArray, NDArray] | None:
    """(max absolute violation, max log violation, min 1 − P/β) of the fixed point, per level.

    For deterministic rewards the returned policy is π_ref re-weighted level by level, so
    π(o)/π_ref(o) = W_l/Q_l on level l (W: the returned policy's own level masses, Q: π_ref's;
    equal up to the rounding of the sums), and every per-output quantity of
    :func:`gvpo_theory.stationary.fixed_point_violation` follows from the level's: the relative
    gap of each output is the level's, rel_l = gap_l/Q_l (``penalty.violation`` on the levels),
    and |gap(o)| = π_ref(o)·|gap_l|/Q_l. So the check costs one gather, one product and one
    max over the K outputs instead of ~10 passes. None
    (the caller verifies output by output) for noisy rewards, fewer than
    :data:`PER_LEVEL_MIN_OUTPUTS` outputs, or a penalty other than the k3 and direct KL.
    """
    if not structure.deterministic or p.shape[-1] < PER_LEVEL_MIN_OUTPUTS or type(penalty) not in (
            ReverseKL, DirectKL):
        return None
    n_lev = structure.n_profiles
    gap, rel, min_den = penalty.violation(pi_levels, q_ref, q_ref, pref, np.arange(n_lev), beta)
    support = q_ref > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        per_mass = np.where(support, np.abs(gap) / np.where(support, q_ref, 1.0), 0.0)
        # max_o π_ref(o)·|gap_l|/Q_l: one gather, one product, one max over the outputs
        worst = np.max(p * per_mass[..., structure.profile_of], axis=-1)
        hi_rel, lo_rel = np.max(rel, axis=-1), np.min(rel, axis=-1)
        log_gap = np.maximum(np.abs(np.log1p(hi_rel)), np.abs(np.log1p(np.maximum(lo_rel, -1.0))))
    return worst, np.where(np.isnan(log_gap), np.inf, log_gap), min_den
