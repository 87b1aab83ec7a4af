"""The explorer driven headless: move a widget, the plotted data is the engine's answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gvpo_theory import RewardDistribution, grpo_stationary_policy, kl_optimal_policy
from gvpo_theory.cli import main
from gvpo_theory.explore import Explorer, ExplorerSettings

GRID = np.logspace(-1, 1, 7)


def engine_curve(p_ref: float, rewards, group_size: float, std: str = "population",
                 penalty: str = "reverse_kl") -> tuple[np.ndarray, np.ndarray]:
    """GRPO stationary π(a) (NaN if unsolved) and π*(a) on GRID, one scalar engine call per β."""
    grpo, star = [], []
    for b in GRID:
        res = grpo_stationary_policy([p_ref, 1.0 - p_ref], rewards, b, group_size, std=std, penalty=penalty)
        grpo.append(float(res.policy[0]) if bool(res.converged) else math.nan)
        star.append(float(kl_optimal_policy([p_ref, 1.0 - p_ref], rewards, b)[0]))
    return np.array(grpo), np.array(star)


def bar_heights(ex: Explorer, name: str) -> list[float]:
    return [rect.get_height() for rect in ex.bars[name]]


@pytest.fixture
def explorer() -> Explorer:
    return Explorer(ExplorerSettings(beta=1.0, p_ref=0.3, group_size=8), beta_grid=GRID)


def test_beta_slider_redraws_marker_and_bars(explorer: Explorer) -> None:
    explorer.sliders["beta"].set_val(math.log10(0.5))
    assert explorer.settings.beta == pytest.approx(0.5)
    beta = explorer.settings.beta
    res = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], beta, 8)
    star = kl_optimal_policy([0.3, 0.7], [1.0, 0.0], beta)
    np.testing.assert_allclose(explorer.lines["grpo_marker"].get_ydata(), [res.policy[0]], atol=1e-13)
    np.testing.assert_allclose(explorer.lines["pooling_marker"].get_ydata(), [star[0]], atol=1e-13)
    np.testing.assert_allclose(bar_heights(explorer, "GRPO"), res.policy, atol=1e-13)
    np.testing.assert_allclose(bar_heights(explorer, "π*"), star, atol=1e-13)
    np.testing.assert_allclose(bar_heights(explorer, "π_ref"), [0.3, 0.7])
    assert explorer.sliders["beta"].valtext.get_text() == "0.5"


def test_p_ref_and_group_size_sliders_redraw_curves(explorer: Explorer) -> None:
    explorer.sliders["p_ref"].set_val(0.6)
    explorer.sliders["group_size"].set_val(2)
    grpo, star = engine_curve(0.6, [1.0, 0.0], 2)
    np.testing.assert_allclose(explorer.lines["grpo"].get_ydata(), grpo, atol=1e-13)
    np.testing.assert_allclose(explorer.lines["pooling"].get_ydata(), star, atol=1e-13)
    np.testing.assert_array_equal(explorer.lines["grpo"].get_xdata(), GRID)
    # Independent closed form at G = 2 (docs/theory.md §4): p = (1 − β + sqrt((β − 1)² + 4β·p_ref)) / 2.
    closed = (1 - GRID + np.sqrt((GRID - 1) ** 2 + 4 * GRID * 0.6)) / 2
    np.testing.assert_allclose(explorer.lines["grpo"].get_ydata(), closed, atol=1e-12)
    assert explorer.lines["p_ref"].get_ydata()[0] == pytest.approx(0.6)


def test_toggles_infinite_group_and_direct_kl(explorer: Explorer) -> None:
    explorer.toggles["infinite"].set_active(0)
    assert math.isinf(explorer.settings.group_size)
    grpo, _ = engine_curve(0.3, [1.0, 0.0], math.inf)
    np.testing.assert_allclose(explorer.lines["grpo"].get_ydata(), grpo, atol=1e-13)
    explorer.toggles["penalty"].set_active(1)
    explorer.sliders["beta"].set_val(math.log10(0.2))
    assert explorer.settings.penalty == "direct_kl"
    grpo, _ = engine_curve(0.3, [1.0, 0.0], math.inf, penalty="direct_kl")
    drawn = explorer.lines["grpo"].get_ydata()
    assert np.isnan(grpo).any()  # direct KL at G = ∞ has no interior stationary point for small β
    np.testing.assert_array_equal(np.isnan(drawn), np.isnan(grpo))
    np.testing.assert_allclose(drawn[~np.isnan(grpo)], grpo[~np.isnan(grpo)], atol=1e-13)
    assert not explorer.data.grpo_converged
    assert "no interior stationary point" in explorer.ax_bars.get_title()
    # the bars show where the dynamics go (the boundary limit), not a vanishing bar
    assert explorer.data.grpo_kind == "boundary"
    assert bar_heights(explorer, "GRPO") == [1.0, 0.0]
    limit = explorer.lines["limit"].get_ydata()
    np.testing.assert_array_equal(np.isnan(limit), ~np.isnan(grpo))
    np.testing.assert_array_equal(limit[~np.isnan(limit)], 1.0)


def test_second_stationary_point_is_marked(explorer: Explorer) -> None:
    """Direct KL, G = ∞, π_ref(a) = 0.3, β = 2: two interior stationary points (0.539, 0.992)."""
    explorer.set(group_size=math.inf, penalty="direct_kl", beta=2.0, p_ref=0.3)
    assert explorer.data.n_interior == 2
    assert "2 interior stationary points" in explorer.ax_bars.get_title()
    assert explorer.data.grpo[0] == pytest.approx(0.53886, abs=5e-6)
    explorer.set(penalty="reverse_kl")
    assert explorer.data.n_interior == 1
    assert "interior stationary points" not in explorer.ax_bars.get_title()


def test_std_toggle_and_margin_slider_use_noisy_rewards(explorer: Explorer) -> None:
    explorer.toggles["std"].set_active(1)
    explorer.sliders["margin"].set_val(0.5)
    assert explorer.settings.std == "sample"
    rewards = RewardDistribution.bernoulli([0.75, 0.25])
    grpo, star = engine_curve(0.3, rewards, 8, std="sample")
    np.testing.assert_allclose(explorer.lines["grpo"].get_ydata(), grpo, atol=1e-12)
    # π* uses the expected reward: margin 0.5 ⇒ E[r] = (0.75, 0.25).
    expected_star = kl_optimal_policy([0.3, 0.7], [0.75, 0.25], GRID)[:, 0]
    np.testing.assert_allclose(explorer.lines["pooling"].get_ydata(), expected_star, atol=1e-13)
    np.testing.assert_allclose(star, expected_star, atol=1e-13)


def test_set_moves_widgets_and_redraws_once(explorer: Explorer) -> None:
    calls = []
    original = explorer.update

    def counting(settings: ExplorerSettings) -> None:
        calls.append(settings)
        original(settings)

    explorer.update = counting  # type: ignore[method-assign]
    explorer.set(beta=2.0, group_size=math.inf, std="none")
    assert len(calls) == 1
    assert explorer.sliders["beta"].val == pytest.approx(math.log10(2.0))
    assert explorer.toggles["infinite"].get_status() == [True]
    assert explorer.toggles["std"].value_selected == "none"
    grpo, _ = engine_curve(0.3, [1.0, 0.0], math.inf, std="none")
    np.testing.assert_allclose(explorer.lines["grpo"].get_ydata(), grpo, atol=1e-13)
    explorer.set(group_size=4)
    assert explorer.toggles["infinite"].get_status() == [False]
    assert explorer.settings.group_size == 4


def test_without_controls_and_with_ipywidgets() -> None:
    pytest.importorskip("ipywidgets")
    ex = Explorer(ExplorerSettings(beta=1.0, p_ref=0.3, group_size=8), beta_grid=GRID, controls=False)
    assert ex.sliders == {}
    box = ex.widgets()
    before = box.image.value
    box.controls["beta"].value = 0.5
    box.controls["infinite"].value = True
    assert ex.settings.beta == pytest.approx(0.5) and math.isinf(ex.settings.group_size)
    res = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], ex.settings.beta, math.inf)
    np.testing.assert_allclose(bar_heights(ex, "GRPO"), res.policy, atol=1e-13)
    assert box.image.value != before and box.image.value[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("changes", "match"),
    [({"beta": 0.0}, "beta"), ({"p_ref": 1.0}, "p_ref"), ({"margin": 1.5}, "margin"),
     ({"group_size": 1}, "group_size"), ({"group_size": 2.5}, "group_size"), ({"std": "bessel"}, "std"),
     ({"penalty": "k2"}, "penalty")],
)
def test_settings_reject_bad_values(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ExplorerSettings(**changes)


def test_cli_explore_without_display_exits_2_and_saves_snapshot(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["explore"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the explorer window" in err and "--save" in err
    out = tmp_path / "snap.png"
    assert main(["explore", "--save", str(out), "--group-size", "inf"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["explore", "--p-ref", "1.5", "--save", str(out)]) == 2
    assert "p_ref" in capsys.readouterr().err


def test_notebook_code_runs_without_ipympl() -> None:
    pytest.importorskip("ipywidgets")
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "analyses" / "explore.ipynb").read_text())
    assert nb["nbformat"] == 4
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    namespace: dict = {}
    for source in cells:
        if "%matplotlib" in source:  # the ipympl cell needs a notebook kernel
            continue
        exec(compile(source, "explore.ipynb", "exec"), namespace)
    assert namespace["panel"].settings.beta == 0.5
    # docs/theory.md §4: β = 0.5, G = ∞ gives π(a) = 0.9
    assert namespace["panel"].data.grpo[0] == pytest.approx(0.9, abs=1e-12)


def test_readout_slider_text_and_titles(explorer: Explorer) -> None:
    explorer.set(beta=1.0, p_ref=0.3, group_size=2, margin=1.0)
    text = explorer.readout.get_text()
    # docs/theory.md §4, G = 2, β = 1: π(a) = sqrt(p_ref); pooling: p_ref·e / (p_ref·e + 1 − p_ref)
    assert f"GRPO    π(a) = {math.sqrt(0.3):.4f}" in text
    assert f"π*      π(a) = {0.3 * math.e / (0.3 * math.e + 0.7):.4f}" in text
    assert explorer.sliders["group_size"].valtext.get_text() == "2"
    explorer.set(group_size=math.inf)
    assert explorer.sliders["group_size"].valtext.get_text() == "∞"
    # a noisy judge: the title names the success rates (1 ± γ)/2 that the margin stands for
    explorer.set(margin=0.6)
    assert "s = (0.8, 0.2)" in explorer.ax_curve.get_title()
    assert explorer.lines["grpo_marker"].get_clip_on() is False


def test_no_stationary_point_goes_on_its_own_title_line(explorer: Explorer) -> None:
    # direct KL at G = ∞ has no interior stationary point below β ≈ 1.08 for π_ref(a) = 0.3
    explorer.set(beta=0.3, p_ref=0.3, group_size=math.inf, penalty="direct_kl", margin=1.0)
    assert explorer.ax_bars.get_title().splitlines() == [
        "policies at β = 0.3", "GRPO: boundary limit (no interior stationary point reached)"
    ]
    assert "π(a) = 1.0000 (limit)" in explorer.readout.get_text()
