"""``gvpo-theory derive <result>``: print a symbolic derivation (pretty text or LaTeX)."""

from __future__ import annotations

import argparse

from ..objective import PENALTY_CHOICES, STD_CHOICES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "derive",
        help="print a symbolic derivation (sympy), e.g. `derive binary-g2`",
        description="Derive a result with sympy and print its steps (`--list` names them: "
        "grpo-stationarity, gvpo, binary-g2, binary-ginf, large-group, ...).",
    )
    p.add_argument("result", nargs="?", help="name of the result (see --list)")
    p.add_argument("--list", action="store_true", help="list the available results")
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of pretty text")
    p.add_argument("--outputs", type=int, default=None, help="grpo-stationarity: K (2 or 3)")
    p.add_argument("--group-size", type=int, default=None, help="grpo-stationarity: G (2, 3 or 4)")
    p.add_argument("--std", default=None, choices=STD_CHOICES,
                   help="grpo-stationarity: group std convention")
    p.add_argument("--penalty", default=None, choices=PENALTY_CHOICES,
                   help="grpo-stationarity: KL penalty")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # sympy loads only when a derivation is asked for: other subcommands start fast
    from ..symbolic import derivation_names, derive, render_latex, render_text

    if args.list:
        for name in derivation_names():
            print(name)
        return 0
    if args.result is None:
        raise ValueError(f"name a result (or pass --list); valid names: {', '.join(derivation_names())}")
    options = {
        key: value
        for key, value in (("n_outputs", args.outputs), ("group_size", args.group_size),
                           ("std", args.std), ("penalty", args.penalty))
        if value is not None
    }
    d = derive(args.result, **options)
    print(render_latex(d) if args.latex else render_text(d), end="")
    return 0
