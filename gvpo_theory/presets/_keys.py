"""Shared pieces of the framework presets: the resolved-key record, value checks, reasons.

Every check raises ``ValueError`` naming the framework key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..objective import OBJECTIVES, Objective, objective
from ..problem import _describe

NO_EFFECT = "no effect on the stationary policy, because "

#: Where the batch-level statistics (TRL's scale_rewards="batch", verl's whitened
#: estimators) belong: they pool prompts, so they are a property of a data set.
DATASET_POINTER = "it normalises across the whole batch: see gvpo_theory.dataset"


@dataclass(frozen=True)
class Setting:
    """One resolved framework key: its value, whether it was given, and what it does."""

    key: str
    value: Any
    given: bool
    effect: str

    @property
    def no_effect(self) -> bool:
        return self.effect.startswith(NO_EFFECT)

    def to_dict(self) -> dict:
        return {"key": self.key, "value": _jsonable(self.value), "given": self.given, "effect": self.effect}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


# ------------------------------------------------------------------ value checks


def _real(value: Any, key: str, *, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{key} must be a number; got {_describe(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{key} must be finite; got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{key} must be {'>' if strict else '>='} {minimum:g}; got {v:g}")
    return v


def _int(value: Any, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{key} must be an integer; got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key} must be >= {minimum}; got {value}")
    return int(value)


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{key} must be true or false; got {_describe(value)}")
    return bool(value)


def _choice(value: Any, key: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, options))}; got {_describe(value)}")
    return value


def _optional(check: Callable[..., Any]) -> Callable[..., Any]:
    def inner(value: Any, *args: Any, **kw: Any) -> Any:
        return None if value is None else check(value, *args, **kw)

    return inner


class _Record:
    """Collects the :class:`Setting` of each resolved key, once per key."""

    def __init__(self, cfg: Mapping[str, Any], given: set[str]) -> None:
        self._cfg, self._given = cfg, given
        self._out: dict[str, Setting] = {}

    def __call__(self, key: str, effect: str, value: Any = None) -> None:
        if key not in self._out:
            self._out[key] = Setting(key, self._cfg.get(key) if value is None else value,
                                     key in self._given, effect)

    def keys(self) -> set[str]:
        return set(self._out)

    def settings(self) -> tuple[Setting, ...]:
        return tuple(self._out.values())


def _unknown(keys: list[str], accepted: list[str], where: str) -> ValueError:
    return ValueError(
        f"unknown {where} key{'s' if len(keys) > 1 else ''} {', '.join(map(repr, sorted(keys)))}; "
        f"accepted: {', '.join(accepted)}"
    )


def _registry_objective(name: str, group_size: int, what: str, **changes: Any) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"{what} needs the objective {name!r}, which gvpo_theory.objective.OBJECTIVES lacks")
    return objective(name, group_size, **changes)


_RATIO_AT_ONE = "the importance ratio π_θ/π_old is 1 at θ = θ_old, inside every clip range"
_REST_POINTS = ("where the expected update vanishes θ stays at θ_old, so further steps on the same "
                "rollout leave the rest points unchanged")
_PLUMBING = "it sets model loading, data handling, logging or hardware, not the objective"
_LENGTH = ("for one-token outputs every aggregation is the mean over the samples times a positive "
           "constant that scales the policy and the KL term alike")


