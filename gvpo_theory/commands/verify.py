"""``gvpo-theory verify``: train batched tabular bandits and compare with the engine's targets.

GVPO (one run per sampler) should reach π* ∝ π_ref·exp(E[r]/β); GRPO (on-policy) should
reach the GRPO stationary policy and stay away from π*. Prints a table (or JSON) with each
run's tolerance and pass/fail; exits 1 when a run misses its tolerance.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from ..objective import PENALTY_CHOICES, SCALES, STD_CHOICES
from . import _preset_args, dumps_json

NO_TORCH = (
    "verify needs PyTorch, which is not installed: pip install 'gvpo-theory[torch]' "
    "(CPU-only machines: pip install torch --index-url https://download.pytorch.org/whl/cpu "
    "first; see the README's Install section)"
)

SAMPLER_NAMES = ("on-policy", "reference", "uniform", "mixture", "replay")
METHOD_NAMES = ("gvpo", "grpo")


def _samplers(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return SAMPLER_NAMES
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise argparse.ArgumentTypeError(
            f"name at least one sampler ({', '.join(SAMPLER_NAMES)}) or 'all'; got {text!r}"
        )
    for n in names:
        if n not in SAMPLER_NAMES:
            raise argparse.ArgumentTypeError(
                f"unknown sampler {n!r}; choose from {', '.join(SAMPLER_NAMES)}, all"
            )
    return names


def _methods(text: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"name gvpo, grpo or gvpo,grpo; got {text!r}")
    for n in names:
        if n not in METHOD_NAMES:
            raise argparse.ArgumentTypeError(f"unknown method {n!r}; choose from gvpo, grpo")
    return names


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text!r}")
    return value


def _device(text: str):
    """torch.device for --device, with the flag named in the error (not torch's RuntimeError)."""
    from ..torch.trainer import resolve_device

    try:
        return resolve_device(text.strip())
    except RuntimeError:
        raise ValueError(f"--device must be cpu, cuda, cuda:N or auto; got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="train GVPO/GRPO on batched tabular bandits (torch) and compare with the targets",
        description="Stochastic training of B tabular softmax policies at once; GVPO should "
        "converge to pi* = pi_ref·exp(E[r]/beta)/Z for every full-support sampler, GRPO to its "
        "stationary policy (and not to pi*).",
    )
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:N or auto (default: auto, cuda when available)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"),
                   help="training dtype (default: float64)")
    p.add_argument("--contexts", type=int, default=None, help="B: independent problems (default 256)")
    p.add_argument("--arms", type=int, default=None, help="K: arms per context (default 8)")
    p.add_argument(
        "--concentration",
        type=float,
        default=2.0,
        help="pi_ref ~ Dirichlet(concentration), default 2; values below 1 give rarely sampled good "
        "arms, which on-policy GRPO explores slowly",
    )
    p.add_argument("--group-size", type=int, default=8, help="G: samples per group, >= 2 (default: 8)")
    p.add_argument("--beta", type=float, default=1.0,
                   help="regularisation beta > 0 (default: 1); beta = 0 has no stationary policy to "
                   "train to and is refused (solve --beta 0 gives its limit)")
    p.add_argument(
        "--rewards",
        default="binary",
        choices=("binary", "levels", "continuous", "bernoulli"),
        help="reward kind (bernoulli: noisy pass/fail verifier, drawn at sampling time; "
        "default: binary)",
    )
    p.add_argument(
        "--sampler",
        type=_samplers,
        default=("on-policy", "uniform"),
        help=f"comma-separated GVPO samplers from {', '.join(SAMPLER_NAMES)}, or 'all' "
        "(default: on-policy,uniform)",
    )
    p.add_argument("--method", type=_methods, default=METHOD_NAMES,
                   help="gvpo, grpo or gvpo,grpo (default: gvpo,grpo)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: 3000)")
    p.add_argument("--mode", default="sampled", choices=("sampled", "expected"),
                   help="sampled training or the exact expected gradient (default: sampled)")
    p.add_argument("--std", default="population", choices=STD_CHOICES,
                   help="GRPO group std convention (default: population): "
                   + "; ".join(f"{k}: {v}" for k, v in SCALES.items()))
    p.add_argument("--penalty", default="reverse_kl", choices=PENALTY_CHOICES,
                   help="GRPO KL penalty (default: reverse_kl)")
    p.add_argument("--eps", type=float, default=0.0, help="GRPO: added to the group std (default: 0)")
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"), help="(default: sgd)")
    p.add_argument("--lr", type=float, default=None,
                   help="step size in natural units (default: 0.5 for sampled SGD, 1.0 for "
                   "expected-mode SGD, 0.05 for Adam)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed >= 0 (default: 0)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 for small CPU runs, where threads only add overhead)",
    )
    p.add_argument("--quick", action="store_true", help="B=32, K=4 unless given: a few seconds on CPU")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    _preset_args.add_arguments(p)
    p.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (by default a bar on a terminal, a line every few "
                   "seconds otherwise)")
    p.set_defaults(run=run)


#: Why verify refuses β = 0 (one line; the Python API says the same).
BETA_ZERO = ("--beta 0: verify trains to a stationary policy and checks the distance, but at beta = 0 "
             "GRPO has none (every output outside the best reward level loses its mass like 1/t); "
             "`gvpo-theory solve --beta 0 ...` prints the limit and its approach law")


def run(args: argparse.Namespace) -> int:
    if args.beta == 0 and not _preset_args.given(args):
        raise ValueError(BETA_ZERO)
    if importlib.util.find_spec("torch") is None:
        raise ValueError(NO_TORCH)
    if not args.quiet:  # importing torch takes seconds: say so at once
        print("verify: loading torch ...", file=sys.stderr, flush=True)
    try:
        import torch

        from ..torch import make_bandits, verify
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        raise ValueError(NO_TORCH) from None
    defaults = (32, 4, 3000) if args.quick else (256, 8, 3000)
    for name, value in zip(("contexts", "arms", "steps"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    device = _device(args.device)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1; got {args.threads}")
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    bandits = make_bandits(
        args.contexts,
        args.arms,
        rewards=args.rewards,
        concentration=args.concentration,
        seed=args.seed,
        device=device,
        dtype=dtype,
    )
    target = dict(beta=args.beta, group_size=args.group_size, methods=args.method, std=args.std,
                  penalty=args.penalty, eps=args.eps)
    if _preset_args.given(args):  # the framework setting fixes method, beta, G, std, penalty, eps
        methods, beta, group, _ = _preset_args.verify_target(args)
        target = dict(beta=beta, group_size=group, methods=methods, std=None, penalty=None, eps=None)
    report = verify(
        bandits,
        samplers=args.sampler,
        steps=args.steps,
        mode=args.mode,
        **target,
        optimizer=args.optimizer,
        lr=args.lr,
        seed=args.seed,
        device=device,
        threads=args.threads,
        progress=not args.quiet,
    )
    status = 0 if report.passed else 1
    if args.json:
        print(dumps_json(report.to_dict()))
        return status
    s = report.settings
    print(
        f"{s['contexts']} contexts x {s['arms']} arms, G={s['group_size']}, beta={s['beta']}, "
        f"{s['mode']} gradients, {s['optimizer']}, {s['dtype']} on {s['device']}"
    )
    print(report.table())
    return status
