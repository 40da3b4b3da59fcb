"""The studio's shadow-ensemble audit: cost shown before starting, the job off the GUI thread with
progress, cancel, the explained result, and the cached result shown at once."""
from __future__ import annotations

import threading
import time

import pytest

from app.panes.ensemble_dialog import EnsembleDialog, cost_text
from app.panes.runs_pane import RunsPane
from app.state import SessionModel
from engine import CancelToken, Progress, RunRecord, ensemble_audit_for, load_dataset

PREVIEW = {"cost": {"kind": "klom", "k": 4, "trainings": 8, "cached_trainings": 2, "trainings_to_run": 6,
                    "unlearning_runs": 4, "seconds_per_training": 3.0, "seconds_per_unlearn": 3.0, "seconds": 30.0,
                    "minutes": 0.5, "approximate": True, "paper_k": 100},
           "cached": None, "shadow_training": "one by one", "why": "on the CPU one by one is as fast"}


class FakeAudit:
    """The EnsembleAudit interface with a job that steps until told to finish (or is cancelled)."""

    label = "Fake"

    def __init__(self) -> None:
        self.finish = threading.Event()
        self.thread: str | None = None
        self.asked: list[tuple[str, int]] = []

    def preview(self, kind: str, k: int) -> dict:
        self.asked.append((kind, k))
        return PREVIEW

    def job(self, kind: str, k: int, *, token: CancelToken):
        self.thread = threading.current_thread().name
        for i in range(10_000):
            token.check()
            yield Progress(kind, min(i / 50, 0.5), f"shadow {i}")
            if self.finish.is_set():
                break
            time.sleep(0.01)
        return {"k": k, "approximate": True, "klom_forget_mean": 0.25}

    def title(self, kind: str) -> str:
        return f"{kind} of Fake"


def test_the_cost_is_shown_in_words_before_starting() -> None:
    text = cost_text(PREVIEW)
    assert "6 of 8 shadow trainings to run (2 cached) + 4 unlearning runs: about 30 s (3.0 s a training" in text
    assert "one by one (on the CPU" in text and "fewer than the paper's 100" in text
    assert cost_text({**PREVIEW, "cached": {"k": 4}}).startswith("cached: shown at once")


def test_the_dialog_runs_the_job_off_the_gui_thread_with_progress_and_shows_the_result(qtbot) -> None:
    audit = FakeAudit()
    dlg = EnsembleDialog(audit, "Fake (run 1)")
    qtbot.addWidget(dlg)
    assert dlg.k() == 4
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=5000)
    assert audit.asked == [("klom", 4)]
    assert "6 of 8 shadow trainings" in dlg.cost_label.text()
    assert dlg.start_button.text() == "Start (8 trainings)"
    dlg.start_button.click()
    qtbot.waitUntil(lambda: dlg.progress.value() > 0, timeout=5000)
    assert dlg.cancel_button.isEnabled() and not dlg.start_button.isEnabled() and not dlg.k_spin.isEnabled()
    assert "shadow" in dlg.progress.format()
    audit.finish.set()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=5000)
    assert audit.thread == "lethe-ensemble"  # not the GUI thread
    text = dlg.result_text.toPlainText()
    assert text.startswith("klom of Fake\nK = 4 shadow pairs") and "| forget images (training) | 0.250 | – |" in text
    qtbot.waitUntil(lambda: not dlg.cancel_button.isEnabled(), timeout=5000)
    assert dlg.progress.format() == "done"


def test_cancel_stops_the_job_and_says_so(qtbot) -> None:
    audit = FakeAudit()
    dlg = EnsembleDialog(audit, "Fake (run 1)")
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=5000)
    dlg.kind_combo.setCurrentIndex(1)  # U-LiRA needs K >= 3
    assert dlg.k_spin.minimum() == 3
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=5000)
    dlg.start_button.click()
    qtbot.waitUntil(lambda: dlg.progress.value() > 0, timeout=5000)
    t0 = time.monotonic()
    with qtbot.waitSignal(dlg.controller.sig_busy, timeout=5000):
        dlg.cancel_button.click()
    assert time.monotonic() - t0 < 1.0
    assert not dlg.controller.is_running() and dlg.result is None
    assert dlg.progress.format() == "cancelled" and "cancelled" in dlg.result_text.toPlainText()
    assert dlg.start_button.isEnabled()  # it can be started again


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _record() -> RunRecord:
    return RunRecord(method="pour_p", label="POUR-P", metrics={"forget_acc": 0.0},
                     spec={"dataset": "digits", "forget": {"classes": [3]}, "seed": 0,
                           "model": {"arch": "mlp", "recipe": {"epochs": 1}}},
                     dataset={"source": "digits", "name": "digits"})


def test_a_run_becomes_an_ensemble_job_and_its_result_is_explained_then_cached(qtbot, digits) -> None:
    """The real engine job (mlp on digits, 1 epoch, K = 2): result explained as the CLI does; then cached."""
    audit = ensemble_audit_for(_record(), digits)
    assert audit.arch == "mlp" and audit.recipe.epochs == 1 and audit.method == "pour_p"
    assert audit.title("klom").startswith("KLoM of POUR-P on digits (mlp), forgetting class 3 (")
    dlg = EnsembleDialog(audit, "POUR-P (run 1)")
    qtbot.addWidget(dlg)
    dlg.k_spin.setValue(2)
    qtbot.waitUntil(lambda: dlg.preview is not None and dlg.preview["cost"]["k"] == 2, timeout=30_000)
    was_cached = dlg.preview["cached"] is not None  # another test process may have computed it
    dlg.start_button.click()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120_000)
    text = dlg.result_text.toPlainText()
    assert "K = 2 shadow pairs" in text and "KLoM mean (0 ideal)" in text and "What it measures" in text
    qtbot.waitUntil(lambda: dlg.preview is not None, timeout=30_000)  # estimated again after the job
    assert dlg.preview["cached"] is not None and dlg.start_button.text() == "Show"
    assert dlg.cost_label.text().startswith("cached: shown at once")
    assert was_cached or dlg.progress.format() == "done"
    dlg.close()


def test_the_runs_pane_opens_the_audit_for_the_selected_run_of_the_loaded_dataset(qtbot, digits) -> None:
    state = SessionModel()
    state.bundle, state.source, state.arch = digits, "digits", "mlp"
    pane = RunsPane(state)
    qtbot.addWidget(pane)
    other = RunRecord(method="pour_p", metrics={}, spec={"dataset": "cifar", "forget": {"classes": [3]}},
                      dataset={"source": "cifar", "fingerprint": "nope"})
    state.add_run(other)
    assert not pane.ensemble_button.isEnabled()  # another dataset: its data is not loaded
    state.add_run(_record())
    assert pane.ensemble_button.isEnabled()
    pane.ensemble_button.click()
    dlg = pane.ensemble_dialog
    assert dlg is not None and dlg.isVisible() and "POUR-P (run 2)" in dlg.findChild(type(dlg.cost_label)).text()
    qtbot.waitUntil(lambda: dlg.preview is not None, timeout=30_000)
    dlg.close()
    errors: list = []
    pane.sig_error.connect(lambda t, b: errors.append(t))
    assert pane.ensemble_audit(RunRecord(method="pour_p", metrics={}, spec={"dataset": "digits"})) is None
    assert errors == ["No ensemble audit for this run"]


def test_closing_the_dialog_cancels_a_running_audit(qtbot) -> None:
    audit = FakeAudit()
    dlg = EnsembleDialog(audit, "Fake (run 1)")
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=5000)
    dlg.start_button.click()
    qtbot.waitUntil(lambda: dlg.progress.value() > 0, timeout=5000)
    dlg.close()
    assert not dlg.controller.is_running()  # no thread left training behind a closed dialog
