"""``gvpo-theory figures``: regenerate the figures of ``figures/`` (the analyses in ``analyses/``).

The analyses live beside the package in a source checkout (they are scripts, not
library code), so this command finds ``analyses/`` next to the installed package and
runs ``analyses.make_all`` — exactly what ``make figures`` runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

#: The source checkout this package was installed from (editable installs).
CHECKOUT = Path(__file__).resolve().parents[2]


def load_make_all() -> ModuleType:
    """Import ``analyses.make_all``, from the working directory or the package's checkout."""
    try:
        return importlib.import_module("analyses.make_all")
    except ModuleNotFoundError as exc:
        if exc.name not in {"analyses", "analyses.make_all"}:
            raise
    if not (CHECKOUT / "analyses" / "make_all.py").is_file():
        raise ValueError(
            "the analyses are not installed with the package; run this command from a source "
            "checkout of gvpo-theory (one with an analyses/ folder)"
        )
    sys.path.insert(0, str(CHECKOUT))
    return importlib.import_module("analyses.make_all")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "figures",
        help="regenerate the figures (PNG, PDF and the data behind them)",
        description="Run the analyses in analyses/ and write every figure with its CSV/JSON data. "
        "Deterministic: a rerun writes the same bytes.",
    )
    p.add_argument("--only", default=None,
                   help="comma-separated subset: binary_beta, binary_pref, variants, group_size, "
                   "training, multi_output, margin")
    p.add_argument("--gpu-scale", action="store_true",
                   help="the large training run of figure 5 (wants a CUDA device)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: figures/ of the checkout)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    make_all = load_make_all()
    only = None if args.only is None else [x.strip() for x in args.only.split(",") if x.strip()]
    out = args.out if args.out is not None else make_all.DEFAULT_OUT
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from None
    make_all.run_all(out, only, args.gpu_scale)
    return 0
