"""Cost of the torch module's input validation, on CPU with one thread.

Times, interleaved and as the best of many repeats (robust to a loaded machine):

1. the fused GVPO step ``gvpo_sgd_step_`` with ``check_finite=True`` (the default: one sum
   over θ, ref_logp, mean_rewards and one read-back) against ``check_finite=False``;
2. the validation of a group batch alone (``losses._check_group``: metadata checks plus
   the fused finiteness / index-range reduction) against the whole ``gvpo_grad`` call.

Run:

    .venv/bin/python benchmarks/bench_validation.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from gvpo_theory.torch import gvpo_grad, make_bandits
from gvpo_theory.torch.fast import gvpo_sgd_step_
from gvpo_theory.torch.losses import _check_group

SIZES = [(64, 16), (4096, 16), (16384, 16), (16384, 64)]
K_SAMPLES = 8


def best_per_call(fns: list[Callable[[], object]], calls: int, repeats: int) -> list[float]:
    """Best time per call (µs) of each function, timed in alternation."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / calls * 1e6)
    return best


def measure(b: int, k: int, repeats: int) -> tuple[float, float, float, float]:
    """(step with check, step without, validation alone, gvpo_grad) in µs per call."""
    bandits = make_bandits(b, k, dtype=torch.float32, seed=0)
    ref = torch.log_softmax(bandits.ref_logits, -1)
    r = bandits.mean_rewards
    theta = ref.clone()
    gen = torch.Generator().manual_seed(0)
    calls = max(2, 20_000 // b)
    on, off = best_per_call(
        [lambda: gvpo_sgd_step_(theta, ref, r, 1.0, 0.01, K_SAMPLES, gen, check_finite=True),
         lambda: gvpo_sgd_step_(theta, ref, r, 1.0, 0.01, K_SAMPLES, gen, check_finite=False)],
        calls, repeats,
    )
    samples = torch.randint(0, k, (b, K_SAMPLES), generator=gen)
    rewards = torch.rand(b, K_SAMPLES, generator=gen)
    check, grad = best_per_call(
        [lambda: _check_group(theta, samples, rewards, ref),
         lambda: gvpo_grad(theta, samples, rewards, ref, 1.0)],
        calls, repeats,
    )
    return on, off, check, grad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU, 1 thread, float32, k = {K_SAMPLES}, best of {args.repeats}")
    print(f"{'B':>6} {'K':>4} | {'step, check':>12} {'step, no check':>15} {'overhead':>9} | "
          f"{'validation':>11} {'gvpo_grad':>10} {'share':>6}")
    for b, k in SIZES:
        on, off, check, grad = measure(b, k, args.repeats)
        print(f"{b:>6} {k:>4} | {on:>10.1f}us {off:>13.1f}us {100 * (on / off - 1):>8.1f}% | "
              f"{check:>9.1f}us {grad:>8.1f}us {100 * check / grad:>5.1f}%")


if __name__ == "__main__":
    main()
