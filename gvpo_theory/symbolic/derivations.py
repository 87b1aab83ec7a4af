"""Named derivations: each result as statement, source, steps (sympy expressions) and engine function.

``derive(name)`` returns a :class:`Derivation`; ``render_text`` and ``render_latex`` print it.
The ``gvpo-theory derive`` command and ``docs/render_theory.py`` both read this registry, so
the command line, the documentation and the tests show the same expressions.
Paper references: V&Y = Vojnovic & Yun, "What is the Alignment Objective of GRPO?",
arXiv 2502.18548; GVPO = Zhang et al., arXiv 2504.19599.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from . import binary as bn
from . import large_group as lg
from . import objective as ob
from . import pooling as pl


@dataclass(frozen=True)
class Step:
    """One line of a derivation: what is done, and the expression it produces (or None)."""

    text: str
    expr: sp.Basic | None = None


@dataclass(frozen=True)
class Derivation:
    """A derived result: ``statement`` in words, ``source`` in the papers, ``engine`` function."""

    name: str
    title: str
    statement: str
    source: str
    engine: str
    steps: tuple[Step, ...]


def _grpo_stationarity(
    n_outputs: int = 2, group_size: int = 2, std: str = "population", penalty: str = "reverse_kl"
) -> Derivation:
    st = ob.grpo_stationarity(n_outputs, group_size, std, penalty)
    theta = ob.logit_symbols(n_outputs)
    objective = ob.expected_grpo_objective(theta, st.pi, st.pi_ref, st.rewards, group_size, std, penalty)
    steps = [
        Step(f"rewards {tuple(st.rewards)}; expected surrogate J(θ), π_old = π, summed over the "
             f"{len(ob.compositions(group_size, n_outputs))} group compositions (shown for K·G <= 4)",
             objective if n_outputs * group_size <= 4 else None),
        Step("P_G(o|π) from its definition (sum over the other G − 1 members)",
             sp.Matrix([sp.factor(e) for e in st.preference])),
        Step("∂J/∂θ_o at θ = old (θ_o = log π(o)), factored",
             sp.Matrix([sp.factor(sp.expand(sp.expand_log(g, force=True))) for g in st.gradient])),
        Step("docs/theory.md §3 ascent direction", sp.Matrix(st.claimed)),
        Step("simplify(gradient − ascent direction)", sp.Matrix(st.residual)),
    ]
    if penalty == "reverse_kl":
        sol = ob.reverse_kl_fixed_point(n_outputs, group_size, std)
        steps.append(Step(
            "solve {∂J/∂θ_o = 0, o < K} for π_ref, minus π(o)·(1 − P_G(o|π)/β): "
            "so π(o) = π_ref(o)/(1 − P_G(o|π)/β)",
            sp.Matrix([ob.zero_simplify(sol[st.pi_ref[o]] - st.pi[o] * (1 - st.preference[o] / ob.beta))
                       for o in range(n_outputs - 1)]),
        ))
    return Derivation(
        "grpo-stationarity",
        f"GRPO stationarity from the objective (K={n_outputs}, G={group_size}, std={std}, {penalty})",
        "The expected GRPO surrogate, differentiated in the softmax logits at θ = old, equals "
        "π(o)·P_G(o|π) − β·(π(o) − π_ref(o)) (k3) or π(o)·P_G(o|π) − β·π(o)·(log(π/π_ref)(o) − KL) "
        "(direct KL); its zeros are the fixed points of docs/theory.md §3.",
        "V&Y section 2 (stationary policies; group std of eq. (2), k3 penalty of eqs. (8)–(10))",
        "gvpo_theory.stationary.grpo_stationary_policy",
        tuple(steps),
    )


def _gvpo() -> Derivation:
    st = ob.gvpo_stationarity(3, 3)
    mse = ob.gvpo_loss_is_mse(3, 3)
    return Derivation(
        "gvpo",
        "GVPO: the loss is an MSE of centred rewards, and its optimum is π ∝ π_ref·exp(R/β)",
        "For a group y_1..y_k from any π_s, the GVPO loss (weights detached) has the gradient of "
        "½Σ(β(l_i − l̄) − (R_i − R̄))²; its expected descent direction is β(k − 1)·π_s(o)·(g(o) − E g), "
        "g = R − β·log(π/π_ref), which vanishes at π ∝ π_ref·exp(R/β) whatever π_s is.",
        "GVPO section 3 (the MSE view and the unique-optimum theorems)",
        "gvpo_theory.dynamics.gvpo_expected_update; gvpo_theory.pooling.kl_optimal_policy",
        (
            Step("∇(loss, w detached) − ∇MSE over all groups of k = 3 from K = 3 outputs",
                 sp.Matrix([sp.Add(*mse)])),
            Step("expected descent direction −∂E[MSE]/∂θ_o (K = 3, k = 3) minus "
                 "β(k − 1)π_s(o)(g(o) − E_{π_s} g)", sp.Matrix(st.residual)),
            Step("descent direction at θ_o = log π_ref(o) + R_o/β", sp.Matrix(st.at_optimum)),
        ),
    )


class _PreferenceOfA(sp.Function):
    """The symbol P_G(a | p), displayed as such (``sp.Symbol("P_G(a)")`` prints P_{G(a)} in LaTeX)."""

    nargs = 0

    def _sympystr(self, printer) -> str:
        return "P_G(a|p)"

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        return prettyForm("P_G(a|p)")

    def _latex(self, printer, exp=None) -> str:
        return r"P_G(a \mid p)"


def _binary(group_size: float | int, name: str) -> Derivation:
    pa = bn.binary_preference(group_size)
    closed = bn.stationary_closed_form(group_size)
    kappa = bn.margin_of(group_size)
    steps = [
        Step("P_G(a|p) from the group advantages", sp.Eq(_PreferenceOfA(), pa)),
        Step("fixed point p·(1 − P_G(a|p)/β) = p_ref",
             sp.Eq(bn.fixed_point(group_size) + bn.p_ref, bn.p_ref)),
    ]
    if kappa is not None:
        form = "eq. (14)" if group_size == 2 else "the form of eq. (14), derived here,"
        note = "" if kappa <= 1 else (
            "; κ > 1 is a slope here, not a confidence margin (those lie in (0, 1])"
        )
        steps.append(Step(
            f"P_G(a|p) = κ·(1 − p), so the solution is {form} with its γ replaced by κ{note}",
            sp.Eq(sp.Symbol("kappa", positive=True), kappa),
        ))
    lim_0, lim_inf = bn.limits(closed)
    steps += [
        Step("solved for p (physical root)", sp.Eq(bn.p, closed)),
        Step("limits: p → 1 as β → 0+ (no regularisation), p → p_ref as β → ∞",
             sp.Tuple(sp.Eq(sp.Limit(bn.p, bn.beta, 0, "+"), lim_0),
                      sp.Eq(sp.Limit(bn.p, bn.beta, sp.oo), lim_inf))),
        Step("expansion in 1/β", sp.Eq(bn.p, bn.inverse_beta_expansion(closed))),
    ]
    label = "∞" if math.isinf(group_size) else str(group_size)
    source = {
        2: "V&Y eq. (14) (groups of size two, binary question)",
        3: "derived here (not in the papers): P_3(a|p) = √2·(1 − p), so p is the G = 2 solution at β/√2",
    }.get(group_size, "V&Y eq. (15) (large-group limit, binary question)")
    return Derivation(
        name,
        f"Binary question, G = {label}, reverse KL, population std",
        f"Stationary probability of the better answer at G = {label} (docs/theory.md §4).",
        source,
        "gvpo_theory.stationary.grpo_stationary_policy",
        tuple(steps),
    )


def _binary_margin() -> Derivation:
    sol = bn.margin_solution()
    b, g, pr = bn.beta, bn.gamma, bn.p_ref
    paper = ((1 - b / g) + sp.sqrt((1 - b / g) ** 2 + 4 * (b / g) * pr)) / 2
    return Derivation(
        "binary-margin",
        "Binary question in the confidence-margin parametrisation (G = 2)",
        "With P_2(a|p) = γ·(1 − p), γ = P(a ≻ b) − P(b ≻ a), the stationary p is the paper's eq. (14); "
        "for Bernoulli rewards with success probabilities s_a, s_b, γ = s_a − s_b.",
        "V&Y section 2.3.1, eq. (14)",
        "gvpo_theory.stationary.grpo_stationary_policy (RewardDistribution.bernoulli)",
        (
            Step("fixed point p·(1 − γ(1 − p)/β) = p_ref solved for p", sp.Eq(bn.p, sol)),
            Step("minus the paper's eq. (14), simplified", sp.simplify(sol - paper)),
            Step("lower bound max(1 − β/γ, p_ref)", bn.margin_lower_bound()),
            Step("large-group lower bound: G = ∞ solution at p_ref → 0",
                 sp.limit(bn.stationary_closed_form(math.inf), pr, 0)),
        ),
    )


def _log_pooling() -> Derivation:
    closed = bn.log_pooling_binary()
    return Derivation(
        "log-pooling",
        "Logarithmic pooling: the KL-regularised optimum",
        "argmax E_π[r] − β·KL(π ‖ π_ref) is π ∝ π_ref·exp(r/β); at first order in 1/β it agrees with "
        "the G = 2 GRPO answer for binary questions.",
        "V&Y (RLHF's logarithmic pooling, the comparison point); GVPO section 3",
        "gvpo_theory.pooling.kl_optimal_policy",
        (
            Step("logit gradient at θ = log π_ref + r/β (K = 3)", sp.Matrix(pl.log_pooling_stationarity(3))),
            Step("binary: solved for p", sp.Eq(bn.p, closed)),
            Step("limits β → 0+ and β → ∞", sp.Tuple(*bn.limits(closed))),
            Step("expansion in 1/β", sp.Eq(bn.p, bn.inverse_beta_expansion(closed))),
        ),
    )


def _no_std_direct_kl() -> Derivation:
    return Derivation(
        "no-std-direct-kl",
        "No std normalisation + direct KL = logarithmic pooling with β' = Gβ/(G − 1)",
        "Without std, P_G(o|π) = ((G − 1)/G)·(r(o) − E_π r), so π ∝ π_ref·exp(P_G/β) is "
        "π ∝ π_ref·exp(r/β') with β' = G·β/(G − 1).",
        "derived here (V&Y's final section discusses rewards without scale normalisation and the "
        "direct KL penalty)",
        "gvpo_theory.stationary.grpo_stationary_policy(std='none', penalty='direct_kl')",
        (
            Step("P_G by linearity minus ((G − 1)/G)(r(o) − E_π r), symbolic G",
                 pl.no_std_preference_general()),
            Step("composition sums (K = 3, G = 2, 3, 4) minus the same",
                 sp.Matrix([list(pl.no_std_preference_check(3, g)) for g in (2, 3, 4)])),
            Step("β'", sp.Eq(sp.Symbol("beta'"), pl.effective_beta())),
            Step("d(o) − d(K) at π = π_ref·exp(r/β')/Z, d = log(π/π_ref) − P_G/β (K = 3)",
                 sp.Matrix(pl.no_std_direct_kl_residual(3))),
        ),
    )


def _rloo() -> Derivation:
    st = ob.grpo_stationarity(2, 3, "none", "reverse_kl", baseline="leave_one_out")
    return Derivation(
        "rloo",
        "RLOO (leave-one-out baseline, no std): P_G = r − E_π r; with the direct KL its optimum is π*",
        "With A_i = r_i − mean_{j≠i} r_j, P_G(o|π) = r(o) − E_π r for every G (derived here). "
        "So RLOO with the k3 penalty is stationary at π = π_ref/(1 − (r − E_π r)/β), Dr. GRPO's "
        "answer at β' = (G − 1)β/G, and RLOO with the direct KL is logarithmic pooling at the "
        "same β: π ∝ π_ref·exp(r/β) = π*.",
        "derived here (RLOO: Ahmadian et al., 2024, the leave-one-out baseline)",
        "gvpo_theory.stationary.grpo_stationary_policy(pi_ref, r, beta, gt.objective('rloo', G))",
        (
            Step("P_G by linearity minus (r(o) − E_π r), symbolic G", pl.rloo_preference_general()),
            Step("composition sums (K = 3, G = 2, 3, 4) minus the same",
                 sp.Matrix([list(pl.rloo_preference_check(3, g)) for g in (2, 3, 4)])),
            Step("expected RLOO surrogate differentiated at θ = old (K = 2, G = 3, k3), minus "
                 "π(o)·P_G(o|π) − β·(π(o) − π_ref(o))", sp.Matrix(st.residual)),
        ),
    )


def _small_deviation() -> Derivation:
    rows = [
        Step(f"G = {lbl}: c₁ = p_ref·P_G(a|p_ref)",
             sp.Eq(sp.Symbol("c_1"), bn.small_deviation_coefficient(g)))
        for g, lbl in ((2, "2"), (3, "3"), (math.inf, "∞"))
    ]
    return Derivation(
        "small-deviation",
        "First order in 1/β: small deviation from π_ref",
        "π(o) = π_ref(o)·(1 + P_G(o|π_ref)/β) + O(1/β²) (implicit-function theorem on the fixed point "
        "at 1/β = 0); for binary questions p = p_ref + c₁/β.",
        "derived here (not stated in the papers)",
        "gvpo_theory.stationary.grpo_stationary_policy",
        tuple(rows),
    )


def _large_group() -> Derivation:
    exp = lg.preference_expansion("population")
    return Derivation(
        "large-group",
        "Finite-group correction: p_G = p_∞ + c/G + O(1/G²)",
        "Delta-method expansion of P_G(a|p) = E[sqrt((G − M − 1)/(M + 1))] in 1/G, then the "
        "implicit-function theorem on the fixed point.",
        "derived here (not stated in the papers; the G = ∞ limit is V&Y eq. (15))",
        "gvpo_theory.stationary.grpo_stationary_policy",
        (
            Step("binomial central moments μ_0..μ_4 of M ~ Bin(n, p)",
                 sp.Matrix(lg.binomial_central_moments(4))),
            Step("first-order (1/G) contribution of each delta-method term k = 0..4", sp.Matrix(exp.terms)),
            Step("P_G(a|p) = P_∞ + c_P/G", sp.Eq(sp.Symbol("P_G(a)"), exp.leading + exp.first_order / bn.G)),
            Step("c(p_∞, β) (population std; p stands for p_∞)",
                 sp.Eq(sp.Symbol("c"), lg.large_group_correction("population"))),
            Step("minus −1/(8(β·sqrt(p(1 − p)) + p − ½)), simplified",
                 sp.simplify(lg.large_group_correction("population") - lg.compact_correction())),
            Step("c(p_∞, β) (sample std)", sp.Eq(sp.Symbol("c"), lg.large_group_correction("sample"))),
        ),
    )


def _direct_kl_existence() -> Derivation:
    x_star, top = bn.direct_kl_ginf_threshold()
    return Derivation(
        "direct-kl-existence",
        "Direct KL at G = ∞ (binary): when a stationary point exists",
        "With x = logit p, the fixed point is x = logit(p_ref) + (2/β)·cosh(x/2); it has a solution "
        "iff 2·asinh(β) − (2/β)·sqrt(1 + β²) ≥ logit(p_ref); otherwise there is no interior "
        "stationary point.",
        "derived here (direct KL is discussed in V&Y's final section)",
        "gvpo_theory.stationary.grpo_stationary_policy(penalty='direct_kl') (converged=False when none)",
        (
            Step("P_∞(a) − P_∞(b) at p = σ(x)", bn.logit_gap_ginf()),
            Step("argmax_x x − (2/β)cosh(x/2)", sp.Eq(sp.Symbol("x*"), x_star)),
            Step("maximum value: the threshold on logit(p_ref)", top),
        ),
    )


#: Registry: name → builder (keyword arguments only for grpo-stationarity).
DERIVATIONS: dict[str, Callable[..., Derivation]] = {
    "grpo-stationarity": _grpo_stationarity,
    "gvpo": _gvpo,
    "binary-g2": lambda: _binary(2, "binary-g2"),
    "binary-g3": lambda: _binary(3, "binary-g3"),
    "binary-ginf": lambda: _binary(math.inf, "binary-ginf"),
    "binary-margin": _binary_margin,
    "log-pooling": _log_pooling,
    "no-std-direct-kl": _no_std_direct_kl,
    "rloo": _rloo,
    "small-deviation": _small_deviation,
    "large-group": _large_group,
    "direct-kl-existence": _direct_kl_existence,
}


def derivation_names() -> tuple[str, ...]:
    """Names accepted by :func:`derive`, in documentation order."""
    return tuple(DERIVATIONS)


def derive(name: str, **options: object) -> Derivation:
    """Build the named derivation; ``options`` (outputs, group_size, std, penalty) for grpo-stationarity."""
    if name not in DERIVATIONS:
        raise ValueError(f"unknown result {name!r}; valid names: {', '.join(DERIVATIONS)}")
    if options and name != "grpo-stationarity":
        raise ValueError(f"{name!r} takes no options; only grpo-stationarity does")
    return DERIVATIONS[name](**options)


def render_text(d: Derivation) -> str:
    """Pretty unicode text of a derivation."""
    lines = [d.title, "=" * len(d.title), d.statement, f"Source: {d.source}", f"Engine: {d.engine}", ""]
    for i, step in enumerate(d.steps, 1):
        lines.append(f"[{i}] {step.text}")
        if step.expr is not None:
            lines.append(sp.pretty(step.expr, use_unicode=True))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_latex(d: Derivation) -> str:
    """LaTeX of a derivation: one display equation per step (markdown-friendly)."""
    lines = [f"% {d.title}", f"% {d.statement}", f"% Source: {d.source}; engine: {d.engine}"]
    for i, step in enumerate(d.steps, 1):
        lines.append(f"% [{i}] {step.text}")
        if step.expr is not None:
            lines.append(f"\\[ {sp.latex(step.expr)} \\]")
    return "\n".join(lines) + "\n"
