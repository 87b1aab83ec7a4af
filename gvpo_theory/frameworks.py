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

from . import estimators, shaping
from .dynamics import gvpo_expected_update
from .objective import Objective
from .pooling import kl_optimal_policy
from .preference import advantage_table, composition_pmf, preference_model
from .problem import as_float_array, check_beta, check_distribution, check_positive_int
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


def tie_probabilities(p: NDArray, r: NDArray, group_size: int) -> tuple[float, NDArray]:
    """(T, t): T = P(a group of G ties) = Σ_l m_l^G, t(o) = m_{l(o)}^{G−1} = P(the other
    G − 1 members tie with o)."""
    _, inverse, masses = _levels(r, p)
    return float(np.sum(masses**group_size)), masses[inverse] ** (group_size - 1)


def expected_update(pi: ArrayLike, pi_ref: ArrayLike, rewards: ArrayLike, beta: float,
                    objective: Objective) -> NDArray[np.float64]:
    """Exact expected ascent direction F (K,) on the logits for any registry entry (module
    docstring). ``beta`` >= 0 (0 only for GRPO-type losses); ``rewards`` deterministic (K,)."""
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
    total, t = tie_probabilities(p, r, int(objective.group_size))
    if total >= 1.0:
        raise ValueError("every group ties (one reward level carries all of π's mass): dynamic "
                         "sampling never fills a batch")
    return (policy - b * kl_weighted_gradient(p, ref, estimator, 1.0 - t)) / (1.0 - total)


# ---------------------------------------------------------------------- stationary points


@dataclass(frozen=True)
class EntryStationary:
    """Where an entry's expected dynamics go from π_ref.

    ``policy`` (K,); ``kind`` "interior" (a rest point with full support) or "boundary"
    (no interior rest point is reached; ``policy`` is then the limit where one is known in
    closed form, else the last point of the flow); ``converged`` (an interior point that
    holds to ``residual`` <= 1e-10 of the entry's own condition); ``condition`` the
    stationarity condition in words; ``message`` why.
    """

    policy: NDArray[np.float64]
    kind: str
    converged: bool
    residual: float
    condition: str
    message: str


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
                     objective: Objective) -> EntryStationary:
    """The stationary policy (or limit) of ``objective`` from π_ref (docs/frameworks.md).

    * level-space entries: :func:`~gvpo_theory.stationary.grpo_stationary_policy`;
      ``low_var_kl`` is its k3 point when the clamp does not bind there, and not converged
      when it does (the clamped outputs keep losing mass: a boundary);
    * k1 in the reward and GVPO anchored at π_ref: π* ∝ π_ref·exp(r/β), for every
      normalisation;
    * k3 / low_var_kl in the reward, DAPO's filter with a KL term, pass@k with a KL term:
      the level-mass flow from π_ref to its rest point (:mod:`gvpo_theory.rate_solver`);
    * GVPO as shipped (anchored at π_old): the limit of its iterated map, π_ref restricted
      to the best reward level (kind "boundary"; :func:`gvpo_rollout_iterates`).
    """
    p0 = check_distribution(pi_ref, "pi_ref")
    _, ref, r, b = _check(p0, p0, rewards, beta, objective)
    support = ref > 0
    levels, inverse_s, q_ref = _levels(r[support], ref[support])
    inverse = np.zeros(ref.size, dtype=np.intp)
    inverse[support] = inverse_s
    if objective.loss == "gvpo" or objective.reward_kl == "k1":
        pi = kl_optimal_policy(ref, r, b)
        cond = ("GVPO's loss is 0 exactly where r − β·log(π/π_ref) is constant: π*"
                if objective.loss == "gvpo" else
                "r − β·log(π/π_ref) constant on the support (every group ties): π*")
        with np.errstate(divide="ignore", invalid="ignore"):
            g_val = np.where(support, r - b * (np.log(pi) - np.log(ref)), 0.0)
        res = float(np.max(np.abs(g_val - pi @ g_val) * support))
        return EntryStationary(pi, "interior", res <= 1e-10, res, cond, "closed form π* ∝ π_ref·exp(r/β)")
    if objective.loss == "gvpo-rollout":
        best = r == np.max(r[support])
        pi = np.where(best & support, ref, 0.0)
        pi = pi / pi.sum()
        return EntryStationary(pi, "boundary", False, 0.0,
                               "GVPO anchored at π_old: π_{t+1} ∝ π_t·exp(r/β), no fixed point with "
                               "two reward levels on the support",
                               "limit of the iterated map: π_ref restricted to the best reward level; "
                               "every other level's odds shrink by exp(−Δ/β) per rollout")
    if objective.level_space:
        res = grpo_stationary_policy(ref, r, b, objective) if b > 0 else None
        if res is None or objective.penalty.zero_gradient:
            return EntryStationary(ref if res is None else res.policy, "boundary", False, math.inf,
                                   _CONDITIONS[objective.penalty.name],
                                   "no KL force: the expected update is π·P_G, whose only rest points "
                                   "have a single reward level on the support (gvpo_theory.limits)")
        kind = "interior" if bool(res.converged) else "boundary"
        return EntryStationary(res.policy, kind, bool(res.converged), float(res.residual),
                               _CONDITIONS[objective.penalty.name], res.message)
    if objective.reward_kl is not None:
        sol = shaping.stationary_levels(levels, q_ref, b, objective.reward_kl)
        cond = f"r − β·{objective.reward_kl} constant on the support (every group ties)"
    else:
        if objective.penalty.name == "none" or (objective.penalty.zero_gradient
                                                 and not objective.filter_ties):
            return EntryStationary(ref, "boundary", False, math.inf, _CONDITIONS["none"],
                                   "no KL force: a boundary limit (gvpo_theory.limits)")
        sol = solve_rates(_entry_rates(levels, q_ref, b, objective), np.log(q_ref))
        cond = ("ρ_s = 0 per level: π(o)·(P(o) − E_π P) = β·λ_o with the entry's KL weights "
                "(DAPO: ω = 1 − m^{G−1})")
    pi = _from_levels(ref, inverse, q_ref, sol.masses)
    if sol.kind != "interior":
        return EntryStationary(pi, "boundary", False, math.inf, cond, sol.message)
    f = expected_update(pi, ref, r, b, objective)
    res = float(np.max(np.abs(f)))
    return EntryStationary(pi, "interior", sol.ok and res <= 1e-10, res, cond, sol.message)


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
