"""EnsembleDialog: a run's shadow-ensemble audit (KLoM or U-LiRA) with its cost shown before it starts.

Opened by the Runs pane's *Ensemble audit…* for the selected run (its method, params, forget set,
architecture and recipe: :func:`engine.ensemble_audit_for`). On opening, and when the audit or K
changes, the cost is estimated off the GUI thread (:meth:`engine.EnsembleAudit.preview`: a few
training steps are timed; nothing is trained): "2K trainings (c cached) + K unlearning runs, about
M min", or "cached: shown at once" when the engine holds the result. The Start button is the
confirmation; the job then runs on :class:`app.ensemble.EnsembleController` (cancellable, with
progress), and the result is shown with the same plain-words explanation as ``python -m engine
ensemble`` (:func:`engine.format_klom` / :func:`engine.format_ulira`).
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtGui import QCloseEvent, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.background import BackgroundCall, run_in_background
from app.ensemble import EnsembleController
from engine import ENSEMBLE_MIN_K, ENSEMBLE_PAPER_K, format_klom, format_ulira

DEFAULT_K = 4
MAX_K = 64
KINDS = (("klom", "KLoM: how differently each image is treated than by retrained models"),
         ("ulira", "U-LiRA: can an attacker tell the unlearned models from retrained ones?"))


def explain(audit: Any, kind: str, result: dict[str, Any]) -> str:
    """The result as a table with what it means: the CLI's text (``python -m engine ensemble``)."""
    fmt = format_klom if kind == "klom" else format_ulira
    return fmt(result, audit.title(kind), ENSEMBLE_PAPER_K[kind])


def _secs(s: float) -> str:
    return f"{s:.1f} s" if s >= 1 else f"{s:.2g} s"


def cost_text(preview: dict[str, Any]) -> str:
    """The estimate in words (``preview``: :meth:`engine.EnsembleAudit.preview`'s dict)."""
    if preview.get("cached") is not None:
        return "cached: shown at once (this audit was computed before with these settings)"
    c = preview["cost"]
    minutes = float(c["minutes"])
    when = f"about {minutes:.1f} min" if minutes >= 1 else f"about {max(1, round(minutes * 60))} s"
    text = (f"{c['trainings_to_run']} of {c['trainings']} shadow trainings to run ({c['cached_trainings']} cached) "
            f"+ {c['unlearning_runs']} unlearning runs: {when} "
            f"({_secs(float(c['seconds_per_training']))} a training, unlearning counted as one).")
    how = f"Shadows trained {preview.get('shadow_training', 'one by one')}"
    if preview.get("why"):
        how += f" ({preview['why']})"
    text += "\n" + how + "."
    if c.get("approximate"):
        text += f"\nK = {c['k']} is fewer than the paper's {c['paper_k']}: an approximation, noisier."
    return text


class EnsembleDialog(QDialog):
    """``audit``: an :class:`engine.EnsembleAudit` (or anything with ``preview(kind, k)``,
    ``job(kind, k, token=)`` and ``title(kind)``: tests pass a fake)."""

    def __init__(self, audit: Any, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Ensemble audit")
        self.audit = audit
        self.preview: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.calls: list[BackgroundCall] = []
        self._preview_gen = 0
        self.controller = EnsembleController(self)

        head = QLabel(f"<b>{title}</b><br>Trains K models retrained without the forget set and K originals "
                      "unlearned with this method, then compares the two groups: the strongest privacy audit, "
                      "and the costliest (2K trainings).")
        head.setWordWrap(True)
        self.kind_combo = QComboBox()
        for name, label in KINDS:
            self.kind_combo.addItem(label, name)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(ENSEMBLE_MIN_K["klom"], MAX_K)
        self.k_spin.setValue(DEFAULT_K)
        self.k_spin.setToolTip("shadow pairs: more is more reliable and costs more (the papers use 100 for KLoM, "
                               "8 for U-LiRA)")
        self.cost_label = QLabel("estimating the cost…")
        self.cost_label.setWordWrap(True)
        self.cost_label.setObjectName("ensembleCost")
        form = QFormLayout()
        form.addRow("Audit", self.kind_combo)
        form.addRow("K (shadow pairs)", self.k_spin)
        form.addRow("Cost", self.cost_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.result_text = QPlainTextEdit()
        self.result_text.setReadOnly(True)
        self.result_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.result_text.setPlaceholderText("The result and what it means appear here.")
        self.start_button = QPushButton("Start")
        self.start_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel audit")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.result_text, 1)
        lay.addLayout(buttons)
        self.resize(760, 560)

        self.kind_combo.currentIndexChanged.connect(self._on_settings_changed)
        self.k_spin.valueChanged.connect(self._on_settings_changed)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.controller.cancel)
        self.close_button.clicked.connect(self.close)
        self.controller.sig_progress.connect(self._on_progress)
        self.controller.sig_done.connect(self._on_done)
        self.controller.sig_failed.connect(self._on_failed)
        self.controller.sig_busy.connect(self._on_busy)
        self._estimate()

    # ------------------------------------------------------------------ settings and estimate
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def k(self) -> int:
        return int(self.k_spin.value())

    @Slot()
    def _on_settings_changed(self) -> None:
        self.k_spin.setMinimum(ENSEMBLE_MIN_K[self.kind()])
        self._estimate()

    def _estimate(self) -> None:
        """Estimate the cost off the GUI thread; a newer estimate supersedes an older one."""
        self._preview_gen += 1
        self.preview = None
        self.start_button.setEnabled(False)
        self.cost_label.setText("estimating the cost (timing a few training steps)…")
        gen, kind, k, audit = self._preview_gen, self.kind(), self.k(), self.audit
        self.calls.append(run_in_background(lambda: (gen, audit.preview(kind, k)), self,
                                            self._on_preview, self._on_preview_failed))

    @Slot(object)
    def _on_preview(self, out: tuple[int, dict[str, Any]]) -> None:
        gen, preview = out
        if gen != self._preview_gen:
            return
        self.preview = preview
        self.cost_label.setText(cost_text(preview))
        cached = preview.get("cached") is not None
        self.start_button.setText("Show" if cached else f"Start ({2 * self.k()} trainings)")
        self.start_button.setEnabled(not self.controller.is_running())

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        self.cost_label.setText(f"cannot audit this run: {message}")

    # ------------------------------------------------------------------ the job
    @Slot()
    def start(self) -> None:
        """Start the audit of the shown settings (the estimate is on screen: this is the confirmation)."""
        if self.controller.is_running():
            return
        kind, k, audit = self.kind(), self.k(), self.audit
        self.result = None
        self.result_text.clear()
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self._running_kind = kind
        self.controller.start(lambda token: audit.job(kind, k, token=token))

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * min(max(fraction, 0.0), 1.0)))
        self.progress.setFormat(f"%p%  {message}")

    @Slot(object)
    def _on_done(self, result: dict[str, Any]) -> None:
        self.result = result
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        self.result_text.setPlainText(explain(self.audit, self._running_kind, result))
        self._estimate()  # now cached

    @Slot(str, bool)
    def _on_failed(self, message: str, cancelled: bool) -> None:
        self.progress.setFormat("cancelled" if cancelled else "failed")
        self.result_text.setPlainText(message)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.kind_combo.setEnabled(not busy)
        self.k_spin.setEnabled(not busy)
        self.start_button.setEnabled(not busy and self.preview is not None)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.shutdown()
        super().closeEvent(event)
