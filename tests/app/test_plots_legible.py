"""Plots that explain themselves (issue 16, items 6-9, 11, 17): axes that follow the data, ticks
that never overprint, labels that do not pile up, a selection unlike any class, a Gram with class
labels and a colour scale, a hover tip with the image, a window that fits its screen."""
from __future__ import annotations

import itertools

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from app.plots import style
from app.plots.curves import INTERP_LABEL, ORIGINAL_X, STEP_LABEL
from app.plots.embedding import EmbeddingPlot, repel_labels
from app.plots.geometry_view import GramView
from app.plots.live_view import LiveView
from engine import Geometry

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _frame(stage: str, step: int, t: float, n: int = 60, c: int = 10, forget_acc: float = 1.0,
           job_id: str = "") -> Geometry:
    rng = np.random.default_rng(step)
    labels = np.arange(n) % c
    coords = rng.normal(size=(n, 2)).astype(np.float32) + labels[:, None]
    means = np.stack([coords[labels == k].mean(0) for k in range(c)])
    nc = {"nc1": 0.5 + 0.01 * step, "mean_angle_deg": 90.0, "ideal_angle_deg": 96.4, "gram_distance": 0.1,
          "probe_forget_acc": forget_acc, "probe_retain_acc": 0.95}
    return Geometry(stage, step, t, coords, labels, labels == 3, means, np.eye(c), nc,
                    indices=np.arange(n) * 7, pred=labels.copy(), conf=np.full(n, 0.9, np.float32), job_id=job_id)


def _live(qtbot) -> LiveView:  # noqa: ANN001
    style.configure()
    v = LiveView()
    qtbot.addWidget(v)
    v.resize(1000, 700)
    v.show()
    return v


def test_a_closed_form_method_plots_its_interpolation_0_to_1_with_a_named_axis(qtbot) -> None:  # noqa: ANN001
    v = _live(qtbot)
    frames = [_frame("original", 0, 0.0)] + [_frame("unlearn", i, i / 11, forget_acc=0.0) for i in range(12)]
    v.show_frames(frames, None, "POUR-P — replay")
    x0, x1 = v.curves.x_range()
    assert x0 <= ORIGINAL_X and x1 >= 1.0  # the data, the original included, is in view ...
    assert x1 - x0 < 1.5  # ... and fills it (not -100 .. 100)
    assert v.curves.nc_plot.getAxis("bottom").labelText == INTERP_LABEL
    assert v.curves.no_loss_text.isVisible()
    xs = v.curves.forget_acc_curve.getData()[0]
    assert xs[0] == pytest.approx(ORIGINAL_X) and xs[-1] == pytest.approx(1.0)  # the drop is a step, not a wall


def test_an_optimising_method_plots_steps_and_the_range_follows_the_data(qtbot) -> None:  # noqa: ANN001
    v = _live(qtbot)
    v.begin_job("j", "Fine-tune")
    v.job_id = "j"
    for step in range(0, 301, 25):
        v.add_geometry(_frame("original" if step == 0 else "unlearn", step, float(step), job_id="j"))
        v.curves.add_loss(step, 2.0 - step / 300)
    v.finish(None)
    x0, x1 = v.curves.x_range()
    assert x0 <= 0 and x1 >= 300 and (x1 - x0) < 300 * 1.2
    (_, _), (y0, y1) = v.curves.loss_plot.getViewBox().viewRange()
    assert y0 <= 1.0 and y1 >= 2.0 and (y1 - y0) < 1.0 * 1.3
    assert v.curves.nc_plot.getAxis("bottom").labelText == STEP_LABEL


def _drawn_text_rects(axis: pg.AxisItem) -> list[QRectF]:
    img = QImage(400, 400, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        specs = axis.generateDrawSpecs(p)
    finally:
        p.end()
    return [s[0] for s in specs[2]]


@pytest.mark.parametrize(("lo", "hi", "height"), [(0.49, 0.51, 45), (0.2, 0.8, 40), (0.0, 1.05, 70), (0.5, 1.1, 120)])
def test_tick_labels_never_overprint_however_short_the_axis(qtbot, lo, hi, height) -> None:  # noqa: ANN001
    style.configure()
    w = pg.PlotWidget(axisItems=style.tick_axes("left", "bottom"))
    qtbot.addWidget(w)
    w.resize(300, height + 40)
    w.setYRange(lo, hi, padding=0)
    w.show()
    qtbot.waitExposed(w)
    w.grab()
    rects = _drawn_text_rects(w.getAxis("left"))
    assert rects, "at least one number on the axis"
    for a, b in itertools.combinations(rects, 2):
        assert not a.intersects(b), f"{a} overlaps {b}"


def test_class_labels_at_the_same_spot_are_pushed_apart(qtbot) -> None:  # noqa: ANN001
    style.configure()
    e = EmbeddingPlot()
    qtbot.addWidget(e)
    e.resize(500, 400)
    e.show()
    e.set_classes(CIFAR)
    coords = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32) * 5
    labels = np.arange(200) % 10
    means = np.zeros((10, 2))  # every class mean in one place: the worst pile-up
    means[1] = means[9] = (0.1, 0.1)
    e.set_points(coords, labels, labels == 3, means2d=means)
    rects = e.label_scene_rects()
    assert len(rects) == 10
    for a, b in itertools.combinations(rects, 2):
        assert not a.intersects(b), f"{a} overlaps {b}"


def test_repel_moves_only_labels_that_collide() -> None:
    centres = np.array([[0.0, 0.0], [200.0, 0.0], [5.0, 2.0]])
    sizes = np.array([[40.0, 16.0]] * 3)
    out = repel_labels(centres, sizes)
    assert np.allclose(out[:2], centres[:2])  # free labels stay put
    assert abs(out[2, 1] - out[0, 1]) >= 16 or abs(out[2, 0] - out[0, 0]) >= 40


def test_selection_is_unlike_any_class_and_the_forget_rings_sit_under_the_points(qtbot) -> None:  # noqa: ANN001
    style.configure()
    e = EmbeddingPlot(selectable=True)
    qtbot.addWidget(e)
    e.set_classes([str(i) for i in range(20)])
    class_rgbs = {style.class_colour(c, k).rgb() for k in (10, 20) for c in range(k)}
    for item in (e.selection_item, e.selection_halo):
        assert item.opts["brush"] is None or item.opts["brush"].style() == Qt.BrushStyle.NoBrush  # no fill
        assert QColor(item.opts["pen"].color()).rgb() not in class_rgbs
    assert e.forget_item.zValue() < min(it.zValue() for it in e.class_items)
    assert e.forget_item.opts["pen"].color().alpha() < 255


def test_the_gram_has_class_labels_and_a_colour_bar_from_minus_1_to_1(qtbot) -> None:  # noqa: ANN001
    style.configure()
    g = GramView()
    qtbot.addWidget(g)
    g.resize(480, 300)
    g.show()
    g.set_classes(CIFAR)
    labels = np.arange(100) % 10
    g.set_frame(np.eye(10), labels, labels == 3, {"mean_angle_deg": 90.0, "ideal_angle_deg": 96.4, "gram_distance": 0.1})
    g.grab()
    assert g.colour_range() == pytest.approx((-1.0, 1.0))
    assert g.colour_bar.label == "cosine" and g.colour_bar.isVisible() and g.colour_bar.tick_labels() == ["1", "0", "-1"]
    left = g.plots[0].getAxis("left")
    names = left.tickStrings(left.tickValues(0, 10, 200)[0][1], 1, 1)
    assert names[0] == "airpl." and "bird" in names
    rects = _drawn_text_rects(left)
    assert rects and all(not a.intersects(b) for a, b in itertools.combinations(rects, 2))


def test_hovering_a_point_shows_its_image_index_class_and_prediction(qtbot) -> None:  # noqa: ANN001
    v = _live(qtbot)
    v.set_classes(CIFAR)
    images = np.random.default_rng(0).integers(0, 256, (500, 3, 32, 32), dtype=np.uint8)
    v.set_images(lambda i: images[i] if 0 <= i < len(images) else None)
    v.begin_job("j", "run")
    f = _frame("unlearn", 1, 1.0, job_id="j")
    v.add_geometry(f)
    v.flush()
    e = v.embedding
    row = 13
    scene = e.getViewBox().mapViewToScene(QPointF(*map(float, f.coords[row])))
    e._on_scene_mouse_moved(scene)
    assert e.tip.isVisible()
    assert e.tip.index == int(f.indices[e.point_at(*map(float, f.coords[row]))])
    text = e.tip.text()
    assert f"#{e.tip.index}" in text and "predicted" in text and "90.0 %" in text
    assert e.tip.image_label.pixmap().width() >= 100  # the image, scaled up
    e._on_scene_mouse_moved(e.getViewBox().mapViewToScene(QPointF(1e6, 1e6)))
    assert not e.tip.isVisible()


def test_presenter_fonts_reach_the_plots(qtbot) -> None:  # noqa: ANN001
    v = _live(qtbot)
    v.set_large(True, font_pt=13)
    for p in (v.curves.loss_plot, v.bars.plot.getPlotItem(), v.gram.plots[0]):
        assert p.getAxis("left").style["tickFont"].pointSizeF() == 13


def test_the_window_fits_the_screen_it_opens_on(qtbot, controller) -> None:  # noqa: ANN001
    from app.main_window import MainWindow

    style.configure()
    w = MainWindow(controller=controller, autoload=False)
    w.show_dialogs = False
    qtbot.addWidget(w)
    w.show()
    avail = w.screen().availableGeometry()
    smallest = w.minimumSizeHint()
    assert smallest.width() <= 1280 - 20 and smallest.height() <= 800 - 80  # a 1280 x 800 laptop with a task bar
    w.fit_to_screen(avail.width() + 320, avail.height() + 80)  # asks for more than the screen has
    assert w.width() <= max(avail.width(), smallest.width()) and w.height() <= max(avail.height(), smallest.height())
    assert avail.contains(w.frameGeometry().topLeft())
    assert w.method_pane.method_list.horizontalScrollBarPolicy().name == "ScrollBarAlwaysOff"


def test_long_class_names_under_the_bars_are_cut_not_overprinted(qtbot) -> None:  # noqa: ANN001
    from app.plots.bars import PerClassBars

    style.configure()
    b = PerClassBars()
    qtbot.addWidget(b)
    b.resize(420, 160)
    b.show()
    qtbot.waitExposed(b)
    b.set_series(CIFAR, [("original", "#888888", [0.5] * 10)])
    b.resize(420, 161)  # a resize re-fits the names
    qtbot.wait(20)
    b.grab()
    rects = _drawn_text_rects(b.plot.getAxis("bottom"))
    assert rects
    for r1, r2 in itertools.combinations(rects, 2):
        assert not r1.intersects(r2)


def test_the_bars_title_puts_its_key_on_a_second_line_when_the_plot_is_narrow(qtbot) -> None:  # noqa: ANN001
    from app.plots.bars import PerClassBars

    style.configure()
    b = PerClassBars()
    qtbot.addWidget(b)
    b.resize(1200, 300)
    b.show()
    qtbot.waitExposed(b)
    series = [("original", "#888", [0.9] * 10), ("retrain", "#3a3", [0.8] * 10), ("POUR-D (run 2)", "#36c", [0.7] * 10)]
    b.set_series(CIFAR, series)
    assert not b.title_wrapped and "<br>" not in b.plot.plotItem.titleLabel.text
    b.resize(330, 300)  # the centre of a 1280 px window in presenter mode
    qtbot.waitUntil(lambda: b.title_wrapped)
    assert "<br>" in b.plot.plotItem.titleLabel.text and "POUR-D (run 2)" in b.plot.plotItem.titleLabel.text
