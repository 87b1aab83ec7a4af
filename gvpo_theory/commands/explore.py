"""``gvpo-theory explore``: the interactive explorer in a desktop window, or a snapshot PNG.

Without a display (no $DISPLAY on Linux, or a non-interactive matplotlib backend) the
command says so and exits 2, unless ``--save out.png`` asks for a snapshot instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from ..objective import PENALTY_CHOICES as PENALTIES
from ..objective import STD_CHOICES as STD_MODES
from .solve import parse_group_size

_WEB_BACKENDS = {"webagg", "nbagg", "module://ipympl.backend_nbagg", "widget", "ipympl"}


def display_problem() -> str:
    """Why no window can be opened here ("" when one can)."""
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry

    backend = matplotlib.get_backend().lower()
    interactive = set(backend_registry.list_builtin(BackendFilter.INTERACTIVE))
    if backend not in interactive and not backend.startswith("module://"):
        return f"matplotlib backend {backend!r} is non-interactive"
    if (sys.platform.startswith("linux") and backend not in _WEB_BACKENDS
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        return "no display ($DISPLAY and $WAYLAND_DISPLAY are unset)"
    return ""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explore",
        help="interactive explorer: GRPO's stationary point vs pi* as beta, p_ref, margin and G move",
        description="Open a window with sliders for beta, p_ref, the confidence margin and G and toggles "
        "for the std convention and penalty. Use --save to write a snapshot instead (no display needed).",
    )
    p.add_argument("--beta", type=float, default=1.0, help="initial beta > 0")
    p.add_argument("--p-ref", type=float, default=0.3, help="initial pi_ref(a) in (0, 1)")
    p.add_argument("--margin", type=float, default=1.0, help="confidence margin in (0, 1]; 1 = deterministic")
    p.add_argument("--group-size", default="8", help="initial G >= 2 or 'inf'")
    p.add_argument("--std", default="population", choices=STD_MODES)
    p.add_argument("--penalty", default="reverse_kl", choices=PENALTIES)
    p.add_argument("--save", type=Path, default=None, metavar="OUT.png",
                   help="render a snapshot to this file and exit (works without a display)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..explore import Explorer, ExplorerSettings

    group_size = parse_group_size(args.group_size)
    settings = ExplorerSettings(beta=args.beta, p_ref=args.p_ref, margin=args.margin,
                                group_size=group_size if math.isinf(group_size) else int(group_size),
                                std=args.std, penalty=args.penalty)
    if args.save is not None:
        folder = args.save.parent
        if not folder.is_dir():
            raise ValueError(f"--save {args.save}: the folder {str(folder)!r} does not exist")
        explorer = Explorer(settings)
        try:
            explorer.figure.savefig(args.save, dpi=120, metadata={"Software": None})
        except OSError as exc:
            raise ValueError(f"--save {args.save}: cannot write the file ({exc.strerror or exc})") from None
        print(f"wrote {args.save}")
        return 0
    problem = display_problem()
    if problem:
        print(f"error: cannot open the explorer window: {problem}. Use --save out.png for a snapshot, "
              "or analyses/explore.ipynb in Jupyter.", file=sys.stderr)
        return 2
    import matplotlib.pyplot as plt

    _explorer = Explorer.open(settings)  # held until show() returns: the widgets need a live owner
    plt.show()
    return 0
