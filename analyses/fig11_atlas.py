"""Figure 11: what each framework preset converges to on one binary question, against β.

The reference question of docs/atlas.md (π_ref(a) = 0.3, reward 1 for a and 0 for b, G = 8):
for every named setting of :data:`gvpo_theory.presets.PRESETS`, its KL coefficient set to
β, the probability π(a) that its training converges to (:func:`gvpo_theory.presets.atlas`),
beside π*(a) ∝ π_ref(a)·e^{1/β}. One panel per framework; dotted where the answer is a
boundary (no interior rest point: no KL force, or verl's low_var_kl clamp binding).
Writes ``fig11_atlas.{png,pdf,csv}``.

    python -m analyses.fig11_atlas --beta-min 1e-2 --beta-max 1e1 --n-beta 121
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.common import Timer, base_parser, progress, report, save_figure, write_csv
from gvpo_theory import presets
from gvpo_theory.pooling import kl_optimal_policy

NAME = "atlas"
STEM = "fig11_atlas"
PANELS = (("TRL", "trl"), ("verl", "verl"), ("GVPO", "gvpo"))
#: Presets whose curve is another's once β is set (TRL's default is β = 0; at β > 0 it is trl-kl).
SAME_AS = {"trl-default": "trl-kl"}
SAME_AS_LABEL = {v: f"{k} with β set" for k, v in SAME_AS.items()}


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--beta-min", type=float, default=1e-2)
    p.add_argument("--beta-max", type=float, default=1e1)
    p.add_argument("--n-beta", type=int, default=121, help="points on the log-spaced β grid")
    return p.parse_args(argv)


def compute(beta: np.ndarray) -> dict[str, presets.Answer]:
    """Every preset's answer on the reference question over the β grid."""
    return presets.atlas(beta)


def figure(beta: np.ndarray, answers: dict[str, presets.Answer], star: np.ndarray):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.5, 4.4), layout="constrained")
    axes = fig.subplots(1, len(PANELS), sharey=True)
    cmap = matplotlib.colormaps["tab10"]
    for ax, (title, framework) in zip(axes, PANELS):
        names = [n for n, e in presets.PRESETS.items() if e.framework == framework and n not in SAME_AS]
        for i, name in enumerate(names):
            a = answers[name]
            pa = a.policy[:, 0]
            if np.all(np.isnan(pa)):  # no limit known at any β: nothing to draw (docs/atlas.md says why)
                continue
            boundary = np.array([k == "boundary" for k in a.kind])
            col = cmap(i % 10)
            label = name + (f" (= {SAME_AS_LABEL[name]})" if name in SAME_AS_LABEL else "")
            if (~boundary).any():
                ax.plot(beta, np.where(boundary, np.nan, pa), color=col, lw=1.8, label=label)
            if boundary.any():
                ax.plot(beta, np.where(boundary, pa, np.nan), color=col, lw=1.8, ls=":",
                        label=None if (~boundary).any() else label + ", boundary")
        ax.plot(beta, star, color="black", ls="--", lw=1.4, label=r"$\pi^*$ (KL optimum)")
        ax.axhline(0.3, color="grey", ls=":", lw=1.0)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("β, KL coefficient of the setting")
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\pi(a)$ the training converges to ($\pi_{\mathrm{ref}}(a) = 0.3$, G = 8)")
    return fig


def run(args) -> list[Path]:
    t = Timer()
    beta = np.logspace(np.log10(args.beta_min), np.log10(args.beta_max), args.n_beta)
    answers = compute(beta)
    q = presets.REFERENCE_QUESTION
    ref = np.tile(np.asarray(q["pi_ref"], dtype=float), (beta.size, 1))
    star = kl_optimal_policy(ref, np.asarray(q["rewards"]), beta)[:, 0]
    progress(NAME, f"solved {len(answers)} presets x {beta.size} β in {t}")
    cols: dict[str, np.ndarray] = {"beta": beta, "pi_star": star}
    for name, a in answers.items():
        cols[name] = a.policy[:, 0]
        cols[f"{name}_boundary"] = np.array([k == "boundary" for k in a.kind])
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    paths += save_figure(figure(beta, answers, star), args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
