"""One budgeted flow integrator: follow dy/dt = f(y) until it settles or leaves the interior.

The level solver's natural-gradient fallback (:mod:`gvpo_theory.level_solver`), the framework
entries' level-rate flow (:mod:`gvpo_theory.rate_solver`) and the framework entries' boundary
limits (:mod:`gvpo_theory.frameworks`) all integrate a log-domain flow with a stiff
integrator and stop on one of two events: the flow has *settled* (a rest point is near) or a
coordinate has *vanished* (a log mass fell past a floor: the flow is leaving the interior).
Every right-hand side is counted against an evaluation budget, so no call can hang.

:func:`integrate_flow` returns a :class:`FlowRun` saying which of these ended the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

Vector = NDArray[np.float64]

#: How a run ended.
STATUSES = ("settled", "vanished", "budget", "raised", "stopped", "end")


class BudgetSpent(Exception):
    """Raised inside a right-hand side when the evaluation budget is spent."""


@dataclass(frozen=True)
class FlowRun:
    """The end of one integration.

    Attributes:
        y: the state where the run ended.
        t: the time reached.
        status: ``"settled"`` (the settle event fired), ``"vanished"`` (the vanish event
            fired), ``"budget"`` (the evaluation budget was spent; ``y`` is the start),
            ``"raised"`` (the right-hand side raised one of ``stop_on``; ``y`` is the start),
            ``"stopped"`` (the integrator stopped early, e.g. a coordinate running to −∞ in
            finite time), ``"end"``
            (``t_max`` reached with neither event).
        evaluations: right-hand-side evaluations used.
        message: the integrator's or the exception's message.
    """

    y: Vector
    t: float
    status: str
    evaluations: int
    message: str


def integrate_flow(
    rhs: Callable[[float, Vector], Vector],
    y0: Vector,
    *,
    t_max: float,
    settle: Callable[[float, Vector], float] | None = None,
    vanish: Callable[[float, Vector], float] | None = None,
    max_evaluations: int,
    rtol: float,
    atol: float,
    method: str = "Radau",
    stop_on: tuple[type[Exception], ...] = (),
) -> FlowRun:
    """Integrate dy/dt = rhs(t, y) from y0 over [0, t_max] with terminal events.

    ``settle(t, y)`` and ``vanish(t, y)`` are event functions (a sign change ends the run);
    either may be None. ``rhs`` counts against ``max_evaluations`` (the settle event, which
    usually evaluates ``rhs`` itself, too). An exception of a type in ``stop_on`` raised by
    ``rhs`` ends the run with status ``"raised"`` at the start state.
    """
    count = 0

    def counted(t: float, y: Vector) -> Vector:
        nonlocal count
        count += 1
        if count > max_evaluations:
            raise BudgetSpent
        return rhs(t, y)

    def counted_settle(t: float, y: Vector) -> float:
        nonlocal count
        count += 1
        if count > max_evaluations:
            raise BudgetSpent
        return settle(t, y)  # type: ignore[misc]

    names, events = [], []
    for name, fn in (("settled", None if settle is None else counted_settle), ("vanished", vanish)):
        if fn is not None:
            fn.terminal = True  # type: ignore[attr-defined]
            names.append(name)
            events.append(fn)
    try:
        sol = solve_ivp(counted, (0.0, t_max), np.array(y0, dtype=np.float64), method=method,
                        rtol=rtol, atol=atol, events=events or None)
    except BudgetSpent:
        return FlowRun(np.array(y0, dtype=np.float64), 0.0, "budget", count,
                       f"the flow did not settle within {max_evaluations} evaluations")
    except stop_on as exc:
        return FlowRun(np.array(y0, dtype=np.float64), 0.0, "raised", count, str(exc))
    y, t = sol.y[:, -1], float(sol.t[-1])
    for name, hits in zip(names, sol.t_events or ()):
        if hits.size:
            return FlowRun(y, t, name, count, sol.message)
    return FlowRun(y, t, "end" if sol.status == 0 else "stopped", count, sol.message)
