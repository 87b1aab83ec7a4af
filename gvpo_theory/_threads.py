"""Single-threaded BLAS for the small products of the exact kernels.

OpenBLAS spreads even a 500 k-element dot product or axpy over every core; on a loaded
2-core machine the threads spin-wait for each other and such calls run 10–20× slower than
on one thread (benchmarks/bench_kernels.py shows the cliff). :func:`blas_threads` sets
the thread count of every OpenBLAS that numpy and scipy loaded (through the library's own
``*_set_num_threads`` entry point, as threadpoolctl does) for the duration of a ``with``
block and restores it afterwards. Where no such library is found (another BLAS, or a
platform without /proc/self/maps) it does nothing.

The setting is process-wide: other Python threads calling BLAS inside the block run
single-threaded too.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

_SETTERS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


@lru_cache(maxsize=1)
def _controls() -> tuple[tuple[object, object], ...]:
    """(setter, getter) pairs of the loaded OpenBLAS libraries (numpy's and scipy's)."""
    import numpy  # noqa: F401  (load the libraries before looking for them)
    import scipy.linalg  # noqa: F401

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        return ()
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SETTERS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                found.append((setter, getter))
                break
    return tuple(found)


def blas_controlled() -> bool:
    """Whether :func:`blas_threads` found an OpenBLAS to control."""
    return bool(_controls())


@contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` OpenBLAS threads, then restore the previous counts."""
    if n < 1:
        raise ValueError(f"n must be a positive number of threads; got {n}")
    controls = _controls()
    before = [getter() for _, getter in controls]
    for setter, _ in controls:
        setter(n)
    try:
        yield
    finally:
        for (setter, _), count in zip(controls, before):
            setter(count)
