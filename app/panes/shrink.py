"""Widgets that let a side pane shrink to a narrow dock without a horizontal scroll bar.

:class:`WrapRow` lays its buttons side by side while they fit and stacks them one per row when
they do not; :func:`narrow_spin` caps a spin box's minimum width (a range up to 2**31 otherwise
asks for room for "2147483647"); :func:`wrapped_label` is a word-wrapped label.
"""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QAbstractSpinBox, QBoxLayout, QLabel, QWidget

SPIN_DIGITS = 7  # characters a capped spin box still shows ("1234567", "0.00001")


class WrapRow(QWidget):
    """A row of widgets (buttons) that becomes a column when the row is narrower than they need.

    ``stretches`` are the widgets' stretch factors in the row. The minimum width is the widest
    single widget's (the column), so a parent layout may give the row any width above that."""

    def __init__(self, widgets: list[QWidget], stretches: list[int] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self.items = list(widgets)
        for w, s in zip(self.items, stretches or [0] * len(self.items), strict=True):
            self._box.addWidget(w, s)

    def row_width(self) -> int:
        """Pixels the widgets need side by side (their size hints and the spacing)."""
        shown = [w for w in self.items if not w.isHidden()]
        return sum(w.sizeHint().width() for w in shown) + self._box.spacing() * max(0, len(shown) - 1)

    def is_stacked(self) -> bool:
        return self._box.direction() == QBoxLayout.Direction.TopToBottom

    def minimumSizeHint(self) -> QSize:
        shown = [w for w in self.items if not w.isHidden()] or [self]
        width = max((w.minimumSizeHint().width() for w in shown if w is not self), default=0)
        return QSize(width, super().minimumSizeHint().height())

    def _fit(self, width: int) -> None:
        direction = (QBoxLayout.Direction.LeftToRight if width >= self.row_width()
                     else QBoxLayout.Direction.TopToBottom)
        if direction != self._box.direction():
            self._box.setDirection(direction)
            self.updateGeometry()

    def resizeEvent(self, ev) -> None:
        self._fit(ev.size().width())
        super().resizeEvent(ev)


def narrow_spin(spin: QAbstractSpinBox, chars: int = SPIN_DIGITS) -> QAbstractSpinBox:
    """Let ``spin`` shrink to ``chars`` digits plus its arrows (larger values still fit when typed:
    the text scrolls). Returns ``spin``."""
    fm = spin.fontMetrics()
    spin.setMinimumWidth(fm.horizontalAdvance("8" * chars) + 2 * fm.height() + 8)
    return spin


def wrapped_label(text: str, parent: QWidget | None = None) -> QLabel:
    """A word-wrapped QLabel (a long line breaks instead of widening its pane)."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    return label
