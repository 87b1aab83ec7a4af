"""Sampled confirmation at scale: 10^5 prompts trained on CPU with each objective's loss.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_dataset_training.py \
        [--prompts N] [--steps T] [--lr LR] [--beta BETA]

Reference pass rates from Beta(0.7, 1.2), clipped to [0.02, 0.98] (a prompt with p_ref ~ 1e-4
sees its first success only after ~1/(G·p_ref) steps, so an unclipped draw would test the
run's length rather than the fixed point). Every prompt is a two-armed bandit; all prompts
are trained at once, one on-policy group of G = 8 per prompt and step
(:func:`gvpo_theory.torch.dataset_training.train_prompts`), with

* GRPO as TRL runs it (``scale_rewards="group"``: sample std + 10⁻⁴, k3 in the loss);
* TRL ``scale_rewards="batch"`` (one sample std over all B·G rewards + 10⁻⁴;
  :mod:`gvpo_theory.torch.batch_losses`), predicted by the coupled fixed point;
* Dr. GRPO (no std), RLOO (leave-one-out baseline), GVPO (its own loss; π*).

For each it prints the predicted mean accuracy and pass@8 (:func:`gvpo_theory.dataset.predict`),
the trained ones, their difference and the noise band of
:func:`gvpo_theory.torch.dataset_training.compare` (4 standard errors of the mean per-prompt
error, plus the batch scale's share for batch normalisation), and the wall time on one thread.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import torch

from gvpo_theory.dataset import Dataset, predict
from gvpo_theory.objective import objective
from gvpo_theory.torch.dataset_training import compare, train_prompts

G = 8

#: (label, method, normalisation)
METHODS = (
    ("GRPO as TRL runs it (group std)", objective("grpo-sample", G, eps=1e-4), "group"),
    ("TRL scale_rewards='batch'", objective("grpo-sample", G, eps=1e-4), "batch-trl"),
    ("Dr. GRPO", objective("dr-grpo", G), "group"),
    ("RLOO", objective("rloo", G), "group"),
    ("GVPO", "gvpo", "group"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10**5)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--gvpo-steps", type=int, default=1000, help="GVPO: constant step")
    parser.add_argument("--lr", type=float, default=1.0, help="step in natural units")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ds = Dataset.from_pass_rates(np.clip(rng.beta(0.7, 1.2, size=args.prompts), 0.02, 0.98))
    print(f"# {args.prompts} binary prompts (Beta(0.7, 1.2) clipped to [0.02, 0.98]), beta = {args.beta}, "
          f"G = {G}, {args.steps} steps (GVPO {args.gvpo_steps}), lr {args.lr}, float64; "
          f"{platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"load {os.getloadavg()[0]:.1f}")
    head = (f"{'method':<34}{'quantity':>9}{'predicted':>11}{'trained':>11}{'difference':>12}"
            f"{'band':>10}  within  {'train s':>8}")
    print(head)
    print("-" * len(head))
    for label, method, norm in METHODS:
        g = G if isinstance(method, str) else None
        pred = predict(ds, args.beta, method, g, normalisation=norm)
        steps = args.gvpo_steps if method == "gvpo" else args.steps
        trained = train_prompts(ds, args.beta, method, g, normalisation=norm, steps=steps, lr=args.lr,
                                seed=args.seed)
        cmp = compare(trained, pred, ks=(8,))
        for i, (name, row) in enumerate(cmp.rows.items()):
            print(f"{label if i == 0 else '':<34}{name:>9}{row['predicted']:>11.6f}{row['trained']:>11.6f}"
                  f"{row['difference']:>12.2e}{row['band']:>10.1e}  {'yes' if row['within'] else 'NO':>6}"
                  f"  {f'{trained.wall_time:8.1f}' if i == 0 else '':>8}", flush=True)
        if norm != "group":
            print(f"{'':<34}batch divisor: solved {cmp.scale_predicted:.6f}, mean over the averaged "
                  f"steps {cmp.scale_trained:.6f}", flush=True)
    extra = "".join(f" --{k} {v}" for k, v, d in (
        ("prompts", args.prompts, 10**5), ("steps", args.steps, 4000), ("gvpo-steps", args.gvpo_steps, 1000),
        ("lr", args.lr, 1.0), ("beta", args.beta, 1.0), ("seed", args.seed, 1)) if v != d)
    print("command: OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python "
          "benchmarks/bench_dataset_training.py" + extra)


if __name__ == "__main__":
    main()
