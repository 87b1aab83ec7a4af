"""Render docs/claims.md: every statement of the two papers, the tests that check it, and their status.

    .venv/bin/python docs/render_claims.py                   # run the claim tests, rewrite docs/claims.md
    .venv/bin/python docs/render_claims.py --report R.json   # render from an existing run's report

The claims are declared in tests/claims.py; a test checks one by carrying
``@pytest.mark.claim("<id>", way="<way>")``. The default run is
``pytest -m "claim and not slow" --claims-report <tmp>`` (the conftest plugin writes, for every
claim-marked test, its claims and outcome); slow tests are listed as "not run" unless a report
from ``pytest -m claim`` is given. Prints the count per column of the table and exits 1 when a
claim has no passing test or a claim test failed, so ``make docs`` fails then.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "claims.md"
sys.path.insert(0, str(ROOT / "tests"))

from claims import CLAIMS, WAYS, Claim  # noqa: E402

#: The pytest command of the default run (arguments after ``python -m pytest``).
PYTEST_ARGS: tuple[str, ...] = ("-q", "-p", "no:cacheprovider", "-m", "claim and not slow")


@dataclass
class TestRow:
    """One test function checking a claim in one way: its cases' outcomes."""

    test: str
    way: str
    outcomes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.outcomes.count("passed")

    @property
    def failed(self) -> int:
        return self.outcomes.count("failed") + self.outcomes.count("error")


@dataclass
class ClaimStatus:
    """A claim with its tests; ``status`` is "pass", "FAIL", "not run" or "NO TEST"."""

    claim: Claim
    rows: list[TestRow]

    def ways_passing(self, way: str) -> int:
        """How many test functions checking this claim in ``way`` have passing cases and no failure."""
        return sum(1 for r in self.rows if r.way == way and r.passed and not r.failed)

    @property
    def n_ways(self) -> int:
        return sum(1 for w in WAYS if self.ways_passing(w))

    @property
    def status(self) -> str:
        if not self.rows:
            return "NO TEST"
        if any(r.failed for r in self.rows):
            return "FAIL"
        if any(r.passed for r in self.rows):
            return "pass"
        return "not run"


def run_tests(report: Path) -> int:
    """Run the claim-marked tests with the conftest plugin writing ``report``; return pytest's code."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "pytest", *PYTEST_ARGS, "--claims-report", str(report)]
    print("running: python -m pytest " + " ".join(
        f'"{a}"' if " " in a else a for a in PYTEST_ARGS) + " --claims-report <tmp>", flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def ledger(report: dict) -> list[ClaimStatus]:
    """Group the report's test cases by claim and test function (in the order of tests/claims.py)."""
    rows: dict[str, dict[tuple[str, str], TestRow]] = defaultdict(dict)
    for case in report["tests"]:
        for mark in case["claims"]:
            key = (case["test"], mark["way"])
            row = rows[mark["id"]].setdefault(key, TestRow(case["test"], mark["way"]))
            row.outcomes.append(case["outcome"])
    return [ClaimStatus(c, sorted(rows[c.id].values(), key=lambda r: (WAYS.index(r.way), r.test)))
            for c in CLAIMS]


def column_counts(statuses: list[ClaimStatus], report: dict) -> dict[str, int]:
    """The count per column: claims checked in each way, by ≥ 2 ways, per status, and tests."""
    counts = {"claims": len(statuses)}
    for way in WAYS:
        counts[way] = sum(1 for s in statuses if s.ways_passing(way))
    counts["two or more ways"] = sum(1 for s in statuses if s.n_ways >= 2)
    for status in ("pass", "FAIL", "not run", "NO TEST"):
        counts[status] = sum(1 for s in statuses if s.status == status)
    counts["test functions"] = len({r.test for s in statuses for r in s.rows})
    counts["test cases run"] = sum(1 for t in report["tests"] if t["outcome"] not in ("not run", "skipped"))
    return counts


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _tests_cell(s: ClaimStatus) -> str:
    parts = []
    for r in s.rows:
        name = r.test.removeprefix("tests/")
        n = len(r.outcomes)
        cases = f" ({n} cases)" if n > 1 else ""
        flag = "" if r.passed and not r.failed else (" **failed**" if r.failed else " (not run)")
        parts.append(f"`{name}`{cases}{flag}")
    return "<br>".join(parts) if parts else "—"


def trl_table() -> list[str]:
    """π(a) at TRL's default β = 0.04 for G = 2, 8, ∞ and logarithmic pooling (public API)."""
    from gvpo_theory import binary

    beta = 0.04
    lines = ["| π_ref(a) | G = 2 | G = 8 | G = ∞ | pooling |", "|---|---|---|---|---|"]
    for p_ref in (1e-12, 1e-6, 0.01, 0.1, 0.5):
        vals = [float(binary.stationary_g2(p_ref, beta)), float(binary.stationary(p_ref, beta, 8)),
                float(binary.stationary(p_ref, beta, math.inf)),
                float(binary.logarithmic_pooling(p_ref, beta))]
        lines.append(f"| {p_ref:g} | " + " | ".join(f"{v:.6f}" if v < 0.9999995 else f"1 − {1 - v:.1e}"
                                                     for v in vals) + " |")
    return lines


INTRO = """# Claims ledger

Generated by `make docs` (`.venv/bin/python docs/render_claims.py`) from the claims declared in
`tests/claims.py`, the `@pytest.mark.claim(id, way=...)` markers on the tests, and a run of
`python -m pytest -m "claim and not slow" --claims-report <file>`. Edit those, not this page.
`tests/test_claims_ledger.py` (part of `make test`) fails when a declared claim has no test or this
page lists other claims or tests than the markers; a failing claim test fails `make test` itself.

Papers: V&Y = Vojnovic & Yun, *What is the Alignment Objective of GRPO?* (arXiv 2502.18548, v3);
GVPO = Zhang et al., *GVPO: Group Variance Policy Optimization for Large Language Model
Post-Training* (arXiv 2504.19599). Equation numbers are given only where confirmed against the
paper (V&Y eqs. (2), (8)–(10), (14), (15), (19)); otherwise the section is named. Rows marked
"derived here" are results of this project (docs/theory.md), not statements of the papers.

Ways: **closed form** — against a formula in sympy or 40-digit mpmath; **exact numerics** — against
an independent computation (brute force over groups, an independent root, enumeration);
**training** — by running the dynamics (expected-gradient flows, sampled SGD in torch). The number in
a way's column is how many test functions check the claim that way and pass.
"""

FIGURES = """## The paper's figures

V&Y's Figs. 1–3 (G = 2, G = ∞ and the direct KL at G = 2, π(a) against π_ref(a)) are regenerated as
one figure by `make figures`: `figures/fig8_paper.png` (script `analyses/fig8_paper.py`, data in
`figures/fig8_paper.csv`, checked against eqs. (14), (15) and pooling by `tests/test_fig8_paper.py`).
The paper's own parameter values are not restated there; the script's are β/γ = 0.1, 0.3, 1, 3 and
β = 0.3, 1, 3.
"""

SCOPE = """## Scope: tabular policies, single-token outputs

The toolkit's model is a tabular policy over whole outputs o. V&Y's eq. (1) is GRPO's objective at
the sequence level (no 1/|o| average over tokens, no per-token k3 estimator) and it sets clipping
aside: at π_θ = π_old the ratio is 1 and the clip is inactive, so stationary points (where
π_θ = π_old) do not see it. The tabular model follows eq. (1) exactly. What the token level would
change: GRPO as implemented averages the per-token loss over each output's |o| tokens and applies
k3 per token, so outputs of different lengths are weighted differently and the per-token k3 sums to
a different penalty than the sequence-level one. What does not change for single-token outputs
(|o| = 1, e.g. a choice among K answers): the 1/|o| average is the identity and the per-token k3 is
the sequence-level k3, so every statement here applies as written.
"""

ZERO = """## π_ref(a) = 0: a jump, not a limit

As π_ref(a) → 0 the stationary π(a) tends to 1 − β/γ at G = 2 (β < γ) and to 1/(1 + β²) at G = ∞
(`vy-pref-to-zero`, checked over π_ref(a) = 1e-12 … 1e-3). At π_ref(a) = 0 itself the problem is a
different one: there is no reference mass to reweight, and the fixed point π = π_ref/(1 − P/β) gives
π(a) = 0. The general solver (`grpo_stationary_policy`) accepts zero reference masses and returns
π(a) = 0 there (tested); the binary closed forms in `gvpo_theory.binary` reject π_ref(a) = 0 with a
ValueError rather than return either the limit or the value.
"""


def render(statuses: list[ClaimStatus], counts: dict[str, int], source: str) -> str:
    lines = [INTRO, f"Status of this page: {source}.", ""]
    summary = (f"**{counts['claims']} claims** ({counts['pass']} pass, {counts['FAIL']} fail, "
               f"{counts['not run']} not run, {counts['NO TEST']} without a test); checked by closed form: "
               f"{counts['closed form']}, exact numerics: {counts['exact numerics']}, training: "
               f"{counts['training']}; by two or more ways: {counts['two or more ways']}; "
               f"{counts['test functions']} test functions, {counts['test cases run']} test cases run.")
    lines += [summary, ""]
    head = "| claim | source | statement | tests | " + " | ".join(WAYS) + " | ways | status |"
    lines += [head, "|" + "---|" * (6 + len(WAYS))]
    for s in statuses:
        c = s.claim
        ways = " | ".join(str(s.ways_passing(w)) if s.ways_passing(w) else "—" for w in WAYS)
        lines.append(f"| `{c.id}` | {_cell(c.paper)}, {_cell(c.source)} | {_cell(c.statement)} | "
                     f"{_tests_cell(s)} | {ways} | {s.n_ways} | {s.status} |")
    lines += ["", "## Notes: discrepancies and sharper statements", ""]
    for c in CLAIMS:
        if c.note:
            lines.append(f"* `{c.id}` ({c.paper}, {c.source}): {c.note}")
    lines += ["", ZERO, "## TRL's default β = 0.04", "",
              "Stationary π(a) of a binary question (reverse-KL penalty, population std) against "
              "logarithmic pooling, from `gvpo_theory.binary` (checked in `test_claims_vy.py::"
              "test_trl_default_beta`):", "", *trl_table(), "",
              "GRPO keeps π(a) ≥ 1 − β = 0.96 (G = 2) and ≥ 1/(1 + β²) ≈ 0.9984 (G = ∞) whatever "
              "π_ref(a) > 0; pooling shifts the logit by 1/β = 25, so it is greedier at π_ref(a) = 0.01 "
              "but follows π_ref(a) → 0.", "", FIGURES, SCOPE]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=None,
                        help="a --claims-report JSON to render instead of running the tests")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output page (default: {OUT})")
    args = parser.parse_args(argv)
    if args.report is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "claims.json"
            code = run_tests(path)
            if not path.exists():
                print(f"error: pytest wrote no report (exit code {code})", file=sys.stderr)
                return 1
            report = json.loads(path.read_text(encoding="utf-8"))
        source = 'claim tests run by `python -m pytest -m "claim and not slow"`'
    else:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        source = f"claim tests of the report `{args.report.name}`"
    statuses = ledger(report)
    counts = column_counts(statuses, report)
    args.out.write_text(render(statuses, counts, source), encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"  {key:<{width}}  {value}")
    bad = [s.claim.id for s in statuses if s.status != "pass"]
    if bad:
        print("claims without a passing test: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
