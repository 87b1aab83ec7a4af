"""Sampled confirmation: the torch module trains prompts drawn from a dataset, and the mean
accuracy and pass@8 after training match the dataset prediction within the sampling noise.

Noise band: each prompt is trained on its own samples, so the per-prompt errors
d_i = π̂_i(a) − π_i(a) are independent across the B prompts; by the central limit theorem
their mean has standard error s_d/√B (s_d their sample std), and the band is 4·s_d/√B. The
same holds for pass@8 with d_i taken on 1 − (1 − π(a))^8. The test can fail: GRPO's
prediction and π* (GVPO's) differ by far more than the band.
"""

from __future__ import annotations

import numpy as np
import pytest

import gvpo_theory as gt
from gvpo_theory.dataset import Dataset, pass_at_k, predict

torch = pytest.importorskip("torch")


def test_trained_accuracy_matches_the_prediction():
    from gvpo_theory.torch import Bandits, verify

    rng = np.random.default_rng(0)
    b = 128
    p = np.clip(rng.beta(0.7, 1.2, size=b), 0.02, 0.98)
    beta, obj = 0.3, gt.objective("grpo-sample", 8)
    ref_logits = torch.tensor(np.log(np.stack([p, 1 - p], -1)))
    bandits = Bandits(ref_logits, torch.tensor(np.tile([1.0, 0.0], (b, 1))))
    run = verify(bandits, beta=beta, group_size=obj, methods=("grpo",), steps=2000, seed=1).runs[0]
    pred = predict(Dataset.from_pass_rates(p), beta, obj)
    trained = run.policy[:, 0]
    for f in (lambda a: a, lambda a: pass_at_k(a, 8)):
        d = f(trained) - f(pred.accuracy)
        band = 4.0 * d.std(ddof=1) / np.sqrt(b)
        assert abs(d.mean()) <= band
        assert abs(np.mean(f(trained)) - np.mean(f(pred.pi_star_accuracy))) > 10 * band
