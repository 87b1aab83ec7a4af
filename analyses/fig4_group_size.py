"""Figure 4: convergence of GRPO's stationary point in the group size, |π_G(a) − π_∞(a)| against G.

Binary question, reverse-KL (k3) penalty, population std. π_G(a) solves
π(a)·(1 − P_G(a|π)/β) = π_ref(a) with the exact P_G (G-term binomial sum, docs/theory.md §4);
π_∞(a) is the large-group closed form. The preference model's gap to G = ∞ shrinks
like 1/G (docs/theory.md §2), and so does the stationary point's: the curves run parallel to
the 1/G reference slope on log–log axes. Where :mod:`gvpo_theory.symbolic` is present,
its derived first-order correction p_G ≈ p_∞ + c/G, c = −1/(8(β·sqrt(p_∞(1 − p_∞)) + p_∞ − ½))
(``symbolic.large_group.large_group_correction``), is overlaid as |c|/G (dashed) and
written as ``c_over_G_*`` columns. Writes ``fig4_group_size.{png,pdf,csv}``.

    python -m analyses.fig4_group_size --g-max 10000
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
    progress,
    report,
    save_figure,
    write_csv,
)
from gvpo_theory.plots import REF, group_size_figure

NAME = "group_size"
STEM = "fig4_group_size"

#: (β, π_ref(a)) of each curve.
CASES: tuple[tuple[float, float], ...] = ((0.5, 0.3), (1.0, 0.3), (1.0, 0.1), (2.0, 0.7))


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--g-max", type=int, default=10_000, help="largest group size")
    p.add_argument("--n-g", type=int, default=30, help="log-spaced group sizes from 2 to --g-max")
    p.add_argument("--no-correction", action="store_true", help="omit the derived c/G overlay")
    return p.parse_args(argv)


def group_size_grid(g_max: int, n: int) -> np.ndarray:
    """Distinct integers, log-spaced from 2 to ``g_max``."""
    return np.unique(np.round(np.logspace(np.log10(2), np.log10(g_max), n)).astype(np.int64))


def derived_corrections(p_inf: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
    """c of p_G = p_∞ + c/G + O(1/G²) from the symbolic derivation; None where sympy's module is absent."""
    try:
        import sympy as sp

        from gvpo_theory.symbolic.binary import p as p_symbol
        from gvpo_theory.symbolic.large_group import large_group_correction
        from gvpo_theory.symbolic.objective import beta as beta_symbol
    except ImportError:
        return None
    c = sp.lambdify((p_symbol, beta_symbol), large_group_correction("population"), "numpy")
    return np.asarray(c(p_inf, beta), dtype=float)


def case_label(beta: float, p_ref: float) -> str:
    return f"β = {beta:g}, {REF}(a) = {p_ref:g}"


def run(args) -> list[Path]:
    t = Timer()
    beta = np.array([c[0] for c in CASES])
    p_ref = np.array([c[1] for c in CASES])
    gs = group_size_grid(args.g_max, args.n_g)
    p_inf, conv_inf = binary_stationary(p_ref, beta, math.inf)
    p_g = np.stack([binary_stationary(p_ref, beta, int(g))[0] for g in gs], axis=1)  # (cases, G)
    if not conv_inf.all() or np.isnan(p_g).any():
        raise RuntimeError("a stationary point did not converge; the gaps would be meaningless")
    gap = p_g - p_inf[:, None]
    progress(NAME, f"solved {p_g.size + p_inf.size} stationary points for G = 2..{gs[-1]} in {t}")
    corrections = None if args.no_correction else derived_corrections(p_inf, beta)
    progress(NAME, "no symbolic 1/G correction available: reference slope only" if corrections is None
             else f"derived 1/G coefficients c = {', '.join(f'{c:.4f}' for c in corrections)} ({t})")
    cols: dict[str, np.ndarray] = {"group_size": gs}
    for k, ((b, pr), row) in enumerate(zip(CASES, gap)):
        cols[f"gap_beta{b:g}_pref{pr:g}"] = row
        if corrections is not None:
            cols[f"c_over_G_beta{b:g}_pref{pr:g}"] = corrections[k] / gs
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    gaps = {case_label(b, pr): np.abs(row) for (b, pr), row in zip(CASES, gap)}
    coefficients = None if corrections is None else {
        case_label(b, pr): float(c) for (b, pr), c in zip(CASES, corrections)}
    fig = group_size_figure(gs, gaps, coefficients)
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
