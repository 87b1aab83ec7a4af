"""Figure 2: stationary probability of the better answer against π_ref(a) at fixed β, and GRPO − pooling.

Binary question with deterministic rewards (confidence margin γ = 1), reverse-KL (k3)
penalty, population std. The bottom row is the difference between GRPO's stationary
π(a) and logarithmic pooling π*(a) ∝ π_ref(a)·e^{1/β}: where the two ways of aggregating
the reward preference with the prior disagree, and by how much. Writes
``fig2_binary_pref.{png,pdf,csv}``.

    python -m analyses.fig2_binary_pref --betas 0.3,1,3 --group-sizes 2,8,inf
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.common import (
    Timer,
    base_parser,
    binary_pooling,
    binary_stationary,
    floats,
    g_key,
    group_sizes,
    progress,
    report,
    save_figure,
    write_csv,
)
from gvpo_theory.plots import binary_vs_reference_figure

NAME = "binary_pref"
STEM = "fig2_binary_pref"


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--betas", type=floats, default=[0.3, 1.0, 3.0], help="β values, one column each")
    p.add_argument("--group-sizes", type=group_sizes, default=[2, 4, 8, float("inf")])
    p.add_argument("--n-pref", type=int, default=199, help="points on the π_ref(a) grid in (0, 1)")
    return p.parse_args(argv)


def run(args) -> list[Path]:
    t = Timer()
    p_ref = np.linspace(0.0, 1.0, args.n_pref + 2)[1:-1]
    b = np.asarray(args.betas, dtype=float)[:, None]
    grpo = np.stack([binary_stationary(p_ref[None, :], b, g)[0] for g in args.group_sizes])
    pooling = binary_pooling(p_ref[None, :], b)
    progress(NAME, f"solved {grpo.size} stationary points ({int(np.isnan(grpo).sum())} unsolved) in {t}")
    cols = {"beta": np.repeat(args.betas, p_ref.size), "p_ref": np.tile(p_ref, len(args.betas)),
            "pooling": pooling.reshape(-1)}
    for g, curve in zip(args.group_sizes, grpo):
        cols[f"grpo_{g_key(g)}"] = curve.reshape(-1)
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    fig = binary_vs_reference_figure(p_ref, args.betas, args.group_sizes, grpo, pooling)
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
