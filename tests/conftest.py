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
