"""The analyses behind ``make figures``: their data against the engine, and byte-for-byte reruns."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from analyses import (
    fig1_binary_beta,
    fig3_variants,
    fig4_group_size,
    fig6_multi_output,
    fig7_margin,
    make_all,
)
from analyses.common import write_csv, write_json
from gvpo_theory import grpo_stationary_policy, kl_optimal_policy
from gvpo_theory.cli import main


def read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def test_fig1_data_matches_theory_reference_values(tmp_path: Path) -> None:
    args = fig1_binary_beta.parse_args(["--out", str(tmp_path), "--p-ref", "0.3", "--beta-min", "0.5",
                                        "--beta-max", "1", "--n-beta", "2", "--group-sizes", "2,8,inf"])
    fig1_binary_beta.run(args)
    data = read_csv(tmp_path / "fig1_binary_beta.csv")
    np.testing.assert_allclose(data["beta"], [0.5, 1.0])
    # docs/theory.md §4 reference values (independent computation), p_ref = 0.3; the CSV
    # holds 10 significant digits, so agreement is to 5e-11
    np.testing.assert_allclose(data["grpo_G2"], [0.7109772228646444, 0.5477225575051661], atol=6e-11)
    np.testing.assert_allclose(data["grpo_Ginf"], [0.9, 0.7391164991562634], atol=6e-11)
    assert data["grpo_G8"][1] == pytest.approx(0.7077703622209384, abs=6e-11)
    assert data["pooling"][1] == pytest.approx(0.538101526224449, abs=6e-11)
    for suffix in ("png", "pdf"):
        assert (tmp_path / f"fig1_binary_beta.{suffix}").stat().st_size > 1000


def test_fig3_direct_kl_without_std_is_pooling_with_rescaled_beta(tmp_path: Path) -> None:
    fig3_variants.run(fig3_variants.parse_args(["--out", str(tmp_path), "--n-beta", "9",
                                                "--group-sizes", "4,inf"]))
    data = read_csv(tmp_path / "fig3_variants.csv")
    beta = data["beta"]
    # docs/theory.md §3: no std + direct KL = logarithmic pooling with β' = G·β/(G − 1).
    pooled = kl_optimal_policy([0.3, 0.7], [1.0, 0.0], 4 * beta / 3)[:, 0]
    np.testing.assert_allclose(data["G4_direct_kl_none"], pooled, atol=1e-11)
    np.testing.assert_allclose(data["Ginf_direct_kl_none"], data["pooling"], atol=1e-11)
    # At G = 2 with population std, P_2(a) − P_2(b) = 1: direct KL is exactly pooling.
    fig3_variants.run(fig3_variants.parse_args(["--out", str(tmp_path / "g2"), "--n-beta", "5",
                                                "--group-sizes", "2"]))
    g2 = read_csv(tmp_path / "g2" / "fig3_variants.csv")
    np.testing.assert_allclose(g2["G2_direct_kl_population"], g2["pooling"], atol=1e-11)
    # Direct KL at G = ∞ has no interior stationary point for small β: written as nan.
    direct = data["Ginf_direct_kl_population"]
    assert np.isnan(direct[0]) and not np.isnan(direct[-1])
    # At G = ∞ population and sample std coincide.
    np.testing.assert_allclose(data["Ginf_reverse_kl_sample"], data["Ginf_reverse_kl_population"], atol=1e-11)


def test_fig4_gap_shrinks_like_one_over_g(tmp_path: Path) -> None:
    fig4_group_size.run(fig4_group_size.parse_args(["--out", str(tmp_path), "--g-max", "4000", "--n-g", "4",
                                                    "--no-correction"]))
    data = read_csv(tmp_path / "fig4_group_size.csv")
    gs = data["group_size"]
    assert gs[0] == 2 and gs[-1] == 4000
    for key in (k for k in data if k.startswith("gap_")):
        assert np.all(data[key] < 0)  # finite groups sit below the large-group answer
        scaled = gs * data[key]
        assert scaled[-1] == pytest.approx(scaled[-2], rel=0.02)  # G·gap levels off: a 1/G gap
    p_inf = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, math.inf).policy[0]
    p_g = grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 4000).policy[0]
    assert data["gap_beta1_pref0.3"][-1] == pytest.approx(p_g - p_inf, abs=1e-13)


def test_fig7_curves_collapse_against_beta_over_margin_only_at_g2(tmp_path: Path) -> None:
    fig7_margin.run(fig7_margin.parse_args(["--out", str(tmp_path), "--n-x", "4", "--group-sizes", "2,8"]))
    data = read_csv(tmp_path / "fig7_margin.csv")
    cols2 = [k for k in data if k.startswith("G2_")]
    cols8 = [k for k in data if k.startswith("G8_")]
    assert len(cols2) == len(fig7_margin.PAIRS) == len(cols8)
    spread2 = np.ptp(np.stack([data[k] for k in cols2]), axis=0)
    spread8 = np.ptp(np.stack([data[k] for k in cols8]), axis=0)
    assert spread2.max() < 1e-12
    assert spread8.max() > 1e-3
    # G = 2 closed form in β/γ (the paper's eq. (14)), x = β/γ.
    x = data["beta_over_margin"]
    closed = ((1 - x) + np.sqrt((1 - x) ** 2 + 4 * x * 0.3)) / 2
    np.testing.assert_allclose(data[cols2[1]], closed, atol=1e-12)


def test_fig6_json_matches_engine(tmp_path: Path) -> None:
    fig6_multi_output.run(fig6_multi_output.parse_args(["--out", str(tmp_path), "--group-sizes", "2,inf"]))
    record = json.loads((tmp_path / "fig6_multi_output.json").read_text())
    pi_ref, rewards = np.array(record["pi_ref"]), np.array(record["rewards"])
    assert len(np.unique(rewards)) >= 3 and pi_ref.size >= 3
    star = kl_optimal_policy(pi_ref, rewards, record["beta"])
    np.testing.assert_allclose(record["kl_optimal"], star, atol=1e-11)
    res = grpo_stationary_policy(pi_ref, rewards, record["beta"], 2)
    np.testing.assert_allclose(record["grpo_G2"]["policy"], res.policy, atol=1e-11)
    # rounding-level residuals differ across machines: the committed data holds none
    assert record["grpo_G2"]["converged"] is True and "residual" not in record["grpo_G2"]


def test_reruns_write_identical_bytes(tmp_path: Path) -> None:
    argv = ["--p-ref", "0.2,0.7", "--n-beta", "21", "--group-sizes", "2,inf"]
    first = {p.name: p.read_bytes() for p in fig1_binary_beta.run(
        fig1_binary_beta.parse_args([*argv, "--out", str(tmp_path / "a")]))}
    second = {p.name: p.read_bytes() for p in fig1_binary_beta.run(
        fig1_binary_beta.parse_args([*argv, "--out", str(tmp_path / "b")]))}
    assert set(first) == {"fig1_binary_beta.csv", "fig1_binary_beta.png", "fig1_binary_beta.pdf"}
    assert first == second


def test_writers_format_floats_fixed(tmp_path: Path) -> None:
    # 10 significant digits; magnitudes below 1e-12 are rounding noise and written as 0
    write_csv(tmp_path / "t.csv", {"x": [0.1 + 0.2, 1e-20, math.nan, 2 / 3, -4.79e-16, 3e-12],
                                   "flag": np.array([True, False, True, True, False, False])})
    assert (tmp_path / "t.csv").read_text() == (
        "x,flag\n0.3,1\n0,0\nnan,1\n0.6666666667,1\n0,0\n3e-12,0\n"
    )
    write_csv(tmp_path / "d.csv", {"x": [2 / 3, 1.23456789e-5]}, digits=4)
    assert (tmp_path / "d.csv").read_text() == "x\n0.6667\n1.235e-05\n"
    write_json(tmp_path / "t.json", {"b": np.array([1 / 3, 7.6e-17]), "a": math.inf, "c": math.nan})
    assert json.loads((tmp_path / "t.json").read_text()) == {"a": "inf", "b": [0.3333333333, 0.0], "c": None}
    with pytest.raises(ValueError, match="differ in length"):
        write_csv(tmp_path / "bad.csv", {"x": [1.0], "y": [1.0, 2.0]})


def test_make_all_only_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = make_all.run_all(tmp_path / "m", only=["multi_output"])
    assert sorted(p.name for p in written) == ["fig6_multi_output.json", "fig6_multi_output.pdf",
                                               "fig6_multi_output.png"]
    out = capsys.readouterr().out
    assert "[1/1] figure 6 (multi_output)" in out
    assert make_all.main(["--only", "nonsense", "--out", str(tmp_path)]) == 2
    assert "unknown analysis nonsense" in capsys.readouterr().err
    assert main(["figures", "--only", "multi_output", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "fig6_multi_output.json").read_bytes() == (
        tmp_path / "m" / "fig6_multi_output.json").read_bytes()
    assert main(["figures", "--only", "bogus", "--out", str(tmp_path)]) == 2


def test_every_registered_analysis_has_a_script_with_the_shared_interface() -> None:
    for analysis in make_all.ANALYSES:
        if make_all.missing(analysis):
            continue
        module = __import__(analysis.module, fromlist=["run"])
        assert callable(module.run) and callable(module.parse_args) and module.NAME == analysis.name
        args = module.parse_args(["--out", "unused"])
        assert str(args.out) == "unused"
