"""Input checks shared by the public entry points of :mod:`gvpo_theory.torch`.

Every bad input is a ``ValueError`` that names the argument and the rule it broke, raised
before torch can turn it into a ``RuntimeError``, an ``IndexError``, a device-side assert
or a silent NaN. The rules:

* **tensors** — a ``torch.Tensor`` of the documented rank; floating arguments are float32
  or float64 (integer, bool, complex and half-precision tensors are refused); arguments
  computed together share one dtype and one device; sample indices are int64 in [0, K).
  These read only metadata and cost nothing.
* **data** — floating inputs finite, probability rows non-negative and summing to 1,
  indices in range. These need a pass over the data and, on a GPU, a device→host
  synchronisation; :class:`DataChecks` reduces each condition to one number (a sum, a
  minimum), reads all of one call's numbers back at once (one sync), and names the
  culprit only once something failed.
* **scalars** — β, lr, counts, seeds and string options go through the engine's
  shared checks in :mod:`gvpo_theory.problem` (booleans, strings and complex numbers are
  refused there), so the numpy engine and the torch module apply one set of rules.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .. import problem

#: Floating dtypes the torch module computes in (documented on every entry point).
FLOAT_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def tensor(x: object, name: str, *, ndim: int, shape: str, floating: bool = True) -> Tensor:
    """``x`` must be a tensor of rank ``ndim`` (``shape`` documents it, e.g. "(B, K)");
    floating ones float32 or float64."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {shape}; got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}; got {tuple(x.shape)}")
    if floating and x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must have dtype float32 or float64; got {_dtype_name(x.dtype)}")
    return x


def index_tensor(x: object, name: str, *, batch: int, min_size: int = 1) -> Tensor:
    """Arm indices: an int64 tensor (B, k) with B = ``batch`` and k >= ``min_size``
    (their range is a data check: :meth:`DataChecks.indices`)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of int64 arm indices (B, k); got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] != batch:
        raise ValueError(f"{name} must have shape (B, k) with B = {batch}; got {tuple(x.shape)}")
    if x.dtype != torch.int64:
        raise ValueError(f"{name} must be int64 arm indices; got {_dtype_name(x.dtype)}")
    if x.shape[1] < min_size:
        raise ValueError(
            f"{name}: a group needs k >= {min_size} samples (a group of one has no baseline); "
            f"got k = {x.shape[1]}"
        )
    return x


def same_shape(x: Tensor, name: str, ref: Tensor, ref_name: str) -> None:
    if x.shape != ref.shape:
        raise ValueError(f"{name} shape {tuple(x.shape)} must equal {ref_name} shape {tuple(ref.shape)}")


def same_dtype(**tensors: Tensor) -> None:
    """The named tensors share one dtype."""
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) > 1:
        got = ", ".join(f"{n}={_dtype_name(t.dtype)}" for n, t in tensors.items())
        raise ValueError(f"{', '.join(tensors)} must share one dtype; got {got}")


def same_device(**tensors: Tensor) -> None:
    """The named tensors live on one device."""
    devices = {t.device for t in tensors.values()}
    if len(devices) > 1:
        got = ", ".join(f"{n} on {t.device}" for n, t in tensors.items())
        raise ValueError(f"{', '.join(tensors)} must be on one device; got {got}")


def _python_scalar(value: object) -> object:
    """A one-element tensor as its Python value (so bool/complex tensors meet the engine's
    rules); anything else unchanged."""
    if isinstance(value, Tensor) and value.ndim == 0:
        return value.item()
    return value


def count(value: object, name: str, *, min_value: int = 1, max_value: int | None = None) -> int:
    """An integer count (group size, k, contexts, capacity, seed): :func:`problem.check_positive_int`."""
    return problem.check_positive_int(_python_scalar(value), name, min_value=min_value, max_value=max_value)


def real(value: object, name: str) -> float:
    """One real number (:func:`problem.check_real`); finiteness and range are the caller's."""
    return problem.check_real(_python_scalar(value), name)


def positive(value: object, name: str) -> float:
    """One real number, finite and > 0 (a step size, a concentration)."""
    val = problem.check_real(_python_scalar(value), name)
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return val


def choice(value: object, name: str, options: tuple[str, ...]) -> str:
    return problem.check_choice(value, name, options)


def generator(gen: object, device: torch.device, name: str = "generator") -> None:
    """``None`` or a ``torch.Generator`` on the device type of the tensors it draws for."""
    if gen is None:
        return
    if not isinstance(gen, torch.Generator):
        raise ValueError(f"{name} must be a torch.Generator or None; got {type(gen).__name__}")
    if gen.device.type != device.type:
        raise ValueError(f"{name} is on {gen.device} but the tensors are on {device}")


def device(value: object, name: str = "device") -> torch.device:
    """A device torch knows and this machine has (CUDA only where a GPU is present)."""
    try:
        dev = torch.device(value)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda'; got {value!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {value!r} requested but no CUDA GPU is available")
    return dev


def float_dtype(value: object, name: str = "dtype") -> torch.dtype:
    if value not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be torch.float32 or torch.float64; got {value!r}")
    return value  # type: ignore[return-value]


class DataChecks:
    """Conditions on tensor *values*, evaluated together with one device→host transfer.

    Each method queues a few 0-d reductions (sums, minima, maxima — no synchronisation);
    :meth:`raise_if_failed` reads them back in one transfer, tests them on the host, and
    raises a ``ValueError`` for the first failed condition, in the order queued.

    Finiteness is tested on one sum over all the tensors concerned (NaN and ±inf propagate
    through a sum): one reduction each instead of an elementwise test and a second
    reduction. A sum can also overflow on huge finite entries, so a non-finite sum is
    confirmed elementwise, tensor by tensor, before the culprit is named.
    """

    def __init__(self) -> None:
        self._values: list[Tensor] = []
        self._tests: list[tuple] = []

    def _queue(self, values: list[Tensor], test, message: str, confirm: Tensor | None = None) -> None:
        first = len(self._values)
        self._values.extend(values)
        self._tests.append((first, len(values), test, message, confirm))

    def finite(self, **tensors: Tensor) -> DataChecks:
        """Every entry of every tensor finite: one sum over all of them, and only when that
        is not finite, an elementwise test per tensor to name the culprit."""
        named = [(name, t.detach()) for name, t in tensors.items() if t.numel()]
        if not named:
            return self
        total = named[0][1].sum()
        for _, t in named[1:]:
            total = total + t.sum()

        def confirm() -> str | None:
            for name, t in named:
                if not bool(torch.isfinite(t).all()):
                    return f"{name} must be finite (no NaN or inf)"
            return None  # the sum overflowed; every entry is finite

        self._queue([total], math.isfinite, "", confirm)  # type: ignore[arg-type]
        return self

    def indices(self, name: str, idx: Tensor, n: int) -> DataChecks:
        if idx.numel():
            lo, hi = torch.aminmax(idx)
            message = f"{name} must be arm indices in [0, {n}) (K = {n} arms)"
            self._queue([lo, hi], lambda a, b: a >= 0 and b < n, message)
        return self

    def probabilities(self, name: str, p: Tensor, *, positive_total: bool = False) -> DataChecks:
        """Rows along the last axis: finite, >= 0 and summing to 1 (to 1e-6·n, the rounding
        of a float32 softmax over n entries), or just with a positive total when
        ``positive_total``."""
        if not p.numel():
            return self
        self.finite(**{name: p})
        self._queue([p.amin()], lambda a: a >= 0, f"{name} must be >= 0")
        total = p.sum(-1)
        if positive_total:
            self._queue([total.amin()], lambda a: a > 0, f"{name} must have a positive total in every row")
        else:
            tol = 1e-6 * p.shape[-1]
            message = f"{name} rows must sum to 1 (within {tol:.1g})"
            self._queue([(total - 1).abs().amax()], lambda a: a <= tol, message)
        return self

    def positive(self, name: str, t: Tensor) -> DataChecks:
        """Every entry finite and > 0 (a (B,) β)."""
        if t.numel():
            self._queue([t.amin()], lambda a: a > 0, f"{name} must be finite and > 0")
            self.finite(**{name: t})
        return self

    def nonnegative(self, name: str, t: Tensor) -> DataChecks:
        """Every entry finite and >= 0 (a (B,) β where 0 means no KL term)."""
        if t.numel():
            self._queue([t.amin()], lambda a: a >= 0, f"{name} must be finite and >= 0")
            self.finite(**{name: t})
        return self

    def raise_if_failed(self) -> None:
        if not self._values:
            return
        device = self._values[0].device
        if device.type == "meta":  # shapes only, no values to check
            return
        if device.type == "cpu":  # no transfer to save: read each value directly
            host = [v.item() for v in self._values]
        else:
            host = torch.stack([v.to(device=device, dtype=torch.float64) for v in self._values]).tolist()
        for first, n, test, message, confirm in self._tests:
            if test(*host[first : first + n]):
                continue
            if confirm is not None:
                message = confirm()
                if message is None:
                    continue
            raise ValueError(message)


def beta(value: object, like: Tensor, checks: DataChecks, name: str = "beta", *,
         allow_zero: bool = False) -> Tensor:
    """β as a tensor on ``like``'s dtype and device: 0-d for a number, (B, 1) for a (B,)
    array or tensor. Numbers are checked on the host (:func:`problem.check_beta`: real,
    finite, > 0 — or >= 0 with ``allow_zero``, where β = 0 means "no KL term" — no booleans
    or strings); a tensor's values join ``checks``."""
    batch = like.shape[0]
    if isinstance(value, Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must be real numbers; got a {_dtype_name(value.dtype)} tensor")
        b = value.detach().to(dtype=like.dtype, device=like.device)
        if allow_zero:
            checks.nonnegative(name, b)
        else:
            checks.positive(name, b)
    else:
        b = torch.as_tensor(problem.check_beta(value, name, allow_zero=allow_zero), dtype=like.dtype,
                            device=like.device)
    if b.ndim == 1 and b.shape[0] == batch:
        return b[:, None]
    if b.ndim != 0:
        raise ValueError(
            f"{name} must be a number or a (B,) tensor with B = {batch}; got shape {tuple(b.shape)}"
        )
    return b


def scalar_beta(value: object, name: str = "beta") -> float:
    """β as one Python float: real, finite, > 0 (:func:`problem.check_beta`)."""
    arr = problem.check_beta(_python_scalar(value), name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single number here; got shape {arr.shape}")
    return float(arr)


#: Why verify refuses β = 0.
BETA_ZERO_VERIFY = ("beta must be > 0 for verify: at beta = 0 GRPO has no stationary policy to train to "
                    "(the losing outputs' mass decays like 1/t); gvpo_theory.limits.flow_limit gives the "
                    "limit and its approach law")


def verify_arguments(
    bandits: object,
    *,
    beta: object,
    steps: object,
    lr: object,
    eval_every: object,
    seed: object,
    threads: object = None,
    tolerance: object = None,
) -> None:
    """The numeric arguments of :func:`~gvpo_theory.torch.trainer.verify` (its options are
    checked there): a :class:`~gvpo_theory.torch.bandits.Bandits` batch, β one real number
    (finite, > 0), counts as integers (no booleans), lr/tolerance finite and > 0 when given."""
    from .bandits import Bandits

    if not isinstance(bandits, Bandits):
        raise ValueError(f"bandits must be a Bandits batch (see make_bandits); got {type(bandits).__name__}")
    if isinstance(beta, (int, float)) and not isinstance(beta, bool) and beta == 0:
        raise ValueError(BETA_ZERO_VERIFY)
    scalar_beta(beta)
    count(steps, "steps")
    count(seed, "seed", min_value=0)
    for name, value in (("eval_every", eval_every), ("threads", threads)):
        if value is not None:
            count(value, name)
    for name, value in (("lr", lr), ("tolerance", tolerance)):
        if value is not None:
            positive(value, name)


def restricted_optimum_arguments(
    theta0: object, pi_ref: object, mean_rewards: object, beta: object, support: object
) -> None:
    """The arrays of :func:`~gvpo_theory.torch.trainer.restricted_optimum`: finite θ0 and
    rewards (..., K), π_ref a probability vector per row, β > 0 broadcasting against the
    batch, ``support`` a boolean mask; each broadcasting to θ0's shape."""
    theta = problem.as_float_array(theta0, "theta0")
    if theta.ndim == 0:
        raise ValueError("theta0 must have one entry per arm (last axis)")
    ref = problem.check_distribution(pi_ref, "pi_ref")
    r = problem.as_float_array(mean_rewards, "mean_rewards")
    b = problem.check_beta(beta)
    mask = np.asarray(support)
    if mask.dtype != np.bool_:
        raise ValueError(f"support must be a boolean mask; got dtype {mask.dtype}")
    for name, arr, target in (
        ("pi_ref", ref, theta.shape), ("mean_rewards", r, theta.shape), ("support", mask, theta.shape),
        ("beta", b, theta.shape[:-1]),
    ):
        try:
            np.broadcast_to(arr, target)
        except ValueError as exc:
            raise ValueError(
                f"{name} shape {arr.shape} does not broadcast to {target} (theta0 {theta.shape})"
            ) from exc
