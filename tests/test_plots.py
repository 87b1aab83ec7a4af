"""Figure functions: the plotted data is the data given, colours come from the one palette."""

from __future__ import annotations

import math

import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.figure import Figure

from gvpo_theory import grpo_stationary_policy, kl_optimal_policy, plots


def stationary_p(p_ref: float, beta: float, group_size: float, **kw: str) -> float:
    """π(a) from one scalar engine call (independent of any batching in the analyses)."""
    res = grpo_stationary_policy([p_ref, 1.0 - p_ref], [1.0, 0.0], beta, group_size, **kw)
    assert bool(res.converged)
    return float(res.policy[0])


def pooled_p(p_ref: float, beta: float) -> float:
    return float(kl_optimal_policy([p_ref, 1.0 - p_ref], [1.0, 0.0], beta)[0])


def lines_by_label(fig: Figure) -> dict[str, list]:
    out: dict[str, list] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            out.setdefault(line.get_label(), []).append(line)
    return out


def same_color(a: object, b: str) -> bool:
    return mcolors.to_hex(a) == mcolors.to_hex(b)


def test_binary_vs_beta_plots_engine_values_with_palette_colours() -> None:
    beta = np.array([0.5, 1.0, 2.0])
    p_refs = [0.3, 0.6]
    gs = [2, 8, math.inf]
    grpo = np.array([[[stationary_p(p, b, g) for b in beta] for p in p_refs] for g in gs])
    pool = np.array([[pooled_p(p, b) for b in beta] for p in p_refs])
    fig = plots.binary_vs_beta_figure(beta, p_refs, gs, grpo, pool)
    lines = lines_by_label(fig)
    assert len(fig.axes) == 2
    for g, row in zip(gs, grpo):
        drawn = lines[f"GRPO, {plots.group_label(g)}"]
        assert [same_color(line.get_color(), plots.grpo_color(g)) for line in drawn] == [True, True]
        for line, expected in zip(drawn, row):
            np.testing.assert_array_equal(line.get_xdata(), beta)
            np.testing.assert_allclose(line.get_ydata(), expected, rtol=0, atol=1e-14)
    # docs/theory.md §4 reference value: p_ref = 0.3, β = 1, G = 2 → sqrt(0.3).
    g2 = lines["GRPO, G = 2"][0].get_ydata()
    assert g2[1] == pytest.approx(math.sqrt(0.3), abs=1e-12)
    pool_lines = lines["π* (log. pooling; RLHF, GVPO)"]
    assert all(same_color(line.get_color(), plots.PALETTE["kl_optimal"]) for line in pool_lines)
    assert pool_lines[0].get_ydata()[1] == pytest.approx(0.538101526224449, abs=1e-12)


def test_reference_figure_difference_row_is_grpo_minus_pooling() -> None:
    p_ref = np.linspace(0.1, 0.9, 5)
    betas = [1.0]
    gs = [2, math.inf]
    grpo = np.array([[[stationary_p(p, 1.0, g) for p in p_ref]] for g in gs])
    pool = np.array([[pooled_p(p, 1.0) for p in p_ref]])
    fig = plots.binary_vs_reference_figure(p_ref, betas, gs, grpo, pool)
    bottom = fig.axes[1]
    diffs = [line for line in bottom.get_lines() if len(line.get_xdata()) == p_ref.size]
    assert len(diffs) == 2
    for line, g, curve in zip(diffs, gs, grpo[:, 0]):
        assert same_color(line.get_color(), plots.grpo_color(g))
        np.testing.assert_allclose(line.get_ydata(), curve - pool[0], atol=1e-14)
    # Large-group closed form at p_ref = 0.3, β = 1 (docs/theory.md §4) sits in the top panel.
    top_inf = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "GRPO, G = ∞")
    assert p_ref[1] == pytest.approx(0.3)
    assert top_inf.get_ydata()[1] == pytest.approx(0.7391164991562634, abs=1e-12)


def test_variants_figure_leaves_unsolved_points_out_and_colours_by_std() -> None:
    beta = np.logspace(-1, 1, 9)
    variants = [("population", "reverse_kl"), ("population", "direct_kl"), ("none", "direct_kl")]
    curves = np.empty((1, len(variants), beta.size))
    for k, (std, pen) in enumerate(variants):
        res = grpo_stationary_policy(np.broadcast_to([0.3, 0.7], (beta.size, 2)), [1.0, 0.0], beta, math.inf,
                                     std=std, penalty=pen)
        curves[0, k] = np.where(res.converged, res.policy[:, 0], np.nan)
    assert np.isnan(curves[0, 1, 0]) and not np.isnan(curves[0, 1, -1])  # direct KL, G = ∞, small β
    pooled = kl_optimal_policy([0.3, 0.7], [1, 0], beta)[:, 0]
    fig = plots.variants_figure(beta, [math.inf], variants, curves, pooled, 0.3)
    ax = fig.axes[0]
    drawn = [ln for ln in ax.get_lines() if ln.get_label().startswith(("reverse", "direct"))]
    assert [ln.get_label() for ln in drawn] == [
        "reverse-KL, std: population", "direct-KL, std: population", "direct-KL, std: none"]
    assert same_color(drawn[0].get_color(), plots.PALETTE["std_population"])
    assert same_color(drawn[2].get_color(), plots.PALETTE["std_none"])
    assert drawn[1].get_linestyle() == "--"
    np.testing.assert_array_equal(np.isnan(drawn[1].get_ydata()), np.isnan(curves[0, 1]))


def test_group_size_figure_scaled_gap_and_optional_correction() -> None:
    gs = np.array([10, 100, 1000])
    gap = np.array([abs(stationary_p(0.3, 1.0, int(g)) - stationary_p(0.3, 1.0, math.inf)) for g in gs])
    fig = plots.group_size_figure(gs, {"case": gap}, {"case": -0.18})
    left, right = fig.axes
    main_left = next(ln for ln in left.get_lines() if ln.get_label() == "case")
    main_right = next(ln for ln in right.get_lines() if ln.get_label() == "case")
    np.testing.assert_allclose(main_left.get_ydata(), gap)
    np.testing.assert_allclose(main_right.get_ydata(), gs * gap)
    dashed = [ln for ln in left.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata()) == 3]
    np.testing.assert_allclose(dashed[0].get_ydata(), 0.18 / gs)
    bare = plots.group_size_figure(gs, {"case": gap})
    assert not [ln for ln in bare.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert left.get_xscale() == "log" and left.get_yscale() == "log"


def test_multi_output_bars_and_training_and_margin_shapes() -> None:
    rewards = np.array([1.0, 0.5, 0.0])
    pi_ref = np.array([0.2, 0.3, 0.5])
    grpo = grpo_stationary_policy(pi_ref, rewards, 0.5, 8).policy
    fig = plots.multi_output_figure(rewards, {"ref": pi_ref, "GRPO": grpo},
                                    {"ref": plots.PALETTE["pi_ref"], "GRPO": plots.grpo_color(8)})
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, np.concatenate([pi_ref, grpo]))
    assert same_color(ax.patches[3].get_facecolor(), plots.PALETTE["grpo_G8"])

    steps = np.arange(5)
    kls = {"on_policy": np.exp(-steps), "new_sampler": np.exp(-2 * steps)}
    fig = plots.training_figure(steps, kls, steps, np.exp(-steps), np.full(5, 0.1))
    left = fig.axes[0]
    assert same_color(left.get_lines()[0].get_color(), plots.PALETTE["sampler_on_policy"])
    assert left.get_lines()[1].get_color() not in (None, "")
    with pytest.raises(ValueError, match="grpo_to_optimum"):
        plots.training_figure(steps, {"uniform": np.ones(5)}, steps, np.ones(5), np.ones(4))

    x = np.array([0.5, 1.0])
    curves = np.zeros((2, 2, 2))
    with pytest.raises(ValueError, match="curves"):
        plots.margin_figure(x, [2, 8], ["a", "b", "c"], curves, 0.3)
    fig = plots.margin_figure(x, [2, 8], ["a", "b"], curves + 0.5, 0.3)
    assert len(fig.axes) == 4


def test_palette_has_one_colour_per_group_size_and_figures_use_no_pyplot() -> None:
    ramp = [plots.grpo_color(g) for g in (2, 3, 4, 8, 16, math.inf)]
    assert len(set(ramp)) == len(ramp)
    assert plots.grpo_color(5) == plots.PALETTE["grpo"]
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.binary_vs_beta_figure([1.0], [0.3], [2], [[[0.5]]], [[0.5]])
    assert plt.get_fignums() == before


def test_training_figure_draws_the_median_and_a_band_over_seeds() -> None:
    steps = np.arange(4.0)
    seeds = np.array([[1e-1, 1e-3, 1e-5, 0.0], [1e-1, 1e-2, 1e-4, 1e-8], [1e-1, 1e-4, 1e-6, 1e-9]])
    fig = plots.training_figure(steps, {"uniform": seeds}, steps, seeds, seeds)
    left = fig.axes[0]
    # median over the three seeds, with exact zeros drawn at the 1e-17 floor
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [1e-1, 1e-3, 1e-5, 1e-9])
    (band,) = left.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(1e-17) and ys.max() == pytest.approx(1e-1)
    one = plots.training_figure(steps, {"uniform": seeds[0]}, steps, seeds[0], seeds[0])
    assert len(one.axes[0].collections) == 0  # a single run: no band
