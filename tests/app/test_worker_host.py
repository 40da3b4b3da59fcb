"""The Qt-free job-process host: the wire, portable models, frame coalescing, a headless run."""
from __future__ import annotations

import multiprocessing
import time
import threading

import numpy as np
import pytest

from engine._core.events import Failed, Finished, Geometry, Log, Metrics, Progress
from engine.models import create_model
from engine.models.checkpoints import weights_fingerprint
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec
from engine.runs.worker_host import (
    FrameCoalescer,
    JobProcess,
    PortableModel,
    decode_event,
    describe_exit,
    encode_event,
    recv_message,
    run_headless,
    send_message,
)


def _frame(step: int, stage: str = "unlearn", job: str = "a", n: int = 50) -> Geometry:
    labels = np.arange(n) % 10
    return Geometry(stage, step, float(step), np.full((n, 2), float(step), np.float32), labels, labels == 3,
                    np.zeros((10, 2)), np.eye(10), {"nc1": float(step)}, job_id=job)


def test_messages_cross_a_pipe_with_writable_arrays_and_no_shared_memory() -> None:
    a, b = multiprocessing.Pipe()
    big = np.arange(3_000_000, dtype=np.float32).reshape(-1, 2)  # 12 MB: bigger than a pipe buffer
    ev = _frame(7)
    msg = ("events", [ev, Log("hi", job_id="a"), big, np.zeros(0)])
    out: list[object] = []
    reader = threading.Thread(target=lambda: out.append(recv_message(b)))
    reader.start()
    sent = send_message(a, msg)
    reader.join(30)
    a.close()
    b.close()
    what, (ev2, log2, big2, empty2) = out[0]  # type: ignore[misc]
    assert what == "events" and sent >= big.nbytes
    assert isinstance(ev2, Geometry) and ev2.step == 7 and ev2.job_id == "a"
    np.testing.assert_array_equal(ev2.coords, ev.coords)
    np.testing.assert_array_equal(big2, big)
    assert big2.flags.writeable and not np.shares_memory(big2, big)
    assert log2 == Log("hi", job_id="a") and empty2.shape == (0,)


def test_a_portable_model_rebuilds_the_same_weights_and_mask() -> None:
    model = create_model("cnn_small", 1, 8, 10)
    model.logit_mask = [3]
    rebuilt = PortableModel.from_model(model).build()
    assert weights_fingerprint(rebuilt) == weights_fingerprint(model)
    assert rebuilt.logit_mask == [3] and not rebuilt.training
    rebuilt.head.weight.data.zero_()  # an independent copy
    assert weights_fingerprint(rebuilt) != weights_fingerprint(model)


def test_a_finished_record_sends_its_unlearned_model_and_keeps_the_references_models_home() -> None:
    model, original = create_model("cnn_small", 1, 8, 10), create_model("cnn_small", 1, 8, 10)
    ref = RunRecord("original", spec={}, metrics={"test_acc": 0.9}, model=original)
    rec = RunRecord("pour_p", spec={}, metrics={"forget_acc": 0.0}, references=[ref], model=model)
    wire = encode_event(Finished(rec, job_id="j"))
    assert isinstance(wire.record.model, PortableModel)
    assert wire.record.references[0].model is None and wire.record.references[0].metrics == {"test_acc": 0.9}
    assert rec.model is model and ref.model is original  # the worker's record is untouched
    back = decode_event(wire)
    assert weights_fingerprint(back.record.model) == weights_fingerprint(model)


def test_frames_are_coalesced_to_one_per_interval_and_the_last_always_arrives() -> None:
    c = FrameCoalescer(0.1)
    sent: list[object] = []
    t = 0.0
    sent += c.push(_frame(0, "original"), t)  # first frame: at once
    for i in range(1, 101):  # 100 frames in 1 s (one per 10 ms)
        t = i * 0.01
        sent += c.due(t)
        sent += c.push(_frame(i), t)
    steps = [e.step for e in sent if isinstance(e, Geometry)]
    assert steps[0] == 0 and 9 <= len(steps) <= 12, steps
    assert steps == sorted(steps)
    sent += c.push(Metrics("unlearn", 100, {"loss": 1.0}, job_id="a"), t)  # other events pass at once
    assert isinstance(sent[-1], Metrics)
    end = c.push(Finished(None, job_id="a"), t + 0.001)  # the held frame goes before the end event
    assert [type(e) for e in end] == [Geometry, Finished] and end[0].step == 100


def test_a_frame_of_another_stage_never_replaces_a_held_one() -> None:
    c = FrameCoalescer(0.1)
    out = c.push(_frame(0, "original"), 0.0)
    out += c.push(_frame(0, "retrain"), 0.01)  # held (too soon)
    out += c.push(_frame(1, "unlearn"), 0.02)  # releases "retrain", holds this one
    out += c.due(0.2)
    assert [(e.stage, e.step) for e in out] == [("original", 0), ("retrain", 0), ("unlearn", 1)]


def test_a_held_frame_is_released_on_time_without_further_events() -> None:
    c = FrameCoalescer(0.1)
    c.push(_frame(0), 0.0)
    assert c.push(_frame(1), 0.05) == [] and c.deadline() == pytest.approx(0.1)
    assert c.due(0.09) == [] and [e.step for e in c.due(0.1)] == [1]
    assert c.deadline() is None


def test_exit_descriptions() -> None:
    assert describe_exit(-9) == "signal 9: killed, possibly out of memory"
    assert describe_exit(-11).startswith("signal 11: segmentation fault")
    assert describe_exit(3) == "exit code 3" and describe_exit(None) == "still running"


def test_a_headless_job_process_runs_and_thins_a_burst_of_frames() -> None:
    events, arrivals = [], []
    for ev in run_headless({"op": "frames", "count": 200, "seconds": 1.0}, kind="debug",  # type: ignore[arg-type]
                           process=JobProcess(allow_debug=True)):
        events.append(ev)
        arrivals.append(time.monotonic())
    frames = [e for e in events if isinstance(e, Geometry)]
    assert isinstance(events[-1], Finished) and events[0].job_id == "headless"
    assert isinstance(events[0], Progress)
    # ~10 a second over however long the burst took on this machine (1 s when idle), never all 200
    burst_s = max(1.0, arrivals[-1] - arrivals[0])
    assert 5 <= len(frames) <= 10 * burst_s + 6, (len(frames), burst_s)
    assert frames[-1].step == 199  # the last frame always arrives


def test_a_headless_job_process_refuses_debug_tasks_unless_allowed() -> None:
    events = list(run_headless(JobSpec(), kind="debug", process=JobProcess(allow_debug=False)))
    assert len(events) == 1 and isinstance(events[0], Failed) and events[0].internal


def test_an_event_that_cannot_be_pickled_is_replaced_and_the_rest_still_arrive() -> None:
    from engine.runs.worker_host import Outbox

    a, b = multiprocessing.Pipe()
    outbox = Outbox(lambda m: send_message(a, m), min_interval=0.0)
    outbox.put(Progress("unlearn", 0.5, job_id="j"))
    outbox.put(Metrics("unlearn", 1, {"loss": lambda: 0.0}, job_id="j"))  # type: ignore[dict-item]
    outbox.put(Finished(lambda: None, job_id="j"))  # a result pickle refuses
    outbox.close()
    got: list[object] = []
    while b.poll(1.0):
        got.extend(recv_message(b)[1])
    a.close()
    b.close()
    assert isinstance(got[0], Progress)
    assert isinstance(got[1], Log) and "could not be sent" in got[1].message
    assert isinstance(got[-1], Failed) and got[-1].internal and got[-1].job_id == "j"


def test_an_interpolations_frames_are_never_thinned() -> None:
    """POUR-P's animation frames (t runs 0..1, step counts them) arrive all, in order, however fast
    they come: a replay of the same run always has the same number of frames (issue 16, item 5)."""
    c = FrameCoalescer(0.1)
    out = c.push(_frame(0, "original"), 0.0)
    n = 12
    for i in range(n):  # all within 12 ms
        ev = Geometry("unlearn", i, i / (n - 1), np.zeros((5, 2), np.float32), np.arange(5), np.zeros(5, bool),
                      np.zeros((10, 2)), np.eye(10), {}, job_id="a")
        out += c.due(0.001 * i) + c.push(ev, 0.001 * i)
    out += c.push(Finished(None, job_id="a"), 0.02)
    frames = [e for e in out if isinstance(e, Geometry)]
    assert [e.stage for e in frames] == ["original"] + ["unlearn"] * n
    assert [e.step for e in frames[1:]] == list(range(n))
