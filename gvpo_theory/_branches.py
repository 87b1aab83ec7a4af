"""Branches of stationary points in β, and multi-start Newton, for three or more levels.

Unknowns as in :mod:`gvpo_theory.level_solver`: z = log(m_l/m_0), l ≥ 1, for the level
masses m, and the residual R(z; β) = log m − log T(m) whose zeros are the stationary
points. Two tools:

* :func:`trace_branch` — pseudo-arclength continuation of the curve R(z; e^s) = 0 in
  (z, s = log β): tangent from the null vector of [∂R/∂z, ∂R/∂s], Euler predictor,
  Newton corrector on R = 0 plus the arclength condition. It walks through folds
  (saddle-node points, where the branch turns back in β), records them, and stops at
  the ends of the β window or where a level mass leaves double precision (|z| > 600);
* :func:`find_level_points` — every stationary point this search finds at one β: the
  crossings of the target β by the branches traced from both ends (β → ∞, where the
  only stationary point is ≈ π_ref, and β/100, from multi-start points there), and
  Newton from starts at the vertices, the faces and random points in logit space,
  deduplicated.

Guarantee: none of completeness. A branch that connects to neither end (an isola) and
whose basin under Newton misses every start is not found. Each point reports how many
starts reached it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .level_solver import _ACCEPT, _newton, _Problem, _residual, _rounding_floor
from .preference import level_advantages_kernel

#: A level mass below e^-600 counts as having left the interior (the branch ends).
_Z_MAX = 600.0


def level_problem(q_ref: NDArray[np.float64], levels: NDArray[np.float64], obj) -> _Problem:
    """The level problem (one profile per level, all with positive reference mass)."""
    n = q_ref.size
    dist = np.eye(n)
    with np.errstate(divide="ignore"):
        return _Problem(np.log(q_ref), dist, np.log(dist), np.asarray(levels, dtype=np.float64), obj)


def _lse(x: NDArray[np.float64], axis: int | None = None) -> NDArray[np.float64]:
    """log Σ exp(x) along ``axis`` (plain numpy: this runs in the continuation's inner loop)."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    out = top + np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def masses(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """m = softmax([0, z])."""
    logits = np.concatenate([[0.0], z])
    return np.exp(logits - _lse(logits))


def _system(
    z: NDArray[np.float64], s: float, pb: _Problem
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None:
    """(R, ∂R/∂z, ∂R/∂s) at (z, s = log β); None where R is undefined.

    ∂R/∂s: at fixed P, scaling β by (1 + ds) moves P/β like dP = −P·ds at fixed β, so
    d log w/ds = (penalty's d log w along dP = −P) and dR/ds = −Σ_s share·d log w_s.
    """
    beta = math.exp(s)
    out = _residual(z, pb, beta, True)
    if out is None:
        return None
    r, jz = out
    m = masses(z)
    pref = pb.dist @ level_advantages_kernel(m, pb.levels, pb.obj)
    log_w = pb.obj.penalty.log_weights(pb.q_log, pref, beta)
    if log_w is None:
        return None
    log_t = _lse(log_w[:, None] + pb.log_dist, axis=0)
    dlogw = pb.obj.penalty.dlog_weights(-pref[:, None], pref, beta, np.exp(log_w))
    share = np.exp(pb.log_dist + log_w[:, None] - log_t[None, :])
    js = -(share.T @ dlogw)[:, 0]
    if not np.all(np.isfinite(js)):
        return None
    return r, jz, js


def _tangent(jz: NDArray[np.float64], js: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit null vector of [∂R/∂z, ∂R/∂s] (L × L of rank L − 1)."""
    a = np.column_stack([jz, js])
    return np.linalg.svd(a)[2][-1]


@dataclass
class Branch:
    """Points (z, s) along a traced branch, in order, with the tangents' s-components
    and the refined fold points (z, s) where the branch turns back in β."""

    z: list[NDArray[np.float64]] = field(default_factory=list)
    s: list[float] = field(default_factory=list)
    ds: list[float] = field(default_factory=list)
    folds: list[tuple[NDArray[np.float64], float]] = field(default_factory=list)
    end: str = ""


def _correct(
    y_pred: NDArray[np.float64], t: NDArray[np.float64], pb: _Problem, anchor: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Newton on [R(y); t·(y − anchor)] = 0 from y_pred; (y, new tangent) or None."""
    y = y_pred.copy()
    for _ in range(12):
        out = _system(y[:-1], float(y[-1]), pb)
        if out is None:
            return None
        r, jz, js = out
        g = np.concatenate([r, [t @ (y - anchor)]])
        if float(np.max(np.abs(g))) <= 1e-12:
            return y, _tangent(jz, js)
        jac = np.vstack([np.column_stack([jz, js]), t[None, :]])
        step = np.linalg.lstsq(jac, -g, rcond=None)[0]
        y = y + step
        if not np.all(np.isfinite(y)) or float(np.max(np.abs(step))) > 1.0 + 0.1 * float(np.max(np.abs(y))):
            return None
    out = _system(y[:-1], float(y[-1]), pb)
    if out is None or float(np.max(np.abs(out[0]))) > 1e-10:
        return None
    return y, _tangent(out[1], out[2])


def trace_branch(
    z0: NDArray[np.float64], s0: float, pb: _Problem, direction: float, s_lo: float, s_hi: float,
    *, h_max: float = 0.08, max_steps: int = 4000,
) -> Branch:
    """Follow the branch through the stationary point z0 at s0 = log β0 (module docstring).

    ``direction`` −1 starts towards smaller β, +1 towards larger; the walk continues
    through folds until s leaves [s_lo, s_hi], a level mass leaves the interior, or the
    step collapses.
    """
    br = Branch()
    out = _system(z0, s0, pb)
    if out is None:
        br.end = "undefined start"
        return br
    y = np.concatenate([z0, [s0]])
    t = _tangent(out[1], out[2])
    if t[-1] * direction < 0:
        t = -t
    br.z.append(z0.copy())
    br.s.append(s0)
    br.ds.append(float(t[-1]))
    h = h_max / 4
    for _ in range(max_steps):
        step = _correct(y + h * t, t, pb, y + h * t)
        if step is None:
            h *= 0.5
            if h < 1e-9:
                br.end = "step collapsed"
                return br
            continue
        y_new, t_new = step
        if t_new @ t < 0:
            t_new = -t_new
        if t_new[-1] * t[-1] < 0:
            br.folds.append(_refine_fold(y, t, h, pb))
        y, t = y_new, t_new
        br.z.append(y[:-1].copy())
        br.s.append(float(y[-1]))
        br.ds.append(float(t[-1]))
        if not s_lo <= y[-1] <= s_hi:
            br.end = "left the beta window"
            return br
        if float(np.max(np.abs(y[:-1]))) > _Z_MAX:
            br.end = "reached the boundary"
            return br
        # far out on a branch (a level mass e^-z) the curve is nearly straight in z:
        # let the step grow with |z|
        h = min(1.4 * h, h_max * (1.0 + float(np.max(np.abs(y[:-1]))) / 5.0))
    br.end = "step budget spent"
    return br


def _refine_fold(
    y: NDArray[np.float64], t: NDArray[np.float64], h: float, pb: _Problem
) -> tuple[NDArray[np.float64], float]:
    """The turning point between y and the next point: bisection in the arclength on the
    sign of the tangent's s-component (which changes sign exactly at the fold)."""
    lo, hi = 0.0, h
    best = y
    sign0 = t[-1]
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        step = _correct(y + mid * t, t, pb, y + mid * t)
        if step is None:
            break
        y_mid, t_mid = step
        if t_mid @ t < 0:
            t_mid = -t_mid
        best = y_mid
        if t_mid[-1] * sign0 > 0:
            lo = mid
        else:
            hi = mid
    return best[:-1].copy(), float(best[-1])


def crossings(br: Branch, s_target: float, pb: _Problem) -> list[NDArray[np.float64]]:
    """Stationary points at β = e^s_target where the traced branch crosses it (polished)."""
    found = []
    beta = math.exp(s_target)
    for i in range(len(br.s) - 1):
        a, b = br.s[i] - s_target, br.s[i + 1] - s_target
        if a == 0 or a * b < 0:
            w = 0.0 if a == 0 else a / (a - b)
            guess = (1 - w) * br.z[i] + w * br.z[i + 1]
            z, err, _ = _newton(guess, pb, beta, 1e-15, 50)
            if _accepted(z, err, pb, beta):
                found.append(z)
    return found


def _accepted(z: NDArray[np.float64], err: float, pb: _Problem, beta: float) -> bool:
    return bool(np.all(np.isfinite(z))) and (
        err <= _ACCEPT or (err < 1e-6 and err <= _rounding_floor(z, pb, beta))
    )


def _starts(n_levels: int, q_log: NDArray[np.float64], n_random: int, seed: int):
    """(category, z) start points: π_ref, uniform, near each vertex, each face's centre,
    random points in logit space."""
    def z_of(m: NDArray[np.float64]) -> NDArray[np.float64]:
        lm = np.log(m)
        return lm[1:] - lm[0]

    yield "reference", q_log[1:] - q_log[0]
    yield "uniform", np.zeros(n_levels - 1)
    for l in range(n_levels):
        m = np.full(n_levels, 1e-3)
        m[l] = 1.0 - 1e-3 * (n_levels - 1)
        yield "vertex", z_of(m)
    for size in range(2, n_levels):
        for face in itertools.combinations(range(n_levels), size):
            m = np.full(n_levels, 1e-6)
            m[list(face)] = (1.0 - 1e-6 * (n_levels - size)) / size
            yield "face", z_of(m)
    rng = np.random.default_rng(seed)
    for _ in range(n_random):
        yield "random", rng.normal(0.0, 4.0, n_levels - 1)


@dataclass
class Found:
    """A stationary point z found by the search and how many starts of each kind reached it."""

    z: NDArray[np.float64]
    starts: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.starts.values())


def _add(found: list[Found], z: NDArray[np.float64], how: str) -> None:
    for f in found:
        if float(np.max(np.abs(f.z - z))) <= 1e-7 * (1.0 + float(np.max(np.abs(z)))):
            f.starts[how] = f.starts.get(how, 0) + 1
            return
    found.append(Found(z.copy(), {how: 1}))


def find_level_points(
    pb: _Problem, beta: float, *, n_random: int = 16, seed: int = 0, span: float = 100.0
) -> list[Found]:
    """Every stationary point of the level problem at β that the search finds (module docstring).

    Branch ends: the one through π_ref at β_hi = max(β·span, 10·(1 + max|a|)) and the
    points found by multi-start Newton at β/span, each traced across the target β.
    """
    s_target = math.log(beta)
    found: list[Found] = []
    # 1. multi-start Newton at the target β
    for how, z0 in _starts(pb.levels.size, pb.q_log, n_random, seed):
        z, err, _ = _newton(z0, pb, beta, 1e-15, 30)
        if _accepted(z, err, pb, beta):
            _add(found, z, how)
    # 2. continuation from the large-β end (the branch through ≈ π_ref)
    m_ref = np.exp(pb.q_log)
    a_scale = float(np.max(np.abs(level_advantages_kernel(m_ref, pb.levels, pb.obj))))
    s_hi = math.log(max(beta * span, 10.0 * (1.0 + a_scale)))
    s_lo = s_target - math.log(span)
    z_hi, err, _ = _newton(pb.q_log[1:] - pb.q_log[0], pb, math.exp(s_hi), 1e-15, 50)
    if _accepted(z_hi, err, pb, math.exp(s_hi)):
        br = trace_branch(z_hi, s_hi, pb, -1.0, s_lo, s_hi + 1e-9)
        for z in crossings(br, s_target, pb):
            _add(found, z, "continuation from large beta")
    # 3. continuation from the small-β end: multi-start there, each point traced upwards
    beta_lo = math.exp(s_lo)
    low: list[Found] = []
    for _how, z0 in _starts(pb.levels.size, pb.q_log, n_random // 2, seed + 1):
        z, err, _ = _newton(z0, pb, beta_lo, 1e-15, 30)
        if _accepted(z, err, pb, beta_lo):
            _add(low, z, "low")
    for f in low:
        br = trace_branch(f.z, s_lo, pb, +1.0, s_lo - 1e-9, s_hi)
        for z in crossings(br, s_target, pb):
            _add(found, z, "continuation from small beta")
    return found
