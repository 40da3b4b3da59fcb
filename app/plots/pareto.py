"""ParetoPlot: a sweep's trials as dots, forgetting gap against utility gap, the best trade-offs joined.

One dot per complete trial (:class:`engine.TrialDone`): x = the **forgetting gap** (|forget accuracy
gap| + |MIA gap| to the retrained model), y = the **utility gap** (|retain accuracy gap| + |test
accuracy gap| to the retrained model), both in percentage points (the engine's 0–1 units × 100);
the dot's area grows with the trial's **cost** (forward-backward passes over the training set).
Orange dots are the sweep's Pareto front (no other trial is at least as good on both gaps and on
cost, and better on one); the orange line joins the dots that are best on the two gaps alone
(the lower-left staircase); a star marks the trial closest to the retrained model overall.
Hover: the trial's hyperparameters; click: ``sig_trial_clicked(number)``.

Trials are kept by their Optuna trial **number**: a TrialDone's ``index`` is its place in the
sweep's trials sorted by number *so far*, which shifts when trials end out of order (two workers),
so the Pareto indices are mapped to numbers through the trials received (all of them, in a fresh
sweep folder).
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

FRONT_COLOUR = "#f28e2b"
OTHER_COLOUR = "#8a9bb0"
SELECTED_COLOUR = "#e15759"
MIN_SIZE, MAX_SIZE = 9.0, 26.0
EXPLANATION = ("Each dot is one trial (one setting of the method's hyperparameters). <b>Lower-left is better:</b> "
               "closer to the retrained model, the gold standard. Left = forgets as retraining does; down = keeps "
               f"accuracy as retraining does. Bigger dots cost more compute. <span style='color:{FRONT_COLOUR}'>●</span> orange: "
               "the best trade-offs (no trial beats them on both gaps and cost); ★ the closest overall. Hover a dot "
               "for its settings, click it to open its run.")


def staircase(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the 2-D non-dominated points (both axes minimised), ordered by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    out: list[int] = []
    best_y = math.inf
    for i in order:
        if points[i][1] < best_y:
            out.append(i)
            best_y = points[i][1]
    return out


def params_text(params: Mapping[str, Any]) -> str:
    """``lr = 0.0123, epochs = 3`` (floats with 3 significant digits)."""
    return ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}" for k, v in params.items())


class ParetoPlot(QWidget):
    """The live plot of a sweep; feed it with :meth:`add_trial` (or :meth:`set_trials`)."""

    sig_trial_clicked = Signal(int)  # trial number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("paretoPlot")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "forgetting gap to the retrained model (% points: forget accuracy + MIA)")
        self.plot.setLabel("left", "utility gap (% points: retain + test acc.)")
        self.plot.setTitle("sweep: no trial yet")
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip, hoverPen=pg.mkPen("#111111", width=2))
        self.front_line = pg.PlotDataItem(pen=pg.mkPen(FRONT_COLOUR, width=2))
        self.best_marker = pg.ScatterPlotItem(symbol="star", size=22, brush=pg.mkBrush("#ffd166"),
                                              pen=pg.mkPen("#7a4b00", width=1.5))
        self.plot.addItem(self.front_line)
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.best_marker)
        self.scatter.sigClicked.connect(self._on_scatter_clicked)
        self.explanation = QLabel(EXPLANATION)
        self.explanation.setObjectName("paretoExplanation")
        self.explanation.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.explanation)
        lay.addWidget(self.plot, 1)
        self.trials: dict[int, dict[str, Any]] = {}  # trial number -> sweep.json trial entry
        self.pareto: list[int] = []  # trial numbers
        self.selected: int | None = None
        self.total = 0
        self.shown: list[int] = []  # trial numbers in the scatter's point order
        self.front_shown: list[int] = []  # numbers joined by the line, by x

    # ------------------------------------------------------------------ data
    def clear(self, title: str = "sweep: no trial yet") -> None:
        self.trials, self.pareto, self.selected, self.total = {}, [], None, 0
        self._redraw()
        self.plot.setTitle(html.escape(title))

    def add_trial(self, ev: Any) -> None:
        """A :class:`engine.TrialDone`: add (or replace) its trial and take its Pareto front."""
        self.trials[int(ev.trial.get("number", ev.index))] = dict(ev.trial)
        numbers = sorted(self.trials)  # the order of the sweep's trials at this event
        self.pareto = [numbers[i] for i in ev.pareto if 0 <= i < len(numbers)]
        self.total = int(ev.total)
        self._redraw()

    def set_trials(self, trials: Sequence[Mapping[str, Any]], pareto: Sequence[int], total: int | None = None) -> None:
        """Every trial at once (a sweep.json's ``trials`` and ``pareto``)."""
        self.trials = {int(t.get("number", i)): dict(t) for i, t in enumerate(trials)}
        numbers = [int(t.get("number", i)) for i, t in enumerate(trials)]
        self.pareto = [numbers[i] for i in pareto]
        self.total = len(trials) if total is None else total
        self._redraw()

    def select(self, number: int | None) -> None:
        self.selected = number
        self._redraw()

    def best_index(self) -> int | None:
        """The complete trial with the lowest distance to the retrained model (None: none complete)."""
        done = [i for i in self.complete() if _finite(self.trials[i]["metrics"].get("distance"))]
        return min(done, key=lambda i: self.trials[i]["metrics"]["distance"]) if done else None

    def complete(self) -> list[int]:
        return sorted(i for i, t in self.trials.items() if t.get("state") == "complete"
                      and all(_finite(t.get("metrics", {}).get(k)) for k in ("forgetting_gap", "utility_gap")))

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        shown = self.complete()
        self.shown = shown
        xs = [100 * self.trials[i]["metrics"]["forgetting_gap"] for i in shown]
        ys = [100 * self.trials[i]["metrics"]["utility_gap"] for i in shown]
        costs = [self.trials[i]["metrics"].get("cost") for i in shown]
        sizes = _sizes(costs)
        front = set(self.pareto)
        spots = []
        for k, i in enumerate(shown):
            colour = FRONT_COLOUR if i in front else OTHER_COLOUR
            pen = pg.mkPen(SELECTED_COLOUR, width=3) if i == self.selected else pg.mkPen("#ffffff", width=1)
            spots.append({"pos": (xs[k], ys[k]), "size": sizes[k], "brush": pg.mkBrush(colour), "pen": pen, "data": i})
        self.scatter.setData(spots)
        stairs = staircase(list(zip(xs, ys, strict=True)))
        self.front_shown = [shown[k] for k in stairs]
        self.front_line.setData([xs[k] for k in stairs], [ys[k] for k in stairs])
        best = self.best_index()
        if best is not None and best in shown:
            k = shown.index(best)
            self.best_marker.setData([xs[k]], [ys[k]], data=[best])
        else:
            self.best_marker.setData([], [])
        failed = sum(1 for t in self.trials.values() if t.get("state") != "complete")
        title = f"sweep: {len(self.trials)}" + (f" of {self.total}" if self.total else "") + " trials"
        if failed:
            title += f", {failed} failed (not drawn)"
        title += f" · {len(front & set(shown))} on the front"
        self.plot.setTitle(title)

    def _tip(self, x: float, y: float, data: Any) -> str:
        t = self.trials.get(int(data), {})
        m = t.get("metrics", {})
        cost = m.get("cost")
        lines = [f"trial {t.get('number', data)}" + (" (best trade-off)" if int(data) in self.pareto else ""),
                 params_text(t.get("params", {})),
                 f"forgetting gap {x:.1f} pp, utility gap {y:.1f} pp",
                 f"cost {cost:.3g} passes over the training set" if _finite(cost) else "cost: not measured"]
        secs = t.get("seconds", {}).get("wall")
        if _finite(secs):
            lines.append(f"{secs:.1f} s")
        return "\n".join(lines)

    def _on_scatter_clicked(self, _item: Any, points: Any, *_ev: Any) -> None:
        if points is None or len(points) == 0:
            return
        number = int(points[0].data())
        self.select(number)
        self.sig_trial_clicked.emit(number)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _sizes(costs: Sequence[Any]) -> list[float]:
    """Marker diameters from costs: area proportional to cost between MIN_SIZE and MAX_SIZE."""
    vals = np.array([float(c) if _finite(c) else np.nan for c in costs], dtype=float)
    if not len(vals) or np.all(np.isnan(vals)):
        return [MIN_SIZE + 4] * len(vals)
    lo, hi = np.nanmin(vals), np.nanmax(vals)
    frac = np.zeros_like(vals) if hi <= lo else (vals - lo) / (hi - lo)
    frac = np.nan_to_num(frac, nan=0.5)
    return [float(math.sqrt(MIN_SIZE ** 2 + f * (MAX_SIZE ** 2 - MIN_SIZE ** 2))) for f in frac]
