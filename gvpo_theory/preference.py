"""GRPO's reward preference model P_G(o | π) (Vojnovic & Yun, 2025; docs/theory.md §2, §4b).

GRPO draws a group o_1..o_G from π, scores it, and normalises within the group:

    A_i = (r_i − mean(r)) / (std(r) + eps).

The reward preference model is the expected advantage of a member given its output,

    P_G(o | π) = E[A_1 | o_1 = o,  o_2..o_G iid ~ π].

Conventions (keyword ``std``):

* ``"population"`` — std divides by G. This is the paper's eq. (2) and the default.
* ``"sample"``     — std divides by G − 1, as ``torch.std`` in TRL/verl GRPO code.
* ``"none"``       — no scale normalisation, A_i = r_i − mean(r) (Dr. GRPO).

A group whose rewards are all equal has A_i = 0 for every member (0/0 := 0, eps = 0
allowed); this is decided combinatorially (one occupied level), never by comparing a
float std with zero. ``eps`` is added to the std as in ``(std + eps)``.

Structure exploited: P_G depends on π only through the mixture m = Σ_o π(o)·D_o over
the L distinct reward levels (for deterministic rewards: the level masses q_l), and
P_G(o | π) = Σ_l D_o(l)·a_l(m), where a_l(m) is the expected advantage of a member
scoring level l. a_l is computed exactly by enumerating the multinomial counts of the
other G − 1 rewards over the levels: C(G + L − 2, L − 1) terms, G terms for binary
rewards, independent of the number of outputs K.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln, xlogy
from scipy.stats import binom

from . import binomial, lattice
from ._threads import blas_threads
from .objective import Advantage, Objective, as_objective
from .problem import (
    SUM_TOL,
    Rewards,
    RewardStructure,
    as_float_array,
    as_numeric_array,
    check_distribution,
    check_memory_estimate,
    check_positive_int,
    split_rewards,
)

#: Default cap on the number of enumerated count vectors C(G + L − 2, L − 1).
MAX_TERMS = 2_000_000

# log(0) stand-in: finite, so 0·LOG_ZERO = 0 for absent levels, yet exp(c·LOG_ZERO) = 0.
_LOG_ZERO = -1e30


def n_terms(group_size: int, n_levels: int) -> int:
    """Number of count vectors of G − 1 draws over L levels: C(G + L − 2, L − 1)."""
    return math.comb(group_size + n_levels - 2, n_levels - 1)


@lru_cache(maxsize=32)
def _compositions(n: int, n_levels: int) -> NDArray[np.int64]:
    """All count vectors c ∈ ℕ^L with Σ c = n, shape (C(n + L − 1, L − 1), L)."""
    if n_levels == 1:
        out = np.array([[n]], dtype=np.int64)
    elif n_levels == 2:
        k = np.arange(n + 1, dtype=np.int64)
        out = np.column_stack([n - k, k])
    else:
        blocks = []
        for first in range(n + 1):
            rest = _compositions(n - first, n_levels - 1)
            blocks.append(
                np.column_stack([np.full(rest.shape[0], first, dtype=np.int64), rest])
            )
        out = np.concatenate(blocks)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class AdvantageTable:
    """Exact group statistics for one (levels, G, advantage estimator).

    ``counts`` (C, L): counts of the other G − 1 rewards over the levels;
    ``log_coef`` (C,): log multinomial coefficients (G − 1)! / Π c_l!;
    ``advantage`` (C, L): A_1 for a member scoring level l given those counts.
    """

    counts: NDArray[np.int64]
    log_coef: NDArray[np.float64]
    advantage: NDArray[np.float64]


@lru_cache(maxsize=32)
def _advantage_table_cached(
    levels: tuple[float, ...], group_size: int, adv: Advantage
) -> AdvantageTable:
    v = np.asarray(levels, dtype=np.float64)
    v = v - v.mean()  # advantages are shift-invariant; centring limits cancellation
    n_lev = v.size
    counts = _compositions(group_size - 1, n_lev)
    log_coef = gammaln(group_size) - gammaln(counts + 1.0).sum(axis=1)
    table = np.empty(counts.shape, dtype=np.float64)
    factor = adv.baseline_factor(group_size)
    for l in range(n_lev):
        n = counts.astype(np.float64)
        n[:, l] += 1.0
        mean = n @ v / group_size
        dev = v[None, :] - mean[:, None]
        var_pop = np.sum(n * dev * dev, axis=1) / group_size
        scale = adv.scale_of(var_pop, group_size)
        tie = np.count_nonzero(n > 0, axis=1) == 1
        with np.errstate(divide="ignore", invalid="ignore"):
            table[:, l] = np.where(tie, 0.0, factor * dev[:, l] / np.where(tie, 1.0, scale))
    log_coef.setflags(write=False)
    table.setflags(write=False)
    return AdvantageTable(counts, log_coef, table)


def _as_float64(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """float64 view of x without copying an array that already is one (finiteness unchecked)."""
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return x
    return as_numeric_array(x, name)  # the package's dtype gate: refuses bools, strings, complex


def _check_levels(levels: ArrayLike) -> NDArray[np.float64]:
    """Validate reward levels: a finite, non-empty, strictly increasing 1-D array."""
    v = _as_float64(levels, "levels")
    # Fast path (solvers call this in their inner loops): strictly increasing with finite
    # ends implies finite throughout, and any NaN fails the comparison.
    if v.ndim == 1 and v.size and np.all(v[1:] > v[:-1]) and math.isfinite(v[0]) and math.isfinite(v[-1]):
        return v
    v = as_float_array(v, "levels")
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"levels must be a non-empty 1-D array of reward values; got shape {v.shape}")
    raise ValueError("levels must be strictly increasing (distinct reward values)")


def _check_level_masses(level_masses: ArrayLike, n_levels: int) -> NDArray[np.float64]:
    """Validate m (..., L) against L levels; returns the values as given (not renormalised)."""
    m = _as_float64(level_masses, "level_masses")
    # Fast path: non-negative (NaN fails) with sums within tolerance (inf fails).
    if m.ndim == 1:
        ok = m.size > 0 and m.min() >= 0 and abs(m.sum() - 1.0) <= SUM_TOL
    else:
        ok = m.ndim > 1 and m.size > 0 and m.min() >= 0 and np.abs(m.sum(axis=-1) - 1.0).max() <= SUM_TOL
    if not ok:
        check_distribution(m, "level_masses")  # raises the named error
    if m.shape[-1] != n_levels:
        raise ValueError(f"level_masses has {m.shape[-1]} entries on its last axis but levels has {n_levels}")
    return m


#: ``max_terms`` also caps the lattice dynamic program, at this many cell updates per term
#: (the default MAX_TERMS allows 1e9 updates, ~2.5 s per evaluation of a_l).
UPDATES_PER_TERM = 500


def _lattice_for(
    v: NDArray[np.float64], group_size: int, adv: Advantage, max_terms: int = MAX_TERMS
) -> lattice.Lattice | None:
    """The lattice of the levels when its dynamic program (:mod:`gvpo_theory.lattice`) is the
    cheaper exact method for this estimator (three or more levels; the DP knows the group-mean
    and leave-one-out baselines with eps added to the std) and within
    ``max_terms·UPDATES_PER_TERM`` cell updates, else None: enumeration."""
    if v.size < 3 or type(adv) is not Advantage or (adv.eps and adv.eps_at != "std"):
        return None
    return lattice.cheaper_lattice(v, group_size, n_terms(group_size, v.size),
                                   max_updates=max_terms * UPDATES_PER_TERM)


def _advantage_table(
    lev: NDArray[np.float64], group_size: int, adv: Advantage, max_terms: int
) -> AdvantageTable:
    terms = n_terms(group_size, lev.size)
    if terms > max_terms:
        dp = lattice.lattice_updates(lev, group_size)
        route = ("" if dp is None else
                 f"; the levels lie on a lattice whose exact dynamic program needs {dp:.3g} cell "
                 f"updates (~{dp * 2.5e-9:.3g} s per evaluation) > max_terms·{UPDATES_PER_TERM}")
        raise ValueError(
            f"exact enumeration for group_size={group_size} over {lev.size} reward levels needs "
            f"C(G+L-2, L-1) = {terms} terms > max_terms={max_terms}{route}; use "
            "preference_model_mc(...) for a Monte Carlo estimate with a standard error "
            "(of a stationary policy: gvpo_theory.approximate_stationary_policy), "
            "or raise max_terms"
        )
    return _advantage_table_cached(tuple(lev.tolist()), int(group_size), adv)


def advantage_table(
    levels: ArrayLike, group_size: int | Objective, std: str | None = None, eps: float | None = None,
    *, max_terms: int = MAX_TERMS,
) -> AdvantageTable:
    """Enumerate every composition of the other G − 1 rewards and its advantage A_1.

    ``group_size`` may be an :class:`~gvpo_theory.objective.Objective` (then ``std`` and
    ``eps`` stay unset). Raises ValueError when C(G + L − 2, L − 1) exceeds ``max_terms``;
    use :func:`preference_model_mc` (Monte Carlo with a standard error) there instead.
    """
    obj = as_objective(group_size, std, None, eps)
    max_terms = check_positive_int(max_terms, "max_terms")
    lev = _check_levels(levels)
    if math.isinf(obj.group_size):
        raise ValueError("group_size must be a finite integer >= 2 for exact enumeration; "
                         "G = inf has the closed form of level_advantages")
    return _advantage_table(lev, int(obj.group_size), obj.advantage, max_terms)


#: Up to this many levels v_l − μ is the pairwise sum Σ_j m_j·(v_l − v_j) (an L × L product);
#: above it, the O(L) running sums of :func:`_closed_form_deviation`.
_PAIRWISE_MAX_LEVELS = 64


def _closed_form_deviation(m: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    """v_l − μ_m as Σ_j m_j·(v_l − v_j): no cancellation for the extreme levels, which
    matters when one level holds almost all the mass (small β, G = ∞)."""
    if v.size <= _PAIRWISE_MAX_LEVELS:
        v_c = v - v.mean()
        return m @ (v_c[None, :] - v_c[:, None])
    # O(L): Σ_{j<l} m_j·(v_l − v_j) and Σ_{j>l} m_j·(v_j − v_l) are running sums of
    # non-negative terms (gap × mass below / above), so each keeps its relative accuracy.
    gaps = np.diff(v)
    below = np.cumsum(m, axis=-1)[..., :-1]  # mass of levels 0..l−1, for l = 1..L−1
    above = np.cumsum(m[..., ::-1], axis=-1)[..., ::-1][..., 1:]  # mass of levels l+1..L−1
    zero = np.zeros((*m.shape[:-1], 1))
    lower = np.concatenate([zero, np.cumsum(gaps * below, axis=-1)], axis=-1)
    upper = np.concatenate([np.cumsum((gaps * above)[..., ::-1], axis=-1)[..., ::-1], zero], axis=-1)
    return lower - upper


def level_advantages_kernel(
    m: NDArray[np.float64], v: NDArray[np.float64], obj: Objective, max_terms: int = MAX_TERMS
) -> NDArray[np.float64]:
    """a_l(m) for validated inputs (the solvers' inner loop; see :func:`level_advantages`)."""
    adv, g = obj.advantage, obj.group_size
    if math.isinf(g) or adv.scale == "none":
        if adv.scale == "none":
            # E[r_1 − mean] = ((G − 1)/G)·(v_l − μ); leave-one-out: v_l − μ exactly
            factor = 1.0 if math.isinf(g) else adv.baseline_factor(g) * (g - 1) / g
            return factor * _closed_form_deviation(m, v)
        if adv.eps == 0.0:
            # eps = 0 makes a_l scale-free: measure the levels in units of their largest
            # magnitude and divide v_l − μ by its own, so neither v_l − μ nor its variance
            # underflows (levels 1e-200 apart, a mass of 1e-300) or overflows
            unit = float(np.max(np.abs(v)))
            dev = _closed_form_deviation(m, v / unit if unit > 0 else v)
            top = np.max(np.abs(dev), axis=-1, keepdims=True)
            dev = dev / np.where(top > 0, top, 1.0)
        else:
            dev = _closed_form_deviation(m, v)
        var = np.einsum("...l,...l->...", m, dev * dev)
        # the scale is 0 exactly when m sits on a single level: every group ties.
        single = np.count_nonzero(m > 0, axis=-1) <= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out = dev / np.where(single, 1.0, adv.scale_of(var, g))[..., None]
        return np.where(single[..., None], 0.0, out)
    lat = _lattice_for(v, int(g), adv, max_terms)
    if lat is not None:
        return lattice.advantages_kernel(m, lat, int(g), adv.scale, adv.eps, adv.baseline)
    if v.size == 2 and g > WINDOWED_MIN_GROUP_SIZE and type(adv) is Advantage and (
            adv.eps == 0.0 or adv.eps_at == "std"):
        # two levels, large G: the binomial sum over its window only (gvpo_theory.binomial);
        # rewards {v0, v1} are (v1 − v0)·{0, 1} + v0, so eps acts as eps/(v1 − v0) on {0, 1}
        a0, a1 = binomial.binary_preference(m[..., 1], int(g), adv.scale, adv.eps / (v[1] - v[0]),
                                            baseline=adv.baseline)
        return np.stack([a0, a1], axis=-1)
    table = _advantage_table(v, int(g), adv, max_terms)
    if table.advantage.size < _ONE_THREAD_MIN_SIZE:
        return composition_pmf(m, table) @ table.advantage
    with blas_threads(1):  # (C, L) products: default BLAS threads only spin-wait (a cliff)
        return composition_pmf(m, table) @ table.advantage


#: Enumerated tables with at least this many entries (terms × levels) are multiplied on one
#: BLAS thread (benchmarks/bench_targets.py, row [4]; below it the switch costs more than it
#: saves).
_ONE_THREAD_MIN_SIZE = 4096


def level_advantages(
    level_masses: ArrayLike,
    levels: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    eps: float | None = None,
    *,
    max_terms: int = MAX_TERMS,
) -> NDArray[np.float64]:
    """a_l(m): expected advantage of a group member scoring level l (docs/theory.md §2, §4b).

    Args:
        level_masses: m, shape (..., L): the distribution of one other member's reward
            over the levels (rows sum to 1).
        levels: the L distinct reward values, shape (L,).
        group_size: G (integer >= 2) or ``math.inf``, or an
            :class:`~gvpo_theory.objective.Objective` (then ``std``/``eps`` stay unset).
        std, eps: normalisation convention (see :mod:`gvpo_theory.objective`);
            defaults ``"population"`` and 0.

    Closed forms are used where they are exact:

    * G = ∞ (population and sample std agree):  a_l = (v_l − μ_m) / (σ_m + eps),
      0 when σ_m = 0;  no std:  a_l = v_l − μ_m.
    * finite G, no std:  a_l = ((G − 1)/G)·(v_l − μ_m) (group mean) or v_l − μ_m
      (leave-one-out baseline).

    Otherwise the sum over count vectors c of the other G − 1 rewards,
    a_l = Σ_c Mult(c; G − 1, m)·A(l, c), evaluated with log-domain weights.
    Identity (tested): Σ_l m_l·a_l(m) = 0 for every m.
    """
    obj = as_objective(group_size, std, None, eps)
    max_terms = check_positive_int(max_terms, "max_terms")
    v = _check_levels(levels)
    m = _check_level_masses(level_masses, v.size)
    return level_advantages_kernel(m, v, obj, max_terms)


#: Above this G, two-level advantages sum the binomial pmf over its window (mean ± ~39 sd)
#: in the saddle-point form instead of scipy's pmf over all G terms (the window pays off
#: from G ~ 3·10⁴, benchmarks/bench_kernels.py).
WINDOWED_MIN_GROUP_SIZE = 30_000

#: Largest G − 1 for which two-level weights use the direct product (C(256, 128) ~ 6e75).
_DIRECT_PMF_MAX_N = 256


@lru_cache(maxsize=64)
def _binomial_coefficients(n: int) -> NDArray[np.float64]:
    """C(n, n − k) for k = 0..n, ordered like the two-level count table (c₀ = n − k)."""
    out = np.array([float(math.comb(n, n - k)) for k in range(n + 1)])
    out.setflags(write=False)
    return out


def composition_pmf(m: NDArray[np.float64], table: AdvantageTable) -> NDArray[np.float64]:
    """Mult(c; G − 1, m) for every count vector c of ``table``, shape (..., C).

    Two levels, G − 1 <= 256: the product C(n, c₀)·m₀^c₀·m₁^c₁ with exact binomial
    coefficients (relative error ~(n + 2)·ε, no cancellation; masses that underflow give
    0, as they should). Two levels, larger G: the binomial pmf of the count on the
    *lighter* level, via scipy's boost implementation (~1e-13 relative even for G = 10^5,
    where log-gamma differences lose ~1e-10). More levels: log-domain multinomial weights.
    """
    if m.shape[-1] == 2 and table.counts.shape[0] - 1 <= _DIRECT_PMF_MAX_N:
        n = table.counts.shape[0] - 1
        # powers m_l^j, j = 0..n, by running products (faster than pow, error ~j·ε);
        # the table's row k has counts (n − k, k)
        powers = np.repeat(m[..., None], n + 1, axis=-1)
        powers[..., 0] = 1.0
        with np.errstate(under="ignore"):
            np.cumprod(powers, axis=-1, out=powers)
            return _binomial_coefficients(n) * powers[..., 0, ::-1] * powers[..., 1, :]
    if m.shape[-1] == 2:
        light = m[..., 0] <= m[..., 1]
        p_light = np.where(light, m[..., 0], m[..., 1])[..., None]
        k_light = np.where(light[..., None], table.counts[:, 0], table.counts[:, 1])
        n = table.counts.shape[0] - 1
        try:
            return binom.pmf(k_light, n, p_light)
        except OverflowError:
            # boost's ibeta_derivative overflows for p ~ 1e-307; the log-domain pmf is
            # accurate there (only the first terms are non-negligible).
            return np.exp(table.log_coef + xlogy(k_light, p_light) + (n - k_light) * np.log1p(-p_light))
    with np.errstate(divide="ignore"):
        log_m = np.where(m > 0, np.log(np.where(m > 0, m, 1.0)), _LOG_ZERO)
    return np.exp(log_m @ table.counts.T.astype(np.float64) + table.log_coef)


def profile_preferences(
    profile_masses: NDArray[np.float64],
    structure: RewardStructure,
    obj: Objective,
    *,
    max_terms: int = MAX_TERMS,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(P per profile (..., S), mixture m (..., L)) for profile masses (..., S); no validation."""
    if structure.deterministic:  # profiles are the levels (D = identity): m = w, P = a
        return level_advantages_kernel(profile_masses, structure.levels, obj, max_terms), profile_masses
    m = structure.mixture(profile_masses)
    a = level_advantages_kernel(m, structure.levels, obj, max_terms)
    return a @ structure.dist.T, m


def preference_model(
    pi: ArrayLike,
    rewards: Rewards,
    group_size: float | int | Objective,
    std: str | None = None,
    eps: float | None = None,
    *,
    max_terms: int = MAX_TERMS,
) -> NDArray[np.float64]:
    """Exact reward preference model P_G(o | π) (Vojnovic & Yun; docs/theory.md §2).

    Args:
        pi: policy π, shape (..., K), rows summing to 1.
        rewards: r(o) of shape (K,) shared by the batch or (..., K) per problem, or a
            :class:`~gvpo_theory.problem.RewardDistribution` for stochastic rewards.
        group_size: G >= 2, or ``math.inf`` for the large-group limit
            P_∞(o | π) = (r(o) − E_π r) / sd_π(r); or an
            :class:`~gvpo_theory.objective.Objective` (then ``std``/``eps`` stay unset).
        std: ``"population"`` (paper, default), ``"sample"`` (torch.std: TRL, verl) or
            ``"none"`` (Dr. GRPO), see :mod:`gvpo_theory.objective`.
        eps: added to the group std, A = (r − mean)/(std + eps); ties give A = 0.
        max_terms: cap on the enumeration size C(G + L − 2, L − 1).

    Returns:
        P_G(o | π), shape (..., K). Special cases (all tested): G = 2 with population
        std is the pairwise preference P(r(o) > r(o')) − P(r(o) < r(o')); sample std
        scales every finite-G value by sqrt((G − 1)/G); no std gives
        ((G − 1)/G)·(r(o) − E_π r); the leave-one-out baseline (RLOO) gives
        r(o) − E_π r; E_π[P_G] = 0.
    """
    obj = as_objective(group_size, std, None, eps)
    max_terms = check_positive_int(max_terms, "max_terms")
    p = check_distribution(pi, "pi")
    shared, per_problem = split_rewards(rewards, p.shape[:-1], p.shape[-1])
    if shared is not None:
        w = shared.profile_masses(p)
        prof, _ = profile_preferences(w, shared, obj, max_terms=max_terms)
        return prof[..., shared.profile_of]
    flat = p.reshape(-1, p.shape[-1])
    out = np.empty_like(flat)
    for i, structure in enumerate(per_problem):
        w = structure.profile_masses(flat[i])
        prof, _ = profile_preferences(w, structure, obj, max_terms=max_terms)
        out[i] = prof[structure.profile_of]
    return out.reshape(p.shape)


@dataclass(frozen=True)
class PreferenceEstimate:
    """Monte Carlo estimate of P_G(o | π) with its standard error, both shape (K,)."""

    value: NDArray[np.float64]
    stderr: NDArray[np.float64]
    n_groups: int


def preference_model_mc(
    pi: ArrayLike,
    rewards: Rewards,
    group_size: int | Objective,
    std: str | None = None,
    eps: float | None = None,
    *,
    n_groups: int = 100_000,
    seed: int = 0,
    chunk: int = 2_000_000,
) -> PreferenceEstimate:
    """Monte Carlo P_G(o | π) for one problem, for sizes where enumeration is too large.

    For every reward level l, ``n_groups`` groups are simulated with the first member
    scoring l and the other G − 1 rewards drawn iid from the mixture m; the mean of
    A_1 (the estimator's own definition, :meth:`~gvpo_theory.objective.Advantage.of_groups`)
    estimates a_l(m) and its standard error is reported (never a silent approximation).
    P_G(o) = Σ_l D_o(l)·a_l with independent per-level errors.
    """
    obj = as_objective(group_size, std, None, eps)
    p = check_distribution(pi, "pi")
    if p.ndim != 1:
        raise ValueError("preference_model_mc takes one problem: pi must be 1-D (K,)")
    if math.isinf(obj.group_size):
        raise ValueError("group_size=inf has an exact closed form; use preference_model")
    g = int(obj.group_size)
    n_groups = check_positive_int(n_groups, "n_groups", min_value=2)
    seed = check_positive_int(seed, "seed", min_value=0)
    chunk = check_positive_int(chunk, "chunk")
    # 48 bytes per drawn reward: draws, the group, its deviations and std (measured peak)
    check_memory_estimate(48 * max(chunk, g - 1), "group_size", g)
    structure, _ = split_rewards(rewards, (), p.size)
    w = structure.profile_masses(p)
    m = structure.mixture(w)
    v = structure.levels - structure.levels.mean()
    rng = np.random.default_rng(seed)
    n_lev = v.size
    mean_a = np.zeros(n_lev)
    var_a = np.zeros(n_lev)
    rows = max(1, chunk // max(g - 1, 1))
    for l in range(n_lev):
        total, total_sq, done = 0.0, 0.0, 0
        while done < n_groups:
            n = min(rows, n_groups - done)
            others = v[rng.choice(n_lev, size=(n, g - 1), p=m)]
            group = np.concatenate([np.full((n, 1), v[l]), others], axis=1)
            adv = obj.advantage.of_groups(group)[:, 0]
            total += adv.sum()
            total_sq += np.sum(adv * adv)
            done += n
        mean_a[l] = total / n_groups
        var_a[l] = max(total_sq / n_groups - mean_a[l] ** 2, 0.0) * n_groups / (n_groups - 1)
    prof_val = structure.dist @ mean_a
    prof_se = np.sqrt((structure.dist**2) @ (var_a / n_groups))
    return PreferenceEstimate(
        prof_val[structure.profile_of], prof_se[structure.profile_of], n_groups
    )


def level_advantages_jacobian_kernel(
    m: NDArray[np.float64], v: NDArray[np.float64], obj: Objective, max_terms: int = MAX_TERMS
) -> NDArray[np.float64]:
    """∂a_l/∂m_j for validated inputs (see :func:`level_advantages_jacobian`)."""
    adv, g = obj.advantage, obj.group_size
    v_c = v - v.mean()
    if adv.scale == "none":
        factor = 1.0 if math.isinf(g) else adv.baseline_factor(g) * (g - 1) / g
        return -factor * np.broadcast_to(v_c, (v.size, v.size)).copy()
    if math.isinf(g):
        dev = m @ (v_c[None, :] - v_c[:, None])
        var = max(float(m @ (dev * dev)), 0.0)
        sigma = math.sqrt(var)
        if sigma == 0.0:
            return np.zeros((v.size, v.size))
        s = float(adv.scale_of(np.asarray(var), g))
        # ∂σ/∂m_j on the tangent space; with eps inside max(var, eps) the scale is flat
        # while var < eps.
        flat = adv.eps_at == "var" and var < adv.eps
        dsigma = np.zeros_like(dev) if flat else (dev * dev) / (2.0 * sigma)
        return -v_c[None, :] / s - np.outer(dev, dsigma) / (s * s)
    lat = _lattice_for(v, int(g), adv, max_terms)
    if lat is not None:
        return lattice.jacobian_kernel(m, lat, int(g), adv.scale, adv.eps, adv.baseline)
    table = _advantage_table(v, int(g), adv, max_terms)
    with blas_threads(1) if table.advantage.size >= _ONE_THREAD_MIN_SIZE else nullcontext():
        pmf = composition_pmf(m, table)  # (C,)
        weighted = table.counts * pmf[:, None]  # (C, L): Mult(c)·c_j
        with np.errstate(divide="ignore", invalid="ignore"):
            return (table.advantage.T @ weighted) / np.where(m > 0, m, np.inf)[None, :]


def level_advantages_and_jacobian_kernel(
    m: NDArray[np.float64], v: NDArray[np.float64], obj: Objective, max_terms: int = MAX_TERMS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(a_l(m), ∂a_l/∂m_j) for one validated m (L,): on the lattice dynamic program both come
    from one table (:func:`gvpo_theory.lattice.advantages_and_jacobian_kernel`); elsewhere the
    two kernels above."""
    adv, g = obj.advantage, obj.group_size
    if not math.isinf(g) and adv.scale != "none":
        lat = _lattice_for(v, int(g), adv, max_terms)
        if lat is not None:
            return lattice.advantages_and_jacobian_kernel(m, lat, int(g), adv.scale, adv.eps, adv.baseline)
    a = level_advantages_kernel(m, v, obj, max_terms)
    return a, level_advantages_jacobian_kernel(m, v, obj, max_terms)


def level_advantages_jacobian(
    level_masses: ArrayLike,
    levels: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    eps: float | None = None,
    *,
    max_terms: int = MAX_TERMS,
) -> NDArray[np.float64]:
    """J[..., l, j] = ∂a_l/∂m_j of :func:`level_advantages`, for a single m of shape (L,).

    Derivatives are of a smooth extension of a_l off the simplex; only their action on
    directions with Σ_j dm_j = 0 is meaningful (that is all a solver on the simplex uses).
    Enumeration: ∂/∂m_j Σ_c Mult(c; G − 1, m)·A(l, c) = Σ_c Mult(c)·(c_j/m_j)·A(l, c),
    requiring m_j > 0. G = ∞: a_l = (v_l − μ)/(σ + eps) with ∂μ/∂m_j = v_j and
    ∂σ²/∂m_j ≅ (v_j − μ)² on the tangent space. No std: ∂a_l/∂m_j = −f·v_j.
    """
    obj = as_objective(group_size, std, None, eps)
    max_terms = check_positive_int(max_terms, "max_terms")
    v = _check_levels(levels)
    m = _check_level_masses(level_masses, v.size)
    if m.ndim != 1:
        raise ValueError(f"level_masses must be 1-D (L,) for the Jacobian; got shape {m.shape}")
    return level_advantages_jacobian_kernel(m, v, obj, max_terms)
