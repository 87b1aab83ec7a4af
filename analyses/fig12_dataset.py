"""Figure 12: a training set of prompts — accuracy and pass@k after training, and who is held back.

A set of binary prompts with reference pass rates drawn from Beta(a, b) (default
Beta(0.7, 1.2): many hard prompts, some easy), G = 8. Left: mean accuracy (pass@1) after
training against β for GRPO as in the paper (population std), GRPO as TRL/verl compute it
(sample std, 10⁻⁴ added to the std), TRL's scale_rewards="batch" (one std over the whole
batch: the coupled fixed point), Dr. GRPO, RLOO and GVPO (π*). Middle: pass@8 and pass@64.
Right: each prompt's effective regularisation at one β against its difficulty p_ref, for
group std, batch std and no std: β_eff/β, where β_eff = 1/(logit π(a) − logit p_ref) is the
β at which π* lands where the objective lands (1 for GVPO; above 1: held back more than π*).
β > 0 throughout: the frameworks' default β = 0 has no regularised fixed point to compare
here. Writes
``fig12_dataset.{png,pdf,csv}``.

    python -m analyses.fig12_dataset --prompts 2000 --beta-ratio 0.5
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from analyses.common import Timer, base_parser, progress, report, save_figure, write_csv
from gvpo_theory.dataset import Dataset, predict
from gvpo_theory.objective import objective
from gvpo_theory.plots import BETA_LABEL

NAME = "dataset"
STEM = "fig12_dataset"
G = 8

#: (key, legend label, method, normalisation, colour, line style)
METHODS: tuple[tuple[str, str, object, str, str, str], ...] = (
    ("gvpo", "GVPO (π*)", "gvpo", "group", "#000000", "--"),
    ("grpo_paper", "GRPO, paper (population std)", objective("grpo", G), "group", "#0072b2", "-"),
    ("grpo_trl", "GRPO as TRL/verl (sample std + 1e-4)", objective("grpo-sample", G, eps=1e-4),
     "group", "#cc79a7", "-"),
    ("grpo_batch", "TRL scale_rewards='batch'", objective("grpo-sample", G), "batch-trl", "#009e73", "-"),
    ("dr_grpo", "Dr. GRPO (no std)", objective("dr-grpo", G), "group", "#d55e00", "-"),
    ("rloo", "RLOO", objective("rloo", G), "group", "#e69f00", ":"),
)


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=2000, help="prompts drawn from the Beta distribution")
    p.add_argument("--a", type=float, default=0.7, help="Beta(a, b) of the pass rates")
    p.add_argument("--b", type=float, default=1.2, help="Beta(a, b) of the pass rates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-beta", type=int, default=25, help="points on the log-spaced β grid")
    p.add_argument("--beta-ratio", type=float, default=0.5, help="β of the right panel")
    return p.parse_args(argv)


def run(args) -> list[Path]:
    rng = np.random.default_rng(args.seed)
    p = np.sort(rng.beta(args.a, args.b, size=args.prompts))
    ds = Dataset.from_pass_rates(p)
    betas = np.logspace(-3, 1, args.n_beta)
    cols: dict[str, np.ndarray] = {"beta": betas}
    t = Timer()
    for key, _label, method, norm, _c, _ls in METHODS:
        acc, p8, p64 = (np.empty(betas.size) for _ in range(3))
        for j, beta in enumerate(betas):
            s = predict(ds, beta, method, None if not isinstance(method, str) else G,
                        normalisation=norm).summary
            acc[j], p8[j], p64[j] = s["mean_accuracy"], s["pass@8"], s["pass@64"]
        cols[f"{key}_accuracy"], cols[f"{key}_pass8"], cols[f"{key}_pass64"] = acc, p8, p64
    progress(NAME, f"{len(METHODS)} methods × {betas.size} β × {ds.size} prompts in {t}")
    ref8 = float(np.mean(1 - (1 - p) ** 8))
    ref64 = float(np.mean(1 - (1 - p) ** 64))
    inner = (p > 1e-9) & (p < 1 - 1e-9)
    ratios = {
        "group std (TRL/verl)": predict(ds, args.beta_ratio, objective("grpo-sample", G, eps=1e-4)),
        "batch std (TRL 'batch')": predict(ds, args.beta_ratio, objective("grpo-sample", G),
                                           normalisation="batch-trl"),
        "no std (Dr. GRPO)": predict(ds, args.beta_ratio, objective("dr-grpo", G)),
    }
    sigma = ratios["batch std (TRL 'batch')"].batch.sigma
    ratios = {k: v.effective_beta / args.beta_ratio for k, v in ratios.items()}
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    paths.append(write_csv(args.out / f"{STEM}_ratio.csv",
                           {"p_ref": p, **{"beta_eff_over_beta_" + k.split(" (")[0].replace(" ", "_"): v
                                           for k, v in ratios.items()}}))

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    ax = axes[0]
    for key, label, _m, _n, colour, ls in METHODS:
        ax.plot(betas, cols[f"{key}_accuracy"], ls, color=colour, label=label, lw=1.8)
    ax.axhline(float(np.mean(p)), color="#8c8c8c", ls=":", lw=1.2, label="reference (π_ref)")
    ax.set(xscale="log", xlabel=BETA_LABEL, ylabel="mean accuracy (pass@1) after training",
           title=f"(a) mean accuracy, {ds.size} prompts, p_ref ~ Beta({args.a:g}, {args.b:g})")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    for key, _label, _m, _n, colour, ls in METHODS:
        ax.plot(betas, cols[f"{key}_pass8"], ls, color=colour, lw=1.8)
        ax.plot(betas, cols[f"{key}_pass64"], ls, color=colour, lw=1.0, alpha=0.6)
    ax.axhline(ref8, color="#8c8c8c", ls=":", lw=1.2)
    ax.axhline(ref64, color="#8c8c8c", ls=":", lw=0.8)
    ax.text(betas[0], ref8, "π_ref pass@8", ha="left", va="bottom", fontsize=8, color="#555555")
    ax.text(betas[0], ref64, "π_ref pass@64", ha="left", va="top", fontsize=8, color="#555555")
    ax.set(xscale="log", xlabel=BETA_LABEL, ylabel="mean pass@k after training",
           title="(b) pass@8 (thick) and pass@64 (thin)")
    ax = axes[2]
    for (label, r), colour in zip(ratios.items(), ("#cc79a7", "#009e73", "#d55e00")):
        if label.startswith("batch"):
            label += f", σ_B = {sigma:.3f}"
        ax.plot(p[inner], r[inner], color=colour, lw=1.8, label=label)
    ax.axhline(1.0, color="#000000", ls="--", lw=1.0, label="GVPO (π*): β_eff = β")
    ax.set(yscale="log", xlabel="p_ref: reference pass rate of the prompt (hard → easy)",
           ylabel="β_eff / β  (above 1: held back more than π*)",
           title=f"(c) effective β per prompt, β = {args.beta_ratio:g}, G = {G}")
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0)
             if min(np.nanmin(r[inner]) for r in ratios.values()) * 0.9 <= t
             <= max(np.nanmax(r[inner]) for r in ratios.values()) * 1.1]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=8, loc="upper left")
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
