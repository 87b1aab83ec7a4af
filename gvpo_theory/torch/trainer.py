"""Batched training of tabular bandits, measured against the engine's targets.

:func:`verify` trains B independent softmax policies with GVPO (any sampler) and GRPO
(on-policy) and records, over the steps, the distance of π_θ to the method's target —
π* ∝ π_ref·exp(E[r]/β) (:func:`~gvpo_theory.pooling.kl_optimal_policy`) for GVPO, the GRPO
stationary policy (:func:`~gvpo_theory.stationary.grpo_stationary_policy`) for GRPO — and
to π* for both, so GRPO's gap to π* is on the record.

Optimisation choices, and why:

* SGD on the logits with a per-method natural step: GVPO's expected update has curvature
  β²(k − 1)·π_s, so its step is ``lr / (β²(k − 1))``; GRPO's has curvature ~ (1 + β)·π, so
  its step is ``lr / (1 + β)``. ``optimizer="adam"`` is offered as what practice uses.
* GVPO with deterministic rewards: every weight w_i is exactly 0 at π*, so the sampled
  gradient has no variance there (docs/theory.md §5) and a constant step converges linearly to
  machine precision. Default schedule ``"constant"``.
* GRPO, and GVPO with noisy rewards: the gradient noise does not vanish at the target, so
  the default is a Robbins–Monro step ``lr/(1 + t/t0)^0.6`` with Polyak–Ruppert averaging
  of the logits over the second half of the run (``average="tail"``), whose error falls
  like 1/√(steps).

Each run is held to a tolerance on max_b max_o |π_θ − target| (:func:`default_tolerance`):
√ε of the training dtype where the gradient noise vanishes at the target, and half the
distance to the competing answer where it does not. The report marks each run pass/fail.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..objective import Objective, as_objective
from ..pooling import kl_divergence, kl_optimal_policy
from ..stationary import grpo_stationary_policy
from . import _checks
from .bandits import Bandits
from .losses import (
    grpo_expected_grad,
    grpo_grad,
    grpo_loss,
    gvpo_expected_grad,
    gvpo_grad,
    gvpo_loss,
)
from .samplers import SAMPLERS, Sampler, make_sampler

METHODS: tuple[str, ...] = ("gvpo", "grpo")
MODES: tuple[str, ...] = ("sampled", "expected")
IMPLEMENTATIONS: tuple[str, ...] = ("analytic", "autograd")


@dataclass(frozen=True)
class RunResult:
    """One (method, sampler) training run over a batch of B contexts.

    ``steps`` (n,) are the evaluation points; the error curves are over contexts:
    ``max_error`` = max_b max_o |π_θ − target|, ``kl`` = mean_b KL(target ‖ π_θ), and the
    same against π* (``max_error_pi_star``, ``kl_pi_star``). ``policy`` and ``target``
    are the final (B, K) arrays (float64, CPU).
    """

    method: str
    sampler: str
    steps: np.ndarray
    max_error: np.ndarray
    kl: np.ndarray
    max_error_pi_star: np.ndarray
    kl_pi_star: np.ndarray
    policy: np.ndarray
    target: np.ndarray
    wall_time: float
    target_name: str
    #: the bound ``final_error`` is held to (:func:`default_tolerance`); NaN: none could be set
    tolerance: float = math.nan
    #: step size in natural units, the schedule and the iterate averaging this run used
    lr: float = math.nan
    schedule: str = ""
    average: str = ""

    @property
    def final_error(self) -> float:
        return float(self.max_error[-1])

    @property
    def passed(self) -> bool:
        """``final_error <= tolerance`` (False when no tolerance could be set)."""
        return bool(self.final_error <= self.tolerance)

    @property
    def final_gap_to_pi_star(self) -> float:
        return float(self.max_error_pi_star[-1])

    def steps_to(self, tolerance: float) -> int | None:
        """First evaluated step from which max_error stays <= tolerance (None: never)."""
        above = np.nonzero(self.max_error > tolerance)[0]
        if above.size == 0:
            return int(self.steps[0])
        return int(self.steps[above[-1] + 1]) if above[-1] + 1 < self.steps.size else None


@dataclass(frozen=True)
class VerifyReport:
    """All runs of one :func:`verify` call and its settings."""

    runs: list[RunResult]
    settings: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every run within its tolerance."""
        return all(r.passed for r in self.runs)

    def table(self) -> str:
        """method | sampler | target | final error | tolerance | pass | gap to π* | steps | wall time."""
        head = f"{'method':<6} {'sampler':<10} {'target':<18} {'max |pi-target|':>16} "
        head += f"{'tolerance':>10} {'pass':>4}  {'max |pi-pi*|':>13} {'steps':>7} {'wall s':>8}"
        lines = [head, "-" * len(head)]
        for r in self.runs:
            verdict = "yes" if r.passed else "NO"
            lines.append(
                f"{r.method:<6} {r.sampler:<10} {r.target_name:<18} {r.final_error:>16.3e} "
                f"{r.tolerance:>10.1e} {verdict:>4}  "
                f"{r.final_gap_to_pi_star:>13.3e} {int(r.steps[-1]):>7d} {r.wall_time:>8.2f}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "passed": self.passed,
            "runs": [
                {
                    "method": r.method,
                    "sampler": r.sampler,
                    "target": r.target_name,
                    "final_max_error": r.final_error,
                    "tolerance": r.tolerance,
                    "passed": r.passed,
                    "final_max_error_pi_star": r.final_gap_to_pi_star,
                    "final_kl": float(r.kl[-1]),
                    "final_kl_pi_star": float(r.kl_pi_star[-1]),
                    "lr": r.lr,
                    "schedule": r.schedule,
                    "average": r.average,
                    "steps": r.steps.tolist(),
                    "max_error": r.max_error.tolist(),
                    "kl": r.kl.tolist(),
                    "max_error_pi_star": r.max_error_pi_star.tolist(),
                    "wall_time_s": r.wall_time,
                }
                for r in self.runs
            ],
        }


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU. Asking for CUDA without a GPU
    is a ValueError, not a crash deep inside torch."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' requested but no CUDA GPU is available (torch.cuda.is_available() is False)"
        )
    return dev


def restricted_optimum(
    theta0: np.ndarray, pi_ref: np.ndarray, mean_rewards: np.ndarray, beta, support: np.ndarray
):
    """Where GVPO with plain SGD converges when π_s lacks full support.

    Arms outside ``support`` are never sampled, so their logits never move. On the
    support the update vanishes when g = r − β·log(π/π_ref) is constant, and Σ_{o∈S} θ_o
    is conserved by every step (Σ_i w_i = 0). Hence θ_o = θ0_o off S and
    θ_o = log π_ref(o) + r(o)/β + c on S, with c fixing Σ_S θ_o = Σ_S θ0_o. Returns
    softmax(θ), shape (B, K). Equals π* only when S covers every arm.
    """
    _checks.restricted_optimum_arguments(theta0, pi_ref, mean_rewards, beta, support)
    theta0, pi_ref = np.asarray(theta0, float), np.asarray(pi_ref, float)
    b = np.broadcast_to(np.asarray(beta, float), theta0.shape[:-1])[..., None]
    s = np.asarray(support, bool)
    free = np.log(pi_ref) + np.asarray(mean_rewards, float) / b
    n_s = s.sum(-1, keepdims=True)
    c = (
        np.where(s, theta0, 0.0).sum(-1, keepdims=True) - np.where(s, free, 0.0).sum(-1, keepdims=True)
    ) / np.maximum(n_s, 1)
    theta = np.where(s, free + c, theta0)
    theta -= theta.max(-1, keepdims=True)
    e = np.exp(theta)
    return e / e.sum(-1, keepdims=True)


def _progress_printer(
    total: int, label: str, enabled: bool, every_s: float = 5.0
) -> Callable[[int], None]:
    """Progress on stderr: a redrawn bar on a terminal; elsewhere (a pipe, a log file) one
    line every ``every_s`` seconds and one when the run ends."""
    width, tty = 30, sys.stderr.isatty()
    start = time.perf_counter()
    last = [-1, start]

    def show(step: int) -> None:
        if not enabled:
            return
        if tty:
            filled = int(width * step / total)
            if filled != last[0] or step == total:
                last[0] = filled
                sys.stderr.write(f"\r{label:<18} [{'#' * filled}{'.' * (width - filled)}] {step}/{total}")
                if step == total:
                    sys.stderr.write("\n")
                sys.stderr.flush()
            return
        now = time.perf_counter()
        if now - last[1] >= every_s or step == total:
            last[1] = now
            sys.stderr.write(f"{label}: step {step}/{total} ({now - start:.1f} s)\n")
            sys.stderr.flush()

    return show


def _say(enabled: bool, message: str) -> None:
    if enabled:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` inside the block, restored after."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_tolerance(
    method: str, mode: str, stochastic: bool, dtype: torch.dtype, target: np.ndarray,
    other: np.ndarray | None,
) -> float:
    """The bound a run's final max_b max_o |π_θ − target| is held to.

    * No gradient noise at the target (``mode="expected"``, or GVPO with deterministic
      rewards, whose group weights all vanish at π*, docs/theory.md §5): √ε of the training
      dtype (1.5e-8 in float64, 3.5e-4 in float32) — the target to half the digits.
    * Noise that persists at the target (sampled GRPO; sampled GVPO with noisy rewards):
      half the max-norm distance from the target to the competing answer ``other`` (π* for
      GRPO, the GRPO stationary policy for GVPO). Within it, by the triangle inequality,
      π_θ is closer to its own target than to the other answer. NaN when ``other`` is None.
    """
    if mode == "expected" or (method == "gvpo" and not stochastic):
        return math.sqrt(torch.finfo(dtype).eps)
    if other is None:
        return math.nan
    return 0.5 * float(np.max(np.abs(np.asarray(target) - np.asarray(other))))


def verify(
    bandits: Bandits,
    *,
    beta: float = 1.0,
    group_size: int | Objective = 8,
    methods: Sequence[str] = METHODS,
    samplers: Sequence[str] = ("on-policy",),
    steps: int = 2000,
    mode: str = "sampled",
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    optimizer: str = "sgd",
    lr: float | None = None,
    schedule: str | None = None,
    average: str | None = None,
    implementation: str = "analytic",
    gvpo_scale: str = "sum",
    eval_every: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    threads: int | None = None,
    tolerance: float | None = None,
    progress: bool = False,
) -> VerifyReport:
    """Train every (method, sampler) pair on ``bandits`` and measure against the targets.

    Args:
        bandits: the problems (moved to ``device``; their dtype is the training dtype).
        beta, group_size: β > 0 and the group size k = G >= 2 (one group per context per step);
            ``group_size`` may be an :class:`~gvpo_theory.objective.Objective` (GRPO's
            objective: then ``std``, ``penalty``, ``eps`` stay unset).
        methods: ``"gvpo"`` (run once per sampler) and/or ``"grpo"`` (on-policy only, as
            GRPO is defined; its target is the GRPO stationary policy for ``std``,
            ``penalty``, ``eps``).
        samplers: names from :data:`~gvpo_theory.torch.samplers.SAMPLERS` for GVPO.
        steps: optimisation steps.
        mode: ``"sampled"`` (real stochastic training) or ``"expected"`` (the exact
            expected gradient, no sampling: a deterministic flow that must reach the
            target to ~1e-10 in float64).
        optimizer: ``"sgd"`` or ``"adam"`` (torch.optim).
        lr: step size in natural units (see module docstring); default 0.5 for sampled SGD,
            1.0 for expected-mode SGD, 0.05 for Adam.
        schedule: ``"constant"`` or ``"decay"`` (lr/(1 + t/t0)^0.6, t0 = steps/20);
            default: constant for GVPO with deterministic rewards and for expected mode,
            decay otherwise.
        average: ``"none"`` or ``"tail"`` (Polyak–Ruppert average of the logits over the
            second half); default follows ``schedule`` (tail when decaying).
        implementation: ``"analytic"`` closed-form gradients or ``"autograd"`` losses.
        gvpo_scale: ``"sum"`` or ``"paper"`` (÷(k − 1)).
        eval_every: evaluation interval (default: ~100 points per run).
        seed: seeds the torch generator (samples) — runs are reproducible per device.
        device: ``"cpu"``, ``"cuda"``, or ``None``/``"auto"``.
        threads: torch CPU threads while training (restored afterwards). Default: 1 for CPU
            runs with contexts·arms <= 65536, where more threads only add synchronisation
            overhead; torch's own setting otherwise.
        tolerance: the bound every run's final max error is held to; default per run
            from :func:`default_tolerance`.
        progress: report progress on stderr (a bar on a terminal, a line every 5 s otherwise).

    Returns:
        :class:`VerifyReport` with one :class:`RunResult` per run.
    """
    _checks.verify_arguments(bandits, beta=beta, steps=steps, lr=lr, eval_every=eval_every, seed=seed,
                             threads=threads, tolerance=tolerance)
    for name, value, options in (
        ("mode", mode, MODES),
        ("optimizer", optimizer, ("sgd", "adam")),
        ("implementation", implementation, IMPLEMENTATIONS),
        ("gvpo_scale", gvpo_scale, ("sum", "paper")),
    ):
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    if schedule not in (None, "constant", "decay"):
        raise ValueError(f"schedule must be 'constant' or 'decay'; got {schedule!r}")
    if average not in (None, "none", "tail"):
        raise ValueError(f"average must be 'none' or 'tail'; got {average!r}")
    if len(methods) == 0:
        raise ValueError(f"methods must name at least one of {', '.join(METHODS)}")
    if "gvpo" in methods and len(samplers) == 0:
        raise ValueError(f"samplers must name at least one of {', '.join(SAMPLERS)} for gvpo")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods must be drawn from {', '.join(METHODS)}; got {m!r}")
    for s in samplers:
        if s not in SAMPLERS:
            raise ValueError(f"samplers must be drawn from {', '.join(SAMPLERS)}; got {s!r}")
    if not isinstance(group_size, Objective) and not (isinstance(group_size, int) and group_size >= 2):
        raise ValueError(f"group_size must be an integer >= 2; got {group_size!r}")
    objective = as_objective(group_size, std, penalty, eps)
    if not isinstance(objective.group_size, int):
        raise ValueError(f"group_size must be a finite integer >= 2; got {objective.group_size!r}")
    group_size = objective.group_size
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    if isinstance(beta, (int, float)) and beta == 0:
        raise ValueError(_checks.BETA_ZERO_VERIFY)
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0; got {beta!r}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0; got {lr!r}")
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f"threads must be an integer >= 1; got {threads!r}")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be finite and > 0; got {tolerance!r}")
    dev = resolve_device(device)
    if threads is None and dev.type == "cpu" and bandits.contexts * bandits.arms <= 2**16:
        threads = 1
    bandits = bandits.to(device=dev)
    if mode == "expected" and "grpo" in methods and bandits.level_structure() is None:
        raise ValueError(
            "mode='expected' for GRPO needs rewards on a few shared levels (binary, levels, "
            "bernoulli bandits); continuous rewards have too many levels to enumerate"
        )

    pi_ref_np, engine_rewards = bandits.engine_problem()
    pi_star = kl_optimal_policy(pi_ref_np, bandits.mean_rewards.double().cpu().numpy(), beta)
    runs: list[tuple[str, str]] = [("gvpo", s) for s in samplers if "gvpo" in methods]
    if "grpo" in methods:
        runs.append(("grpo", "on-policy"))
    grpo_target = None
    noisy_gvpo = "gvpo" in methods and bandits.stochastic and mode == "sampled"
    if "grpo" in methods or (noisy_gvpo and tolerance is None):
        _say(progress, f"solving the GRPO stationary points of {bandits.contexts} contexts ...")
        res = grpo_stationary_policy(pi_ref_np, engine_rewards, beta, objective)
        if "grpo" not in methods:  # needed only for noisy GVPO's tolerance
            if np.all(res.converged):
                grpo_target = res.policy
        elif not np.all(res.converged):
            bad = int(np.sum(~np.asarray(res.converged)))
            raise ValueError(
                f"the engine found no verified GRPO stationary point for {bad} context(s) "
                f"(beta={beta}, {objective.label}): {res.message}; cannot verify GRPO there"
            )
        else:
            grpo_target = res.policy

    results = []
    for method, sampler_name in runs:
        target = pi_star if method == "gvpo" else grpo_target
        target_name = "pi* (KL optimum)" if method == "gvpo" else "GRPO stationary"
        other = grpo_target if method == "gvpo" else pi_star
        tol = tolerance if tolerance is not None else default_tolerance(
            method, mode, bandits.stochastic, bandits.dtype, target, other
        )
        with _torch_threads(threads):
            results.append(
                _train_one(
                    bandits,
                    method,
                    sampler_name,
                    target,
                    pi_star,
                    target_name,
                    beta=beta,
                    group_size=group_size,
                    steps=steps,
                    mode=mode,
                    objective=objective,
                    optimizer=optimizer,
                    lr=lr,
                    schedule=schedule,
                    average=average,
                    implementation=implementation,
                    gvpo_scale=gvpo_scale,
                    eval_every=eval_every,
                    seed=seed,
                    progress=progress,
                    tolerance=tol,
                )
            )
    settings = {
        "contexts": bandits.contexts,
        "arms": bandits.arms,
        "beta": beta,
        "group_size": group_size,
        "steps": steps,
        "mode": mode,
        "std": objective.std,
        "penalty": objective.penalty.name,
        "eps": objective.eps,
        "baseline": objective.advantage.baseline,
        "optimizer": optimizer,
        # the base step in natural units; each run's own lr, schedule, average are in its record
        "lr": lr if lr is not None else (
            (1.0 if mode == "expected" else 0.5) if optimizer == "sgd" else 0.05
        ),
        "schedule": schedule or "auto",
        "average": average or "auto",
        "tolerance": tolerance if tolerance is not None else "auto",
        "threads": threads if threads is not None else torch.get_num_threads(),
        "device": str(dev) if dev.type != "cuda" else f"cuda ({torch.cuda.get_device_name(dev)})",
        "dtype": str(bandits.dtype).replace("torch.", ""),
        "stochastic_rewards": bandits.stochastic,
        "seed": seed,
    }
    return VerifyReport(results, settings)


def _train_one(
    bandits: Bandits,
    method: str,
    sampler_name: str,
    target: np.ndarray,
    pi_star: np.ndarray,
    target_name: str,
    **kw,
) -> RunResult:
    beta, k, steps = kw["beta"], kw["group_size"], kw["steps"]
    dev = bandits.device
    gen = torch.Generator(device=dev).manual_seed(kw["seed"])
    ref = bandits.ref_logits
    sampler: Sampler = make_sampler(sampler_name, bandits.pi_ref, seed=kw["seed"])
    noisy = method == "grpo" or bandits.stochastic
    expected = kw["mode"] == "expected"
    schedule = kw["schedule"] or ("decay" if noisy and not expected else "constant")
    average = kw["average"] or ("tail" if schedule == "decay" else "none")
    natural = 1.0 / (beta * beta * (k - 1)) if method == "gvpo" else 1.0 / (1.0 + beta)
    if method == "gvpo" and kw["gvpo_scale"] == "paper":
        natural *= k - 1
    default_lr = (1.0 if expected else 0.5) if kw["optimizer"] == "sgd" else 0.05
    base = kw["lr"] if kw["lr"] is not None else default_lr
    lr0 = base * natural if kw["optimizer"] == "sgd" else base
    theta = ref.clone().requires_grad_(kw["implementation"] == "autograd")
    opt = (torch.optim.SGD if kw["optimizer"] == "sgd" else torch.optim.Adam)([theta], lr=lr0)
    t0 = max(1.0, steps / 20.0)
    avg_from = steps // 2 if average == "tail" else steps + 1
    theta_avg = torch.zeros_like(theta, requires_grad=False)
    n_avg = 0
    levels = bandits.level_structure() if expected and method == "grpo" else None
    every = kw["eval_every"] or max(1, steps // 100)
    log: list[tuple[int, float, float, float, float]] = []
    show = _progress_printer(steps, f"{method}/{sampler_name}", kw["progress"])

    def evaluate(step: int) -> None:
        current = theta_avg if n_avg > 0 else theta.detach()
        pol = torch.softmax(current.double(), -1).cpu().numpy()
        if not np.all(np.isfinite(pol)):
            raise _diverged(base, method, sampler_name, step)
        log.append(
            (
                step,
                float(np.max(np.abs(pol - target))),
                # KL >= 0; rounding can leave a mean of -1e-18 at the target: clip at 0
                max(0.0, float(np.mean(kl_divergence(target, pol)))),
                float(np.max(np.abs(pol - pi_star))),
                max(0.0, float(np.mean(kl_divergence(pi_star, pol)))),
            )
        )

    start = time.perf_counter()
    evaluate(0)
    for t in range(1, steps + 1):
        if schedule == "decay":
            for group in opt.param_groups:
                group["lr"] = lr0 / (1.0 + (t - 1) / t0) ** 0.6
        try:
            grad = _gradient(bandits, method, sampler, theta, ref, levels, gen, kw)
        except ValueError:
            if not bool(torch.isfinite(theta).all()):  # the step, not the input, is at fault
                raise _diverged(base, method, sampler_name, t) from None
            raise
        if grad is not None:
            theta.grad = grad
        opt.step()
        opt.zero_grad(set_to_none=True)
        if t >= avg_from:
            n_avg += 1
            theta_avg += (theta.detach() - theta_avg) / n_avg
        if t % every == 0 or t == steps:
            evaluate(t)
        show(t)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - start
    arr = np.asarray(log)
    current = theta_avg if n_avg > 0 else theta.detach()
    return RunResult(
        method=method,
        sampler=sampler_name,
        steps=arr[:, 0].astype(np.int64),
        max_error=arr[:, 1],
        kl=arr[:, 2],
        max_error_pi_star=arr[:, 3],
        kl_pi_star=arr[:, 4],
        policy=torch.softmax(current.double(), -1).cpu().numpy(),
        target=target,
        wall_time=wall,
        target_name=target_name,
        tolerance=float(kw["tolerance"]),
        lr=float(base),
        schedule=schedule,
        average=average,
    )


def _diverged(lr: float, method: str, sampler_name: str, step: int) -> ValueError:
    return ValueError(
        f"lr={lr:g} is too large: the {method}/{sampler_name} run diverged "
        f"(non-finite logits by step {step}); use a smaller lr"
    )


def _gradient(
    bandits: Bandits,
    method: str,
    sampler: Sampler,
    theta: Tensor,
    ref: Tensor,
    levels: tuple[Tensor, Tensor] | None,
    gen: torch.Generator,
    kw: dict,
) -> Tensor | None:
    """One step's gradient of the loss in θ (analytic), or None after autograd's backward."""
    beta, k = kw["beta"], kw["group_size"]
    th = theta.detach()
    if kw["mode"] == "expected":
        if method == "gvpo":
            pol = torch.softmax(th, -1)
            return gvpo_expected_grad(
                th, ref, bandits.mean_rewards, beta, sampler.probs(pol), k, kw["gvpo_scale"]
            )
        return grpo_expected_grad(th, ref, *levels, beta, kw["objective"])
    pol = torch.softmax(th, -1)
    samples = sampler.sample(pol, k, gen)
    rewards = bandits.sample_rewards(samples, gen)
    if kw["implementation"] == "analytic":
        if method == "gvpo":
            return gvpo_grad(th, samples, rewards, ref, beta, kw["gvpo_scale"])
        return grpo_grad(th, samples, rewards, ref, beta, objective=kw["objective"])
    if method == "gvpo":
        loss = gvpo_loss(theta, samples, rewards, ref, beta, kw["gvpo_scale"])
    else:
        loss = grpo_loss(theta, samples, rewards, ref, beta, objective=kw["objective"])
    loss.backward()
    return None
