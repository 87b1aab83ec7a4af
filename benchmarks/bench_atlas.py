"""Speed of the atlas: every framework preset on one binary question over a 10³-point β grid.

    .venv/bin/python benchmarks/bench_atlas.py [--n-beta 1000] [--repeat 3]

The reference question of docs/atlas.md (π_ref(a) = 0.3, rewards (1, 0), G = 8); every
named setting of ``gvpo_theory.presets.PRESETS`` with its KL coefficient set to each β of a
log-spaced grid on [1e-3, 10] (:func:`gvpo_theory.presets.atlas`). Target: under 5 s on one
core. BLAS is held to one thread; the figure is the best of ``--repeat`` runs after a
warm-up on a 10-point grid, with the time per preset of the best run.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from gvpo_theory import presets  # noqa: E402

TARGET_S = 5.0


def run_once(beta: np.ndarray) -> tuple[float, dict[str, float], dict[str, presets.Answer]]:
    per: dict[str, float] = {}
    answers: dict[str, presets.Answer] = {}
    start = time.perf_counter()
    for name in presets.PRESETS:
        t = time.perf_counter()
        answers.update(presets.atlas(beta, names=(name,)))
        per[name] = time.perf_counter() - t
    return time.perf_counter() - start, per, answers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-beta", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    beta = np.geomspace(1e-3, 10.0, args.n_beta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run_once(beta[:: max(1, beta.size // 10)])  # warm-up on a coarse grid: caches, imports
        best, best_per, answers = math.inf, {}, {}
        for _ in range(args.repeat):
            total, per, answers = run_once(beta)
            if total < best:
                best, best_per = total, per
    n_points = sum(a.policy.shape[0] for a in answers.values())
    print(f"atlas: {len(answers)} presets x {beta.size} β (G = 8, π_ref(a) = 0.3) = {n_points} answers")
    verdict = "met" if best < TARGET_S else "MISSED"
    print(f"  best of {args.repeat}: {best:.2f} s  (target < {TARGET_S:g} s: {verdict})")
    slowest = max(best_per, key=best_per.__getitem__)
    print(f"  without the slowest ({slowest}): {best - best_per[slowest]:.2f} s")
    for name, t in sorted(best_per.items(), key=lambda kv: -kv[1]):
        a = answers[name]
        inner = sum(k == "interior" for k in a.kind)
        kinds = f"{inner} interior, {len(a.kind) - inner} boundary"
        print(f"  {name:<22} {1e3 * t:8.1f} ms   {kinds}")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, BLAS threads 1")
    print(f"command: taskset -c 0 .venv/bin/python benchmarks/bench_atlas.py --n-beta {args.n_beta} "
          f"--repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
