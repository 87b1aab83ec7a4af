"""Symbolic layer: every derived identity is checked symbolically and against the numeric engine."""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

from gvpo_theory.cli import main
from gvpo_theory.pooling import kl_optimal_policy
from gvpo_theory.preference import preference_model
from gvpo_theory.problem import RewardDistribution
from gvpo_theory.stationary import grpo_stationary_policy
from gvpo_theory.symbolic import binary as bn
from gvpo_theory.symbolic import derivation_names, derive, render_latex, render_text
from gvpo_theory.symbolic import large_group as lg
from gvpo_theory.symbolic import objective as ob
from gvpo_theory.symbolic import pooling as pl
from gvpo_theory.symbolic._validate import check_positive, check_probability

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-12

probs = st.floats(0.02, 0.98)
betas = st.floats(0.05, 20.0)


@lru_cache(maxsize=64)
def closed_fn(g, std: str = "population"):
    """Lambdified closed form p(p_ref, β), built once per (G, std)."""
    if std == "none":
        expr = bn.stationary_closed_form(bn.G, "none")
        expr = sp.limit(expr, bn.G, sp.oo) if math.isinf(g) else expr.subs(bn.G, g)
    else:
        expr = bn.stationary_closed_form(g, std)
    return bn.numeric(expr, bn.p_ref, ob.beta)


def engine_p(p_ref: float, beta: float, group_size, std: str = "population", penalty: str = "reverse_kl"):
    res = grpo_stationary_policy([1 - p_ref, p_ref], [0.0, 1.0], beta, group_size, std=std, penalty=penalty)
    return float(res.policy[1]), bool(res.converged)


# ------------------------------------------------------------------ objective -> condition

FAST_GRID = [(2, g, s, pen) for g in (2, 3, 4) for s in ob.STD_CHOICES for pen in ob.PENALTY_CHOICES] + [
    (3, 3, "population", "reverse_kl"), (3, 2, "sample", "direct_kl"), (3, 4, "none", "reverse_kl"),
]
FULL_GRID = [(3, g, s, pen) for g in (2, 3, 4) for s in ob.STD_CHOICES for pen in ob.PENALTY_CHOICES]


@pytest.mark.claim("vy-stationarity", way="closed form")
@pytest.mark.claim("vy-direct-kl-stationarity", way="closed form")
@pytest.mark.parametrize(("k", "g", "std", "penalty"), FAST_GRID)
def test_grpo_gradient_is_theory_ascent_direction(k, g, std, penalty) -> None:
    st_ = ob.grpo_stationarity(k, g, std, penalty)
    assert all(r == 0 for r in st_.residual)


@pytest.mark.slow
@pytest.mark.parametrize(("k", "g", "std", "penalty"), FULL_GRID)
def test_grpo_gradient_full_grid(k, g, std, penalty) -> None:
    assert all(r == 0 for r in ob.grpo_stationarity(k, g, std, penalty).residual)


def test_wrong_ascent_direction_is_detected() -> None:
    """The identity check has teeth: dropping π(o) before P_G, or β's sign, leaves a residual."""
    st_ = ob.grpo_stationarity(2, 3, "population", "reverse_kl")
    for o in range(2):
        wrong = st_.preference[o] - ob.beta * (st_.pi[o] - st_.pi_ref[o])
        assert ob.zero_simplify(st_.gradient[o] - wrong) != 0
        flipped = st_.pi[o] * st_.preference[o] + ob.beta * (st_.pi[o] - st_.pi_ref[o])
        assert ob.zero_simplify(st_.gradient[o] - flipped) != 0


@pytest.mark.claim("vy-stationarity", way="closed form")
@pytest.mark.parametrize(("k", "g"), [(2, 3), (3, 3), pytest.param(3, 4, marks=pytest.mark.slow)])
def test_reverse_kl_fixed_point_solves_for_pi_ref(k, g) -> None:
    st_ = ob.grpo_stationarity(k, g)
    sol = ob.reverse_kl_fixed_point(k, g)
    for o in range(k - 1):
        assert ob.zero_simplify(sol[st_.pi_ref[o]] - st_.pi[o] * (1 - st_.preference[o] / ob.beta)) == 0


@lru_cache(maxsize=16)
def preference_fn(g: int, std: str):
    """Lambdified symbolic P_G(o|π) for K = 3, rewards (0, 1, 3), built once."""
    st_ = ob.grpo_stationarity(3, g, std, "reverse_kl")
    return sp.lambdify(st_.pi[:2], sp.Matrix(st_.preference), "numpy")


@pytest.mark.claim("vy-preference-model", way="closed form")
@pytest.mark.parametrize(("g", "std"), [(2, "population"), (3, "sample"), (4, "population"), (4, "none")])
@given(a=st.floats(0.05, 0.9), frac=st.floats(0.05, 0.95))
def test_symbolic_preference_matches_engine(g, std, a, frac) -> None:
    pi = np.array([a, (1 - a) * frac, (1 - a) * (1 - frac)])
    f = preference_fn(g, std)
    got = np.asarray(f(pi[0], pi[1]), dtype=float).reshape(-1)
    want = preference_model(pi, [0.0, 1.0, 3.0], g, std=std)
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


# ------------------------------------------------------------------------------ GVPO


@pytest.mark.claim("gvpo-mse", way="closed form")
@pytest.mark.parametrize(("k", "n"), [(2, 2), (2, 3), (3, 2)])
def test_gvpo_loss_gradient_is_mse_gradient(k, n) -> None:
    assert all(r == 0 for r in ob.gvpo_loss_is_mse(k, n))


@pytest.mark.claim("gvpo-unique-optimum", way="closed form")
@pytest.mark.claim("gvpo-any-sampler", way="closed form")
@pytest.mark.parametrize(("k", "n"), [(2, 2), (2, 3), (3, 2), (3, 3)])
def test_gvpo_expected_direction_and_optimum(k, n) -> None:
    st_ = ob.gvpo_stationarity(k, n)
    assert all(r == 0 for r in st_.residual)
    assert all(r == 0 for r in st_.at_optimum)
    # Away from the optimum the direction does not vanish (the check can fail).
    point = {s: v for s, v in zip(ob.logit_symbols(k), (0.3, -0.2, 0.5))}
    point |= {s: sp.Rational(1, k + 1) for s in ob.policy_symbols(k, "pi_ref")[:-1]}
    point |= {s: sp.Rational(1, k + 2) for s in ob.policy_symbols(k, "pi_s")[:-1]}
    point |= {sp.Symbol(f"R_{i + 1}", real=True): i for i in range(k)} | {ob.beta: 1}
    assert max(abs(float(d.subs(point))) for d in st_.direction) > 1e-3


@pytest.mark.slow
def test_gvpo_loss_is_mse_three_outputs_three_members() -> None:
    assert all(r == 0 for r in ob.gvpo_loss_is_mse(3, 3))


# ---------------------------------------------------------------------- binary closed forms


@pytest.mark.claim("vy-eq14-g2", way="closed form")
@pytest.mark.claim("vy-eq15-ginf", way="closed form")
@pytest.mark.claim("derived-g3-binary", way="closed form")
@pytest.mark.parametrize(("g", "std"), [(2, "population"), (3, "population"), (2, "sample"),
                                         (3, "sample"), (math.inf, "population")])
@given(p_ref=probs, beta=betas)
def test_binary_closed_form_matches_engine(g, std, p_ref, beta) -> None:
    f = closed_fn(g, std)
    want, ok = engine_p(p_ref, beta, g, std)
    assert ok
    assert abs(f(p_ref, beta) - want) < TOL


@pytest.mark.claim("vy-no-std-preference", way="closed form")
@pytest.mark.parametrize("g", [2, 5, 17, math.inf])
@given(p_ref=probs, beta=betas)
def test_binary_no_std_closed_form_matches_engine(g, p_ref, beta) -> None:
    f = closed_fn(g, "none")
    want, _ = engine_p(p_ref, beta, g, "none")
    assert abs(f(p_ref, beta) - want) < TOL


def test_theory_reference_values() -> None:
    ref = {(1, 2): 0.5477225575051661, (1, math.inf): 0.7391164991562634,
           (0.5, 2): 0.7109772228646444, (0.5, math.inf): 0.9}
    for (beta, g), want in ref.items():
        assert abs(float(bn.stationary_closed_form(g).subs({bn.p_ref: 0.3, ob.beta: beta})) - want) < TOL
    assert abs(float(bn.log_pooling_binary().subs({bn.p_ref: 0.3, ob.beta: 1})) - 0.538101526224449) < TOL


@pytest.mark.claim("derived-g3-binary", way="closed form")
def test_g3_population_is_margin_sqrt2() -> None:
    assert bn.margin_of(3) == sp.sqrt(2)
    assert bn.margin_of(2) == 1
    assert bn.margin_of(2, "sample") == sp.sqrt(2) / 2
    assert bn.margin_of(4) is None


@pytest.mark.claim("vy-eq14-g2", way="closed form")
def test_margin_solution_is_paper_eq14() -> None:
    b, g, pr = ob.beta, bn.gamma, bn.p_ref
    paper = ((1 - b / g) + sp.sqrt((1 - b / g) ** 2 + 4 * (b / g) * pr)) / 2
    assert sp.simplify(bn.margin_solution() - paper) == 0
    wrong = ((1 - b / g) + sp.sqrt((1 - b / g) ** 2 + 2 * (b / g) * pr)) / 2
    assert sp.simplify(bn.margin_solution() - wrong) != 0


@pytest.mark.claim("vy-confidence-margin", way="closed form")
@pytest.mark.claim("vy-g2-beta-over-gamma", way="closed form")
@given(s_a=st.floats(0.3, 0.99), s_b=st.floats(0.0, 0.25), p_ref=probs, beta=st.floats(0.05, 5.0))
def test_margin_solution_matches_bernoulli_rewards(s_a, s_b, p_ref, beta) -> None:
    """Noisy verifier: γ = s_a − s_b, and eq. (14) is the G = 2 stationary point."""
    res = grpo_stationary_policy([1 - p_ref, p_ref], RewardDistribution.bernoulli([s_b, s_a]), beta, 2)
    f = bn.numeric(bn.margin_solution(), bn.p_ref, ob.beta, bn.gamma)
    got = f(p_ref, beta, s_a - s_b)
    assert bool(res.converged)
    assert abs(got - float(res.policy[1])) < 1e-10
    assert got >= max(1 - beta / (s_a - s_b), p_ref) - 1e-15


@pytest.mark.claim("vy-ginf-lower-bound", way="closed form")
def test_large_group_lower_bound() -> None:
    assert sp.simplify(sp.limit(bn.stationary_closed_form(math.inf), bn.p_ref, 0) - 1 / (1 + ob.beta**2)) == 0


@pytest.mark.claim("rlhf-log-pooling", way="closed form")
@given(p_ref=probs, beta=betas)
def test_log_pooling_matches_engine(p_ref, beta) -> None:
    f = bn.numeric(bn.log_pooling_binary(), bn.p_ref, ob.beta)
    assert abs(f(p_ref, beta) - kl_optimal_policy([1 - p_ref, p_ref], [0, 1], beta)[1]) < TOL


@pytest.mark.claim("rlhf-log-pooling", way="closed form")
def test_log_pooling_stationarity_symbolic() -> None:
    assert all(r == 0 for r in pl.log_pooling_stationarity(3))


# ----------------------------------------------------------------- no std + direct KL


@pytest.mark.claim("vy-no-std-preference", way="closed form")
def test_no_std_preference_symbolic() -> None:
    assert pl.no_std_preference_general() == 0
    for g in (2, 3, 4):
        assert all(r == 0 for r in pl.no_std_preference_check(3, g))
    assert all(r == 0 for r in pl.no_std_direct_kl_residual(3))


def test_no_std_direct_kl_wrong_beta_is_detected() -> None:
    pi_ref = ob.policy_symbols(2, "pi_ref")
    r = pl.reward_symbols(2)
    z = sp.Symbol("Z", positive=True)
    pi = [pi_ref[o] * sp.exp(r[o] / ob.beta) / z for o in range(2)]  # β instead of β'
    mean_r = sum(pi[o] * r[o] for o in range(2))
    d = [sp.log(pi[o] / pi_ref[o]) - (bn.G - 1) / bn.G * (r[o] - mean_r) / ob.beta for o in range(2)]
    assert ob.zero_simplify(d[0] - d[1]) != 0


@pytest.mark.claim("vy-no-std-direct-kl-pooling", way="exact numerics")
@pytest.mark.parametrize("g", [2, 3, 8])
@given(a=st.floats(0.05, 0.9), frac=st.floats(0.05, 0.95), beta=st.floats(0.1, 10.0))
def test_no_std_direct_kl_is_pooling_numerically(g, a, frac, beta) -> None:
    pi_ref = np.array([a, (1 - a) * frac, (1 - a) * (1 - frac)])
    rewards = np.array([0.0, 1.0, 3.0])
    res = grpo_stationary_policy(pi_ref, rewards, beta, g, std="none", penalty="direct_kl")
    beta_eff = float(pl.effective_beta().subs({bn.G: g, ob.beta: beta}))
    np.testing.assert_allclose(res.policy, kl_optimal_policy(pi_ref, rewards, beta_eff), atol=TOL, rtol=0)


# ------------------------------------------------------------------ limits and 1/β


@pytest.mark.claim("vy-g2-limits", way="closed form")
@pytest.mark.parametrize("g", [2, 3, math.inf])
def test_limits(g) -> None:
    assert bn.limits(bn.stationary_closed_form(g)) == (1, bn.p_ref)
    assert bn.limits(bn.log_pooling_binary()) == (1, bn.p_ref)


@pytest.mark.claim("derived-small-deviation", way="closed form")
@pytest.mark.parametrize("g", [2, 3, math.inf])
def test_small_deviation_coefficient(g) -> None:
    c1 = bn.small_deviation_coefficient(g)
    series = bn.inverse_beta_expansion(bn.stationary_closed_form(g))
    assert sp.simplify(series - (bn.p_ref + c1 / ob.beta)) == 0
    assert sp.simplify(c1 - bn.p_ref * bn.binary_preference(g).subs(bn.p, bn.p_ref)) == 0
    f = bn.numeric(c1, bn.p_ref)
    for beta in (1e3, 1e4):
        p, _ = engine_p(0.3, beta, g)
        assert abs(beta * (p - 0.3) - f(0.3)) < 2.0 / beta


@pytest.mark.claim("derived-small-deviation", way="closed form")
def test_g2_and_pooling_agree_to_first_order() -> None:
    pool = bn.inverse_beta_expansion(bn.log_pooling_binary())
    assert sp.simplify(pool - bn.inverse_beta_expansion(bn.stationary_closed_form(2))) == 0


def test_closed_form_in_mpmath_where_double_is_marginal() -> None:
    """At β = 1e7 the G = 2 formula cancels catastrophically in double precision."""
    expr = bn.stationary_closed_form(2)
    with mpmath.workdps(50):
        f = sp.lambdify((bn.p_ref, ob.beta), expr, "mpmath")
        exact = f(mpmath.mpf("0.3"), mpmath.mpf(10) ** 7)
        want, _ = engine_p(0.3, 1e7, 2)
        assert abs(float(exact) - want) < 1e-15
        # β·(p − p_ref) → p_ref(1 − p_ref): needs the digits double precision loses.
        assert abs(float((exact - mpmath.mpf("0.3")) * mpmath.mpf(10) ** 7) - 0.21) < 1e-6


# ----------------------------------------------------------------------- 1/G correction


def mp_preference(group_size: int, p_value, dps: int = 40):
    """Reference P_G(a|p): the binomial sum of docs/theory.md §4 in mpmath, terms by recurrence."""
    with mpmath.workdps(dps):
        p = mpmath.mpf(p_value)
        n = group_size - 1
        term = (1 - p) ** n  # C(n, 0) p^0 (1 − p)^n
        total = mpmath.mpf(0)
        for m in range(n):
            total += term * mpmath.sqrt(mpmath.mpf(n - m) / (m + 1))
            term *= mpmath.mpf(n - m) / (m + 1) * p / (1 - p)
        return +total


def test_preference_expansion_terms() -> None:
    exp = lg.preference_expansion()
    assert exp.terms[1] == 0 and exp.terms[3] == 0 and exp.terms[4] == 0
    assert sp.simplify(exp.first_order + 1 / (8 * bn.p * sp.sqrt(bn.p * (1 - bn.p)))) == 0
    assert sp.simplify(lg.large_group_correction() - lg.compact_correction()) == 0


@pytest.mark.parametrize("g", [4, 9, 16])
def test_symbolic_binomial_sum_matches_mpmath(g) -> None:
    f = sp.lambdify(bn.p, bn.binary_preference(g), "mpmath")
    with mpmath.workdps(40):
        for pv in ("0.1", "0.5", "0.83"):
            assert abs(f(mpmath.mpf(pv)) - mp_preference(g, pv)) < mpmath.mpf(10) ** -30


@pytest.mark.claim("derived-large-group-correction", way="closed form")
def test_preference_expansion_against_mpmath() -> None:
    """G·(P_G − P_∞) → c_P(p) with an O(1/G) gap, from the exact binomial sum."""
    exp = lg.preference_expansion()
    c_p = float(exp.first_order.subs(bn.p, 0.6))
    p_inf = math.sqrt(0.4 / 0.6)
    gaps = [abs(float(g * (mp_preference(g, "0.6") - mpmath.mpf(p_inf))) - c_p) for g in (200, 2000)]
    assert gaps[1] < gaps[0] / 5 and gaps[1] < 1e-3


@pytest.mark.claim("derived-large-group-correction", way="exact numerics")
@pytest.mark.parametrize("std", ["population", "sample"])
def test_large_group_correction_against_engine(std) -> None:
    chk = lg.check_large_group_correction(0.3, 1.0, (1000, 10000), std=std)
    err = [abs(e) for e in chk.error]
    assert err[1] < err[0] / 5
    assert err[1] < 1e-4


def test_large_group_engine_against_mpmath_fixed_point() -> None:
    """An independent 40-digit solve of p(1 − P_G(a|p)/β) = p_ref at G = 1000."""
    g, p_ref, beta = 1000, mpmath.mpf("0.3"), 1
    with mpmath.workdps(40):
        p_mp = mpmath.findroot(lambda q: q * (1 - mp_preference(g, q) / beta) - p_ref, mpmath.mpf("0.74"))
    p_num, _ = engine_p(0.3, 1.0, g)
    assert abs(float(p_mp) - p_num) < 1e-12


# ------------------------------------------------------------- direct KL at G = ∞


@pytest.mark.claim("derived-direct-kl-threshold", way="closed form")
def test_direct_kl_threshold_symbolic() -> None:
    x_star, top = bn.direct_kl_ginf_threshold()
    assert x_star == 2 * sp.asinh(ob.beta)
    assert sp.simplify(top - (2 * sp.asinh(ob.beta) - 2 * sp.sqrt(1 + ob.beta**2) / ob.beta)) == 0
    assert bn.logit_gap_ginf() == 2 * sp.cosh(bn.x / 2)


@pytest.mark.claim("derived-direct-kl-threshold", way="exact numerics")
@pytest.mark.claim("vy-direct-kl-ginf-roots", way="exact numerics")
@given(p_ref=st.floats(0.01, 0.995), beta=st.floats(0.3, 5.0))
def test_direct_kl_existence_matches_engine(p_ref, beta) -> None:
    threshold = 2 * math.asinh(beta) - 2 * math.sqrt(1 + beta * beta) / beta
    logit_ref = math.log(p_ref / (1 - p_ref))
    assume(abs(threshold - logit_ref) > 0.25)  # the engine scans on a grid of spacing 0.5
    p, ok = engine_p(p_ref, beta, math.inf, penalty="direct_kl")
    assert ok == (threshold >= logit_ref)
    if ok:
        xv = math.log(p / (1 - p))
        assert abs(xv - logit_ref - 2 * math.cosh(xv / 2) / beta) < 1e-9
        assert xv <= 2 * math.asinh(beta) + 1e-9  # the lower (stable) root


# ------------------------------------------------------------------------------ bad input


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"C\(G\+K-2, K-1\) = 10"):
        ob.grpo_stationarity(4, 3)
    with pytest.raises(ValueError, match="G \\(group size\\)"):
        ob.grpo_stationarity(2, 5)
    with pytest.raises(ValueError, match="std must be"):
        ob.grpo_stationarity(2, 2, "bogus")
    with pytest.raises(ValueError, match="penalty must be"):
        ob.grpo_stationarity(2, 2, "population", "k2")
    with pytest.raises(ValueError, match="degree-G"):
        bn.stationary_closed_form(4)
    with pytest.raises(ValueError, match="positive"):
        check_positive(sp.Symbol("b"), "beta")
    with pytest.raises(ValueError, match="positive"):
        check_positive(-1, "beta")
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_probability(sp.Rational(3, 2), "p_ref")
    with pytest.raises(ValueError, match="valid names: grpo-stationarity"):
        derive("binary-g5")
    with pytest.raises(ValueError, match="takes no options"):
        derive("binary-g2", std="sample")
    with pytest.raises(ValueError, match="p_ref must lie"):
        lg.check_large_group_correction(1.2, 1.0)


# ----------------------------------------------------------------------- CLI and docs


def test_every_derivation_renders() -> None:
    for name in derivation_names():
        d = derive(name)
        assert d.title in render_text(d)
        assert "\\[" in render_latex(d)


def test_cli_derive(capsys) -> None:
    assert main(["derive", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(derivation_names())
    assert main(["derive", "binary-g2"]) == 0
    assert "eq. (14)" in capsys.readouterr().out
    assert main(["derive", "binary-margin", "--latex"]) == 0
    assert "\\frac" in capsys.readouterr().out
    assert main(["derive", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert main(["derive", "grpo-stationarity", "--outputs", "5"]) == 2
    assert "C(G+K-2, K-1)" in capsys.readouterr().err


def test_theory_page_is_current() -> None:
    spec = importlib.util.spec_from_file_location("render_theory", ROOT / "docs" / "render_theory.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "theory.md").read_text() == module.render(), (
        "docs/theory.md is stale: run .venv/bin/python docs/render_theory.py"
    )
