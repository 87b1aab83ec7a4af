"""Dataset-level predictions: many prompts of different difficulty, one objective, one β.

* :class:`Dataset` — prompts as rows of reference reward-level masses, with binomial
  intervals on estimated pass rates (:mod:`.core`, :mod:`.intervals`);
* :func:`read_pass_rates_csv`, :func:`read_rollouts_jsonl` — the file formats (:mod:`.io`);
* :func:`predict` → :class:`Prediction` — every prompt's stationary policy and the dataset
  summary (:mod:`.predict`, per-prompt solves in :mod:`.solve`);
* :func:`solve_batch_std` — batch-level normalisation (TRL ``scale_rewards="batch"``,
  REINFORCE++) as a coupled fixed point in the batch std (:mod:`.batch_norm`).
"""

from .batch_norm import CONVENTIONS, BatchStdSolution, batch_variance, solve_batch_std
from .core import STATUSES, Dataset
from .intervals import INTERVALS, pass_rate_interval
from .io import read_pass_rates_csv, read_rollouts_jsonl
from .predict import DEFAULT_KS, METHOD_NAMES, NORMALISATIONS, Prediction, pass_at_k, predict
from .solve import GVPO, solve_prompts

__all__ = [
    "CONVENTIONS",
    "DEFAULT_KS",
    "GVPO",
    "INTERVALS",
    "METHOD_NAMES",
    "NORMALISATIONS",
    "STATUSES",
    "BatchStdSolution",
    "Dataset",
    "Prediction",
    "batch_variance",
    "pass_at_k",
    "pass_rate_interval",
    "predict",
    "read_pass_rates_csv",
    "read_rollouts_jsonl",
    "solve_batch_std",
    "solve_prompts",
]
