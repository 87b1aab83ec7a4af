"""The claims ledger stays complete: every declared claim has a test, and docs/claims.md lists them.

The markers are read statically (ast) from tests/test_*.py, so this needs no test run;
docs/render_claims.py's verdicts are checked on synthetic reports.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from claims import BY_ID, CLAIMS, WAYS

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PAGE = ROOT / "docs" / "claims.md"


def _is_claim_marker(node: ast.expr) -> bool:
    """``pytest.mark.claim(...)``."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "claim"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark")


def static_markers() -> dict[str, set[tuple[str, str]]]:
    """claim id → {(``tests/<file>::<function>``, way)} from the decorators in tests/test_*.py."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                if not _is_claim_marker(dec):
                    continue
                assert len(dec.args) == 1 and isinstance(dec.args[0], ast.Constant), (path.name, node.name)
                kw = {k.arg: k.value for k in dec.keywords}
                assert set(kw) == {"way"} and isinstance(kw["way"], ast.Constant), (path.name, node.name)
                found[dec.args[0].value].add((f"tests/{path.name}::{node.name}", kw["way"].value))
    return found


def test_every_declared_claim_has_a_test_and_every_marker_a_claim() -> None:
    found = static_markers()
    missing = [c.id for c in CLAIMS if c.id not in found]
    assert not missing, f"declared claims without a test: {missing}"
    unknown = sorted(set(found) - set(BY_ID))
    assert not unknown, f"markers naming undeclared claims: {unknown}"
    bad_ways = sorted({w for rows in found.values() for _, w in rows} - set(WAYS))
    assert not bad_ways, f"unknown ways: {bad_ways}"


def test_declared_claims_are_well_formed() -> None:
    for c in CLAIMS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", c.id), c.id
        assert c.paper in ("V&Y", "GVPO", "derived here"), c.id
        assert c.source and c.statement.endswith("."), c.id
        if c.paper == "derived here":
            assert c.source.startswith("docs/theory.md"), c.id


def _page_rows() -> dict[str, set[str]]:
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([a-z0-9-]+)` \|", line)
        if m:
            cells = line.split(" | ")
            names = re.findall(r"`(test_[a-z0-9_]+\.py::[a-z0-9_]+)`", cells[3])
            rows[m.group(1)] = {f"tests/{t}" for t in names}
    return rows


def test_claims_page_lists_the_declared_claims_and_their_tests() -> None:
    """docs/claims.md is regenerated (`make docs`) whenever claims or markers change."""
    rows = _page_rows()
    assert list(rows) == [c.id for c in CLAIMS], "docs/claims.md is stale: run make docs"
    for cid, tests in static_markers().items():
        assert rows[cid] == {t for t, _ in tests}, f"docs/claims.md is stale for {cid}: run make docs"
    assert "| FAIL |" not in PAGE.read_text(encoding="utf-8")


def _renderer():
    spec = importlib.util.spec_from_file_location("render_claims", ROOT / "docs" / "render_claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def _report(outcome_of: dict[str, str]) -> dict:
    """A report with one test per declared claim, passing unless ``outcome_of`` says otherwise."""
    return {"tests": [{"nodeid": f"tests/test_x.py::t_{c.id}", "test": f"tests/test_x.py::t_{c.id}",
                       "claims": [{"id": c.id, "way": "closed form"}],
                       "outcome": outcome_of.get(c.id, "passed")} for c in CLAIMS]}


@pytest.mark.parametrize(("outcome", "status", "code"),
                         [("passed", "pass", 0), ("failed", "FAIL", 1), ("not run", "not run", 1),
                          ("xfailed", "not run", 1), ("error", "FAIL", 1)])
def test_renderer_fails_when_a_claim_has_no_passing_test(tmp_path: Path, outcome: str, status: str,
                                                         code: int, capsys) -> None:
    rc = _renderer()
    first = CLAIMS[0].id
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report({first: outcome})), encoding="utf-8")
    out = tmp_path / "claims.md"
    assert rc.main(["--report", str(report), "--out", str(out)]) == code
    lines = out.read_text(encoding="utf-8").splitlines()
    row = next(line for line in lines if line.startswith(f"| `{first}`"))
    assert row.endswith(f"| {status} |")
    printed = capsys.readouterr().out
    assert re.search(rf"^  pass\s+{len(CLAIMS) - (status != 'pass')}$", printed, re.M)


def test_renderer_reports_a_claim_without_tests(tmp_path: Path) -> None:
    rc = _renderer()
    data = _report({})
    data["tests"] = data["tests"][1:]
    statuses = rc.ledger(data)
    assert statuses[0].status == "NO TEST"
    counts = rc.column_counts(statuses, data)
    assert counts["NO TEST"] == 1 and counts["pass"] == len(CLAIMS) - 1
    assert counts["closed form"] == len(CLAIMS) - 1 and counts["training"] == 0
