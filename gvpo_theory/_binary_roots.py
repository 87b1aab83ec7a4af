"""Every interior stationary point of a two-level problem, isolated with a guarantee.

For two reward levels v_0 < v_1 (level masses 1 − q and q, logit x = log(q/(1 − q)))
the interior stationary points are the roots of one function of x (the same functions
as :mod:`gvpo_theory.binary_solver`, docs/theory.md §3–§4):

* k3 / reverse KL:  f(x) = q·(1 − a_1(q)/β) − Q_1  (= Q_0 − (1 − q)·(1 − a_0(q)/β));
* direct KL:        f(x) = x − logit Q_1 − (a_1(q) − a_0(q))/β.

**Method: adaptive subdivision with range enclosures.** The x-axis is cut into intervals;
on each one an enclosure [f_lo, f_hi] ⊇ f(interval) and an enclosure of f' are computed.
An interval whose f-enclosure excludes 0 holds no root and is dropped; an interval whose
f'-enclosure excludes 0 is monotone and holds exactly one root when f changes sign
between its ends, none otherwise; any other interval is bisected. The enclosures are:

* finite G: a_l(q) = Σ_k C(n, k)·q^k·(1 − q)^(n−k)·A(l, k) (n = G − 1, A the exact
  advantage table) is a polynomial in **Bernstein form**, and so is the k3 function; on a
  subinterval the polynomial's range lies between the smallest and largest Bernstein
  coefficient after de Casteljau subdivision (the convex-hull property), and the
  derivative is again a Bernstein polynomial with coefficients n·(b_(k+1) − b_k).
  Intervals with q > ½ are worked in 1 − q (coefficients reversed), so both ends of the
  simplex are resolved down to masses of 1e-300;
* G = ∞: a_1 = Δ·(1 − q)/S(s), a_0 = −Δ·q/S(s) with s = √(q(1 − q)), Δ = v_1 − v_0 and
  the scale S(s) = max(Δ·s, κ) + e (κ = √eps for ``eps_at="var"``, else 0; e = eps;
  S = 1 without a std). a_1 − a_0 = Δ/S and q·a_1 = Δ·s²/S are monotone in s, s is
  unimodal in q, so their ranges come from the ends of the interval and the derivatives
  from interval products of monotone factors.

**Guarantee.** When the subdivision ends with no undecided interval, the returned roots
are all the interior stationary points, each in an interval where f is strictly monotone:
the count is exact *up to floating-point rounding in the enclosures* (they are evaluated
in double precision without outward rounding, so an enclosure can be off by a few ulps
of the values it bounds; a root pair closer than that to a tangency, i.e. a problem
within ~1e-13 of a fold, comes back as undecided instead of counted). Undecided
intervals (a double root at a fold, or a root closer to 0 than rounding resolves) are
reported, never guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from .objective import Objective
from .preference import _advantage_table, level_advantages_kernel

#: Logit range kept in the interior: e^-740 ~ 1e-321 is still a positive double.
_X_EDGE = 740.0
#: Bisection stops on intervals narrower than this (relative to 1 + |x|).
_MIN_WIDTH = 1e-13
_MAX_ROUNDS = 200


@dataclass(frozen=True)
class BinaryRoots:
    """Isolated roots in the logit x = log(q_1/q_0): ``roots`` (sorted), ``brackets``
    (n, 2) each holding exactly one, ``undecided`` (m, 2) intervals the enclosures could
    not resolve, ``certified`` (no undecided interval), ``n_intervals`` examined."""

    roots: NDArray[np.float64]
    brackets: NDArray[np.float64]
    undecided: NDArray[np.float64]
    certified: bool
    n_intervals: int


def _sig(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(q, 1 − q) = (σ(x), σ(−x)), each accurate near 0."""
    return np.exp(-np.logaddexp(0.0, -x)), np.exp(-np.logaddexp(0.0, x))


# ----------------------------------------------------------------- Bernstein polynomials


def _split_left(b: NDArray[np.float64], t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bernstein coefficients on [0, t] of the polynomials with coefficients b (N, n+1) on [0, 1]."""
    work = b.copy()
    out = np.empty_like(b)
    out[:, 0] = work[:, 0]
    n = b.shape[1] - 1
    tt = t[:, None]
    for r in range(1, n + 1):
        work[:, : n + 1 - r] = (1.0 - tt) * work[:, : n + 1 - r] + tt * work[:, 1 : n + 2 - r]
        out[:, r] = work[:, 0]
    return out


def _subdivide(
    b: NDArray[np.float64], t0: NDArray[np.float64], t1: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Coefficients on [t0, t1] ⊂ [0, 1] (vectorised over intervals; b (n+1,))."""
    full = np.broadcast_to(b, (t0.size, b.size))
    left = _split_left(full, t1)  # on [0, t1]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(t1 > 0, t0 / np.where(t1 > 0, t1, 1.0), 0.0)
    # the right part [s, 1] of [0, 1] is the reversed left part [0, 1 − s] of the reversal
    return _split_left(left[:, ::-1], 1.0 - s)[:, ::-1]


def _bernstein_range(
    coef: NDArray[np.float64], xa: NDArray[np.float64], xb: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Enclosure of Σ_k coef_k·B_k(q) for q = σ(x), x ∈ [xa, xb] (one interval per entry).

    Intervals with x ≥ 0 are worked in p = 1 − q with the coefficients reversed, so that
    masses near 1 keep their digits.
    """
    lo = np.empty(xa.size)
    hi = np.empty(xa.size)
    left = xb <= 0.0
    for side, b, a_end, b_end in (
        (left, coef, _sig(xa)[0], _sig(xb)[0]),
        (~left, coef[::-1], _sig(xb)[1], _sig(xa)[1]),
    ):
        if np.any(side):
            sub = _subdivide(b, a_end[side], b_end[side])
            lo[side], hi[side] = sub.min(axis=1), sub.max(axis=1)
    return lo, hi


def _derivative(coef: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bernstein coefficients of d/dq (degree n − 1): n·(b_(k+1) − b_k)."""
    n = coef.size - 1
    return n * np.diff(coef) if n > 0 else np.zeros(1)


# ----------------------------------------------------------------- interval helpers


def _mul(alo, ahi, blo, bhi):
    cands = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    return cands.min(axis=0), cands.max(axis=0)


def _qp_range(xa, xb):
    """Range of q·(1 − q) on [xa, xb] (unimodal, peak ¼ at x = 0)."""
    qa, pa = _sig(xa)
    qb, pb = _sig(xb)
    ends = np.stack([qa * pa, qb * pb])
    return ends.min(axis=0), np.where((xa <= 0) & (xb >= 0), 0.25, ends.max(axis=0))


# ----------------------------------------------------------------- the two functions


@dataclass(frozen=True)
class _Binary:
    """One two-level problem: reference masses, levels, β and the objective."""

    q_ref: NDArray[np.float64]  # (Q_0, Q_1), both > 0
    levels: NDArray[np.float64]  # (v_0, v_1), increasing
    beta: float
    obj: Objective

    @property
    def exponential(self) -> bool:
        return self.obj.penalty.exponential_weights

    @property
    def logit_ref(self) -> float:
        return float(np.log(self.q_ref[1]) - np.log(self.q_ref[0]))

    @property
    def upper(self) -> bool:
        """k3: write f on the lighter level (Q = 1 − 1e-20 rounds to 1)."""
        return bool(self.q_ref[1] <= self.q_ref[0])

    def value(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """f(x), pointwise, from the engine's kernel (the function the roots solve)."""
        q, p = _sig(np.asarray(x, dtype=np.float64))
        a = level_advantages_kernel(np.stack([p, q], axis=-1), self.levels, self.obj)
        if self.exponential:
            return x - self.logit_ref - (a[..., 1] - a[..., 0]) / self.beta
        if self.upper:
            return q * (1.0 - a[..., 1] / self.beta) - self.q_ref[1]
        return self.q_ref[0] - p * (1.0 - a[..., 0] / self.beta)


class _FiniteG:
    """Enclosures from the Bernstein form of the exact advantage table (finite G)."""

    def __init__(self, pb: _Binary) -> None:
        table = _advantage_table(pb.levels, int(pb.obj.group_size), pb.obj.advantage, 10**7)
        a0, a1 = table.advantage[:, 0], table.advantage[:, 1]  # row k: k others on level 1
        self.pb = pb
        if pb.exponential:
            self.coef = a1 - a0  # Δa(q), degree n
        else:
            n1 = a1.size  # degree N = n + 1
            j = np.arange(n1 + 1) / n1
            if pb.upper:  # q·(1 − a_1/β) − Q_1
                c = np.zeros(n1 + 1)
                c[1:] = j[1:] * (1.0 - a1 / pb.beta)
                self.coef = c - pb.q_ref[1]
            else:  # Q_0 − (1 − q)·(1 − a_0/β)
                c = np.zeros(n1 + 1)
                c[:-1] = (1.0 - j[:-1]) * (1.0 - a0 / pb.beta)
                self.coef = pb.q_ref[0] - c
        self.dcoef = _derivative(self.coef)

    def enclose(self, xa, xb):
        pb = self.pb
        lo, hi = _bernstein_range(self.coef, xa, xb)
        dlo, dhi = _bernstein_range(self.dcoef, xa, xb)
        if not pb.exponential:
            return lo, hi, dlo, dhi  # f and df/dq (monotone in q ⇔ in x)
        flo = xa - pb.logit_ref - hi / pb.beta
        fhi = xb - pb.logit_ref - lo / pb.beta
        qlo, qhi = _qp_range(xa, xb)
        plo, phi = _mul(qlo, qhi, dlo, dhi)  # q(1 − q)·Δa'(q) = dΔa/dx
        return flo, fhi, 1.0 - phi / pb.beta, 1.0 - plo / pb.beta


class _InfiniteG:
    """Enclosures from the monotone closed forms at G = ∞ (module docstring)."""

    def __init__(self, pb: _Binary) -> None:
        adv = pb.obj.advantage
        self.pb = pb
        self.delta = float(pb.levels[1] - pb.levels[0])
        self.none = adv.scale == "none"
        self.kappa = math.sqrt(adv.eps) if adv.eps_at == "var" else 0.0
        self.e = adv.eps

    def scale(self, s):
        """S(s) and an enclosure of dS/ds on intervals [s] (vectorised on s ends)."""
        if self.none:
            return np.ones_like(s)
        return np.maximum(self.delta * s, self.kappa) + self.e

    def _s_range(self, xa, xb):
        qlo, qhi = _qp_range(xa, xb)
        return np.sqrt(qlo), np.sqrt(qhi)

    def _dscale(self, slo, shi):
        """Enclosure of S'(s) on [slo, shi]: Δ above the kink Δ·s = κ, 0 below."""
        if self.none:
            z = np.zeros_like(slo)
            return z, z
        above = self.delta * slo >= self.kappa
        below = self.delta * shi <= self.kappa
        lo = np.where(above & ~below, self.delta, 0.0)
        hi = np.where(below & ~above, 0.0, self.delta)
        return lo, hi

    def enclose(self, xa, xb):
        pb, d = self.pb, self.delta
        slo, shi = self._s_range(xa, xb)
        s_lo_scale, s_hi_scale = self.scale(slo), self.scale(shi)
        dslo, dshi = self._dscale(slo, shi)
        qa, pa = _sig(xa)
        qb, pbb = _sig(xb)
        # (1 − 2q) ranges over [1 − 2q_b, 1 − 2q_a] = [p_b − q_b, p_a − q_a]
        tlo, thi = pbb - qb, pa - qa
        if pb.exponential:
            # f = x − L − Δ/(β·S(s)); Δ/S decreasing in s
            with np.errstate(divide="ignore"):
                flo = xa - pb.logit_ref - d / (pb.beta * s_lo_scale)
                fhi = xb - pb.logit_ref - d / (pb.beta * s_hi_scale)
            # f' = 1 + Δ·S'(s)·s·(1 − 2q)/(2β·S²)
            klo, khi = _mul(dslo, dshi, slo, shi)
            with np.errstate(divide="ignore", invalid="ignore"):
                klo, khi = klo / (2.0 * pb.beta * s_hi_scale**2), khi / (2.0 * pb.beta * s_lo_scale**2)
            plo, phi = _mul(klo, khi, tlo, thi)
            return flo, fhi, 1.0 + d * plo, 1.0 + d * phi
        # k3: f = q − Δ·φ(s)/β − Q_1 (or Q_0 − (1 − q) − Δ·φ(s)/β), φ = s²/S increasing
        with np.errstate(divide="ignore", invalid="ignore"):
            phi_lo = np.where(slo > 0, slo**2 / s_lo_scale, 0.0)
            phi_hi = np.where(shi > 0, shi**2 / s_hi_scale, 0.0)
        if pb.upper:
            flo = qa - d * phi_hi / pb.beta - pb.q_ref[1]
            fhi = qb - d * phi_lo / pb.beta - pb.q_ref[1]
        else:
            flo = pb.q_ref[0] - pa - d * phi_hi / pb.beta
            fhi = pb.q_ref[0] - pbb - d * phi_lo / pb.beta
        # df/dq = 1 − (Δ/β)·(1 − 2q)·(2S − s·S')/(2S²), with 2S − s·S' ≥ S > 0
        nlo, nhi = _mul(slo, shi, dslo, dshi)
        num_lo, num_hi = 2.0 * s_lo_scale - nhi, 2.0 * s_hi_scale - nlo
        with np.errstate(divide="ignore", invalid="ignore"):
            rlo, rhi = num_lo / (2.0 * s_hi_scale**2), num_hi / (2.0 * s_lo_scale**2)
        plo, phi = _mul(tlo, thi, rlo, rhi)
        return flo, fhi, 1.0 - d * phi / pb.beta, 1.0 - d * plo / pb.beta


def _domain(pb: _Binary, enclosure) -> tuple[float, float]:
    """A logit interval outside which f provably has no root (module docstring)."""
    if not pb.exponential:
        return -_X_EDGE, _X_EDGE  # tails are checked as q-intervals reaching 0 and 1
    lref = pb.logit_ref
    if isinstance(enclosure, _FiniteG):
        spread = float(np.max(np.abs(enclosure.coef)))  # |Δa| ≤ max |coefficient|
        return lref - spread / pb.beta - 1.0, lref + spread / pb.beta + 1.0
    # G = ∞: Δa = Δ/S ≥ 0, so f ≤ x − L < 0 left of L
    s0 = float(enclosure.scale(np.zeros(1))[0])
    if s0 > 0:
        return lref - 1.0, lref + enclosure.delta / (pb.beta * s0) + 1.0
    # unbounded advantages: f = x − L − 2·cosh(x/2)/β is concave; past its peak
    # (x > 2·asinh β) a negative value stays negative
    right = max(lref, 2.0 * math.asinh(pb.beta)) + 2.0
    while right < _X_EDGE and float(pb.value(np.array([right]))[0]) >= 0:
        right = 2.0 * right + 2.0
    return lref - 1.0, min(right, _X_EDGE)


def isolate_binary_roots(
    q_ref: NDArray[np.float64], levels: NDArray[np.float64], beta: float, obj: Objective,
    *, n_initial: int = 64,
) -> BinaryRoots:
    """All roots of the two-level stationarity function, isolated (module docstring).

    ``q_ref`` (2,) both positive, ``levels`` (2,) increasing. Roots are refined by
    Brent's method inside their isolating brackets.
    """
    pb = _Binary(np.asarray(q_ref, dtype=np.float64), np.asarray(levels, dtype=np.float64),
                 float(beta), obj)
    enc = _InfiniteG(pb) if math.isinf(obj.group_size) else _FiniteG(pb)
    lo_x, hi_x = _domain(pb, enc)
    edges = np.linspace(lo_x, hi_x, n_initial + 1)
    xa, xb = edges[:-1], edges[1:]
    if not pb.exponential:
        # k3: the whole simplex, tails down to q = 0 and q = 1 included
        xa = np.concatenate([[-np.inf], xa, [hi_x]])
        xb = np.concatenate([[lo_x], xb, [np.inf]])
    brackets: list[tuple[float, float]] = []
    undecided: list[tuple[float, float]] = []
    examined = 0
    for _ in range(_MAX_ROUNDS):
        if xa.size == 0:
            break
        examined += xa.size
        flo, fhi, dlo, dhi = enc.enclose(xa, xb)
        maybe = ~((flo > 0) | (fhi < 0))
        xa, xb, dlo, dhi = xa[maybe], xb[maybe], dlo[maybe], dhi[maybe]
        monotone = (dlo > 0) | (dhi < 0)
        if np.any(monotone):
            ma, mb = xa[monotone], xb[monotone]
            fa, fb = _end_values(pb, ma), _end_values(pb, mb)
            change = (fa >= 0) != (fb >= 0)
            brackets += list(zip(ma[change].tolist(), mb[change].tolist()))
        xa, xb = xa[~monotone], xb[~monotone]
        width = xb - xa
        small = np.isfinite(width) & (width <= _MIN_WIDTH * (1.0 + np.maximum(np.abs(xa), np.abs(xb))))
        undecided += list(zip(xa[small].tolist(), xb[small].tolist()))
        xa, xb = xa[~small], xb[~small]
        mid = np.where(np.isinf(xa), xb - 1.0, np.where(np.isinf(xb), xa + 1.0, 0.5 * (xa + xb)))
        xa, xb = np.concatenate([xa, mid]), np.concatenate([mid, xb])
    undecided += list(zip(xa.tolist(), xb.tolist()))
    brackets.sort()
    roots = np.array([_refine(pb, a, b) for a, b in brackets])
    return BinaryRoots(
        roots=roots,
        brackets=np.array(brackets, dtype=np.float64).reshape(-1, 2),
        undecided=np.array(sorted(undecided), dtype=np.float64).reshape(-1, 2),
        certified=not undecided,
        n_intervals=int(examined),
    )


def _end_values(pb: _Binary, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """f at interval ends; the limits at x = ±∞ (k3 tails): −Q_1 at q = 0, Q_0 at q = 1."""
    out = np.empty(x.size)
    lo, hi = x == -np.inf, x == np.inf
    out[lo], out[hi] = -pb.q_ref[1], pb.q_ref[0]
    mid = ~(lo | hi)
    out[mid] = pb.value(x[mid])
    return out


def _refine(pb: _Binary, a: float, b: float) -> float:
    """The root inside an isolating bracket (Brent), infinite ends pulled in first."""
    if math.isinf(a):
        a = b - 1.0
        while float(pb.value(np.array([a]))[0]) >= 0 and a > -2 * _X_EDGE:
            a = 2.0 * a - 1.0
    if math.isinf(b):
        b = a + 1.0
        while float(pb.value(np.array([b]))[0]) < 0 and b < 2 * _X_EDGE:
            b = 2.0 * b + 1.0
    fa = float(pb.value(np.array([a]))[0])
    fb = float(pb.value(np.array([b]))[0])
    if fa == 0.0:
        return a
    if fb == 0.0 or (fa > 0) == (fb > 0):
        return b
    return float(brentq(lambda t: float(pb.value(np.array([t]))[0]), a, b, xtol=1e-15, rtol=1e-15,
                        maxiter=500))
