"""Shared plot style: one colour, brush and pen object per class (pyqtgraph caches by identity)."""
from __future__ import annotations

from functools import lru_cache

import pyqtgraph as pg
from PySide6.QtGui import QColor

from engine import CLASS_PALETTE, ORIGINAL_COLOUR, RETRAIN_COLOUR  # one palette: studio, report, figures

__all__ = ["ORIGINAL_COLOUR", "PALETTE", "RETRAIN_COLOUR"]

PALETTE = list(CLASS_PALETTE)

FORGET_COLOUR = "#111111"
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
