"""Where the expected GRPO flow goes from a start: interior points and boundary limits (docs/theory.md §8).

The expected dynamics are those of :mod:`gvpo_theory.dynamics`: softmax logits z, π = softmax(z),

    dz(o)/dt = F_o(π) = π(o)·P_G(o|π) − β·∇_o(π),

with ∇ the penalty's logit gradient (``obj.penalty.logit_gradient``; t is the flow time, the
learning rate times the number of expected-gradient steps). Where an interior stationary
point exists and the flow reaches it, that point is the answer. Otherwise the flow runs to
the boundary of the simplex: some outputs' masses go to 0 (the policy's limit puts no mass
there), and the rest settles at a stationary point of the problem restricted to the
surviving outputs (a *face*). This module computes that limit.

* β = 0 (or a penalty whose expected gradient vanishes) with deterministic rewards: exact.
  All mass goes to the best reward level B reached by the start π0; inside B every output
  has the same P, so each logit moves at π(o)·P_B and richer outputs grow faster. With
  ρ the distribution inside B and the level's clock τ(t) = ∫₀ᵗ π(B)·P_B dt',
  dz(o)/dτ = ρ(o), whose solution is e^{−z(o,τ)} = e^{−z(o,0)} − Λ(τ) with one Λ for the
  whole level: ρ(o) ∝ ρ₀(o)/(1 − λ·ρ₀(o)), λ ∈ [0, 1/max ρ₀), and
  τ = −Σ_o log(1 − λ·ρ₀(o)) (:func:`within_level_distribution`). τ grows like log t
  without bound, so the limit is uniform over the outputs of B with the largest start
  mass, approached as a power law (:class:`BetaZeroLimit`).
* Otherwise: the flow is integrated in the log domain (logits, in log time u = log(1 + t),
  where the power-law approach to a boundary is a straight line) over *classes* of
  outputs that share reward profile, start mass and reference mass (they move
  together); outputs whose log mass falls at a sustained rate d log π/d log t < −10⁻³ (or
  below −700) vanish; the survivors are then solved exactly for the face's stationary
  point (least squares on F_o/π(o) = 0, generic over the penalty's kernels) and verified
  by the expected update there. The measured decay exponents are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, least_squares
from scipy.special import logsumexp

from .objective import Objective, as_objective
from .preference import profile_preferences
from .problem import (
    RewardDistribution,
    Rewards,
    RewardStructure,
    check_beta,
    check_distribution,
    check_tolerance,
    reward_structure,
)

#: The limit is accepted when the expected update at it is this small (max_o |F_o|).
LIMIT_TOL = 1e-10

#: An output vanishes when its log mass falls at least this fast in log time,
#: d log π/d log t < −VANISHING_RATE, at two consecutive checkpoints.
VANISHING_RATE = 1e-2

#: An output survives when |d log π/d log t| < SURVIVOR_RATE there.
SURVIVOR_RATE = 1e-3

#: Flow times at which the integration sorts outputs into survivors and vanishing ones.
CHECKPOINTS = tuple(10.0**k for k in range(3, 10))

_LOG_UNDERFLOW = -700.0


# ----------------------------------------------------------------- validation


def check_start(pi0: ArrayLike, pi_ref: NDArray[np.float64], name: str = "pi0") -> NDArray[np.float64]:
    """Validate a start π0 for the flow against π_ref: a distribution with π_ref's support.

    A softmax start cannot create mass where it has none (π0(o) = 0 stays 0), so π0 must
    be > 0 wherever π_ref is; where π_ref is 0 the penalties are undefined or infinite, so
    π0 must be 0 there too. ValueError names ``name`` and the rule.
    """
    p0 = check_distribution(pi0, name)
    try:
        p0 = np.broadcast_to(p0, np.broadcast_shapes(p0.shape, pi_ref.shape))
    except ValueError as exc:
        raise ValueError(f"{name} has shape {p0.shape}, which does not match pi_ref {pi_ref.shape}") from exc
    if p0.shape[-1] != pi_ref.shape[-1]:
        raise ValueError(f"{name} has {p0.shape[-1]} outputs but pi_ref has {pi_ref.shape[-1]}")
    ref = np.broadcast_to(pi_ref, p0.shape)
    if np.any((p0 == 0) & (ref > 0)):
        raise ValueError(f"{name} must be > 0 wherever pi_ref is > 0 (a softmax start with no mass "
                         "on an output never gives it any)")
    if np.any((p0 > 0) & (ref == 0)):
        raise ValueError(f"{name} must be 0 wherever pi_ref is 0 (the KL penalty is infinite there)")
    return p0


# ----------------------------------------------------------------- β = 0, exact


def _entropy(p: NDArray[np.float64]) -> float:
    q = p[p > 0]
    return max(float(-np.sum(q * np.log(q))), 0.0) + 0.0  # + 0.0: a one-point entropy is 0, not -0


def within_level_distribution(rho0: ArrayLike, clock: ArrayLike) -> NDArray[np.float64]:
    """ρ at clock τ of the β = 0 flow inside one reward level (docs/theory.md §8).

    Inside a level every output shares P, so with τ = ∫ π(level)·P_level dt the logits obey
    dz(o)/dτ = ρ(o); then d e^{−z(o)}/dτ = −1/Σ_level e^{z} is the same for every output:
    ρ(o) ∝ ρ₀(o)/(1 − λ·ρ₀(o)) with τ = −Σ_o log(1 − λ·ρ₀(o)), λ ∈ [0, 1/max ρ₀). Computed
    with g = 1 − λ·max ρ₀ ∈ (0, 1] (root found in log g, denominators (1 − r) + g·r with
    r = ρ₀/max ρ₀, free of cancellation); τ = ∞ gives the limit, uniform over argmax ρ₀.

    Args:
        rho0: the start distribution inside the level, shape (n,).
        clock: τ >= 0 (``math.inf`` allowed), scalar or shape (T,).

    Returns:
        ρ, shape (n,) or (T, n).
    """
    r0 = check_distribution(rho0, "rho0")
    if r0.ndim != 1:
        raise ValueError("rho0 must be one distribution (1-D)")
    tau = np.asarray(clock, dtype=np.float64)
    if tau.dtype.kind != "f" or np.any(np.isnan(tau)) or np.any(tau < 0):
        raise ValueError("clock must be >= 0 (math.inf for the limit)")
    flat = np.atleast_1d(tau).reshape(-1)
    ratio = r0 / r0.max()
    gap = np.where(ratio > 0, (r0.max() - r0) / r0.max(), 1.0)  # 1 − r, exact at the argmax
    tied = r0 == r0.max()
    n_tied = int(tied.sum())
    base = float(-np.sum(np.log1p(-ratio[~tied] * 1.0))) if np.any(~tied) else 0.0
    out = np.empty((flat.size, r0.size))
    for i, t in enumerate(flat):
        if math.isinf(t):
            out[i] = np.where(tied, 1.0 / n_tied, 0.0)
            continue

        def excess(log_g: float, t: float = t) -> float:
            g = math.exp(log_g)
            return float(-np.sum(np.log(gap + g * ratio)[r0 > 0])) - t

        if t == 0.0:
            log_g = 0.0
        else:
            lo, hi = -t / n_tied - 1.0, min(0.0, -(t - base) / n_tied + 1.0)
            log_g = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        g = math.exp(log_g)
        with np.errstate(divide="ignore"):
            log_w = np.where(r0 > 0, np.log(r0) - np.log(gap + g * ratio), -np.inf)
        out[i] = np.exp(log_w - logsumexp(log_w))
    return out[0] if tau.ndim == 0 else out.reshape(*tau.shape, r0.size)


@dataclass(frozen=True)
class BetaZeroLimit:
    """The exact β = 0 limit for deterministic rewards, with its approach law (docs/theory.md §8).

    Attributes:
        policy: the limit, uniform over ``limit_outputs``, shape (K,).
        best_level: the reward of the best level B that the start reaches.
        level_outputs: outputs of B with start mass, (K,) bool.
        limit_outputs: the outputs of B with the largest start mass (n* of them), (K,) bool.
        within_start, within_reference: π0 and π_ref restricted to B and normalised, (K,).
        entropy_start, entropy_reference, entropy_limit: their entropies (nats) and the
            limit's, log n*.
        loser_power: p of the losers' law π(o) ≈ c_o·t^(−p): 1 where the advantages stay
            bounded at the vertex (finite G, no std, or eps > 0), 2 for a std at G = ∞
            with eps = 0.
        loser_coefficient: c_o for every output outside B (NaN inside B), (K,).
        within_exponent: γ of the other outputs of B: π(o)/π(o*) ∝ t^(−γ) for o ∉ argmax;
            γ = N/(n* + N) (bounded) or 2N/(n* + N), N = number of losing outputs.
        law: the approach law in one sentence.
    """

    policy: NDArray[np.float64]
    best_level: float
    level_outputs: NDArray[np.bool_]
    limit_outputs: NDArray[np.bool_]
    within_start: NDArray[np.float64]
    within_reference: NDArray[np.float64]
    entropy_start: float
    entropy_reference: float
    entropy_limit: float
    loser_power: int
    loser_coefficient: NDArray[np.float64]
    within_exponent: float
    law: str


def vertex_advantages(levels: NDArray[np.float64], best: int, obj: Objective) -> NDArray[np.float64] | None:
    """a_l at the vertex where every other group member scores level ``best``; None if unbounded.

    Finite G: the estimator applied to the group (r_l, r_B, …, r_B) itself
    (:meth:`~gvpo_theory.objective.Advantage.of_groups`). G = ∞: r_l − r_B without a std,
    (r_l − r_B)/scale(0) with eps > 0; None for a std with eps = 0 (a_l → −∞ as the
    level empties).
    """
    adv, g = obj.advantage, obj.group_size
    if math.isinf(g):
        if adv.scale == "none":
            return levels - levels[best]
        scale = float(adv.scale_of(np.asarray(0.0), g))
        return None if scale == 0.0 else (levels - levels[best]) / scale
    groups = np.tile(levels[best], (levels.size, int(g)))
    groups[:, 0] = levels
    return adv.of_groups(groups)[:, 0]


def beta_zero_limit(
    pi0: ArrayLike,
    rewards: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    eps: float | None = None,
) -> BetaZeroLimit:
    """The limit of the β = 0 expected flow from π0 for deterministic rewards (docs/theory.md §8).

    Every GRPO-family advantage gives the best level reached, B, a positive P while other
    levels hold mass, so the losers' masses go to 0; inside B the distribution moves along
    :func:`within_level_distribution` with a clock that grows like log t, so it ends
    uniform over the outputs with the largest π0 mass in B. Approach (N losing outputs, n*
    tied maxima, a*_l the advantage of level l against a group of B's, d_l = r_B − r_l,
    D = Σ_losers d):

    * bounded advantages: π(o)·t → 1/((1 + N/n*)·|a*_l(o)|);
    * a std at G = ∞ (eps = 0): π(o)·t² → 4D/((1 + N/n*)²·d_l(o));
    * inside B: π(o)/π(o*) ∝ t^(−γ), γ = N/(n* + N), resp. 2N/(n* + N).
    """
    obj = as_objective(group_size, std, None, eps)
    p0 = check_distribution(pi0, "pi0")
    if p0.ndim != 1:
        raise ValueError("beta_zero_limit takes one problem: pi0 must be 1-D (K,)")
    if isinstance(rewards, RewardDistribution):
        raise ValueError("rewards must be deterministic here (flow_limit integrates noisy rewards)")
    return _beta_zero(p0, p0, reward_structure(rewards, p0.size), obj)


def _beta_zero(
    p0: NDArray[np.float64], ref: NDArray[np.float64], structure: RewardStructure, obj: Objective
) -> BetaZeroLimit:
    levels, level_of = structure.levels, structure.profile_of
    reached = np.bincount(level_of, weights=p0, minlength=levels.size) > 0
    best = int(np.nonzero(reached)[0][-1])
    in_level = (level_of == best) & (p0 > 0)
    losers = (p0 > 0) & ~in_level
    n_lose = int(losers.sum())
    top = float(p0[in_level].max())
    # with no losing output P_G = 0 everywhere: nothing moves, the start is the answer
    limit_outputs = in_level & (p0 == top) if n_lose else in_level
    n_star = int(limit_outputs.sum())
    policy = np.where(limit_outputs, 1.0 / n_star, 0.0) if n_lose else p0.copy()
    coef = np.full(p0.size, np.nan)
    d = levels[best] - levels[level_of]
    a_star = vertex_advantages(levels, best, obj)
    if n_lose == 0:
        power, gamma = 1, 0.0
        law = "one reward level only: P_G = 0 and nothing moves"
    elif a_star is not None:
        power, gamma = 1, n_lose / (n_star + n_lose)
        with np.errstate(divide="ignore"):
            coef[losers] = 1.0 / ((1.0 + n_lose / n_star) * np.abs(a_star[level_of[losers]]))
        law = (f"losing outputs vanish like 1/t (π(o)·t → 1/((1 + N/n*)·|a*|), N = {n_lose}, "
               f"n* = {n_star})")
    else:
        power, gamma = 2, 2.0 * n_lose / (n_star + n_lose)
        total = float(np.sum(d[losers]))
        coef[losers] = 4.0 * total / ((1.0 + n_lose / n_star) ** 2 * d[losers])
        law = (f"losing outputs vanish like 1/t² (π(o)·t² → 4D/((1 + N/n*)²·d(o)), N = {n_lose}, "
               f"n* = {n_star})")
    if n_lose and np.any(in_level & ~limit_outputs):
        law += (f"; the other outputs of the best level like t^(-{gamma:.4g}) relative to the "
                "limit's")
    within0 = np.where(in_level, p0, 0.0) / p0[in_level].sum()
    within_ref = np.where(in_level, ref, 0.0)
    within_ref = within_ref / within_ref.sum()
    return BetaZeroLimit(
        policy=policy, best_level=float(levels[best]), level_outputs=in_level,
        limit_outputs=limit_outputs, within_start=within0, within_reference=within_ref,
        entropy_start=_entropy(within0), entropy_reference=_entropy(within_ref),
        entropy_limit=math.log(n_star) if n_lose else _entropy(within0), loser_power=power,
        loser_coefficient=coef, within_exponent=gamma, law=law,
    )


# ----------------------------------------------------------------- the flow, any β


@dataclass(frozen=True)
class _Classes:
    """Outputs grouped by (reward profile, start mass, reference mass): they move together."""

    profile: NDArray[np.intp]  # (C,)
    log_start: NDArray[np.float64]  # (C,)
    count: NDArray[np.float64]  # (C,) members per class
    member: NDArray[np.intp]  # (K,) class of each output, −1 where π0 = 0
    rep: NDArray[np.intp]  # (C,) one output of each class
    structure: RewardStructure
    pi_ref: NDArray[np.float64]  # (K,)


def _classes(p0: NDArray, ref: NDArray, structure: RewardStructure) -> _Classes:
    live = np.nonzero(p0 > 0)[0]
    keys = np.column_stack([structure.profile_of[live].astype(np.float64), p0[live], ref[live]])
    _, first, inverse, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True,
                                          return_counts=True)
    member = np.full(p0.size, -1, dtype=np.intp)
    member[live] = inverse.reshape(-1)
    rep = live[first]
    return _Classes(structure.profile_of[rep], np.log(p0[rep]), counts.astype(np.float64),
                    member, rep, structure, ref)


def _log_policy(y: NDArray[np.float64], cl: _Classes) -> NDArray[np.float64]:
    return y - logsumexp(y, b=cl.count)


def _update(log_p: NDArray[np.float64], cl: _Classes, beta: float, obj: Objective) -> NDArray[np.float64]:
    """F per class (flow-time rate of each member's logit), from class log masses."""
    p = np.exp(log_p)
    w = np.bincount(cl.profile, weights=cl.count * p, minlength=cl.structure.n_profiles)
    pref, _ = profile_preferences(w / w.sum(), cl.structure, obj)
    f = p * pref[cl.profile]
    if beta > 0:
        full = np.where(cl.member >= 0, p[np.maximum(cl.member, 0)], 0.0)
        f = f - beta * obj.penalty.logit_gradient(full, cl.pi_ref)[cl.rep]
    return f


def _log_rates(log_p: NDArray, f: NDArray, cl: _Classes) -> NDArray[np.float64]:
    """d log π/dt per class: F_c − Σ_c' n_c'·π_c'·F_c'."""
    return f - np.sum(cl.count * np.exp(log_p) * f)


@dataclass(frozen=True)
class FlowLimit:
    """Where the expected flow from π0 ends (docs/theory.md §8).

    Attributes:
        policy: the limit policy, shape (K,) (0 on vanished outputs).
        kind: ``"interior"`` (every output keeps mass) or ``"boundary"``.
        vanished: outputs whose mass goes to 0, (K,) bool.
        surviving_levels: reward levels (profiles' mean rewards for noisy rewards) that keep mass.
        decay_exponent: p of π(o) ~ t^(−p) for vanished outputs (derived at β = 0, else
            measured at the end of the integration as −d log π/d log t); NaN elsewhere.
        residual: max_o |F_o| of the expected update at the limit.
        time: flow time the integration reached (``inf`` for the exact β = 0 answer).
        method: how the limit was found.
        message: what the limit is and why, in one sentence.
        beta_zero: the exact β = 0 answer and its law (deterministic rewards), else None.
    """

    policy: NDArray[np.float64]
    kind: str
    vanished: NDArray[np.bool_]
    surviving_levels: NDArray[np.float64]
    decay_exponent: NDArray[np.float64]
    residual: float
    time: float
    method: str
    message: str
    beta_zero: BetaZeroLimit | None = None


def _integrate(
    cl: _Classes, beta: float, obj: Objective, tol: float
) -> tuple[NDArray, float, bool, bool]:
    """Class logits where the flow's fate is decided: (logits, t, settled, classified).

    Integrates dz/dt = F in flow time (LSODA, rtol 1e-10) from checkpoint to checkpoint
    (t = 10³, 10⁴, …, 10⁹), stopping when the flow has settled (max|F| <= tol and every
    class's |d log π/d log t| <= 1e-9), or when two consecutive checkpoints sort every
    class the same way into survivors (|d log π/d log t| < SURVIVOR_RATE) and vanishing
    classes (d log π/d log t < −VANISHING_RATE) — the power-law approach to a face.
    """

    def rates(t: float, y: NDArray) -> tuple[NDArray, NDArray]:
        log_p = _log_policy(y, cl)
        f = _update(log_p, cl, beta, obj)
        return f, (1.0 + t) * _log_rates(log_p, f, cl)

    def settled(t: float, y: NDArray) -> float:
        f, rate = rates(t, y)
        return float(max(np.max(np.abs(f)) - tol, np.max(np.abs(rate)) - 1e-9))

    def rhs(_t: float, y: NDArray) -> NDArray:
        return _update(_log_policy(y, cl), cl, beta, obj)

    settled.terminal = True  # type: ignore[attr-defined]
    y, t0, previous = cl.log_start.copy(), 0.0, None
    for t1 in CHECKPOINTS:
        sol = solve_ivp(rhs, (t0, t1), y, method="LSODA", rtol=1e-10, atol=1e-12, events=settled)
        y, t0 = sol.y[:, -1], float(sol.t[-1])
        if sol.status == 1:
            return y, t0, True, True
        _, rate = rates(t0, y)
        gone = rate < -VANISHING_RATE
        sorted_out = bool(np.all(gone | (np.abs(rate) < SURVIVOR_RATE)))
        if sorted_out and previous is not None and np.array_equal(gone, previous):
            return y, t0, False, True
        previous = gone if sorted_out else None
    return y, t0, False, False


def _polish(
    log_p: NDArray, keep: NDArray[np.bool_], cl: _Classes, beta: float, obj: Objective
) -> NDArray[np.float64]:
    """The face's stationary point near ``log_p``: least squares on F_c/π_c = 0 over the survivors.

    Vanished classes are held at mass 0; the survivors' logits (one fixed: the gauge) are
    solved so that their natural rates F_c/π_c vanish. Generic over the penalty's kernels.
    """
    idx = np.nonzero(keep)[0]
    out = np.full(log_p.shape, -np.inf)
    if idx.size == 1 or beta == 0:
        out[idx] = log_p[idx] - logsumexp(log_p[idx], b=cl.count[idx])
        return out

    def full(x: NDArray) -> NDArray:
        y = np.full(log_p.shape, -np.inf)
        y[idx] = np.concatenate([[0.0], x])
        y[idx] -= logsumexp(y[idx], b=cl.count[idx])
        return y

    def residual(x: NDArray) -> NDArray:
        y = full(x)
        f = _update(y, cl, beta, obj)
        return f[idx] / np.exp(y[idx])

    x0 = log_p[idx[1:]] - log_p[idx[0]]
    sol = least_squares(residual, x0, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=200 * idx.size)
    return full(sol.x)


def _one_problem(
    pi_ref: ArrayLike, rewards: Rewards, beta: float, obj: Objective, pi0: ArrayLike | None,
    caller: str,
) -> tuple[NDArray[np.float64], float, NDArray[np.float64], RewardStructure]:
    """Validated (π_ref, β, π0, reward structure) of one problem; β is 0 for a penalty whose
    expected gradient vanishes (the objective then acts as β = 0)."""
    ref = check_distribution(pi_ref, "pi_ref")
    if ref.ndim != 1:
        raise ValueError(f"{caller} takes one problem: pi_ref must be 1-D (K,)")
    b = float(check_beta(beta, allow_zero=True))
    if getattr(obj.penalty, "zero_gradient", False):
        b = 0.0
    p0 = ref if pi0 is None else check_start(pi0, ref)
    if p0.ndim != 1:
        raise ValueError(f"{caller} takes one problem: pi0 must be 1-D (K,)")
    return ref, b, p0, reward_structure(rewards, ref.size)


def flow_limit(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: float,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    pi0: ArrayLike | None = None,
    tol: float = LIMIT_TOL,
) -> FlowLimit:
    """Where the expected GRPO flow from π0 (default π_ref) ends, interior or boundary (docs/theory.md §8).

    Args:
        pi_ref: reference policy, shape (K,) (one problem).
        rewards: r(o) (K,) or a RewardDistribution.
        beta: β >= 0 (β = 0: no KL term).
        group_size, std, penalty, eps: the objective, as in
            :func:`~gvpo_theory.stationary.grpo_stationary_policy` (``group_size`` may be an
            :class:`~gvpo_theory.objective.Objective`).
        pi0: the start, a distribution with π_ref's support (:func:`check_start`).
        tol: the limit is verified when max_o |F_o| there is at most ``tol``.

    Returns:
        :class:`FlowLimit`. β = 0 (or a penalty with zero expected gradient) with
        deterministic rewards is answered exactly (:func:`beta_zero_limit`); everything
        else by integrating the flow in log time, then solving the surviving face —
        except where the live outputs form two classes (two outputs, or two reward levels
        whose outputs move together): that flow is one-dimensional and its limit exact
        (:mod:`gvpo_theory.line_limits`).
    """
    obj = as_objective(group_size, std, penalty, eps)
    ref, b, p0, structure = _one_problem(pi_ref, rewards, beta, obj, pi0, "flow_limit")
    tol = check_tolerance(tol, "tol")
    start = "π_ref" if pi0 is None else "π0"
    if b == 0 and structure.deterministic:
        return _exact_beta_zero(p0, ref, structure, obj, start)
    cl = _classes(p0, ref, structure)
    if cl.rep.size == 2:  # two classes move along one line: its limit is exact
        from .line_limits import two_class_limit

        return two_class_limit(cl, b, obj, start, tol)
    y, t_end, settled, classified = _integrate(cl, b, obj, tol)
    log_p = _log_policy(y, cl)
    f = _update(log_p, cl, b, obj)
    rate_u = (1.0 + t_end) * _log_rates(log_p, f, cl)
    gone = (~np.full(log_p.shape, settled)) & ((rate_u < -VANISHING_RATE) | (log_p < _LOG_UNDERFLOW))
    if np.all(gone):  # cannot happen for a probability flow; keep the heaviest class
        gone[np.argmax(log_p)] = False
    log_lim = _polish(log_p, ~gone, cl, b, obj)
    return _assemble(log_lim, gone, rate_u, cl, b, obj, t_end, start, tol, classified)


def flow_path(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: float,
    group_size: float | int | Objective,
    times: ArrayLike,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    pi0: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """The expected flow's policy at the flow times ``times`` from π0 (default π_ref), shape (T, K).

    The same flow as :func:`flow_limit` (β >= 0), integrated over output classes in the log
    domain and in log time u = log(1 + t) (LSODA, rtol 1e-10), so t up to 1e30 costs what
    t = 10 does for the power-law approach of β = 0. ``times``: increasing, >= 0.
    """
    obj = as_objective(group_size, std, penalty, eps)
    ref, b, p0, structure = _one_problem(pi_ref, rewards, beta, obj, pi0, "flow_path")
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(np.diff(t) <= 0):
        raise ValueError("times must be a non-empty, increasing 1-D array of finite flow times >= 0")
    cl = _classes(p0, ref, structure)
    u = np.log1p(t)

    def rhs(uu: float, y: NDArray) -> NDArray:
        return math.exp(uu) * _update(_log_policy(y, cl), cl, b, obj)

    sol = solve_ivp(rhs, (0.0, float(u[-1])), cl.log_start.copy(), method="LSODA", rtol=1e-10,
                    atol=1e-12, t_eval=u)
    if sol.status != 0:
        raise RuntimeError(f"the flow integration failed: {sol.message}")
    live = cl.member >= 0
    out = np.zeros((t.size, ref.size))
    for i, y in enumerate(sol.y.T):
        out[i, live] = np.exp(_log_policy(y, cl))[cl.member[live]]
    return out


def _mean_reward(structure: RewardStructure) -> NDArray[np.float64]:
    return structure.dist @ structure.levels


def _assemble(
    log_lim: NDArray, gone: NDArray[np.bool_], rate_u: NDArray, cl: _Classes, beta: float,
    obj: Objective, t_end: float, start: str, tol: float, classified: bool,
) -> FlowLimit:
    k = cl.member.size
    live = cl.member >= 0
    safe = np.maximum(cl.member, 0)
    policy = np.where(live, np.exp(log_lim)[safe], 0.0)
    policy = policy / policy.sum()
    vanished = live & gone[safe]
    f = _update(log_lim, cl, beta, obj)
    residual = float(np.max(np.abs(f)))
    exponent = np.where(vanished, -rate_u[safe], np.nan)
    means = _mean_reward(cl.structure)
    keep_profiles = np.unique(cl.profile[~gone])
    surviving = np.unique(means[keep_profiles])
    kind = "boundary" if np.any(vanished) else "interior"
    verified = residual <= tol
    if kind == "interior":
        message = (f"interior: the expected flow from {start} settles at a stationary point "
                   f"(max |update| {residual:.1e})")
    else:
        lost = np.unique(means[cl.profile[gone]])
        message = (
            f"boundary limit: no interior stationary point is reached from {start}; the expected "
            f"flow empties {int(vanished.sum())} of {k} outputs (reward "
            f"{', '.join(f'{v:g}' for v in lost)}) as t^-p with p = "
            f"{', '.join(f'{v:.3g}' for v in np.unique(np.round(exponent[vanished], 3)))} "
            f"(measured at t = {t_end:.1e}) and the rest settles at the stationary point of the "
            f"surviving outputs (max |update| {residual:.1e})"
        )
    if not verified:
        message += f"; NOT verified: the update there exceeds tol {tol:.0e}"
    if not classified:
        message += (f"; the flow had not sorted every output into survivors and vanishing ones "
                    f"by t = {t_end:.0e}: the face is the one the flow was heading for then")
    return FlowLimit(policy, kind, vanished, surviving, exponent, residual, t_end,
                     "flow in log time + face least squares", message)


def _exact_beta_zero(
    p0: NDArray, ref: NDArray, structure: RewardStructure, obj: Objective, start: str
) -> FlowLimit:
    bz = _beta_zero(p0, ref, structure, obj)
    vanished = (p0 > 0) & ~bz.limit_outputs
    exponent = np.where(bz.level_outputs & vanished, bz.within_exponent, np.nan)
    exponent = np.where((p0 > 0) & ~bz.level_outputs, float(bz.loser_power), exponent)
    kind = "boundary" if np.any(vanished) else "interior"
    if kind == "interior":
        message = (f"interior: β = 0 and every output {start} reaches is tied (one reward level, "
                   "equal start masses): P_G = 0 and nothing moves")
    else:
        message = (
            f"boundary limit (β = 0, exact): all mass goes to the best reward level "
            f"{bz.best_level:g}, and within it to the {int(bz.limit_outputs.sum())} output(s) "
            f"with the largest {start} mass: every logit of the level grows at rate π(o)·P_G, so "
            f"richer outputs grow faster; within-level entropy {bz.entropy_start:.4g} → "
            f"{bz.entropy_limit:.4g} nats (π_ref restricted: {bz.entropy_reference:.4g}); {bz.law}"
        )
    return FlowLimit(
        policy=bz.policy, kind=kind, vanished=vanished,
        surviving_levels=np.array([bz.best_level]), decay_exponent=exponent, residual=0.0,
        time=math.inf, method="beta-zero closed form", message=message, beta_zero=bz,
    )
