"""Monte Carlo approximation of GRPO's stationary policy where exact enumeration is refused.

For deterministic rewards over L non-lattice levels and a large G, the exact a_l(m)
(:func:`~gvpo_theory.preference.level_advantages`) sums C(G + L − 2, L − 1) count vectors,
which the exact solvers refuse above ``max_terms``. Here a_l(m) is estimated from a fixed
sample of count vectors c ~ Mult(G − 1, m₀) of the other G − 1 members, re-weighted to any
m by importance sampling (common random numbers: the estimate is a smooth deterministic
function of m for a fixed sample),

    â_l(m) = (1/N)·Σ_n ρ_n(m)·A(l, c_n),   ρ_n(m) = Π_j (m_j/m₀_j)^{c_nj},
    ∂â_l/∂m_j = (1/N)·Σ_n ρ_n(m)·A(l, c_n)·c_nj/m_j,

centred with the exact identity Σ_l m_l·a_l(m) = 0 (â ← â − m·â, a control variate).
The level fixed point log m = log T(m) of :mod:`gvpo_theory.level_solver` (T from the
penalty's stationary weights) is solved by Newton on â; the sample is re-drawn at the
solution and the solve repeated (``n_rounds`` times), so the final sample is centred at
the answer and its weights ρ are ≈ 1.

The error is reported, never silent: the standard errors of â at the solution (the
sample covariance of ρ·A over the N groups), propagated to the level masses and the
policy by the delta method through the fixed-point map (dm = −(∂R/∂z)⁺·(∂R/∂a)·dâ), and
the fixed-point residual of the raw (uncentred) estimate with its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .level_solver import _softmax0
from .objective import Advantage, Objective, as_objective
from .problem import (
    RewardDistribution,
    Rewards,
    check_beta,
    check_distribution,
    check_group_size,
    check_memory_estimate,
    check_positive_int,
    check_tolerance,
    reward_structure,
)

#: Bytes of working memory per drawn group and level (counts, advantages, weighted copies).
_BYTES_PER_GROUP_LEVEL = 64


@dataclass(frozen=True)
class ApproximateStationaryResult:
    """A Monte Carlo APPROXIMATION of GRPO's stationary policy, with its standard errors.

    Not an exact answer: every value below is an estimate from ``n_groups`` simulated
    groups (seed ``seed``), and each carries a standard error (one standard deviation of
    its sampling error, to first order).

    Attributes:
        policy: the approximate stationary policy π, shape (K,); NaN where Newton stalled
            on the sampled fixed point (the message then gives where it stopped).
        policy_stderr: standard error of each π(o), shape (K,) (delta method).
        levels: the reward levels, shape (L,).
        level_masses: m, the approximate mass of each level, shape (L,).
        level_masses_stderr: standard error of each m_l, shape (L,).
        preference: P_G(o | π) at the solution (Monte Carlo estimate), shape (K,).
        preference_stderr: its standard error, shape (K,).
        residual: max_l |log m_l − log T_l(m)| with the raw (uncentred) estimate of a at the
            solution; sampling noise alone makes it non-zero.
        residual_stderr: the standard error of that component of the residual, treating the
            solution as fixed (the solution is fitted to the same sample, so this
            diagnostic's spread over seeds is somewhat larger than this figure).
        n_groups: groups simulated per round; seed: the generator's seed;
        n_rounds: sampling rounds (each re-draws the sample at the previous solution).
        message: what was computed and how accurate it is, in one sentence.
    """

    policy: NDArray[np.float64]
    policy_stderr: NDArray[np.float64]
    levels: NDArray[np.float64]
    level_masses: NDArray[np.float64]
    level_masses_stderr: NDArray[np.float64]
    preference: NDArray[np.float64]
    preference_stderr: NDArray[np.float64]
    residual: float
    residual_stderr: float
    n_groups: int
    seed: int
    n_rounds: int
    message: str


@dataclass(frozen=True)
class _Sample:
    """Count vectors c (N, L) of the other G − 1 members drawn at m₀, and A(l, c) (N, L)."""

    counts: NDArray[np.float64]
    advantage: NDArray[np.float64]
    log_m0: NDArray[np.float64]


def _count_advantages(
    counts: NDArray[np.int64], v: NDArray[np.float64], g: int, adv: Advantage
) -> NDArray[np.float64]:
    """A_1 for a member scoring level l given the other members' counts, shape (N, L).

    The group is n = c + e_l over the (centred) levels v; ties (one occupied level) give 0.
    """
    c = counts.astype(np.float64)
    base = c @ v
    factor = adv.baseline_factor(g)
    out = np.empty(c.shape)
    for l in range(v.size):
        mean = (base + v[l]) / g
        dev = v[None, :] - mean[:, None]
        var_pop = (np.sum(c * dev * dev, axis=1) + (v[l] - mean) ** 2) / g
        tie = counts[:, l] == g - 1
        scale = adv.scale_of(var_pop, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, l] = np.where(tie, 0.0, factor * (v[l] - mean) / np.where(tie, 1.0, scale))
    return out


def _draw(
    m0: NDArray[np.float64], v: NDArray[np.float64], g: int, adv: Advantage, n: int,
    rng: np.random.Generator,
) -> _Sample:
    counts = rng.multinomial(g - 1, m0, size=n)
    return _Sample(counts.astype(np.float64), _count_advantages(counts, v, g, adv), np.log(m0))


def _weighted(sample: _Sample, m: NDArray[np.float64]) -> NDArray[np.float64]:
    """ρ_n(m)·A(l, c_n), shape (N, L)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        rho = np.exp(sample.counts @ (np.log(m) - sample.log_m0))
        return rho[:, None] * sample.advantage


def _centred(
    sample: _Sample, m: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(â_l(m) centred so that Σ m_l·â_l = 0, its Jacobian ∂/∂m_j)."""
    wa = _weighted(sample, m)
    n = wa.shape[0]
    a = wa.mean(axis=0)
    jac = (wa.T @ sample.counts) / n / m[None, :]
    mean = m @ a
    return a - mean, jac - (a + m @ jac)[None, :]


def _residual(
    z: NDArray[np.float64], sample: _Sample, q_log: NDArray[np.float64], beta: float, obj: Objective
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """R(z) = log m − log T(m; â(m)) and dR/dz for m = softmax([0, z]); None where undefined.

    Deterministic rewards: the profiles are the levels, T_l = w_l (the penalty's log weights,
    as in :func:`gvpo_theory.level_solver._residual` with D = I).
    """
    m = _softmax0(z)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        a, ja = _centred(sample, m)
        log_w = obj.penalty.log_weights(q_log, a, beta)
        if log_w is None:
            return None
        r = np.log(m) - log_w
        dm = (np.diag(m) - np.outer(m, m))[:, 1:]
        dlogm = np.eye(m.size)[:, 1:] - m[None, 1:]
        jac = dlogm - obj.penalty.dlog_weights(ja @ dm, a, beta, np.exp(log_w))
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(jac))):
        return None
    return r, jac


def _newton(
    z: NDArray[np.float64], sample: _Sample, q_log: NDArray[np.float64], beta: float,
    obj: Objective, tol: float, max_iter: int = 60,
) -> tuple[NDArray[np.float64], float]:
    """Newton (least squares, step halving on max |R|) on the sampled fixed point."""
    out = _residual(z, sample, q_log, beta, obj)
    if out is None:
        return z, math.inf
    r, jac = out
    err = float(np.max(np.abs(r)))
    for _ in range(max_iter):
        if err <= tol:
            break
        delta = np.linalg.lstsq(jac, -r, rcond=None)[0]
        t = 1.0
        while t > 1e-8:
            trial = _residual(z + t * delta, sample, q_log, beta, obj)
            if trial is not None and float(np.max(np.abs(trial[0]))) < err:
                z, (r, jac) = z + t * delta, trial
                err = float(np.max(np.abs(r)))
                break
            t *= 0.5
        else:
            break
    return z, err


def _start(pi_ref: NDArray, rewards: Rewards, beta: float, obj: Objective,
           keep: NDArray[np.bool_], q: NDArray[np.float64]) -> NDArray[np.float64]:
    """The G = ∞ stationary level masses (closed-form advantages), or π_ref's where none."""
    from .stationary import grpo_stationary_policy

    inf_obj = Objective(obj.advantage, obj.penalty, math.inf)
    try:
        res = grpo_stationary_policy(pi_ref, rewards, beta, inf_obj)
    except ValueError:
        return q
    m = np.asarray(res.level_masses)[keep]
    if not (bool(np.all(res.converged)) and res.kind == "interior" and np.all(m > 0)):
        return q
    return m / m.sum()


def approximate_stationary_policy(
    pi_ref: ArrayLike,
    rewards: ArrayLike,
    beta: float,
    group_size: int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    n_groups: int = 200_000,
    seed: int = 0,
    n_rounds: int = 3,
    tol: float = 1e-12,
) -> ApproximateStationaryResult:
    """Monte Carlo approximation of GRPO's stationary policy, with reported standard errors.

    Opt-in, for one problem with deterministic rewards whose exact a_l(m) enumeration is
    refused (many non-lattice levels and a large G); see the module docstring for the
    estimator (importance re-weighting of a fixed sample, re-drawn at the solution each
    round) and the delta-method error propagation. The exact answer, where it can be had,
    is :func:`~gvpo_theory.stationary.grpo_stationary_policy`.

    Args:
        pi_ref: reference policy π_ref, shape (K,).
        rewards: deterministic rewards r(o), shape (K,).
        beta: β > 0.
        group_size: finite G >= 2, or a level-space :class:`~gvpo_theory.objective.Objective`
            (then ``std``, ``penalty``, ``eps`` stay unset).
        std, penalty, eps: the conventions of :func:`~gvpo_theory.stationary.grpo_stationary_policy`.
        n_groups: groups simulated per round (standard errors shrink like 1/√n_groups).
        seed: seed of the random generator (the result is a deterministic function of it).
        n_rounds: sampling rounds; each re-draws the sample at the previous round's solution.
        tol: tolerance of Newton on the sampled fixed point (max |log m − log T(m)|).

    Returns:
        :class:`ApproximateStationaryResult` (policy, level masses, P_G, each with its
        standard error; the fixed-point residual with its standard error; a message).
    """
    obj = as_objective(group_size, std, penalty, eps)
    if math.isinf(obj.group_size):
        raise ValueError("group_size must be finite here: G = inf has exact closed forms "
                         "(use grpo_stationary_policy)")
    g = int(check_group_size(obj.group_size, "group_size"))
    if obj.penalty.zero_gradient:
        raise ValueError(f"penalty {obj.penalty.name!r} has no stationary weights (acts as beta = 0); "
                         "use grpo_stationary_policy for its boundary limit")
    p = check_distribution(pi_ref, "pi_ref")
    if p.ndim != 1:
        raise ValueError(f"pi_ref must be 1-D (K,): one problem; got shape {p.shape}")
    b = check_beta(beta)
    if b.ndim != 0:
        raise ValueError(f"beta must be one number (one problem); got shape {b.shape}")
    beta_f = float(b)
    if isinstance(rewards, RewardDistribution):
        raise ValueError("rewards must be deterministic (K,) here; a RewardDistribution is not supported")
    n_groups = check_positive_int(n_groups, "n_groups", min_value=2)
    seed = check_positive_int(seed, "seed", min_value=0)
    n_rounds = check_positive_int(n_rounds, "n_rounds")
    tol = check_tolerance(tol, "tol")
    structure = reward_structure(rewards, p.size)
    q_all = structure.profile_masses(p)
    keep = q_all > 0
    v_all = structure.levels
    check_memory_estimate(_BYTES_PER_GROUP_LEVEL * n_groups * int(keep.sum()), "n_groups", n_groups)
    if int(keep.sum()) == 1:  # one reachable level: every group ties, π = π_ref exactly
        zeros_k, zeros_l = np.zeros(p.size), np.zeros(v_all.size)
        return ApproximateStationaryResult(
            p.copy(), zeros_k, v_all, q_all.copy(), zeros_l, zeros_k, zeros_k, 0.0, 0.0,
            n_groups, seed, n_rounds,
            "exact: pi_ref reaches one reward level, so every group ties and pi = pi_ref")
    q = q_all[keep]
    q_log = np.log(q)
    v = v_all[keep] - v_all[keep].mean()
    rng = np.random.default_rng(seed)
    m = _start(p, rewards, beta_f, obj, keep, q)
    z = np.log(m[1:]) - np.log(m[0])
    err = math.inf
    for _ in range(n_rounds):
        sample = _draw(_softmax0(z), v, g, obj.advantage, n_groups, rng)
        z, err = _newton(z, sample, q_log, beta_f, obj, tol)
    m = _softmax0(z)
    m_se, a_c, a_se, resid, resid_se = _errors(z, sample, q_log, beta_f, obj)
    m_full, m_se_full = np.zeros(v_all.size), np.zeros(v_all.size)
    m_full[keep], m_se_full[keep] = m, m_se
    level = structure.profile_of
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q_all > 0, m_full / np.where(q_all > 0, q_all, 1.0), 0.0)
        ratio_se = np.where(q_all > 0, m_se_full / np.where(q_all > 0, q_all, 1.0), 0.0)
    a_full, a_se_full = np.zeros(v_all.size), np.zeros(v_all.size)
    a_full[keep], a_se_full[keep] = a_c, a_se
    policy = p * ratio[level]
    policy_se = p * ratio_se[level]
    solved = err <= max(tol, 1e-9)
    message = (
        f"Monte Carlo approximation ({n_groups} groups x {n_rounds} rounds, seed {seed}): "
        + ("the sampled fixed point holds to " if solved else "Newton stalled on the sampled fixed point at ")
        + f"{err:.1e}; policy standard error up to {float(np.max(policy_se)):.2e}; residual of "
        f"the raw estimate {resid:.2e} +- {resid_se:.2e} (1 s.e.)"
    )
    if not solved:
        # no placeholder: a stalled iterate is not an answer (its state is in the message)
        state = ", ".join(f"{x:.4g}" for x in m_full)
        message += f"; no answer: the level masses where Newton stopped were [{state}]"
        policy = np.full(p.size, np.nan)
        policy_se = np.full(p.size, np.nan)
    return ApproximateStationaryResult(
        policy, policy_se, v_all, m_full, m_se_full, a_full[level], a_se_full[level],
        resid, resid_se, n_groups, seed, n_rounds, message,
    )


def _errors(
    z: NDArray[np.float64], sample: _Sample, q_log: NDArray[np.float64], beta: float, obj: Objective
) -> tuple[NDArray, NDArray, NDArray, float, float]:
    """(se of m, centred â, se of â, raw residual max |R_l|, its se) at the solution z.

    Σ_a: covariance of the mean of ρ·A over the sample; the centred estimate is P·â with
    P = I − 1·mᵀ. The solution moves by dm = (dm/dz)·(−(∂R/∂z)⁺·∂R/∂a)·dâ (delta method).
    """
    m = _softmax0(z)
    wa = _weighted(sample, m)
    n = wa.shape[0]
    a_raw = wa.mean(axis=0)
    cov_raw = np.atleast_2d(np.cov(wa, rowvar=False)) / n
    proj = np.eye(m.size) - np.outer(np.ones(m.size), m)
    cov_c = proj @ cov_raw @ proj.T
    a_c = proj @ a_raw
    out = _residual(z, sample, q_log, beta, obj)
    if out is None:
        nan = np.full(m.size, np.nan)
        return nan, a_c, np.sqrt(np.diag(cov_c)), math.inf, math.nan
    jac_z = out[1]
    log_w = obj.penalty.log_weights(q_log, a_c, beta)
    r_a = -obj.penalty.dlog_weights(np.eye(m.size), a_c, beta, np.exp(log_w))  # ∂R/∂a
    dm_dz = (np.diag(m) - np.outer(m, m))[:, 1:]
    sens = dm_dz @ (-np.linalg.pinv(jac_z) @ r_a)
    m_se = np.sqrt(np.maximum(np.diag(sens @ cov_c @ sens.T), 0.0))
    log_w_raw = obj.penalty.log_weights(q_log, a_raw, beta)
    if log_w_raw is None:
        return m_se, a_c, np.sqrt(np.diag(cov_c)), math.inf, math.nan
    r_raw = np.log(m) - log_w_raw
    r_a_raw = -obj.penalty.dlog_weights(np.eye(m.size), a_raw, beta, np.exp(log_w_raw))
    r_se = np.sqrt(np.maximum(np.diag(r_a_raw @ cov_raw @ r_a_raw.T), 0.0))
    worst = int(np.argmax(np.abs(r_raw)))
    return m_se, a_c, np.sqrt(np.diag(cov_c)), float(abs(r_raw[worst])), float(r_se[worst])
