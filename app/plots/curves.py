"""CurvesPlot: loss over optimiser steps, and the neural-collapse numbers over geometry frames."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.plots import style


class CurvesPlot(QWidget):
    """Three stacked plots: ``loss`` vs step; forget / retain accuracy of the probe images; NC1 and
    mean angle (with its ideal) vs step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.loss_plot = self.glw.addPlot(row=0, col=0, title="loss")
        self.acc_plot = self.glw.addPlot(row=1, col=0, title="<span style='color:#e15759'>● forget acc</span> &nbsp; "
                                         "<span style='color:#59a14f'>■ retain acc</span> (probe images)")
        self.nc_plot = self.glw.addPlot(row=2, col=0, title="<span style='color:#4e79a7'>■ NC1</span> &nbsp; "
                                        "<span style='color:#f28e2b'>▲ angle / ideal</span>")
        for p in (self.loss_plot, self.acc_plot, self.nc_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
        self.nc_plot.setLabel("bottom", "step")  # only the lowest plot names its axis: the three share it
        self.acc_plot.setXLink(self.loss_plot)
        self.nc_plot.setXLink(self.loss_plot)
        self.acc_plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.acc_plot.setYRange(0.0, 1.0, padding=0.05)
        self.acc_plot.disableAutoRange(axis="y")
        self.forget_acc_curve = self.acc_plot.plot(pen=style.pen("#e15759", 1.5), symbol="o", symbolSize=4,
                                                   symbolBrush="#e15759", symbolPen=None)
        self.retain_acc_curve = self.acc_plot.plot(pen=style.pen("#59a14f", 1.5), symbol="s", symbolSize=4,
                                                   symbolBrush="#59a14f", symbolPen=None)
        self.loss_curve = self.loss_plot.plot(pen=style.pen(style.CURRENT_COLOUR, 1.5))
        self.nc1_curve = self.nc_plot.plot(pen=style.pen("#4e79a7", 1.5), symbol="o", symbolSize=4,
                                           symbolBrush="#4e79a7", symbolPen=None)
        self.angle_curve = self.nc_plot.plot(pen=style.pen("#f28e2b", 1.5), symbol="t", symbolSize=4,
                                             symbolBrush="#f28e2b", symbolPen=None)
        self.ideal_line = pg.InfiniteLine(pos=1.0, angle=0, pen=pg.mkPen("#f28e2b", style=Qt.PenStyle.DashLine))
        self.nc_plot.addItem(self.ideal_line)
        self.no_loss_text = pg.TextItem("no optimisation steps (closed-form method)", color="#888", anchor=(0.5, 0.5))
        self.loss_plot.addItem(self.no_loss_text)
        self.no_loss_text.setPos(0.5, 0.5)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.glw)
        self.clear()

    def clear(self) -> None:
        self._loss_x: list[float] = []
        self._loss_y: list[float] = []
        self._nc_x: list[float] = []
        self._nc1: list[float] = []
        self._angle: list[float] = []
        self._forget_acc: list[float] = []
        self._retain_acc: list[float] = []
        self.forget_acc_curve.setData([], [])
        self.retain_acc_curve.setData([], [])
        self.loss_curve.setData([], [])
        self.nc1_curve.setData([], [])
        self.angle_curve.setData([], [])
        self.no_loss_text.setVisible(False)

    def history(self) -> dict[str, list[float]]:
        """The recorded loss curve (to replay a finished run)."""
        return {"x": list(self._loss_x), "y": list(self._loss_y)}

    def set_loss_history(self, h: dict[str, list[float]]) -> None:
        self._loss_x, self._loss_y = list(h.get("x", [])), list(h.get("y", []))

    def add_loss(self, step: int, loss: float) -> None:
        self._loss_x.append(float(step))
        self._loss_y.append(float(loss))

    def add_nc(self, step: float, nc: dict[str, float]) -> None:
        self._nc_x.append(float(step))
        self._nc1.append(float(nc.get("nc1", np.nan)))
        ang, ideal = nc.get("mean_angle_deg", np.nan), nc.get("ideal_angle_deg", np.nan)
        self._angle.append(float(ang / ideal) if ideal and np.isfinite(ideal) else np.nan)
        self._forget_acc.append(float(nc.get("probe_forget_acc", np.nan)))
        self._retain_acc.append(float(nc.get("probe_retain_acc", np.nan)))

    def redraw(self) -> None:
        self.loss_curve.setData(np.asarray(self._loss_x), np.asarray(self._loss_y))
        self.no_loss_text.setVisible(not self._loss_x and len(self._nc_x) > 1)
        x = np.asarray(self._nc_x)
        self.nc1_curve.setData(x, np.asarray(self._nc1), connect="finite")
        self.angle_curve.setData(x, np.asarray(self._angle), connect="finite")
        self.forget_acc_curve.setData(x, np.asarray(self._forget_acc), connect="finite")
        self.retain_acc_curve.setData(x, np.asarray(self._retain_acc), connect="finite")
