"""Shared plot style: one colour, brush and pen object per class (pyqtgraph caches by identity)."""
from __future__ import annotations

from functools import lru_cache

import pyqtgraph as pg
from PySide6.QtGui import QColor

# Tableau-10 then its light variants: distinct for up to 20 classes; beyond that, evenly spaced hues.
PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]
FORGET_COLOUR = "#111111"
ORIGINAL_COLOUR = "#9aa5b1"
RETRAIN_COLOUR = "#59a14f"
CURRENT_COLOUR = "#e15759"
BACKGROUND = "#ffffff"
FOREGROUND = "#303841"


def configure() -> None:
    """Global pyqtgraph options; call once before creating plots."""
    pg.setConfigOptions(background=BACKGROUND, foreground=FOREGROUND, antialias=False, useOpenGL=False,
                       imageAxisOrder="row-major")


def class_colour(c: int, num_classes: int) -> QColor:
    if num_classes <= len(PALETTE):
        return QColor(PALETTE[c % len(PALETTE)])
    return pg.intColor(c, hues=num_classes, values=1, maxValue=220, minValue=150)


@lru_cache(maxsize=512)
def class_brush(c: int, num_classes: int, alpha: int = 200) -> pg.QtGui.QBrush:
    col = QColor(class_colour(c, num_classes))
    col.setAlpha(alpha)
    return pg.mkBrush(col)


@lru_cache(maxsize=64)
def pen(colour: str, width: float = 1.0) -> pg.QtGui.QPen:
    return pg.mkPen(colour, width=width)
