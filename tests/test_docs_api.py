"""docs/api.md is generated from the docstrings; it must not drift from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_page_is_current() -> None:
    spec = importlib.util.spec_from_file_location("render_api", ROOT / "docs" / "render_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "api.md").read_text() == module.render(), (
        "docs/api.md is stale: run .venv/bin/python docs/render_api.py"
    )
