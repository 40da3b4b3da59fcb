"""GramView: the Gram matrix of the class means beside the ideal simplex ETF, and the mean angle.

Both heat maps carry the same class labels on both axes (short names, upright along the bottom,
the full names in the tooltip) and share one colour bar: the cosine of the angle between two centred class means, -1 to 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.plots import style

NAN_RGBA = np.array([235, 235, 235, 255], dtype=np.uint8)
GRAM_RANGE = (-1.0, 1.0)  # cosine of centred class means
MIN_LABEL_PT = 6.5  # class labels shrink to fit small cells, down to this size; below it they are thinned
TITLE_MAX_PT = 11.0  # "Gram" / "ideal (ETF)" never larger (presenter mode)
MAX_LABEL_PT = 9.0  # ... and are never larger than the normal plot font (presenter mode: the maps stay big)
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
    """An axis ticked at class centres (i + 0.5) with one label per class: the same short names on
    both axes of both maps (:func:`style.short_class_names`; the full names in the tooltip), the
    bottom axis's labels turned upright so that a name fits a narrow column. When the cells are
    smaller than a line of text the labels get a smaller font (down to ``MIN_LABEL_PT``) and only
    below that are thinned to every k-th class, the ``keep`` classes (forgotten) always labelled."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation=orientation)
        self.names: list[str] = []
        self.keep: set[int] = set()
        self.label_font = QFont(self.font())
        self.setStyle(tickLength=0, hideOverlappingLabels=False)

    def set_names(self, names: Sequence[str], keep: Sequence[int] = ()) -> None:
        self.names = [str(n) for n in names]
        self.keep = {int(k) for k in keep}
        if self.orientation == "bottom":  # upright labels: the axis is as tall as the widest one
            fm = QFontMetrics(self._base_font())
            widest = max((fm.horizontalAdvance(n) for n in self.names), default=0)
            self.setHeight(widest + 6)
        self.picture = None
        self.update()

    def _base_font(self) -> QFont:
        base = QFont(self.style.get("tickFont") or self.font())
        pt = base.pointSizeF() if base.pointSizeF() > 0 else float(style.PLOT_FONT_PT)
        base.setPointSizeF(min(pt, MAX_LABEL_PT))
        return base

    def _fit_font(self, cell_px: float) -> QFont:
        base = self._base_font()
        pt = base.pointSizeF()
        fm = QFontMetrics(base)
        if fm.height() > cell_px:
            pt = max(MIN_LABEL_PT, pt * cell_px / fm.height())
        base.setPointSizeF(pt)
        return base

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        c = len(self.names)
        if c == 0 or size <= 0:
            return []
        span = abs(maxVal - minVal) or 1.0
        cell = size / span  # px per class
        self.label_font = self._fit_font(cell)
        line = QFontMetrics(self.label_font).height()
        step = max(1, int(np.ceil(line / max(cell, 1e-6))))
        shown = set(range(0, c, step))
        for k in self.keep:
            if 0 <= k < c:
                shown -= set(range(k - step + 1, k + step))
                shown.add(k)
        return [(float(step), [i + 0.5 for i in sorted(shown)])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if self.orientation == "bottom":  # the class number stands in: pyqtgraph drops a label whose
            return [str(int(v)) for v in values]  # *flat* box leaves the axis; drawn upright as its name
        return [self.names[int(v)] if 0 <= int(v) < len(self.names) else "" for v in values]

    def _name(self, text: str) -> str:
        if self.orientation != "bottom":
            return text
        i = int(text)
        return self.names[i] if 0 <= i < len(self.names) else ""

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs) -> None:
        super().drawPicture(p, axisSpec, tickSpecs, [])
        p.setFont(self.label_font)
        p.setPen(self.textPen())
        fm = QFontMetrics(self.label_font)
        for rect, _flags, tick_text in textSpecs:
            text = self._name(tick_text)
            if self.orientation == "bottom":  # upright, reading upwards, its end at the map's edge
                p.save()
                p.translate(rect.center().x(), rect.top())
                p.rotate(-90)
                w = fm.horizontalAdvance(text)
                p.drawText(QRectF(-w - 2, -fm.height() / 2, w, fm.height()),
                           int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
                p.restore()
            else:
                p.drawText(rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)

    def drawn_labels(self) -> list[tuple[str, QRectF]]:
        """(label, where it lies in the axis's coordinates) of each label drawn (tests, screenshots)."""
        img = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(img)
        try:
            _, _, specs = self.generateDrawSpecs(painter)
        finally:
            painter.end()
        fm = QFontMetrics(self.label_font)
        out = []
        for rect, _f, tick_text in specs:
            text = self._name(tick_text)
            w, h = fm.horizontalAdvance(text), fm.height()
            if self.orientation == "bottom":
                out.append((text, QRectF(rect.center().x() - h / 2, rect.top() + 2, h, w)))
            else:
                out.append((text, QRectF(rect.right() - w, rect.center().y() - h / 2, w, h)))
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
        self.tick_labels: list[str] = []
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
        # the same short class names down the side and (upright) along the bottom of both maps
        axes = {"left": ClassAxis("left"), "bottom": ClassAxis("bottom")}
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

    def _tick(self, c: int, forgotten: Sequence[int] = ()) -> None:
        full = self.class_names if len(self.class_names) == c else [str(i) for i in range(c)]
        labels = style.short_class_names(full)
        key = "classes:\n" + style.class_key(full, labels)
        for plot in self.plots[:2]:
            for name in ("bottom", "left"):
                plot.getAxis(name).set_names(labels, keep=forgotten)
                plot.getAxis(name).setToolTip(key)
        self.tick_labels = labels

    def set_font_size(self, pt: float) -> None:
        """Ticks and titles in ``pt`` points (presenter mode)."""
        for plot in self.plots:
            style.set_plot_font(plot, pt)
            if plot.titleLabel.text:  # the two map titles stay small: the maps need the height
                plot.titleLabel.setText(plot.titleLabel.text, size=f"{min(pt + 1, TITLE_MAX_PT):g}pt")
            for name in ("bottom", "left"):  # refit the upright labels' room to the new font
                ax = plot.getAxis(name)
                if isinstance(ax, ClassAxis):
                    ax.set_names(ax.names, ax.keep)
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
            self._tick(c, np.flatnonzero(~retained).tolist())
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
