"""Imports every built-in method module so each registers itself (one module per method)."""
from __future__ import annotations

from engine.methods import finetune, retrain  # noqa: F401
from engine.methods.pour import pour_d, pour_p  # noqa: F401
from engine.methods import grad_ascent, l1_sparse, neggrad_plus, random_label, salun  # noqa: F401
from engine.methods import bad_teacher, boundary_expand, boundary_shrink, lf_ssd, scrub, ssd  # noqa: F401
from engine.methods import kodge_projection, unsc, unsir  # noqa: F401
from engine.methods import amun, modhifi_u, oracle_matching, trw  # noqa: F401
from engine.methods import laf  # noqa: F401
