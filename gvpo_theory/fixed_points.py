"""Every stationary point of the expected GRPO dynamics, with its stability (docs/theory.md §9).

The flow is the project's expected dynamics (:func:`gvpo_theory.dynamics.grpo_expected_update`)
on the softmax logits θ, π = softmax(θ):

    dθ_o/dt = F_o(π) = π(o)·P_G(o|π) − β·∇_o(penalty),

with ∇_o = π(o) − π_ref(o) (k3, reverse KL) or π(o)·(log(π(o)/π_ref(o)) − KL(π‖π_ref))
(direct KL). Σ_o F_o = 0, so θ moves modulo the constant shift; the state space is θ
modulo 1, which softmax maps one-to-one onto the open simplex. Writing F_o = π(o)·h_o,
at a stationary point h = 0 and the Jacobian is ∂F/∂θ = diag(π)·∂h/∂θ.

**Parametrisation of the eigenvalues.** Eigenvalues are those of ∂F/∂θ on θ modulo the
shift (the one zero eigenvalue of the shift removed). At an interior point the map
θ ↦ π is a diffeomorphism of the quotient onto the open simplex, so these are also the
eigenvalues of the flow written in π (or in level masses where the flow closes on them):
eigenvalues at a fixed point are invariant under any change of coordinates whose
Jacobian is invertible there. They are *not* those of the natural-gradient flow
dθ_o/dt = F_o/π(o) that :mod:`gvpo_theory.level_solver` integrates (same rest points,
different rates).

**Level space and within-level directions.** Outputs of one reward level with the same
π_ref(o) are exchangeable: moving mass between two of them leaves the level masses
unchanged and is an exact eigenvector, with eigenvalue −β·π_ref(o) (k3) or −β·π(o)
(direct KL) — always negative (:attr:`StationaryPoint.exchange_eigenvalues`). The other
eigenvalues (:attr:`StationaryPoint.eigenvalues`) belong to the directions in which
exchangeable outputs move together; when π_ref is constant on each reward level (in
particular one output per level) they are exactly the L − 1 level-space directions.
Outputs of one level with *different* π_ref couple to the level masses (the logit of o
moves at a rate proportional to π(o)), so then the two sets do not separate.
:attr:`StationaryPoint.level_eigenvalues` are the eigenvalues of the level problem (one
output per level, π_ref → the level masses Q_l), which is the level-space flow proper.

**Boundary stationary points.** On a face of the simplex where the levels outside a
set S have zero mass the flow stays on the face (in π coordinates). Its rest points
there are the stationary points of a restricted problem on the outputs of S, with a
reference that depends on the penalty: direct KL — π_ref restricted to S and
renormalised; k3 — π_ref(o) + π_ref(outside S)/n for each of the n outputs of S (the
k3 gradient π − π_ref does not renormalise; the dead outputs keep pushing
β·π_ref(o) into the face). The transverse rate of a vanished output is the growth
rate of its mass, lim_{π(o)→0} (F_o − Σ_k π(k)·F_k): for k3 it is
β·π_ref(o) + β·π_ref(outside S)/n > 0 (every k3 face repels); for the direct KL it is 0
(the mass moves sub-exponentially) and its sign is decided at the next order:
π(o)·(P_G(o) + β·|log π(o)|) > 0 — repelling — unless the advantages are unbounded
(G = ∞ with a std and eps = 0) and S is a single level better than the vanished one,
where P_G(o) ~ −1/√π(o) wins and the vertex attracts (algebraically, mass ~ 4/t²).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._binary_roots import isolate_binary_roots
from ._branches import find_level_points, level_problem, masses
from .limits import check_start, flow_limit
from .objective import Objective, as_objective
from .penalties import DirectKL, Penalty, ReverseKL
from .preference import (
    MAX_TERMS,
    level_advantages_jacobian_kernel,
    level_advantages_kernel,
    n_terms,
)
from .problem import (
    as_float_array,
    check_beta,
    check_distribution,
    check_positive_int,
    reward_structure,
)
from .stationary import fixed_point_violation

#: Dense eigen-solves beyond this many exchange classes (distinct (level, π_ref) pairs) are refused.
MAX_CLASSES = 1000

LABELS: tuple[str, ...] = ("attractor", "saddle", "repeller", "non-hyperbolic")


@dataclass(frozen=True)
class StationaryPoint:
    """One stationary point of the expected flow (module docstring for the conventions).

    Attributes:
        policy: π (K,), zero on the vanished levels of a boundary point.
        level_masses: m (L,) over the problem's reward levels (``levels`` of the result).
        kind: ``"interior"`` or ``"boundary"``.
        support: (L,) bool, the levels with mass.
        eigenvalues: ∂F/∂θ on θ modulo the shift, restricted to the point's face, in the
            directions where exchangeable outputs move together; sorted by decreasing
            real part (complex dtype).
        exchange_eigenvalues: the distinct eigenvalues of the exchange directions
            (−β·π_ref(o) for k3, −β·π(o) for the direct KL), with
            ``exchange_multiplicities``.
        level_eigenvalues: eigenvalues of the level problem's flow at m (|S| − 1 values).
        transverse_rates: (L,) growth rate of each vanished level's mass (NaN on the
            support): the largest lim (F_o − Σ π·F) over the level's outputs.
        transverse_signs: (L,) +1 (the mass returns: the face repels in that direction),
            −1 (it vanishes: attracts), 0 on the support; decided at the leading order
            where the linear rate is 0.
        label: ``"attractor"``, ``"saddle"``, ``"repeller"`` or ``"non-hyperbolic"`` (an
            eigenvalue within rounding of 0: a fold).
        rate: the largest real part of the in-face eigenvalues (exchange ones included):
            at an attractor the local linear rate, |π − π_point| ~ exp(rate·t).
        residual: max |fixed-point violation| of the (restricted) problem, recomputed
            from ``policy``.
        found_by: how many starts of each kind reached the point (multi-start search),
            or ``{"certified": 1}`` for the isolated roots of two-level problems and
            ``{"vertex": 1}`` for a single level.
    """

    policy: NDArray[np.float64]
    level_masses: NDArray[np.float64]
    kind: str
    support: NDArray[np.bool_]
    eigenvalues: NDArray[np.complex128]
    exchange_eigenvalues: NDArray[np.float64]
    exchange_multiplicities: NDArray[np.int64]
    level_eigenvalues: NDArray[np.complex128]
    transverse_rates: NDArray[np.float64]
    transverse_signs: NDArray[np.int64]
    label: str
    rate: float
    residual: float
    found_by: dict[str, int]


@dataclass(frozen=True)
class StationaryPoints:
    """All stationary points of one problem and where the flow from π0 goes.

    ``points`` (interior first, by the mass of the best level; then boundary points),
    ``levels`` (L,), ``reached`` — index into ``points`` of the point the flow from
    ``pi0`` (π_ref by default) converges to, or None (with the reason in ``message``);
    ``certified`` — the list is provably complete (interior points, and the boundary
    points when asked for): two-level problems, whose faces are vertices and whose
    interior roots are isolated with a guarantee (:mod:`gvpo_theory._binary_roots`);
    ``method`` and ``message``.
    """

    points: tuple[StationaryPoint, ...]
    levels: NDArray[np.float64]
    reached: int | None
    certified: bool
    method: str
    message: str
    objective: Objective
    beta: float

    @property
    def interior(self) -> tuple[StationaryPoint, ...]:
        return tuple(p for p in self.points if p.kind == "interior")

    @property
    def attractors(self) -> tuple[StationaryPoint, ...]:
        return tuple(p for p in self.points if p.label == "attractor")


# --------------------------------------------------------------------------- Jacobian


def _rate_jacobian(
    penalty: Penalty, pi: NDArray, ref: NDArray, n: NDArray
) -> tuple[NDArray, NDArray]:
    """∂R_c/∂u_k = δ_ck·self_c + extra_k for the penalty's relative rate R = ∇/π.

    Per exchange class c (n_c outputs, each with π_c, π_ref_c), u_c = log(n_c·π_c):
    k3: R = 1 − π_ref/π, self = π_ref/π, extra = 0; direct KL: R = log(π/π_ref) − KL,
    self = 1, extra_k = −n_k·π_k·(log(π_k/π_ref_k) + 1).
    """
    if isinstance(penalty, ReverseKL):
        return ref / pi, np.zeros_like(pi)
    if isinstance(penalty, DirectKL):
        return np.ones_like(pi), -n * pi * (np.log(pi) - np.log(ref) + 1.0)
    raise ValueError(f"penalty {penalty.name!r} has no flow Jacobian here")


def flow_spectrum(
    pi: NDArray[np.float64], ref: NDArray[np.float64], level_of: NDArray[np.intp],
    levels: NDArray[np.float64], beta: float, obj: Objective,
) -> tuple[NDArray[np.complex128], NDArray[np.float64], NDArray[np.int64]]:
    """Eigenvalues of ∂F/∂θ at a stationary point with every π(o) > 0 (module docstring).

    Returns (coupled eigenvalues, distinct exchange eigenvalues, their multiplicities).
    Exact class reduction: outputs with the same (level, π_ref) form a class c of n_c
    members; with class logits θ_c, ∂m_j/∂θ_k = n_k·π_k·(1[l_k = j] − m_j) and

        ∂h_c/∂θ_k = Σ_j ∂a_(l_c)/∂m_j·∂m_j/∂θ_k − β·Σ_u ∂R_c/∂u_u·(δ_uk − n_k·π_k),

    J = diag(π_c)·∂h/∂θ; the shift is removed with the gauge θ_0 = 0 (J_ij − J_0j).
    """
    key = np.stack([level_of.astype(np.float64), ref])
    _, first, inverse, counts = np.unique(key, axis=1, return_index=True, return_inverse=True,
                                          return_counts=True)
    inverse = inverse.reshape(-1)
    n_cls = counts.size
    if n_cls > MAX_CLASSES:
        raise ValueError(
            f"pi_ref has {n_cls} distinct (reward level, pi_ref) classes; the flow Jacobian "
            f"needs a dense eigen-solve of that size (at most {MAX_CLASSES})"
        )
    n = counts.astype(np.float64)
    p_c = np.bincount(inverse, weights=pi, minlength=n_cls) / n
    r_c = ref[first]
    l_c = level_of[first]
    m = np.bincount(level_of, weights=pi, minlength=levels.size)
    ja = level_advantages_jacobian_kernel(m, levels, obj)
    dm = (np.eye(levels.size)[:, l_c] - m[:, None]) * (n * p_c)[None, :]  # (L, C)
    dpref = (ja @ dm)[l_c]  # (C, C)
    self_c, extra = _rate_jacobian(obj.penalty, p_c, r_c, n)
    dr = np.diag(self_c) + extra[None, :]
    du = np.eye(n_cls) - (n * p_c)[None, :]
    jac = p_c[:, None] * (dpref - beta * dr @ du)
    if n_cls > 1:
        reduced = jac[1:, 1:] - jac[0:1, 1:]
        eig = np.linalg.eigvals(reduced).astype(np.complex128)
        eig = eig[np.lexsort((-eig.imag, -eig.real))]
    else:
        eig = np.zeros(0, dtype=np.complex128)
    multi = counts > 1
    ex_vals = -beta * p_c[multi] * self_c[multi]
    ex_mult = (counts[multi] - 1).astype(np.int64)
    order = np.argsort(-ex_vals, kind="stable")
    return eig, ex_vals[order], ex_mult[order]


def _label(
    eig: NDArray[np.complex128], ex: NDArray[np.float64], signs: NDArray[np.int64]
) -> tuple[str, float]:
    """(label, rate) from in-face eigenvalues and transverse signs."""
    re = np.concatenate([eig.real, ex])
    scale = 1.0 + (float(np.max(np.abs(re))) if re.size else 0.0)
    rate = float(np.max(re)) if re.size else -math.inf
    trans = signs[signs != 0]
    if re.size and np.any(np.abs(re) <= 1e-9 * scale):
        return "non-hyperbolic", rate
    stable = np.concatenate([re < 0, trans < 0])
    if np.all(stable):
        return "attractor", rate
    if not np.any(stable):
        return "repeller", rate
    return "saddle", rate


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True)
class _Problem:
    """One validated problem over its live outputs (π_ref > 0)."""

    ref: NDArray[np.float64]  # (K,)
    level_of: NDArray[np.intp]  # (K,)
    levels: NDArray[np.float64]  # (L,)
    beta: float
    obj: Objective

    def level_ref(self) -> NDArray[np.float64]:
        return np.bincount(self.level_of, weights=self.ref, minlength=self.levels.size)

    def policy(self, m: NDArray[np.float64]) -> NDArray[np.float64]:
        """π(o) = π_ref(o)·m_l/Q_l: π_ref re-weighted level by level."""
        q = self.level_ref()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(q > 0, m / np.where(q > 0, q, 1.0), 0.0)
        return self.ref * ratio[self.level_of]

    def restricted(self, face: tuple[int, ...]) -> _Problem:
        """The problem on the outputs of the levels in ``face`` (module docstring)."""
        keep = np.isin(self.level_of, face)
        ref = self.ref[keep]
        if isinstance(self.obj.penalty, ReverseKL):
            ref = ref + (1.0 - ref.sum()) / ref.size
        else:
            ref = ref / ref.sum()
        remap = np.full(self.levels.size, -1)
        remap[list(face)] = np.arange(len(face))
        return _Problem(ref, remap[self.level_of[keep]], self.levels[list(face)], self.beta, self.obj)


def _interior_masses(pb: _Problem, n_random: int, seed: int) -> tuple[list, bool, str]:
    """Level masses of every interior stationary point found: ([(m, found_by)], certified, method)."""
    q = pb.level_ref()
    n_lev = pb.levels.size
    if n_lev == 1:
        return [(np.ones(1), {"vertex": 1})], True, "single level"
    if n_lev == 2:
        roots = isolate_binary_roots(q, pb.levels, pb.beta, pb.obj)
        found = [(masses(np.array([x])), {"certified": 1}) for x in roots.roots]
        return found, roots.certified, "certified isolation (Bernstein / monotone enclosures)"
    level_pb = level_problem(q, pb.levels, pb.obj)
    found = find_level_points(level_pb, pb.beta, n_random=n_random, seed=seed)
    return [(masses(f.z), dict(f.starts)) for f in found], False, "continuation + multi-start Newton"


def _residual(pb: _Problem, pi: NDArray[np.float64]) -> float:
    m = np.bincount(pb.level_of, weights=pi, minlength=pb.levels.size)
    pref = level_advantages_kernel(m, pb.levels, pb.obj)[pb.level_of]
    k = pi.size
    res, _, _ = fixed_point_violation(pi, pb.ref, pb.ref, pref, np.arange(k),
                                      np.asarray(pb.beta), pb.obj.penalty)
    return float(res)


def _unbounded(obj: Objective) -> bool:
    """Advantages unbounded near a vertex: G = ∞ with a std and eps = 0."""
    return math.isinf(obj.group_size) and obj.std != "none" and obj.eps == 0.0


def _transverse(
    full: _Problem, pi: NDArray[np.float64], face: tuple[int, ...]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Growth rates and signs of the vanished levels' masses at a face point (module docstring)."""
    n_lev = full.levels.size
    rates = np.full(n_lev, np.nan)
    signs = np.zeros(n_lev, dtype=np.int64)
    m = np.bincount(full.level_of, weights=pi, minlength=n_lev)
    a = level_advantages_kernel(m, full.levels, full.obj)
    # lim π(o)·P(o) = 0 for a vanished output, also where P ~ −1/√π(o)
    f = np.where(pi > 0, pi * a[full.level_of], 0.0) - full.beta * full.obj.penalty.logit_gradient(
        pi, full.ref)
    mean = float(pi @ f)
    best_live = max(full.levels[list(face)])
    for l in range(n_lev):
        if l in face:
            continue
        rate = float(np.max(f[full.level_of == l] - mean))
        rates[l] = rate
        if abs(rate) > 1e-12 * (1.0 + full.beta):
            signs[l] = 1 if rate > 0 else -1
        else:
            vertex_wins = _unbounded(full.obj) and len(face) == 1 and full.levels[l] < best_live
            signs[l] = -1 if vertex_wins else 1
    return rates, signs


def _point(
    full: _Problem, sub: _Problem, face: tuple[int, ...], m_sub: NDArray[np.float64],
    found_by: dict[str, int],
) -> StationaryPoint:
    pi_sub = sub.policy(m_sub)
    keep = np.isin(full.level_of, face)
    pi = np.zeros(full.ref.size)
    pi[keep] = pi_sub
    m = np.zeros(full.levels.size)
    m[list(face)] = m_sub
    live = pi_sub > 0
    if np.all(live):
        eig, ex, mult = flow_spectrum(pi_sub, sub.ref, sub.level_of, sub.levels, sub.beta, sub.obj)
        lev, _, _ = flow_spectrum(m_sub, sub.level_ref(), np.arange(m_sub.size), sub.levels,
                                  sub.beta, sub.obj)
    else:  # a level mass underflowed: the point sits at the rounding edge of the face
        eig = lev = np.full(max(m_sub.size - 1, 0), np.nan + 0j)
        ex, mult = np.zeros(0), np.zeros(0, dtype=np.int64)
    boundary = len(face) < full.levels.size
    if boundary:
        rates, signs = _transverse(full, pi, face)
    else:
        rates, signs = np.full(full.levels.size, np.nan), np.zeros(full.levels.size, dtype=np.int64)
    label, rate = _label(eig, ex, signs) if np.all(np.isfinite(eig)) else ("non-hyperbolic", math.nan)
    support = np.zeros(full.levels.size, dtype=bool)
    support[list(face)] = True
    return StationaryPoint(
        policy=pi, level_masses=m, kind="boundary" if boundary else "interior", support=support,
        eigenvalues=eig, exchange_eigenvalues=ex, exchange_multiplicities=mult,
        level_eigenvalues=lev, transverse_rates=rates, transverse_signs=signs, label=label,
        rate=rate, residual=_residual(sub, pi_sub), found_by=found_by,
    )


def _validate(
    pi_ref, rewards, beta, obj: Objective, pi0, max_terms: int
) -> tuple[_Problem, NDArray, NDArray]:
    p = check_distribution(pi_ref, "pi_ref")
    if p.ndim != 1:
        raise ValueError(f"pi_ref must be one problem, 1-D (K,); got shape {p.shape}")
    r = as_float_array(rewards, "rewards")
    if r.ndim != 1:
        raise ValueError("rewards must be deterministic, 1-D (K,) (one reward per output) here")
    structure = reward_structure(r, p.size)
    b = check_beta(beta)
    if b.ndim != 0:
        raise ValueError(f"beta must be a single number here; got shape {b.shape}")
    live = p > 0
    level_of = structure.profile_of[live]
    used = np.unique(level_of)
    if used.size < 2:
        raise ValueError("pi_ref must put mass on at least two reward levels (one level: π = π_ref)")
    if not math.isinf(obj.group_size) and obj.std != "none":
        terms = n_terms(int(obj.group_size), used.size)
        if terms > max_terms:
            raise ValueError(f"group_size={obj.group_size} over {used.size} levels needs {terms} "
                             f"enumeration terms > max_terms={max_terms}")
    remap = np.full(structure.n_levels, -1)
    remap[used] = np.arange(used.size)
    pb = _Problem(p[live], remap[level_of], structure.levels[used], float(b), obj)
    start = p if pi0 is None else check_start(pi0, p)
    return pb, live, start


def stationary_points(
    pi_ref: ArrayLike,
    rewards: ArrayLike,
    beta: float,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    pi0: ArrayLike | None = None,
    boundary: bool = True,
    flow: bool = True,
    n_random: int = 16,
    seed: int = 0,
    max_terms: int = MAX_TERMS,
) -> StationaryPoints:
    """Every stationary point of GRPO's expected flow, its stability, and where the flow goes.

    Args:
        pi_ref: reference policy (K,), one problem.
        rewards: deterministic rewards (K,).
        beta: β > 0.
        group_size, std, penalty, eps: the objective, as in
            :func:`~gvpo_theory.stationary.grpo_stationary_policy` (``group_size`` may be an
            :class:`~gvpo_theory.objective.Objective`).
        pi0: start of the flow whose end point is reported (default π_ref); positive
            exactly where π_ref is.
        boundary: also return the stationary points on the faces of the simplex.
        flow: integrate the flow from ``pi0`` to say which point it reaches.
        n_random, seed: random starts of the multi-start search (three or more levels).

    Method and guarantee (docs/theory.md §9): two reward levels — the interior points
    are the roots of a function of the logit of the level mass, isolated with range
    enclosures (:mod:`gvpo_theory._binary_roots`): the count is guaranteed up to
    floating-point rounding in the enclosures (``certified``). Three or more levels —
    continuation in β from both ends plus multi-start Newton (:mod:`gvpo_theory._branches`):
    no guarantee of completeness; each point reports the starts that found it. Boundary
    points: the same on every face (restricted problems), with transverse rates.

    Returns:
        :class:`StationaryPoints`. Example (direct KL, G = ∞, π_ref(a) = 0.3, rewards
        (1, 0), β = 2): interior points π(a) = 0.53886 (attractor, reached from π_ref)
        and 0.99224 (saddle: unstable towards the vertex π(a) = 1, which attracts).
    """
    obj = as_objective(group_size, std, penalty, eps)
    n_random = check_positive_int(n_random, "n_random", min_value=0)
    seed = check_positive_int(seed, "seed", min_value=0)
    max_terms = check_positive_int(max_terms, "max_terms")
    pb, live, start = _validate(pi_ref, rewards, beta, obj, pi0, max_terms)
    n_lev = pb.levels.size
    faces = [tuple(range(n_lev))]
    if boundary:
        faces += [f for size in range(n_lev - 1, 0, -1) for f in itertools.combinations(range(n_lev), size)]
    points: list[StationaryPoint] = []
    certified = True
    methods = set()
    for face in faces:
        sub = pb if len(face) == n_lev else pb.restricted(face)
        found, cert, method = _interior_masses(sub, n_random, seed)
        certified &= cert
        methods.add(method)
        points += [_point(pb, sub, face, m, how) for m, how in found]
    interior = sorted((p for p in points if p.kind == "interior"), key=lambda p: p.level_masses[-1])
    points = interior + [p for p in points if p.kind == "boundary"]
    if flow:
        limit = flow_limit(pi_ref, rewards, pb.beta, obj, pi0=start)
        reached, why = _reached(pb, points, limit.policy[live], limit.message)
    else:
        reached, why = None, "flow not integrated (flow=False)"
    full_points = tuple(_embed(p, live) for p in points)
    levels_all = pb.levels
    n_int = len(interior)
    n_att = sum(p.label == "attractor" for p in points)
    message = (f"{n_int} interior and {len(points) - n_int} boundary stationary points "
               f"({n_att} attractors); " + ("the count is certified" if certified else
                                            "no guarantee of completeness (three or more levels)")
               + f"; {why}")
    return StationaryPoints(full_points, levels_all, reached, bool(certified),
                            "; ".join(sorted(methods)), message, obj, pb.beta)


def _embed(p: StationaryPoint, live: NDArray[np.bool_]) -> StationaryPoint:
    """Put the policy back on all K outputs (zero where π_ref is zero)."""
    pi = np.zeros(live.size)
    pi[live] = p.policy
    return StationaryPoint(**{**p.__dict__, "policy": pi})


def _reached(
    pb: _Problem, points: list[StationaryPoint], end: NDArray[np.float64], message: str
) -> tuple[int | None, str]:
    """The listed point at the flow's limit ``end`` (from :func:`gvpo_theory.limits.flow_limit`)."""
    m = np.bincount(pb.level_of, weights=end, minlength=pb.levels.size)
    dist = [float(np.max(np.abs(p.level_masses - m))) for p in points]
    best = int(np.argmin(dist)) if dist else None
    if best is not None and dist[best] <= 1e-6:
        return best, f"the flow from pi0 reaches point {best} ({points[best].kind}, {points[best].label})"
    return None, f"the flow's limit is none of the listed points ({message})"


# --------------------------------------------------------------------------- branches in β


@dataclass(frozen=True)
class BetaBranch:
    """One branch of interior stationary points traced in β (pseudo-arclength, in order).

    ``beta`` (n,), ``level_masses`` (n, L), ``rate`` (n,): the largest real part of the
    level problem's flow eigenvalues (its sign gives the stability), ``stable`` (n,)
    (rate < 0); ``fold_beta`` (f,) and ``fold_masses`` (f, L): the saddle-node points
    where the branch turns back in β; ``end``: why the trace stopped.
    """

    beta: NDArray[np.float64]
    level_masses: NDArray[np.float64]
    rate: NDArray[np.float64]
    stable: NDArray[np.bool_]
    fold_beta: NDArray[np.float64]
    fold_masses: NDArray[np.float64]
    end: str


def beta_branches(
    pi_ref: ArrayLike,
    rewards: ArrayLike,
    beta_min: float,
    beta_max: float,
    group_size: float | int | Objective,
    std: str | None = None,
    penalty: str | None = None,
    eps: float | None = None,
    *,
    n_random: int = 16,
    seed: int = 0,
) -> tuple[BetaBranch, ...]:
    """Every branch of interior stationary points over β ∈ [beta_min, beta_max] this search meets.

    The branches through the stationary points at ``beta_max`` (traced towards smaller
    β) and at ``beta_min`` (traced towards larger β) that are not already on a traced
    branch, each followed through its folds by pseudo-arclength continuation
    (:func:`gvpo_theory._branches.trace_branch`). Stability is that of the level problem
    (one output per reward level: the level-space flow, module docstring). Two-level
    problems start from the certified point sets; with three or more levels a branch
    that meets neither end of the window (an isola) is found only if multi-start Newton
    at an end lands on it.
    """
    from ._branches import crossings, trace_branch

    obj = as_objective(group_size, std, penalty, eps)
    n_random = check_positive_int(n_random, "n_random", min_value=0)
    seed = check_positive_int(seed, "seed", min_value=0)
    b_lo = float(check_beta(beta_min, "beta_min"))
    b_hi = float(check_beta(beta_max, "beta_max"))
    if not b_lo < b_hi:
        raise ValueError(f"beta_min must be < beta_max; got {b_lo} and {b_hi}")
    pb_hi, _, _ = _validate(pi_ref, rewards, b_hi, obj, None, MAX_TERMS)
    q = pb_hi.level_ref()
    level_pb = level_problem(q, pb_hi.levels, obj)
    s_lo, s_hi = math.log(b_lo), math.log(b_hi)
    branches: list[BetaBranch] = []
    traced = []
    for b, direction in ((b_hi, -1.0), (b_lo, 1.0)):
        pb = _Problem(pb_hi.ref, pb_hi.level_of, pb_hi.levels, b, obj)
        found, _, _ = _interior_masses(pb, n_random, seed)
        for m, _how in found:
            z = np.log(m[1:]) - np.log(m[0])
            s0 = math.log(b)
            if any(np.max(np.abs(c - z)) <= 1e-6 * (1.0 + np.max(np.abs(z)))
                   for br in traced for c in crossings(br, s0, level_pb)):
                continue
            br = trace_branch(z, s0, level_pb, direction, s_lo - 1e-9, s_hi + 1e-9)
            traced.append(br)
            branches.append(_beta_branch(br, q, pb_hi.levels, obj))
    return tuple(branches)


def _beta_branch(br, q: NDArray, levels: NDArray, obj: Objective) -> BetaBranch:
    ms = np.array([masses(z) for z in br.z])
    rates = np.empty(len(br.z))
    idx = np.arange(levels.size)
    for i, (m, s) in enumerate(zip(ms, br.s)):
        if np.all(m > 0):
            eig, _, _ = flow_spectrum(m, q, idx, levels, math.exp(s), obj)
            rates[i] = float(np.max(eig.real))
        else:
            rates[i] = math.nan
    fold_m = np.array([masses(z) for z, _ in br.folds]).reshape(-1, levels.size)
    return BetaBranch(np.exp(np.array(br.s)), ms, rates, rates < 0,
                      np.exp(np.array([s for _, s in br.folds])), fold_m, br.end)
