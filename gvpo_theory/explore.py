"""Interactive explorer: where GRPO's stationary point sits relative to π*, as β, π_ref, γ and G move.

A binary question (better answer a, worse answer b). The left panel shows, against β on
a log axis, the probability of the better answer at GRPO's stationary point (for the
chosen G, std convention and penalty) and under logarithmic pooling π* ∝ π_ref·exp(E[r]/β)
(the RLHF and GVPO optimum), with markers at the current β. The right panel shows the
three policies (π_ref, π*, GRPO) at the current β as bars. Where GRPO's expected dynamics
reach no interior stationary point (direct KL at G = ∞ with small β), the curve shows the
boundary limit they run to (dotted) and the bars show that limit, not an empty bar; when
the current β has more than one interior stationary point, the read-out and the bar title
say how many (a dense scan of the binary fixed-point function, :func:`interior_stationary_count`).

Controls: β (log-scale slider), π_ref(a), the confidence margin γ, G (with a "G = ∞"
toggle), the std convention and the penalty. γ = 1 is deterministic rewards (1, 0);
γ < 1 is a symmetric noisy verifier: a passes with probability (1 + γ)/2, b with
(1 − γ)/2, so P(a ≻ b) − P(b ≻ a) = γ (Vojnovic & Yun, §2.3.1).

Three ways to use it:

* desktop window: ``gvpo-theory explore`` (or ``Explorer.open()`` then ``plt.show()``);
* Jupyter with ipympl: ``%matplotlib widget`` then ``Explorer.open()`` — the figure's own
  sliders work in the notebook;
* Jupyter without ipympl: ``Explorer(controls=False).widgets()`` — ipywidgets controls
  driving a rendered image of the same figure.

Every curve comes from :func:`explorer_data`, a pure function of the settings, so the
plotted data can be checked against the engine directly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.widgets import CheckButtons, RadioButtons, Slider
from numpy.typing import NDArray

from .objective import PENALTY_CHOICES as PENALTIES
from .objective import STD_CHOICES as STD_MODES
from .objective import as_objective
from .plots import BETA_LABEL, LINESTYLE, PALETTE, group_label
from .pooling import kl_optimal_policy
from .preference import preference_model
from .problem import RewardDistribution
from .stationary import grpo_stationary_policy

#: β range of the curves and of the slider.
BETA_MIN, BETA_MAX = 1e-2, 1e2

#: Largest finite G on the slider (the "G = ∞" toggle covers the limit).
G_MAX = 64


@dataclass(frozen=True)
class ExplorerSettings:
    """Everything the explorer shows depends on these and nothing else.

    Attributes:
        beta: KL coefficient β > 0.
        p_ref: π_ref(a), the reference probability of the better answer, in (0, 1).
        margin: confidence margin γ in (0, 1]; 1 means deterministic rewards (1, 0).
        group_size: G >= 2, or ``math.inf``.
        std: ``"population"`` (paper), ``"sample"`` (TRL/verl) or ``"none"`` (Dr. GRPO).
        penalty: ``"reverse_kl"`` (GRPO's k3) or ``"direct_kl"``.
    """

    beta: float = 1.0
    p_ref: float = 0.3
    margin: float = 1.0
    group_size: float = 8
    std: str = "population"
    penalty: str = "reverse_kl"

    def __post_init__(self) -> None:
        if not (self.beta > 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be a positive number; got {self.beta!r}")
        if not 0.0 < self.p_ref < 1.0:
            raise ValueError(f"p_ref must lie in (0, 1); got {self.p_ref!r}")
        if not 0.0 < self.margin <= 1.0:
            raise ValueError(f"margin must lie in (0, 1]; got {self.margin!r}")
        if not (math.isinf(self.group_size) or (self.group_size == int(self.group_size)
                                                  and self.group_size >= 2)):
            raise ValueError(f"group_size must be an integer >= 2 or inf; got {self.group_size!r}")
        if self.std not in STD_MODES:
            raise ValueError(f"std must be one of {STD_MODES}; got {self.std!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}; got {self.penalty!r}")


@dataclass(frozen=True)
class ExplorerData:
    """What the explorer plots for one :class:`ExplorerSettings`.

    Attributes:
        beta_grid: the β grid of the curves (n,).
        grpo_curve: GRPO's stationary π(a) on the grid, NaN where no interior stationary
            point is reached (direct KL with unbounded advantages and small β).
        pooling_curve: π*(a) on the grid.
        pi_ref, pi_star, grpo: the three policies (2,) at the current β; ``grpo`` is where
            GRPO's expected dynamics settle: the stationary point, or the boundary limit.
        grpo_converged: whether an interior stationary point at the current β was found.
        limit_curve: π(a) of the boundary limit on the grid, NaN where the answer is interior.
        grpo_kind: ``"interior"`` or ``"boundary"`` at the current β.
        n_interior: the number of interior stationary points at the current β (a dense scan).
    """

    beta_grid: NDArray[np.float64]
    grpo_curve: NDArray[np.float64]
    pooling_curve: NDArray[np.float64]
    pi_ref: NDArray[np.float64]
    pi_star: NDArray[np.float64]
    grpo: NDArray[np.float64]
    grpo_converged: bool
    limit_curve: NDArray[np.float64]
    grpo_kind: str
    n_interior: int


def margin_rewards(margin: float) -> NDArray[np.float64] | RewardDistribution:
    """Rewards of a and b with confidence margin γ: (1, 0) at γ = 1, else Bernoulli((1 ± γ)/2)."""
    if margin == 1.0:
        return np.array([1.0, 0.0])
    return RewardDistribution.bernoulli([(1.0 + margin) / 2.0, (1.0 - margin) / 2.0])


def default_beta_grid(n: int = 61) -> NDArray[np.float64]:
    """Log-spaced β from :data:`BETA_MIN` to :data:`BETA_MAX`."""
    return np.logspace(math.log10(BETA_MIN), math.log10(BETA_MAX), n)


#: Grid of the dense scan for interior stationary points: logit x = log(π(a)/π(b)).
SCAN_LOGITS = np.linspace(-30.0, 30.0, 6001)


def interior_stationary_count(settings: ExplorerSettings) -> int:
    """How many interior stationary points the binary problem has at ``settings.beta``.

    A stationary point with π(a), π(b) > 0 is a root of the natural rate
    h(x) = P_G(a|π) − β·∇_a(π)/π(a) of the expected update (F_a = π(a)·h, F_a + F_b = 0),
    π = (σ(x), σ(−x)); the count is the number of sign changes of h on the logit grid
    :data:`SCAN_LOGITS` (|x| <= 30, spacing 0.01). A dense scan, not a certificate: two roots
    closer than the spacing (near a fold) count as none.
    """
    obj = as_objective(settings.group_size, settings.std, settings.penalty)
    rewards = margin_rewards(settings.margin)
    x = SCAN_LOGITS
    pi = np.stack([np.exp(-np.logaddexp(0.0, -x)), np.exp(-np.logaddexp(0.0, x))], axis=-1)
    ref = np.broadcast_to([settings.p_ref, 1.0 - settings.p_ref], pi.shape)
    pull = obj.penalty.logit_gradient(pi, ref)[:, 0] / pi[:, 0]
    h = preference_model(pi, rewards, obj)[:, 0] - settings.beta * pull
    signs = np.sign(h[np.isfinite(h)])
    signs = signs[signs != 0]
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def explorer_data(settings: ExplorerSettings, beta_grid: NDArray[np.float64]) -> ExplorerData:
    """Solve GRPO's stationary point and π* on ``beta_grid`` and at ``settings.beta``, in one call."""
    rewards = margin_rewards(settings.margin)
    betas = np.append(np.asarray(beta_grid, dtype=float), settings.beta)
    pi_ref = np.array([settings.p_ref, 1.0 - settings.p_ref])
    batch = np.broadcast_to(pi_ref, (betas.size, 2))
    res = grpo_stationary_policy(batch, rewards, betas, settings.group_size, std=settings.std,
                                 penalty=settings.penalty)
    grpo = np.where(np.asarray(res.converged)[:, None], res.policy, np.nan)
    boundary = np.asarray(res.kind) == "boundary"
    limit = np.where(boundary[:, None], res.policy, np.nan)
    star = kl_optimal_policy(batch, rewards, betas)
    return ExplorerData(
        beta_grid=betas[:-1], grpo_curve=grpo[:-1, 0], pooling_curve=star[:-1, 0], pi_ref=pi_ref,
        pi_star=star[-1], grpo=np.asarray(res.policy)[-1],
        grpo_converged=bool(np.asarray(res.converged)[-1]), limit_curve=limit[:-1, 0],
        grpo_kind="boundary" if boundary[-1] else "interior",
        n_interior=interior_stationary_count(settings),
    )


class Explorer:
    """The interactive figure. See the module docstring for the three ways to use it.

    Attributes:
        figure: the matplotlib Figure.
        settings: the current :class:`ExplorerSettings`.
        data: the :class:`ExplorerData` on display.
        sliders: ``beta`` (holds log10 β), ``p_ref``, ``margin``, ``group_size``
            (empty with ``controls=False``).
        toggles: ``std`` and ``penalty`` RadioButtons, ``infinite`` CheckButtons.
        lines: the plotted Line2D objects (``grpo``, ``pooling``, ``grpo_marker``,
            ``pooling_marker``, ``beta``, ``p_ref``).
        bars: policy name → its BarContainer (heights π(a), π(b)).
    """

    def __init__(
        self,
        settings: ExplorerSettings | None = None,
        *,
        figure: Figure | None = None,
        controls: bool = True,
        beta_grid: NDArray[np.float64] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ExplorerSettings()
        self.beta_grid = default_beta_grid() if beta_grid is None else np.asarray(beta_grid, dtype=float)
        self.figure = figure if figure is not None else Figure(figsize=(12.0, 6.8 if controls else 4.8))
        self.sliders: dict[str, Slider] = {}
        self.toggles: dict[str, Any] = {}
        self._syncing = False  # True while widgets are being set from code: one redraw, not many
        self._build_axes(controls)
        if controls:
            self._build_controls()
        self.data = explorer_data(self.settings, self.beta_grid)
        self._draw()

    # ------------------------------------------------------------------ construction

    @classmethod
    def open(cls, settings: ExplorerSettings | None = None, **kwargs: Any) -> Explorer:
        """An explorer in a pyplot-managed figure (a desktop window or an ipympl canvas)."""
        import matplotlib.pyplot as plt  # only here: the library itself never touches pyplot

        fig = plt.figure(figsize=(12.0, 6.8))
        manager = fig.canvas.manager
        if manager is not None:  # the window's title, not "Figure 1"
            manager.set_window_title("gvpo-theory explorer: GRPO's stationary point vs π*")
        return cls(settings, figure=fig, **kwargs)

    def _build_axes(self, controls: bool) -> None:
        bottom, height = (0.42, 0.50) if controls else (0.13, 0.77)
        self.ax_curve = self.figure.add_axes((0.07, bottom, 0.50, height))
        self.ax_bars = self.figure.add_axes((0.66, bottom, 0.31, height))
        ax = self.ax_curve
        self.lines = {
            "grpo": ax.plot([], [], color=PALETTE["grpo"], lw=2.0, label="GRPO stationary point")[0],
            "limit": ax.plot([], [], color=PALETTE["grpo"], lw=2.0, ls=":",
                             label="GRPO boundary limit (no interior point reached)")[0],
            "pooling": ax.plot([], [], color=PALETTE["kl_optimal"], ls=LINESTYLE["kl_optimal"], lw=1.8,
                               label="π* (log. pooling; RLHF, GVPO)")[0],
            # clip_on=False: a marker at π = 1 is drawn whole, not cut by the axes' top edge
            "grpo_marker": ax.plot([], [], "o", color=PALETTE["grpo"], ms=7, clip_on=False, zorder=5)[0],
            "pooling_marker": ax.plot([], [], "s", color=PALETTE["kl_optimal"], ms=6, clip_on=False,
                                      zorder=5)[0],
            "beta": ax.axvline(1.0, color="#bbbbbb", lw=1.0),
            "p_ref": ax.axhline(0.5, color=PALETTE["pi_ref"], ls=LINESTYLE["pi_ref"], lw=1.2,
                                label=r"$\pi_{\mathrm{ref}}(a)$"),
        }
        # numeric read-out of every curve at the current β
        self.readout = ax.text(0.98, 0.97, "", transform=ax.transAxes, ha="right", va="top", fontsize=8.5,
                               multialignment="left",
                               family="monospace", bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85,
                                                         "ec": "#cccccc"})
        ax.set_xscale("log")
        ax.set_xlim(self.beta_grid[0], self.beta_grid[-1])
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel(BETA_LABEL, fontsize=9)
        ax.set_ylabel("π(a): probability of the better answer", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
        x = np.arange(2)
        width = 0.26
        self.bars = {}
        for k, (name, col) in enumerate((("π_ref", PALETTE["pi_ref"]), ("π*", PALETTE["kl_optimal"]),
                                         ("GRPO", PALETTE["grpo"]))):
            self.bars[name] = self.ax_bars.bar(x + (k - 1) * width, [0.0, 0.0], width=width * 0.95,
                                               color=col, label=name)
        self.ax_bars.set_xticks(x, ["a (better)", "b (worse)"])
        self.ax_bars.set_ylim(0.0, 1.0)
        self.ax_bars.set_ylabel("probability", fontsize=9)
        self.ax_bars.legend(fontsize=8, loc="upper right")
        self.ax_bars.grid(True, axis="y", alpha=0.3)

    def _build_controls(self) -> None:
        s, fig = self.settings, self.figure
        rows = {"beta": 0.27, "p_ref": 0.21, "margin": 0.15, "group_size": 0.09}
        ax = {k: fig.add_axes((0.14, y, 0.38, 0.035)) for k, y in rows.items()}
        self.sliders["beta"] = Slider(ax["beta"], "β (log scale)", math.log10(BETA_MIN), math.log10(BETA_MAX),
                                      valinit=math.log10(s.beta))
        self.sliders["p_ref"] = Slider(ax["p_ref"], "π_ref(a)", 0.01, 0.99, valinit=s.p_ref)
        self.sliders["margin"] = Slider(ax["margin"], "margin γ", 0.05, 1.0, valinit=s.margin)
        finite_g = G_MAX if math.isinf(s.group_size) else int(s.group_size)
        self.sliders["group_size"] = Slider(ax["group_size"], "group size G", 2, G_MAX, valinit=finite_g,
                                            valstep=1, valfmt="%d")
        self.toggles["infinite"] = CheckButtons(fig.add_axes((0.56, 0.07, 0.08, 0.07)), ["G = ∞"],
                                                [math.isinf(s.group_size)])
        self.toggles["std"] = RadioButtons(fig.add_axes((0.68, 0.04, 0.12, 0.20)), list(STD_MODES),
                                           active=STD_MODES.index(s.std))
        self.toggles["penalty"] = RadioButtons(fig.add_axes((0.83, 0.04, 0.13, 0.20)), list(PENALTIES),
                                               active=PENALTIES.index(s.penalty))
        self.toggles["std"].ax.set_title("group std", fontsize=9)
        self.toggles["penalty"].ax.set_title("KL penalty", fontsize=9)
        self._show_beta_text()
        for slider in self.sliders.values():
            slider.on_changed(self._on_widget)
        for toggle in self.toggles.values():
            toggle.on_clicked(self._on_widget)

    # ------------------------------------------------------------------ updates

    def _show_beta_text(self) -> None:
        self.sliders["beta"].valtext.set_text(f"{self.settings.beta:.3g}")

    def _settings_from_widgets(self) -> ExplorerSettings:
        infinite = bool(self.toggles["infinite"].get_status()[0])
        return ExplorerSettings(
            beta=float(10.0 ** self.sliders["beta"].val),
            p_ref=float(self.sliders["p_ref"].val),
            margin=float(self.sliders["margin"].val),
            group_size=math.inf if infinite else round(float(self.sliders["group_size"].val)),
            std=str(self.toggles["std"].value_selected),
            penalty=str(self.toggles["penalty"].value_selected),
        )

    def _on_widget(self, _value: object) -> None:
        if self._syncing:
            return
        self.update(self._settings_from_widgets())

    def set(self, **changes: Any) -> None:
        """Change settings from code (e.g. ``set(beta=0.5, group_size=math.inf)``) and redraw once.

        The figure's widgets, when present, are moved to match.
        """
        new = replace(self.settings, **changes)
        if self.sliders:
            self._syncing = True
            try:
                self.sliders["beta"].set_val(math.log10(new.beta))
                self.sliders["p_ref"].set_val(new.p_ref)
                self.sliders["margin"].set_val(new.margin)
                if not math.isinf(new.group_size):
                    self.sliders["group_size"].set_val(int(new.group_size))
                if bool(self.toggles["infinite"].get_status()[0]) != math.isinf(new.group_size):
                    self.toggles["infinite"].set_active(0)
                self.toggles["std"].set_active(STD_MODES.index(new.std))
                self.toggles["penalty"].set_active(PENALTIES.index(new.penalty))
            finally:
                self._syncing = False
        self.update(new)

    def update(self, settings: ExplorerSettings) -> None:
        """Show ``settings``: recompute the data and redraw every artist."""
        self.settings = settings
        self.data = explorer_data(settings, self.beta_grid)
        self._draw()

    def _draw(self) -> None:
        s, d = self.settings, self.data
        self.lines["grpo"].set_data(d.beta_grid, d.grpo_curve)
        self.lines["limit"].set_data(d.beta_grid, d.limit_curve)
        self.lines["pooling"].set_data(d.beta_grid, d.pooling_curve)
        self.lines["grpo_marker"].set_data([s.beta], [d.grpo[0]])
        self.lines["pooling_marker"].set_data([s.beta], [d.pi_star[0]])
        self.lines["beta"].set_xdata([s.beta, s.beta])
        self.lines["p_ref"].set_ydata([s.p_ref, s.p_ref])
        grpo_a = f"{d.grpo[0]:.4f}" + (" (limit)" if d.grpo_kind == "boundary" else "")
        extra = (f"\n{d.n_interior} interior stationary points" if d.n_interior > 1 else "")
        self.readout.set_text(f"at β = {s.beta:.3g}:\nGRPO    π(a) = {grpo_a}\n"
                              f"π*      π(a) = {d.pi_star[0]:.4f}\nπ_ref   π(a) = {s.p_ref:.4f}{extra}")
        for name, policy in (("π_ref", d.pi_ref), ("π*", d.pi_star), ("GRPO", d.grpo)):
            for rect, h in zip(self.bars[name], policy):
                rect.set_height(0.0 if math.isnan(h) else float(h))
        s_a, s_b = (1.0 + s.margin) / 2.0, (1.0 - s.margin) / 2.0  # margin_rewards' success rates
        noise = ("deterministic rewards" if s.margin == 1.0
                 else f"judge success rates s = ({s_a:.3g}, {s_b:.3g}), γ = s_a − s_b = {s.margin:.3g}")
        self.ax_curve.set_title(f"GRPO {group_label(s.group_size)}, std: {s.std}, "
                                f"{s.penalty.replace('_', '-')}; {noise}", fontsize=10)
        status = ("" if d.grpo_converged else
                  "\nGRPO: boundary limit (no interior stationary point reached)"
                  if d.grpo_kind == "boundary" else "\nGRPO: not converged")
        if d.n_interior > 1:
            status += f"\n{d.n_interior} interior stationary points: the flow from π_ref picks one"
        self.ax_bars.set_title(f"policies at β = {s.beta:.3g}{status}", fontsize=10)
        if self.sliders:
            self._show_beta_text()
            g_slider = self.sliders["group_size"]
            infinite = math.isinf(s.group_size)
            g_slider.valtext.set_text("∞" if infinite else f"{int(s.group_size)}")
            g_slider.poly.set_alpha(0.3 if infinite else 1.0)  # the slider's G is not in use
        self.figure.canvas.draw_idle()

    # ------------------------------------------------------------------ Jupyter

    def render_png(self, dpi: int = 100) -> bytes:
        """The figure as PNG bytes (for ipywidgets.Image)."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()

    def widgets(self) -> Any:
        """ipywidgets controls bound to this explorer, above a rendered image of the figure.

        For notebooks without ipympl. Raises ImportError naming the ``[interactive]``
        extra when ipywidgets is missing.
        """
        try:
            import ipywidgets as w
        except ImportError as exc:
            raise ImportError("Explorer.widgets() needs ipywidgets: pip install 'gvpo-theory[interactive]'") \
                from exc
        s = self.settings
        finite_g = G_MAX if math.isinf(s.group_size) else int(s.group_size)
        controls = {
            "beta": w.FloatLogSlider(value=s.beta, base=10, min=math.log10(BETA_MIN),
                                     max=math.log10(BETA_MAX), step=0.01, description="β"),
            "p_ref": w.FloatSlider(value=s.p_ref, min=0.01, max=0.99, step=0.01, description="π_ref(a)"),
            "margin": w.FloatSlider(value=s.margin, min=0.05, max=1.0, step=0.01, description="margin γ"),
            "group_size": w.IntSlider(value=finite_g, min=2, max=G_MAX, description="G"),
            "infinite": w.Checkbox(value=math.isinf(s.group_size), description="G = ∞"),
            "std": w.ToggleButtons(options=list(STD_MODES), value=s.std, description="std"),
            "penalty": w.ToggleButtons(options=list(PENALTIES), value=s.penalty, description="penalty"),
        }
        image = w.Image(value=self.render_png(), format="png")

        def changed(_change: object) -> None:
            c = controls
            self.set(beta=float(c["beta"].value), p_ref=float(c["p_ref"].value),
                     margin=float(c["margin"].value),
                     group_size=math.inf if c["infinite"].value else int(c["group_size"].value),
                     std=str(c["std"].value), penalty=str(c["penalty"].value))
            image.value = self.render_png()

        for control in controls.values():
            control.observe(changed, names="value")
        box = w.VBox([*controls.values(), image])
        box.controls = controls  # reachable for scripted use and tests
        box.image = image
        return box
