"""The bad-input classes of the input-validation fuzzing, as hypothesis strategies.

Each ``*_bad`` strategy draws, for one argument, one value of *every* bad-input class that
applies to it (a list of ``(class, value)`` pairs), so that every example of a test throws
every class at the argument; hypothesis varies the values within each class (which
entry is NaN, the spelling of a numeric string, the sign of a count, ...).

Classes (the input-validation issue's tally of what slipped through):

* ``bool``            — booleans where a number is expected (``group_size=True``);
* ``numeric string``  — ``"0.5"``, and lists of them;
* ``string``          — any other text;
* ``complex``         — complex numbers or arrays, even with zero imaginary part;
* ``object``          — ``None``, object arrays, lists containing ``None``;
* ``float32``         — float32 arrays where float64 is documented;
* ``nan`` / ``inf``   — non-finite entries;
* ``range``           — numbers outside the documented range (β <= 0, G < 2, counts < 1,
  tolerances <= 0, non-integral counts).

Used by tests/test_fuzz_inputs.py and tests/test_fuzz_engine_frontdoors.py.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

Bad = list[tuple[str, object]]

_TEXT = st.text(alphabet="abcxyz_ -", min_size=0, max_size=6)
_NUMERIC_TEXT = st.sampled_from(["0.5", "1", "1e-3", " 2 ", "-0.0", "inf", "nan", "4"])


def _one_of_each(**classes: st.SearchStrategy) -> st.SearchStrategy[Bad]:
    names = list(classes)
    return st.tuples(*classes.values()).map(lambda values: list(zip(names, values)))


def array_bad(valid: list[float]) -> st.SearchStrategy[Bad]:
    """Bad versions of a float array argument whose valid value is ``valid`` (1-D)."""
    n = len(valid)
    index = st.integers(0, n - 1)

    def with_entry(value: float) -> st.SearchStrategy[list[float]]:
        return index.map(lambda i: [value if j == i else x for j, x in enumerate(valid)])

    return _one_of_each(
        bool=st.one_of(
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n).map(np.array),
            st.booleans(),
        ),
        numeric_string=st.one_of(
            st.just([str(x) for x in valid]),
            st.just(np.array([str(x) for x in valid])),
            _NUMERIC_TEXT,
        ),
        string=_TEXT,
        complex=st.one_of(
            st.just(np.asarray(valid, dtype=complex)),
            st.floats(-1, 1).map(lambda im: [complex(x, im) for x in valid]),
        ),
        object=st.one_of(
            st.just(None),
            st.just(np.asarray(valid, dtype=object)),
            index.map(lambda i: [None if j == i else x for j, x in enumerate(valid)]),
        ),
        float32=st.just(np.asarray(valid, dtype=np.float32)),
        nan=with_entry(math.nan),
        inf=st.sampled_from([math.inf, -math.inf]).flatmap(with_entry),
    )


def positive_real_bad(zero_ok: bool = False) -> st.SearchStrategy[Bad]:
    """Bad values of a real number that must be finite and > 0 (β, a tolerance, a step),
    or >= 0 with ``zero_ok`` (β where 0 means no KL term)."""
    negative = st.floats(max_value=-1e-300, allow_infinity=False, allow_nan=False)
    return _one_of_each(
        bool=st.sampled_from([True, False, np.True_]),
        numeric_string=st.one_of(_NUMERIC_TEXT, _NUMERIC_TEXT.map(lambda s: [s])),
        string=_TEXT,
        complex=st.floats(-2, 2).map(lambda im: complex(1.0, im)),
        object=st.sampled_from([None, object()]),
        nan=st.just(math.nan),
        inf=st.sampled_from([math.inf, -math.inf]),
        range=negative if zero_ok else st.one_of(st.just(0.0), negative),
    )


def group_size_bad() -> st.SearchStrategy[Bad]:
    """Bad values of G (an integer >= 2 or math.inf)."""
    return _one_of_each(
        bool=st.sampled_from([True, False, np.True_]),
        numeric_string=_NUMERIC_TEXT,
        string=_TEXT,
        complex=st.integers(2, 8).map(lambda g: complex(g, 0)),
        object=st.sampled_from([None, [4], (4,)]),
        nan=st.just(math.nan),
        inf=st.just(-math.inf),
        range=st.one_of(
            st.integers(max_value=1),
            st.floats(2.01, 100).filter(lambda x: not float(x).is_integer()),
        ),
    )


def count_bad(minimum: int) -> st.SearchStrategy[Bad]:
    """Bad values of an integer count that must be >= ``minimum`` (n_groups, max_terms, ...)."""
    return _one_of_each(
        bool=st.sampled_from([True, np.True_]),
        numeric_string=_NUMERIC_TEXT,
        string=_TEXT,
        complex=st.integers(minimum, minimum + 10).map(lambda n: complex(n, 0)),
        object=st.sampled_from([None, [minimum + 1]]),
        nan=st.just(math.nan),
        inf=st.sampled_from([math.inf, -math.inf]),
        range=st.one_of(
            st.integers(max_value=minimum - 1),
            st.floats(minimum + 0.01, minimum + 50).filter(lambda x: not float(x).is_integer()),
        ),
    )


def eps_bad() -> st.SearchStrategy[Bad]:
    """Bad values of the std epsilon (finite, >= 0)."""
    return _one_of_each(
        bool=st.sampled_from([True, False]),
        numeric_string=_NUMERIC_TEXT,
        string=_TEXT,
        complex=st.just(0j),
        object=st.sampled_from([[0.1], object()]),
        nan=st.just(math.nan),
        inf=st.just(math.inf),
        range=st.floats(max_value=-1e-300, allow_infinity=False, allow_nan=False),
    )


def option_bad(options: tuple[str, ...]) -> st.SearchStrategy[Bad]:
    """Bad values of a string option (``std``, ``penalty``, ``scale``)."""
    return _one_of_each(
        bool=st.just(True),
        numeric_string=_NUMERIC_TEXT,
        string=_TEXT.filter(lambda s: s not in options),
        case=st.sampled_from(options).map(str.upper),
        object=st.sampled_from([[options[0]], 1, options[0].encode()]),
    )


def strategy_for(kind: str, valid: object) -> st.SearchStrategy[Bad]:
    """The strategy of an argument kind (see the ``*_bad`` functions). A trailing ``?``
    marks an optional argument, for which ``None`` is valid (the default): its ``object``
    class then draws ``None`` inside a list, or an ``object()``, instead."""
    if kind.endswith("?"):
        none_free = [None] * len(valid) if isinstance(valid, list) else object()  # type: ignore[arg-type]
        return strategy_for(kind[:-1], valid).map(
            lambda bad: [(c, none_free if v is None else v) for c, v in bad]
        )
    if kind == "array":
        return array_bad(list(valid))  # type: ignore[arg-type]
    if kind == "positive":
        return positive_real_bad()
    if kind == "nonnegative":
        return positive_real_bad(zero_ok=True)
    if kind == "group_size":
        return group_size_bad()
    if kind == "eps":
        return eps_bad()
    if kind.startswith("count>="):
        return count_bad(int(kind.removeprefix("count>=")))
    if kind.startswith("option:"):
        return option_bad(tuple(kind.removeprefix("option:").split(",")))
    if kind == "callable":
        return callable_bad()
    raise KeyError(kind)


def canonical_bad(kind: str, valid: object) -> Bad:
    """One fixed representative of every class for an argument kind — the values the
    input-validation issue reported — so that a test fails deterministically, whatever
    hypothesis draws around them."""
    if kind.endswith("?"):
        none_free = [None] * len(valid) if isinstance(valid, list) else object()  # type: ignore[arg-type]
        return [(c, none_free if v is None else v) for c, v in canonical_bad(kind[:-1], valid)]
    common: Bad = [("bool", True), ("numeric_string", "1"), ("string", "x"), ("object", None)]
    if kind == "array":
        v = list(valid)  # type: ignore[arg-type]
        return [
            ("bool", [bool(i % 2) for i in range(len(v))]),
            ("numeric_string", [str(x) for x in v]),
            ("string", "x"),
            ("complex", np.asarray(v, dtype=complex)),
            ("object", np.asarray(v, dtype=object)),
            ("object", None),
            ("float32", np.asarray(v, dtype=np.float32)),
            ("nan", [math.nan, *v[1:]]),
            ("inf", [math.inf, *v[1:]]),
        ]
    if kind in ("positive", "nonnegative"):
        zero = [] if kind == "nonnegative" else [("range", 0.0)]
        return [*common, ("numeric_string", ["1"]), ("complex", 1 + 0j), ("nan", math.nan),
                ("inf", math.inf), *zero, ("range", -1.0)]
    if kind == "group_size":
        return [*common, ("complex", 4 + 0j), ("nan", math.nan), ("range", 1), ("range", 2.5)]
    if kind == "eps":
        return [*common[:3], ("object", [0.1]), ("complex", 0j), ("nan", math.nan), ("inf", math.inf),
                ("range", -1e-3)]
    if kind.startswith("count>="):
        n = int(kind.removeprefix("count>="))
        return [*common, ("complex", complex(n + 1, 0)), ("nan", math.nan), ("inf", math.inf),
                ("range", n - 1), ("range", n + 0.5)]
    if kind == "callable":
        return [("object", None), ("number", 1.0), ("string", "update")]
    if kind.startswith("option:"):
        first = kind.removeprefix("option:").split(",")[0]
        return [("bool", True), ("numeric_string", "1"), ("string", "x"), ("case", first.upper()),
                ("object", [first])]
    raise KeyError(kind)


def callable_bad() -> st.SearchStrategy[Bad]:
    """Bad values of a function argument (an update rule)."""
    return _one_of_each(
        object=st.sampled_from([None, object(), [len]]),
        number=st.floats(allow_nan=False),
        string=_TEXT,
    )
