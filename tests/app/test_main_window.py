"""The studio window: opens with digits loaded, runs POUR-P from the Run button, cancels, explains."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt


pytestmark = pytest.mark.slow  # the studio end to end: a real window running real jobs


def test_the_window_opens_with_digits_loaded(window) -> None:
    assert window.state.bundle.num_classes == 10
    assert window.forget_pane.class_list.count() == 10
    assert window.data_pane.class_table.rowCount() == 10
    assert not window.method_pane.run_button.isEnabled()  # nothing to forget yet


def test_ticking_a_class_and_clicking_run_adds_a_row_with_forget_accuracy_zero(qtbot, window) -> None:
    item = window.forget_pane.class_list.item(3)
    item.setCheckState(Qt.CheckState.Checked)
    assert window.state.split is not None and window.state.split.kind == "class"
    window.method_pane.select_method("pour_p")
    window.method_pane.reference_box.setChecked(False)
    window.method_pane.evaluate_box.setChecked(False)
    assert window.method_pane.run_button.isEnabled()
    with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
        qtbot.mouseClick(window.method_pane.run_button, Qt.MouseButton.LeftButton)
    table = window.runs_pane.table
    assert table.rowCount() == 1
    assert table.item(0, 1).text() == "POUR-P"
    headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    assert table.item(0, headers.index("forget ≈R")).text() == "0.0"
    qtbot.waitUntil(lambda: window.live_view.redraws > 0, timeout=2000)
    assert len(window.live_view.frames) >= 2  # original + the projection animation
    assert window.method_pane.run_button.isEnabled()
    qtbot.wait(300)  # past the progress throttle: the summary stays
    assert window.status_label.text().startswith("POUR-P finished in "), window.status_label.text()
    assert "forget 0.0 %" in window.status_label.text()


def test_a_sample_level_selection_disables_pour_p_with_the_reason(qtbot, window) -> None:
    window.method_pane.select_method("pour_p")
    window.forget_pane.set_selected_ids([0, 1, 2, 5])
    assert window.state.split.kind == "sample"
    item = window.method_pane.item_for("pour_p")
    assert not (item.flags() & Qt.ItemFlag.ItemIsEnabled)
    assert "cannot forget individual samples" in item.toolTip()
    assert "cannot forget individual samples" in window.method_pane.reason_label.text()
    assert not window.method_pane.run_button.isEnabled()
    assert "cannot do sample-level" in window.forget_pane.warning_label.text()
    assert window.method_pane.item_for("finetune").flags() & Qt.ItemFlag.ItemIsEnabled


def test_cancelling_a_long_run_leaves_the_window_usable(qtbot, window) -> None:
    window.forget_pane.set_checked_classes([1])
    window.method_pane.select_method("finetune")
    window.method_pane.reference_box.setChecked(False)
    window.method_pane.form.set_values({"epochs": 200})
    seen = []
    window.controller.sig_progress.connect(lambda e: seen.append(e.stage))
    qtbot.mouseClick(window.method_pane.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "unlearn" in seen, timeout=60_000)
    assert window.method_pane.cancel_button.isEnabled()
    with qtbot.waitSignal(window.controller.sig_failed, timeout=3000) as blocker:
        qtbot.mouseClick(window.method_pane.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].cancelled
    qtbot.waitUntil(lambda: window.method_pane.progress.format() == "Fine-tune cancelled", timeout=3000)
    assert window.method_pane.run_button.isEnabled()
    assert window.runs_pane.table.rowCount() == 0
    assert window.last_error is None  # cancelling is not an error


def test_grid_picks_and_lasso_picks_agree(qtbot, window) -> None:
    fp = window.forget_pane
    fp.tabs.setCurrentIndex(1)
    fp.filter_box.setCurrentIndex(fp.filter_box.findData(4))  # show class 4 only
    rows = fp.grid_model.rows
    assert set(window.state.bundle.y_train[rows]) == {4}
    sm = fp.grid.selectionModel()
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    sm.select(QItemSelection(fp.grid_model.index(0), fp.grid_model.index(4)), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    picked = {int(r) for r in rows[:5]}
    assert fp.selected_ids == picked
    assert set(fp.pick_plot.selected_ids.tolist()) == picked
    assert set(window.state.split.forget_idx.tolist()) == picked
    # a lasso around the class-4 points of the embedding selects exactly those rows, shown in the grid
    st = window.state
    pts = st.embed_coords[st.bundle.y_train[st.embed_idx] == 4]
    lo, hi = pts.min(0) - 1e-3, pts.max(0) + 1e-3
    box = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    ids = fp.pick_plot.select_polygon(box)
    inside = st.embed_idx[(st.embed_coords[:, 0] >= lo[0]) & (st.embed_coords[:, 0] <= hi[0])
                          & (st.embed_coords[:, 1] >= lo[1]) & (st.embed_coords[:, 1] <= hi[1])]
    assert set(ids.tolist()) == set(inside.tolist())
    assert fp.selected_ids == set(inside.tolist())
    grid_ids = {int(fp.grid_model.rows[i.row()]) for i in sm.selectedIndexes()}
    assert grid_ids == {i for i in fp.selected_ids if window.state.bundle.y_train[i] == 4}


def test_a_malformed_checkpoint_shows_the_message_and_keeps_the_model(qtbot, window, tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a weights file")
    before = dict(window.state.model)
    with qtbot.waitSignal(window.controller.sig_failed, timeout=30_000) as blocker:
        window.data_pane.request_checkpoint(str(bad))
    assert blocker.args[0].kind == "BadCheckpoint"
    assert window.last_error is not None and window.last_error[0] == "The checkpoint cannot be used"
    assert "broken.safetensors" in window.last_error[1]
    assert window.state.model == before and window.state.bundle is not None


def test_selection_and_session_files_round_trip(qtbot, window, tmp_path: Path) -> None:
    window.forget_pane.set_checked_classes([2, 7])
    path = tmp_path / "sel.json"
    window.forget_pane.save_selection(path)
    h = window.state.split.hash
    window.forget_pane.set_checked_classes([])
    assert window.state.split is None
    window.forget_pane.load_selection(path)
    assert window.state.split.hash == h
    session = window.save_session(tmp_path / "s.lethe.json")
    from app.session import load_session

    d = load_session(session)
    assert d["forget"] == {"classes": [2, 7]} and d["missing"] == []


def test_runs_compare_export_save_and_copy_as_command(qtbot, window, tmp_path: Path) -> None:
    window.forget_pane.set_checked_classes([3])
    window.method_pane.reference_box.setChecked(False)
    window.method_pane.evaluate_box.setChecked(False)
    for direction in ("head", "class_mean"):
        window.method_pane.select_method("pour_p")
        window.method_pane.form.set_values({"direction": direction})
        with qtbot.waitSignal(window.controller.sig_finished, timeout=60_000):
            window.start_run()
    pane = window.runs_pane
    assert pane.table.rowCount() == 2
    records = window.state.runs
    dlg = pane.compare(records)
    qtbot.addWidget(dlg)
    assert dlg.table.columnCount() == 3  # Original + the two runs
    from app.report import write_report

    # Exports run on the thread pool; the pane reports back through a queued signal.
    report_path = tmp_path / "r.html"
    with qtbot.waitSignal(pane.sig_export_done, timeout=60_000) as done:
        pane.export_in_background(lambda: write_report(records, report_path), "writing")
    assert done.args == [str(report_path)]
    text = report_path.read_text()
    assert text.lstrip().lower().startswith("<!doctype html") and "Lethe" in text and len(text) > 1000
    weights = pane.save_weights(records[0], tmp_path / "out")
    assert weights.exists() and (tmp_path / "out" / "record.json").exists()
    cmd = pane.copy_command(records[1])
    assert "python -m engine unlearn spec.json" in cmd and '"class_mean"' in cmd
    from engine.runs.spec import JobSpec
    import json

    spec_text = cmd.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0]
    assert JobSpec.from_json(json.loads(spec_text)).method == "pour_p"


def test_a_finished_pour_p_run_shows_its_verdicts(qtbot, window) -> None:
    window.forget_pane.set_checked_classes([3])
    window.method_pane.select_method("pour_p")
    window.method_pane.reference_box.setChecked(False)
    window.method_pane.evaluate_box.setChecked(False)
    pane = window.verdict_pane
    assert pane.status_texts() == [] and "Run a method" in pane.header_label.text()
    with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
        window.start_run()
    record = window.state.runs[-1]
    assert pane.record is record
    # Reference-free rules: the forget features moved 1 - CKA = 0.07 (warn: 0.03-0.10) and a few
    # fine-tuning steps bring the class back (fail); outputs, privacy and utility pass.
    assert pane.status_texts() == ["PASS", "WARN", "PASS", "PASS", "FAIL"]
    assert all(r.basis_label.text() == "reference-free rules" for r in pane.rows)  # no retrain asked for
    assert not window.verdict_dock.visibleRegion().isEmpty()  # raised over the Runs tab
    window.state.remove_runs([0])
    assert pane.record is None and pane.status_texts() == []


def test_a_progress_tick_still_throttled_never_overwrites_the_outcome(qtbot, window) -> None:
    from engine import Failed, Progress

    window._job_kind = "run"
    window._job_title = "POUR-P"
    window._on_controller_progress(Progress("evaluate", 1.0, "done"))  # drawn ~100 ms later unless dropped
    window._on_controller_failed(Failed("Cancelled", "the job was cancelled", cancelled=True))
    qtbot.wait(300)
    assert window.status_label.text() == "Cancelled."
