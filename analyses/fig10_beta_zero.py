"""Figure 10: β = 0 — the best level's within-level distribution and its entropy along the flow.

Without a KL term every GRPO-family objective sends all mass to the best reward level, but
inside it the logit of output o moves at rate π(o)·P_B, the same P_B for the whole level:
richer outputs grow faster, so the within-level distribution ρ leaves π_ref's restriction
along the curve ρ(o) ∝ ρ₀(o)/(1 − λρ₀(o)) and ends on the output with the largest start
mass (docs/theory.md §8). Left: ρ along the expected flow (GRPO, G = 8) against flow time,
with π_ref's restriction (t = 0) and the limit (t → ∞). Middle: its entropy for three
objectives — one curve of distributions, travelled at different speeds. Right: the approach
laws, the losing mass against the derived π(losers)·t → N/((1 + N/n*)·|a*|) (G = 8, Dr. GRPO)
and π(losers)·t² → 4D·N/((1 + N/n*)²·d) (G = ∞), dashed. Writes
``fig10_beta_zero.{png,pdf,csv}``.

    python -m analyses.fig10_beta_zero --t-max 1e14
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analyses.common import Timer, base_parser, progress, report, save_figure, write_csv
from gvpo_theory import beta_zero_limit, objective
from gvpo_theory.limits import flow_path
from gvpo_theory.plots import PALETTE, REF

NAME = "beta_zero"
STEM = "fig10_beta_zero"

#: Four outputs on the best level (reward 1), two losing ones (reward 0).
PI_REF = np.array([0.12, 0.09, 0.06, 0.03, 0.35, 0.35])
REWARDS = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
BEST = REWARDS == REWARDS.max()

#: (key, objective name, G, label, colour) of the three objectives compared.
CASES: tuple[tuple[str, str, float, str, str], ...] = (
    ("grpo_G8", "grpo", 8, "GRPO, G = 8", PALETTE["grpo_G8"]),
    ("grpo_Ginf", "grpo", math.inf, "GRPO, G = ∞", PALETTE["grpo_Ginf"]),
    ("dr_grpo_G8", "dr-grpo", 8, "Dr. GRPO, G = 8", PALETTE["std_none"]),
)


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--t-min", type=float, default=1e-2, help="first flow time on the log grid")
    p.add_argument("--t-max", type=float, default=1e14, help="last flow time")
    p.add_argument("--n-t", type=int, default=241, help="points on the log-spaced time grid")
    return p.parse_args(argv)


def within(policies: np.ndarray) -> np.ndarray:
    """ρ = π restricted to the best level and normalised, for each row."""
    return policies[:, BEST] / policies[:, BEST].sum(axis=1, keepdims=True)


def entropy(rho: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rho > 0, rho * np.log(np.where(rho > 0, rho, 1.0)), 0.0)
    return np.maximum(-terms.sum(axis=-1), 0.0)


def figure(t: np.ndarray, paths: dict[str, np.ndarray], laws: dict[str, tuple[float, int]]) -> Figure:
    """Three panels: ρ along the flow, its entropy, the losing mass against the derived law."""
    fig = Figure(figsize=(14.0, 4.4), layout="constrained")
    ax_rho, ax_h, ax_law = fig.subplots(1, 3)
    rho_ref = PI_REF[BEST] / PI_REF[BEST].sum()
    shades = ("#0d0887", "#7e03a8", "#cc4778", "#f89540")
    rho = within(paths["grpo_G8"])
    for j in range(rho.shape[1]):
        ax_rho.plot(t, rho[:, j], color=shades[j], lw=1.8,
                    label=rf"$o_{j + 1}$: {REF} share {rho_ref[j]:.1f}")
        ax_rho.plot([t[0]], [rho_ref[j]], marker="o", color=shades[j], ms=6, clip_on=False)
        ax_rho.plot([t[-1]], [1.0 if j == 0 else 0.0], marker="s", color=shades[j], ms=6,
                    clip_on=False, mfc="white")
    ax_rho.set_xscale("log")
    ax_rho.set_ylim(-0.02, 1.02)
    ax_rho.set_xlabel("flow time t (learning rate × steps)")
    ax_rho.set_ylabel(r"within-level share $\rho(o) = \pi(o)/\pi(B)$")
    ax_rho.set_title("inside the best level B, GRPO G = 8\n"
                     r"dots: $\pi_{\mathrm{ref}}$ restricted to B; squares: limit $t \to \infty$",
                     fontsize=10)
    ax_rho.legend(fontsize=8, loc="center right")
    h_ref = float(entropy(rho_ref))
    for key, _name, _g, label, colour in CASES:
        ax_h.plot(t, entropy(within(paths[key])), color=colour, lw=1.8, label=label)
    ax_h.axhline(h_ref, color=PALETTE["pi_ref"], ls=":", lw=1.5,
                 label=f"{REF} restricted to B: {h_ref:.3f} nats")
    ax_h.set_xscale("log")
    ax_h.set_yscale("log")
    ax_h.set_ylim(1e-20, 5.0)
    ax_h.set_xlabel("flow time t")
    ax_h.set_ylabel(r"entropy of $\rho$ (nats; limit log n* = 0)")
    ax_h.set_title("one curve of distributions at different speeds\n"
                   r"tail $\propto t^{-\gamma}\log t$: $\gamma$ = 2/3 (G = 8, Dr. GRPO), 4/3 (G = ∞)",
                   fontsize=10)
    ax_h.legend(fontsize=8, loc="lower left")
    for key, _name, _g, label, colour in CASES:
        lose = paths[key][:, ~BEST].sum(axis=1)
        ax_law.plot(t, lose, color=colour, lw=3.0, alpha=0.6, label=label)
        coef, power = laws[key]
        tail = t > 1e2
        ax_law.plot(t[tail], coef / t[tail] ** power, color="black", ls="--", lw=0.9,
                    label="derived law" if key == CASES[0][0] else None)
    ax_law.set_xscale("log")
    ax_law.set_yscale("log")
    ax_law.set_xlabel("flow time t")
    ax_law.set_ylabel(r"mass outside the best level, $1 - \pi(B)$")
    ax_law.set_title(r"approach: derived laws $c/t$ and $c/t^2$ dashed", fontsize=10)
    ax_law.legend(fontsize=8, loc="lower left")
    for ax in (ax_rho, ax_h, ax_law):
        ax.grid(True, which="major", alpha=0.3)
    return fig


def run(args) -> list[Path]:
    t = np.concatenate([[0.0], np.logspace(math.log10(args.t_min), math.log10(args.t_max), args.n_t)])
    paths: dict[str, np.ndarray] = {}
    laws: dict[str, tuple[float, int]] = {}
    cols: dict[str, np.ndarray] = {"t": t}
    for key, name, g, _label, _colour in CASES:
        timer = Timer()
        obj = objective(name, g)
        paths[key] = flow_path(PI_REF, REWARDS, 0.0, obj, t)
        lim = beta_zero_limit(PI_REF, REWARDS, obj)
        laws[key] = (float(np.nansum(lim.loser_coefficient)), lim.loser_power)
        rho = within(paths[key])
        for j in range(rho.shape[1]):
            cols[f"{key}_rho{j + 1}"] = rho[:, j]
        cols[f"{key}_entropy"] = entropy(rho)
        cols[f"{key}_losing_mass"] = paths[key][:, ~BEST].sum(axis=1)
        progress(NAME, f"{key}: flow to t = {args.t_max:.0e} in {timer}; limit {lim.law}")
    out = [write_csv(args.out / f"{STEM}.csv", cols)]
    out += save_figure(figure(t[1:], {k: v[1:] for k, v in paths.items()}, laws), args.out, STEM)
    report(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
