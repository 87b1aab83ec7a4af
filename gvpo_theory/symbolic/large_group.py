"""Finite-group correction to the large-group stationary point of a binary question.

A result the source papers do not state. For a binary question (docs/theory.md §4) with population
std, P_G(a|p) = E[h(Y)], h(y) = sqrt((1 − y)/y), Y = (M + 1)/G, M ~ Binomial(G − 1, p)
(a member scoring 1 sees M + 1 ones among G rewards; its advantage is sqrt((G − M − 1)/(M + 1))).
With u = 1/G, E[Y] = p + (1 − p)·u and the k-th central moment of Y is μ_k(M)·u^k, which is
O(u^⌈k/2⌉). The delta-method (Edgeworth-type) expansion

    E[h(Y)] = Σ_k h^(k)(E[Y])·μ_k(Y)/k!                                            (1)

therefore needs k ≤ 2 at first order (sympy confirms that the k = 3, 4 terms are O(u²)) and
gives

    P_G(a|p) = sqrt((1 − p)/p) − 1/(8·G·p·sqrt(p(1 − p))) + O(1/G²).               (2)

(Sample std multiplies every advantage by sqrt(1 − 1/G), adding −sqrt((1 − p)/p)/(2G).)
The implicit-function theorem on F(p, u) = p·(1 − P(p, u)/β) − p_ref at u = 0 then gives

    p_G = p_∞ + c/G + O(1/G²),   c = p·c_P(p) / (β − P_∞(p) − p·P_∞'(p)) at p = p_∞,   (3)

which for population std simplifies to c = −1 / (8·(β·sqrt(p_∞(1 − p_∞)) + p_∞ − ½)):
finite groups sit below the large-group answer, by about c/G.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from ..stationary import grpo_stationary_policy
from .binary import p, p_ref, stationary_closed_form
from .objective import beta

#: u = 1/G, the expansion variable.
u = sp.Symbol("u", positive=True)
#: Number of other group members n = G − 1 in the binomial moments.
n = sp.Symbol("n", positive=True)

#: Taylor order of (1): terms k >= 3 are shown to be O(u²), so 4 is ample.
DELTA_METHOD_ORDER = 4


def binomial_central_moments(order: int) -> tuple[sp.Expr, ...]:
    """μ_k(M) = E[(M − n·p)^k] for M ~ Binomial(n, p), k = 0..order, from the MGF.

    E[e^{s(M − np)}] = ((1 − p)·e^{−ps} + p·e^{(1−p)s})^n; μ_k is its k-th derivative at s = 0.
    """
    s = sp.Symbol("s")
    mgf = ((1 - p) * sp.exp(-p * s) + p * sp.exp((1 - p) * s)) ** n
    return tuple(sp.factor(sp.diff(mgf, s, k).subs(s, 0)) for k in range(order + 1))


@dataclass(frozen=True)
class PreferenceExpansion:
    """P_G(a|p) = leading + first_order/G + O(1/G²), with the terms of (1) that produced it.

    ``terms[k]`` is the first-order coefficient (in u = 1/G) contributed by the k-th term
    of the delta-method sum; ``terms[3]`` and ``terms[4]`` are 0.
    """

    leading: sp.Expr
    first_order: sp.Expr
    terms: tuple[sp.Expr, ...]


@lru_cache(maxsize=4)
def preference_expansion(std: str = "population") -> PreferenceExpansion:
    """Expand P_G(a|p) in 1/G by (1); see the module docstring for (2)."""
    if std not in ("population", "sample"):
        raise ValueError(f"std must be 'population' or 'sample' for the 1/G expansion; got {std!r}")
    y = sp.Symbol("y", positive=True)
    h = sp.sqrt((1 - y) / y)
    mean_y = p + (1 - p) * u
    moments = binomial_central_moments(DELTA_METHOD_ORDER)
    leading_terms = []
    first_terms = []
    for k in range(DELTA_METHOD_ORDER + 1):
        mu_y = (moments[k] * u**k).subs(n, 1 / u - 1)
        term = sp.diff(h, y, k).subs(y, mean_y) * mu_y / sp.factorial(k)
        ser = sp.series(term, u, 0, 2).removeO()
        leading_terms.append(sp.simplify(ser.coeff(u, 0)))
        first_terms.append(sp.simplify(ser.coeff(u, 1)))
    leading = sp.simplify(sum(leading_terms))
    first = sp.simplify(sum(first_terms))
    if std == "sample":
        # A_sample = A_population·sqrt((G − 1)/G) = A_population·(1 − u/2 + O(u²)).
        first = sp.simplify(first - leading / 2)
    return PreferenceExpansion(leading, first, tuple(first_terms))


@lru_cache(maxsize=4)
def large_group_correction(std: str = "population") -> sp.Expr:
    """c(p_∞, β) of (3): p_G = p_∞ + c/G + O(1/G²); ``p`` stands for p_∞.

    Implicit-function theorem on F(p, u) = p·(1 − (P_∞(p) + u·c_P(p))/β) − p_ref:
    dp/du = −F_u/F_p at u = 0. Population std: c = −1/(8(β·sqrt(p(1 − p)) + p − ½)).
    """
    exp = preference_expansion(std)
    pref = exp.leading + u * exp.first_order
    f = p * (1 - pref / beta) - p_ref
    dpdu = -sp.diff(f, u) / sp.diff(f, p)
    return sp.simplify(sp.factor(sp.simplify(dpdu.subs(u, 0))))


def compact_correction() -> sp.Expr:
    """The population-std c of (3) in compact form, −1/(8(β·sqrt(p(1 − p)) + p − ½)), p = p_∞."""
    return -1 / (8 * (beta * sp.sqrt(p * (1 - p)) + p - sp.Rational(1, 2)))


@lru_cache(maxsize=4)
def large_group_correction_in_p_ref(std: str = "population") -> sp.Expr:
    """c(p_ref, β): (3) with p_∞ replaced by the G = ∞ closed form."""
    return large_group_correction(std).subs(p, stationary_closed_form(math.inf, std))


@dataclass(frozen=True)
class CorrectionCheck:
    """Numeric check of (3): G·(p_G − p_∞) against c, for growing G.

    Attributes:
        group_sizes: the G checked.
        scaled_gap: G·(p_G − p_∞) with p_G, p_∞ from ``grpo_stationary_policy``.
        predicted: c(p_ref, β) from :func:`large_group_correction_in_p_ref`.
        error: scaled_gap − predicted; O(1/G), so it shrinks about tenfold per decade of G.
    """

    p_ref: float
    beta: float
    std: str
    group_sizes: tuple[int, ...]
    scaled_gap: tuple[float, ...]
    predicted: float
    error: tuple[float, ...]


def check_large_group_correction(
    p_ref_value: float, beta_value: float, group_sizes: tuple[int, ...] = (10**3, 10**4, 10**5),
    std: str = "population",
) -> CorrectionCheck:
    """Compare G·(p_G − p_∞) from the numeric engine with the derived c (equation (3))."""
    if not 0 < p_ref_value < 1:
        raise ValueError(f"p_ref must lie strictly between 0 and 1; got {p_ref_value!r}")
    if not beta_value > 0:
        raise ValueError(f"beta must be > 0; got {beta_value!r}")
    pi_ref = np.array([1.0 - p_ref_value, p_ref_value])
    rewards = np.array([0.0, 1.0])
    p_inf = float(grpo_stationary_policy(pi_ref, rewards, beta_value, math.inf, std=std).policy[1])
    gaps = []
    for g in group_sizes:
        res = grpo_stationary_policy(pi_ref, rewards, beta_value, g, std=std)
        if not bool(res.converged):
            raise ValueError(f"the engine did not converge at G={g}")
        gaps.append(g * (float(res.policy[1]) - p_inf))
    c = float(large_group_correction_in_p_ref(std).subs({p_ref: p_ref_value, beta: beta_value}))
    return CorrectionCheck(
        p_ref_value, beta_value, std, tuple(group_sizes), tuple(gaps), c, tuple(gp - c for gp in gaps)
    )

