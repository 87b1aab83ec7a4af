"""The framework options shared by ``solve`` and ``verify``: ``--preset``, ``--trl``, ``--verl``,
``--verl-config``, and their resolution into :class:`~gvpo_theory.presets.Preset` values.

``--trl beta=0.04,num_generations=8`` takes GRPOConfig keyword arguments; ``--verl
algorithm.adv_estimator=grpo,actor_rollout_ref.rollout.n=8`` verl's dotted keys (Hydra's
override spelling); ``--verl-config run.yaml`` a verl config file (YAML needs PyYAML, JSON
works without); ``--preset NAME`` a named setting. Each option may be repeated: every one
is a setting to compare. Values are read as Python literals where they parse
(``0.04``, ``8``, ``true``/``false``, ``none``/``null``, ``[1.0, 0.5]``), else as strings.
"""

from __future__ import annotations

import argparse
import ast
from typing import Any

from .. import presets


class _InOrder(argparse.Action):
    """Append the value to its own list and, with its option, to ``framework_settings``,
    so that the settings are compared in the order the command line gives them."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        getattr(namespace, self.dest).append(values)
        order = getattr(namespace, "framework_settings", None) or []
        namespace.framework_settings = [*order, (self.dest, values)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the framework options on a subcommand's parser."""
    g = p.add_argument_group("framework settings (each may be repeated; they fix std, penalty and eps)")
    g.add_argument("--preset", action=_InOrder, default=[], metavar="NAME",
                   help=f"a named setting: {', '.join(presets.PRESETS)}")
    g.add_argument("--trl", action=_InOrder, default=[], metavar="K=V,...",
                   help="TRL GRPOConfig keyword arguments, e.g. beta=0.04,num_generations=8 "
                   "(TRL's defaults fill the rest: beta=0, num_generations=8, scale_rewards=group)")
    g.add_argument("--verl", action=_InOrder, default=[], metavar="K=V,...",
                   help="verl dotted keys, e.g. algorithm.adv_estimator=grpo,actor_rollout_ref.rollout.n=8")
    g.add_argument("--verl-config", action=_InOrder, default=[], metavar="FILE",
                   help="a verl config file (.yaml/.yml needs PyYAML: pip install 'gvpo-theory[yaml]'; "
                   "or .json)")


def given(args: argparse.Namespace) -> bool:
    """True when any framework option was given."""
    return bool(args.preset or args.trl or args.verl or args.verl_config)


def _value(text: str) -> Any:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null", "~"):
        return None
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError):
        return t


def _split(text: str) -> list[str]:
    """Split at commas outside brackets (``reward_weights=[1.0, 0.5],beta=0.04``)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += ch in "[({"
        depth -= ch in "])}"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [x for x in parts if x.strip()]


def parse_pairs(text: str, flag: str) -> dict[str, Any]:
    """``k=v,k2=v2`` → {k: literal(v)}; errors name the flag."""
    out: dict[str, Any] = {}
    for item in _split(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} takes KEY=VALUE pairs separated by commas; got {item.strip()!r}")
        if key.strip() in out:
            raise ValueError(f"{flag}: {key.strip()} is given twice")
        out[key.strip()] = _value(value)
    return out


def _settings(args: argparse.Namespace) -> list[presets.Preset]:
    """Every setting the framework options name, in command-line order."""
    build = {
        "preset": presets.preset,
        "trl": lambda text: presets.from_trl(**parse_pairs(text, "--trl")),
        "verl": lambda text: presets.from_verl(parse_pairs(text, "--verl")),
        "verl_config": presets.from_verl,
    }
    return [build[dest](value) for dest, value in getattr(args, "framework_settings", None) or []]


def resolve(args: argparse.Namespace) -> list[presets.Preset]:
    """Every setting the framework options name, in command-line order, with ``--beta`` and
    ``--group-size`` applied when given."""
    out = _settings(args)
    if getattr(args, "beta", None) is not None:
        out = [p.with_beta(args.beta) for p in out]
    group = getattr(args, "group_size", None)
    if group is not None:
        from .solve import parse_group_size

        g = parse_group_size(group) if isinstance(group, str) else group
        out = [p.with_group_size(g) for p in out]
    return out


def solve_presets(args: argparse.Namespace) -> dict:
    """What ``solve`` prints for framework settings, as plain data: per setting the preset
    (every resolved key), the answer, π* at the same β and their distance."""
    import numpy as np

    from ..pooling import kl_divergence, kl_optimal_policy
    from .solve import parse_floats

    if args.success_prob is not None:
        raise ValueError("--success-prob does not combine with framework settings: give --rewards")
    defaults = (("--std", args.std, "population"), ("--penalty", args.penalty, "reverse_kl"),
                ("--eps", args.eps, 0.0))
    changed = [f for f, v, d in defaults if v != d]
    if changed:
        raise ValueError(f"{', '.join(changed)} do not combine with framework settings "
                         "(the setting fixes them)")
    pi_ref = parse_floats(args.pi_ref, "--pi-ref")
    rewards = parse_floats(args.rewards, "--rewards")
    if rewards.size != pi_ref.size:
        raise ValueError(f"--pi-ref has {pi_ref.size} outputs but the rewards have {rewards.size}")
    runs = []
    for p in resolve(args):
        ans = p.solve(pi_ref, rewards)
        pol = np.asarray(ans.policy)
        known = bool(np.all(np.isfinite(pol)))
        b_star = args.beta if args.beta is not None else (p.beta if p.beta_key else 0.0)
        star = kl_optimal_policy(pi_ref, rewards, b_star) if b_star > 0 else None
        both = star is not None and known
        runs.append({
            "preset": p.to_dict(),
            "policy": pol.tolist() if known else None,
            "kind": ans.kind[0],
            "converged": bool(ans.converged),
            "residual": float(ans.residual),
            "message": ans.message,
            "kl_optimal_beta": b_star if star is not None else None,
            "kl_optimal": None if star is None else star.tolist(),
            "max_abs_diff_kl_optimal": float(np.max(np.abs(pol - star))) if both else None,
            "kl_optimal_to_policy": float(kl_divergence(star, pol)) if both else None,
            "mean_reward": float(pol @ rewards) if known else None,
        })
    return {"pi_ref": pi_ref.tolist(), "rewards": rewards.tolist(),
            "mean_reward_pi_ref": float(pi_ref @ rewards), "runs": runs}


def run_presets(args: argparse.Namespace) -> int:
    """``solve`` with framework settings: a table (or JSON); exit 1 when a setting has no
    verified answer (a boundary limit is reported as such and does not fail)."""
    from . import dumps_json

    out = solve_presets(args)
    bad = any(not r["converged"] and r["kind"] == "interior" for r in out["runs"])
    if args.json:
        print(dumps_json(out, indent=2))
        return 1 if bad else 0
    ref = ",".join(f"{x:g}" for x in out["pi_ref"])
    rew = ",".join(f"{x:g}" for x in out["rewards"])
    print(f"pi_ref={ref}  rewards={rew}  E[r] under pi_ref {out['mean_reward_pi_ref']:.4f}")
    for r in out["runs"]:
        p = r["preset"]
        g = "inf" if p["group_size"] is None else p["group_size"]
        given = [s for s in p["settings"] if s["given"]]
        print(f"\n{p['name']}: {p['summary']}")
        coef = "its KL coefficient" if p["beta_key"] else "no KL coefficient reaches the policy"
        print(f"  beta={p['beta']:g} ({coef})  G={g}")
        print(f"  condition: {p['condition']}")
        if given:
            print("  given: " + ", ".join(f"{s['key']}={s['value']}" for s in given))
        quiet = sum(1 for s in p["settings"] if s["effect"].startswith(presets.NO_EFFECT))
        print(f"  {quiet} of {len(p['settings'])} resolved keys have no effect on the stationary policy "
              "(--json lists each with the reason)")
        if r["policy"] is None:
            print(f"  pi -> boundary, no limit known here ({r['message']})")
        else:
            pol = ", ".join(f"{x:.6g}" for x in r["policy"])
            print(f"  pi = [{pol}]  E[r] = {r['mean_reward']:.6f}  ({r['kind']}"
                  f"{', converged' if r['converged'] else ''})")
            if r["kind"] == "boundary":
                print(f"  boundary: {r['message']}")
        if r["max_abs_diff_kl_optimal"] is not None:
            star = ", ".join(f"{x:.6g}" for x in r["kl_optimal"])
            print(f"  pi* (beta={r['kl_optimal_beta']:g}) = [{star}]  "
                  f"max |pi - pi*| = {r['max_abs_diff_kl_optimal']:.3g}")
    return 1 if bad else 0


def verify_target(args: argparse.Namespace) -> tuple[tuple[str, ...], float, Any, str]:
    """(methods, β, group size or Objective, description) that ``verify`` trains for one
    framework setting: GRPO-family settings train the torch GRPO loss on the setting's
    objective at β/policy_scale; GVPO as the paper writes it trains the GVPO loss. The
    ``--beta`` and ``--group-size`` of verify keep their own defaults and are not applied."""
    settings = _settings(args)
    if len(settings) != 1:
        raise ValueError(f"verify trains one framework setting at a time; got {len(settings)}")
    p = settings[0]
    obj = p.objective
    if obj.loss == "gvpo":
        return ("gvpo",), p.beta, obj.group_size, p.summary
    trainable = obj.level_space and obj.penalty.name in ("reverse_kl", "direct_kl") and p.engine_beta > 0
    if not trainable:
        raise ValueError(f"verify --preset: {p.name} ({obj.label}) is not trained by gvpo_theory.torch; "
                         "its answer is `gvpo-theory solve` with the same setting")
    return ("grpo",), p.engine_beta, obj, p.summary
