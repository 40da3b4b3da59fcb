"""RunsPane: every run with its metrics (labels and ↑ / ↓ / ≈R from the engine's metric catalog); compare; export.

A metric the engine could not compute reads "n/a" and its tooltip gives the recorded reason."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import messages
from app.background import BackgroundCall, run_in_background
from app.panes.ensemble_dialog import EnsembleDialog
from app.plots import style
from app.plots.bars import PerClassBars
from app.report import METRICS, command_text, fmt_metric, header_tooltip, is_number, metric_cell, write_report
from app.safe_paths import (
    SAVED_RUN_FILES,
    existing_results,
    is_empty_folder,
    next_free,
    refuse_inputs,
    session_inputs,
    slug,
)
from app.state import SessionModel
from engine import MISSING_TEXT, NA_TEXT, LetheError, MetricInfo, RunRecord, ensemble_audit_for, save_run, time_cell

FIXED = ["#", "method", "dataset", "forget set", "reference"]


def forget_text(r: RunRecord) -> str:
    f = r.forget
    if f.get("classes"):
        return f"class {', '.join(map(str, f['classes']))} ({f.get('size')})"
    return f"{f.get('size')} samples"


class RunsPane(QWidget):
    """A table over ``state.runs``; emits ``sig_run_selected(row)`` to replay a run in the live view."""

    sig_run_selected = Signal(int)
    sig_status = Signal(str)
    sig_export_done = Signal(str)  # the written path ("" when the export failed)
    sig_error = Signal(str, str)  # (title, text) of a problem the person must see (a dialog)

    def __init__(self, state: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.exports: list[BackgroundCall] = []  # keeps each call's signal object alive until it reports
        self.last_folder = Path.cwd()  # where the file dialogs open (the last folder written to)
        self.state = state
        headers = FIXED + [info.header for info in METRICS] + ["seconds"]
        self.table = QTableWidget(0, len(headers))
        self.table.setObjectName("runsTable")
        self.table.setHorizontalHeaderLabels(headers)
        for j, info in enumerate(METRICS):
            self.table.horizontalHeaderItem(len(FIXED) + j).setToolTip(header_tooltip(info))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAlternatingRowColors(True)
        self.compare_button = QPushButton("Compare selected")
        self.save_button = QPushButton("Save weights…")
        self.report_button = QPushButton("Export HTML report…")
        self.command_button = QPushButton("Copy as command")
        self.remove_button = QPushButton("Remove")
        self.ensemble_button = QPushButton("Ensemble audit…")
        self.ensemble_button.setToolTip("KLoM / U-LiRA of the selected run's method on its forget set: K retrained "
                                        "and K unlearned shadow models (the cost is shown before anything starts)")
        buttons = QHBoxLayout()
        for b in (self.compare_button, self.save_button, self.report_button, self.command_button, self.ensemble_button,
                  self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.compare_dialog: QDialog | None = None
        self.ensemble_dialog: EnsembleDialog | None = None

        state.sig_runs_changed.connect(self._on_state_runs_changed)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.report_button.clicked.connect(self._on_report_clicked)
        self.command_button.clicked.connect(self._on_command_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.ensemble_button.clicked.connect(self._on_ensemble_clicked)
        self._on_table_selection_changed()

    # ------------------------------------------------------------------ table
    def refresh(self) -> None:
        """Redraw the table (the loaded dataset changed: runs of another dataset are greyed)."""
        self.table.blockSignals(True)
        self._fill()
        self.table.blockSignals(False)

    def deselect_quietly(self) -> None:
        """Clear the selection without replaying anything (the shown run was cleared from the panes),
        so that clicking that row again shows it again."""
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.blockSignals(False)
        self._update_buttons()

    @Slot()
    def _on_state_runs_changed(self) -> None:
        self._fill()
        if self.state.runs:
            self.table.selectRow(len(self.state.runs) - 1)

    def _fill(self) -> None:
        runs = self.state.runs
        self.table.setRowCount(len(runs))
        for i, r in enumerate(runs):
            retrain = r.reference("retrain")
            cells = [str(self.state.run_number(r)), r.label or r.method, self.state.dataset_label(r), forget_text(r),
                     "retrain" if retrain else "–"]
            reasons: list[str | None] = []
            std = self.state.run_std(r)  # several seeds: mean ± std
            for info in METRICS:
                text, reason = metric_cell(r, info.name)
                if info.name in std and reason is None:
                    text += f" ± {fmt_metric(info.name, std[info.name])}"
                cells.append(text)
                reasons.append(reason)
            cells.append(time_cell(r))  # a cached Retrain: its training time and "loaded from the cache"
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= len(FIXED):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    k = j - len(FIXED)
                    if k < len(METRICS):
                        self._metric_tip(item, METRICS[k], r, retrain, reasons[k])
                if j == 0:
                    item.setForeground(QColor(self.state.run_colour(r)))  # the run's colour wherever it is drawn
                if j == 2:
                    loaded = self.state.is_loaded_dataset(r)
                    item.setToolTip(f"{r.dataset.get('source') or r.spec.get('dataset')}"
                                    + ("" if loaded else "\nnot the dataset loaded now: its images are not shown"))
                    if not loaded:
                        item.setForeground(QColor("#8a8f98"))
                self.table.setItem(i, j, item)

    @staticmethod
    def _metric_tip(item: QTableWidgetItem, info: MetricInfo, r: RunRecord, retrain: RunRecord | None,
                    reason: str | None) -> None:
        """Tooltip (the n/a reason, or the retrained model's value) and, for ≈R columns, green / red by
        the gap to the retrained model."""
        tips = [f"{NA_TEXT}: {reason}"] if reason else []
        if item.text() == MISSING_TEXT:
            tips.append("not measured in this run")
        target = retrain.metrics.get(info.name) if retrain is not None else None
        if retrain is not None and info.name in retrain.metrics:
            why = retrain.na_reason(info.name)
            tips.append(f"retrained model: {info.format(target)}" + (f" ({why})" if why else ""))
            value = r.metrics.get(info.name)
            if info.direction == "ref" and reason is None and is_number(value) and is_number(target):
                gap = abs(float(value) - float(target))  # type: ignore[arg-type]  # both numbers (is_number)
                item.setForeground(QColor("#1e7b34" if gap < 0.05 else "#b3261e"))
        if tips:
            item.setToolTip("\n".join(tips))

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_records(self) -> list[RunRecord]:
        return [self.state.runs[i] for i in self.selected_rows() if i < len(self.state.runs)]

    @Slot()
    def _on_table_selection_changed(self) -> None:
        rows = self._update_buttons()
        if len(rows) == 1:
            self.sig_run_selected.emit(rows[0])

    def _update_buttons(self) -> list[int]:
        """Enable the buttons that fit the selection; returns the selected rows."""
        rows = self.selected_rows()
        for b in (self.save_button, self.command_button):
            b.setEnabled(len(rows) == 1)
        self.ensemble_button.setEnabled(len(rows) == 1 and self.state.is_loaded_dataset(self.state.runs[rows[0]]))
        self.compare_button.setEnabled(len(rows) >= 2)
        self.report_button.setEnabled(len(rows) >= 1)
        self.remove_button.setEnabled(len(rows) >= 1)
        return rows

    # ------------------------------------------------------------------ actions
    def compare(self, records: Sequence[RunRecord]) -> QDialog:
        numbered = [(self.state.run_number(r), self.state.run_colour(r), r) for r in records]
        names = self.state.class_names_for(records[0]) if records else []
        dlg = CompareDialog(numbered, names, self, stds={id(r): self.state.run_per_class_std(r) for r in records})
        self.compare_dialog = dlg
        dlg.show()
        return dlg

    @Slot()
    def _on_compare_clicked(self) -> None:
        self.compare(self.selected_records())

    # -- saving weights: a new folder by default, ask before replacing, never over an input ------
    def inputs(self) -> list[Path]:
        """Files this session reads (never written): the original checkpoint (+ sidecar), the dataset."""
        return session_inputs(self.state.model, self.state.source)

    def save_weights(self, record: RunRecord, folder: str | Path, *, replace: bool = False) -> Path:
        """Write ``record``'s weights and record.json into ``folder`` (on the calling thread).

        Refuses a folder holding an earlier saved run unless ``replace``, and always refuses to
        write over the session's inputs (:class:`app.safe_paths.WouldOverwriteInput`).
        """
        if record.model is None:
            raise LetheError("this run's model is no longer in memory (runs loaded from a session keep only metrics)")
        folder = Path(folder)
        refuse_inputs([folder / name for name in SAVED_RUN_FILES], self.inputs())
        earlier = existing_results(folder)
        if earlier and not replace:
            raise LetheError(f"{folder} already holds a saved run ({earlier[0].name})",
                             "choose another folder, or confirm replacing it")
        save_run(record, folder, overwrite=replace)
        self.sig_status.emit(f"Saved the unlearned weights to {record.weights}")
        return Path(record.weights or folder)

    def save_folder_for(self, record: RunRecord, picked: str | Path) -> tuple[Path, bool] | None:
        """Where *Save weights…* writes when the person picked ``picked``: (folder, replace) or None.

        An empty or new folder is used as it is; a folder holding other files gets a new
        ``<method>-<n>`` subfolder; a folder holding a saved run asks: replace it, save beside it
        in a new subfolder, or cancel. Raises WouldOverwriteInput for the session's inputs.
        """
        picked = Path(picked)
        stem = slug(record.method)
        replace = False
        if existing_results(picked):
            choice = self.ask_replace_run(picked, next_free(picked, stem))
            if choice is None:
                return None
            folder, replace = (picked, True) if choice == "replace" else (next_free(picked, stem), False)
        elif not picked.exists() or is_empty_folder(picked):
            folder = picked
        else:
            folder = next_free(picked, stem)
        refuse_inputs([folder / name for name in SAVED_RUN_FILES], self.inputs())
        return folder, replace

    def ask_replace_run(self, folder: Path, alternative: Path) -> str | None:
        """"replace", "new" (save in ``alternative``) or None (cancel): the folder holds a saved run."""
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the saved run?",
                          f"{folder} already holds a saved run (unlearned weights and record.json).\n\n"
                          f"Replace it, or save this run in a new folder {alternative.name} inside it?", parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        new = box.addButton(f"Save as {alternative.name}", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(new)
        box.exec()
        return "new" if box.clickedButton() is new else "replace" if box.clickedButton() is replace else None

    def ask_replace_file(self, path: Path) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the file?", f"{path} already exists. Replace it?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    @Slot()
    def _on_save_clicked(self) -> None:
        recs = self.selected_records()
        if not recs:
            return
        record = recs[0]
        if record.model is None:
            self.sig_status.emit("This run's model is no longer in memory (runs loaded from a session keep only metrics)")
            return
        picked = QFileDialog.getExistingDirectory(
            self, f"Folder for the unlearned weights (a new folder {slug(record.method)}-N is made inside unless it is empty)",
            str(self.last_folder))
        if not picked:
            return
        try:
            target = self.save_folder_for(record, picked)
        except LetheError as exc:
            self.sig_error.emit("The weights were not saved", messages.error_body(exc))
            return
        if target is None:
            self.sig_status.emit("Saving cancelled: nothing was written.")
            return
        folder, replace = target
        self.last_folder = Path(picked)
        self.export_in_background(lambda: self.save_weights(record, folder, replace=replace), f"Saving the weights to {folder}…")

    # -- report export: a new file name by default, ask before replacing, never over an input ----
    def report_path_for(self, chosen: str | Path) -> Path | None:
        """The report file for the name the person chose (None: they declined to replace it)."""
        path = Path(chosen)
        if path.suffix.lower() not in (".html", ".htm"):
            path = path.with_name(path.name + ".html")
        if path.is_dir():
            raise LetheError(f"{path} is a folder", "choose a file name for the report")
        weights = [Path(r.weights) for r in self.state.runs if r.weights]
        refuse_inputs([path], self.inputs() + weights + [w.with_suffix(".json") for w in weights])
        if path.exists() and not self.ask_replace_file(path):
            return None
        return path

    @Slot()
    def _on_report_clicked(self) -> None:
        recs = self.selected_records()
        if not recs:
            return
        default = next_free(self.last_folder, f"{slug(recs[0].label or recs[0].method)}-report", ".html")
        chosen, _ = QFileDialog.getSaveFileName(self, "Export the report", str(default), "HTML (*.html)",
                                                options=QFileDialog.Option.DontConfirmOverwrite)
        if not chosen:
            return
        try:
            path = self.report_path_for(chosen)
        except LetheError as exc:
            self.sig_error.emit("The report was not written", messages.error_body(exc))
            return
        if path is None:
            self.sig_status.emit("Export cancelled: nothing was written.")
            return
        self.last_folder = path.parent
        bundle = self.state.bundle
        self.export_in_background(lambda: write_report(recs, path, bundle), "Writing the report…")

    def export_in_background(self, fn: Callable[[], object], message: str) -> BackgroundCall:
        """Run a file export on the thread pool (never on the GUI thread); report the outcome."""
        self.sig_status.emit(message)
        call = run_in_background(fn, self, self._on_export_done, self._on_export_failed)
        self.exports.append(call)
        return call

    @Slot(object)
    def _on_export_done(self, result: object) -> None:
        self.sig_status.emit(f"Wrote {result}")
        self.sig_export_done.emit(str(result))

    @Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self.sig_status.emit(f"Export failed: {message}")
        self.sig_export_done.emit("")

    def copy_command(self, record: RunRecord) -> str:
        text = command_text(record)
        QGuiApplication.clipboard().setText(text)
        self.sig_status.emit("Copied the equivalent `python -m engine unlearn spec.json --out …` command to the clipboard")
        return text

    @Slot()
    def _on_command_clicked(self) -> None:
        recs = self.selected_records()
        if recs:
            self.copy_command(recs[0])

    def ensemble_audit(self, record: RunRecord) -> EnsembleDialog | None:
        """Open the shadow-ensemble audit of ``record`` (run on the loaded dataset); None when it cannot be."""
        try:
            audit = ensemble_audit_for(record, self.state.bundle, arch=self.state.arch)
        except LetheError as exc:
            self.sig_error.emit("No ensemble audit for this run", messages.error_body(exc))
            return None
        if self.ensemble_dialog is not None:
            self.ensemble_dialog.close()
        dlg = EnsembleDialog(audit, f"{record.label or record.method} (run {self.state.run_number(record)})", self)
        self.ensemble_dialog = dlg
        dlg.show()
        return dlg

    @Slot()
    def _on_ensemble_clicked(self) -> None:
        recs = self.selected_records()
        if recs:
            self.ensemble_audit(recs[0])

    @Slot()
    def _on_remove_clicked(self) -> None:
        self.state.remove_runs(self.selected_rows())


class CompareDialog(QDialog):
    """Runs side by side: one column per model (the first run's Original and Retrain included)."""

    def __init__(self, runs: Sequence[tuple[int, str, RunRecord]], class_names: list[str],
                 parent: QWidget | None = None, stds: dict[int, list[float]] | None = None) -> None:
        """``runs``: (number in the runs table, colour, record) of each compared run; ``stds``:
        {id(record): per-class standard deviations over seeds} of multi-seed runs (error bars)."""
        super().__init__(parent)
        self.setWindowTitle("Compare runs")
        self.resize(900, 600)
        models: list[tuple[str, str, RunRecord]] = []  # (header, colour, record)
        if runs:
            for ref in runs[0][2].references:
                colour = {"original": style.ORIGINAL_COLOUR, "retrain": style.RETRAIN_COLOUR}.get(ref.method, "#7f7f7f")
                models.append((ref.label or ref.method, colour, ref))
        for number, colour, r in runs:
            models.append((f"{r.label or r.method} #{number}", colour, r))
        self.colours = {name: colour for name, colour, _ in models}
        self.table = QTableWidget(len(METRICS) + 1, len(models))
        self.table.setObjectName("compareTable")
        self.table.setHorizontalHeaderLabels([m for m, _, _ in models])
        self.table.setVerticalHeaderLabels([info.header for info in METRICS] + ["seconds"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for j, (_, colour, r) in enumerate(models):
            self.table.horizontalHeaderItem(j).setForeground(QColor(colour))
            for i, info in enumerate(METRICS):
                text, reason = metric_cell(r, info.name)
                item = QTableWidgetItem(text)
                if reason:
                    item.setToolTip(f"{NA_TEXT}: {reason}")
                self.table.setItem(i, j, item)
            self.table.setItem(len(METRICS), j, QTableWidgetItem(time_cell(r)))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.bars = PerClassBars()
        series = [(name, colour, r.per_class_acc) for name, colour, r in models if r.per_class_acc]
        self.series = series
        with_acc = [r for _, _, r in models if r.per_class_acc]
        errors = {j: (stds or {}).get(id(r), []) for j, r in enumerate(with_acc) if (stds or {}).get(id(r))}
        self.bars.set_series(class_names or [str(i) for i in range(len(series[0][2]) if series else 0)], series, errors)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.bars, 1)
