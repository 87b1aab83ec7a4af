"""Expected (mean-field) GRPO and GVPO updates on a tabular softmax policy, and their flows.

For π = softmax(θ) the exact expected ascent directions on the logits θ_o are
(docs/theory.md §3 and §5; derivations in docs/theory.md):

GRPO (on-policy, old = current policy, group size G):

    reverse KL (k3):  F_o = π(o)·P_G(o|π) − β·(π(o) − π_ref(o))
    direct KL (k1):   F_o = π(o)·P_G(o|π) − β·π(o)·(log(π(o)/π_ref(o)) − KL(π ‖ π_ref))

GVPO (groups of k samples from any sampling distribution π_s; Zhang et al., 2025):

    F_o = β·(k − 1)·π_s(o)·(g(o) − E_{π_s} g),    g = E[r | o] − β·log(π(o)/π_ref(o)),

with the paper's 1/(k − 1) normalisation removing the (k − 1) factor (``scale="paper"``).
F vanishes exactly at the GRPO stationary point / at π* respectively, so integrating
dθ/dt = F from π_ref reaches them; :func:`grpo_flow` and :func:`gvpo_flow` do that with
scipy's stiff integrators (the "train until it settles" alternative to the exact
solvers, used as an independent check and as the speed baseline in benchmarks/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

from .objective import Objective, as_objective
from .preference import preference_model
from .problem import (
    MAX_GROUP_SIZE,
    Rewards,
    as_float_array,
    check_beta,
    check_callable,
    check_choice,
    check_distribution,
    check_group_size,
    check_positive_int,
    check_tolerance,
    expected_rewards,
)


def _log(p: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return np.log(p)


def grpo_expected_update(
    pi: ArrayLike,
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
) -> NDArray[np.float64]:
    """Exact expected GRPO ascent direction on the softmax logits (docs/theory.md §3).

    The GRPO objective at old policy π_old = π is
    (1/G)·Σ_i E[(π_θ(o_i)/π_old(o_i))·A_i] − β·E_{o~π_old}[D(o)]; its gradient in θ_o
    at θ = log π is π(o)·P_G(o|π) (using E_π[P_G] = 0) minus β times the penalty
    gradient (:mod:`gvpo_theory.penalties`): π(o) − π_ref(o) for the k3 estimator
    D = π_ref/π − log(π_ref/π) − 1, and π(o)·(log(π(o)/π_ref(o)) − KL(π‖π_ref)) for
    the direct KL. β = 0 (no KL term, TRL's and verl's default) gives the pure GRPO policy
    gradient π(o)·P_G(o|π).

    Args:
        pi: current (= old) policy, shape (..., K).
        pi_ref, rewards, beta, group_size, std, eps: as in
            :func:`~gvpo_theory.stationary.grpo_stationary_policy` (``group_size`` may be
            an :class:`~gvpo_theory.objective.Objective`).
        penalty: ``"reverse_kl"`` (k3, default) or ``"direct_kl"``.

    Returns:
        F, shape (..., K), with Σ_o F_o = 0.
    """
    obj = as_objective(group_size, std, penalty, eps)
    p = check_distribution(pi, "pi")
    ref = check_distribution(pi_ref, "pi_ref")
    b = check_beta(beta, allow_zero=True)
    if ref.shape[-1] != p.shape[-1]:
        raise ValueError(f"pi_ref has {ref.shape[-1]} outputs but pi has {p.shape[-1]}")
    pref = preference_model(p, rewards, obj)
    return p * pref - b[..., None] * obj.penalty.logit_gradient(p, ref)


def gvpo_expected_update(
    pi: ArrayLike,
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: ArrayLike,
    pi_s: ArrayLike | None,
    group_size: int,
    scale: str = "sum",
) -> NDArray[np.float64]:
    """Exact expected GVPO descent direction on the softmax logits (docs/theory.md §5).

    GVPO's loss on a group y_1..y_k ~ π_s is −β·Σ_i w_i·log π_θ(y_i), with detached
    weights w_i = (R_i − R̄) − β·(l_i − l̄), l_i = log(π_θ(y_i)/π_ref(y_i)). Since
    Σ_i w_i = 0 its negative gradient on θ_o is β·Σ_i w_i·1[y_i = o], whose expectation
    is β·(k − 1)·π_s(o)·(g(o) − E_{π_s} g) with g = E[r|o] − β·log(π/π_ref).
    ``scale="paper"`` divides by (k − 1), the normalisation of the GVPO paper.

    Args:
        pi: current policy (..., K), positive wherever π_s is.
        pi_ref: reference policy (..., K), positive wherever π_s is.
        rewards: r(o) or a RewardDistribution (only E[r|o] enters).
        beta: β > 0 (β = 0 is refused: GVPO's loss −β·Σ w·log π vanishes identically).
        pi_s: sampling distribution (..., K); ``None`` means on-policy (π_s = π).
        group_size: k >= 2.
        scale: ``"sum"`` (the loss summed over the group) or ``"paper"``.

    The direction vanishes iff g is constant on the support of π_s: with full support,
    exactly at π* ∝ π_ref·exp(r/β) (GVPO's Theorem on the unique optimum).
    """
    p = check_distribution(pi, "pi")
    ref = check_distribution(pi_ref, "pi_ref")
    s = p if pi_s is None else check_distribution(pi_s, "pi_s")
    k = check_group_size(group_size, "group_size")
    if not isinstance(k, int):
        raise ValueError("group_size must be a finite integer >= 2 for GVPO")
    check_choice(scale, "scale", ("sum", "paper"))
    b = check_beta(beta)[..., None]
    if not (p.shape[-1] == ref.shape[-1] == s.shape[-1]):
        raise ValueError("pi, pi_ref and pi_s must have the same number of outputs")
    r = expected_rewards(rewards)
    if r.shape[-1] != p.shape[-1]:
        raise ValueError(f"rewards has {r.shape[-1]} outputs but pi has {p.shape[-1]}")
    on = s > 0
    if np.any(on & ((p == 0) | (ref == 0))):
        raise ValueError("pi and pi_ref must be > 0 wherever pi_s samples (log-ratio undefined)")
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(on, r - b * (_log(np.where(on, p, 1.0)) - _log(np.where(on, ref, 1.0))), 0.0)
    mean_g = np.sum(s * g, axis=-1, keepdims=True)
    factor = (k - 1) if scale == "sum" else 1
    return b * factor * s * (g - mean_g)


@dataclass(frozen=True)
class FlowResult:
    """End point of an integrated expected-update flow dθ/dt = F(softmax θ).

    ``policy`` (K,), ``time`` reached, ``update_norm`` = max_o |F_o| at the end,
    ``settled`` (update_norm <= tol), ``n_evaluations`` of F, and the recorded
    ``times``/``policies`` along the way (for plots).
    """

    policy: NDArray[np.float64]
    time: float
    update_norm: float
    settled: bool
    n_evaluations: int
    times: NDArray[np.float64]
    policies: NDArray[np.float64]


def integrate_flow(
    update: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    pi0: ArrayLike,
    *,
    t_max: float = 1e6,
    tol: float = 1e-10,
    method: str = "LSODA",
    rtol: float = 1e-10,
    atol: float = 1e-13,
) -> FlowResult:
    """Integrate dθ/dt = update(softmax θ) from θ = log π0 until max|F| <= tol or t_max.

    Outputs with π0(o) = 0 are held at 0 (their logits are not integrated).
    """
    check_callable(update, "update")
    p0 = check_distribution(pi0, "pi0")
    t_max, tol = check_tolerance(t_max, "t_max"), check_tolerance(tol, "tol")
    rtol, atol = check_tolerance(rtol, "rtol"), check_tolerance(atol, "atol")
    if p0.ndim != 1:
        raise ValueError("integrate_flow takes one problem: pi0 must be 1-D (K,)")
    live = p0 > 0
    n_eval = 0

    def policy_of(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        full = np.full(p0.shape, -np.inf)
        full[live] = theta - logsumexp(theta)
        return np.exp(full)

    def rhs(_t: float, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        nonlocal n_eval
        n_eval += 1
        return update(policy_of(theta))[live]

    def settled_event(_t: float, theta: NDArray[np.float64]) -> float:
        return float(np.max(np.abs(update(policy_of(theta))))) - tol

    settled_event.terminal = True  # type: ignore[attr-defined]
    theta0 = np.log(p0[live])
    sol = solve_ivp(
        rhs, (0.0, float(t_max)), theta0, method=method, rtol=rtol, atol=atol, events=settled_event
    )
    final = policy_of(sol.y[:, -1])
    norm = float(np.max(np.abs(update(final))))
    policies = np.stack([policy_of(y) for y in sol.y.T])
    return FlowResult(final, float(sol.t[-1]), norm, norm <= tol * 1.0001, n_eval, sol.t, policies)


def grpo_flow(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: float,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    pi0: ArrayLike | None = None,
    **kwargs,
) -> FlowResult:
    """Integrate the expected GRPO update from π0 (default π_ref) to a stationary point.

    β = 0 is the pure GRPO policy gradient π·P_G: it has no interior rest point with two or
    more reward levels on the support, so the flow runs until its time limit (``settled``
    False) towards the limit :func:`gvpo_theory.limits.flow_limit` gives exactly.
    """
    obj = as_objective(group_size, std, penalty, eps)
    ref = check_distribution(pi_ref, "pi_ref")
    check_beta(beta, allow_zero=True)
    start = ref if pi0 is None else pi0
    return integrate_flow(
        lambda p: grpo_expected_update(p, ref, rewards, beta, obj),
        start,
        **kwargs,
    )


def gvpo_flow(
    pi_ref: ArrayLike,
    rewards: Rewards,
    beta: float,
    pi_s: ArrayLike | None,
    group_size: int,
    *,
    pi0: ArrayLike | None = None,
    **kwargs,
) -> FlowResult:
    """Integrate the expected GVPO update from π0 (default π_ref) to π* (full-support π_s).

    The update is β·(k − 1)·π_s·(g − E g) with g = r − β·log(π/π_ref): near π* its
    rounding is ~ε·β²·(k − 1), so an absolute stopping tolerance could never be met at
    large β. Unless ``tol`` is given, the flow stops when max|F| <= 1e-10·max(1, β)²
    (unchanged for β <= 1), i.e. when log π is within ~1e-10/(k − 1) of its rest point.
    """
    ref = check_distribution(pi_ref, "pi_ref")
    group_size = check_group_size(group_size, max_value=MAX_GROUP_SIZE)
    b = check_beta(beta)
    if "tol" not in kwargs and b.ndim == 0:
        kwargs["tol"] = 1e-10 * max(1.0, float(b)) ** 2
    start = ref if pi0 is None else pi0
    return integrate_flow(
        lambda p: gvpo_expected_update(p, ref, rewards, beta, pi_s, group_size),
        start,
        **kwargs,
    )


def expected_gradient_ascent(
    update: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    pi0: ArrayLike,
    *,
    learning_rate: float,
    max_steps: int = 1_000_000,
    tol: float = 1e-10,
) -> tuple[NDArray[np.float64], int, float]:
    """Plain fixed-step ascent θ ← θ + lr·F(softmax θ): what a training loop does in
    expectation. Returns (policy, steps taken, final max|F|). A baseline for benchmarks."""
    check_callable(update, "update")
    p0 = check_distribution(pi0, "pi0")
    tol = check_tolerance(tol, "tol")
    max_steps = check_positive_int(max_steps, "max_steps")
    lr_arr = as_float_array(learning_rate, "learning_rate")
    if lr_arr.ndim != 0:
        raise ValueError(f"learning_rate must be a single number; got shape {lr_arr.shape}")
    lr = float(lr_arr)
    if lr <= 0:
        raise ValueError("learning_rate must be > 0")
    live = p0 > 0
    theta = np.log(p0[live])
    pi = p0.copy()
    norm = np.inf
    for step in range(1, max_steps + 1):
        pi = np.zeros_like(p0)
        pi[live] = np.exp(theta - logsumexp(theta))
        f = update(pi)
        norm = float(np.max(np.abs(f)))
        if norm <= tol:
            return pi, step - 1, norm
        theta = theta + lr * f[live]
    return pi, max_steps, norm
