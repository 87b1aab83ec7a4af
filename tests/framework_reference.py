"""What TRL, verl and the official GVPO code compute for single-token (length-1) outputs.

Plain numpy, written from the formulas of docs/frameworks.md (each read from the
framework's own source at the commit recorded there). No framework code is copied or
imported, and nothing here imports ``gvpo_theory``: tests/test_frameworks.py compares these
transcriptions with the engine.

The setting. One prompt, K single-token outputs, logits θ and π_θ = softmax θ. A group is
G ordered samples o_1..o_G drawn from π_old = π_θold, with deterministic rewards r(o_i).
Every framework turns the group into a loss L(θ) in which π_old (and π_ref) are constants
(detached), and takes a gradient step on L at θ = θ_old. For each setting this module gives

* :func:`advantages` — the per-sample advantages A_i of a group;
* :func:`per_sample_losses` / :func:`group_loss` — ℓ_i(θ) and L(θ), aggregated as the
  framework aggregates a batch made of this one group (a mean over the G samples for TRL and
  verl, a sum divided by G − 1 for GVPO);
* :func:`group_gradient` — ∇_θ L at θ = θ_old in closed form (derived by hand below; the
  tests check it against finite differences);
* :func:`expected_gradient` — E[∇_θ L] over all K^G ordered groups, each weighted by
  Π_i π(o_i) (brute-force enumeration, small K and G only).

Sign convention: everything here is a *loss* gradient (a descent direction). The engine's
``grpo_expected_update`` F is the ascent direction of the expected objective
(1/G)·Σ_i A_i·ratio_i − β·E[D], so F = −expected_gradient for the settings that are GRPO.

Derivatives at θ = θ_old, used throughout (e_o is the o-th unit vector):

    ∇_θ log π_θ(o) = e_o − π,        ∇_θ ratio(o) = e_o − π   (ratio = π_θ(o)/π_old(o) = 1),

so a per-sample loss ℓ_i = −A_i·ratio_i + β·D(log π_θ(o_i)) has the gradient
(−A_i + β·D′_i)·(e_{o_i} − π), where D′ = dD/d(log π) at θ_old. The clipped surrogates of
TRL and verl equal −A·ratio for ratio in [1 − ε_low, 1 + ε_high], which contains ratio = 1,
so clipping never acts on this gradient (at ratio = 1 the two arguments of min/max tie and
torch splits the gradient between two equal derivatives).

KL estimators D and their D′ (x = log π_ref(o) − log π_θ(o), so π_ref/π = e^x):

    TRL k3              D = e^x − x − 1                         D′ = 1 − π_ref/π
    TRL k3 · ratio      D = ratio·(e^x − x − 1)  (bias-corrected) D′ = log(π/π_ref)   [at θ_old]
    verl kl / k1        D = log π − log π_ref                   D′ = 1
    verl abs            D = |log π − log π_ref|                 D′ = sign(log π − log π_ref)
    verl mse / k2       D = ½(log π − log π_ref)²               D′ = log π − log π_ref
    verl low_var_kl/k3  D = clip(e^y − y − 1, −10, 10), y = clip(x, −20, 20)
                        D′ = 1 − π_ref/π where neither clip binds, 0 where one does

The bias-corrected D′: d/dlogπ [ratio·k3] = ratio·(1 − e^x) + k3·ratio, and at ratio = 1
this is 1 − e^x + e^x − x − 1 = −x = log(π/π_ref). The value clip of low_var_kl binds
when e^x − x − 1 > 10: for x > 2.6109 (π_ref/π > 13.611) or x < −10.99998
(π/π_ref > 5.99e4); the ±20 log-ratio clip lies inside that region, so it never changes D.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

#: verl's kl_loss_type / kl_penalty spellings → canonical estimator name.
VERL_KL_TYPES: dict[str, str] = {
    "kl": "k1", "k1": "k1", "abs": "abs", "mse": "k2", "k2": "k2",
    "low_var_kl": "low_var_kl", "k3": "low_var_kl",
}

#: Where the low_var_kl clamps sit (verl core_algos.kl_penalty_forward).
LOW_VAR_KL_LOG_CLAMP = 20.0
LOW_VAR_KL_VALUE_CLAMP = 10.0


@dataclass(frozen=True)
class Setting:
    """One framework configuration, as it acts on length-1 outputs.

    Attributes:
        name: label for test ids and messages.
        advantage: how a group's rewards become advantages —
            ``"mean_std"``  (r − mean)/(std_{G−1} + epsilon), 0 for a tied group
                             (TRL scale_rewards="group", verl grpo with norm_adv_by_std_in_grpo);
            ``"mean_std_var_floor"``  (r − mean)/(sqrt(max(var_{G−1}, epsilon)) + epsilon)
                             (verl grpo_vectorized);
            ``"mean"``      r − mean (TRL scale_rewards="none", verl grpo without std,
                             GVPO as launched by its official script);
            ``"leave_one_out"``  r_i − mean of the other G − 1 (verl rloo);
            ``"passk"``     only a unique group maximum gets r_max − r_second (divided by
                             std_{G−1} + epsilon when ``norm``) (verl grpo_passk);
            ``"remax"``     r_i − r(greedy output), the greedy output being argmax π_old
                             (verl remax: the reward of a do_sample=False rollout);
            ``"opo"``       r_i − Σ_j len_j·r_j / Σ_j len_j with every len_j = 1 (verl opo).
        epsilon: the constant of the advantage's denominator.
        norm: for ``"passk"``: divide by the std (verl's norm_adv_by_std_in_grpo).
        loss: ``"trl"`` (−min(ratio·A, clip(ratio)·A) + β·D, mean over the group),
            ``"verl"`` (dual-clip PPO surrogate + kl_loss_coef·D, mean over the group),
            ``"gvpo_official"`` (½Σ((β·l_i − β·l̄) − A_i)²/(G − 1), l = log π_θ − log π_old),
            ``"gvpo_paper"`` (the same with l = log π_θ − log π_ref).
        kl: the KL estimator in the loss — ``None``, ``"trl_k3"``,
            ``"trl_k3_bias_corrected"``, or a canonical verl name
            ``"k1"``, ``"abs"``, ``"k2"``, ``"low_var_kl"``.
        kl_in_reward: verl's algorithm.kl_penalty when algorithm.use_kl_in_reward is on:
            rewards become r(o_i) − β·D(log π_old(o_i)) before the advantage (canonical verl
            name), else ``None``.
        filter_groups: DAPO dynamic sampling (verl recipe): groups whose raw rewards all tie
            are dropped and others drawn instead, so expectations are conditional on the group
            not tying.
        clip: (ε_low, ε_high) of the surrogate; never active at θ = θ_old.
    """

    name: str
    advantage: str
    loss: str
    epsilon: float = 0.0
    norm: bool = True
    kl: str | None = None
    kl_in_reward: str | None = None
    filter_groups: bool = False
    clip: tuple[float, float] = (0.2, 0.2)


# ------------------------------------------------------------------ named settings


def trl(scale_rewards: str = "group", use_bias_correction_kl: bool = False) -> Setting:
    """TRL GRPOTrainer (loss_type any of grpo/bnpo/dr_grpo/dapo, importance_sampling_level
    token, num_iterations 1). β = 0 (TRL's default) drops the KL term and loads no reference
    model; pass beta=0 to the functions below for that. ``scale_rewards="batch"`` divides by
    the std of the whole batch, not of a group: it is not a per-group computation and is not
    transcribed here (docs/frameworks.md states its large-batch limit)."""
    if scale_rewards not in ("group", "none"):
        raise ValueError(f"scale_rewards must be 'group' or 'none' here, got {scale_rewards!r}")
    kl = "trl_k3_bias_corrected" if use_bias_correction_kl else "trl_k3"
    name = f"trl[{scale_rewards}{',bias_corrected_kl' if use_bias_correction_kl else ''}]"
    if scale_rewards == "group":
        return Setting(name, "mean_std", "trl", epsilon=1e-4, kl=kl)
    return Setting(name, "mean", "trl", kl=kl)


def _verl_kl(kl_loss_type: str | None) -> str | None:
    if kl_loss_type is None:
        return None
    if kl_loss_type not in VERL_KL_TYPES:
        raise ValueError(f"kl_loss_type must be one of {sorted(VERL_KL_TYPES)} or None, got {kl_loss_type!r}")
    return VERL_KL_TYPES[kl_loss_type]


def verl_grpo(
    norm_adv_by_std_in_grpo: bool = True,
    epsilon: float = 1e-6,
    kl_loss_type: str | None = "low_var_kl",
    kl_in_reward: str | None = None,
    vectorized: bool = False,
    filter_groups: bool = False,
) -> Setting:
    """verl adv_estimator "grpo" (or "grpo_vectorized") with the vanilla PPO loss.

    ``kl_loss_type`` is actor.kl_loss_type when actor.use_kl_loss is on (``None``: off;
    verl's default is off with type low_var_kl); ``kl_in_reward`` is algorithm.kl_penalty
    when algorithm.use_kl_in_reward is on. The trainer passes no epsilon, so it is 1e-6;
    grpo_vectorized receives no norm_adv_by_std_in_grpo either and always divides by its
    floored std."""
    if vectorized:
        adv = "mean_std_var_floor"
    else:
        adv = "mean_std" if norm_adv_by_std_in_grpo else "mean"
    name = (f"verl[{'grpo_vectorized' if vectorized else 'grpo'},norm={norm_adv_by_std_in_grpo},"
            f"eps={epsilon:g},kl_loss={kl_loss_type},kl_in_reward={kl_in_reward}"
            f"{',filter_groups' if filter_groups else ''}]")
    return Setting(name, adv, "verl", epsilon=epsilon, kl=_verl_kl(kl_loss_type),
                   kl_in_reward=_verl_kl(kl_in_reward), filter_groups=filter_groups)


def verl_rloo(kl_loss_type: str | None = None, kl_in_reward: str | None = None) -> Setting:
    """verl adv_estimator "rloo" (also "rloo_vectorized": the same numbers)."""
    return Setting(f"verl[rloo,kl_loss={kl_loss_type},kl_in_reward={kl_in_reward}]", "leave_one_out",
                   "verl", kl=_verl_kl(kl_loss_type), kl_in_reward=_verl_kl(kl_in_reward))


def verl_grpo_passk(norm_adv_by_std_in_grpo: bool = True, epsilon: float = 1e-6,
                    kl_loss_type: str | None = None) -> Setting:
    """verl adv_estimator "grpo_passk" (reads norm_adv_by_std_in_grpo from the config)."""
    return Setting(f"verl[grpo_passk,norm={norm_adv_by_std_in_grpo},kl_loss={kl_loss_type}]", "passk",
                   "verl", epsilon=epsilon, norm=norm_adv_by_std_in_grpo, kl=_verl_kl(kl_loss_type))


def verl_remax(kl_loss_type: str | None = None) -> Setting:
    """verl adv_estimator "remax": advantage r_i − r(greedy), no std."""
    return Setting(f"verl[remax,kl_loss={kl_loss_type}]", "remax", "verl", kl=_verl_kl(kl_loss_type))


def verl_opo(kl_loss_type: str | None = None) -> Setting:
    """verl adv_estimator "opo" with length-1 responses."""
    return Setting(f"verl[opo,kl_loss={kl_loss_type}]", "opo", "verl", kl=_verl_kl(kl_loss_type))


def gvpo_official() -> Setting:
    """The official GVPO code (jszkc/GVPO) as its launch script configures it: verl's GRPO
    estimator without std (A_i = r_i − mean), the GVPO loss anchored at π_old, no KL loss, no
    KL in reward, hence no reference model. β is actor.gvpo_beta."""
    return Setting("gvpo[official,anchor=pi_old]", "mean", "gvpo_official")


def gvpo_paper() -> Setting:
    """GVPO as the paper writes it: the same loss anchored at π_ref."""
    return Setting("gvpo[paper,anchor=pi_ref]", "mean", "gvpo_paper")


# ------------------------------------------------------------------ advantages


def advantages(setting: Setting, group_rewards: ArrayLike, greedy_reward: float | None = None) -> Array:
    """Per-sample advantages of groups: ``group_rewards`` (..., G) → (..., G).

    Ties (all rewards of a group equal) give 0 for every member in every estimator, because
    the numerator r_i − mean is 0 (decided exactly here; in float32 the frameworks can
    leave a rounding residue of order 1e-7/epsilon).
    """
    r = np.asarray(group_rewards, dtype=np.float64)
    g = r.shape[-1]
    if g < 2:
        raise ValueError("a group needs at least two samples")
    mean = r.mean(axis=-1, keepdims=True)
    dev = r - mean
    tie = np.all(r == r[..., :1], axis=-1, keepdims=True)
    dev = np.where(tie, 0.0, dev)
    if setting.advantage == "remax":
        if greedy_reward is None:
            raise ValueError("remax needs the greedy output's reward")
        return r - greedy_reward  # no tie rule: a tied group still differs from the greedy reward
    if setting.advantage == "opo":
        lengths = np.ones_like(r)
        return r - np.sum(lengths * r, axis=-1, keepdims=True) / np.sum(lengths, axis=-1, keepdims=True)
    if setting.advantage == "mean":
        return dev
    if setting.advantage == "leave_one_out":
        return dev * g / (g - 1)
    var = np.sum(dev * dev, axis=-1, keepdims=True) / (g - 1)  # torch.std: unbiased (G − 1)
    var = np.where(tie, 1.0, var)  # a tied group has A = 0 whatever the denominator
    if setting.advantage == "mean_std":
        return dev / (np.sqrt(var) + setting.epsilon)
    if setting.advantage == "mean_std_var_floor":
        return dev / (np.sqrt(np.maximum(var, setting.epsilon)) + setting.epsilon)
    if setting.advantage == "passk":
        order = np.sort(r, axis=-1)
        gap = order[..., -1:] - order[..., -2:-1]  # 0 when the maximum is shared
        first_max = np.argmax(r, axis=-1)[..., None] == np.arange(g)
        out = np.where(first_max, gap, 0.0)
        if setting.norm:
            out = out / (np.sqrt(var) + setting.epsilon)
        return out
    raise ValueError(f"unknown advantage {setting.advantage!r}")


# ------------------------------------------------------------------ KL estimators


def kl_value(kind: str, logp: ArrayLike, logp_ref: ArrayLike) -> Array:
    """Per-sample KL estimate D(log π, log π_ref) as the framework's loss evaluates it.

    ``"trl_k3_bias_corrected"`` is the k3 value only; the ratio factor is applied by the loss.
    """
    lp = np.asarray(logp, dtype=np.float64)
    lr = np.asarray(logp_ref, dtype=np.float64)
    if kind in ("trl_k3", "trl_k3_bias_corrected", "k3"):
        x = lr - lp
        return np.exp(x) - x - 1.0
    if kind == "k1":
        return lp - lr
    if kind == "abs":
        return np.abs(lp - lr)
    if kind == "k2":
        return 0.5 * (lp - lr) ** 2
    if kind == "low_var_kl":
        y = np.clip(lr - lp, -LOW_VAR_KL_LOG_CLAMP, LOW_VAR_KL_LOG_CLAMP)
        return np.clip(np.exp(y) - y - 1.0, -LOW_VAR_KL_VALUE_CLAMP, LOW_VAR_KL_VALUE_CLAMP)
    raise ValueError(f"unknown KL estimator {kind!r}")


def kl_slope(kind: str, logp: ArrayLike, logp_ref: ArrayLike) -> Array:
    """D′ = dD/d(log π) at θ = θ_old (ratio = 1), the per-sample KL gradient factor."""
    lp = np.asarray(logp, dtype=np.float64)
    lr = np.asarray(logp_ref, dtype=np.float64)
    if kind in ("trl_k3", "k3"):
        return 1.0 - np.exp(lr - lp)
    if kind == "trl_k3_bias_corrected":
        return lp - lr
    if kind == "k1":
        return np.ones_like(lp)
    if kind == "abs":
        return np.sign(lp - lr)
    if kind == "k2":
        return lp - lr
    if kind == "low_var_kl":
        # torch.clamp passes the gradient where its input lies inside [min, max] (inclusive)
        x = lr - lp
        y = np.clip(x, -LOW_VAR_KL_LOG_CLAMP, LOW_VAR_KL_LOG_CLAMP)
        k3 = np.exp(y) - y - 1.0
        free = (np.abs(x) <= LOW_VAR_KL_LOG_CLAMP) & (np.abs(k3) <= LOW_VAR_KL_VALUE_CLAMP)
        return np.where(free, 1.0 - np.exp(y), 0.0)
    raise ValueError(f"unknown KL estimator {kind!r}")


# ------------------------------------------------------------------ losses


def _log_softmax(theta: ArrayLike) -> Array:
    t = np.asarray(theta, dtype=np.float64)
    m = t.max(axis=-1, keepdims=True)
    return t - m - np.log(np.sum(np.exp(t - m), axis=-1, keepdims=True))


def _group_rewards(setting: Setting, arms: NDArray[np.intp], rewards: Array, logp_old: Array,
                   logp_ref: Array, beta: float) -> Array:
    """Rewards as the advantage sees them: r(o_i), minus β·D(log π_old) with KL in reward."""
    r = rewards[arms]
    if setting.kl_in_reward is not None:
        r = r - beta * kl_value(setting.kl_in_reward, logp_old[arms], logp_ref[arms])
    return r


def per_sample_losses(setting: Setting, theta: ArrayLike, theta_old: ArrayLike, arms: ArrayLike,
                      rewards: ArrayLike, pi_ref: ArrayLike, beta: float) -> Array:
    """ℓ_i(θ) for one group (``arms`` (G,) output indices; ``rewards`` r(o) of shape (K,)).

    π_old = softmax(θ_old) and π_ref are constants. For GVPO the group mean l̄ is a function
    of θ here (the official code detaches it; the gradient is the same because the residuals
    (β·l_i − β·l̄) − A_i sum to zero over the group).
    """
    a = np.asarray(arms, dtype=np.intp)
    r = np.asarray(rewards, dtype=np.float64)
    lp = _log_softmax(theta)
    lp_old = _log_softmax(theta_old)
    with np.errstate(divide="ignore"):
        lp_ref = np.log(np.asarray(pi_ref, dtype=np.float64))
    adv = advantages(setting, _group_rewards(setting, a, r, lp_old, lp_ref, beta), r[np.argmax(lp_old)])
    g = a.size
    if setting.loss in ("gvpo_official", "gvpo_paper"):
        anchor = lp_old if setting.loss == "gvpo_official" else lp_ref
        implicit = beta * (lp[a] - anchor[a])
        return 0.5 * ((implicit - implicit.mean()) - adv) ** 2 / (g - 1)
    ratio = np.exp(lp[a] - lp_old[a])
    clipped = np.clip(ratio, 1.0 - setting.clip[0], 1.0 + setting.clip[1])
    if setting.loss == "trl":
        pg = -np.minimum(ratio * adv, clipped * adv)
    elif setting.loss == "verl":
        pg1 = np.maximum(-adv * ratio, -adv * clipped)
        pg = np.where(adv < 0, np.minimum(-adv * 3.0, pg1), pg1)  # dual clip, clip_ratio_c = 3
    else:
        raise ValueError(f"unknown loss {setting.loss!r}")
    if setting.kl is None or beta == 0.0:
        return pg
    d = kl_value(setting.kl, lp[a], lp_ref[a])
    if setting.kl == "trl_k3_bias_corrected":
        d = d * ratio
    return pg + beta * d


def group_loss(setting: Setting, theta: ArrayLike, theta_old: ArrayLike, arms: ArrayLike,
               rewards: ArrayLike, pi_ref: ArrayLike, beta: float) -> float:
    """L(θ): the mean of ℓ_i over the group (TRL, verl), or their sum (GVPO, whose 1/(G − 1)
    is inside ℓ_i)."""
    losses = per_sample_losses(setting, theta, theta_old, arms, rewards, pi_ref, beta)
    if setting.loss in ("gvpo_official", "gvpo_paper"):
        return float(np.sum(losses))
    return float(np.mean(losses))


def _gradient_coefficients(setting: Setting, pi: Array, arms: NDArray[np.intp], rewards: Array,
                           pi_ref: Array, beta: float) -> Array:
    """c_i with ∇_θ L = Σ_i c_i·(e_{o_i} − π) at θ = θ_old, for groups ``arms`` (n, G)."""
    g = arms.shape[-1]
    with np.errstate(divide="ignore"):
        lp = np.log(pi)
        lp_ref = np.log(pi_ref)
    adv = advantages(setting, _group_rewards(setting, arms, rewards, lp, lp_ref, beta),
                     rewards[np.argmax(pi)])
    if setting.loss == "gvpo_official":
        return -beta * adv / (g - 1)  # the implicit reward β·(log π_θ − log π_old) is 0 here
    if setting.loss == "gvpo_paper":
        l = lp[arms] - lp_ref[arms]
        w = adv - beta * (l - l.mean(axis=-1, keepdims=True))
        return -beta * w / (g - 1)
    c = -adv
    if setting.kl is not None and beta != 0.0:
        c = c + beta * kl_slope(setting.kl, lp[arms], lp_ref[arms])
    return c / g


def _check_inputs(pi: ArrayLike, pi_ref: ArrayLike, rewards: ArrayLike) -> tuple[Array, Array, Array]:
    p = np.asarray(pi, dtype=np.float64)
    ref = np.asarray(pi_ref, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    if not (p.ndim == ref.ndim == r.ndim == 1 and p.size == ref.size == r.size):
        raise ValueError("pi, pi_ref and rewards must be vectors of the same length K")
    if np.any(p <= 0) or abs(p.sum() - 1.0) > 1e-12:
        raise ValueError("pi must be a positive distribution (the logits are log π)")
    return p, ref, r


def group_gradient(setting: Setting, pi: ArrayLike, arms: ArrayLike, rewards: ArrayLike,
                   pi_ref: ArrayLike, beta: float) -> Array:
    """∇_θ L at θ = θ_old = log π for one group (``arms`` (G,)) or many (``arms`` (n, G)).

    Closed form (module docstring): L = (1/G)·Σ_i [−A_i·ratio_i + β·D_i] gives
    (1/G)·Σ_i (−A_i + β·D′_i)·(e_{o_i} − π); GVPO's ½Σ_i(res_i)²/(G − 1) with
    res_i = β(l_i − l̄) − A_i gives Σ_i res_i·β·(e_{o_i} − π)/(G − 1), and res_i = −w_i with
    GVPO's weight w_i = A_i − β(l_i − l̄) (l = 0 at θ_old for the official anchor π_old).
    """
    p, ref, r = _check_inputs(pi, np.asarray(pi_ref), rewards)
    a = np.asarray(arms, dtype=np.intp)
    single = a.ndim == 1
    a2 = np.atleast_2d(a)
    c = _gradient_coefficients(setting, p, a2, r, ref, beta)
    onehot = (a2[..., None] == np.arange(p.size)).astype(np.float64)
    grad = np.einsum("ng,ngk->nk", c, onehot) - c.sum(axis=-1, keepdims=True) * p
    return grad[0] if single else grad


def all_groups(n_outputs: int, group_size: int) -> NDArray[np.intp]:
    """Every ordered group (o_1..o_G) as rows of a (K^G, G) array."""
    return np.array(list(itertools.product(range(n_outputs), repeat=group_size)), dtype=np.intp)


def expected_gradient(setting: Setting, pi: ArrayLike, pi_ref: ArrayLike, rewards: ArrayLike,
                      beta: float, G: int) -> Array:
    """E[∇_θ L] at θ = θ_old = log π over groups of G iid samples from π, by enumerating all
    K^G ordered groups with weights Π_i π(o_i). With ``filter_groups`` the expectation is
    conditional on the group's raw rewards not all tying (DAPO dynamic sampling)."""
    p, ref, r = _check_inputs(pi, pi_ref, rewards)
    if p.size**G > 200_000:
        raise ValueError("K^G is too large to enumerate")
    groups = all_groups(p.size, G)
    weight = np.prod(p[groups], axis=1)
    grads = group_gradient(setting, p, groups, r, ref, beta)
    if setting.filter_groups:
        kept = ~np.all(r[groups] == r[groups][:, :1], axis=1)
        mass = weight[kept].sum()
        if mass == 0.0:
            raise ValueError("every group ties: dynamic sampling would never fill a batch")
        return weight[kept] @ grads[kept] / mass
    return weight @ grads


def random_problem(k: int, seed: int) -> tuple[Array, Array]:
    """π and π_ref with every mass at least ~0.05 (low_var_kl's clamp stays off: ratio < 13.6)."""
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.full(k, 3.0)) * 0.8 + 0.2 / k
    ref = rng.dirichlet(np.full(k, 3.0)) * 0.8 + 0.2 / k
    return pi / pi.sum(), ref / ref.sum()


def kl_gradient(kind: str, pi: ArrayLike, pi_ref: ArrayLike) -> Array:
    """E_{o~π}[D′(o)·(e_o − π)]: the expected θ-gradient of the KL term alone (β = 1),
    at θ = θ_old, for one sample (the group mean of G samples has the same expectation)."""
    p = np.asarray(pi, dtype=np.float64)
    with np.errstate(divide="ignore"):
        slope = kl_slope(kind, np.log(p), np.log(np.asarray(pi_ref, dtype=np.float64)))
    ps = p * slope
    return ps - ps.sum() * p
