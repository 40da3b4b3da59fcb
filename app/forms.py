"""Hyperparameter forms generated from a method's frozen Params dataclass.

int -> QSpinBox, float -> :class:`SignificantSpinBox` (shown with 4 significant digits, "1e-5" or
"0.0005" rather than "0.00050000"; typed scientific notation accepted), bool ->
QCheckBox, a field with ``choices`` -> QComboBox, other str -> QLineEdit. Bounds come from the
field's ``min`` / ``max`` metadata, tooltips from its ``help``.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from app.panes.shrink import narrow_spin
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

INT_LIMIT = 2_000_000_000
SIGNIFICANT = 4  # digits a float field shows
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PARTIAL = re.compile(r"[+-]?(\d*\.?\d*)([eE][+-]?)?")


def significant(value: float, digits: int = SIGNIFICANT) -> str:
    """``value`` with at most ``digits`` significant digits: 0.01, 0.0005, 1e-5, 0.013, 100, 1e6."""
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


class SignificantSpinBox(QDoubleSpinBox):
    """A float spin box that shows significant digits instead of a fixed number of decimals.

    Keeps 12 decimals internally (a bound of 1e-8 stays 1e-8); shows "1e-5", "0.0005", "0.9";
    accepts what a person types, scientific notation included ("3e-4")."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:
        return significant(value)

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        t = text.strip()
        if _NUMBER.fullmatch(t):
            v = float(t)
            ok = self.minimum() <= v <= self.maximum()
            return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos
        if _PARTIAL.fullmatch(t):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


def _decimals_and_step(default: float, lo: float | None) -> tuple[int, float]:
    """Enough decimals to show the default and the minimum; a step of ~1/10 of the default."""
    probe = [abs(v) for v in (default, lo or 0.0) if v]
    smallest = min(probe) if probe else 0.1
    decimals = max(2, min(8, math.ceil(-math.log10(smallest)) + 2)) if smallest < 1 else 3
    step = 10 ** math.floor(math.log10(abs(default))) / 10 if default else 10 ** -min(decimals, 3)
    return decimals, step


class ParamsForm(QWidget):
    """A form for one Params dataclass; :meth:`values` returns only the JSON-able field values.

    ``sig_changed`` fires after any value changes (typed, stepped, reset or set from a preset)."""

    sig_changed = Signal()

    def __init__(self, params_cls: type | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow pane: labels above
        self.params_cls: type | None = None
        self.editors: dict[str, QWidget] = {}
        self._defaults: dict[str, Any] = {}
        self.set_params_class(params_cls)

    def set_params_class(self, params_cls: type | None) -> None:
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.editors.clear()
        self._defaults.clear()
        self.params_cls = params_cls
        fields = dataclasses.fields(params_cls) if params_cls is not None else ()
        if not fields:
            self._layout.addRow(QLabel("No hyperparameters."))
        for f in fields:
            editor = self._make_editor(f)
            meta = f.metadata
            label = QLabel((meta.get("label") or f.name.replace("_", " ")) + ":")
            tip = meta.get("help", "")
            bounds = self._bounds_text(meta)
            editor.setToolTip(f"<b>{f.name}</b><br>{tip}{bounds}<br>default: {f.default!r}")
            label.setToolTip(editor.toolTip())
            editor.setObjectName(f"param_{f.name}")
            self._connect(editor)
            self._layout.addRow(label, editor)
            self.editors[f.name] = editor
            self._defaults[f.name] = f.default
        self.reset()

    @staticmethod
    def _bounds_text(meta: Any) -> str:
        if meta.get("choices"):
            return "<br>one of " + ", ".join(map(str, meta["choices"]))
        lo, hi = meta.get("min"), meta.get("max")
        if lo is None and hi is None:
            return ""
        return f"<br>range [{'' if lo is None else lo}, {'' if hi is None else hi}]"

    def _make_editor(self, f: dataclasses.Field) -> QWidget:
        default, meta = f.default, f.metadata
        lo, hi = meta.get("min"), meta.get("max")
        if meta.get("choices"):
            box = QComboBox()
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)
            for c in meta["choices"]:
                box.addItem(str(c), c)
            return box
        if isinstance(default, bool):
            return QCheckBox()
        if isinstance(default, int):
            spin = QSpinBox()
            spin.setRange(int(lo) if lo is not None else -INT_LIMIT, int(hi) if hi is not None else INT_LIMIT)
            spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
            spin.setAccelerated(True)
            return narrow_spin(spin)
        if isinstance(default, float):
            dspin = SignificantSpinBox()
            _decimals, step = _decimals_and_step(default, lo)
            dspin.setRange(float(lo) if lo is not None else -1e9, float(hi) if hi is not None else 1e9)
            dspin.setSingleStep(step)
            # Adaptive steps scale with the value: log-ish stepping for learning rates.
            dspin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
            return narrow_spin(dspin)
        return QLineEdit()

    def _connect(self, editor: QWidget) -> None:
        if isinstance(editor, QComboBox):
            editor.currentIndexChanged.connect(self.sig_changed)
        elif isinstance(editor, QCheckBox):
            editor.toggled.connect(self.sig_changed)
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.valueChanged.connect(self.sig_changed)
        elif isinstance(editor, QLineEdit):
            editor.textChanged.connect(self.sig_changed)

    # ------------------------------------------------------------------ values
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, ed in self.editors.items():
            if isinstance(ed, QComboBox):
                out[name] = ed.currentData()
            elif isinstance(ed, QCheckBox):
                out[name] = ed.isChecked()
            elif isinstance(ed, QSpinBox):
                out[name] = int(ed.value())
            elif isinstance(ed, QDoubleSpinBox):
                out[name] = float(ed.value())
            elif isinstance(ed, QLineEdit):
                out[name] = ed.text()
        return out

    def changed_values(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (a shorter spec)."""
        return {k: v for k, v in self.values().items() if v != self._defaults.get(k)}

    def set_values(self, values: dict[str, Any]) -> None:
        for name, v in values.items():
            ed = self.editors.get(name)
            if ed is None:
                continue
            if isinstance(ed, QComboBox):
                i = ed.findData(v)
                if i >= 0:
                    ed.setCurrentIndex(i)
            elif isinstance(ed, QCheckBox):
                ed.setChecked(bool(v))
            elif isinstance(ed, QSpinBox):
                ed.setValue(int(v))
            elif isinstance(ed, QDoubleSpinBox):
                ed.setValue(float(v))
            elif isinstance(ed, QLineEdit):
                ed.setText(str(v))

    def reset(self) -> None:
        """Back to the paper defaults."""
        self.set_values(self._defaults)
