"""GRPO-family objectives as values: an advantage estimator, a penalty and a group size.

An :class:`Objective` says everything the engine needs to know about *which* objective
is trained, validated once when it is built, frozen and hashable (it is the cache key of
the exact advantage tables). Every layer — preference model, stationary solver, expected
dynamics, closed forms, torch losses, CLI, explorer, figures — consumes this one value,
so a new variant is one entry here plus the kernels that compute its mathematics.

Notation (docs/theory.md §2, §3): a group of G outputs o_1..o_G with rewards r_1..r_G;
the advantage of member i is

    A_i = (r_i − b_i) / s,

with the baseline b_i (``baseline``) and the scale s (``scale``, ``eps``, ``eps_at``):

* ``baseline="mean"``          — b_i = mean of all G rewards (GRPO, Dr. GRPO);
* ``baseline="leave_one_out"`` — b_i = mean of the other G − 1 (RLOO); since
  r_i − mean_{j≠i} r_j = G/(G − 1)·(r_i − mean_j r_j), this is the mean-baseline
  advantage times G/(G − 1), whatever the scale;
* ``scale="population"`` — s = std dividing by G, the paper's eq. (2) (Vojnovic & Yun);
* ``scale="sample"``     — s = std dividing by G − 1 (``torch.std``: TRL, verl);
* ``scale="none"``       — s = 1 (Dr. GRPO, RLOO); ``eps`` plays no role;
* ``eps_at="std"``       — s = std + eps (TRL, verl's default GRPO);
* ``eps_at="var"``       — s = sqrt(max(var, eps)) + eps (verl's vectorised GRPO).

A group whose rewards all tie has A_i = 0 for every member (0/0 := 0), decided by
comparing rewards, never a float std with zero.

The penalty (:mod:`gvpo_theory.penalties`) is GRPO's k3 estimator in the loss
(``"reverse_kl"``, which acts as a reverse KL) or the direct KL(π ‖ π_ref)
(``"direct_kl"``). ``group_size`` is G ≥ 2 or ``math.inf`` (the large-group limit).

Named objectives live in :data:`OBJECTIVES`; :func:`as_objective` turns the keyword
conventions of the public functions (``std=``, ``penalty=``, ``eps=``) into an Objective,
so both spellings work everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from .penalties import PENALTIES, Penalty
from .problem import check_eps, check_group_size

#: Advantage baselines: name → what it subtracts.
BASELINES: dict[str, str] = {
    "mean": "group mean (GRPO)",
    "leave_one_out": "mean of the other G − 1 rewards (RLOO)",
}

#: Scale conventions ("std" keyword of the public functions): name → label.
SCALES: dict[str, str] = {
    "population": "std dividing by G (the paper's eq. (2))",
    "sample": "std dividing by G − 1 (torch.std: TRL, verl)",
    "none": "no std (Dr. GRPO)",
}

#: Where eps enters the scale: name → formula.
EPS_PLACEMENTS: dict[str, str] = {
    "std": "std + eps",
    "var": "sqrt(max(var, eps)) + eps",
}


#: The ``std=`` and ``penalty=`` keyword choices, read by the CLI and the explorer.
STD_CHOICES: tuple[str, ...] = tuple(SCALES)
PENALTY_CHOICES: tuple[str, ...] = tuple(PENALTIES)


def _check_name(value: object, name: str, table: dict[str, object]) -> str:
    if not isinstance(value, str) or value not in table:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, table))}; got {value!r}")
    return value


@dataclass(frozen=True)
class Advantage:
    """How a group's rewards become advantages: A_i = (r_i − b_i)/s (module docstring).

    ``eps`` is normalised to 0 when ``scale="none"`` (it plays no role there), so equal
    estimators compare and hash equal.
    """

    baseline: str = "mean"
    scale: str = "population"
    eps: float = 0.0
    eps_at: str = "std"

    def __post_init__(self) -> None:
        _check_name(self.baseline, "baseline", BASELINES)
        _check_name(self.scale, "std", SCALES)
        _check_name(self.eps_at, "eps_at", EPS_PLACEMENTS)
        eps = check_eps(self.eps)
        object.__setattr__(self, "eps", 0.0 if self.scale == "none" else eps)
        if self.scale == "none":
            object.__setattr__(self, "eps_at", "std")

    @property
    def label(self) -> str:
        parts = [BASELINES[self.baseline].split(" (")[0], SCALES[self.scale].split(" (")[0]]
        if self.eps:
            parts.append(EPS_PLACEMENTS[self.eps_at].replace("eps", f"{self.eps:g}"))
        return ", ".join(parts)

    def baseline_factor(self, group_size: float | int) -> float:
        """G/(G − 1) for the leave-one-out baseline (1 at G = ∞), 1 for the group mean."""
        if self.baseline == "leave_one_out" and not math.isinf(group_size):
            return group_size / (group_size - 1)
        return 1.0

    def scale_of(self, var_pop: NDArray[np.float64], group_size: float | int) -> NDArray[np.float64]:
        """The denominator s from the population variance of the group's rewards.

        ``var_pop`` divides by G; the sample convention rescales by G/(G − 1) (at G = ∞
        both agree). Returns ones for ``scale="none"``.
        """
        if self.scale == "none":
            return np.ones_like(var_pop)
        var = var_pop
        if self.scale == "sample" and not math.isinf(group_size):
            var = var_pop * group_size / (group_size - 1)
        var = np.maximum(var, 0.0)
        if self.eps_at == "var":
            return np.sqrt(np.maximum(var, self.eps)) + self.eps
        return np.sqrt(var) + self.eps

    def of_groups(self, rewards: NDArray[np.float64]) -> NDArray[np.float64]:
        """A_i for every member of groups ``rewards`` (..., G), the definition itself.

        The reference the exact tables and the Monte Carlo estimator use; ties give 0.
        """
        g = rewards.shape[-1]
        mean = rewards.mean(axis=-1, keepdims=True)
        dev = rewards - mean
        var_pop = np.mean(dev * dev, axis=-1, keepdims=True)
        tie = np.all(rewards == rewards[..., :1], axis=-1, keepdims=True)
        s = self.scale_of(var_pop, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            adv = self.baseline_factor(g) * dev / np.where(tie, 1.0, s)
        return np.where(tie, 0.0, adv)


@dataclass(frozen=True)
class Objective:
    """One GRPO-family objective: advantage estimator × penalty × group size G.

    Build one from a name (:func:`objective`), from the keyword conventions
    (:func:`as_objective`) or directly; pass it wherever a function takes
    ``group_size`` (the objective then supplies std, eps and penalty too).
    """

    advantage: Advantage = field(default_factory=Advantage)
    penalty: Penalty = field(default_factory=lambda: PENALTIES["reverse_kl"])
    group_size: float | int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.advantage, Advantage):
            raise ValueError(f"advantage must be an Advantage; got {self.advantage!r}")
        if not isinstance(self.penalty, Penalty):
            raise ValueError(f"penalty must be a Penalty; got {self.penalty!r}")
        object.__setattr__(self, "group_size", check_group_size(self.group_size))

    @property
    def std(self) -> str:
        return self.advantage.scale

    @property
    def eps(self) -> float:
        return self.advantage.eps

    @property
    def label(self) -> str:
        g = "∞" if math.isinf(self.group_size) else str(self.group_size)
        return f"{self.advantage.label}; {self.penalty.label}; G = {g}"

    def with_group_size(self, group_size: float | int) -> Objective:
        return replace(self, group_size=group_size)


@dataclass(frozen=True)
class Entry:
    """A named objective of the registry: label plus advantage and penalty (G is free)."""

    name: str
    label: str
    advantage: Advantage
    penalty: Penalty

    def at(self, group_size: float | int) -> Objective:
        return Objective(self.advantage, self.penalty, group_size)


def _entries(*entries: Entry) -> dict[str, Entry]:
    return {e.name: e for e in entries}


#: The named objectives, in display order. The CLI's --objective choices, the explorer's
#: buttons and the figure legends are read from here.
OBJECTIVES: dict[str, Entry] = _entries(
    Entry("grpo", "GRPO (paper: population std)", Advantage(), PENALTIES["reverse_kl"]),
    Entry("grpo-sample", "GRPO as TRL/verl compute it (std with G − 1)",
          Advantage(scale="sample"), PENALTIES["reverse_kl"]),
    Entry("dr-grpo", "Dr. GRPO (no std)", Advantage(scale="none"), PENALTIES["reverse_kl"]),
    Entry("rloo", "RLOO (leave-one-out baseline, no std)",
          Advantage(baseline="leave_one_out", scale="none"), PENALTIES["reverse_kl"]),
    Entry("grpo-direct-kl", "GRPO with the direct KL(π‖π_ref) penalty",
          Advantage(), PENALTIES["direct_kl"]),
)


def objective(name: str, group_size: float | int, **changes: object) -> Objective:
    """The registered objective ``name`` at group size G, optionally with advantage fields
    changed (``objective("grpo-sample", 8, eps=1e-4)``)."""
    entry = OBJECTIVES[_check_name(name, "objective", OBJECTIVES)]
    adv = replace(entry.advantage, **changes) if changes else entry.advantage
    return Objective(adv, entry.penalty, group_size)


def as_objective(
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
) -> Objective:
    """The one conversion from the keyword conventions to an :class:`Objective`.

    ``group_size`` may already be an Objective; then ``std``, ``penalty`` and ``eps``
    must be left unset (None). Otherwise the defaults are the paper's GRPO:
    ``std="population"``, ``penalty="reverse_kl"``, ``eps=0``.
    """
    if isinstance(group_size, Objective):
        given = [n for n, v in (("std", std), ("penalty", penalty), ("eps", eps)) if v is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} must not be given together with an Objective "
                "(the objective already fixes them)"
            )
        return group_size
    adv = Advantage(scale="population" if std is None else std, eps=0.0 if eps is None else eps)
    pen = PENALTIES[_check_name("reverse_kl" if penalty is None else penalty, "penalty", PENALTIES)]
    return Objective(adv, pen, group_size)
