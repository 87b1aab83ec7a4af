"""Figure 1: stationary probability of the better answer against β, GRPO vs logarithmic pooling.

Binary question (rewards 1 for a, 0 for b), reverse-KL (k3) penalty, population std (the
paper's conventions). For each π_ref(a) and group size G the GRPO stationary point solves
π(a)·(1 − P_G(a|π)/β) = π_ref(a) (docs/theory.md §4); logarithmic pooling is
π*(a) ∝ π_ref(a)·e^{1/β}. Writes ``fig1_binary_beta.{png,pdf,csv}``.

    python -m analyses.fig1_binary_beta --p-ref 0.1,0.3,0.6 --group-sizes 2,3,4,8,16,inf
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
from gvpo_theory.plots import binary_vs_beta_figure

NAME = "binary_beta"
STEM = "fig1_binary_beta"


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--p-ref", type=floats, default=[0.1, 0.3, 0.6], help="π_ref(a) values, one panel each")
    p.add_argument("--group-sizes", type=group_sizes, default=[2, 3, 4, 8, 16, float("inf")])
    p.add_argument("--beta-min", type=float, default=1e-2)
    p.add_argument("--beta-max", type=float, default=1e2)
    p.add_argument("--n-beta", type=int, default=161, help="points on the log-spaced β grid")
    return p.parse_args(argv)


def compute(p_ref: Sequence[float], gs: Sequence[float], beta: np.ndarray) -> dict[str, np.ndarray]:
    """π(a) for every (G, π_ref, β) and pooling for every (π_ref, β)."""
    pr = np.asarray(p_ref, dtype=float)[:, None]
    grpo = np.stack([binary_stationary(pr, beta[None, :], g)[0] for g in gs])
    return {"grpo": grpo, "pooling": binary_pooling(pr, beta[None, :])}


def run(args) -> list[Path]:
    t = Timer()
    beta = np.logspace(np.log10(args.beta_min), np.log10(args.beta_max), args.n_beta)
    data = compute(args.p_ref, args.group_sizes, beta)
    unsolved = int(np.isnan(data["grpo"]).sum())
    progress(NAME, f"solved {data['grpo'].size} stationary points ({unsolved} unsolved) in {t}")
    n_pref = len(args.p_ref)
    cols = {"p_ref": np.repeat(args.p_ref, beta.size), "beta": np.tile(beta, n_pref),
            "pooling": data["pooling"].reshape(-1)}
    for g, curve in zip(args.group_sizes, data["grpo"]):
        cols[f"grpo_{g_key(g)}"] = curve.reshape(-1)
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    fig = binary_vs_beta_figure(beta, args.p_ref, args.group_sizes, data["grpo"], data["pooling"])
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
