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


# ------------------------------------------------------------------ batch-level normalisation


def _rewards(seed: int, b: int = 6, g: int = 5):
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.choice([0.0, 0.5, 1.0], size=(b, g)), dtype=torch.float64)


@pytest.mark.parametrize("baseline, factor", [("mean", 1.0), ("leave_one_out", 5.0 / 4.0)])
def test_batch_advantages_equal_an_independent_transcription(baseline, factor):
    """TRL: (r − group mean)/(statistics.stdev of all B·G rewards + 1e-4); REINFORCE++: the
    centred rewards whitened with statistics.variance + 1e-8 (both N − 1)."""
    import statistics

    from gvpo_theory.torch.batch_losses import batch_scale, batch_std_advantages

    r = _rewards(1)
    rows = r.tolist()
    flat = [v for row in rows for v in row]
    centred = [[factor * (v - statistics.fmean(row)) for v in row] for row in rows]
    trl = [[c / (statistics.stdev(flat) + 1e-4) for c in row] for row in centred]
    got = batch_std_advantages(r, "trl", baseline=baseline).numpy()
    np.testing.assert_allclose(got, trl, rtol=0, atol=1e-13)
    cflat = [c for row in centred for c in row]
    whitened = [[(c - statistics.fmean(cflat)) / (statistics.variance(cflat) + 1e-8) ** 0.5 for c in row]
                for row in centred]
    got = batch_std_advantages(r, "reinforce++", baseline=baseline).numpy()
    np.testing.assert_allclose(got, whitened, rtol=0, atol=1e-13)
    assert float(batch_scale(r)) == pytest.approx(statistics.stdev(flat) + 1e-4, abs=1e-15)
    tied = torch.ones((3, 4), dtype=torch.float64)
    assert torch.all(batch_std_advantages(tied) == 0)


@pytest.mark.parametrize("penalty", ["reverse_kl", "direct_kl"])
@pytest.mark.parametrize("convention", ["trl", "reinforce++"])
def test_batch_std_grad_equals_autograd_of_the_loss(penalty, convention):
    from gvpo_theory.torch.batch_losses import batch_std_grad, batch_std_loss

    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    ref = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    samples = torch.randint(0, 3, (6, 5), generator=gen)
    arm = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64).expand(6, 3)
    rewards = torch.gather(arm, 1, samples)
    theta = logits.clone().requires_grad_(True)
    batch_std_loss(theta, samples, rewards, ref, 0.3, convention=convention, penalty=penalty).backward()
    closed = batch_std_grad(logits, samples, rewards, ref, 0.3, convention=convention, penalty=penalty)
    np.testing.assert_allclose(closed.numpy(), theta.grad.numpy(), rtol=0, atol=1e-13)


def test_batch_std_grad_is_dr_grpo_on_rewards_over_the_batch_scale():
    """At the batch's own scale s = stdev + 1e-4 (numpy, N − 1), the batch-std gradient is the
    no-std (Dr. GRPO) gradient of the rewards r/s: the reduction the coupled fixed point solves."""
    from gvpo_theory.torch import grpo_grad
    from gvpo_theory.torch.batch_losses import batch_std_grad

    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    ref = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    samples = torch.randint(0, 3, (6, 5), generator=gen)
    rewards = torch.gather(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64).expand(6, 3), 1, samples)
    s = float(np.std(rewards.numpy(), ddof=1)) + 1e-4
    want = grpo_grad(logits, samples, rewards / s, ref, 0.3, std="none", penalty="reverse_kl")
    np.testing.assert_allclose(batch_std_grad(logits, samples, rewards, ref, 0.3).numpy(), want.numpy(),
                               rtol=0, atol=1e-13)


def test_trained_batch_std_matches_the_coupled_fixed_point():
    """TRL scale_rewards='batch' trained on 512 prompts matches the coupled batch-std prediction
    within the noise band of dataset_training.compare (per-prompt CLT plus the batch scale's
    share), and the group-std prediction lies many bands away, so the check can fail."""
    from gvpo_theory.torch.dataset_training import compare, train_prompts

    rng = np.random.default_rng(0)
    ds = Dataset.from_pass_rates(np.clip(rng.beta(0.7, 1.2, size=512), 0.02, 0.98))
    obj, beta = gt.objective("grpo-sample", 8, eps=1e-4), 2.0
    pred = predict(ds, beta, obj, normalisation="batch-trl")
    group = predict(ds, beta, obj)
    trained = train_prompts(ds, beta, obj, normalisation="batch-trl", steps=2000, seed=1)
    cmp = compare(trained, pred, ks=(8,))
    assert cmp.within, cmp.rows
    assert cmp.rows["accuracy"]["band"] < 0.01 and cmp.rows["pass@8"]["band"] < 0.01
    for name, other in (("accuracy", group.summary["mean_accuracy"]), ("pass@8", group.summary["pass@8"])):
        assert abs(cmp.rows[name]["trained"] - other) > 5 * cmp.rows[name]["band"]
    assert trained.scales.size == 2000
    # the batch divisor during training concentrates on the solved one
    assert abs(cmp.scale_trained / cmp.scale_predicted - 1.0) < 10 * cmp.bias_bound


def test_trained_gvpo_reaches_pi_star_to_rounding():
    from gvpo_theory.torch.dataset_training import compare, train_prompts

    ds = Dataset.from_pass_rates(np.linspace(0.05, 0.95, 64))
    trained = train_prompts(ds, 0.5, "gvpo", 4, steps=3000)
    cmp = compare(trained, predict(ds, 0.5, "gvpo", 4))
    assert cmp.within
    np.testing.assert_allclose(trained.accuracy, 1 / (1 + (1 - ds.pass_rates) / ds.pass_rates * np.exp(-2.0)),
                               rtol=0, atol=1e-8)


def test_batch_losses_and_training_reject_bad_input():
    from gvpo_theory.torch.batch_losses import batch_std_advantages, batch_std_grad
    from gvpo_theory.torch.dataset_training import compare, train_prompts

    r = _rewards(2)
    with pytest.raises(ValueError, match="convention"):
        batch_std_advantages(r, "batch")
    with pytest.raises(ValueError, match="baseline"):
        batch_std_advantages(r, baseline="median")
    with pytest.raises(ValueError, match="eps"):
        batch_std_advantages(r, eps=-1.0)
    with pytest.raises(ValueError, match="G >= 2"):
        batch_std_advantages(r[:, :1])
    with pytest.raises(ValueError, match="rewards"):
        batch_std_advantages(torch.full((2, 3), float("nan"), dtype=torch.float64))
    logits = torch.zeros(6, 3, dtype=torch.float64)
    samples = torch.zeros(6, 5, dtype=torch.int64)
    with pytest.raises(ValueError, match="penalty"):
        batch_std_grad(logits, samples, r, logits, 0.3, penalty="k1")
    with pytest.raises(ValueError, match="beta"):
        batch_std_grad(logits, samples, r, logits, -0.3)
    ds = Dataset.from_pass_rates([0.2, 0.5])
    obj = gt.objective("grpo-sample", 4)
    with pytest.raises(ValueError, match="dataset"):
        train_prompts([0.2, 0.5], 0.5, obj)
    with pytest.raises(ValueError, match="no reference mass"):
        train_prompts(Dataset.from_pass_rates([0.2, 1.0]), 0.5, obj)
    with pytest.raises(ValueError, match="normalisation"):
        train_prompts(ds, 0.5, "gvpo", 4, normalisation="batch-trl")
    with pytest.raises(ValueError, match="group_size"):
        train_prompts(ds, 0.5, "dr-grpo", float("inf"))
    for kw, name in (({"steps": 0}, "steps"), ({"lr": 0.0}, "lr"), ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=name):
            train_prompts(ds, 0.5, obj, **kw)
    trained = train_prompts(ds, 0.5, obj, steps=4)
    with pytest.raises(ValueError, match="prediction"):
        compare(trained, predict(ds, 0.6, obj))
    with pytest.raises(ValueError, match="trained"):
        compare(None, predict(ds, 0.5, obj))
