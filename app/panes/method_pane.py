"""MethodPane: pick a registered method, set its hyperparameters, device, seed and reference; Run / Cancel."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.forms import ParamsForm
from app.panes.shrink import WrapRow, narrow_spin, wrapped_label
from engine import DEVICES, format_eta, methods

SMALL_PRESET = methods.SMALL


class MethodPane(QWidget):
    """Emits ``sig_run_requested`` / ``sig_cancel_requested``; the window freezes the spec."""

    sig_run_requested = Signal()
    sig_cancel_requested = Signal()
    sig_sweep_requested = Signal()
    sig_method_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefer_small_preset = False
        self.method_list = QListWidget()
        self.method_list.setObjectName("methodList")
        self.method_list.setWordWrap(True)
        self.method_list.setAlternatingRowColors(True)
        for name in methods.available():
            info = methods.get(name)
            item = QListWidgetItem(f"{info.label or name}\n{info.description}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(f"{info.description}\nforget sets: {', '.join(info.kinds)}")
            self.method_list.addItem(item)
        self.reason_label = QLabel("")
        self.reason_label.setObjectName("methodReason")
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet("color: #b3261e;")
        self.form = ParamsForm()
        self.form.setObjectName("paramsForm")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the form wraps instead
        scroll.setWidget(self.form)
        scroll.setMinimumHeight(120)
        # Which values the form holds, in words, and a two-way switch between the two presets.
        self.preset_label = QLabel("")
        self.preset_label.setObjectName("presetLabel")
        self.preset_label.setWordWrap(True)
        self.reset_button = QPushButton("Paper defaults")
        self.reset_button.setObjectName("resetButton")
        self.reset_button.setCheckable(True)
        self.reset_button.setToolTip("The hyperparameters published with the method (tuned for full-size data, e.g. CIFAR-10 on a GPU)")
        self.preset_button = QPushButton("Small-data preset")
        self.preset_button.setObjectName("smallPresetButton")
        self.preset_button.setCheckable(True)
        self.device_box = QComboBox()
        for d in DEVICES:
            self.device_box.addItem(d, d)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        narrow_spin(self.seed_spin)
        self.device_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_box.setMinimumContentsLength(5)
        self.reference_box = QCheckBox("retrain reference")
        self.reference_box.setObjectName("referenceBox")
        self.reference_box.setChecked(True)
        self.reference_box.setToolTip("Compute the retrain reference (the gold standard): retrain from scratch "
                                      "without the forget set (cached) so every metric has its target")
        self.evaluate_box = QCheckBox("representation metrics")
        self.evaluate_box.setToolTip("Representation metrics (RUS, rMIA) on the features, besides the outputs")
        self.evaluate_box.setChecked(True)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setDefault(True)
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setObjectName("sweepButton")
        self.sweep_button.setToolTip("Try many hyperparameter settings of this method and plot how close each comes "
                                     "to the retrained model (shows the cost first)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("jobProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.stage_label = QLabel("")
        # A label whose text changes every tick must not change its size hint: that re-lays out
        # the window and repaints every plot (measured: the largest share of GUI time in a run).
        self.stage_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        opts = QFormLayout()
        opts.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        opts.addRow("Device:", self.device_box)
        opts.addRow("Seed:", self.seed_spin)
        opts.addRow(self.reference_box)
        opts.addRow(self.evaluate_box)
        buttons = WrapRow([self.run_button, self.sweep_button, self.cancel_button], [2, 1, 1])
        buttons.setObjectName("runButtons")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Method</b>"))
        lay.addWidget(self.method_list, 2)
        lay.addWidget(self.reason_label)
        lay.addWidget(wrapped_label("<b>Hyperparameters</b> (hover for help)"))
        lay.addWidget(self.preset_label)
        lay.addWidget(scroll, 2)
        self.defaults_row = WrapRow([self.reset_button, self.preset_button])  # two rows in a narrow dock
        lay.addWidget(self.defaults_row)
        lay.addLayout(opts)
        lay.addWidget(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.stage_label)
        # The engine's warnings about the running method ("Did it move?"): they stay until the next run.
        self.warning_label = QLabel("")
        self.warning_label.setObjectName("methodWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("background:#fff4d6; color:#5c3d00; border:1px solid #e0b040; padding:4px;")
        self.warning_label.hide()
        lay.addWidget(self.warning_label)

        self.forget_kind: str | None = None
        self.has_selection = False
        self.busy = False
        self.sweeping = False  # a sweep runs (one at a time; a Run may run beside it)
        self.method_list.currentItemChanged.connect(self._on_method_list_current_changed)
        self.reset_button.clicked.connect(self.form.reset)
        self.reset_button.clicked.connect(self._update_preset_label)  # a click on the checked one keeps it checked
        self.preset_button.clicked.connect(self.apply_small_preset)
        self.preset_button.clicked.connect(self._update_preset_label)
        self.form.sig_changed.connect(self._update_preset_label)
        self.run_button.clicked.connect(self.sig_run_requested)
        self.cancel_button.clicked.connect(self.sig_cancel_requested)
        self.sweep_button.clicked.connect(self.sig_sweep_requested)
        first = next((i for i in range(self.method_list.count())
                      if self.method_list.item(i).data(Qt.ItemDataRole.UserRole) == "pour_p"), 0)
        self.method_list.setCurrentRow(first)
        self._update_preset_button(methods.get(self.method()))
        self._update_preset_label()

    # ------------------------------------------------------------------ method
    def method(self) -> str:
        item = self.method_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else "pour_p"

    def select_method(self, name: str) -> None:
        for i in range(self.method_list.count()):
            if self.method_list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.method_list.setCurrentRow(i)
                return
        raise KeyError(name)

    def item_for(self, name: str) -> QListWidgetItem | None:
        for i in range(self.method_list.count()):
            it = self.method_list.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == name:
                return it
        return None

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_method_list_current_changed(self, cur: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if cur is None:
            return
        info = methods.get(cur.data(Qt.ItemDataRole.UserRole))
        self.form.set_params_class(info.params)
        self._update_preset_button(info)
        if self.prefer_small_preset and info.presets.get(SMALL_PRESET):
            # Small data loaded (the digits demo): start from values that forget at this scale;
            # "Paper defaults" is one click away.
            self.apply_small_preset()
        self._update_preset_label()
        self.sig_method_changed.emit(info.name)
        self._refresh()

    def _update_preset_button(self, info: methods.MethodInfo) -> None:
        values = info.presets.get(SMALL_PRESET)
        self.preset_button.setEnabled(bool(values))
        if values:
            listed = ", ".join(f"{k} = {v!r}" for k, v in values.items())
            self.preset_button.setToolTip(
                f"Paper defaults with the values that forget on small models and data "
                f"(digits cnn_small, the CIFAR subset with convnet): {listed}")
        else:
            self.preset_button.setToolTip(f"{info.label or info.name} has no small-data preset: its paper defaults work at small scale")

    def preset_state(self) -> str:
        """"paper" (the form holds the paper defaults), "small" (the small-data preset) or "custom"."""
        values = self.form.values()
        defaults = methods.get(self.method()).default_params()
        paper = {k: getattr(defaults, k) for k in values}
        if values == paper:
            return "paper"
        small = methods.get(self.method()).presets.get(SMALL_PRESET)
        if small and values == {**paper, **small}:
            return "small"
        return "custom"

    @Slot()
    def _update_preset_label(self) -> None:
        state = self.preset_state()
        has_small = bool(methods.get(self.method()).presets.get(SMALL_PRESET))
        text = {
            "paper": "Holding: <b>Paper defaults</b> (published values, tuned for full-size data)",
            "small": "Holding: <b>Preset: small (digits-scale)</b> — values that forget on small models and data",
            "custom": "Holding: <b>your own values</b> (edited; pick a preset below to start again)",
        }[state]
        if state == "paper" and not has_small:
            text += "; this method needs no small-data preset"
        self.preset_label.setText(text)
        self.reset_button.setChecked(state == "paper")
        self.preset_button.setChecked(state == "small")

    def set_prefer_small_preset(self, prefer: bool) -> None:
        """Whether selecting a method fills in its small-data preset (set when a small dataset loads)."""
        self.prefer_small_preset = prefer

    @Slot()
    def apply_small_preset(self) -> None:
        """Fill the form with the paper defaults overridden by the method's "small" preset."""
        values = methods.get(self.method()).presets.get(SMALL_PRESET)
        if values:
            self.form.reset()
            self.form.set_values(values)

    def job_options(self) -> dict[str, Any]:
        return {
            "method": self.method(),
            "params": self.form.values(),
            "device": self.device_box.currentData(),
            "seed": int(self.seed_spin.value()),
            "reference": "retrain" if self.reference_box.isChecked() else None,
            "evaluate": self.evaluate_box.isChecked(),
        }

    # ------------------------------------------------------------------ availability
    def set_forget_kind(self, kind: str | None, has_selection: bool) -> None:
        """Disable methods that cannot handle a ``kind`` forget set; show why."""
        self.forget_kind, self.has_selection = kind, has_selection
        for i in range(self.method_list.count()):
            it = self.method_list.item(i)
            info = methods.get(it.data(Qt.ItemDataRole.UserRole))
            reason = info.unsupported_reason(kind=kind) if kind else None
            flags = it.flags()
            if reason:
                it.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled)
                it.setToolTip(reason)
            else:
                it.setFlags(flags | Qt.ItemFlag.ItemIsEnabled)
                it.setToolTip(f"{info.description}\nforget sets: {', '.join(info.kinds)}")
        self._refresh()

    def unsupported_reason(self) -> str | None:
        kind = self.forget_kind
        return methods.get(self.method()).unsupported_reason(kind=kind) if kind else None

    def show_warning(self, text: str) -> None:
        """Show an engine warning about the running method (kept until the next run starts)."""
        self.warning_label.setText("⚠ " + text)
        self.warning_label.setToolTip(text)
        self.warning_label.show()

    def set_busy(self, busy: bool) -> None:
        if busy and not self.busy:  # a new run: the last run's warnings no longer apply
            self.warning_label.hide()
            self.warning_label.setText("")
        self.busy = busy
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.stage_label.setText("")
        self._refresh()

    def _refresh(self) -> None:
        reason = self.unsupported_reason()
        if reason:
            self.reason_label.setText(reason + " — choose another method or a class-level forget set.")
        elif not self.has_selection:
            self.reason_label.setText("Choose what to forget first (Forget pane).")
        else:
            self.reason_label.setText("")
        self.run_button.setEnabled(not self.busy and reason is None and self.has_selection)
        self.sweep_button.setEnabled(not self.sweeping and reason is None and self.has_selection)

    def set_sweeping(self, sweeping: bool) -> None:
        self.sweeping = sweeping
        self._refresh()

    def begin_job(self, what: str) -> None:
        """A job starts: the bar reads "<what> · starting…" from 0 (never the last job's "done")."""
        self.progress.setValue(0)
        self.progress.setFormat(f"{what} · starting…")
        self.stage_label.setText("")

    def end_job(self, text: str = "idle", full: bool = False) -> None:
        """No job runs: the bar reads ``text`` ("idle", "POUR-P done", "loading cancelled"), full only
        for a run that finished."""
        self.progress.setValue(1000 if full else 0)
        self.progress.setFormat(text)

    def set_progress(self, fraction: float, stage: str, message: str, eta_s: float | None = None) -> None:
        """The bar reads "unlearn · 42% · ETA 0:12" (no ETA while the stage is too young to tell);
        the line under it says what the stage is doing ("epoch 3/15 · batch 12/40", "4/6 audit ...")."""
        self.progress.setValue(int(1000 * fraction))
        text = f"{stage} · {100 * fraction:.0f}%"
        if eta_s is not None and eta_s >= 0.5 and fraction < 1.0:
            text += f" · {format_eta(eta_s)}"
        if self.progress.format() != text:
            self.progress.setFormat(text)
        if self.stage_label.text() != message:
            self.stage_label.setText(message)
