"""``gvpo-theory verify``: train batched tabular bandits and compare with the engine's targets.

GVPO (one run per sampler) should reach π* ∝ π_ref·exp(E[r]/β); GRPO (on-policy) should
reach the GRPO stationary policy and stay away from π*. Prints a table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..problem import STD_MODES

SAMPLER_NAMES = ("on-policy", "reference", "uniform", "mixture", "replay")


def _samplers(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if text.strip() == "all":
        return SAMPLER_NAMES
    for n in names:
        if n not in SAMPLER_NAMES:
            raise argparse.ArgumentTypeError(
                f"unknown sampler {n!r}; choose from {', '.join(SAMPLER_NAMES)}, all"
            )
    return names


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="train GVPO/GRPO on batched tabular bandits (torch) and compare with the targets",
        description="Stochastic training of B tabular softmax policies at once; GVPO should "
        "converge to pi* = pi_ref·exp(E[r]/beta)/Z for every full-support sampler, GRPO to its "
        "stationary policy (and not to pi*).",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    p.add_argument("--contexts", type=int, default=None, help="B: independent problems (default 256)")
    p.add_argument("--arms", type=int, default=None, help="K: arms per context (default 8)")
    p.add_argument(
        "--concentration",
        type=float,
        default=2.0,
        help="pi_ref ~ Dirichlet(concentration), default 2; values below 1 give rarely sampled good "
        "arms, which on-policy GRPO explores slowly",
    )
    p.add_argument("--group-size", type=int, default=8, help="k = G: samples per group (>= 2)")
    p.add_argument("--beta", type=float, default=1.0, help="regularisation beta > 0")
    p.add_argument(
        "--rewards",
        default="binary",
        choices=("binary", "levels", "continuous", "bernoulli"),
        help="reward kind (bernoulli: noisy pass/fail verifier, drawn at sampling time)",
    )
    p.add_argument(
        "--sampler",
        type=_samplers,
        default=("on-policy", "uniform"),
        help="comma-separated GVPO samplers, or 'all'",
    )
    p.add_argument("--method", default="gvpo,grpo", help="gvpo, grpo or gvpo,grpo")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default 3000)")
    p.add_argument("--mode", default="sampled", choices=("sampled", "expected"))
    p.add_argument("--std", default="population", choices=STD_MODES, help="GRPO group std convention")
    p.add_argument("--penalty", default="reverse_kl", choices=("reverse_kl", "direct_kl"))
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    p.add_argument("--lr", type=float, default=None, help="step size in natural units")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 for small CPU runs, where threads only add overhead)",
    )
    p.add_argument("--quick", action="store_true", help="B=32, K=4 unless given: a few seconds on CPU")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import torch

        from ..torch import make_bandits, verify
        from ..torch.trainer import resolve_device
    except ModuleNotFoundError as exc:
        raise ValueError("verify needs PyTorch: pip install 'torch==2.13.0' (CPU build)") from exc
    defaults = (32, 4, 3000) if args.quick else (256, 8, 3000)
    for name, value in zip(("contexts", "arms", "steps"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    methods = tuple(m.strip() for m in args.method.split(",") if m.strip())
    device = resolve_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1; got {args.threads}")
        torch.set_num_threads(args.threads)
    elif device.type == "cpu" and args.contexts * args.arms <= 2**16:
        torch.set_num_threads(1)
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
    report = verify(
        bandits,
        beta=args.beta,
        group_size=args.group_size,
        methods=methods,
        samplers=args.sampler,
        steps=args.steps,
        mode=args.mode,
        std=args.std,
        penalty=args.penalty,
        optimizer=args.optimizer,
        lr=args.lr,
        seed=args.seed,
        device=device,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    s = report.settings
    print(
        f"{s['contexts']} contexts x {s['arms']} arms, G={s['group_size']}, beta={s['beta']}, "
        f"{s['mode']} gradients, {s['optimizer']}, {s['dtype']} on {s['device']}"
    )
    print(report.table())
    return 0
