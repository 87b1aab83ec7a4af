"""Dataset-level predictions at scale: 10^6 binary prompts, time and peak memory on one core.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_dataset.py [--prompts N]

Each case runs in a fresh subprocess (so its peak resident memory is its own) and times one
call of :func:`gvpo_theory.dataset.predict` — every prompt's stationary policy, pass@1/8/64,
KL, tie shares, π*, movement ratio and effective β — after building the dataset (not timed).
Pass rates: Beta(0.7, 1.2), continuous (all distinct), or k/16 counts with a Clopper–Pearson
interval (17 distinct values, each solved once, plus the interval ends). Target: 10^6 prompts
in under 5 s and under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

#: (label, method, normalisation, counts?)
CASES: tuple[tuple[str, str, str, bool], ...] = (
    ("GVPO (pi*)", "gvpo", "group", False),
    ("Dr. GRPO (no std, closed form)", "dr-grpo", "group", False),
    ("RLOO (no std, closed form)", "rloo", "group", False),
    ("TRL batch std (coupled fixed point)", "grpo-sample", "batch-trl", False),
    ("GRPO sample std (engine)", "grpo-sample", "group", False),
    ("GRPO population std (engine)", "grpo", "group", False),
    ("GRPO sample std, k/16 counts + interval", "grpo-sample", "group", True),
)


def run_case(index: int, prompts: int, beta: float, g: int) -> dict:
    from gvpo_theory.dataset import Dataset, predict

    _, method, norm, counts = CASES[index]
    rng = np.random.default_rng(0)
    p = rng.beta(0.7, 1.2, size=prompts)
    if counts:
        ds = Dataset.from_counts(rng.binomial(16, p), np.full(prompts, 16))
    else:
        ds = Dataset.from_pass_rates(p)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    pred = predict(ds, beta, method, g, normalisation=norm)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds, "peak_rss_mib": rss / 1024, "rss_before_mib": rss_before / 1024,
        "mean_accuracy": pred.summary["mean_accuracy"], "converged": bool(np.all(pred.converged)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10**6)
    parser.add_argument("--beta", type=float, default=0.04)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.prompts, args.beta, args.group_size)))
        return
    print(f"# {args.prompts} binary prompts, beta = {args.beta}, G = {args.group_size}; "
          f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"CPUs allowed: {len(os.sched_getaffinity(0))}")
    print(f"{'case':<42}{'time s':>9}{'peak RSS MiB':>14}{'mean acc':>11}  converged")
    for i, (label, *_rest) in enumerate(CASES):
        out = subprocess.run(
            [sys.executable, __file__, "--case", str(i), "--prompts", str(args.prompts),
             "--beta", str(args.beta), "--group-size", str(args.group_size)],
            check=True, capture_output=True, text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{label:<42}{r['seconds']:>9.2f}{r['peak_rss_mib']:>14.0f}{r['mean_accuracy']:>11.6f}"
              f"  {r['converged']}", flush=True)
    print("command: OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_dataset.py"
          + (f" --prompts {args.prompts}" if args.prompts != 10**6 else ""))


if __name__ == "__main__":
    main()
