"""Live plots stay cheap during a job: no per-point set-up mid-run, axes that rarely change."""
from __future__ import annotations

import itertools

import numpy as np
import pyqtgraph as pg

from app.plots import style
from app.plots.curves import CurvesPlot, _GrowingRange
from app.plots.embedding import EmbeddingPlot, move_points, prime_item


def test_move_points_to_a_new_count_matches_set_data_without_calling_it(qtbot, monkeypatch) -> None:  # noqa: ANN001
    style.configure()
    a = pg.ScatterPlotItem(size=6, pen=None, brush=style.class_brush(2, 10, 210))
    b = pg.ScatterPlotItem(size=6, pen=None, brush=style.class_brush(2, 10, 210))
    prime_item(a)
    assert len(a.data) == 0
    calls: list[int] = []
    monkeypatch.setattr(a, "setData", lambda *args, **kw: calls.append(1))
    rng = np.random.default_rng(0)
    for n in (5, 300, 40):
        x, y = rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)
        move_points(a, x, y)
        b.setData(x=x, y=y)
        np.testing.assert_array_equal(a.data["x"], b.data["x"])
        np.testing.assert_array_equal(a.data["y"], b.data["y"])
        # every point carries the item's symbol in the atlas, as setData's own lookup gives
        sa = a.data["sourceRect"]
        assert len(sa) == n and np.all(sa == sa[0]) and sa[0]["w"] > 0
        assert (a.data["size"] == b.data["size"]).all() and a.data["visible"].all()
    assert calls == [], "setData was called for a primed item"


def test_an_empty_item_after_a_style_change_looks_its_symbol_up_again(qtbot) -> None:  # noqa: ANN001
    item = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush("#4e79a7"))
    prime_item(item)
    old = item._lethe_proto["sourceRect"][0].copy()
    item.setSize(14)
    move_points(item, np.zeros(3, np.float32), np.ones(3, np.float32))
    assert item.data["sourceRect"][0]["w"] > old["w"]  # a bigger symbol, not the stale one


def test_frames_with_equal_labels_in_new_arrays_reuse_the_class_rows(qtbot) -> None:  # noqa: ANN001
    style.configure()
    plot = EmbeddingPlot()
    qtbot.addWidget(plot)
    plot.set_classes([str(c) for c in range(4)])
    labels = np.arange(40) % 4
    coords = np.zeros((40, 2), np.float32)
    plot.set_points(coords, labels)
    rows = plot._class_rows
    plot.set_points(coords + 1, labels.copy())  # a new array, as each frame from the job process is
    assert plot._class_rows is rows
    plot.set_points(coords, (labels + 1) % 4)
    assert plot._class_rows is not rows
    assert len(plot.class_items[1].data) == 10


def test_a_growing_range_jumps_rarely_and_only_outwards() -> None:
    r = _GrowingRange(headroom=0.5)
    changes = [r.update((0.0, float(i))) for i in range(1, 1001)]
    ranges = [c for c in changes if c is not None]
    assert 5 <= len(ranges) <= 25, len(ranges)  # log-many, not 1000
    assert all(b[1] > a[1] for a, b in itertools.pairwise(ranges))
    assert r.update((0.0, 10.0)) is None  # shrinking data keeps the range


def test_curves_keep_their_axes_while_a_run_streams(qtbot) -> None:  # noqa: ANN001
    style.configure()
    curves = CurvesPlot()
    qtbot.addWidget(curves)
    changes: list[object] = []
    curves.loss_plot.getViewBox().sigXRangeChanged.connect(lambda *_: changes.append(1))
    for step in range(400):
        curves.add_loss(step, 1.0 / (1 + step))
        if step % 4 == 0:
            curves.add_nc(step, {"nc1": 0.5, "mean_angle_deg": 80.0, "ideal_angle_deg": 90.0})
        curves.redraw()
    assert len(changes) <= 20, len(changes)
    lo, hi = curves.loss_plot.getViewBox().viewRange()[0]
    assert lo <= 0 and hi >= 399
    assert curves.nc1_curve.opts["symbol"] is None  # 100 frames: the line alone
    curves.clear()
    assert curves.nc1_curve.opts["symbol"] == "o"
