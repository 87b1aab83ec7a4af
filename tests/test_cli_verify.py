"""``gvpo-theory verify``: the table/JSON it prints and its one-line errors."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from gvpo_theory.cli import main  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_threads():
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors (one line, exit 2)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_reports_gvpo_at_pi_star_and_grpo_away_from_it(capsys):
    code, out, _ = run_cli(
        capsys,
        "verify",
        "--device",
        "cpu",
        "--contexts",
        "8",
        "--arms",
        "3",
        "--steps",
        "800",
        "--concentration",
        "3",
        "--sampler",
        "uniform",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    runs = {(r["method"], r["sampler"]): r for r in data["runs"]}
    gvpo, grpo = runs[("gvpo", "uniform")], runs[("grpo", "on-policy")]
    assert gvpo["final_max_error"] < 1e-9
    assert grpo["final_max_error"] < 0.1
    assert grpo["final_max_error_pi_star"] > 0.05
    assert data["settings"]["contexts"] == 8 and data["settings"]["device"] == "cpu"


def test_table_output(capsys):
    code, out, _ = run_cli(
        capsys,
        "verify",
        "--device",
        "cpu",
        "--contexts",
        "4",
        "--arms",
        "3",
        "--steps",
        "50",
        "--method",
        "gvpo",
        "--sampler",
        "on-policy,replay",
        "--mode",
        "expected",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("4 contexts x 3 arms")
    assert "max |pi-target|" in lines[1]
    assert sum(line.startswith("gvpo") for line in lines) == 2


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--group-size", "1"], "group_size"),
        (["--beta", "0"], "beta"),
        (["--beta", "nan"], "beta"),
        (["--steps", "0"], "steps"),
        (["--method", "ppo"], "methods"),
        (["--contexts", "0"], "contexts"),
        (["--arms", "1"], "arms"),
        (["--threads", "0"], "--threads"),
        (["--sampler", "bogus"], "sampler"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, _out, err = run_cli(capsys, "verify", "--device", "cpu", "--quick", *argv)
    assert code == 2
    assert err.startswith("error: ") and needle in err
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error(capsys):
    code, _out, err = run_cli(capsys, "verify", "--device", "cuda", "--quick")
    assert code == 2
    assert "no CUDA GPU" in err
