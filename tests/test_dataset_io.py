"""Dataset files and the ``gvpo-theory dataset`` command: parsing, and every bad-input class.

Bad input must give one ``error:`` line naming the line number and the field, exit 2, and
write nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gvpo_theory.cli import main
from gvpo_theory.dataset import Dataset, predict, read_pass_rates_csv, read_rollouts_jsonl


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_counts_rates_and_ids(tmp_path):
    path = write(tmp_path, "r.csv", "prompt_id,successes,samples,extra\na,3,8,x\nb,0,8,y\n\nc,8,8,z\n")
    ds = read_pass_rates_csv(path, confidence=0.9)
    assert list(ds.prompt_ids) == ["a", "b", "c"]
    assert np.array_equal(ds.pass_rates, [3 / 8, 0.0, 1.0]) and np.array_equal(ds.samples, [8, 8, 8])
    ref = Dataset.from_counts([3, 0, 8], [8, 8, 8], confidence=0.9)
    assert np.array_equal(ds.lower, ref.lower) and np.array_equal(ds.upper, ref.upper)
    exact = read_pass_rates_csv(write(tmp_path, "e.csv", "pass_rate\n0.25\n0.5\n"))
    assert np.array_equal(exact.samples, [0, 0]) and np.array_equal(exact.lower, exact.pass_rates)
    mixed = read_pass_rates_csv(write(tmp_path, "m.csv", "pass_rate,samples\n0.25,4\n0.3,\n"
                                      .replace("0.3,\n", "0.5,2\n")))
    assert np.array_equal(mixed.samples, [4, 2])


def test_jsonl_levels_counts_and_entropy(tmp_path):
    recs = [{"prompt_id": "a", "reward": 1, "ref_logprob": -1.0},
            {"prompt_id": "a", "reward": 0, "ref_logprob": -3.0}, {"prompt_id": 7, "reward": 0.0},
            {"prompt_id": 7, "reward": 0}, {"prompt_id": "a", "reward": 1}]
    path = write(tmp_path, "l.jsonl", "\n".join(json.dumps(r) for r in recs) + "\n\n")
    ds = read_rollouts_jsonl(path)
    assert ds.binary and list(ds.prompt_ids) == ["a", "7"]
    assert np.allclose(ds.pass_rates, [2 / 3, 0.0]) and np.array_equal(ds.samples, [3, 2])
    assert ds.ref_entropy[0] == 2.0 and np.isnan(ds.ref_entropy[1])
    rewards = [0, 0.5, 1, 1, 0.5, 0.5, 0, 0]
    graded = read_rollouts_jsonl(write(tmp_path, "g.jsonl", "\n".join(
        json.dumps({"prompt_id": i // 4, "reward": r}) for i, r in enumerate(rewards))))
    assert np.array_equal(graded.levels, [0, 0.5, 1])
    assert np.allclose(graded.masses, [[0.25, 0.25, 0.5], [0.5, 0.5, 0.0]])


CSV_ERRORS = [
    ("", "the file is empty"),
    ("\n\n", "empty"),
    ("prompt_id\n", "header must name a 'pass_rate' column"),
    ("pass_rate\n", "no data rows"),
    ("pass_rate\n0.2\n1.5\n", "line 3, field 'pass_rate': must lie in \\[0, 1\\]"),
    ("pass_rate\n-0.1\n", "line 2, field 'pass_rate': must lie in"),
    ("pass_rate\nabc\n", "line 2, field 'pass_rate': must be a number"),
    ("pass_rate\nnan\n", "line 2, field 'pass_rate': must be finite"),
    ("pass_rate,samples\n0.3,8\n", "line 2, field 'pass_rate': 0.3 × samples 8 = 2.4"),
    ("successes,samples\n3,2\n", "line 2, field 'successes': 3 exceeds samples"),
    ("successes,samples\n1,0\n", "line 2, field 'samples': must be a whole number >= 1"),
    ("successes,samples\n1.5,4\n", "line 2, field 'successes': must be a whole number"),
    ("prompt_id,pass_rate\na,0.1\na,0.2\n", "line 3, field 'prompt_id': 'a' repeats line 2"),
    ("pass_rate,x\n0.1\n", "line 2: expected 2 fields"),
]


@pytest.mark.parametrize("text, match", CSV_ERRORS)
def test_csv_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_pass_rates_csv(write(tmp_path, "bad.csv", text))


A1 = '{"prompt_id": "a", "reward": 1}\n'
JSONL_ERRORS = [
    ("", "the file is empty"),
    ("\n \n", "no records"),
    (A1 + '{"prompt_id": "a", "reward": 1\n', "line 2: not valid JSON"),
    ('[1, 2]\n', "line 1: must be a JSON object"),
    ('{"reward": 1}\n', "line 1, field 'prompt_id': is missing"),
    ('{"prompt_id": "a"}\n', "line 1, field 'reward': is missing"),
    ('{"prompt_id": "a", "reward": "1"}\n{"prompt_id": "a", "reward": true}\n', "line 2, field 'reward'"),
    (A1 + '{"prompt_id": "a", "reward": NaN}\n', "line 2, field 'reward': must be finite"),
    ('{"prompt_id": null, "reward": 1}\n', "line 1, field 'prompt_id'"),
    ('{"prompt_id": "a", "reward": 1, "ref_logprob": 0.5}\n',
     "line 1, field 'ref_logprob': a log-probability"),
    (A1 + '{"prompt_id": "a", "reward": 0}\n{"prompt_id": "b", "reward": 1}\n',
     "prompt 'b' \\(first seen on line 3\\) has 1 sample"),
    ('{"prompt_id": "a", "reward": 0.5}\n' * 2, "every reward equals 0.5"),
]


@pytest.mark.parametrize("text, match", JSONL_ERRORS)
def test_jsonl_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_rollouts_jsonl(write(tmp_path, "bad.jsonl", text))


def test_jsonl_too_many_levels(tmp_path):
    text = "\n".join(json.dumps({"prompt_id": i % 3, "reward": i / 20}) for i in range(40))
    with pytest.raises(ValueError, match="40 distinct values"):
        read_rollouts_jsonl(write(tmp_path, "many.jsonl", text))


def test_cli_text_json_and_csv(tmp_path, capsys):
    path = write(tmp_path, "r.csv", "prompt_id,successes,samples\na,3,8\nb,0,8\nc,6,8\n")
    out = tmp_path / "out.csv"
    assert main(["dataset", "--pass-rates", str(path), "--beta", "0.04", "--group-size", "8",
                 "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mean accuracy" in text and "pass@64" in text and "1 none-correct" in text
    lines = out.read_text().splitlines()
    assert lines[0].startswith("prompt_id,status,p_ref") and len(lines) == 4
    assert main(["dataset", "--pass-rates", str(path), "--beta", "0.04", "--group-size", "8",
                 "--objective", "rloo", "--normalisation", "batch-reinforce++", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    pred = predict(read_pass_rates_csv(path), 0.04, "rloo", 8, normalisation="batch-reinforce++")
    assert data["summary"]["mean_accuracy"] == pred.summary["mean_accuracy"]
    assert [r["prompt_id"] for r in data["prompts"]] == ["a", "b", "c"]
    assert data["prompts"][1]["movement_ratio"] is None  # NaN becomes null


@pytest.mark.parametrize("text, extra, match", [
    ("pass_rate\n0.2\n1.5\n", [], "line 3, field 'pass_rate'"),
    ("", [], "empty"),
    ("pass_rate\n0.2\n", ["--beta", "0"], "beta must be > 0"),
    ("pass_rate\n0.2\n", ["--group-size", "1"], "group_size must be >= 2"),
    ("pass_rate\n0.2\n", ["--ks", "0"], "--ks"),
    ("pass_rate\n0.2\n", ["--objective", "gvpo", "--eps", "1e-4"], "--eps"),
])
def test_cli_errors_write_nothing(tmp_path, capsys, text, extra, match):
    path = write(tmp_path, "bad.csv", text)
    out = tmp_path / "out.csv"
    args = ["dataset", "--pass-rates", str(path), "--beta", "0.04", "--group-size", "8", "--csv", str(out)]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert pytest.importorskip("re").search(match, err[0])
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_cli_single_sample_prompt(tmp_path, capsys):
    text = A1 + '{"prompt_id": "a", "reward": 0}\n{"prompt_id": "b", "reward": 1}\n'
    path = write(tmp_path, "l.jsonl", text)
    assert main(["dataset", "--rollouts", str(path), "--beta", "0.1", "--group-size", "4"]) == 2
    assert "prompt 'b'" in capsys.readouterr().err
    assert main(["dataset", "--rollouts", str(path), "--beta", "0.1", "--group-size", "4",
                 "--min-samples", "1"]) == 0


def test_cli_framework_settings(tmp_path, capsys):
    import gvpo_theory as gt

    path = write(tmp_path, "r.csv", "pass_rate\n0.1\n0.5\n0.9\n")
    base = ["dataset", "--pass-rates", str(path), "--json", "--summary-only"]
    assert main([*base, "--trl", "beta=0.04,num_generations=4"]) == 0
    got = json.loads(capsys.readouterr().out)["summary"]
    ds = read_pass_rates_csv(path)
    want = predict(ds, 0.04, gt.objective("grpo-sample", 4, eps=1e-4)).summary
    assert got["mean_accuracy"] == want["mean_accuracy"]
    assert main([*base, "--trl", "beta=0.04,num_generations=4,scale_rewards=batch"]) == 0
    got = json.loads(capsys.readouterr().out)["summary"]
    want = predict(ds, 0.04, gt.objective("grpo-sample", 4), normalisation="batch-trl").summary
    assert got["normalisation"] == "batch-trl" and got["batch_std"] == want["batch_std"]
    assert main([*base, "--trl", "num_generations=4"]) == 2
    assert "no KL coefficient reaches the policy" in capsys.readouterr().err
    assert main([*base, "--trl", "beta=0.1", "--preset", "trl-default"]) == 2
    assert "one framework setting" in capsys.readouterr().err
