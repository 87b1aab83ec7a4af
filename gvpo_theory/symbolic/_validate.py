"""Checks shared by the symbolic modules: sizes that sympy can expand, positivity of symbols."""

from __future__ import annotations

import math

import sympy as sp

#: Output counts K and group sizes G for which the expected GRPO objective is expanded.
SUPPORTED_OUTPUTS: tuple[int, ...] = (2, 3)
SUPPORTED_GROUP_SIZES: tuple[int, ...] = (2, 3, 4)


def check_expansion_size(n_outputs: int, group_size: int) -> None:
    """Reject (K, G) outside the symbolic grid, saying why the grid is small.

    The expected objective sums, for each of the K outputs of a tagged member, over the
    C(G + K − 2, K − 1) compositions of the other G − 1 members, each a product of G − 1
    symbolic probabilities; ``simplify`` on that polynomial grows quickly with both.
    """
    ok_types = all(isinstance(v, int) and not isinstance(v, bool) for v in (n_outputs, group_size))
    if ok_types and n_outputs in SUPPORTED_OUTPUTS and group_size in SUPPORTED_GROUP_SIZES:
        return
    try:
        terms = f"C(G+K-2, K-1) = {math.comb(int(group_size) + int(n_outputs) - 2, int(n_outputs) - 1)}"
    except (TypeError, ValueError, OverflowError):
        terms = "C(G+K-2, K-1)"
    raise ValueError(
        f"symbolic expansion supports K (outputs) in {SUPPORTED_OUTPUTS} and G (group size) in "
        f"{SUPPORTED_GROUP_SIZES}; got K={n_outputs!r}, G={group_size!r}. The expected objective "
        f"sums over {terms} compositions of the other group members per output, each a product "
        "of symbolic probabilities, so larger sizes make simplify impractical; use the numeric "
        "engine (preference_model, grpo_stationary_policy) there"
    )


def check_positive(value: sp.Expr | float | int, name: str) -> sp.Expr:
    """Return ``value`` as a sympy expression, requiring it to be provably positive.

    A number must be > 0; a symbol must be declared ``positive=True`` so that sqrt,
    log and limits simplify on the right branch.
    """
    expr = sp.sympify(value)
    if expr.is_positive is not True:
        raise ValueError(
            f"{name} must be positive: a number > 0 or a sympy Symbol declared positive=True; "
            f"got {value!r}"
        )
    return expr


def check_probability(value: sp.Expr | float | int, name: str) -> sp.Expr:
    """A symbolic or numeric probability strictly inside (0, 1)."""
    expr = check_positive(value, name)
    if expr.is_number and not bool(expr < 1):
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {value!r}")
    return expr
