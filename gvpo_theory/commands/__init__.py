"""Subcommands of the gvpo-theory CLI, one module each, and the JSON writer they share."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float (inf, -inf, nan) replaced by ``None``.

    ``json.dumps`` writes those as ``Infinity``/``NaN``, which are not JSON; ``null`` is,
    and every reader accepts it.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    """Strict JSON (``allow_nan=False``) after :func:`finite_json`."""
    return json.dumps(finite_json(value), allow_nan=False, **kwargs)
