"""Binary questions in closed form (docs/theory.md §4; Vojnovic & Yun, 2025, section 2.3.1).

Two outputs: the better answer a (reward 1) with probability p = π(a), and b (reward 0);
p_ref = π_ref(a). Every result is solved by sympy from a fixed-point equation that is
itself built from the definitions, never typed in:

* P_G(a|p) = E[A_1 | o_1 = a] from the group advantage of each composition (finite G),
  or (r(a) − E_π r)/sqrt(Var_π r) (G = ∞); P_G(b|p) = −p·P_G(a|p)/(1 − p).
* reverse KL (k3):  p·(1 − P_G(a|p)/β) = p_ref                              (docs/theory.md §3)
* direct KL:        logit p − logit p_ref = (P_G(a|p) − P_G(b|p))/β
* confidence margin γ = P(a ≻ b) − P(b ≻ a): with P_2(a|p) = γ·(1 − p) the reverse-KL
  root is the paper's eq. (14),
      p = ½·[(1 − β/γ) + sqrt((1 − β/γ)² + 4·(β/γ)·p_ref)].
  At G = 3 (population std) the group sum collapses to P_3(a|p) = √2·(1 − p), so G = 3
  is the form of eq. (14) with γ = √2 (derived here, not in the papers); the sample std
  multiplies the margin by sqrt((G − 1)/G).
"""

from __future__ import annotations

import math
from functools import lru_cache

import sympy as sp

from ._validate import check_positive, check_probability
from .objective import beta, group_advantage

#: p = π(a), the probability of the better answer.
p = sp.Symbol("p", positive=True)
#: p_ref = π_ref(a).
p_ref = sp.Symbol("p_ref", positive=True)
#: Signed confidence margin γ = P(a ≻ b) − P(b ≻ a) (taken positive: a is better).
gamma = sp.Symbol("gamma", positive=True)
#: Symbolic group size.
G = sp.Symbol("G", positive=True, integer=True)
#: The logit x = log(p/(1 − p)).
x = sp.Symbol("x", real=True)

#: Largest finite G whose binomial sum is built symbolically (G terms).
MAX_SYMBOLIC_G = 64

#: Group sizes with a closed-form reverse-KL stationary point for std in {population, sample}.
CLOSED_FORM_GROUP_SIZES: tuple[float, ...] = (2, 3, math.inf)


def _check_group_size(group_size: float | int | sp.Expr, allow_symbol: bool = False) -> None:
    if allow_symbol and group_size == G:
        return
    if isinstance(group_size, float) and math.isinf(group_size):
        return
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2 or math.inf; got {group_size!r}")
    if group_size > MAX_SYMBOLIC_G:
        raise ValueError(
            f"symbolic binomial sums are built for group_size <= {MAX_SYMBOLIC_G} (G terms each); "
            f"got {group_size}: use large_group.large_group_correction or the numeric engine"
        )


@lru_cache(maxsize=64)
def binary_preference(group_size: float | int | sp.Expr, std: str = "population") -> sp.Expr:
    """P_G(a|p) for a binary question (docs/theory.md §4).

    Finite G: Σ_{m=0}^{G−1} C(G−1, m)·p^m·(1 − p)^{G−1−m}·A(m), with A(m) the group
    advantage of a member scoring 1 among m other 1s (population: sqrt((G − m − 1)/(m + 1))).
    G = ∞: (1 − p)/sqrt(p(1 − p)) = sqrt((1 − p)/p) for both std conventions.
    ``std="none"`` (Dr. GRPO): ((G − 1)/G)·(1 − p), for integer, infinite or symbolic G.
    """
    if std == "none":
        _check_group_size(group_size, allow_symbol=True)
        factor = 1 if isinstance(group_size, float) else sp.Integer(1) - 1 / sp.sympify(group_size)
        return factor * (1 - p)
    if std not in ("population", "sample"):
        raise ValueError(f"std must be 'population', 'sample' or 'none'; got {std!r}")
    _check_group_size(group_size)
    if isinstance(group_size, float):
        mean, var = p, p * (1 - p)  # E_π r and Var_π r of the 0/1 reward
        return sp.sqrt(sp.factor((1 - mean) ** 2 / var))
    n = group_size - 1
    total = sp.Integer(0)
    for m in range(n + 1):
        adv = group_advantage((0, 1), (n - m, m + 1), 1, std)
        total += sp.binomial(n, m) * p**m * (1 - p) ** (n - m) * adv
    return sp.factor(sp.expand(total))


def binary_preference_b(group_size: float | int, std: str = "population") -> sp.Expr:
    """P_G(b|p) = −p·P_G(a|p)/(1 − p), from E_π[P_G] = 0 (group advantages sum to zero)."""
    return sp.simplify(-p * binary_preference(group_size, std) / (1 - p))


def margin_of(group_size: float | int, std: str = "population") -> sp.Expr | None:
    """κ with P_G(a|p) = κ·(1 − p) when such a constant exists (then eq. (14) with γ = κ), else None."""
    ratio = sp.simplify(binary_preference(group_size, std) / (1 - p))
    return None if ratio.has(p) else ratio


def fixed_point(group_size: float | int, std: str = "population", penalty: str = "reverse_kl") -> sp.Expr:
    """F(p) with F(p) = 0 at a stationary point (docs/theory.md §3 restricted to two outputs).

    reverse_kl: p·(1 − P_G(a|p)/β) − p_ref;
    direct_kl:  log(p/(1 − p)) − log(p_ref/(1 − p_ref)) − (P_G(a|p) − P_G(b|p))/β.
    """
    pa = binary_preference(group_size, std)
    if penalty == "reverse_kl":
        return p * (1 - pa / beta) - p_ref
    if penalty == "direct_kl":
        pb = binary_preference_b(group_size, std)
        return sp.log(p / (1 - p)) - sp.log(p_ref / (1 - p_ref)) - (pa - pb) / beta
    raise ValueError(f"penalty must be 'reverse_kl' or 'direct_kl'; got {penalty!r}")


#: Points at which the physical root is picked among sympy's roots (p_ref, β, γ).
_PROBE = (
    {p_ref: sp.Rational(3, 10), beta: 1, gamma: 1},
    {p_ref: sp.Rational(4, 5), beta: sp.Rational(1, 3), gamma: 2},
)


def _physical_root(roots: list[sp.Expr], equation: sp.Expr) -> sp.Expr:
    """The root in (0, 1) that satisfies the unsquared ``equation`` at every probe point."""
    chosen = []
    for root in roots:
        good = True
        for point in _PROBE:
            val = sp.N(root.subs(point), 40)
            re, im = val.as_real_imag()
            if abs(im) > 1e-30 or not 0 < re < 1:
                good = False
                break
            if abs(sp.N(equation.subs(point).subs(p, re), 40)) > 1e-30:
                good = False
                break
        if good:
            chosen.append(root)
    if len(chosen) != 1:
        raise ValueError(f"expected one physical root; found {len(chosen)} among {roots}")
    return chosen[0]


@lru_cache(maxsize=1)
def margin_solution() -> sp.Expr:
    """Solve p·(1 − γ(1 − p)/β) = p_ref (P_2(a|p) = γ·(1 − p)): the paper's eq. (14).

    The quadratic has roots of product −(β/γ)·p_ref < 0, so exactly one lies in (0, 1):
        p = ½·[(1 − β/γ) + sqrt((1 − β/γ)² + 4·(β/γ)·p_ref)].
    """
    equation = p * (1 - gamma * (1 - p) / beta) - p_ref
    return sp.simplify(_physical_root(sp.solve(equation, p), equation))


def margin_lower_bound() -> sp.Expr:
    """max(1 − β/γ, p_ref): the paper's lower bound on the eq. (14) solution."""
    return sp.Max(1 - beta / gamma, p_ref)


@lru_cache(maxsize=16)
def stationary_closed_form(group_size: float | int | sp.Expr, std: str = "population") -> sp.Expr:
    """Closed-form reverse-KL stationary p for G = 2, 3, ∞ (population or sample std).

    With no std normalisation every G (integer, ∞ or the symbol G) has one: P_G(a) is
    ((G − 1)/G)·(1 − p). G = 2, 3: P_G(a) = κ·(1 − p), giving eq. (14) with γ = κ (for G = 3
    derived here). G = ∞ (V&Y eq. (15)):
    β·(p − p_ref) = sqrt(p(1 − p)) is squared to (1 + β²)p² − (1 + 2β²p_ref)p + β²p_ref² = 0
    and the root with p ≥ p_ref kept:
        p = (1 + 2β²p_ref + sqrt(1 + 4β²p_ref(1 − p_ref))) / (2(1 + β²)).
    For G ≥ 4 (with std) the fixed point is a polynomial of degree G in p: no closed form.
    """
    if std != "none" and group_size not in CLOSED_FORM_GROUP_SIZES:
        raise ValueError(
            f"closed forms exist for group_size in (2, 3, inf) with std normalisation (or any G with "
            f"std='none'); got group_size={group_size!r}: for G >= 4 the fixed point is a degree-G "
            "polynomial in p. Use grpo_stationary_policy, or large_group_correction for large G"
        )
    kappa = margin_of(group_size, std)
    if kappa is not None:
        return sp.simplify(margin_solution().subs(gamma, kappa))
    equation = fixed_point(group_size, std)
    pa = binary_preference(group_size, std)
    # β·(p − p_ref) = p·P_∞(a) = sqrt(p(1 − p)): square both sides.
    squared = sp.expand((beta * (p - p_ref)) ** 2 - sp.factor(p * pa) ** 2)
    return sp.simplify(_physical_root(sp.solve(squared, p), equation))


@lru_cache(maxsize=1)
def log_pooling_binary() -> sp.Expr:
    """argmax_p p − β·KL(p ‖ p_ref): p* = p_ref·e^{1/β} / (p_ref·e^{1/β} + 1 − p_ref) (docs/theory.md §1)."""
    objective = p - beta * (p * sp.log(p / p_ref) + (1 - p) * sp.log((1 - p) / (1 - p_ref)))
    roots = sp.solve(sp.logcombine(sp.expand_log(sp.diff(objective, p), force=True), force=True), p)
    if len(roots) != 1:
        raise ValueError(f"expected one stationary point of the pooling objective; got {roots}")
    return sp.simplify(roots[0])


def limits(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(lim_{β→0+} expr, lim_{β→∞} expr), for 0 < p_ref < 1."""
    return sp.limit(expr, beta, 0, "+"), sp.limit(expr, beta, sp.oo)


def inverse_beta_expansion(expr: sp.Expr, order: int = 2) -> sp.Expr:
    """Series of expr in t = 1/β about t = 0 (β → ∞), through t^(order − 1), as a polynomial in 1/β."""
    t = sp.Symbol("t", positive=True)
    series = sp.series(expr.subs(beta, 1 / t), t, 0, order).removeO()
    return sp.expand(sp.simplify(series.subs(t, 1 / beta)))


def small_deviation_coefficient(group_size: float | int, std: str = "population") -> sp.Expr:
    """c₁ in p = p_ref + c₁/β + O(1/β²), by the implicit-function theorem on the fixed point.

    With t = 1/β, F(p, t) = p·(1 − t·P_G(a|p)) − p_ref; at t = 0, p = p_ref and
    dp/dt = −F_t/F_p = p_ref·P_G(a|p_ref): π ≈ π_ref·(1 + P_G(o|π_ref)/β) for every output.
    """
    t = sp.Symbol("t", positive=True)
    f = (p * (1 - t * binary_preference(group_size, std)) - p_ref)
    dpdt = -sp.diff(f, t) / sp.diff(f, p)
    return sp.simplify(dpdt.subs({t: 0, p: p_ref}))


def logit_gap_ginf() -> sp.Expr:
    """P_∞(a|p) − P_∞(b|p) at p = σ(x), simplified to 2·cosh(x/2)."""
    gap = binary_preference(math.inf) - binary_preference_b(math.inf)
    at_x = gap.subs(p, 1 / (1 + sp.exp(-x)))
    return sp.simplify(sp.simplify(at_x).rewrite(sp.cosh))


@lru_cache(maxsize=1)
def direct_kl_ginf_threshold() -> tuple[sp.Expr, sp.Expr]:
    """Existence of a direct-KL stationary point at G = ∞ (binary), derived.

    The fixed point is h(x) = 0, h(x) = x − logit(p_ref) − (2/β)·cosh(x/2) (x = logit p).
    h is strictly concave with h → −∞ at both ends, maximised where sinh(x/2) = β, i.e.
    x* = 2·asinh(β), so a solution exists iff
        2·asinh(β) − (2/β)·sqrt(1 + β²) ≥ logit(p_ref).
    Returns (x*, max_x [x − (2/β)cosh(x/2)]).
    """
    u = x - (2 / beta) * sp.cosh(x / 2)
    du = sp.diff(u, x)
    crit = sp.solve(du, x)
    # solve works through exp(x) and returns a spurious root (sinh(x/2) = −β) too.
    probes = (sp.Rational(1, 2), sp.Integer(3))
    real = [c for c in crit if all(abs(sp.N(du.subs(x, c).subs(beta, b), 30)) < 1e-25 for b in probes)]
    if len(real) != 1:
        raise ValueError(f"expected one critical point; got {crit}")
    x_star = 2 * sp.asinh(beta)
    # Both are real logs: compare their exponentials, (β + sqrt(1 + β²))² expanded.
    if sp.expand(sp.exp(real[0]) - sp.exp(x_star.rewrite(sp.log))) != 0:
        raise ValueError(f"critical point {real[0]} is not 2·asinh(beta)")
    return x_star, sp.simplify(u.subs(x, x_star))


def numeric(expr: sp.Expr, *args: sp.Symbol, modules: str = "numpy"):
    """lambdify ``expr`` in ``args`` (default: its free symbols in name order)."""
    symbols = args or tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    return sp.lambdify(symbols, expr, modules=modules)


def check_binary_point(p_ref_value: float, beta_value: float) -> tuple[sp.Expr, sp.Expr]:
    """Validate a numeric (p_ref, β) for substitution: 0 < p_ref < 1, β > 0."""
    return check_probability(p_ref_value, "p_ref"), check_positive(beta_value, "beta")
