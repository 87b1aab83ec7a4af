"""verl's PPO trainer configuration (nested or dotted keys, or a YAML/JSON file) → :class:`Preset`.

Sources: ``verl/trainer/config/_generated_ppo_trainer.yaml``, ``algorithm.py`` and
``verl/trainer/ppo/core_algos.py`` at volcengine/verl@b178a3cd56f58b2d502255daba591e92833930a7;
the DAPO recipe's ``algorithm.filter_groups`` (docs/frameworks.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..problem import _describe
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

#: verl's group-size key.
ROLLOUT_N = "actor_rollout_ref.rollout.n"



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


