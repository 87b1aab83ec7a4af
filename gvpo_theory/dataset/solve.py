"""Each prompt's stationary level masses, every prompt of a dataset at once.

With group-level normalisation (and, at a given batch std, with batch-level normalisation)
prompts are independent problems: prompt i's fixed point involves only its own reference
masses Q_i (docs/theory.md §3). Three routes, all vectorised over prompts:

* GVPO and the RLHF optimum: π* ∝ π_ref·exp(r/β) (:func:`gvpo_theory.kl_optimal_policy`,
  level by level);
* no std (Dr. GRPO, RLOO), two levels v_0 < v_1, any G: the expected advantage of the
  better level is a_1 = κ·(1 − q_1) with κ = c_b·(G − 1)/G·(v_1 − v_0) (c_b = G/(G − 1)
  for the leave-one-out baseline, else 1; (G − 1)/G → 1 at G = ∞), so the k3 fixed point
  q_1·(1 − a_1/β) = Q_1 is eq. (14) with margin κ, and the direct-KL one
  logit q_1 = logit Q_1 + κ/β is logarithmic pooling with β/κ
  (:func:`gvpo_theory.binary.stationary_g2`, :func:`gvpo_theory.binary.logarithmic_pooling`);
* everything else: the engine, :func:`gvpo_theory.grpo_stationary_policy`, on the distinct
  rows only (pass rates k/n repeat), in chunks.

Rows whose reference mass sits on one level have no learning signal under any group
objective (every group ties) and are returned unchanged; GVPO moves them not at all either
(π* re-weights within the support of π_ref).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .. import binary
from ..objective import Objective
from ..pooling import kl_optimal_policy
from ..stationary import grpo_stationary_policy

#: The method name that selects π* ∝ π_ref·exp(r/β) (GVPO's target) instead of a GRPO objective.
GVPO = "gvpo"

#: Rows handed to the engine per call (bounds its working memory).
ENGINE_CHUNK = 1 << 16

Progress = Callable[[int, int], None]


def no_std_margin(obj: Objective, levels: NDArray[np.float64]) -> float:
    """κ = c_b·(G − 1)/G·(v_1 − v_0): a_1 = κ·(1 − q_1) for a two-level no-std objective."""
    g = obj.group_size
    shrink = 1.0 if math.isinf(g) else (g - 1) / g
    return obj.advantage.baseline_factor(g) * shrink * float(levels[1] - levels[0])


def _closed_form_binary(p: NDArray, beta: float, obj: Objective, levels: NDArray) -> NDArray:
    """q_1 at the no-std fixed point for pass rates p ∈ (0, 1) (module docstring)."""
    kappa = no_std_margin(obj, levels)
    if obj.penalty.exponential_weights:
        return np.asarray(binary.logarithmic_pooling(p, beta / kappa, 1.0), dtype=np.float64)
    return np.asarray(binary.stationary_g2(p, beta / kappa, 1.0), dtype=np.float64)


def _engine(
    rows: NDArray, levels: NDArray, beta: float, obj: Objective, progress: Progress | None,
    done: int, total: int,
) -> tuple[NDArray, NDArray, NDArray]:
    """Engine solves of ``rows`` (M, L) in chunks: (masses, converged, residual)."""
    out = np.empty_like(rows)
    conv = np.empty(rows.shape[0], dtype=bool)
    res = np.empty(rows.shape[0])
    for start in range(0, rows.shape[0], ENGINE_CHUNK):
        stop = min(start + ENGINE_CHUNK, rows.shape[0])
        r = grpo_stationary_policy(rows[start:stop], levels, beta, obj)
        out[start:stop] = r.policy
        conv[start:stop] = r.converged
        res[start:stop] = r.residual
        if progress is not None:
            progress(done + stop, total)
    return out, conv, res


def solve_prompts(
    masses: NDArray[np.float64], levels: NDArray[np.float64], beta: float,
    method: Objective | str, *, progress: Progress | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Stationary level masses of every prompt (module docstring).

    Args:
        masses: validated reference level masses Q, shape (N, L), rows summing to 1.
        levels: the L reward values, strictly increasing.
        beta: β > 0.
        method: an :class:`~gvpo_theory.objective.Objective` or :data:`GVPO`.
        progress: called as ``progress(done, total)`` after each engine chunk.

    Returns:
        (q, converged, residual): masses (N, L) after training, whether each prompt's fixed
        point was verified (the engine's ``converged``; True for closed forms and for
        prompts with no learning signal), and the engine's fixed-point residual (0 for
        those).
    """
    n, n_levels = masses.shape
    q = masses.copy()
    converged = np.ones(n, dtype=bool)
    residual = np.zeros(n)
    if method != GVPO and not isinstance(method, Objective):
        raise ValueError(f"method must be an Objective or {GVPO!r}; got {method!r}")
    if n_levels == 2:
        p = masses[:, 1]
        moving = (p > 0) & (p < 1)
        p_in = p[moving]
        if method == GVPO:  # logit π*(a) = logit p_ref + (v_1 − v_0)/β
            top = binary.logarithmic_pooling(p_in, beta / float(levels[1] - levels[0]), 1.0)
        elif method.std == "none":
            top = _closed_form_binary(p_in, beta, method, levels)
        else:
            uniq, inverse = np.unique(p_in, return_inverse=True)
            sol, conv, res = _engine(np.stack([1.0 - uniq, uniq], axis=-1), levels, beta, method,
                                     progress, 0, uniq.size)
            top = sol[inverse, 1]
            converged[moving] = conv[inverse]
            residual[moving] = res[inverse]
        q[moving, 1] = top
        q[moving, 0] = 1.0 - top
        return q, converged, residual
    moving = np.count_nonzero(masses > 0, axis=1) >= 2
    if method == GVPO:
        q[moving] = kl_optimal_policy(masses[moving], levels, beta)
        return q, converged, residual
    rows, inverse = np.unique(masses[moving], axis=0, return_inverse=True)
    sol, conv, res = _engine(rows, levels, beta, method, progress, 0, rows.shape[0])
    inverse = inverse.reshape(-1)
    q[moving], converged[moving], residual[moving] = sol[inverse], conv[inverse], res[inverse]
    return q, converged, residual
