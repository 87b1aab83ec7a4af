"""The engine's speed targets, one row each, as medians after a warm-up.

    .venv/bin/python benchmarks/bench_targets.py           # every row below (~1 min)
    .venv/bin/python benchmarks/bench_targets.py --full    # adds L = 11 at G = 256

Rows (target in brackets): [1] one binary solve through the public front doors, validation
and verification included (<= 50 µs); the scalar closed forms (<= 10 µs); exact against the
best ODE integration of the expected flow to 1e-6 (>= 1000×). [2] L = 11 lattice levels at
G = 64: one exact P_G (< 50 ms) and a stationary solve (< 1 s). [3] 10^4 three-level problems
with different π_ref and β in one call (< 1 s). [4] no BLAS-threads cliff on an enumerated P_G;
two levels at G = 10^6 (< 10 ms). Also K = 3000 outputs with
distinct rewards at G = ∞ and at G = 8 without std (closed-form preference models).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import fmt, median_time

import gvpo_theory as gt
from gvpo_theory import binary
from gvpo_theory.dynamics import grpo_flow

CMD = ".venv/bin/python benchmarks/bench_targets.py"


def row(case: str, t: float, target: str, note: str = "") -> None:
    print(f"| {case} | {fmt(t)} | {target} | {note} |")


def single_binary() -> float:
    t = median_time(lambda: binary.stationary(0.3, 1.0, 8), 201)
    row("[1] `binary.stationary(0.3, 1.0, 8)`: one binary solve, validated and verified", t, "<= 50 µs")
    t_front = median_time(lambda: gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 8), 201)
    res = gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 8)
    row("[1] `grpo_stationary_policy([.3, .7], [1, 0], 1, 8)` (K = 2 as Python floats, full result)",
        t_front, "<= 50 µs", f"method {res.method}, residual {float(res.residual):.1e}")
    ref, rew = np.array([0.3, 0.7]), np.array([1.0, 0.0])
    row("[1] the same with numpy arrays (general validation, then the float solver)",
        median_time(lambda: gt.grpo_stationary_policy(ref, rew, 1.0, 8), 201), "—")
    row("[1] `binary.stationary_g2(0.3, 1.0)` (scalars)",
        median_time(lambda: binary.stationary_g2(0.3, 1.0), 501), "<= 10 µs")
    row("[1] `binary.stationary_ginf(0.3, 1.0)` (scalars)",
        median_time(lambda: binary.stationary_ginf(0.3, 1.0), 501), "<= 10 µs")
    return t_front


def exact_vs_ode() -> None:
    """The ODE gets every method and tolerance below; its fastest run within 1e-6 counts."""
    ref, rew, beta, g = np.array([0.3, 0.7]), np.array([1.0, 0.0]), 1.0, 8
    exact = gt.grpo_stationary_policy(ref, rew, beta, g).policy
    t_exact = median_time(lambda: gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], beta, g), 201)
    t_array = median_time(lambda: gt.grpo_stationary_policy(ref, rew, beta, g), 201)
    t_scalar = median_time(lambda: binary.stationary(0.3, beta, g), 201)
    best = (math.inf, "")
    for method in ("LSODA", "Radau", "BDF", "RK45", "DOP853"):
        for tol in (1e-6, 1e-7, 1e-8, 1e-9):
            def run(method=method, tol=tol):
                return grpo_flow(ref, rew, beta, g, tol=tol, rtol=tol, atol=tol * 1e-3, method=method)

            err = float(np.max(np.abs(run().policy - exact)))
            if err > 1e-6:
                continue
            t = median_time(run, 5)
            if t < best[0]:
                best = (t, f"{method}, tol = rtol = {tol:.0e}, atol = {tol * 1e-3:.0e}")
    t_ode, how = best
    row("[1] binary p_ref = 0.3, β = 1, G = 8: best ODE integration of the expected flow to 1e-6",
        t_ode, "—", how)
    row("[1] exact solve, same problem (`grpo_stationary_policy`, Python floats)", t_exact,
        ">= 1000× faster", f"**{t_ode / t_exact:,.0f}×** faster than the ODE")
    row("[1] exact solve, same problem (`grpo_stationary_policy`, numpy arrays)", t_array,
        ">= 1000× faster", f"**{t_ode / t_array:,.0f}×** faster than the ODE")
    row("[1] exact solve, same problem (`binary.stationary`)", t_scalar, ">= 1000× faster",
        f"**{t_ode / t_scalar:,.0f}×** faster than the ODE")


def lattice_rows(full: bool) -> None:
    levels = np.arange(11.0)
    rng = np.random.default_rng(0)
    sizes = (16, 64, 256) if full else (16, 64)
    for g in sizes:
        def one(g=g):  # a fresh m each call: no memo
            return gt.level_advantages(rng.dirichlet(np.ones(11)), levels, g,
                                       max_terms=10**8 if g > 128 else 2_000_000)

        row(f"[2] exact P_G, L = 11 levels 0..10, G = {g} (lattice DP)",
            median_time(one, 5 if g < 256 else 1), "< 50 ms" if g == 64 else "feasible" if g == 256 else "—")
    ref = rng.dirichlet(np.ones(11))
    t = median_time(lambda: gt.grpo_stationary_policy(ref, levels, 0.5, 64), 3)
    res = gt.grpo_stationary_policy(ref, levels, 0.5, 64)
    row("[2] stationary solve, L = 11 levels 0..10, G = 64, β = 0.5", t, "< 1 s",
        f"converged {bool(res.converged)}, residual {float(res.residual):.1e}, "
        f"{int(res.iterations)} Newton steps")


def three_level_batch(n: int) -> None:
    rng = np.random.default_rng(0)
    ref = rng.dirichlet(np.ones(3), size=n)
    beta = 10 ** rng.uniform(-1, 1, n)
    rew = np.array([0.0, 0.5, 1.0])
    t = median_time(lambda: gt.grpo_stationary_policy(ref, rew, beta, 8), 3)
    res = gt.grpo_stationary_policy(ref, rew, beta, 8)
    row(f"[3] {n} three-level problems, G = 8, π_ref ~ Dirichlet(1), β ∈ [0.1, 10], one call", t,
        "10^4 in < 1 s", f"{res.method}; all converged {bool(np.all(res.converged))}, "
        f"worst residual {float(np.max(res.residual)):.1e}")
    k = 20  # the same problems one call each (the per-problem solver), for the ratio
    t_one = median_time(lambda: [gt.grpo_stationary_policy(ref[i], rew, beta[i], 8) for i in range(k)], 1) / k
    row("[3] the same problems one call each (per problem)", t_one, "—",
        f"{t_one / (t / n):.0f}× the batched cost per problem")


def blas_cliff() -> None:
    """One enumerated P_G where the (C, L) products are large enough for OpenBLAS to thread."""
    from gvpo_theory._threads import blas_threads
    from gvpo_theory.preference import _advantage_table, composition_pmf

    levels = np.arange(8.0) ** 1.5  # not on a lattice: enumeration, C(22, 7) = 170 544 terms
    rng = np.random.default_rng(0)
    table = _advantage_table(levels, 16, gt.as_objective(16).advantage, 10**7)
    m = rng.dirichlet(np.ones(8))
    t_engine = median_time(lambda: gt.level_advantages(m, levels, 16), 15)
    with blas_threads(2):
        t_two = median_time(lambda: composition_pmf(m, table) @ table.advantage, 15)
    row("[4] P_G by enumeration, 8 levels (not a lattice), G = 16, 170 544 terms (engine: one BLAS "
        "thread)", t_engine, "no cliff", f"the same products on two BLAS threads: {fmt(t_two)}")


def large_k_verification(k: int) -> None:
    """K binary outputs: the whole call, and its verification per level against per output."""
    from gvpo_theory.fast_paths import level_violation
    from gvpo_theory.preference import profile_preferences
    from gvpo_theory.problem import reward_structure
    from gvpo_theory.stationary import fixed_point_violation

    rng = np.random.default_rng(0)
    ref = rng.random(k)
    ref /= ref.sum()
    rew = (rng.random(k) < 0.3).astype(float)
    obj, beta = gt.as_objective(1024), np.asarray(0.1)
    t_all = median_time(lambda: gt.grpo_stationary_policy(ref, rew, beta, obj), 3)
    res = gt.grpo_stationary_policy(ref, rew, beta, obj)
    st = reward_structure(rew, k)
    q_ref = st.profile_masses(ref)

    def verify(per_level: bool):
        w = st.profile_masses(res.policy)
        pref, _ = profile_preferences(w, st, obj)
        if per_level:
            return level_violation(ref, w, q_ref, pref, st, beta, obj.penalty)
        return fixed_point_violation(res.policy, ref, q_ref, pref, st.profile_of, beta, obj.penalty)

    t_level, t_output = median_time(lambda: verify(True), 3), median_time(lambda: verify(False), 3)
    row(f"[4] K = {k:.0e} binary outputs, G = 1024, β = 0.1: one call, verified per level", t_all,
        "verification ≪ solve", f"{res.method}, residual {float(res.residual):.1e}; verification "
        f"{fmt(t_level)} per level vs {fmt(t_output)} per output")


def binary_large_group() -> None:
    rng = np.random.default_rng(0)
    t = median_time(lambda: gt.level_advantages(_pair(rng), [0.0, 1.0], 10**6), 7)
    row("[4] two-level a_l(m), G = 10^6 (windowed saddle-point pmf)", t, "< 10 ms")


def _pair(rng: np.random.Generator) -> np.ndarray:
    p = 0.3 + 0.01 * rng.random()
    return np.array([1.0 - p, p])


def many_outputs() -> None:
    rng = np.random.default_rng(1)
    k = 3000
    ref, rew = rng.dirichlet(np.ones(k)), rng.normal(size=k)
    for g, std, penalty in ((math.inf, "population", "reverse_kl"), (math.inf, "population", "direct_kl"),
                            (8, "none", "reverse_kl")):
        t = median_time(lambda g=g, std=std, penalty=penalty: gt.grpo_stationary_policy(
            ref, rew, 0.5, g, std=std, penalty=penalty), 5)
        res = gt.grpo_stationary_policy(ref, rew, 0.5, g, std=std, penalty=penalty)
        gs = "∞" if math.isinf(g) else str(g)
        row(f"K = 3000 distinct rewards, G = {gs}, std = {std}, {penalty}", t, "—",
            f"{res.method}, converged {bool(res.converged)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="add L = 11 at G = 256")
    ap.add_argument("--batch", type=int, default=10_000, help="three-level problems in row [3]")
    ap.add_argument("--outputs", type=int, default=10_000_000, help="K of the large-K row [4]")
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {CMD}{' --full' if args.full else ''}")
    print(f"# numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {load:.1f} at start; medians after one warm-up")
    print("| case | median | target | note |")
    print("|---|---|---|---|")
    single_binary()
    exact_vs_ode()
    lattice_rows(args.full)
    three_level_batch(args.batch)
    blas_cliff()
    large_k_verification(args.outputs)
    binary_large_group()
    many_outputs()


if __name__ == "__main__":
    main()
