"""Exact limits of the expected flow when it moves along one line: two outputs, or two classes.

With two outputs a, b (or, more generally, when the live outputs form two *classes* A, B of
n_A and n_B members that share reward profile, start mass and reference mass, so that
each class moves as one), the expected dynamics of :mod:`gvpo_theory.limits`

    dz(o)/dt = F_o(π) = π(o)·P_G(o|π) − β·∇_o(π)

reduce to one number, the per-member logit gap x = log(π_A/π_B) (for two outputs
x = logit π(a)):

    dx/dt = D(x) = F_A − F_B = π_A·P_A − π_B·P_B − β·(∇_A − ∇_B),

with π_A = e^x/(n_A·e^x + n_B), π_B = 1/(n_A·e^x + n_B) and ∇ the penalty's logit gradient
(``obj.penalty.logit_gradient``: k3, direct KL, verl's clamped low_var_kl, and the
zero-gradient k1 — every penalty, generically). A flow on a line cannot pass a zero of
its drift, so the limit from x0 is exact:

* D(x0) = 0: x0 is stationary and is the limit;
* otherwise x moves in the direction s = sign D(x0) to the nearest zero of D on that
  side (an attractor from x0's side: D changes sign from s to −s there, or touches 0);
* if D keeps its sign until the vanishing class's mass falls below e^−700 (the
  flow integration's underflow threshold, :data:`gvpo_theory.limits._LOG_UNDERFLOW`),
  the limit is the vertex: that class vanishes.

**Method.** D is evaluated scaled by the lighter member mass, Ď = D/π_v (the sign of
D, free of underflow down to π_v = e^−700). The softmax gradient of any penalty sums to 0
over outputs (Σ_o ∇_o = 0: E_π[D′·(e_o − π)] summed over o), so n_A·∇_A + n_B·∇_B = 0 and
∇_A − ∇_B is formed from the lighter class's gradient, which carries no cancellation
(the heavier one's is 1 − π_A times a number, lost when π_A rounds to 1). From x0 the
line is sampled outward at 64 geometrically spaced points (first step 2^−30 of the
distance to the underflow point, ratio ≈ 1.39), all problems of a batch at once; the first
sample where s·Ď ≤ 0 brackets the zero, which vectorised bisection resolves to a few ulps
of x. A sample where |Ď| is within rounding of 0 (64 ulps of the terms that form it) is
itself the zero.

**Touching zeros.** A zero where D touches 0 without changing sign (a problem exactly at
a fold in β) stops the flow from the side it touches from, so it is the limit, but a
sign test cannot see it, nor two zeros closer together than the samples. Before trusting
a sample run with no sign change, every local minimum of s·Ď among the samples is
refined by a golden-section search over its two neighbouring intervals; a minimum within
rounding of 0 is taken as the (touching) limit, a negative one brackets a crossing that
the samples skipped. What remains unseen is a dip to zero narrower than the samples
that leaves no local minimum among them; such a problem is not flagged.

**Decay law at a vertex.** With D ~ C·e^(−κ|x|) near the vertex, x(t) grows like
(1/κ)·log t and the vanishing mass like t^(−p) with p = (d log π_v/dx)/(d log |D|/dx),
read off the last two samples (one logit apart at the underflow point): p = 1 where the
advantages stay bounded at the vertex, p = 2 for a std at G = ∞ with eps = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .estimators import CLAMP_LOG_RATIO_HIGH, CLAMP_LOG_RATIO_LOW, LOG_RATIO_CLAMP
from .limits import (
    _LOG_UNDERFLOW,
    FlowLimit,
    _Classes,
    _mean_reward,
    check_start,
)
from .objective import Objective, as_objective
from .penalties import LowVarKL
from .preference import profile_preferences
from .problem import (
    Rewards,
    RewardStructure,
    check_beta,
    check_distribution,
    reward_structure,
)

#: The method string of every answer from this module.
METHOD = "line: exact 1-D drift (sign march + bracketed root)"

#: Samples of the outward march and the ratio of its first step to the whole distance.
N_SAMPLES = 64
FIRST_STEP = 2.0**-30

#: |Ď| within this many ulps of the terms that form it counts as a zero of the drift.
ZERO_ULPS = 64.0

_EPS = float(np.finfo(np.float64).eps)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class _Line:
    """A batch of line problems (m rows, K outputs) sharing one reward structure and objective.

    ``in_a``/``in_b`` mark the members of the two classes (other outputs carry no mass);
    ``rep_a``/``rep_b`` one member of each; ``log_na``/``log_nb`` the log class sizes.
    """

    ref: NDArray[np.float64]  # (m, K)
    in_a: NDArray[np.bool_]  # (m, K)
    in_b: NDArray[np.bool_]  # (m, K)
    rep_a: NDArray[np.intp]  # (m,)
    rep_b: NDArray[np.intp]  # (m,)
    log_na: NDArray[np.float64]  # (m,)
    log_nb: NDArray[np.float64]  # (m,)
    beta: NDArray[np.float64]  # (m,)
    structure: RewardStructure
    obj: Objective

    def take(self, rows: NDArray[np.intp]) -> _Line:
        return _Line(self.ref[rows], self.in_a[rows], self.in_b[rows], self.rep_a[rows],
                     self.rep_b[rows], self.log_na[rows], self.log_nb[rows], self.beta[rows],
                     self.structure, self.obj)


def _log_members(x: NDArray[np.float64], ln: _Line) -> tuple[NDArray, NDArray]:
    """Log per-member masses (log π_A, log π_B) at logit gap x (±inf: a vertex)."""
    with np.errstate(invalid="ignore"):
        lse = np.logaddexp(ln.log_na + x, ln.log_nb)
        la = np.where(x == np.inf, -ln.log_na, x - lse)
        lb = np.where(x == np.inf, -np.inf, -lse)
        la = np.where(x == -np.inf, -np.inf, la)
        lb = np.where(x == -np.inf, -ln.log_nb, lb)
    return la, lb


def _policy(la: NDArray, lb: NDArray, ln: _Line) -> NDArray[np.float64]:
    return np.where(ln.in_a, np.exp(la)[:, None], np.where(ln.in_b, np.exp(lb)[:, None], 0.0))


def _rates(p: NDArray[np.float64], ln: _Line) -> tuple[NDArray, NDArray]:
    """(π(o)·P_G(o|π) (m, K), β·∇_o (m, K)) at per-row policies p."""
    w = ln.structure.profile_masses(p)
    pref, _ = profile_preferences(w / w.sum(axis=-1, keepdims=True), ln.structure, ln.obj)
    push = p * pref[:, ln.structure.profile_of]
    pull = ln.beta[:, None] * ln.obj.penalty.logit_gradient(p, ln.ref)
    return push, pull


def _scaled_drift(x: NDArray[np.float64], ln: _Line) -> tuple[NDArray, NDArray, NDArray]:
    """(Ď = D/π_v, the size of the terms forming Ď, log π_v) at finite x; π_v the lighter member."""
    la, lb = _log_members(x, ln)
    push, pull = _rates(_policy(la, lb, ln), ln)
    rows = np.arange(x.size)
    push_a, push_b = push[rows, ln.rep_a], push[rows, ln.rep_b]
    pull_a, pull_b = pull[rows, ln.rep_a], pull[rows, ln.rep_b]
    light_b = lb <= la
    lv = np.where(light_b, lb, la)
    with np.errstate(over="ignore", invalid="ignore"):
        # D = push_a − push_b − (pull_a − pull_b), with n_A·pull_a + n_B·pull_b = 0
        t_a = push_a * np.exp(-lv)
        t_b = push_b * np.exp(-lv)
        ratio = np.where(light_b, np.exp(ln.log_nb - ln.log_na), np.exp(ln.log_na - ln.log_nb))
        t_pull = np.where(light_b, (1.0 + ratio) * pull_b, -(1.0 + ratio) * pull_a) * np.exp(-lv)
    scaled = t_a - t_b + t_pull
    size = np.abs(t_a) + np.abs(t_b) + np.abs(t_pull)
    return scaled, size, lv


def _root(lo: NDArray, hi: NDArray, s: NDArray, ln: _Line) -> NDArray[np.float64]:
    """A zero of s·Ď between lo and hi (s·Ď(lo) > 0 > s·Ď(hi); lo, hi in either order), per row.

    Illinois regula falsi on the bracket (the retained end's value halved when the same end
    is kept twice), with a bisection step whenever the secant point leaves the middle 98 %
    of the bracket; every row stops when its value is within rounding of 0 or its bracket
    is a few ulps wide.
    """
    a, b = lo.copy(), hi.copy()
    fa, _, _ = _scaled_drift(a, ln)
    fb, _, _ = _scaled_drift(b, ln)
    fa, fb = s * fa, s * fb
    side = np.zeros(a.size, dtype=np.int8)
    active = np.arange(a.size)
    for _ in range(200):
        if active.size == 0:
            break
        xa, xb, va, vb = a[active], b[active], fa[active], fb[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = xb - vb * (xb - xa) / (vb - va)
        t = (c - xa) / (xb - xa)
        c = np.where(np.isfinite(c) & (t > 0.01) & (t < 0.99), c, 0.5 * (xa + xb))
        d, size, _ = _scaled_drift(c, ln.take(active))
        vc = s[active] * d
        zero = np.abs(d) <= ZERO_ULPS * _EPS * size
        pos = vc > 0  # c replaces the end of the same sign
        a[active] = np.where(pos, c, xa)
        fa[active] = np.where(pos, vc, np.where(side[active] == -1, 0.5 * va, va))
        b[active] = np.where(pos, xb, c)
        fb[active] = np.where(pos, np.where(side[active] == 1, 0.5 * vb, vb), vc)
        side[active] = np.where(pos, 1, -1)
        b[active] = np.where(zero, c, b[active])
        width = np.abs(b[active] - a[active])
        done = zero | (width <= 4.0 * _EPS * np.maximum(np.abs(a[active]), np.abs(b[active])))
        active = active[~done]
    return b


def _golden_min(lo: NDArray, hi: NDArray, s: NDArray, ln: _Line) -> tuple[NDArray, NDArray, NDArray]:
    """(argmin, s·Ď there, rounding size there) of s·Ď on [lo, hi] by golden-section search."""
    a, b = lo.copy(), hi.copy()
    for _ in range(80):
        c = b - _GOLDEN * (b - a)
        d = a + _GOLDEN * (b - a)
        fc = s * _scaled_drift(c, ln)[0]
        fd = s * _scaled_drift(d, ln)[0]
        left = fc < fd
        a, b = np.where(left, a, c), np.where(left, d, b)
    xm = 0.5 * (a + b)
    dm, size, _ = _scaled_drift(xm, ln)
    return xm, s * dm, size


def _breakpoints(ln: _Line) -> NDArray[np.float64]:
    """Logit gaps where the drift jumps, (m, J) (NaN where there is none).

    Only verl's clamped low_var_kl has any: an output's KL gradient switches off where its
    log ratio log(π_ref/π) crosses a clamp (:data:`~gvpo_theory.estimators.CLAMP_LOG_RATIO_HIGH`,
    ``…_LOW``, ±``LOG_RATIO_CLAMP``). With S = n_A·e^x + n_B, log π_B = −log S and
    log π_A = x − log S, so log(π_ref/π) = c is reached at
    x = log(e^c/π_ref,B − n_B) − log n_A (class B) and x = log n_B − log(e^c/π_ref,A − n_A) (class A).
    """
    m = ln.beta.size
    if not isinstance(ln.obj.penalty, LowVarKL):
        return np.empty((m, 0))
    rows = np.arange(m)
    ref_a, ref_b = ln.ref[rows, ln.rep_a], ln.ref[rows, ln.rep_b]
    n_a, n_b = np.exp(ln.log_na), np.exp(ln.log_nb)
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in (CLAMP_LOG_RATIO_HIGH, CLAMP_LOG_RATIO_LOW, LOG_RATIO_CLAMP, -LOG_RATIO_CLAMP):
            out.append(np.log(math.exp(c) / ref_b - n_b) - ln.log_na)
            out.append(ln.log_nb - np.log(math.exp(c) / ref_a - n_a))
    x = np.column_stack(out)
    return np.where(np.isfinite(x), x, np.nan)


def _samples(x0: NDArray, s: NDArray, dist: NDArray, ln: _Line) -> NDArray[np.float64]:
    """The march's samples (n, M'), ordered outward from x0: geometric, plus both sides of
    every breakpoint that lies on the way (a sign change at a jump is then never skipped)."""
    frac = np.geomspace(FIRST_STEP, 1.0, N_SAMPLES)
    grid = s[:, None] * dist[:, None] * frac[None, :]  # offsets from x0, signed
    bp = _breakpoints(ln) - x0[:, None]
    if bp.shape[1]:
        delta = 1e-9 * (1.0 + np.abs(bp + x0[:, None]))
        sides = np.concatenate([bp - s[:, None] * delta, bp + s[:, None] * delta], axis=1)
        on_way = (s[:, None] * sides > 0) & (s[:, None] * sides < dist[:, None])
        grid = np.concatenate([grid, np.where(on_way, sides, grid[:, -1:])], axis=1)
        grid = np.take_along_axis(grid, np.argsort(s[:, None] * grid, axis=1), axis=1)
    return x0[:, None] + grid


def _march(x0: NDArray, ln: _Line) -> tuple[NDArray, NDArray]:
    """(limit x (±inf at a vertex), decay exponent p at a vertex (NaN otherwise)) per row."""
    m = x0.size
    x_lim = x0.copy()
    exponent = np.full(m, np.nan)
    finite = np.isfinite(x0)  # x0 = ±inf: one class only, nothing moves
    d0, size0, _ = _scaled_drift(np.where(finite, x0, 0.0), ln)
    s = np.sign(d0)
    moving = np.nonzero(finite & ~(np.abs(d0) <= ZERO_ULPS * _EPS * size0))[0]
    if moving.size == 0:
        return x_lim, exponent
    lm, sm, xm0 = ln.take(moving), s[moving], x0[moving]
    # the logit where the vanishing class's member mass reaches e^_LOG_UNDERFLOW
    winner = np.where(sm > 0, lm.log_na, lm.log_nb)
    x_end = sm * (-_LOG_UNDERFLOW - winner)
    dist = np.maximum(sm * (x_end - xm0), 1.0)
    grid = _samples(xm0, sm, dist, lm)  # (n, M)
    n, n_s = grid.shape
    rows = np.repeat(np.arange(n), n_s)
    d, size, lv = (a.reshape(n, n_s) for a in _scaled_drift(grid.reshape(-1), lm.take(rows)))
    v = sm[:, None] * d
    zero = np.abs(d) <= ZERO_ULPS * _EPS * size
    hit = zero | (v < 0)
    first = np.where(hit.any(axis=1), np.argmax(hit, axis=1), n_s)
    # local minima of s·Ď among the samples before the first hit: a dip that may reach 0
    _, _, lv0 = _scaled_drift(xm0, lm)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(s·D), compared only where s·D > 0
        vv = np.log(np.concatenate([(sm * d0[moving])[:, None], v], axis=1))
        vv += np.concatenate([lv0[:, None], lv], axis=1)  # index 0 is x0
    xs = np.concatenate([xm0[:, None], grid], axis=1)
    j = np.arange(1, n_s)
    dip = (vv[:, j] < vv[:, j - 1]) & (vv[:, j] < vv[:, j + 1]) & (j[None, :] < first[:, None])
    r_dip, j_dip = np.nonzero(dip)
    found = np.zeros(n, dtype=bool)
    lim = np.full(n, np.nan)
    if r_dip.size:
        xm, vm, sz = _golden_min(xs[r_dip, j_dip - 1], xs[r_dip, j_dip + 1], sm[r_dip], lm.take(r_dip))
        touch = np.abs(vm) <= ZERO_ULPS * _EPS * sz
        cross = (vm < 0) & ~touch
        reach = touch | cross
        # the earliest dip reaching 0 in each row (np.nonzero lists j in increasing order)
        order = np.nonzero(reach)[0]
        _, first_dip = np.unique(r_dip[order], return_index=True)
        for k in order[first_dip]:
            r = r_dip[k]
            found[r] = True
            if touch[k]:
                lim[r] = xm[k]
            else:
                lim[r] = _root(xs[r:r + 1, j_dip[k] - 1], xm[k:k + 1], sm[r:r + 1], lm.take(np.array([r])))[0]
    # first sample hit (in index 1..M of xs): a zero there, or a crossing just before it
    rest = np.nonzero(~found & (first < n_s))[0]
    if rest.size:
        k = first[rest]
        at_zero = zero[rest, k]
        lim[rest[at_zero]] = grid[rest[at_zero], k[at_zero]]
        br = rest[~at_zero]
        if br.size:
            kb = first[br]
            lim[br] = _root(xs[br, kb], grid[br, kb], sm[br], lm.take(br))
    vertex = ~found & (first >= n_s)
    lim[vertex] = sm[vertex] * np.inf
    if np.any(vertex):
        vr = np.nonzero(vertex)[0]
        back = grid[vr, -1] - sm[vr]
        d_b, _, lv_b = _scaled_drift(back, lm.take(vr))
        d_e, lv_e = d[vr, -1], lv[vr, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope_d = (np.log(np.abs(d_e)) + lv_e) - (np.log(np.abs(d_b)) + lv_b)
            exponent_v = (lv_e - lv_b) / slope_d
        ex = np.full(n, np.nan)
        ex[vr] = exponent_v
        exponent[moving] = ex
    x_lim[moving] = lim
    return x_lim, exponent


@dataclass(frozen=True)
class LineLimits:
    """Where the expected flow ends for a batch of line problems (module docstring).

    Attributes:
        policy: the limit, shape (n, K) (0 on vanished outputs).
        logit: the per-member logit gap x = log(π_A/π_B) at the limit, (n,); +inf / −inf
            where class B / class A vanishes (for two outputs: logit π(a)).
        kind: ``"interior"`` or ``"boundary"`` per problem, (n,).
        vanished: outputs whose mass goes to 0, (n, K).
        decay_exponent: p of π(o) ~ t^(−p) on vanished outputs, NaN elsewhere, (n, K).
        residual: max_o |F_o| of the expected update at the limit, (n,).
    """

    policy: NDArray[np.float64]
    logit: NDArray[np.float64]
    kind: NDArray[np.str_]
    vanished: NDArray[np.bool_]
    decay_exponent: NDArray[np.float64]
    residual: NDArray[np.float64]


def _solve(x0: NDArray[np.float64], ln: _Line) -> LineLimits:
    x, p_exp = _march(x0, ln)
    la, lb = _log_members(x, ln)
    policy = _policy(la, lb, ln)
    policy = policy / policy.sum(axis=-1, keepdims=True)
    push, pull = _rates(policy, ln)
    live = ln.in_a | ln.in_b
    residual = np.max(np.where(live, np.abs(push - pull), 0.0), axis=-1)
    vanished = (ln.in_a & (x == -np.inf)[:, None]) | (ln.in_b & (x == np.inf)[:, None])
    exponent = np.where(vanished, p_exp[:, None], np.nan)
    kind = np.where(vanished.any(axis=-1), "boundary", "interior")
    return LineLimits(policy, x, kind, vanished, exponent, residual)


def line_limits(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    pi0: ArrayLike | None = None,
) -> LineLimits:
    """Where the expected flow from π0 (default π_ref) ends, for a batch of two-output problems.

    Exact for every penalty (module docstring): the nearest zero of the 1-D drift in its
    direction, or the vertex when the drift keeps its sign until the vanishing output's
    mass is below e^−700. All problems are marched and solved together.

    Args:
        pi_ref: reference policies, shape (2,) or (n, 2).
        rewards: r(o) (2,) or a RewardDistribution over two outputs, shared by the batch.
        beta: β >= 0, a number or shape (n,) (a β grid); β = 0 and a zero-gradient penalty
            (verl's k1) leave the advantages alone.
        group_size, std, penalty, eps: the objective, as in
            :func:`~gvpo_theory.limits.flow_limit`.
        pi0: the start, (2,) or (n, 2), with π_ref's support.

    Returns:
        :class:`LineLimits` over the broadcast batch (n,), with x = logit π(a).
    """
    obj = as_objective(group_size, std, penalty, eps)
    ref = check_distribution(pi_ref, "pi_ref")
    if ref.ndim not in (1, 2) or ref.shape[-1] != 2:
        raise ValueError(f"pi_ref must have shape (2,) or (n, 2) (two outputs); got {ref.shape}")
    b = check_beta(beta, allow_zero=True)
    if b.ndim > 1:
        raise ValueError(f"beta must be a number or 1-D (n,); got shape {b.shape}")
    p0 = ref if pi0 is None else check_start(pi0, ref)
    if p0.ndim > 2:
        raise ValueError(f"pi0 must have shape (2,) or (n, 2); got {p0.shape}")
    try:
        batch = np.broadcast_shapes(ref.shape[:-1], p0.shape[:-1], b.shape)
    except ValueError as exc:
        raise ValueError(f"pi_ref {ref.shape}, pi0 {p0.shape} and beta {b.shape} do not broadcast "
                         "to one batch (n,)") from exc
    n = batch[0] if batch else 1
    ref2, p02 = np.broadcast_to(ref, (n, 2)), np.broadcast_to(p0, (n, 2))
    b1 = np.broadcast_to(b, (n,)).astype(np.float64)
    if getattr(obj.penalty, "zero_gradient", False):
        b1 = np.zeros(n)
    structure = reward_structure(rewards, 2)
    live = p02 > 0
    two = live.all(axis=1)
    # two live outputs: a is class A, b class B; one live output (the other has π_ref = 0):
    # it is class A at x = +inf from the start, and nothing moves
    in_a = np.where(two[:, None], np.array([True, False]), live)
    in_b = two[:, None] & np.array([False, True])
    rep_a = np.where(live[:, 0], 0, 1).astype(np.intp)
    ln = _Line(np.array(ref2), in_a, in_b, rep_a, np.ones(n, dtype=np.intp), np.zeros(n),
               np.zeros(n), b1, structure, obj)
    with np.errstate(divide="ignore"):
        x0 = np.where(two, np.log(p02[:, 0]) - np.log(np.where(two, p02[:, 1], 1.0)), np.inf)
    return _solve(x0, ln)


def two_class_limit(cl: _Classes, beta: float, obj: Objective, start: str, tol: float) -> FlowLimit:
    """:func:`gvpo_theory.limits.flow_limit`'s answer for one problem whose live outputs form
    exactly two classes (``cl``: classes of (profile, start mass, reference mass))."""
    member = cl.member
    ln = _Line(cl.pi_ref[None, :], (member == 0)[None, :], (member == 1)[None, :],
               cl.rep[:1].copy(), cl.rep[1:2].copy(), np.log(cl.count[:1]), np.log(cl.count[1:2]),
               np.array([beta]), cl.structure, obj)
    res = _solve(np.array([cl.log_start[0] - cl.log_start[1]]), ln)
    policy, vanished, exponent = res.policy[0], res.vanished[0], res.decay_exponent[0]
    residual = float(res.residual[0])
    means = _mean_reward(cl.structure)
    live = member >= 0
    surviving = np.unique(means[cl.structure.profile_of[live & ~vanished]])
    k = member.size
    if not vanished.any():
        kind = "interior"
        message = (f"interior: the expected flow from {start} settles at a stationary point "
                   f"(max |update| {residual:.1e}; exact on the line of its two output classes)")
    else:
        kind = "boundary"
        lost = np.unique(means[cl.structure.profile_of[vanished]])
        message = (
            f"boundary limit: no interior stationary point is reached from {start}; the expected "
            f"flow empties {int(vanished.sum())} of {k} outputs (reward "
            f"{', '.join(f'{v:g}' for v in lost)}) as t^-p with p = "
            f"{', '.join(f'{v:.3g}' for v in np.unique(np.round(exponent[vanished], 3)))} "
            f"(the drift keeps its sign until their mass is below e^{_LOG_UNDERFLOW:g}) and the rest "
            f"settles at the stationary point of the surviving outputs (max |update| {residual:.1e})"
        )
    if not residual <= tol:
        message += f"; NOT verified: the update there exceeds tol {tol:.0e}"
    return FlowLimit(policy, kind, vanished, surviving, exponent, residual, math.inf, METHOD, message)
