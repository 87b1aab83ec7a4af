"""Framework presets (gvpo_theory.presets) against the frameworks' transcribed losses.

The reference is tests/framework_reference.py: each framework's per-group loss for one-token
outputs, written from docs/frameworks.md, with its exact expected gradient by enumeration
over all K^G ordered groups. Here every preset's answer is checked against those expected
dynamics (independent of the level-space solver):

* an interior answer π is a rest point: max_o |E[∇_θ L](π)| <= 1e-9, with the framework
  setting built in this file from the preset's own keys (not from the preset's objective);
* a boundary answer is one where the transcribed dynamics have no interior rest point:
  the expected update pushes mass towards the rewarded output at every interior π tried.

Then the defaults each framework fills in, bad input (unknown keys, wrong types, what the
framework rejects), the keys with no effect (changing them leaves the answer unchanged),
config files, the CLI, and that docs/atlas.md is current.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from framework_reference import (
    expected_gradient,
    gvpo_paper,
    kl_gradient,
    trl,
    verl_grpo,
    verl_rloo,
)

from gvpo_theory import presets
from gvpo_theory.cli import main
from gvpo_theory.pooling import kl_optimal_policy

ROOT = Path(__file__).resolve().parents[1]
REST = 1e-9

#: Binary (π_ref(a) = 0.3, G = 8, the atlas's question) and a three-output question (G = 4).
QUESTIONS = [
    (np.array([0.3, 0.7]), np.array([1.0, 0.0]), 8),
    (np.array([0.2, 0.5, 0.3]), np.array([1.0, 0.0, 0.5]), 4),
]


def cispo_gradient(pi, ref, rewards, beta, g, eps_high):
    """TRL loss_type="cispo" at θ_old: −clamp(ρ, max=ε_high).detach()·A·log π + β·k3. The
    detached clamp multiplies the policy term by min(1, ε_high) (ρ = 1); the k3 term is TRL's."""
    policy = expected_gradient(trl(), pi, ref, rewards, 0.0, g)
    return min(1.0, eps_high) * policy + beta * kl_gradient("trl_k3", pi, ref)


#: preset name → the transcribed expected gradient at (π, π_ref, r, β, G), built from the
#: framework keys the preset sets (PRESETS[name].args), not from the preset's objective.
TRANSCRIBED = {
    "trl-kl": lambda p, ref, r, b, g: expected_gradient(trl(), p, ref, r, b, g),
    "trl-no-std": lambda p, ref, r, b, g: expected_gradient(trl("none"), p, ref, r, b, g),
    "trl-bias-corrected-kl": lambda p, ref, r, b, g: expected_gradient(
        trl(use_bias_correction_kl=True), p, ref, r, b, g),
    "trl-cispo": lambda p, ref, r, b, g: cispo_gradient(p, ref, r, b, g, eps_high=0.2),
    "verl-k2": lambda p, ref, r, b, g: expected_gradient(verl_grpo(kl_loss_type="k2"), p, ref, r, b, g),
    "verl-no-std": lambda p, ref, r, b, g: expected_gradient(
        verl_grpo(norm_adv_by_std_in_grpo=False, kl_loss_type="k2"), p, ref, r, b, g),
    "verl-rloo": lambda p, ref, r, b, g: expected_gradient(verl_rloo(kl_loss_type="k2"), p, ref, r, b, g),
    "verl-grpo-vectorized": lambda p, ref, r, b, g: expected_gradient(
        verl_grpo(vectorized=True, kl_loss_type="k2"), p, ref, r, b, g),
    "verl-kl-loss": lambda p, ref, r, b, g: expected_gradient(verl_grpo(), p, ref, r, b, g),
    "verl-kl-in-reward": lambda p, ref, r, b, g: expected_gradient(
        verl_grpo(kl_loss_type=None, kl_in_reward="kl"), p, ref, r, b, g),
    "gvpo-paper": lambda p, ref, r, b, g: expected_gradient(gvpo_paper(), p, ref, r, b, g),
    # no KL force: TRL β = 0, verl without a KL term, k1 in the loss, the official GVPO code
    "trl-default": lambda p, ref, r, b, g: expected_gradient(trl(), p, ref, r, b, g),
    "verl-default": lambda p, ref, r, b, g: expected_gradient(verl_grpo(kl_loss_type=None), p, ref, r, b, g),
    "verl-k1": lambda p, ref, r, b, g: expected_gradient(verl_grpo(kl_loss_type="k1"), p, ref, r, b, g),
    "dapo": lambda p, ref, r, b, g: expected_gradient(
        verl_grpo(kl_loss_type=None, filter_groups=True), p, ref, r, b, g),
}


def test_every_preset_has_a_transcription_or_is_the_gvpo_shipped_code():
    assert set(presets.PRESETS) - set(TRANSCRIBED) == {"gvpo-official"}


@pytest.mark.parametrize("name", sorted(TRANSCRIBED))
@pytest.mark.parametrize("beta", [0.3, 1.0])
@pytest.mark.parametrize("question", range(len(QUESTIONS)), ids=["binary", "three"])
def test_interior_answers_are_rest_points_of_the_transcribed_dynamics(name, beta, question):
    ref, rewards, g = QUESTIONS[question]
    p = presets.preset(name).with_group_size(g).with_beta(beta)
    ans = p.solve(ref, rewards)
    if ans.kind[0] != "interior":
        pytest.skip(f"{name} has no interior answer here ({ans.message})")
    assert ans.converged
    grad = TRANSCRIBED[name](ans.policy, ref, rewards, beta, g)
    assert np.max(np.abs(grad)) <= REST, (name, ans.policy, grad)


@pytest.mark.parametrize("name", ["trl-kl", "trl-no-std", "trl-bias-corrected-kl", "trl-cispo", "verl-k2",
                                  "verl-no-std", "verl-rloo", "verl-grpo-vectorized", "verl-kl-in-reward",
                                  "gvpo-paper"])
def test_settings_with_a_kl_force_have_interior_answers(name):
    # the rest-point test above must not pass by skipping: these answer in the interior
    for ref, rewards, g in QUESTIONS:
        ans = presets.preset(name).with_group_size(g).with_beta(1.0).solve(ref, rewards)
        assert ans.kind[0] == "interior" and ans.converged, (name, ans.message)


NO_FORCE = ["trl-default", "verl-default", "verl-k1", "dapo"]


@pytest.mark.parametrize("name", NO_FORCE)
def test_without_a_kl_force_the_transcribed_dynamics_have_no_interior_rest_point(name):
    # E.g. TRL's default β = 0: at every interior π the expected update moves mass to the
    # rewarded output, so the answer can only be the boundary, and the engine says so.
    ref, rewards, g = QUESTIONS[0]
    p = presets.preset(name)
    for pa in (0.05, 0.3, 0.7, 0.99):
        pi = np.array([pa, 1 - pa])
        update = -TRANSCRIBED[name](pi, ref, rewards, p.beta, g)  # ascent direction, the preset's own β
        assert update[0] > 1e-6 and update[1] < -1e-6, (name, pa, update)
    ans = p.solve(ref, rewards)
    assert ans.kind[0] == "boundary" and not ans.converged


def test_gvpo_official_is_rloo_without_a_reference_and_goes_to_the_best_output():
    # Anchored at π_old the implicit reward is 0 at θ_old: the expected update is
    # β·π(o)·(r(o) − E_π r) (docs/frameworks.md), whatever π_ref is; inside the best level
    # each logit moves at π(o)·c(t), so its flow from π_ref ends on the best output with the
    # largest π_ref mass (tests/test_framework_limits.py integrates the transcribed loss).
    p = presets.preset("gvpo-official")
    assert p.beta_key is None and p.beta == 0.1
    ref, rewards = np.array([0.2, 0.5, 0.3]), np.array([1.0, 0.0, 1.0])
    ans = p.solve(ref, rewards)
    assert ans.kind[0] == "boundary"
    np.testing.assert_allclose(ans.policy, [0.0, 0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("name", [
    *NO_FORCE[:3], "dapo",
])
def test_without_a_kl_force_the_answer_is_the_limit_on_the_rewarded_output(name):
    ref, rewards, _ = QUESTIONS[0]
    assert presets.preset(name).solve(ref, rewards).policy[0] == pytest.approx(1.0, abs=1e-9)


def test_verl_low_var_kl_at_its_default_coefficient_is_not_the_k3_point():
    # β = 0.001 and 0.04: at the (unclamped) k3 fixed point the losing output has
    # π_ref/π > 13.61, so verl's clamp binds there and the transcribed update still moves
    # mass to the rewarded output: the preset must not report that point (boundary instead).
    from gvpo_theory import grpo_stationary_policy, objective

    ref, rewards, g = QUESTIONS[0]
    for beta in (0.001, 0.04):
        ans = presets.preset("verl-kl-loss").with_beta(beta).solve(ref, rewards)
        assert ans.kind[0] == "boundary" and not ans.converged
        k3 = grpo_stationary_policy(ref, rewards, beta, objective("kl-loss-k3", g)).policy
        assert k3[1] > 0 and ref[1] / k3[1] > 13.61
        update = -TRANSCRIBED["verl-kl-loss"](k3, ref, rewards, beta, g)
        assert update[0] > 1e-6 and update[1] < -1e-6
        assert not np.allclose(ans.policy, k3)
        np.testing.assert_allclose(ans.policy, [1.0, 0.0], rtol=0, atol=1e-9)  # the losing output → 0


# ------------------------------------------------------------------ defaults and records


def test_trl_defaults_are_filled_in():
    p = presets.from_trl()
    values = {s.key: s.value for s in p.settings}
    assert values["beta"] == 0.0 and values["loss_type"] == "dapo" and values["scale_rewards"] == "group"
    assert values["num_generations"] == 8 and p.group_size == 8
    assert p.objective.advantage.scale == "sample" and p.objective.advantage.eps == 1e-4
    assert p.objective.penalty.name == "none" and p.engine_beta == 0.0
    assert not any(s.given for s in p.settings)
    q = presets.from_trl(beta=0.04, num_generations=16, per_device_train_batch_size=16)
    assert q.objective.penalty.name == "reverse_kl" and q.group_size == 16 and q.beta == 0.04
    given = {s.key for s in q.settings if s.given}
    assert given == {"beta", "num_generations", "per_device_train_batch_size"}


def test_verl_defaults_are_filled_in():
    p = presets.from_verl({"algorithm": {"adv_estimator": "grpo"},
                           "actor_rollout_ref": {"rollout": {"n": 8}}})
    values = {s.key: s.value for s in p.settings}
    assert p.objective.advantage.eps == 1e-6 and p.objective.advantage.scale == "sample"
    assert values["algorithm.norm_adv_by_std_in_grpo"] is True
    assert values["actor_rollout_ref.actor.use_kl_loss"] is False
    assert values["actor_rollout_ref.actor.kl_loss_coef"] == 0.001
    assert values["actor_rollout_ref.actor.kl_loss_type"] == "low_var_kl"
    assert p.beta_key is None and p.objective.penalty.name == "none"
    on = presets.from_verl({"algorithm.adv_estimator": "grpo", "actor_rollout_ref.rollout.n": 8,
                            "actor_rollout_ref.actor.use_kl_loss": True})
    assert on.objective.penalty.name == "low_var_kl" and on.beta == 0.001
    # nested and dotted spellings are the same config
    assert on.objective == presets.from_verl(
        {"algorithm": {"adv_estimator": "grpo"},
         "actor_rollout_ref": {"rollout": {"n": 8}, "actor": {"use_kl_loss": True}}}).objective


def test_with_beta_re_resolves_the_framework_keys():
    assert presets.preset("trl-default").with_beta(0.04).objective == presets.preset("trl-kl").objective
    assert presets.preset("trl-kl").with_beta(0.0).objective == presets.preset("trl-default").objective
    assert presets.preset("verl-default").with_beta(5.0).beta == 0.0  # no KL coefficient to set


def test_cispo_scales_the_policy_term_by_epsilon_high():
    p = presets.from_trl(beta=0.04, loss_type="cispo")
    assert p.policy_scale == pytest.approx(0.2) and p.engine_beta == pytest.approx(0.2)
    assert presets.from_trl(beta=0.04, loss_type="cispo", epsilon_high=5.0).policy_scale == 1.0


def test_sapo_gate_has_slope_one_at_ratio_one():
    # TRL's sapo: σ(τ(ρ − 1))·4/τ; its slope at ρ = 1 is σ'(0)·4 = 1 for every τ, so the
    # gradient at θ_old is the clipped surrogate's (central differences, independent of the claim).
    for tau in (0.3, 1.0, 1.05, 7.0):
        h = 1e-6
        gate = lambda rho, t=tau: 4.0 / t / (1.0 + math.exp(-t * (rho - 1.0)))  # noqa: E731
        assert (gate(1 + h) - gate(1 - h)) / (2 * h) == pytest.approx(1.0, rel=1e-9)
    p = presets.from_trl(beta=0.04, loss_type="sapo")
    assert p.policy_scale == 1.0 and p.objective == presets.preset("trl-kl").objective


@pytest.mark.parametrize(("key", "value"), [
    ("max_completion_length", 4096), ("epsilon", 0.28), ("epsilon_high", 0.4), ("learning_rate", 3e-6),
    ("temperature", 1.0), ("num_iterations", 4), ("loss_type", "grpo"), ("loss_type", "dr_grpo"),
    ("importance_sampling_level", "sequence"), ("mask_truncated_completions", True), ("delta", 2.0),
    ("top_entropy_quantile", 0.2), ("use_vllm", True), ("reward_weights", [1.0, 0.5]),
])
def test_trl_keys_without_effect_are_reported_and_change_nothing(key, value):
    base = presets.from_trl(beta=0.04)
    p = presets.from_trl(beta=0.04, **{key: value})
    record = next(s for s in p.settings if s.key == key)
    assert record.given and record.no_effect and record.effect.startswith(presets.NO_EFFECT), record
    assert p.objective == base.objective and p.engine_beta == base.engine_beta
    ref, rewards, _ = QUESTIONS[1]
    np.testing.assert_array_equal(p.solve(ref, rewards).policy, base.solve(ref, rewards).policy)


@pytest.mark.parametrize(("key", "value"), [
    ("actor_rollout_ref.actor.clip_ratio_high", 0.28),
    ("actor_rollout_ref.actor.loss_agg_mode", "seq-mean-token-sum"),
    ("actor_rollout_ref.actor.ppo_epochs", 4), ("actor_rollout_ref.actor.optim.lr", 1e-6),
    ("trainer.total_epochs", 3), ("data.max_response_length", 2048),
    ("actor_rollout_ref.rollout.name", "vllm"),
    ("algorithm.gamma", 0.99),
])
def test_verl_keys_without_effect_are_reported(key, value):
    cfg = {"algorithm.adv_estimator": "grpo", "actor_rollout_ref.rollout.n": 8}
    base = presets.from_verl(cfg)
    p = presets.from_verl({**cfg, key: value})
    record = next(s for s in p.settings if s.key == key)
    assert record.given and record.no_effect, record
    assert p.objective == base.objective


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("kwargs", "needles"), [
    ({"betaa": 0.04}, ("'betaa'", "accepted:", "beta", "num_generations")),
    ({"beta": "0.04"}, ("beta must be a number",)),
    ({"beta": True}, ("beta must be a number",)),
    ({"beta": -0.1}, ("beta must be >= 0",)),
    ({"num_generations": 1}, ("num_generations must be >= 2",)),
    ({"num_generations": 8.0}, ("num_generations must be an integer",)),
    ({"scale_rewards": "batch"}, ("scale_rewards='batch'", "gvpo_theory.dataset")),
    ({"scale_rewards": "std"}, ("scale_rewards must be one of",)),
    ({"loss_type": "ppo"}, ("loss_type must be one of",)),
    ({"importance_sampling_level": "word"}, ("importance_sampling_level",)),
    ({"sync_ref_model": True}, ("sync_ref_model", "rejected by TRL")),
    ({"auto_find_batch_size": True}, ("auto_find_batch_size",)),
    ({"generation_batch_size": 16, "steps_per_generation": 2},
     ("generation_batch_size", "steps_per_generation")),
    ({"num_generations": 16}, ("num_generations (16) must divide the generation batch (8",)),
    ({"use_bias_correction_kl": "yes"}, ("use_bias_correction_kl must be true or false",)),
    ({"entropy_coef": 0.01}, ("entropy",)),
    ({"top_p": 0.9}, ("top_p",)),
])
def test_trl_bad_input_names_the_key(kwargs, needles):
    with pytest.raises(ValueError) as info:
        presets.from_trl(**kwargs)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


@pytest.mark.parametrize(("extra", "needles"), [
    ({"algorithm.adv_estimatr": "grpo"},
     ("'algorithm.adv_estimatr'", "accepted:", "algorithm.adv_estimator")),
    ({"algorithm.adv_estimator": "gae"}, ("gae", "value model")),
    ({"actor_rollout_ref.rollout.n": 1}, ("actor_rollout_ref.rollout.n must be >= 2",)),
    ({"actor_rollout_ref.rollout.n": "8"}, ("actor_rollout_ref.rollout.n must be an integer",)),
    ({"actor_rollout_ref.actor.clip_ratio_c": 1.0}, ("clip_ratio_c must be > 1",)),
    ({"actor_rollout_ref.actor.kl_loss_type": "k3+", "actor_rollout_ref.actor.use_kl_loss": True},
     ("kl_loss_type='k3+'", "NotImplementedError")),
    ({"actor_rollout_ref.actor.kl_loss_type": "full"}, ("kl_loss_type='full'",)),
    ({"actor_rollout_ref.actor.loss_agg_mode": "mean"}, ("loss_agg_mode must be one of",)),
    ({"algorithm.adv_estimator": "reinforce_plus_plus"}, ("gvpo_theory.dataset",)),
    ({"algorithm.use_kl_in_reward": True, "algorithm.kl_ctrl.type": "adaptive"}, ("adaptive",)),
    ({"algorithm.use_kl_in_reward": True, "actor_rollout_ref.actor.use_kl_loss": True}, ("both",)),
    ({"actor_rollout_ref.actor.use_kl_loss": "True"}, ("use_kl_loss must be true or false",)),
])
def test_verl_bad_input_names_the_key(extra, needles):
    cfg = {"algorithm.adv_estimator": "grpo", "actor_rollout_ref.rollout.n": 8, **extra}
    with pytest.raises(ValueError) as info:
        presets.from_verl(cfg)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_preset_name_and_verl_config_type_errors():
    with pytest.raises(ValueError, match="preset must be one of"):
        presets.preset("trl-defaults")
    with pytest.raises(ValueError, match="config must be a mapping"):
        presets.from_verl(["algorithm.adv_estimator=grpo"])


# ------------------------------------------------------------------ config files


def test_json_config_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"algorithm": {"adv_estimator": "rloo"},
                                "actor_rollout_ref": {"rollout": {"n": 4}},
                                "trainer": {"project_name": "x"}}))
    p = presets.from_verl(path)
    assert p.objective.advantage.baseline == "leave_one_out" and p.group_size == 4
    assert any(s.key == "trainer.project_name" and s.no_effect for s in p.settings)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        presets.from_verl(bad)
    with pytest.raises(ValueError, match="cannot be read"):
        presets.from_verl(tmp_path / "missing.json")


def test_yaml_config_without_pyyaml_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "run.yaml"
    path.write_text("algorithm:\n  adv_estimator: grpo\nactor_rollout_ref:\n  rollout:\n    n: 8\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ModuleNotFoundError
    with pytest.raises(ValueError, match=r"needs PyYAML.*gvpo-theory\[yaml\]"):
        presets.from_verl(path)


@pytest.mark.skipif(importlib.util.find_spec("yaml") is None, reason="PyYAML (the yaml extra) not installed")
def test_yaml_config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("algorithm:\n  adv_estimator: grpo\n  norm_adv_by_std_in_grpo: false\n"
                    "actor_rollout_ref:\n  rollout:\n    n: 8\n")
    assert presets.from_verl(path).objective.advantage.scale == "none"


# ------------------------------------------------------------------ CLI


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_solve_json_names_the_preset_and_every_setting(capsys):
    code, out, err = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0",
                             "--trl", "beta=0.04,num_generations=8", "--preset", "gvpo-paper", "--json")
    assert code == 0, err
    data = json.loads(out)
    names = [r["preset"]["name"] for r in data["runs"]]
    assert names == ["trl", "gvpo-paper"]  # command-line order
    trl_run = data["runs"][0]
    keys = {s["key"]: s for s in trl_run["preset"]["settings"]}
    assert keys["beta"]["value"] == 0.04 and keys["beta"]["given"]
    assert keys["loss_type"]["value"] == "dapo" and not keys["loss_type"]["given"]
    assert keys["max_completion_length"]["effect"].startswith(presets.NO_EFFECT)
    np.testing.assert_allclose(data["runs"][1]["policy"], kl_optimal_policy([0.3, 0.7], [1.0, 0.0], 0.1),
                               rtol=0, atol=1e-15)


def test_cli_verl_config_and_overrides(capsys, tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"algorithm": {"adv_estimator": "grpo"}, "actor_rollout_ref": {
        "rollout": {"n": 8}, "actor": {"use_kl_loss": True, "kl_loss_type": "k2", "kl_loss_coef": 0.5}}}))
    code, out, err = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--verl-config",
                             str(path), "--verl",
                             "algorithm.adv_estimator=rloo,actor_rollout_ref.rollout.n=4",
                             "--json")
    data = json.loads(out)
    # command-line order: --verl-config first
    assert data["runs"][1]["preset"]["baseline"] == "leave_one_out" and data["runs"][1]["kind"] == "boundary"
    assert data["runs"][0]["preset"]["beta"] == 0.5 and data["runs"][0]["preset"]["penalty"] == "direct_kl"
    assert data["runs"][0]["converged"]
    assert code == 0, err  # a boundary (no KL force) is reported as such, not as a failure


@pytest.mark.parametrize(("argv", "needles"), [
    (("--trl", "beta=0.04,foo=1"), ("error: unknown GRPOConfig key 'foo'", "accepted:")),
    (("--trl", "beta"), ("--trl takes KEY=VALUE pairs",)),
    (("--trl", "scale_rewards=batch"), ("gvpo_theory.dataset",)),
    (("--verl", "algorithm.adv_estimator=grpo"), ("actor_rollout_ref.rollout.n must be >= 2",)),
    (("--preset", "nope"), ("preset must be one of",)),
    (("--preset", "trl-kl", "--std", "sample"), ("--std do not combine",)),
])
def test_cli_bad_framework_input_is_one_error_line(capsys, argv, needles):
    code, _, err = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", *argv)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_cli_solve_without_beta_or_preset_says_what_is_missing(capsys):
    code, _, err = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--group-size", "8")
    assert code == 2 and "--beta is required" in err


# The page's "as configured" column solves verl-kl-in-reward at kl_coef 0.001, where π*'s
# losing mass underflows to 0 and frameworks.stationary_point's residual meets 0·inf (a
# RuntimeWarning; the row then reads "not verified"). This test checks only that the page
# is current, so that warning is not an error here.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_atlas_page_is_current():
    spec = importlib.util.spec_from_file_location("render_atlas", ROOT / "docs" / "render_atlas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "atlas.md").read_text() == module.render(), (
        "docs/atlas.md is stale: run .venv/bin/python docs/render_atlas.py")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="verify needs torch")
def test_cli_verify_trains_a_preset_to_the_engine_answer(capsys):
    code, out, err = run_cli(capsys, "verify", "--quick", "--contexts", "4", "--arms", "3", "--mode",
                             "expected", "--trl", "beta=1.0,num_generations=4", "--quiet", "--device", "cpu",
                             "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["settings"]["beta"] == 1.0 and data["settings"]["group_size"] == 4
    assert all(r["passed"] for r in data["runs"]) and [r["method"] for r in data["runs"]] == ["grpo"]
    code, _, err = run_cli(capsys, "verify", "--quick", "--preset", "verl-default", "--quiet",
                           "--device", "cpu")
    assert code == 2 and "not trained by gvpo_theory.torch" in err
