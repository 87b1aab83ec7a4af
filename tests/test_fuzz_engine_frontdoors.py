"""Bad input at the engine front doors whose checks are easy to forget, fuzzed like the rest.

Each test throws the bad-input classes of tests/bad_inputs.py at one argument of one
engine function and expects a ``ValueError`` naming the argument: first a fixed
representative of every class (deterministic), then hypothesis draws around them. Each
row names the shared check of gvpo_theory/problem.py that the front door calls.

Calls that used to hang (a tolerance of 0, G = 10⁹ in a flow) run under an alarm, so a
regression fails in seconds instead of stalling the suite.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from bad_inputs import Bad, canonical_bad, strategy_for
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from gvpo_theory import binary, problem
from gvpo_theory.dynamics import expected_gradient_ascent, gvpo_flow, integrate_flow
from gvpo_theory.preference import (
    advantage_table,
    level_advantages,
    level_advantages_jacobian,
    preference_model,
    preference_model_mc,
)
from gvpo_theory.stationary import grpo_stationary_policy

PI = [0.3, 0.7]
R = [1.0, 0.0]
LEVELS = [0.0, 1.0]



def _zero_update(p: np.ndarray) -> np.ndarray:
    return np.zeros_like(p)


def _drifting_update(p: np.ndarray) -> np.ndarray:
    """An update that never vanishes: ascent under it stops only at max_steps."""
    return np.full_like(p, 1e-3)


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging, where SIGALRM exists."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_each_refused(call: Callable[..., object], arg: str, bad: Bad) -> None:
    """Every (class, value) must raise a ValueError naming ``arg`` within a few seconds."""
    for cls, value in bad:
        try:
            with _deadline(10):
                result = call(**{arg: value})
        except ValueError as exc:
            assert re.search(rf"\b{arg}\b", str(exc)), f"{cls} {value!r}: {exc} does not name {arg!r}"
            continue
        except Exception as exc:
            raise AssertionError(f"{cls} {value!r} for {arg}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError(f"{cls} {value!r} for {arg} was accepted; returned {result!r:.200}")


# (function, argument, call with that keyword, kind, valid value, the check it must call)
CASES: list[tuple[str, str, Callable[..., object], str, object, str]] = [
    ("preference_model", "max_terms", lambda max_terms=10**6: preference_model(PI, R, 4, max_terms=max_terms),
     "count>=1", None, 'check_positive_int(max_terms, "max_terms")'),
    ("level_advantages", "max_terms",
     lambda max_terms=10**6: level_advantages(PI, LEVELS, 4, max_terms=max_terms),
     "count>=1", None, 'check_positive_int(max_terms, "max_terms")'),
    ("level_advantages_jacobian", "max_terms",
     lambda max_terms=10**6: level_advantages_jacobian(PI, LEVELS, 4, max_terms=max_terms),
     "count>=1", None, 'check_positive_int(max_terms, "max_terms")'),
    ("advantage_table", "max_terms", lambda max_terms=10**6: advantage_table(LEVELS, 4, max_terms=max_terms),
     "count>=1", None, 'check_positive_int(max_terms, "max_terms")'),
    ("grpo_stationary_policy", "max_terms",
     lambda max_terms=10**6: grpo_stationary_policy(PI, R, 1.0, 4, max_terms=max_terms),
     "count>=1", None, 'check_positive_int(max_terms, "max_terms")'),
    ("grpo_stationary_policy", "tol", lambda tol=1e-10: grpo_stationary_policy(PI, R, 1.0, 4, tol=tol),
     "positive", 1e-10, 'check_tolerance(tol, "tol")'),
    ("level_advantages", "levels", lambda levels=LEVELS: level_advantages(PI, levels, 4),
     "array", LEVELS, "as_numeric_array (from preference._as_float64)"),
    ("level_advantages", "level_masses", lambda level_masses=PI: level_advantages(level_masses, LEVELS, 4),
     "array", PI, "as_numeric_array (from preference._as_float64)"),
    ("level_advantages_jacobian", "levels", lambda levels=LEVELS: level_advantages_jacobian(PI, levels, 4),
     "array", LEVELS, "as_numeric_array (from preference._as_float64)"),
    ("level_advantages_jacobian", "level_masses",
     lambda level_masses=PI: level_advantages_jacobian(level_masses, LEVELS, 4),
     "array", PI, "as_numeric_array (from preference._as_float64)"),
    ("advantage_table", "levels", lambda levels=LEVELS: advantage_table(levels, 4),
     "array", LEVELS, "as_numeric_array (from preference._as_float64)"),
    ("preference_model_mc", "n_groups",
     lambda n_groups=10: preference_model_mc(PI, R, 4, n_groups=n_groups),
     "count>=2", None, 'check_positive_int(n_groups, "n_groups", min_value=2)'),
    ("preference_model_mc", "seed", lambda seed=0: preference_model_mc(PI, R, 4, n_groups=10, seed=seed),
     "count>=0", None, 'check_positive_int(seed, "seed", min_value=0)'),
    ("preference_model_mc", "chunk",
     lambda chunk=1000: preference_model_mc(PI, R, 4, n_groups=10, chunk=chunk),
     "count>=1", None, 'check_positive_int(chunk, "chunk")'),
    ("integrate_flow", "update", lambda update=_zero_update: integrate_flow(update, PI, t_max=1.0),
     "callable", None, 'check_callable(update, "update")'),
    ("integrate_flow", "t_max", lambda t_max=1.0: integrate_flow(_zero_update, PI, t_max=t_max),
     "positive", 1.0, "check_tolerance(value, name) for t_max, tol, rtol, atol"),
    ("integrate_flow", "tol", lambda tol=1e-10: integrate_flow(_zero_update, PI, t_max=1.0, tol=tol),
     "positive", 1e-10, "check_tolerance(value, name) for t_max, tol, rtol, atol"),
    ("expected_gradient_ascent", "update",
     lambda update=_zero_update: expected_gradient_ascent(update, PI, learning_rate=0.1, max_steps=2),
     "callable", None, 'check_callable(update, "update")'),
    ("expected_gradient_ascent", "tol",
     lambda tol=1e-10: expected_gradient_ascent(
         _drifting_update, PI, learning_rate=0.1, max_steps=50, tol=tol),
     "positive", 1e-10, 'check_tolerance(tol, "tol")'),
    ("expected_gradient_ascent", "max_steps",
     lambda max_steps=2: expected_gradient_ascent(_zero_update, PI, learning_rate=0.1, max_steps=max_steps),
     "count>=1", None, 'check_positive_int(max_steps, "max_steps")'),
    ("binary.stationary", "success",
     lambda success=(1.0, 0.0): binary.stationary(0.3, 1.0, 4, success=success),
     "array", [1.0, 0.0], 'check_pair(success, "success")'),
]
for fn in ("logarithmic_pooling", "stationary_g2", "stationary_ginf", "lower_bound", "stationary",
           "stationary_margin"):
    args = {"stationary_ginf": (), "stationary": (4,), "stationary_margin": (0.5, 4)}.get(fn, ())
    CASES.append((f"binary.{fn}", "p_ref", lambda p_ref=0.3, _fn=fn, _args=args: getattr(binary, _fn)(
        p_ref, 1.0, *_args), "array", [0.3], "as_numeric_array (from binary._as_array)"))
for fn in ("logarithmic_pooling", "stationary_g2", "lower_bound"):
    CASES.append((f"binary.{fn}", "margin", lambda margin=0.5, _fn=fn: getattr(binary, _fn)(0.3, 1.0, margin),
                  "array", [0.5], "as_numeric_array (from binary._as_array)"))
for arg in ("s_a", "s_b"):
    CASES.append(("binary.confidence_margin", arg, lambda **kw: binary.confidence_margin(
        **{"s_a": 0.9, "s_b": 0.2, **kw}), "array", [0.5], "as_numeric_array (from binary._as_array)"))

PARAMS = [
    pytest.param(call, arg, kind, valid, id=f"{function}-{arg}")
    for function, arg, call, kind, valid, _check in CASES
]


@pytest.mark.parametrize(("call", "arg", "kind", "valid"), PARAMS)
def test_front_door_bad_input_is_a_named_value_error(call, arg: str, kind: str, valid: object) -> None:
    assert_each_refused(call, arg, canonical_bad(kind, valid))

    @settings(max_examples=4, database=None, phases=[Phase.explicit, Phase.generate])
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        assert_each_refused(call, arg, data.draw(strategy_for(kind, valid)))

    fuzz()


def test_front_door_defaults_are_valid() -> None:
    for _, _, call, _, _, _ in CASES:
        call()  # the valid default of every row runs


# ---------------------------------------------------------------- sizes and hangs


def test_mc_refuses_a_group_size_whose_draws_do_not_fit_in_memory(monkeypatch) -> None:
    """48 bytes per drawn reward (measured peak of one chunk: draws, group, deviations,
    std); with the cap lowered to 1 MiB, G = 10⁵ (4.8 MB per group) must be refused up front
    while G = 4 with the same chunk (48 KB) still runs. The same rule refuses G = 10⁹
    (48 GB) under the default cap, half the machine's memory."""
    monkeypatch.setattr(problem, "MEMORY_LIMIT_BYTES", 2**20)
    preference_model_mc(PI, R, 4, n_groups=10, chunk=1000)
    with pytest.raises(ValueError, match=r"\bgroup_size\b.*GiB"):
        preference_model_mc(PI, R, 10**5, n_groups=10, chunk=1000)


def test_gvpo_flow_refuses_an_absurd_group_size_instead_of_stalling() -> None:
    with _deadline(30), pytest.raises(ValueError, match=r"\bgroup_size\b"):
        gvpo_flow(PI, R, 1.0, None, 10**9)


def test_ascent_with_zero_tolerance_is_refused_not_run_to_max_steps() -> None:
    with _deadline(2), pytest.raises(ValueError, match=r"\btol\b"):
        expected_gradient_ascent(_drifting_update, PI, learning_rate=0.1, tol=0.0)


def test_binary_stationary_success_none_is_named() -> None:
    with pytest.raises(ValueError, match=r"\bsuccess\b"):
        binary.stationary(0.3, 1.0, 4, success=None)


def test_mc_with_nan_groups_is_refused_not_nan() -> None:
    with pytest.raises(ValueError, match=r"\bn_groups\b"):
        preference_model_mc(PI, R, 4, n_groups=math.nan)
