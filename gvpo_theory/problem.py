"""Validated inputs: policies, rewards, beta, group size and conventions.

Every public function of the engine funnels its arguments through this module, so
bad input fails early with a ``ValueError`` that names the argument and the rule it
broke, before any arithmetic can turn it into a NaN.

Notation (used across the package):

* ``pi_ref`` — the reference policy π_ref over K outputs (last axis).
* ``pi`` — a policy π over the same outputs.
* ``rewards`` — the reward r(o) of each output, or a :class:`RewardDistribution`
  giving a distribution D_o over L reward levels for each output.
* ``beta`` — regularisation strength β > 0.
* ``group_size`` — the GRPO group size G ≥ 2 (an integer) or ``math.inf``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Tolerance on |Σ p − 1| accepted for a probability vector.
SUM_TOL = 1e-9



def _describe(x: object) -> str:
    """A short description of a value for an error message (never a huge array repr)."""
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    text = repr(x)
    return text if len(text) <= 80 else f"{text[:77]}..."


def as_numeric_array(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """Convert real numeric input to float64, *without* checking finiteness.

    The one dtype gate of the package. Accepted: Python ints and floats, numpy integer
    and float64 (or wider) arrays and scalars, nested lists of those. Refused with a
    ``ValueError`` naming ``name``:

    * booleans (``True`` is not the number 1 here), strings — numeric strings such as
      ``"0.5"`` too — and bytes;
    * complex numbers, even with a zero imaginary part;
    * object arrays (``None``, mixed types, ints beyond int64) and ragged lists;
    * float16/float32 input: the engine computes in float64, and float32 carries ~7
      significant digits (a float32 probability vector misses the 1e-9 sum tolerance);
      convert explicitly with ``np.asarray(x, dtype=np.float64)``.
    """
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{name} must be numeric, not a string; got {_describe(x)}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists, objects refusing conversion
        raise ValueError(
            f"{name} must be numeric (a number or an array of numbers); got {_describe(x)}"
        ) from exc
    kind = arr.dtype.kind
    if kind in "iu":
        return arr.astype(np.float64)
    if kind == "f":
        if arr.dtype.itemsize < 8:
            raise ValueError(
                f"{name} must be float64 (or integer); got {arr.dtype}, which keeps only "
                f"~{np.finfo(arr.dtype).precision} significant digits: convert with "
                f"np.asarray({name}, dtype=np.float64)"
            )
        return arr.astype(np.float64, copy=False)
    if kind == "b":
        raise ValueError(f"{name} must be numeric, not boolean; got {_describe(x)}")
    if kind == "c":
        raise ValueError(f"{name} must be real, not complex; got {_describe(x)}")
    if kind in "US":
        raise ValueError(f"{name} must be numeric, not strings; got {_describe(x)}")
    hint = " (None, mixed types or ints beyond int64 make an object array)" if kind == "O" else ""
    raise ValueError(f"{name} must be numeric (int or float entries); got {_describe(x)}{hint}")


def as_float_array(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """Convert to a float64 array under :func:`as_numeric_array`'s rules, rejecting NaN/inf."""
    arr = as_numeric_array(x, name)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def check_real(value: object, name: str) -> float:
    """One real number under :func:`as_numeric_array`'s rules, as a Python float.

    Arrays with an axis are refused (``[0.1]`` is not a number); NaN and inf pass through,
    for the caller's own rule.
    """
    if type(value) is float:  # fast path: a plain Python float needs no conversion
        return value
    arr = as_numeric_array(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single number; got shape {arr.shape}")
    return float(arr)


def check_distribution(p: ArrayLike, name: str, *, tol: float = SUM_TOL) -> NDArray[np.float64]:
    """Validate probability vectors along the last axis.

    Entries must be real (:func:`as_numeric_array`), finite and non-negative and each
    vector must sum to 1 within ``tol`` (default 1e-9). The vectors are returned
    renormalised exactly.
    """
    arr = as_float_array(p, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the outputs)")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one output")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    sums = arr.sum(axis=-1, keepdims=True)
    if np.any(np.abs(sums - 1.0) > tol):
        worst = float(np.max(np.abs(sums - 1.0)))
        raise ValueError(f"{name} must sum to 1 along its last axis (|sum - 1| = {worst:.3g} > {tol})")
    return arr / sums


def check_beta(beta: ArrayLike, name: str = "beta", *, allow_zero: bool = False) -> NDArray[np.float64]:
    """Validate a regularisation strength (scalar or array): real, finite and > 0.

    ``allow_zero=True`` accepts β = 0 as well (no KL term: the callers that can answer it
    return the limit the expected flow runs to); negatives, NaN and inf are refused either way.
    """
    rule = ">= 0" if allow_zero else "> 0"
    if type(beta) is float:  # fast path for the common case (torch training steps call this)
        if math.isnan(beta):
            raise ValueError(f"{name} must not be NaN")
        if beta < 0 or (beta == 0 and not allow_zero):
            raise ValueError(f"{name} must be {rule}")
        if math.isinf(beta):
            raise ValueError(f"{name} must be finite")
        return np.array(beta)
    arr = as_numeric_array(beta, name)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not be NaN")
    if np.any(arr < 0) or (not allow_zero and np.any(arr == 0)):
        raise ValueError(f"{name} must be {rule}")
    if np.any(~np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _integral(value: object) -> int | None:
    """``value`` as an int when it is an integer in value (int, numpy integer, or a finite
    integral float); ``None`` for anything else (booleans, strings, arrays, NaN, 2.5)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def check_group_size(
    group_size: float | int, name: str = "group_size", *, max_value: int | None = None
) -> float | int:
    """Validate G: an integer >= 2 (also 4.0 or np.int64(4)), or ``math.inf`` for the
    large-group limit. Booleans, strings, complex numbers and arrays are refused.

    ``max_value``: the largest finite G the caller can afford (an enumeration or a
    simulation whose cost grows with G); ``math.inf`` is always allowed through.
    """
    if isinstance(group_size, (float, np.floating)) and math.isinf(group_size) and group_size > 0:
        return math.inf
    g = _integral(group_size)
    if g is None:
        raise ValueError(f"{name} must be an integer >= 2 or math.inf; got {_describe(group_size)}")
    if g < 2:
        raise ValueError(f"{name} must be >= 2; got {g}")
    if max_value is not None and g > max_value:
        raise ValueError(f"{name} must be <= {max_value} here; got {g}")
    return g


#: Largest finite group size accepted where the cost or the conditioning of a computation
#: grows with G (pass it as ``check_group_size(..., max_value=MAX_GROUP_SIZE)``). Groups in
#: practice hold 2–1024 samples. GVPO's expected update is β(k − 1)·π_s·(g − E g): its
#: rounding grows like k, and from G ≈ 10⁷ at β = 1 (10⁵ at β = 10) it exceeds the 1e-10
#: absolute tolerance at which ``dynamics.integrate_flow`` stops, so a flow never settles.
MAX_GROUP_SIZE = 10**6


def check_positive_int(
    value: object, name: str, *, min_value: int = 1, max_value: int | None = None
) -> int:
    """Validate a count (an iteration cap, a number of groups, a chunk size, a seed).

    An integer in value — int, numpy integer, or an integral finite float such as 1e5 —
    with ``min_value <= value`` (default 1; 0 for seeds) and, when given,
    ``value <= max_value``. Booleans, strings, NaN, inf and 2.5 are refused.
    """
    n = _integral(value)
    if n is None:
        raise ValueError(f"{name} must be an integer >= {min_value}; got {_describe(value)}")
    if n < min_value:
        raise ValueError(f"{name} must be >= {min_value}; got {n}")
    if max_value is not None and n > max_value:
        raise ValueError(f"{name} must be <= {max_value}; got {n}")
    return n


def check_eps(eps: float, name: str = "eps") -> float:
    """Validate the std-normalisation epsilon: one real number, finite and >= 0."""
    val = check_real(eps, name)
    if not math.isfinite(val) or val < 0:
        raise ValueError(f"{name} must be finite and >= 0; got {eps!r}")
    return val


def check_tolerance(value: float, name: str = "tol") -> float:
    """Validate a convergence tolerance: one real number, finite and > 0.

    0 is refused: a stopping rule ``error <= 0`` is never met in floating point, so a
    loop guarded by it runs to its iteration cap (that is the hang this check prevents).
    """
    val = check_real(value, name)
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return val


def check_callable(value: object, name: str) -> object:
    """Validate a function argument (an update rule, a callback): it must be callable."""
    if not callable(value):
        raise ValueError(f"{name} must be callable (a function); got {_describe(value)}")
    return value


def check_pair(value: ArrayLike, name: str) -> NDArray[np.float64]:
    """Validate a pair of finite real numbers, e.g. (s_a, s_b); returned as a (2,) float64 array."""
    arr = as_float_array(value, name)
    if arr.shape != (2,):
        raise ValueError(f"{name} must be a pair of numbers (two entries); got shape {arr.shape}")
    return arr


#: Optional cap (bytes) on the working memory one call may plan to allocate; ``None``
#: means half the physical memory of the machine (see :func:`memory_limit_bytes`).
MEMORY_LIMIT_BYTES: int | None = None

#: Used when the physical memory cannot be read (platforms without ``os.sysconf``).
FALLBACK_MEMORY_LIMIT_BYTES = 8 * 2**30


def memory_limit_bytes() -> int:
    """The working-memory cap of :func:`check_memory_estimate`: :data:`MEMORY_LIMIT_BYTES`
    when set, else half the physical memory (8 GiB where that cannot be read)."""
    if MEMORY_LIMIT_BYTES is not None:
        return int(MEMORY_LIMIT_BYTES)
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return FALLBACK_MEMORY_LIMIT_BYTES
    return int(physical) // 2 if physical > 0 else FALLBACK_MEMORY_LIMIT_BYTES


def check_memory_estimate(
    n_bytes: float, name: str, value: object, *, limit_bytes: float | None = None
) -> None:
    """Refuse up front a call whose estimated working memory exceeds the cap.

    ``n_bytes`` is the caller's estimate of its peak allocation, driven by the argument
    ``name`` = ``value`` (e.g. a group size); the cap is ``limit_bytes`` or
    :func:`memory_limit_bytes`. Raising here replaces a ``MemoryError`` (or swapping)
    deep inside numpy or torch with a ``ValueError`` that says which argument to lower.
    """
    limit = memory_limit_bytes() if limit_bytes is None else float(limit_bytes)
    if not n_bytes <= limit:
        raise ValueError(
            f"{name}={_describe(value)} needs an estimated {n_bytes / 2**30:.3g} GiB of working "
            f"memory, more than the {limit / 2**30:.3g} GiB allowed: lower {name}"
        )


def check_choice(value: str, name: str, options: tuple[str, ...]) -> str:
    """Validate a string option against the allowed values."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {_describe(value)}")
    return value


@dataclass(frozen=True)
class RewardDistribution:
    """Per-output reward distributions D_o over a shared set of reward levels.

    ``levels`` (L,) are the distinct reward values, strictly increasing; ``probs``
    (..., K, L) gives, for each output o, the probability D_o(l) that o is scored
    ``levels[l]``. Deterministic rewards are the special case of one-hot rows
    (docs/theory.md §4b). Use :meth:`bernoulli` for pass/fail (RLVR-style) verifiers and
    :meth:`deterministic` to lift plain rewards.
    """

    levels: NDArray[np.float64]
    probs: NDArray[np.float64]

    def __post_init__(self) -> None:
        levels = as_float_array(self.levels, "levels")
        if levels.ndim != 1 or levels.size == 0:
            raise ValueError("levels must be a non-empty 1-D array of reward values")
        if np.any(np.diff(levels) <= 0):
            raise ValueError("levels must be strictly increasing (distinct reward values)")
        probs = as_float_array(self.probs, "reward_probs")
        if probs.ndim < 2:
            raise ValueError("reward_probs must have shape (..., K, L)")
        if probs.shape[-1] != levels.size:
            raise ValueError(
                f"reward_probs has {probs.shape[-1]} level columns but levels has {levels.size}"
            )
        probs = check_distribution(probs, "reward_probs")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "probs", probs)

    @classmethod
    def bernoulli(cls, success_prob: ArrayLike) -> RewardDistribution:
        """Pass/fail rewards: output o scores 1 with probability ``success_prob[o]``, else 0."""
        s = as_float_array(success_prob, "success_prob")
        if s.ndim == 0:
            raise ValueError("success_prob must have one entry per output")
        if np.any((s < 0) | (s > 1)):
            raise ValueError("success_prob must lie in [0, 1]")
        return cls(np.array([0.0, 1.0]), np.stack([1.0 - s, s], axis=-1))

    @classmethod
    def deterministic(cls, rewards: ArrayLike) -> RewardDistribution:
        """Point masses: output o scores ``rewards[o]`` with probability one."""
        r = as_float_array(rewards, "rewards")
        if r.ndim == 0:
            raise ValueError("rewards must have one entry per output")
        levels, inverse = np.unique(r, return_inverse=True)
        probs = np.zeros((*r.shape, levels.size))
        np.put_along_axis(probs, inverse.reshape(*r.shape, 1), 1.0, axis=-1)
        return cls(levels, probs)

    @property
    def n_outputs(self) -> int:
        return int(self.probs.shape[-2])

    def expected(self) -> NDArray[np.float64]:
        """E[r | o] for every output, shape (..., K)."""
        return self.probs @ self.levels


Rewards = ArrayLike | RewardDistribution


@dataclass(frozen=True)
class RewardStructure:
    """The engine's compressed view of one problem's rewards.

    Outputs are grouped into S *profiles*: outputs with the same reward distribution
    (for deterministic rewards: the same reward level). ``profile_of`` (K,) maps each
    output to its profile, ``dist`` (S, L) holds the profile's distribution over the
    levels, ``levels`` (L,) the level values. Every GRPO quantity depends on the
    policy only through the profile masses, which is why solves cost O(S·L), not O(K).
    """

    levels: NDArray[np.float64]
    dist: NDArray[np.float64]
    profile_of: NDArray[np.intp]
    deterministic: bool

    @property
    def n_levels(self) -> int:
        return int(self.levels.size)

    @property
    def n_profiles(self) -> int:
        return int(self.dist.shape[0])

    def profile_masses(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """Masses of each profile under policies p (..., K) -> (..., S)."""
        if p.ndim == 1:
            return np.bincount(self.profile_of, weights=p, minlength=self.n_profiles)
        flat = p.reshape(-1, p.shape[-1])
        out = np.zeros((flat.shape[0], self.n_profiles))
        for s in range(self.n_profiles):
            out[:, s] = flat[:, self.profile_of == s].sum(axis=-1)
        return out.reshape(*p.shape[:-1], self.n_profiles)

    def mixture(self, profile_masses: NDArray[np.float64]) -> NDArray[np.float64]:
        """Reward-level mixture m = Σ_s w_s D_s, shape (..., L)."""
        return profile_masses @ self.dist


def _levels_of(r: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Distinct values and inverse index, with an O(K) path for two-valued rewards."""
    lo, hi = float(r.min()), float(r.max())
    if lo == hi:
        return np.array([lo]), np.zeros(r.size, dtype=np.intp)
    is_hi = r == hi
    if np.all(is_hi | (r == lo)):
        return np.array([lo, hi]), is_hi.astype(np.intp)
    levels, inverse = np.unique(r, return_inverse=True)
    return levels, inverse.astype(np.intp)


def reward_structure(rewards: Rewards, n_outputs: int) -> RewardStructure:
    """Compress one problem's rewards (K,) or RewardDistribution (K, L) to profiles."""
    if isinstance(rewards, RewardDistribution):
        if rewards.probs.ndim != 2:
            raise ValueError("a batched RewardDistribution must be split per problem first")
        if rewards.n_outputs != n_outputs:
            raise ValueError(
                f"rewards has {rewards.n_outputs} outputs but the policy has {n_outputs}"
            )
        if np.all((rewards.probs == 0) | (rewards.probs == 1)):
            # Point masses are deterministic rewards: take the plain-rewards path, so the
            # profiles are the occupied levels in increasing order (bit-identical results).
            return reward_structure(rewards.levels[np.argmax(rewards.probs, axis=-1)], n_outputs)
        dist, inverse = np.unique(rewards.probs, axis=0, return_inverse=True)
        return RewardStructure(rewards.levels, dist, inverse.reshape(-1).astype(np.intp), False)
    r = as_float_array(rewards, "rewards")
    if r.ndim != 1:
        raise ValueError("rewards for one problem must be 1-D (K,)")
    if r.size != n_outputs:
        raise ValueError(f"rewards has {r.size} outputs but the policy has {n_outputs}")
    levels, inverse = _levels_of(r)
    return RewardStructure(levels, np.eye(levels.size), inverse, True)


def split_rewards(rewards: Rewards, batch_shape: tuple[int, ...], n_outputs: int):
    """Yield (index, RewardStructure) per problem, or one shared structure.

    Returns ``(shared, structures)``: ``shared`` is a RewardStructure when every
    problem of the batch has the same rewards (the vectorised path); otherwise
    ``structures`` is a list, one per flattened batch element.
    """
    if isinstance(rewards, RewardDistribution):
        if rewards.probs.ndim == 2:
            return reward_structure(rewards, n_outputs), None
        probs = np.broadcast_to(rewards.probs, (*batch_shape, n_outputs, rewards.levels.size))
        flat = probs.reshape(-1, n_outputs, rewards.levels.size)
        return None, [
            reward_structure(RewardDistribution(rewards.levels, row), n_outputs) for row in flat
        ]
    r = as_float_array(rewards, "rewards")
    if r.ndim == 0:
        raise ValueError("rewards must have one entry per output (last axis)")
    if r.shape[-1] != n_outputs:
        raise ValueError(f"rewards has {r.shape[-1]} outputs but the policy has {n_outputs}")
    if r.ndim == 1:
        return reward_structure(r, n_outputs), None
    try:
        rb = np.broadcast_to(r, (*batch_shape, n_outputs))
    except ValueError as exc:
        raise ValueError(
            f"rewards shape {r.shape} does not broadcast with the batch shape {batch_shape}"
        ) from exc
    flat = rb.reshape(-1, n_outputs)
    return None, [reward_structure(row, n_outputs) for row in flat]


def expected_rewards(rewards: Rewards) -> NDArray[np.float64]:
    """E[r | o]: the rewards themselves, or the means of a RewardDistribution."""
    if isinstance(rewards, RewardDistribution):
        return rewards.expected()
    r = as_float_array(rewards, "rewards")
    if r.ndim == 0:
        raise ValueError("rewards must have one entry per output (last axis); got a single number")
    return r
