"""``python -m engine bench executors [--workers W] [--trials N] [--executor local|ray]``.

Throughput of W workers ÷ one worker on the same N jobs: the jobs are one method (``--only``,
default ``finetune``, 3 epochs) with N learning rates on ``--dataset`` / ``--model`` (digits,
cnn_small), one seed, so every job shares one original and one retrain reference (trained into
the cache first, in this process, and loaded by each worker during an untimed warm-up job per
worker). Then N jobs are timed on an executor with one worker, and the same N jobs on one with W.
Prints a line ``parallel ÷ sequential: R×``, how many jobs were in flight on average (Σ of the
jobs' own seconds ÷ wall: ~W when the workers overlap), and the machine's load average before and
after (the ratio is only meaningful on an otherwise idle machine).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import wait
from pathlib import Path
from typing import Any

from engine._core.fileio import atomic_write_json
from engine.executors import make_executor
from engine.executors.base import Executor
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

DEFAULT_METHOD = "finetune"


def bench_jobs(args: argparse.Namespace) -> list[JobSpec]:
    """The N timed jobs (and, first, the spec the warm-up uses)."""
    method = (args.only or DEFAULT_METHOD).split(",")[0]
    base = JobSpec(dataset=args.dataset, model={"arch": args.model}, forget={"classes": [args.forget_class]},
                   method=method, seed=args.seed, device=args.device, evaluate=False, geometry=False, audit=False)
    return [base.with_changes(params={"epochs": 3, "lr": 0.005 * (1 + i / max(1, args.trials))} if method == DEFAULT_METHOD
                              else {}) for i in range(max(1, args.trials))]


def timed_run(executor: Executor, jobs: list[JobSpec]) -> tuple[float, float]:
    """Warm every worker with one job (untimed), then run all ``jobs``: (wall seconds, the sum of
    the jobs' own seconds inside their workers)."""
    for f in [executor.submit(jobs[0]) for _ in range(executor.workers)]:
        f.result()
    t0 = time.perf_counter()
    futures = [executor.submit(j) for j in jobs]
    wait(futures)
    inside = sum(f.result().seconds.get("total", 0.0) for f in futures)
    return time.perf_counter() - t0, inside


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def _autogroup() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def run_bench_executors(args: argparse.Namespace) -> int:
    jobs = bench_jobs(args)
    workers = max(1, args.workers if args.workers is not None else 2)
    print(f"bench executors: {len(jobs)} jobs of {jobs[0].method} on {jobs[0].dataset} / {jobs[0].model['arch']}, "
          f"{args.executor} executor, {os.cpu_count()} cores; load average before: {_load()}", file=sys.stderr)
    Runner().run_to_record(jobs[0])  # the original and the retrain reference into the cache
    kw: dict[str, Any] = {"nice": 0} if args.executor == "local" else {}
    with make_executor(args.executor, 1, **kw) as ex:
        sequential, seq_inside = timed_run(ex, jobs)
    with make_executor(args.executor, workers, **kw) as ex:
        threads = getattr(ex, "threads", 1)
        parallel, par_inside = timed_run(ex, jobs)
    ratio = sequential / parallel if parallel > 0 else float("nan")
    load_after = _load()
    print(f"## bench executors: {args.executor}, {workers} workers × {threads} torch thread(s) vs 1 worker, "
          f"{len(jobs)} jobs\n")
    print(f"sequential (1 worker): {sequential:.1f} s ({len(jobs) / sequential:.2f} jobs/s)")
    print(f"parallel ({workers} workers): {parallel:.1f} s ({len(jobs) / parallel:.2f} jobs/s)")
    print(f"parallel ÷ sequential: {ratio:.2f}× throughput")
    print(f"jobs in flight on average (Σ job seconds ÷ wall): {seq_inside / sequential:.2f} sequential, "
          f"{par_inside / parallel:.2f} parallel; mean job {seq_inside / len(jobs):.2f} s alone vs "
          f"{par_inside / len(jobs):.2f} s beside another (CPU contention)")
    print(f"\nload average (1, 5, 15 min) after: {load_after}; on a busy machine the ratio understates the executor.")
    if _autogroup():
        print("Linux autogroup scheduling is on: the CPU is shared between sessions, so while other sessions keep "
              "the cores busy, more workers in this one get no more CPU time in total.")
    if args.out:
        atomic_write_json(Path(args.out), {"suite": "executors", "executor": args.executor, "workers": workers,
                                           "threads": threads, "jobs": len(jobs), "sequential_s": sequential,
                                           "parallel_s": parallel, "ratio": ratio,
                                           "job_seconds_sequential": seq_inside, "job_seconds_parallel": par_inside, "load_after": load_after,
                                           "cores": os.cpu_count()})
    return 0
