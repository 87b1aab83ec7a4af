"""Dataset-level predictions: where each prompt ends under an objective, and the summary.

For a :class:`~gvpo_theory.dataset.Dataset`, an objective and β, :func:`predict` solves every
prompt (:mod:`.solve`; with ``normalisation="batch-trl"`` or ``"batch-reinforce++"`` the
coupled batch-std system of :mod:`.batch_norm`) and reports per prompt and over the dataset
(docs/theory.md §6):

* accuracy π(a) — the mass of the best reward level — and its confidence interval, the
  pass-rate interval mapped endpoint by endpoint (the map p_ref → π(a) is increasing);
* pass@k = 1 − (1 − π(a))^k, computed as −expm1(k·log1p(−π(a)));
* KL(π ‖ π_ref) = Σ_l q_l·log(q_l/Q_l): exact for the full policy, since π re-weights π_ref
  uniformly within each reward level;
* tie probability Σ_l m_l^G of a group of G, at π_ref (start) and at π (end): the chance a
  group carries no learning signal; its mean over prompts is the expected share;
* movement ratio ρ = (E_π r − E_{π_ref} r)/(E_{π*} r − E_{π_ref} r), π* ∝ π_ref·exp(r/β) at
  the same β: 1 means the prompt moves as far as the KL optimum, below 1 it is held back
  more (over-regularised relative to π*), above 1 less;
* effective β (binary prompts): β_eff = (v_1 − v_0)/(logit π(a) − logit p_ref), the β at
  which π* would land where the objective lands (β_eff = β for GVPO).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..objective import OBJECTIVES, Objective, objective
from ..problem import check_beta, check_choice, check_group_size, check_positive_int
from .batch_norm import CONVENTIONS, BatchStdSolution, solve_batch_std
from .core import STATUSES, Dataset
from .solve import GVPO, Progress, solve_prompts

#: k of the reported pass@k.
DEFAULT_KS: tuple[int, ...] = (1, 8, 64)

#: Normalisations: ``"group"`` (the objective's own std) or a batch-std convention.
NORMALISATIONS: tuple[str, ...] = ("group", *(f"batch-{c}" for c in CONVENTIONS))

#: Method names :func:`predict` accepts besides an Objective.
METHOD_NAMES: tuple[str, ...] = (*OBJECTIVES, GVPO)


@dataclass(frozen=True)
class Prediction:
    """Per-prompt predictions (arrays of shape (N,) unless stated) and their summary.

    Attributes:
        dataset: the prompts.
        method: the objective's label (or ``"GVPO (π*)"``); beta: β; group_size: G.
        normalisation: ``"group"``, ``"batch-trl"`` or ``"batch-reinforce++"``.
        masses: level masses after training, (N, L).
        accuracy: π(a), the best level's mass; accuracy_lower/upper: its interval
            (NaN for graded rewards, whose interval is only on the top level's reference mass).
        reference_accuracy: p_ref.
        pass_at_k: {k: pass@k after training}; reference_pass_at_k: {k: pass@k at π_ref}.
        kl: KL(π ‖ π_ref).
        tie_start, tie_end: probability that a group of G ties, at π_ref and at π.
        pi_star_accuracy: π*(a) at the same β.
        movement_ratio: ρ (module docstring); NaN where π* does not move (no signal).
        effective_beta: β_eff (binary); NaN for graded rewards and for prompts that cannot move.
        status_code: index into ``tuple(STATUSES)`` per prompt (:attr:`status`: the names).
        converged: each prompt's fixed point verified.
        batch: the :class:`~.batch_norm.BatchStdSolution` for batch normalisation, else None.
    """

    dataset: Dataset
    method: str
    beta: float
    group_size: float | int
    normalisation: str
    masses: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    accuracy_lower: NDArray[np.float64]
    accuracy_upper: NDArray[np.float64]
    reference_accuracy: NDArray[np.float64]
    pass_at_k: Mapping[int, NDArray[np.float64]]
    reference_pass_at_k: Mapping[int, NDArray[np.float64]]
    kl: NDArray[np.float64]
    tie_start: NDArray[np.float64]
    tie_end: NDArray[np.float64]
    pi_star_accuracy: NDArray[np.float64]
    movement_ratio: NDArray[np.float64]
    effective_beta: NDArray[np.float64]
    status_code: NDArray[np.int8]
    converged: NDArray[np.bool_]
    batch: BatchStdSolution | None = None
    ks: tuple[int, ...] = field(default=DEFAULT_KS)

    @property
    def status(self) -> NDArray[np.str_]:
        """The :data:`~gvpo_theory.dataset.core.STATUSES` name of each prompt."""
        return np.asarray(tuple(STATUSES))[self.status_code]

    @property
    def summary(self) -> dict:
        """Dataset-level figures: means over prompts (each prompt weighs the same)."""
        ratio = self.movement_ratio[np.isfinite(self.movement_ratio)]
        beff = self.effective_beta[np.isfinite(self.effective_beta)]
        counts = np.bincount(self.status_code, minlength=len(STATUSES))
        out = {
            "method": self.method,
            "beta": self.beta,
            "group_size": "inf" if math.isinf(self.group_size) else int(self.group_size),
            "normalisation": self.normalisation,
            "prompts": self.dataset.size,
            "mean_accuracy_reference": float(np.mean(self.reference_accuracy)),
            "mean_accuracy": float(np.mean(self.accuracy)),
            "mean_accuracy_pi_star": float(np.mean(self.pi_star_accuracy)),
            **{f"pass@{k}_reference": float(np.mean(self.reference_pass_at_k[k])) for k in self.ks},
            **{f"pass@{k}": float(np.mean(self.pass_at_k[k])) for k in self.ks},
            "mean_kl": float(np.mean(self.kl)),
            "share_tied_start": float(np.mean(self.tie_start)),
            "share_tied_end": float(np.mean(self.tie_end)),
            "median_movement_ratio": float(np.median(ratio)) if ratio.size else math.nan,
            "median_effective_beta": float(np.median(beff)) if beff.size else math.nan,
            "status_counts": {s: int(c) for s, c in zip(STATUSES, counts) if c},
            "all_converged": bool(np.all(self.converged)),
        }
        if self.dataset.binary and np.any(self.dataset.samples > 0):
            out["mean_accuracy_lower"] = float(np.mean(self.accuracy_lower))
            out["mean_accuracy_upper"] = float(np.mean(self.accuracy_upper))
        if self.batch is not None:
            out["batch_std"] = self.batch.sigma
            out["batch_scale"] = self.batch.scale
            out["batch_message"] = self.batch.message
        return out

    def rows(self) -> list[dict]:
        """One dict per prompt (the CSV/JSON table)."""
        ids, status = self.dataset.prompt_ids, self.status
        cols: dict[str, NDArray] = {
            "p_ref": self.reference_accuracy, "p_ref_lower": self.dataset.lower,
            "p_ref_upper": self.dataset.upper, "samples": self.dataset.samples,
            "accuracy": self.accuracy, "accuracy_lower": self.accuracy_lower,
            "accuracy_upper": self.accuracy_upper,
            **{f"pass@{k}": self.pass_at_k[k] for k in self.ks},
            "kl": self.kl, "tie_start": self.tie_start, "tie_end": self.tie_end,
            "pi_star_accuracy": self.pi_star_accuracy, "movement_ratio": self.movement_ratio,
            "effective_beta": self.effective_beta,
        }
        out = []
        for i in range(self.dataset.size):
            row: dict = {"prompt_id": str(ids[i]), "status": str(status[i])}
            for name, col in cols.items():
                v = col[i]
                row[name] = int(v) if name == "samples" else float(v)
            row["converged"] = bool(self.converged[i])
            out.append(row)
        return out


def resolve_method(
    method: Objective | str, group_size: float | int | None
) -> tuple[Objective | str, float | int]:
    """(method, G): an Objective passes through (``group_size`` must be None); a registry
    name or ``"gvpo"`` needs ``group_size``."""
    if isinstance(method, Objective):
        if group_size is not None:
            raise ValueError("group_size must not be given together with an Objective (it fixes G)")
        return method, method.group_size
    check_choice(method, "method", METHOD_NAMES)
    if group_size is None:
        raise ValueError(f"group_size is required with method={method!r}")
    g = check_group_size(group_size)
    return (GVPO if method == GVPO else objective(method, g)), g


def pass_at_k(accuracy: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """1 − (1 − π(a))^k, as −expm1(k·log1p(−π(a))) (exact near 0 and 1)."""
    with np.errstate(divide="ignore"):
        return -np.expm1(k * np.log1p(-accuracy))


def level_kl(q: NDArray[np.float64], q_ref: NDArray[np.float64]) -> NDArray[np.float64]:
    """Σ_l q_l·log(q_l/Q_l) along the last axis (0·log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1.0)) - np.log(q_ref)), 0.0)
    return terms.sum(axis=-1)


def tie_probability(q: NDArray[np.float64], group_size: float | int) -> NDArray[np.float64]:
    """Σ_l q_l^G: the probability that G draws all land on one level (0 at G = ∞ unless
    a level has mass 1)."""
    if math.isinf(group_size):
        return np.any(q >= 1.0, axis=-1).astype(np.float64)
    return np.sum(q ** group_size, axis=-1)


def _map_interval(
    dataset: Dataset, accuracy: NDArray, beta: float, method: Objective | str, levels: NDArray,
) -> tuple[NDArray, NDArray]:
    """The pass-rate interval pushed through the increasing map p_ref → π(a) (binary);
    prompts given exactly (no samples) keep the point prediction at both ends."""
    n = dataset.size
    if not dataset.binary:
        return np.full(n, np.nan), np.full(n, np.nan)
    lower, upper = accuracy.copy(), accuracy.copy()
    est = np.nonzero(dataset.samples > 0)[0]
    if est.size:
        ends = np.concatenate([dataset.lower[est], dataset.upper[est]])
        q, _, _ = solve_prompts(np.stack([1.0 - ends, ends], axis=-1), levels, beta, method)
        lower[est], upper[est] = q[: est.size, 1], q[est.size :, 1]
    return lower, upper


def predict(
    dataset: Dataset, beta: float, method: Objective | str, group_size: float | int | None = None,
    *, normalisation: str = "group", ks: Sequence[int] = DEFAULT_KS,
    progress: Progress | None = None,
) -> Prediction:
    """Every prompt's stationary policy under ``method`` at β, and the dataset summary.

    Args:
        dataset: the prompts.
        beta: β > 0.
        method: an :class:`~gvpo_theory.objective.Objective`, a registry name
            (:data:`~gvpo_theory.objective.OBJECTIVES`), or ``"gvpo"`` for π*.
        group_size: G (required with a name; must be None with an Objective).
        normalisation: ``"group"`` (default: the objective's own group std) or
            ``"batch-trl"`` / ``"batch-reinforce++"`` (the batch std replaces the
            objective's scale; its baseline and penalty are kept; :mod:`.batch_norm`).
        ks: the k of pass@k (default 1, 8, 64).
        progress: ``progress(done, total)`` during engine solves.

    Returns:
        :class:`Prediction`.
    """
    if not isinstance(dataset, Dataset):
        raise ValueError(f"dataset must be a Dataset; got {type(dataset).__name__}")
    b = float(check_beta(beta))
    method, g = resolve_method(method, group_size)
    check_choice(normalisation, "normalisation", NORMALISATIONS)
    ks = tuple(check_positive_int(k, "ks") for k in ks)
    if not ks:
        raise ValueError("ks must name at least one k")
    levels = dataset.levels
    batch = None
    if normalisation != "group":
        if method == GVPO:
            raise ValueError("normalisation='batch-…' applies to GRPO-family objectives, not 'gvpo'")
        batch = solve_batch_std(dataset, b, g, convention=normalisation.removeprefix("batch-"),
                                baseline=method.advantage.baseline, penalty=method.penalty.name)
        q, converged = batch.masses, np.full(dataset.size, batch.converged)
        per_prompt, solve_levels = batch.objective, levels / batch.scale
        label = f"{method.advantage.baseline} baseline, {normalisation}, {method.penalty.label}"
    else:
        q, converged, _ = solve_prompts(dataset.masses, levels, b, method, progress=progress)
        per_prompt, solve_levels = method, levels
        label = "GVPO (π*)" if method == GVPO else method.label
    lower, upper = _map_interval(dataset, q[:, -1], b, per_prompt, solve_levels)
    star, _, _ = solve_prompts(dataset.masses, levels, b, GVPO)
    q_ref = dataset.masses
    acc, acc_ref, acc_star = q[:, -1], q_ref[:, -1], star[:, -1]
    mean_r, mean_ref, mean_star = q @ levels, q_ref @ levels, star @ levels
    with np.errstate(divide="ignore", invalid="ignore"):
        moves = mean_star - mean_ref > 0
        ratio = np.where(moves, (mean_r - mean_ref) / np.where(moves, mean_star - mean_ref, 1.0), np.nan)
        if dataset.binary:
            interior = (acc_ref > 0) & (acc_ref < 1) & (acc > acc_ref)
            shift = (np.log(acc) - np.log1p(-acc)) - (np.log(acc_ref) - np.log1p(-acc_ref))
            beff = np.where(interior, (levels[1] - levels[0]) / np.where(interior, shift, 1.0), np.nan)
        else:
            beff = np.full(dataset.size, np.nan)
    return Prediction(
        dataset=dataset, method=label, beta=b, group_size=g, normalisation=normalisation,
        masses=q, accuracy=acc, accuracy_lower=lower, accuracy_upper=upper,
        reference_accuracy=acc_ref,
        pass_at_k={k: pass_at_k(acc, k) for k in ks},
        reference_pass_at_k={k: pass_at_k(acc_ref, k) for k in ks},
        kl=level_kl(q, q_ref), tie_start=tie_probability(q_ref, g), tie_end=tie_probability(q, g),
        pi_star_accuracy=acc_star, movement_ratio=ratio, effective_beta=beff,
        status_code=dataset.status_code, converged=converged, batch=batch, ks=ks,
    )
