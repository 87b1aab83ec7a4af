"""The engine is installable and usable with no torch (and no matplotlib): its requirements
do not name them, and it imports and solves with both absent."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Makes `import torch` / `import matplotlib` fail in a fresh interpreter, as if not installed.
BLOCK = """
import sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'matplotlib'):
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
sys.meta_path.insert(0, _Blocker())
"""


def test_requirements_leave_torch_and_matplotlib_to_extras() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [req.split(">")[0].split("=")[0].split("<")[0].strip().lower() for req in project["dependencies"]]
    assert "torch" not in names and "matplotlib" not in names
    assert any(r.startswith("torch") for r in project["optional-dependencies"]["torch"])


def test_engine_and_solve_work_without_torch() -> None:
    code = BLOCK + """
import json, io, contextlib
import gvpo_theory as gt
from gvpo_theory.cli import main
res = gt.grpo_stationary_policy([0.3, 0.7], [1.0, 0.0], 1.0, 2)
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["solve", "--pi-ref", "0.3,0.7", "--rewards", "1,0", "--beta", "1", "--group-size", "2",
                 "--json"])
print(json.dumps([float(res.policy[0]), code, json.loads(out.getvalue())["grpo_stationary"][0],
                  "torch" in sys.modules]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    p_engine, exit_code, p_cli, torch_loaded = json.loads(proc.stdout)
    # docs/theory.md §4, G = 2, β = 1: p = (1 − β + sqrt((β − 1)² + 4β·p_ref)) / 2 = sqrt(0.3)
    assert p_engine == pytest.approx(math.sqrt(0.3), abs=1e-12)
    assert p_cli == pytest.approx(math.sqrt(0.3), abs=1e-12)
    assert exit_code == 0 and not torch_loaded
