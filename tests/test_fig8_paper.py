"""Figure 8 (the paper's three binary-question figures): its data against the closed forms."""

from __future__ import annotations

import csv
from pathlib import Path

import mpmath
import numpy as np
import pytest

from analyses import fig8_paper
from gvpo_theory.plots import paper_figure


def _read(path: Path) -> dict[str, np.ndarray]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def _eq14(p: float, s: float) -> float:
    with mpmath.workdps(30):
        p, s = mpmath.mpf(p), mpmath.mpf(s)
        return float((1 - s + mpmath.sqrt((1 - s) ** 2 + 4 * s * p)) / 2)


def _eq15(p: float, b: float) -> float:
    with mpmath.workdps(30):
        p, b2 = mpmath.mpf(p), mpmath.mpf(b) ** 2
        return float((1 + 2 * b2 * p + mpmath.sqrt(1 + 4 * b2 * p * (1 - p))) / (2 * (1 + b2)))


def _pooling(p: float, b: float) -> float:
    with mpmath.workdps(30):
        p, e = mpmath.mpf(p), mpmath.exp(1 / mpmath.mpf(b))
        return float(p * e / (p * e + 1 - p))


def test_fig8_data_are_the_closed_forms(tmp_path: Path) -> None:
    args = fig8_paper.parse_args(["--out", str(tmp_path), "--ratios", "0.3,1", "--betas", "0.5,2",
                                  "--n-pref", "9"])
    paths = fig8_paper.run(args)
    assert {p.name for p in paths} == {"fig8_paper.csv", "fig8_paper.png", "fig8_paper.pdf"}
    data = _read(tmp_path / "fig8_paper.csv")
    p = data["p_ref"]
    np.testing.assert_allclose(p, np.arange(1, 10) / 10, atol=1e-12)
    tol = 0.5 * 10.0 ** -fig8_paper.DECIMALS + 1e-12  # the CSV's rounding
    for s in (0.3, 1.0):
        np.testing.assert_allclose(data[f"G2_reverse_kl_ratio{s:g}"], [_eq14(x, s) for x in p], atol=tol)
        np.testing.assert_allclose(data[f"G2_direct_kl_ratio{s:g}"], [_pooling(x, s) for x in p], atol=tol)
    for b in (0.5, 2.0):
        np.testing.assert_allclose(data[f"Ginf_reverse_kl_beta{b:g}"], [_eq15(x, b) for x in p], atol=tol)
    # β/γ = 1 at G = 2 is √π_ref(a)
    np.testing.assert_allclose(data["G2_reverse_kl_ratio1"], np.sqrt(p), atol=tol)


def test_paper_figure_checks_shapes() -> None:
    p = np.linspace(0.1, 0.9, 5)
    with pytest.raises(ValueError, match="g2 must have shape"):
        paper_figure(p, [0.3, 1.0], np.zeros((1, 5)), [1.0], np.zeros((1, 5)), np.zeros((2, 5)))
    fig = paper_figure(p, [0.3], np.zeros((1, 5)), [1.0], np.zeros((1, 5)), np.zeros((1, 5)))
    assert len(fig.axes) == 3


def test_fig8_rejects_a_grid_without_points(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--n-pref"):
        fig8_paper.run(fig8_paper.parse_args(["--out", str(tmp_path), "--n-pref", "1"]))
