"""PerClassBars: per-class accuracy of the original, the retrained reference and the current model.

A multi-seed run (a sweep trial over several seeds: its accuracies are means) is drawn with error
bars of ± one standard deviation over the seeds, and the key says so."""
from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.plots import style
from engine import RunRecord

ERROR_BAR_COLOUR = "#303841"  # dark: readable on every run colour and on the grey Original / green Retrain


TITLE = "per-class test accuracy"
MIN_LABEL_PT = 7.5  # class labels may shrink to this size to show names rather than numbers


class PerClassBars(QWidget):
    """Grouped bars, one group per class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(title=TITLE, axisItems=style.tick_axes("left"))
        self._title = ("", "")
        self._title_set = ("", "")
        self.title_wrapped = False
        self._title_size = f"{style.PLOT_FONT_PT + 1}pt"
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1.05, padding=0)
        self.plot.setMouseEnabled(False, False)
        self.plot.showGrid(y=True, alpha=0.2)
        self.items: list[pg.BarGraphItem] = []
        self.forget_classes: list[int] = []
        self.tick_kind = ""  # "full", "short" or "number": what the class labels are
        self._tick_font = QFont()
        self._tick_font.setPointSizeF(style.PLOT_FONT_PT)
        self.error_items: list[pg.ErrorBarItem] = []
        # the first / last class name may reach a little past the axis ends (into the margin)
        self.plot.getAxis("bottom").setStyle(hideOverlappingLabels=24)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def set_series(self, names: Sequence[str], series: list[tuple[str, str, Sequence[float]]],
                   errors: dict[int, Sequence[float]] | None = None, forget: Sequence[str] = ()) -> None:
        """``series``: (label, colour, per-class accuracies) tuples, drawn side by side. ``errors``:
        {series index: per-class standard deviations} drawn as ± error bars on that series' bars
        (a multi-seed run; aligned with its accuracies, NaN or missing classes get none).
        ``forget``: names of the forgotten classes (always labelled)."""
        for it in self.items + self.error_items:
            self.plot.removeItem(it)
        self.items = []
        self.error_items = []
        errors = errors or {}
        k = max(1, len(series))
        width = 0.8 / k
        x = np.arange(len(names), dtype=float)
        for j, (_label, colour, values) in enumerate(series):
            v = np.nan_to_num(np.asarray(values, dtype=float)[: len(names)], nan=0.0)
            item = pg.BarGraphItem(x=x[: len(v)] - 0.4 + width * (j + 0.5), height=v, width=width * 0.95,
                                   brush=pg.mkBrush(colour), pen=None)
            self.plot.addItem(item)
            self.items.append(item)
            std = np.asarray(errors.get(j, ()), dtype=float)[: len(v)]
            if std.size:
                std = np.nan_to_num(std, nan=0.0)
                bars = pg.ErrorBarItem(x=x[: len(std)] - 0.4 + width * (j + 0.5), y=v[: len(std)], top=std,
                                       bottom=std, beam=width * 0.4, pen=pg.mkPen(ERROR_BAR_COLOUR, width=1.5))
                self.plot.addItem(bars)
                self.error_items.append(bars)
        key = " ".join(f"<span style='color:{c}'>■</span> {html.escape(lab)}"
                       + (" (mean ± std over seeds)" if j in errors and len(errors[j]) else "")
                       for j, (lab, c, _) in enumerate(series))
        plain = " ".join(f"■ {lab}" + (" (mean ± std over seeds)" if j in errors and len(errors[j]) else "")
                         for j, (lab, _, _) in enumerate(series))
        self._set_title(key, plain)
        self._names = [str(n) for n in names]
        self.forget_classes = [self._names.index(c) for c in forget if c in self._names] if forget else []
        self._tick_names()
        self.plot.setXRange(-0.6, len(names) - 0.4, padding=0)

    def _tick_names(self) -> None:
        """A label under every class: the full names when they fit the plot's width, else the
        same abbreviation for every class ("lymph."), else class numbers (:func:`style.class_tick_labels`),
        the full names in the axis tooltip. Only when not even numbers fit (dozens of classes) are
        the labels thinned to every k-th class, the forgotten classes always kept."""
        names = getattr(self, "_names", [])
        axis = self.plot.getAxis("bottom")
        if not names:
            axis.setTicks([[]])
            axis.setToolTip("")
            self.tick_kind = ""
            return
        width = self.plot.getPlotItem().getViewBox().width()
        if not self.isVisible() or width < 50:  # not laid out yet: every name; the first resize fits them
            axis.setTicks([[(i, n) for i, n in enumerate(names)]])
            return
        per_class = width / len(names)
        font = QFont(self._tick_font)
        # the Gram's short names ("lymph."), in a smaller font down to MIN_LABEL_PT if need be; then
        # shorter cuts ("lym."); then numbers
        for shortest in (style.SHORT_NAME_CHARS, 4):
            font = QFont(self._tick_font)
            while True:
                fm = QFontMetrics(font)
                pad = fm.horizontalAdvance("  ")
                labels, self.tick_kind = style.class_tick_labels(names, per_class - pad, fm, shortest=shortest)
                if self.tick_kind != "number" or font.pointSizeF() <= MIN_LABEL_PT:
                    break
                font.setPointSizeF(max(MIN_LABEL_PT, font.pointSizeF() - 0.5))
            if self.tick_kind != "number":
                break
        if self.tick_kind == "number":  # numbers read best in the plot's own font
            font = QFont(self._tick_font)
            fm = QFontMetrics(font)
            pad = fm.horizontalAdvance("  ")
        if axis.style.get("tickFont") is None or axis.style["tickFont"].pointSizeF() != font.pointSizeF():
            axis.setStyle(tickFont=font)
        widest = max(fm.horizontalAdvance(t) for t in labels)
        step = 1
        while step < len(names) and widest > step * per_class - pad:
            step += 1
        shown = set(range(0, len(names), step))
        for f in self.forget_classes:  # the forgotten class is the one a reader looks for
            if 0 <= f < len(names):
                shown -= set(range(f - step + 1, f + step))
                shown.add(f)
        axis.setTicks([[(i, labels[i]) for i in sorted(shown)]])
        axis.setToolTip("" if self.tick_kind == "full" else "classes:\n" + style.class_key(names, labels))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._tick_names()
        QTimer.singleShot(0, self._refit_title)  # not inside the resize: setTitle re-lays the plot out

    def _refit_title(self) -> None:
        if shiboken6.isValid(self):
            self._set_title(*self._title)

    def show_record(self, record: RunRecord, names: Sequence[str], colour: str = style.CURRENT_COLOUR,
                    per_class_std: Sequence[float] | None = None) -> None:
        """Original, Retrain and ``record`` per class; ``names`` must be the run's own class names.
        ``per_class_std``: the run's standard deviations over seeds (error bars; none for one seed)."""
        series: list[tuple[str, str, Sequence[float]]] = []
        orig = record.reference("original")
        retrain = record.reference("retrain")
        if orig is not None and orig.per_class_acc:
            series.append(("original", style.ORIGINAL_COLOUR, orig.per_class_acc))
        if retrain is not None and retrain.per_class_acc:
            series.append(("retrain", style.RETRAIN_COLOUR, retrain.per_class_acc))
        series.append((record.label or record.method, colour, record.per_class_acc))
        errors = {len(series) - 1: list(per_class_std)} if per_class_std else None
        self.set_series(names, series, errors, forget=[str(c) for c in (record.forget or {}).get("classes", [])])

    def clear(self, note: str = "no run shown") -> None:
        """No bars, no legend: the title says why (``note``, e.g. "running…")."""
        self.set_series([], [])
        self._set_title(f"<i>{html.escape(note)}</i>", note)

    def _set_title(self, key_html: str, key_plain: str) -> None:
        """"per-class test accuracy" and the key on one line when it fits the plot's width, else
        the key on a second line (a 1280 px window, the presenters' large font)."""
        self._title = (key_html, key_plain)
        font = QFont(self.plot.getPlotItem().titleLabel.item.font())
        font.setPointSizeF(float(self._title_size.removesuffix("pt")))
        one_line = QFontMetrics(font).horizontalAdvance(f"{TITLE}    {key_plain}")
        width = self.plot.width()
        fits = not self.isVisible() or width < 50 or one_line + 16 <= width
        sep = " &nbsp; " if fits else "<br>"
        text = f"{TITLE}{sep}{key_html}" if key_html else TITLE
        self.title_wrapped = not fits
        if (text, self._title_size) != self._title_set:  # a resize that changes nothing sets nothing
            self._title_set = (text, self._title_size)
            self.plot.setTitle(text, size=self._title_size)
            self._title_may_clip()
        self._fit_title_row()

    def _fit_title_row(self) -> None:
        """The title row as tall as its text (pyqtgraph fixes it at 30 px: a two-line or presenter-size
        title was cut at the top and ran into the bars)."""
        pi = self.plot.getPlotItem()
        h = int(np.ceil(pi.titleLabel.item.boundingRect().height())) + 2
        if pi.titleLabel.maximumHeight() != h:
            pi.titleLabel.setMaximumHeight(h)
            pi.layout.setRowFixedHeight(0, h)

    def _title_may_clip(self) -> None:
        """A long title (key of three runs) is cut at the plot's edge, never widens the plot beyond
        its widget (which would cut off the last classes' bars instead)."""
        self.plot.getPlotItem().titleLabel.setMinimumWidth(0)

    def set_font_size(self, pt: float) -> None:
        """Ticks and the title in ``pt`` points (presenter mode)."""
        self._title_size = f"{pt + 1:g}pt"
        self._tick_font = QFont()
        self._tick_font.setPointSizeF(pt)
        style.set_plot_font(self.plot.getPlotItem(), pt)
        self._tick_names()
