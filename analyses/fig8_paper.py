"""Figure 8: Vojnovic & Yun's three binary-question figures, regenerated as one.

Stationary probability of the better answer π(a) against π_ref(a), deterministic rewards
r(a) = 1, r(b) = 0 (γ = 1, so β/γ = β), population std, exact engine answers:

* left  — their Fig. 1: G = 2, reverse-KL (k3) penalty, one curve per β/γ (eq. (14));
* middle — their Fig. 2: G = ∞, reverse KL, one curve per β (eq. (15));
* right — their Fig. 3: G = 2 with the direct KL, one curve per β/γ (logarithmic pooling).

The paper's own parameter values are not restated here; the β/γ and β values are chosen to span
greedy (0.1) to near-π_ref (3) behaviour and are the script's defaults (flags below). Writes
``fig8_paper.{png,pdf,csv}``; the CSV holds probabilities rounded to 6 decimals (plot precision;
the engine's answers agree with the closed forms to ~1e-12, docs/theory.md).

    python -m analyses.fig8_paper --ratios 0.1,0.3,1,3 --betas 0.3,1,3
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.common import (
    Timer,
    base_parser,
    binary_stationary,
    floats,
    progress,
    report,
    save_figure,
    write_csv,
)
from gvpo_theory.plots import paper_figure

NAME = "paper"
STEM = "fig8_paper"
#: Decimals of the probabilities written to the CSV.
DECIMALS = 6


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--ratios", type=floats, default=[0.1, 0.3, 1.0, 3.0],
                   help="β/γ values of the G = 2 panels (γ = 1)")
    p.add_argument("--betas", type=floats, default=[0.3, 1.0, 3.0], help="β values of the G = ∞ panel")
    p.add_argument("--n-pref", type=int, default=199, help="points on the π_ref(a) grid in (0, 1)")
    return p.parse_args(argv)


def curves(p_ref: np.ndarray, values: Sequence[float], group_size: float, penalty: str) -> np.ndarray:
    """Stationary π(a) for each β in ``values`` over the π_ref(a) grid, shape (len(values), n)."""
    out = np.empty((len(values), p_ref.size))
    for k, beta in enumerate(values):
        out[k], conv = binary_stationary(p_ref, beta, group_size, penalty=penalty)
        if not np.all(conv):
            raise RuntimeError(f"no stationary point for β = {beta:g}, G = {group_size}, {penalty}")
    return out


def run(args) -> list[Path]:
    if args.n_pref < 2:
        raise ValueError(f"--n-pref must be >= 2; got {args.n_pref}")
    p_ref = np.linspace(0.0, 1.0, args.n_pref + 2)[1:-1]
    t = Timer()
    g2 = curves(p_ref, args.ratios, 2, "reverse_kl")
    ginf = curves(p_ref, args.betas, math.inf, "reverse_kl")
    direct = curves(p_ref, args.ratios, 2, "direct_kl")
    n = (2 * len(args.ratios) + len(args.betas)) * p_ref.size
    progress(NAME, f"{n} stationary points (G = 2, ∞; reverse and direct KL) in {t}")
    cols: dict[str, np.ndarray] = {"p_ref": np.round(p_ref, 9)}
    for s, y in zip(args.ratios, g2):
        cols[f"G2_reverse_kl_ratio{s:g}"] = np.round(y, DECIMALS)
    for b, y in zip(args.betas, ginf):
        cols[f"Ginf_reverse_kl_beta{b:g}"] = np.round(y, DECIMALS)
    for s, y in zip(args.ratios, direct):
        cols[f"G2_direct_kl_ratio{s:g}"] = np.round(y, DECIMALS)
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    fig = paper_figure(p_ref, args.ratios, g2, args.betas, ginf, direct)
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
