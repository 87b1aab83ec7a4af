"""``gvpo-theory dataset``: dataset-level predictions from a CSV of pass rates or a rollout log.

Reads the whole input and solves every prompt before writing anything, so bad input (a
malformed line, a pass rate outside [0, 1], an empty file, a prompt with a single sample)
is one ``error:`` line naming the line and field, exit 2, and no output file.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..dataset import (
    INTERVALS,
    METHOD_NAMES,
    NORMALISATIONS,
    Prediction,
    predict,
    read_pass_rates_csv,
    read_rollouts_jsonl,
)
from . import _preset_args, dumps_json
from .solve import parse_floats, parse_group_size

#: Inputs above this many bytes (or predictions above this many prompts) get a progress bar.
PROGRESS_BYTES = 1 << 20
PROGRESS_PROMPTS = 1 << 16
#: Seconds between progress lines when stderr is not a terminal.
PROGRESS_EVERY = 5.0


class Progress:
    """A one-line progress bar on stderr (a line every few seconds when not a terminal)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if not self.tty and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        frac = min(done / total, 1.0)
        if self.tty:
            bar = "#" * int(30 * frac)
            print(f"\r{self.label} [{bar:<30}] {100 * frac:5.1f}%", end="", file=sys.stderr, flush=True)
        else:
            print(f"{self.label}: {100 * frac:.0f}%", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr, flush=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset",
        help="dataset-level predictions: accuracy, pass@k, KL after training, prompt by prompt",
        description="Predict where every prompt of a training set ends under an objective "
        "(GRPO as in the paper or as TRL/verl run it, Dr. GRPO, RLOO, GVPO's pi*), with "
        "group- or batch-level reward normalisation, and summarise: mean accuracy, pass@k, "
        "KL(pi||pi_ref), the share of tied groups, per-prompt effective regularisation.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pass-rates", type=Path, metavar="CSV",
                     help="CSV with a header: pass_rate (or successes and samples), optional "
                     "prompt_id and samples")
    src.add_argument("--rollouts", type=Path, metavar="JSONL",
                     help="one JSON object per completion: prompt_id, reward, optional ref_logprob")
    p.add_argument("--objective", default="grpo-sample", choices=METHOD_NAMES,
                   help="objective (default grpo-sample: GRPO as TRL/verl compute the std); "
                   "gvpo: the KL optimum pi*")
    p.add_argument("--beta", type=float, default=None,
                   help="regularisation strength beta > 0 (required unless a framework setting gives it)")
    p.add_argument("--group-size", type=str, default=None,
                   help="G >= 2 or 'inf' (required unless a framework setting gives it)")
    p.add_argument("--eps", type=float, default=None, help="added to the group std (objectives with a std)")
    p.add_argument("--normalisation", default="group", choices=NORMALISATIONS,
                   help="group: the objective's own group std; batch-trl / batch-reinforce++: one "
                   "std over the whole batch (TRL scale_rewards='batch', verl REINFORCE++)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval confidence (default 0.95)")
    p.add_argument("--interval", default="clopper-pearson", choices=tuple(INTERVALS),
                   help="binomial interval on estimated pass rates")
    p.add_argument("--min-samples", type=int, default=2,
                   help="rollout logs: fewest samples a prompt may have (default 2)")
    p.add_argument("--ks", default="1,8,64", help="k of pass@k (default 1,8,64)")
    p.add_argument("--json", action="store_true", help="print the summary and the per-prompt table as JSON")
    p.add_argument("--summary-only", action="store_true", help="with --json: leave out the per-prompt table")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write the per-prompt table to this CSV file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _preset_args.add_arguments(p)
    p.set_defaults(run=run)


def _batch_trl(args: argparse.Namespace) -> bool:
    """``--trl ...,scale_rewards=batch``: rewritten to the per-group setting, with the batch
    std solved by the dataset's coupled fixed point instead (True when that happened)."""
    batch = False
    settings = []
    for dest, text in getattr(args, "framework_settings", None) or []:
        if dest == "trl":
            pairs = _preset_args.parse_pairs(text, "--trl")
            if pairs.get("scale_rewards") == "batch":
                pairs["scale_rewards"], batch = "group", True
                text = ",".join(f"{k}={v!r}" for k, v in pairs.items())
        settings.append((dest, text))
    args.framework_settings = settings
    return batch


def _method(args: argparse.Namespace) -> tuple[object, object, float, str]:
    """(method, group_size or None, beta, normalisation) from the flags or a framework setting."""
    from ..objective import objective

    if _preset_args.given(args):
        batch = _batch_trl(args)
        settings = _preset_args.resolve(args)
        if len(settings) != 1:
            raise ValueError(f"dataset takes one framework setting; got {len(settings)}")
        preset = settings[0]
        if args.objective != "grpo-sample" or args.eps is not None:
            raise ValueError("--objective and --eps do not combine with a framework setting (it fixes them)")
        if preset.beta_key is None or preset.engine_beta <= 0:
            raise ValueError(f"{preset.name}: no KL coefficient reaches the policy (beta = {preset.beta:g}), "
                             "so there is no regularised fixed point to predict; give --beta > 0")
        if batch and args.normalisation != "group":
            raise ValueError("scale_rewards=batch already sets the normalisation; drop --normalisation")
        return preset.objective, None, preset.engine_beta, "batch-trl" if batch else args.normalisation
    missing = [f for f, v in (("--beta", args.beta), ("--group-size", args.group_size)) if v is None]
    if missing:
        raise ValueError(f"{' and '.join(missing)} required "
                         "(or give --preset, --trl, --verl or --verl-config)")
    g = parse_group_size(args.group_size)
    if args.eps is None:
        return args.objective, g, args.beta, args.normalisation
    if args.objective == "gvpo":
        raise ValueError("--eps applies to GRPO-family objectives, not gvpo")
    return objective(args.objective, g, eps=args.eps), None, args.beta, args.normalisation


def _ks(text: str) -> tuple[int, ...]:
    values = parse_floats(text, "--ks")
    if np.any(values < 1) or np.any(values != np.round(values)):
        raise ValueError(f"--ks must be whole numbers >= 1; got {text!r}")
    return tuple(int(v) for v in values)


def _report(pred: Prediction) -> str:
    """The plain-text report: the summary, then the statuses explained."""
    s = pred.summary
    g = s["group_size"]
    lines = [
        f"{s['prompts']} prompts · {s['method']} · beta = {s['beta']:g}"
        + ("" if "G = " in s["method"] else f" · G = {g}") + f" · normalisation: {s['normalisation']}",
    ]
    if "batch_std" in s:
        lines.append(f"batch std: {s['batch_message']}")
    lines.append("")
    lines.append(f"{'':<24}{'reference':>12}{'trained':>12}{'pi* (same beta)':>18}")
    lines.append(f"{'mean accuracy':<24}{s['mean_accuracy_reference']:>12.6f}{s['mean_accuracy']:>12.6f}"
                 f"{s['mean_accuracy_pi_star']:>18.6f}")
    for k in pred.ks:
        lines.append(f"{f'pass@{k}':<24}{s[f'pass@{k}_reference']:>12.6f}{s[f'pass@{k}']:>12.6f}")
    lines.append(f"{'share of tied groups':<24}{s['share_tied_start']:>12.6f}{s['share_tied_end']:>12.6f}")
    lines.append("")
    lines.append(f"mean KL(pi || pi_ref): {s['mean_kl']:.6g} nats")
    if "mean_accuracy_lower" in s:
        lines.append(f"mean accuracy, {100 * pred.dataset.confidence:g}% interval per prompt: "
                     f"[{s['mean_accuracy_lower']:.6f}, {s['mean_accuracy_upper']:.6f}]")
    lines.append(f"median movement ratio (pi - p_ref)/(pi* - p_ref): {s['median_movement_ratio']:.6g}; "
                 f"median effective beta: {s['median_effective_beta']:.6g}")
    counts = ", ".join(f"{n} {code}" for code, n in s["status_counts"].items())
    lines.append(f"prompts: {counts}")
    if s["status_counts"].get("all-correct") or s["status_counts"].get("none-correct"):
        lines.append("  all-correct / none-correct prompts tie in every group: no learning signal, "
                     "predicted to stay at pi_ref (their interval column shows how far the "
                     "estimate's uncertainty reaches)")
    if not s["all_converged"]:
        lines.append(f"warning: {int(np.sum(~pred.converged))} prompt(s) without a verified fixed point")
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict]) -> None:
    """Write atomically: a temporary file in the same folder, renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v)
                                 for k, v in row.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    method, g, beta, normalisation = _method(args)
    ks = _ks(args.ks)
    if args.summary_only and not args.json:
        raise ValueError("--summary-only goes with --json")
    if args.csv is not None and args.csv.is_dir():
        raise ValueError(f"--csv {args.csv} is a folder; give a file name")
    source = args.pass_rates if args.pass_rates is not None else args.rollouts
    big = source.is_file() and source.stat().st_size > PROGRESS_BYTES and not args.quiet
    bar = Progress(f"reading {source.name}", big)
    if args.pass_rates is not None:
        ds = read_pass_rates_csv(source, confidence=args.confidence, interval=args.interval, progress=bar)
    else:
        ds = read_rollouts_jsonl(source, min_samples=args.min_samples, confidence=args.confidence,
                                 interval=args.interval, progress=bar)
    bar.done()
    solving = Progress("solving", ds.size > PROGRESS_PROMPTS and not args.quiet)
    pred = predict(ds, beta, method, g, normalisation=normalisation, ks=ks, progress=solving)
    solving.done()
    rows = pred.rows() if (args.csv is not None or (args.json and not args.summary_only)) else []
    if args.csv is not None:
        _write_csv(args.csv, rows)
    if args.json:
        out: dict = {"summary": pred.summary}
        if not args.summary_only:
            out["prompts"] = rows
        print(dumps_json(out, indent=1))
    else:
        print(_report(pred))
        if args.csv is not None:
            print(f"per-prompt table: {args.csv}")
    ok = bool(np.all(pred.converged)) and (pred.batch is None or pred.batch.converged)
    return 0 if ok else 1
