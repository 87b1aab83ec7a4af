"""Scalar closed forms (G = 2, G = ∞) against 50-digit evaluations; Brent; one binary solve."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from gvpo_theory import binary
from gvpo_theory._scalar import binary_root, binary_stationary, g2, ginf

BETAS = np.geomspace(1e-4, 1e4, 33)
P_REFS = [1e-12, 1e-6, 0.01, 0.3, 0.5, 0.9, 1 - 1e-6, 1 - 1e-12]


def _mp_g2(p, b, g):
    # the root in (0, 1) of π² + (β/γ − 1)π − (β/γ)p = 0, textbook formula at 60 digits
    with mpmath.workdps(60):
        p, b, g = mpmath.mpf(p), mpmath.mpf(b), mpmath.mpf(g)
        c = b / g
        roots = [(-(c - 1) + s * mpmath.sqrt((c - 1) ** 2 + 4 * c * p)) / 2 for s in (1, -1)]
        return float(next(r for r in roots if 0 < r < 1))


def _mp_ginf(p, b):
    with mpmath.workdps(60):
        p, b = mpmath.mpf(p), mpmath.mpf(b)
        return float((1 + 2 * b**2 * p + mpmath.sqrt(1 + 4 * b**2 * p * (1 - p))) / (2 * (1 + b**2)))


def test_g2_against_closed_form():
    for b in BETAS:
        for p in P_REFS:
            for gamma in (1.0, 0.5, -0.3, -1.0):
                ref = _mp_g2(p, b, gamma)
                assert abs(g2(p, b, gamma) - ref) <= 1e-14 * ref, (p, b, gamma)
    assert g2(0.3, 2.0, 0.0) == 0.3


def test_ginf_against_closed_form():
    for b in BETAS:
        for p in P_REFS:
            ref = _mp_ginf(p, b)
            assert abs(ginf(p, b) - ref) <= 1e-14 * ref, (p, b)


def test_validation():
    for bad in (0.0, 1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="p_ref"):
            g2(bad, 1.0)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="beta"):
            ginf(0.3, bad)
    with pytest.raises(ValueError, match="gamma"):
        g2(0.3, 1.0, 1.5)
    with pytest.raises(ValueError, match="group_size"):
        binary_stationary(0.3, 1.0, 1)


def test_binary_root():
    x, calls = binary_root(lambda t: math.cos(t) - t, 0.0, 1.0)
    assert abs(x - 0.7390851332151607) < 2e-14 and calls < 15  # xtol = 2e-14
    x, _ = binary_root(lambda t: t**3 - 2.0, 0.0, 5.0)
    assert abs(x - 2.0 ** (1 / 3)) < 1e-14
    x, _ = binary_root(lambda t: t - 1e-3, 0.0, 1.0, f_lo=-1e-3)
    assert abs(x - 1e-3) < 1e-15
    with pytest.raises(ValueError, match="opposite signs"):
        binary_root(lambda t: t * t + 1.0, -1.0, 1.0)


def test_binary_stationary_against_engine_and_g2():
    for g in (2, 3, 8, 33):
        for b in (0.02, 0.3, 1.0, 7.0):
            for p in (1e-6, 0.3, 0.95):
                for std in ("population", "sample"):
                    x, res = binary_stationary(p, b, g, std)
                    ref = float(binary.stationary(p, b, g, std))
                    assert abs(x - ref) <= 1e-12, (g, b, p, std, x, ref)
                    assert res < 1e-13
    # G = 2: V&Y eq. (14)
    assert abs(binary_stationary(0.3, 0.7, 2)[0] - _mp_g2(0.3, 0.7, 1.0)) < 1e-15
