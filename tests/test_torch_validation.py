"""Input validation of the torch module: every public entry point names the bad argument
and the rule, and valid edge cases (float32, huge finite logits, (B,) β tensors) pass.

Complements the fuzzing of tests/test_fuzz_inputs.py with one readable case per rule and
per entry point. Where a valid input is accepted the result is compared with a value
computed here by hand (python loops, numpy), never with the module's own output.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gvpo_theory.torch import (  # noqa: E402
    Bandits,
    FixedSampler,
    MixtureSampler,
    ReplaySampler,
    grpo_advantages,
    grpo_expected_grad,
    grpo_grad,
    grpo_loss,
    gvpo_expected_grad,
    gvpo_grad,
    gvpo_loss,
    gvpo_sgd_step_,
    gvpo_weights,
    make_bandits,
    make_sampler,
    restricted_optimum,
    sample_categorical,
    verify,
)

F64, F32 = torch.float64, torch.float32
B, K, G = 3, 4, 5


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _group(dtype=F64):
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(B, K, dtype=dtype, generator=gen)
    ref = torch.randn(B, K, dtype=dtype, generator=gen)
    samples = torch.randint(0, K, (B, G), generator=gen)
    rewards = torch.rand(B, G, dtype=dtype, generator=gen)
    return logits, samples, rewards, ref


def _with(t: torch.Tensor, index: tuple[int, int], value: float) -> torch.Tensor:
    out = t.clone()
    out[index] = value
    return out


LG, S, R, REF = _group()
P = torch.softmax(torch.randn(B, K, dtype=F64, generator=torch.Generator().manual_seed(4)), -1)
LEVELS = torch.tensor([0.0, 1.0], dtype=F64)
RP = torch.stack([1 - P, P], -1)
LOSSES = [gvpo_weights, gvpo_loss, gvpo_grad, grpo_loss, grpo_grad]

# (bad keyword arguments, the pattern the message must match: the argument, then the rule)
GROUP_CASES = [
    ({"logits": LG.long()}, r"\blogits\b.*float32 or float64"),
    ({"logits": LG.to(torch.complex128)}, r"\blogits\b.*float32 or float64"),
    ({"logits": LG.bool()}, r"\blogits\b.*float32 or float64"),
    ({"logits": LG.half()}, r"\blogits\b.*float32 or float64"),
    ({"logits": LG.numpy()}, r"\blogits\b.*torch\.Tensor"),
    ({"logits": LG[0]}, r"\blogits\b.*shape \(B, K\)"),
    ({"logits": _with(LG, (1, 2), math.nan)}, r"\blogits\b.*finite"),
    ({"logits": _with(LG, (0, 0), math.inf)}, r"\blogits\b.*finite"),
    ({"logits": LG.to("meta")}, r"\blogits\b.*one device"),
    ({"ref_logits": REF[:, :2]}, r"\bref_logits\b.*shape"),
    ({"ref_logits": _with(REF, (2, 3), -math.inf)}, r"\bref_logits\b.*finite"),
    ({"ref_logits": REF.float()}, r"\bref_logits\b.*one dtype"),
    ({"rewards": _with(R, (0, 1), math.nan)}, r"\brewards\b.*finite"),
    ({"rewards": R[:, :3]}, r"\brewards\b.*shape"),
    ({"rewards": R.long()}, r"\brewards\b.*float32 or float64"),
    ({"samples": _with(S, (1, 1), K)}, r"\bsamples\b.*\[0, 4\)"),
    ({"samples": _with(S, (2, 0), -1)}, r"\bsamples\b.*\[0, 4\)"),
    ({"samples": S.int()}, r"\bsamples\b.*int64"),
    ({"samples": S.double()}, r"\bsamples\b.*int64"),
    ({"samples": S[:, :1], "rewards": R[:, :1]}, r"\bsamples\b.*k >= 2"),
    ({"samples": S[:2], "rewards": R[:2]}, r"\bsamples\b.*B = 3"),
    ({"beta": True}, r"\bbeta\b.*boolean"),
    ({"beta": "0.5"}, r"\bbeta\b.*string"),
    ({"beta": 0.5 + 0j}, r"\bbeta\b.*complex"),
    ({"beta": None}, r"\bbeta\b.*numeric"),
    ({"beta": math.nan}, r"\bbeta\b.*NaN"),
    ({"beta": -0.5}, r"\bbeta\b.*>=? 0"),
    ({"beta": math.inf}, r"\bbeta\b.*finite"),
    ({"beta": torch.tensor([0.5, math.nan, 0.5], dtype=F64)}, r"\bbeta\b.*finite and >=? 0"),
    ({"beta": torch.tensor([0.5, -1.0, 0.5], dtype=F64)}, r"\bbeta\b.*finite and >=? 0"),
    ({"beta": torch.ones(B, dtype=torch.bool)}, r"\bbeta\b.*real"),
    ({"beta": torch.ones(B + 1, dtype=F64)}, r"\bbeta\b.*\(B,\)"),
]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_beta_zero_is_refused_by_gvpo_and_accepted_by_grpo(loss) -> None:
    # GVPO's loss −β·Σ w·log π vanishes identically at β = 0; GRPO's β = 0 drops the KL term
    kw = {"logits": LG, "samples": S, "rewards": R, "ref_logits": REF}
    for beta in (0.0, torch.zeros(B, dtype=F64)):
        if loss.__name__.startswith("gvpo"):
            with pytest.raises(ValueError, match=r"\bbeta\b.*> 0"):
                loss(**kw, beta=beta)
        else:
            assert torch.all(torch.isfinite(loss(**kw, beta=beta)))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("bad", "match"), GROUP_CASES, ids=lambda x: "" if isinstance(x, dict) else x)
def test_group_losses_name_the_bad_argument(loss, bad: dict, match: str) -> None:
    kw = {"logits": LG, "samples": S, "rewards": R, "ref_logits": REF, "beta": 0.5, **bad}
    with pytest.raises(ValueError, match=match):
        loss(**kw)


def _gvpo_grad_by_hand(logits, samples, rewards, ref, beta) -> np.ndarray:
    """−β·Σ_i w_i·e_{y_i}, w_i = (R_i − R̄) − β(l_i − l̄), by python loops in float64."""
    lg, rf = logits.double().numpy(), ref.double().numpy()
    out = np.zeros(lg.shape)
    for b in range(lg.shape[0]):
        lp = lg[b] - np.log(np.exp(lg[b] - lg[b].max()).sum()) - lg[b].max()
        lr = rf[b] - np.log(np.exp(rf[b] - rf[b].max()).sum()) - rf[b].max()
        ys, rs = samples[b].tolist(), rewards[b].double().tolist()
        ls = [lp[y] - lr[y] for y in ys]
        bb = float(beta[b]) if isinstance(beta, torch.Tensor) else beta
        for y, r, l in zip(ys, rs, ls):
            w = (r - sum(rs) / len(rs)) - bb * (l - sum(ls) / len(ls))
            out[b, y] -= bb * w
    return out


def test_float32_is_accepted_and_matches_the_float64_hand_computation() -> None:
    lg, s, r, ref = _group(F32)
    got = gvpo_grad(lg, s, r, ref, 0.5)
    assert got.dtype == F32
    np.testing.assert_allclose(got.numpy(), _gvpo_grad_by_hand(lg, s, r, ref, 0.5), rtol=0, atol=2e-6)


def test_beta_per_context_tensor_is_accepted() -> None:
    beta = torch.tensor([0.25, 1.0, 3.0], dtype=F64)
    got = gvpo_grad(LG, S, R, REF, beta)
    np.testing.assert_allclose(got.numpy(), _gvpo_grad_by_hand(LG, S, R, REF, beta), rtol=0, atol=1e-13)


def test_huge_finite_logits_whose_sum_overflows_are_accepted() -> None:
    """The finiteness check sums the inputs; a sum that overflows on finite entries is
    confirmed entry by entry and accepted. Equal logits give π = π_ref = uniform, so
    l_i = 0 and w_i = R_i − R̄ exactly."""
    big = torch.full((B, K), 3e38, dtype=F32)
    assert not math.isfinite(float(big.sum()))
    r = torch.rand(B, G, dtype=F32, generator=torch.Generator().manual_seed(5))
    w = gvpo_weights(big, S, r, big.clone(), 0.5)
    want = r.double().numpy() - r.double().numpy().mean(1, keepdims=True)
    np.testing.assert_allclose(w.double().numpy(), want, rtol=0, atol=1e-6)


def test_grpo_options_and_advantages_are_validated() -> None:
    with pytest.raises(ValueError, match=r"\beps\b"):
        grpo_grad(LG, S, R, REF, 0.5, eps=True)
    with pytest.raises(ValueError, match=r"\beps\b"):
        grpo_grad(LG, S, R, REF, 0.5, eps="0")
    with pytest.raises(ValueError, match=r"\bstd\b"):
        grpo_loss(LG, S, R, REF, 0.5, std="Population")
    with pytest.raises(ValueError, match=r"\brewards\b.*G >= 2"):
        grpo_advantages(R[:, :1])
    with pytest.raises(ValueError, match=r"\brewards\b.*shape \(B, G\)"):
        grpo_advantages(R[0])
    with pytest.raises(ValueError, match=r"\brewards\b.*finite"):
        grpo_advantages(_with(R, (0, 0), math.nan))
    with pytest.raises(ValueError, match=r"\bscale\b"):
        gvpo_grad(LG, S, R, REF, 0.5, scale="mean")


# ---------------------------------------------------------------- expected gradients


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"group_size": True}, r"\bgroup_size\b.*integer"),
        ({"group_size": 1}, r"\bgroup_size\b.*>= 2"),
        ({"group_size": 2.5}, r"\bgroup_size\b.*integer"),
        ({"logits": LG.long()}, r"\blogits\b.*float32 or float64"),
        ({"logits": _with(LG, (0, 0), math.nan)}, r"\blogits\b.*finite"),
        ({"ref_logits": REF[:, :2]}, r"\bref_logits\b.*shape"),
        ({"mean_rewards": _with(LG, (1, 1), math.inf)}, r"\bmean_rewards\b.*finite"),
        ({"sampling_probs": -P}, r"\bsampling_probs\b.*>= 0"),
        ({"sampling_probs": 2 * P}, r"\bsampling_probs\b.*sum to 1"),
        ({"sampling_probs": P.float()}, r"one dtype"),
        ({"beta": "1"}, r"\bbeta\b"),
        ({"scale": "mean"}, r"\bscale\b"),
    ],
)
def test_gvpo_expected_grad_names_the_bad_argument(bad: dict, match: str) -> None:
    kw = {"logits": LG, "ref_logits": REF, "mean_rewards": LG, "beta": 0.5, "sampling_probs": P,
          "group_size": G, **bad}
    with pytest.raises(ValueError, match=match):
        gvpo_expected_grad(**kw)


def test_gvpo_expected_grad_accepts_integral_group_sizes_like_the_engine() -> None:
    """np.int64(5) and 5.0 are G = 5, as in the engine; the value is the closed form
    −β(k − 1)·π_s·(g − E_{π_s} g), g = E[r|o] − β·log(π/π_ref), computed here in numpy."""
    lp = torch.log_softmax(LG, -1).numpy()
    lr = torch.log_softmax(REF, -1).numpy()
    g = LG.numpy() - 0.5 * (lp - lr)
    want = -0.5 * (G - 1) * P.numpy() * (g - (P.numpy() * g).sum(-1, keepdims=True))
    for k in (G, np.int64(G), float(G)):
        got = gvpo_expected_grad(LG, REF, LG, 0.5, P, k).numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"levels": LEVELS.flip(0)}, r"\blevels\b.*increasing"),
        ({"levels": torch.tensor([0.0, math.nan], dtype=F64)}, r"\blevels\b.*finite"),
        ({"levels": LEVELS[None]}, r"\blevels\b.*shape \(L,\)"),
        ({"levels": torch.tensor([0, 1])}, r"\blevels\b.*float32 or float64"),
        ({"reward_probs": -RP}, r"\breward_probs\b.*>= 0"),
        ({"reward_probs": RP[..., :1]}, r"\breward_probs\b.*\(B, K, L\)"),
        ({"reward_probs": _with(RP.reshape(B, -1), (0, 0), math.nan).reshape(B, K, 2)},
         r"\breward_probs\b.*finite"),
        ({"logits": LG.to(torch.complex128)}, r"\blogits\b.*float32 or float64"),
        ({"group_size": math.inf}, r"\bgroup_size\b.*integer"),
        ({"group_size": True}, r"\bgroup_size\b"),
        ({"beta": -1.0}, r"\bbeta\b.*>= 0"),
    ],
)
def test_grpo_expected_grad_names_the_bad_argument(bad: dict, match: str) -> None:
    kw = {"logits": LG, "ref_logits": REF, "levels": LEVELS, "reward_probs": RP, "beta": 0.5,
          "group_size": G, **bad}
    with pytest.raises(ValueError, match=match):
        grpo_expected_grad(**kw)


# ---------------------------------------------------------------- the fused step


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"group_size": True}, r"\bgroup_size\b.*integer"),
        ({"group_size": 1}, r"\bgroup_size\b.*>= 2"),
        ({"group_size": -1}, r"\bgroup_size\b.*>= 2"),
        ({"beta": math.nan}, r"\bbeta\b.*NaN"),
        ({"beta": torch.ones(B, dtype=F64)}, r"\bbeta\b.*single number"),
        ({"lr": -0.1}, r"\blr\b.*> 0"),
        ({"lr": "0.1"}, r"\blr\b.*string"),
        ({"theta": LG.long()}, r"\btheta\b.*float32 or float64"),
        ({"theta": LG[0]}, r"\btheta\b.*shape"),
        ({"theta": LG.clone().requires_grad_()}, r"\btheta\b.*require grad"),
        ({"ref_logp": REF[:, :2]}, r"\bref_logp\b.*shape"),
        ({"ref_logp": REF.float()}, r"one dtype"),
        ({"mean_rewards": LG.to("meta")}, r"one device"),
        ({"generator": 0}, r"\bgenerator\b.*torch\.Generator"),
    ],
)
def test_fused_step_names_the_bad_argument(bad: dict, match: str) -> None:
    kw = {"theta": LG.clone(), "ref_logp": REF, "mean_rewards": LG, "beta": 0.5, "lr": 0.1,
          "group_size": G, **bad}
    with pytest.raises(ValueError, match=match):
        gvpo_sgd_step_(**kw)


@pytest.mark.parametrize("name", ["theta", "ref_logp", "mean_rewards"])
def test_fused_step_refuses_non_finite_input_and_leaves_theta_untouched(name: str) -> None:
    args = {"theta": LG.clone(), "ref_logp": torch.log_softmax(REF, -1), "mean_rewards": LG.clone()}
    args[name] = _with(args[name], (2, 3), math.nan if name != "ref_logp" else -math.inf)
    before = args["theta"].clone()
    with pytest.raises(ValueError, match=rf"\b{name}\b.*finite"):
        gvpo_sgd_step_(args["theta"], args["ref_logp"], args["mean_rewards"], 0.5, 0.1, G)
    assert torch.allclose(args["theta"], before, rtol=0, atol=0, equal_nan=True)


def test_fused_step_check_finite_false_skips_the_value_check() -> None:
    theta = _with(LG, (0, 0), math.nan)
    gvpo_sgd_step_(theta, torch.log_softmax(REF, -1), LG, 0.5, 0.1, G, check_finite=False)
    # the documented cost of skipping: the NaN row's weights are NaN, and reach its drawn arms
    assert torch.isnan(theta[0, 1:]).any()
    assert torch.isfinite(theta[1:]).all()


# ---------------------------------------------------------------- sampling


def test_sample_categorical_names_the_bad_argument() -> None:
    cases = [
        ((P.long(), 3), r"\bprobs\b.*float32 or float64"),
        ((_with(P, (0, 1), math.nan), 3), r"\bprobs\b.*finite"),
        ((_with(P, (0, 1), -0.1), 3), r"\bprobs\b.*>= 0"),
        ((P * torch.tensor([[1.0], [0.0], [1.0]], dtype=F64), 3), r"\bprobs\b.*positive total"),
        ((torch.zeros(B, 0, dtype=F64), 3), r"\bprobs\b.*K >= 1"),
        ((P, True), r"\bk\b.*integer"),
        ((P, 0), r"\bk\b.*>= 1"),
        ((P, "3"), r"\bk\b.*integer"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            sample_categorical(*args)
    with pytest.raises(ValueError, match=r"\bgenerator\b"):
        sample_categorical(P, 3, generator="seed")


def test_unnormalised_rows_draw_in_proportion() -> None:
    """Rows need not sum to 1 (documented): weights (1, 3) draw arm 1 with probability 3/4."""
    w = torch.tensor([[1.0, 3.0]], dtype=F64)
    draws = sample_categorical(w, 40_000, torch.Generator().manual_seed(0))
    share = float((draws == 1).double().mean())
    assert abs(share - 0.75) < 6 * math.sqrt(0.75 * 0.25 / 40_000)


def test_samplers_validate_their_arguments() -> None:
    with pytest.raises(ValueError, match=r"\bprobs\b.*float32 or float64"):
        FixedSampler(torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match=r"\bname\b.*string"):
        FixedSampler(P, name=3)
    with pytest.raises(ValueError, match=r"\bpolicy\b.*shape"):
        FixedSampler(P).probs(P[:2])
    with pytest.raises(ValueError, match=r"\bon_policy_weight\b.*string"):
        MixtureSampler(P, "0.5")
    with pytest.raises(ValueError, match=r"\bon_policy_weight\b.*boolean"):
        MixtureSampler(P, True)
    with pytest.raises(ValueError, match=r"\bfixed\b.*finite"):
        MixtureSampler(_with(P, (0, 0), math.nan), 0.5)  # validated whatever the weight
    with pytest.raises(ValueError, match=r"\bcapacity\b.*integer"):
        ReplaySampler(capacity=True)
    assert ReplaySampler(capacity=4.0).capacity == 4 and isinstance(ReplaySampler(capacity=4.0).capacity, int)
    with pytest.raises(ValueError, match=r"\bpolicy\b.*torch\.Tensor"):
        ReplaySampler().sample(P.numpy(), 2)
    with pytest.raises(ValueError, match=r"\bpi_ref\b.*sum to 1"):
        make_sampler("uniform", 2 * P)
    with pytest.raises(ValueError, match=r"\bpi_ref\b.*shape"):
        make_sampler("uniform", P[0])
    with pytest.raises(ValueError, match=r"\bseed\b.*>= 0"):
        make_sampler("mixture", P, seed=-1)
    with pytest.raises(ValueError, match=r"\breplay_capacity\b"):
        make_sampler("replay", P, replay_capacity=0)


# ---------------------------------------------------------------- bandits and verify


def test_make_bandits_names_the_bad_argument() -> None:
    cases = [
        ({"contexts": True}, r"\bcontexts\b.*integer"),
        ({"arms": 2.5}, r"\barms\b.*integer"),
        ({"concentration": "1"}, r"\bconcentration\b.*string"),
        ({"concentration": True}, r"\bconcentration\b.*boolean"),
        ({"seed": -1}, r"\bseed\b.*>= 0"),
        ({"seed": "x"}, r"\bseed\b.*integer"),
        ({"dtype": "float64"}, r"\bdtype\b.*float32 or torch\.float64"),
        ({"dtype": torch.float16}, r"\bdtype\b"),
        ({"device": "xyz"}, r"\bdevice\b"),
        ({"rewards": "levels", "n_levels": True}, r"\bn_levels\b.*integer"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            make_bandits(**{"contexts": 2, "arms": 3, **kw})


def test_make_bandits_refuses_a_batch_that_cannot_fit_before_allocating() -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"\bcontexts × arms\b.*GiB"):
        make_bandits(10**9, 10**9)
    assert time.perf_counter() - start < 1.0


def test_bandits_methods_validate_their_arguments() -> None:
    bd = make_bandits(3, 4, seed=0)
    with pytest.raises(ValueError, match=r"\barms\b.*\[0, 4\)"):
        bd.sample_rewards(torch.tensor([[0, 4], [1, 1], [2, 2]]))
    with pytest.raises(ValueError, match=r"\barms\b.*int64"):
        bd.sample_rewards(torch.zeros(3, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"\bindex\b.*\[-3, 3\)"):
        bd.subset(torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"\bindex\b"):
        bd.subset([0, 1])
    assert bd.subset(torch.tensor([-1])).contexts == 1
    with pytest.raises(ValueError, match=r"\bmax_levels\b"):
        bd.level_structure(max_levels=True)
    with pytest.raises(ValueError, match=r"\bdtype\b"):
        bd.to(dtype=torch.int64)
    ref = torch.zeros(2, 3, dtype=F64)
    levels = torch.tensor([1.0, 0.0], dtype=F64)
    probs = torch.full((2, 3, 2), 0.5, dtype=F64)
    with pytest.raises(ValueError, match=r"\blevels\b.*increasing"):
        Bandits(ref, ref, levels, probs)
    with pytest.raises(ValueError, match=r"\breward_probs\b.*finite"):
        Bandits(ref, ref, levels.flip(0), _with(probs.reshape(2, -1), (0, 0), math.nan).reshape(2, 3, 2))
    with pytest.raises(ValueError, match=r"\bref_logits\b.*torch\.Tensor"):
        Bandits([[0.0, 0.0]], ref)


def test_verify_and_restricted_optimum_name_the_bad_argument() -> None:
    bd = make_bandits(2, 3, seed=0)
    for kw, match in [
        ({"beta": True}, r"\bbeta\b.*boolean"),
        ({"steps": True}, r"\bsteps\b.*integer"),
        ({"lr": "1"}, r"\blr\b.*string"),
        ({"seed": "x"}, r"\bseed\b.*integer"),
        ({"eval_every": 0}, r"\beval_every\b.*>= 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            verify(bd, **{"steps": 2, **kw})
    with pytest.raises(ValueError, match=r"\bbandits\b.*Bandits"):
        verify(None, steps=2)
    pi = np.array([[0.3, 0.7]])
    for kw, match in [
        ({"beta": -0.5}, r"\bbeta\b.*>=? 0"),
        ({"mean_rewards": np.array([[math.nan, 0.0]])}, r"\bmean_rewards\b.*finite"),
        ({"pi_ref": np.array([[0.3, 0.6]])}, r"\bpi_ref\b.*sum to 1"),
        ({"support": np.array([[1, 1]])}, r"\bsupport\b.*boolean"),
        ({"theta0": np.zeros((1, 3))}, r"\bpi_ref\b.*broadcast"),
    ]:
        args = {"theta0": np.zeros((1, 2)), "pi_ref": pi, "mean_rewards": pi, "beta": 1.0,
                "support": np.array([[True, True]]), **kw}
        with pytest.raises(ValueError, match=match):
            restricted_optimum(**args)
