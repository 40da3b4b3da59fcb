"""The studio's sweeps: the Pareto plot, the Sweep dialog's cost estimate, trials as runs, cancel."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("optuna")

from PySide6.QtCore import QPointF, Qt  # noqa: E402

from app.panes.sweep_dialog import SweepDialog, estimate_seconds, run_time  # noqa: E402
from app.plots.pareto import FRONT_COLOUR, OTHER_COLOUR, ParetoPlot, staircase  # noqa: E402
from app.sweep import split_params, trial_record  # noqa: E402
from engine import RunRecord, TrialDone  # noqa: E402


def _trial(number: int, fg: float, ug: float, cost: float, state: str = "complete") -> dict:
    return {"number": number, "state": state, "params": {"lr": 0.01 * (number + 1), "schedule": "none"},
            "metrics": {} if state != "complete" else {"forgetting_gap": fg, "utility_gap": ug, "cost": cost,
                                                        "distance": fg + ug},
            "metrics_std": {}, "seconds": {"wall": 1.5}}


# (forgetting gap, utility gap, cost): trials 0, 1, 3 are on the 2-D front; 2 is dominated; 4 failed
POINTS = [(0.10, 0.50, 1.0), (0.30, 0.20, 2.0), (0.40, 0.60, 3.0), (0.60, 0.05, 1.0), (0, 0, 0)]
PARETO = [0, 1, 3]


def _feed(plot: ParetoPlot) -> None:
    for i, (fg, ug, cost) in enumerate(POINTS):
        trial = _trial(i, fg, ug, cost, "failed" if i == 4 else "complete")
        plot.add_trial(TrialDone(i, trial, [p for p in PARETO if p <= i], i + 1, 6))


def _brush(spot) -> str:  # noqa: ANN001
    return spot.brush().color().name()


def test_the_pareto_plot_draws_complete_trials_and_joins_the_front(qtbot) -> None:
    plot = ParetoPlot()
    qtbot.addWidget(plot)
    _feed(plot)
    spots = plot.scatter.points()
    assert len(spots) == 4  # the failed trial is not drawn
    colours = {int(s.data()): _brush(s) for s in spots}
    assert colours == {0: FRONT_COLOUR, 1: FRONT_COLOUR, 2: OTHER_COLOUR, 3: FRONT_COLOUR}
    xs, ys = plot.front_line.getData()
    assert list(xs) == pytest.approx([10.0, 30.0, 60.0]) and list(ys) == pytest.approx([50.0, 20.0, 5.0])  # pp
    sizes = {int(s.data()): s.size() for s in spots}
    assert sizes[2] > sizes[1] > sizes[0] == sizes[3]  # bigger = costlier
    assert plot.best_index() == 1  # lowest distance (0.5)
    assert list(plot.best_marker.getData()[0]) == pytest.approx([30.0])
    assert "1 failed" in plot.plot.plotItem.titleLabel.text and "of 6" in plot.plot.plotItem.titleLabel.text
    tip = plot._tip(30.0, 20.0, 1)
    assert "lr = 0.02" in tip and "best trade-off" in tip and "20.0 pp" in tip
    assert "Lower-left is better" in plot.explanation.text()
    assert "% points" in plot.plot.getAxis("bottom").labelText and "retrained model" in plot.plot.getAxis("bottom").labelText


def test_trials_ending_out_of_order_keep_their_own_dots(qtbot) -> None:
    # two workers: trial 1 ends first (index 0 of the sweep's trials then), trial 0 next (index 0 again)
    plot = ParetoPlot()
    qtbot.addWidget(plot)
    plot.add_trial(TrialDone(0, _trial(1, 0.3, 0.2, 2.0), [0], 1, 3))
    plot.add_trial(TrialDone(0, _trial(0, 0.1, 0.5, 1.0), [0, 1], 2, 3))
    plot.add_trial(TrialDone(2, _trial(2, 0.4, 0.6, 3.0), [0, 1], 3, 3))
    assert sorted(int(s.data()) for s in plot.scatter.points()) == [0, 1, 2]
    assert plot.pareto == [0, 1]


def test_staircase_keeps_the_lower_left_points_by_x() -> None:
    assert staircase([(1, 5), (2, 2), (3, 3), (4, 1), (0.5, 9)]) == [4, 0, 1, 3]


def test_clicking_a_dot_emits_its_trial(qtbot) -> None:
    plot = ParetoPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    _feed(plot)
    qtbot.waitExposed(plot)
    qtbot.wait(50)  # the view takes its auto range on the first paint
    vb = plot.plot.plotItem.vb
    pos = plot.plot.mapFromScene(vb.mapViewToScene(QPointF(60.0, 5.0)))
    with qtbot.waitSignal(plot.sig_trial_clicked, timeout=2000) as blocker:
        qtbot.mouseMove(plot.plot.viewport(), pos)
        qtbot.mouseClick(plot.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [3]
    assert plot.selected == 3


def _record(seed: int, forget: float, test: float, per_class: list[float], secs: float = 2.0) -> RunRecord:
    return RunRecord(method="finetune", spec={"dataset": "digits", "seed": seed}, label="Fine-tune",
                     metrics={"forget_acc": forget, "test_acc": test}, per_class_acc=per_class,
                     seconds={"data": 0.1, "method": secs, "evaluate": 0.5, "reference": 99.0}, params={"lr": 0.1})


def test_a_multi_seed_trial_is_one_run_with_mean_and_std() -> None:
    recs = [_record(0, 0.0, 0.90, [0.0, 1.0]), _record(1, 0.2, 0.80, [0.2, 0.8])]
    record, std, per_class_std = trial_record(TrialDone(4, {"number": 7, "state": "complete"}, [], 5, 20, recs),
                                              "Fine-tune")
    assert record.label == "Fine-tune trial 7"
    assert record.metrics["forget_acc"] == pytest.approx(0.1) and record.metrics["test_acc"] == pytest.approx(0.85)
    assert std["forget_acc"] == pytest.approx(0.1414, abs=1e-3)  # sample std of 0 and 0.2
    assert record.metrics_std == std and record.per_class_std == per_class_std  # travel with the record (sessions, report)
    assert record.per_class_acc == pytest.approx([0.1, 0.9]) and per_class_std == pytest.approx([0.1414, 0.1414], abs=1e-3)
    assert recs[0].label == "Fine-tune"  # the seed's own record is not changed
    assert trial_record(TrialDone(5, {"number": 8, "state": "failed"}, [], 6, 20, []), "Fine-tune") is None
    one, _, _ = trial_record(TrialDone(6, {"number": 9, "state": "complete"}, [], 7, 20, recs[:1]), "Fine-tune")
    assert one.metrics_std == {} and one.per_class_std == []  # one seed: no spread


def test_the_dialog_shows_the_cost_before_starting(qtbot) -> None:
    one = run_time([_record(0, 0, 0.9, [])], "finetune", "digits")
    assert one.measured and one.seconds == pytest.approx(2.6)  # data + method + evaluate; cached training excluded
    assert not run_time([], "finetune", "digits").measured
    dlg = SweepDialog("Fine-tune", one, searched=["lr"], fixed=["epochs"])
    qtbot.addWidget(dlg)
    dlg.executor.setCurrentIndex(dlg.executor.findData("local"))
    dlg.workers.setValue(2)
    dlg.trials.setValue(20)
    dlg.seeds.setValue(3)
    assert dlg.estimate() == pytest.approx(estimate_seconds(20, 3, 2, "local", 2.6)) == pytest.approx(30 * 2.6)
    text = dlg.estimate_label.text()
    assert "60 runs" in text and "20 trials × 3 seeds" in text and "about 78 s" in text and "measured" in text
    assert dlg.start_button.text() == "Start 60 runs"
    dlg.executor.setCurrentIndex(dlg.executor.findData("inline"))
    assert "about 3 min" in dlg.estimate_label.text() and not dlg.workers.isEnabled()


def test_the_sweep_searches_continuous_settings_and_keeps_the_budget() -> None:
    fixed, searched = split_params("finetune", {"epochs": 2, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                                                "batch_size": 64, "schedule": "none"})
    assert set(searched) >= {"lr", "momentum", "schedule"} and fixed == {"epochs": 2, "batch_size": 64}


# ---------------------------------------------------------------------------------------------
# in the window, with the inline executor (one job at a time in this process, the shared runner)

SWEEP_PARAMS = {"epochs": 1, "batch_size": 256}


def _sweep_window(window):  # noqa: ANN001, ANN202
    window.forget_pane.set_checked_classes([3])
    window.method_pane.select_method("finetune")
    window.method_pane.form.set_values(SWEEP_PARAMS)
    window.method_pane.evaluate_box.setChecked(False)
    assert window.method_pane.sweep_button.isEnabled()
    return window.build_spec().with_changes(audit=False)


def test_a_sweep_in_the_window_adds_trials_as_runs_and_a_click_selects_one(qtbot, window, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LETHE_PRESETS_DIR", str(tmp_path / "presets"))
    spec = _sweep_window(window)
    pane = window.sweep_pane
    with qtbot.waitSignal(pane.controller.sig_finished, timeout=120_000):
        pane.start(spec, trials=2, executor="inline", out=tmp_path / "sweep")
        assert window.sweep_dock.isVisible() and not window.method_pane.sweep_button.isEnabled()
        assert window.tabifiedDockWidgets(window.sweep_dock) == []  # beside the runs table, not behind it
    # the end reaches the window as a queued event after the thread has gone: wait for what the user sees
    qtbot.waitUntil(lambda: window.method_pane.sweep_button.isEnabled(), timeout=30_000)
    assert not pane.controller.is_running()
    assert pane.summary is not None and (tmp_path / "sweep" / "sweep.json").exists()
    complete = pane.plot.complete()
    assert len(pane.plot.scatter.points()) == len(complete) == len(pane.records) >= 1
    labels = [window.runs_pane.table.item(r, 1).text() for r in range(window.runs_pane.table.rowCount())]
    assert [lab for lab in labels if "trial" in lab] == [f"Fine-tune trial {pane.plot.trials[i]['number']}" for i in complete]
    first = complete[0]
    window.runs_pane.deselect_quietly()
    pane.plot._on_scatter_clicked(None, [s for s in pane.plot.scatter.points() if int(s.data()) == first])
    row = next(i for i, r in enumerate(window.state.runs) if r is pane.records[first])
    assert window.runs_pane.selected_rows() == [row]
    assert window.verdict_pane.record is pane.records[first]
    path = pane.save_preset("sweep-best")
    assert path.exists() and "finetune" in path.read_text()
    assert window.method_pane.sweep_button.isEnabled()


def test_cancelling_a_sweep_stops_it_within_a_second_and_keeps_the_loaded_model(qtbot, window, tmp_path) -> None:
    spec = _sweep_window(window).with_changes(params={**SWEEP_PARAMS, "epochs": 200})  # a long trial
    bundle = window.state.bundle
    pane = window.sweep_pane
    seen: list[str] = []
    pane.controller.sig_progress.connect(lambda e: seen.append(e.stage))
    pane.start(spec, trials=20, executor="inline", out=tmp_path / "sweep")
    qtbot.waitUntil(lambda: bool(seen), timeout=60_000)
    time.sleep(1.0)  # inside the first trial's job
    with qtbot.waitSignal(pane.controller.sig_failed, timeout=5000) as blocker:
        pane.cancel()
    assert blocker.args[1] is True  # cancelled, not failed
    assert pane.controller.wait(5.0)
    assert pane.controller.ended_at - pane.controller.cancel_at < 1.5
    assert window.state.bundle is bundle and not window.controller.is_busy()
    assert window.runs_pane.table.rowCount() == 0 and window.last_error is None
    qtbot.waitUntil(lambda: window.method_pane.sweep_button.isEnabled(), timeout=2000)


def test_a_temporary_sweep_folder_goes_when_replaced_or_closed_a_chosen_one_and_presets_stay(
        qtbot, window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import tempfile

    from engine import temp_sweep_folder

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # the system's temporary folder, for this test
    monkeypatch.setenv("LETHE_PRESETS_DIR", str(tmp_path / "presets"))
    spec = _sweep_window(window)
    pane = window.sweep_pane

    def sweep(out=None):  # noqa: ANN001, ANN202
        with qtbot.waitSignal(pane.controller.sig_finished, timeout=120_000):
            folder = pane.start(spec, trials=1, executor="inline", out=out)
        assert pane.controller.wait(30.0)
        return folder

    first = sweep()
    assert first.parent == temp and pane.temp_folder == first and (first / "sweep.json").exists()
    assert "temporary" in pane.header.text()
    preset = pane.save_preset("kept-preset")
    chosen = sweep(tmp_path / "chosen")  # a new sweep replaces the temporary one
    assert not first.exists() and pane.temp_folder is None
    pane.shutdown()  # what closing the window does
    assert (chosen / "sweep.json").exists() and preset.exists()  # chosen and saved: never removed
    assert list(temp.iterdir()) == []

    left = temp_sweep_folder("finetune")  # as a sweep the window closes on leaves it
    (left / "sweep.json").write_text("{}")
    pane.temp_folder = left
    window.close()
    assert not left.exists()
