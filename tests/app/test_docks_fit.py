"""Side docks never scroll sideways (issue 16, items 7 and 17): at 1280 x 800 with the normal font
and at 1600 x 1000 in presenter mode (14 pt) each side pane fits the width its dock gets, and in
presenter mode all five verdict rows lie inside the Verdicts dock."""
from __future__ import annotations

import html

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QScrollArea

from app.plots import style
from tests.app.test_verdict_pane import _bundle, _record


LONG_SUMMARY = ("On the forget images the features moved 25.6 % as far from the original as the retrained "
                "model's did (1 - CKA 0.042 vs 0.164). A linear probe on the frozen features still recognises "
                "100.0 % of forget-class test images (retrained model: 100.0 %).")


@pytest.fixture
def font_pt(request):  # noqa: ANN001
    """The application font at ``request.param`` points for one test (restored after)."""
    app = QApplication.instance()
    old = QFont(app.font())
    f = QFont(old)
    f.setPointSizeF(request.param)
    app.setFont(f)
    yield request.param
    app.setFont(old)


def _window(qtbot, controller, size: tuple[int, int], presenter: bool, request):  # noqa: ANN001
    from app.main_window import MainWindow

    style.configure()
    w = MainWindow(controller=controller, autoload=False)
    w.show_dialogs = False
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    if presenter:
        w.verdict_pane.set_compact(True)
    w.arrange_side_docks(presenter=presenter)
    QApplication.processEvents()
    return w


@pytest.mark.parametrize(("font_pt", "size", "presenter"), [(10, (1280, 800), False), (14, (1600, 1000), True)],
                         indirect=["font_pt"])
def test_no_side_dock_scrolls_sideways(qtbot, controller, font_pt, size, presenter, request) -> None:  # noqa: ANN001
    w = _window(qtbot, controller, size, presenter, request)
    for dock, pane in ((w.forget_dock, w.forget_pane), (w.method_dock, w.method_pane), (w.data_dock, w.data_pane)):
        dock.raise_()
        for _ in range(3):
            QApplication.processEvents()
        area = dock.widget()
        assert isinstance(area, QScrollArea)
        room = area.viewport().width()
        assert pane.minimumSizeHint().width() <= room, f"{dock.objectName()} at {font_pt} pt: pane needs " \
            f"{pane.minimumSizeHint().width()} px, the dock gives {room}"
        assert not area.horizontalScrollBar().isVisible(), dock.objectName()
        # ... and the pane fits its share of the window (the dock was not merely widened for it)
        share = (0.30 if pane is w.method_pane else 0.22) if presenter else 0.27
        assert pane.minimumSizeHint().width() + 24 <= share * size[0], dock.objectName()


@pytest.mark.parametrize("font_pt", [14], indirect=True)
def test_presenter_mode_shows_all_five_verdicts_at_1600_by_1000(qtbot, controller, font_pt, request) -> None:  # noqa: ANN001
    w = _window(qtbot, controller, (1600, 1000), True, request)
    pane = w.verdict_pane
    record = _record()
    for v in record.audit["verdicts"]:  # summaries as long as the real audit's (three lines when wrapped)
        v["summary"] = LONG_SUMMARY
    pane.show_record(record, _bundle())
    w.verdict_dock.raise_()
    w.resizeDocks([w.verdict_dock], [w.verdicts_height()], Qt.Orientation.Vertical)  # as after a run
    for _ in range(3):
        QApplication.processEvents()
    assert pane.status_texts() == ["FAIL", "WARN", "PASS", "PASS", "n/a"]
    visible = pane.rect()
    for row in pane.rows:
        for label in (row.badge_label, row.summary_label):
            top_left = label.mapTo(pane, label.rect().topLeft())
            bottom_right = label.mapTo(pane, label.rect().bottomRight())
            assert visible.contains(top_left) and visible.contains(bottom_right), \
                f"{row.question_label.text()} lies outside the Verdicts dock ({top_left}, {bottom_right}, {visible})"
    summary = pane.rows[1].summary_label
    assert summary.toolTip().count(html.escape(summary.text())) == 1  # a cut summary is whole in the tooltip


REAL_SUMMARIES = {  # the real audit's summaries of a POUR-P run on PathMNIST (the longest seen)
    "outputs": "The model still recognises 0.0 % of the forget images; the retrained model recognises 0.0 %.",
    "features": LONG_SUMMARY,
    "private": "A membership attack calls 100.0 % of the forget images non-members (retrained model: 100.0 %). The best "
    "loss threshold separates forget images from unseen ones with advantage 0.00 (retrained model 0.25, chance 0.00).",
    "utility": "The test accuracy on the other classes is 61.4 %; the retrained model reaches 67.0 %.",
    "relearn": "Fine-tuning on 10 forget images for 30 steps brings the forget accuracy to 100.0 % (retrained model: 100.0 %); "
    "it reaches 48.7 % after 6 steps (retrained model: 21 steps). int8 quantisation / float16 rounding give 0.0 % / "
    "0.0 % (before: 0.0 %).",
}


@pytest.mark.parametrize("size", [(1600, 1000), (1920, 1080)])
@pytest.mark.parametrize("font_pt", [14], indirect=True)
def test_presenter_verdicts_wrap_into_the_dock_and_are_never_cut_where_there_is_room(
        qtbot, controller, font_pt, size, request) -> None:  # noqa: ANN001
    """Presenter mode (issue 16): a presenter cannot hover, so each summary is wrapped into the room
    the dock has, whole, not one line ending in "…" above empty space."""
    w = _window(qtbot, controller, size, True, request)
    pane = w.verdict_pane
    record = _record(indices=[])  # as in the demo: no forget image still recognised
    for v in record.audit["verdicts"]:
        v["summary"] = REAL_SUMMARIES[v["key"]]
    pane.show_record(record, _bundle())
    w.verdict_dock.raise_()
    w.resizeDocks([w.verdict_dock], [w.verdicts_height()], Qt.Orientation.Vertical)  # as after a run
    qtbot.wait(30)
    for _ in range(3):
        QApplication.processEvents()
    visible = pane.rect()
    for row in pane.rows:
        label = row.summary_label
        assert not label.is_elided(), f"{row.question_label.text()} cut: {label.shown_text()!r}"
        assert "…" not in label.shown_text()
        assert label.shown_text() == " ".join(label.text().split())
        bottom_right = label.mapTo(pane, label.rect().bottomRight())
        assert visible.contains(bottom_right), f"{row.question_label.text()} lies below the dock"
    assert any(r.summary_label.max_lines > 1 for r in pane.rows)  # wrapped, not one long line
    # ... and the live view keeps most of the height
    assert w.verdict_dock.height() <= 0.5 * w.height()


@pytest.mark.parametrize("font_pt", [14], indirect=True)
def test_presenter_verdicts_are_cut_only_when_the_dock_is_truly_too_short(qtbot, controller, font_pt, request) -> None:  # noqa: ANN001
    w = _window(qtbot, controller, (1600, 1000), True, request)
    pane = w.verdict_pane
    record = _record(indices=[])  # as in the demo: no forget image still recognised
    for v in record.audit["verdicts"]:
        v["summary"] = REAL_SUMMARIES[v["key"]]
    pane.show_record(record, _bundle())
    w.verdict_dock.raise_()
    w.resizeDocks([w.verdict_dock], [200], Qt.Orientation.Vertical)
    qtbot.wait(30)
    for _ in range(3):
        QApplication.processEvents()
    cut = [r for r in pane.rows if r.summary_label.is_elided()]
    assert cut, "a 200 px dock cannot hold five wrapped summaries at 14 pt"
    for r in cut:
        assert r.summary_label.shown_text().endswith("…")
        assert html.escape(r.summary_label.text()) in r.summary_label.toolTip()  # whole in the tooltip
