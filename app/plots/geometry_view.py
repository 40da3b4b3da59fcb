"""GramView: the Gram matrix of the class means beside the ideal simplex ETF, and the mean angle."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

NAN_RGBA = np.array([235, 235, 235, 255], dtype=np.uint8)


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
        self.glw.setMinimumHeight(140)
        self.current_vb = self._panel("class-mean Gram", 0)
        self.ideal_vb = self._panel("ideal simplex ETF", 1)
        self.glw.ci.layout.setHorizontalSpacing(4)
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
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        vb = plot.getViewBox()
        vb.setAspectLocked(True)
        vb.invertY(True)
        vb.setMouseEnabled(False, False)
        return vb

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
