"""Sampled training (the torch module) at β = 0 approaches its limit at the derived rate.

512 tabular bandits, r = (1, 0), G = 8, population std, trained with the module's own GRPO
gradient (``grpo_grad``) on on-policy samples (``sample_categorical``), lr 2, from
π0 = (0.98, 0.02), at β = 0 exactly (no KL term). The mean losing mass is
compared with the expected flow at t = lr·steps (``limits.flow_path``) within 4 standard
errors of the mean over bandits, and its decay between t = 60 and t = 300 with the flow's,
whose t·π(b) approaches the derived 1/((1 + N/n*)·|a*|) = 1/(2√7).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gvpo_theory.limits import beta_zero_limit, flow_path

torch = pytest.importorskip("torch")


def test_sampled_grpo_at_beta_zero_follows_the_approach_law():
    from gvpo_theory.torch.losses import grpo_grad
    from gvpo_theory.torch.samplers import sample_categorical

    bandits, group, lr, steps, checks = 512, 8, 2.0, 150, (30, 150)
    ref, r, pi0 = np.array([0.3, 0.7]), np.array([1.0, 0.0]), np.array([0.98, 0.02])
    gen = torch.Generator().manual_seed(1)
    logits = torch.log(torch.tensor(pi0, dtype=torch.float64)).repeat(bandits, 1)
    ref_logits = torch.log(torch.tensor(ref, dtype=torch.float64)).repeat(bandits, 1)
    rew = torch.tensor(r, dtype=torch.float64)
    mean, stderr = {}, {}
    for step in range(1, steps + 1):
        samples = sample_categorical(torch.softmax(logits, -1), group, gen)
        logits -= lr * grpo_grad(logits, samples, rew[samples], ref_logits, 0.0)
        if step in checks:
            lose = torch.softmax(logits, -1)[:, 1].numpy()
            mean[step], stderr[step] = lose.mean(), lose.std(ddof=1) / math.sqrt(bandits)
    times = np.array([lr * c for c in checks])
    flow = flow_path(ref, r, 0.0, group, np.concatenate([[0.0], times]), pi0=pi0)[1:, 1]
    for c, predicted in zip(checks, flow):
        assert abs(mean[c] - predicted) <= 4.0 * stderr[c], (c, mean[c], predicted, stderr[c])
    # the rate: d log π(b)/d log t between the checkpoints, sampled against the flow
    span = math.log(times[1] / times[0])
    sampled_rate = math.log(mean[checks[1]] / mean[checks[0]]) / span
    flow_rate = math.log(flow[1] / flow[0]) / span
    band = 4.0 * math.hypot(stderr[checks[0]] / mean[checks[0]], stderr[checks[1]] / mean[checks[1]]) / span
    assert abs(sampled_rate - flow_rate) <= band
    # and the flow itself is on the derived law: t·π(b) → 1/(2·√7)
    k = beta_zero_limit(pi0, r, group).loser_coefficient[1]
    assert k == pytest.approx(1.0 / (2.0 * math.sqrt(7.0)), rel=1e-14)
    assert flow[1] * times[1] == pytest.approx(k, rel=0.03)


def test_beta_zero_in_the_torch_grpo_losses_is_the_pure_policy_gradient():
    # β = 0 drops the KL term: autograd of grpo_loss = grpo_grad = the surrogate's gradient
    # written out here, −(1/G)·Σ_i A_i·(e_{o_i} − π) per context; the expected gradient is
    # −π·P_G with P_G by enumeration (dynamics at β = 0); GVPO still refuses β = 0.
    from gvpo_theory.dynamics import grpo_expected_update
    from gvpo_theory.torch.losses import grpo_expected_grad, grpo_grad, grpo_loss, gvpo_grad

    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype=torch.float64))
    ref_logits = torch.log(torch.tensor([[0.3, 0.3, 0.4], [0.2, 0.4, 0.4]], dtype=torch.float64))
    samples = torch.tensor([[0, 1, 1, 2], [2, 2, 0, 1]])
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.5], [0.5, 0.5, 1.0, 0.0]], dtype=torch.float64)
    theta = logits.clone().requires_grad_(True)
    grpo_loss(theta, samples, rewards, ref_logits, 0.0, std="none").backward()
    pi = torch.softmax(logits, -1)
    adv = rewards - rewards.mean(1, keepdim=True)
    by_hand = torch.zeros_like(logits).scatter_add_(1, samples, adv) - pi * adv.sum(1, keepdim=True)
    torch.testing.assert_close(theta.grad, -by_hand / 4, rtol=0, atol=1e-15)
    torch.testing.assert_close(grpo_grad(logits, samples, rewards, ref_logits, 0.0, std="none"),
                               -by_hand / 4, rtol=0, atol=1e-15)
    levels = torch.tensor([0.0, 1.0], dtype=torch.float64)
    arm = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    probs = torch.stack([1 - arm, arm], -1)  # deterministic 0/1 rewards
    expected = grpo_expected_grad(logits, ref_logits, levels, probs, 0.0, 4)
    for b in range(2):
        f = grpo_expected_update(pi[b].numpy(), np.exp(ref_logits[b].numpy()), arm[b].numpy(), 0.0, 4)
        np.testing.assert_allclose(expected[b].numpy(), -f, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="beta must be > 0"):
        gvpo_grad(logits, samples, rewards, ref_logits, 0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        grpo_grad(logits, samples, rewards, ref_logits, -1.0)
