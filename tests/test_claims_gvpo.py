"""Statements of the GVPO paper (Zhang et al., arXiv 2504.19599) that no other test covered.

* the reinforcement-learning reading of the loss: minimising ½·Var_{π_s}(R − β·log(π_θ/π_θ′))
  is maximising β·E[(R − E R)·log π_θ] + β²·Cov(log π_θ, log π_θ′) − (β²/2)·Var(log π_θ);
* unbiasedness: the (1/(k − 1))-scaled empirical loss has expectation ½·Var_{π_s}(R − β·l).

Independent computations: the objective written out here and differentiated by torch autograd;
expectations enumerated over every group of k samples, variances in 40-digit mpmath.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import torch

from gvpo_theory.dynamics import gvpo_expected_update
from gvpo_theory.torch.losses import gvpo_expected_grad, gvpo_weights

DPS = 40


def _cov(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cov_w(x, y) under the distribution w."""
    return (w * (x - (w * x).sum()) * (y - (w * y).sum())).sum()


def rl_objective(theta: torch.Tensor, log_prev: torch.Tensor, rewards: torch.Tensor, pi_s: torch.Tensor,
                 beta: float) -> torch.Tensor:
    """β·E_{π_s}[(R − E R)·log π_θ] + β²·Cov(log π_θ, log π_θ′) − (β²/2)·Var(log π_θ), y ~ π_s."""
    logp = torch.log_softmax(theta, -1)
    advantage = rewards - (pi_s * rewards).sum()
    return (beta * (pi_s * advantage * logp).sum() + beta**2 * _cov(pi_s, logp, log_prev)
            - 0.5 * beta**2 * _cov(pi_s, logp, logp))


def half_variance(theta: torch.Tensor, log_prev: torch.Tensor, rewards: torch.Tensor, pi_s: torch.Tensor,
                  beta: float) -> torch.Tensor:
    """½·Var_{π_s}(R − β·(log π_θ − log π_θ′)): the expected GVPO loss (paper scaling)."""
    x = rewards - beta * (torch.log_softmax(theta, -1) - log_prev)
    return 0.5 * _cov(pi_s, x, x)


def _problem(seed: int, k_out: int, sampler: str):
    rng = np.random.default_rng(seed)
    prev = rng.dirichlet(np.ones(k_out))
    pi_s = prev if sampler == "previous" else rng.dirichlet(np.ones(k_out))
    rewards = rng.normal(0.0, 1.0, k_out)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    return t(np.log(prev)), t(pi_s), t(rewards), rng


@pytest.mark.claim("gvpo-rl-reading", way="closed form")
@pytest.mark.parametrize("sampler", ["previous", "other"])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_is_the_rl_objective_up_to_a_constant(sampler: str, seed: int) -> None:
    """½·Var(R − β(ℓ − ℓ′)) + J(θ) = ½·Var R + (β²/2)·Var ℓ′ + β·Cov(R, ℓ′) for every θ, and
    ∇J = −(the toolkit's expected GVPO gradient, ``scale="paper"``) = the engine's update."""
    log_prev, pi_s, rewards, rng = _problem(seed, 5, sampler)
    beta, k = 0.6, 4
    constant = (0.5 * _cov(pi_s, rewards, rewards) + 0.5 * beta**2 * _cov(pi_s, log_prev, log_prev)
                + beta * _cov(pi_s, rewards, log_prev))
    for _ in range(3):
        theta = torch.tensor(rng.normal(0.0, 1.5, 5), dtype=torch.float64, requires_grad=True)
        total = half_variance(theta, log_prev, rewards, pi_s, beta) + rl_objective(
            theta, log_prev, rewards, pi_s, beta)
        assert total.item() == pytest.approx(constant.item(), rel=1e-13, abs=1e-14)
        rl_objective(theta, log_prev, rewards, pi_s, beta).backward()
        expected = gvpo_expected_grad(theta.detach()[None], log_prev[None], rewards[None], beta, pi_s[None],
                                      k, scale="paper")[0]
        np.testing.assert_allclose(theta.grad.numpy(), -expected.numpy(), atol=1e-14)
        pi = torch.softmax(theta.detach(), -1).numpy()
        update = gvpo_expected_update(pi, np.exp(log_prev.numpy()), rewards.numpy(), beta, pi_s.numpy(), k,
                                      scale="paper")
        np.testing.assert_allclose(theta.grad.numpy(), update, atol=1e-13)


def _mp_half_variance(atoms_p: list[float], atoms_x: list[float]) -> float:
    with mpmath.workdps(DPS):
        p = [mpmath.mpf(a) for a in atoms_p]
        x = [mpmath.mpf(a) for a in atoms_x]
        mean = mpmath.fsum(pi * xi for pi, xi in zip(p, x))
        return float(mpmath.fsum(pi * (xi - mean) ** 2 for pi, xi in zip(p, x)) / 2)


@pytest.mark.claim("gvpo-unbiased", way="exact numerics")
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("rewards_kind", ["deterministic", "bernoulli"])
def test_scaled_empirical_loss_is_unbiased(k: int, rewards_kind: str) -> None:
    """E over all groups of k samples (y_i, R_i) of (1/(k − 1))·½·Σ_i w_i², with w_i the toolkit's
    ``gvpo_weights``, equals ½·Var(R − β·log(π_θ/π_ref)) over (y, R) ~ π_s·P(R|y); the unscaled
    sum is k − 1 times that (biased)."""
    rng = np.random.default_rng(10 + k)
    n_out, beta = 3, 0.8
    pi_theta, pi_ref, pi_s = (rng.dirichlet(np.ones(n_out)) for _ in range(3))
    if rewards_kind == "deterministic":
        atoms = [(o, float(r), 1.0) for o, r in enumerate(rng.normal(0.0, 1.0, n_out))]
    else:
        success = rng.uniform(0.1, 0.9, n_out)
        atoms = [(o, r, s if r == 1.0 else 1.0 - s) for o, s in enumerate(success) for r in (0.0, 1.0)]
    probs = np.array([pi_s[o] * w for o, _, w in atoms])
    groups = np.array(list(itertools.product(range(len(atoms)), repeat=k)))
    samples = torch.tensor([[atoms[a][0] for a in g] for g in groups], dtype=torch.int64)
    rewards = torch.tensor([[atoms[a][1] for a in g] for g in groups], dtype=torch.float64)
    b = len(groups)
    logits = torch.tensor(np.log(np.broadcast_to(pi_theta, (b, n_out))), dtype=torch.float64)
    ref_logits = torch.tensor(np.log(np.broadcast_to(pi_ref, (b, n_out))), dtype=torch.float64)
    w = gvpo_weights(logits, samples, rewards, ref_logits, beta).numpy()
    group_prob = np.prod(probs[groups], axis=1)
    assert math.isclose(group_prob.sum(), 1.0, rel_tol=1e-12)
    expected_sum = float(group_prob @ (0.5 * np.sum(w * w, axis=1)))
    x = [r - beta * math.log(pi_theta[o] / pi_ref[o]) for o, r, _ in atoms]
    target = _mp_half_variance(list(probs), x)
    assert expected_sum / (k - 1) == pytest.approx(target, rel=1e-12)
    assert expected_sum == pytest.approx((k - 1) * target, rel=1e-12)
