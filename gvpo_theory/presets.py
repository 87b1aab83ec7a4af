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

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .objective import OBJECTIVES, Objective, objective
from .problem import _describe, check_group_size

NO_EFFECT = "no effect on the stationary policy, because "

#: Where the batch-level statistics (TRL's scale_rewards="batch", verl's whitened
#: estimators) belong: they pool prompts, so they are a property of a data set.
DATASET_POINTER = "it normalises across the whole batch, not per group: see gvpo_theory.dataset"


@dataclass(frozen=True)
class Setting:
    """One resolved framework key: its value, whether it was given, and what it does."""

    key: str
    value: Any
    given: bool
    effect: str

    @property
    def no_effect(self) -> bool:
        return self.effect.startswith(NO_EFFECT)

    def to_dict(self) -> dict:
        return {"key": self.key, "value": _jsonable(self.value), "given": self.given, "effect": self.effect}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


@dataclass(frozen=True)
class Preset:
    """What a framework configuration trains, for one-token outputs.

    Attributes:
        name: the preset's name (``"trl"``, ``"verl"``, ``"gvpo-…"`` or a :data:`PRESETS` name).
        framework: ``"trl"``, ``"verl"`` or ``"gvpo"``.
        objective: the implied objective (a :data:`~gvpo_theory.objective.OBJECTIVES` entry
            with the framework's fields filled in).
        beta: the framework's KL coefficient as configured (TRL ``beta``, verl
            ``kl_loss_coef`` or ``kl_ctrl.kl_coef``, GVPO ``gvpo_beta``).
        beta_key: the key that carries it; None when no coefficient reaches the objective
            (verl without a KL term, the official GVPO code): :meth:`with_beta` then
            changes nothing.
        settings: every resolved key (:class:`Setting`), given or defaulted.
        policy_scale: c > 0 multiplying the policy term alone (TRL's ``cispo`` at
            ε_high < 1): the rest points are those of the objective at β/c.
        source: the keys as given, from which :meth:`with_beta` re-resolves.
    """

    name: str
    framework: str
    objective: Objective
    beta: float
    beta_key: str | None
    settings: tuple[Setting, ...]
    policy_scale: float = 1.0
    summary: str = ""
    source: tuple[tuple[str, Any], ...] = ()

    @property
    def engine_beta(self) -> float:
        """The β the objective is solved at: β/policy_scale."""
        return self.beta / self.policy_scale

    @property
    def group_size(self) -> float | int:
        return self.objective.group_size

    @property
    def no_effect(self) -> tuple[Setting, ...]:
        """The keys accepted and reported as having no effect on the stationary policy."""
        return tuple(s for s in self.settings if s.no_effect)

    @property
    def condition(self) -> str:
        """The stationarity condition of the implied objective (docs/frameworks.md)."""
        obj = self.objective
        if obj.loss in _LOSS_CONDITIONS:
            return _LOSS_CONDITIONS[obj.loss]
        if obj.reward_kl is not None:
            return _REWARD_KL_CONDITION
        if obj.penalty.zero_gradient or self.engine_beta == 0.0:
            rest = _ZERO_KL_CONDITION
            return rest + (" (tied groups dropped: the same rest points)" if obj.filter_ties else "")
        if obj.filter_ties:
            return "π(o)·P_G(o|π) = β·P(o in a non-tied group)·(penalty gradient), per output"
        return _CONDITIONS.get(obj.penalty.name, obj.penalty.label)

    def with_beta(self, beta: float) -> Preset:
        """The same setting with its KL coefficient set to ``beta`` (re-resolved from the
        framework's keys, so β = 0 and β > 0 each get their own objective); a setting
        without a coefficient (``beta_key`` None) is returned unchanged."""
        if self.beta_key is None:
            _real(beta, "beta", minimum=0.0)
            return self
        return self._rebuild({self.beta_key: beta})

    def with_group_size(self, group_size: float | int) -> Preset:
        """The same setting at another group size G."""
        g = check_group_size(group_size)
        key = {"trl": "num_generations", "verl": _R, "gvpo": "group_size"}[self.framework]
        if math.isinf(g):
            return replace(self, objective=self.objective.with_group_size(g))
        return self._rebuild({key: g})

    def _rebuild(self, changes: Mapping[str, Any]) -> Preset:
        args = {**dict(self.source), **changes}
        if self.framework == "trl":
            p = from_trl(**args)
        elif self.framework == "verl":
            p = from_verl(args)
        else:
            p = from_gvpo(**args)
        return replace(p, name=self.name)

    def solve(self, pi_ref: ArrayLike, rewards: Any, beta: ArrayLike | None = None) -> Answer:
        """Where this setting's training converges, for π_ref and deterministic rewards.

        ``beta`` overrides the coefficient: a number, or an array of β (a grid, solved in one
        call where the engine allows). The objective is the one the framework trains at the
        largest of them (:meth:`with_beta`: TRL's β = 0 has no KL term, β > 0 has one; at
        β = 0 a KL penalty contributes nothing, so the grid may mix both).

        Level-space objectives with a KL force go through
        :func:`~gvpo_theory.stationary.grpo_stationary_policy` at β/policy_scale (all β of
        a grid at once); the others (no KL force, KL in the reward, DAPO's filter, pass@k,
        the GVPO losses) through :func:`gvpo_theory.frameworks.stationary_point`, one β at
        a time.
        """
        b = np.asarray(self.beta if beta is None else beta, dtype=np.float64)
        if b.ndim > 1 or b.size == 0 or not np.all(np.isfinite(b)) or np.any(b < 0):
            raise ValueError("beta must be a number >= 0 or a non-empty 1-D array of them")
        target = self if beta is None else self.with_beta(float(np.max(b)))
        return _solve(target, np.asarray(pi_ref, dtype=np.float64), rewards, b / self.policy_scale)

    def to_dict(self) -> dict:
        """Plain data for JSON: the preset, its objective and every resolved setting."""
        obj = self.objective
        g = obj.group_size
        return {
            "name": self.name,
            "framework": self.framework,
            "summary": self.summary,
            "objective": obj.label,
            "loss": obj.loss,
            "baseline": obj.advantage.baseline,
            "std": obj.advantage.scale,
            "eps": obj.advantage.eps,
            "eps_at": obj.advantage.eps_at,
            "penalty": obj.penalty.name,
            "reward_kl": obj.reward_kl,
            "filter_ties": obj.filter_ties,
            "group_size": None if math.isinf(g) else int(g),
            "beta": self.beta,
            "beta_key": self.beta_key,
            "policy_scale": self.policy_scale,
            "engine_beta": self.engine_beta,
            "condition": self.condition,
            "settings": [s.to_dict() for s in self.settings],
        }


@dataclass(frozen=True)
class Answer:
    """Where a preset's training goes: ``policy`` (K,) or (n, K) for a β grid; per β
    ``converged`` (an interior rest point verified to the engine's tolerance), ``kind``
    ("interior" or "boundary": no interior rest point is reached, ``policy`` is then the
    limit the engine returns) and ``residual``; ``message`` the engine's reason."""

    policy: NDArray[np.float64]
    converged: NDArray[np.bool_]
    kind: tuple[str, ...]
    residual: NDArray[np.float64]
    message: str


def _solve(p: Preset, pi_ref: NDArray[np.float64], rewards: Any, engine_b: NDArray[np.float64]) -> Answer:
    obj = p.objective
    flat = np.atleast_1d(engine_b)
    zero = obj.penalty.zero_gradient and obj.reward_kl is None and obj.loss == "grpo"
    no_force = p.beta_key is None or zero
    if flat.size > 1 and no_force:
        # No KL force reaches the policy (β only scales the step, or the estimator's expected
        # gradient is 0): the answer is the same at every β; solve once and repeat it.
        one = _solve(p, pi_ref, rewards, flat[:1])
        n = flat.size
        return Answer(np.repeat(one.policy, n, axis=0), np.repeat(one.converged, n), one.kind * n,
                      np.repeat(one.residual, n), one.message)
    direct = obj.level_space and not obj.penalty.zero_gradient and np.all(flat > 0)
    if direct:
        from .stationary import grpo_stationary_policy

        res = grpo_stationary_policy(pi_ref, rewards, flat if engine_b.ndim else float(engine_b), obj)
        conv = np.asarray(res.converged, dtype=bool)
        kind = tuple("interior" if c else "boundary" for c in np.atleast_1d(conv))
        return Answer(res.policy, conv, kind, np.asarray(res.residual, dtype=np.float64), res.message)
    from .frameworks import stationary_point

    sols = [stationary_point(pi_ref, rewards, float(x), obj) for x in flat]
    policy = np.stack([s.policy for s in sols])
    conv = np.array([s.converged for s in sols])
    res_ = np.array([s.residual for s in sols])
    kind = tuple(s.kind for s in sols)
    if engine_b.ndim == 0:
        return Answer(policy[0], conv[0], kind, res_[0], sols[0].message)
    return Answer(policy, conv, kind, res_, sols[-1].message)


#: Fixed-point conditions by penalty (docs/theory.md §3, docs/frameworks.md).
_CONDITIONS: dict[str, str] = {
    "reverse_kl": "π(o) = π_ref(o)/(1 − P_G(o|π)/β)",
    "direct_kl": "π(o) ∝ π_ref(o)·exp(P_G(o|π)/β)",
    "low_var_kl": "π(o) = π_ref(o)/(1 − P_G(o|π)/β) while every π_ref/π ≤ 13.61; past the clamp the "
                  "clamped outputs' mass flows to 0",
}
_ZERO_KL_CONDITION = "π(o)·P_G(o|π) = 0 for every o: π's support carries one reward level"
_REWARD_KL_CONDITION = "the shaped reward r − β·D is constant on π's support (k1: π = π*)"
_LOSS_CONDITIONS: dict[str, str] = {
    "gvpo": "π ∝ π_ref·exp(r/β) (π*)",
    "gvpo-rollout": "π(o)·(r(o) − E_π r) = 0: π's support carries one reward level",
}


# ------------------------------------------------------------------ value checks


def _real(value: Any, key: str, *, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{key} must be a number; got {_describe(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{key} must be finite; got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{key} must be {'>' if strict else '>='} {minimum:g}; got {v:g}")
    return v


def _int(value: Any, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{key} must be an integer; got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key} must be >= {minimum}; got {value}")
    return int(value)


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{key} must be true or false; got {_describe(value)}")
    return bool(value)


def _choice(value: Any, key: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, options))}; got {_describe(value)}")
    return value


def _optional(check: Callable[..., Any]) -> Callable[..., Any]:
    def inner(value: Any, *args: Any, **kw: Any) -> Any:
        return None if value is None else check(value, *args, **kw)

    return inner


class _Record:
    """Collects the :class:`Setting` of each resolved key, once per key."""

    def __init__(self, cfg: Mapping[str, Any], given: set[str]) -> None:
        self._cfg, self._given = cfg, given
        self._out: dict[str, Setting] = {}

    def __call__(self, key: str, effect: str, value: Any = None) -> None:
        if key not in self._out:
            self._out[key] = Setting(key, self._cfg.get(key) if value is None else value,
                                     key in self._given, effect)

    def keys(self) -> set[str]:
        return set(self._out)

    def settings(self) -> tuple[Setting, ...]:
        return tuple(self._out.values())


def _unknown(keys: list[str], accepted: list[str], where: str) -> ValueError:
    return ValueError(
        f"unknown {where} key{'s' if len(keys) > 1 else ''} {', '.join(map(repr, sorted(keys)))}; "
        f"accepted: {', '.join(accepted)}"
    )


def _registry_objective(name: str, group_size: int, what: str, **changes: Any) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"{what} needs the objective {name!r}, which gvpo_theory.objective.OBJECTIVES lacks")
    return objective(name, group_size, **changes)


# ------------------------------------------------------------------ TRL


#: GRPOConfig's own fields and their defaults (trl/trainer/grpo_config.py at the commit read).
TRL_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-6, "model_init_kwargs": None, "trust_remote_code": False,
    "router_aux_loss_coef": 0.001, "disable_dropout": False, "cast_lm_head_to_fp32": False,
    "remove_unused_columns": False, "num_generations": 8, "num_generations_eval": None,
    "max_completion_length": 512, "ds3_gather_for_generation": True, "shuffle_dataset": True,
    "pad_to_multiple_of": None, "generation_batch_size": None, "steps_per_generation": None,
    "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": None, "generation_kwargs": None,
    "chat_template_kwargs": None, "repetition_penalty": 1.0, "cache_implementation": None,
    "use_vllm": False, "vllm_mode": "colocate", "vllm_model_impl": "vllm",
    "vllm_enable_sleep_mode": False, "vllm_structured_outputs_regex": None,
    "vllm_server_base_url": None, "vllm_server_host": "0.0.0.0", "vllm_server_port": 8000,
    "vllm_server_timeout": 240.0, "vllm_group_port": 51216, "vllm_gpu_memory_utilization": 0.3,
    "vllm_max_model_length": None, "vllm_tensor_parallel_size": 1,
    "beta": 0.0, "num_iterations": 1, "epsilon": 0.2, "delta": None, "epsilon_high": None,
    "sapo_temperature_neg": 1.05, "sapo_temperature_pos": 1.0, "vespo_k_pos": 2.0,
    "vespo_lambda_pos": 3.0, "vespo_k_neg": 3.0, "vespo_lambda_neg": 2.0,
    "importance_sampling_level": "token", "reward_weights": None,
    "multi_objective_aggregation": "sum_then_normalize", "scale_rewards": "group",
    "loss_type": "dapo", "mask_truncated_completions": False, "sync_ref_model": False,
    "ref_model_mixup_alpha": 0.6, "ref_model_sync_steps": 512, "top_entropy_quantile": 1.0,
    "entropy_coef": 0.0, "use_adaptive_entropy": False, "entropy_coef_min": 0.0,
    "entropy_coef_max": 1.0, "entropy_coef_delta": 0.005, "entropy_target": 0.2,
    "max_tool_calling_iterations": None, "vllm_importance_sampling_correction": True,
    "vllm_importance_sampling_mode": "sequence_mask", "vllm_importance_sampling_clip_max": 3.0,
    "vllm_importance_sampling_clip_min": None, "off_policy_mask_threshold": None,
    "use_bias_correction_kl": False, "log_completions": False, "log_multimodal": True,
    "num_completions_to_print": None, "log_unique_prompts": False, "log_completions_hub_repo": None,
    "use_transformers_continuous_batching": False, "transformers_continuous_batching_config": None,
    "use_transformers_paged": False, "vllm_importance_sampling_cap": None,
}

#: transformers.TrainingArguments keys GRPOConfig inherits that are accepted here (the
#: batch-size ones enter TRL's own checks; the rest are optimiser, logging and hardware).
TRL_TRAINING_ARGUMENTS: dict[str, Any] = {
    "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1, "auto_find_batch_size": False,
    "output_dir": None, "overwrite_output_dir": False, "do_train": False, "do_eval": False,
    "do_predict": False, "eval_strategy": "no", "per_device_eval_batch_size": 8, "eval_steps": None,
    "num_train_epochs": 3.0, "max_steps": -1, "lr_scheduler_type": "linear", "lr_scheduler_kwargs": None,
    "warmup_ratio": 0.0, "warmup_steps": 0, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999,
    "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "optim": "adamw_torch", "seed": 42, "data_seed": None,
    "bf16": None, "fp16": False, "tf32": None, "gradient_checkpointing": True, "logging_steps": 10,
    "logging_strategy": "steps", "logging_dir": None, "save_strategy": "steps", "save_steps": 500,
    "save_total_limit": None, "report_to": "all", "run_name": None, "push_to_hub": False,
    "hub_model_id": None, "dataloader_num_workers": 0, "use_liger_kernel": False, "use_cpu": False,
    "torch_empty_cache_steps": None, "deepspeed": None, "fsdp": None, "ddp_find_unused_parameters": None,
}

TRL_LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
_TRL_IS_MODES = ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")

_RATIO_AT_ONE = "the importance ratio π_θ/π_old is 1 at θ = θ_old, inside every clip range"
_REST_POINTS = ("where the expected update vanishes θ stays at θ_old, so further steps on the same "
                "rollout leave the rest points unchanged")
_PLUMBING = "it sets model loading, data handling, logging or hardware, not the objective"
_LENGTH = ("for one-token outputs every aggregation is the mean over the samples times a positive "
           "constant that scales the policy and the KL term alike")


def _trl_scale_rewards(value: Any) -> str:
    if value is True:
        return "group"
    if value is False:
        return "none"
    return _choice(value, "scale_rewards", ("group", "batch", "none"))


def from_trl(**kwargs: Any) -> Preset:
    """The objective TRL's ``GRPOTrainer`` trains, from ``GRPOConfig`` keyword arguments.

    TRL's defaults fill every key not given: ``beta=0.0`` (no KL term, no reference model),
    ``num_generations=8``, ``scale_rewards="group"`` (A = (r − mean)/(std_{G−1} + 1e-4); the
    1e-4 is hard-coded), ``loss_type="dapo"``, k3 in the loss (``use_bias_correction_kl=True``:
    the direct KL). Raises ``ValueError`` naming the key for an unknown key (listing the
    accepted ones), a value of the wrong type, what TRL itself rejects
    (``num_generations < 2``, ``sync_ref_model`` with β = 0, ``auto_find_batch_size``, a
    generation batch not divisible by G on one process, …), ``scale_rewards="batch"`` and
    ``multi_objective_aggregation="normalize_then_sum"`` (batch-level: gvpo_theory.dataset),
    and what this engine does not model (an entropy bonus, ``loss_type="vespo"``, truncated
    sampling, a moving reference).
    """
    accepted = {**TRL_DEFAULTS, **TRL_TRAINING_ARGUMENTS}
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise _unknown(unknown, sorted(accepted), "GRPOConfig")
    cfg = {**accepted, **kwargs}
    rec = _Record(cfg, set(kwargs))

    beta = _real(cfg["beta"], "beta", minimum=0.0)
    g = _int(cfg["num_generations"], "num_generations")
    if g < 2:
        raise ValueError(f"num_generations must be >= 2 (GRPO needs two generations per prompt); got {g}")
    scale = _trl_scale_rewards(cfg["scale_rewards"])
    if scale == "batch":
        raise ValueError(f"scale_rewards='batch' is not a per-group objective: {DATASET_POINTER}")
    agg = _choice(cfg["multi_objective_aggregation"], "multi_objective_aggregation",
                  ("sum_then_normalize", "normalize_then_sum"))
    if agg == "normalize_then_sum":
        raise ValueError(f"multi_objective_aggregation='normalize_then_sum' is not a per-group objective: "
                         f"{DATASET_POINTER}")
    loss_type = _choice(cfg["loss_type"], "loss_type", TRL_LOSS_TYPES)
    level = _choice(cfg["importance_sampling_level"], "importance_sampling_level", ("token", "sequence"))
    corrected = _bool(cfg["use_bias_correction_kl"], "use_bias_correction_kl")
    eps_low = _real(cfg["epsilon"], "epsilon", minimum=0.0)
    eps_high = _optional(_real)(cfg["epsilon_high"], "epsilon_high", minimum=0.0)
    eps_high = eps_low if eps_high is None else eps_high
    delta = _optional(_real)(cfg["delta"], "delta")
    _trl_checks(cfg, beta, g)

    what = f"TRL scale_rewards={scale!r}"
    penalty = "none" if beta == 0.0 else ("direct_kl" if corrected else "reverse_kl")
    if scale == "group":
        obj = _registry_objective("grpo-sample", g, what, eps=1e-4, penalty=penalty)
        rec("scale_rewards", "A_i = (r_i − mean)/(std_{G−1} + 1e-4): sample std, 1e-4 (hard-coded) added",
            scale)
    else:
        obj = _registry_objective("dr-grpo", g, what, penalty=penalty)
        rec("scale_rewards", "A_i = r_i − mean (Dr. GRPO): no std", scale)
    rec("num_generations", f"G = {g}")
    rec("beta", "KL coefficient β" if beta > 0 else "β = 0: no KL term and no reference model")
    if beta == 0.0:
        rec("use_bias_correction_kl", NO_EFFECT + "β = 0: there is no KL term")
    else:
        rec("use_bias_correction_kl",
            "k3·ratio: its expected gradient is ∇KL(π‖π_ref), the direct KL" if corrected
            else "k3 = π_ref/π − log(π_ref/π) − 1 in the loss: acts as the reverse KL")

    scale_policy = 1.0
    if loss_type == "vespo":
        raise ValueError("loss_type='vespo' is not modelled here: Gamma weights replace the surrogate")
    if loss_type == "cispo":
        scale_policy = min(1.0, eps_high)
        rec("loss_type", f"cispo: −clamp(ρ, max=ε_high).detach()·A·log π scales the policy term by "
            f"min(1, ε_high) = {scale_policy:g} at ρ = 1 and leaves the KL term alone: the rest points "
            f"are those at β/{scale_policy:g}", loss_type)
    elif loss_type == "sapo":
        rec("loss_type", NO_EFFECT + "the soft gate σ(τ(ρ − 1))·4/τ has slope 1 at ρ = 1 for every τ, "
            "so its gradient at θ_old is the clipped surrogate's", loss_type)
    else:
        rec("loss_type", NO_EFFECT + _LENGTH, loss_type)
    for key in ("epsilon", "epsilon_high"):
        if loss_type == "cispo" and key == ("epsilon_high" if cfg["epsilon_high"] is not None else "epsilon"):
            rec(key, "ε_high of cispo's clamp (epsilon_high unset: epsilon)")
        else:
            rec(key, NO_EFFECT + _RATIO_AT_ONE)
    if delta is not None and delta < 1.0:
        raise ValueError(f"delta={delta:g} < 1 caps the ratio below 1 at θ_old; not modelled here")
    rec("delta", NO_EFFECT + _RATIO_AT_ONE)
    rec("importance_sampling_level", NO_EFFECT + "one token: the sequence ratio is the token ratio", level)
    rec("multi_objective_aggregation", NO_EFFECT + "the summed reward is normalised per group", agg)
    rec("reward_weights", NO_EFFECT + "the rewards given here are the weighted sum Σ_k w_k·r_k(o)")
    _trl_plumbing(cfg, rec)
    name = "trl"
    summary = f"TRL GRPOTrainer: {obj.label}"
    return Preset(name, "trl", obj, beta, "beta", rec.settings(), policy_scale=scale_policy, summary=summary,
                  source=tuple(kwargs.items()))


def _trl_checks(cfg: dict[str, Any], beta: float, g: int) -> None:
    """What GRPOConfig.__post_init__ and GRPOTrainer.__init__ reject (one process)."""
    if _bool(cfg["auto_find_batch_size"], "auto_find_batch_size"):
        raise ValueError("auto_find_batch_size=True is rejected by TRL: the generation batch must hold whole "
                         "prompt groups")
    if _bool(cfg["sync_ref_model"], "sync_ref_model"):
        if beta == 0.0:
            raise ValueError("sync_ref_model=True with beta=0 is rejected by TRL: it has no reference model")
        raise ValueError("sync_ref_model=True moves π_ref during training (TR-DPO): not a fixed objective")
    per_device = _int(cfg["per_device_train_batch_size"], "per_device_train_batch_size", minimum=1)
    accumulation = _int(cfg["gradient_accumulation_steps"], "gradient_accumulation_steps", minimum=1)
    gen_batch = _optional(_int)(cfg["generation_batch_size"], "generation_batch_size", minimum=1)
    steps = _optional(_int)(cfg["steps_per_generation"], "steps_per_generation", minimum=1)
    if gen_batch is not None and steps is not None:
        raise ValueError("generation_batch_size and steps_per_generation cannot both be set (TRL rejects it)")
    if gen_batch is None:
        gen_batch = per_device * (accumulation if steps is None else steps)
    elif gen_batch % per_device:
        raise ValueError(f"generation_batch_size ({gen_batch}) must be divisible by the global batch size "
                         f"({per_device}) (TRL rejects it; one process)")
    if gen_batch % g:
        raise ValueError(f"num_generations ({g}) must divide the generation batch ({gen_batch} = "
                         "per_device_train_batch_size × steps_per_generation, one process; TRL rejects it): "
                         "set per_device_train_batch_size or generation_batch_size")
    _choice(cfg["vllm_importance_sampling_mode"], "vllm_importance_sampling_mode", _TRL_IS_MODES)
    lo = _optional(_real)(cfg["vllm_importance_sampling_clip_min"], "vllm_importance_sampling_clip_min")
    hi = _optional(_real)(cfg["vllm_importance_sampling_clip_max"], "vllm_importance_sampling_clip_max")
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"vllm_importance_sampling_clip_min ({lo:g}) must be less than "
                         f"vllm_importance_sampling_clip_max ({hi:g}) (TRL rejects it)")
    if cfg["log_completions_hub_repo"] is not None and not cfg["log_completions"]:
        raise ValueError("log_completions_hub_repo is set but log_completions is False (TRL rejects it)")
    _choice(cfg["vllm_mode"], "vllm_mode", ("server", "colocate"))


def _trl_plumbing(cfg: dict[str, Any], rec: _Record) -> None:
    """Record the TRL keys that cannot move a one-token stationary point (or reject them)."""
    temperature = _real(cfg["temperature"], "temperature", minimum=0.0, strict=True)
    rec("temperature", NO_EFFECT + ("the sampling distribution is π itself" if temperature == 1.0 else
        f"π and π_ref are read at temperature {temperature:g} (TRL divides both models' logits by it)"))
    untruncated = {"top_p": 1.0, "top_k": 0, "min_p": None, "repetition_penalty": 1.0,
                   "generation_kwargs": None}
    for key, neutral in untruncated.items():
        if cfg[key] != neutral and not (key == "top_k" and cfg[key] in (-1, None)):
            raise ValueError(f"{key}={cfg[key]!r} samples from a reshaped distribution while the loss scores "
                             "the full one: not modelled here")
        rec(key, NO_EFFECT + "sampling is from π itself, neither truncated nor reshaped")
    entropy = _real(cfg["entropy_coef"], "entropy_coef")
    if entropy != 0.0 or _bool(cfg["use_adaptive_entropy"], "use_adaptive_entropy"):
        raise ValueError("entropy_coef / use_adaptive_entropy add an entropy bonus: not modelled here")
    for key in ("entropy_coef", "use_adaptive_entropy", "entropy_coef_min", "entropy_coef_max",
                "entropy_coef_delta", "entropy_target"):
        rec(key, NO_EFFECT + "there is no entropy bonus (entropy_coef = 0, adaptive control off)")
    q = _real(cfg["top_entropy_quantile"], "top_entropy_quantile", minimum=0.0)
    if q > 1.0:
        raise ValueError(f"top_entropy_quantile must be in [0, 1]; got {q:g}")
    rec("top_entropy_quantile", NO_EFFECT + "one prompt, one position: every token has the same entropy, "
        "so the quantile mask keeps them all")
    length = _optional(_int)(cfg["max_completion_length"], "max_completion_length", minimum=1)
    rec("max_completion_length", NO_EFFECT + "the outputs are one token long", length)
    rec("mask_truncated_completions", NO_EFFECT + "a one-token output is never truncated")
    rec("off_policy_mask_threshold", NO_EFFECT + "KL(π_old‖π_θ) = 0 at θ = θ_old: nothing is masked")
    rec("num_iterations", NO_EFFECT + _REST_POINTS, _int(cfg["num_iterations"], "num_iterations", minimum=1))
    for key in ("steps_per_generation", "generation_batch_size", "per_device_train_batch_size",
                "gradient_accumulation_steps"):
        rec(key, NO_EFFECT + "it sets how many groups make a batch; the expected update is per group")
    rec("learning_rate", NO_EFFECT + "the step size scales the update, not its zeros")
    for key in ("sapo_temperature_neg", "sapo_temperature_pos"):
        rec(key, NO_EFFECT + "the soft gate's slope at ρ = 1 is 1 for every temperature")
    for key in ("vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg"):
        rec(key, NO_EFFECT + "used only by loss_type='vespo'")
    for key in ("ref_model_mixup_alpha", "ref_model_sync_steps", "sync_ref_model"):
        rec(key, NO_EFFECT + "the reference model is not synchronised (sync_ref_model=False)")
    for key in ("vllm_importance_sampling_correction", "vllm_importance_sampling_mode",
                "vllm_importance_sampling_clip_max", "vllm_importance_sampling_clip_min",
                "vllm_importance_sampling_cap"):
        rec(key, NO_EFFECT + "the generator's and the trainer's log-probabilities agree in exact arithmetic: "
            "the correction ratio is 1")
    rec("num_generations_eval", NO_EFFECT + "it applies to evaluation only")
    for key in sorted({*TRL_DEFAULTS, *TRL_TRAINING_ARGUMENTS} - rec.keys()):
        rec(key, NO_EFFECT + _PLUMBING)


# ------------------------------------------------------------------ verl


#: The verl keys this module reads, with verl's defaults (``_generated_ppo_trainer.yaml``,
#: ``AlgoConfig``; the DAPO recipe's ``filter_groups``). ``algorithm.adv_estimator``
#: defaults to verl's "gae" (PPO with a critic), which is not a group estimator: a config
#: must name one. ``actor_rollout_ref.rollout.n`` defaults to 1 in verl, which gives no
#: group: a config must set it.
VERL_DEFAULTS: dict[str, Any] = {
    "algorithm.adv_estimator": "gae",
    "algorithm.norm_adv_by_std_in_grpo": True,
    "algorithm.use_kl_in_reward": False,
    "algorithm.kl_penalty": "kl",
    "algorithm.kl_ctrl.type": "fixed",
    "algorithm.kl_ctrl.kl_coef": 0.001,
    "algorithm.kl_ctrl.horizon": 10000,
    "algorithm.kl_ctrl.target_kl": 0.1,
    "algorithm.gamma": 1.0,
    "algorithm.lam": 1.0,
    "algorithm.use_pf_ppo": False,
    "algorithm.filter_groups.enable": False,
    "algorithm.filter_groups.metric": None,
    "algorithm.filter_groups.max_num_gen_batches": 0,
    "actor_rollout_ref.actor.use_kl_loss": False,
    "actor_rollout_ref.actor.kl_loss_coef": 0.001,
    "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
    "actor_rollout_ref.actor.clip_ratio": 0.2,
    "actor_rollout_ref.actor.clip_ratio_low": 0.2,
    "actor_rollout_ref.actor.clip_ratio_high": 0.2,
    "actor_rollout_ref.actor.clip_ratio_c": 3.0,
    "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
    "actor_rollout_ref.actor.loss_scale_factor": None,
    "actor_rollout_ref.actor.entropy_coeff": 0,
    "actor_rollout_ref.actor.policy_loss.loss_mode": "vanilla",
    "actor_rollout_ref.actor.ppo_epochs": 1,
    "actor_rollout_ref.actor.ppo_mini_batch_size": 256,
    "actor_rollout_ref.actor.ppo_micro_batch_size": None,
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": None,
    "actor_rollout_ref.actor.use_dynamic_bsz": False,
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": 16384,
    "actor_rollout_ref.actor.grad_clip": 1.0,
    "actor_rollout_ref.actor.shuffle": False,
    "actor_rollout_ref.actor.tau_pos": 1.0,
    "actor_rollout_ref.actor.tau_neg": 1.05,
    "actor_rollout_ref.rollout.n": 1,
    "actor_rollout_ref.rollout.temperature": 1.0,
    "actor_rollout_ref.rollout.top_k": -1,
    "actor_rollout_ref.rollout.top_p": 1.0,
    "actor_rollout_ref.rollout.do_sample": True,
}

_ACTOR = "actor_rollout_ref.actor."
#: Actor keys that set hardware, precision, checkpoints or logging.
_VERL_ACTOR_PLUMBING = (
    "_target_", "rollout_n", "strategy", "freeze_vision_tower", "calculate_entropy", "use_prefix_grouper",
    "use_torch_compile", "data_loader_seed", "use_fused_kernels", "ulysses_sequence_parallel_size",
    "entropy_from_logits_with_chunking", "entropy_checkpointing", "use_remove_padding",
    "calculate_sum_pi_squared", "sum_pi_squared_checkpointing", "load_weight", "nccl_timeout",
)

#: Whole sub-trees that cannot move a one-token stationary point, and why.
VERL_NO_EFFECT_TREES: dict[str, str] = {
    "data": "it sets the prompts, lengths and batch sizes; the expected update is per group",
    "trainer": _PLUMBING,
    "critic": "the value model serves only adv_estimator='gae'",
    "reward_model": "the rewards given here are the reward function's values",
    "reward_manager": "the rewards given here are the reward function's values",
    "custom_reward_function": "the rewards given here are the reward function's values",
    "global_profiler": _PLUMBING,
    "ray_kwargs": _PLUMBING,
    "transfer_queue": _PLUMBING,
    "hydra": _PLUMBING,
    "defaults": _PLUMBING,
    "actor_rollout_ref.hybrid_engine": _PLUMBING,
    "actor_rollout_ref.nccl_timeout": _PLUMBING,
    "actor_rollout_ref.model": "it describes the network; the policy here is tabular, one logit per output",
    "actor_rollout_ref.ref": "it says how the reference log-probabilities are computed, not what they are",
    "actor_rollout_ref.rollout": "it configures the generation engine; the samples are drawn from π itself",
    "algorithm.rollout_correction": "the rollout's and the trainer's log-probabilities agree in exact "
                                    "arithmetic: every importance weight is 1 and nothing is rejected",
    "algorithm.pf_ppo": "it is read only when algorithm.use_pf_ppo is on",
    "algorithm._target_": _PLUMBING,
    "algorithm.kl_ctrl._target_": _PLUMBING,
    "algorithm.filter_groups._target_": _PLUMBING,
    _ACTOR + "optim": "the optimiser sets the step, not the zeros of the expected update",
    _ACTOR + "fsdp_config": _PLUMBING,
    _ACTOR + "megatron": _PLUMBING,
    _ACTOR + "checkpoint": _PLUMBING,
    _ACTOR + "profiler": _PLUMBING,
    _ACTOR + "router_replay": _PLUMBING,
    _ACTOR + "policy_loss": "these are parameters of other loss modes than the one in use",
    **{_ACTOR + k: _PLUMBING for k in _VERL_ACTOR_PLUMBING},
}

VERL_ESTIMATORS = ("gae", "grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "opo", "grpo_passk", "gpg",
                   "reinforce_plus_plus", "reinforce_plus_plus_baseline", "remax", "optimal_token_baseline",
                   "tir_optimal_token_baseline")
VERL_KL_TYPES = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3", "full")
VERL_LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
VERL_LOSS_MODES = ("vanilla", "gspo", "sapo", "gpg", "clip_cov", "kl_cov", "geo_mean", "cispo", "bypass_mode")

#: verl's epsilon of the group std: compute_grpo_outcome_advantage's default, never passed.
VERL_EPSILON = 1e-6


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings → dotted keys; keys already dotted are kept (``{"a.b": 1}``)."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping of verl keys; got {_describe(config)}")
    out: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise ValueError(f"config keys must be strings; got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """A verl config file: YAML (``.yaml``/``.yml``, needs PyYAML: the ``yaml`` extra) or JSON."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValueError(f"config file {str(p)!r} cannot be read: {exc.strerror or exc}") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ModuleNotFoundError:
            raise ValueError(f"reading {p.name} needs PyYAML, which is not installed: "
                             "pip install 'gvpo-theory[yaml]' (or give the config as JSON)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {p.name} is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {p.name} is not valid JSON ({exc.msg}, line {exc.lineno}); "
                             "YAML files must end in .yaml or .yml") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"config file {p.name} must hold a mapping of verl keys; got {type(data).__name__}")
    return flatten(data)


def _verl_tree(key: str) -> str | None:
    for tree, reason in VERL_NO_EFFECT_TREES.items():
        if key == tree or key.startswith(tree + "."):
            return reason
    return None


def from_verl(config: Mapping[str, Any] | str | Path) -> Preset:
    """The objective a verl PPO trainer run trains, from its config.

    ``config``: a nested dict as in verl's YAML, a dict of dotted keys
    (``{"algorithm.adv_estimator": "grpo"}``, Hydra's override spelling), or the path of a
    YAML or JSON file. verl's defaults fill the rest: ``norm_adv_by_std_in_grpo=True`` with
    ε = 1e-6 added to the std (the trainer never passes it), ``use_kl_loss=False`` (no KL
    term), ``kl_loss_coef=0.001``, ``kl_loss_type="low_var_kl"``, ``use_kl_in_reward=False``.
    ``algorithm.adv_estimator`` (verl's default "gae" needs a critic) and
    ``actor_rollout_ref.rollout.n`` (verl's default 1 gives no group) must be given.

    Raises ``ValueError`` naming the key for unknown keys (listing the accepted ones;
    whole sub-trees such as ``trainer.*`` and ``data.*`` are accepted and reported as having
    no effect), wrong types, what verl rejects (``clip_ratio_c <= 1``, a ``kl_loss_type``
    verl raises on), batch-level estimators (gvpo_theory.dataset) and what this engine
    does not model.
    """
    flat = load_config(config) if isinstance(config, (str, Path)) else flatten(config)
    exact = set(VERL_DEFAULTS)
    unknown = [k for k in flat if k not in exact and _verl_tree(k) is None]
    if unknown:
        accepted = sorted(exact) + sorted(f"{t}.*" for t in VERL_NO_EFFECT_TREES)
        raise _unknown(unknown, accepted, "verl")
    cfg = {**VERL_DEFAULTS, **{k: v for k, v in flat.items() if k in exact}}
    rec = _Record(cfg, set(flat))
    a = "algorithm."
    est = _choice(cfg[a + "adv_estimator"], a + "adv_estimator", VERL_ESTIMATORS)
    g = _int(cfg["actor_rollout_ref.rollout.n"], "actor_rollout_ref.rollout.n")
    if g < 2:
        raise ValueError(f"actor_rollout_ref.rollout.n must be >= 2 for a group estimator (verl's default 1 "
                         f"gives no group); got {g}")
    norm = _bool(cfg[a + "norm_adv_by_std_in_grpo"], a + "norm_adv_by_std_in_grpo")
    name, changes, est_effect = _verl_advantage(est, norm)
    rec(a + "adv_estimator", est_effect)
    rec("actor_rollout_ref.rollout.n", f"G = {g}")
    rec(a + "norm_adv_by_std_in_grpo",
        ("A_i = (r_i − mean)/(std_{G−1} + 1e-6)" if norm else "A_i = r_i − mean: no std")
        if est in ("grpo", "grpo_passk") else NO_EFFECT + f"adv_estimator={est!r} does not read it")

    use_loss = _bool(cfg[_ACTOR + "use_kl_loss"], _ACTOR + "use_kl_loss")
    use_reward = _bool(cfg[a + "use_kl_in_reward"], a + "use_kl_in_reward")
    loss_coef = _real(cfg[_ACTOR + "kl_loss_coef"], _ACTOR + "kl_loss_coef", minimum=0.0)
    loss_type = _verl_kl_type(cfg[_ACTOR + "kl_loss_type"], _ACTOR + "kl_loss_type")
    reward_coef = _real(cfg[a + "kl_ctrl.kl_coef"], a + "kl_ctrl.kl_coef", minimum=0.0)
    reward_type = _verl_kl_type(cfg[a + "kl_penalty"], a + "kl_penalty")
    ctrl = _choice(cfg[a + "kl_ctrl.type"], a + "kl_ctrl.type", ("fixed", "adaptive"))
    if use_loss and use_reward:
        raise ValueError("use_kl_loss and use_kl_in_reward both on: two KL terms at once are not modelled")
    if est == "gpg" and (use_loss or use_reward):
        raise ValueError("adv_estimator='gpg' with a KL term: its factor α (batch size / nonzero rewards in "
                         f"the batch) then moves the rest point, and {DATASET_POINTER}")
    beta, beta_key, changes["penalty"] = 0.0, None, "none"
    if use_loss:
        changes["penalty"], effect = _verl_kl_loss(loss_type)
        beta, beta_key = loss_coef, _ACTOR + "kl_loss_coef"
        rec(_ACTOR + "use_kl_loss", "KL term in the loss")
        rec(_ACTOR + "kl_loss_type", effect, loss_type)
        rec(_ACTOR + "kl_loss_coef", "KL coefficient β")
    else:
        rec(_ACTOR + "use_kl_loss", "no KL term in the loss")
        for key in ("kl_loss_type", "kl_loss_coef"):
            rec(_ACTOR + key, NO_EFFECT + "use_kl_loss is off: no KL term in the loss")
    kl_keys = ("kl_penalty", "kl_ctrl.type", "kl_ctrl.kl_coef", "kl_ctrl.horizon", "kl_ctrl.target_kl")
    if use_reward:
        if ctrl == "adaptive":
            raise ValueError("algorithm.kl_ctrl.type='adaptive' moves β as it trains: not a fixed objective")
        changes["reward_kl"] = _verl_reward_kl(reward_type)
        beta, beta_key = reward_coef, a + "kl_ctrl.kl_coef"
        rec(a + "use_kl_in_reward", f"r − β·{changes['reward_kl']}(π_old) before the group normalisation")
        rec(a + "kl_penalty", "the estimator subtracted from the reward", reward_type)
        rec(a + "kl_ctrl.type", "fixed: β stays kl_coef")
        rec(a + "kl_ctrl.kl_coef", "KL coefficient β")
        for key in kl_keys[3:]:
            rec(a + key, NO_EFFECT + "they steer only the adaptive controller")
    else:
        rec(a + "use_kl_in_reward", "no KL in the reward")
        for key in kl_keys:
            rec(a + key, NO_EFFECT + "use_kl_in_reward is off")
    if _bool(cfg[a + "filter_groups.enable"], a + "filter_groups.enable"):
        changes["filter_ties"] = True
        rec(a + "filter_groups.enable", "DAPO dynamic sampling: groups whose rewards all tie are dropped "
            "and the batch refilled, their KL term with them")
        metric = _optional(_choice)(cfg[a + "filter_groups.metric"], a + "filter_groups.metric",
                                    ("acc", "score", "seq_reward", "seq_final_reward"))
        rec(a + "filter_groups.metric", NO_EFFECT + "with one reward per output every metric ties exactly "
            "when the rewards tie", metric)
        _int(cfg[a + "filter_groups.max_num_gen_batches"], a + "filter_groups.max_num_gen_batches")
        rec(a + "filter_groups.max_num_gen_batches",
            NO_EFFECT + "the expectation is conditional on a non-tied group however many batches are drawn")
    else:
        for key in ("filter_groups.enable", "filter_groups.metric", "filter_groups.max_num_gen_batches"):
            rec(a + key, NO_EFFECT + "dynamic sampling is off (filter_groups.enable=False)")
    obj = _registry_objective(name, g, f"adv_estimator={est!r}", **changes)
    _verl_plumbing(cfg, rec)
    for key in flat:
        reason = _verl_tree(key)
        if reason is not None:
            rec(key, NO_EFFECT + reason, flat[key])
    return Preset("verl", "verl", obj, beta, beta_key, rec.settings(), summary=f"verl {est}: {obj.label}",
                  source=tuple(flat.items()))


def _verl_kl_type(value: Any, key: str) -> str:
    if isinstance(value, str) and value.endswith("+") and value[:-1] in VERL_KL_TYPES:
        raise ValueError(f"{key}={value!r}: verl's kl_penalty_forward has no branch for a '+' name at the "
                         "commit read and raises NotImplementedError")
    name = _choice(value, key, VERL_KL_TYPES)
    if name == "full":
        raise ValueError(f"{key}='full' raises NotImplementedError in verl")
    return name


def _verl_advantage(est: str, norm: bool) -> tuple[str, dict[str, Any], str]:
    """(registry name, field changes, effect) of verl's ``adv_estimator`` for one token."""
    if est == "gae":
        raise ValueError("algorithm.adv_estimator='gae' (verl's default) is PPO with a value model, not a "
                         "group estimator: set it to 'grpo', 'rloo', ...")
    if est in ("reinforce_plus_plus", "reinforce_plus_plus_baseline"):
        raise ValueError(f"algorithm.adv_estimator={est!r} is not a per-group objective: {DATASET_POINTER}")
    if est in ("optimal_token_baseline", "tir_optimal_token_baseline"):
        raise ValueError(f"algorithm.adv_estimator={est!r} needs the actor's per-token Σπ² statistics: "
                         "not modelled here")
    if est == "grpo_vectorized":
        return ("grpo-sample", {"eps": VERL_EPSILON, "eps_at": "var"},
                "A_i = (r_i − mean)/(sqrt(max(var_{G−1}, 1e-6)) + 1e-6); verl passes it no "
                "norm_adv_by_std_in_grpo")
    if est == "grpo":
        if norm:
            return "grpo-sample", {"eps": VERL_EPSILON}, "A_i = (r_i − mean)/(std_{G−1} + 1e-6)"
        return "dr-grpo", {}, "A_i = r_i − mean"
    if est == "grpo_passk":
        changes = {} if norm else {"scale": "none"}
        return "grpo-passk", changes, "only a unique group maximum gets r_max − r_second"
    if est in ("rloo", "rloo_vectorized"):
        return "rloo", {}, "A_i = r_i − mean of the other G − 1 (RLOO)"
    effects = {
        "opo": "A_i = r_i − length-weighted mean: the group mean for one-token outputs",
        "remax": "A_i = r_i − r(greedy output): a constant baseline, RLOO's direction in expectation",
        "gpg": "A_i = α·(r_i − mean), α > 0 a batch constant: Dr. GRPO's direction",
    }
    return est, {}, effects[est]


def _verl_kl_loss(kl_type: str) -> tuple[str, str]:
    """(penalty name, effect) of ``actor.kl_loss_type`` in the loss."""
    if kl_type in ("mse", "k2"):
        return "direct_kl", "k2 = ½·log²(π/π_ref): its expected gradient is ∇KL(π‖π_ref), the direct KL"
    if kl_type in ("kl", "k1"):
        return "k1", "k1 = log(π/π_ref): its expected gradient at θ_old is 0, so it acts as β = 0"
    if kl_type in ("low_var_kl", "k3"):
        return "low_var_kl", "k3 with verl's clamps: an output with π_ref/π > 13.61 gets no KL gradient"
    raise ValueError(f"{_ACTOR}kl_loss_type={kl_type!r} (|log(π/π_ref)|) is not modelled here")


def _verl_reward_kl(kl_type: str) -> str:
    names = {"kl": "k1", "k1": "k1", "low_var_kl": "low_var_kl", "k3": "low_var_kl"}
    if kl_type not in names:
        raise ValueError(f"algorithm.kl_penalty={kl_type!r} in the reward is not modelled here "
                         "(kl/k1 and low_var_kl/k3 are)")
    return names[kl_type]


def _verl_plumbing(cfg: dict[str, Any], rec: _Record) -> None:
    """Record (or reject) the verl actor and rollout keys that cannot move a one-token rest point."""
    for key in ("clip_ratio", "clip_ratio_low", "clip_ratio_high"):
        _optional(_real)(cfg[_ACTOR + key], _ACTOR + key, minimum=0.0)
        rec(_ACTOR + key, NO_EFFECT + _RATIO_AT_ONE)
    c = _real(cfg[_ACTOR + "clip_ratio_c"], _ACTOR + "clip_ratio_c")
    if c <= 1.0:
        raise ValueError(f"{_ACTOR}clip_ratio_c must be > 1 (verl asserts it for dual-clip PPO); got {c:g}")
    rec(_ACTOR + "clip_ratio_c", NO_EFFECT + _RATIO_AT_ONE)
    _choice(cfg[_ACTOR + "loss_agg_mode"], _ACTOR + "loss_agg_mode", VERL_LOSS_AGG_MODES)
    rec(_ACTOR + "loss_agg_mode", NO_EFFECT + _LENGTH)
    rec(_ACTOR + "loss_scale_factor", NO_EFFECT + _LENGTH)
    mode = _choice(cfg[_ACTOR + "policy_loss.loss_mode"], _ACTOR + "policy_loss.loss_mode", VERL_LOSS_MODES)
    if mode not in ("vanilla", "gspo", "gpg"):
        raise ValueError(f"{_ACTOR}policy_loss.loss_mode={mode!r} is not modelled (vanilla, gspo, gpg are)")
    rec(_ACTOR + "policy_loss.loss_mode", NO_EFFECT + {
        "vanilla": _RATIO_AT_ONE,
        "gspo": "one token: the sequence ratio is the token ratio, and it is 1 at θ_old",
        "gpg": "−A·log π has the gradient of −A·ρ at θ = θ_old"}[mode])
    if _real(cfg[_ACTOR + "entropy_coeff"], _ACTOR + "entropy_coeff") != 0.0:
        raise ValueError(f"{_ACTOR}entropy_coeff != 0 adds an entropy bonus: not modelled here")
    rec(_ACTOR + "entropy_coeff", NO_EFFECT + "it is 0: no entropy bonus")
    _int(cfg[_ACTOR + "ppo_epochs"], _ACTOR + "ppo_epochs", minimum=1)
    rec(_ACTOR + "ppo_epochs", NO_EFFECT + _REST_POINTS)
    for key in ("ppo_mini_batch_size", "ppo_micro_batch_size", "ppo_micro_batch_size_per_gpu",
                "use_dynamic_bsz",
                "ppo_max_token_len_per_gpu", "shuffle"):
        rec(_ACTOR + key, NO_EFFECT + "it splits a batch of groups; the expected update is per group")
    rec(_ACTOR + "grad_clip", NO_EFFECT + "clipping the gradient norm rescales the step, not its zeros")
    for key in ("tau_pos", "tau_neg"):
        rec(_ACTOR + key, NO_EFFECT + "used only by policy_loss.loss_mode='sapo'")
    ro = "actor_rollout_ref.rollout."
    t = _real(cfg[ro + "temperature"], ro + "temperature", minimum=0.0, strict=True)
    rec(ro + "temperature", NO_EFFECT + ("the sampling distribution is π itself" if t == 1.0 else
        f"π and π_ref are read at temperature {t:g} (verl divides the logits by it)"))
    if not _bool(cfg[ro + "do_sample"], ro + "do_sample"):
        raise ValueError(f"{ro}do_sample=False draws the greedy output every time: no group to learn from")
    rec(ro + "do_sample", NO_EFFECT + "outputs are sampled from π")
    top_k = _int(cfg[ro + "top_k"], ro + "top_k")
    top_p = _real(cfg[ro + "top_p"], ro + "top_p")
    if top_k not in (-1, 0) or top_p != 1.0:
        raise ValueError(f"{ro}top_k / top_p truncate the sampling distribution while the loss scores "
                         "the full one: not modelled here")
    for key in ("top_k", "top_p"):
        rec(ro + key, NO_EFFECT + "sampling is from π itself, not truncated")
    for key in ("algorithm.gamma", "algorithm.lam"):
        rec(key, NO_EFFECT + "one token: the return is the reward (γ, λ act across tokens)")
    if _bool(cfg["algorithm.use_pf_ppo"], "algorithm.use_pf_ppo"):
        raise ValueError("algorithm.use_pf_ppo=True resamples the batch by reward: not modelled here")
    rec("algorithm.use_pf_ppo", NO_EFFECT + "it is off")


# ------------------------------------------------------------------ GVPO


def from_gvpo(beta: float = 0.1, group_size: int = 8, anchor: str = "rollout") -> Preset:
    """GVPO: the official code (``anchor="rollout"``) or the paper (``anchor="reference"``).

    The official code (jszkc/GVPO) anchors the implicit reward β·log(π_θ/π_old) at the
    rollout policy and loads no reference model (its launch script turns use_kl_loss and
    use_kl_in_reward off); at θ = θ_old the implicit reward is 0 and the expected update is
    β·π(o)·(r(o) − E_π r): β times RLOO's policy gradient with no KL term, whose rest points
    carry one reward level (β = ``actor.gvpo_beta``, default 0.1, only scales the step).
    The paper anchors it at π_ref: the expected update is β·π(o)·(g(o) − E_π g) with
    g = r − β·log(π/π_ref), whose zero is π* ∝ π_ref·exp(r/β).
    """
    b = _real(beta, "beta", minimum=0.0, strict=True)
    g = check_group_size(group_size)
    anchor = _choice(anchor, "anchor", ("rollout", "reference"))
    source = (("beta", b), ("group_size", g), ("anchor", anchor))
    given = {"actor.gvpo_beta", "actor_rollout_ref.rollout.n"}
    cfg = {"actor.gvpo_beta": b, "actor_rollout_ref.rollout.n": g,
           "algorithm.norm_adv_by_std_in_grpo": False, "actor.use_kl_loss": False,
           "algorithm.use_kl_in_reward": False}
    rec = _Record(cfg, given)
    rec("actor_rollout_ref.rollout.n", f"G = {g}")
    rec("algorithm.norm_adv_by_std_in_grpo", "A_i = r_i − mean, the launch script's setting")
    if anchor == "rollout":
        obj = _registry_objective("gvpo-official", g, "GVPO anchored at the rollout policy")
        rec("actor.gvpo_beta", NO_EFFECT + "the implicit reward β·log(π_θ/π_old) is 0 at θ = θ_old: "
            "β only scales the step")
        rec("actor.use_kl_loss", "no reference model: nothing pulls π towards π_ref")
        rec("algorithm.use_kl_in_reward", "no reference model")
        return Preset("gvpo-official", "gvpo", obj, b, None, rec.settings(), source=source,
                      summary="official GVPO code: anchored at the rollout policy, no reference model")
    obj = _registry_objective("gvpo", g, "GVPO anchored at π_ref")
    rec("actor.gvpo_beta", "β of the implicit reward β·log(π_θ/π_ref)")
    rec("actor.use_kl_loss", NO_EFFECT + "the GVPO loss itself holds the KL to π_ref")
    rec("algorithm.use_kl_in_reward", NO_EFFECT + "the GVPO loss itself holds the KL to π_ref")
    return Preset("gvpo-paper", "gvpo", obj, b, "beta", rec.settings(), source=source,
                  summary="GVPO as the paper writes it: anchored at π_ref")


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
