"""Lattice DP for a_l(m) against exact enumeration, brute force over groups and finite differences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gvpo_theory.lattice import (
    find_lattice,
    lattice_cost,
    lattice_level_advantages,
    lattice_level_advantages_jacobian,
)
from gvpo_theory.objective import PENALTIES, Advantage, Objective
from gvpo_theory.preference import level_advantages, level_advantages_jacobian


def _obj(g, scale="population", eps=0.0, baseline="mean"):
    return Objective(Advantage(baseline=baseline, scale=scale, eps=eps), PENALTIES["reverse_kl"], g)


LEVEL_SETS = [
    [0.0, 1.0],
    [0.0, 1.0, 2.0],
    [0.0, 1.0, 3.0],
    [0.0, 0.5, 2.5, 3.0],
    [-1.0, 0.1, 0.3, 2.0],
    [0.0, 2.0, 3.0, 7.0, 10.0],
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
]


@pytest.mark.parametrize("levels", LEVEL_SETS)
@pytest.mark.parametrize("g", [2, 3, 5, 8, 16, 32])
def test_matches_enumeration(levels, g):
    rng = np.random.default_rng(len(levels) * 100 + g)
    m = rng.dirichlet(np.ones(len(levels)), size=2)
    for scale, eps, baseline in [("population", 0.0, "mean"), ("sample", 0.1, "mean"),
                                 ("none", 0.0, "leave_one_out"), ("population", 0.3, "leave_one_out")]:
        ref = level_advantages(m, levels, _obj(g, scale, eps, baseline))
        got = lattice_level_advantages(m, levels, g, scale=scale, eps=eps, baseline=baseline)
        assert got.shape == m.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * max(1.0, np.abs(ref).max()))


def test_brute_force_over_groups():
    # a_l = E[A_1 | r_1 = v_l], summed over all (G − 1)-tuples of the others: independent of
    # the count-vector enumeration too.
    levels = np.array([0.0, 1.0, 2.0, 4.0])
    m = np.array([0.1, 0.2, 0.3, 0.4])
    g = 5
    adv = Advantage()
    expect = np.zeros(4)
    for tup in itertools.product(range(4), repeat=g - 1):
        w = np.prod(m[list(tup)])
        for l in range(4):
            group = np.array([levels[l], *levels[list(tup)]])[None, :]
            expect[l] += w * adv.of_groups(group)[0, 0]
    np.testing.assert_allclose(lattice_level_advantages(m, levels, g), expect, rtol=0, atol=1e-13)


def test_vertex_ties_and_zero_sum():
    levels = [0.0, 1.0, 2.0, 5.0]
    g = 6
    for j in range(4):
        m = np.eye(4)[j]
        a = lattice_level_advantages(m, levels, g)
        assert a[j] == 0.0  # every group ties
        # a lone member at level l among G − 1 at level j: A = (v_l − mean)/std, exactly
        for l in range(4):
            if l == j:
                continue
            grp = np.array([levels[l]] + [levels[j]] * (g - 1))
            dev = grp[0] - grp.mean()
            assert math.isclose(a[l], dev / grp.std(), rel_tol=1e-13)
    m = np.array([0.2, 0.3, 0.1, 0.4])
    a = lattice_level_advantages(m, levels, g, scale="sample")
    assert abs(m @ a) < 1e-15


def test_tiny_masses_keep_relative_accuracy():
    levels = [0.0, 1.0, 2.0]
    m = np.array([1e-300, 1.0, 3e-300])  # sums to 1 in double precision
    for g in (3, 8, 17):
        ref = level_advantages(m, levels, g)
        got = lattice_level_advantages(m, levels, g)
        # the dominant level's advantage is ~1e-298: compare relatively, level by level
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
        assert 0 < abs(got[1]) < 1e-290


def test_leave_one_out_is_scaled_mean():
    levels = [0.0, 1.0, 3.0, 4.0]
    m = np.array([0.4, 0.1, 0.2, 0.3])
    for scale in ("population", "sample", "none"):
        a_mean = lattice_level_advantages(m, levels, 7, scale=scale)
        a_loo = lattice_level_advantages(m, levels, 7, scale=scale, baseline="leave_one_out")
        np.testing.assert_allclose(a_loo, 7 / 6 * a_mean, rtol=1e-14, atol=1e-16)


def test_batch_shapes():
    levels = [0.0, 1.0, 2.0]
    m = np.random.default_rng(3).dirichlet(np.ones(3), size=(2, 4))
    got = lattice_level_advantages(m, levels, 9)
    assert got.shape == (2, 4, 3)
    for idx in np.ndindex(2, 4):
        np.testing.assert_allclose(got[idx], level_advantages(m[idx], levels, 9), rtol=0, atol=1e-13)


def test_judge_scores_eleven_levels_against_monte_carlo_free_identity():
    # L = 11 at G = 64 is beyond enumeration (C(73, 10) ~ 6e11 count vectors); check the two
    # identities that hold exactly: Σ_l m_l a_l = 0, and with m uniform on a symmetric set of
    # levels, a_l = −a_{L−1−l} (reflection r → 10 − r maps the problem onto itself).
    levels = np.arange(11.0)
    m = np.full(11, 1 / 11)
    a = lattice_level_advantages(m, levels, 64)
    assert abs(m @ a) < 1e-14
    np.testing.assert_allclose(a, -a[::-1], rtol=0, atol=1e-13)
    assert np.all(np.diff(a) > 0)


@pytest.mark.parametrize("levels", [[0.0, 1.0, 2.0], [0.0, 0.5, 2.5, 3.0], [0.0, 2.0, 3.0, 7.0, 10.0]])
@pytest.mark.parametrize("g", [2, 4, 9])
def test_jacobian_against_enumeration_and_finite_differences(levels, g):
    rng = np.random.default_rng(g)
    n_lev = len(levels)
    m = rng.dirichlet(np.ones(n_lev))
    for scale in ("population", "sample", "none"):
        jac = lattice_level_advantages_jacobian(m, levels, g, scale=scale)
        ref = level_advantages_jacobian(m, levels, _obj(g, scale))
        # directions with Σ dm = 0 (where every extension off the simplex agrees)
        for _ in range(3):
            d = rng.normal(size=n_lev)
            d -= d.mean()
            np.testing.assert_allclose(jac @ d, ref @ d, rtol=0, atol=1e-11 * max(1.0, np.abs(ref @ d).max()))
            h = 1e-6
            fd = (lattice_level_advantages(m + h * d, levels, g, scale=scale)
                  - lattice_level_advantages(m - h * d, levels, g, scale=scale)) / (2 * h)
            np.testing.assert_allclose(jac @ d, fd, rtol=0, atol=1e-7 * max(1.0, np.abs(fd).max()))
        if scale != "none":  # the same polynomial extension: equal entry by entry
            np.testing.assert_allclose(jac, ref, rtol=0, atol=1e-11 * max(1.0, np.abs(ref).max()))
        # Euler: Σ_j m_j ∂a_l/∂m_j = (G − 1)·a_l for the degree-(G − 1) polynomial
        a = lattice_level_advantages(m, levels, g, scale=scale)
        np.testing.assert_allclose(jac @ m, (g - 1) * a, rtol=0, atol=1e-12 * max(1.0, np.abs(a).max()))


def test_jacobian_on_a_face_is_one_sided_derivative():
    levels = [0.0, 1.0, 2.0]
    m = np.array([0.5, 0.5, 0.0])
    jac = lattice_level_advantages_jacobian(m, levels, 5)
    d = np.array([-0.5, 0.0, 0.5])  # into the simplex
    h = 1e-7
    fd = (lattice_level_advantages(m + h * d, levels, 5) - lattice_level_advantages(m, levels, 5)) / h
    np.testing.assert_allclose(jac @ d, fd, rtol=0, atol=1e-6)


def test_lattice_detection():
    lat = find_lattice([0.0, 0.1, 0.2, 0.3])
    assert (lat.step.numerator, lat.step.denominator) == (1, 10) and lat.k == (0, 1, 2, 3)
    lat = find_lattice([1.0, 2.5, 4.0, 11.0])
    assert float(lat.step) == 0.5 and lat.k == (0, 3, 6, 20)
    np.testing.assert_allclose(
        lattice_level_advantages([0.25] * 4, [0.0, 0.1, 0.2, 0.3], 6),
        level_advantages([0.25] * 4, [0.0, 0.1, 0.2, 0.3], 6), rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="not on a lattice"):
        find_lattice([0.0, 1.0, math.sqrt(2.0)])


def test_cost_and_refusals():
    c = lattice_cost(np.arange(11.0), 64)
    assert c.span == 10 and c.cells > 0 and c.updates > c.cells
    assert lattice_cost(np.arange(11.0), 128).updates > 7 * c.updates  # ~G³ growth
    with pytest.raises(ValueError, match="max_updates"):
        lattice_level_advantages(np.full(11, 1 / 11), np.arange(11.0), 64, max_updates=1000)
    with pytest.raises(ValueError, match="group_size"):
        lattice_level_advantages([0.5, 0.5], [0, 1], 1)
    with pytest.raises(ValueError, match="scale"):
        lattice_level_advantages([0.5, 0.5], [0, 1], 4, scale="mad")
    with pytest.raises(ValueError, match="baseline"):
        lattice_level_advantages([0.5, 0.5], [0, 1], 4, baseline="median")
    with pytest.raises(ValueError, match="eps"):
        lattice_level_advantages([0.5, 0.5], [0, 1], 4, eps=-1.0)
    with pytest.raises(ValueError, match="level_masses"):
        lattice_level_advantages([0.5, 0.6], [0, 1], 4)
    with pytest.raises(ValueError, match="strictly increasing"):
        lattice_level_advantages([0.5, 0.5], [1, 0], 4)
