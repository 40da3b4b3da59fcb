"""The audit of one run: :mod:`measure` (attacks, probes, restoration tests on one model),
:mod:`verdicts` (five plain-words answers against the retrained model) and :mod:`cost` (B8)."""
from __future__ import annotations

from engine.evaluation.audit.cost import CostMeter
from engine.evaluation.audit.measure import Auditor, relative_metrics
from engine.evaluation.audit.verdicts import AUDIT_VERSION, QUESTIONS, Verdict, audit_block, verdicts

__all__ = ["AUDIT_VERSION", "QUESTIONS", "Auditor", "CostMeter", "Verdict", "audit_block", "relative_metrics", "verdicts"]
