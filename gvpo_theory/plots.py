"""Figure functions: data in, a matplotlib :class:`~matplotlib.figure.Figure` out.

Every function here is pure: it takes arrays computed elsewhere (by the engine, in
``analyses/``) and returns a new Figure built without pyplot, so nothing touches
global state and nothing is written to disk (saving happens in one place,
``analyses/common.py``). Colours come from one palette, :data:`PALETTE`, so a method
has the same colour in every figure:

* ``kl_optimal`` — π* ∝ π_ref·exp(r/β): logarithmic pooling, the RLHF and GVPO optimum
  (black, dashed);
* ``pi_ref`` — the reference policy (grey, dotted);
* ``grpo_G2`` … ``grpo_Ginf`` — GRPO's stationary point for group size G (one
  sequential ramp, dark for small G, light for G = ∞);
* ``std_population`` / ``std_sample`` / ``std_none`` — the group-std conventions
  (paper's eq. (2) / ``torch.std`` as in TRL and verl / Dr. GRPO);
* ``sampler_<name>`` — sampling distributions in training runs.

Probabilities are dimensionless; β is in reward units per nat of KL (rewards are
0/1 in the binary figures), which the axis labels say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

#: One colour per method, shared by every figure (colour-blind-safe where it matters).
PALETTE: dict[str, str] = {
    "kl_optimal": "#000000",
    "pi_ref": "#8c8c8c",
    "grpo": "#cc4778",
    "grpo_G2": "#0d0887",
    "grpo_G3": "#5e01a6",
    "grpo_G4": "#9e199d",
    "grpo_G8": "#cc4778",
    "grpo_G16": "#e8684f",
    "grpo_Ginf": "#e3b100",
    "std_population": "#0072b2",
    "std_sample": "#cc79a7",
    "std_none": "#d55e00",
    "sampler_on_policy": "#0072b2",
    "sampler_reference": "#009e73",
    "sampler_uniform": "#e69f00",
    "sampler_off_policy": "#cc79a7",
    "sampler_replay": "#56b4e9",
    "reference_slope": "#8c8c8c",
    "case_1": "#0072b2",
    "case_2": "#d55e00",
    "case_3": "#009e73",
    "case_4": "#cc79a7",
}

#: Colours for keys the palette does not name (e.g. a sampler added later), in order.
_EXTRA_COLOURS: tuple[str, ...] = ("#332288", "#117733", "#882255", "#44aa99", "#999933", "#aa4499")

#: Line style per method family.
LINESTYLE: dict[str, str] = {
    "kl_optimal": "--",
    "pi_ref": ":",
    "reverse_kl": "-",
    "direct_kl": "--",
}

#: Axis labels, spelled once.
BETA_LABEL = "β, KL coefficient (reward units per nat)"
PROB_LABEL = "π(a): stationary probability of the better answer"
#: π_ref, π_G and π_∞ in mathtext (raw "π_ref" would print its underscore).
REF = r"$\pi_{\mathrm{ref}}$"
PI_G = r"$\pi_G$"
PI_INF = r"$\pi_\infty$"
PREF_LABEL = f"{REF}(a): reference probability of the better answer"

PNG_DPI = 150


def group_label(group_size: float) -> str:
    """``G = 8`` or ``G = ∞``."""
    return "G = ∞" if math.isinf(group_size) else f"G = {int(group_size)}"


def grpo_color(group_size: float) -> str:
    """The palette colour of GRPO with group size G (``grpo`` for sizes the ramp skips)."""
    key = "grpo_Ginf" if math.isinf(group_size) else f"grpo_G{int(group_size)}"
    return PALETTE.get(key, PALETTE["grpo"])


def color(key: str, index: int = 0) -> str:
    """The palette colour for ``key``; unnamed keys get a fixed extra colour by ``index``."""
    return PALETTE.get(key, _EXTRA_COLOURS[index % len(_EXTRA_COLOURS)])


def _new_figure(width: float, height: float) -> Figure:
    # Figure() rather than pyplot: no global figure registry, nothing to close.
    return Figure(figsize=(width, height), dpi=PNG_DPI, layout="constrained")


def _finish(ax: Axes) -> None:
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=9)


def _as2d(x: ArrayLike, shape: tuple[int, ...], name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    return arr


def binary_vs_beta_figure(
    beta: ArrayLike,
    p_ref: Sequence[float],
    group_sizes: Sequence[float],
    grpo: ArrayLike,
    pooling: ArrayLike,
) -> Figure:
    """Binary question: stationary π(a) against β, one panel per π_ref(a).

    Args:
        beta: the β grid (n_beta,), plotted on a log axis.
        p_ref: reference probabilities of the better answer, one panel each.
        group_sizes: the GRPO group sizes G (``math.inf`` allowed), one curve each.
        grpo: GRPO stationary π(a), shape (n_G, n_pref, n_beta); NaN where unsolved.
        pooling: logarithmic pooling π*(a) = π_ref(a)e^{1/β}/Z, shape (n_pref, n_beta).
    """
    beta = np.asarray(beta, dtype=float)
    grpo = _as2d(grpo, (len(group_sizes), len(p_ref), beta.size), "grpo")
    pooling = _as2d(pooling, (len(p_ref), beta.size), "pooling")
    fig = _new_figure(3.6 * len(p_ref), 3.9)
    axes = fig.subplots(1, len(p_ref), sharey=True, squeeze=False)[0]
    for j, (ax, pr) in enumerate(zip(axes, p_ref)):
        for i, g in enumerate(group_sizes):
            ax.plot(beta, grpo[i, j], color=grpo_color(g), lw=1.6, label=f"GRPO, {group_label(g)}")
        ax.plot(beta, pooling[j], color=PALETTE["kl_optimal"], ls=LINESTYLE["kl_optimal"], lw=1.6,
                label="π* (log. pooling; RLHF, GVPO)")
        ax.axhline(pr, color=PALETTE["pi_ref"], ls=LINESTYLE["pi_ref"], lw=1.2, label=f"{REF}(a)")
        ax.set_xscale("log")
        ax.set_ylim(0.0, 1.02)
        ax.set_title(f"{REF}(a) = {pr:g}", fontsize=10)
        ax.set_xlabel(BETA_LABEL, fontsize=9)
        _finish(ax)
    axes[0].set_ylabel(PROB_LABEL, fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()  # one legend for every panel
    fig.legend(handles, labels, loc="outside lower center", ncol=(len(labels) + 1) // 2, fontsize=8)
    fig.suptitle("Binary question, reverse-KL penalty, population std: GRPO vs logarithmic pooling",
                 fontsize=11)
    return fig


def binary_vs_reference_figure(
    p_ref: ArrayLike,
    betas: Sequence[float],
    group_sizes: Sequence[float],
    grpo: ArrayLike,
    pooling: ArrayLike,
) -> Figure:
    """Binary question at fixed β: stationary π(a) against π_ref(a), and GRPO − pooling.

    Args:
        p_ref: the π_ref(a) grid (n_pref,).
        betas: one column of panels per β.
        group_sizes: GRPO group sizes, one curve each.
        grpo: GRPO stationary π(a), shape (n_G, n_beta, n_pref).
        pooling: π*(a), shape (n_beta, n_pref).
    """
    p_ref = np.asarray(p_ref, dtype=float)
    grpo = _as2d(grpo, (len(group_sizes), len(betas), p_ref.size), "grpo")
    pooling = _as2d(pooling, (len(betas), p_ref.size), "pooling")
    fig = _new_figure(3.6 * len(betas), 6.4)
    axes = fig.subplots(2, len(betas), sharex=True, sharey="row", squeeze=False, height_ratios=[3, 2])
    for j, b in enumerate(betas):
        top, bottom = axes[0, j], axes[1, j]
        top.plot(p_ref, p_ref, color=PALETTE["pi_ref"], ls=LINESTYLE["pi_ref"], lw=1.2,
                 label=f"π(a) = {REF}(a)")
        for i, g in enumerate(group_sizes):
            top.plot(p_ref, grpo[i, j], color=grpo_color(g), lw=1.6, label=f"GRPO, {group_label(g)}")
            bottom.plot(p_ref, grpo[i, j] - pooling[j], color=grpo_color(g), lw=1.6)
        top.plot(p_ref, pooling[j], color=PALETTE["kl_optimal"], ls=LINESTYLE["kl_optimal"], lw=1.6,
                 label="π* (log. pooling)")
        bottom.axhline(0.0, color=PALETTE["pi_ref"], ls="-", lw=0.8)  # solid: not the dashed π* line
        top.set_title(f"β = {b:g}", fontsize=10)
        top.set_ylim(0.0, 1.02)
        bottom.set_xlabel(PREF_LABEL, fontsize=9)
        for ax in (top, bottom):
            ax.set_xlim(0.0, 1.0)
            _finish(ax)
    axes[0, 0].set_ylabel(PROB_LABEL, fontsize=9)
    axes[1, 0].set_ylabel("GRPO − pooling: π(a) − π*(a)", fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("Binary question at fixed β (reverse KL, population std): where GRPO departs "
                 "from logarithmic pooling", fontsize=11)
    return fig


def variants_figure(
    beta: ArrayLike,
    group_sizes: Sequence[float],
    variants: Sequence[tuple[str, str]],
    curves: ArrayLike,
    pooling: ArrayLike,
    p_ref: float,
) -> Figure:
    """GRPO variants (penalty × std convention): stationary π(a) against β, a panel per G.

    Colour encodes the std convention (``std_<name>``), line style the penalty
    (solid reverse KL, dashed direct KL). Points where the solver found no interior
    stationary point are NaN and left out.

    Args:
        beta: the β grid (n_beta,).
        group_sizes: one panel per G.
        variants: (std, penalty) pairs, one curve each.
        curves: stationary π(a), shape (n_G, n_variants, n_beta), NaN where unsolved.
        pooling: π*(a) on the β grid (n_beta,).
        p_ref: π_ref(a), for the title and a reference line.
    """
    beta = np.asarray(beta, dtype=float)
    curves = _as2d(curves, (len(group_sizes), len(variants), beta.size), "curves")
    pooling = _as2d(pooling, (beta.size,), "pooling")
    fig = _new_figure(3.7 * len(group_sizes), 4.6)
    axes = fig.subplots(1, len(group_sizes), sharey=True, squeeze=False)[0]
    for i, (ax, g) in enumerate(zip(axes, group_sizes)):
        for k, (std, penalty) in enumerate(variants):
            # population drawn widest: at G = ∞ it coincides with sample std and stays visible
            ax.plot(beta, curves[i, k], color=PALETTE[f"std_{std}"], ls=LINESTYLE[penalty],
                    lw=2.6 if std == "population" else 1.5,
                    label=f"{penalty.replace('_', '-').replace('kl', 'KL')}, std: {std}")
        # π* as sparse markers, not a line: where a variant coincides with it (direct KL with
        # population std at G = 2) both stay visible
        ax.plot(beta, pooling, color=PALETTE["kl_optimal"], ls="none", marker="o", ms=2.6,
                markevery=max(1, beta.size // 30), zorder=5, label="π* (log. pooling)")
        ax.axhline(p_ref, color=PALETTE["pi_ref"], ls=LINESTYLE["pi_ref"], lw=1.0)
        ax.set_xscale("log")
        ax.set_ylim(0.0, 1.02)
        ax.set_title(group_label(g), fontsize=10)
        ax.set_xlabel(BETA_LABEL, fontsize=9)
        _finish(ax)
    axes[0].set_ylabel(PROB_LABEL, fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle(f"GRPO variants, binary question, {REF}(a) = {p_ref:g} (grey dotted); "
                 "only points with an interior stationary point shown", fontsize=10.5)
    return fig


def group_size_figure(
    group_sizes: ArrayLike,
    gaps: Mapping[str, ArrayLike],
    corrections: Mapping[str, float] | None = None,
) -> Figure:
    """Convergence in the group size: |p_G − p_∞| against G (log–log), and G·|p_G − p_∞|.

    Left: the gaps with a 1/G reference slope. Right: G·|p_G − p_∞|, which levels off
    at |c| when p_G = p_∞ + c/G + O(1/G²).

    Args:
        group_sizes: finite G values (n,).
        gaps: label → |p_G − p_∞| for each G (n,), one curve per problem.
        corrections: label → c, the derived first-order coefficient; drawn dashed as
            |c|/G (left) and |c| (right) when given. Without it only the reference
            slope is drawn.
    """
    g = np.asarray(group_sizes, dtype=float)
    fig = _new_figure(10.5, 4.4)
    left, right = fig.subplots(1, 2)
    for k, (label, gap) in enumerate(gaps.items()):
        gap = _as2d(gap, g.shape, f"gaps[{label!r}]")
        col = color(f"case_{k + 1}", k)
        left.plot(g, gap, color=col, marker="o", ms=3.0, lw=1.4, label=label)
        right.plot(g, g * gap, color=col, marker="o", ms=3.0, lw=1.4, label=label)
        if corrections is not None and label in corrections:
            c = abs(corrections[label])
            left.plot(g, c / g, color=col, ls="--", lw=1.0)
            right.axhline(c, color=col, ls="--", lw=1.0)
    # the reference line runs through 1.6× the largest gap at the largest G, above the curves' tails
    tail = max(float(np.asarray(gap, dtype=float)[-1]) for gap in gaps.values())
    left.plot(g, 1.6 * tail * g[-1] / g, color=PALETTE["reference_slope"], ls=":", lw=1.8,
              label="reference slope 1/G")
    if corrections:
        left.plot([], [], color=PALETTE["reference_slope"], ls="--", lw=1.0,
                  label="derived first order |c|/G")
        right.plot([], [], color=PALETTE["reference_slope"], ls="--", lw=1.0, label="derived |c|")
    left.set_yscale("log")
    left.set_ylabel(f"|{PI_G}(a) − {PI_INF}(a)| (probability)", fontsize=9)
    left.set_title("gap to the large-group limit", fontsize=10)
    right.set_ylabel(f"G·|{PI_G}(a) − {PI_INF}(a)| (probability × samples)", fontsize=9)
    right.set_title("scaled gap: levels off at |c| if the gap is c/G", fontsize=10)
    right.set_ylim(bottom=0.0)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("group size G (samples per group)", fontsize=9)
        _finish(ax)
    left.legend(fontsize=7.5, loc="lower left")
    right.legend(fontsize=7.5, loc="upper right")
    fig.suptitle("GRPO stationary point, binary question (reverse KL, population std): convergence in G",
                 fontsize=10.5)
    return fig


def training_figure(
    gvpo_steps: ArrayLike,
    gvpo_kl: Mapping[str, ArrayLike],
    grpo_steps: ArrayLike,
    grpo_to_stationary: ArrayLike,
    grpo_to_optimum: ArrayLike,
    *,
    title: str = "",
) -> Figure:
    """Sampled training on a tabular bandit: GVPO reaches π*, GRPO its own stationary point.

    Every KL may be one run (n,) or several seeds (S, n): then the median is drawn with the
    band from the smallest to the largest seed.

    Args:
        gvpo_steps: step numbers of the GVPO logs (n,).
        gvpo_kl: sampler name → KL(π* ‖ π_θ) at each logged step, (n,) or (S, n).
        grpo_steps: step numbers of the GRPO log (m,).
        grpo_to_stationary: KL(π_GRPO ‖ π_θ) for GRPO's run, (m,) or (S, m).
        grpo_to_optimum: KL(π* ‖ π_θ) for GRPO's run, (m,) or (S, m).
        title: figure title (e.g. the problem size and seeds).
    """
    floor = 1e-17  # zeros (exact convergence) drawn at the bottom of a log axis

    def curve(ax: Axes, x: NDArray[np.float64], y: ArrayLike, name: str, **kw: Any) -> None:
        y = np.asarray(y, dtype=float)
        if y.shape[-1:] != x.shape or y.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape {x.shape} or (seeds, {x.size}); got {y.shape}")
        y = np.maximum(np.atleast_2d(y), floor)
        ax.plot(x, np.median(y, axis=0), **kw)
        if y.shape[0] > 1:
            ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=kw["color"], alpha=0.18, lw=0)

    fig = _new_figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    steps = np.asarray(gvpo_steps, dtype=float)
    for k, (name, kl) in enumerate(gvpo_kl.items()):
        curve(left, steps, kl, f"gvpo_kl[{name!r}]", color=color(f"sampler_{name}", k), lw=1.5,
              label=f"GVPO, samples from {name.replace('_', '-')}")
    left.set_yscale("log")
    left.axhline(floor, color=PALETTE["pi_ref"], lw=0.6)
    left.annotate(f"exactly 0 (drawn at {floor:.0e})", (0.98, floor), xycoords=("axes fraction", "data"),
                  xytext=(0, 3), textcoords="offset points", ha="right", va="bottom", fontsize=7,
                  color=PALETTE["pi_ref"])
    left.set_xlabel("training step", fontsize=9)
    left.set_ylabel("KL(π* ‖ π_θ) (nats, mean over problems)", fontsize=9)
    left.set_title("GVPO reaches π* from any sampling distribution", fontsize=10)
    left.legend(fontsize=7.5)
    gsteps = np.asarray(grpo_steps, dtype=float)
    curve(right, gsteps, grpo_to_stationary, "grpo_to_stationary", color=PALETTE["grpo"], lw=1.6,
          label="GRPO: KL(π_GRPO ‖ π_θ), own stationary point")
    curve(right, gsteps, grpo_to_optimum, "grpo_to_optimum", color=PALETTE["kl_optimal"],
          ls=LINESTYLE["kl_optimal"], lw=1.6, label="GRPO: KL(π* ‖ π_θ), the KL optimum")
    right.set_yscale("log")
    right.set_xlabel("training step", fontsize=9)
    right.set_ylabel("KL divergence (nats, mean over problems)", fontsize=9)
    right.set_title("GRPO converges to its stationary point, not to π*", fontsize=10)
    right.legend(fontsize=7.5)
    for ax in (left, right):
        _finish(ax)
    if title:
        fig.suptitle(title, fontsize=10.5)
    return fig


def multi_output_figure(
    rewards: ArrayLike,
    policies: Mapping[str, ArrayLike],
    colors: Mapping[str, str],
    *,
    title: str = "",
) -> Figure:
    """Grouped bars: probability of each output under several policies.

    Args:
        rewards: r(o) for the K outputs, printed under each bar group.
        policies: label → policy (K,), one bar per output each, in the given order.
        colors: label → palette colour (use :data:`PALETTE` entries).
        title: figure title.
    """
    r = np.asarray(rewards, dtype=float)
    n = len(policies)
    width = 0.8 / n
    x = np.arange(r.size)
    fig = _new_figure(max(6.0, 1.2 * r.size + 2.0), 4.2)
    ax = fig.subplots()
    for k, (label, pi) in enumerate(policies.items()):
        pi = _as2d(pi, r.shape, f"policies[{label!r}]")
        ax.bar(x + (k - (n - 1) / 2) * width, pi, width=width * 0.95, color=colors[label], label=label,
               edgecolor="white", linewidth=0.4)
    ax.set_xticks(x, [f"o{i + 1}\nr = {v:g}" for i, v in enumerate(r)])
    ax.set_xlabel("output o and its reward r(o)", fontsize=9)
    ax.set_ylabel("probability π(o)", fontsize=9)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10.5)
    _finish(ax)
    ax.grid(False, axis="x")
    return fig


def margin_figure(
    beta_over_margin: ArrayLike,
    group_sizes: Sequence[float],
    cases: Sequence[str],
    curves: ArrayLike,
    p_ref: float,
) -> Figure:
    """Stochastic (Bernoulli) rewards: stationary π(a) against β/γ, a column of panels per G.

    γ = P(a ≻ b) − P(b ≻ a) is the confidence margin (Vojnovic & Yun, §2.3.1). At G = 2
    the stationary point depends on β and γ only through β/γ, so the curves coincide.
    The bottom row shows each case minus the first case (the reference curve).

    Args:
        beta_over_margin: the β/γ grid (n,).
        group_sizes: one column per G.
        cases: a label per reward pair (e.g. ``"s = (0.8, 0.3), γ = 0.5"``); the first is
            the reference of the difference row.
        curves: stationary π(a), shape (n_G, n_cases, n); NaN where unsolved.
        p_ref: π_ref(a).
    """
    x = np.asarray(beta_over_margin, dtype=float)
    curves = _as2d(curves, (len(group_sizes), len(cases), x.size), "curves")
    fig = _new_figure(3.7 * len(group_sizes), 6.4)
    axes = fig.subplots(2, len(group_sizes), sharex=True, squeeze=False, height_ratios=[3, 2])
    styles = ("-", "--", "-.", ":")
    for j, (g, panel) in enumerate(zip(group_sizes, curves)):
        top, bottom = axes[0, j], axes[1, j]
        for k, (label, y) in enumerate(zip(cases, panel)):
            kw = {"color": color(f"case_{k + 1}", k), "ls": styles[k % len(styles)], "lw": 2.0 - 0.25 * k}
            top.plot(x, y, label=label, **kw)
            bottom.plot(x, y - panel[0], **kw)
        top.axhline(p_ref, color=PALETTE["pi_ref"], ls=LINESTYLE["pi_ref"], lw=1.0)
        top.set_ylim(0.0, 1.02)
        top.set_title(f"GRPO, {group_label(g)}", fontsize=10)
        bottom.set_xlabel("β / γ (KL coefficient over confidence margin)", fontsize=9)
        for ax in (top, bottom):
            ax.set_xscale("log")
            _finish(ax)
    axes[0, 0].set_ylabel(PROB_LABEL, fontsize=9)
    axes[1, 0].set_ylabel(f"difference from the curve\n{cases[0]} (probability)", fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(cases), fontsize=8,
               title=r"success probabilities ($s_a$, $s_b$) and margin γ = $s_a - s_b$", title_fontsize=8)
    fig.suptitle(f"Noisy (Bernoulli) rewards, {REF}(a) = {p_ref:g}, reverse KL, population std: "
                 "the curves collapse onto one against β/γ only at G = 2", fontsize=10.5)
    return fig


def paper_figure(
    p_ref: ArrayLike,
    ratios: Sequence[float],
    g2: ArrayLike,
    betas: Sequence[float],
    ginf: ArrayLike,
    direct_g2: ArrayLike,
) -> Figure:
    """Vojnovic & Yun's binary-question figures side by side: stationary π(a) against π_ref(a).

    Left (their Fig. 1): G = 2, reverse KL, one curve per β/γ, with the lower bound 1 − β/γ
    (dashed) — eq. (14) depends on β and γ only through β/γ. Middle (Fig. 2): G = ∞,
    deterministic rewards, one curve per β, with the bound 1/(1 + β²) — eq. (15). Right
    (Fig. 3): G = 2 with the direct KL, one curve per β/γ: logarithmic pooling,
    logit π(a) = logit π_ref(a) + γ/β, which follows π_ref(a) → 0 where GRPO does not.

    Args:
        p_ref: the π_ref(a) grid (n,).
        ratios: β/γ values of the left and right panels.
        g2: G = 2 reverse-KL π(a), shape (len(ratios), n).
        betas: β values of the middle panel (γ = 1).
        ginf: G = ∞ π(a), shape (len(betas), n).
        direct_g2: G = 2 direct-KL π(a), shape (len(ratios), n).
    """
    p = np.asarray(p_ref, dtype=float)
    g2 = _as2d(g2, (len(ratios), p.size), "g2")
    ginf = _as2d(ginf, (len(betas), p.size), "ginf")
    direct_g2 = _as2d(direct_g2, (len(ratios), p.size), "direct_g2")
    fig = _new_figure(11.5, 4.3)
    axes = fig.subplots(1, 3, sharey=True)
    panels = (
        (axes[0], ratios, g2, "β/γ", lambda s: 1.0 - s,
         "V&Y Fig. 1: G = 2, reverse KL (eq. (14))", "1 − β/γ"),
        (axes[1], betas, ginf, "β", lambda b: 1.0 / (1.0 + b * b),
         "V&Y Fig. 2: G = ∞, reverse KL (eq. (15))", "1/(1 + β²)"),
        (axes[2], ratios, direct_g2, "β/γ", None, "V&Y Fig. 3: G = 2, direct KL (pooling)", ""),
    )
    for ax, values, curves, name, bound, title, bound_label in panels:
        for k, (v, y) in enumerate(zip(values, curves)):
            c = color(f"case_{k + 1}", k)
            ax.plot(p, y, color=c, lw=1.8, label=f"{name} = {v:g}")
            if bound is not None and bound(v) > 0:
                ax.axhline(bound(v), color=c, ls="--", lw=0.9, alpha=0.8)
        ax.plot(p, p, color=PALETTE["pi_ref"], ls=LINESTYLE["pi_ref"], lw=1.2, label=f"π(a) = {REF}(a)")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(PREF_LABEL, fontsize=9)
        if bound_label:
            ax.text(0.98, 0.03, f"dashed: lower bound {bound_label}", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=8)
        ax.legend(fontsize=8, loc="center right")
        _finish(ax)
    axes[0].set_ylabel(PROB_LABEL, fontsize=9)
    fig.suptitle("Binary question, population std: the paper's three figures regenerated "
                 "(parameters chosen here)", fontsize=11)
    return fig
