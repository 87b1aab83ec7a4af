"""gvpo-theory: what GRPO-family and KL-regularised post-training objectives converge to.

Public API (numpy in, numpy out):

* :class:`Objective`, :func:`objective`, :data:`OBJECTIVES` — which GRPO-family objective
  is trained (advantage estimator × penalty × G), as one value every function accepts.
* :func:`kl_optimal_policy` — π* ∝ π_ref·exp(r/β), the RLHF and GVPO optimum.
* :func:`preference_model` — GRPO's reward preference model P_G(o | π).
* :func:`grpo_stationary_policy` — GRPO's stationary policy, solved in level space.
* :func:`approximate_stationary_policy` — its Monte Carlo approximation, with standard
  errors, where exact enumeration is refused (many non-lattice levels, large G).
* :func:`flow_limit`, :func:`beta_zero_limit`, :func:`within_level_distribution` — where the
  expected dynamics go when no interior stationary point is reached: boundary limits, β = 0.
* :func:`stationary_points`, :func:`beta_branches` — every stationary point of the expected
  flow with its stability (attractor / saddle / repeller), which one the flow reaches, and
  the branches in β with their folds.
* :mod:`gvpo_theory.binary` — closed forms for binary questions.
* :mod:`gvpo_theory.dataset` — many prompts at once: predicted accuracy, pass@k, KL and
  effective regularisation per prompt and over a training set, from arrays, a CSV of pass
  rates or a JSONL rollout log; batch-level normalisation as a coupled fixed point.
* :mod:`gvpo_theory.dynamics` — exact expected GRPO / GVPO updates and their flows.
* :mod:`gvpo_theory.symbolic` — sympy derivations of the stationarity conditions and closed forms.
* :mod:`gvpo_theory.torch` — batched tabular bandits trained with GVPO / GRPO (needs torch;
  imported only on request, the engine never imports it).
"""

from . import binary, dataset
from .approximate import ApproximateStationaryResult, approximate_stationary_policy
from .fixed_points import (
    BetaBranch,
    StationaryPoint,
    StationaryPoints,
    beta_branches,
    stationary_points,
)
from .limits import BetaZeroLimit, FlowLimit, beta_zero_limit, flow_limit, within_level_distribution
from .objective import OBJECTIVES, Advantage, Objective, as_objective, objective
from .penalties import PENALTIES
from .pooling import kl_divergence, kl_optimal_log_policy, kl_optimal_policy
from .preference import (
    PreferenceEstimate,
    level_advantages,
    preference_model,
    preference_model_mc,
)
from .problem import RewardDistribution
from .stationary import StationaryResult, grpo_stationary_policy

__version__ = "0.1.0"

__all__ = [
    "OBJECTIVES",
    "PENALTIES",
    "Advantage",
    "ApproximateStationaryResult",
    "BetaBranch",
    "BetaZeroLimit",
    "FlowLimit",
    "Objective",
    "PreferenceEstimate",
    "RewardDistribution",
    "StationaryPoint",
    "StationaryPoints",
    "StationaryResult",
    "__version__",
    "approximate_stationary_policy",
    "as_objective",
    "beta_branches",
    "beta_zero_limit",
    "binary",
    "dataset",
    "flow_limit",
    "grpo_stationary_policy",
    "kl_divergence",
    "kl_optimal_log_policy",
    "kl_optimal_policy",
    "level_advantages",
    "objective",
    "preference_model",
    "preference_model_mc",
    "stationary_points",
    "within_level_distribution",
]
