"""CurvesPlot: loss over optimiser steps, and the neural-collapse numbers over geometry frames.

Redraws are cheap on purpose (they run ~10 times a second during a job): while a job runs the axes
ranges only grow, in steps with head-room, so the axes (whose tick text is the costliest thing to
paint) are regenerated a few times per run rather than on every frame; :meth:`CurvesPlot.fit`
(a finished run, a replay) then fits them to the data. Symbols mark every frame while a curve has
few points (then the line alone says it); each axis paints from a pixel cache and numbers only as
many ticks as it has room for (:class:`app.plots.style.TickAxis`).

A closed-form method (POUR-P) has no optimiser steps: its frames interpolate from the original
(t = 0) to the result (t = 1), and the x axis is that interpolation, 0 to 1, so labelled.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from app.plots import style

MAX_SYMBOL_POINTS = 60  # beyond this many points a curve is drawn without its symbols
X_HEADROOM = 1.5  # a growing x range jumps to 1.5x the data's extent
Y_PAD = 0.08
X_PAD = 0.05  # of the x extent, each side, once fitted (room for the end tick labels)
MIN_X_SPAN = 1.0  # steps: one frame at step 0 still gets an axis 0..1, never a degenerate one
MIN_Y_SPAN = 0.02  # a flat loss gets +-0.01, not a range of 1e-9
STEP_LABEL = "optimiser step"
INTERP_LABEL = "interpolation t, 0 → 1 (first point: the original)"
# the x axis's title, longest first: the longest that fits the axis's width is shown (never clipped)
X_LABELS = {False: (STEP_LABEL, "step"),
            True: (INTERP_LABEL, "interpolation t, 0 → 1 (first: original)", "interpolation t, 0 → 1", "t, 0 → 1")}
LEGEND_HTML = ("<span style='color:#e15759'>━&nbsp;loss</span> &nbsp; <span style='color:#e15759'>●&nbsp;forget&nbsp;acc</span> "
               "&nbsp; <span style='color:#59a14f'>■&nbsp;retain&nbsp;acc</span>&nbsp;<span style='color:#5f6368'>(probe&nbsp;images)</span>"
               " &nbsp; <span style='color:#4e79a7'>■&nbsp;NC1</span> &nbsp; "
               "<span style='color:#f28e2b'>▲&nbsp;angle&nbsp;/&nbsp;ideal</span>&nbsp;<span style='color:#5f6368'>(-&nbsp;-&nbsp;ideal&nbsp;1)</span>")
ORIGINAL_X = -0.1  # a closed-form method's original frame sits left of t = 0 (its output mask acts at t = 0)


def _bounds(*arrays: np.ndarray) -> tuple[float, float] | None:
    """(min, max) over the finite values of the arrays, or None."""
    vals = [a[np.isfinite(a)] for a in arrays if len(a)]
    vals = [v for v in vals if len(v)]
    if not vals:
        return None
    return float(min(v.min() for v in vals)), float(max(v.max() for v in vals))


class _GrowingRange:
    """One axis range that only grows, in jumps, to cover the data (None: nothing fitted yet)."""

    def __init__(self, headroom: float = 0.0, pad: float = 0.0, min_span: float = 1e-6) -> None:
        self.headroom, self.pad, self.min_span = headroom, pad, min_span
        self.range: tuple[float, float] | None = None

    def update(self, bounds: tuple[float, float] | None) -> tuple[float, float] | None:
        """The new range when ``bounds`` no longer fit, else None (nothing to redraw)."""
        if bounds is None:
            return None
        lo, hi = bounds
        if self.range is not None and self.range[0] <= lo and hi <= self.range[1]:
            return None
        if self.range is not None:
            lo, hi = min(lo, self.range[0]), max(hi, self.range[1])
        new = padded(lo, hi, self.pad, self.min_span, self.headroom)
        self.range = new
        return new


def padded(lo: float, hi: float, pad: float, min_span: float, headroom: float = 0.0) -> tuple[float, float]:
    """``(lo, hi)`` widened to at least ``min_span`` (about its centre), plus ``pad`` of the span each
    side and ``headroom`` of the span on the right."""
    if hi - lo < min_span:
        mid, half = (lo + hi) / 2, min_span / 2
        lo, hi = (lo, lo + min_span) if lo >= 0 > mid - half else (mid - half, mid + half)
    span = hi - lo
    return lo - pad * span, hi + pad * span + headroom * span


class CurvesPlot(QWidget):
    """Three stacked plots: ``loss`` vs step; forget / retain accuracy of the probe images; NC1 and
    mean angle (with its ideal) vs step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # One legend line over the three plots (titles would cost each plot a text row); each
        # plot's left axis names it.
        self.legend = QLabel(LEGEND_HTML)
        self.legend.setObjectName("curvesLegend")
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setMinimumHeight(240)  # three plots of >= 60 px each and the step axis
        self.loss_plot = self.glw.addPlot(row=0, col=0, axisItems=style.tick_axes("left", "bottom"))
        self.acc_plot = self.glw.addPlot(row=1, col=0, axisItems=style.tick_axes("left", "bottom"))
        self.nc_plot = self.glw.addPlot(row=2, col=0, axisItems=style.tick_axes("left", "bottom"))
        for p, name in ((self.loss_plot, "loss"), (self.acc_plot, "acc"), (self.nc_plot, "NC")):  # short: a rotated label sets the row's minimum height
            p.setLabel("left", name)
            p.getAxis("left").enableAutoSIPrefix(False)  # never "loss (x0.001)": the numbers say it
        self.closed_form = False
        for p in (self.loss_plot, self.acc_plot, self.nc_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            p.disableAutoRange()  # ranges: _GrowingRange, on redraw
            for name in ("left", "bottom"):
                p.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.nc_plot.setLabel("bottom", STEP_LABEL)  # only the lowest plot names its axis: the three share it
        for p in (self.loss_plot, self.acc_plot):  # ... and numbers it (x-linked: the same ticks thrice)
            p.getAxis("bottom").setStyle(showValues=False)
        self.acc_plot.setXLink(self.loss_plot)
        self.nc_plot.setXLink(self.loss_plot)
        self.acc_plot.setYRange(-0.1, 1.1, padding=0)
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
        self.no_loss_text = pg.TextItem("no optimisation steps\n(closed-form method)", color="#888", anchor=(0.5, 0.5))
        self.loss_plot.addItem(self.no_loss_text)
        self.no_loss_text.setPos(0.5, 0.5)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.legend)
        lay.addWidget(self.glw, 1)
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
        self.loss_plot.setRange(xRange=(0.0, 1.0), yRange=(0.0, 1.0), padding=0)  # no stale ranges of the last run
        self.nc_plot.setYRange(0.0, 1.1, padding=0)
        self.set_closed_form(False)
        self._loss_range = _GrowingRange(pad=Y_PAD, min_span=MIN_Y_SPAN)
        self._nc_range = _GrowingRange(pad=Y_PAD, min_span=MIN_Y_SPAN)
        self._symbols: bool | None = None
        self._set_symbols(True)

    def set_closed_form(self, closed_form: bool) -> None:
        """x is the interpolation t in [0, 1] (a closed-form method) or the optimiser step."""
        self.closed_form = closed_form
        self._fit_x_label()
        if closed_form:  # the whole interpolation is known in advance: the axis is 0..1 from the start
            self._x_range = _GrowingRange(pad=X_PAD, min_span=1.0)
            self._x_range.range = padded(ORIGINAL_X, 1.0, X_PAD, 1.0)
            self.loss_plot.setXRange(*self._x_range.range, padding=0)
        else:
            self._x_range = _GrowingRange(headroom=X_HEADROOM - 1.0, pad=X_PAD, min_span=MIN_X_SPAN)

    def _fit_x_label(self) -> None:
        """The longest x-axis title of :data:`X_LABELS` that fits the axis's width (a narrow plot or
        the presenters' font gets a shorter one; the full one is the axis's tooltip)."""
        axis = self.nc_plot.getAxis("bottom")
        # the title is centred on the axis: room is twice the distance from that centre to the nearer
        # visible edge (the axis may reach past the widget's right edge when the layout is tight)
        box = axis.sceneBoundingRect()
        seen = box.intersected(QRectF(self.glw.viewport().rect())) if self.glw.isVisible() else box
        centre = box.center().x()
        room = 2 * min(centre - seen.left(), seen.right() - centre) if seen.width() > 0 else self.glw.width() - 60
        fm = QFontMetrics(axis.label.font())
        choices = X_LABELS[self.closed_form]
        text = next((t for t in choices if fm.horizontalAdvance(t) + 8 <= room), choices[-1])
        if axis.labelText != text:
            self.nc_plot.setLabel("bottom", text)
        axis.resizeEvent(None)  # pyqtgraph centres the title only on a resize: with the old title's width
        axis.setToolTip(choices[0])

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        QTimer.singleShot(0, self, self._refit_x_label)  # once the plots have their new widths (not after self is gone)

    def _refit_x_label(self) -> None:
        if shiboken6.isValid(self):
            self._fit_x_label()

    def fit(self) -> None:
        """Fit every axis to the data now (a finished run, a replay): no head-room left over."""
        loss_x, loss_y = np.asarray(self._loss_x), np.asarray(self._loss_y)
        x = np.asarray(self._nc_x)
        xb = (ORIGINAL_X, 1.0) if self.closed_form else _bounds(loss_x, x)
        if xb is not None:
            self.loss_plot.setXRange(*padded(*xb, X_PAD, 1.0 if self.closed_form else MIN_X_SPAN), padding=0)
        yb = _bounds(loss_y)
        if yb is not None:
            self.loss_plot.setYRange(*padded(*yb, Y_PAD, MIN_Y_SPAN), padding=0)
        yb = _bounds(np.asarray(self._nc1), np.asarray(self._angle), np.ones(1))
        if yb is not None:
            self.nc_plot.setYRange(*padded(*yb, Y_PAD, MIN_Y_SPAN), padding=0)
        self._place_no_loss_text()

    def x_range(self) -> tuple[float, float]:
        """The shared x range shown (data units)."""
        (x0, x1), _ = self.loss_plot.getViewBox().viewRange()
        return float(x0), float(x1)

    def _place_no_loss_text(self) -> None:
        if self.no_loss_text.isVisible():  # in the middle of whatever the (shared) x range became
            (x0, x1), (y0, y1) = self.loss_plot.getViewBox().viewRange()
            self.no_loss_text.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def set_font_size(self, pt: float) -> None:
        """Ticks, axis labels and titles in ``pt`` points (presenter mode)."""
        for p in (self.loss_plot, self.acc_plot, self.nc_plot):
            style.set_plot_font(p, pt)
        self._fit_x_label()
        for item in (self.no_loss_text,):
            font = item.textItem.font()
            font.setPointSizeF(pt)
            item.setFont(font)

    def _set_symbols(self, on: bool) -> None:
        if on == self._symbols:
            return
        self._symbols = on
        for curve, symbol in ((self.forget_acc_curve, "o"), (self.retain_acc_curve, "s"),
                              (self.nc1_curve, "o"), (self.angle_curve, "t")):
            curve.setSymbol(symbol if on else None)

    def history(self) -> dict[str, list[float]]:
        """The recorded loss curve (to replay a finished run)."""
        return {"x": list(self._loss_x), "y": list(self._loss_y)}

    def set_loss_history(self, h: dict[str, list[float]]) -> None:
        self._loss_x, self._loss_y = list(h.get("x", [])), list(h.get("y", []))

    def add_loss(self, step: int, loss: float) -> None:
        self._loss_x.append(float(step))
        self._loss_y.append(float(loss))

    def clear_nc(self) -> None:
        """Forget the recorded geometry numbers (the x of every frame is about to change)."""
        self._nc_x, self._nc1, self._angle, self._forget_acc, self._retain_acc = [], [], [], [], []

    def add_nc(self, step: float, nc: dict[str, float]) -> None:
        self._nc_x.append(float(step))
        self._nc1.append(float(nc.get("nc1", np.nan)))
        ang, ideal = nc.get("mean_angle_deg", np.nan), nc.get("ideal_angle_deg", np.nan)
        self._angle.append(float(ang / ideal) if ideal and np.isfinite(ideal) else np.nan)
        self._forget_acc.append(float(nc.get("probe_forget_acc", np.nan)))
        self._retain_acc.append(float(nc.get("probe_retain_acc", np.nan)))

    def redraw(self) -> None:
        loss_x, loss_y = np.asarray(self._loss_x), np.asarray(self._loss_y)
        x, nc1, angle = np.asarray(self._nc_x), np.asarray(self._nc1), np.asarray(self._angle)
        self._set_symbols(len(x) <= MAX_SYMBOL_POINTS)
        self.loss_curve.setData(loss_x, loss_y)
        self.no_loss_text.setVisible(not self._loss_x and (self.closed_form or len(self._nc_x) > 1))
        has_loss = bool(self._loss_x)
        if self.loss_plot.getAxis("left").style["showValues"] != has_loss:
            self.loss_plot.getAxis("left").setStyle(showValues=has_loss)  # no numbers on an empty axis
        self.nc1_curve.setData(x, nc1, connect="finite")
        self.angle_curve.setData(x, angle, connect="finite")
        self.forget_acc_curve.setData(x, np.asarray(self._forget_acc), connect="finite")
        self.retain_acc_curve.setData(x, np.asarray(self._retain_acc), connect="finite")
        xr = self._x_range.update(_bounds(loss_x, x))
        if xr is not None:
            self.loss_plot.setXRange(*xr, padding=0)  # the other two are x-linked to it
        yr = self._loss_range.update(_bounds(loss_y))
        if yr is not None:
            self.loss_plot.setYRange(*yr, padding=0)
        yr = self._nc_range.update(_bounds(nc1, angle, np.ones(1)))  # the ideal line (1.0) stays in view
        if yr is not None:
            self.nc_plot.setYRange(*yr, padding=0)
        self._place_no_loss_text()
