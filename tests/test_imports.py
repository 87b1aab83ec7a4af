"""The engine stays light: importing it (or running `solve`) pulls in neither torch nor
matplotlib nor sympy; those load only with the modules that need them."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement", ["import gvpo_theory", "import gvpo_theory.cli; gvpo_theory.cli.build_parser()"]
)
def test_engine_import_does_not_load_heavy_dependencies(statement: str) -> None:
    heavy = "('torch', 'matplotlib', 'sympy')"
    code = f"{statement}; import sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
