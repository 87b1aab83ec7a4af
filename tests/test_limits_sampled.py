"""Sampled training (the torch module) at β = 0 approaches its limit at the derived rate.

512 tabular bandits, r = (1, 0), G = 8, population std, trained with the module's own GRPO
gradient (``grpo_grad``) on on-policy samples (``sample_categorical``), lr 2, from
π0 = (0.98, 0.02). The torch module refuses β = 0, so β = 1e-300 is passed: its penalty term
is below the rounding of the advantage terms by hundreds of orders. The mean losing mass is
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
        logits -= lr * grpo_grad(logits, samples, rew[samples], ref_logits, 1e-300)
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
