"""Symbolic layer (sympy): stationarity conditions derived from the objectives, and closed forms.

* :mod:`.objective` — expected GRPO objective → stationarity condition (docs/theory.md §3); GVPO (§5).
* :mod:`.binary` — binary questions: G = 2, 3, ∞, eq. (14), limits, 1/β expansion, direct-KL existence.
* :mod:`.pooling` — logarithmic pooling; no-std + direct-KL equivalence with β' = Gβ/(G − 1).
* :mod:`.large_group` — the 1/G correction to the large-group answer.
* :mod:`.derivations` — the named derivations printed by ``gvpo-theory derive`` and docs/theory.md.
"""

from .derivations import Derivation, derivation_names, derive, render_latex, render_text

__all__ = ["Derivation", "derivation_names", "derive", "render_latex", "render_text"]
