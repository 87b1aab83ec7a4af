"""The CLI's contract for every subcommand: bad input is one ``error:`` line on stderr and exit
status 2 (never a traceback), ``--json`` is always strict JSON, and the exit codes are the
ones ``--help`` documents."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from gvpo_theory.cli import EXIT_CODES, build_parser, main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors, --help, --version
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def strict_json(text: str):
    """json.loads that rejects Infinity/NaN, which json.dumps writes by default but JSON lacks."""

    def refuse(constant: str):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


#: Python source defining block(names): afterwards `import name` fails as if not installed.
BLOCK = (
    "import sys\n"
    "class _Blocker:\n"
    "    def __init__(self, names): self.names = names\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in self.names:\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "def block(names): sys.meta_path.insert(0, _Blocker(names))\n"
    "block"
)

SOLVE = ["solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "1", "--group-size", "8"]


# ------------------------------------------------------------------ the top-level command


def test_bare_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: gvpo-theory")
    for name in ("solve", "derive", "verify", "figures", "explore", "exit status:"):
        assert name in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"gvpo-theory {version('gvpo-theory')}"


@pytest.mark.parametrize("command", ["solve", "derive", "verify", "figures", "explore", None])
def test_every_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str], command) -> None:
    code, out, _ = run_cli(capsys, *([command] if command else []), "--help")
    assert code == 0
    block = out[out.index("exit status:"):]
    assert [int(line.split()[0]) for line in block.splitlines()[1:] if line[:6].strip().isdigit()] == [
        c for c, _ in EXIT_CODES
    ]


def test_readme_lists_the_same_exit_codes() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for code, _ in EXIT_CODES:
        assert f"| {code} |" in readme


# ------------------------------------------------------------------ negative numbers are values


def test_negative_values_reach_the_validation_not_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, *SOLVE[:-4], "--beta", "-inf", "--group-size", "8")
    assert_one_line_error(code, err, "beta")
    assert "expected one argument" not in err
    code, _, err = run_cli(capsys, "solve", "--pi-ref", "-0.3,1.3", "--rewards", "1,0", "--beta", "1",
                           "--group-size", "8")
    assert_one_line_error(code, err, "pi_ref")
    assert "expected one argument" not in err


def test_negative_reward_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    # rewards -1, 0 are binary rewards shifted by -1: pooling gives 0.3/e^-1 ... in closed form
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "0.3,0.7", "--rewards", "-1,0", "--beta", "1",
                           "--group-size", "2", "--json")
    assert code == 0
    data = strict_json(out)
    pooled = 0.3 * math.exp(-1) / (0.3 * math.exp(-1) + 0.7)
    assert data["kl_optimal"][0] == pytest.approx(pooled, abs=1e-12)


# ------------------------------------------------------------------ solve


def test_solve_json_large_group_limit_is_null_with_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *SOLVE[:-1], "inf", "--json")
    assert code == 0
    data = strict_json(out)
    assert data["group_size"] is None and data["large_group_limit"] is True
    code, out, _ = run_cli(capsys, *SOLVE, "--json")
    data = strict_json(out)
    assert data["group_size"] == 8 and data["large_group_limit"] is False


# The engine itself warns about overflow at a subnormal beta; this test is about the JSON.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_solve_json_is_strict_json_for_an_extreme_beta(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *SOLVE[:-4], "--beta", "1e-320", "--group-size", "8", "--json")
    assert code in (0, 1)
    data = strict_json(out)
    # π* ∝ π_ref·exp(r/β) puts all mass on the rewarded output as β → 0
    assert data["kl_optimal"] == [1.0, 0.0]


def test_solve_table_shows_small_probabilities(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "solve", "--pi-ref", "1e-11,0.5,0.5", "--rewards", "0,1,0.5",
                           "--beta", "1", "--group-size", "inf")
    assert code == 0
    row = next(line for line in out.splitlines() if line.split()[:1] == ["0"])
    # π*(0) = 1e-11·e^0 / (1e-11 + 0.5e + 0.5e^0.5), about 4.5e-12: printed, not 0.0000000000
    pi_star_0 = 1e-11 / (1e-11 + 0.5 * math.e + 0.5 * math.exp(0.5))
    assert float(row.split()[3]) == pytest.approx(pi_star_0, rel=1e-9)


# ------------------------------------------------------------------ figures and explore


def test_figures_unwritable_out_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "figures", "--only", "margin", "--out", "/dev/null/sub")
    assert_one_line_error(code, err, "--out", "/dev/null/sub")


def test_figures_unknown_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "figures", "--only", "nosuchfigure", "--out", "/tmp")
    assert_one_line_error(code, err, "nosuchfigure")


def test_explore_save_into_missing_folder_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    target = tmp_path / "nonexistent_dir" / "x.png"
    code, _, err = run_cli(capsys, "explore", "--save", str(target))
    assert_one_line_error(code, err, "--save", "does not exist")
    assert not target.exists()


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        ("matplotlib", ["explore", "--save", "x.png"], "gvpo-theory[plots]"),
        ("torch", ["verify", "--quick"], "gvpo-theory[torch]"),
    ],
)
def test_missing_optional_dependency_names_the_extra(blocked: str, argv: list[str], extra: str) -> None:
    # A fresh interpreter in which `import <blocked>` fails as if it were not installed.
    code = f"{BLOCK}({(blocked,)!r}); from gvpo_theory.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert_one_line_error(proc.returncode, proc.stderr, extra)


def test_parser_builds_without_optional_dependencies() -> None:
    code = f"{BLOCK}(('torch', 'matplotlib')); from gvpo_theory.cli import build_parser; " + (
        "build_parser().parse_args(['verify', '--quick'])"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_build_parser_registers_every_subcommand() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"solve", "dataset", "derive", "verify", "figures", "explore"}
