"""Numerical kernels against the engine paths they would replace (medians after warm-up).

    .venv/bin/python benchmarks/bench_kernels.py           # every row below
    .venv/bin/python benchmarks/bench_kernels.py --full    # adds L = 11 at G = 256 (~1 min)

Each row prints the median of >= 5 timed calls after one warm-up call, for the new kernel and
for today's engine path on the same input, and the largest difference between their answers.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy.stats import binom
from timing import fmt, median_time

from gvpo_theory import _scalar, binary
from gvpo_theory._threads import blas_controlled, blas_threads
from gvpo_theory.binomial import binary_preference
from gvpo_theory.lattice import lattice_cost, lattice_level_advantages
from gvpo_theory.preference import level_advantages, n_terms
from gvpo_theory.stationary import grpo_stationary_policy

CMD = ".venv/bin/python benchmarks/bench_kernels.py"


def row(case: str, new: float, old: float | None, diff: float | None, old_label: str = "") -> None:
    old_s = "refused" if old is None else fmt(old)
    ratio = "" if old is None else f"{old / new:.0f}×" if old / new >= 10 else f"{old / new:.1f}×"
    d = "—" if diff is None else f"{diff:.1e}"
    print(f"| {case} | {fmt(new)} | {old_s}{(' ' + old_label) if old_label else ''} | {ratio} | {d} |")


def bench_scalar() -> None:
    p, b, g = 0.3, 1.0, 8
    x_new = _scalar.binary_stationary(p, b, g)[0]
    x_old = float(binary.stationary(p, b, g))
    row("one binary solve, p_ref = 0.3, β = 1, G = 8 (validated, residual checked): "
        "`_scalar.binary_stationary` vs `binary.stationary`",
        median_time(lambda: _scalar.binary_stationary(p, b, g), 21),
        median_time(lambda: binary.stationary(p, b, g)), abs(x_new - x_old))
    pi_ref = np.array([p, 1 - p])
    rewards = np.array([1.0, 0.0])
    res = grpo_stationary_policy(pi_ref, rewards, b, g)
    row("the same, against `grpo_stationary_policy` (K = 2)",
        median_time(lambda: _scalar.binary_stationary(p, b, g), 21),
        median_time(lambda: grpo_stationary_policy(pi_ref, rewards, b, g)), abs(x_new - res.policy[0]))
    row("`_scalar.g2` vs `binary.stationary_g2` (scalars)",
        median_time(lambda: _scalar.g2(p, b), 51), median_time(lambda: binary.stationary_g2(p, b), 21),
        abs(_scalar.g2(p, b) - float(binary.stationary_g2(p, b))))
    row("`_scalar.ginf` vs `binary.stationary_ginf` (scalars)",
        median_time(lambda: _scalar.ginf(p, b), 51), median_time(lambda: binary.stationary_ginf(p, b), 21),
        abs(_scalar.ginf(p, b) - float(binary.stationary_ginf(p, b))))


def bench_lattice(full: bool) -> None:
    cases = [(5, 32), (8, 16), (11, 16), (11, 64), (11, 128)]
    if full:
        cases.append((11, 256))
    for n_lev, g in cases:
        levels = np.arange(float(n_lev))
        m = np.random.default_rng(0).dirichlet(np.ones(n_lev))
        reps = 5
        rng = np.random.default_rng(1)
        # a fresh m each call: the kernel memoises its last few m
        def fresh(rng=rng, n_lev=n_lev, levels=levels, g=g):
            return lattice_level_advantages(rng.dirichlet(np.ones(n_lev)), levels, g)

        t_new = median_time(fresh, reps)
        a_new = lattice_level_advantages(m, levels, g)
        terms = n_terms(g, n_lev)
        cost = lattice_cost(levels, g)
        if terms <= 2_000_000:
            t_old = median_time(partial(level_advantages, m, levels, g), reps)
            diff = float(np.abs(a_new - level_advantages(m, levels, g)).max())
        else:
            t_old, diff = None, None
        row(f"P_G, L = {n_lev} levels 0..{n_lev - 1}, G = {g}: lattice DP ({cost.updates:.2g} cell updates) "
            f"vs enumeration ({terms:.3g} count vectors)", t_new, t_old, diff)


def bench_binomial() -> None:
    for g in (10**4, 10**5, 10**6):
        p = 0.3
        n = g - 1
        k = np.arange(n + 1)

        def old(k=k, n=n, p=p, g=g):
            pmf = binom.pmf(k, n, p)  # what preference.composition_pmf evaluates for G > 257
            t1 = k + 1.0
            a1 = np.where(t1 < g, (g - t1) / np.sqrt(t1 * np.maximum(g - t1, 1.0)), 0.0)
            return pmf @ a1

        a1_new = binary_preference(p, g)[1]
        row(f"two-level a_1, p = 0.3, G = {g:.0e}: windowed saddle-point pmf vs `binom.pmf` over all G terms",
            median_time(partial(binary_preference, p, g)), median_time(old), abs(float(a1_new) - old()))


def bench_threads() -> None:
    if not blas_controlled():
        print("| BLAS thread control | no OpenBLAS found: rows skipped | | | |")
        return
    levels = np.arange(11.0)
    from gvpo_theory.lattice import _advantage_grid, _distribution, find_lattice

    lat = find_lattice(levels)
    for g in (16, 64):
        m = np.full((1, 11), 1 / 11)
        grid = _advantage_grid(lat.k, 1.0, g, g - 1, "population", 0.0, "mean")
        dist = _distribution(m, lat, g - 1).reshape(1, -1)

        def one(dist=dist, grid=grid):
            with blas_threads(1):
                return dist @ grid.T

        row(f"(1 × {dist.shape[1]}) @ ({dist.shape[1]} × 11) product of the lattice kernel, G = {g}: "
            "1 BLAS thread vs default threads", median_time(one, 15),
            median_time(partial(np.matmul, dist, grid.T), 15),
            float(np.abs(one() - dist @ grid.T).max()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="add L = 11 at G = 256 (about a minute)")
    args = ap.parse_args()
    print(f"# {CMD}{' --full' if args.full else ''}")
    print(f"# numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"medians of >= 5 calls after one warm-up")
    print("| case | new kernel | engine path today | speed-up | max |Δ answer| |")
    print("|---|---|---|---|---|")
    bench_scalar()
    bench_binomial()
    bench_lattice(args.full)
    bench_threads()
    if not math.isfinite(time.perf_counter()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
