"""RunRecord: what one run produced, as JSON that the runs table, comparison and report read."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._core.fileio import atomic_write_text
from engine.models.checkpoints import save_checkpoint

SCHEMA_VERSION = 1


@dataclass
class RunRecord:
    """``metrics`` is a flat dict of fractions (forget_acc, retain_acc, test_acc, ...)."""

    method: str
    spec: dict[str, Any]
    metrics: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)
    label: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    per_class_acc: list[float] = field(default_factory=list)
    forget: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    weights: str | None = None
    notes: list[str] = field(default_factory=list)
    references: list[RunRecord] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)  # engine.evaluation.audit: verdicts, details, cost
    schema_version: int = SCHEMA_VERSION
    model: Any = field(default=None, repr=False, compare=False)  # the model itself; never serialised

    def to_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it would deep-copy the model.
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("model", "references")}
        d["references"] = [r.to_json() for r in self.references]
        return _clean(d)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunRecord:
        d = dict(d)
        refs = [cls.from_json(r) for r in d.pop("references", [])]
        known = set(cls.__dataclass_fields__) - {"model", "references"}
        rec = cls(**{k: v for k, v in d.items() if k in known})
        rec.references = refs
        return rec

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_json(), indent=2, sort_keys=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        return cls.from_json(json.loads(Path(path).read_text()))

    def reference(self, method: str) -> RunRecord | None:
        return next((r for r in self.references if r.method == method), None)


def _clean(v: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items() if k != "model"}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (TypeError, ValueError):
            return v
    if isinstance(v, float) and v != v:
        return None
    return v


def save_run(record: RunRecord, out_dir: str | Path) -> RunRecord:
    """Write the unlearned weights (safetensors + sidecar) and ``record.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = record.model.exportable().to("cpu")
    meta = {
        "kind": "unlearned",
        "method": record.method,
        "params": record.params,
        "classes": record.dataset.get("classes", []),
        "dataset": record.dataset.get("source"),
        "dataset_fingerprint": record.dataset.get("fingerprint"),
        "forget_hash": record.forget.get("hash"),
        "metrics": record.metrics,
    }
    weights = save_checkpoint(model, out / "unlearned", meta, overwrite=True)
    record.weights = str(weights)
    record.save(out / "record.json")
    return record
