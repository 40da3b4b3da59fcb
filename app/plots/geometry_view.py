"""GramView: the Gram matrix of the class means beside the ideal simplex ETF, and the mean angle.

Both heat maps carry class tick labels (names down the side, numbers along the bottom) and share
one colour bar: the cosine of the angle between two centred class means, -1 to 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QLinearGradient, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.plots import style

NAN_RGBA = np.array([235, 235, 235, 255], dtype=np.uint8)
GRAM_RANGE = (-1.0, 1.0)  # cosine of centred class means
NAME_CHARS = 6  # class names on the side axis are cut to this many characters (full names: tooltip)
BAR_MARGIN = 1.18  # the colour bar's axis runs a little past -1..1, so the end labels are drawn


def ideal_gram(num_classes: int, retained: np.ndarray) -> np.ndarray:
    """(C, C) simplex-ETF Gram over the ``retained`` classes (1 on the diagonal, -1/(K-1) off), NaN elsewhere."""
    g = np.full((num_classes, num_classes), np.nan)
    idx = np.flatnonzero(retained)
    k = len(idx)
    if k >= 2:
        block = np.full((k, k), -1.0 / (k - 1))
        np.fill_diagonal(block, 1.0)
        g[np.ix_(idx, idx)] = block
    return g


def gram_rgba(g: np.ndarray, cmap: pg.ColorMap) -> np.ndarray:
    """(C, C, 4) uint8 image of a Gram matrix in [-1, 1]; NaN cells light grey."""
    v = np.nan_to_num((np.asarray(g, dtype=np.float64) + 1.0) / 2.0, nan=0.5)
    rgba = cmap.map(np.clip(v, 0.0, 1.0).ravel(), mode="byte").reshape((*g.shape, 4))
    rgba[np.isnan(g)] = NAN_RGBA
    return np.ascontiguousarray(rgba)


class ClassAxis(pg.AxisItem):
    """An axis ticked at class centres (i + 0.5) with class names or numbers, thinned to every k-th
    class when the axis is too short for all of them (never overprinted)."""

    def __init__(self, orientation: str, short: bool) -> None:
        super().__init__(orientation=orientation)
        self.short = short
        self.names: list[str] = []
        self.setStyle(tickLength=0)

    def set_names(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self.picture = None
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        c = len(self.names)
        if c == 0 or size <= 0:
            return []
        fm = QFontMetrics(self.style.get("tickFont") or self.font())
        vertical = self.orientation in ("left", "right")
        per_label = fm.height() * 1.1 if vertical else fm.horizontalAdvance("00") + 4
        span = abs(maxVal - minVal) or 1.0
        step = max(1, int(np.ceil(c * per_label / (size * c / span))))
        return [(float(step), [i + 0.5 for i in range(0, c, step)])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        out = []
        for v in values:
            i = int(v)
            name = self.names[i] if 0 <= i < len(self.names) else ""
            out.append(str(i) if self.short else (name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"))
        return out


class ColourBar(QWidget):
    """A vertical colour scale: the colour map from ``lo`` (bottom) to ``hi`` (top), numbered at both
    ends and the middle, ``label`` along its side. Plain Qt painting (no plot item)."""

    def __init__(self, cmap: pg.ColorMap, lo: float, hi: float, label: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmap, self.lo, self.hi, self.label = cmap, float(lo), float(hi), label
        self.setObjectName("gramColourBar")
        self.setToolTip(f"colour scale: {label} from {lo:g} (bottom) to {hi:g} (top)")
        self.setMinimumHeight(80)
        self._fit_width()

    def _fit_width(self) -> None:
        fm = self.fontMetrics()
        self.setFixedWidth(12 + 4 + fm.horizontalAdvance("-0.5") + 4 + fm.height() + 2)

    def tick_labels(self) -> list[str]:
        return [f"{self.hi:g}", f"{(self.lo + self.hi) / 2:g}", f"{self.lo:g}"]

    def changeEvent(self, ev) -> None:
        if ev.type() == ev.Type.FontChange:
            self._fit_width()
        super().changeEvent(ev)

    def paintEvent(self, _ev) -> None:
        p = QPainter(self)
        try:
            fm = self.fontMetrics()
            top, bottom = fm.height(), self.height() - fm.height()  # room for the end labels
            bar = QRectF(2, top, 12, max(1, bottom - top))
            grad = QLinearGradient(QPointF(0, bar.bottom()), QPointF(0, bar.top()))
            for pos in np.linspace(0.0, 1.0, 11):
                grad.setColorAt(float(pos), self.cmap.map(float(pos), mode="qcolor"))
            p.fillRect(bar, QBrush(grad))
            p.setPen(QColor(style.FOREGROUND))
            p.drawRect(bar)
            x = bar.right() + 4
            for text, y in zip(self.tick_labels(), (bar.top(), bar.center().y(), bar.bottom()), strict=True):
                p.drawText(QPointF(x, y + fm.ascent() / 2 - 1), text)
            if self.label:
                p.translate(self.width() - 2, bar.center().y())
                p.rotate(-90)
                p.drawText(QPointF(-fm.horizontalAdvance(self.label) / 2, 0), self.label)
        finally:
            p.end()


class GramView(QWidget):
    """Two small heat maps (current, ideal) and one line of angles."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmap = pg.colormap.get("CET-D1")
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setMinimumHeight(150)
        self.plots: list[pg.PlotItem] = []
        self.current_vb = self._panel("Gram", 0)
        self.ideal_vb = self._panel("ideal (ETF)", 1)
        self.colour_bar = ColourBar(self.cmap, *GRAM_RANGE, label="cosine")
        self.glw.ci.layout.setHorizontalSpacing(4)
        self.class_names: list[str] = []
        self.current_img = pg.ImageItem()
        self.ideal_img = pg.ImageItem()
        self.current_vb.addItem(self.current_img)
        self.ideal_vb.addItem(self.ideal_img)
        self.angle_label = QLabel("mean pairwise angle: –")
        self.angle_label.setObjectName("angleLabel")
        self.angle_label.setWordWrap(True)
        maps = QHBoxLayout()
        maps.setContentsMargins(0, 0, 0, 0)
        maps.setSpacing(2)
        maps.addWidget(self.glw, 1)
        maps.addWidget(self.colour_bar)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(maps, 1)
        lay.addWidget(self.angle_label)
        self._num_classes = 0
        self._retained_key: bytes | None = None

    def _panel(self, title: str, col: int) -> pg.ViewBox:
        # names down the side of the first map; numbers along the bottom and beside the second
        axes = {"left": ClassAxis("left", short=col > 0), "bottom": ClassAxis("bottom", short=True)}
        plot = self.glw.addPlot(row=0, col=col, title=title, axisItems=axes)
        plot.setMenuEnabled(False)
        self.plots.append(plot)
        plot.hideButtons()
        vb = plot.getViewBox()
        vb.setAspectLocked(True)
        vb.invertY(True)
        vb.setMouseEnabled(False, False)
        return vb

    def colour_range(self) -> tuple[float, float]:
        """The values at the colour bar's bottom and top ends."""
        return self.colour_bar.lo, self.colour_bar.hi

    def set_classes(self, names: Sequence[str]) -> None:
        """Class names for the tick labels (the Gram's row / column order)."""
        self.class_names = [str(n) for n in names]
        self._num_classes = -1  # re-tick on the next frame

    def _tick(self, c: int) -> None:
        names = self.class_names if len(self.class_names) == c else [str(i) for i in range(c)]
        for plot in self.plots[:2]:
            plot.getAxis("bottom").set_names(names)
            plot.getAxis("left").set_names(names)
        self.plots[0].getAxis("left").setToolTip("\n".join(f"{i}: {n}" for i, n in enumerate(names)))

    def set_font_size(self, pt: float) -> None:
        """Ticks and titles in ``pt`` points (presenter mode)."""
        for plot in self.plots:
            style.set_plot_font(plot, pt)
        for w in (self.angle_label, self.colour_bar):
            font = w.font()
            font.setPointSizeF(pt)
            w.setFont(font)

    def set_frame(self, gram: np.ndarray, labels: np.ndarray, is_forget: np.ndarray, nc: dict[str, float]) -> None:
        c = gram.shape[0]
        retained = np.zeros(c, dtype=bool)
        retained[np.unique(labels[~np.asarray(is_forget, dtype=bool)])] = True
        self.current_img.setImage(gram_rgba(gram, self.cmap), autoLevels=False)
        key = retained.tobytes()
        if key != self._retained_key or c != self._num_classes:
            self.ideal_img.setImage(gram_rgba(ideal_gram(c, retained), self.cmap), autoLevels=False)
            for vb in (self.current_vb, self.ideal_vb):
                vb.setRange(xRange=(0, c), yRange=(0, c), padding=0.02)
            self._tick(c)
            self._retained_key, self._num_classes = key, c
        ang, ideal = nc.get("mean_angle_deg", np.nan), nc.get("ideal_angle_deg", np.nan)
        dist = nc.get("gram_distance", np.nan)
        self.angle_label.setText(
            f"mean pairwise angle <b>{ang:.1f}°</b> (ideal {ideal:.1f}°) · Gram distance to ETF {dist:.3f}"
            if np.isfinite(ang) else "mean pairwise angle: –")

    def clear(self) -> None:
        self.current_img.clear()
        self.ideal_img.clear()
        self.angle_label.setText("mean pairwise angle: –")
        self._retained_key = None
