"""ImportDialog: a checkpoint without a sidecar says neither its architecture nor its normalisation.

The dialog shows what Lethe sees in the file (``engine.inspect_checkpoint``), with the
architecture, class names and input normalisation prefilled by the guess, and returns the
JobSpec model field ``{"checkpoint", "arch", "input_norm"?}`` the user confirmed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from engine import Inspection, available_models

# Architectures offered besides Lethe's own (any torchvision:<builder> or timm:<name> may be typed).
COMMON_FOREIGN = ("torchvision:resnet18", "torchvision:resnet34", "torchvision:resnet50", "torchvision:mobilenet_v2",
                  "torchvision:mobilenet_v3_small", "torchvision:mobilenet_v3_large", "torchvision:efficientnet_b0",
                  "torchvision:vgg16_bn", "torchvision:densenet121", "torchvision:convnext_tiny", "torchvision:vit_b_16")

# (label, mean, std); None = the dataset's own statistics
NORMALISATIONS: list[tuple[str, list[float] | None, list[float] | None]] = [
    ("the dataset's own statistics", None, None),
    ("CIFAR-10 (std 0.2470, 0.2435, 0.2616)", [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    ("CIFAR-10, widely copied (std 0.2023, 0.1994, 0.2010)", [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]),
    ("ImageNet (torchvision, timm)", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ("none: inputs in [0, 1]", [0.0], [1.0]),
    ("0.5 / 0.5 (inputs in [-1, 1])", [0.5], [0.5]),
]


def _numbers(text: str) -> list[float]:
    return [float(t) for t in text.replace(",", " ").split()]


class ImportDialog(QDialog):
    """Confirm a bare checkpoint's architecture and normalisation; :meth:`model_field` is the result."""

    def __init__(self, inspection: Inspection, dataset_classes: list[str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.inspection = inspection
        self.setWindowTitle(f"Import {Path(inspection.path).name}")
        intro = QLabel(
            f"<b>{Path(inspection.path).name}</b> has no Lethe sidecar, so it does not say which network it is or how "
            "its inputs were normalised. Lethe's reading of the file is below; confirm or correct it.")
        intro.setWordWrap(True)

        self.arch_box = QComboBox()
        self.arch_box.setObjectName("importArch")
        self.arch_box.setEditable(True)  # any torchvision:<builder>, timm:<name> or plugin name
        names = list(available_models()) + [a for a in COMMON_FOREIGN if a not in available_models()]
        for name in names:
            self.arch_box.addItem(name, name)
        if inspection.arch and self.arch_box.findData(inspection.arch) < 0:
            self.arch_box.insertItem(0, inspection.arch, inspection.arch)
        if inspection.arch:
            self.arch_box.setCurrentIndex(self.arch_box.findData(inspection.arch))
        guess = "\n".join(inspection.guesses) or "nothing fits: name the architecture"
        arch_note = QLabel(f"weights fit:\n{guess}")  # one guess a line (no word wrap: it mis-sizes in a form)
        arch_note.setMinimumHeight(arch_note.fontMetrics().lineSpacing() * (guess.count("\n") + 2) + 4)
        arch_note.setObjectName("importFits")

        names_shown = inspection.class_names or dataset_classes or []
        self.classes_edit = QLineEdit(", ".join(names_shown))
        self.classes_edit.setObjectName("importClasses")
        self.classes_edit.setReadOnly(True)
        self.classes_edit.setToolTip("The dataset's class names, in the order of the model's outputs")
        k = inspection.num_classes
        classes_note = QLabel(f"{k} outputs" + (f"; the dataset has {len(dataset_classes)} classes"
                                                if dataset_classes is not None else "") if k else "")

        self.norm_box = QComboBox()
        self.norm_box.setObjectName("importNorm")
        for label, mean, std in NORMALISATIONS:
            self.norm_box.addItem(label, (mean, std))
        self.mean_edit = QLineEdit()
        self.std_edit = QLineEdit()
        self.mean_edit.setObjectName("importMean")
        self.std_edit.setObjectName("importStd")
        self.norm_box.addItem("custom", None)
        found = inspection.input_norm
        if found:
            self.norm_box.insertItem(0, "from the checkpoint's own buffers" if found.get("source") == "checkpoint"
                                     else "from the sidecar", (list(found["mean"]), list(found["std"])))
        self.norm_box.setCurrentIndex(0)
        self.norm_box.currentIndexChanged.connect(self._on_norm_changed)
        self._on_norm_changed(0)

        read = QLabel(self._reading_text())
        read.setWordWrap(True)
        read.setObjectName("importReading")

        form = QFormLayout()
        form.addRow("Architecture:", self.arch_box)
        form.addRow("", arch_note)
        form.addRow("Classes:", self.classes_edit)
        form.addRow("", classes_note)
        form.addRow("Input normalisation:", self.norm_box)
        form.addRow("mean:", self.mean_edit)
        form.addRow("std:", self.std_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this model")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(read)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.setMinimumWidth(640)
        self.adjustSize()

    def _reading_text(self) -> str:
        ins = self.inspection
        parts = [f"format: {ins.file_format or '?'}", f"{ins.tensors} tensors", f"read as: {ins.dialect or 'as saved'}"]
        if ins.problem:
            parts.append(f"<span style='color:#b00'>{ins.problem}</span>")
        return " · ".join(parts)

    def _on_norm_changed(self, _index: int) -> None:
        data = self.norm_box.currentData()
        custom = data is None and self.norm_box.currentText() == "custom"
        mean, std = (data if data is not None else (None, None))
        if not custom:
            self.mean_edit.setText(", ".join(f"{v:g}" for v in mean) if mean else "")
            self.std_edit.setText(", ".join(f"{v:g}" for v in std) if std else "")
        for edit in (self.mean_edit, self.std_edit):
            edit.setReadOnly(not custom)
            edit.setPlaceholderText("e.g. 0.4914, 0.4822, 0.4465" if custom else "the dataset's statistics")

    def model_field(self) -> dict[str, Any]:
        """``{"checkpoint": PATH, "arch": NAME[, "input_norm": {...}]}`` (raises ValueError on bad numbers)."""
        field: dict[str, Any] = {"checkpoint": self.inspection.path, "arch": self.arch_box.currentText().strip()}
        if self.mean_edit.text().strip():
            field["input_norm"] = {"mean": _numbers(self.mean_edit.text()), "std": _numbers(self.std_edit.text())}
        return field
