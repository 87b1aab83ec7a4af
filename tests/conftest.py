"""Shared test configuration: hypothesis profiles.

``ci`` (the default) keeps property tests quick and deterministic: no per-example
deadline (the first call of a solver compiles caches), a modest number of examples and
derandomised search so that a failure reproduces. ``thorough`` is for local bug hunts:
``HYPOTHESIS_PROFILE=thorough pytest -m "" tests/test_engine_*.py``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=40,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --------------------------------------------------------------------------- claims ledger
# Tests that check a paper statement carry ``@pytest.mark.claim("<id>", way="<way>")`` with an
# id declared in tests/claims.py. Every such marker is validated at collection; with
# ``--claims-report PATH`` the collected claims and each test's outcome are written as JSON for
# docs/render_claims.py (``make docs``), which renders docs/claims.md from them.

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import claims as _claims  # noqa: E402
import pytest  # noqa: E402

_OUTCOME_RANK = {"not run": 0, "skipped": 1, "xfailed": 2, "passed": 3, "failed": 4, "error": 5}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--claims-report", metavar="PATH", default=None,
        help="write the claim markers (tests/claims.py) of every collected test, and each test's "
             "outcome, as JSON to PATH (read by docs/render_claims.py)",
    )


def claim_marks(item: pytest.Item) -> list[tuple[str, str]]:
    """The (claim id, way) pairs of ``item``'s claim markers, validated against tests/claims.py."""
    out = []
    for mark in item.iter_markers("claim"):
        if len(mark.args) != 1 or set(mark.kwargs) != {"way"}:
            raise pytest.UsageError(f"{item.nodeid}: write the marker as "
                                    "@pytest.mark.claim('<id>', way='<way>')")
        cid, way = mark.args[0], mark.kwargs["way"]
        if cid not in _claims.BY_ID:
            raise pytest.UsageError(f"{item.nodeid}: claim {cid!r} is not declared in tests/claims.py")
        if way not in _claims.WAYS:
            raise pytest.UsageError(f"{item.nodeid}: way must be one of {', '.join(_claims.WAYS)}; "
                                    f"got {way!r}")
        out.append((cid, way))
    return out


class ClaimsRecorder:
    """A plugin (registered with ``--claims-report``): the claim-marked items, collected before
    ``-m`` deselects any, and the outcome of each that runs."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.items: dict[str, dict] = {}

    def collect(self, items: list[pytest.Item]) -> None:
        for item in items:
            marks = claim_marks(item)
            if marks:
                func = getattr(item, "originalname", item.name)
                self.items[item.nodeid] = {
                    "test": f"{item.location[0]}::{func}",
                    "claims": [{"id": c, "way": w} for c, w in marks],
                    "outcome": "not run",
                }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = self.items.get(report.nodeid)
        if row is None:
            return
        if report.when == "call":
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "passed"
            else:
                outcome = report.outcome
        elif report.failed:
            outcome = "error"
        elif report.skipped:
            outcome = "skipped"
        else:
            return
        if _OUTCOME_RANK[outcome] > _OUTCOME_RANK[row["outcome"]]:
            row["outcome"] = outcome

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"nodeid": k, **v} for k, v in sorted(self.items.items())]
        self.path.write_text(json.dumps({"tests": rows}, indent=1) + "\n", encoding="utf-8")


_RECORDER = "claims-recorder"


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--claims-report")
    if path:
        config.pluginmanager.register(ClaimsRecorder(path), _RECORDER)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    recorder = config.pluginmanager.get_plugin(_RECORDER)
    if recorder is not None:
        recorder.collect(items)
    else:
        for item in items:
            claim_marks(item)
