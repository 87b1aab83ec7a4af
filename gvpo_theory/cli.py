"""The ``gvpo-theory`` command line: one subcommand per module in ``gvpo_theory.commands``.

Each subcommand module exposes ``add_parser(subparsers)`` (registering its arguments and
``set_defaults(run=...)``) and a ``run(args) -> int``. Bad input (a ``ValueError`` from
the engine, an unwritable output path, a missing optional dependency) becomes a one-line
``error: ...`` on stderr and exit code 2, never a traceback. Exit codes: :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import textwrap
from collections.abc import Sequence

#: Subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = ("solve", "dataset", "derive", "verify", "figures", "explore")

#: What each exit status means (printed by ``--help`` and listed in the README).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1, "the command ran but its answer is not verified: `solve` found neither a converged GRPO "
        "stationary point nor a verified boundary limit (a limit, e.g. at beta = 0, exits 0), "
        "or a `verify` run missed its tolerance (the output is still printed)"),
    (2, "bad input or an environment problem: an invalid argument, an unwritable output path, "
        "a missing optional dependency, no display for `explore`"),
    (130, "interrupted (Ctrl-C)"),
)

#: Optional dependencies and the extra that installs each.
EXTRAS: dict[str, str] = {"torch": "torch", "matplotlib": "plots"}

# A value that starts with '-' but is a number (or a comma-separated list of numbers, or
# ±inf / nan) is an argument, not an option: `--beta -inf`, `--pi-ref -0.3,1.3`.
_NEGATIVE_NUMBER = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def exit_status_help(width: int = 78) -> str:
    """The ``exit status:`` block that ends every ``--help``."""
    lines = ["exit status:"]
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(meaning, width, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
    return "\n".join(lines)


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, except that text already broken into lines keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("epilog", exit_status_help())
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"error: {message}\n")


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("gvpo-theory")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from . import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gvpo-theory",
        description="Exact optima and stationary points of GRPO-family and KL-regularised "
        "post-training objectives.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="command",
                                title="commands")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"gvpo_theory.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gvpo_theory.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def missing_extra_message(exc: ModuleNotFoundError, command: str | None) -> str | None:
    """The one-line error for an optional dependency that is not installed (None: not one)."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    what = f"`{command}`" if command else "this command"
    return (f"{what} needs {top}, which is not installed: pip install 'gvpo-theory[{EXTRAS[top]}]' "
            "(see the README's Install section)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `gvpo-theory`: the help, as a usage error
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc, args.command)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder that cannot be created
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
