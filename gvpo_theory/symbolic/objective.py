"""From objective to stationarity condition, symbolically (docs/theory.md §3, §5).

GRPO (Vojnovic & Yun, 2025, section 2). On a softmax tabular policy π_θ = softmax(θ) over
K outputs, one GRPO step maximises the surrogate

    J(θ) = E_{o_1..o_G ~ π_old}[ (1/G)·Σ_i (π_θ(o_i)/π_old(o_i))·A_i ] − β·Penalty(θ),

    A_i = (r_i − mean r) / std r        (A_i = 0 when all rewards of the group tie),

and the stationary points are the policies at which ∂J/∂θ vanishes at θ = old. Here the
expectation is written out as the sum over every composition of the group (the multiset of
outputs drawn), so nothing about symmetry or about P_G is assumed; ``simplify`` then shows

    ∂J/∂θ_o |_{θ=old} = π(o)·P_G(o|π) − β·(π(o) − π_ref(o))                 (k3 penalty)
    ∂J/∂θ_o |_{θ=old} = π(o)·P_G(o|π) − β·π(o)·(log(π(o)/π_ref(o)) − KL)   (direct KL)

where P_G(o|π) = E[A_1 | o_1 = o, o_2..o_G iid ~ π] is the reward preference model (docs/theory.md §2).
Penalties: k3 is GRPO's per-sample estimator E_{o~π_old}[π_ref/π_θ − log(π_ref/π_θ) − 1];
direct KL is the exact KL(π_θ ‖ π_ref) (its per-sample estimator log(π_θ/π_ref) under
π_old samples has zero gradient at θ = old, so the exact divergence is what "direct KL"
must mean for the stationarity condition).

GVPO (Zhang et al., 2025, arXiv 2504.19599). For a group y_1..y_k from any π_s, with
l_i = log π_θ(y_i)/π_ref(y_i), the loss −β·Σ_i w_i·log π_θ(y_i), w_i = (R_i − R̄) − β(l_i − l̄)
detached, has the gradient of the MSE ½·Σ_i (β(l_i − l̄) − (R_i − R̄))², and its expected
descent direction is β(k − 1)·π_s(o)·(g(o) − E_{π_s} g), g = R − β·log(π/π_ref).

Rewards: sympy numbers (default 0, 1 for K = 2 and 0, 1, 3 for K = 3, so that every group
std is a concrete square root of a rational) or, with ``std="none"``, sympy symbols.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..objective import BASELINES, SCALES
from ..penalties import PENALTIES
from ._validate import check_expansion_size

#: Regularisation strength β of the symbolic derivations.
beta = sp.Symbol("beta", positive=True)

#: Default concrete rewards per output count: distinct levels, so every std is a surd.
DEFAULT_REWARDS: dict[int, tuple[int, ...]] = {2: (0, 1), 3: (0, 1, 3)}

STD_CHOICES: tuple[str, ...] = tuple(SCALES)
PENALTY_CHOICES: tuple[str, ...] = tuple(PENALTIES)
BASELINE_CHOICES: tuple[str, ...] = tuple(BASELINES)


def policy_symbols(n_outputs: int, name: str) -> tuple[sp.Expr, ...]:
    """A policy on the simplex: K − 1 positive symbols name_1.., and 1 − their sum last."""
    free = sp.symbols(f"{name}_1:{n_outputs}", positive=True)
    return (*free, 1 - sum(free))


def logit_symbols(n_outputs: int) -> tuple[sp.Symbol, ...]:
    """Real logits θ_1..θ_K of a softmax policy."""
    return sp.symbols(f"theta_1:{n_outputs + 1}", real=True)


def softmax(logits: Sequence[sp.Expr]) -> tuple[sp.Expr, ...]:
    """π_θ(o) = exp(θ_o) / Σ_o' exp(θ_o')."""
    z = sum(sp.exp(t) for t in logits)
    return tuple(sp.exp(t) / z for t in logits)


def log_softmax(logits: Sequence[sp.Expr]) -> tuple[sp.Expr, ...]:
    """log π_θ(o) = θ_o − log Σ_o' exp(θ_o'), with the log-partition kept as one atom."""
    log_z = sp.log(sum(sp.exp(t) for t in logits))
    return tuple(t - log_z for t in logits)


def compositions(n: int, parts: int) -> tuple[tuple[int, ...], ...]:
    """Every count vector c ∈ ℕ^parts with Σ c = n (C(n + parts − 1, parts − 1) of them)."""
    return tuple(c for c in itertools.product(range(n + 1), repeat=parts) if sum(c) == n)


def multinomial(counts: Sequence[int]) -> int:
    """(Σ c)! / Π c!: the number of ordered groups with these counts."""
    out = math.factorial(sum(counts))
    for c in counts:
        out //= math.factorial(c)
    return out


def _check_std(std: str) -> None:
    if std not in STD_CHOICES:
        raise ValueError(f"std must be one of {STD_CHOICES}; got {std!r}")


def group_advantage(
    rewards: Sequence[sp.Expr], counts: Sequence[int], member: int, std: str,
    baseline: str = "mean",
) -> sp.Expr:
    """A of a member with output ``member`` in a group holding counts[o] copies of output o.

    A = (r_member − b) / std with the population (÷G, the paper's eq. (2)) or sample
    (÷(G − 1), torch.std) convention, or A = r_member − b (``std="none"``); 0 when every
    reward in the group is equal (the 0/0 := 0 convention of docs/theory.md §2). The
    baseline b is the group mean (``baseline="mean"``, GRPO) or the mean of the other
    G − 1 members (``"leave_one_out"``, RLOO), written out as such.
    """
    _check_std(std)
    if baseline not in BASELINE_CHOICES:
        raise ValueError(f"baseline must be one of {BASELINE_CHOICES}; got {baseline!r}")
    g = sum(counts)
    occupied = [sp.sympify(rewards[o]) for o, c in enumerate(counts) if c > 0]
    mean = sum(sp.sympify(rewards[o]) * c for o, c in enumerate(counts)) / g
    if baseline == "mean":
        dev = sp.sympify(rewards[member]) - mean
    else:
        others = sum(sp.sympify(rewards[o]) * c for o, c in enumerate(counts)) - sp.sympify(rewards[member])
        dev = sp.sympify(rewards[member]) - others / (g - 1)
    if std == "none":
        return sp.expand(dev)
    if all(sp.simplify(r - occupied[0]) == 0 for r in occupied):
        return sp.Integer(0)
    ss = sum((sp.sympify(rewards[o]) - mean) ** 2 * c for o, c in enumerate(counts))
    var = ss / g if std == "population" else ss / (g - 1)
    return sp.radsimp(dev / sp.sqrt(var))


def _rewards_for(n_outputs: int, rewards: Sequence[sp.Expr] | None, std: str) -> tuple[sp.Expr, ...]:
    if rewards is None:
        return tuple(sp.Integer(r) for r in DEFAULT_REWARDS[n_outputs])
    out = tuple(sp.sympify(r) for r in rewards)
    if len(out) != n_outputs:
        raise ValueError(f"rewards must have {n_outputs} entries (one per output); got {len(out)}")
    if std != "none" and not all(r.is_number for r in out):
        raise ValueError("symbolic rewards are supported with std='none' only (std needs concrete surds)")
    return out


def preference_expression(
    pi: Sequence[sp.Expr], rewards: Sequence[sp.Expr], group_size: int, std: str,
    baseline: str = "mean",
) -> tuple[sp.Expr, ...]:
    """P_G(o|π) = Σ_c Mult(c; G − 1)·Π_o' π(o')^{c_o'}·A(o; c + e_o) for every output o.

    The definition of docs/theory.md §2 written out: the other G − 1 members' counts c over the
    outputs, with the tagged member's output o added to the group.
    """
    k = len(pi)
    out = []
    for o in range(k):
        total = sp.Integer(0)
        for c in compositions(group_size - 1, k):
            weight = multinomial(c) * sp.Mul(*(pi[j] ** c[j] for j in range(k)))
            full = tuple(c[j] + (1 if j == o else 0) for j in range(k))
            total += weight * group_advantage(rewards, full, o, std, baseline)
        out.append(sp.expand(total))
    return tuple(out)


def expected_grpo_objective(
    logits: Sequence[sp.Expr],
    pi_old: Sequence[sp.Expr],
    pi_ref: Sequence[sp.Expr],
    rewards: Sequence[sp.Expr],
    group_size: int,
    std: str,
    penalty: str,
    reg: sp.Expr = beta,
    baseline: str = "mean",
) -> sp.Expr:
    """J(θ) = E_{group ~ π_old}[(1/G)·Σ_i (π_θ(o_i)/π_old(o_i))·A_i] − β·Penalty(θ).

    The group expectation is the sum over every composition c of the G members over the K
    outputs, weighted by Mult(c)·Π π_old^c; member o_i contributes c_o copies of
    (π_θ(o)/π_old(o))·A(o; c). Penalty: k3 estimator under π_old (``"reverse_kl"``), or
    the exact KL(π_θ ‖ π_ref) (``"direct_kl"``).
    """
    k = len(logits)
    pi = softmax(logits)
    surrogate = sp.Integer(0)
    for c in compositions(group_size, k):
        weight = multinomial(c) * sp.Mul(*(pi_old[j] ** c[j] for j in range(k)))
        inner = sum(
            c[o] * (pi[o] / pi_old[o]) * group_advantage(rewards, c, o, std, baseline)
            for o in range(k) if c[o]
        )
        surrogate += weight * inner / group_size
    if penalty == "reverse_kl":
        pen = sum(
            pi_old[o] * (pi_ref[o] / pi[o] - sp.log(pi_ref[o] / pi[o]) - 1) for o in range(k)
        )
    elif penalty == "direct_kl":
        pen = sum(pi[o] * sp.log(pi[o] / pi_ref[o]) for o in range(k))
    else:
        raise ValueError(f"penalty must be one of {PENALTY_CHOICES}; got {penalty!r}")
    return surrogate - reg * pen


@dataclass(frozen=True)
class GrpoStationarity:
    """The expected GRPO gradient at θ = old and the condition it reduces to.

    Attributes:
        pi, pi_ref: the policy and reference as expressions of free simplex symbols.
        rewards: the rewards used.
        gradient: ∂J/∂θ_o at θ = old, for each output o (differentiated, not assumed).
        preference: P_G(o|π) from the definition (sum over the other members).
        claimed: the docs/theory.md §3 ascent direction for each o.
        residual: simplified gradient − claimed (all zero when the identity holds).
    """

    pi: tuple[sp.Expr, ...]
    pi_ref: tuple[sp.Expr, ...]
    rewards: tuple[sp.Expr, ...]
    gradient: tuple[sp.Expr, ...]
    preference: tuple[sp.Expr, ...]
    claimed: tuple[sp.Expr, ...]
    residual: tuple[sp.Expr, ...]


def zero_simplify(expr: sp.Expr) -> sp.Expr:
    """Canonical zero test for polynomials with surd coefficients and log atoms."""
    e = sp.expand(sp.expand_log(expr, force=True))
    if e != 0:
        e = sp.cancel(sp.together(e))  # quotients of exp atoms (softmax) cancel here
    return e if e == 0 else sp.simplify(e)


@lru_cache(maxsize=64)
def grpo_stationarity(
    n_outputs: int,
    group_size: int,
    std: str = "population",
    penalty: str = "reverse_kl",
    rewards: tuple[sp.Expr, ...] | None = None,
    baseline: str = "mean",
) -> GrpoStationarity:
    """Differentiate the expected GRPO objective at θ = old and compare with docs/theory.md §3.

    ∂J/∂θ_o |_{θ=old} is computed from :func:`expected_grpo_objective` by sympy, after which
    θ_o = log π(o) is substituted (π_θ = π_old = π on the simplex). ``residual[o]`` is the
    simplified difference from

        π(o)·P_G(o|π) − β·(π(o) − π_ref(o))                       (reverse_kl, k3)
        π(o)·P_G(o|π) − β·π(o)·(log(π(o)/π_ref(o)) − KL(π‖π_ref))  (direct_kl)

    which vanishes exactly for every (K, G, std, penalty) in the supported grid. Setting the
    k3 form to zero gives π(o) = π_ref(o)/(1 − P_G(o|π)/β); the direct-KL form vanishes iff
    P_G(o) − β·log(π(o)/π_ref(o)) is the same for all o, i.e. π ∝ π_ref·exp(P_G/β).
    Cached: the expansion for K = 3, G = 4 takes seconds.
    """
    check_expansion_size(n_outputs, group_size)
    _check_std(std)
    if penalty not in PENALTY_CHOICES:
        raise ValueError(f"penalty must be one of {PENALTY_CHOICES}; got {penalty!r}")
    r = _rewards_for(n_outputs, rewards, std)
    pi = policy_symbols(n_outputs, "pi")
    pi_ref = policy_symbols(n_outputs, "pi_ref")
    theta = logit_symbols(n_outputs)
    objective = expected_grpo_objective(theta, pi, pi_ref, r, group_size, std, penalty,
                                        baseline=baseline)
    at_old = {theta[o]: sp.log(pi[o]) for o in range(n_outputs)}
    gradient = tuple(sp.diff(objective, theta[o]).subs(at_old) for o in range(n_outputs))
    pref = preference_expression(pi, r, group_size, std, baseline)
    if penalty == "reverse_kl":
        claimed = tuple(pi[o] * pref[o] - beta * (pi[o] - pi_ref[o]) for o in range(n_outputs))
    else:
        kl = sum(pi[o] * sp.log(pi[o] / pi_ref[o]) for o in range(n_outputs))
        claimed = tuple(
            pi[o] * pref[o] - beta * pi[o] * (sp.log(pi[o] / pi_ref[o]) - kl) for o in range(n_outputs)
        )
    residual = tuple(zero_simplify(g - c) for g, c in zip(gradient, claimed))
    return GrpoStationarity(pi, pi_ref, r, gradient, pref, claimed, residual)


def reverse_kl_fixed_point(n_outputs: int, group_size: int, std: str = "population") -> dict:
    """Solve {∂J/∂θ_o = 0, o = 1..K−1} (k3 penalty) for π_ref(1..K−1).

    Returns {π_ref(o) symbol: solution}. docs/theory.md §3 says the solution is
    π_ref(o) = π(o)·(1 − P_G(o|π)/β), i.e. π(o) = π_ref(o)/(1 − P_G(o|π)/β); the last
    equation (o = K) then holds too, because Σ_o π(o)·P_G(o|π) = 0.
    """
    st = grpo_stationarity(n_outputs, group_size, std, "reverse_kl")
    unknowns = [s for s in st.pi_ref[:-1]]
    sol = sp.solve(list(st.gradient[:-1]), unknowns, dict=True)
    if len(sol) != 1:
        raise ValueError(f"expected one solution of the linear stationarity system; got {len(sol)}")
    return sol[0]


# --------------------------------------------------------------------------------- GVPO


def gvpo_weights(
    logits: Sequence[sp.Expr], pi_ref: Sequence[sp.Expr], rewards: Sequence[sp.Expr],
    group: Sequence[int], reg: sp.Expr = beta,
) -> tuple[sp.Expr, ...]:
    """w_i = (R_i − R̄) − β·(l_i − l̄), l_i = log π_θ(y_i)/π_ref(y_i) (GVPO's gradient weights)."""
    log_pi = log_softmax(logits)
    l = [log_pi[y] - sp.log(pi_ref[y]) for y in group]
    rr = [sp.sympify(rewards[y]) for y in group]
    k = len(group)
    l_bar, r_bar = sum(l) / k, sum(rr) / k
    return tuple((rr[i] - r_bar) - reg * (l[i] - l_bar) for i in range(k))


def gvpo_mse(
    logits: Sequence[sp.Expr], pi_ref: Sequence[sp.Expr], rewards: Sequence[sp.Expr],
    group: Sequence[int], reg: sp.Expr = beta,
) -> sp.Expr:
    """½·Σ_i (β·(l_i − l̄) − (R_i − R̄))²: squared error of centred implicit vs actual rewards."""
    return sum(w**2 for w in gvpo_weights(logits, pi_ref, rewards, group, reg)) / 2


@lru_cache(maxsize=16)
def gvpo_loss_is_mse(n_outputs: int, group_len: int) -> tuple[sp.Expr, ...]:
    """Residuals ∇(GVPO loss, w detached) − ∇MSE for every group composition; all zero.

    The loss −β·Σ_i w_i·log π_θ(y_i) with w held fixed is differentiated, then w is put
    back as a function of θ; the MSE is differentiated directly. Rewards R_o are symbols.
    """
    check_expansion_size(n_outputs, group_len)
    theta = logit_symbols(n_outputs)
    pi_ref = policy_symbols(n_outputs, "pi_ref")
    rewards = sp.symbols(f"R_1:{n_outputs + 1}", real=True)
    log_pi = log_softmax(theta)
    residuals = []
    for counts in compositions(group_len, n_outputs):
        group = [o for o in range(n_outputs) for _ in range(counts[o])]
        w = gvpo_weights(theta, pi_ref, rewards, group)
        w_fixed = sp.symbols(f"w_1:{group_len + 1}")
        loss = -beta * sum(w_fixed[i] * log_pi[y] for i, y in enumerate(group))
        mse = gvpo_mse(theta, pi_ref, rewards, group)
        for t in theta:
            g_loss = sp.diff(loss, t).subs(dict(zip(w_fixed, w)))
            residuals.append(zero_simplify(g_loss - sp.diff(mse, t)))
    return tuple(residuals)


@dataclass(frozen=True)
class GvpoStationarity:
    """Expected GVPO descent direction and its closed form (docs/theory.md §5).

    Attributes:
        direction: −∂/∂θ_o E_{y ~ π_s^k}[MSE], from the sum over group compositions.
        claimed: β·(k − 1)·π_s(o)·(g(o) − E_{π_s} g), g = R − β·log(π_θ/π_ref).
        residual: simplified direction − claimed (zero).
        at_optimum: the direction at θ_o = log π_ref(o) + R_o/β, i.e. π ∝ π_ref·exp(R/β)
            (zero for every π_s).
    """

    direction: tuple[sp.Expr, ...]
    claimed: tuple[sp.Expr, ...]
    residual: tuple[sp.Expr, ...]
    at_optimum: tuple[sp.Expr, ...]


@lru_cache(maxsize=16)
def gvpo_stationarity(n_outputs: int, group_len: int) -> GvpoStationarity:
    """Expected GVPO update under an arbitrary sampling policy π_s (symbols), and its zero.

    E over the k group members iid from π_s (sum over compositions with multinomial
    weights) of −∇_θ MSE equals β(k − 1)·π_s(o)·(g(o) − E_{π_s} g); it vanishes at
    π ∝ π_ref·exp(R/β) whatever π_s is (GVPO's unique-optimum theorem, arXiv 2504.19599,
    section 3). With π_s of full support, a zero requires g constant, which is that π.
    """
    check_expansion_size(n_outputs, group_len)
    theta = logit_symbols(n_outputs)
    pi_ref = policy_symbols(n_outputs, "pi_ref")
    pi_s = policy_symbols(n_outputs, "pi_s")
    rewards = sp.symbols(f"R_1:{n_outputs + 1}", real=True)
    log_pi = log_softmax(theta)
    expected = sp.Integer(0)
    for counts in compositions(group_len, n_outputs):
        group = [o for o in range(n_outputs) for _ in range(counts[o])]
        weight = multinomial(counts) * sp.Mul(*(pi_s[j] ** counts[j] for j in range(n_outputs)))
        expected += weight * gvpo_mse(theta, pi_ref, rewards, group)
    direction = tuple(-sp.diff(expected, t) for t in theta)
    g = [rewards[o] - beta * (log_pi[o] - sp.log(pi_ref[o])) for o in range(n_outputs)]
    mean_g = sum(pi_s[o] * g[o] for o in range(n_outputs))
    claimed = tuple(beta * (group_len - 1) * pi_s[o] * (g[o] - mean_g) for o in range(n_outputs))
    residual = tuple(zero_simplify(d - c) for d, c in zip(direction, claimed))
    optimum = {theta[o]: sp.log(pi_ref[o]) + rewards[o] / beta for o in range(n_outputs)}
    at_optimum = tuple(
        zero_simplify(d.subs(optimum)) for d in direction
    )
    return GvpoStationarity(direction, claimed, residual, at_optimum)
