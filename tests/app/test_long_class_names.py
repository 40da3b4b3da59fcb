"""Many and long class names (issue 16, a PathMNIST-like dataset: nine classes such as "colorectal
adenocarcinoma epithelium"): every class gets a readable label in the per-class bars and on both
axes of both Gram maps (the same short names, the full names in the tooltip), the forgotten class
always; no two labels overlap and none leaves its view; the embedding's class labels stay inside
the view; the curves' x-axis title fits its axis."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication

from app.plots import style
from app.plots.bars import PerClassBars
from app.plots.curves import INTERP_LABEL, X_LABELS
from app.plots.embedding import EmbeddingPlot, keep_inside, repel_labels
from app.plots.geometry_view import GramView

PATH = ["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
        "cancer-associated stroma", "colorectal adenocarcinoma epithelium"]
FORGET = 3  # lymphocytes


def _settle(qtbot, w) -> None:  # noqa: ANN001
    for _ in range(3):
        qtbot.wait(10)
        QApplication.processEvents()
    w.grab()


def _bars(qtbot, size: tuple[int, int], pt: float | None = None) -> PerClassBars:  # noqa: ANN001
    style.configure()
    b = PerClassBars()
    qtbot.addWidget(b)
    b.resize(*size)
    b.show()
    qtbot.waitExposed(b)
    if pt is not None:
        b.set_font_size(pt)
    series = [("original", style.ORIGINAL_COLOUR, [0.9] * 9), ("retrain", style.RETRAIN_COLOUR, [0.8] * 9),
              ("POUR-D (run 2)", "#4e79a7", [0.7] * 9)]
    b.set_series(PATH, series, forget=[PATH[FORGET]])
    b.resize(size[0], size[1] + 1)  # a resize re-fits the labels
    _settle(qtbot, b)
    return b


def _axis_label_rects(axis) -> list[tuple[QRectF, str]]:  # noqa: ANN001
    from PySide6.QtGui import QImage, QPainter

    img = QImage(10, 10, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        _, _, specs = axis.generateDrawSpecs(p)
    finally:
        p.end()
    return [(axis.mapRectToScene(r), t) for r, _f, t in specs]


@pytest.mark.parametrize(("size", "pt"), [((560, 170), None), ((330, 150), None), ((460, 200), 13.0), ((900, 220), None)])
def test_every_class_has_a_label_under_the_bars_none_overlapping_none_outside(qtbot, size, pt) -> None:  # noqa: ANN001
    b = _bars(qtbot, size, pt)
    axis = b.plot.getAxis("bottom")
    drawn = _axis_label_rects(axis)
    texts = [t for _, t in drawn]
    assert len(drawn) == len(PATH), f"{b.tick_kind} labels: {texts}"  # every class, the forgotten one too
    view = b.plot.mapRectToScene(QRectF(b.plot.rect()))
    for (r, t) in drawn:
        assert view.contains(r), f"{t!r} at {r} leaves the plot {view}"
    for (r1, t1), (r2, t2) in itertools.combinations(drawn, 2):
        assert not r1.intersects(r2), f"{t1!r} overlaps {t2!r}"
    if b.tick_kind != "full":  # abbreviated or numbered: the full names are one hover away
        assert all(name in axis.toolTip() for name in PATH)
    assert len(set(texts)) == len(texts)
    if size[0] >= 900:
        assert b.tick_kind == "full" or b.tick_kind == "short"


def test_the_bars_title_is_never_cut_at_the_presenters_font(qtbot) -> None:  # noqa: ANN001
    b = _bars(qtbot, (460, 200), 13.0)
    pi = b.plot.getPlotItem()
    text_h = pi.titleLabel.item.boundingRect().height()
    assert b.title_wrapped  # three series' key does not fit one line at 13 pt in 460 px
    assert pi.layout.rowMaximumHeight(0) >= text_h  # the title row holds both lines (was fixed at 30 px)
    title = pi.titleLabel.mapRectToScene(pi.titleLabel.boundingRect())
    plot_area = pi.getViewBox().sceneBoundingRect()
    assert title.bottom() <= plot_area.top() + 1  # the key does not run into the bars


def test_only_too_many_classes_are_thinned_and_the_forgotten_class_stays(qtbot) -> None:  # noqa: ANN001
    style.configure()
    b = PerClassBars()
    qtbot.addWidget(b)
    b.resize(300, 150)
    b.show()
    qtbot.waitExposed(b)
    names = [f"class {i}" for i in range(100)]
    b.set_series(names, [("original", "#888888", [0.5] * 100)], forget=["class 57"])
    b.resize(300, 151)
    _settle(qtbot, b)
    drawn = _axis_label_rects(b.plot.getAxis("bottom"))
    assert "57" in [t for _, t in drawn] and 1 < len(drawn) < 100
    for (r1, _), (r2, _) in itertools.combinations(drawn, 2):
        assert not r1.intersects(r2)


@pytest.mark.parametrize(("size", "pt"), [((480, 300), None), ((460, 240), 13.0)])  # normal; presenter at 1600 x 1000
def test_the_gram_and_etf_label_every_class_alike_on_both_axes(qtbot, size, pt) -> None:  # noqa: ANN001
    style.configure()
    g = GramView()
    qtbot.addWidget(g)
    g.resize(*size)
    g.show()
    if pt is not None:
        g.set_font_size(pt)
    g.set_classes(PATH)
    labels = np.arange(90) % 9
    g.set_frame(np.eye(9), labels, labels == FORGET, {"mean_angle_deg": 90.0, "ideal_angle_deg": 96.4, "gram_distance": 0.1})
    _settle(qtbot, g)
    short = style.short_class_names(PATH)
    assert short[FORGET] == "lymph." and len(set(short)) == 9 and all(len(s) <= 6 for s in short)
    for plot in g.plots[:2]:  # the Gram and the ideal ETF
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            drawn = axis.drawn_labels()
            assert [t for t, _ in drawn] == short, f"{name}: {[t for t, _ in drawn]}"  # every class, alike
            box = axis.boundingRect()
            for t, r in drawn:
                assert box.adjusted(-1, -1, 1, 1).contains(r), f"{name} label {t} at {r} outside {box}"
            for (t1, r1), (t2, r2) in itertools.combinations(drawn, 2):
                assert not r1.intersects(r2), f"{name}: {t1} overlaps {t2}"
            assert all(n in axis.toolTip() for n in PATH)


@pytest.mark.parametrize("pt", [None, 13.0])  # normal; presenter (the font is set before the classes)
def test_embedding_labels_stay_inside_the_view_and_apart(qtbot, pt) -> None:  # noqa: ANN001
    style.configure()
    e = EmbeddingPlot()
    qtbot.addWidget(e)
    e.resize(420, 380)
    e.show()
    qtbot.waitExposed(e)
    if pt is not None:
        e.set_font_size(pt)
    e.set_classes(PATH)
    rng = np.random.default_rng(0)
    labels = np.arange(900) % 9
    centres = np.array([[-4, 3], [3, 0], [0, -3], [-4, 2.5], [1, 0.5], [-1, -2], [-3, 1], [-2, 1.5], [-4.2, 1]])
    coords = (centres[labels] + rng.normal(scale=0.6, size=(900, 2))).astype(np.float32)
    means = np.stack([coords[labels == k].mean(0) for k in range(9)])
    e.set_points(coords, labels, labels == FORGET, means2d=means)
    _settle(qtbot, e)
    e.resize(360, 300)  # the splitter / dock gives it another size after the frame was drawn
    _settle(qtbot, e)
    e.set_points(coords * 1.01, labels, labels == FORGET, means2d=means * 1.01)  # the next replay frame
    _settle(qtbot, e)
    view = e.getPlotItem().getViewBox().sceneBoundingRect()
    rects = e.label_scene_rects()
    assert len(rects) == 9
    for r in rects:
        assert view.contains(r), f"{r} leaves the view {view}"
    for a, b in itertools.combinations(rects, 2):
        assert not a.intersects(b)


def test_keep_inside_moves_only_labels_that_stick_out() -> None:
    bounds = QRectF(0, 0, 200, 100)
    c = np.array([[100.0, 50.0], [5.0, 50.0], [190.0, 98.0], [np.nan, 1.0]])
    s = np.array([[40.0, 10.0], [60.0, 10.0], [40.0, 10.0], [10.0, 10.0]])
    out = keep_inside(c, s, bounds)
    assert out[0] == pytest.approx([100, 50]) and out[1, 0] == pytest.approx(32.0)
    assert out[2] == pytest.approx([178.0, 93.0]) and np.isnan(out[3, 0])
    moved = repel_labels(np.array([[5.0, 50.0], [5.0, 50.0]]), np.array([[60.0, 10.0], [60.0, 10.0]]), bounds=bounds)
    assert (moved[:, 0] - 30 >= 0).all()
    # a crowded view (presenter font): no free spot for every label, yet each stays inside the view
    crowded = repel_labels(np.full((9, 2), [10.0, 50.0]), np.full((9, 2), [180.0, 20.0]), bounds=bounds)
    for x, y in crowded:
        assert 90 - 1e-6 <= x <= 110 + 1e-6 and 10 - 1e-6 <= y <= 90 + 1e-6


@pytest.mark.parametrize(("size", "pt"), [((1000, 700), 9.0), ((1000, 700), 13.0), ((700, 600), 13.0), ((1500, 700), 9.0), ((690, 500), 9.0)])
def test_the_interpolation_axis_title_fits_its_axis(qtbot, size, pt) -> None:  # noqa: ANN001
    from app.plots.live_view import LiveView

    style.configure()
    v = LiveView()
    qtbot.addWidget(v)
    v.resize(*size)
    v.show()
    qtbot.waitExposed(v)
    v.set_large(pt > 9, font_pt=pt)
    c = v.curves
    c.set_closed_form(True)
    _settle(qtbot, v)
    axis = c.nc_plot.getAxis("bottom")
    assert axis.labelText in X_LABELS[True]
    fm = QFontMetrics(QFont(axis.label.font()))
    label = axis.label.mapRectToScene(axis.label.boundingRect())
    seen = QRectF(c.glw.viewport().rect())
    assert fm.horizontalAdvance(axis.labelText) <= axis.geometry().width()
    assert seen.contains(label), f"{axis.labelText!r} at {label} leaves the plot {seen}"
    assert axis.toolTip() == INTERP_LABEL
    if size[0] >= 1500 and pt <= 9:
        assert axis.labelText == INTERP_LABEL  # the full title where it fits
