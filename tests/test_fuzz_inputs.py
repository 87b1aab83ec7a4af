"""Fuzzing the input validation: every bad-input class thrown at every public function.

For each (function, argument) pair a hypothesis test draws one value of every bad-input
class that applies to the argument (tests/bad_inputs.py: booleans, numeric strings,
strings, complex, object/None, float32, NaN, inf, out of range) and asserts that each is
refused with a ``ValueError`` whose message names the argument — never another exception
type, a hang, a silent NaN or a silent acceptance.

The engine rows here are the arguments that the shared checks of gvpo_theory/problem.py
cover; arguments that need a check at an engine front door are fuzzed, as pending, in
tests/test_fuzz_engine_frontdoors.py. The torch rows cover every public torch entry point.

The default run draws a few examples per pair (a few seconds in all); the ``slow``
variants (``pytest -m slow tests/test_fuzz_inputs.py``) draw 25× as many.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
from bad_inputs import Bad, canonical_bad, strategy_for
from hypothesis import given, settings
from hypothesis import strategies as st

from gvpo_theory import binary, problem
from gvpo_theory.dynamics import (
    expected_gradient_ascent,
    grpo_expected_update,
    grpo_flow,
    gvpo_expected_update,
    gvpo_flow,
    integrate_flow,
)
from gvpo_theory.pooling import kl_divergence, kl_optimal_log_policy, kl_optimal_policy, logit
from gvpo_theory.preference import preference_model, preference_model_mc
from gvpo_theory.problem import RewardDistribution
from gvpo_theory.stationary import grpo_stationary_policy

try:
    import torch
except ModuleNotFoundError:  # pragma: no cover - the engine half runs without torch
    torch = None

#: Examples per (function, argument) pair: default run and the slow profile.
FAST_EXAMPLES = 4
SLOW_EXAMPLES = 100

PI = [0.3, 0.7]
R = [1.0, 0.0]
STD = "option:population,sample,none"
PENALTY = "option:reverse_kl,direct_kl"


def _zero_update(p: np.ndarray) -> np.ndarray:
    return np.zeros_like(p)


# name -> (call with keyword overrides, {argument: (kind, valid value)})
Row = tuple[Callable[..., object], dict[str, tuple[str, object]]]
ENGINE: dict[str, Row] = {
    "kl_optimal_policy": (
        lambda pi_ref=PI, rewards=R, beta=1.0: kl_optimal_policy(pi_ref, rewards, beta),
        {"pi_ref": ("array", PI), "rewards": ("array", R), "beta": ("positive", 1.0)},
    ),
    "kl_optimal_log_policy": (
        lambda pi_ref=PI, rewards=R, beta=1.0: kl_optimal_log_policy(pi_ref, rewards, beta),
        {"pi_ref": ("array", PI), "rewards": ("array", R), "beta": ("positive", 1.0)},
    ),
    "kl_divergence": (
        lambda p=PI, q=PI: kl_divergence(p, q),
        {"p": ("array", PI), "q": ("array", PI)},
    ),
    "logit": (lambda p=PI: logit(p), {"p": ("array", PI)}),
    "preference_model": (
        lambda pi=PI, rewards=R, group_size=4, std="population", eps=0.0: preference_model(
            pi, rewards, group_size, std, eps
        ),
        {"pi": ("array", PI), "rewards": ("array", R), "group_size": ("group_size", 4),
         "std": (STD, None), "eps": ("eps", 0.0)},
    ),
    "preference_model_mc": (
        lambda pi=PI, rewards=R, group_size=4, std="population", eps=0.0: preference_model_mc(
            pi, rewards, group_size, std, eps, n_groups=10
        ),
        {"pi": ("array", PI), "rewards": ("array", R), "group_size": ("group_size", 4),
         "std": (STD, None), "eps": ("eps", 0.0)},
    ),
    "grpo_stationary_policy": (
        lambda pi_ref=PI, rewards=R, beta=1.0, group_size=4, std="population", penalty="reverse_kl",
        eps=0.0: grpo_stationary_policy(pi_ref, rewards, beta, group_size, std, penalty, eps),
        {"pi_ref": ("array", PI), "rewards": ("array", R), "beta": ("nonnegative", 1.0),
         "group_size": ("group_size", 4), "std": (STD, None), "penalty": (PENALTY, None),
         "eps": ("eps", 0.0)},
    ),
    "grpo_expected_update": (
        lambda pi=PI, pi_ref=PI, rewards=R, beta=1.0, group_size=4, std="population",
        penalty="reverse_kl", eps=0.0: grpo_expected_update(pi, pi_ref, rewards, beta, group_size, std,
                                                            penalty, eps),
        {"pi": ("array", PI), "pi_ref": ("array", PI), "rewards": ("array", R),
         "beta": ("nonnegative", 1.0), "group_size": ("group_size", 4), "std": (STD, None),
         "penalty": (PENALTY, None), "eps": ("eps", 0.0)},
    ),
    "gvpo_expected_update": (
        lambda pi=PI, pi_ref=PI, rewards=R, beta=1.0, pi_s=PI, group_size=4, scale="sum": (
            gvpo_expected_update(pi, pi_ref, rewards, beta, pi_s, group_size, scale)),
        {"pi": ("array", PI), "pi_ref": ("array", PI), "rewards": ("array", R),
         "beta": ("positive", 1.0), "pi_s": ("array?", PI), "group_size": ("group_size", 4),
         "scale": ("option:sum,paper", None)},
    ),
    "grpo_flow": (
        lambda pi_ref=PI, rewards=R, beta=1.0, group_size=4, pi0=PI: grpo_flow(
            pi_ref, rewards, beta, group_size, pi0=pi0, t_max=1.0),
        {"pi_ref": ("array", PI), "rewards": ("array", R), "beta": ("nonnegative", 1.0),
         "group_size": ("group_size", 4), "pi0": ("array?", PI)},
    ),
    "gvpo_flow": (
        lambda pi_ref=PI, rewards=R, beta=1.0, pi_s=PI, group_size=4, pi0=PI: gvpo_flow(
            pi_ref, rewards, beta, pi_s, group_size, pi0=pi0, t_max=1.0),
        {"pi_ref": ("array", PI), "rewards": ("array", R), "beta": ("positive", 1.0),
         "pi_s": ("array?", PI), "group_size": ("group_size", 4), "pi0": ("array?", PI)},
    ),
    "integrate_flow": (
        lambda pi0=PI: integrate_flow(_zero_update, pi0, t_max=1.0),
        {"pi0": ("array", PI)},
    ),
    "expected_gradient_ascent": (
        lambda pi0=PI, learning_rate=0.1: expected_gradient_ascent(
            _zero_update, pi0, learning_rate=learning_rate, max_steps=2),
        {"pi0": ("array", PI), "learning_rate": ("positive", 0.1)},
    ),
    "RewardDistribution": (
        lambda levels=(0.0, 1.0), reward_probs=((0.5, 0.5), (0.2, 0.8)): RewardDistribution(
            levels, reward_probs),
        {"levels": ("array", [0.0, 1.0])},
    ),
    "RewardDistribution.bernoulli": (
        lambda success_prob=(0.2, 0.9): RewardDistribution.bernoulli(success_prob),
        {"success_prob": ("array", [0.2, 0.9])},
    ),
    "RewardDistribution.deterministic": (
        lambda rewards=R: RewardDistribution.deterministic(rewards),
        {"rewards": ("array", R)},
    ),
    # binary closed forms: β and G go through the shared checks (p_ref, margin and the
    # success probabilities need a front-door check: tests/test_fuzz_engine_frontdoors.py)
    "binary.logarithmic_pooling": (
        lambda beta=1.0: binary.logarithmic_pooling(0.3, beta), {"beta": ("positive", 1.0)}),
    "binary.stationary_g2": (lambda beta=1.0: binary.stationary_g2(0.3, beta), {"beta": ("positive", 1.0)}),
    "binary.stationary_ginf": (
        lambda beta=1.0, std="population", penalty="reverse_kl": binary.stationary_ginf(
            0.3, beta, std, penalty),
        {"beta": ("positive", 1.0), "std": (STD, None), "penalty": (PENALTY, None)},
    ),
    "binary.lower_bound": (
        lambda beta=1.0, group_size=2: binary.lower_bound(0.3, beta, 1.0, group_size),
        {"beta": ("positive", 1.0), "group_size": ("group_size", 4)},
    ),
    "binary.stationary": (
        lambda beta=1.0, group_size=4, std="population", penalty="reverse_kl", eps=0.0: binary.stationary(
            0.3, beta, group_size, std, penalty, eps=eps),
        {"beta": ("positive", 1.0), "group_size": ("group_size", 4), "std": (STD, None),
         "penalty": (PENALTY, None), "eps": ("eps", 0.0)},
    ),
    "binary.stationary_margin": (
        lambda beta=1.0, group_size=4: binary.stationary_margin(0.3, beta, 0.5, group_size),
        {"beta": ("positive", 1.0), "group_size": ("group_size", 4)},
    ),
}

ENGINE_PAIRS = [(name, arg) for name, (_, args) in ENGINE.items() for arg in args]


def assert_each_refused(call: Callable[..., object], arg: str, bad: Bad) -> None:
    """Every (class, value) in ``bad`` must raise a ValueError naming ``arg``."""
    for cls, value in bad:
        try:
            result = call(**{arg: value})
        except ValueError as exc:
            assert re.search(rf"\b{arg}\b", str(exc)), (
                f"{cls} value {value!r} for {arg}: the ValueError does not name {arg!r}: {exc}"
            )
            continue
        except Exception as exc:
            raise AssertionError(
                f"{cls} value {value!r} for {arg}: raised {type(exc).__name__} ({exc}), not ValueError"
            ) from exc
        raise AssertionError(f"{cls} value {value!r} for {arg} was accepted; returned {result!r:.200}")


def _engine_case(name: str, arg: str, data: st.DataObject) -> None:
    call, args = ENGINE[name]
    kind, valid = args[arg]
    assert_each_refused(call, arg, canonical_bad(kind, valid))  # the reported values, every time
    assert_each_refused(call, arg, data.draw(strategy_for(kind, valid), label=f"bad {arg}"))


def test_engine_defaults_are_valid() -> None:
    for call, _ in ENGINE.values():
        call()


@pytest.mark.parametrize(("name", "arg"), ENGINE_PAIRS)
@settings(max_examples=FAST_EXAMPLES)
@given(data=st.data())
def test_engine_bad_input_is_a_named_value_error(name: str, arg: str, data: st.DataObject) -> None:
    _engine_case(name, arg, data)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "arg"), ENGINE_PAIRS)
@settings(max_examples=SLOW_EXAMPLES)
@given(data=st.data())
def test_engine_bad_input_is_a_named_value_error_slow(name: str, arg: str, data: st.DataObject) -> None:
    _engine_case(name, arg, data)


@settings(max_examples=1)
@given(data=st.data())
def test_bad_input_classes_are_exhaustive_per_argument_kind(data: st.DataObject) -> None:
    """Each argument kind draws the classes the issue lists for it, so no class silently
    drops out of the fuzzing."""

    def classes(kind: str, valid: object) -> set[str]:
        return {c for c, _ in data.draw(strategy_for(kind, valid))}

    every = {"bool", "numeric_string", "string", "complex", "object"}
    assert classes("array", PI) == every | {"float32", "nan", "inf"}
    for kind in ("positive", "group_size", "eps", "count>=2"):
        assert classes(kind, None) == every | {"nan", "inf", "range"}
    assert classes(STD, None) == {"bool", "numeric_string", "string", "case", "object"}
    assert all(v is not None for _, v in data.draw(strategy_for("array?", PI)))


# ----------------------------------------------------------------------------- shared checks


@given(value=st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True),
                       st.booleans(), st.text(max_size=3), st.none(), st.complex_numbers()),
       minimum=st.integers(0, 3))
def test_check_positive_int_accepts_exactly_the_integers_at_or_above_the_minimum(value, minimum) -> None:
    is_int = not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    )
    if is_int and value >= minimum:
        assert problem.check_positive_int(value, "n", min_value=minimum) == int(value)
    else:
        with pytest.raises(ValueError, match=r"\bn\b"):
            problem.check_positive_int(value, "n", min_value=minimum)


@given(dtype=st.sampled_from([np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64,
                              np.longdouble, np.complex128, np.bool_, np.str_, np.object_]))
def test_as_numeric_array_admits_integers_and_float64_only(dtype) -> None:
    arr = np.array([1, 2], dtype=dtype)
    kind, size = np.dtype(dtype).kind, np.dtype(dtype).itemsize
    if kind in "iu" or (kind == "f" and size >= 8):
        out = problem.as_numeric_array(arr, "x")
        assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]
    else:
        with pytest.raises(ValueError, match=r"\bx\b"):
            problem.as_numeric_array(arr, "x")


@given(n_bytes=st.floats(0, 1e12), limit=st.floats(1, 1e12))
def test_check_memory_estimate_refuses_exactly_above_the_limit(n_bytes: float, limit: float) -> None:
    if n_bytes <= limit:
        problem.check_memory_estimate(n_bytes, "group_size", 4, limit_bytes=limit)
    else:
        with pytest.raises(ValueError, match=r"\bgroup_size=4\b.*GiB"):
            problem.check_memory_estimate(n_bytes, "group_size", 4, limit_bytes=limit)


def test_memory_cap_is_half_the_physical_memory_unless_set(monkeypatch) -> None:
    import os

    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        physical = None
    want = physical // 2 if physical else problem.FALLBACK_MEMORY_LIMIT_BYTES
    assert problem.memory_limit_bytes() == want
    monkeypatch.setattr(problem, "MEMORY_LIMIT_BYTES", 12345)
    assert problem.memory_limit_bytes() == 12345


def test_scalar_checks_name_the_argument_and_rule() -> None:
    for bad in (0.0, -1.0, math.nan, math.inf, True, "1e-6", None, [1e-6]):
        with pytest.raises(ValueError, match=r"\btol\b"):
            problem.check_tolerance(bad, "tol")
    assert problem.check_tolerance(np.float64(1e-6), "tol") == 1e-6
    for bad in (None, 1.0, "f"):
        with pytest.raises(ValueError, match=r"\bupdate\b.*callable"):
            problem.check_callable(bad, "update")
    for bad in (None, (True, False), ("1", "0"), [1.0], [1.0, 0.0, 0.5], (math.nan, 0.0)):
        with pytest.raises(ValueError, match=r"\bsuccess\b"):
            problem.check_pair(bad, "success")
    assert problem.check_pair((1, 0.5), "success").tolist() == [1.0, 0.5]
    assert problem.check_group_size(problem.MAX_GROUP_SIZE, max_value=problem.MAX_GROUP_SIZE) == 10**6
    with pytest.raises(ValueError, match=r"\bgroup_size\b.*<= 1000000"):
        problem.check_group_size(10**9, max_value=problem.MAX_GROUP_SIZE)
    assert problem.check_group_size(math.inf, max_value=problem.MAX_GROUP_SIZE) == math.inf


def test_issue_cases_fixed_by_the_shared_checks() -> None:
    """The reported cases that the shared checks alone now turn into named ValueErrors."""
    with pytest.raises(ValueError, match=r"\brewards\b.*one entry per output"):
        gvpo_expected_update(PI, PI, 1.0, 1.0, None, 4)  # scalar rewards: was an IndexError
    with pytest.raises(ValueError, match=r"\bgroup_size\b"):
        preference_model(PI, R, True)
    with pytest.raises(ValueError, match=r"\bpi\b.*strings"):
        preference_model(["0.3", "0.7"], R, 4)
    with pytest.raises(ValueError, match=r"\bpi_ref\b.*complex"):
        kl_optimal_policy(np.array([0.3, 0.7], dtype=complex), R, 1.0)
    with pytest.raises(ValueError, match=r"\bpi_ref\b.*float64"):
        grpo_stationary_policy(np.array([0.3, 0.7], dtype=np.float32), R, 1.0, 4)
    with pytest.raises(ValueError, match=r"\bbeta\b.*boolean"):
        kl_optimal_policy(PI, R, True)


# ----------------------------------------------------------------------------- torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

B, K, G = 3, 4, 5


def tensor_bad(valid: torch.Tensor, *, device: bool = True, rank: bool = True) -> st.SearchStrategy[Bad]:
    """Bad versions of a float tensor argument: integer, bool, complex or half dtype, not a
    tensor, wrong rank, a NaN or ±inf entry, another device (``meta``)."""
    index = st.integers(0, valid.numel() - 1)

    def with_entry(value: float) -> st.SearchStrategy[torch.Tensor]:
        def put(i: int) -> torch.Tensor:
            t = valid.clone()
            t.view(-1)[i] = value
            return t

        return index.map(put)

    parts = [
        st.sampled_from([torch.int64, torch.int32, torch.bool, torch.complex128, torch.float16,
                         torch.bfloat16]).map(lambda dt: ("dtype", valid.to(dt))),
        st.sampled_from([valid.numpy(), valid.tolist(), None, 1.0]).map(lambda v: ("not a tensor", v)),
        with_entry(math.nan).map(lambda v: ("nan", v)),
        st.sampled_from([math.inf, -math.inf]).flatmap(with_entry).map(lambda v: ("inf", v)),
    ]
    if rank:
        parts.append(st.sampled_from([valid[0], valid[None]]).map(lambda v: ("rank", v)))
    if device:
        parts.append(st.just(("device", valid.to("meta"))))
    return st.tuples(*parts).map(list)


def probabilities_bad(
    valid: torch.Tensor, *, normalised: bool = True, device: bool = True
) -> st.SearchStrategy[Bad]:
    """Bad probability rows: the tensor classes, a negative entry, and rows that do not sum
    to 1 (``normalised``) or (otherwise, for unnormalised weights) sum to 0."""
    negative = valid.clone()
    negative[..., 0], negative[..., 1] = -valid[..., 0], valid[..., 1] + 2 * valid[..., 0]
    total = (
        st.floats(1.01, 3).map(lambda c: ("not normalised", valid * c)) if normalised
        else st.integers(0, valid.shape[0] - 1).map(lambda i: ("zero row", valid * (torch.arange(
            valid.shape[0]) != i)[:, None]))
    )
    return st.tuples(tensor_bad(valid, device=device), total, st.just(("negative", negative))).map(
        lambda parts: [*parts[0], parts[1], parts[2]])


def samples_bad(valid: torch.Tensor, n_arms: int) -> st.SearchStrategy[Bad]:
    """Bad sample indices: outside [0, K), not int64, a group of one, wrong batch, a list."""
    where = st.tuples(st.integers(0, valid.shape[0] - 1), st.integers(0, valid.shape[1] - 1))

    def with_index(value: int) -> st.SearchStrategy[torch.Tensor]:
        def put(ij: tuple[int, int]) -> torch.Tensor:
            t = valid.clone()
            t[ij] = value
            return t

        return where.map(put)

    return st.tuples(
        st.integers(n_arms, 10**6).flatmap(with_index).map(lambda v: ("range", v)),
        st.integers(-(10**6), -1).flatmap(with_index).map(lambda v: ("range", v)),
        st.sampled_from([torch.int32, torch.float64, torch.bool]).map(lambda dt: ("dtype", valid.to(dt))),
        st.just(("group of one", valid[:, :1])),
        st.just(("batch", valid[:1])),
        st.just(("not a tensor", valid.tolist())),
    ).map(list)


def beta_tensor_bad(batch: int, zero_ok: bool = False) -> st.SearchStrategy[Bad]:
    """Bad β given as a (B,) tensor: a NaN entry, <= 0 (< 0 with ``zero_ok``), inf, bool or
    complex, wrong length."""
    good = torch.ones(batch, dtype=torch.float64)
    below = st.floats(-5, -1e-300) if zero_ok else st.floats(-5, 0)
    return st.tuples(
        st.integers(0, batch - 1).map(
            lambda i: ("nan", torch.where(torch.arange(batch) == i, math.nan, good))),
        below.map(lambda x: ("range", torch.full((batch,), x, dtype=torch.float64))),
        st.just(("inf", torch.full((batch,), math.inf, dtype=torch.float64))),
        st.just(("dtype", torch.ones(batch, dtype=torch.bool))),
        st.just(("complex", torch.ones(batch, dtype=torch.complex128))),
        st.just(("shape", torch.ones(batch + 1, dtype=torch.float64))),
    ).map(list)


def unit_weight_bad() -> st.SearchStrategy[Bad]:
    """A weight in [0, 1]: the real-number classes, with 'range' outside [0, 1]."""
    return st.tuples(
        positive_bad_without_range(),
        st.one_of(st.floats(1.0001, 10), st.floats(-10, -0.0001)),
    ).map(lambda parts: [*parts[0], ("range", parts[1])])


def positive_bad_without_range() -> st.SearchStrategy[Bad]:
    return strategy_for("positive", None).map(lambda bad: [(c, v) for c, v in bad if c != "range"])


def _torch_strategy(kind: str, valid: object) -> st.SearchStrategy[Bad]:
    if kind == "tensor":
        return tensor_bad(valid)  # type: ignore[arg-type]
    if kind == "lone tensor":  # the only tensor of its call: no other device to clash with
        return tensor_bad(valid, device=False)  # type: ignore[arg-type]
    if kind == "probabilities":
        return probabilities_bad(valid)  # type: ignore[arg-type]
    if kind == "lone probabilities":
        return probabilities_bad(valid, device=False)  # type: ignore[arg-type]
    if kind == "weights":  # sample_categorical: rows need not be normalised
        return probabilities_bad(valid, normalised=False, device=False)  # type: ignore[arg-type]
    if kind == "samples":
        return samples_bad(valid, K)  # type: ignore[arg-type]
    if kind == "beta tensor":
        return beta_tensor_bad(B)
    if kind == "beta tensor>=0":
        return beta_tensor_bad(B, zero_ok=True)
    if kind == "levels":
        return st.tuples(
            tensor_bad(valid, device=False, rank=False),  # type: ignore[arg-type]
            st.just(("decreasing", valid.flip(0))),  # type: ignore[union-attr]
        ).map(lambda parts: [*parts[0], parts[1]])
    if kind == "unit":
        return unit_weight_bad()
    return strategy_for(kind, valid)


def _torch_rows() -> dict[str, Row]:
    """Every public torch entry point: name -> (call with keyword overrides, {argument: (kind,
    valid)}). An argument key ``"beta tensor"`` passes its value as ``beta`` (a (B,) tensor)."""
    from gvpo_theory.torch import (
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

    f64 = torch.float64
    gen = torch.Generator().manual_seed(0)
    lg = torch.randn(B, K, dtype=f64, generator=gen)
    ref = torch.randn(B, K, dtype=f64, generator=gen)
    s = torch.randint(0, K, (B, G), generator=gen)
    r = torch.rand(B, G, dtype=f64, generator=gen)
    p = torch.softmax(torch.randn(B, K, dtype=f64, generator=gen), -1)
    lev = torch.tensor([0.0, 1.0], dtype=f64)
    rp = torch.stack([1 - p, p], -1)
    logp = torch.log_softmax(ref, -1)
    beta_kinds = {"beta": ("positive", 0.5), "beta tensor": ("beta tensor", None)}
    # GRPO's losses take β = 0 (no KL term); GVPO's do not (its loss vanishes there)
    grpo_beta = {"beta": ("nonnegative", 0.5), "beta tensor": ("beta tensor>=0", None)}
    group = {"logits": ("tensor", lg), "samples": ("samples", s), "rewards": ("tensor", r),
             "ref_logits": ("tensor", ref), **beta_kinds}

    def on_groups(fn: Callable[..., object], **extra: tuple[str, object]) -> Row:
        def call(logits=lg, samples=s, rewards=r, ref_logits=ref, beta=0.5, **kw):
            return fn(logits, samples, rewards, ref_logits, beta, **kw)

        return call, {**group, **extra}

    def grpo_on_groups(fn: Callable[..., object], **extra: tuple[str, object]) -> Row:
        call, args = on_groups(fn, **extra)
        return call, {**args, **grpo_beta}

    bandits = make_bandits(2, 3, seed=0)
    one_d = [0.3, 0.7]
    return {
        "gvpo_weights": on_groups(gvpo_weights),
        "gvpo_loss": on_groups(gvpo_loss, scale=("option:sum,paper", None)),
        "gvpo_grad": on_groups(gvpo_grad, scale=("option:sum,paper", None)),
        "grpo_loss": grpo_on_groups(grpo_loss, eps=("eps", 0.0), std=("option:population,sample,none", None)),
        "grpo_grad": grpo_on_groups(grpo_grad, eps=("eps", 0.0),
                                    penalty=("option:reverse_kl,direct_kl", None)),
        "grpo_advantages": (
            lambda rewards=r, eps=0.0: grpo_advantages(rewards, "population", eps),
            {"rewards": ("lone tensor", r), "eps": ("eps", 0.0)},
        ),
        "gvpo_expected_grad": (
            lambda logits=lg, ref_logits=ref, mean_rewards=lg, beta=0.5, sampling_probs=p, group_size=G: (
                gvpo_expected_grad(logits, ref_logits, mean_rewards, beta, sampling_probs, group_size)),
            {"logits": ("tensor", lg), "ref_logits": ("tensor", ref), "mean_rewards": ("tensor", lg),
             **beta_kinds, "sampling_probs": ("probabilities", p), "group_size": ("count>=2", None)},
        ),
        "grpo_expected_grad": (
            lambda logits=lg, ref_logits=ref, levels=lev, reward_probs=rp, beta=0.5, group_size=G: (
                grpo_expected_grad(logits, ref_logits, levels, reward_probs, beta, group_size)),
            {"logits": ("tensor", lg), "ref_logits": ("tensor", ref), "levels": ("levels", lev),
             "reward_probs": ("probabilities", rp), **grpo_beta, "group_size": ("group_size", None)},
        ),
        "gvpo_sgd_step_": (
            lambda theta=lg, ref_logp=logp, mean_rewards=lg, beta=0.5, lr=0.1, group_size=G: gvpo_sgd_step_(
                theta.clone() if isinstance(theta, torch.Tensor) else theta, ref_logp, mean_rewards, beta,
                lr, group_size),
            {"theta": ("tensor", lg), "ref_logp": ("tensor", logp), "mean_rewards": ("tensor", lg),
             "beta": ("positive", 0.5), "lr": ("positive", 0.1), "group_size": ("count>=2", None)},
        ),
        "sample_categorical": (
            lambda probs=p, k=3: sample_categorical(probs, k),
            {"probs": ("weights", p), "k": ("count>=1", None)},
        ),
        "make_bandits": (
            lambda contexts=2, arms=3, concentration=1.0, seed=0, rewards="binary": make_bandits(
                contexts, arms, rewards=rewards, concentration=concentration, seed=seed),
            {"contexts": ("count>=1", None), "arms": ("count>=2", None), "concentration": ("positive", 1.0),
             "seed": ("count>=0", None), "rewards": ("option:binary,levels,continuous,bernoulli", None)},
        ),
        "Bandits": (
            lambda ref_logits=ref, mean_rewards=lg: Bandits(ref_logits, mean_rewards),
            {"ref_logits": ("tensor", ref), "mean_rewards": ("tensor", lg)},
        ),
        "FixedSampler": (lambda probs=p: FixedSampler(probs), {"probs": ("lone probabilities", p)}),
        "MixtureSampler": (
            lambda fixed=p, on_policy_weight=0.5: MixtureSampler(fixed, on_policy_weight),
            {"fixed": ("lone probabilities", p), "on_policy_weight": ("unit", None)},
        ),
        "ReplaySampler": (lambda capacity=4: ReplaySampler(capacity), {"capacity": ("count>=1", None)}),
        "make_sampler": (
            lambda pi_ref=p, seed=0, replay_capacity=4: make_sampler(
                "mixture", pi_ref, seed=seed, replay_capacity=replay_capacity),
            {"pi_ref": ("lone probabilities", p), "seed": ("count>=0", None),
             "replay_capacity": ("count>=1", None)},
        ),
        "verify": (
            lambda beta=1.0, group_size=4, steps=2, lr=None, seed=0: verify(
                bandits, beta=beta, group_size=group_size, steps=steps, lr=lr, seed=seed, methods=("gvpo",)),
            {"beta": ("positive", 1.0), "group_size": ("count>=2", None), "steps": ("count>=1", None),
             "lr": ("positive?", 1.0), "seed": ("count>=0", None)},
        ),
        "restricted_optimum": (
            lambda theta0=one_d, pi_ref=one_d, mean_rewards=one_d, beta=1.0: restricted_optimum(
                theta0, pi_ref, mean_rewards, beta, [True, True]),
            {"theta0": ("array", one_d), "pi_ref": ("array", one_d), "mean_rewards": ("array", one_d),
             "beta": ("positive", 1.0)},
        ),
    }


_ROWS: dict[str, Row] = {}


def _rows() -> dict[str, Row]:
    if not _ROWS:
        _ROWS.update(_torch_rows())
    return _ROWS


TORCH_PAIRS = [(name, arg) for name, (_, args) in _rows().items() for arg in args] if torch else []


def _torch_case(name: str, arg: str, data: st.DataObject) -> None:
    call, args = _rows()[name]
    kind, valid = args[arg]
    bad = data.draw(_torch_strategy(kind, valid), label=f"bad {arg}")
    kwarg = arg.split()[0]  # "beta tensor" is passed as beta
    try:
        bad = canonical_bad(kind, valid) + bad  # the reported values first, where the kind has them
    except KeyError:
        pass
    assert_each_refused(lambda **kw: call(**{kwarg: kw[kwarg]}), kwarg, bad)


@needs_torch
def test_torch_defaults_are_valid() -> None:
    for call, _ in _rows().values():
        call()


@needs_torch
@pytest.mark.parametrize(("name", "arg"), TORCH_PAIRS)
@settings(max_examples=FAST_EXAMPLES)
@given(data=st.data())
def test_torch_bad_input_is_a_named_value_error(name: str, arg: str, data: st.DataObject) -> None:
    _torch_case(name, arg, data)


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize(("name", "arg"), TORCH_PAIRS)
@settings(max_examples=SLOW_EXAMPLES)
@given(data=st.data())
def test_torch_bad_input_is_a_named_value_error_slow(name: str, arg: str, data: st.DataObject) -> None:
    _torch_case(name, arg, data)
