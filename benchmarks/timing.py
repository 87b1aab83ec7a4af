"""Timing helpers shared by the benchmark scripts: a median after a warm-up, and a unit-aware format."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], reps: int = 7) -> float:
    """Median wall time of ``reps`` calls of ``fn`` in seconds, after one warm-up call."""
    fn()  # warm-up (caches, imports)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fmt(sec: float) -> str:
    """Seconds as µs, ms or s with three significant-ish digits."""
    if sec < 1e-3:
        return f"{sec * 1e6:.1f} µs"
    if sec < 1.0:
        return f"{sec * 1e3:.2f} ms"
    return f"{sec:.2f} s"
