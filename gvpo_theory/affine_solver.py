"""Stationary points when the level advantage is affine in the reward (docs/theory.md §2, §3).

Two objectives have a preference model that depends on π only through one or two moments:

* no std (Dr. GRPO, RLOO), any G:  a_l = f·(v_l − μ), f = baseline factor·(G − 1)/G (1 at
  G = ∞, 1 for leave-one-out);
* a std at G = ∞:                  a_l = (v_l − μ)/s(σ), s = σ + eps (or √max(σ², eps) + eps),

with μ and σ² the mean and variance of the reward under the mixture m. For a reward profile
s (outputs sharing a reward distribution D_s) P_s = c·(e_s − μ) with e_s = Σ_l D_s(l)·v_l and
c = f or 1/s(σ), and σ² = Σ_s w_s·(var_s + (e_s − μ)²). So the fixed point, a system in the
S profile masses, is a root in one number:

* k3 penalty (reverse KL): w_s = Q_s/(1 − u·(e_s − μ)) with u = c/β. Writing
  1 − u·(e_s − μ) = u·(δ + Δ_s), Δ_s = e_max − e_s ≥ 0 over the profiles with Q_s > 0, and
  δ = μ − e_max + 1/u > 0, the masses are w_s = Q_s/(u·(δ + Δ_s)) and Σ_s w_s = 1 reads
  u = S(δ) := Σ_s Q_s/(δ + Δ_s) (then Σ_s w_s·e_s = μ follows). No std: S(δ) = f/β, S
  decreasing, one root in δ ∈ [Q_top/u, 1/u]. A std at G = ∞: u = S(δ) is explicit and the
  remaining equation is F(δ) = β·S(δ)·s(σ(δ)) − 1 = 0; δ → ∞ is π_ref (F → −1) and the
  branch the level solver continues from π_ref is the largest root, found by a scan down a
  geometric grid in δ and Brent's method on log δ. The masses w_s = Q_s/(S·(δ + Δ_s)) are
  formed without cancellation, so a profile whose π_ref mass is 1e-300 keeps its relative
  accuracy.
* direct KL: w ∝ Q·exp(t·e) with t = c/β. No std: closed form. A std at G = ∞: F(t) =
  β·t·s(σ(t)) − 1 with F(0) = −1; the lower root is the stable stationary point (as for the
  binary solver); when F < 0 on the whole scan there is no interior stationary point (GRPO
  drifts to the boundary) and ok is False.

Each evaluation costs O(S), so K = 3000 outputs with distinct rewards cost milliseconds where
level-space Newton needs S × S linear algebra per step.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from ._scalar import binary_root
from .level_solver import solve_levels
from .objective import Objective
from .penalties import DirectKL, ReverseKL
from .problem import RewardStructure

#: Grid points of the scan for the branch's root (geometric spacing).
_SCAN_POINTS = 1200

#: Grid points evaluated at once (the scan stops at the first chunk with a sign change).
_SCAN_CHUNK = 40


def affine_covers(obj: Objective) -> bool:
    """Whether the level advantage is affine in the reward (module docstring) and the penalty
    is one this module solves; anything else takes the level solver."""
    if obj.std == "none":
        return type(obj.penalty) in (ReverseKL, DirectKL)
    if not math.isinf(obj.group_size):
        return False
    # direct KL with eps > 0 at G = ∞ also has roots next to a vertex (s → eps there), where
    # masses underflow; the level solver judges those problems
    return type(obj.penalty) is ReverseKL or (type(obj.penalty) is DirectKL and obj.eps == 0.0)


def _moments(structure: RewardStructure, keep: NDArray[np.bool_]) -> tuple[NDArray, NDArray]:
    """(e_s, var_s): mean and variance of each kept profile's reward distribution."""
    if structure.deterministic:  # profiles are the levels: D = identity
        e = structure.levels[keep]
        return e, np.zeros(e.size)
    dist = structure.dist[keep]
    e = dist @ structure.levels
    var = np.einsum("sl,sl->s", dist, (structure.levels[None, :] - e[:, None]) ** 2)
    return e, var


def _scale(obj: Objective, var: NDArray[np.float64]) -> NDArray[np.float64]:
    """s(σ²) at G = ∞ (population and sample agree there)."""
    return obj.advantage.scale_of(var, math.inf)


def _no_std_factor(obj: Objective) -> float:
    g = obj.group_size
    return 1.0 if math.isinf(g) else obj.advantage.baseline_factor(g) * (g - 1) / g


def _reverse_masses(q: NDArray, delta: NDArray, gaps: NDArray) -> tuple[NDArray, NDArray]:
    """(w (..., S), S(δ) (...)) of the k3 fixed point for δ (...) (module docstring)."""
    ratio = q / (delta[..., None] + gaps)
    total = ratio.sum(axis=-1)
    return ratio / total[..., None], total


def _variance(w: NDArray, e: NDArray, var: NDArray) -> NDArray:
    """σ² = Σ_s w_s·(var_s + (e_s − μ)²) under profile masses w (..., S)."""
    mu = w @ e
    dev = e - mu[..., None]
    return np.einsum("...s,...s->...", w, var + dev * dev)


def _largest_root(f, hi: float, lo: float) -> tuple[float | None, int]:
    """The largest x in [lo, hi] where f changes sign from < 0 (at hi) to >= 0, or None.

    A geometric scan from hi down (in chunks, stopping at the first sign change), then
    Brent's method on log x between the two grid points. f takes an array of x.
    """
    grid = np.geomspace(hi, lo, _SCAN_POINTS)
    evals = 0
    prev_x, prev_f = None, None
    for start in range(0, grid.size, _SCAN_CHUNK):
        xs = grid[start : start + _SCAN_CHUNK]
        vals = f(xs)
        evals += xs.size
        if prev_x is None and not vals[0] < 0:
            return None, evals
        pos = np.nonzero(vals >= 0)[0]
        if pos.size:
            i = int(pos[0])
            if vals[i] == 0:
                return float(xs[i]), evals
            x_hi, f_hi = (float(xs[i - 1]), float(vals[i - 1])) if i else (prev_x, prev_f)
            x, n = binary_root(lambda t: float(f(np.array([math.exp(t)]))[0]), math.log(xs[i]),
                               math.log(x_hi), xtol=1e-15, f_lo=float(vals[i]), f_hi=f_hi)
            return math.exp(x), evals + n
        prev_x, prev_f = float(xs[-1]), float(vals[-1])
    return None, evals


def _solve_reverse(q, e, var, beta, obj) -> tuple[NDArray | None, int]:
    gaps = e.max() - e
    q_top = float(q[gaps == 0].sum())
    if obj.std == "none":
        u = _no_std_factor(obj) / beta
        # S(δ) − u changes sign on [Q_top/u, 1/u]: Brent on log δ
        def h(t: float) -> float:
            return math.log(float(np.sum(q / (math.exp(t) + gaps)))) - math.log(u)

        lo, hi = math.log(q_top / u), math.log(1.0 / u)
        if lo >= hi:  # one reachable profile: δ = 1/u, w = Q
            return q.copy(), 0
        t, n = binary_root(h, lo, hi, xtol=1e-15)
        return _reverse_masses(q, np.array(math.exp(t)), gaps)[0], n
    smax = float(e.max() - e.min()) + float(np.sqrt(var.max())) + float(_scale(obj, np.zeros(1))[0])
    smax = max(smax, 1e-300)

    def f(delta: NDArray) -> NDArray:
        w, total = _reverse_masses(q, delta, gaps)
        return beta * total * _scale(obj, _variance(w, e, var)) - 1.0

    # F < 0 for δ > β·max s (S(δ) ≤ 1/δ); scan down to the smallest normal scale
    hi = 4.0 * beta * smax
    delta, n = _largest_root(f, hi, max(hi * 1e-290, 1e-300))
    if delta is None:
        return None, n
    return _reverse_masses(q, np.array(delta), gaps)[0], n


def _tilted(q_log: NDArray, e: NDArray, t: NDArray) -> NDArray:
    """w ∝ Q·exp(t·(e − e_max)) in the log domain, shape (..., S)."""
    log_w = q_log + t[..., None] * (e - e.max())
    return np.exp(log_w - logsumexp(log_w, axis=-1, keepdims=True))


def _solve_direct(q, e, var, beta, obj) -> tuple[NDArray | None, int]:
    q_log = np.log(q)
    if obj.std == "none":
        return _tilted(q_log, e, np.array(_no_std_factor(obj) / beta)), 0
    spread = float(e.max() - e.min())
    smax = spread + float(np.sqrt(var.max())) + float(_scale(obj, np.zeros(1))[0])
    below = np.unique(e)
    gap = float(below[-1] - below[-2]) if below.size > 1 else spread
    if gap <= 0 or smax <= 0:
        return q.copy(), 0

    def f(t: NDArray) -> NDArray:
        return beta * t * _scale(obj, _variance(_tilted(q_log, e, t), e, var)) - 1.0

    lo = 0.5 / (beta * smax)  # F(t) <= β·t·max s − 1 < 0 here
    # beyond t_hi the profiles below the top hold < e^-800 of the mass (σ has underflowed);
    # with eps > 0, F > 0 from t = 1/(β·eps) on
    t_hi = (800.0 + float(q_log.max() - q_log.min())) / gap
    if obj.eps > 0:
        t_hi = max(t_hi, 2.0 / (beta * obj.eps))
    t_hi = max(t_hi, 2.0 * lo)
    # the lower root: scan up from lo (written as the largest root of −F in 1/t)
    root, n = _largest_root(lambda x: f(1.0 / x), 1.0 / lo, 1.0 / t_hi)
    if root is None:
        return None, n
    return _tilted(q_log, e, np.array(1.0 / root)), n


def solve_affine(
    q_ref: NDArray[np.float64], structure: RewardStructure, beta: float, obj: Objective
) -> tuple[NDArray[np.float64], int, bool]:
    """Profile masses w (S,) at the stationary point of one problem, as :func:`solve_levels`
    returns them: (w, evaluations, ok). ok is False where no interior stationary point exists
    (direct KL with a std at G = ∞ and small β); w is then π_ref's profile masses."""
    keep = q_ref > 0
    if int(keep.sum()) <= 2:  # one profile, or the binary solver's problem: as solve_levels does
        return solve_levels(q_ref, structure, beta, obj)
    w_full = np.zeros(structure.n_profiles)
    e, var = _moments(structure, keep)
    q = q_ref[keep]
    if not np.any(e != e[0]):  # every profile has the same mean reward: P = 0, w = Q
        w_full[keep] = q
        return w_full, 0, True
    if obj.penalty.exponential_weights:
        w, n = _solve_direct(q, e, var, beta, obj)
    else:
        w, n = _solve_reverse(q, e, var, beta, obj)
    if w is None:
        w_full[keep] = q
        return w_full, n, False
    w_full[keep] = w
    return w_full, n, True


def large_group_start(
    q_ref: NDArray[np.float64], structure: RewardStructure, beta: float, obj: Objective
) -> NDArray[np.float64] | None:
    """A Newton start for a finite-G problem whose P_G is a lattice dynamic program: the
    G = ∞ stationary point (P_G → P_∞ as G grows), or None when P_G is cheap to evaluate
    (enumeration), the objective has no G = ∞ root here, or none exists."""
    from .preference import _lattice_for  # the preference kernel's own routing rule

    if math.isinf(obj.group_size) or obj.std == "none" or not structure.deterministic:
        return None
    if _lattice_for(structure.levels, int(obj.group_size), obj.advantage) is None:
        return None
    limit = obj.with_group_size(math.inf)
    if not affine_covers(limit) or int(np.count_nonzero(q_ref)) < 3:
        return None
    w, _, ok = solve_affine(q_ref, structure, beta, limit)
    return w if ok else None
