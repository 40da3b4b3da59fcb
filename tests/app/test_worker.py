"""The worker thread runs real engine jobs, cancels within a second and drops stale events."""
from __future__ import annotations

import time

import pytest

from engine.models.checkpoints import weights_fingerprint
from engine._core.events import Failed, Finished, Geometry
from engine.runs.spec import JobSpec

DIGITS_P = JobSpec(dataset="digits", forget={"classes": [3]}, method="pour_p", reference=None, evaluate=False)


@pytest.mark.slow  # end-to-end
def test_a_pour_p_job_runs_end_to_end_and_delivers_finished(qtbot, controller) -> None:
    frames: list[Geometry] = []
    controller.sig_geometry.connect(frames.append)
    with qtbot.waitSignal(controller.sig_finished, timeout=120_000) as blocker:
        job = controller.start(DIGITS_P)
    event = blocker.args[0]
    assert isinstance(event, Finished) and event.job_id == job
    assert event.record.metrics["forget_acc"] == 0.0
    assert frames and all(f.job_id == job for f in frames)
    assert not controller.is_busy()


def test_prepare_delivers_the_bundle_and_an_embedding(qtbot, controller) -> None:
    with qtbot.waitSignal(controller.sig_prepared, timeout=120_000) as blocker:
        controller.prepare(DIGITS_P)
    prepared = blocker.args[0]
    assert prepared.bundle.num_classes == 10
    assert prepared.embed_coords.shape == (len(prepared.embed_idx), 2)
    qtbot.waitUntil(lambda: not controller.is_busy())


def _cancel_mid_run(qtbot, controller, runner, spec: JobSpec) -> None:  # noqa: ANN001
    with qtbot.waitSignal(controller.sig_prepared, timeout=120_000):
        controller.prepare(spec)
    original = next(iter(runner._originals.values()))
    before = weights_fingerprint(original)
    in_unlearn = []
    controller.sig_progress.connect(lambda e: in_unlearn.append(e) if e.stage == "unlearn" else None)
    job = controller.start(spec)
    qtbot.waitUntil(lambda: len(in_unlearn) >= 2, timeout=60_000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(controller.sig_failed, timeout=5_000) as blocker:
        controller.cancel()
    elapsed = time.perf_counter() - t0
    failed = blocker.args[0]
    assert isinstance(failed, Failed) and failed.cancelled and failed.job_id == job
    assert elapsed < 1.5, f"cancel took {elapsed:.2f} s"
    assert weights_fingerprint(original) == before, "the original model was changed"
    assert not controller.is_busy()


def test_cancelling_a_pour_d_job_fails_fast_and_leaves_the_original_intact(qtbot, controller, runner) -> None:
    spec = DIGITS_P.with_changes(method="pour_d", params={"min_steps": 100000, "early_stop_acc": -1.0})
    _cancel_mid_run(qtbot, controller, runner, spec)


def test_cancelling_a_finetune_job_fails_fast(qtbot, controller, runner) -> None:
    spec = DIGITS_P.with_changes(method="finetune", params={"epochs": 200})
    _cancel_mid_run(qtbot, controller, runner, spec)


def test_events_of_a_superseded_job_are_dropped(qtbot, controller) -> None:
    seen: list[str] = []
    for sig in (controller.sig_progress, controller.sig_geometry, controller.sig_log,
                controller.sig_metrics, controller.sig_finished, controller.sig_failed):
        sig.connect(lambda e: seen.append(e.job_id))
    slow = DIGITS_P.with_changes(method="finetune", params={"epochs": 200})
    first = controller.start(slow)
    qtbot.waitUntil(lambda: first in seen, timeout=60_000)
    with qtbot.waitSignal(controller.sig_finished, timeout=120_000) as blocker:
        second = controller.start(DIGITS_P)
    assert blocker.args[0].job_id == second
    later = seen[seen.index(second):]
    assert first not in later, "an event of the superseded job got through"


def test_a_bad_spec_becomes_failed_not_a_crash(qtbot, controller) -> None:
    bad = DIGITS_P.with_changes(model={"checkpoint": "/nonexistent/model.safetensors"})
    with qtbot.waitSignal(controller.sig_failed, timeout=30_000) as blocker:
        controller.start(bad)
    ev = blocker.args[0]
    assert not ev.cancelled and ev.kind == "BadCheckpoint"


def test_shutdown_during_a_job_stops_the_thread(qtbot, runner) -> None:
    from app.worker import JobController

    c = JobController(runner)
    progress = []
    c.sig_progress.connect(progress.append)
    c.start(DIGITS_P.with_changes(method="finetune", params={"epochs": 200}))
    qtbot.waitUntil(lambda: len(progress) > 0, timeout=60_000)
    t0 = time.perf_counter()
    c.shutdown()
    assert not c.thread_running()
    assert time.perf_counter() - t0 < 2.0
