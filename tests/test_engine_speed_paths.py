"""The engine's fast paths against independent computations.

* one binary problem on floats (gvpo_theory.fast_paths) vs the vectorised bracketed solver
  (a different algorithm on arrays) and a 50-digit brute-force root;
* the scalar closed forms of gvpo_theory.binary on Python floats vs their array versions.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory import binary
from gvpo_theory.binary_solver import solve_binary
from gvpo_theory.objective import as_objective

P_REFS = [1e-300, 1e-12, 1e-3, 0.3, 0.5, 0.9, 1 - 1e-12]
BETAS = [1e-4, 1e-2, 0.3, 1.0, 10.0, 1e4]


@pytest.mark.parametrize("g", [2, 3, 8, 64, 257])
@pytest.mark.parametrize("std", ["population", "sample"])
def test_single_binary_matches_vectorised_solver(g, std):
    obj = as_objective(g, std)
    for p in P_REFS:
        for b in BETAS:
            res = gt.grpo_stationary_policy([p, 1 - p], [1.0, 0.0], b, g, std=std)
            assert res.method == "binary-scalar"
            q_ref = np.array([[1 - p, p]])
            m, _, ok = solve_binary(q_ref, np.array([0.0, 1.0]), np.array([b]), obj)
            assert ok[0]
            assert abs(res.policy[0] - m[0, 1]) <= 1e-12, (p, b)
            assert abs(res.policy[1] - m[0, 0]) <= 1e-12, (p, b)
            assert bool(res.converged), res.message


def _mp_binary(p, b, g):
    """π(a) at population std by bisection on p·(1 − a_1/β) = p_ref at 50 digits."""
    with mpmath.workdps(50):
        p_ref, beta = mpmath.mpf(p), mpmath.mpf(b)

        def h(q):
            a1 = mpmath.fsum(
                mpmath.binomial(g - 1, k) * q**k * (1 - q) ** (g - 1 - k)
                * (mpmath.sqrt(mpmath.mpf(g - k - 1) / (k + 1)) if k + 1 < g else 0)
                for k in range(g)
            )
            return q * (1 - a1 / beta) - p_ref

        lo, hi = p_ref, mpmath.mpf(1)
        for _ in range(170):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if h(mid) < 0 else (lo, mid)
        return float(lo)


@pytest.mark.parametrize("p,b,g", [(0.3, 1.0, 8), (0.05, 0.2, 16), (0.7, 3.0, 5)])
def test_single_binary_against_mpmath(p, b, g):
    res = gt.grpo_stationary_policy(np.array([p, 1 - p]), np.array([1.0, 0.0]), b, g)
    assert abs(res.policy[0] - _mp_binary(p, b, g)) <= 1e-13
    assert abs(float(binary.stationary(p, b, g)) - _mp_binary(p, b, g)) <= 1e-13


def test_single_binary_fields_match_general_verification():
    # the float verification against the front door's array verification of the same policy
    res = gt.grpo_stationary_policy([0.3, 0.7], [0.0, 2.0], 0.5, 8)
    assert res.method == "binary-scalar"
    pref = gt.preference_model(res.policy, [0.0, 2.0], 8)
    np.testing.assert_allclose(res.preference, pref, rtol=0, atol=1e-14)
    gap = res.policy * (1 - pref / 0.5) - np.array([0.3, 0.7])
    assert abs(float(res.residual) - np.max(np.abs(gap))) <= 1e-16
    assert abs(float(res.min_denominator) - np.min(1 - pref / 0.5)) <= 1e-15
    np.testing.assert_allclose(res.level_masses, res.policy, rtol=0, atol=0)  # levels 0 < 2


def test_single_binary_falls_back_where_not_covered():
    for kwargs in ({"penalty": "direct_kl"}, {"std": "none"}, {"eps": 1e-3}):
        res = gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 8, **kwargs)
        assert res.method == "binary-bracketed"
    assert gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 1024).method == "binary-bracketed"
    assert gt.grpo_stationary_policy([0.0, 1.0], [1.0, 0.0], 1.0, 8).method == "binary-bracketed"
    # an RLOO objective is not the scalar kernel's estimator
    assert gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, gt.objective("rloo", 8)).method != (
        "binary-scalar")


def test_single_binary_many_outputs_uses_scalar_root():
    ref = np.array([0.1, 0.2, 0.3, 0.4])
    rew = np.array([1.0, 0.0, 1.0, 0.0])
    res = gt.grpo_stationary_policy(ref, rew, 0.7, 16)
    assert res.method == "binary-scalar" and bool(res.converged)
    batch = gt.grpo_stationary_policy(np.vstack([ref, ref]), rew, np.array([0.7, 0.7]), 16)
    assert batch.method == "binary-bracketed"
    np.testing.assert_allclose(res.policy, batch.policy[0], rtol=0, atol=1e-13)


def test_binary_scalar_closed_forms_match_arrays():
    for p in P_REFS[1:-1]:
        for b in BETAS:
            for gamma in (1.0, 0.4, 0.0, -0.6):
                s = binary.stationary_g2(p, b, gamma)
                a = binary.stationary_g2(np.array([p]), np.array([b]), np.array([gamma]))[0]
                assert isinstance(s, np.float64) and abs(s - a) <= 1e-16
            s = binary.stationary_ginf(p, b)
            assert isinstance(s, np.float64) and abs(s - binary.stationary_ginf(np.array([p]), b)[0]) <= 1e-16


def test_binary_stationary_scalar_matches_array_path():
    for p in (1e-9, 0.3, 0.8):
        for b in (1e-3, 0.5, 20.0):
            for g in (2, 8, 100):
                s = binary.stationary(p, b, g)
                a = binary.stationary(np.array([p]), np.array([b]), g)[0]
                assert isinstance(s, np.float64)
                assert abs(s - a) <= 1e-12, (p, b, g)
    with pytest.raises(ValueError, match="p_ref"):
        binary.stationary(1.5, 1.0, 8)
    with pytest.raises(ValueError, match="beta"):
        binary.stationary(0.3, math.inf, 8)


# --------------------------------------------------------------------------- affine path


def _affine_cases(n):
    rng = np.random.default_rng(0)
    out = []
    while len(out) < n:
        t = len(out)
        k = int(rng.integers(3, 9))
        r = rng.normal(size=k) if t % 2 else rng.integers(0, 5, k).astype(float)
        if np.unique(r).size < 3:
            continue
        ref = rng.dirichlet(np.ones(k))
        if t % 3 == 0:
            ref[np.argmax(r)] = 10 ** rng.uniform(-12, -3)
            ref /= ref.sum()
        g = (math.inf, 8, 64)[t % 3]
        std = "none" if g != math.inf else ("population", "none", "sample")[t % 3]
        penalty = ("reverse_kl", "direct_kl")[t % 2 if t % 5 else 0]
        eps = 1e-2 if (t % 7 == 0 and std != "none" and penalty == "reverse_kl") else 0.0
        out.append((r, ref, 10 ** rng.uniform(-2, 1), as_objective(g, std, penalty, eps)))
    return out


def test_affine_root_matches_level_newton():
    from gvpo_theory.affine_solver import affine_covers, solve_affine
    from gvpo_theory.level_solver import solve_levels
    from gvpo_theory.problem import reward_structure

    for r, ref, beta, obj in _affine_cases(24):
        assert affine_covers(obj)
        st = reward_structure(r, r.size)
        q = st.profile_masses(ref)
        w1, _, ok1 = solve_affine(q, st, beta, obj)
        w2, _, ok2 = solve_levels(q, st, beta, obj)
        assert ok1 == ok2, (r, ref, beta, obj)
        if ok1:
            np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-12)


def test_affine_root_noisy_profiles_match_level_newton():
    from gvpo_theory.affine_solver import solve_affine
    from gvpo_theory.level_solver import solve_levels
    from gvpo_theory.problem import reward_structure

    rng = np.random.default_rng(5)
    for t in range(20):
        probs = rng.dirichlet(np.ones(3), size=4)
        rd = gt.RewardDistribution(np.array([0.0, 0.5, 1.0]), probs)
        ref = rng.dirichlet(np.ones(4))
        obj = as_objective(math.inf if t % 2 else 16, "population" if t % 2 else "none")
        st = reward_structure(rd, 4)
        q = st.profile_masses(ref)
        w1, _, ok1 = solve_affine(q, st, 0.3, obj)
        w2, _, ok2 = solve_levels(q, st, 0.3, obj)
        assert ok1 and ok2
        np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-12)


def test_many_distinct_rewards_take_the_affine_root():
    rng = np.random.default_rng(1)
    k = 1000
    ref, r = rng.dirichlet(np.ones(k)), rng.normal(size=k)
    for g, std, penalty in ((math.inf, "population", "reverse_kl"), (math.inf, "sample", "direct_kl"),
                            (8, "none", "reverse_kl"), (8, "none", "direct_kl")):
        res = gt.grpo_stationary_policy(ref, r, 0.5, g, std=std, penalty=penalty)
        assert res.method == "affine-root" and bool(res.converged), res.message
        # the fixed point itself, from the closed-form preference model of the returned policy
        pref = gt.preference_model(res.policy, r, g, std=std)
        if penalty == "reverse_kl":
            np.testing.assert_allclose(res.policy * (1 - pref / 0.5), ref, rtol=0, atol=1e-14)
        else:
            target = ref * np.exp(pref / 0.5)
            np.testing.assert_allclose(res.policy, target / target.sum(), rtol=1e-12, atol=0)


def test_linear_time_deviation_against_mpmath():
    from gvpo_theory.preference import _closed_form_deviation

    rng = np.random.default_rng(2)
    v = np.sort(rng.normal(size=80))
    m = rng.dirichlet(np.full(80, 0.3))
    m[:] = 1e-13
    m[-1] = 1 - 79e-13
    got = _closed_form_deviation(m, v)
    with mpmath.workdps(40):
        # the definition Σ_j m_j·(v_l − v_j) (the masses sum to 1 only up to rounding)
        ref = [float(mpmath.fsum(mpmath.mpf(float(a)) * (mpmath.mpf(float(x)) - mpmath.mpf(float(b)))
                                 for a, b in zip(m, v))) for x in v]
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-300)


# --------------------------------------------------------------------------- lattice route


def _enumerated(m, levels, obj):
    """a_l(m) and ∂a_l/∂m_j by enumerating every count vector (the table itself)."""
    from gvpo_theory.preference import _advantage_table_cached, composition_pmf

    table = _advantage_table_cached(tuple(levels.tolist()), int(obj.group_size), obj.advantage)
    pmf = composition_pmf(m, table)
    jac = (table.advantage.T @ (table.counts * pmf[:, None])) / m[None, :]
    return pmf @ table.advantage, jac


@pytest.mark.parametrize("std,eps,name", [("population", 0.0, "grpo"), ("sample", 1e-3, "grpo"),
                                          ("population", 0.0, "rloo-std")])
def test_lattice_route_matches_enumeration(std, eps, name):
    from gvpo_theory.preference import _lattice_for, level_advantages_jacobian_kernel, level_advantages_kernel

    levels = np.arange(8.0) * 0.5 - 1.0  # on a lattice of step 1/2
    obj = as_objective(16, std, None, eps)
    if name == "rloo-std":
        obj = gt.Objective(gt.Advantage("leave_one_out", "population"), obj.penalty, 16)
    assert _lattice_for(levels, 16, obj.advantage) is not None  # the DP is the cheaper method
    m = np.random.default_rng(4).dirichlet(np.ones(8))
    a_ref, j_ref = _enumerated(m, levels, obj)
    np.testing.assert_allclose(level_advantages_kernel(m, levels, obj), a_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(level_advantages_jacobian_kernel(m, levels, obj), j_ref, rtol=0, atol=1e-11)


def test_lattice_stationary_point_satisfies_the_enumerated_fixed_point():
    levels = np.arange(8.0)
    ref = np.random.default_rng(6).dirichlet(np.ones(8))
    res = gt.grpo_stationary_policy(ref, levels, 0.5, 16)
    assert bool(res.converged), res.message
    a, _ = _enumerated(res.policy, levels, as_objective(16))
    np.testing.assert_allclose(res.policy * (1 - a / 0.5), ref, rtol=0, atol=1e-12)


def test_eleven_score_levels_beyond_enumeration():
    # a 0–10 judge score at G = 64: 6e11 count vectors (refused by enumeration), a DP here
    levels = np.arange(11.0)
    ref = np.random.default_rng(0).dirichlet(np.ones(11))
    a = gt.level_advantages(ref, levels, 64)
    assert abs(ref @ a) <= 1e-13  # Σ_l m_l·a_l = 0
    # against Monte Carlo with its standard error (an independent estimate)
    est = gt.preference_model_mc(ref, levels, 64, n_groups=20_000, seed=1)
    assert np.all(np.abs(est.value - a) <= 5 * est.stderr + 1e-12)


def test_warm_start_gives_the_same_root():
    from gvpo_theory.affine_solver import large_group_start
    from gvpo_theory.level_solver import solve_levels
    from gvpo_theory.problem import reward_structure

    levels = np.arange(8.0)
    obj = as_objective(16)
    st = reward_structure(levels, 8)
    for seed in range(3):
        q = np.random.default_rng(seed).dirichlet(np.ones(8))
        start = large_group_start(q, st, 0.4, obj)
        assert start is not None
        w1, _, ok1 = solve_levels(q, st, 0.4, obj, start)
        w2, _, ok2 = solve_levels(q, st, 0.4, obj)
        assert ok1 and ok2
        np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-12)


def test_large_group_binary_uses_the_window_and_matches_the_full_sum():
    from scipy.stats import binom

    g, p = 50_000, 0.3
    a = gt.level_advantages([1 - p, p], [0.0, 2.0], g, eps=1e-3)
    k = np.arange(g, dtype=float)
    pmf = binom.pmf(k, g - 1, p)  # every one of the G terms
    def std(t):  # the population std of rewards {0, 2} with t twos among G, plus eps
        return 2 * np.sqrt(np.maximum(t, 1) * np.maximum(g - t, 1)) / g + 1e-3

    t1, t0 = k + 1.0, k  # twos in the group when the member scores 2 / 0
    a1 = np.sum(pmf * np.where(t1 < g, 2 * (1 - t1 / g) / std(t1), 0))
    a0 = np.sum(pmf * np.where(t0 > 0, -2 * (t0 / g) / std(t0), 0))
    np.testing.assert_allclose(a, [a0, a1], rtol=1e-12, atol=0)


@pytest.mark.parametrize("std,eps", [("population", 0.0), ("sample", 1e-3)])
def test_one_table_gives_advantages_and_jacobian(std, eps):
    """a_l = Σ_j m_j·∂a_l/∂m_j/(G − 1) from the Jacobian's table, against the enumeration."""
    from gvpo_theory.preference import _lattice_for, level_advantages_and_jacobian_kernel

    levels = np.arange(8.0) * 0.5 - 1.0
    obj = as_objective(16, std, None, eps)
    assert _lattice_for(levels, 16, obj.advantage) is not None
    rng = np.random.default_rng(7)
    for m in (rng.dirichlet(np.ones(8)), np.array([1e-12, 0.5, 0, 0.2, 0.1, 0.1, 0.1 - 1e-12, 0])):
        a_ref, j_ref = _enumerated(np.where(m > 0, m, 1e-300), levels, obj)
        a, jac = level_advantages_and_jacobian_kernel(m, levels, obj)
        np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-12)
        live = m > 0  # the enumeration form divides by m_j
        np.testing.assert_allclose(jac[:, live], j_ref[:, live], rtol=0, atol=1e-11)
        a2, jac2 = level_advantages_and_jacobian_kernel(m, levels, obj)  # memoised: same values
        assert np.array_equal(a, a2) and np.array_equal(jac, jac2)
        a2[0] += 1.0  # a copy: the memo is not changed through it
        assert np.array_equal(level_advantages_and_jacobian_kernel(m, levels, obj)[0], a)
    batch = rng.dirichlet(np.ones(8), size=3)
    from gvpo_theory import lattice

    lat = lattice.find_lattice(levels)
    a_b, j_b = lattice.advantages_and_jacobian_kernel(batch, lat, 16, std, eps, "mean")
    for i in range(3):
        a_ref, j_ref = _enumerated(batch[i], levels, obj)
        np.testing.assert_allclose(a_b[i], a_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(j_b[i], j_ref, rtol=0, atol=1e-11)


def test_eleven_levels_solve_satisfies_the_dp_fixed_point_and_monte_carlo():
    """L = 11 at G = 64 (beyond enumeration): the fixed point holds with P_G from a fresh DP
    (no memo: a perturbed copy of the policy's bytes), and that P_G agrees with Monte Carlo."""
    levels = np.arange(11.0)
    ref = np.random.default_rng(11).dirichlet(np.ones(11))
    res = gt.grpo_stationary_policy(ref, levels, 0.5, 64)
    assert bool(res.converged), res.message
    pi = res.policy.copy()
    a = gt.level_advantages(pi, levels, 64)
    np.testing.assert_allclose(pi * (1 - a / 0.5), ref, rtol=0, atol=1e-12)
    est = gt.preference_model_mc(pi, levels, 64, n_groups=4_000, seed=2)
    assert np.all(np.abs(est.value - a) <= 5 * est.stderr + 1e-12)


def _fields(res):
    return {k: getattr(res, k) for k in res.__dataclass_fields__}


@pytest.mark.parametrize("args", [
    ([0.3, 0.7], [1.0, 0.0], 1.0, 8),
    ((0.3, 0.7), (0, 1), 2, 8),  # ints, the upper reward on output 1
    ([1e-12, 1 - 1e-12], [-2.0, 5.0], 1e-3, 257),
    ([0.5, 0.5 + 1e-10], [0.0, 1.0], 10.0, 2),  # |Σ − 1| within the tolerance: renormalised
])
@pytest.mark.parametrize("std", ["population", "sample"])
def test_plain_float_front_door_equals_the_array_path(args, std):
    pi_ref, rewards, beta, g = args
    fast = gt.grpo_stationary_policy(pi_ref, rewards, beta, g, std=std)
    slow = gt.grpo_stationary_policy(np.asarray(pi_ref, dtype=float), np.asarray(rewards, dtype=float),
                                     np.float64(beta), g, std=std)
    assert slow.method == fast.method == "binary-scalar"
    f, s = _fields(fast), _fields(slow)
    assert f.keys() == s.keys()
    for key in f:
        if isinstance(s[key], np.ndarray):
            assert np.array_equal(f[key], s[key]) and f[key].dtype == s[key].dtype, key
        else:
            assert f[key] == s[key] and type(f[key]) is type(s[key]), key


@pytest.mark.parametrize("pi_ref,rewards,beta", [
    ([0.3, 0.6], [1.0, 0.0], 1.0),           # does not sum to 1
    ([-0.3, 1.3], [1.0, 0.0], 1.0),          # negative
    ([float("nan"), 0.7], [1.0, 0.0], 1.0),  # NaN
    ([True, False], [1.0, 0.0], 1.0),        # booleans are not numbers here
    ([0.3, 0.7], [1.0, float("inf")], 1.0),  # infinite reward
    ([0.3, 0.7], [1.0, 0.0], -1.0),          # negative beta
    ([0.3, 0.7], [1.0, 0.0], float("nan")),
    ([0.3, 0.7], [1.0, 0.0], True),
    ([0.3, 0.7], ["1", 0.0], 1.0),
])
def test_plain_float_front_door_raises_the_general_errors(pi_ref, rewards, beta):
    """Plain-float input that any check refuses gets that check's error, word for word."""
    from gvpo_theory.problem import check_beta, check_distribution, split_rewards

    with pytest.raises(ValueError) as fast:
        gt.grpo_stationary_policy(pi_ref, rewards, beta, 8)
    with pytest.raises(ValueError) as checks:  # the front door's checks, in its order
        check_distribution(pi_ref, "pi_ref")
        check_beta(beta, allow_zero=True)
        split_rewards(rewards, (), 2)
    assert str(fast.value) == str(checks.value)


def test_plain_float_front_door_leaves_other_cases_to_the_general_path():
    # a zero mass, equal rewards, beta = 0, direct KL, eps, G = inf: same answer as arrays
    cases = [([0.0, 1.0], [1.0, 0.0], 1.0, 8, {}), ([0.3, 0.7], [1.0, 1.0], 1.0, 8, {}),
             ([0.3, 0.7], [1.0, 0.0], 0.0, 8, {}), ([0.3, 0.7], [1.0, 0.0], 1.0, 8, {"penalty": "direct_kl"}),
             ([0.3, 0.7], [1.0, 0.0], 1.0, 8, {"eps": 1e-4}), ([0.3, 0.7], [1.0, 0.0], 1.0, math.inf, {})]
    for pi_ref, rewards, beta, g, kw in cases:
        res = gt.grpo_stationary_policy(pi_ref, rewards, beta, g, **kw)
        ref = gt.grpo_stationary_policy(np.asarray(pi_ref), np.asarray(rewards), np.asarray(beta), g, **kw)
        assert res.method == ref.method and res.message == ref.message
        np.testing.assert_array_equal(res.policy, ref.policy)


@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
def test_lattice_route_solve_matches_the_enumeration_route(penalty, monkeypatch):
    """The same problems solved with P_G from the DP (Jacobian tables, early stop in the
    rounding zone) and from the enumerated table (routing switched off)."""
    from gvpo_theory import level_solver, preference

    levels = np.arange(8.0)
    rng = np.random.default_rng(3)
    cases = [(rng.dirichlet(np.ones(8)), b) for b in (0.2, 1.0, 3.0)]
    lattice_res = [gt.grpo_stationary_policy(ref, levels, b, 16, penalty=penalty) for ref, b in cases]
    monkeypatch.setattr(preference, "_lattice_for", lambda *args, **kw: None)
    monkeypatch.setattr(level_solver, "_lattice_for", lambda *args, **kw: None)
    for (ref, b), res in zip(cases, lattice_res):
        enum = gt.grpo_stationary_policy(ref, levels, b, 16, penalty=penalty)
        assert bool(res.converged) and bool(enum.converged)
        np.testing.assert_allclose(res.policy, enum.policy, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [30_000, 99_999, 999_999])
def test_band_window_equals_the_bisection_window(n):
    """The band path reads the window off one exponent evaluation: the same k and pmf as the
    bisection-found window, and scipy's pmf (boost, an independent implementation) on it."""
    from scipy.stats import binom

    from gvpo_theory import binomial as bn

    p = np.array([1e-5, 1e-3, 0.01, 0.3, 0.5, 0.9, 0.999])
    band = bn._band_terms(n, p)
    assert band is not None
    kf, pmf = band
    lo, hi = bn.binomial_window(n, p)
    for i in range(p.size):
        k_old = np.arange(lo[i], hi[i] + 1).astype(float)
        old = bn._pmf_at(k_old, n, np.full(k_old.size, p[i]))
        new = np.zeros(k_old.size)
        inside = (kf[i] >= lo[i]) & (kf[i] <= hi[i]) & (pmf[i] > 0)
        new[(kf[i][inside] - lo[i]).astype(int)] = pmf[i][inside]
        assert np.all(pmf[i][~((kf[i] >= lo[i]) & (kf[i] <= hi[i]))] == 0)  # nothing outside
        np.testing.assert_allclose(new, old, rtol=1e-13, atol=0)
        big = old > 1e-200
        np.testing.assert_allclose(new[big], binom.pmf(k_old[big], n, p[i]), rtol=1e-10, atol=0)
    assert bn._band_terms(n, np.array([0.0, 0.5])) is None  # a point mass: the bisection path


@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
@pytest.mark.parametrize("batch", [(), (3,)])
def test_per_level_verification_equals_per_output(penalty, batch):
    """Large K: the violation formed per reward level equals the per-output one."""
    from gvpo_theory.fast_paths import PER_LEVEL_MIN_OUTPUTS, level_violation
    from gvpo_theory.preference import profile_preferences
    from gvpo_theory.problem import reward_structure
    from gvpo_theory.stationary import fixed_point_violation

    rng = np.random.default_rng(8)
    k = PER_LEVEL_MIN_OUTPUTS + 5
    ref = rng.random((*batch, k)) * (rng.random(k) < 0.9)  # some outputs off the support
    ref /= ref.sum(axis=-1, keepdims=True)
    rewards = rng.choice([0.0, 0.5, 1.0], size=k)
    beta = np.full(batch, 0.7)
    obj = as_objective(8, "population", penalty)
    res = gt.grpo_stationary_policy(ref, rewards, beta, obj)
    assert np.all(res.converged)
    # an inexact policy too (perturbed level by level), so the gaps are not all ~0
    st = reward_structure(rewards, k)
    for pi in (res.policy, res.policy * (1 + 1e-6 * (st.profile_of + 1))):
        pi = pi if pi is res.policy else pi / pi.sum(axis=-1, keepdims=True)
        w = st.profile_masses(pi)
        pref, _ = profile_preferences(w, st, obj)
        q_ref = st.profile_masses(ref)
        fast = level_violation(ref, w, q_ref, pref, st, beta, obj.penalty)
        slow = fixed_point_violation(pi, ref, q_ref, pref, st.profile_of, beta, obj.penalty)
        # equal up to the rounding of the level sums (~1e-16 relative to the masses)
        for f, s in zip(fast, slow):
            np.testing.assert_allclose(f, s, rtol=1e-9, atol=1e-14)
        assert np.all(fast[0] > 1e-11) or pi is res.policy  # the perturbed policy is tested
    assert level_violation(ref[..., :100], w, q_ref, pref, st, beta, obj.penalty) is None
