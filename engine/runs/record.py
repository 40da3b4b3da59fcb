"""RunRecord: what one run produced, as JSON that the runs table, comparison and report read.

Records are written as strict JSON (a metric that is NaN or infinite is ``null``) and read back
tolerantly (``null`` metrics stay ``None``; a file of the wrong shape is a :class:`BadRecord`).
A metric that could not be computed carries its reason in ``metric_na`` ({key: "not applicable:
..."}): every surface shows "n/a" with that reason (:meth:`RunRecord.na_reason`), never "nan".
:func:`save_run` writes a run into an output folder under the never-overwrite rule of
:mod:`engine._core.outputs`.
"""
from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._core.errors import BadRecord, LetheError
from engine._core.fileio import atomic_write_json, json_safe
from engine._core.outputs import OutputFolder
from engine.metrics.catalog import is_value
from engine.models.checkpoints import save_checkpoint

SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 64 * 2**20
WEIGHTS_STEM = "unlearned"
RECORD_NAME = "record.json"
RUN_FILES = (WEIGHTS_STEM + ".safetensors", WEIGHTS_STEM + ".json", RECORD_NAME)  # what save_run writes


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
    metric_na: dict[str, str] = field(default_factory=dict)  # {metric: why it is null}
    # Where the model's time comes from (:func:`time_of`): "" the method's own time measured in this
    # run (and every record written before this field); "trained": trained in this run, seconds are
    # the training's; "cache": loaded from Lethe's model cache, seconds["method"] (Retrain) or
    # seconds["train"] (Original) is the training time recorded when it was trained (absent when not
    # recorded) and seconds["load"] the load; "memory": trained earlier in this session and reused;
    # "checkpoint": an imported original, seconds["load"] only.
    time_source: str = ""
    # {metric: sample standard deviation over seeds} when ``metrics`` are means over several seeds
    # (a multi-seed sweep trial); {} for a one-seed run, and then not written to JSON at all
    metrics_std: dict[str, float] = field(default_factory=dict)
    # the same for ``per_class_acc`` (aligned with it: the per-class bars' error bars); [] for one seed
    per_class_std: list[float] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    model: Any = field(default=None, repr=False, compare=False)  # the model itself; never serialised

    def to_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it would deep-copy the model.
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("model", "references")}
        d["references"] = [r.to_json() for r in self.references]
        for key in ("metrics_std", "per_class_std", "time_source"):
            if not d[key]:
                del d[key]  # a one-seed run's (a method's own time's) record reads as before
        return _clean(d)

    @classmethod
    def from_json(cls, d: Any) -> RunRecord:
        """A record from JSON; raises :class:`BadRecord` naming the first field of the wrong type."""
        if not isinstance(d, dict):
            raise BadRecord(f"a run record must be a JSON object, got {type(d).__name__}")
        d = dict(d)
        _check_record_types(d)
        refs = [cls.from_json(r) for r in d.pop("references", None) or []]
        known = set(cls.__dataclass_fields__) - {"model", "references"}
        # ``null`` stands for "not recorded": the field keeps its default
        rec = cls(**{k: d[k] for k in known if k in d and (d[k] is not None or k == "weights")})
        rec.references = refs
        return rec

    def save(self, path: str | Path) -> Path:
        """Write this record as strict JSON (NaN and infinities as ``null``) atomically."""
        return atomic_write_json(Path(path), self.to_json(), indent=2)

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        """Read a record.json; a missing, unreadable or malformed file is a :class:`BadRecord`."""
        p = Path(path)
        try:
            if p.stat().st_size > MAX_RECORD_BYTES:
                raise BadRecord(f"{p} is larger than {MAX_RECORD_BYTES // 2**20} MB; not a Lethe record.json")
            raw = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadRecord(f"record file {p} does not exist", hint="check the path") from None
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadRecord(f"{p} is not a readable Lethe record.json ({type(exc).__name__}: {exc})") from None
        try:
            return cls.from_json(raw)
        except BadRecord as exc:
            raise BadRecord(f"{p}: {exc.message}", hint=exc.hint) from None

    def reference(self, method: str) -> RunRecord | None:
        return next((r for r in self.references if r.method == method), None)

    def na_reason(self, key: str) -> str | None:
        """Why ``metrics[key]`` is not a number ("not applicable: ..."), or None when it is one or
        was not measured in this run (the key is absent). A null metric without a recorded reason
        (a record written before reasons were kept) gets :data:`NA_UNRECORDED`."""
        if key not in self.metrics or is_value(self.metrics[key]):
            return None
        audit_na = (self.audit.get("details") or {}).get("not_applicable") if isinstance(self.audit, dict) else None
        reason = self.metric_na.get(key) or (audit_na or {}).get(key)
        return str(reason) if reason else NA_UNRECORDED


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,), "spec": (dict,), "metrics": (dict,), "seconds": (dict,), "label": (str,),
    "params": (dict,), "per_class_acc": (list,), "forget": (dict,), "dataset": (dict,), "device": (str,),
    "weights": (str,), "notes": (list,), "references": (list,), "audit": (dict,), "schema_version": (int,),
    "metric_na": (dict,), "metrics_std": (dict,), "per_class_std": (list,), "time_source": (str,),
}
NA_UNRECORDED = "not computed (the record gives no reason)"


TIME_NOTES = {
    "trained": "",
    "cache": "trained earlier, loaded from the cache",
    "memory": "trained earlier in this session",
    "checkpoint": "loaded from a checkpoint",
}
UNRECORDED_TIME = "trained earlier; time not recorded"  # a cache entry older than its recorded training time


def time_of(record: RunRecord) -> tuple[float | None, str]:
    """The seconds a surface shows as a record's cost and the note that must go with them.

    A method's run: (its own seconds, ""). The Original and Retrain: their training time, "" when
    trained in this run, else where the model came from ("trained earlier, loaded from the cache":
    the time recorded when it was trained). None seconds when there is no training time to show:
    a cache entry older than the record of it (:data:`UNRECORDED_TIME`) or an imported checkpoint
    ("loaded from a checkpoint"). Never the cache's load time as if it were the method's. Old records
    (no ``time_source``) show their recorded seconds as before."""
    raw = record.seconds.get("method", record.seconds.get("train"))
    secs = float(raw) if raw is not None and is_value(raw) else None
    source = record.time_source
    if source == "checkpoint":
        return None, TIME_NOTES[source]
    if source in ("cache", "memory") and secs is None:
        return None, UNRECORDED_TIME
    return secs, TIME_NOTES.get(source, "")


def time_cell(record: RunRecord, digits: int = 2) -> str:
    """:func:`time_of` as one table cell: "0.27", "3.10 (trained earlier, loaded from the cache)",
    "trained earlier; time not recorded", "" when nothing was measured."""
    secs, note = time_of(record)
    if secs is None:
        return note
    return f"{secs:.{digits}f}" + (f" ({note})" if note else "")


VERDICT_FIELDS = ("key", "status")  # what identifies a verdict (question and summary texts may be absent)


def _is_number_or_null(v: Any) -> bool:
    return v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool))


def _check_record_types(d: dict[str, Any]) -> None:
    for key in ("method", "spec", "metrics"):
        if d.get(key) is None:
            raise BadRecord(f"the field {key!r} is missing")
    for key, types in _FIELD_TYPES.items():
        v = d.get(key)
        if v is not None and (not isinstance(v, types) or (isinstance(v, bool) and bool not in types)):
            raise BadRecord(f"{key}: expected {' or '.join(t.__name__ for t in types)}, got {type(v).__name__}")
    for key in ("metrics", "seconds", "metrics_std"):
        for name, v in (d.get(key) or {}).items():
            if not _is_number_or_null(v):
                raise BadRecord(f"{key}.{name}: expected a number or null, got {type(v).__name__} {v!r:.40}")
    for key in ("per_class_acc", "per_class_std"):
        for i, v in enumerate(d.get(key) or []):
            if not _is_number_or_null(v):
                raise BadRecord(f"{key}[{i}]: expected a number or null, got {type(v).__name__}")
    for name, v in (d.get("metric_na") or {}).items():
        if not isinstance(v, str):
            raise BadRecord(f"metric_na.{name}: expected text, got {type(v).__name__}")
    if not all(isinstance(n, str) for n in d.get("notes") or []):
        raise BadRecord("notes: expected a list of strings")
    verdicts = (d.get("audit") or {}).get("verdicts")
    if verdicts is not None:
        if not isinstance(verdicts, list):
            raise BadRecord(f"audit.verdicts: expected a list, got {type(verdicts).__name__}")
        for i, v in enumerate(verdicts):
            if not isinstance(v, dict):
                raise BadRecord(f"audit.verdicts[{i}]: expected an object, got {type(v).__name__}")
            for key in VERDICT_FIELDS:
                if not isinstance(v.get(key), str):
                    raise BadRecord(f"audit.verdicts[{i}].{key}: expected text, got {type(v.get(key)).__name__}")


def _clean(v: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None, no live model."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items() if k != "model"}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return json_safe(v, default=_fallback)


def _fallback(v: Any) -> Any:
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    return str(v)


def save_run(record: RunRecord, out_dir: str | Path | OutputFolder, *, overwrite: bool = False) -> RunRecord:
    """Write the unlearned weights (safetensors + sidecar) and ``record.json`` into ``out_dir``.

    ``out_dir`` is a folder path (claimed here: refused with
    :class:`~engine._core.errors.WouldOverwrite` when it already holds Lethe files, unless
    ``overwrite``; :class:`~engine._core.errors.OutputLocked` while another process writes into
    it) or an :class:`OutputFolder` the caller claimed. A file that is an input of a running job
    is never replaced. When a write fails (a full disk), the files this call created are removed
    again and the error (:class:`~engine._core.errors.DiskFull` /
    :class:`~engine._core.errors.NotWritable`) names the path.
    """
    if isinstance(out_dir, OutputFolder):
        _save_into(record, out_dir)
        return record
    with OutputFolder.claim(out_dir, overwrite=overwrite) as folder:
        _save_into(record, folder)
    return record


def _save_into(record: RunRecord, folder: OutputFolder) -> None:
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
    try:
        for name in RUN_FILES:
            folder.target(name)
        record_path = folder.path / RECORD_NAME
        weights = save_checkpoint(model, folder.path / WEIGHTS_STEM, meta, overwrite=True)
        record.weights = str(weights)
        record.save(record_path)
    except (LetheError, OSError):
        folder.rollback()
        raise
