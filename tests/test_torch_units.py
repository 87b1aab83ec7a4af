"""Unit tests of the torch verification module (gvpo_theory/torch), CPU only.

Every check compares against a computation written here — python loops, numpy, the
engine's exact expected updates (gvpo_theory.dynamics), or statistics of many draws with
bounds derived from the sample size — never against the module's own output.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy.stats import chi2  # noqa: E402

from gvpo_theory import dynamics  # noqa: E402
from gvpo_theory.problem import RewardDistribution  # noqa: E402
from gvpo_theory.torch import (  # noqa: E402
    Bandits,
    FixedSampler,
    MixtureSampler,
    OnPolicySampler,
    ReplaySampler,
    SupportWarning,
    grpo_advantages,
    grpo_expected_grad,
    grpo_grad,
    grpo_loss,
    gvpo_expected_grad,
    gvpo_grad,
    gvpo_loss,
    gvpo_weights,
    make_bandits,
    make_sampler,
    restricted_optimum,
    sample_categorical,
    verify,
)
from gvpo_theory.torch.samplers import SAMPLERS  # noqa: E402
from gvpo_theory.torch.trainer import resolve_device  # noqa: E402

F64 = torch.float64
STDS = ("population", "sample", "none")
PENALTIES = ("reverse_kl", "direct_kl")
#: Number of standard errors allowed between a sample mean and its expectation.
N_SE = 6.0


@pytest.fixture(autouse=True, scope="module")
def _single_intra_op_thread():
    """Tensors here are tiny or 1-D-batched: one intra-op thread. With several, a loaded
    2-core machine makes each softmax of a (4, 3) tensor wait ~10 ms on OpenMP barriers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _np_softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _fake_uniform(value: str):
    """A stand-in for torch.rand returning 0 (``"zero"``) or the largest value < 1 (``"top"``)."""

    def rand(size, *, generator=None, device=None, dtype=None):
        ones = torch.ones(size, dtype=dtype or torch.get_default_dtype(), device=device)
        if value == "zero":
            return torch.zeros_like(ones)
        return torch.nextafter(ones, torch.zeros_like(ones))

    return rand


# =================================================================== 1. sample_categorical


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_categorical_frequencies_match_probs(dtype):
    gen = torch.Generator().manual_seed(1234)
    raw = np.array(
        [
            [0.0, 0.2, 0.5, 0.3],  # zero-mass first arm
            [0.1, 0.0, 0.0, 0.9],  # zero-mass middle arms
            [0.25, 0.25, 0.5, 0.0],  # zero-mass last arm
            [0.01, 0.09, 0.3, 0.6],  # a rare arm
            [1.0, 0.0, 0.0, 0.0],  # a point mass
        ]
    )
    scale = np.array([1.0, 3.7, 0.013, 250.0, 0.5])[:, None]  # rows need not be normalised
    probs = torch.tensor(raw * scale, dtype=dtype)
    n = 200_000
    draws = sample_categorical(probs, n, gen)
    assert draws.dtype == torch.int64 and draws.shape == (raw.shape[0], n)
    assert int(draws.min()) >= 0 and int(draws.max()) < raw.shape[1]
    counts = np.stack([np.bincount(row, minlength=raw.shape[1]) for row in draws.numpy()])
    for b in range(raw.shape[0]):
        p = raw[b] / raw[b].sum()
        assert np.all(counts[b][p == 0] == 0), f"row {b}: a zero-mass arm was drawn"
        pos = p > 0
        if pos.sum() < 2:
            assert counts[b][pos].sum() == n
            continue
        expected = n * p[pos]
        stat = float(np.sum((counts[b][pos] - expected) ** 2 / expected))
        # Pearson's X² is asymptotically χ²(df); reject only at a 1e-9 tail.
        assert stat < chi2.ppf(1 - 1e-9, pos.sum() - 1), (b, stat, counts[b], expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", ["zero", "top"])
def test_sample_categorical_extreme_uniforms_never_hit_empty_arms(monkeypatch, dtype, value):
    probs = torch.tensor(
        [[0.0, 0.0, 0.4, 0.6, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0], [0.3, 0.0, 0.7, 0.0, 0.0]], dtype=dtype
    )
    monkeypatch.setattr(torch, "rand", _fake_uniform(value))
    draws = sample_categorical(probs, 7)
    picked = torch.gather(probs, 1, draws)
    assert bool((picked > 0).all()), draws
    first_positive = [2, 1, 0]
    last_positive = [3, 1, 2]
    want = first_positive if value == "zero" else last_positive
    assert draws[:, 0].tolist() == want


def test_sample_categorical_rejects_bad_arguments():
    with pytest.raises(ValueError, match="probs"):
        sample_categorical(torch.ones(3), 2)
    with pytest.raises(ValueError, match="k"):
        sample_categorical(torch.ones(2, 3), 0)


# ============================================================================ 2. bandits


@pytest.mark.parametrize("kind", ["binary", "levels", "continuous", "bernoulli"])
def test_make_bandits_is_seeded_and_well_formed(kind):
    a = make_bandits(7, 5, rewards=kind, n_levels=4, seed=3)
    b = make_bandits(7, 5, rewards=kind, n_levels=4, seed=3)
    c = make_bandits(7, 5, rewards=kind, n_levels=4, seed=4)
    assert torch.equal(a.ref_logits, b.ref_logits) and torch.equal(a.mean_rewards, b.mean_rewards)
    assert not torch.equal(a.ref_logits, c.ref_logits)
    assert a.contexts == 7 and a.arms == 5 and a.dtype == F64
    ref = a.ref_logits.numpy()
    np.testing.assert_allclose(np.exp(ref).sum(-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.pi_ref.sum(-1).numpy(), 1.0, rtol=0, atol=1e-12)
    r = a.mean_rewards.numpy()
    if kind == "binary":
        assert set(np.unique(r)) <= {0.0, 1.0}
        assert not a.stochastic
    elif kind == "levels":
        grid = np.arange(4) / 3
        assert np.all(np.min(np.abs(r[..., None] - grid), -1) < 1e-15)
        assert not a.stochastic
    elif kind == "continuous":
        assert np.all((r >= 0) & (r < 1)) and len(np.unique(r)) == r.size
        assert not a.stochastic
    else:
        assert a.stochastic
        assert a.levels.tolist() == [0.0, 1.0]
        p = a.reward_probs.numpy()
        np.testing.assert_allclose(p.sum(-1), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(p[..., 1], r, rtol=0, atol=1e-15)
    f32 = make_bandits(7, 5, rewards=kind, n_levels=4, seed=3, dtype=torch.float32)
    assert f32.dtype == torch.float32
    np.testing.assert_allclose(f32.ref_logits.double().numpy(), ref, rtol=1e-6, atol=1e-6)


def test_bernoulli_sample_rewards_mean_is_success_probability():
    bandits = make_bandits(6, 4, rewards="bernoulli", seed=11)
    n_per_arm = 20_000
    arms = (torch.arange(4 * n_per_arm) % 4).repeat(6, 1)
    gen = torch.Generator().manual_seed(5)
    rewards = bandits.sample_rewards(arms, gen)
    assert rewards.shape == arms.shape
    assert set(torch.unique(rewards).tolist()) <= {0.0, 1.0}
    s = bandits.reward_probs[..., 1].numpy()  # P(reward = 1)
    emp = rewards.numpy().reshape(6, n_per_arm, 4).mean(1)
    bound = N_SE * np.sqrt(s * (1 - s) / n_per_arm) + 1e-12
    assert np.all(np.abs(emp - s) <= bound), (emp, s)


def test_deterministic_sample_rewards_are_the_mean_rewards():
    bandits = make_bandits(5, 6, rewards="levels", seed=2)
    arms = torch.randint(0, 6, (5, 9), generator=torch.Generator().manual_seed(0))
    got = bandits.sample_rewards(arms).numpy()
    r = bandits.mean_rewards.numpy()
    want = np.array([[r[b, o] for o in row] for b, row in enumerate(arms.numpy())])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("value", ["zero", "top"])
def test_sample_rewards_never_draws_a_zero_probability_level(monkeypatch, value):
    # One arm always scores 1, one always 0, one always 0.5 (a point mass in a middle level).
    levels = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    probs = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=F64)
    bandits = Bandits(torch.zeros(1, 3, dtype=F64), torch.tensor([[1.0, 0.0, 0.5]], dtype=F64), levels, probs)
    monkeypatch.setattr(torch, "rand", _fake_uniform(value))
    got = bandits.sample_rewards(torch.tensor([[0, 1, 2, 0]]))
    assert got.tolist() == [[1.0, 0.0, 0.5, 1.0]]


def test_level_structure_and_engine_problem():
    binary = make_bandits(9, 5, rewards="binary", seed=1)
    levels, d = binary.level_structure()
    r = binary.mean_rewards.numpy()
    assert levels.tolist() == sorted(set(r.ravel().tolist()))
    d = d.numpy()
    assert d.shape == (9, 5, len(levels))
    assert set(np.unique(d)) <= {0.0, 1.0}
    np.testing.assert_array_equal(d.sum(-1), 1.0)
    np.testing.assert_array_equal(d @ levels.numpy(), r)

    assert make_bandits(3, 20, rewards="continuous", seed=0).level_structure() is None

    pi_ref, rewards = binary.engine_problem()
    assert pi_ref.dtype == np.float64 and rewards.dtype == np.float64
    np.testing.assert_allclose(pi_ref, _np_softmax(binary.ref_logits.numpy()), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(rewards, r)

    bern = make_bandits(4, 3, rewards="bernoulli", seed=9, dtype=torch.float32)
    pi_ref, dist = bern.engine_problem()
    assert isinstance(dist, RewardDistribution)
    assert pi_ref.dtype == np.float64 and dist.probs.dtype == np.float64
    np.testing.assert_allclose(pi_ref.sum(-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(dist.levels, [0.0, 1.0])
    np.testing.assert_allclose(dist.expected(), bern.mean_rewards.double().numpy(), rtol=0, atol=1e-6)


def test_bandits_and_make_bandits_reject_bad_inputs():
    with pytest.raises(ValueError, match="contexts"):
        make_bandits(0, 3)
    with pytest.raises(ValueError, match="arms"):
        make_bandits(2, 1)
    with pytest.raises(ValueError, match="rewards"):
        make_bandits(2, 3, rewards="gaussian")
    with pytest.raises(ValueError, match="n_levels"):
        make_bandits(2, 3, rewards="levels", n_levels=1)
    with pytest.raises(ValueError, match="concentration"):
        make_bandits(2, 3, concentration=0.0)

    ref = torch.zeros(2, 3, dtype=F64)
    r = torch.ones(2, 3, dtype=F64)
    with pytest.raises(ValueError, match="ref_logits"):
        Bandits(torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="mean_rewards"):
        Bandits(ref, torch.ones(2, 4, dtype=F64))
    with pytest.raises(ValueError, match="arms"):
        Bandits(torch.zeros(2, 1, dtype=F64), torch.ones(2, 1, dtype=F64))
    with pytest.raises(ValueError, match="dtype"):
        Bandits(ref, r.float())
    with pytest.raises(ValueError, match="dtype"):
        Bandits(ref.long(), r.long())
    nan_ref = ref.clone()
    nan_ref[1, 2] = math.nan
    with pytest.raises(ValueError, match="ref_logits"):
        Bandits(nan_ref, r)
    levels = torch.tensor([0.0, 1.0], dtype=F64)
    good = torch.tensor([0.3, 0.7], dtype=F64).expand(2, 3, 2).clone()
    Bandits(ref, r, levels, good)  # accepted
    with pytest.raises(ValueError, match="together"):
        Bandits(ref, r, levels, None)
    bad = good.clone()
    bad[0, 1] = torch.tensor([0.3, 0.6], dtype=F64)
    with pytest.raises(ValueError, match="reward_probs"):
        Bandits(ref, r, levels, bad)
    with pytest.raises(ValueError, match="reward_probs"):
        Bandits(ref, r, levels, good[..., :1])


# ============================================================================= 3. losses


def _random_problem(b=5, k_arms=4, g=4, seed=0, dtype=F64):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k_arms, generator=gen, dtype=dtype)
    ref_logits = torch.randn(b, k_arms, generator=gen, dtype=dtype)
    samples = torch.randint(0, k_arms, (b, g), generator=gen)
    # rewards on a small grid so that groups with ties occur
    rewards = torch.randint(0, 3, (b, g), generator=gen).to(dtype) / 2
    rewards[0] = 0.5  # one fully tied group
    return logits, ref_logits, samples, rewards


@pytest.mark.parametrize("scale", ["sum", "paper"])
@pytest.mark.parametrize("beta_kind", ["float", "tensor"])
def test_gvpo_grad_is_autograd_of_gvpo_loss(scale, beta_kind):
    logits, ref_logits, samples, rewards = _random_problem(b=6, k_arms=5, g=4, seed=1)
    beta = 0.7 if beta_kind == "float" else torch.linspace(0.2, 3.0, 6, dtype=F64)
    theta = logits.clone().requires_grad_(True)
    gvpo_loss(theta, samples, rewards, ref_logits, beta, scale).backward()
    analytic = gvpo_grad(logits, samples, rewards, ref_logits, beta, scale)
    torch.testing.assert_close(analytic, theta.grad, rtol=0, atol=1e-12)
    assert float(theta.grad.abs().max()) > 1e-3  # not trivially zero


@pytest.mark.parametrize("std", STDS)
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_grpo_grad_is_autograd_of_grpo_loss(std, penalty, eps):
    logits, ref_logits, samples, rewards = _random_problem(b=8, k_arms=5, g=5, seed=2)
    theta = logits.clone().requires_grad_(True)
    grpo_loss(theta, samples, rewards, ref_logits, 0.4, std, penalty, eps).backward()
    analytic = grpo_grad(logits, samples, rewards, ref_logits, 0.4, std, penalty, eps)
    torch.testing.assert_close(analytic, theta.grad, rtol=0, atol=1e-12)
    assert float(theta.grad.abs().max()) > 1e-3


@pytest.mark.claim("gvpo-unique-optimum", way="exact numerics")
def test_gvpo_weights_vanish_at_pi_star_for_any_samples():
    b, k_arms, g = 50, 6, 7
    gen = torch.Generator().manual_seed(3)
    ref_logits = torch.randn(b, k_arms, generator=gen, dtype=F64)
    mean = torch.rand(b, k_arms, generator=gen, dtype=F64) * 3
    for beta in (0.05, 1.0, torch.linspace(0.1, 4.0, b, dtype=F64)):
        bcol = beta[:, None] if isinstance(beta, torch.Tensor) else beta
        # π* = softmax(log π_ref + r/β), written from θ up to an arbitrary per-context shift
        theta = torch.log_softmax(ref_logits, -1) + mean / bcol + torch.randn(b, 1, generator=gen)
        for _ in range(5):
            samples = torch.randint(0, k_arms, (b, g), generator=gen)
            rewards = torch.gather(mean, 1, samples)
            w = gvpo_weights(theta, samples, rewards, ref_logits, beta)
            assert float(w.abs().max()) < 1e-12
            assert float(gvpo_grad(theta, samples, rewards, ref_logits, beta).abs().max()) < 1e-12
        # ... and not elsewhere
        w = gvpo_weights(theta + torch.randn(b, k_arms, generator=gen), samples, rewards, ref_logits, beta)
        assert float(w.abs().max()) > 1e-2


def _advantages_loop(rewards: np.ndarray, std: str, eps: float) -> np.ndarray:
    out = np.zeros_like(rewards)
    for b, row in enumerate(rewards.tolist()):
        g = len(row)
        mean = sum(row) / g
        if std == "none":
            out[b] = [x - mean for x in row]
            continue
        if max(row) == min(row):
            continue  # all tie: A = 0
        ss = sum((x - mean) ** 2 for x in row)
        sigma = math.sqrt(ss / (g if std == "population" else g - 1))
        out[b] = [(x - mean) / (sigma + eps) for x in row]
    return out


@pytest.mark.claim("vy-advantage", way="exact numerics")
@pytest.mark.parametrize("std", STDS)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("g", [2, 3, 6])
def test_grpo_advantages_match_a_per_group_loop(std, eps, g):
    gen = torch.Generator().manual_seed(g)
    rewards = torch.randint(0, 3, (200, g), generator=gen).to(F64) * 0.7
    rewards[:3] = torch.tensor([1.3, -2.0, 0.25]).repeat(g)[:g].to(F64)  # ties within groups below
    rewards[3] = 0.7
    rewards[4] = torch.rand(g, generator=gen, dtype=F64)  # distinct continuous values
    got = grpo_advantages(rewards, std, eps).numpy()
    want = _advantages_loop(rewards.numpy(), std, eps)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    if std == "none":  # A = R − R̄: a tied group gives 0 up to the rounding of the mean
        assert np.all(np.abs(got[3]) < 1e-15)
    else:  # ties decided by comparing rewards: exactly 0
        assert np.all(got[3] == 0.0)


def test_grpo_advantages_sample_std_divides_by_g_minus_1():
    a = grpo_advantages(torch.tensor([[0.0, 1.0]], dtype=F64), "sample").numpy()
    np.testing.assert_allclose(a, [[-1 / math.sqrt(2), 1 / math.sqrt(2)]], rtol=0, atol=1e-15)
    a = grpo_advantages(torch.tensor([[0.0, 1.0]], dtype=F64), "population").numpy()
    np.testing.assert_allclose(a, [[-1.0, 1.0]], rtol=0, atol=1e-15)


def _problem_with(kind: str, b: int, k_arms: int, seed: int):
    if kind == "levels":
        return make_bandits(b, k_arms, rewards="levels", n_levels=3, seed=seed)
    return make_bandits(b, k_arms, rewards="bernoulli", seed=seed)


@pytest.mark.parametrize("scale", ["sum", "paper"])
@pytest.mark.parametrize("kind", ["levels", "bernoulli"])
@pytest.mark.parametrize("k", [2, 5])
def test_gvpo_expected_grad_is_minus_engine_update(scale, kind, k):
    bandits = _problem_with(kind, 6, 5, seed=21)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=gen, dtype=F64)
    pi_s = torch.softmax(torch.randn(6, 5, generator=gen, dtype=F64), -1)
    pi_s[2, 1] = 0.0  # a sampler without full support in one context
    pi_s = pi_s / pi_s.sum(-1, keepdim=True)
    beta = 0.3
    got = gvpo_expected_grad(logits, bandits.ref_logits, bandits.mean_rewards, beta, pi_s, k, scale)
    pi_ref, rewards = bandits.engine_problem()
    want = -dynamics.gvpo_expected_update(
        _np_softmax(logits.numpy()), pi_ref, rewards, beta, pi_s.numpy(), k, scale
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    assert np.abs(want).max() > 1e-2


@pytest.mark.parametrize("std", STDS)
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("kind", ["levels", "bernoulli"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_grpo_expected_grad_is_minus_engine_update(std, penalty, kind, eps):
    bandits = _problem_with(kind, 5, 4, seed=7)
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    beta, g = 0.25, 5
    got = grpo_expected_grad(
        logits, bandits.ref_logits, *bandits.level_structure(), beta, g, std, penalty, eps
    )
    pi_ref, rewards = bandits.engine_problem()
    want = -dynamics.grpo_expected_update(
        _np_softmax(logits.numpy()), pi_ref, rewards, beta, g, std, penalty, eps
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    assert np.abs(want).max() > 1e-2


def _replicate(bandits: Bandits, context: int, n: int) -> Bandits:
    """One context repeated n times along the batch axis."""
    one = bandits.subset(slice(context, context + 1))
    probs = None if one.reward_probs is None else one.reward_probs.expand(n, -1, -1)
    return Bandits(one.ref_logits.expand(n, -1), one.mean_rewards.expand(n, -1), one.levels, probs)


def _draw_rewards(bandits: Bandits, arms, gen):
    """Rewards of the drawn arms, drawn here (Bernoulli by comparison), not by Bandits.sample_rewards."""
    if bandits.reward_probs is None:
        return torch.gather(bandits.mean_rewards, 1, arms)
    success = torch.gather(bandits.reward_probs[..., 1], 1, arms)
    return (torch.rand(arms.shape, generator=gen, dtype=success.dtype) < success).to(success.dtype)


def _assert_mean_matches(grads, expected):
    n = grads.shape[0]
    mean = grads.mean(0)
    se = grads.std(0) / math.sqrt(n)
    bound = N_SE * se + 1e-12
    assert bool(((mean - expected).abs() <= bound).all()), (mean, expected, bound)
    # the test has power: the bound is small next to the gradient it checks
    assert float(bound.max()) < 0.1 * float(expected.abs().max())


N_GROUPS = 200_000


@pytest.mark.parametrize("kind", ["levels", "bernoulli"])
@pytest.mark.parametrize("sampler", ["on-policy", "fixed"])
def test_mean_of_sampled_gvpo_grad_is_expected_grad(kind, sampler):
    bandits = _problem_with(kind, 3, 5, seed=31)
    gen = torch.Generator().manual_seed(17)
    ctx, k, beta = 1, 4, 0.5
    logits1 = torch.randn(1, 5, generator=gen, dtype=F64)
    pi_s1 = torch.softmax(logits1, -1) if sampler == "on-policy" else torch.full((1, 5), 0.2, dtype=F64)
    many = _replicate(bandits, ctx, N_GROUPS)
    arms = torch.multinomial(pi_s1.expand(N_GROUPS, -1), k, replacement=True, generator=gen)
    rewards = _draw_rewards(many, arms, gen)
    grads = gvpo_grad(logits1.expand(N_GROUPS, -1), arms, rewards, many.ref_logits, beta)
    one = bandits.subset(slice(ctx, ctx + 1))
    expected = gvpo_expected_grad(logits1, one.ref_logits, one.mean_rewards, beta, pi_s1, k)[0]
    _assert_mean_matches(grads, expected)


@pytest.mark.parametrize(
    ("std", "penalty", "kind", "eps"),
    [
        ("population", "reverse_kl", "bernoulli", 0.0),
        ("population", "direct_kl", "levels", 0.1),
        ("sample", "reverse_kl", "levels", 0.0),
        ("sample", "direct_kl", "bernoulli", 0.1),
        ("none", "reverse_kl", "bernoulli", 0.1),  # eps is not applied without std scaling
        ("none", "direct_kl", "levels", 0.0),
    ],
)
def test_mean_of_sampled_grpo_grad_is_expected_grad(std, penalty, kind, eps):
    bandits = _problem_with(kind, 3, 4, seed=41)
    gen = torch.Generator().manual_seed(23)
    ctx, g, beta = 2, 4, 0.3
    logits1 = torch.randn(1, 4, generator=gen, dtype=F64)
    many = _replicate(bandits, ctx, N_GROUPS)
    arms = torch.multinomial(
        torch.softmax(logits1, -1).expand(N_GROUPS, -1), g, replacement=True, generator=gen
    )
    rewards = _draw_rewards(many, arms, gen)
    grads = grpo_grad(logits1.expand(N_GROUPS, -1), arms, rewards, many.ref_logits, beta, std, penalty, eps)
    one = bandits.subset(slice(ctx, ctx + 1))
    levels, d = one.level_structure()
    expected = grpo_expected_grad(logits1, one.ref_logits, levels, d, beta, g, std, penalty, eps)[0]
    _assert_mean_matches(grads, expected)


# =========================================================================== 4. samplers


def test_make_sampler_names_and_distributions():
    bandits = make_bandits(6, 4, seed=8)
    pi_ref = bandits.pi_ref
    policy = torch.softmax(torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=F64), -1)
    assert set(SAMPLERS) == {"on-policy", "reference", "uniform", "mixture", "replay"}
    samplers = {name: make_sampler(name, pi_ref, seed=1) for name in SAMPLERS}
    assert isinstance(samplers["on-policy"], OnPolicySampler) and samplers["on-policy"].on_policy
    assert isinstance(samplers["reference"], FixedSampler)
    assert isinstance(samplers["uniform"], FixedSampler)
    assert isinstance(samplers["mixture"], MixtureSampler)
    assert isinstance(samplers["replay"], ReplaySampler)
    for name, sampler in samplers.items():
        assert sampler.name == name
        if name != "on-policy":
            assert not sampler.on_policy
    np.testing.assert_array_equal(samplers["on-policy"].probs(policy).numpy(), policy.numpy())
    np.testing.assert_array_equal(samplers["reference"].probs(policy).numpy(), pi_ref.numpy())
    np.testing.assert_allclose(samplers["uniform"].probs(policy).numpy(), 0.25, rtol=0, atol=1e-15)
    mix = samplers["mixture"].probs(policy).numpy()
    np.testing.assert_allclose(mix.sum(-1), 1.0, rtol=0, atol=1e-12)
    assert np.all(mix >= 0.5 * pi_ref.numpy() - 1e-15) and np.all(mix > 0)
    assert np.abs(mix - pi_ref.numpy()).max() > 1e-2  # a different model's samples mixed in
    again = make_sampler("mixture", pi_ref, seed=1).probs(policy).numpy()
    np.testing.assert_array_equal(mix, again)  # seeded
    with pytest.raises(ValueError, match="sampler"):
        make_sampler("importance", pi_ref)


def test_fixed_sampler_support_and_normalisation():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype=F64)
    with pytest.warns(SupportWarning, match="zero probability"):
        FixedSampler(probs)
    with pytest.warns(SupportWarning):
        MixtureSampler(probs, 0.0)
    with pytest.raises(ValueError, match="sum to 1"):
        FixedSampler(torch.tensor([[0.5, 0.4, 0.2]], dtype=F64))
    with pytest.raises(ValueError, match=">= 0"):
        FixedSampler(torch.tensor([[1.2, -0.2, 0.0]], dtype=F64))
    with pytest.raises(ValueError, match="shape"):
        FixedSampler(torch.tensor([0.5, 0.5], dtype=F64))
    full = torch.tensor([[0.2, 0.3, 0.5]], dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SupportWarning)
        sampler = FixedSampler(full)  # full support: no warning
    draws = sampler.sample(torch.full((1, 3), 1 / 3, dtype=F64), 5, torch.Generator().manual_seed(0))
    assert draws.shape == (1, 5)


def test_mixture_sampler_weights():
    fixed = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]], dtype=F64)
    policy = torch.tensor([[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]], dtype=F64)
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="on_policy_weight"):
            MixtureSampler(fixed, bad)
    for alpha in (0.0, 0.25, 1.0):
        got = MixtureSampler(fixed, alpha).probs(policy).numpy()
        want = alpha * policy.numpy() + (1 - alpha) * fixed.numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_replay_sampler_draws_from_its_buffer():
    # One-hot policies make the buffer contents known: step t pushes k copies of arm a_t[b].
    b, k_arms, k, capacity = 3, 5, 4, 3
    arms_by_step = [[0, 4, 2], [1, 4, 3], [2, 0, 3], [3, 0, 1], [1, 2, 0]]
    sampler = ReplaySampler(capacity=capacity)
    gen = torch.Generator().manual_seed(0)
    eye = torch.eye(k_arms, dtype=F64)
    any_policy = torch.full((b, k_arms), 1 / k_arms, dtype=F64)
    np.testing.assert_array_equal(sampler.probs(any_policy).numpy(), any_policy.numpy())  # empty buffer
    for t, arms in enumerate(arms_by_step):
        policy = eye[arms]
        draws = sampler.sample(policy, k, gen).numpy()
        recent = np.array(arms_by_step[max(0, t + 1 - capacity) : t + 1])  # (steps in buffer, B)
        hist = np.zeros((b, k_arms))
        for row in recent:
            for ctx, arm in enumerate(row):
                hist[ctx, arm] += k
        hist /= hist.sum(-1, keepdims=True)
        np.testing.assert_allclose(sampler.probs(any_policy).numpy(), hist, rtol=0, atol=1e-15)
        for ctx in range(b):
            assert set(draws[ctx].tolist()) <= set(recent[:, ctx].tolist()), (t, ctx, draws[ctx])
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="capacity"):
            ReplaySampler(capacity=bad)


def test_replay_sampler_probs_is_empirical_histogram_of_mixed_buffer():
    sampler = ReplaySampler(capacity=2)
    gen = torch.Generator().manual_seed(4)
    eye = torch.eye(4, dtype=F64)
    sampler.sample(eye[[0, 1]], 3, gen)  # buffer: context 0 {0,0,0}, context 1 {1,1,1}
    sampler.sample(eye[[2, 1]], 3, gen)  # + context 0 {2,2,2}, context 1 {1,1,1}
    want = np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(sampler.probs(eye[[3, 3]]).numpy(), want, rtol=0, atol=1e-15)
    # the next call pushes context 0's arm 0 (dropping the 0s pushed first): buffer {2, 0}
    first = sampler.sample(eye[[0, 1]], 3, gen).numpy()
    assert set(first[0].tolist()) <= {0, 2} and set(first[1].tolist()) == {1}
    np.testing.assert_allclose(sampler.probs(eye[[3, 3]]).numpy(), want, rtol=0, atol=1e-15)
    # ... and the one after that overwrites the 2s: only arm 0 is left to draw
    later = torch.cat([sampler.sample(eye[[0, 1]], 3, gen) for _ in range(50)], 1).numpy()
    assert set(later[0].tolist()) == {0} and set(later[1].tolist()) == {1}


# ================================================================ 5. restricted optimum


def _restricted_setup():
    bandits = make_bandits(4, 3, rewards="continuous", concentration=2.0, seed=13)
    pi_s = torch.tensor(
        [[0.0, 0.5, 0.5], [0.3, 0.0, 0.7], [0.6, 0.4, 0.0], [0.2, 0.3, 0.5]], dtype=F64
    )  # contexts 0-2 each miss one arm; context 3 has full support
    return bandits, pi_s


def test_restricted_optimum_formula():
    bandits, pi_s = _restricted_setup()
    beta = 0.4
    theta0 = bandits.ref_logits.numpy()
    pi_ref = np.exp(theta0)
    r = bandits.mean_rewards.numpy()
    support = pi_s.numpy() > 0
    got = restricted_optimum(theta0, pi_ref, r, beta, support)
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=0, atol=1e-14)
    pi_star = _np_softmax(np.log(pi_ref) + r / beta)
    for b in range(4):
        s = support[b]
        g = r[b] - beta * np.log(got[b] / pi_ref[b])
        assert np.ptp(g[s]) < 1e-12  # on-support g constant: the GVPO update vanishes
        # logits of `got` up to the shift fixed by the (single) off-support arm when there is one
        log_got = np.log(got[b])
        if (~s).any():
            shift = theta0[b][~s] - log_got[~s]
            assert np.ptp(shift) < 1e-12
            theta = log_got + shift[0]
            np.testing.assert_allclose(theta[~s], theta0[b][~s], rtol=0, atol=1e-12)  # unchanged
            assert abs(theta[s].sum() - theta0[b][s].sum()) < 1e-12  # conserved on S
            assert np.abs(got[b] - pi_star[b]).max() > 1e-3  # ... and it is not π*
        else:
            np.testing.assert_allclose(got[b], pi_star[b], rtol=0, atol=1e-13)


def test_sgd_with_a_zero_in_the_sampler_reaches_the_restricted_optimum():
    bandits, pi_s = _restricted_setup()
    beta, k, steps = 0.4, 3, 2000
    with pytest.warns(SupportWarning):
        sampler = FixedSampler(pi_s)
    gen = torch.Generator().manual_seed(99)
    ref = bandits.ref_logits
    theta = ref.clone()
    lr = 0.5 / (beta * beta * (k - 1))
    for _ in range(steps):
        samples = sample_categorical(sampler.probs(torch.softmax(theta, -1)), k, gen)
        rewards = torch.gather(bandits.mean_rewards, 1, samples)
        theta -= lr * gvpo_grad(theta, samples, rewards, ref, beta)
    off = ~(pi_s > 0)
    assert torch.equal(theta[off], ref[off])  # never-sampled logits never move
    support = (pi_s > 0).numpy()
    want = restricted_optimum(ref.numpy(), np.exp(ref.numpy()), bandits.mean_rewards.numpy(), beta, support)
    got = torch.softmax(theta, -1).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    pi_star = _np_softmax(ref.numpy() + bandits.mean_rewards.numpy() / beta)
    assert np.abs(got[:3] - pi_star[:3]).max() > 1e-3
    np.testing.assert_allclose(got[3], pi_star[3], rtol=0, atol=1e-10)


# ================================================================ 6. devices and verify()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_resolve_device_cuda_without_gpu_is_a_value_error():
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device(None).type == "cpu"
    assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"methods": ("ppo",)}, "methods"),
        ({"samplers": ("importance",)}, "samplers"),
        ({"mode": "exact"}, "mode"),
        ({"std": "mad"}, "std"),
        ({"penalty": "forward_kl"}, "penalty"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"group_size": 1}, "group_size"),
        ({"group_size": 2.5}, "group_size"),
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"beta": math.nan}, "beta"),
        ({"steps": 0}, "steps"),
        ({"lr": -0.1}, "lr"),
        ({"schedule": "cosine"}, "schedule"),
        ({"average": "ema"}, "average"),
        ({"implementation": "jit"}, "implementation"),
        ({"gvpo_scale": "mean"}, "gvpo_scale"),
    ],
)
def test_verify_rejects_bad_arguments(kwargs, name):
    bandits = make_bandits(2, 3, seed=0)
    with pytest.raises(ValueError, match=name):
        verify(bandits, **kwargs)
