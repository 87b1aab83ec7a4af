"""The :class:`Preset` value: a framework setting as an objective, β and a record, and its solve."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..objective import Objective
from ..penalties import LowVarKL
from ..problem import check_group_size
from ._keys import Setting, _real


@dataclass(frozen=True)
class Preset:
    """What a framework configuration trains, for one-token outputs.

    Attributes:
        name: the preset's name (``"trl"``, ``"verl"``, ``"gvpo-…"`` or a :data:`PRESETS` name).
        framework: ``"trl"``, ``"verl"`` or ``"gvpo"``.
        objective: the implied objective (a :data:`~gvpo_theory.objective.OBJECTIVES` entry
            with the framework's fields filled in).
        beta: the framework's KL coefficient as configured (TRL ``beta``, verl
            ``kl_loss_coef`` or ``kl_ctrl.kl_coef``, GVPO ``gvpo_beta``).
        beta_key: the key that carries it; None when no coefficient reaches the objective
            (verl without a KL term, the official GVPO code): :meth:`with_beta` then
            changes nothing.
        settings: every resolved key (:class:`Setting`), given or defaulted.
        policy_scale: c > 0 multiplying the policy term alone (TRL's ``cispo`` at
            ε_high < 1): the rest points are those of the objective at β/c.
        source: the keys as given, from which :meth:`with_beta` re-resolves.
    """

    name: str
    framework: str
    objective: Objective
    beta: float
    beta_key: str | None
    settings: tuple[Setting, ...]
    policy_scale: float = 1.0
    summary: str = ""
    source: tuple[tuple[str, Any], ...] = ()

    @property
    def engine_beta(self) -> float:
        """The β the objective is solved at: β/policy_scale."""
        return self.beta / self.policy_scale

    @property
    def group_size(self) -> float | int:
        return self.objective.group_size

    @property
    def no_effect(self) -> tuple[Setting, ...]:
        """The keys accepted and reported as having no effect on the stationary policy."""
        return tuple(s for s in self.settings if s.no_effect)

    @property
    def condition(self) -> str:
        """The stationarity condition of the implied objective (docs/frameworks.md)."""
        obj = self.objective
        if obj.loss in _LOSS_CONDITIONS:
            return _LOSS_CONDITIONS[obj.loss]
        if obj.reward_kl is not None:
            return _REWARD_KL_CONDITION
        if obj.penalty.zero_gradient or self.engine_beta == 0.0:
            rest = _ZERO_KL_CONDITION
            return rest + (" (tied groups dropped: the same rest points)" if obj.filter_ties else "")
        if obj.filter_ties:
            return "π(o)·P_G(o|π) = β·P(o in a non-tied group)·(penalty gradient), per output"
        return _CONDITIONS.get(obj.penalty.name, obj.penalty.label)

    def with_beta(self, beta: float) -> Preset:
        """The same setting with its KL coefficient set to ``beta`` (re-resolved from the
        framework's keys, so β = 0 and β > 0 each get their own objective); a setting
        without a coefficient (``beta_key`` None) is returned unchanged."""
        if self.beta_key is None:
            _real(beta, "beta", minimum=0.0)
            return self
        return self._rebuild({self.beta_key: beta})

    def with_group_size(self, group_size: float | int) -> Preset:
        """The same setting at another group size G."""
        g = check_group_size(group_size)
        keys = {"trl": "num_generations", "verl": "actor_rollout_ref.rollout.n", "gvpo": "group_size"}
        key = keys[self.framework]
        if math.isinf(g):
            return replace(self, objective=self.objective.with_group_size(g))
        return self._rebuild({key: g})

    def _rebuild(self, changes: Mapping[str, Any]) -> Preset:
        from .gvpo import from_gvpo
        from .trl import from_trl
        from .verl import from_verl

        args = {**dict(self.source), **changes}
        if self.framework == "trl":
            p = from_trl(**args)
        elif self.framework == "verl":
            p = from_verl(args)
        else:
            p = from_gvpo(**args)
        return replace(p, name=self.name)

    def solve(self, pi_ref: ArrayLike, rewards: Any, beta: ArrayLike | None = None) -> Answer:
        """Where this setting's training converges, for π_ref and deterministic rewards.

        ``beta`` overrides the coefficient: a number, or an array of β (a grid, solved in one
        call where the engine allows). The objective is the one the framework trains at the
        largest of them (:meth:`with_beta`: TRL's β = 0 has no KL term, β > 0 has one; at
        β = 0 a KL penalty contributes nothing, so the grid may mix both).

        Level-space objectives go through
        :func:`~gvpo_theory.stationary.grpo_stationary_policy` at β/policy_scale (all β of
        a grid at once; β = 0, a zero-gradient estimator and verl's clamp give its boundary
        limits); the others (KL in the reward, DAPO's filter, pass@k, the GVPO losses)
        through :func:`gvpo_theory.frameworks.stationary_point`, one β at a time.
        """
        b = np.asarray(self.beta if beta is None else beta, dtype=np.float64)
        if b.ndim > 1 or b.size == 0 or not np.all(np.isfinite(b)) or np.any(b < 0):
            raise ValueError("beta must be a number >= 0 or a non-empty 1-D array of them")
        target = self if beta is None else self.with_beta(float(np.max(b)))
        return _solve(target, np.asarray(pi_ref, dtype=np.float64), rewards, b / self.policy_scale)

    def to_dict(self) -> dict:
        """Plain data for JSON: the preset, its objective and every resolved setting."""
        obj = self.objective
        g = obj.group_size
        return {
            "name": self.name,
            "framework": self.framework,
            "summary": self.summary,
            "objective": obj.label,
            "loss": obj.loss,
            "baseline": obj.advantage.baseline,
            "std": obj.advantage.scale,
            "eps": obj.advantage.eps,
            "eps_at": obj.advantage.eps_at,
            "penalty": obj.penalty.name,
            "reward_kl": obj.reward_kl,
            "filter_ties": obj.filter_ties,
            "group_size": None if math.isinf(g) else int(g),
            "beta": self.beta,
            "beta_key": self.beta_key,
            "policy_scale": self.policy_scale,
            "engine_beta": self.engine_beta,
            "condition": self.condition,
            "settings": [s.to_dict() for s in self.settings],
        }


@dataclass(frozen=True)
class Answer:
    """Where a preset's training goes: ``policy`` (K,) or (n, K) for a β grid; per β
    ``converged`` (an interior rest point verified to the engine's tolerance), ``kind``
    ("interior" or "boundary": no interior rest point is reached; ``policy`` is then the
    limit the engine returns, and NaN where the engine's boundary policy is not a rest
    point of the exact expected update, i.e. no limit is known) and ``residual``;
    ``message`` the engine's reason."""

    policy: NDArray[np.float64]
    converged: NDArray[np.bool_]
    kind: tuple[str, ...]
    residual: NDArray[np.float64]
    message: str


#: A boundary policy counts as the limit only where the expected update vanishes there.
LIMIT_TOL = 1e-10


def _solve(p: Preset, pi_ref: NDArray[np.float64], rewards: Any, engine_b: NDArray[np.float64]) -> Answer:
    """Dispatch (:meth:`Preset.solve`), then :func:`_boundary_check` on boundary answers."""
    obj = p.objective
    flat = np.atleast_1d(engine_b)
    zero = obj.penalty.zero_gradient and obj.reward_kl is None and obj.loss == "grpo"
    no_force = p.beta_key is None or zero
    if flat.size > 1 and no_force:
        # No KL force reaches the policy (β only scales the step, or the estimator's expected
        # gradient is 0): the answer is the same at every β; solve once and repeat it.
        one = _solve(p, pi_ref, rewards, flat[:1])
        n = flat.size
        return Answer(np.repeat(one.policy, n, axis=0), np.repeat(one.converged, n), one.kind * n,
                      np.repeat(one.residual, n), one.message)
    if obj.level_space and pi_ref.shape == (2,) and flat.size > 1 and isinstance(obj.penalty, LowVarKL):
        policy, conv, kind, residual, message = _two_output_grid(pi_ref, rewards, flat, obj)
    elif obj.level_space:
        from ..stationary import grpo_stationary_policy

        res = grpo_stationary_policy(pi_ref, rewards, flat if engine_b.ndim else float(engine_b), obj)
        conv = np.asarray(res.converged, dtype=bool)
        kind = tuple(str(k) for k in np.atleast_1d(res.kind))
        policy, residual, message = res.policy, np.asarray(res.residual, dtype=np.float64), res.message
    else:
        from ..frameworks import stationary_point

        sols = [stationary_point(pi_ref, rewards, float(x), obj) for x in flat]
        policy = np.stack([s.policy for s in sols])
        conv = np.array([s.converged for s in sols])
        residual = np.array([s.residual for s in sols])
        kind = tuple(s.kind for s in sols)
        message = sols[-1].message
        if engine_b.ndim == 0:
            policy, conv, residual = policy[0], conv[0], residual[0]
    policy = _boundary_check(policy, kind, pi_ref, rewards, flat, obj)
    return Answer(policy, conv, kind, residual, message)


def _two_output_grid(pi_ref: NDArray[np.float64], rewards: Any, beta: NDArray[np.float64], obj: Objective
                     ) -> tuple[NDArray, NDArray[np.bool_], tuple[str, ...], NDArray, str]:
    """A two-output question over a β grid, every β at once: (policy, converged, kind, residual, message).

    The expected flow from π_ref moves along one line, so
    :func:`~gvpo_theory.line_limits.line_limits` gives its exact limit for the whole grid in
    one vectorised march; the β where it ends at a boundary take that limit (what
    :func:`~gvpo_theory.stationary.grpo_stationary_policy` returns there, through
    :func:`~gvpo_theory.limits.flow_limit`), the others go to
    :func:`~gvpo_theory.stationary.grpo_stationary_policy`, which solves and verifies the
    interior point. Taken for verl's clamped low_var_kl (:func:`_solve`), whose clamp
    removes the restoring force below β ≈ 0.17 on the atlas question, and nowhere else:
    k3 keeps every K = 2 flow inside (its faces repel), and with the direct KL's exponential
    weights an interior rest point can lie below the e^−700 mass where the march stops
    (π(b) ∝ π_ref(b)·e^(P_b/β), e^−2600 at β = 0.001), which the engine's solver finds.
    """
    from ..line_limits import line_limits
    from ..stationary import FIXED_POINT_TOL, _limit_message, grpo_stationary_policy

    line = line_limits(pi_ref, rewards, beta, obj)
    inner = line.kind == "interior"
    policy, residual = line.policy.copy(), line.residual.copy()
    conv = np.zeros(beta.size, dtype=bool)
    kind = np.asarray(line.kind, dtype=object)
    if np.all(inner):
        res = grpo_stationary_policy(pi_ref, rewards, beta, obj)
        return res.policy, np.asarray(res.converged, dtype=bool), tuple(str(k) for k in res.kind), \
            np.asarray(res.residual, dtype=np.float64), res.message
    if np.any(inner):
        res = grpo_stationary_policy(pi_ref, rewards, beta[inner], obj)
        policy[inner], residual[inner] = res.policy, res.residual
        conv[inner], kind[inner] = res.converged, np.asarray(res.kind, dtype=object)
    # the engine's own batch sentence (counts of interior, boundary and unconverged problems)
    message = _limit_message(None, [], kind == "boundary", conv, FIXED_POINT_TOL)
    return policy, conv, tuple(str(k) for k in kind), residual, message


def _boundary_check(policy: NDArray[np.float64], kind: tuple[str, ...], pi_ref: NDArray[np.float64],
                    rewards: Any, beta: NDArray[np.float64], obj: Objective) -> NDArray[np.float64]:
    """NaN rows for boundary answers that are not rest points of the exact expected update
    (:func:`gvpo_theory.frameworks.expected_update`, max_o |F_o| <= :data:`LIMIT_TOL`): a
    boundary policy is reported only when it is a limit the dynamics can stay at."""
    if "boundary" not in kind:
        return policy
    from ..frameworks import expected_update

    out = np.array(policy, dtype=np.float64, copy=True)
    rows = out.reshape(-1, out.shape[-1])
    for i, k in enumerate(kind):
        if k != "boundary":
            continue
        update = expected_update(rows[i], pi_ref, rewards, float(beta[i]), obj)
        if not np.max(np.abs(update)) <= LIMIT_TOL:
            rows[i] = np.nan
    return out


#: Fixed-point conditions by penalty (docs/theory.md §3, docs/frameworks.md).
_CONDITIONS: dict[str, str] = {
    "reverse_kl": "π(o) = π_ref(o)/(1 − P_G(o|π)/β)",
    "direct_kl": "π(o) ∝ π_ref(o)·exp(P_G(o|π)/β)",
    "low_var_kl": "π(o) = π_ref(o)/(1 − P_G(o|π)/β) while every π_ref/π ≤ 13.61; past the clamp the "
                  "clamped outputs' mass flows to 0",
}
_ZERO_KL_CONDITION = "π(o)·P_G(o|π) = 0 for every o: π's support carries one reward level"
_REWARD_KL_CONDITION = "the shaped reward r − β·D is constant on π's support (k1: π = π*)"
_LOSS_CONDITIONS: dict[str, str] = {
    "gvpo": "π ∝ π_ref·exp(r/β) (π*)",
    "gvpo-rollout": "π(o)·(r(o) − E_π r) = 0: π's support carries one reward level",
}


