"""State that belongs to a run travels with the run (issue 16, items 1-5).

A dataset switch never draws older runs with the new dataset's class names or images; the centre
and the pick plot clear; *Copy as command* copies a command the CLI runs; *Compare selected*
gives each run its own, stable colour and the runs table's number; panels never keep the previous
run while a run runs, after Cancel, or after the forget set changes.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from app.plots import style
from app.state import RUN_COLOURS, SessionModel
from engine import RunRecord

pytestmark = pytest.mark.slow  # a real window running real (tiny) jobs

LETTERS = [chr(ord("A") + i) for i in range(10)]  # letters_npz's class names (conftest): never digits'




def _quick_run(qtbot, window: MainWindow, classes: list[int], method: str = "pour_p") -> RunRecord:  # noqa: ANN001
    window.forget_pane.set_checked_classes(classes)
    window.method_pane.select_method(method)
    window.method_pane.reference_box.setChecked(False)
    window.method_pane.evaluate_box.setChecked(False)
    with qtbot.waitSignal(window.controller.sig_finished, timeout=120_000):
        window.start_run()
    qtbot.waitUntil(lambda: not window.controller.is_busy())
    return window.state.runs[-1]


def _bar_ticks(window: MainWindow) -> list[str]:
    ticks = window.live_view.bars.plot.getAxis("bottom")._tickLevels  # what setTicks() was given
    return [t for _, t in ticks[0]] if ticks else []


def _record(method: str, acc: list[float], refs: list[RunRecord] | None = None) -> RunRecord:
    return RunRecord(method, spec={}, metrics={"forget_acc": 0.0}, per_class_acc=acc, label=method.upper(),
                     references=refs or [], dataset={"name": "digits", "classes": [str(i) for i in range(3)]})


# ---------------------------------------------------------------------- 1 + 2: dataset switch
def test_a_dataset_switch_never_shows_old_runs_with_the_new_datasets_names_or_images(
        qtbot, window: MainWindow, letters_npz: Path) -> None:  # noqa: ANN001
    record = _quick_run(qtbot, window, [3])
    vp = window.verdict_pane
    assert vp.record is record and vp.verdicts(), "the run was audited"
    # a pick made on digits (red marks in the pick plot)
    window.forget_pane.pick_plot.set_selected_ids([0, 1, 2])
    assert len(window.forget_pane.pick_plot.selected_ids) == 3
    table = window.runs_pane.table
    headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    dcol = headers.index("dataset")
    assert table.item(0, dcol).text() == "digits"

    with qtbot.waitSignal(window.controller.sig_prepared, timeout=120_000):
        window.prepare(f"npz:{letters_npz}", {"arch": "cnn_small"})
    qtbot.waitUntil(lambda: not window.controller.is_busy())
    assert list(window.state.bundle.classes) == LETTERS

    # the runs table: the old run still says digits, marked as not the loaded dataset
    assert table.item(0, dcol).text() == "digits"
    assert "not the dataset loaded now" in table.item(0, dcol).toolTip()
    assert not window.state.is_loaded_dataset(record)
    # Verdicts: the digits run's verdicts stay, its thumbnails are not drawn from the letters images
    assert vp.record is record
    assert vp.thumbs_list.count() == 0
    if vp.thumbs_label.isVisibleTo(vp):
        text = vp.thumbs_label.text()
        assert "No forget image" in text or ("not shown" in text and "digits" in text)
    # 2: the centre and the pick plot are empty: no old title, frames, Gram, curves, bars, red marks
    lv = window.live_view
    assert lv.frames == [] and "replay" not in lv.title.text() and "letters" in lv.title.text()
    assert lv.gram.current_img.image is None
    assert lv.curves.history() == {"x": [], "y": []}
    assert lv.bars.items == [] and _bar_ticks(window) == []
    assert len(window.forget_pane.pick_plot.selected_ids) == 0
    assert lv.class_names == LETTERS  # the preview of the new data uses its own names
    # the same class index ticked on the new dataset: the digits run's verdicts do not answer it
    window.forget_pane.set_checked_classes([3])
    assert vp.record is None and "forget set changed" in vp.header_label.text()

    # replaying the digits run: its own class names, its dataset named in the title; never A..J
    table.selectRow(0)
    qtbot.waitUntil(lambda: "replay" in lv.title.text() or "no recorded" in lv.title.text())
    assert "on digits" in lv.title.text()
    assert _bar_ticks(window)[:10] == [str(i) for i in range(10)]
    assert lv.class_names == [str(i) for i in range(10)]
    assert vp.thumbs_list.count() == 0


def test_state_keys_runs_by_their_own_dataset() -> None:
    st = SessionModel()
    r = _record("pour_p", [1.0, 0.0, 1.0])
    assert not st.is_loaded_dataset(r)  # nothing loaded: never "the same"
    assert st.bundle_for(r) is None
    assert st.class_names_for(r) == ["0", "1", "2"]
    assert st.dataset_label(r) == "digits"


# ---------------------------------------------------------------------- 3: copy as command
def test_copy_as_command_runs_with_the_cli(qtbot, window: MainWindow, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    record = _quick_run(qtbot, window, [3])
    cmd = window.runs_pane.copy_command(record)
    lines = cmd.splitlines()
    assert lines[0] == "cat > spec.json <<'EOF'" and "EOF" in lines
    spec_text = "\n".join(lines[1:lines.index("EOF")])
    argv = shlex.split(lines[lines.index("EOF") + 1])
    assert argv[:4] == ["python", "-m", "engine", "unlearn"] and "--out" in argv
    out = argv[argv.index("--out") + 1]
    assert out.startswith("lethe-pour_p-")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.json").write_text(spec_text)
    from engine.cli.main import build_parser, main
    from engine.runs.spec import JobSpec

    args = build_parser().parse_args(argv[3:])
    assert args.out == out and JobSpec.from_json(json.loads(spec_text)).method == "pour_p"
    assert main([*argv[3:], "--quiet"]) == 0  # the command as copied runs
    assert (tmp_path / out / "record.json").exists()


# ---------------------------------------------------------------------- 4: compare colours
def test_compare_gives_each_run_its_own_stable_colour_and_table_number(qtbot, window: MainWindow) -> None:
    refs = [RunRecord("original", spec={}, metrics={}, per_class_acc=[1.0, 1.0, 1.0], label="Original"),
            RunRecord("retrain", spec={}, metrics={}, per_class_acc=[1.0, 0.0, 1.0], label="Retrain")]
    runs = [_record(m, [1.0, 0.1 * k, 1.0], refs) for k, m in enumerate(["pour_p", "salun", "finetune", "l1"])]
    for r in runs:
        window.state.add_run(r)
    pane = window.runs_pane
    assert [pane.table.item(i, 0).text() for i in range(4)] == ["1", "2", "3", "4"]
    dlg = pane.compare([runs[0], runs[2]])
    qtbot.addWidget(dlg)
    headers = [dlg.table.horizontalHeaderItem(j).text() for j in range(dlg.table.columnCount())]
    assert headers == ["Original", "Retrain", "POUR_P #1", "FINETUNE #3"]  # the table's numbers
    colours = [c for _, c, _ in dlg.series]
    assert len(set(colours)) == len(colours)  # Retrain never shares a run's colour
    assert style.RETRAIN_COLOUR not in RUN_COLOURS and style.ORIGINAL_COLOUR not in RUN_COLOURS
    finetune_colour = dlg.colours["FINETUNE #3"]
    window.state.remove_runs([0])  # numbers and colours do not shift when a run goes
    assert [pane.table.item(i, 0).text() for i in range(3)] == ["2", "3", "4"]
    dlg2 = pane.compare([runs[1], runs[2], runs[3]])
    qtbot.addWidget(dlg2)
    assert dlg2.colours["FINETUNE #3"] == finetune_colour
    assert len(set(dlg2.colours.values())) == 5


# ---------------------------------------------------------------------- 5: stale panels
def test_panels_never_keep_the_previous_run(qtbot, window: MainWindow) -> None:
    first = _quick_run(qtbot, window, [3], "pour_p")
    lv, vp = window.live_view, window.verdict_pane
    assert "POUR-P" in vp.header_label.text() or first.label in vp.header_label.text()
    assert lv.bars.items
    # a new run runs: no bars of the previous run, no "Did POUR-P really forget?"
    window.forget_pane.set_checked_classes([1])
    window.method_pane.select_method("finetune")
    window.method_pane.form.set_values({"epochs": 200})
    seen: list[str] = []
    window.controller.sig_progress.connect(lambda e: seen.append(e.stage))
    qtbot.mouseClick(window.method_pane.run_button, Qt.MouseButton.LeftButton)
    assert lv.bars.items == [] and "running" in lv.bars.plot.plotItem.titleLabel.text
    assert vp.record is None and "running" in vp.header_label.text() and first.label not in vp.header_label.text()
    qtbot.waitUntil(lambda: "unlearn" in seen, timeout=60_000)
    with qtbot.waitSignal(window.controller.sig_failed, timeout=5000):
        window.controller.cancel()
    qtbot.waitUntil(lambda: not window.controller.is_busy(), timeout=5000)
    assert vp.record is None and "cancelled" in vp.header_label.text()
    assert lv.bars.items == [] and "cancelled" in lv.bars.plot.plotItem.titleLabel.text
    # the forget set changes after a shown run: the centre previews the new set, the verdicts clear
    window.runs_pane.table.selectRow(0)  # the cancel cleared the selection: clicking the row shows it
    qtbot.waitUntil(lambda: vp.record is first)
    assert lv.frames
    window.forget_pane.set_checked_classes([5])
    assert lv.frames == [] and lv.bars.items == [] and "replay" not in lv.title.text()
    assert vp.record is None and "Did" not in vp.header_label.text()
    is_f = window.live_view.embedding.forget_item.data
    assert len(is_f) > 0  # the new forget set is ringed in the preview


def test_verdicts_never_show_another_datasets_images_under_a_runs_indices(qtbot) -> None:  # noqa: ANN001
    """A digits run's "still recognised" indices must not pick images (or class names) of the letters data."""
    from types import SimpleNamespace

    from app.panes.verdict_pane import VerdictPane

    pane = VerdictPane()
    qtbot.addWidget(pane)
    pane.show()
    verdicts = [{"key": "outputs", "question": "Forgot (outputs)?", "status": "fail", "indices": [1, 2, 3]}]
    record = RunRecord("pour_d", spec={}, metrics={}, label="POUR-D",
                       audit={"verdicts": verdicts, "details": {"still_recognised_count": 3}},
                       dataset={"name": "digits", "fingerprint": "digits-fp", "classes": [str(i) for i in range(10)]})
    rng = np.random.default_rng(0)
    letters = SimpleNamespace(name="letters", fingerprint="letters-fp", channels=1, classes=LETTERS,
                              x_train=rng.integers(0, 256, (8, 1, 8, 8), dtype=np.uint8), y_train=np.arange(8) % 10)
    digits = SimpleNamespace(**{**vars(letters), "name": "digits", "fingerprint": "digits-fp"})
    pane.show_record(record, letters)
    assert pane.thumbs_list.count() == 0
    assert "not shown" in pane.thumbs_label.text() and "digits" in pane.thumbs_label.text()
    pane.show_record(record, digits)  # its own dataset: its images, with its own class names
    assert pane.thumbs_list.count() == 3
    assert "class " + str(int(digits.y_train[1])) in pane.thumbs_list.item(0).toolTip()
