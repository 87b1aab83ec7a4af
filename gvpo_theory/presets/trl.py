"""TRL's ``GRPOTrainer`` configuration (``GRPOConfig`` keyword arguments) → :class:`Preset`.

Source: ``trl/trainer/grpo_config.py`` and ``grpo_trainer.py`` at
huggingface/trl@f2cd57710ae345ea6428ae95363267fcf38a3dc8 (docs/frameworks.md).
"""

from __future__ import annotations

from typing import Any

from ._keys import (
    _LENGTH,
    _PLUMBING,
    _RATIO_AT_ONE,
    _REST_POINTS,
    DATASET_POINTER,
    NO_EFFECT,
    _bool,
    _choice,
    _int,
    _optional,
    _real,
    _Record,
    _registry_objective,
    _unknown,
)
from ._preset import Preset

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


