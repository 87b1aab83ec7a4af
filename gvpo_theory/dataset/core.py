"""A training set of prompts, each reduced to its reference reward-level masses.

For every objective of the package the stationary policy of a prompt depends on π_ref only
through the masses Q_l = π_ref(reward = v_l) of its reward levels (docs/theory.md §3: π is
π_ref re-weighted level by level), so a prompt *is* its row of level masses:

* binary verifiers: levels (0, 1) and Q = (1 − p_ref, p_ref), p_ref the reference pass rate;
* graded or stochastic rewards: masses over L levels (the mixture m of docs/theory.md §4b
  evaluated at π_ref).

Estimates from n samples carry their binomial uncertainty: :attr:`Dataset.lower` and
:attr:`Dataset.upper` bound the top level's mass (the pass rate) at the dataset's confidence
(:mod:`.intervals`). A prompt whose samples never reached some level is kept and labelled
(:data:`STATUSES`), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..problem import as_float_array, as_numeric_array, check_choice, check_distribution
from .intervals import INTERVALS, check_confidence, check_counts, pass_rate_interval

#: Per-prompt status codes: code → meaning (the prediction for each is in docs/theory.md).
STATUSES: dict[str, str] = {
    "interior": "every reward level has reference mass: the objective moves the prompt",
    "all-correct": "all reference mass on the best level (p_ref = 1): every group ties, "
                   "no learning signal, the prompt stays at π_ref",
    "none-correct": "binary: no reference mass on the correct level (p_ref = 0): every group ties, "
                    "no learning signal, the prompt stays at π_ref",
    "single-level": "all reference mass on one level that is not the best: every group ties, "
                    "the prompt stays at π_ref",
    "missing-levels": "graded rewards with two or more levels present and some absent: "
                      "solved on the levels present (absent levels keep mass 0)",
}

#: Largest number of distinct reward levels a dataset may have.
MAX_LEVELS = 16


@dataclass(frozen=True)
class Dataset:
    """Prompts as rows of reference reward-level masses (module docstring).

    Attributes:
        levels: the L reward values, strictly increasing, shape (L,).
        masses: reference level masses Q, shape (N, L); rows sum to 1.
        ids: prompt identifiers (N,) as strings, or ``None`` (the row index is the id).
        samples: how many samples each row was estimated from, shape (N,) int64; 0 where
            the masses were given exactly.
        lower, upper: confidence bounds on the top level's mass (the pass rate), shape
            (N,); equal to the point estimate where ``samples`` is 0.
        confidence: the bounds' confidence level.
        interval: the interval method (:data:`~.intervals.INTERVALS`).
        ref_entropy: per prompt, −mean log π_ref of the logged completions (a Monte Carlo
            estimate of the reference's entropy on the prompt; NaN where none was logged),
            or ``None``.
    """

    levels: NDArray[np.float64]
    masses: NDArray[np.float64]
    ids: NDArray[np.str_] | None = None
    samples: NDArray[np.int64] | None = None
    lower: NDArray[np.float64] | None = None
    upper: NDArray[np.float64] | None = None
    confidence: float = 0.95
    interval: str = "clopper-pearson"
    ref_entropy: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        levels = as_float_array(self.levels, "levels")
        if levels.ndim != 1 or not 2 <= levels.size <= MAX_LEVELS:
            raise ValueError(f"levels must be a 1-D array of 2 to {MAX_LEVELS} reward values; "
                             f"got shape {levels.shape}")
        if np.any(np.diff(levels) <= 0):
            raise ValueError("levels must be strictly increasing (distinct reward values)")
        masses = check_distribution(self.masses, "masses")
        if masses.ndim != 2 or masses.shape[1] != levels.size:
            raise ValueError(f"masses must have shape (N, {levels.size}) (one column per level); "
                             f"got {masses.shape}")
        n = masses.shape[0]
        if n == 0:
            raise ValueError("a dataset needs at least one prompt (masses has no rows)")
        ids = None
        if self.ids is not None:
            ids = np.asarray(self.ids).astype(str)
            if ids.shape != (n,):
                raise ValueError(f"ids must have one entry per prompt ({n}); got shape {ids.shape}")
        samples = np.zeros(n, dtype=np.int64) if self.samples is None else self.samples
        samples = np.asarray(as_float_array(samples, "samples"))
        if samples.shape != (n,) or np.any(samples < 0) or np.any(samples != np.round(samples)):
            raise ValueError(f"samples must be {n} whole numbers >= 0")
        top = masses[:, -1]
        lower = top.copy() if self.lower is None else as_float_array(self.lower, "lower")
        upper = top.copy() if self.upper is None else as_float_array(self.upper, "upper")
        for arr, name in ((lower, "lower"), (upper, "upper")):
            if arr.shape != (n,) or np.any((arr < 0) | (arr > 1)):
                raise ValueError(f"{name} must hold {n} numbers in [0, 1]")
        if np.any(lower > top + 1e-12) or np.any(upper < top - 1e-12):
            raise ValueError("lower <= pass rate <= upper must hold for every prompt")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "masses", masses)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "samples", samples.astype(np.int64))
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "confidence", check_confidence(self.confidence))
        check_choice(self.interval, "interval", tuple(INTERVALS))
        if self.ref_entropy is not None:
            ent = np.asarray(as_numeric_array(self.ref_entropy, "ref_entropy"))
            if ent.shape != (n,) or np.any(ent < 0):
                raise ValueError(f"ref_entropy must hold {n} numbers >= 0 (NaN: not logged)")
            object.__setattr__(self, "ref_entropy", ent)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_pass_rates(cls, pass_rates: ArrayLike, *, ids: ArrayLike | None = None) -> Dataset:
        """Binary prompts from exact reference pass rates p_ref ∈ [0, 1] (no sampling error)."""
        p = as_float_array(pass_rates, "pass_rates")
        if p.ndim != 1:
            raise ValueError(f"pass_rates must be a 1-D array (one rate per prompt); got shape {p.shape}")
        if np.any((p < 0) | (p > 1)):
            bad = int(np.argmax((p < 0) | (p > 1)))
            raise ValueError(f"pass_rates must lie in [0, 1]; entry {bad} is {p[bad]!r}")
        return cls(np.array([0.0, 1.0]), np.stack([1.0 - p, p], axis=-1), ids=ids)

    @classmethod
    def from_counts(
        cls, successes: ArrayLike, samples: ArrayLike, *, ids: ArrayLike | None = None,
        confidence: float = 0.95, interval: str = "clopper-pearson",
    ) -> Dataset:
        """Binary prompts from k correct answers out of n samples each: p̂ = k/n with a
        binomial interval (:func:`~.intervals.pass_rate_interval`)."""
        k, n = check_counts(successes, samples)
        if k.ndim != 1:
            raise ValueError(f"successes must be a 1-D array (one count per prompt); got shape {k.shape}")
        lower, upper = pass_rate_interval(k, n, confidence=confidence, method=interval)
        p = k / n
        return cls(np.array([0.0, 1.0]), np.stack([1.0 - p, p], axis=-1), ids=ids, samples=n,
                   lower=lower, upper=upper, confidence=confidence, interval=interval)

    @classmethod
    def from_level_counts(
        cls, counts: ArrayLike, levels: ArrayLike, *, ids: ArrayLike | None = None,
        confidence: float = 0.95, interval: str = "clopper-pearson",
    ) -> Dataset:
        """Prompts from counts of samples per reward level, shape (N, L): masses are the
        empirical frequencies; the top level's frequency gets a binomial interval."""
        c = as_float_array(counts, "counts")
        if c.ndim != 2:
            raise ValueError(f"counts must have shape (N, L); got {c.shape}")
        n = c.sum(axis=1)
        k, n = check_counts(c[:, -1], n)
        if np.any(c < 0) or np.any(c != np.round(c)):
            raise ValueError("counts must be whole numbers >= 0")
        lower, upper = pass_rate_interval(k, n, confidence=confidence, method=interval)
        return cls(levels, c / n[:, None], ids=ids, samples=n, lower=lower, upper=upper,
                   confidence=confidence, interval=interval)

    # ------------------------------------------------------------------ views

    @property
    def size(self) -> int:
        """N, the number of prompts."""
        return int(self.masses.shape[0])

    @property
    def binary(self) -> bool:
        """Two reward levels (a pass/fail verifier)."""
        return self.levels.size == 2

    @property
    def pass_rates(self) -> NDArray[np.float64]:
        """The top level's reference mass, p_ref, shape (N,)."""
        return self.masses[:, -1]

    @property
    def prompt_ids(self) -> NDArray[np.str_]:
        """The ids, or the row indices as strings when none were given."""
        return self.ids if self.ids is not None else np.arange(self.size).astype(str)

    @property
    def status_code(self) -> NDArray[np.int8]:
        """Each prompt's status as an index into ``tuple(STATUSES)``, by which levels have mass."""
        names = tuple(STATUSES)
        present = self.masses > 0
        n_present = np.count_nonzero(present, axis=1)
        code = np.where(n_present < self.levels.size, names.index("missing-levels"),
                        names.index("interior")).astype(np.int8)
        single = n_present == 1
        code[single] = names.index("single-level")
        code[single & present[:, -1]] = names.index("all-correct")
        if self.binary:
            code[~present[:, -1]] = names.index("none-correct")
        return code

    @property
    def status(self) -> NDArray[np.str_]:
        """One :data:`STATUSES` code per prompt (:attr:`status_code` as strings)."""
        return np.asarray(tuple(STATUSES))[self.status_code]

    def with_reference_entropy(self, entropy: ArrayLike) -> Dataset:
        """The same prompts with :attr:`ref_entropy` set."""
        return replace(self, ref_entropy=entropy)

    def subset(self, index: ArrayLike) -> Dataset:
        """The prompts ``index`` (integer indices or a boolean mask) as a smaller dataset."""
        idx = np.asarray(index)
        return Dataset(self.levels, self.masses[idx], None if self.ids is None else self.ids[idx],
                       self.samples[idx], self.lower[idx], self.upper[idx], self.confidence,
                       self.interval, None if self.ref_entropy is None else self.ref_entropy[idx])
