"""Every pane shows the job or run it names, or an explicit empty state (issue 16, follow-up of a
fresh-user tryout): the Method pane's bar never says "done" while another job loads; opening the
Samples tab never silently empties a class forget set; the class table fits a narrow dock; a run
kept after a dataset switch names its dataset; a closed-form method's frames read as t."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.main_window import MainWindow
from app.panes.data_pane import DataPane
from app.panes.forget_pane import MODE_CLASSES, MODE_FRACTION, MODE_SAMPLES
from engine import RunRecord



def _quick_run(qtbot, window: MainWindow, classes: list[int], method: str = "pour_p",  # noqa: ANN001
               values: dict | None = None) -> RunRecord:
    window.forget_pane.set_checked_classes(classes)
    window.method_pane.select_method(method)
    if values:
        window.method_pane.form.set_values(values)
    window.method_pane.reference_box.setChecked(False)
    window.method_pane.evaluate_box.setChecked(False)
    with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
        window.start_run()
    qtbot.waitUntil(lambda: not window.controller.is_busy())
    return window.state.runs[-1]


# ---------------------------------------------------------------------- 1 + 4: a dataset switch
@pytest.mark.slow
def test_a_dataset_switch_shows_its_own_progress_and_names_the_kept_runs_dataset(
        qtbot, window: MainWindow, letters_npz: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    record = _quick_run(qtbot, window, [3])
    bar = window.method_pane.progress
    assert bar.format() == "POUR-P done" and bar.value() == 1000  # the finished run, named
    vp = window.verdict_pane
    assert "POUR-P (run 1) · digits" in vp.header_label.text()

    formats: list[str] = []
    set_format = bar.setFormat
    monkeypatch.setattr(bar, "setFormat", lambda text: (formats.append(text), set_format(text)))
    with qtbot.waitSignal(window.controller.sig_prepared, timeout=120_000):
        window.prepare(f"npz:{letters_npz}", {"arch": "cnn_small"})
        # the new job's own state from its start: never the previous run's "done"
        assert "done" not in bar.format() and bar.value() == 0 and "starting" in bar.format()
    qtbot.waitUntil(lambda: not window.controller.is_busy())
    assert formats and not any("done" in f for f in formats), formats
    assert bar.format() == "idle" and bar.value() == 0  # an explicit idle state, an empty bar
    # the digits run's verdicts stay, under a header naming the run and its dataset
    assert vp.record is record
    assert "POUR-P (run 1) · digits" in vp.header_label.text()
    # the centre and the bars hold no run: an explicit empty state naming the new dataset
    assert window.live_view.frames == [] and "letters" in window.live_view.title.text()


# ---------------------------------------------------------------------- 2: the Samples tab
def test_opening_the_samples_tab_keeps_the_class_forget_set_and_says_so(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    fp, st = window.forget_pane, window.state
    fp.set_checked_classes([3])
    n3 = len(st.split.forget_idx)
    fp.tabs.setCurrentIndex(MODE_SAMPLES)  # only looking: nothing picked here yet
    assert st.forget is not None and st.forget.classes == (3,) and len(st.split.forget_idx) == n3
    assert f"Forget <b>{n3}</b>" in fp.counter_label.text()
    note = fp.note_label.text()
    assert fp.note_label.isVisibleTo(fp) and "Still forgetting class 3" in note and "Classes" in note
    assert window.method_pane.run_button.isEnabled()
    # a click on empty space of the pick plot (an empty pick) does not drop it either
    fp.set_selected_ids([])
    assert st.forget.classes == (3,)
    # picking samples replaces it, and says how to get it back
    fp.set_selected_ids([0, 1, 2])
    assert st.forget.ids == (0, 1, 2)
    assert "replaces the class 3" in fp.note_label.text() and "switch back to Classes" in fp.note_label.text()
    # switching back undoes it: the ticks were kept
    fp.tabs.setCurrentIndex(MODE_CLASSES)
    assert st.forget.classes == (3,) and fp.checked_classes() == [3]
    assert "replaces the 3 picked samples" in fp.note_label.text()
    # the Random tab replaces it visibly, and switching back to Classes undoes that too
    fp.tabs.setCurrentIndex(MODE_FRACTION)
    assert st.forget.fraction is not None and "switch back to Classes or Samples" in fp.note_label.text()
    fp.tabs.setCurrentIndex(MODE_CLASSES)
    assert st.forget.classes == (3,)
    # unticking the last class on the Classes tab empties the set: the person's own act
    fp.set_checked_classes([])
    assert st.forget is None


# ---------------------------------------------------------------------- 3: the class table
def test_the_class_table_fits_the_narrowest_dock_with_long_class_names(qtbot) -> None:  # noqa: ANN001
    from app.main_window import DOCK_MIN_WIDTH
    from engine.data import load_dataset

    names = ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
             "cancer-associated stroma", "colorectal adenocarcinoma epithelium", "another long tissue name")
    bundle = replace(load_dataset("digits"), classes=names)
    pane = DataPane()
    qtbot.addWidget(pane)
    pane.resize(DOCK_MIN_WIDTH - 20, 700)  # the dock's minimum width, less its vertical scroll bar
    pane.show()
    pane.show_bundle(bundle, {"arch": "cnn_small"}, "cnn_small")
    table = pane.class_table
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    qtbot.wait(50)  # the header lays its sections out
    widths = [table.columnWidth(j) for j in range(3)]
    assert sum(widths) <= table.viewport().width() + 1, widths  # nothing pushed out of view
    assert widths[2] >= table.samples_min_width(), widths  # at least three samples of each class
    assert not table.horizontalScrollBar().isVisible()
    fm = table.fontMetrics()
    assert widths[1] >= fm.horizontalAdvance(table.item(0, 1).text())  # the counts are never cut
    long_item = table.item(8, 0)
    assert long_item.toolTip() == "class 8: colorectal adenocarcinoma epithelium"  # the whole name
    # a wide dock: the names get their full width back
    pane.resize(900, 700)
    qtbot.waitUntil(lambda: table.columnWidth(0) >= fm.horizontalAdvance(long_item.text()))


# ---------------------------------------------------------------------- 5: a closed-form replay
def test_a_closed_form_replay_labels_frames_by_t_and_keeps_every_frame(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    record = _quick_run(qtbot, window, [2], values={"animation_frames": 7})
    again = _quick_run(qtbot, window, [2], values={"animation_frames": 7})
    frames = {id(r): len(window.run_frames[id(r)][0]) for r in (record, again)}
    assert set(frames.values()) == {7 + 1}  # the original and the 7 frames, every time
    window.runs_pane.table.selectRow(0)
    lv = window.live_view
    qtbot.waitUntil(lambda: "replay" in lv.title.text())
    lv.slider.setValue(4)
    text = lv.frame_label.text()
    assert text.startswith("frame 5/8") and "t = 0.50" in text and "step" not in text, text
    lv.slider.setValue(0)
    assert lv.frame_label.text().endswith("original")
