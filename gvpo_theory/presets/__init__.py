"""Framework configurations in their own words → the objective they train, β and G.

:func:`from_trl` takes TRL's ``GRPOConfig`` keyword arguments, :func:`from_verl` verl's
nested config (a dict, dotted keys, or a YAML/JSON file), :func:`preset` a named setting
(:data:`PRESETS`). Each returns a :class:`Preset`: the :class:`~gvpo_theory.objective.Objective`
it implies, the KL coefficient β, and a record (:class:`Setting`) of every resolved key —
given or filled from the framework's default — with what it does to a single-token
tabular objective, or why it does nothing ("no effect on the stationary policy, because …").

Sources: TRL ``trl/trainer/grpo_config.py`` and ``grpo_trainer.py`` at
huggingface/trl@f2cd57710ae345ea6428ae95363267fcf38a3dc8; verl
``verl/trainer/config/_generated_ppo_trainer.yaml``, ``algorithm.py`` and
``verl/trainer/ppo/core_algos.py`` at volcengine/verl@b178a3cd56f58b2d502255daba591e92833930a7;
the DAPO recipe's ``algorithm.filter_groups``; the official GVPO code jszkc/GVPO@627aa25e.
docs/frameworks.md derives what each computes for one-token outputs.

Conventions (docs/frameworks.md): the outputs are one token long, so every length
normalisation (TRL's ``loss_type``, verl's ``loss_agg_mode``) multiplies the policy and the
KL term by the same positive constant; the importance ratio is 1 at θ = θ_old, inside every
clip range. Rest points are those of the exact expected update (infinite batch).

Bad input raises ``ValueError`` naming the key: unknown keys (the message lists the
accepted ones), values of the wrong type, and combinations the framework itself rejects.
Settings this engine cannot express raise too, saying what they would need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..problem import _describe
from ._keys import DATASET_POINTER, NO_EFFECT, Setting
from ._preset import Answer, Preset
from .gvpo import from_gvpo
from .trl import TRL_DEFAULTS, TRL_TRAINING_ARGUMENTS, from_trl
from .verl import _ACTOR, VERL_DEFAULTS, VERL_NO_EFFECT_TREES, flatten, from_verl, load_config

__all__ = ["DATASET_POINTER", "NO_EFFECT", "PRESETS", "REFERENCE_QUESTION", "TRL_DEFAULTS",
           "TRL_TRAINING_ARGUMENTS", "VERL_DEFAULTS", "VERL_NO_EFFECT_TREES", "Answer", "Preset", "Setting",
           "atlas", "flatten", "from_gvpo", "from_trl", "from_verl", "load_config", "preset"]

# ------------------------------------------------------------------ named presets

_A, _R = "algorithm.", "actor_rollout_ref.rollout.n"


@dataclass(frozen=True)
class _Named:
    framework: str
    description: str
    args: Mapping[str, Any]


#: The named presets: framework, what it is, and the keys it sets (everything else is the
#: framework's default). TRL's default β was 0.04 from its first GRPO release (trl commit
#: 0f5ffad26, 2025-01-20) until 7359ddcc6 (2025-05-30) made it 0.
PRESETS: dict[str, _Named] = {
    "trl-default": _Named("trl", "TRL GRPOTrainer, every default (β = 0, G = 8)", {}),
    "trl-kl": _Named("trl", "TRL with β = 0.04 (TRL's default until May 2025)", {"beta": 0.04}),
    "trl-no-std": _Named("trl", "TRL, scale_rewards='none' (Dr. GRPO), β = 0.04",
                         {"beta": 0.04, "scale_rewards": "none"}),
    "trl-bias-corrected-kl": _Named("trl", "TRL, use_bias_correction_kl=True, β = 0.04",
                                    {"beta": 0.04, "use_bias_correction_kl": True}),
    "trl-cispo": _Named("trl", "TRL, loss_type='cispo' (ε_high = ε = 0.2), β = 0.04",
                        {"beta": 0.04, "loss_type": "cispo"}),
    "verl-default": _Named("verl", "verl GRPO, every other default (no KL term), G = 8",
                           {_A + "adv_estimator": "grpo", _R: 8}),
    "verl-kl-loss": _Named("verl", "verl GRPO, use_kl_loss=True (low_var_kl, coef 0.001), G = 8",
                           {_A + "adv_estimator": "grpo", _R: 8, _ACTOR + "use_kl_loss": True}),
    "verl-k1": _Named("verl", "verl GRPO, KL loss k1 (coef 0.001), G = 8",
                      {_A + "adv_estimator": "grpo", _R: 8, _ACTOR + "use_kl_loss": True,
                       _ACTOR + "kl_loss_type": "k1"}),
    "verl-k2": _Named("verl", "verl GRPO, KL loss k2 (coef 0.001), G = 8",
                      {_A + "adv_estimator": "grpo", _R: 8, _ACTOR + "use_kl_loss": True,
                       _ACTOR + "kl_loss_type": "k2"}),
    "verl-no-std": _Named("verl", "verl GRPO, norm_adv_by_std_in_grpo=False, KL loss k2, G = 8",
                          {_A + "adv_estimator": "grpo", _A + "norm_adv_by_std_in_grpo": False, _R: 8,
                           _ACTOR + "use_kl_loss": True, _ACTOR + "kl_loss_type": "k2"}),
    "verl-rloo": _Named("verl", "verl RLOO, KL loss k2, G = 8",
                        {_A + "adv_estimator": "rloo", _R: 8, _ACTOR + "use_kl_loss": True,
                         _ACTOR + "kl_loss_type": "k2"}),
    "verl-grpo-vectorized": _Named("verl", "verl grpo_vectorized, KL loss k2, G = 8",
                                   {_A + "adv_estimator": "grpo_vectorized", _R: 8,
                                    _ACTOR + "use_kl_loss": True, _ACTOR + "kl_loss_type": "k2"}),
    "verl-kl-in-reward": _Named("verl", "verl GRPO, use_kl_in_reward=True (k1, fixed coef 0.001), G = 8",
                                {_A + "adv_estimator": "grpo", _R: 8, _A + "use_kl_in_reward": True}),
    "dapo": _Named("verl", "DAPO recipe: dynamic sampling, clip-higher 0.28, no KL, G = 8",
                   {_A + "adv_estimator": "grpo", _R: 8, _A + "filter_groups.enable": True,
                    _A + "filter_groups.metric": "acc", _ACTOR + "clip_ratio_high": 0.28}),
    "gvpo-official": _Named("gvpo", "official GVPO code (anchored at the rollout policy), gvpo_beta 0.1",
                            {"anchor": "rollout"}),
    "gvpo-paper": _Named("gvpo", "GVPO as the paper writes it (anchored at π_ref), β = 0.1",
                         {"anchor": "reference"}),
}


def preset(name: str) -> Preset:
    """The named preset (:data:`PRESETS`); ``ValueError`` for an unknown name or a setting
    this engine cannot express (the message says what it would need)."""
    entry = PRESETS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {_describe(name)}")
    if entry.framework == "trl":
        p = from_trl(**entry.args)
    elif entry.framework == "verl":
        p = from_verl(entry.args)
    else:
        return from_gvpo(**entry.args)
    return replace(p, name=name)


#: The atlas's reference binary question: answer a is correct (reward 1), b is not.
REFERENCE_QUESTION: dict[str, Any] = {"pi_ref": (0.3, 0.7), "rewards": (1.0, 0.0), "group_size": 8}


def atlas(beta: ArrayLike, pi_ref: ArrayLike = REFERENCE_QUESTION["pi_ref"],
          rewards: ArrayLike = REFERENCE_QUESTION["rewards"],
          group_size: int = REFERENCE_QUESTION["group_size"],
          names: tuple[str, ...] | None = None) -> dict[str, Answer]:
    """Every named preset's answer on one question over a β grid: {name: :class:`Answer`}.

    Each preset is moved to ``group_size`` and solved at every β of ``beta`` (1-D; its KL
    coefficient set to β, :meth:`Preset.solve`). ``names`` picks a subset of :data:`PRESETS`.
    """
    b = np.atleast_1d(np.asarray(beta, dtype=np.float64))
    chosen = tuple(PRESETS) if names is None else names
    return {n: preset(n).with_group_size(group_size).solve(pi_ref, rewards, beta=b) for n in chosen}

