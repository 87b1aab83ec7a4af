"""Figure 6: a multi-output question with several reward levels — π_ref, π* and GRPO's stationary policy.

K outputs with graded rewards (several outputs share a level). π* ∝ π_ref·exp(r/β) is
logarithmic pooling (the RLHF and GVPO optimum). GRPO's stationary policy re-weights
π_ref level by level, π(o) = π_ref(o)/(1 − P_G(o|π)/β), solved in the L level masses
(docs/theory.md §3); reverse-KL (k3) penalty, population std. Writes
``fig6_multi_output.{png,pdf,json}``.

    python -m analyses.fig6_multi_output --beta 0.5 --group-sizes 2,8,inf
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.common import (
    Timer,
    base_parser,
    floats,
    g_key,
    group_sizes,
    progress,
    report,
    save_figure,
    write_json,
)
from gvpo_theory import grpo_stationary_policy, kl_divergence, kl_optimal_policy
from gvpo_theory.plots import PALETTE, REF, group_label, grpo_color, multi_output_figure

NAME = "multi_output"
STEM = "fig6_multi_output"


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--rewards", type=floats, default=[1.0, 0.8, 0.8, 0.4, 0.0, 0.0], help="r(o) per output")
    p.add_argument("--pi-ref", type=floats, default=[0.05, 0.10, 0.15, 0.25, 0.25, 0.20],
                   help="reference policy (sums to 1)")
    p.add_argument("--beta", type=float, default=0.5)
    p.add_argument("--group-sizes", type=group_sizes, default=[2, 8, float("inf")])
    return p.parse_args(argv)


def run(args) -> list[Path]:
    t = Timer()
    rewards = np.asarray(args.rewards, dtype=float)
    pi_ref = np.asarray(args.pi_ref, dtype=float)
    if rewards.shape != pi_ref.shape:
        raise ValueError(f"--rewards has {rewards.size} entries but --pi-ref has {pi_ref.size}")
    pi_star = kl_optimal_policy(pi_ref, rewards, args.beta)
    policies = {REF: pi_ref, "π* (log. pooling; RLHF, GVPO)": pi_star}
    colors = {REF: PALETTE["pi_ref"], "π* (log. pooling; RLHF, GVPO)": PALETTE["kl_optimal"]}
    record: dict[str, object] = {"rewards": rewards, "pi_ref": pi_ref, "beta": args.beta,
                                 "kl_optimal": pi_star, "std": "population", "penalty": "reverse_kl"}
    for g in args.group_sizes:
        res = grpo_stationary_policy(pi_ref, rewards, args.beta, g)
        if not bool(res.converged):
            raise RuntimeError(f"GRPO stationary point did not converge for G = {g}")
        label = f"GRPO, {group_label(g)}"
        policies[label], colors[label] = res.policy, grpo_color(g)
        # the residual (~1e-16) is rounding noise that differs across machines: not committed
        record[f"grpo_{g_key(g)}"] = {"policy": res.policy, "converged": True,
                                      "kl_from_kl_optimal": float(kl_divergence(pi_star, res.policy))}
    progress(NAME, f"solved {len(args.group_sizes)} stationary policies over {np.unique(rewards).size} "
                   f"reward levels in {t}")
    # legend labels carry each policy's expected reward, the quantity the methods trade off against KL
    shown = {f"{k}: E[r] = {float(v @ rewards):.3f}": v for k, v in policies.items()}
    shown_colors = {f"{k}: E[r] = {float(v @ rewards):.3f}": colors[k] for k, v in policies.items()}
    paths = [write_json(args.out / f"{STEM}.json", record)]
    fig = multi_output_figure(rewards, shown, shown_colors,
                              title=f"{rewards.size} outputs, {np.unique(rewards).size} reward levels, "
                                    f"β = {args.beta:g} (reverse KL, population std)")
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
