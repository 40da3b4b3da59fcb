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
