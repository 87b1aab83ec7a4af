"""``gvpo-theory solve``: the KL optimum π* and where GRPO settles, side by side.

GRPO's answer is its interior stationary point, or — where the expected dynamics reach none
(β = 0, direct KL at G = ∞ with small β, a clamped penalty) — the boundary limit they run to,
printed with one line saying why it is a limit. Exit status (also in ``--help``): 0 when the
answer is verified, an interior stationary point or a well-defined boundary limit; 1 when
it is not verified; 2 for bad input.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from ..objective import PENALTY_CHOICES, STD_CHOICES
from ..pooling import kl_divergence, kl_optimal_policy
from ..problem import RewardDistribution, check_beta, check_distribution
from ..stationary import grpo_stationary_policy
from . import _preset_args, dumps_json


def parse_floats(text: str, flag: str) -> np.ndarray:
    """Comma-separated numbers, e.g. ``0.3,0.7``; errors name the flag."""
    try:
        values = [float(x) for x in text.split(",") if x.strip() != ""]
    except ValueError as exc:
        raise ValueError(f"{flag} must be comma-separated numbers; got {text!r}") from exc
    if not values:
        raise ValueError(f"{flag} must list at least one number")
    return np.asarray(values)


def parse_group_size(text: str) -> float | int:
    """An integer >= 2, or ``inf`` for the large-group limit."""
    if text.strip().lower() in {"inf", "infinity", "∞"}:
        return math.inf
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"--group-size must be an integer >= 2 or 'inf'; got {text!r}") from exc


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "solve",
        help="KL-regularised optimum and GRPO stationary policy for one problem",
        description="Print pi* = pi_ref·exp(r/beta)/Z (RLHF / GVPO optimum) and where GRPO "
        "settles side by side: its interior stationary point, or, where the expected dynamics "
        "reach none (beta = 0, direct KL at G = inf with small beta), the boundary limit they run "
        "to, with one line saying why. Exits 0 when the answer is verified (an interior "
        "stationary point or a well-defined boundary limit), 1 when it is not, 2 on bad input.",
    )
    p.add_argument("--pi-ref", required=True, help="reference policy, e.g. 0.3,0.7")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--rewards", help="deterministic reward per output, e.g. 1,0")
    src.add_argument(
        "--success-prob",
        help="Bernoulli rewards: probability that each output scores 1 (a noisy verifier)",
    )
    p.add_argument("--beta", type=float, default=None,
                   help="regularisation strength beta >= 0 (0: no KL term, the TRL and verl default; "
                   "required unless a framework setting gives it)")
    p.add_argument("--group-size", type=str, default=None,
                   help="G >= 2 or 'inf' (required unless a framework setting gives it)")
    p.add_argument("--std", default="population", choices=STD_CHOICES,
                   help="group std convention (population: the paper; sample: torch.std, TRL/verl)")
    p.add_argument("--penalty", default="reverse_kl", choices=PENALTY_CHOICES,
                   help="reverse_kl: GRPO's k3 estimator; direct_kl: KL(pi||pi_ref)")
    p.add_argument("--eps", default=0.0, type=float, help="added to the group std")
    p.add_argument("--pi0", default=None,
                   help="start of the expected dynamics (default pi_ref), e.g. 0.999999,0.000001")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _preset_args.add_arguments(p)
    p.set_defaults(run=run)


def solve(args: argparse.Namespace) -> dict:
    """Compute everything ``solve`` prints, as plain Python data."""
    for flag, value in (("--beta", args.beta), ("--group-size", args.group_size)):
        if value is None:
            raise ValueError(f"{flag} is required (or give --preset, --trl, --verl or --verl-config)")
    pi_ref = parse_floats(args.pi_ref, "--pi-ref")
    if args.rewards is not None:
        rewards = parse_floats(args.rewards, "--rewards")
        expected = rewards
    else:
        rewards = RewardDistribution.bernoulli(parse_floats(args.success_prob, "--success-prob"))
        expected = rewards.expected()
    if expected.size != pi_ref.size:
        raise ValueError(
            f"--pi-ref has {pi_ref.size} outputs but the rewards have {expected.size}"
        )
    group_size = parse_group_size(args.group_size)
    beta = float(check_beta(args.beta, "beta", allow_zero=True))
    pi0 = None if args.pi0 is None else parse_floats(args.pi0, "--pi0")
    pi_star = kl_optimum(check_distribution(pi_ref, "pi_ref"), np.asarray(expected), beta)
    res = grpo_stationary_policy(
        pi_ref, rewards, beta, group_size, std=args.std, penalty=args.penalty, eps=args.eps,
        pi0=pi0,
    )
    limit = res.limit
    return {
        "beta": args.beta,
        # JSON has no infinity: the large-group limit is group_size null, large_group_limit true
        "group_size": None if math.isinf(group_size) else int(group_size),
        "large_group_limit": bool(math.isinf(group_size)),
        "std": args.std,
        "penalty": args.penalty,
        "eps": args.eps,
        "pi_ref": pi_ref.tolist(),
        "expected_reward": np.asarray(expected).tolist(),
        "kl_optimal": pi_star.tolist(),
        "grpo_stationary": res.policy.tolist(),
        "grpo_preference": res.preference.tolist(),
        "converged": bool(res.converged),
        "kind": str(res.kind),
        "verified": verified(res),
        "message": res.message,
        "vanished": None if limit is None else np.asarray(limit.vanished).tolist(),
        "decay_exponent": None if limit is None else np.asarray(limit.decay_exponent).tolist(),
        "residual": float(res.residual),
        "kl_optimal_to_grpo": float(kl_divergence(pi_star, res.policy)),
        "mean_reward": {
            "pi_ref": float(pi_ref @ expected),
            "kl_optimal": float(pi_star @ expected),
            "grpo_stationary": float(res.policy @ expected),
        },
    }


def kl_optimum(pi_ref: np.ndarray, expected: np.ndarray, beta: float) -> np.ndarray:
    """π* ∝ π_ref·exp(r/β); at β = 0 its limit, π_ref restricted to the best expected reward."""
    if beta > 0:
        return kl_optimal_policy(pi_ref, expected, beta)
    best = expected == np.max(expected[pi_ref > 0])
    top = np.where(best & (pi_ref > 0), pi_ref, 0.0)
    return top / top.sum()


def verified(res) -> bool:
    """The answer holds: an interior fixed point to tol, or a boundary limit whose survivors
    are stationary to tol (the exit status is 0 exactly then)."""
    if str(res.kind) == "boundary":
        return bool(float(res.residual) <= 1e-10)
    return bool(res.converged)


def run(args: argparse.Namespace) -> int:
    if _preset_args.given(args):
        return _preset_args.run_presets(args)
    out = solve(args)
    if args.json:
        print(dumps_json(out, indent=2))
        return 0 if out["verified"] else 1
    boundary = out["kind"] == "boundary"
    column = "GRPO limit" if boundary else "GRPO stat."
    head = (
        f"{'output':>6}  {'E[r]':>9}  {'pi_ref':>16}  {'pi* (KL opt.)':>16}  "
        f"{column:>16}  {'P_G':>10}"
    )
    g = "inf" if out["large_group_limit"] else out["group_size"]
    print(
        f"beta={out['beta']:g}  G={g}  std={out['std']}  "
        f"penalty={out['penalty']}  eps={out['eps']:g}"
    )
    print(head)
    print("-" * len(head))
    for i, (r, p0, ps, pg, pref) in enumerate(
        zip(out["expected_reward"], out["pi_ref"], out["kl_optimal"], out["grpo_stationary"],
            out["grpo_preference"])
    ):
        # '#.10g': ten significant digits, kept trailing zeros; tiny masses stay visible (1e-11)
        print(f"{i:>6}  {r:>9.4g}  {p0:>16.10g}  {ps:>#16.10g}  {pg:>#16.10g}  {pref:>10.5g}")
    mr = out["mean_reward"]
    print(
        f"E[r]: pi_ref {mr['pi_ref']:.7g}, pi* {mr['kl_optimal']:.7g}, "
        f"GRPO {mr['grpo_stationary']:.7g};  KL(pi*||GRPO) = {out['kl_optimal_to_grpo']:.3e}"
    )
    if boundary:
        print(f"GRPO: {out['message']}")
        return 0 if out["verified"] else 1
    if out["kind"] == "interior" and out["message"].startswith("interior"):
        print(f"GRPO: {out['message']}")
    status = "converged" if out["converged"] else "NOT converged (no interior stationary point found)"
    print(f"GRPO fixed point: {status}, residual {out['residual']:.2e}")
    return 0 if out["verified"] else 1
