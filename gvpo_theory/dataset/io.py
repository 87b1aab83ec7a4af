"""Reading datasets from files: a CSV of pass rates and a JSONL rollout log.

Both readers check every line before returning and raise one ``ValueError`` naming the
file, the line number and the field at the first problem, so a caller that writes output
only after reading writes nothing on bad input.

CSV of pass rates (a header row, then one prompt per row; other columns are ignored):

* ``pass_rate`` — p_ref ∈ [0, 1]; or ``successes`` and ``samples`` — k correct out of n;
* ``samples`` alone with ``pass_rate`` — n, where pass_rate·n must be a whole number;
* ``prompt_id`` — optional, unique.

Rows with samples get a binomial interval; rows without are exact.

JSONL rollout log (one JSON object per sampled completion, blank lines skipped):

* ``prompt_id`` — a string or an integer;
* ``reward`` — a finite number (levels: the distinct rewards in the log; rewards in {0, 1}
  make a binary dataset);
* ``ref_logprob`` — optional, log π_ref of the completion, finite and <= 0; averaged per
  prompt into a Monte Carlo estimate of the reference's entropy on that prompt.

Each prompt needs at least ``min_samples`` records (default 2): one completion cannot show
a prompt's spread of rewards.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..problem import check_positive_int
from .core import MAX_LEVELS, Dataset

#: Report progress at most every this many lines.
PROGRESS_LINES = 1 << 16

ByteProgress = Callable[[int, int], None]


def _error(path: Path, line: int, field: str | None, rule: str) -> ValueError:
    where = f"{path}: line {line}" + (f", field {field!r}" if field else "")
    return ValueError(f"{where}: {rule}")


def _number(text: object, path: Path, line: int, field: str) -> float:
    """A finite real number from a CSV cell or a JSON value (booleans refused)."""
    if isinstance(text, bool) or text is None or isinstance(text, (list, dict)):
        raise _error(path, line, field, f"must be a number; got {json.dumps(text)}")
    try:
        value = float(text.strip()) if isinstance(text, str) else float(text)
    except (TypeError, ValueError):
        raise _error(path, line, field, f"must be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise _error(path, line, field, f"must be finite; got {text!r}")
    return value


def _whole(value: float, path: Path, line: int, field: str, minimum: int) -> int:
    if value != round(value) or value < minimum:
        raise _error(path, line, field, f"must be a whole number >= {minimum}; got {value:g}")
    return int(value)


def _count(row: list[str], cols: dict[str, int], field: str, minimum: int, path: Path, line: int) -> int:
    return _whole(_number(row[cols[field]], path, line, field), path, line, field, minimum)


def _open_text(path: str | os.PathLike) -> tuple[Path, int]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"{p}: the file is empty")
    return p, size


def read_pass_rates_csv(
    path: str | os.PathLike, *, confidence: float = 0.95, interval: str = "clopper-pearson",
    progress: ByteProgress | None = None,
) -> Dataset:
    """A binary :class:`Dataset` from a CSV of pass rates (module docstring)."""
    p, size = _open_text(path)
    ids: list[str] = []
    k_list: list[float] = []
    n_list: list[int] = []
    seen: dict[str, int] = {}
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next((row for row in reader if any(c.strip() for c in row)), None)
        if header is None:
            raise ValueError(f"{p}: the file is empty (no header row)")
        cols = {name.strip(): i for i, name in enumerate(header)}
        has_rate, has_k, has_n = "pass_rate" in cols, "successes" in cols, "samples" in cols
        if not (has_rate or (has_k and has_n)):
            raise _error(p, reader.line_num, None,
                         "the header must name a 'pass_rate' column, or 'successes' and 'samples' "
                         f"columns; got {', '.join(map(repr, header))}")
        width = len(header)
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) != width:
                raise _error(p, line, None, f"expected {width} fields (as in the header), got {len(row)}")
            pid = row[cols["prompt_id"]].strip() if "prompt_id" in cols else str(len(ids))
            if not pid:
                raise _error(p, line, "prompt_id", "is empty")
            if pid in seen:
                raise _error(p, line, "prompt_id", f"{pid!r} repeats line {seen[pid]}")
            seen[pid] = line
            n = _count(row, cols, "samples", 1, p, line) if has_n else 0
            if has_k and has_n:
                k = _count(row, cols, "successes", 0, p, line)
                if k > n:
                    raise _error(p, line, "successes", f"{k} exceeds samples = {n}")
            else:
                rate = _number(row[cols["pass_rate"]], p, line, "pass_rate")
                if not 0.0 <= rate <= 1.0:
                    raise _error(p, line, "pass_rate", f"must lie in [0, 1]; got {rate:g}")
                k = rate
                if n:
                    k = round(rate * n)
                    if abs(rate * n - k) > 1e-6:
                        raise _error(p, line, "pass_rate",
                                     f"{rate:g} × samples {n} = {rate * n:g} is not a whole number "
                                     "of successes")
            ids.append(pid)
            k_list.append(k)
            n_list.append(n)
            if progress is not None and len(ids) % PROGRESS_LINES == 0:
                progress(fh.tell(), size)
    if not ids:
        raise ValueError(f"{p}: no data rows after the header")
    k_arr, n_arr = np.asarray(k_list, dtype=np.float64), np.asarray(n_list, dtype=np.int64)
    if np.all(n_arr > 0):
        return Dataset.from_counts(k_arr, n_arr, ids=ids, confidence=confidence, interval=interval)
    exact = Dataset.from_pass_rates(np.where(n_arr > 0, k_arr / np.maximum(n_arr, 1), k_arr), ids=ids)
    if not np.any(n_arr > 0):
        return Dataset(exact.levels, exact.masses, exact.ids, confidence=confidence, interval=interval)
    est = n_arr > 0
    counted = Dataset.from_counts(k_arr[est], n_arr[est], confidence=confidence, interval=interval)
    lower, upper = exact.pass_rates.copy(), exact.pass_rates.copy()
    lower[est], upper[est] = counted.lower, counted.upper
    return Dataset(exact.levels, exact.masses, exact.ids, n_arr, lower, upper, confidence, interval)


def read_rollouts_jsonl(
    path: str | os.PathLike, *, min_samples: int = 2, confidence: float = 0.95,
    interval: str = "clopper-pearson", progress: ByteProgress | None = None,
) -> Dataset:
    """A :class:`Dataset` from a JSONL rollout log, one record per completion (module docstring)."""
    p, size = _open_text(path)
    min_samples = check_positive_int(min_samples, "min_samples")
    index: dict[str, int] = {}
    first_line: list[int] = []
    prompt_of: list[int] = []
    rewards: list[float] = []
    logp_sum: list[float] = []
    logp_count: list[int] = []
    with p.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text:
                continue
            try:
                rec = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
                raise _error(p, line_no, None, f"not valid JSON ({reason})") from None
            if not isinstance(rec, dict):
                raise _error(p, line_no, None, "must be a JSON object with 'prompt_id' and 'reward'")
            for name in ("prompt_id", "reward"):
                if name not in rec:
                    raise _error(p, line_no, name, "is missing")
            pid = rec["prompt_id"]
            if isinstance(pid, bool) or not isinstance(pid, (str, int)) or (isinstance(pid, str) and not pid):
                raise _error(p, line_no, "prompt_id",
                             f"must be a non-empty string or an integer; got {json.dumps(pid)}")
            reward = _number(rec["reward"], p, line_no, "reward")
            key = str(pid)
            i = index.get(key)
            if i is None:
                i = index[key] = len(first_line)
                first_line.append(line_no)
                logp_sum.append(0.0)
                logp_count.append(0)
            prompt_of.append(i)
            rewards.append(reward)
            if "ref_logprob" in rec:
                lp = _number(rec["ref_logprob"], p, line_no, "ref_logprob")
                if lp > 0:
                    raise _error(p, line_no, "ref_logprob", f"a log-probability must be <= 0; got {lp:g}")
                logp_sum[i] += lp
                logp_count[i] += 1
            if progress is not None and line_no % PROGRESS_LINES == 0:
                progress(fh.tell(), size)
    if not rewards:
        raise ValueError(f"{p}: no records (only blank lines)")
    r = np.asarray(rewards)
    prompt = np.asarray(prompt_of, dtype=np.int64)
    values = np.unique(r)
    if values.size > MAX_LEVELS:
        raise ValueError(f"{p}: rewards take {values.size} distinct values; at most {MAX_LEVELS} reward "
                         "levels are supported (bin the rewards)")
    if np.all(np.isin(values, (0.0, 1.0))):
        values = np.array([0.0, 1.0])
    if values.size < 2:
        raise ValueError(f"{p}: every reward equals {values[0]:g}: no prompt has a learning signal")
    level = np.searchsorted(values, r)
    counts = np.zeros((len(first_line), values.size))
    np.add.at(counts, (prompt, level), 1.0)
    n = counts.sum(axis=1)
    few = np.nonzero(n < min_samples)[0]
    if few.size:
        i = int(few[0])
        pid = next(k for k, v in index.items() if v == i)
        raise ValueError(
            f"{p}: prompt {pid!r} (first seen on line {first_line[i]}) has {int(n[i])} sample(s); "
            f"at least min_samples = {min_samples} are needed to estimate its pass rate"
            + (f" ({few.size} prompts in all)" if few.size > 1 else "")
        )
    ids = np.asarray(list(index), dtype=str)
    ds = Dataset.from_level_counts(counts, values, ids=ids, confidence=confidence, interval=interval)
    cnt = np.asarray(logp_count)
    if np.any(cnt > 0):
        with np.errstate(invalid="ignore", divide="ignore"):
            entropy = np.where(cnt > 0, -np.asarray(logp_sum) / np.maximum(cnt, 1), np.nan)
        ds = ds.with_reference_entropy(entropy)
    return ds
