"""Executors (issue 14): local process pool, in-process, Ray; the cache lock; cancel."""
from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from engine._core.cache import entry_lock
from engine._core.errors import Cancelled, LetheError
from engine._core.events import Finished, Progress
from engine.executors import InProcessExecutor, LocalExecutor, make_executor, worker_threads
from engine.runs.spec import JobSpec

TINY = dict(method="finetune", model={"arch": "mlp", "recipe": {"epochs": 2}}, params={"epochs": 1},
            evaluate=False, geometry=False, audit=False)
LONG = dict(method="finetune", model={"arch": "mlp", "recipe": {"epochs": 2}}, params={"epochs": 200, "batch_size": 8},
            evaluate=False, geometry=False, audit=False)


def _same_record(a, b) -> None:  # noqa: ANN001
    def metrics(r):  # noqa: ANN001, ANN202 - the CPU peak-RSS growth depends on what the process ran before
        return {k: v for k, v in r.metrics.items() if k != "peak_memory_mb"}

    assert metrics(a) == metrics(b)
    assert a.params == b.params
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_worker_threads_split_the_cores(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("LETHE_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert worker_threads(2) == 1 and worker_threads(1) == 1
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert worker_threads(4) == 4 and worker_threads(1) == 15  # one core left to the caller
    monkeypatch.setenv("LETHE_THREADS", "3")
    assert worker_threads(4) == 3


def test_make_executor_refuses_unknown_names() -> None:
    from engine._core.errors import BadSpec

    with pytest.raises(BadSpec, match="executor"):
        make_executor("slurm")
    with pytest.raises(BadSpec, match="--address"):
        make_executor("local", address="ray://x:1")


@pytest.mark.slow  # two spawned worker processes
def test_local_executor_runs_jobs_in_two_processes_like_the_runner_and_cancels(runner) -> None:  # noqa: ANN001
    specs = [JobSpec(**TINY, seed=s) for s in (0, 1)]
    events: list = []
    lock = threading.Lock()

    def collect(ev) -> None:  # noqa: ANN001
        with lock:
            events.append(ev)

    with LocalExecutor(2, threads=1) as ex:
        futures = [ex.submit(s, on_event=collect, job_id=f"job{i}") for i, s in enumerate(specs)]
        records = [f.result(timeout=110) for f in futures]
        pids = {slot.proc.pid for slot in ex._slots if slot.proc is not None}
        assert len(pids) == 2  # each job ran in its own process
        for spec, rec in zip(specs, records, strict=True):
            _same_record(rec, runner.run_to_record(spec))
        assert {e.job_id for e in events} == {"job0", "job1"}
        assert sum(isinstance(e, Finished) for e in events) == 2
        assert any(isinstance(e, Progress) for e in events)

        # cancel: a running job stops within a second, queued ones never start, the pool goes on
        started = threading.Event()
        running = [ex.submit(JobSpec(**LONG), on_event=lambda ev: started.set()
                             if isinstance(ev, Progress) and ev.stage == "unlearn" else None) for _ in range(2)]
        queued = ex.submit(JobSpec(**TINY))
        assert started.wait(100)
        ex.cancel(queued)
        t0 = time.monotonic()
        ex.cancel()
        for f in running:
            with pytest.raises(Cancelled):
                f.result(timeout=10)
        assert time.monotonic() - t0 < 1.5
        assert queued.cancelled()
        assert ex.submit(JobSpec(**TINY)).result(timeout=110).metrics["retain_acc"] > 0.5
        assert ex.submit_call(divmod, 7, 2).result(timeout=100) == (3, 1)  # any importable function


@pytest.mark.skipif(not hasattr(os, "nice"), reason="niceness is POSIX")
def test_jobs_and_calls_run_at_the_same_lowered_priority() -> None:
    """``nice`` applies to the job processes (submit) and to the submit_call pool alike."""
    want = min(19, os.nice(0) + 3)  # os.nice(0): this process's niceness; 19 is the lowest priority
    with LocalExecutor(1, threads=1, nice=3) as ex:
        assert ex.submit_call(os.nice, 0).result(timeout=100) == want
        assert ex.submit_call(torch.get_num_threads).result(timeout=100) == 1
        ex._start()
        proc = ex._slots[0]._process()  # the job process a submitted job runs in
        assert proc.recv()[0] == "hello"  # it has set itself up
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == want


def test_the_shared_cancel_never_starts_queued_jobs_and_stops_running_ones() -> None:
    """Local and Ray share TrackingExecutor.cancel: a queued future is cancelled, a running job's
    entry goes to _stop_running, a finished one is forgotten, cancel() reaches every job."""
    from concurrent.futures import Future

    from engine.executors.base import TrackingExecutor

    class Fake(TrackingExecutor):
        def __init__(self) -> None:
            self._init_tracking()
            self.stopped: list[str] = []

        def _stop_running(self, entry: str) -> None:
            self.stopped.append(entry)

        submit = submit_call = shutdown = None  # type: ignore[assignment]

    ex = Fake()
    queued, running, done, other = Future(), Future(), Future(), Future()
    for f, name in ((queued, "queued"), (running, "running"), (done, "done"), (other, "other")):
        ex._track(f, name)
    for f in (running, done, other):
        f.set_running_or_notify_cancel()
    done.set_result(None)
    assert done not in ex._entries  # forgotten when it ended
    ex.cancel(queued)
    assert queued.cancelled() and ex.stopped == []
    ex.cancel(running)
    ex.cancel(done)
    assert ex.stopped == ["running"]
    ex.cancel()
    assert sorted(ex.stopped) == ["other", "running", "running"]


def test_in_process_executor_and_a_failing_job(runner) -> None:  # noqa: ANN001
    with InProcessExecutor(runner=runner) as ex:
        rec = ex.submit(JobSpec(**TINY)).result(timeout=60)
        bad = ex.submit(JobSpec(**TINY, forget={"classes": [42]}))  # valid JSON, no such class: fails in the run
        with pytest.raises(LetheError):
            bad.result(timeout=60)
    _same_record(rec, runner.run_to_record(JobSpec(**TINY)))


def test_in_process_executor_cancels_a_running_job(runner) -> None:  # noqa: ANN001
    started = threading.Event()
    with InProcessExecutor(runner=runner) as ex:
        f = ex.submit(JobSpec(**LONG), on_event=lambda ev: started.set() if getattr(ev, "stage", "") == "unlearn" else None)
        assert started.wait(60)
        ex.cancel()
        with pytest.raises(Cancelled):
            f.result(timeout=5)


def test_the_cache_entry_lock_makes_a_second_holder_wait(tmp_path) -> None:  # noqa: ANN001
    stem = tmp_path / "models" / "original-abc"
    order: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait(5)
        with entry_lock(stem):
            order.append("second")

    t = threading.Thread(target=second)
    t.start()
    with entry_lock(stem) as locked:
        assert locked
        first_in.set()
        time.sleep(0.3)  # the second holder polls every 0.1 s meanwhile
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]


def test_a_waiter_on_the_cache_lock_can_be_cancelled(tmp_path) -> None:  # noqa: ANN001
    from engine._core.cancel import CancelToken

    stem = tmp_path / "retrain-x"
    token = CancelToken()
    token.cancel()
    with entry_lock(stem), pytest.raises(Cancelled), entry_lock(stem, wait=token.check):
        pass  # pragma: no cover - never entered


@pytest.mark.slow  # starts a local Ray (several seconds)
def test_ray_executor_runs_a_job_like_the_runner_cancels_and_sweeps(runner, tmp_path) -> None:  # noqa: ANN001
    ray = pytest.importorskip("ray")
    from engine.executors.ray_executor import RayExecutor

    assert not ray.is_initialized()
    ex = RayExecutor(2, num_cpus=2)
    try:
        events: list = []
        rec = ex.submit(JobSpec(**TINY), on_event=events.append).result(timeout=110)
        _same_record(rec, runner.run_to_record(JobSpec(**TINY)))
        assert any(isinstance(e, Progress) for e in events)
        started = threading.Event()
        f = ex.submit(JobSpec(**LONG), on_event=lambda ev: started.set() if getattr(ev, "stage", "") == "unlearn" else None)
        assert started.wait(100)
        t0 = time.monotonic()
        ex.cancel(f)
        with pytest.raises(Cancelled):
            f.result(timeout=10)
        assert time.monotonic() - t0 < 2.0
        # a sweep runs unchanged on Ray
        from engine.executors.sweep import SweepConfig, run_sweep

        config = SweepConfig(JobSpec(**{**TINY, "audit": True}), trials=2, sampler="random", only=("lr",))
        summary = list(run_sweep(config, ex, tmp_path / "sweep"))[-1].summary
        assert [t["state"] for t in summary["trials"]] == ["complete", "complete"] and summary["pareto"]
    finally:
        ex.shutdown(cancel=True)
    assert not ray.is_initialized()


@pytest.mark.slow  # trains the tiny original and retrain (once)
def test_two_workers_needing_the_same_original_train_it_once(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Two runners (as two workers would) start together on an empty cache: one trains the original
    and the retrain reference under the entry locks, the other waits and loads both from the cache."""
    from engine._core.events import Log
    from engine.runs.runner import Runner

    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))
    spec = JobSpec(**TINY)
    logs: list[list[str]] = [[], []]
    go = threading.Barrier(2)

    def work(i: int) -> None:
        go.wait(10)
        for ev in Runner(threads=1).run(spec):
            if isinstance(ev, Log):
                logs[i].append(ev.message)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    loaded = [sum("loaded from cache" in m for m in msgs) for msgs in logs]
    assert sorted(loaded) == [0, 2]  # one trained both models, the other loaded both
    assert sorted(p.name for p in (tmp_path / "models").glob("*.safetensors")).__len__() == 2
