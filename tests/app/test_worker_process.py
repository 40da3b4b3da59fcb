"""The job process: real runs, kill -9, cancel, a job ignoring cancel, a hang, a crash; the studio survives all."""
from __future__ import annotations

import os
import signal
import time

import pytest

from engine._core.events import Failed, Finished, Geometry
from engine.models.base import LetheModel
from engine.runs.spec import JobSpec

DIGITS_P = JobSpec(dataset="digits", forget={"classes": [3]}, method="pour_p", reference=None, evaluate=False,
                   audit=False)
LONG_POUR_D = DIGITS_P.with_changes(method="pour_d", params={"min_steps": 100000, "early_stop_acc": -1.0})


@pytest.fixture
def pcontroller(qtbot, monkeypatch):  # noqa: ANN001
    from app.worker import JobController

    monkeypatch.setenv("LETHE_WORKER_DEBUG", "1")
    c = JobController(mode="process", hang_timeout_s=0, cancel_grace_s=2.0)
    yield c
    c.shutdown()
    assert not c.thread_running()


def _wait_for_unlearn(qtbot, c) -> None:  # noqa: ANN001
    """Until the method's loop runs (its second progress event: the first comes before its set-up)."""
    seen: list[str] = []
    c.sig_progress.connect(lambda e: seen.append(e.stage))
    qtbot.waitUntil(lambda: seen.count("unlearn") >= 2, timeout=90_000)


def test_a_run_in_the_job_process_delivers_frames_and_a_usable_model(qtbot, pcontroller, tmp_path) -> None:
    frames: list[Geometry] = []
    pcontroller.sig_geometry.connect(frames.append)
    with qtbot.waitSignal(pcontroller.sig_finished, timeout=120_000) as blocker:
        job = pcontroller.start(DIGITS_P)
    event = blocker.args[0]
    assert isinstance(event, Finished) and event.job_id == job
    record = event.record
    assert record.metrics["forget_acc"] == 0.0
    assert pcontroller.worker_pid not in (None, os.getpid())
    # frames crossed the pipe as arrays, writable, with the job's id
    assert frames and all(f.job_id == job for f in frames)
    assert frames[0].coords.shape[1] == 2 and frames[0].coords.flags.writeable
    # the unlearned model is a rebuilt CPU copy (Save weights works); the original stays in the worker
    assert isinstance(record.model, LetheModel) and next(record.model.parameters()).device.type == "cpu"
    assert record.references and all(r.model is None for r in record.references)
    from engine import save_run

    save_run(record, tmp_path / "out")
    assert (tmp_path / "out" / "unlearned.safetensors").exists()
    assert not pcontroller.is_busy()


def test_kill_9_mid_run_fails_within_2_s_and_the_next_run_works(qtbot, pcontroller) -> None:
    job = pcontroller.start(LONG_POUR_D)
    _wait_for_unlearn(qtbot, pcontroller)
    pid = pcontroller.worker_pid
    t0 = time.perf_counter()
    with qtbot.waitSignal(pcontroller.sig_failed, timeout=2_000) as blocker:
        os.kill(pid, signal.SIGKILL)
    elapsed = time.perf_counter() - t0
    failed = blocker.args[0]
    assert isinstance(failed, Failed) and failed.job_id == job and not failed.cancelled
    assert failed.kind == "WorkerDied"
    assert "signal 9: killed, possibly out of memory" in failed.message and "running pour_d" in failed.message
    assert elapsed < 2.0 and not pcontroller.is_busy()
    with qtbot.waitSignal(pcontroller.sig_finished, timeout=120_000):
        pcontroller.start(DIGITS_P)
    assert pcontroller.worker_starts == 2 and pcontroller.worker_pid != pid


def test_cancel_in_the_job_process_fails_within_1_s(qtbot, pcontroller) -> None:
    job = pcontroller.start(LONG_POUR_D)
    _wait_for_unlearn(qtbot, pcontroller)
    t0 = time.perf_counter()
    with qtbot.waitSignal(pcontroller.sig_failed, timeout=3_000) as blocker:
        pcontroller.cancel()
    elapsed = time.perf_counter() - t0
    failed = blocker.args[0]
    assert failed.cancelled and failed.job_id == job
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    assert pcontroller.worker_starts == 1  # cooperative: the process and its caches live on


def test_a_job_ignoring_cancel_is_stopped_with_its_process_after_the_grace(qtbot, pcontroller) -> None:
    started: list[str] = []
    pcontroller.sig_progress.connect(lambda e: started.append(e.stage))
    job = pcontroller.debug({"op": "sleep", "seconds": 600})
    qtbot.waitUntil(lambda: "debug" in started, timeout=60_000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(pcontroller.sig_failed, timeout=5_000) as blocker:
        pcontroller.cancel()
    elapsed = time.perf_counter() - t0
    failed = blocker.args[0]
    assert failed.cancelled and failed.job_id == job and "did not stop within 2 s" in failed.message
    assert 2.0 <= elapsed < 4.0  # the grace, then a kill (slack for a loaded machine)
    # the next job goes to a fresh process
    with qtbot.waitSignal(pcontroller.sig_finished, timeout=60_000) as done:
        nxt = pcontroller.debug({"op": "frames", "count": 3, "seconds": 0.1})
    assert done.args[0].job_id == nxt
    assert pcontroller.worker_starts == 2 and not pcontroller.is_busy()


def test_a_superseding_job_runs_after_a_stale_one_that_hangs(qtbot, pcontroller) -> None:
    started: list[str] = []
    pcontroller.sig_progress.connect(lambda e: started.append(e.job_id))
    first = pcontroller.debug({"op": "sleep", "seconds": 600})
    qtbot.waitUntil(lambda: first in started, timeout=60_000)
    with qtbot.waitSignal(pcontroller.sig_finished, timeout=60_000) as done:
        second = pcontroller.debug({"op": "frames", "count": 3, "seconds": 0.1})
    assert done.args[0].job_id == second
    assert pcontroller.worker_starts == 2


def test_a_hang_becomes_failed_after_the_timeout(qtbot, pcontroller) -> None:
    pcontroller._backend.hang_timeout_s = 2.0
    started: list[str] = []
    pcontroller.sig_progress.connect(lambda e: started.append(e.stage))
    job = pcontroller.debug({"op": "sleep", "seconds": 600})  # native sleep: no event, no CPU
    qtbot.waitUntil(lambda: "debug" in started, timeout=60_000)
    t0 = time.perf_counter()
    # The upper bound leaves room for a loaded machine (two test processes on two cores, where the
    # hang watchdog's own timer can run late); the lower bound is the timeout itself.
    with qtbot.waitSignal(pcontroller.sig_failed, timeout=15_000) as blocker:
        pass
    elapsed = time.perf_counter() - t0
    failed = blocker.args[0]
    assert failed.kind == "WorkerHung" and failed.job_id == job and not failed.cancelled
    assert "stopped responding" in failed.message and "LETHE_WORKER_HANG_S" in failed.hint
    assert 1.5 <= elapsed < 12.0


def test_a_long_computation_without_events_is_not_a_hang(qtbot, pcontroller) -> None:
    # heartbeats come every second; 3 s leaves room for a starved machine (2 cores, 4 busy processes)
    pcontroller._backend.hang_timeout_s = 3.0
    with qtbot.waitSignal(pcontroller.sig_finished, timeout=60_000):
        pcontroller.debug({"op": "spin", "seconds": 5.0})  # busy for 5 s: heartbeats, no events
    assert pcontroller.worker_starts == 1


def test_a_crash_becomes_failed_with_how_the_process_ended(qtbot, pcontroller) -> None:
    for op, words in [({"op": "signal", "signum": int(signal.SIGSEGV)}, "signal 11: segmentation fault"),
                      ({"op": "exit", "code": 3}, "exit code 3")]:
        with qtbot.waitSignal(pcontroller.sig_failed, timeout=60_000) as blocker:
            job = pcontroller.debug(op)
        failed = blocker.args[0]
        assert failed.job_id == job and failed.kind == "WorkerDied" and words in failed.message
        assert "the next job starts a fresh job process" in failed.hint
    assert pcontroller.worker_starts == 3  # one fresh worker after each crash, none in a loop


def test_the_window_prepares_runs_and_saves_weights_through_the_job_process(qtbot, tmp_path) -> None:
    from app.main_window import MainWindow
    from app.plots import style
    from app.worker import JobController

    style.configure()
    c = JobController(mode="process")
    w = MainWindow(controller=c, autoload=False)
    w.show_dialogs = False
    qtbot.addWidget(w)
    try:
        with qtbot.waitSignal(c.sig_prepared, timeout=120_000):
            w.prepare("digits", {"arch": "cnn_small"})
        assert w.state.bundle.num_classes == 10 and len(w.state.embed_coords) > 0
        w.forget_pane.set_checked_classes([3])
        w.method_pane.select_method("pour_p")
        w.method_pane.reference_box.setChecked(False)
        w.method_pane.evaluate_box.setChecked(False)
        with qtbot.waitSignal(c.sig_finished, timeout=120_000):
            w.start_run()
        assert w.runs_pane.table.rowCount() == 1
        weights = w.runs_pane.save_weights(w.state.runs[0], tmp_path / "out")
        assert weights.exists()
    finally:
        c.shutdown()
    assert not c.thread_running()
