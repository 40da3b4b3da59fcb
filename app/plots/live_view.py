"""LiveView: what happens to the model while a job runs, and a replay of it afterwards.

Geometry frames are recorded per job; the newest is drawn at most every 100 ms (stale frames are
dropped, never queued). A scrub slider replays the recorded frames (original -> final).

GUI cost per tick is kept small: the embedding and Gram images are redrawn on one timer tick and
the curves ``CURVES_LAG_MS`` later, so the two repaints never add up to one long stall; and
:meth:`LiveView.warm_up` pays the one-off first paint (axis text, colour maps, symbol atlases) when
the view is built, not on the first frame of the first run.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.plots import style
from app.plots.bars import PerClassBars
from app.plots.curves import ORIGINAL_X, CurvesPlot
from app.plots.embedding import EmbeddingPlot
from app.plots.geometry_view import GramView
from app.plots.throttle import Throttle
from engine import Geometry, Metrics

def is_interpolation(ev: Geometry) -> bool:
    """A frame of a closed-form method's interpolation (POUR-P): an unlearning frame whose t is
    not its step (t runs 0..1 over the frames while the step counts them)."""
    return ev.stage == "unlearn" and abs(float(ev.t) - float(ev.step)) > 1e-9


CURVES_LAG_MS = 40  # the curves repaint this long after the embedding (two short GUI stalls, not one)


class LiveView(QWidget):
    """Embedding + class-mean geometry + curves + per-class bars + scrub slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.embedding = EmbeddingPlot()
        self.embedding.setObjectName("liveEmbedding")
        self.embedding.setMinimumWidth(300)
        self.embedding.setMinimumHeight(260)
        self.gram = GramView()
        self.curves = CurvesPlot()
        self.bars = PerClassBars()
        self.title = QLabel("Live view — pick a forget set and press Run")
        self.title.setObjectName("liveTitle")
        self.frame_label = QLabel("")
        self.frame_label.setMinimumWidth(60)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("scrubSlider")
        self.slider.setEnabled(False)
        self.slider.setToolTip("Replay the recorded geometry frames (original → final)")
        self.ghost_box = QCheckBox("retrained positions (ghosts)")
        self.ghost_box.setChecked(True)
        self.ghost_box.setToolTip("Faint diamonds: where the model retrained without the forget set puts each probe image")

        # Two columns: the embedding over the per-class bars | the Gram over the curves. Each column
        # has the live view's full height, so neither pair squeezes the other when the window is short.
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.embedding)
        left.addWidget(self.bars)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.gram)
        right.addWidget(self.curves)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(right)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        for sp in (left, right, main):
            sp.setChildrenCollapsible(False)  # a dragged splitter stops at a plot's minimum size
        left.setSizes([520, 180])
        right.setSizes([280, 420])
        main.setSizes([540, 480])
        self.bars.setMinimumHeight(110)
        scrub = QHBoxLayout()
        scrub.addWidget(QLabel("replay:"))
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.frame_label)
        scrub.addWidget(self.ghost_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.title)
        lay.addWidget(main, 1)
        lay.addLayout(scrub)

        self.frames: list[Geometry] = []
        self.ghost: Geometry | None = None
        self.job_id: str | None = None
        self.class_names: list[str] = []
        self._shown: int = -1
        self._follow = True
        self._throttle = Throttle(self._redraw, 100, self)
        self._curves_timer = QTimer(self)
        self._curves_timer.setSingleShot(True)
        self._curves_timer.setInterval(CURVES_LAG_MS)
        self._curves_timer.timeout.connect(self._redraw_curves)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.ghost_box.toggled.connect(self._on_ghost_box_toggled)
        self.redraws = 0  # counted for tests and the bench
        self.warm_up()

    def warm_up(self) -> None:
        """Draw every plot once, offscreen, with stand-in data, then clear them: the first paint's
        one-off costs (glyphs of the axis text, colour map tables, symbol atlases) are paid now."""
        c = 10
        labels = np.arange(c)
        nc = {"nc1": 0.5, "mean_angle_deg": 90.0, "ideal_angle_deg": 96.4, "gram_distance": 0.1,
              "probe_forget_acc": 0.5, "probe_retain_acc": 0.9}
        for step in (0, 1):
            self.curves.add_loss(step, 1.0 - 0.5 * step)
            self.curves.add_nc(step, nc)
        self.curves.redraw()
        self.gram.set_frame(np.eye(c), labels, labels == 0, nc)
        self.embedding.prime()
        self.grab()
        self.curves.clear()
        self.gram.clear()

    # ------------------------------------------------------------------ inputs
    def set_classes(self, names: Sequence[str]) -> None:
        self.class_names = list(names)
        self.embedding.set_classes(self.class_names)
        self.gram.set_classes(self.class_names)

    def begin_job(self, job_id: str, title: str) -> None:
        """A new run: clear curves and frames; axes refit on its first frame."""
        self.job_id = job_id
        self.frames = []
        self.ghost = None
        self._shown = -1
        self._follow = True
        self.curves.clear()
        self.embedding.set_ghosts(None, None)
        self.embedding.reset_range()
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(False)
        self.title.setText(title)

    def clear(self, title: str, bars_note: str = "no run shown") -> None:
        """The explicit empty state: no frames, points, rings, Gram, curves or bars; ``title`` says why."""
        self.begin_job("", title)
        self.job_id = None
        self._throttle.cancel()
        self._curves_timer.stop()
        self.embedding.clear_points()
        self.gram.clear()
        self.bars.clear(bars_note)
        self.frame_label.setText("")

    @Slot(object)
    def add_geometry(self, ev: Geometry) -> None:
        if ev.job_id != self.job_id:
            return
        if ev.stage == "retrain":
            self.ghost = ev
            self._draw_ghosts()
            return
        self.frames.append(ev)
        if not self.curves.closed_form and is_interpolation(ev):
            self.curves.set_closed_form(True)  # x becomes t; frames already drawn move to their t
            self.curves.clear_nc()
            for f in self.frames[:-1]:
                self.curves.add_nc(self._x_of(f), f.nc)
        self.curves.add_nc(self._x_of(ev), ev.nc)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.frames) - 1)
        if self._follow:
            self.slider.setValue(len(self.frames) - 1)
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(self.frames) > 1)
        self._throttle.request()

    def _x_of(self, ev: Geometry) -> float:
        """The frame's x: its interpolation t for a closed-form method (0..1; the original just left
        of 0, so that the instant drop of the masked outputs reads as a step), else its step."""
        if not self.curves.closed_form:
            return float(ev.step)
        return ORIGINAL_X if ev.stage == "original" else float(ev.t)

    @Slot(object)
    def add_metrics(self, ev: Metrics) -> None:
        if ev.job_id != self.job_id or ev.stage != "unlearn" or "loss" not in ev.values:
            return
        self.curves.add_loss(ev.step, ev.values["loss"])
        self._throttle.request()

    def finish(self, record: Any | None) -> None:
        """The job ended: draw the last frame now, show the per-class bars."""
        self.flush()
        self.curves.fit()
        if record is not None:
            self.bars.show_record(record, self.class_names)

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        self.redraws += 1
        if not self._curves_timer.isActive():
            self._curves_timer.start()
        if not self.frames:
            return
        i = self.slider.value() if not self._follow else len(self.frames) - 1
        self._show_frame(min(max(i, 0), len(self.frames) - 1))

    @Slot()
    def _redraw_curves(self) -> None:
        self._curves_timer.stop()
        self.curves.redraw()

    def flush(self) -> None:
        """Draw everything pending now (a job ended, a replay was loaded)."""
        self._throttle.flush()
        if self._curves_timer.isActive():
            self._redraw_curves()

    def _show_frame(self, i: int) -> None:
        ev = self.frames[i]
        if len(self.class_names) != ev.gram.shape[0]:
            self.set_classes([str(c) for c in range(ev.gram.shape[0])])
        self.embedding.set_points(ev.coords, ev.labels, ev.is_forget, ids=ev.indices, means2d=ev.means2d,
                                  pred=ev.pred, conf=ev.conf)
        self.gram.set_frame(ev.gram, ev.labels, ev.is_forget, ev.nc)
        self._shown = i
        if ev.stage == "original":
            what = "original"
        elif self.curves.closed_form and ev.stage == "unlearn":  # no optimiser steps: the curves' x is t
            what = f"interpolation t = {float(ev.t):.2f}"
        else:
            what = f"{ev.stage} step {ev.step}"
        self.frame_label.setText(f"frame {i + 1}/{len(self.frames)} · {what}")

    def _draw_ghosts(self) -> None:
        if self.ghost is not None and self.ghost_box.isChecked():
            self.embedding.set_ghosts(self.ghost.coords, self.ghost.labels)
        else:
            self.embedding.set_ghosts(None, None)

    @Slot(int)
    def _on_slider_value_changed(self, value: int) -> None:
        self._follow = value >= len(self.frames) - 1
        if 0 <= value < len(self.frames):
            self._show_frame(value)

    @Slot(bool)
    def _on_ghost_box_toggled(self, _on: bool) -> None:
        self._draw_ghosts()

    def show_frames(self, frames: list[Geometry], ghost: Geometry | None, title: str,
                    loss: dict[str, list[float]] | None = None) -> None:
        """Show a finished run's recorded frames (selecting a row in the runs table)."""
        self.begin_job(frames[0].job_id if frames else "", title)
        if loss:
            self.curves.set_loss_history(loss)
        for f in frames:
            self.add_geometry(f)
        if ghost is not None:
            self.add_geometry(ghost)
        self.flush()
        self.curves.fit()

    def set_images(self, source: Any, invert_gray: bool = False) -> None:
        """Where the hover tip finds a training image: ``source(index) -> (C, H, W) uint8`` or None."""
        self.embedding.image_source = source
        self.embedding.invert_gray = invert_gray

    def set_large(self, large: bool, font_pt: float | None = None) -> None:
        """Presenter mode: bigger points and titles; every plot's ticks, labels and titles in
        ``font_pt`` points (default: 13 when large, else the normal plot font)."""
        self.embedding.point_size = 9.0 if large else 6.0
        for item in self.embedding.class_items:
            item.setSize(self.embedding.point_size)
        self.title.setStyleSheet("font-size: 17pt;" if large else "")
        pt = font_pt if font_pt is not None else (13.0 if large else float(style.PLOT_FONT_PT))
        self.curves.set_font_size(pt)
        self.gram.set_font_size(pt)
        self.bars.set_font_size(pt)
        self.embedding.set_font_size(pt)
