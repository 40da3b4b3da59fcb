"""Status texts say what happened in words: no doubled words, the ETA while a job runs, the run's
summary when it ends, and the Forget pane says the original is training while it waits."""
from __future__ import annotations

from app import messages
from app.panes.forget_pane import ForgetPane
from app.state import SessionModel
from engine import Progress


def test_progress_lines_name_the_stage_in_words_without_repeating_it() -> None:
    assert messages.progress_text(Progress("original", 1.0, "ready")) == "Preparing the original model"
    line = messages.progress_text(Progress("original", 0.4, "epoch 3/15 · batch 12/40", eta_s=65.0))
    assert line == "Training the original model · epoch 3/15 · batch 12/40 · ETA 1:05"
    assert messages.progress_text(Progress("unlearn", 0.2, "step 3/10"), "SCRUB") == "Running SCRUB · step 3/10"
    assert messages.progress_text(Progress("evaluate", 1.0, "done", eta_s=0.0)) == "Measuring the result"
    assert messages.waiting_text(Progress("original", 0.4, "epoch 3/15", eta_s=65.0)) == \
        "Training the original model… (epoch 3/15 · ETA 1:05)"


def test_a_run_summary_says_what_the_run_did() -> None:
    text = messages.run_summary("POUR-P", 0.0028, {"forget_acc": 0.0, "test_acc": 0.9889})
    assert text.startswith("POUR-P finished in 0.0028 s (the method alone): forget 0.0 %, test 98.9 %")


def test_the_forget_pane_says_the_original_is_training_while_it_waits(qtbot) -> None:  # noqa: ANN001
    pane = ForgetPane(SessionModel())
    qtbot.addWidget(pane)
    assert pane.counter_label.text() == "Loading the dataset…"
    pane.set_waiting_text(messages.waiting_text(Progress("original", 0.5, "epoch 8/15", eta_s=20.0)))
    assert pane.counter_label.text() == "Training the original model… (epoch 8/15 · ETA 0:20)"


def test_a_cached_model_is_reported_with_its_training_time_never_its_load_time() -> None:
    text = messages.run_summary("Retrain", 5.85, {"forget_acc": 0.0, "test_acc": 0.89},
                                "trained earlier, loaded from the cache")
    assert text.startswith("Retrain ready (trained earlier, loaded from the cache; trained in 5.85 s): forget 0.0 %")
    assert "the method alone" not in text
    unknown = messages.run_summary("Retrain", None, {"forget_acc": 0.0}, "trained earlier; time not recorded")
    assert unknown.startswith("Retrain ready (trained earlier; time not recorded): forget 0.0 %")


def test_the_runs_table_and_compare_show_a_cached_retrain_as_such(qtbot) -> None:  # noqa: ANN001
    from app.panes.runs_pane import CompareDialog, RunsPane
    from engine import RunRecord

    fresh = RunRecord(method="pour_p", label="POUR-P", spec={}, metrics={"forget_acc": 0.0}, seconds={"method": 0.0072})
    cached = RunRecord(method="retrain", label="Retrain", spec={}, metrics={"forget_acc": 0.0},
                       seconds={"method": 5.85, "load": 0.0076}, time_source="cache")
    state = SessionModel()
    pane = RunsPane(state)
    qtbot.addWidget(pane)
    state.add_run(fresh)
    state.add_run(cached)
    last = pane.table.columnCount() - 1
    assert pane.table.horizontalHeaderItem(last).text() == "seconds"
    assert pane.table.item(0, last).text() == "0.01"
    assert pane.table.item(1, last).text() == "5.85 (trained earlier, loaded from the cache)"  # not 0.0076
    dlg = CompareDialog([(1, "#e76f51", fresh), (2, "#59a14f", cached)], [str(i) for i in range(10)], pane)
    qtbot.addWidget(dlg)
    row = dlg.table.rowCount() - 1
    texts = [dlg.table.item(row, j).text() for j in range(dlg.table.columnCount()) if dlg.table.item(row, j)]
    assert "5.85 (trained earlier, loaded from the cache)" in texts and "0.01" in texts and not any("0.0076" in t for t in texts)
