"""GramView: the Gram matrix of the class means beside the ideal simplex ETF, and the mean angle.

Both heat maps carry class tick labels (names down the side, numbers along the bottom) and share
one colour bar: the cosine of the angle between two centred class means, -1 to 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.plots import style

NAN_RGBA = np.array([235, 235, 235, 255], dtype=np.uint8)
GRAM_RANGE = (-1.0, 1.0)  # cosine of centred class means
NAME_CHARS = 6  # class names on the side axis are cut to this many characters (full names: tooltip)
MAX_TICKED_CLASSES = 20  # beyond, every k-th class is labelled


def class_ticks(names: Sequence[str], short: bool) -> list[tuple[float, str]]:
    """Axis ticks at the centre of each class's row / column: names cut to ``NAME_CHARS`` or the
    class numbers (``short``); at most ``MAX_TICKED_CLASSES`` labelled."""
    step = max(1, int(np.ceil(len(names) / MAX_TICKED_CLASSES)))
    out = []
    for i in range(0, len(names), step):
        name = str(names[i])
        text = str(i) if short else (name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…")
        out.append((i + 0.5, text))
    return out


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


class GramView(QWidget):
    """Two small heat maps (current, ideal) and one line of angles."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmap = pg.colormap.get("CET-D1")
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setMinimumHeight(200)
        self.plots: list[pg.PlotItem] = []
        self.current_vb = self._panel("class-mean Gram", 0)
        self.ideal_vb = self._panel("ideal simplex ETF", 1)
        self.colour_bar = pg.ColorBarItem(values=GRAM_RANGE, colorMap=self.cmap, label="cosine",
                                          interactive=False, width=14)
        self.glw.addItem(self.colour_bar, row=0, col=2)
        self.glw.ci.layout.setHorizontalSpacing(4)
        self.class_names: list[str] = []
        self.current_img = pg.ImageItem()
        self.ideal_img = pg.ImageItem()
        self.current_vb.addItem(self.current_img)
        self.ideal_vb.addItem(self.ideal_img)
        self.angle_label = QLabel("mean pairwise angle: –")
        self.angle_label.setObjectName("angleLabel")
        self.angle_label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.glw, 1)
        lay.addWidget(self.angle_label)
        self._num_classes = 0
        self._retained_key: bytes | None = None

    def _panel(self, title: str, col: int) -> pg.ViewBox:
        plot = self.glw.addPlot(row=0, col=col, title=title)
        for name in ("left", "bottom"):
            ax = plot.getAxis(name)
            ax.setTicks([[]])
            ax.setStyle(tickLength=0)
        plot.getAxis("left").setTicks([[]])
        plot.setMenuEnabled(False)
        self.plots.append(plot)
        plot.hideButtons()
        vb = plot.getViewBox()
        vb.setAspectLocked(True)
        vb.invertY(True)
        vb.setMouseEnabled(False, False)
        return vb

    def set_classes(self, names: Sequence[str]) -> None:
        """Class names for the tick labels (the Gram's row / column order)."""
        self.class_names = [str(n) for n in names]
        self._num_classes = -1  # re-tick on the next frame

    def _tick(self, c: int) -> None:
        names = self.class_names if len(self.class_names) == c else [str(i) for i in range(c)]
        for plot in self.plots:
            plot.getAxis("bottom").setTicks([class_ticks(names, short=True)])
            plot.getAxis("left").setTicks([class_ticks(names, short=False)])
        self.plots[1].getAxis("left").setTicks([class_ticks(names, short=True)])  # beside the first: numbers do
        self.plots[0].getAxis("left").setToolTip("\n".join(f"{i}: {n}" for i, n in enumerate(names)))

    def set_font_size(self, pt: float) -> None:
        """Ticks and titles in ``pt`` points (presenter mode)."""
        for plot in self.plots:
            style.set_plot_font(plot, pt)
        font = self.angle_label.font()
        font.setPointSizeF(pt)
        self.angle_label.setFont(font)

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
