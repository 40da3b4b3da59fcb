"""SweepPane: a running or finished sweep: the live Pareto plot, progress, cancel, save as preset.

Each trial that ends becomes a run in the runs table ("SalUn trial 7"; with several seeds its
metrics are means and the table shows mean ± std); clicking its dot asks the window to select that
run (``sig_run_chosen``). *Save as preset* stores the clicked trial's hyperparameters (or the best
trial's when none is clicked) as a named user preset (:func:`engine.save_preset`), which the
Method pane's JobSpec ``preset`` then resolves.

A sweep started without a chosen folder writes into a temporary one (:func:`engine.temp_sweep_folder`),
which is removed when the next sweep replaces it or the window closes (:meth:`SweepPane.shutdown`);
presets and exported runs live elsewhere, and a folder that holds anything but the sweep's own
files is kept. Temporary sweep folders of a studio that crashed are removed at the next sweep.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.panes.sweep_dialog import SweepDialog, run_time
from app.plots.pareto import ParetoPlot, params_text
from app.state import SessionModel
from app.sweep import SweepController, split_params, trial_record
from engine import (
    JobSpec,
    LetheError,
    Progress,
    RunRecord,
    SweepConfig,
    SweepFinished,
    TrialDone,
    methods,
    remove_orphan_sweep_folders,
    remove_sweep_folder,
    save_preset,
    temp_sweep_folder,
)


class SweepPane(QWidget):
    """Owns the :class:`SweepController`; ``runner``: an engine Runner for the inline executor (tests)."""

    sig_run_chosen = Signal(object)  # RunRecord of a clicked trial
    sig_status = Signal(str)
    sig_started = Signal()

    def __init__(self, state: SessionModel, parent: QWidget | None = None, *, runner: Any = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = runner
        self.controller = SweepController(self)
        self.plot = ParetoPlot()
        self.header = QLabel("No sweep yet: press <b>Sweep…</b> in the Method pane.")
        self.header.setObjectName("sweepHeader")
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.cancel_button = QPushButton("Cancel sweep")
        self.cancel_button.setObjectName("sweepCancel")
        self.cancel_button.setEnabled(False)
        self.preset_button = QPushButton("Save as preset…")
        self.preset_button.setObjectName("sweepSavePreset")
        self.preset_button.setEnabled(False)
        self.preset_button.setToolTip("Save the clicked trial's hyperparameters (or the best trial's) as a named preset")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.preset_button)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.plot, 1)
        lay.addLayout(row)

        self.spec: JobSpec | None = None
        self.method_label = ""
        self.records: dict[int, RunRecord] = {}  # trial number -> its run in the runs table
        self.summary: dict[str, Any] | None = None
        self.dialog: SweepDialog | None = None
        self.last_preset: Path | None = None
        self.searched: list[str] = []
        self.temp_folder: Path | None = None  # the last sweep's folder when this pane made it (not chosen)
        self._orphans_removed = False
        c = self.controller
        c.sig_trial.connect(self._on_controller_trial)
        c.sig_progress.connect(self._on_controller_progress)
        c.sig_finished.connect(self._on_controller_finished)
        c.sig_failed.connect(self._on_controller_failed)
        c.sig_busy.connect(self._on_controller_busy)
        self.cancel_button.clicked.connect(self.cancel)
        self.preset_button.clicked.connect(self._on_preset_clicked)
        self.plot.sig_trial_clicked.connect(self._on_plot_trial_clicked)

    # ------------------------------------------------------------------ start
    def make_dialog(self, spec: JobSpec) -> SweepDialog:
        info = methods.get(spec.method)
        fixed, searched = split_params(spec.method, dict(spec.params))
        self.dialog = SweepDialog(info.label or info.name, run_time(self.state.runs, spec.method, spec.dataset), self,
                                  searched=searched, fixed=sorted(fixed))
        return self.dialog

    def request(self, spec: JobSpec) -> bool:
        """Ask for the sweep's size (showing its cost) and start it when confirmed; False when declined."""
        dialog = self.make_dialog(spec)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        opts = dialog.options()
        self.start(spec, trials=int(opts["trials"]), seeds=int(opts["seeds"]),  # type: ignore[call-overload]
                   workers=int(opts["workers"]), executor=str(opts["executor"]))  # type: ignore[call-overload]
        return True

    def start(self, spec: JobSpec, *, trials: int, seeds: int = 1, workers: int | None = None,
              executor: str = "local", out: str | Path | None = None) -> Path:
        """Start a sweep of ``spec``'s method (against the retrained model; no live geometry) in folder
        ``out``, or, when None, in a new temporary folder that replaces the previous sweep's (removed
        here). Raises RuntimeError while a sweep runs."""
        if self.controller.is_running():
            raise RuntimeError("a sweep is already running")
        self.discard_temp_folder()
        if not self._orphans_removed:  # temporary folders of a studio that crashed
            self._orphans_removed = True
            remove_orphan_sweep_folders()
        fixed, self.searched = split_params(spec.method, dict(spec.params))
        spec = spec.with_changes(reference="retrain", geometry=False, params=fixed)
        info = methods.get(spec.method)
        self.spec, self.method_label = spec, info.label or info.name
        self.records, self.summary = {}, None
        folder = Path(out) if out is not None else temp_sweep_folder(spec.method)
        self.temp_folder = None if out is not None else folder
        where = " (temporary: removed by the next sweep or when Lethe closes)" if out is None else ""
        self.plot.clear(f"{self.method_label} sweep: starting…")
        self.plot.total = trials
        self.header.setText(f"<b>{html.escape(self.method_label)}</b> sweep: {trials} trials × {seeds} seed(s) on "
                            f"{html.escape(executor)} · folder {html.escape(str(folder))}{where}")
        self.controller.start(SweepConfig(spec, trials=trials, seeds=seeds), folder, executor=executor,
                              workers=workers, runner=self.runner)
        self.sig_started.emit()
        return folder

    def discard_temp_folder(self) -> bool:
        """Remove the last sweep's temporary folder (never one that was chosen, never while its
        sweep runs, never one holding other files); True when none is left behind."""
        folder = self.temp_folder
        if folder is None:
            return True
        if self.controller.is_running():
            return False
        if remove_sweep_folder(folder):
            self.temp_folder = None
            return True
        return False

    def shutdown(self) -> None:
        """Cancel a running sweep, wait for it, and remove its temporary folder (the window closes)."""
        self.controller.shutdown()
        self.discard_temp_folder()

    @Slot()
    def cancel(self) -> None:
        self.controller.cancel()
        self.progress.setFormat("cancelling…")

    # ------------------------------------------------------------------ events
    @Slot(object)
    def _on_controller_trial(self, ev: TrialDone) -> None:
        self.plot.add_trial(ev)
        made = trial_record(ev, self.method_label)
        if made is not None:
            record = made[0]  # carries its multi-seed spread (metrics_std, per_class_std)
            self.records[int(ev.trial.get("number", ev.index))] = record
            self.state.add_run(record)
        self.preset_button.setEnabled(self.plot.best_index() is not None)
        t = ev.trial
        if t.get("state") == "complete":
            m = t["metrics"]
            self.sig_status.emit(f"{self.method_label} trial {t.get('number')}: forgetting gap "
                                 f"{100 * m['forgetting_gap']:.1f} pp, utility gap {100 * m['utility_gap']:.1f} pp "
                                 f"({ev.done}/{ev.total})")
        else:
            self.sig_status.emit(f"{self.method_label} trial {t.get('number')} failed: {t.get('error', '')}")

    @Slot(object)
    def _on_controller_progress(self, ev: Progress) -> None:
        self.progress.setValue(int(1000 * ev.fraction))
        self.progress.setFormat(ev.message or f"{100 * ev.fraction:.0f}%")

    @Slot(object)
    def _on_controller_finished(self, ev: SweepFinished) -> None:
        self.summary = ev.summary
        self.plot.set_trials(ev.summary["trials"], ev.summary["pareto"], len(ev.summary["trials"]))
        best = ev.summary.get("best")
        text = f"{self.method_label} sweep done: {len(ev.summary['trials'])} trials, written to {ev.path}"
        if best is not None:
            text += f"; closest to retraining: trial {ev.summary['trials'][best]['number']}"
        self.progress.setFormat("done")
        self.sig_status.emit(text)

    @Slot(str, bool)
    def _on_controller_failed(self, message: str, cancelled: bool) -> None:
        self.progress.setFormat("cancelled" if cancelled else "failed")
        self.sig_status.emit(message if cancelled else f"The sweep failed: {message}")

    @Slot(bool)
    def _on_controller_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)

    @Slot(int)
    def _on_plot_trial_clicked(self, index: int) -> None:
        record = self.records.get(index)
        if record is not None and any(r is record for r in self.state.runs):
            self.sig_run_chosen.emit(record)
        t = self.plot.trials.get(index, {})
        self.sig_status.emit(f"trial {t.get('number', index)}: {params_text(t.get('params', {}))}")

    # ------------------------------------------------------------------ presets
    def preset_trial(self) -> int | None:
        """The trial *Save as preset* saves: the clicked one if complete, else the best."""
        sel = self.plot.selected
        if sel is not None and sel in self.records:
            return sel
        best = self.plot.best_index()
        return best if best in self.records else None

    def save_preset(self, name: str, index: int | None = None) -> Path:
        """Save trial number ``index`` (default :meth:`preset_trial`) as preset ``name``; raises LetheError."""
        index = self.preset_trial() if index is None else index
        if index is None or self.spec is None:
            raise LetheError("no complete trial to save yet")
        record = self.records[index]
        t = self.plot.trials.get(index, {})
        note = f"sweep trial {t.get('number', index)}; distance to retrain {t.get('metrics', {}).get('distance', float('nan')):.3f}"
        self.last_preset = save_preset(name, self.spec.method, record.params, note=note)
        return self.last_preset

    @Slot()
    def _on_preset_clicked(self) -> None:
        index = self.preset_trial()
        if index is None or self.spec is None:
            return
        number = self.plot.trials.get(index, {}).get("number", index)
        name, ok = QInputDialog.getText(self, "Save as preset", f"Name of the preset (trial {number}'s hyperparameters):",
                                        text=f"{self.spec.method}-sweep-{number}")
        if not ok or not name:
            return
        try:
            path = self.save_preset(name, index)
        except LetheError as exc:
            self.sig_status.emit(f"The preset was not saved: {exc.message}")
            return
        self.sig_status.emit(f"Saved trial {number}'s hyperparameters as preset {name!r} ({path})")
