"""Slow, obviously-correct reference implementations for the engine tests.

Nothing here imports ``gvpo_theory``: every quantity is recomputed from its definition
(docs/theory.md §2–§5) by brute force over output tuples, by an independent enumeration of
reward-level counts, by the closed forms, or by simulation.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import mpmath
import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats
from scipy.special import gammaln, xlogy

Array = NDArray[np.float64]


def first_member_advantage(groups: Array, std: str, eps: float = 0.0) -> Array:
    """A_1 = (r_1 − mean r)/(std r + eps) for each row of ``groups`` (n, G); ties give 0.

    ``std``: "population" (numpy ddof=0), "sample" (ddof=1) or "none" (A_1 = r_1 − mean r).
    """
    dev = groups[:, 0] - groups.mean(axis=1)
    if std == "none":
        return dev
    ddof = {"population": 0, "sample": 1}[std]
    sd = groups.std(axis=1, ddof=ddof)
    tie = np.all(groups == groups[:, :1], axis=1)
    return np.where(tie, 0.0, dev / np.where(tie, 1.0, sd + eps))


def brute_force_preference(pi: Array, rewards: Array, group_size: int, std: str) -> Array:
    """P_G(o|π) = E[A_1 | o_1 = o] by enumerating all K^(G−1) tuples (o_2..o_G)."""
    pi = np.asarray(pi, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    k = pi.size
    others = np.array(list(itertools.product(range(k), repeat=group_size - 1)), dtype=np.intp)
    weight = np.prod(pi[others], axis=1)
    out = np.empty(k)
    for o in range(k):
        groups = np.column_stack([np.full(others.shape[0], r[o]), r[others]])
        out[o] = weight @ first_member_advantage(groups, std)
    return out


@lru_cache(maxsize=64)
def _count_vectors(n: int, n_levels: int) -> NDArray[np.int64]:
    """Counts over ``n_levels`` levels of every multiset of size n (stars and bars)."""
    rows = [np.bincount(c, minlength=n_levels) for c in
            itertools.combinations_with_replacement(range(n_levels), n)]
    return np.array(rows, dtype=np.int64).reshape(-1, n_levels)


def level_preference(masses: Array, values: Array, group_size: int, std: str) -> Array:
    """a_l: expected A_1 of a member scoring values[l], the others iid over the levels.

    Sums over count vectors c of the other G − 1 rewards with multinomial weights
    (G − 1)!/Π c_l! · Π m_l^c_l.
    """
    m = np.asarray(masses, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    counts = _count_vectors(group_size - 1, v.size)
    log_w = gammaln(group_size) - gammaln(counts + 1.0).sum(axis=1) + xlogy(counts, m).sum(axis=1)
    weight = np.exp(log_w)
    out = np.empty(v.size)
    for l in range(v.size):
        n = counts.astype(np.float64)
        n[:, l] += 1.0
        mean = n @ v / group_size
        dev = v[l] - mean
        if std == "none":
            adv = dev
        else:
            var = np.sum(n * (v[None, :] - mean[:, None]) ** 2, axis=1) / group_size
            if std == "sample":
                var = var * group_size / (group_size - 1)
            single = np.count_nonzero(n, axis=1) == 1
            adv = np.where(single, 0.0, dev / np.where(single, 1.0, np.sqrt(var)))
        out[l] = weight @ adv
    return out


def exact_preference(pi: Array, rewards: Array, group_size: float, std: str) -> Array:
    """P_G(o|π) for deterministic rewards: level enumeration, or the closed forms
    (G = ∞: (r − E r)/sd; no std: ((G − 1)/G)·(r − E r))."""
    pi = np.asarray(pi, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    if std == "none":
        factor = 1.0 if math.isinf(group_size) else (group_size - 1) / group_size
        return factor * (r - pi @ r)
    if math.isinf(group_size):
        return infinite_group_preference(pi, r)
    values, inverse = np.unique(r, return_inverse=True)
    masses = np.bincount(inverse, weights=pi, minlength=values.size)
    return level_preference(masses, values, int(group_size), std)[inverse]


def infinite_group_preference(pi: Array, rewards: Array) -> Array:
    """P_∞(o|π) = (r(o) − E_π r)/sd_π(r), 0 where sd_π(r) = 0."""
    # In 50-digit arithmetic: with a tiny mass on one level, r − E r cancels in doubles.
    with mpmath.workdps(50):
        p = [mpmath.mpf(float(x)) for x in pi]
        total = mpmath.fsum(p)
        p = [pj / total for pj in p]  # exactly normalised: Σp ≠ 1 in doubles shifts E r
        r = [mpmath.mpf(float(x)) for x in rewards]
        mean = mpmath.fsum(pj * rj for pj, rj in zip(p, r))
        var = mpmath.fsum(pj * (rj - mean) ** 2 for pj, rj in zip(p, r))
        if len({rj for pj, rj in zip(p, r) if pj > 0}) == 1:
            return np.zeros(len(r))  # every group ties
        sd = mpmath.sqrt(var)
        return np.array([float((rj - mean) / sd) for rj in r])


def pairwise_preference(pi: Array, rewards: Array) -> Array:
    """P_2(o|π) = P(r(o) > r(o')) − P(r(o) < r(o')),  o' ~ π."""
    diff = np.sign(rewards[:, None] - rewards[None, :])
    return diff @ pi


def mc_preference(
    pi: Array, rewards: Array, group_size: int, std: str, n_groups: int, seed: int
) -> tuple[Array, Array]:
    """Monte Carlo P_G(o|π) by simulating whole groups: (mean, standard error) per output."""
    rng = np.random.default_rng(seed)
    k = pi.size
    mean = np.empty(k)
    se = np.empty(k)
    for o in range(k):
        others = rng.choice(k, size=(n_groups, group_size - 1), p=pi)
        groups = np.column_stack([np.full(n_groups, rewards[o]), rewards[others]])
        adv = first_member_advantage(groups, std)
        mean[o] = adv.mean()
        se[o] = adv.std(ddof=1) / math.sqrt(n_groups)
    return mean, se


# ------------------------------------------------------------------ binary questions


def binary_preference(p: float, group_size: int, std: str = "population") -> tuple[float, float]:
    """(P_G(a), P_G(b)) for rewards r(a) = 1, r(b) = 0, π(a) = p (docs/theory.md §4).

    With M ~ Binomial(G − 1, p) other a's: P_G(a) = E[sqrt((G − M − 1)/(M + 1))] and
    P_G(b) = −E[sqrt(M/(G − M))] (population std); sample std scales by sqrt((G − 1)/G).
    """
    g = group_size
    m = np.arange(g)
    pmf = stats.binom.pmf(m, g - 1, p)
    pa = float(pmf @ np.sqrt((g - m - 1) / (m + 1.0)))
    pb = float(-(pmf @ np.sqrt(m / (g - m + 0.0))))
    if std == "sample":
        scale = math.sqrt((g - 1) / g)
        pa, pb = pa * scale, pb * scale
    return pa, pb


def binary_g2(p_ref: float, beta: float) -> float:
    """G = 2 closed form: the root of p² + (β − 1)p − β·p_ref = 0 in [0, 1]."""
    return (1.0 - beta + math.sqrt((beta - 1.0) ** 2 + 4.0 * beta * p_ref)) / 2.0


def binary_ginf(p_ref: float, beta: float) -> float:
    """G = ∞ closed form of p − sqrt(p(1 − p))/β = p_ref."""
    b2 = beta * beta
    return (1.0 + 2.0 * b2 * p_ref + math.sqrt(1.0 + 4.0 * b2 * p_ref * (1.0 - p_ref))) / (2.0 * (1.0 + b2))


def binary_finite_g(p_ref: float, beta: float, group_size: int, std: str = "population") -> float:
    """Reverse-KL stationary p for finite G: brentq on p·(1 − P_G(a)/β) − p_ref over (p_ref, 1)."""

    def f(p: float) -> float:
        return p * (1.0 - binary_preference(p, group_size, std)[0] / beta) - p_ref

    return optimize.brentq(f, p_ref, 1.0, xtol=1e-15, rtol=8.9e-16, maxiter=500)


def log_pooling(pi_ref: Array, rewards: Array, beta: float) -> Array:
    """π_ref·exp(r/β)/Z, written directly (fine for moderate β)."""
    w = pi_ref * np.exp(rewards / beta)
    return w / w.sum()
