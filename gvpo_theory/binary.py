"""Binary questions: closed forms and the confidence margin (docs/theory.md §4; Vojnovic & Yun, 2025).

Two outputs: the better answer a and the worse answer b. Deterministic rewards score
r(a) = 1 and r(b) = 0; a noisy (Bernoulli) verifier passes a with probability s_a and b
with probability s_b. Notation used by every function here:

* ``p_ref`` — π_ref(a) ∈ (0, 1); π(a) is the returned probability of the better answer.
* ``beta`` — regularisation strength β > 0.
* ``margin`` — the signed confidence margin γ = P(a ≻ b) − P(b ≻ a) ∈ [−1, 1] of
  Vojnovic & Yun, "What is the Alignment Objective of GRPO?", arXiv 2502.18548,
  §2.3.1 (https://arxiv.org/abs/2502.18548); γ = 1 for deterministic rewards and
  γ = s_a − s_b for independent Bernoulli rewards (:func:`confidence_margin`).
* ``group_size`` — G ≥ 2 (an integer) or ``math.inf``.
* ``std`` — group-std convention: ``"population"`` (divide by G, the paper's eq. (2)),
  ``"sample"`` (divide by G − 1, torch.std as in TRL and verl) or ``"none"`` (Dr. GRPO).
* ``penalty`` — ``"reverse_kl"`` (GRPO's k3 estimator) or ``"direct_kl"`` (KL(π ‖ π_ref)).

All functions are pure numpy and broadcast over arrays of ``p_ref``, ``beta`` and
``margin``; scalar inputs give numpy scalars. Closed forms are evaluated without
cancellation, so β/γ from 1e-4 to 1e4 (and well beyond) costs no accuracy and raises no
floating-point warnings. Finite-G answers delegate to
:func:`gvpo_theory.stationary.grpo_stationary_policy`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _scalar
from .binary_solver import scalar_covers
from .fast_paths import binary_fixed_point
from .objective import Objective, as_objective
from .problem import RewardDistribution, as_numeric_array, check_beta, check_group_size, check_pair
from .stationary import DENOMINATOR_SLACK, FIXED_POINT_TOL, grpo_stationary_policy

#: Margin factor κ_std at G = 2: P_2(a | π) = κ·γ·(1 − π(a)) (A_1 = sign(r_1 − r_2)·κ for
#: population std, sign/√2 for sample std, (r_1 − r_2)/2 without std).
G2_STD_FACTOR: dict[str, float] = {"population": 1.0, "sample": 1.0 / math.sqrt(2.0), "none": 0.5}


# --------------------------------------------------------------------------- validation


def _as_array(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = as_numeric_array(x, name)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not be NaN")
    return arr


def check_p_ref(p_ref: ArrayLike, name: str = "p_ref") -> NDArray[np.float64]:
    """Validate π_ref(a): every entry in the open interval (0, 1), no NaN."""
    arr = _as_array(p_ref, name)
    if np.any((arr <= 0.0) | (arr >= 1.0)):
        raise ValueError(f"{name} must lie in the open interval (0, 1)")
    return arr


def check_margin(margin: ArrayLike, name: str = "margin", *, positive: bool = False) -> NDArray[np.float64]:
    """Validate a confidence margin γ: in [−1, 1] (in (0, 1] when ``positive``), no NaN."""
    arr = _as_array(margin, name)
    if np.any((arr < -1.0) | (arr > 1.0)):
        raise ValueError(f"{name} must lie in [-1, 1]")
    if positive and np.any(arr <= 0.0):
        raise ValueError(f"{name} must be > 0 here (a must be the better answer); got margin <= 0")
    return arr


def check_success(s: ArrayLike, name: str) -> NDArray[np.float64]:
    """Validate a Bernoulli success probability: in [0, 1], no NaN."""
    arr = _as_array(s, name)
    if np.any((arr < 0.0) | (arr > 1.0)):
        raise ValueError(f"{name} must lie in [0, 1]")
    return arr


def _scalar_or_array(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return x[()]


def _real(x: object) -> bool:
    """A plain real scalar (Python or numpy float/int, not bool): the scalar fast paths take it."""
    return type(x) in (float, int, np.float64)


def _open_unit(x: object) -> bool:
    return _real(x) and 0.0 < x < 1.0


def _positive(x: object) -> bool:
    return _real(x) and 0.0 < x < math.inf


# --------------------------------------------------------------------------- margin


def confidence_margin(s_a: ArrayLike, s_b: ArrayLike) -> NDArray[np.float64]:
    """Signed confidence margin γ = P(a ≻ b) − P(b ≻ a) for Bernoulli rewards.

    Vojnovic & Yun (arXiv 2502.18548), §2.3.1: P(o ≻ o') = P[r_i > r_j | o_i = o,
    o_j = o'] with the two rewards drawn independently. For pass/fail rewards scoring 1
    with probabilities s_a and s_b (docs/theory.md §4, §4b):

        γ = s_a·(1 − s_b) − s_b·(1 − s_a) = s_a − s_b.

    Deterministic rewards r(a) = 1 > r(b) = 0 are s_a = 1, s_b = 0, γ = 1.

    Args:
        s_a, s_b: success probabilities in [0, 1]; broadcast against each other.

    Returns:
        γ ∈ [−1, 1], the broadcast shape of ``s_a`` and ``s_b``.
    """
    a = check_success(s_a, "s_a")
    b = check_success(s_b, "s_b")
    return _scalar_or_array(np.asarray(a - b))


# --------------------------------------------------------------------------- closed forms


def logarithmic_pooling(p_ref: ArrayLike, beta: ArrayLike, margin: ArrayLike = 1.0) -> NDArray[np.float64]:
    """KL-regularised optimum of a binary question (docs/theory.md §1; the RLHF and GVPO optimum).

    argmax_π E_π[r] − β·KL(π ‖ π_ref) with expected rewards s_a, s_b is
    π*(a) ∝ π_ref(a)·exp(s_a/β), i.e. in the logit

        logit π*(a) = logit π_ref(a) + (s_a − s_b)/β = logit p_ref + γ/β,

    evaluated as a sigmoid of the logit (stable for any β). It is also GRPO's stationary
    point at G = 2 with the direct-KL penalty and population std (there
    P_2(a) − P_2(b) = γ): see :func:`stationary_margin`.

    Args:
        p_ref: π_ref(a) ∈ (0, 1).
        beta: β > 0.
        margin: γ = s_a − s_b ∈ [−1, 1] (default 1: deterministic rewards); γ = 0 gives p_ref.

    Returns:
        π*(a), the broadcast shape of the arguments.
    """
    p = check_p_ref(p_ref)
    b = check_beta(beta)
    g = check_margin(margin)
    x = (np.log(p) - np.log1p(-p)) + g / b
    return _scalar_or_array(np.exp(-np.logaddexp(0.0, -x)))


def _margin_root(
    p_ref: NDArray[np.float64], beta: NDArray[np.float64], margin: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The root in (0, 1) of t·π² + (1 − t)·π − p_ref = 0, t = γ/β, without cancellation.

    Four branches, each a sum of non-negative terms (c = 1/t):
        0 ≤ t ≤ 1:   π = 2p_ref / ((1 − t) + √((1 − t)² + 4t·p_ref))
        t > 1:       π = ((1 − c) + √((1 − c)² + 4c·p_ref)) / 2
        −1 ≤ t < 0:  π = 2p_ref / ((1 + |t|) + √((1 − |t|)² + 4|t|·(1 − p_ref)))
        t < −1:      π = 2|c|·p_ref / ((1 + |c|) + √((1 − |c|)² + 4|c|·(1 − p_ref)))
    For γ < 0 the root in (0, 1) is the smaller one (both roots are positive, with sum
    1 + β/|γ| > 1), so eq. (14) as printed, the larger root, applies to γ > 0 only.
    """
    p, b, g = np.broadcast_arrays(p_ref, beta, margin)
    small = np.abs(g) <= b
    # r = |γ|/β where γ is the small side, β/|γ| otherwise: always in [0, 1], never overflows.
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(small, np.abs(g) / b, b / np.where(small, 1.0, np.abs(g)))
    one_minus = 1.0 - r
    pos = g >= 0
    q = np.where(pos, p, 1.0 - p)
    root_d = np.sqrt(one_minus * one_minus + 4.0 * r * q)
    out = np.where(
        pos,
        np.where(small, 2.0 * p / (one_minus + root_d), 0.5 * (one_minus + root_d)),
        np.where(small, 2.0 * p / ((1.0 + r) + root_d), 2.0 * r * p / ((1.0 + r) + root_d)),
    )
    return out


def stationary_g2(p_ref: ArrayLike, beta: ArrayLike, margin: ArrayLike = 1.0) -> NDArray[np.float64]:
    """GRPO's reverse-KL stationary π(a) at G = 2 (population std): the paper's eq. (14).

    At G = 2, A_1 = sign(r_1 − r_2), so P_2(a | π) = γ·(1 − π(a)) (Vojnovic & Yun,
    arXiv 2502.18548, §2.3.1) and the fixed point π(a)·(1 − P_2(a|π)/β) = π_ref(a)
    (docs/theory.md §3) is the quadratic

        π² + (β/γ − 1)·π − (β/γ)·p_ref = 0,
        π = ½·[(1 − β/γ) + √((1 − β/γ)² + 4·(β/γ)·p_ref)]      (eq. (14), γ > 0).

    It depends on β and γ only through β/γ; π ≥ max(1 − β/γ, p_ref) (see
    :func:`lower_bound`); π → 1 as β/γ → 0 and π → p_ref as β/γ → ∞. Evaluated with a
    cancellation-free root formula (see ``_margin_root``), for any γ ∈ [−1, 1]: γ = 0
    gives p_ref, γ < 0 (a is the worse answer) the root in (0, 1), which lies below p_ref.

    With deterministic rewards r(a) = 1, r(b) = 0 (γ = 1) this is docs/theory.md §4:
    p = (1 − β + √((β − 1)² + 4β·p_ref))/2. Sample std scales γ by 1/√2 and no std by
    1/2 (use :func:`stationary_margin`).

    Args:
        p_ref: π_ref(a) ∈ (0, 1).
        beta: β > 0.
        margin: γ ∈ [−1, 1] (default 1).

    Returns:
        π(a), the broadcast shape of the arguments.
    """
    if _open_unit(p_ref) and _positive(beta) and _real(margin) and -1.0 <= margin <= 1.0:
        return np.float64(_scalar.g2(p_ref, beta, margin))  # scalars: the same formula on floats
    p = check_p_ref(p_ref)
    b = check_beta(beta)
    g = check_margin(margin)
    return _scalar_or_array(_margin_root(p, b, g))


def _ginf_reverse(p: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """(1 + 2β²p_ref + √(1 + 4β²p_ref(1 − p_ref))) / (2(1 + β²)), divided through by β² for β > 1."""
    p, b = np.broadcast_arrays(p, b)
    small = b <= 1.0
    with np.errstate(divide="ignore", over="ignore"):
        # u = β² (β ≤ 1) or 1/β² (β > 1): in [0, 1] either way.
        u = np.where(small, b * b, 1.0 / (b * b))
    pq = p * (1.0 - p)
    lo = (1.0 + 2.0 * u * p + np.sqrt(1.0 + 4.0 * u * pq)) / (2.0 * (1.0 + u))
    hi = (u + 2.0 * p + np.sqrt(u * u + 4.0 * u * pq)) / (2.0 * (u + 1.0))
    return np.where(small, lo, hi)


def stationary_ginf(
    p_ref: ArrayLike, beta: ArrayLike, std: str | None = None, penalty: str | None = None
) -> NDArray[np.float64]:
    """GRPO's stationary π(a) in the large-group limit G = ∞, deterministic rewards (docs/theory.md §4).

    P_∞(a | π) = (r(a) − E_π r)/sd_π(r) = √((1 − p)/p) for std normalisation (population
    and sample agree at G = ∞), and 1 − p without it (docs/theory.md §2). Then:

    * reverse KL, population/sample std: p − √(p(1 − p))/β = p_ref, whose root with
      p ≥ p_ref is
          p = (1 + 2β²·p_ref + √(1 + 4β²·p_ref·(1 − p_ref))) / (2·(1 + β²))
      (≥ 1/(1 + β²), the paper's large-group lower bound, §2.3.1);
    * reverse KL, no std: P_∞(a) = 1 − p, i.e. eq. (14) with γ = 1 (:func:`stationary_g2`);
    * direct KL, no std: π ∝ π_ref·exp(r/β), logarithmic pooling (docs/theory.md §3 with G → ∞).

    Direct KL with std normalisation has no closed form (x − logit p_ref = (2/β)·cosh(x/2)
    in the logit x, with no root at all for small β): use :func:`stationary`.

    Args:
        p_ref: π_ref(a) ∈ (0, 1).
        beta: β > 0.
        std: ``"population"`` (default), ``"sample"`` or ``"none"``.
        penalty: ``"reverse_kl"`` (default) or ``"direct_kl"``.

    Returns:
        π(a), the broadcast shape of ``p_ref`` and ``beta``.
    """
    if (std in (None, "population", "sample") and penalty in (None, "reverse_kl")
            and _open_unit(p_ref) and _positive(beta)):
        return np.float64(_scalar.ginf(p_ref, beta))  # scalars: the same formula on floats
    obj = as_objective(math.inf, std, penalty)
    p = check_p_ref(p_ref)
    b = check_beta(beta)
    if obj.std == "none":
        if not obj.penalty.exponential_weights:
            return _scalar_or_array(_margin_root(p, b, np.ones(())))
        return logarithmic_pooling(p, b, 1.0)
    if obj.penalty.exponential_weights:
        raise ValueError(
            "penalty='direct_kl' with std normalisation has no closed form at group_size=inf "
            "(x - logit p_ref = (2/beta)·cosh(x/2)); use binary.stationary(..., group_size=math.inf)"
        )
    return _scalar_or_array(_ginf_reverse(p, b))


def lower_bound(
    p_ref: ArrayLike, beta: ArrayLike, margin: ArrayLike = 1.0, group_size: float | int = 2
) -> NDArray[np.float64]:
    """Lower bound on the reverse-KL stationary π(a), population std (docs/theory.md §4).

    Vojnovic & Yun (arXiv 2502.18548), §2.3.1: at G = 2 the solution of eq. (14) obeys

        π(a) ≥ max(1 − β/γ, p_ref),

    and in the large-group limit (deterministic rewards, γ = 1) the bound becomes
    π(a) ≥ max(1/(1 + β²), p_ref).

    Args:
        p_ref: π_ref(a) ∈ (0, 1).
        beta: β > 0.
        margin: γ ∈ (0, 1] (a must be the better answer); must be 1 for G = ∞.
        group_size: 2 or ``math.inf``; no bound is stated for other G.

    Returns:
        The bound, the broadcast shape of the arguments.
    """
    p = check_p_ref(p_ref)
    b = check_beta(beta)
    g = check_margin(margin, positive=True)
    gs = check_group_size(group_size)
    if gs == 2:
        return _scalar_or_array(np.maximum(1.0 - b / g, p))
    if math.isinf(gs):
        if np.any(g != 1.0):
            raise ValueError("margin must be 1 for group_size=inf (the 1/(1 + beta²) bound is for "
                             "deterministic rewards)")
        shape = np.broadcast_shapes(p.shape, b.shape, g.shape)
        return _scalar_or_array(np.broadcast_to(np.maximum(1.0 / (1.0 + b * b), p), shape).copy())
    raise ValueError(f"group_size must be 2 or math.inf for lower_bound; got {gs}")


# --------------------------------------------------------------------------- exact, any G


def stationary(
    p_ref: ArrayLike,
    beta: ArrayLike,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    success: tuple[float, float] = (1.0, 0.0),
    eps: float | None = None,
) -> NDArray[np.float64]:
    """GRPO's exact stationary π(a) for any G, by the engine (docs/theory.md §3, §4, §4b).

    Delegates to :func:`gvpo_theory.stationary.grpo_stationary_policy` with
    π_ref = (p_ref, 1 − p_ref) and rewards

    * r = (s_a, s_b) when both success probabilities are 0 or 1 (deterministic rewards,
      solved by the vectorised bracketed root finder);
    * :meth:`RewardDistribution.bernoulli` ``((s_a, s_b))`` otherwise (a noisy verifier,
      docs/theory.md §4b), solved problem by problem.

    For deterministic rewards and reverse KL the fixed point is docs/theory.md §4's
    p·(1 − P_G(a)/β) = p_ref with P_G(a) = E_M[√((G − M − 1)/(M + 1))],
    M ~ Binomial(G − 1, p) (population std).

    Args:
        p_ref: π_ref(a) ∈ (0, 1).
        beta: β > 0 (broadcasts against ``p_ref``).
        group_size: G ≥ 2 or ``math.inf``, or an :class:`~gvpo_theory.objective.Objective`
            (then ``std``, ``penalty`` and ``eps`` stay unset).
        std: ``"population"`` (paper, default), ``"sample"`` (TRL, verl) or ``"none"``
            (Dr. GRPO).
        penalty: ``"reverse_kl"`` (k3, GRPO as published; default) or ``"direct_kl"``.
        success: (s_a, s_b), the pass probabilities of a and b (default (1, 0)).
        eps: added to the group std (default 0).

    Returns:
        π(a), the broadcast shape of ``p_ref`` and ``beta``; NaN where the engine reports
        no converged stationary point (direct KL at G = ∞ with small β has none).
    """
    obj = as_objective(group_size, std, penalty, eps)
    default_rewards = type(success) is tuple and success == (1.0, 0.0)
    if _open_unit(p_ref) and _positive(beta) and default_rewards and scalar_covers(obj):
        # one deterministic problem: solved and verified on floats (gvpo_theory.fast_paths),
        # judged by the front door's rule (residual <= FIXED_POINT_TOL, 1 − P/β > 0)
        fp = binary_fixed_point(float(p_ref), 1.0 - p_ref, float(beta), obj)
        if fp is not None:
            ok = fp.residual <= FIXED_POINT_TOL and fp.min_denominator > -DENOMINATOR_SLACK
            return np.float64(fp.pi_hi if ok else math.nan)
    p = check_p_ref(p_ref)
    b = check_beta(beta)
    success = check_pair(success, "success")
    s_a = float(check_success(success[0], "success[0] (s_a)"))
    s_b = float(check_success(success[1], "success[1] (s_b)"))
    p, b = np.broadcast_arrays(p, b)
    pi_ref = np.stack([p, 1.0 - p], axis=-1)
    if s_a in (0.0, 1.0) and s_b in (0.0, 1.0):
        rewards: np.ndarray | RewardDistribution = np.array([s_a, s_b])
    else:
        rewards = RewardDistribution.bernoulli([s_a, s_b])
    res = grpo_stationary_policy(pi_ref, rewards, b, obj)
    return _scalar_or_array(np.where(res.converged, res.policy[..., 0], np.nan))


def stationary_margin(
    p_ref: ArrayLike,
    beta: ArrayLike,
    margin: float,
    group_size: float | int | Objective = 2,
    std: str | None = None,
    penalty: str | None = None,
) -> NDArray[np.float64]:
    """Stationary π(a) in the paper's (β, γ, p_ref) parametrisation (§2.3.1, eq. (14)).

    G = 2 (every std and penalty in closed form): A_1 = κ·sign(r_1 − r_2) with
    κ = 1 (population), 1/√2 (sample), and A_1 = (r_1 − r_2)/2 without std, so for any
    rewards with margin γ, P_2(a|π) = κγ·(1 − π(a)) (κ = ½ for no std) and

    * reverse KL: eq. (14) with margin κγ (:func:`stationary_g2`);
    * direct KL: logit π(a) = logit p_ref + (P_2(a) − P_2(b))/β = logit p_ref + κγ/β,
      logarithmic pooling with margin κγ (:func:`logarithmic_pooling`).

    G > 2: the answer depends on more than γ (the group std sees the reward noise), so a
    choice is needed. This function uses the symmetric Bernoulli verifier
    s_a = (1 + γ)/2, s_b = (1 − γ)/2 (γ = 1 is deterministic rewards) and solves exactly
    with :func:`stationary`; other (s_a, s_b) with the same γ give other answers.

    Args:
        p_ref: π_ref(a) ∈ (0, 1).
        beta: β > 0.
        margin: γ ∈ [−1, 1], a scalar (γ = 0 gives p_ref).
        group_size: G ≥ 2 or ``math.inf``.
        std, penalty: as in :func:`stationary`.

    Returns:
        π(a), the broadcast shape of ``p_ref`` and ``beta``.
    """
    obj = as_objective(group_size, std, penalty)
    p = check_p_ref(p_ref)
    b = check_beta(beta)
    g = check_margin(margin)
    if g.ndim != 0:
        raise ValueError("margin must be a scalar for stationary_margin")
    if obj.group_size == 2 and obj.eps == 0:
        # the leave-one-out baseline doubles the no-std advantage at G = 2 (r_1 − r_2)
        kappa_gamma = obj.advantage.baseline_factor(2) * G2_STD_FACTOR[obj.std] * g
        if not obj.penalty.exponential_weights:
            return _scalar_or_array(_margin_root(p, b, kappa_gamma))
        return logarithmic_pooling(p, b, kappa_gamma)
    gamma = float(g)
    return stationary(p, b, obj, success=((1.0 + gamma) / 2.0, (1.0 - gamma) / 2.0))
