"""Exact level advantages a_l(m) for reward levels on a lattice, by a dynamic program over sums.

GRPO's advantage of a member scoring v_l, given the other G − 1 rewards r_2..r_G, is
A = f·(v_l − mean)/(std + eps) (docs/theory.md, `grpo-stationarity`; Vojnovic & Yun eq. (2))
with f = 1 for the group mean and f = G/(G − 1) for the leave-one-out baseline (RLOO), and
A = 0 when all G rewards tie. It depends on the others only through S1 = Σ r_j and
S2 = Σ r_j²: with T1 = v_l + S1 and T2 = v_l² + S2 the group has mean T1/G and population
variance (G·T2 − T1²)/G².

For levels on a lattice, v_l = offset + step·k_l with integers 0 = k_0 < … < k_{L−1} = K
(a 0–10 judge score: K = 10), the pair (S1, S2) in lattice units takes polynomially many
values, and its distribution under G − 1 iid draws from m is a dynamic program over draws:

    P_{t+1}(s1 + k_j, s2 + k_j²) += m_j · P_t(s1, s2),        P_0 = δ(0, 0),

so a_l(m) = Σ_{s1,s2} P_{G−1}(s1, s2)·A(l; s1, s2) exactly, without enumerating the
C(G + L − 2, L − 1) count vectors of :func:`gvpo_theory.preference.level_advantages`.
The DP uses D = K·S1 − S2 = Σ k_j(K − k_j) ∈ [0, G·K²/4] instead of S2 (4× fewer cells) and
stores only the cells of one parity (D ≡ (K − 1)·S1 mod 2 always), so the final table has
about (G − 1)·K × (G − 1)·K²/8 cells and a step touches each live cell once per level.
Masses are propagated in the linear domain: every cell is a sum of non-negative products
(relative error ≤ (G − 1)·ε, no cancellation), and a cell underflows only when its true
mass is below ~1e-308, so masses as small as 1e-300 keep their full relative accuracy
in first order.

The Jacobian uses the derivative of the polynomial Σ_c Mult(c; G − 1, m)·A(l, c):

    ∂a_l/∂m_j = Σ_c Mult(c)·(c_j/m_j)·A(l, c) = (G − 1)·E_{S ~ P_{G−2}}[A(l; S + (k_j, k_j²))],

the second form needing no division by m_j (and valid at m_j = 0, where it is the
one-sided derivative into the simplex). Summing m_j times it over j gives (G − 1)·a_l
(Euler's identity for a homogeneous polynomial of degree G − 1).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg.blas import daxpy

from ._threads import blas_threads
from .problem import SUM_TOL, as_float_array, check_distribution

#: Largest lattice span K = (v_max − v_min)/step accepted; beyond it the levels are treated as
#: not on a lattice (irrational-looking values such as √2 have an exact dyadic K ~ 2^52).
MAX_SPAN = 4096

#: Default cap on the DP work (cell updates, :func:`lattice_cost`): ~2 ns each in numpy.
MAX_UPDATES = 20_000_000_000

#: Largest denominator tried when reading a float level as a rational p/q (the float must be
#: the correctly rounded value of p/q: 0.3 reads as 3/10).
MAX_DENOMINATOR = 1_000_000

_SCALES = ("population", "sample", "none")
_BASELINES = ("mean", "leave_one_out")
_NS_PER_UPDATE = 2.5  # measured order of magnitude for the estimate in the refusal message
_BATCH_CELLS = 8_000_000  # cells of one DP array (batch × table) processed at once
_MIN_ENUMERATION_WORK = 20_000  # terms × L below which enumeration is always kept


class Lattice(NamedTuple):
    """Levels v_l = offset + step·k_l with integer k_0 = 0 < … < k_{L−1} = span."""

    offset: Fraction
    step: Fraction
    k: tuple[int, ...]

    @property
    def span(self) -> int:
        return self.k[-1]


class LatticeCost(NamedTuple):
    """Size of the dynamic program for one m: see :func:`lattice_cost`."""

    span: int
    cells: int
    updates: int
    bytes: int


def _as_rational(v: float) -> Fraction:
    """The simplest p/q (q ≤ MAX_DENOMINATOR) whose correctly rounded double is v, else v exactly.

    Exact, tolerance-free: ``float(Fraction(p, q)) == v`` is the test. Every double is itself
    a dyadic rational, so the fallback is exact too (and usually gives an enormous span).
    """
    exact = Fraction(v)
    near = exact.limit_denominator(MAX_DENOMINATOR)
    return near if float(near) == v else exact


def _check_levels(levels: ArrayLike) -> NDArray[np.float64]:
    v = as_float_array(levels, "levels")
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"levels must be a non-empty 1-D array of reward values; got shape {v.shape}")
    if not np.all(v[1:] > v[:-1]):
        raise ValueError("levels must be strictly increasing (distinct reward values)")
    return v


def find_lattice(levels: ArrayLike, *, max_span: int = MAX_SPAN) -> Lattice:
    """The coarsest lattice offset + step·ℤ containing the levels, found with exact rationals.

    Each level is read as the simplest rational whose double it is (0.1 → 1/10), the step is
    the gcd of the differences v_l − v_0 and k_l = (v_l − v_0)/step. Raises ValueError when
    the levels are not strictly increasing, or when the span K = k_{L−1} exceeds ``max_span``
    (the levels are then not on a usable lattice, e.g. {0, 1, √2}).
    """
    v = _check_levels(levels)
    if v.size == 1:
        return Lattice(_as_rational(float(v[0])), Fraction(1), (0,))
    rats = [_as_rational(float(x)) for x in v]
    diffs = [r - rats[0] for r in rats[1:]]
    den = math.lcm(*(d.denominator for d in diffs))
    nums = [d.numerator * (den // d.denominator) for d in diffs]
    g = math.gcd(*nums)
    k = (0, *(n // g for n in nums))
    if k[-1] > max_span:
        raise ValueError(
            f"levels are not on a lattice with at most max_span={max_span} steps: the finest "
            f"lattice containing them exactly (step {Fraction(g, den)}) spans K = {k[-1]} steps; "
            "use preference.level_advantages (enumeration) or preference_model_mc"
        )
    return Lattice(rats[0], Fraction(g, den), k)


def _table_shape(span: int, n: int) -> tuple[int, int]:
    """Rows (S1 // 2) and columns (D // 2) of one parity plane for n draws, with margins."""
    return (n * span) // 2 + 2, (n * span * span // 4) // 2 + 3


def lattice_cost(levels: ArrayLike, group_size: int) -> LatticeCost:
    """Size of the dynamic program of :func:`lattice_level_advantages` for one m.

    ``cells``: entries of the final (S1, D) table (two parity planes); ``updates``: cell
    updates over all G − 1 draws, Σ_t (live cells at t) × L (the work, ~2 ns each);
    ``bytes``: memory of the three working tables.
    """
    return _cost(find_lattice(levels), _check_group_size(group_size))


def _cost(lat: Lattice, g: int) -> LatticeCost:
    n = g - 1
    span = lat.span
    rows, cols = _table_shape(span, n)
    cells = 2 * rows * cols
    updates = 0
    for t in range(n):
        updates += 2 * ((t * span) // 2 + 1) * ((t * span * span // 4) // 2 + 1)
    return LatticeCost(span, cells, updates * len(lat.k), 3 * 8 * cells)


def _check_group_size(group_size: int) -> int:
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)):
        raise ValueError(f"group_size must be an integer >= 2; got {group_size!r}")
    if group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2; got {group_size}")
    return int(group_size)


def _check_masses(level_masses: ArrayLike, n_levels: int) -> NDArray[np.float64]:
    m = check_distribution(level_masses, "level_masses", tol=SUM_TOL)
    if m.shape[-1] != n_levels:
        raise ValueError(f"level_masses has {m.shape[-1]} entries on its last axis but levels has {n_levels}")
    return m


def _check_options(scale: str, eps: float, baseline: str) -> float:
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {_SCALES}; got {scale!r}")
    if baseline not in _BASELINES:
        raise ValueError(f"baseline must be one of {_BASELINES}; got {baseline!r}")
    try:
        e = float(eps)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"eps must be a finite number >= 0; got {eps!r}") from exc
    if not (math.isfinite(e) and e >= 0.0):
        raise ValueError(f"eps must be a finite number >= 0; got {eps!r}")
    return e


def _parity_offset(span: int, p: int) -> int:
    """D mod 2 on the rows with S1 ≡ p (mod 2): D ≡ (K − 1)·S1."""
    return ((span - 1) * p) % 2


def _shift(span: int, k: int, p: int) -> tuple[int, int, int]:
    """Where a draw at lattice index k sends parity plane p: (plane, row shift, column shift)."""
    q = (p + k) % 2
    return q, (p + k) // 2, (_parity_offset(span, p) + k * (span - k) - _parity_offset(span, q)) // 2


def _step_width(span: int, t: int) -> int:
    """Columns of the planes that hold t + 1 draws (D // 2 ≤ (t + 1)·K²/8, with margin)."""
    return (((t + 1) * span * span) // 4) // 2 + 3


def _distribution(m: NDArray[np.float64], lat: Lattice, n: int) -> NDArray[np.float64]:
    """P_n over (plane p, row i, column e), shape (B, 2, rows, cols), for masses m (B, L).

    Cell (p, i, e) is S1 = 2i + p, D = 2e + ((K − 1)·p mod 2). Each plane is stored row-major
    with a width that grows with the number of draws and processed as one flat vector, so a
    draw at level j is one contiguous multiply-add at a fixed offset i·width + e (numpy, no
    BLAS threads: a threaded daxpy was 10× slower on a loaded 2-core machine; a single m
    takes one single-threaded daxpy per shift, half the memory passes). Columns never wrap
    (the width exceeds the live columns plus the largest column shift); the zero cells after
    each live row are shifted along harmlessly.
    """
    span = lat.span
    rows, cols = _table_shape(span, n)
    size = rows * cols
    b = m.shape[0]
    cur = np.zeros((b, 2, size))
    nxt = np.zeros_like(cur)
    tmp = np.empty((b, size))
    cur[:, 0, 0] = 1.0
    shifts = [[_shift(span, k, p) for p in (0, 1)] for k in lat.k]
    width_src = _step_width(span, 0)
    active = [j for j in range(len(lat.k)) if np.any(m[:, j])]  # levels some m gives mass
    scalars = [float(x) for x in m[0]]
    with np.errstate(under="ignore"), blas_threads(1):
        for t in range(n):
            width = width_src
            if _step_width(span, t) > width_src:
                # grow with ~25 % slack, so the rows are re-laid out O(log n) times, not n
                width = _step_width(span, min(n - 1, t + max(2, t // 4)))
            r1 = (t * span) // 2 + 1
            r2 = (t * span * span // 4) // 2 + 1
            if width != width_src:  # re-lay the live rows out at the new width
                old = cur[:, :, : r1 * width_src].reshape(b, 2, r1, width_src).copy()
                fresh = cur[:, :, : r1 * width].reshape(b, 2, r1, width)
                fresh[..., :width_src] = old
                fresh[..., width_src:] = 0.0
                width_src = width
            length = (r1 - 1) * width + r2  # the live prefix of a plane
            n1 = ((t + 1) * span) // 2 + 2
            nxt[:, :, : min(n1 * width, size)] = 0.0
            for j in active:
                w = m[:, j, None]
                for p in (0, 1) if t else (0,):
                    q, di, de = shifts[j][p]
                    off = di * width + de
                    if b == 1:  # one fused pass (BLAS axpy on one thread, see _threads)
                        daxpy(cur[0, p, :length], nxt[0, q, off : off + length], a=scalars[j])
                        continue
                    dst = nxt[:, q, off : off + length]
                    src = tmp[:, :length]
                    np.multiply(cur[:, p, :length], w, out=src)
                    np.add(dst, src, out=dst)
            cur, nxt = nxt, cur
    return cur[:, :, : rows * cols].reshape(b, 2, rows, cols)


@lru_cache(maxsize=8)
def _advantage_grid(
    k: tuple[int, ...], step: float, group_size: int, n: int, scale: str, eps: float, baseline: str
) -> NDArray[np.float64]:
    """A(l; S1, D) on the (plane, row, column) grid of P_n, shape (L, 2·rows·cols).

    With T1 = k_l + S1, T2 = k_l² + K·S1 − D (lattice units), N = G·T2 − T1² is an exact
    integer, G²·var_pop/step² = N; A = f·step·(G·k_l − T1)/G / (s + eps) with
    s = step·√N/G (population), step·√(N/(G(G − 1))) (sample) or A = f·step·(G·k_l − T1)/G
    (no scale). N = 0 is a tie (A = 0); cells with N < 0 are unreachable (mass 0).
    """
    span = k[-1]
    g = group_size
    rows, cols = _table_shape(span, n)
    i = np.arange(rows, dtype=np.int64)[:, None]
    e = np.arange(cols, dtype=np.int64)[None, :]
    factor = g / (g - 1) if baseline == "leave_one_out" else 1.0
    out = np.empty((len(k), 2, rows, cols))
    for p in (0, 1):
        s1 = 2 * i + p
        d = 2 * e + _parity_offset(span, p)
        s2 = span * s1 - d
        for l, kl in enumerate(k):
            t1 = kl + s1
            num = g * kl - t1  # G·(v_l − mean)/step
            big_n = g * (kl * kl + s2) - t1 * t1
            with np.errstate(divide="ignore", invalid="ignore"):
                if scale == "none":
                    a = factor * step * num / g * np.ones_like(big_n, dtype=np.float64)
                else:
                    root = np.sqrt(np.maximum(big_n, 0).astype(np.float64))
                    if scale == "population":
                        s = step * root / g
                    else:
                        s = step * root / math.sqrt(g * (g - 1.0))
                    a = factor * (step * num / g) / (s + eps)
                    a = np.where(big_n > 0, a, 0.0)
            out[l, p] = a
    out = out.reshape(len(k), -1)
    out.setflags(write=False)
    return out


def _prepare(level_masses, levels, group_size, scale, eps, baseline, max_updates):
    g = _check_group_size(group_size)
    e = _check_options(scale, eps, baseline)
    lat = find_lattice(levels)
    m = _check_masses(level_masses, len(lat.k))
    cost = _cost(lat, g)
    if cost.updates > max_updates:
        raise ValueError(
            f"the lattice dynamic program for group_size={g} over {len(lat.k)} levels spanning "
            f"K = {cost.span} lattice steps needs {cost.updates:.3g} cell updates "
            f"(~{cost.updates * _NS_PER_UPDATE * 1e-9:.3g} s per m, {cost.bytes / 2**20:.0f} MiB) "
            f"> max_updates={max_updates:.3g}; raise max_updates or use preference_model_mc"
        )
    return g, e, lat, m, cost


def _chunks(m2: NDArray[np.float64], cells: int):
    per = max(1, _BATCH_CELLS // max(cells, 1))
    for start in range(0, m2.shape[0], per):
        yield start, m2[start : start + per]


def lattice_level_advantages(
    level_masses: ArrayLike,
    levels: ArrayLike,
    group_size: int,
    *,
    scale: str = "population",
    eps: float = 0.0,
    baseline: str = "mean",
    max_updates: int = MAX_UPDATES,
) -> NDArray[np.float64]:
    """a_l(m) = Σ_c Mult(c; G − 1, m)·A(l, c) exactly, for levels on a lattice (module docstring).

    Args:
        level_masses: m, shape (..., L): one other member's reward distribution over the
            levels (rows sum to 1); any batch shape.
        levels: the L strictly increasing reward values, on a lattice offset + step·ℤ with
            span K ≤ :data:`MAX_SPAN` (integer or rational scores; see :func:`find_lattice`).
        group_size: G, an integer ≥ 2.
        scale: ``"population"`` (std divides by G; V&Y eq. (2)), ``"sample"`` (÷ (G − 1),
            torch.std) or ``"none"`` (Dr. GRPO).
        eps: added to the std, A = f·(v_l − baseline)/(std + eps).
        baseline: ``"mean"`` (GRPO, f = 1) or ``"leave_one_out"`` (RLOO: the mean of the
            other G − 1, which is A_loo = G/(G − 1)·A_mean for every scale).
        max_updates: refuse (ValueError with the estimate) when :func:`lattice_cost`'s
            ``updates`` exceeds it.

    Returns:
        a, shape (..., L). Identity: Σ_l m_l·a_l = 0.
    """
    g, e, lat, m, _ = _prepare(level_masses, levels, group_size, scale, eps, baseline, max_updates)
    return advantages_kernel(m, lat, g, scale, e, baseline)


def advantages_kernel(
    m: NDArray[np.float64], lat: Lattice, g: int, scale: str, eps: float, baseline: str
) -> NDArray[np.float64]:
    """:func:`lattice_level_advantages` for validated inputs (m (..., L) on the simplex).

    A single m is memoised on its bytes (a solver evaluates a(m) again at the point it has
    just accepted): the result is a pure function of the arguments, returned as a copy.
    """
    if m.ndim == 1:
        return _advantages_one(m.tobytes(), lat, g, scale, eps, baseline).copy()
    return _advantages(m, lat, g, scale, eps, baseline)


@lru_cache(maxsize=8)
def _advantages_one(
    m_bytes: bytes, lat: Lattice, g: int, scale: str, eps: float, baseline: str
) -> NDArray[np.float64]:
    out = _advantages(np.frombuffer(m_bytes, dtype=np.float64), lat, g, scale, eps, baseline)
    out.setflags(write=False)
    return out


def _advantages(
    m: NDArray[np.float64], lat: Lattice, g: int, scale: str, eps: float, baseline: str
) -> NDArray[np.float64]:
    n_lev = len(lat.k)
    if n_lev == 1:
        return np.zeros(m.shape)
    cost = _cost(lat, g)
    grid = _advantage_grid(lat.k, float(lat.step), g, g - 1, scale, eps, baseline)
    m2 = m.reshape(-1, n_lev)
    out = np.empty_like(m2)
    for start, mb in _chunks(m2, cost.cells):
        dist = _distribution(mb, lat, g - 1).reshape(mb.shape[0], -1)
        with blas_threads(1):  # a (B, C) × (C, L) product: threads only spin-wait
            out[start : start + mb.shape[0]] = dist @ grid.T
    return out.reshape(m.shape)


def lattice_level_advantages_jacobian(
    level_masses: ArrayLike,
    levels: ArrayLike,
    group_size: int,
    *,
    scale: str = "population",
    eps: float = 0.0,
    baseline: str = "mean",
    max_updates: int = MAX_UPDATES,
) -> NDArray[np.float64]:
    """J[..., l, j] = ∂a_l/∂m_j of :func:`lattice_level_advantages`, shape (..., L, L).

    The derivative of the polynomial Σ_c Mult(c; G − 1, m)·A(l, c) (the definition of
    :func:`gvpo_theory.preference.level_advantages_jacobian`): Σ_c Mult(c)·(c_j/m_j)·A(l, c)
    = (G − 1)·E_{S ~ P_{G−2}}[A(l; S + (k_j, k_j²))], computed in the second form (no
    division by m_j, defined at m_j = 0 too). Only its action on directions with
    Σ_j dm_j = 0 is intrinsic to the simplex.
    """
    g, e, lat, m, _ = _prepare(level_masses, levels, group_size, scale, eps, baseline, max_updates)
    return jacobian_kernel(m, lat, g, scale, e, baseline)


def jacobian_kernel(
    m: NDArray[np.float64], lat: Lattice, g: int, scale: str, e: float, baseline: str
) -> NDArray[np.float64]:
    """:func:`lattice_level_advantages_jacobian` for validated inputs."""
    if len(lat.k) == 1:
        return np.zeros((*m.shape, 1))
    return _jacobian(m, lat, g, scale, e, baseline)


def advantages_and_jacobian_kernel(
    m: NDArray[np.float64], lat: Lattice, g: int, scale: str, e: float, baseline: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(a_l(m), ∂a_l/∂m_j) from one dynamic program over G − 2 draws (validated inputs).

    Euler's identity for the homogeneous polynomial of degree G − 1 (module docstring):
    a_l = Σ_j m_j·∂a_l/∂m_j/(G − 1), so the Jacobian's table P_{G−2} gives a_l as well, and a
    solver that needs both pays one dynamic program, not two. A single m is memoised on its
    bytes, as :func:`advantages_kernel` does.
    """
    if len(lat.k) == 1:
        return np.zeros(m.shape), np.zeros((*m.shape, 1))
    if m.ndim == 1:
        a, jac = _both_one(m.tobytes(), lat, g, scale, e, baseline)
        return a.copy(), jac.copy()
    jac = _jacobian(m, lat, g, scale, e, baseline)
    return np.einsum("...lj,...j->...l", jac, m) / (g - 1), jac


@lru_cache(maxsize=4)
def _both_one(
    m_bytes: bytes, lat: Lattice, g: int, scale: str, e: float, baseline: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    m = np.frombuffer(m_bytes, dtype=np.float64)
    jac = _jacobian(m, lat, g, scale, e, baseline)
    a = jac @ m / (g - 1)
    a.setflags(write=False)
    jac.setflags(write=False)
    return a, jac


def _jacobian(
    m: NDArray[np.float64], lat: Lattice, g: int, scale: str, e: float, baseline: str
) -> NDArray[np.float64]:
    cost = _cost(lat, g)
    n_lev = len(lat.k)
    n = g - 1
    grid = _advantage_grid(lat.k, float(lat.step), g, n, scale, e, baseline)
    span = lat.span
    rows, cols = _table_shape(span, n)
    m2 = m.reshape(-1, n_lev)
    out = np.empty((m2.shape[0], n_lev, n_lev))
    r1 = ((n - 1) * span) // 2 + 1
    r2 = ((n - 1) * span * span // 4) // 2 + 1
    for start, mb in _chunks(m2, cost.cells):
        prev = _distribution(mb, lat, n - 1)  # tables sized for n − 1 draws
        rp, cp = prev.shape[2], prev.shape[3]
        r1c, r2c = min(r1, rp), min(r2, cp)
        shifted = np.zeros((mb.shape[0], n_lev, 2, rows, cols))
        for j, k in enumerate(lat.k):
            for p in (0, 1):
                q, di, de = _shift(span, k, p)
                shifted[:, j, q, di : di + r1c, de : de + r2c] += prev[:, p, :r1c, :r2c]
        flat = shifted.reshape(mb.shape[0], n_lev, -1)
        with blas_threads(1):  # one (B·L, C) × (C, L) product; threads only spin-wait
            prod = flat.reshape(-1, flat.shape[-1]) @ grid.T  # rows (b, j), columns l
            out[start : start + mb.shape[0]] = n * prod.reshape(mb.shape[0], n_lev, n_lev).transpose(0, 2, 1)
    return out.reshape(*m.shape, n_lev)


@lru_cache(maxsize=64)
def _plan(levels: tuple[float, ...], g: int) -> tuple[Lattice, LatticeCost] | None:
    try:
        lat = find_lattice(np.asarray(levels))
    except ValueError:
        return None
    return lat, _cost(lat, g)


def cheaper_lattice(
    levels: NDArray[np.float64], g: int, enumeration_terms: int, max_updates: int = MAX_UPDATES
) -> Lattice | None:
    """The lattice of ``levels`` when the dynamic program is the cheaper exact method for G.

    Cost model (benchmarks/bench_kernels.py): a DP cell update ~2.5 ns, an enumerated count
    vector ~2.5 ns per level, so the DP is taken when its ``updates`` are fewer than
    terms × L and within ``max_updates``; None otherwise (or when the levels are not on a
    lattice with span <= MAX_SPAN). Enumerations below _MIN_ENUMERATION_WORK (terms × L)
    stay: they cost microseconds, where the DP's per-call overhead is ~0.1 ms.
    """
    plan = _plan(tuple(levels.tolist()), int(g))
    if plan is None:
        return None
    lat, cost = plan
    work = enumeration_terms * levels.size
    if work < _MIN_ENUMERATION_WORK or cost.updates > max_updates or cost.updates >= work:
        return None
    return lat


def lattice_updates(levels: NDArray[np.float64], g: int) -> int | None:
    """Cell updates of the dynamic program for these levels and G (None: not a lattice)."""
    plan = _plan(tuple(levels.tolist()), int(g))
    return None if plan is None else plan[1].updates
