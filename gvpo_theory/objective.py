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
* ``baseline="passk"``         — verl's ``grpo_passk``: only a unique group maximum gets
  r_max − r_second (divided by the scale), every other member 0 (a shared maximum gives 0
  to everyone). Σ_i A_i ≠ 0, so its expected update centres P (:mod:`gvpo_theory.frameworks`);
* ``scale="population"`` — s = std dividing by G, the paper's eq. (2) (Vojnovic & Yun);
* ``scale="sample"``     — s = std dividing by G − 1 (``torch.std``: TRL, verl);
* ``scale="none"``       — s = 1 (Dr. GRPO, RLOO); ``eps`` plays no role;
* ``eps_at="std"``       — s = std + eps (TRL, verl's default GRPO);
* ``eps_at="var"``       — s = sqrt(max(var, eps)) + eps (verl's vectorised GRPO).

A group whose rewards all tie has A_i = 0 for every member (0/0 := 0), decided by
comparing rewards, never a float std with zero.

The penalty (:mod:`gvpo_theory.penalties`) is GRPO's k3 estimator in the loss
(``"reverse_kl"``, which acts as a reverse KL) or the direct KL(π ‖ π_ref)
(``"direct_kl"``), or one of the frameworks' estimators (``penalties.KL_LOSS``: k1, whose
expected gradient is zero; verl's clamped ``low_var_kl``; ``"none"``). ``group_size`` is
G ≥ 2 or ``math.inf`` (the large-group limit).

Three fields describe the framework objectives that are not "advantage × penalty"
(docs/frameworks.md; their exact expected updates and stationary points are in
:mod:`gvpo_theory.frameworks`):

* ``reward_kl`` — KL in the reward (verl ``use_kl_in_reward``, classical RLHF shaping):
  r'(o) = r(o) − β·D(o) with D the estimator ``"k1"``, ``"k3"`` or ``"low_var_kl"`` at
  π_old, before the group normalisation;
* ``filter_ties`` — DAPO's dynamic sampling: groups whose rewards all tie are dropped and
  the batch refilled, their KL term with them;
* ``loss`` — ``"grpo"`` (the policy-gradient surrogate plus the penalty), ``"gvpo"``
  (GVPO's loss anchored at π_ref, the paper) or ``"gvpo-rollout"`` (anchored at the
  rollout policy π_old, the official code as shipped).

Objectives with any of these, or with the pass@k baseline, are not solved by the
level-space engine (:attr:`Objective.level_space` is False); :func:`as_objective` refuses
them with a message naming :mod:`gvpo_theory.frameworks`.

Named objectives live in :data:`OBJECTIVES`; :func:`as_objective` turns the keyword
conventions of the public functions (``std=``, ``penalty=``, ``eps=``) into an Objective,
so both spellings work everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from .estimators import canonical_kl
from .penalties import ALL_PENALTIES, PENALTIES, Penalty
from .problem import check_eps, check_group_size

#: Advantage baselines: name → what it subtracts.
BASELINES: dict[str, str] = {
    "mean": "group mean (GRPO)",
    "leave_one_out": "mean of the other G − 1 rewards (RLOO)",
    "passk": "unique maximum gets r_max − r_second (verl grpo_passk)",
}

#: The losses an objective can be trained with.
LOSSES: dict[str, str] = {
    "grpo": "policy-gradient surrogate plus the KL penalty",
    "gvpo": "GVPO, implicit reward anchored at π_ref (the paper)",
    "gvpo-rollout": "GVPO, implicit reward anchored at the rollout policy π_old (official code)",
}

#: KL estimators that can be subtracted from the reward (verl algorithm.kl_penalty).
REWARD_KL: tuple[str, ...] = ("k1", "k3", "low_var_kl")

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
        if self.baseline == "passk":
            order = np.sort(rewards, axis=-1)
            gap = order[..., -1:] - order[..., -2:-1]  # 0 when the maximum is shared
            first = np.argmax(rewards, axis=-1)[..., None] == np.arange(g)
            dev = np.where(first, gap, 0.0)
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
    reward_kl: str | None = None
    filter_ties: bool = False
    loss: str = "grpo"

    def __post_init__(self) -> None:
        if not isinstance(self.advantage, Advantage):
            raise ValueError(f"advantage must be an Advantage; got {self.advantage!r}")
        if not isinstance(self.penalty, Penalty):
            raise ValueError(f"penalty must be a Penalty; got {self.penalty!r}")
        object.__setattr__(self, "group_size", check_group_size(self.group_size))
        if self.reward_kl is not None:
            kl = canonical_kl(self.reward_kl, "reward_kl")
            if kl not in REWARD_KL:
                raise ValueError(f"reward_kl must be one of {', '.join(map(repr, REWARD_KL))} "
                                 f"(or None); got {self.reward_kl!r}")
            object.__setattr__(self, "reward_kl", kl)
        if not isinstance(self.filter_ties, (bool, np.bool_)):
            raise ValueError(f"filter_ties must be True or False; got {self.filter_ties!r}")
        object.__setattr__(self, "filter_ties", bool(self.filter_ties))
        _check_name(self.loss, "loss", LOSSES)
        if self.loss != "grpo" and (self.reward_kl or self.filter_ties):
            raise ValueError(f"loss={self.loss!r} takes neither reward_kl nor filter_ties "
                             "(the official GVPO code runs with no KL in the reward and no filter)")

    @property
    def level_space(self) -> bool:
        """True when the expected update is π·P_G − β·(penalty gradient) with P_G a
        function of the reward-level masses: the engine's level-space solvers apply."""
        return (self.loss == "grpo" and self.reward_kl is None and not self.filter_ties
                and self.advantage.baseline != "passk")

    @property
    def std(self) -> str:
        return self.advantage.scale

    @property
    def eps(self) -> float:
        return self.advantage.eps

    @property
    def label(self) -> str:
        g = "∞" if math.isinf(self.group_size) else str(self.group_size)
        if self.loss != "grpo":
            return f"{LOSSES[self.loss]}; G = {g}"
        parts = [self.advantage.label, self.penalty.label]
        if self.reward_kl:
            parts.append(f"{self.reward_kl} in the reward")
        if self.filter_ties:
            parts.append("tied groups dropped (DAPO dynamic sampling)")
        return "; ".join(parts) + f"; G = {g}"

    def with_group_size(self, group_size: float | int) -> Objective:
        return replace(self, group_size=group_size)


#: Where batch-level normalisation is treated (it couples the prompts of a batch).
BATCH_LEVEL_MESSAGE = "batch-level normalisation couples prompts; see gvpo_theory.dataset"


@dataclass(frozen=True)
class Entry:
    """A named objective of the registry: label plus advantage and penalty (G is free).

    ``reward_kl``, ``filter_ties`` and ``loss`` are the :class:`Objective` fields of the
    same names. ``batch_level`` marks an estimator that normalises over the whole batch
    (REINFORCE++): it is not a per-prompt objective, and :meth:`at` raises.
    """

    name: str
    label: str
    advantage: Advantage
    penalty: Penalty
    reward_kl: str | None = None
    filter_ties: bool = False
    loss: str = "grpo"
    batch_level: bool = False

    def at(self, group_size: float | int) -> Objective:
        if self.batch_level:
            raise ValueError(f"objective {self.name!r}: {BATCH_LEVEL_MESSAGE}")
        return Objective(self.advantage, self.penalty, group_size, self.reward_kl,
                         self.filter_ties, self.loss)


def _entries(*entries: Entry) -> dict[str, Entry]:
    return {e.name: e for e in entries}


#: The named objectives, in display order. The CLI's --objective choices, the explorer's
#: buttons and the figure legends are read from here.
_K3 = ALL_PENALTIES["reverse_kl"]
#: verl's GRPO advantage: torch.std (G − 1) plus its epsilon 1e-6 on the std.
_VERL_GRPO = Advantage(scale="sample", eps=1e-6)

OBJECTIVES: dict[str, Entry] = _entries(
    Entry("grpo", "GRPO (paper: population std)", Advantage(), _K3),
    Entry("grpo-sample", "GRPO as TRL/verl compute it (std with G − 1)",
          Advantage(scale="sample"), _K3),
    Entry("dr-grpo", "Dr. GRPO (no std)", Advantage(scale="none"), _K3),
    Entry("rloo", "RLOO (leave-one-out baseline, no std)",
          Advantage(baseline="leave_one_out", scale="none"), _K3),
    Entry("grpo-direct-kl", "GRPO with the direct KL(π‖π_ref) penalty",
          Advantage(), ALL_PENALTIES["direct_kl"]),
    # -- verl's GRPO with each kl_loss_type in the loss (actor.use_kl_loss=True)
    Entry("kl-loss-k1", "verl GRPO, k1 in the loss (zero expected KL gradient: acts as β = 0)",
          _VERL_GRPO, ALL_PENALTIES["k1"]),
    Entry("kl-loss-k2", "verl GRPO, k2 in the loss (= the direct KL exactly)",
          _VERL_GRPO, ALL_PENALTIES["direct_kl"]),
    Entry("kl-loss-k3", "verl GRPO, unclamped k3 in the loss (reverse-KL fixed point)",
          _VERL_GRPO, _K3),
    Entry("kl-loss-low-var-kl", "verl GRPO, clamped low_var_kl in the loss (verl's default type)",
          _VERL_GRPO, ALL_PENALTIES["low_var_kl"]),
    Entry("grpo-vectorized", "verl grpo_vectorized: sqrt(max(var, 1e-6)) + 1e-6, k3 in the loss",
          Advantage(scale="sample", eps=1e-6, eps_at="var"), _K3),
    # -- KL in the reward (verl use_kl_in_reward; classical RLHF shaping), no KL loss
    Entry("kl-reward-k1", "verl GRPO, k1 in the reward r − β·log(π/π_ref) (stationary at π*)",
          _VERL_GRPO, ALL_PENALTIES["none"], reward_kl="k1"),
    Entry("kl-reward-k3", "verl GRPO, unclamped k3 in the reward r − β·k3",
          _VERL_GRPO, ALL_PENALTIES["none"], reward_kl="k3"),
    Entry("kl-reward-low-var-kl", "verl GRPO, low_var_kl (verl's 'k3') in the reward",
          _VERL_GRPO, ALL_PENALTIES["none"], reward_kl="low_var_kl"),
    # -- DAPO dynamic sampling (recipe/dapo, filter_groups), no KL as the recipe runs it
    Entry("dapo", "DAPO: tied groups dropped and refilled, no KL (boundary, as β = 0)",
          _VERL_GRPO, ALL_PENALTIES["none"], filter_ties=True),
    # -- GVPO
    Entry("gvpo", "GVPO anchored at π_ref (the paper): unique optimum π*",
          Advantage(scale="none"), ALL_PENALTIES["none"], loss="gvpo"),
    Entry("gvpo-official", "GVPO as shipped: anchored at the rollout policy (→ reward argmax)",
          Advantage(scale="none"), ALL_PENALTIES["none"], loss="gvpo-rollout"),
    # -- other verl advantage estimators, as far as they are defined for one token
    Entry("remax", "ReMax (greedy-output baseline; in expectation RLOO's direction)",
          Advantage(baseline="leave_one_out", scale="none"), ALL_PENALTIES["none"]),
    Entry("opo", "OPO (length-weighted mean baseline: the group mean for one token)",
          Advantage(scale="none"), ALL_PENALTIES["none"]),
    Entry("gpg", "GPG (α·(r − mean), α > 0 a batch constant: Dr. GRPO's direction, no KL)",
          Advantage(scale="none"), ALL_PENALTIES["none"]),
    Entry("grpo-passk", "verl grpo_passk (unique group maximum gets r_max − r_second)",
          Advantage(baseline="passk", scale="sample", eps=1e-6), ALL_PENALTIES["none"]),
    Entry("reinforce++", "REINFORCE++ (rewards whitened over the whole batch)",
          Advantage(scale="none"), ALL_PENALTIES["none"], batch_level=True),
    Entry("reinforce++-baseline", "REINFORCE++ with a group-mean baseline, whitened over the batch",
          Advantage(scale="none"), ALL_PENALTIES["none"], batch_level=True),
)

#: Objective fields (other than the advantage's) that :func:`objective` can change.
_OBJECTIVE_CHANGES = ("penalty", "reward_kl", "filter_ties", "loss")


def objective(name: str, group_size: float | int, **changes: object) -> Objective:
    """The registered objective ``name`` at group size G, optionally with fields changed:
    the advantage's (``baseline``, ``scale``, ``eps``, ``eps_at``), the penalty (a name of
    ``penalties.ALL_PENALTIES`` or a Penalty), ``reward_kl``, ``filter_ties``, ``loss``
    (``objective("grpo-sample", 8, eps=1e-4)``, ``objective("dapo", 8, penalty="low_var_kl")``)."""
    entry = OBJECTIVES[_check_name(name, "objective", OBJECTIVES)]
    obj = entry.at(group_size)
    own = {k: changes.pop(k) for k in _OBJECTIVE_CHANGES if k in changes}
    unknown = sorted(set(changes) - {"baseline", "scale", "eps", "eps_at"})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))} for objective(); "
                         f"accepted: baseline, scale, eps, eps_at, {', '.join(_OBJECTIVE_CHANGES)}")
    if "penalty" in own and not isinstance(own["penalty"], Penalty):
        own["penalty"] = ALL_PENALTIES[_check_name(own["penalty"], "penalty", ALL_PENALTIES)]
    adv = replace(entry.advantage, **changes) if changes else entry.advantage
    return replace(obj, advantage=adv, **own)


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
        if not group_size.level_space:
            raise ValueError(
                f"objective ({group_size.label}) is not a level-space GRPO objective; its exact "
                "expected update and stationary point are gvpo_theory.frameworks.expected_update "
                "and gvpo_theory.frameworks.stationary_point"
            )
        return group_size
    adv = Advantage(scale="population" if std is None else std, eps=0.0 if eps is None else eps)
    pen = PENALTIES[_check_name("reverse_kl" if penalty is None else penalty, "penalty", PENALTIES)]
    return Objective(adv, pen, group_size)
