"""DataPane: choose the dataset source and the original model; see the classes with thumbnails."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.images import strip
from app.panes.import_dialog import ImportDialog
from app.panes.model_guide import arch_text, resolved_location, source_shape, suggest_arch
from app.panes.shrink import WrapRow
from engine import CHECKPOINT_SUFFIXES, available_models, inspect_checkpoint

SAMPLE_PX, SAMPLE_GAP = 24, 2  # the class table's sample thumbnails (px) and the gap between them
MIN_SAMPLES_SHOWN = 3  # the class table always leaves room for this many samples of each class


class ClassTable(QTableWidget):
    """The per-class table: "k: name", train / test counts, a strip of sample images.

    Its columns fit its width at any dock width (never a sideways scroll bar, never a samples column
    cut to "s"): a long class name is cut with "…" (the whole name in its tooltip) so that at least
    ``MIN_SAMPLES_SHOWN`` samples stay visible; the samples take the rest of the width.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["class", "images", "samples"])
        self.horizontalHeaderItem(1).setToolTip("training / test images of the class")
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(24)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setWordWrap(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setIconSize(QSize(8 * (SAMPLE_PX + SAMPLE_GAP), SAMPLE_PX))

    def samples_min_width(self) -> int:
        """Pixels the samples column keeps at least (``MIN_SAMPLES_SHOWN`` thumbnails and a margin)."""
        return MIN_SAMPLES_SHOWN * (SAMPLE_PX + SAMPLE_GAP) + 8

    def fit_columns(self) -> None:
        """Size the class and count columns to their contents, the class names cut to what leaves
        the samples column ``samples_min_width`` px."""
        header = self.horizontalHeader()
        avail = self.viewport().width()
        counts = max(self.sizeHintForColumn(1), header.sectionSizeHint(1))
        names = max(self.sizeHintForColumn(0), header.sectionSizeHint(0))
        floor = self.fontMetrics().horizontalAdvance("0: ab…") + 12  # the index and a few letters
        names = max(floor, min(names, avail - counts - self.samples_min_width()))
        self.setColumnWidth(0, names)
        self.setColumnWidth(1, counts)
        self.setColumnWidth(2, max(self.samples_min_width(), avail - names - counts))

    def resizeEvent(self, ev: QResizeEvent) -> None:
        super().resizeEvent(ev)
        self.fit_columns()


# (label, scheme, what the path is: None | "dir" | "file")
SOURCES: list[tuple[str, str, str | None]] = [
    ("Digits (built in, 8×8)", "digits", None),
    ("CIFAR-10 folder", "cifar10", "dir"),
    ("CIFAR-100 folder", "cifar100", "dir"),
    ("MedMNIST (flag + folder of .npz)", "medmnist", "dir"),
    ("Image folder (class sub-folders)", "folder", "dir"),
    ("NumPy .npz file", "npz", "file"),
]


def source_string(scheme: str, path: str = "", flag: str = "pathmnist", size: int = 28) -> str:
    """The engine's source string for a pane choice (see engine.data.describe_sources)."""
    path = path.strip()
    if scheme == "digits":
        return "digits"
    if scheme in ("cifar10", "cifar100"):
        return f"{scheme}:{path}" if path else scheme
    if scheme == "medmnist":  # the folder travels in the source string, never in an environment variable
        base = f"medmnist:{flag.strip().lower() or 'pathmnist'}@{size}"
        return f"{base}:{path}" if path else base
    return f"{scheme}:{path}"


class DataPane(QWidget):
    """Emits ``sig_prepare_requested(source, model)``; shows the loaded bundle's classes."""

    sig_prepare_requested = Signal(str, object)  # dataset source, model dict
    sig_cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes: list[str] | None = None  # the loaded dataset's class names (prefill the import dialog)
        self.source_box = QComboBox()
        self.source_box.setObjectName("sourceBox")
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setMinimumContentsLength(10)  # a narrow dock cuts the long entries' text
        for label, scheme, _ in SOURCES:
            self.source_box.addItem(label, scheme)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("folder or file")
        self.browse_button = QPushButton("Browse…")
        self.flag_edit = QLineEdit("pathmnist")
        self.flag_edit.setToolTip("MedMNIST flag, e.g. pathmnist, dermamnist, bloodmnist")
        self.size_box = QComboBox()
        for s in (28, 64, 128, 224):
            self.size_box.addItem(str(s), s)
        self.arch_box = QComboBox()
        self.arch_box.setObjectName("archBox")
        self.arch_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.arch_box.setMinimumContentsLength(8)
        for a in available_models():
            self.arch_box.addItem(a, a)
            self.arch_box.setItemData(self.arch_box.count() - 1, arch_text(a), Qt.ItemDataRole.ToolTipRole)
        self.arch_box.setCurrentIndex(max(0, self.arch_box.findData("cnn_small")))
        self.arch_note = QLabel("")  # what the chosen architecture is, and why it was suggested
        self.arch_note.setObjectName("archNote")
        self.arch_note.setWordWrap(True)
        self.arch_note.setStyleSheet("color: #555;")
        self.path_note = QLabel("")  # the absolute path a typed Location means
        self.path_note.setObjectName("pathNote")
        self.path_note.setWordWrap(True)
        self.path_note.setTextFormat(Qt.TextFormat.PlainText)  # paths may hold markup characters
        self.path_note.setStyleSheet("color: #555;")
        self._suggestion = ""  # the architecture and reason last suggested for the dataset choice
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 500)
        self.epochs_spin.setSpecialValueText("recipe default")
        fm = self.epochs_spin.fontMetrics()  # "recipe default" or a number, not wider
        self.epochs_spin.setMinimumWidth(fm.horizontalAdvance("recipe def…") + 2 * fm.height())
        self.epochs_spin.setToolTip("Epochs to train the original (0 = the architecture's tested recipe)")
        self.load_button = QPushButton("Load && train original")
        self.load_button.setObjectName("loadButton")
        self.load_button.setToolTip("Load the data and train the original model (or load it from the cache)")
        self.checkpoint_button = QPushButton("Use a checkpoint…")
        self.checkpoint_button.setToolTip("Load a .safetensors (with its .json sidecar) or a PyTorch state dict")
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        self.info_label.setObjectName("dataInfo")
        self.class_table = ClassTable()
        self.class_table.setObjectName("classTable")

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow dock: labels above the fields
        form.addRow("Source:", self.source_box)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.path_label = QLabel("Location:")
        form.addRow(self.path_label, path_row)
        form.addRow("", self.path_note)
        med_row = QHBoxLayout()
        med_row.addWidget(self.flag_edit, 1)
        self.size_label = QLabel("size")
        med_row.addWidget(self.size_label)
        med_row.addWidget(self.size_box)
        self.med_label = QLabel("MedMNIST:")
        form.addRow(self.med_label, med_row)
        form.addRow("Model:", self.arch_box)
        form.addRow("Epochs:", self.epochs_spin)
        form.addRow("", self.arch_note)
        buttons = WrapRow([self.load_button, self.checkpoint_button], [1, 0])  # two rows in a narrow dock
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        lay.addWidget(self.info_label)
        lay.addWidget(self.class_table, 1)

        self.source_box.currentIndexChanged.connect(self._on_source_box_changed)
        self.path_edit.textChanged.connect(self._on_path_edit_text_changed)
        self.size_box.currentIndexChanged.connect(self._on_size_box_changed)
        self.arch_box.currentIndexChanged.connect(self._on_arch_box_changed)
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.load_button.clicked.connect(self._on_load_clicked)
        self.checkpoint_button.clicked.connect(self._on_checkpoint_clicked)
        self._on_source_box_changed(0)

    # ------------------------------------------------------------------ choices
    def current_source(self) -> str:
        scheme = self.source_box.currentData()
        return source_string(scheme, self.path_edit.text(), self.flag_edit.text(), int(self.size_box.currentData()))

    def model_choice(self) -> dict[str, Any]:
        arch = self.arch_box.currentData()
        model: dict[str, Any] = {"arch": arch}
        if self.epochs_spin.value() > 0:
            model["recipe"] = {"epochs": int(self.epochs_spin.value())}
        return model

    def set_source(self, source: str) -> None:
        scheme, _, arg = source.partition(":")
        i = self.source_box.findData(scheme)
        if i >= 0:
            self.source_box.setCurrentIndex(i)
        if scheme == "medmnist":
            flag, _, size = arg.partition("@")
            self.flag_edit.setText(flag)
            j = self.size_box.findData(int(size or 28))
            self.size_box.setCurrentIndex(max(0, j))
        else:
            self.path_edit.setText(arg)

    @Slot(int)
    def _on_source_box_changed(self, _i: int) -> None:
        scheme = self.source_box.currentData()
        kind = next(k for _, s, k in SOURCES if s == scheme)
        needs_path = kind is not None
        for w in (self.path_edit, self.browse_button, self.path_label):
            w.setVisible(needs_path)
        for w in (self.flag_edit, self.size_box, self.med_label, self.size_label):
            w.setVisible(scheme == "medmnist")
        if scheme in ("cifar10", "cifar100"):
            self.path_edit.setPlaceholderText("folder holding cifar-10-batches-py (empty: the data folder)")
        elif scheme == "medmnist":
            self.path_edit.setPlaceholderText("folder holding <flag>.npz (empty: the data folder)")
        elif scheme == "npz":
            self.path_edit.setPlaceholderText("file.npz with x_train, y_train, x_test, y_test")
        else:
            self.path_edit.setPlaceholderText("folder with one sub-folder per class")
        self._dataset_choice_changed()

    @Slot(str)
    def _on_path_edit_text_changed(self, _text: str) -> None:
        self._dataset_choice_changed()

    @Slot(int)
    def _on_size_box_changed(self, _i: int) -> None:
        self._dataset_choice_changed()

    @Slot(int)
    def _on_arch_box_changed(self, _i: int) -> None:
        self._show_arch_note()

    def _dataset_choice_changed(self) -> None:
        """Show where the Location points and suggest an architecture for the chosen images."""
        scheme = self.source_box.currentData()
        kind = next(k for _, s, k in SOURCES if s == scheme)
        _path, note = resolved_location(self.path_edit.text(), scheme) if kind is not None else (None, "")
        self.path_note.setText(note)
        self.path_note.setVisible(bool(note))
        shape = source_shape(scheme, self.path_edit.text(), int(self.size_box.currentData()))
        if shape is None:
            self._suggestion = ""
        else:
            arch, why = suggest_arch(*shape)
            i = self.arch_box.findData(arch)
            if i >= 0:
                self._suggestion = f"{arch}|{why}"
                self.arch_box.setCurrentIndex(i)
        self._show_arch_note()

    def _show_arch_note(self) -> None:
        arch = str(self.arch_box.currentData())
        text = arch_text(arch)
        suggested, _, why = self._suggestion.partition("|")
        if suggested == arch and why:
            text = f"Suggested for {why}. " + text
        self.arch_note.setText(text)
        self.arch_box.setToolTip(text)

    @Slot()
    def _on_browse_clicked(self) -> None:
        scheme = self.source_box.currentData()
        kind = next(k for _, s, k in SOURCES if s == scheme)
        if kind == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Choose a dataset file", "", "NumPy archives (*.npz)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose the dataset folder")
        if path:
            self.path_edit.setText(path)

    @Slot()
    def _on_load_clicked(self) -> None:
        self.sig_prepare_requested.emit(self.current_source(), self.model_choice())

    @Slot()
    def _on_checkpoint_clicked(self) -> None:
        patterns = " ".join(f"*{s}" for s in CHECKPOINT_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose the original model", "", f"Checkpoints ({patterns});;All files (*)")
        if path:
            field = self.confirm_checkpoint(path)
            if field is not None:
                self.request_checkpoint(path, field)

    def import_dialog(self, path: str) -> ImportDialog | None:
        """The dialog for a checkpoint without a sidecar (prefilled by Lethe's reading), else None."""
        ins = inspect_checkpoint(path)
        if ins.sidecar is not None or (ins.file_format is None and ins.problem):
            return None  # a Lethe checkpoint, or a refusal the prepare step reports as usual
        return ImportDialog(ins, self._classes, self)

    def confirm_checkpoint(self, path: str) -> dict[str, Any] | None:
        """The model field for ``path``: asked in the import dialog when the file has no sidecar."""
        dialog = self.import_dialog(path)
        if dialog is None:
            return {"checkpoint": path}
        if dialog.exec() != ImportDialog.DialogCode.Accepted:
            return None
        return dialog.model_field()

    def request_checkpoint(self, path: str, field: dict[str, Any] | None = None) -> None:
        self.sig_prepare_requested.emit(self.current_source(), field or {"checkpoint": path})

    # ------------------------------------------------------------------ display
    def show_bundle(self, bundle: Any, model: dict[str, Any], arch: str) -> None:
        self._classes = list(bundle.classes)
        i = self.arch_box.findData(arch)
        if i >= 0 and "checkpoint" not in model:  # the box names the model that is loaded
            self.arch_box.setCurrentIndex(i)
        counts_tr = bundle.class_counts("train")
        counts_te = bundle.class_counts("test")
        what = f"checkpoint {Path(model['checkpoint']).name}" if "checkpoint" in model else f"{arch} (trained here, cached)"
        what = html.escape(what)  # file and folder names may hold markup: shown as typed
        c, h, w = bundle.input_shape
        fmt = lambda vs: ", ".join(f"{v:.4g}" for v in vs)  # noqa: E731
        whose = ("the dataset's own statistics" if getattr(bundle, "norm_source", "dataset") == "dataset"
                 else f"the model's own ({bundle.norm_source})")
        self.info_label.setText(
            f"<b>{html.escape(str(bundle.name))}</b>: {len(bundle.y_train)} training / {len(bundle.y_test)} test images, "
            f"{bundle.num_classes} classes, {c}×{h}×{w}.<br>Original model: {what}."
            f"<br>Input normalisation: mean ({fmt(bundle.mean)}) std ({fmt(bundle.std)}), {whose}.")
        self.class_table.setRowCount(bundle.num_classes)
        invert = bundle.channels == 1 and bundle.name == "digits"
        rng = np.random.default_rng(0)
        for k, name in enumerate(bundle.classes):
            name_item = QTableWidgetItem(f"{k}: {name}")
            name_item.setToolTip(f"class {k}: {name}")  # the whole name where the column cuts it
            self.class_table.setItem(k, 0, name_item)
            counts_item = QTableWidgetItem(f"{counts_tr[k]} / {counts_te[k]}")
            counts_item.setToolTip(f"{counts_tr[k]} training / {counts_te[k]} test images")
            self.class_table.setItem(k, 1, counts_item)
            rows = np.flatnonzero(bundle.y_train == k)
            pick = np.sort(rng.choice(rows, size=min(8, len(rows)), replace=False)) if len(rows) else rows
            item = QTableWidgetItem()
            item.setData(Qt.ItemDataRole.DecorationRole, strip(bundle.x_train[pick], SAMPLE_PX, SAMPLE_GAP, invert_gray=invert))
            self.class_table.setItem(k, 2, item)
            self.class_table.setRowHeight(k, SAMPLE_PX + 4)
        self.class_table.fit_columns()
