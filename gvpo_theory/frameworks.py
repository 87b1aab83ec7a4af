"""Exact expected updates and stationary points of every registry entry (docs/frameworks.md).

One prompt, K single-token outputs with deterministic rewards r(o), policy π = softmax θ,
on-policy (π_old = π). :func:`expected_update` is the exact expected ascent direction on θ
of the entry's per-group loss at θ = θ_old (what the frameworks' loss code computes, in
expectation over groups):

    F_o = [π(o)·(P(o) − E_π P) − β·λ_o] / N,

* P(o) = E[A_1 | o_1 = o] of the entry's advantage (the engine's P_G; for ``grpo_passk``
  from its own count table; with ``reward_kl`` of the shaped rewards r − β·D(π_old));
  E_π P = 0 for every baselined estimator, not for pass@k;
* λ the expected gradient of the KL term: Σ_o π(o)·ω(o)·D′(o)·(e_o − π), with D′ the
  estimator's slope (:mod:`gvpo_theory.estimators`) and ω ≡ 1, except under DAPO's dynamic
  sampling, where a sample's KL counts only when its group does not tie: ω(o) = 1 − m_l^{G−1}
  (m the reward-level masses, l the level of o);
* N = 1, or P(the group does not tie) = 1 − Σ_l m_l^G under dynamic sampling (the batch is
  refilled with non-tied groups, so expectations are conditional on "not tied").

GVPO: ``loss="gvpo"`` gives β·π(o)·(g(o) − E_π g), g = r − β·log(π/π_ref) (zero at π*);
``loss="gvpo-rollout"`` (the official code, implicit reward anchored at π_old) gives
β·π(o)·(r(o) − E_π r) at θ = θ_old. When each rollout's inner problem is solved, the
official code is the iterated map π_{t+1} ∝ π_t·exp(r/β) (:func:`gvpo_rollout_iterates`).

:func:`stationary_point` says where each entry's dynamics go from π_ref.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares
from scipy.special import logsumexp

from . import estimators, shaping
from .dynamics import gvpo_expected_update
from .flow import integrate_flow
from .limits import LIMIT_TOL, flow_limit
from .objective import Objective
from .pooling import kl_optimal_policy
from .preference import advantage_table, composition_pmf, preference_model
from .problem import (
    as_float_array,
    check_beta,
    check_distribution,
    check_positive_int,
    check_tolerance,
)
from .rate_solver import LeftInterior, solve_rates
from .stationary import grpo_stationary_policy

#: The estimator whose slope D′ each penalty of the registry uses in the loss.
_PENALTY_ESTIMATOR: dict[str, str | None] = {
    "reverse_kl": "k3", "direct_kl": "k2", "low_var_kl": "low_var_kl", "k1": "k1", "none": None,
}


def _check(pi: ArrayLike, pi_ref: ArrayLike, rewards: ArrayLike, beta: float, obj: Objective):
    if not isinstance(obj, Objective):
        raise ValueError(f"objective must be an Objective (gvpo_theory.objective); got {obj!r}")
    p = check_distribution(pi, "pi")
    ref = check_distribution(pi_ref, "pi_ref")
    r = as_float_array(rewards, "rewards")
    if p.ndim != 1 or ref.shape != p.shape or r.shape != p.shape:
        raise ValueError("pi, pi_ref and rewards must be vectors (K,) of the same length "
                         f"(one prompt); got shapes {p.shape}, {ref.shape}, {r.shape}")
    b = float(check_beta(beta, allow_zero=True))
    if obj.loss != "grpo" and b == 0:
        raise ValueError("beta must be > 0 for GVPO (its implicit reward is β·log-ratio)")
    if obj.loss != "grpo" and (obj.advantage.baseline != "mean" or obj.advantage.scale != "none"):
        raise ValueError("GVPO's regression target is r − group mean: its advantage must be "
                         "Advantage(baseline='mean', scale='none')")
    if obj.filter_ties and obj.reward_kl is not None:
        raise ValueError("filter_ties together with reward_kl is not transcribed here "
                         "(DAPO filters on a reward metric; its recipe runs no KL in the reward)")
    if math.isinf(obj.group_size) and (obj.filter_ties or obj.advantage.baseline == "passk"):
        raise ValueError("group_size must be finite for dynamic sampling and pass@k")
    return p, ref, r, b


def _levels(r: NDArray[np.float64], p: NDArray[np.float64]):
    levels, inverse = np.unique(r, return_inverse=True)
    masses = np.bincount(inverse, weights=p, minlength=levels.size)
    return levels, inverse, masses


def passk_level_advantages(masses: NDArray[np.float64], levels: NDArray[np.float64],
                           obj: Objective) -> NDArray[np.float64]:
    """a_l = E[A_1 | member 1 scores level l] for verl's grpo_passk, by enumerating the counts
    of the other G − 1 rewards: A_1 = (v_l − v_second)/scale when every other member scores
    below l (v_second the highest of them), else 0."""
    g = int(obj.group_size)
    if levels.size == 1:
        return np.zeros(1)
    adv = obj.advantage
    table = advantage_table(levels, g, "none")
    pmf = composition_pmf(masses, table)
    n_lev = levels.size
    out = np.zeros(n_lev)
    counts = table.counts
    for l in range(1, n_lev):
        below = np.all(counts[:, l:] == 0, axis=1)
        if not np.any(below):
            continue
        c = counts[below].astype(np.float64)
        occupied = c > 0
        second = np.max(np.where(occupied, np.arange(n_lev), -1), axis=1)
        n = c.copy()
        n[:, l] += 1.0
        mean = n @ levels / g
        var_pop = np.sum(n * (levels[None, :] - mean[:, None]) ** 2, axis=1) / g
        scale = adv.scale_of(var_pop, g)
        out[l] = pmf[below] @ ((levels[l] - levels[second]) / scale)
    return out


def _preference(p: NDArray, ref: NDArray, r: NDArray, b: float, obj: Objective) -> NDArray:
    """P(o) of the entry's advantage (shaped rewards with reward_kl)."""
    plain = replace(obj, reward_kl=None, filter_ties=False)
    rewards = r if obj.reward_kl is None else shaping.shaped_rewards(r, p, ref, b, obj.reward_kl)
    if obj.advantage.baseline == "passk":
        levels, inverse, masses = _levels(rewards, p)
        return passk_level_advantages(masses, levels, plain)[inverse]
    return preference_model(p, rewards, plain)


def kl_weighted_gradient(p: NDArray, ref: NDArray, estimator: str | None,
                         weight: NDArray | None = None) -> NDArray:
    """λ = Σ_o π(o)·ω(o)·D′(o)·(e_o − π): the expected θ-gradient of the KL term (β = 1)."""
    if estimator is None:
        return np.zeros_like(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = estimators.slope(estimator, np.log(ref) - np.log(p))
    c = np.where(p > 0, p * slope, 0.0)
    if weight is not None:
        c = c * weight
    return c - p * np.sum(c)


def not_tied_probabilities(p: NDArray, r: NDArray, group_size: int) -> tuple[float, NDArray]:
    """(N, ω): N = P(a group of G does not tie) = 1 − Σ_l m_l^G and ω(o) = 1 − m_{l(o)}^{G−1}
    = P(the other G − 1 members do not all tie with o), without cancellation near a vertex:
    for the heaviest level, 1 − m^n = −expm1(n·log1p(−s)) with s the other levels' mass
    summed directly (exact when s is 1e-200)."""
    _, inverse, masses = _levels(r, p)
    top = int(np.argmax(masses))
    rest = float(np.sum(np.delete(masses, top)))
    others = np.delete(masses, top)
    n_tied = float(-np.expm1(group_size * np.log1p(-rest)) - np.sum(others**group_size))
    omega = 1.0 - masses ** (group_size - 1)
    omega[top] = -np.expm1((group_size - 1) * np.log1p(-rest))
    return n_tied, omega[inverse]


def tie_probabilities(p: NDArray, r: NDArray, group_size: int) -> tuple[float, NDArray]:
    """(T, t): T = P(a group of G ties) = Σ_l m_l^G, t(o) = m_{l(o)}^{G−1} = P(the other
    G − 1 members tie with o). Their complements without cancellation:
    :func:`not_tied_probabilities`."""
    n_tied, omega = not_tied_probabilities(p, r, group_size)
    return 1.0 - n_tied, 1.0 - omega


def expected_update(pi: ArrayLike, pi_ref: ArrayLike, rewards: ArrayLike, beta: float,
                    objective: Objective) -> NDArray[np.float64]:
    """Exact expected ascent direction F (K,) on the logits for any registry entry (module
    docstring). ``beta`` >= 0 (0 only for GRPO-type losses); ``rewards`` deterministic (K,).
    Under DAPO's filter, a π whose support carries one reward level has F = 0: every group
    ties, the filter keeps none and no step is taken."""
    p, ref, r, b = _check(pi, pi_ref, rewards, beta, objective)
    return _update(p, ref, r, b, objective)


def _update(p: NDArray, ref: NDArray, r: NDArray, b: float, objective: Objective) -> NDArray:
    """:func:`expected_update` on validated input."""
    if objective.loss == "gvpo":
        return gvpo_expected_update(p, ref, r, b, None, objective.group_size, scale="paper")
    if objective.loss == "gvpo-rollout":
        return gvpo_expected_update(p, p, r, b, None, objective.group_size, scale="paper")
    pref = _preference(p, ref, r, b, objective)
    policy = p * (pref - p @ pref)
    estimator = _PENALTY_ESTIMATOR[objective.penalty.name]
    if not objective.filter_ties:
        return policy - b * kl_weighted_gradient(p, ref, estimator)
    n_tied, omega = not_tied_probabilities(p, r, int(objective.group_size))
    if n_tied <= 0.0:
        # one reward level carries all of π's mass: every group ties, the filter keeps none,
        # and no loss term (KL included) is ever formed — no step is taken
        return np.zeros_like(p)
    return (policy - b * kl_weighted_gradient(p, ref, estimator, omega)) / n_tied


# ---------------------------------------------------------------------- stationary points


@dataclass(frozen=True)
class EntryStationary:
    """Where an entry's expected dynamics go from π_ref.

    ``policy`` (K,); ``kind`` "interior" (a rest point with full support) or "boundary"
    (outputs vanish along the flow; ``policy`` is the flow's limit: 0 on the vanished
    outputs, the rest point of the surviving ones); NaN where no limit could be verified
    (``message`` then says how far the flow got and its state there); ``converged`` (an interior point that
    holds to ``residual`` <= tol of the entry's own condition; False for a boundary limit,
    as in :class:`~gvpo_theory.stationary.StationaryResult`); ``condition`` the
    stationarity condition in words; ``message`` why, with the approach; ``verified``
    (the answer is checked: an interior point as ``converged``, a limit exact in closed form
    or found by integration with the survivors' max |d log π/dt| <= tol and every vanished
    output pushed out there).
    """

    policy: NDArray[np.float64]
    kind: str
    converged: bool
    residual: float
    condition: str
    message: str
    verified: bool = False


_CONDITIONS = {
    "reverse_kl": "π(o)·(1 − P(o)/β) = π_ref(o) (k3 / reverse KL)",
    "direct_kl": "π ∝ π_ref·exp(P/β) (direct KL)",
    "low_var_kl": "π(o)·(1 − P(o)/β) = π_ref(o) with π_ref/π <= 13.611 everywhere (k3 where the "
                  "low_var_kl clamp does not bind; none where it does)",
    "k1": "π·P = 0: no KL force (as β = 0): boundary",
    "none": "π·P = 0: no KL force (as β = 0): boundary",
}


def _from_levels(p_ref: NDArray, inverse: NDArray, q_ref: NDArray, w: NDArray) -> NDArray:
    """π(o) = π_ref(o)·w_l/Q_l (0 off the support of π_ref)."""
    pi = np.where(p_ref > 0, p_ref * (w / q_ref)[inverse], 0.0)
    return pi / pi.sum()


def _entry_rates(levels: NDArray, q_ref: NDArray, b: float, obj: Objective):
    """ρ_s(w) = F_s/w_s of the level problem (outputs = levels, π_ref = Q): along the flow
    from π_ref, π/π_ref is constant within a level, so F_o = π(o)·ρ_{l(o)} exactly."""

    def rate(log_w: NDArray[np.float64]) -> NDArray[np.float64]:
        w = np.exp(log_w)
        w = w / w.sum()
        if obj.filter_ties and np.sum(w ** int(obj.group_size)) >= 1.0 - 1e-15:
            raise LeftInterior("every group ties: one reward level holds all the mass")
        return _update(w, q_ref, levels, b, obj) / w

    return rate


def stationary_point(pi_ref: ArrayLike, rewards: ArrayLike, beta: float,
                     objective: Objective, *, tol: float = LIMIT_TOL) -> EntryStationary:
    """Where ``objective``'s expected dynamics go from π_ref: a stationary policy or a limit.

    Every answer is a rest point or the true limit of the entry's own expected flow
    dz/dt = F (:func:`expected_update`, logits z, π = softmax z) — never a placeholder:

    * level-space entries: :func:`~gvpo_theory.stationary.grpo_stationary_policy`; where it
      finds no interior point (``low_var_kl`` once its clamp binds, direct KL at G = ∞) or
      the penalty exerts no force (β = 0, k1, none), :func:`~gvpo_theory.limits.flow_limit`,
      which works from the penalty's logit gradient (exact at β = 0);
    * k1 in the reward and GVPO anchored at π_ref: π* ∝ π_ref·exp(r/β), for every
      normalisation;
    * GVPO as shipped (anchored at π_old) and DAPO's filter without a KL force: exact — all
      mass goes to the best reward level, and inside it to the outputs with the largest
      π_ref mass (every logit there moves at π(o)·c(t) with ∫c dt = ∞: see
      :func:`_no_force_limit`);
    * the other entries (k3 / low_var_kl in the reward, DAPO's filter with a KL term,
      pass@k): the level-rate flow to an interior rest point (:mod:`gvpo_theory.rate_solver`);
      where it leaves the interior, the expected flow integrated in the log domain to its
      limit (:func:`_entry_flow_limit`): the outputs that vanish, and the survivors' rest
      point, verified to ``tol`` (max over survivors of |d log π/dt|).
    """
    p0 = check_distribution(pi_ref, "pi_ref")
    _, ref, r, b = _check(p0, p0, rewards, beta, objective)
    tol = check_tolerance(tol, "tol")
    support = ref > 0
    levels, inverse_s, q_ref = _levels(r[support], ref[support])
    inverse = np.zeros(ref.size, dtype=np.intp)
    inverse[support] = inverse_s
    if objective.loss == "gvpo" or objective.reward_kl == "k1":
        pi = kl_optimal_policy(ref, r, b)
        with np.errstate(divide="ignore"):
            log_w = np.where(support, np.log(ref) + r / b, -np.inf)
        log_pi = log_w - logsumexp(log_w)  # log π* without underflow (β = 0.001)
        cond = ("GVPO's loss is 0 exactly where r − β·log(π/π_ref) is constant: π*"
                if objective.loss == "gvpo" else
                "r − β·log(π/π_ref) constant on the support (every group ties): π*")
        with np.errstate(divide="ignore", invalid="ignore"):
            g_val = np.where(support, r - b * (log_pi - np.log(ref)), 0.0)
        res = float(np.max(np.abs(g_val - pi @ g_val)[support]))
        return EntryStationary(pi, "interior", res <= 1e-10, res, cond, "closed form π* ∝ π_ref·exp(r/β)",
                               res <= 1e-10)
    if objective.level_space:
        return _level_space_point(ref, r, b, objective, tol)
    no_force = objective.penalty.name == "none" or objective.penalty.zero_gradient
    if objective.loss == "gvpo-rollout" or (objective.filter_ties and no_force):
        return _no_force_limit(ref, r, objective)
    if objective.reward_kl is not None:
        sol = shaping.stationary_levels(levels, q_ref, b, objective.reward_kl)
        cond = f"r − β·{objective.reward_kl} constant on the support (every group ties)"
    elif no_force:
        return _entry_flow_limit(ref, r, b, objective, tol, "π·(P − E_π P) = 0 with no KL force")
    else:
        sol = solve_rates(_entry_rates(levels, q_ref, b, objective), np.log(q_ref))
        cond = ("ρ_s = 0 per level: π(o)·(P(o) − E_π P) = β·λ_o with the entry's KL weights "
                "(DAPO: ω = 1 − m^{G−1})")
    if sol.kind == "interior":
        pi = _from_levels(ref, inverse, q_ref, sol.masses)
        f = _update(pi, ref, r, b, objective)
        res = float(np.max(np.abs(f)))
        if sol.ok and res <= tol:
            return EntryStationary(pi, "interior", True, res, cond, sol.message, True)
    return _entry_flow_limit(ref, r, b, objective, tol, cond)


def _level_space_point(ref: NDArray, r: NDArray, b: float, obj: Objective, tol: float) -> EntryStationary:
    """Level-space entries: the engine's interior point, else :func:`~gvpo_theory.limits.flow_limit`."""
    cond = _CONDITIONS[obj.penalty.name]
    if b > 0 and not obj.penalty.zero_gradient:
        res = grpo_stationary_policy(ref, r, b, obj)
        if bool(res.converged):
            return EntryStationary(res.policy, "interior", True, float(res.residual), cond, res.message,
                                   True)
    lim = flow_limit(ref, r, b, obj, tol=tol)
    ok = lim.residual <= tol
    return EntryStationary(lim.policy, lim.kind, ok and lim.kind == "interior", lim.residual, cond,
                           lim.message, ok)


def _best_level_argmax(ref: NDArray, r: NDArray) -> NDArray[np.float64]:
    """Uniform over the outputs of the best reward level on π_ref's support that have the
    largest π_ref mass there."""
    support = ref > 0
    best = support & (r == np.max(r[support]))
    top = best & (ref == np.max(ref[best]))
    return np.where(top, 1.0 / np.count_nonzero(top), 0.0)


def _no_force_limit(ref: NDArray, r: NDArray, obj: Objective) -> EntryStationary:
    """The exact limit of an entry with no KL force: GVPO anchored at π_old, DAPO without KL.

    F_o = π(o)·c_l(t) with c constant on a reward level l: c_l = β·(v_l − E_π r) for GVPO
    as shipped, (P_l − E_π P)/N for DAPO (N = P(not tied)). The best level B keeps
    c_B > 0 while another level holds mass, so the others vanish; inside B,
    d e^{−z(o)}/dt = −c_B/Σ e^z is the same for every output, so
    ρ(o) ∝ ρ₀(o)/(1 − λ(t)·ρ₀(o)) (:func:`gvpo_theory.limits.within_level_distribution`) with
    λ → 1/max ρ₀ because ∫c_B dt = ∞ (c_B ~ 1/t for GVPO, where the other levels' mass
    decays like 1/t; c_B → a positive constant for DAPO, where it decays exponentially): the
    limit is uniform over the outputs of B with the largest π_ref mass. (With each rollout's
    inner problem solved exactly, GVPO as shipped is instead the map π ∝ π_old·exp(r/β),
    whose limit is π_ref restricted to B: :func:`gvpo_rollout_iterates`.)
    """
    pi = _best_level_argmax(ref, r)
    n_top = int(np.count_nonzero(pi))
    if obj.loss == "gvpo-rollout":
        cond = ("GVPO anchored at π_old: F = β·π(o)·(r(o) − E_π r), zero exactly when π's support "
                "carries one reward level")
        law = ("the other levels' masses decay like 1/t, the other outputs of the best level like a "
               "power of t; with each rollout solved exactly (the map π ∝ π_old·exp(r/β)) the limit "
               "is π_ref restricted to the best level instead")
    else:
        cond = "DAPO without a KL force: π·(P − E_π P)/P(not tied) = 0: one reward level on the support"
        law = ("P(not tied) and the other levels' masses decay exponentially in t; the best level's "
               "clock grows linearly")
    message = (f"boundary limit (exact): all mass goes to the best reward level {np.max(r[ref > 0]):g} "
               f"and within it to the {n_top} output(s) with the largest π_ref mass: inside a level every "
               f"logit moves at π(o)·c(t), so richer outputs grow faster; {law}")
    return EntryStationary(pi, "boundary", False, 0.0, cond, message, True)


#: Checkpoints in log time u = log(1 + t) where the flow's outputs are sorted.
_CHECKPOINTS_U = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 700.0)
#: An output vanishes when d log π/du <= −this at two consecutive checkpoints (or its
#: log mass falls below −700); the survivors have settled when their d log π/du differ by
#: at most _SETTLED_RATE.
_VANISHING_RATE = 1e-2
_SETTLED_RATE = 1e-11
_LOG_FLOOR = -700.0
#: DAPO: the losing levels' total mass is evaluated at e^−300 once it is smaller (module
#: docstring of :func:`_entry_flow_limit`).
_DAPO_LOG_SCALE = -300.0
#: Right-hand-side evaluations one limit may spend (all checkpoints together).
_FLOW_EVALUATIONS = 6_000


def _entry_flow_limit(ref: NDArray, r: NDArray, b: float, obj: Objective, tol: float,
                      cond: str) -> EntryStationary:
    """The limit of the entry's expected flow dz/dt = F from π_ref, integrated in the log domain.

    Outputs that share (reward, π_ref mass) move together (classes). The class log masses
    are integrated in log time u = log(1 + t), with the time further rescaled by
    1 + max|d log π/du| (the same orbits; a mass that runs to 0 in finite time — k3 in the
    reward without a std — then falls at a bounded speed). A class whose log mass falls
    below −700 is removed (mass 0: the flow continues on that face). At the checkpoints
    u = 1, 2, 4, …, 700 the classes are sorted into vanishing (d log π/du <= −10⁻²) and
    survivors; when two consecutive checkpoints agree and the survivors' distribution has
    settled (their d log π/du differ by <= 10⁻¹¹), the vanishing ones are set to 0 and, where
    more than one class survives, the survivors' rest point is polished by least squares on
    d log π/dt = 0 (vanished at 0). The limit is accepted when the survivors' max
    |d log π/dt| <= tol and every vanished class, put back at mass e^−40, is pushed out;
    otherwise the integration goes on to the next checkpoint.

    DAPO's filter: on the face of one level every group ties and F is 0/0, but F inside the
    best level has a limit as the other levels' mass s → 0 that depends on their masses only
    through their ratios (numerator and P(not tied) are both O(s)). So once s < e^−300, F is
    evaluated with the other levels scaled to total mass e^−300 (their ratios kept): the
    error is O(e^−300), and the best level's own dynamics are followed to their rest point.
    """
    support = np.nonzero(ref > 0)[0]
    keys = np.column_stack([r[support], ref[support]])
    _, first, member_s, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True,
                                           return_counts=True)
    member_s = member_s.reshape(-1)
    rep = support[first]
    count = counts.astype(np.float64)
    n_cls = rep.size
    level_of = np.unique(r[rep], return_inverse=True)[1].reshape(-1)
    dapo = obj.filter_ties

    def log_masses(y: NDArray, live: NDArray) -> NDArray:
        out = np.full(n_cls, -np.inf)
        out[live] = y[live] - logsumexp(y[live], b=count[live])
        if dapo:
            lev_mass = np.array([logsumexp(out[level_of == lv], b=count[level_of == lv])
                                 if np.any(live & (level_of == lv)) else -np.inf
                                 for lv in range(level_of.max() + 1)])
            top = int(np.argmax(lev_mass))
            others = live & (level_of != top)
            if np.any(others):
                log_s = logsumexp(out[others], b=count[others])
                if log_s < _DAPO_LOG_SCALE:
                    out[others] += _DAPO_LOG_SCALE - log_s
                    mine = level_of == top
                    out[mine] += math.log1p(-math.exp(_DAPO_LOG_SCALE)) - lev_mass[top]
        return out

    def rates(y: NDArray, live: NDArray) -> tuple[NDArray, NDArray]:
        """(F per class, d log π/dt per class)."""
        lp = log_masses(y, live)
        p = np.zeros(ref.size)
        p[support] = np.exp(lp)[member_s]
        f = _update(p, ref, r, b, obj)[rep]
        f = np.where(live, f, 0.0)
        return f, f - np.sum(count * np.exp(lp) * f)

    def finish(y: NDArray, live: NDArray, gone: NDArray) -> tuple[NDArray, NDArray, float, float]:
        """The face limit from the flow's state: (class log masses, keep, residual, largest
        transverse rate). Survivors are polished (non-DAPO faces); each vanished class must
        be pushed out there: d log(π_c/π_survivors)/dt < 0 with π_c = e^−40 (all of them
        at their scaled masses for DAPO, whose face is singular)."""
        keep = live & ~gone
        if not np.any(keep):
            keep[np.argmax(np.where(live, y, -np.inf))] = True
        if not dapo and b > 0 and keep.sum() > 1:
            y = _polish_classes(y, keep, rates)
        _, rr = rates(y, live if dapo else keep)
        residual = float(np.max(np.abs(rr[keep])))
        lp = log_masses(y, keep)
        weights = count[keep] * np.exp(lp[keep])
        transverse = -math.inf
        for c in np.nonzero(live & ~keep)[0]:
            test = live if dapo else keep | (np.arange(n_cls) == c)
            y_c = y.copy()
            if not dapo:
                y_c[c] = logsumexp(y[keep], b=count[keep]) - 40.0
            _, rr_c = rates(y_c, test)
            transverse = max(transverse, float(rr_c[c] - weights @ rr_c[keep] / weights.sum()))
        return lp, keep, residual, transverse

    y = np.log(ref[rep])
    live = np.ones(n_cls, dtype=bool)
    u, previous, result, budget = 0.0, None, None, _FLOW_EVALUATIONS
    for u_next in _CHECKPOINTS_U:
        while u < u_next - 1e-9:
            state = np.append(y, u)

            def rhs(_s: float, x: NDArray, live: NDArray = live) -> NDArray:
                f, rr = rates(x[:-1], live)
                scale = math.exp(x[-1])
                speed = 1.0 + float(np.max(np.abs(scale * rr[live])))
                return np.append(scale * f / speed, 1.0 / speed)

            def reached(_s: float, x: NDArray, u_next: float = u_next) -> float:
                return x[-1] - u_next

            def floor(_s: float, x: NDArray, live: NDArray = live) -> float:
                lp = x[:-1][live] - logsumexp(x[:-1][live], b=count[live])
                return float(np.min(lp)) - _LOG_FLOOR if live.sum() > 1 and not dapo else 1.0

            run = integrate_flow(rhs, state, t_max=1e6, settle=reached, vanish=floor,
                                 max_evaluations=budget, rtol=1e-10, atol=1e-12, method="LSODA")
            budget -= run.evaluations
            y, u = run.y[:-1], float(run.y[-1])
            if run.status == "vanished":
                lp = y - logsumexp(np.where(live, y, -np.inf), b=count)
                low = live & (lp <= _LOG_FLOOR + 1e-6)
                low[np.argmin(np.where(live, lp, np.inf))] = True
                live = live & ~low
                continue
            if run.status != "settled":
                break
        if u < u_next - 1e-9:
            break
        _, rr = rates(y, live)
        rate_u = math.exp(u) * rr
        gone = live & ((rate_u <= -_VANISHING_RATE) | (log_masses(y, live) < _LOG_FLOOR))
        stay = live & ~gone
        spread = float(np.ptp(rate_u[stay])) if np.any(stay) else 0.0
        if spread <= _SETTLED_RATE and previous is not None and np.array_equal(gone, previous):
            result = finish(y, live, gone)
            if result[2] <= tol and result[3] < 0.0:
                break
        previous = gone
    decided = result is not None
    lp, keep, residual, transverse = result if decided else finish(y, live, np.zeros(n_cls, bool))
    pi = np.zeros(ref.size)
    pi[support] = np.where(keep, np.exp(lp), 0.0)[member_s]
    pi /= pi.sum()
    vanished = np.zeros(ref.size, dtype=bool)
    vanished[support] = ~keep[member_s]
    kind = "boundary" if np.any(vanished) else "interior"
    ok = decided and residual <= tol and transverse < 0.0
    lost = ", ".join(f"{v:g}" for v in np.unique(r[vanished]))
    message = (f"{'boundary limit' if kind == 'boundary' else 'interior rest point'} of the expected "
               f"flow from π_ref (integrated in log time to t = {math.expm1(u):.2g}"
               + (f"; {int(vanished.sum())} of {ref.size} outputs vanish (reward {lost}), pushed out "
                  f"at the limit at rate {transverse:.2g}" if lost else "")
               + f"; survivors' max |d log π/dt| {residual:.1e})")
    if not decided:
        message += "; NOT verified: the flow had not sorted every output into survivors and vanishing ones"
    elif not ok:
        message += (f"; NOT verified: the survivors move faster than tol {tol:.0e} or a vanished "
                    "output is not pushed out there")
    if not ok:
        # no placeholder answer: the unverified state is reported in the message only
        state = ", ".join(f"{x:.4g}" for x in pi)
        message += f"; the flow's state there, not an answer: π ≈ [{state}]"
        pi = np.full(ref.size, np.nan)
    return EntryStationary(pi, kind, ok and kind == "interior", residual, cond, message, ok)


def _polish_classes(y: NDArray, keep: NDArray, rates) -> NDArray:
    """Least squares on the survivors' d log π/dt = 0 (one logit fixed), vanished at mass 0."""
    idx = np.nonzero(keep)[0]

    def full(x: NDArray) -> NDArray:
        out = np.zeros(y.size)
        out[idx] = np.concatenate([[0.0], x])
        return out

    def resid(x: NDArray) -> NDArray:
        return rates(full(x), keep)[1][idx]

    x0 = y[idx[1:]] - y[idx[0]]
    sol = least_squares(resid, x0, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=200 * idx.size)
    better = np.max(np.abs(resid(sol.x))) <= np.max(np.abs(resid(x0)))
    return np.where(keep, full(sol.x if better else x0), y)


# ---------------------------------------------------------------------- GVPO as shipped


def gvpo_rollout_iterates(pi0: ArrayLike, rewards: ArrayLike, beta: float, n_rollouts: int
                          ) -> NDArray[np.float64]:
    """π_0..π_n of the official GVPO code when each rollout's inner loss is minimised exactly.

    With the anchor π_old = π_t held fixed through a rollout, GVPO's expected loss is zero
    exactly where β·log(π_θ/π_t) − r is constant on the support (the paper's theorem with
    π_ref replaced by π_t), so π_{t+1} ∝ π_t·exp(r/β) and π_t ∝ π_0·exp(t·r/β): mirror
    ascent with step 1/β. The odds of any output against a best one shrink by
    exp(−(r_max − r(o))/β) per rollout; the limit is π_0 restricted to the best level.
    Computed in the log domain.
    """
    p0 = check_distribution(pi0, "pi0")
    r = as_float_array(rewards, "rewards")
    b = float(check_beta(beta))
    n = check_positive_int(n_rollouts, "n_rollouts", min_value=0)
    if p0.ndim != 1 or r.shape != p0.shape:
        raise ValueError("pi0 and rewards must be vectors (K,) of the same length")
    with np.errstate(divide="ignore"):
        log_p0 = np.log(p0)
    t = np.arange(n + 1, dtype=np.float64)[:, None]
    logits = log_p0[None, :] + t * (r / b)[None, :]
    logits -= np.max(logits, axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)
