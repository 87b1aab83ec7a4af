"""Robustness scan: random reverse-KL problems whose best reward level has a tiny reference
mass (1e-13 … 1e-10), where 1 − P/β at the answer is ~1e-12 and some β-paths fold.

Prints how many problems the engine fails to verify (converged=False), how many take over a
second, and the total time. Repeat with

    .venv/bin/python benchmarks/scan_edge_cases.py [--problems 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gvpo_theory import grpo_stationary_policy


def main(argv: list[str] | None = None) -> tuple[int, int, int]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    failed = slow = done = 0
    start = time.perf_counter()
    while done < args.problems:
        k = int(rng.integers(3, 6))
        rewards = rng.integers(0, 4, k).astype(float)
        if np.unique(rewards).size < 3:
            continue
        pi_ref = rng.dirichlet(np.ones(k))
        pi_ref[np.argmax(rewards)] = 10 ** rng.uniform(-13, -10)
        pi_ref /= pi_ref.sum()
        beta = 10 ** rng.uniform(-2, 1)
        group_size = (2, 3, 5, 8, 16, math.inf)[int(rng.integers(6))]
        std = ("population", "sample", "none")[int(rng.integers(3))]
        t = time.perf_counter()
        res = grpo_stationary_policy(pi_ref, rewards, beta, group_size, std=std)
        slow += time.perf_counter() - t > 1.0
        done += 1
        if not bool(res.converged):
            failed += 1
            print(f"not converged: pi_ref={pi_ref.tolist()} r={rewards.tolist()}", beta, group_size, std)
    total = time.perf_counter() - start
    print(f"{failed} of {done} not converged, {slow} took > 1 s, {total:.1f} s in all")
    print(
        "repeat: .venv/bin/python benchmarks/scan_edge_cases.py",
        f"--problems {args.problems} --seed {args.seed}",
    )
    return failed, slow, done


if __name__ == "__main__":
    main()
