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
    # 50 exact steps leave the policy far from π*: each run misses its 1.5e-8 tolerance, exit 1
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("4 contexts x 3 arms")
    assert "max |pi-target|" in lines[1] and "tolerance" in lines[1] and "pass" in lines[1]
    rows = [line.split() for line in lines if line.startswith("gvpo")]
    assert len(rows) == 2
    for row in rows:
        error, tolerance, verdict = float(row[5]), float(row[6]), row[7]  # after "pi* (KL optimum)"
        assert tolerance == pytest.approx(2.0**-26, rel=0.05)  # √ε of float64, as printed (1.5e-8)
        assert error > tolerance and verdict == "NO"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--group-size", "1"], "group_size"),
        (["--beta", "0"], "beta"),
        (["--beta", "nan"], "beta"),
        (["--steps", "0"], "steps"),
        (["--method", "ppo"], "--method"),
        (["--contexts", "0"], "contexts"),
        (["--arms", "1"], "arms"),
        (["--threads", "0"], "--threads"),
        (["--sampler", "bogus"], "sampler"),
        (["--sampler", ""], "--sampler"),
        (["--method", ""], "--method"),
        (["--seed", "-1"], "--seed"),
        (["--beta", "-inf"], "beta"),
        (["--lr", "-1"], "lr"),
        (["--eps", "-0.5"], "eps"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, _out, err = run_cli(capsys, "verify", "--device", "cpu", "--quick", "--quiet", *argv)
    assert code == 2
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1, err
    assert "Traceback" not in err and "expected one argument" not in err


@pytest.mark.parametrize("device", ["tpu", "foo", "cuda:x"])
def test_unknown_device_is_one_line_exit_2(capsys, device):
    code, _out, err = run_cli(capsys, "verify", "--device", device, "--quick", "--quiet")
    assert code == 2
    assert err == f"error: --device must be cpu, cuda, cuda:N or auto; got {device!r}\n"


def strict_json(text):
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_settings_record_every_choice_and_kl_is_never_negative(capsys):
    code, out, _ = run_cli(
        capsys, "verify", "--device", "cpu", "--contexts", "4", "--arms", "3", "--steps", "400",
        "--method", "gvpo", "--sampler", "uniform", "--eps", "0.01", "--lr", "0.7", "--json", "--quiet",
    )
    assert code == 0
    data = strict_json(out)
    s = data["settings"]
    assert (s["lr"], s["eps"], s["schedule"], s["threads"]) == (0.7, 0.01, "auto", 1)
    (run,) = data["runs"]
    # GVPO with deterministic rewards: constant step, no averaging (module docstring)
    assert (run["lr"], run["schedule"], run["average"]) == (0.7, "constant", "none")
    assert run["passed"] is True and data["passed"] is True
    assert run["final_max_error"] <= run["tolerance"]
    assert run["final_kl"] >= 0.0 and min(run["kl"]) >= 0.0


@pytest.mark.parametrize("extra", [["--beta", "1e-4"], ["--lr", "1e6"], ["--lr", "1e300"]])
def test_json_is_strict_or_the_error_names_the_flag(capsys, extra):
    code, out, err = run_cli(capsys, "verify", "--device", "cpu", "--quick", "--steps", "300", "--json",
                             "--quiet", *extra)
    if code == 2:  # a step so large that the logits overflow: named, not "q must be finite"
        assert out == "" and err.startswith("error: lr=") and "too large" in err and "q must" not in err
    else:
        assert code in (0, 1)
        strict_json(out)


def test_progress_on_stderr_when_not_a_terminal(capsys):
    code, out, err = run_cli(
        capsys, "verify", "--device", "cpu", "--contexts", "2", "--arms", "2", "--steps", "20",
        "--method", "gvpo", "--sampler", "uniform",
    )
    assert code in (0, 1)
    # capsys is not a TTY: a line at once, then one per run when it ends (and every 5 s before)
    assert err.startswith("verify: loading torch ...\n")
    assert "gvpo/uniform: step 20/20" in err
    assert "gvpo/uniform" not in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error(capsys):
    code, _out, err = run_cli(capsys, "verify", "--device", "cuda", "--quick")
    assert code == 2
    assert "no CUDA GPU" in err


def test_beta_zero_is_refused_with_the_reason(capsys):
    code, out, err = run_cli(capsys, "verify", "--quick", "--beta", "0", "--quiet")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: --beta 0")
    assert "no stationary policy" in lines[0] or "has none" in lines[0]
    from gvpo_theory.torch import make_bandits, verify

    with pytest.raises(ValueError, match="beta = 0 GRPO has no stationary policy"):
        verify(make_bandits(2, 2, seed=0), beta=0.0, steps=10)
