"""SessionModel: what the person has chosen (dataset, original model, forget set) and the runs so far.

The panes read and write it; nothing here touches the engine's heavy work (that is the worker's).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import RUN_COLOURS, ForgetSpec, ForgetSplit, LetheError, RunRecord, run_colour

__all__ = ["RUN_COLOURS", "SessionModel", "run_colour"]

DEFAULT_SOURCE = "digits"
DEFAULT_MODEL: dict[str, Any] = {"arch": "cnn_small"}


class SessionModel(QObject):
    """The session's state, with one signal per kind of change."""

    sig_dataset_changed = Signal()  # bundle (and model) ready
    sig_forget_changed = Signal()
    sig_runs_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source: str = DEFAULT_SOURCE
        self.model: dict[str, Any] = dict(DEFAULT_MODEL)
        self.arch: str = DEFAULT_MODEL["arch"]
        self.bundle: Any = None  # DatasetBundle once prepared
        self.embed_idx: np.ndarray = np.zeros(0, dtype=np.int64)
        self.embed_coords: np.ndarray = np.zeros((0, 2), dtype=np.float32)
        self.forget: ForgetSpec | None = None
        self.split: ForgetSplit | None = None
        self.forget_error: str | None = None
        self.runs: list[RunRecord] = []
        # What belongs to a run travels with it, keyed by id(record): its number in the runs table
        # (stable: never reused, never renumbered when a run is removed) and its colour.
        self._run_numbers: dict[int, int] = {}
        self._next_number = 1

    # ------------------------------------------------------------------ dataset
    def set_prepared(self, prepared: Any) -> None:
        """Adopt a :class:`engine.runs.prepare.Prepared`: new data and model; the forget set is re-resolved."""
        dataset_changed = self.bundle is None or self.bundle.fingerprint != prepared.bundle.fingerprint
        self.source = prepared.source
        self.model = dict(prepared.model)
        self.arch = prepared.arch
        self.bundle = prepared.bundle
        self.embed_idx = prepared.embed_idx
        self.embed_coords = prepared.embed_coords
        if dataset_changed:
            self.forget = None
            self.split = None
            self.forget_error = None
        self.sig_dataset_changed.emit()
        self._resolve()
        self.sig_forget_changed.emit()

    # ------------------------------------------------------------------ forget set
    def set_forget(self, spec: ForgetSpec | None) -> None:
        self.forget = spec
        self._resolve()
        self.sig_forget_changed.emit()

    def _resolve(self) -> None:
        self.split, self.forget_error = None, None
        if self.forget is None or self.bundle is None:
            return
        try:
            # Cheap (index arithmetic on labels): fine on the GUI thread.
            self.split = self.forget.resolve(self.bundle)
        except LetheError as exc:
            self.forget_error = exc.message

    @property
    def forget_kind(self) -> str | None:
        return self.forget.kind if self.forget is not None else None

    # ------------------------------------------------------------------ runs
    def add_run(self, record: RunRecord) -> None:
        self.runs.append(record)
        self.sig_runs_changed.emit()

    def set_runs(self, runs: list[RunRecord], numbers: list[int | None] | None = None) -> None:
        """Replace the runs (a session was opened). ``numbers``: their ``#`` in the runs table as the
        session stored them (so each keeps its number and colour); a run without a usable number
        (none stored, not a positive whole number, or taken) gets the next free one."""
        self.runs = list(runs)
        self._run_numbers.clear()
        given = list(numbers or [])
        taken: set[int] = set()
        for record, n in zip(self.runs, given, strict=False):
            if isinstance(n, int) and not isinstance(n, bool) and n > 0 and n not in taken:
                self._run_numbers[id(record)] = n
                taken.add(n)
        self._next_number = max(taken, default=0) + 1
        for record in self.runs:
            self.run_number(record)  # the rest numbered in order, after the stored ones
        self.sig_runs_changed.emit()

    def run_number(self, record: RunRecord) -> int:
        """The run's ``#`` in the runs table: given once, in the order runs arrive, never reused."""
        n = self._run_numbers.get(id(record))
        if n is None:
            n = self._run_numbers[id(record)] = self._next_number
            self._next_number += 1
        return n

    def set_run_std(self, record: RunRecord, metrics_std: dict[str, float], per_class_std: list[float] | None = None) -> None:
        """A multi-seed run's standard deviations (its ``metrics`` are means over the seeds), kept on
        the record itself (``metrics_std`` / ``per_class_std``) so that they travel with it (session
        files, the report): the runs table shows mean ± std, the bars error bars."""
        record.metrics_std = dict(metrics_std)
        record.per_class_std = list(per_class_std or [])

    def run_std(self, record: RunRecord) -> dict[str, float]:
        """The run's metric standard deviations over seeds ({} for a one-seed run)."""
        return dict(record.metrics_std)

    def run_per_class_std(self, record: RunRecord) -> list[float]:
        """The run's per-class test-accuracy standard deviations over seeds, aligned with
        ``record.per_class_acc`` ([] for a one-seed run): the bars' error bars."""
        return list(record.per_class_std)

    def run_colour(self, record: RunRecord) -> str:
        """The run's colour (hex) everywhere it is drawn: by its number, never Original's or Retrain's."""
        return run_colour(self.run_number(record))

    def is_loaded_dataset(self, record: RunRecord) -> bool:
        """Whether ``record`` was run on the dataset now loaded (same fingerprint; same source when the
        record has no fingerprint). False when nothing is loaded."""
        b = self.bundle
        if b is None:
            return False
        fp = record.dataset.get("fingerprint")
        if fp:
            return bool(fp == b.fingerprint)
        src = record.dataset.get("source") or record.spec.get("dataset")
        return src is not None and src == self.source

    def class_names_for(self, record: RunRecord) -> list[str]:
        """The run's own class names (from ``record.dataset``); the loaded dataset's only for its own runs."""
        names = record.dataset.get("classes")
        if names:
            return [str(c) for c in names]
        if self.is_loaded_dataset(record):
            return [str(c) for c in self.bundle.classes]
        return [str(i) for i in range(len(record.per_class_acc))]

    def bundle_for(self, record: RunRecord) -> Any:
        """The loaded DatasetBundle when ``record`` was run on it (its images may be shown), else None."""
        return self.bundle if self.is_loaded_dataset(record) else None

    def dataset_label(self, record: RunRecord) -> str:
        """A short name of the run's dataset for tables and titles ("digits", "cifar10_subset.npz")."""
        d = record.dataset
        name = d.get("name") or d.get("source") or record.spec.get("dataset") or "?"
        return str(name)

    def run_title(self, record: RunRecord) -> str:
        """The run named with its number and dataset wherever it is shown: "SalUn (run 4) · digits"."""
        return f"{record.label or record.method} (run {self.run_number(record)}) · {self.dataset_label(record)}"

    def remove_runs(self, rows: list[int]) -> None:
        for r in sorted(set(rows), reverse=True):
            if 0 <= r < len(self.runs):
                self._run_numbers.pop(id(self.runs[r]), None)  # numbers never shift: _next_number only grows
                del self.runs[r]
        self.sig_runs_changed.emit()
