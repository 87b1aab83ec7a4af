"""Windowed binomial pmf against scipy (boost) and mpmath; two-level preference against enumeration."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy.stats import binom

from gvpo_theory.binomial import binary_preference, binomial_pmf, binomial_window
from gvpo_theory.preference import level_advantages


def _mp_pmf(k: int, n: int, p: float) -> float:
    with mpmath.workdps(40):
        pm = mpmath.mpf(p)
        return float(mpmath.binomial(n, k) * pm**k * (1 - pm) ** (n - k))


P_VALUES = [1e-300, 1e-10, 0.3, 0.5, 0.9, 1.0 - 1e-12]


@pytest.mark.parametrize("n", [1, 5, 20, 100, 1000, 100_000, 1_000_000])
@pytest.mark.parametrize("p", P_VALUES)
def test_pmf_against_mpmath(n, p):
    rng = np.random.default_rng(n)
    lo, hi = binomial_window(n, p)
    full = binomial_pmf(n, p)
    ks = np.unique(np.r_[lo, hi, min(int(n * p), n), rng.integers(lo, hi + 1, 6)])
    for k in ks:
        ref = _mp_pmf(int(k), n, p)
        if ref > 0:
            assert abs(full[k] - ref) <= 2e-12 * ref, (n, p, k, full[k], ref)
    assert abs(full.sum() - 1.0) < 1e-13
    # outside the window the pmf underflows: mpmath agrees it is below the smallest double
    for k in (lo - 1, hi + 1):
        if 0 <= k <= n:
            assert full[k] == 0.0 and _mp_pmf(int(k), n, p) < 5e-324


def test_pmf_against_scipy_vectorised():
    rng = np.random.default_rng(7)
    p = rng.random(20)
    for n in (10, 300, 50_000):
        got = binomial_pmf(n, p)
        ref = binom.pmf(np.arange(n + 1), n, p[:, None])
        big = ref > 1e-100
        np.testing.assert_allclose(got[big], ref[big], rtol=2e-12)
        # deep tails: both evaluate exp(−~500) and carry ~1e-12 (boost's own error there is
        # of that size, see the mpmath test above, which holds this module to 2e-12)
        tail = (ref > 1e-300) & ~big
        np.testing.assert_allclose(got[tail], ref[tail], rtol=1e-11)
        assert np.all(got[ref < 1e-320] < 1e-300)  # both underflow (subnormal or 0)


def test_pmf_edges_and_validation():
    np.testing.assert_array_equal(binomial_pmf(4, 0.0), [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(binomial_pmf(4, 1.0), [0, 0, 0, 0, 1])
    assert binomial_pmf(3, [[0.2, 0.4]]).shape == (1, 2, 4)
    with pytest.raises(ValueError, match="p must lie"):
        binomial_pmf(3, 1.5)
    with pytest.raises(ValueError, match="n must be"):
        binomial_pmf(-1, 0.5)


@pytest.mark.parametrize("g", [2, 3, 10, 100, 256])
def test_binary_preference_against_enumeration(g):
    for p in (1e-300, 0.01, 0.3, 0.77, 1.0 - 1e-9):
        for scale, eps in (("population", 0.0), ("sample", 0.0), ("population", 0.05), ("none", 0.0)):
            a0, a1 = binary_preference(p, g, scale, eps)
            ref = level_advantages([1.0 - p, p], [0.0, 1.0], g, scale, eps)
            assert abs(a1 - ref[1]) <= 1e-12 * max(1.0, abs(ref[1]))
            # a0 can be ~1e-300: relative where it is small
            assert abs(a0 - ref[0]) <= 1e-12 * max(abs(ref[0]), 1e-300) or abs(a0 - ref[0]) < 1e-13
            assert abs((1.0 - p) * a0 + p * a1) < 1e-14


def test_binary_preference_against_mpmath_large_group():
    # G = 10^6, p = 2e-5: M ~ Binomial(999999, 2e-5) has mean 20; mpmath sums every term
    g, p = 1_000_000, 2e-5
    a0, a1 = binary_preference(p, g)
    with mpmath.workdps(30):
        pm, n = mpmath.mpf(p), g - 1
        s1 = s0 = mpmath.mpf(0)
        term = (1 - pm) ** n  # b(0)
        for k in range(0, 400):
            t1 = k + 1
            s1 += term * (g - t1) / mpmath.sqrt(t1 * (g - t1))
            if k > 0:
                s0 -= term * k / mpmath.sqrt(k * (g - k))
            term = term * (n - k) / (k + 1) * pm / (1 - pm)
    assert abs(a1 - float(s1)) <= 1e-12 * abs(float(s1))
    assert abs(a0 - float(s0)) <= 1e-12 * abs(float(s0))


def test_binary_preference_vectorised_and_leave_one_out():
    p = np.array([[0.1, 0.5], [0.9, 1e-7]])
    a0, a1 = binary_preference(p, 50)
    assert a0.shape == a1.shape == (2, 2)
    for idx in np.ndindex(2, 2):
        ref = level_advantages([1 - p[idx], p[idx]], [0.0, 1.0], 50)
        assert abs(a1[idx] - ref[1]) < 1e-13
    _, b1 = binary_preference(p, 50, baseline="leave_one_out")
    np.testing.assert_allclose(b1, 50 / 49 * a1, rtol=1e-14)
    with pytest.raises(ValueError, match="group_size"):
        binary_preference(0.3, 1)
    with pytest.raises(ValueError, match="scale"):
        binary_preference(0.3, 4, "iqr")
