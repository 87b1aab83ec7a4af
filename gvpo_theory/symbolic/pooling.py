"""Logarithmic pooling and the no-std + direct-KL equivalence, symbolically (docs/theory.md §1, §3).

* The KL-regularised objective E_π[r] − β·KL(π ‖ π_ref) is stationary (in the softmax
  logits) exactly at π ∝ π_ref·exp(r/β).
* Without std normalisation (Dr. GRPO), P_G(o|π) = ((G − 1)/G)·(r(o) − E_π r) for every G,
  so the direct-KL GRPO fixed point π ∝ π_ref·exp(P_G/β) is logarithmic pooling with
  β' = G·β/(G − 1) (the paper's discussion of rewards without scale normalisation).
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ._validate import check_expansion_size
from .binary import G
from .objective import (
    beta,
    compositions,
    log_softmax,
    logit_symbols,
    policy_symbols,
    preference_expression,
    zero_simplify,
)


def reward_symbols(n_outputs: int) -> tuple[sp.Symbol, ...]:
    """Symbolic rewards r_1..r_K."""
    return sp.symbols(f"r_1:{n_outputs + 1}", real=True)


@lru_cache(maxsize=4)
def log_pooling_stationarity(n_outputs: int) -> tuple[sp.Expr, ...]:
    """∂/∂θ_o [E_π r − β·KL(π ‖ π_ref)] at θ_o = log π_ref(o) + r(o)/β: zero for every o."""
    check_expansion_size(n_outputs, 2)
    theta = logit_symbols(n_outputs)
    pi_ref = policy_symbols(n_outputs, "pi_ref")
    r = reward_symbols(n_outputs)
    log_pi = log_softmax(theta)
    pi = [sp.exp(lp) for lp in log_pi]
    objective = sum(pi[o] * r[o] - beta * pi[o] * (log_pi[o] - sp.log(pi_ref[o])) for o in range(n_outputs))
    at = {theta[o]: sp.log(pi_ref[o]) + r[o] / beta for o in range(n_outputs)}
    return tuple(zero_simplify(sp.diff(objective, t).subs(at)) for t in theta)


def no_std_preference_general() -> sp.Expr:
    """P_G(o|π) without std, any G, by linearity: r(o) − E[(r(o) + Σ_{i≥2} r_i)/G].

    Returned as the difference from ((G − 1)/G)·(r(o) − E_π r), simplified (zero); the
    symbol ``mean_r`` stands for E_π r.
    """
    r_o, mean_r = sp.symbols("r_o mean_r", real=True)
    derived = r_o - (r_o + (G - 1) * mean_r) / G
    return sp.simplify(derived - (G - 1) / G * (r_o - mean_r))


@lru_cache(maxsize=16)
def no_std_preference_check(n_outputs: int, group_size: int) -> tuple[sp.Expr, ...]:
    """Composition sum of P_G(o|π) (std="none", symbolic rewards) minus ((G − 1)/G)(r(o) − E_π r)."""
    check_expansion_size(n_outputs, group_size)
    pi = policy_symbols(n_outputs, "pi")
    r = reward_symbols(n_outputs)
    pref = preference_expression(pi, r, group_size, "none")
    mean_r = sum(pi[o] * r[o] for o in range(n_outputs))
    f = sp.Rational(group_size - 1, group_size)
    return tuple(sp.expand(pref[o] - f * (r[o] - mean_r)) for o in range(n_outputs))


def rloo_preference_general() -> sp.Expr:
    """RLOO's P_G(o|π), any G, by linearity: E[r(o) − Σ_{i≥2} r_i/(G − 1)] = r(o) − E_π r.

    Returned as the difference from r(o) − E_π r (zero); ``mean_r`` stands for E_π r.
    """
    r_o, mean_r = sp.symbols("r_o mean_r", real=True)
    derived = r_o - (G - 1) * mean_r / (G - 1)
    return sp.simplify(derived - (r_o - mean_r))


@lru_cache(maxsize=16)
def rloo_preference_check(n_outputs: int, group_size: int) -> tuple[sp.Expr, ...]:
    """Composition sum of RLOO's P_G(o|π) (leave-one-out baseline, no std, symbolic rewards)
    minus r(o) − E_π r: all zero."""
    check_expansion_size(n_outputs, group_size)
    pi = policy_symbols(n_outputs, "pi")
    r = reward_symbols(n_outputs)
    pref = preference_expression(pi, r, group_size, "none", "leave_one_out")
    mean_r = sum(pi[o] * r[o] for o in range(n_outputs))
    return tuple(sp.expand(pref[o] - (r[o] - mean_r)) for o in range(n_outputs))


def effective_beta() -> sp.Expr:
    """β' = G·β/(G − 1): the pooling strength equivalent to no-std GRPO with direct KL."""
    return G * beta / (G - 1)


@lru_cache(maxsize=4)
def no_std_direct_kl_residual(n_outputs: int) -> tuple[sp.Expr, ...]:
    """At π = π_ref·exp(r/β')/Z, d(o) = log(π(o)/π_ref(o)) − P_G(o|π)/β minus d(K): all zero.

    The direct-KL fixed point requires d(o) to be the same for all outputs (π ∝
    π_ref·exp(P_G/β)); here it is shown for symbolic G, rewards, π_ref and normaliser Z.
    """
    check_expansion_size(n_outputs, 2)
    pi_ref = policy_symbols(n_outputs, "pi_ref")
    r = reward_symbols(n_outputs)
    z = sp.Symbol("Z", positive=True)
    pi = [pi_ref[o] * sp.exp(r[o] / effective_beta()) / z for o in range(n_outputs)]
    mean_r = sum(pi[o] * r[o] for o in range(n_outputs))
    d = [sp.log(pi[o] / pi_ref[o]) - (G - 1) / G * (r[o] - mean_r) / beta for o in range(n_outputs)]
    return tuple(zero_simplify(d[o] - d[-1]) for o in range(n_outputs))


def composition_count(n_outputs: int, group_size: int) -> int:
    """C(G + K − 2, K − 1): compositions of the other G − 1 members over K outputs."""
    return len(compositions(group_size - 1, n_outputs))
