"""Batch-level reward normalisation as a coupled fixed point in one scalar, the batch std.

TRL's ``scale_rewards="batch"`` and verl's REINFORCE++-baseline divide each group-centred
reward by one std computed over the whole batch (docs/frameworks.md, "Batch-level
normalisation"). Given that scale s, the advantage of prompt i's sample is (r − r̄_group)/s:
the no-std (Dr. GRPO) advantage on rewards r/s, so each prompt is an independent std="none"
problem on the levels v/s (:func:`gvpo_theory.dataset.solve.solve_prompts`). The scale in
turn depends on every prompt's policy. In the large-batch limit (B·G rewards, B → ∞) the
batch variance concentrates on

* ``"trl"``: V = Var(all rewards) = mean_i E_{π_i}[r²] − (mean_i E_{π_i}[r])²  (batch mean,
  Bessel factor N/(N − 1) → 1), scale s = √V + 10⁻⁴;
* ``"reinforce++"``: V = mean of the squared group-centred rewards
  = (G − 1)/G · mean_i Var_{π_i}(r), scale s = √(V + 10⁻⁸),

(binary rewards: TRL's V = μ̄(1 − μ̄), μ̄ the mean accuracy over prompts). The coupled system
is the prompts' fixed points at s(σ) together with σ² = V(π(σ)). It is solved as a 1-D root
of f(log σ) = log V(π(σ)) − 2·log σ with Brent's method, every prompt re-solved (vectorised)
at each evaluation.

Convergence (docs/theory.md §6): for two reward levels and the k3 penalty,
each prompt's e_i = 1 − q_{i,1} satisfies z = e(1 − e)/(1 − p − e) with z ∝ s, so e_i/σ
and (1 − e_i)/σ both decrease in σ; V/σ² is a sum of such products, so f is strictly
decreasing from +∞ to f(range/2) ≤ 0: exactly one root, which the bracketed solve finds.
Elsewhere (graded rewards, direct KL) no monotonicity is proven; f is scanned on a grid and
every root found is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from ..objective import Advantage, Objective
from ..penalties import PENALTIES
from ..problem import check_beta, check_choice, check_eps, check_group_size
from .core import Dataset
from .solve import solve_prompts

#: Batch-std conventions: name → (what the std is taken over, how eps enters, default eps).
CONVENTIONS: dict[str, tuple[str, str, float]] = {
    "trl": ("all rewards of the batch, batch mean (TRL scale_rewards='batch')", "std + eps", 1e-4),
    "reinforce++": ("the group-centred rewards of the batch (verl reinforce_plus_plus_baseline)",
                    "sqrt(var + eps)", 1e-8),
}

#: Grid points of the scan for several roots (graded rewards, direct KL).
SCAN_POINTS = 64


@dataclass(frozen=True)
class BatchStdSolution:
    """The coupled fixed point of batch-level normalisation.

    Attributes:
        sigma: σ_B, the batch std at the fixed point (large-batch limit).
        scale: the divisor s of the group-centred rewards: σ_B + eps (TRL) or √(σ_B² + eps).
        masses: every prompt's level masses after training, shape (N, L).
        objective: the per-prompt equivalent: no std, the base baseline and penalty, G; it
            acts on the rewards ``levels / scale``.
        batch_residual: |σ_B² − V(π)|, V recomputed from ``masses``.
        converged: the root was bracketed, every prompt's fixed point verified, and the
            batch residual is at most 1e-12.
        roots: every σ_B found (one where uniqueness is proven; the scan's otherwise).
        evaluations: how many times the prompts were re-solved.
        unique: uniqueness holds by the monotonicity argument (two levels, k3 penalty).
        convention: ``"trl"`` or ``"reinforce++"``; eps: the eps used.
        message: one sentence on what was found.
    """

    sigma: float
    scale: float
    masses: NDArray[np.float64]
    objective: Objective
    batch_residual: float
    converged: bool
    roots: tuple[float, ...]
    evaluations: int
    unique: bool
    convention: str
    eps: float
    message: str


def batch_variance(masses: NDArray, levels: NDArray, convention: str, group_size: float | int) -> float:
    """V(π): the large-batch variance the batch std is taken from (module docstring)."""
    mean_i = masses @ levels
    second_i = masses @ (levels * levels)
    if convention == "trl":
        mu = float(np.mean(mean_i))
        return max(float(np.mean(second_i)) - mu * mu, 0.0)
    within = np.maximum(second_i - mean_i * mean_i, 0.0)
    shrink = 1.0 if math.isinf(group_size) else (group_size - 1) / group_size
    return shrink * float(np.mean(within))


def scale_of(sigma: float, convention: str, eps: float) -> float:
    """The divisor s from σ_B: σ_B + eps (TRL) or √(σ_B² + eps) (REINFORCE++)."""
    return sigma + eps if convention == "trl" else math.sqrt(sigma * sigma + eps)


def solve_batch_std(
    dataset: Dataset, beta: float, group_size: float | int, *, convention: str = "trl",
    baseline: str = "mean", penalty: str = "reverse_kl", eps: float | None = None,
) -> BatchStdSolution:
    """The coupled fixed point of batch-level normalisation (module docstring).

    Args:
        dataset: the prompts (:class:`~gvpo_theory.dataset.Dataset`).
        beta: β > 0.
        group_size: G >= 2 or ``math.inf``.
        convention: ``"trl"`` (default) or ``"reinforce++"`` (:data:`CONVENTIONS`).
        baseline: ``"mean"`` (group mean, both frameworks) or ``"leave_one_out"``.
        penalty: ``"reverse_kl"`` (k3) or ``"direct_kl"``.
        eps: the convention's eps (default 1e-4 for TRL, 1e-8 for REINFORCE++).

    Returns:
        :class:`BatchStdSolution`.
    """
    if not isinstance(dataset, Dataset):
        raise ValueError(f"dataset must be a Dataset; got {type(dataset).__name__}")
    b = float(check_beta(beta))
    g = check_group_size(group_size)
    check_choice(convention, "convention", tuple(CONVENTIONS))
    check_choice(penalty, "penalty", tuple(PENALTIES))
    e = CONVENTIONS[convention][2] if eps is None else check_eps(eps)
    obj = Objective(Advantage(baseline=baseline, scale="none"), PENALTIES[penalty], g)
    levels = dataset.levels
    unique = dataset.binary and not obj.penalty.exponential_weights
    evaluations = 0
    state: dict[str, NDArray] = {}

    def solve_at(sigma: float) -> NDArray:
        nonlocal evaluations
        evaluations += 1
        q, conv, _ = solve_prompts(dataset.masses, levels / scale_of(sigma, convention, e), b, obj)
        state["conv"] = conv
        return q

    def f(log_sigma: float) -> float:
        sigma = math.exp(log_sigma)
        v = batch_variance(solve_at(sigma), levels, convention, g)
        return (math.log(v) if v > 0 else -math.inf) - 2.0 * log_sigma

    hi = math.log(0.5 * float(levels[-1] - levels[0]))
    f_hi = f(hi)
    if f_hi >= 0.0:  # V(π) = (range/2)² at σ = range/2: the root is the upper end itself
        brackets = [(hi, hi)]
    else:
        lo, f_lo = hi, f_hi
        while f_lo < 0.0 and lo > math.log(1e-150):
            lo -= math.log(10.0)
            f_lo = f(lo)
        if f_lo < 0.0:
            brackets = []
        elif unique:
            brackets = [(lo, hi)]
        else:
            grid = np.linspace(lo, hi, SCAN_POINTS)
            vals = np.array([f(x) for x in grid])
            sign_change = np.nonzero((vals[:-1] >= 0) & (vals[1:] < 0) | (vals[:-1] < 0) & (vals[1:] >= 0))[0]
            brackets = [(grid[i], grid[i + 1]) for i in sign_change]
    if not brackets:
        # σ² > V(π(σ)) down to σ = 1e-150: the batch std collapses. Either no prompt has two
        # levels with mass (V ≡ 0, nothing moves), or every prompt is driven onto one level
        # (direct KL: V vanishes like exp(−c/σ)); the answer is the σ → 0 end.
        sigma = math.exp(lo)
        q = solve_at(sigma)
        residual = abs(sigma * sigma - batch_variance(q, levels, convention, g))
        signal = bool(np.any(np.count_nonzero(dataset.masses > 0, axis=1) >= 2))
        message = (f"the batch std collapses (σ_B ≤ {sigma:.0e}): "
                   + ("every prompt is driven onto a single reward level" if signal
                      else "no prompt has two reward levels with mass, nothing moves"))
        return BatchStdSolution(sigma, scale_of(sigma, convention, e), q, obj, residual,
                                bool(np.all(state["conv"])), (sigma,), evaluations, unique,
                                convention, e, message)
    roots = [a if a == c else brentq(f, a, c, xtol=1e-15, rtol=4.0 * np.finfo(float).eps)
             for a, c in brackets]
    sigmas = tuple(math.exp(r) for r in roots)
    sigma = sigmas[-1]
    q = solve_at(sigma)
    conv = bool(np.all(state["conv"]))
    residual = abs(sigma * sigma - batch_variance(q, levels, convention, g))
    converged = conv and residual <= 1e-12
    if len(sigmas) > 1:
        message = (f"{len(sigmas)} batch-std fixed points found (σ_B = "
                   + ", ".join(f"{s:.6g}" for s in sigmas) + "); reporting the largest")
    else:
        how = "unique" if unique else "the only root found on the scan"
        message = f"batch std σ_B = {sigma:.10g} ({how}); |σ_B² − V(π)| = {residual:.1e}"
    return BatchStdSolution(sigma, scale_of(sigma, convention, e), q, obj, residual, converged,
                            sigmas, evaluations, unique, convention, e, message)
