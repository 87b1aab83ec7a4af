"""Speed of the exact engine, printed as figures with the command that repeats them.

    make bench            # or: .venv/bin/python benchmarks/bench_engine.py [--repeat N]

Measures (targets in BENCHMARKS.md, 2-core CPU):
1. binary rewards, K = 10^6 outputs, G = 1024: one stationary solve (< 100 ms);
2. a grid of 10^4 (beta, p_ref) binary problems at G = 8, one vectorised call (< 1 s);
3. the exact solve against the obvious alternatives — integrating the expected GRPO
   dynamics with a stiff ODE solver, and fixed-step expected gradient ascent (what a
   training loop does in expectation, without sampling noise) — each run until its
   policy is within 1e-6 of the exact answer; the speed-up is reported side by side;
4. a three-level problem (general Newton path) and P_G by enumeration for L = 4, G = 64.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable

import numpy as np

import gvpo_theory as gt
from gvpo_theory.dynamics import expected_gradient_ascent, grpo_expected_update, grpo_flow


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Best wall time over ``repeat`` runs (after one warm-up), and the last result."""
    out = fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare_with_dynamics(
    name: str, ref: np.ndarray, rew: np.ndarray, beta: float, g: int, repeat: int
) -> float:
    """Print one row of [3]; return the ODE integration time. All three timed alike: the best
    of ``repeat`` runs after one warm-up."""
    t_exact, sol = best_time(lambda: gt.grpo_stationary_policy(ref, rew, beta, g), repeat)
    target = sol.policy
    t_flow, flow = best_time(lambda: grpo_flow(ref, rew, beta, g, tol=1e-9, rtol=1e-9, atol=1e-12),
                             repeat)
    err_flow = float(np.max(np.abs(flow.policy - target)))

    def update(p: np.ndarray) -> np.ndarray:
        return grpo_expected_update(p, ref, rew, beta, g)

    # the largest stable step for plain ascent is about 1/(beta + max|P_G|)
    lr = 1.0 / (beta + math.sqrt(g))
    t_ga, (pol, steps, _) = best_time(
        lambda: expected_gradient_ascent(update, ref, learning_rate=lr, tol=1e-8, max_steps=2_000_000),
        repeat,
    )
    err_ga = float(np.max(np.abs(pol - target)))
    ok = "" if max(err_flow, err_ga) <= 1e-6 else f"  (errors {err_flow:.1e}, {err_ga:.1e})"
    print(f"    {name:<34} {t_exact * 1e3:>8.2f}ms {t_flow * 1e3:>8.1f}ms "
          f"{t_flow / t_exact:>7.0f}x {t_ga * 1e3:>10.1f}ms {t_ga / t_exact:>7.0f}x"
          f"  ({steps} steps){ok}")
    return t_flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("command: .venv/bin/python benchmarks/bench_engine.py")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    print()

    # 1. K = 10^6 binary, G = 1024.
    k = 10**6
    rng = np.random.default_rng(0)
    logits = rng.normal(size=k)
    pi_ref = np.exp(logits - logits.max())
    pi_ref /= pi_ref.sum()
    rewards = (rng.random(k) < 0.3).astype(float)
    t, res = best_time(lambda: gt.grpo_stationary_policy(pi_ref, rewards, 0.1, 1024), args.repeat)
    print(f"[1] binary rewards, K = 10^6, G = 1024, beta = 0.1: {t * 1e3:.1f} ms per solve "
          f"(target < 100 ms); residual {float(res.residual):.1e}, converged {bool(res.converged)}")

    # 2. 10^4 (beta, p_ref) grid at G = 8.
    betas = np.logspace(-3, 3, 100)
    prefs = np.linspace(0.005, 0.995, 100)
    bb, pp = np.meshgrid(betas, prefs, indexing="ij")
    pi_grid = np.stack([pp.ravel(), 1.0 - pp.ravel()], axis=-1)
    t_grid, res = best_time(
        lambda: gt.grpo_stationary_policy(pi_grid, [1.0, 0.0], bb.ravel(), 8), args.repeat
    )
    print(f"[2] grid of {bb.size} (beta, p_ref) binary problems, G = 8: {t_grid * 1e3:.1f} ms per call "
          f"(target < 1 s); max residual {float(res.residual.max()):.1e}, "
          f"all converged {bool(res.converged.all())}")

    # 3. Exact solve vs running the dynamics until it settles (accuracy 1e-6).
    print("[3] exact solve vs running the expected GRPO dynamics to within 1e-6 of the answer")
    print(f"    {'problem':<34} {'exact':>10} {'ODE flow':>10} {'x':>8} {'grad ascent':>12} {'x':>8}")
    problems = [
        ("binary p_ref=0.3, beta=1, G=8", [0.3, 0.7], [1.0, 0.0], 1.0, 8),
        ("binary p_ref=0.3, beta=0.05, G=64", [0.3, 0.7], [1.0, 0.0], 0.05, 64),
        ("3 levels, beta=0.5, G=16", [0.2, 0.3, 0.5], [0.0, 1.0, 3.0], 0.5, 16),
    ]
    flow_times = []
    for name, ref, rew, beta, g in problems:
        flow_times.append(compare_with_dynamics(name, np.asarray(ref), np.asarray(rew), beta, g,
                                                args.repeat))
    per_problem = t_grid / bb.size
    print(f"    amortised over the 10^4-problem grid of [2]: {per_problem * 1e6:.1f} us per problem, "
          f"{min(flow_times) / per_problem:,.0f}x to {max(flow_times) / per_problem:,.0f}x faster "
          "than one ODE integration")

    # 4. General paths.
    t, res = best_time(
        lambda: gt.grpo_stationary_policy([0.2, 0.3, 0.5], [0.0, 1.0, 3.0], 1e-3, 64), args.repeat
    )
    print(f"[4] 3 levels, beta = 1e-3, G = 64 (Newton + continuation): {t * 1e3:.1f} ms, "
          f"residual {float(res.residual):.1e}")
    pi4 = np.array([0.1, 0.2, 0.3, 0.4])
    t, _ = best_time(lambda: gt.preference_model(pi4, [0.0, 1.0, 2.0, 5.0], 64), args.repeat)
    print(f"    P_G by enumeration, L = 4 levels, G = 64 ({math.comb(66, 3)} terms): {t * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
