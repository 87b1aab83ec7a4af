"""Where a per-level rate flow from π_ref settles: the generic solver of the framework entries.

Every framework objective of :mod:`gvpo_theory.frameworks` that the level-space engine does
not cover has, along the flow from π_ref (which keeps π/π_ref equal within a reward level),
an expected logit update F_o = π(o)·ρ_s(w) with s the level of o and w the level masses.
Its rest points are the zeros of ρ on the support. This module integrates

    d log w_s / dt = ρ_s(w) − Σ_t w_t·ρ_t(w)

(the level masses' own dynamics; the centring is zero for the entries' ρ, whose π-mean
vanishes, and keeps w on the simplex otherwise) from log Q with a stiff integrator until
max |ρ| < 1e-8 (then Newton on ρ_1..ρ_{L−1} = 0 with the gauge log w_0 fixed finishes it
to rounding) or a level's mass falls below 1e-300 (the flow leaves the interior: a
boundary limit, reported as such), within an evaluation budget so no call can hang.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import root
from scipy.special import logsumexp

from .flow import integrate_flow

#: A level whose log-mass falls below this has left the interior (mass < 1e-300).
VANISHED_LOG_MASS = -690.0
#: The flow is abandoned after this many evaluations of ρ.
MAX_EVALUATIONS = 5_000


@dataclass(frozen=True)
class RateSolution:
    """Level masses where the flow ends; ``kind`` "interior" or "boundary"; ``ok`` when an
    interior point satisfies ρ = 0 to rounding; ``message`` says which."""

    masses: NDArray[np.float64]
    kind: str
    ok: bool
    iterations: int
    message: str


class LeftInterior(Exception):
    """Raised by a rate function where its dynamics are undefined on the way to the boundary
    (e.g. every group ties under dynamic sampling): the flow has left the interior."""


def solve_rates(rate: Callable[[NDArray[np.float64]], NDArray[np.float64]],
                log_q: NDArray[np.float64], *, t_max: float = 1e9) -> RateSolution:
    """Follow d log w/dt = ρ(w) − w·ρ(w) from log w = log_q (module docstring)."""

    def rhs(_t: float, y: NDArray[np.float64]) -> NDArray[np.float64]:
        log_w = y - logsumexp(y)
        r = rate(log_w)
        r = r - np.exp(log_w) @ r
        # time rescaled by 1 + max|ρ|: the same orbits and rest points, but a level whose
        # rate diverges as its mass vanishes (k3 in the reward: finite-time extinction)
        # now loses log-mass at a bounded speed and reaches the vanishing event quickly
        return r / (1.0 + np.max(np.abs(r)))

    def settled(_t: float, y: NDArray[np.float64]) -> float:
        return float(np.max(np.abs(rhs(_t, y)))) - 1e-8

    def vanished(_t: float, y: NDArray[np.float64]) -> float:
        return float(np.min(y - logsumexp(y))) - VANISHED_LOG_MASS

    run = integrate_flow(rhs, log_q, t_max=t_max, settle=settled, vanish=vanished,
                         max_evaluations=MAX_EVALUATIONS, rtol=1e-8, atol=1e-11,
                         stop_on=(LeftInterior,))
    count = run.evaluations
    if run.status == "budget":
        return RateSolution(np.exp(log_q), "boundary", False, count,
                            "the flow from π_ref did not settle within its evaluation budget")
    if run.status == "raised":
        return RateSolution(np.exp(log_q), "boundary", False, count,
                            f"the flow from π_ref leaves the interior ({run.message})")
    y = run.y - logsumexp(run.y)
    if run.status == "vanished":
        return RateSolution(np.exp(y), "boundary", False, count,
                            "a reward level's mass falls below 1e-300 along the flow from π_ref: "
                            "no interior stationary point is reached (a boundary limit)")
    if run.status != "settled":
        # the integrator stops when a level's log-mass runs to −∞ in finite time (its rate
        # diverges as its mass vanishes: k3 in the reward) — a boundary as well
        return RateSolution(np.exp(y), "boundary", False, count,
                            f"the flow from π_ref leaves the interior (integration stopped at "
                            f"t = {run.t:.3g}: {run.message})")

    def equations(z: NDArray[np.float64]) -> NDArray[np.float64]:
        full = np.concatenate([[y[0]], z])
        try:
            with np.errstate(all="ignore"):
                out = rate(full - logsumexp(full))[1:]
        except LeftInterior:
            return np.full(z.shape, np.inf)
        return np.where(np.isfinite(out), out, 1e300)

    fit = root(equations, y[1:], method="hybr", tol=1e-15)
    if np.max(np.abs(equations(fit.x))) <= np.max(np.abs(equations(y[1:]))):
        full = np.concatenate([[y[0]], fit.x])
        y = full - logsumexp(full)
    w = np.exp(y)
    err = float(np.max(np.abs(rate(y))))
    return RateSolution(w, "interior", err < 1e-10, count + int(fit.nfev),
                        f"interior rest point of the flow from π_ref (max |ρ| = {err:.1e})")
