"""The ``gvpo-theory`` command line: one subcommand per module in ``gvpo_theory.commands``.

Each subcommand module exposes ``add_parser(subparsers)`` (registering its arguments and
``set_defaults(run=...)``) and a ``run(args) -> int``. Bad input (a ``ValueError`` from
the engine) becomes a one-line ``error: ...`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = ("solve", "derive", "verify", "figures", "explore")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gvpo-theory",
        description="Exact optima and stationary points of GRPO-family and KL-regularised "
        "post-training objectives.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"gvpo_theory.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gvpo_theory.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
