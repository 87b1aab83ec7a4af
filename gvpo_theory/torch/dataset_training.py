"""Train a dataset of prompts with an objective's sampled loss, and compare with its prediction.

A :class:`~gvpo_theory.dataset.Dataset` prompt is its row of reference level masses Q_l; as a
tabular bandit it has one arm per reward level l, π_ref(l) = Q_l and the deterministic reward
v_l (every objective's fixed point sees π_ref only through the level masses, docs/theory.md
§3). :func:`train_prompts` trains all B prompts at once, one on-policy group of G per prompt and
step, with the method's loss gradient:

* a GRPO-family :class:`~gvpo_theory.objective.Objective` with group normalisation:
  :func:`~gvpo_theory.torch.grpo_grad`;
* ``normalisation="batch-trl"`` / ``"batch-reinforce++"``: one std over the whole batch of
  B·G rewards, :func:`~gvpo_theory.torch.batch_losses.batch_std_grad` (the objective's
  baseline and penalty kept, as :func:`gvpo_theory.dataset.predict` does);
* ``"gvpo"``: :func:`~gvpo_theory.torch.gvpo_grad`.

Steps (as :func:`~gvpo_theory.torch.verify`): SGD on the logits; GVPO at the constant step
``lr/(β²(G − 1))`` (its sampled gradient vanishes at π* for deterministic rewards); the others
at the Robbins–Monro step ``lr/(1 + β)/(1 + t/t0)^0.6`` (t0 = steps/20) with the logits averaged
over the second half of the run (Polyak–Ruppert).

**Noise band** (:func:`compare`). For a per-prompt quantity f (accuracy π(a), pass@k =
1 − (1 − π(a))^k) the dataset mean after training is compared with the predicted mean. The
per-prompt errors d_i = f(π̂_i) − f(π_i) come from each prompt's own samples, so under group
normalisation they are independent across prompts and, by the central limit theorem, their
mean has standard error s_d/√B (s_d the sample std of the d_i); the band is z·s_d/√B
(z = 4). Batch normalisation adds a component common to all prompts, through the one scale
s_t of each step. With S the sensitivity ∂(mean f)/∂log s of the prediction at the solved
scale (a central difference of the per-prompt solves), it adds

* z·|S|·sd(log s_t)/√n_tail: the tail average of the scale, n_tail averaged steps;
* |S|·b_N: the systematic O(1/N) gap (N = B·G rewards per batch) between the expected
  finite-batch update and its B → ∞ limit, which the prediction solves. With V = σ_B² and
  R = v_max − v_min: E[S_t²] = V + (V − mean_i Var_i)/(N − 1) exactly (relative ≤ 1/(N − 1));
  Jensen's gap E[S_t] vs √E[S_t²] is at most Var(S_t²)/(8V²) ≤ R²/(8NV) relative; and a
  group's own G rewards move S_t² by at most G·R²/(N − 1), relative G·R²/(2(N − 1)V) in S_t.
  So b_N = (1 + G·R²/V)/(2(N − 1)) + R²/(8NV).

The two components are added as independent errors: band = z·√(s_d²/B + (S·sd/√n_tail)²) +
|S|·b_N. GVPO's sampled gradient vanishes at π* (deterministic rewards), so its run converges
to rounding: its band is the floor √ε of the training dtype instead.

The band covers sampling noise, not the optimiser's own bias. Two biases of one sign remain
and do not shrink with B: an unfinished run (a hard prompt under a no-std objective moves at a
rate ∝ p_ref, so a short run or a small ``lr`` leaves it behind the fixed point), and the O(lr)
bias of the averaged SGD iterate (the drift is nonlinear in θ, so the mean of θ under the
stationary noise is off the root by ∝ the step; the schedule's last step is lr/21^0.6 whatever
the number of steps, so more steps do not remove it, a smaller ``lr`` does). Both show as
trained means below the predicted ones, and both are visible once B is large enough for the
band to fall below them (benchmarks/README.md, 10⁵ prompts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from ..dataset import Dataset, Prediction, pass_at_k
from ..dataset.predict import NORMALISATIONS, resolve_method
from ..dataset.solve import GVPO, solve_prompts
from ..objective import Objective
from ..problem import check_beta, check_choice, check_positive_int
from . import _checks
from .batch_losses import batch_scale, batch_std_grad
from .losses import grpo_grad, gvpo_grad
from .samplers import sample_categorical

#: z of the noise band (4 standard errors).
BAND_Z = 4.0

#: Relative step of the central difference in log s for the sensitivity S.
SENSITIVITY_STEP = 1e-4


@dataclass(frozen=True)
class TrainedPrompts:
    """Where :func:`train_prompts` ended.

    Attributes:
        masses: level masses after training (the tail-averaged logits' softmax for the
            GRPO family, the last iterate for GVPO), (B, L) float64.
        method: the method's label; normalisation: ``"group"`` or ``"batch-…"``.
        beta, group_size, steps, lr: the run's settings (lr in natural units).
        scales: the batch divisor s_t of every step (batch normalisation), else empty.
        tail_steps: how many steps the logits were averaged over (0: last iterate).
        wall_time: seconds of training.
        floor: the noise band's floor: √ε of the training dtype for GVPO, whose sampled
            gradient vanishes at π* (deterministic rewards, docs/theory.md §5) so that it
            converges to rounding, not to a noise level; 0 otherwise.
    """

    masses: NDArray[np.float64]
    method: str
    normalisation: str
    beta: float
    group_size: int
    steps: int
    lr: float
    scales: NDArray[np.float64]
    tail_steps: int
    wall_time: float
    floor: float = 0.0

    @property
    def accuracy(self) -> NDArray[np.float64]:
        """π̂(a): the mass of the best level."""
        return self.masses[:, -1]


@dataclass(frozen=True)
class Comparison:
    """Predicted against trained dataset means, with the noise band (module docstring).

    ``rows`` maps a quantity (``"accuracy"``, ``"pass@k"``) to a dict with ``predicted``,
    ``trained``, ``difference``, ``band`` (the noise band) and ``within``
    (|difference| <= band); ``sensitivity`` holds S per quantity (batch normalisation only),
    ``scale_predicted`` and ``scale_trained`` the solved divisor and the mean of s_t over the
    averaged steps (NaN under group normalisation).
    """

    rows: dict[str, dict[str, float | bool]]
    scale_predicted: float = math.nan
    scale_trained: float = math.nan
    bias_bound: float = 0.0
    sensitivity: dict[str, float] = field(default_factory=dict)

    @property
    def within(self) -> bool:
        """Every quantity within its band."""
        return all(bool(r["within"]) for r in self.rows.values())


def dataset_arms(dataset: Dataset, dtype: torch.dtype = torch.float64,
                 device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(ref_logits, arm_rewards), each (B, L): one arm per reward level, log Q_l and v_l.

    Every prompt needs mass on every level (a level without mass is an arm that can never be
    sampled, so training cannot reach the solved fixed point there): a ``ValueError`` names
    the first prompt without it."""
    if not isinstance(dataset, Dataset):
        raise ValueError(f"dataset must be a Dataset; got {type(dataset).__name__}")
    dtype = _checks.float_dtype(dtype)
    dev = _checks.device(device)
    empty = np.nonzero(np.any(dataset.masses <= 0, axis=1))[0]
    if empty.size:
        i = int(empty[0])
        raise ValueError(f"dataset: prompt {dataset.prompt_ids[i]!r} (row {i}) has no reference mass on "
                         f"some reward level; training needs every level sampled (select the "
                         f"interior prompts with dataset.subset)")
    ref = torch.tensor(np.log(dataset.masses), dtype=dtype, device=dev)
    levels = torch.tensor(dataset.levels, dtype=dtype, device=dev)
    return ref, levels.expand_as(ref).contiguous()


def train_prompts(
    dataset: Dataset, beta: float, method: Objective | str, group_size: int | None = None, *,
    normalisation: str = "group", steps: int = 2000, lr: float = 0.5, seed: int = 0,
    dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
) -> TrainedPrompts:
    """Train every prompt of ``dataset`` with the method's sampled loss (module docstring).

    Args:
        dataset: the prompts; every one needs reference mass on every level.
        beta: β > 0.
        method, group_size: as :func:`gvpo_theory.dataset.predict` (an Objective, a registry
            name with G, or ``"gvpo"``); G must be a finite integer.
        normalisation: ``"group"`` or ``"batch-trl"`` / ``"batch-reinforce++"``.
        steps: SGD steps (one group of G per prompt each).
        lr: the step in natural units (see the module docstring), > 0.
        seed: seeds the torch generator of the samples.
        dtype, device: float32/float64, ``"cpu"`` or a CUDA device.

    Returns:
        :class:`TrainedPrompts`.
    """
    b = float(check_beta(beta))
    method, g = resolve_method(method, group_size)
    if not isinstance(g, int):
        raise ValueError(f"group_size must be a finite integer >= 2 for training; got {g!r}")
    check_choice(normalisation, "normalisation", NORMALISATIONS)
    if normalisation != "group" and method == GVPO:
        raise ValueError("normalisation='batch-…' applies to GRPO-family objectives, not 'gvpo'")
    steps = check_positive_int(steps, "steps")
    lr = _checks.positive(lr, "lr")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    ref, rewards_of_arm = dataset_arms(dataset, dtype, device)
    gen = torch.Generator(device=ref.device).manual_seed(seed)
    theta = ref.clone()
    if method == GVPO:
        step0, decay, avg_from, label = lr / (b * b * (g - 1)), False, steps + 1, "GVPO (π*)"
    else:
        step0, decay, avg_from = lr / (1.0 + b), True, steps // 2 + 1
        label = method.label if normalisation == "group" else (
            f"{method.advantage.baseline} baseline, {normalisation}, {method.penalty.label}")
    convention = normalisation.removeprefix("batch-")
    t0 = max(1.0, steps / 20.0)
    avg = torch.zeros_like(theta)
    n_avg = 0
    scales = []
    start = time.perf_counter()
    for t in range(1, steps + 1):
        samples = sample_categorical(torch.softmax(theta, -1), g, gen)
        rewards = torch.gather(rewards_of_arm, 1, samples)
        if method == GVPO:
            grad = gvpo_grad(theta, samples, rewards, ref, b)
        elif normalisation == "group":
            grad = grpo_grad(theta, samples, rewards, ref, b, objective=method)
        else:
            scales.append(float(batch_scale(rewards, convention)))
            grad = batch_std_grad(theta, samples, rewards, ref, b, convention=convention,
                                  baseline=method.advantage.baseline, penalty=method.penalty.name)
        step = step0 / (1.0 + (t - 1) / t0) ** 0.6 if decay else step0
        theta.sub_(grad, alpha=step)
        if t >= avg_from:
            n_avg += 1
            avg += (theta - avg) / n_avg
    final = avg if n_avg else theta
    masses = torch.softmax(final.double(), -1).cpu().numpy()
    floor = math.sqrt(torch.finfo(theta.dtype).eps) if method == GVPO else 0.0
    return TrainedPrompts(masses, label, normalisation, b, g, steps, lr,
                          np.asarray(scales, dtype=np.float64), n_avg, time.perf_counter() - start, floor)


def _batch_bias_bound(prediction: Prediction, prompts: int) -> float:
    """b_N of the module docstring for the prediction's batch std and N = B·G rewards."""
    levels = prediction.dataset.levels
    r2 = float(levels[-1] - levels[0]) ** 2
    v = prediction.batch.sigma ** 2
    n = prompts * int(prediction.group_size)
    return (1.0 + prediction.group_size * r2 / v) / (2.0 * (n - 1)) + r2 / (8.0 * n * v)


def _sensitivity(prediction: Prediction, quantity) -> float:
    """∂(mean f)/∂log s at the solved scale, by a central difference of the per-prompt solves."""
    batch, ds = prediction.batch, prediction.dataset
    means = []
    for sign in (1.0, -1.0):
        scale = batch.scale * math.exp(sign * SENSITIVITY_STEP)
        q, _, _ = solve_prompts(ds.masses, ds.levels / scale, prediction.beta, batch.objective)
        means.append(float(np.mean(quantity(q[:, -1]))))
    return (means[0] - means[1]) / (2.0 * SENSITIVITY_STEP)


def compare(trained: TrainedPrompts, prediction: Prediction, ks: Sequence[int] = (8,),
            z: float = BAND_Z) -> Comparison:
    """Predicted against trained mean accuracy and pass@k with the noise band (module docstring).

    ``prediction`` must be :func:`gvpo_theory.dataset.predict` of the same prompts, β, G and
    normalisation as the training run.
    """
    if not isinstance(trained, TrainedPrompts):
        raise ValueError(f"trained must be a TrainedPrompts; got {type(trained).__name__}")
    if not isinstance(prediction, Prediction):
        raise ValueError(f"prediction must be a Prediction; got {type(prediction).__name__}")
    if (prediction.masses.shape != trained.masses.shape or prediction.beta != trained.beta
            or prediction.group_size != trained.group_size
            or prediction.normalisation != trained.normalisation):
        raise ValueError("prediction must be of the trained prompts at the same beta, group_size "
                         "and normalisation")
    z = _checks.positive(z, "z")
    ks = tuple(check_positive_int(k, "ks") for k in ks)
    n = trained.masses.shape[0]
    quantities = {"accuracy": lambda a: a, **{f"pass@{k}": (lambda a, k=k: pass_at_k(a, k)) for k in ks}}
    batch = prediction.batch is not None and trained.scales.size > 0
    tail = trained.scales[-trained.tail_steps:] if batch and trained.tail_steps else trained.scales
    se_log_s = float(np.std(np.log(tail), ddof=1) / math.sqrt(tail.size)) if batch and tail.size > 1 else 0.0
    bias = _batch_bias_bound(prediction, n) if batch else 0.0
    rows, sens = {}, {}
    for name, f in quantities.items():
        d = f(trained.accuracy) - f(prediction.accuracy)
        s = _sensitivity(prediction, f) if batch else 0.0
        if batch:
            sens[name] = s
        if trained.floor > 0:  # no gradient noise at the target: rounding only
            band = trained.floor
        else:
            band = z * math.sqrt(float(np.var(d, ddof=1)) / n + (s * se_log_s) ** 2) + abs(s) * bias
        diff = float(np.mean(d))
        rows[name] = {"predicted": float(np.mean(f(prediction.accuracy))),
                      "trained": float(np.mean(f(trained.accuracy))),
                      "difference": diff, "band": band, "within": abs(diff) <= band}
    return Comparison(
        rows,
        scale_predicted=prediction.batch.scale if batch else math.nan,
        scale_trained=float(np.mean(tail)) if batch else math.nan,
        bias_bound=bias, sensitivity=sens,
    )
