"""Regenerate every figure of ``figures/``: ``python -m analyses.make_all`` (what ``make figures`` runs).

Runs the analyses in order, each writing PNG + PDF + the CSV/JSON behind its figure, and
prints one progress line per stage. Everything is deterministic: a rerun writes the same
bytes. ``--only NAME`` runs a subset; ``--gpu-scale`` passes the large-run flag to the
analyses that have one (the torch training run).

    python -m analyses.make_all --only binary_beta,margin --out /tmp/figures
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analyses.common import DEFAULT_OUT


@dataclass(frozen=True)
class Analysis:
    """One figure's script: its ``--only`` name, module and figure number."""

    name: str
    module: str
    figure: int
    has_gpu_scale: bool = False
    needs: str = ""  # an optional module the analysis cannot run without


ANALYSES: tuple[Analysis, ...] = (
    Analysis("binary_beta", "analyses.fig1_binary_beta", 1),
    Analysis("binary_pref", "analyses.fig2_binary_pref", 2),
    Analysis("variants", "analyses.fig3_variants", 3),
    Analysis("group_size", "analyses.fig4_group_size", 4),
    Analysis("training", "analyses.fig5_training", 5, has_gpu_scale=True, needs="torch"),
    Analysis("multi_output", "analyses.fig6_multi_output", 6),
    Analysis("margin", "analyses.fig7_margin", 7),
    Analysis("paper", "analyses.fig8_paper", 8),
    Analysis("bifurcation", "analyses.fig9_bifurcation", 9),
    Analysis("beta_zero", "analyses.fig10_beta_zero", 10),
    Analysis("atlas", "analyses.fig11_atlas", 11),
    Analysis("dataset", "analyses.fig12_dataset", 12),
)

NAMES: tuple[str, ...] = tuple(a.name for a in ANALYSES)


def missing(analysis: Analysis) -> str:
    """Why the analysis cannot run here ("" when it can): its script or dependency is absent."""
    if importlib.util.find_spec(analysis.module) is None:
        return f"{analysis.module} is not present"
    if analysis.needs and importlib.util.find_spec(analysis.needs) is None:
        return f"needs {analysis.needs} (pip install -e '.[{analysis.needs}]')"
    return ""


def select(only: Sequence[str] | None) -> list[Analysis]:
    """The analyses named in ``only`` (all when None), in figure order; unknown names raise."""
    if not only:
        return list(ANALYSES)
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        raise ValueError(f"--only: unknown analysis {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    return [a for a in ANALYSES if a.name in only]


def run_all(out: Path, only: Sequence[str] | None = None, gpu_scale: bool = False) -> list[Path]:
    """Run the selected analyses into ``out``; return every file written."""
    chosen = select(only)
    written: list[Path] = []
    start = time.perf_counter()
    for i, analysis in enumerate(chosen, 1):
        why = missing(analysis)
        head = f"[{i}/{len(chosen)}] figure {analysis.figure} ({analysis.name})"
        if why:
            print(f"{head}: skipped, {why}", flush=True)
            continue
        print(f"{head} ...", flush=True)
        t = time.perf_counter()
        module = importlib.import_module(analysis.module)
        argv = ["--out", str(out)] + (["--gpu-scale"] if gpu_scale and analysis.has_gpu_scale else [])
        written += module.run(module.parse_args(argv))
        print(f"[{i}/{len(chosen)}] figure {analysis.figure} done in {time.perf_counter() - t:.1f}s",
              flush=True)
    print(f"{len(written)} files in {out} ({time.perf_counter() - start:.1f}s)", flush=True)
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()], default=None,
                   help=f"comma-separated subset of: {', '.join(NAMES)}")
    p.add_argument("--gpu-scale", action="store_true", help="large training run (figure 5) on a GPU")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_all(args.out, args.only, args.gpu_scale)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
