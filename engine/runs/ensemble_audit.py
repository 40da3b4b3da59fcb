"""A run of the runs table as a KLoM / U-LiRA shadow-ensemble job (the studio's "Ensemble audit…").

:mod:`engine.evaluation.ensembles` takes (bundle, split, arch, recipe, method, params, seed);
a :class:`~engine.runs.record.RunRecord` holds them as JSON (its spec and resolved params). This
module turns one into the other; :meth:`EnsembleAudit.title` gives the summary's first line; the explanation itself is
:mod:`engine.cli.ensemble_text`'s (``engine.format_klom`` / ``engine.format_ulira``), the same as
``python -m engine ensemble`` prints.

The shadows are trained from scratch with the run's architecture and recipe (the one its Retrain
reference used); a run on an imported checkpoint uses the checkpoint's architecture (``arch``, from
the caller) and the spec's recipe, else Lethe's default recipe for that architecture.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import torch

from engine._core.cancel import NEVER, CancelToken
from engine._core.errors import BadSpec
from engine._core.events import Event
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSpec, ForgetSplit
from engine.evaluation import ensembles
from engine.metrics.shadow import MIN_K, PAPER_K
from engine.runs.record import RunRecord
from engine.train.recipe import Recipe, default_recipe

KIND_LABELS = {"klom": "KLoM", "ulira": "U-LiRA"}


@dataclass(frozen=True)
class EnsembleAudit:
    """What one ensemble job of a run needs; :meth:`preview` and :meth:`job` call the engine."""

    bundle: DatasetBundle
    split: ForgetSplit
    arch: str
    recipe: Recipe
    method: str
    params: dict[str, Any]
    seed: int
    label: str

    def preview(self, kind: str, k: int, *, device: torch.device = torch.device("cpu"),
                seconds_per_training: float | None = None) -> dict[str, Any]:
        """:func:`engine.evaluation.ensembles.ensemble_preview` of this run (a few training steps
        are timed unless ``seconds_per_training`` is given, or the result is cached)."""
        return ensembles.ensemble_preview(kind, self.bundle, self.split, self.arch, self.recipe, self.method,
                                          self.params, k=k, seed=self.seed, device=device,
                                          seconds_per_training=seconds_per_training)

    def job(self, kind: str, k: int, *, device: torch.device = torch.device("cpu"),
            token: CancelToken = NEVER) -> Generator[Event, None, dict[str, Any]]:
        """The event generator of :func:`~engine.evaluation.ensembles.klom_job` or ``ulira_job``."""
        if kind not in KIND_LABELS:
            raise BadSpec(f"ensemble kind must be one of {tuple(KIND_LABELS)}, got {kind!r}")
        fn = ensembles.klom_job if kind == "klom" else ensembles.ulira_job
        return fn(self.bundle, self.split, self.arch, self.recipe, self.method, self.params, k=k, seed=self.seed,
                  device=device, token=token)

    def title(self, kind: str) -> str:
        """The summary's first line, as the CLI's: what was audited, on what, forgetting what."""
        classes = self.split.forget_classes
        what = (f"class {', '.join(str(self.bundle.classes[c]) for c in classes)}"
                if classes else "the forget set")
        return (f"{KIND_LABELS[kind]} of {self.label} on {self.bundle.name} ({self.arch}), "
                f"forgetting {what} ({self.split.n_forget} training images)")


def ensemble_audit_for(record: RunRecord, bundle: DatasetBundle, *, arch: str | None = None) -> EnsembleAudit:
    """The ensemble inputs of ``record`` run on ``bundle`` (the loaded dataset: its fingerprint is the
    caller's to check). ``arch``: the architecture of an imported checkpoint (the spec has none).

    Errors: :class:`BadSpec` when the record has no forget set or architecture, or its forget set
    does not resolve on ``bundle`` (:class:`~engine._core.errors.BadForgetSet`)."""
    spec = record.spec
    forget = spec.get("forget")
    if not isinstance(forget, dict):
        raise BadSpec("this run records no forget set: it cannot be audited with shadow models")
    split = ForgetSpec.from_json(forget).resolve(bundle)
    raw = spec.get("model")
    model: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = model.get("arch") or arch
    if not name:
        raise BadSpec("this run names no architecture: shadow models cannot be trained for it")
    base = default_recipe(name, bundle.image_size, bundle.channels).to_json()
    recipe = Recipe.from_json({**base, **(model.get("recipe") or {})})
    seed = spec.get("seed", 0)
    return EnsembleAudit(bundle=bundle, split=split, arch=str(name), recipe=recipe, method=record.method,
                         params=dict(record.params), seed=int(seed) if isinstance(seed, int) else 0,
                         label=record.label or record.method)


__all__ = ["KIND_LABELS", "MIN_K", "PAPER_K", "EnsembleAudit", "ensemble_audit_for"]
