"""Shared plot style: one colour, brush and pen object per class (pyqtgraph caches by identity)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QFontMetrics

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


# Selection: a white ring inside a black halo, never a class colour (checked by a test).
SELECTION_RING = "#ffffff"
SELECTION_HALO = "#000000"
LASSO_COLOUR = "#303841"
PLOT_FONT_PT = 9  # tick labels; titles are 1 pt larger (presenter mode raises both)


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= ``raw`` (> 0)."""
    mag = 10.0 ** np.floor(np.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * mag >= raw * (1 - 1e-9):
            return float(m * mag)
    return float(10 * mag)


class TickAxis(pg.AxisItem):
    """An axis that numbers only as many ticks as its length has room for (never overprinted).

    pyqtgraph's own spacing aims at ~log(pixels) ticks whatever the font: on a 45 px high plot it
    prints four labels in the room of two. Here a vertical axis keeps ``LABEL_GAP`` font heights per
    label, a horizontal one the width of a wide label; one level of ticks, every tick numbered.
    """

    LABEL_GAP = 1.5

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        lo, hi = sorted((float(minVal), float(maxVal)))
        span = hi - lo
        if span <= 0 or size <= 0 or not np.isfinite(span):
            return []
        fm = QFontMetrics(self.style.get("tickFont") or self.font())
        if self.orientation in ("left", "right"):
            per_label, half_text = fm.height() * self.LABEL_GAP, fm.height() / 2
        else:
            per_label, half_text = fm.horizontalAdvance("-0.000") + 14, fm.horizontalAdvance("0.00") / 2
        max_ticks = max(1, int(size // per_label))
        step = nice_step(span / max_ticks)
        # pyqtgraph hides a label that would stick out of the axis: count only ticks half a label
        # in from the ends, and want two of them where there is room for four labels, else one.
        margin = half_text / size * span
        need = 2 if size >= 4 * per_label else 1
        while ticks_inside(lo + margin, hi - margin, step) < need and step > span * 1e-6:
            step = smaller_nice_step(step)
        return [(step, 0.0)]


def ticks_inside(lo: float, hi: float, step: float) -> int:
    """How many multiples of ``step`` lie inside (lo, hi), a hair in from each edge."""
    if hi <= lo:
        return 0
    eps = 1e-6 * (hi - lo)
    return max(0, int(np.floor((hi - eps) / step) - np.ceil((lo + eps) / step) + 1))


def smaller_nice_step(step: float) -> float:
    """The next 1-2-5 step below ``step`` (1 -> 0.5 -> 0.2 -> 0.1)."""
    mag = 10.0 ** np.floor(np.log10(step) + 1e-9)
    m = round(step / mag)
    return float(mag * {1: 0.5, 2: 1.0, 5: 2.0}.get(m, 0.5))


def tick_axes(*names: str) -> dict[str, TickAxis]:
    """``axisItems`` for a PlotItem: a :class:`TickAxis` per side named."""
    return {n: TickAxis(orientation=n) for n in names}


def set_plot_font(plot: pg.PlotItem, pt: float) -> None:
    """Tick labels, axis labels and the title of ``plot`` in ``pt`` points (title 1 pt larger)."""
    font = QFont()
    font.setPointSizeF(pt)
    for name in ("left", "bottom", "right", "top"):
        ax = plot.getAxis(name)
        ax.setStyle(tickFont=font)
        ax.label.setFont(font)
        ax.setWidth() if name in ("left", "right") else ax.setHeight()  # refit to the new text size
        ax.picture = None
        ax.update()
    title = plot.titleLabel
    if title.text:
        title.setText(title.text, size=f"{pt + 1:g}pt")


SHORT_NAME_CHARS = 6  # a class name cut to a label: at most this many characters ("lymph.")


def abbreviate(name: str, n: int) -> str:
    """``name`` if at most ``n`` characters, else its first ``n - 1`` (trailing space / dash
    dropped) and "." : "colorectal adenocarcinoma epithelium" -> "color." for n = 6."""
    name = str(name)
    if len(name) <= n:
        return name
    return name[: max(1, n - 1)].rstrip(" -_") + "."


def short_class_names(names: list[str], n: int = SHORT_NAME_CHARS) -> list[str]:
    """Every class's label of at most ``n`` characters (:func:`abbreviate`), distinct: two names
    that cut to the same label get their class number in front ("3 color.")."""
    out = [abbreviate(x, n) for x in names]
    dup = {s for s in out if out.count(s) > 1}
    return [f"{i} {s}" if s in dup else s for i, s in enumerate(out)]


def class_tick_labels(names: list[str], room: float, fm: QFontMetrics, min_chars: int = 3,
                      shortest: int = 4) -> tuple[list[str], str]:
    """Labels for every class where each has ``room`` px of width: the full names if they all fit,
    else the longest abbreviations (:func:`short_class_names`, same cut for every class) that all
    fit (the Gram's labels, or shorter down to ``shortest`` characters), else the class numbers. Returns (labels, kind) with kind "full", "short" or "number"."""
    names = [str(x) for x in names]
    if all(fm.horizontalAdvance(x) <= room for x in names):
        return names, "full"
    for n in range(SHORT_NAME_CHARS, max(min_chars, shortest - 1), -1):  # the Gram's cut ("lymph."), or shorter
        labels = short_class_names(names, n)
        if all(fm.horizontalAdvance(x) <= room for x in labels):
            return labels, "short"
    return [str(i) for i in range(len(names))], "number"


def class_key(names: list[str], labels: list[str]) -> str:
    """"label: full name" lines for the classes whose label is not their full name (a tooltip key)."""
    return "\n".join(f"{lab} = {name}" if lab != name else name for lab, name in zip(labels, names, strict=True))
