"""Render docs/api.md from the package's docstrings, so the API page cannot drift.

    .venv/bin/python docs/render_api.py            # rewrite docs/api.md
    .venv/bin/python docs/render_api.py --check    # exit 1 if docs/api.md is stale
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

#: (module, public names) in the order the page lists them.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gvpo_theory.pooling", ("kl_optimal_policy", "kl_optimal_log_policy", "kl_divergence")),
    ("gvpo_theory.preference", ("preference_model", "level_advantages", "preference_model_mc",
                                "advantage_table")),
    ("gvpo_theory.stationary", ("grpo_stationary_policy", "StationaryResult")),
    ("gvpo_theory.approximate", ("approximate_stationary_policy", "ApproximateStationaryResult")),
    ("gvpo_theory.fixed_points", ("stationary_points", "StationaryPoints", "StationaryPoint",
                                  "beta_branches", "BetaBranch")),
    ("gvpo_theory.limits", ("flow_limit", "FlowLimit", "beta_zero_limit", "BetaZeroLimit",
                            "within_level_distribution", "flow_path")),
    ("gvpo_theory.line_limits", ("line_limits", "LineLimits")),
    ("gvpo_theory.objective", ("objective", "Objective", "Advantage", "as_objective")),
    ("gvpo_theory.frameworks", ("expected_update", "stationary_point", "gvpo_rollout_iterates")),
    ("gvpo_theory.presets", ("from_trl", "from_verl", "from_gvpo", "preset", "Preset", "atlas")),
    ("gvpo_theory.problem", ("RewardDistribution",)),
    ("gvpo_theory.dynamics", ("grpo_expected_update", "gvpo_expected_update", "grpo_flow",
                              "gvpo_flow", "integrate_flow", "expected_gradient_ascent")),
    ("gvpo_theory.binary", ("stationary_g2", "stationary_ginf", "stationary", "logarithmic_pooling",
                            "confidence_margin", "stationary_margin", "lower_bound")),
    ("gvpo_theory.dataset", ("Dataset", "predict", "Prediction", "solve_batch_std", "BatchStdSolution",
                             "read_pass_rates_csv", "read_rollouts_jsonl", "pass_rate_interval")),
    ("gvpo_theory.torch.bandits", ("make_bandits", "Bandits")),
    ("gvpo_theory.torch.samplers", ("sample_categorical", "make_sampler", "OnPolicySampler",
                                    "FixedSampler", "MixtureSampler", "ReplaySampler", "SupportWarning")),
    ("gvpo_theory.torch.losses", ("gvpo_weights", "gvpo_loss", "gvpo_grad", "gvpo_expected_grad",
                                  "grpo_advantages", "grpo_loss", "grpo_grad", "grpo_expected_grad")),
    ("gvpo_theory.torch.framework_losses", ("framework_loss", "framework_grad",
                                            "framework_expected_grad")),
    ("gvpo_theory.torch.batch_losses", ("batch_std_advantages", "batch_scale", "batch_std_loss",
                                        "batch_std_grad")),
    ("gvpo_theory.torch.dataset_training", ("train_prompts", "TrainedPrompts", "compare",
                                            "Comparison")),
    ("gvpo_theory.torch.fast", ("gvpo_sgd_step_",)),
    ("gvpo_theory.torch.trainer", ("verify", "RunResult", "VerifyReport", "restricted_optimum")),
)

OUT = Path(__file__).resolve().parent / "api.md"


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `docs/render_api.py`; a test fails if this page is",
        "stale. Everything is numpy in, numpy out; `import gvpo_theory as gt`.",
        "",
    ]
    for module_name, names in SECTIONS:
        module = importlib.import_module(module_name)
        lines += [f"## `{module_name}`", ""]
        doc = inspect.getdoc(module) or ""
        lines += [doc.split("\n\n")[0], ""]
        for name in names:
            obj = getattr(module, name)
            try:
                sig = str(inspect.signature(obj))
            except (TypeError, ValueError):
                sig = "(...)"
            kind = "class " if inspect.isclass(obj) else ""
            lines += [f"### `{kind}{name}{sig}`", "", "```text", inspect.getdoc(obj) or "", "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/api.md is stale: run .venv/bin/python docs/render_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
