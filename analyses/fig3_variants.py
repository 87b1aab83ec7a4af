"""Figure 3: GRPO variants — reverse- vs direct-KL penalty, population / sample / no std — against β.

Binary question (rewards 1, 0). ``std="population"`` is the paper's eq. (2),
``"sample"`` is ``torch.std`` (TRL, verl), ``"none"`` is Dr. GRPO. Reverse KL is GRPO's
k3 estimator; direct KL is KL(π ‖ π_ref). Direct KL with no std is logarithmic pooling
with β' = G·β/(G − 1) (docs/theory.md §3). With G = ∞ and direct KL the advantage is unbounded
and below some β there is no interior stationary point (GRPO runs to a deterministic
policy); those points are left out of the figure and written as empty in the CSV.
Writes ``fig3_variants.{png,pdf,csv}``.

    python -m analyses.fig3_variants --p-ref 0.3 --group-sizes 2,8,inf
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
    g_key,
    group_sizes,
    progress,
    report,
    save_figure,
    write_csv,
)
from gvpo_theory.plots import variants_figure

NAME = "variants"
STEM = "fig3_variants"

VARIANTS: tuple[tuple[str, str], ...] = tuple(
    (std, penalty) for penalty in ("reverse_kl", "direct_kl") for std in ("population", "sample", "none")
)


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--p-ref", type=float, default=0.3, help="π_ref(a)")
    p.add_argument("--group-sizes", type=group_sizes, default=[2, 8, float("inf")], help="one panel each")
    p.add_argument("--beta-min", type=float, default=1e-2)
    p.add_argument("--beta-max", type=float, default=1e2)
    p.add_argument("--n-beta", type=int, default=161)
    return p.parse_args(argv)


def run(args) -> list[Path]:
    t = Timer()
    beta = np.logspace(np.log10(args.beta_min), np.log10(args.beta_max), args.n_beta)
    curves = np.stack([
        np.stack([binary_stationary(args.p_ref, beta, g, std=std, penalty=pen)[0] for std, pen in VARIANTS])
        for g in args.group_sizes
    ])
    pooling = binary_pooling(args.p_ref, beta)
    progress(NAME, f"solved {curves.size} stationary points, {int(np.isnan(curves).sum())} without an "
                   f"interior stationary point, in {t}")
    cols: dict[str, np.ndarray] = {"beta": beta, "pooling": pooling}
    for g, panel in zip(args.group_sizes, curves):
        for (std, pen), curve in zip(VARIANTS, panel):
            cols[f"{g_key(g)}_{pen}_{std}"] = curve
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    fig = variants_figure(beta, args.group_sizes, VARIANTS, curves, pooling, args.p_ref)
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
