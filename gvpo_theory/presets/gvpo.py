"""GVPO: the official code (anchored at the rollout policy) or the paper (at π_ref) → :class:`Preset`."""

from __future__ import annotations

from ..problem import check_group_size
from ._keys import NO_EFFECT, _choice, _real, _Record, _registry_objective
from ._preset import Preset


def from_gvpo(beta: float = 0.1, group_size: int = 8, anchor: str = "rollout") -> Preset:
    """GVPO: the official code (``anchor="rollout"``) or the paper (``anchor="reference"``).

    The official code (jszkc/GVPO) anchors the implicit reward β·log(π_θ/π_old) at the
    rollout policy and loads no reference model (its launch script turns use_kl_loss and
    use_kl_in_reward off); at θ = θ_old the implicit reward is 0 and the expected update is
    β·π(o)·(r(o) − E_π r): β times RLOO's policy gradient with no KL term, whose rest points
    carry one reward level (β = ``actor.gvpo_beta``, default 0.1, only scales the step).
    The paper anchors it at π_ref: the expected update is β·π(o)·(g(o) − E_π g) with
    g = r − β·log(π/π_ref), whose zero is π* ∝ π_ref·exp(r/β).
    """
    b = _real(beta, "beta", minimum=0.0, strict=True)
    g = check_group_size(group_size)
    anchor = _choice(anchor, "anchor", ("rollout", "reference"))
    source = (("beta", b), ("group_size", g), ("anchor", anchor))
    given = {"actor.gvpo_beta", "actor_rollout_ref.rollout.n"}
    cfg = {"actor.gvpo_beta": b, "actor_rollout_ref.rollout.n": g,
           "algorithm.norm_adv_by_std_in_grpo": False, "actor.use_kl_loss": False,
           "algorithm.use_kl_in_reward": False}
    rec = _Record(cfg, given)
    rec("actor_rollout_ref.rollout.n", f"G = {g}")
    rec("algorithm.norm_adv_by_std_in_grpo", "A_i = r_i − mean, the launch script's setting")
    if anchor == "rollout":
        obj = _registry_objective("gvpo-official", g, "GVPO anchored at the rollout policy")
        rec("actor.gvpo_beta", NO_EFFECT + "the implicit reward β·log(π_θ/π_old) is 0 at θ = θ_old: "
            "β only scales the step")
        rec("actor.use_kl_loss", "no reference model: nothing pulls π towards π_ref")
        rec("algorithm.use_kl_in_reward", "no reference model")
        return Preset("gvpo-official", "gvpo", obj, b, None, rec.settings(), source=source,
                      summary="official GVPO code: anchored at the rollout policy, no reference model")
    obj = _registry_objective("gvpo", g, "GVPO anchored at π_ref")
    rec("actor.gvpo_beta", "β of the implicit reward β·log(π_θ/π_ref)")
    rec("actor.use_kl_loss", NO_EFFECT + "the GVPO loss itself holds the KL to π_ref")
    rec("algorithm.use_kl_in_reward", NO_EFFECT + "the GVPO loss itself holds the KL to π_ref")
    return Preset("gvpo-paper", "gvpo", obj, b, "beta", rec.settings(), source=source,
                  summary="GVPO as the paper writes it: anchored at π_ref")


