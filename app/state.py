"""SessionModel: what the person has chosen (dataset, original model, forget set) and the runs so far.

The panes read and write it; nothing here touches the engine's heavy work (that is the worker's).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import ForgetSpec, ForgetSplit, LetheError, RunRecord

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

    def remove_runs(self, rows: list[int]) -> None:
        for r in sorted(set(rows), reverse=True):
            if 0 <= r < len(self.runs):
                del self.runs[r]
        self.sig_runs_changed.emit()
