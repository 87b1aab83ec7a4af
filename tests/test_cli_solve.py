"""`gvpo-theory solve`: output against closed forms, and bad input as one-line errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from gvpo_theory.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_json_matches_closed_forms(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "1",
        "--group-size", "2", "--json",
    )
    assert code == 0
    data = json.loads(out)
    # docs/theory.md §4, G = 2: p = (1 − β + sqrt((β − 1)² + 4β·p_ref)) / 2 at β = 1.
    assert data["grpo_stationary"][0] == pytest.approx(math.sqrt(0.3), abs=1e-12)
    # Logarithmic pooling: p_ref·e / (p_ref·e + 1 − p_ref).
    pooled = 0.3 * math.e / (0.3 * math.e + 0.7)
    assert data["kl_optimal"][0] == pytest.approx(pooled, abs=1e-12)
    assert data["converged"] is True


def test_solve_large_group_limit_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "0.5",
        "--group-size", "inf",
    )
    assert code == 0
    assert "0.9000000000" in out  # docs/theory.md §4: beta = 0.5, G = ∞ gives p = 0.9
    assert "converged" in out


def test_solve_bernoulli_rewards_use_expected_reward_for_pi_star(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(
        capsys, "solve", "--pi-ref", "0.5,0.5", "--success-prob", "0.8,0.3", "--beta", "2",
        "--group-size", "4", "--json",
    )
    assert code == 0
    data = json.loads(out)
    logits = np.log([0.5, 0.5]) + np.array([0.8, 0.3]) / 2
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(data["kl_optimal"], expected, atol=1e-14)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--pi-ref", "0.3,0.6", "--rewards", "1,0", "--beta", "1", "--group-size", "8"], "pi_ref"),
        (["--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "-0.5", "--group-size", "8"], "beta"),
        (["--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "1", "--group-size", "8", "--pi0",
          "1,0"], "pi0"),
        (["--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "1", "--group-size", "1"],
         "group_size"),
        (["--pi-ref", "0.3,0.7", "--rewards", "1,0,2", "--beta", "1", "--group-size", "4"],
         "outputs"),
        (["--pi-ref", "0.3,x", "--rewards", "1,0", "--beta", "1", "--group-size", "4"], "--pi-ref"),
        (["--pi-ref", "0.3,0.7", "--rewards", "1,nan", "--beta", "1", "--group-size", "4"],
         "finite"),
        (["--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "1", "--group-size", "2.5"],
         "--group-size"),
    ],
)
def test_bad_input_is_one_line_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _out, err = run_cli(capsys, "solve", *argv)
    assert code == 2
    assert err.startswith("error: ")
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_entry_point_runs_as_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gvpo_theory.cli", "solve", "--pi-ref", "0.3,0.7", "--rewards",
         "1,0", "--beta", "-1", "--group-size", "4"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: beta must be >= 0"


# ------------------------------------------------------------- boundary limits, beta = 0


def test_direct_kl_at_large_group_prints_the_boundary_limit_and_exits_0(capsys) -> None:
    """The issue's example: no interior stationary point; the limit is printed, exit 0."""
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta",
                           "0.5", "--group-size", "inf", "--penalty", "direct_kl")
    assert code == 0
    assert "GRPO limit" in out and "0.5000000000" not in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert [float(r[4]) for r in rows] == [1.0, 0.0]
    why = [line for line in out.splitlines() if line.startswith("GRPO: ")]
    assert len(why) == 1 and "no interior stationary point" in why[0] and "boundary" in why[0]
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta",
                           "0.5", "--group-size", "inf", "--penalty", "direct_kl", "--json")
    data = json.loads(out)
    assert code == 0 and data["kind"] == "boundary" and data["verified"] is True
    assert data["grpo_stationary"] == [1.0, 0.0] and data["vanished"] == [False, True]
    assert data["converged"] is False  # no interior stationary point


def test_beta_zero_prints_the_exact_limit(capsys) -> None:
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "0.2,0.15,0.05,0.3,0.3", "--rewards",
                           "1,1,1,0,0", "--beta", "0", "--group-size", "8", "--json")
    data = json.loads(out)
    assert code == 0 and data["kind"] == "boundary"
    assert data["grpo_stationary"] == [1.0, 0.0, 0.0, 0.0, 0.0]
    # π* at β → 0: π_ref restricted to the best level
    np.testing.assert_allclose(data["kl_optimal"], [0.5, 0.375, 0.125, 0.0, 0.0], atol=1e-15)
    assert "β = 0" in data["message"]


def test_start_pi0_reaches_the_other_basin(capsys) -> None:
    """Direct KL, G = ∞, π_ref(a) = 0.3, β = 2: from π(a) = 0.999999 the flow runs to π(a) = 1."""
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta",
                           "2", "--group-size", "inf", "--penalty", "direct_kl", "--pi0",
                           "0.999999,0.000001", "--json")
    data = json.loads(out)
    assert code == 0 and data["kind"] == "boundary" and data["grpo_stationary"] == [1.0, 0.0]


def test_help_documents_the_exit_statuses(capsys) -> None:
    with pytest.raises(SystemExit):
        run_cli(capsys, "solve", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status:" in text and "boundary limit" in text
    assert "Exits 0 when the answer is verified" in text


def test_beta_zero_text_output_says_why_in_one_line(capsys) -> None:
    # two outputs share the best reward: the limit is the richer one (1, by π_ref 0.3 > 0.2),
    # not π_ref restricted (0.4, 0.6), and the one GRPO line says why
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "0.2,0.3,0.5", "--rewards", "1,1,0", "--beta", "0",
                           "--group-size", "8")
    assert code == 0
    why = [line for line in out.splitlines() if line.startswith("GRPO: ")]
    assert len(why) == 1 and "β = 0, exact" in why[0] and "richer outputs grow faster" in why[0]
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [float(row[4]) for row in rows] == [0.0, 1.0, 0.0]
