"""The batched two-level Newton solver against independent root solves (docs/theory.md §3, §4).

Each expected stationary point is a scipy ``brentq`` root of the fixed point written here
from the binomial formula for P_G (tests/reference.py), one problem at a time; the solver
under test runs all problems of a batch together (Bernstein polynomials by Horner).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import binary_finite_g, binary_preference
from scipy import optimize

import gvpo_theory as gt
from gvpo_theory import binary_newton, binary_solver


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _batch(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p_ref = 10.0 ** rng.uniform(-6, math.log10(0.999), n)
    beta = 10.0 ** rng.uniform(-2, 1, n)
    return p_ref, beta, np.stack([p_ref, 1.0 - p_ref], axis=-1)


@pytest.mark.parametrize("std", ["population", "sample"])
@pytest.mark.parametrize("group_size", [2, 3, 8, 33])
def test_reverse_kl_batch_matches_one_at_a_time_brentq(std: str, group_size: int) -> None:
    p_ref, beta, pi_ref = _batch(group_size, 40)
    res = gt.grpo_stationary_policy(pi_ref, [1.0, 0.0], beta, group_size, std=std)
    assert np.all(res.converged)
    want = [binary_finite_g(p, b, group_size, std) for p, b in zip(p_ref, beta)]
    np.testing.assert_allclose(res.policy[:, 0], want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("group_size", [2, 8, 33])
def test_direct_kl_batch_matches_one_at_a_time_brentq(group_size: int) -> None:
    """Direct KL: the logit flow is dx/dt = −β·h(x), h(x) = x − logit π_ref(a) − (P_G(a) −
    P_G(b))/β. The engine's answer is the root the flow reaches from logit π_ref(a) (there
    can be more than one): march from there in the flow's direction to the first sign
    change of h, then brentq inside it."""
    p_ref, beta, pi_ref = _batch(100 + group_size, 30)
    res = gt.grpo_stationary_policy(pi_ref, [1.0, 0.0], beta, group_size, penalty="direct_kl")
    assert np.all(res.converged)
    for i, (p, b) in enumerate(zip(p_ref, beta)):
        def h(x: float, p=p, b=b) -> float:
            pa, pb = binary_preference(_sigmoid(x), group_size)
            return x - math.log(p / (1.0 - p)) - (pa - pb) / b

        x0 = math.log(p / (1.0 - p))
        direction = -math.copysign(1.0, h(x0))
        step, x1 = 1e-3, x0
        while h(x1) * h(x0) > 0:
            x0, x1 = x1, x1 + direction * step
            step *= 1.2
        x = optimize.brentq(h, min(x0, x1), max(x0, x1), xtol=1e-14, rtol=8.9e-16)
        assert res.policy[i, 0] == pytest.approx(_sigmoid(x), abs=1e-12)


@pytest.mark.parametrize("name", ["grpo", "grpo-sample", "dr-grpo", "rloo", "grpo-direct-kl"])
def test_horner_sign_function_equals_the_enumeration_kernel(name: str) -> None:
    """Same h(x) as the bracketed solver's, which uses the enumeration table directly."""
    rng = np.random.default_rng(3)
    q = rng.dirichlet([0.5, 0.5], size=500)
    x = np.concatenate([rng.normal(size=497) * 8.0, [-700.0, 0.0, 700.0]])
    beta = rng.uniform(0.01, 3.0, 500)
    for g in (2, 5, 16, 64):
        obj = gt.objective(name, g)
        levels = np.array([-0.5, 2.0])
        got = binary_newton.sign_function(x, q, levels, beta, obj)
        want = binary_solver._binary_sign(x, q, levels, beta, obj)
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_iterations_stay_few_on_a_wide_sweep() -> None:
    """No bisection crawl: the safeguards fall back to false position, not to 50 halvings."""
    _, beta, pi_ref = _batch(7, 2000)
    for name in ("grpo-sample", "grpo-direct-kl", "dr-grpo"):
        res = gt.grpo_stationary_policy(pi_ref, [1.0, 0.0], beta, gt.objective(name, 8))
        assert np.all(res.converged)
        assert int(np.max(res.iterations)) <= 40
