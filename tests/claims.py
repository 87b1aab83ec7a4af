"""The claims ledger: every formal statement of the two papers that applies to tabular policies.

Each :class:`Claim` is one statement, with where it is made. A test that checks it carries
the marker ``@pytest.mark.claim("<id>", way="<way>")`` (registered in pyproject.toml), where
``way`` says how it is checked:

* ``closed form``    — against a formula evaluated symbolically (sympy) or to many digits (mpmath);
* ``exact numerics`` — against an independent numeric computation (brute force over groups,
  an independent root finder, enumeration of compositions);
* ``training``       — by running the dynamics: expected-gradient flows or sampled SGD (torch).

``docs/render_claims.py`` runs the marked tests and writes docs/claims.md (statement → source →
tests → ways → status); ``tests/test_claims_ledger.py`` fails when a declared claim has no test.

Papers: V&Y = Vojnovic & Yun, *What is the Alignment Objective of GRPO?* (arXiv 2502.18548, v3);
GVPO = Zhang et al., *GVPO: Group Variance Policy Optimization for Large Language Model
Post-Training* (arXiv 2504.19599). Equation numbers are given only where confirmed against the
paper; otherwise the section is named. ``derived`` marks results that the papers do not state
(derived in docs/theory.md); they are listed so that the ledger separates them from the papers'.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The ways a claim can be checked, in the column order of docs/claims.md.
WAYS: tuple[str, ...] = ("closed form", "exact numerics", "training")


@dataclass(frozen=True)
class Claim:
    """One statement: ``id`` (the marker's argument), ``paper`` ("V&Y", "GVPO" or "derived here"),
    ``source`` (section / equation), ``statement`` and an optional ``note`` (discrepancies,
    what the toolkit says beyond the paper)."""

    id: str
    paper: str
    source: str
    statement: str
    note: str = ""


CLAIMS: tuple[Claim, ...] = (
    # ------------------------------------------------------------------ V&Y: the objective
    Claim("vy-advantage", "V&Y", "§2, eq. (2)",
          "GRPO's advantage of group member i is A_i = (r_i − mean r)/std r over the group of G, "
          "std dividing by G; a group whose rewards all tie has A = 0."),
    Claim("vy-k3-unbiased", "V&Y", "§2, eqs. (8)–(10)",
          "The k3 estimator D = π_ref/π_θ − log(π_ref/π_θ) − 1, averaged over o ~ π_old, is an "
          "unbiased estimate of KL(π_θ ‖ π_ref) at π_θ = π_old, and only there."),
    Claim("vy-k3-reverse-kl-gradient", "V&Y", "§2, eqs. (8)–(10)",
          "At π_θ = π_old the gradient of the k3 penalty is Σ_o (π_θ(o) − π_ref(o))·∇log π_θ(o) = "
          "∇KL(π_ref ‖ π_θ), the reverse-KL gradient, not ∇KL(π_θ ‖ π_ref): the penalty acts as a "
          "reverse KL."),
    Claim("vy-stationarity", "V&Y", "§2, stationary policies",
          "A stationary policy of GRPO (k3 penalty) satisfies π(o) = π_ref(o)/(1 − P_G(o|π)/β) for "
          "every output o, with P_G(o|π) < β."),
    Claim("vy-preference-model", "V&Y", "§2, reward preference model",
          "P_G(o|π) is the expected normalised advantage of a member o in a group whose other "
          "G − 1 members are drawn from π; E_{o~π} P_G(o|π) = 0."),
    Claim("vy-g2-pairwise", "V&Y", "§2, reward preference model (groups of two)",
          "For G = 2, P_2(o|π) = P(r(o) > r(o')) − P(r(o) < r(o')), o' ~ π: pairwise-comparison "
          "preferences."),
    Claim("vy-large-group-preference", "V&Y", "§2, reward preference model (large groups)",
          "As G → ∞, P_G(o|π) → (r(o) − E_π r)/sd_π(r)."),
    Claim("vy-not-log-pooling", "V&Y", "abstract, §2",
          "GRPO's stationary policy is not logarithmic pooling π* ∝ π_ref·exp(r/β) (the RLHF "
          "optimum): the aggregation of preferences differs."),
    Claim("rlhf-log-pooling", "V&Y", "RLHF comparison; GVPO §3",
          "The KL-regularised optimum argmax E_π r − β·KL(π ‖ π_ref) is π* ∝ π_ref·exp(r/β) "
          "(logarithmic pooling)."),
    # ------------------------------------------------------------------ V&Y: binary questions
    Claim("vy-eq14-g2", "V&Y", "binary questions, groups of two, eq. (14)",
          "At G = 2 the stationary probability of the better answer is "
          "π(a) = ½·[1 − β/γ + √((1 − β/γ)² + 4(β/γ)·π_ref(a))]."),
    Claim("vy-g2-beta-over-gamma", "V&Y", "binary questions, groups of two",
          "At G = 2 the stationary π(a) depends on β and the confidence margin γ only through β/γ."),
    Claim("vy-confidence-margin", "V&Y", "binary questions, confidence margin",
          "γ = P(a ≻ b) − P(b ≻ a); at G = 2, P_2(a|π) = γ·(1 − π(a)) for noisy rewards, "
          "γ = s_a − s_b for pass/fail rewards with success probabilities s_a, s_b."),
    Claim("vy-g2-limits", "V&Y", "binary questions, groups of two",
          "At G = 2, π(a) → 1 as β/γ → 0 and π(a) → π_ref(a) as β/γ → ∞, decreasing in β."),
    Claim("vy-g2-lower-bound", "V&Y", "binary questions, groups of two",
          "At G = 2, π(a) ≥ max(1 − β/γ, π_ref(a))."),
    Claim("vy-g2-beta-equals-gamma", "V&Y", "binary questions, groups of two",
          "At β = γ the G = 2 answer is π(a) = √π_ref(a)."),
    Claim("vy-increasing-in-pref", "V&Y", "binary questions",
          "The stationary π(a) increases with π_ref(a) (G = 2, finite G and G = ∞)."),
    Claim("vy-pref-to-zero", "V&Y", "binary questions, lower bounds",
          "As π_ref(a) → 0 the stationary π(a) tends to 1 − β/γ when β < γ (G = 2) and to "
          "1/(1 + β²) (G = ∞): a jump from π(a) = 0 at π_ref(a) = 0.",
          "Checked as a limit over π_ref(a) = 1e-12 … 1e-3. At π_ref(a) = 0 itself there is no mass "
          "to reweight: π = π_ref/(1 − P/β) gives π(a) = 0, so the limit and the value differ (the "
          "jump). The general solver returns π(a) = 0 there; the binary closed forms reject "
          "π_ref(a) = 0 (p_ref must lie in (0, 1))."),
    Claim("vy-eq15-ginf", "V&Y", "binary questions, large groups, eq. (15)",
          "As G → ∞ the stationary π(a) solves π(a) − √(π(a)(1 − π(a)))/β = π_ref(a): "
          "π(a) = (1 + 2β²π_ref + √(1 + 4β²π_ref(1 − π_ref)))/(2(1 + β²))."),
    Claim("vy-eq19-square-root", "V&Y", "binary questions, large groups (derivation), eq. (19)",
          "The large-group stationarity condition is β(π(a) − π_ref(a)) = √(π(a)(1 − π(a))).",
          "One text copy of the paper prints eq. (19) as β(π − π_ref) = π(1 − π), without the square "
          "root; that is the G = 2 condition. The derivative above it and eq. (15) require the "
          "square root, which the test confirms (the G = ∞ answer violates the printed form)."),
    Claim("vy-ginf-lower-bound", "V&Y", "binary questions, large groups",
          "As G → ∞, π(a) ≥ max(1/(1 + β²), π_ref(a))."),
    Claim("vy-ginf-bound-above-g2", "V&Y", "binary questions, large groups",
          "1/(1 + β²) > 1 − β for every β > 0: the large-group bound exceeds the G = 2 bound."),
    Claim("vy-large-groups-greedier", "V&Y", "binary questions, large groups",
          "The large-group answer is more reward-biased than G = 2: p_∞ ≥ p_2, and p_G increases "
          "with G (population and sample std)."),
    Claim("vy-trl-beta", "V&Y", "binary questions, remark on TRL's default β = 0.04",
          "At TRL's default β = 0.04 GRPO is close to greedy: π(a) ≥ 0.96 at G = 2 and ≥ 1/(1 + β²) "
          "≈ 0.9984 at G = ∞ whatever π_ref(a) > 0; logarithmic pooling is greedier still at "
          "π_ref(a) = 0.01 but follows π_ref(a) → 0."),
    # ------------------------------------------------------------------ V&Y: variants
    Claim("vy-direct-kl-stationarity", "V&Y", "direct KL penalty",
          "With the direct KL penalty KL(π ‖ π_ref) the stationary policy is "
          "π(o) ∝ π_ref(o)·exp(P_G(o|π)/β)."),
    Claim("vy-direct-kl-g2-nlhf", "V&Y", "direct KL penalty, groups of two",
          "G = 2 with the direct KL is Nash learning from human feedback (NLHF): the stationary "
          "policy is the Nash equilibrium of the preference game (ties counted ½) regularised by "
          "(β/2)·KL(· ‖ π_ref)."),
    Claim("vy-direct-kl-ginf-roots", "V&Y", "direct KL penalty, large groups",
          "For a binary question at G = ∞ with the direct KL two values of π(a) solve the "
          "stationarity condition.",
          "Sharper statement of the toolkit: in the logit x the condition is "
          "x = logit π_ref(a) + (2/β)·cosh(x/2); it has two roots when "
          "2·asinh β − 2√(1 + β²)/β > logit π_ref(a), none below that threshold; only the lower root "
          "is stable under the expected GRPO dynamics, and it is the one the solver returns."),
    Claim("vy-no-std-preference", "V&Y", "rewards without scale normalisation",
          "Without the std, P_G(o|π) = ((G − 1)/G)·(r(o) − E_π r)."),
    Claim("vy-no-std-direct-kl-pooling", "V&Y", "rewards without scale normalisation, direct KL",
          "Without the std and with the direct KL, GRPO's stationary policy is logarithmic pooling "
          "(RLHF) with β' = G·β/(G − 1)."),
    # ------------------------------------------------------------------ GVPO
    Claim("gvpo-mse", "GVPO", "§3, the MSE view",
          "The GVPO loss −β·Σ_i w_i·log π_θ(y_i) with detached weights "
          "w_i = (R_i − R̄) − β(l_i − l̄), l = log π_θ/π_ref, has the gradient of "
          "½·Σ_i (β(l_i − l̄) − (R_i − R̄))², the squared error between centred implicit and actual "
          "rewards."),
    Claim("gvpo-unique-optimum", "GVPO", "§3, unique-optimum theorem (on-policy)",
          "The unique policy at which GVPO's expected gradient vanishes is π* ∝ π_ref·exp(R/β)."),
    Claim("gvpo-any-sampler", "GVPO", "§3, unique-optimum theorem (any sampling distribution)",
          "The unique optimum is the same π* for any sampling distribution π_s with full support "
          "(on-policy, π_ref, uniform, off-policy mixtures, replay)."),
    Claim("gvpo-rl-reading", "GVPO", "§3, the reinforcement-learning view",
          "Minimising the expected GVPO loss with implicit reward β·log(π_θ/π_θ′) maximises "
          "β·E[(R − E R)·log π_θ] + β²·Cov(log π_θ, log π_θ′) − (β²/2)·Var(log π_θ) over y ~ π_s: "
          "a policy-gradient term with advantage R − E R, a pull towards π_θ′ and a variance "
          "(entropy-like) regulariser."),
    Claim("gvpo-unbiased", "GVPO", "§3, unbiasedness of the 1/(k − 1)-scaled loss",
          "The empirical loss (1/(k − 1))·½·Σ_i w_i² over a group of k samples from π_s is an "
          "unbiased estimate of ½·Var_{π_s}(R − β·log(π_θ/π_ref))."),
    # ------------------------------------------------------------------ derived here
    Claim("derived-g3-binary", "derived here", "docs/theory.md, `binary-g3`",
          "At G = 3 (population std) P_3(a|π) = √2·(1 − π(a)): the G = 2 form with γ = √2.",
          "Not in the paper (V&Y treat G = 2 and G → ∞); earlier project text attributed it to "
          "V&Y eq. (14)."),
    Claim("derived-small-deviation", "derived here", "docs/theory.md, `small-deviation`",
          "At first order in 1/β, π(o) = π_ref(o)·(1 + P_G(o|π_ref)/β); at G = 2 this agrees with "
          "logarithmic pooling."),
    Claim("derived-large-group-correction", "derived here", "docs/theory.md, `large-group`",
          "p_G = p_∞ + c/G + O(1/G²) with c = −1/(8(β·√(p_∞(1 − p_∞)) + p_∞ − ½)) (population std)."),
    Claim("derived-direct-kl-threshold", "derived here", "docs/theory.md, `direct-kl-existence`",
          "Direct KL at G = ∞: an interior stationary point exists iff "
          "2·asinh β − 2√(1 + β²)/β ≥ logit π_ref(a)."),
    Claim("derived-noisy-rewards", "derived here", "docs/theory.md §4b",
          "With stochastic rewards, GRPO's stationary point uses the exact P_G of the reward "
          "mixture, and GVPO's optimum is logarithmic pooling on the expected rewards E[r|o]."),
)

#: Claims by id.
BY_ID: dict[str, Claim] = {c.id: c for c in CLAIMS}

if len(BY_ID) != len(CLAIMS):  # pragma: no cover - a duplicate id is a typo in this file
    raise ValueError("tests/claims.py: duplicate claim id")
