"""Figure 7: noisy (Bernoulli) rewards — stationary probability of the better answer against β/γ.

Output a scores 1 with probability s_a, output b with probability s_b (a flaky
verifier). The confidence margin (Vojnovic & Yun, arXiv 2502.18548, §2.3.1) is
γ = P(r_a > r_b) − P(r_b > r_a) = s_a − s_b. At G = 2, P_2(a|π) = γ·(1 − π(a)), so the
reverse-KL stationary point solves π(a)² + (β/γ − 1)·π(a) − (β/γ)·π_ref(a) = 0 (the
paper's eq. (14)) and depends on β and γ only through β/γ: the curves collapse. For
larger G the group std sees the noise itself (the mixture's variance), and the curves
separate. Reverse-KL (k3) penalty, population std, exact P_G for stochastic rewards
(docs/theory.md §4b). Writes ``fig7_margin.{png,pdf,csv}``.

    python -m analyses.fig7_margin --p-ref 0.3 --group-sizes 2,8,inf
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.common import (
    Timer,
    base_parser,
    g_key,
    group_sizes,
    progress,
    report,
    save_figure,
    write_csv,
)
from gvpo_theory import RewardDistribution, grpo_stationary_policy
from gvpo_theory.plots import margin_figure

NAME = "margin"
STEM = "fig7_margin"

#: (s_a, s_b): success probabilities of the better and the worse answer; margins 1, 0.6, 0.3, 0.1.
#: (0.3, 0) is a strict verifier that rarely passes even the better answer.
PAIRS: tuple[tuple[float, float], ...] = ((1.0, 0.0), (0.8, 0.2), (0.3, 0.0), (0.55, 0.45))


def parse_args(argv: Sequence[str] | None = None):
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--p-ref", type=float, default=0.3, help="π_ref(a)")
    p.add_argument("--group-sizes", type=group_sizes, default=[2, 8, float("inf")], help="one panel each")
    p.add_argument("--x-min", type=float, default=1e-2, help="smallest β/γ")
    p.add_argument("--x-max", type=float, default=1e2, help="largest β/γ")
    p.add_argument("--n-x", type=int, default=61, help="points on the log-spaced β/γ grid")
    return p.parse_args(argv)


def margin(s_a: float, s_b: float) -> float:
    """γ = s_a(1 − s_b) − s_b(1 − s_a) = s_a − s_b for independent Bernoulli rewards."""
    return s_a * (1.0 - s_b) - s_b * (1.0 - s_a)


def stationary_vs_ratio(p_ref: float, x: np.ndarray, group_size: float, s_a: float, s_b: float) -> np.ndarray:
    """GRPO's stationary π(a) at β = x·γ for Bernoulli rewards (s_a, s_b); NaN where unsolved."""
    beta = x * margin(s_a, s_b)
    pi_ref = np.broadcast_to([p_ref, 1.0 - p_ref], (x.size, 2))
    # success probabilities of exactly 0 or 1 are deterministic rewards: pass them as such
    certain = s_a in (0.0, 1.0) and s_b in (0.0, 1.0)
    rewards = np.array([s_a, s_b]) if certain else RewardDistribution.bernoulli([s_a, s_b])
    res = grpo_stationary_policy(pi_ref, rewards, beta, group_size)
    return np.where(res.converged, res.policy[:, 0], np.nan)


def run(args) -> list[Path]:
    x = np.logspace(np.log10(args.x_min), np.log10(args.x_max), args.n_x)
    curves = np.empty((len(args.group_sizes), len(PAIRS), x.size))
    for i, g in enumerate(args.group_sizes):
        t = Timer()
        for k, (s_a, s_b) in enumerate(PAIRS):
            curves[i, k] = stationary_vs_ratio(args.p_ref, x, g, s_a, s_b)
        progress(NAME, f"G = {g}: {len(PAIRS) * x.size} stationary points with noisy rewards in {t}")
    cols: dict[str, np.ndarray] = {"beta_over_margin": x}
    for g, panel in zip(args.group_sizes, curves):
        for (s_a, s_b), curve in zip(PAIRS, panel):
            cols[f"{g_key(g)}_sa{s_a:g}_sb{s_b:g}"] = curve
    paths = [write_csv(args.out / f"{STEM}.csv", cols)]
    labels = [f"s = ({s_a:g}, {s_b:g}), γ = {margin(s_a, s_b):.2g}" for s_a, s_b in PAIRS]
    fig = margin_figure(x, args.group_sizes, labels, curves, args.p_ref)
    paths += save_figure(fig, args.out, STEM)
    report(paths)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
