"""Shared pieces of the analyses: the one place that writes files, and binary-question helpers.

Every output is byte-for-byte reproducible on rerun: PDFs carry no creation date, PNGs
no software/date chunk, data files use a fixed float format and sorted JSON keys. Data are
written to the digits that carry meaning across machines: 10 significant digits, and
magnitudes below 1e-12 (rounding-level residuals, errors and KLs, which differ from one
BLAS or libm to the next) as 0. Scripts print one progress line per stage to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from gvpo_theory import grpo_stationary_policy, kl_optimal_policy
from gvpo_theory.plots import PNG_DPI

#: Where ``make figures`` writes: the repository's ``figures/`` folder.
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "figures"

#: Significant digits of every number written to CSV/JSON.
FLOAT_FORMAT = "{:.10g}"
#: Magnitudes below this are rounding noise and are written as 0.
ROUNDING_FLOOR = 1e-12


# --------------------------------------------------------------------------- parsing


def floats(text: str) -> list[float]:
    """``"0.1,0.3"`` → [0.1, 0.3]; ``inf`` allowed (for group sizes)."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc


def group_sizes(text: str) -> list[float]:
    """``"2,8,inf"`` → [2, 8, inf]: integers >= 2, or ``inf`` for the large-group limit."""
    out: list[float] = []
    for g in floats(text):
        if not (math.isinf(g) or (g == int(g) and g >= 2)):
            raise argparse.ArgumentTypeError(f"group sizes must be integers >= 2 or inf, got {g:g}")
        out.append(g if math.isinf(g) else int(g))
    return out


def base_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the flags every analysis shares (``--out``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT})")
    return parser


def progress(name: str, message: str) -> None:
    """One progress line, flushed at once (``make figures`` pipes stdout)."""
    print(f"  [{name}] {message}", flush=True)


class Timer:
    """Wall-clock seconds since construction, for progress lines."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.start:.1f}s"


# --------------------------------------------------------------------------- writing


def _round(x: float, digits: int | None = None) -> float:
    """``x`` to ``digits`` significant digits (default :data:`FLOAT_FORMAT`'s), 0 below
    :data:`ROUNDING_FLOOR` (NaN, inf kept)."""
    if math.isfinite(x) and abs(x) < ROUNDING_FLOOR:
        return 0.0
    return float((FLOAT_FORMAT if digits is None else f"{{:.{digits}g}}").format(x))


def _fmt(x: object, digits: int | None = None) -> str:
    if isinstance(x, (float, np.floating)):
        return FLOAT_FORMAT.format(_round(float(x), digits))
    if isinstance(x, (bool, np.bool_)):
        return str(int(bool(x)))
    return str(x)


def write_csv(path: Path, columns: Mapping[str, ArrayLike], digits: int | None = None) -> Path:
    """Write equal-length columns as CSV with a header row and a fixed float format.

    ``digits``: significant digits where fewer than 10 carry meaning (e.g. sampled-training
    errors, whose low digits depend on the machine's floating-point reductions).
    """
    names = list(columns)
    data = [np.asarray(columns[n]).reshape(-1) for n in names]
    lengths = {d.size for d in data}
    if len(lengths) != 1:
        raise ValueError(f"columns of {path.name} differ in length: {sorted(lengths)}")
    lines = [",".join(names)]
    lines += [",".join(_fmt(d[i], digits) for d in data) for i in range(data[0].size)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _jsonable(obj: object) -> object:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return _round(x)
    return obj


def write_json(path: Path, obj: object) -> Path:
    """Write ``obj`` as JSON: sorted keys, floats rounded as in :func:`_round`, NaN → null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(obj), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def save_figure(fig: Figure, out: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` (150 dpi) and ``<stem>.pdf`` without timestamps."""
    out.mkdir(parents=True, exist_ok=True)
    png, pdf = out / f"{stem}.png", out / f"{stem}.pdf"
    fig.savefig(png, dpi=PNG_DPI, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return [png, pdf]


# --------------------------------------------------------------------------- binary helpers


def binary_stationary(
    p_ref: ArrayLike,
    beta: ArrayLike,
    group_size: float,
    *,
    std: str = "population",
    penalty: str = "reverse_kl",
    rewards: object = (1.0, 0.0),
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """GRPO's stationary π(a) on a binary question, for every (p_ref, beta) pair at once.

    ``p_ref`` and ``beta`` broadcast together; output a is the first output (reward 1
    by default). Returns (π(a), converged); π(a) is NaN where ``converged`` is False.
    """
    p, b = np.broadcast_arrays(np.asarray(p_ref, dtype=float), np.asarray(beta, dtype=float))
    pi_ref = np.stack([p, 1.0 - p], axis=-1)
    rew = rewards if not isinstance(rewards, (tuple, list)) else np.asarray(rewards, dtype=float)
    res = grpo_stationary_policy(pi_ref, rew, b, group_size, std=std, penalty=penalty)
    conv = np.asarray(res.converged, dtype=bool)
    return np.where(conv, res.policy[..., 0], np.nan), conv


def binary_pooling(p_ref: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    """π*(a) = p_ref·e^{1/β} / (p_ref·e^{1/β} + 1 − p_ref): logarithmic pooling, rewards (1, 0)."""
    p, b = np.broadcast_arrays(np.asarray(p_ref, dtype=float), np.asarray(beta, dtype=float))
    return kl_optimal_policy(np.stack([p, 1.0 - p], axis=-1), np.array([1.0, 0.0]), b)[..., 0]


def g_key(group_size: float) -> str:
    """Column name of a group size: ``G2``, ``Ginf``."""
    return "Ginf" if math.isinf(group_size) else f"G{int(group_size)}"


def report(paths: Sequence[Path]) -> None:
    """Print what was written, one line."""
    print("  wrote " + ", ".join(p.name for p in paths), flush=True)
