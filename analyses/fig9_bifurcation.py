"""Figure 9: bifurcation diagrams — every stationary point against β, stable and unstable.

Stationary level masses traced in β by pseudo-arclength continuation
(:func:`gvpo_theory.fixed_points.beta_branches`), through the folds (saddle-node points,
marked) where a stable and an unstable branch meet and vanish; stable = every eigenvalue
of the expected flow's Jacobian negative (solid), unstable dashed. Left: a binary
question with the direct KL penalty (π_ref(a) = 0.3, population std) at G = ∞ — below the
fold there is no interior stationary point and the flow runs to π(a) = 1 — and at
G = 128, whose bounded advantages close the branch again (two folds). Right: three reward
levels (0, ½, 1) with π_ref = (0.5, 0.3, 0.2), direct KL at G = ∞: the mass of the best
level. Writes ``fig9_bifurcation.{png,pdf,csv}``.

    python -m analyses.fig9_bifurcation --beta-min 0.3 --beta-max 30
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analyses.common import Timer, base_parser, progress, report, save_figure, write_csv
from gvpo_theory.fixed_points import BetaBranch, beta_branches
from gvpo_theory.plots import PALETTE, PNG_DPI, REF

NAME = "bifurcation"
STEM = "fig9_bifurcation"


@dataclass(frozen=True)
class Case:
    """One curve: the problem, its legend label, colour and panel."""

    key: str
    panel: int
    label: str
    colour: str
    pi_ref: tuple[float, ...]
    rewards: tuple[float, ...]
    group_size: float
    width: float = 1.8


CASES: tuple[Case, ...] = (
    Case("binary_G128", 0, "G = 128", PALETTE["case_1"], (0.3, 0.7), (1.0, 0.0), 128, 3.4),
    Case("binary_Ginf", 0, "G = ∞", PALETTE["grpo_Ginf"], (0.3, 0.7), (1.0, 0.0), math.inf),
    Case("three_levels_Ginf", 1, "G = ∞", PALETTE["case_2"], (0.5, 0.3, 0.2), (0.0, 0.5, 1.0), math.inf),
)


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--beta-min", type=float, default=0.3)
    p.add_argument("--beta-max", type=float, default=30.0)
    return p.parse_args(argv)


def compute(beta_min: float, beta_max: float) -> dict[str, tuple[BetaBranch, ...]]:
    """Every branch of every case (direct KL, population std)."""
    return {c.key: beta_branches(c.pi_ref, c.rewards, beta_min, beta_max, c.group_size, penalty="direct_kl")
            for c in CASES}


def best_mass(case: Case, masses: np.ndarray) -> np.ndarray:
    """Mass of the best reward level (levels are sorted increasingly)."""
    return masses[:, -1]


def _segments(beta: np.ndarray, y: np.ndarray, stable: np.ndarray):
    """Runs of equal stability, each extended by one point so the runs join."""
    start = 0
    for i in range(1, beta.size + 1):
        if i == beta.size or stable[i] != stable[start]:
            stop = min(i + 1, beta.size)
            yield beta[start:stop], y[start:stop], bool(stable[start])
            start = i


def _panel(ax: Axes, cases: Sequence[Case], data: dict[str, tuple[BetaBranch, ...]], beta_range) -> None:
    for case in cases:
        for br in data[case.key]:
            y = best_mass(case, br.level_masses)
            for b, yy, stable in _segments(br.beta, y, br.stable):
                ax.plot(b, yy, color=case.colour, lw=case.width, ls="-" if stable else "--")
            for fb, fm in zip(br.fold_beta, br.fold_masses):
                ax.plot([fb], [fm[-1]], "o", ms=6, mfc="white", mec=case.colour, mew=1.6, zorder=5)
    ax.set_xscale("log")
    ax.set_yscale("logit")
    ax.set_xlim(*beta_range)
    ax.set_xlabel("β, KL coefficient (reward units per nat)", fontsize=9)
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=9)


def _fold_handles(cases: Sequence[Case], data: dict[str, tuple[BetaBranch, ...]]) -> list[Line2D]:
    """One legend entry per case listing its folds' β."""
    out = []
    for c in cases:
        betas = ", ".join(f"{b:.4g}" for br in data[c.key] for b in br.fold_beta)
        out.append(Line2D([], [], ls="", marker="o", mfc="white", mec=c.colour, mew=1.6,
                          label=f"fold, {c.label}: β = {betas}"))
    return out


def figure(data: dict[str, tuple[BetaBranch, ...]], beta_range: tuple[float, float]) -> Figure:
    fig = Figure(figsize=(11.0, 4.3), dpi=PNG_DPI, layout="constrained")
    left, right = fig.subplots(1, 2)
    _panel(left, [c for c in CASES if c.panel == 0], data, beta_range)
    left.text(0.02, 0.97, "↑ the vertex π(a) = 1 attracts at G = ∞ for every β\n"
              "  (and repels at G = 128)", transform=left.transAxes, va="top", fontsize=8)
    left.axhline(0.3, color=PALETTE["pi_ref"], ls=":", lw=1.2)
    left.set_ylabel("stationary π(a), the better answer (logit scale)", fontsize=9)
    left.set_title(f"binary question, direct KL, {REF}(a) = 0.3", fontsize=10)
    handles = [Line2D([], [], color=c.colour, lw=c.width, label=c.label) for c in CASES if c.panel == 0]
    left.set_ylim(0.25, 1.0 - 1e-9)
    _panel(right, [c for c in CASES if c.panel == 1], data, beta_range)
    right.set_ylabel("stationary mass of the best level (logit scale)", fontsize=9)
    right.set_title(f"three levels (0, ½, 1), direct KL, G = ∞, {REF} = (0.5, 0.3, 0.2)", fontsize=10)
    style = [Line2D([], [], color="black", lw=1.8, ls="-", label="stable (attractor)"),
             Line2D([], [], color="black", lw=1.8, ls="--", label="unstable"),
             Line2D([], [], color=PALETTE["pi_ref"], ls=":", label=REF)]
    left.legend(handles=handles + style + _fold_handles(CASES[:2], data), fontsize=8,
                loc="center right", frameon=False)
    right.axhline(0.2, color=PALETTE["pi_ref"], ls=":", lw=1.2)
    right.set_ylim(0.15, 1.0 - 1e-6)
    right.legend(handles=style[:2] + _fold_handles(CASES[2:], data), fontsize=8, loc="center right",
                 frameon=False)
    return fig


def run(args) -> list[Path]:
    t = Timer()
    beta_range = (args.beta_min, args.beta_max)
    data = compute(*beta_range)
    n_folds = sum(br.fold_beta.size for brs in data.values() for br in brs)
    progress(NAME, f"traced {sum(len(v) for v in data.values())} branches, {n_folds} folds, in {t}")
    cols: dict[str, list] = {"case": [], "branch": [], "beta": [], "best_level_mass": [], "rate": [],
                             "stable": [], "fold": []}
    for case in CASES:
        for i, br in enumerate(data[case.key]):
            rows = [(b, m, r, s, 0) for b, m, r, s in zip(br.beta, best_mass(case, br.level_masses),
                                                           br.rate, br.stable)]
            rows += [(b, m[-1], math.nan, False, 1) for b, m in zip(br.fold_beta, br.fold_masses)]
            for b, m, r, s, f in rows:
                for key, val in zip(cols, (case.key, i, b, m, r, s, f)):
                    cols[key].append(val)
    paths = [write_csv(args.out / f"{STEM}.csv", {k: np.asarray(v) for k, v in cols.items()})]
    paths += save_figure(figure(data, beta_range), args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
