"""The studio's sweep driver: :func:`engine.run_sweep` off the GUI thread, its events as Qt signals.

Where it runs: a sweep is many jobs, and their executor already puts each job in a job process of
its own (``local``: ``spawn`` worker processes with their own runners; ``ray``: Ray workers). What
is left is Optuna's bookkeeping between trials (ask, tell, write sweep.json), which is light: it
runs on a Python thread of the studio (:class:`SweepController`), never on the GUI thread, and
never in the studio's job process, so the loaded original and the studio's own runner are not
touched and a normal Run stays possible while a sweep runs. (The job process itself cannot host
the sweep: it is a daemon process, and daemon processes may not start the executor's workers.)
The ``inline`` executor runs the jobs on a thread of this process with its own runner (tests,
debugging).

Cancel sets the sweep's token: :func:`engine.run_sweep` sees it within 0.2 s and cancels the
executor, whose running workers stop at their next batch or are killed 0.7 s later; the thread
then reports ``sig_failed(message, cancelled=True)``. Trials already done stay in the sweep folder's
journal (the same folder resumes them).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.thread_job import Post, ThreadJob

from engine import (
    CancelToken,
    Log,
    Progress,
    RunRecord,
    SweepConfig,
    SweepFinished,
    TrialDone,
    make_executor,
    run_sweep,
)



class SweepController(ThreadJob):
    """Start one sweep at a time; its events come back on the GUI thread as signals.

    ``sig_trial(TrialDone)`` after each trial, ``sig_progress(Progress)``, ``sig_log(Log)``,
    ``sig_finished(SweepFinished)``, or ``sig_failed(message, cancelled)``; ``sig_busy(bool)``
    when it starts and ends. ``ended_at`` / ``cancel_at``: monotonic times (cancel latency).
    """

    sig_trial = Signal(object)
    sig_progress = Signal(object)
    sig_log = Signal(object)
    sig_finished = Signal(object)
    sig_failed = Signal(str, bool)
    what = "a sweep"
    cancelled_text = "The sweep was cancelled; finished trials are kept in its folder."

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None

    def start(self, config: SweepConfig, out: str | Path, *, executor: str = "local", workers: int | None = None,
              runner: Any = None) -> None:
        """Run ``config``'s missing trials in folder ``out`` on ``executor`` with ``workers``.

        ``runner``: an engine Runner for the ``inline`` executor (tests share one). Raises
        RuntimeError when a sweep is still running. Cancel: its running jobs stop within ~1 s."""
        if self.is_running():
            raise RuntimeError("a sweep is already running")
        folder = self.folder = Path(out)
        kw: dict[str, Any] = {"runner": runner} if executor == "inline" and runner is not None else {}

        def body(token: CancelToken, post: Post) -> None:
            with make_executor(executor, workers, **kw) as ex:
                for ev in run_sweep(config, ex, folder, token=token):
                    post(ev)

        self._launch("lethe-sweep", body)

    @Slot(int, object)
    def _on_post(self, gen: int, ev: Any) -> None:
        if gen != self._gen:
            return
        if isinstance(ev, TrialDone):
            self.sig_trial.emit(ev)
        elif isinstance(ev, Progress):
            self.sig_progress.emit(ev)
        elif isinstance(ev, Log):
            self.sig_log.emit(ev)
        elif isinstance(ev, SweepFinished):
            self.sig_finished.emit(ev)
        elif isinstance(ev, tuple) and ev[0] == "failed":
            self.sig_failed.emit(ev[1], ev[2])
        elif isinstance(ev, tuple) and ev[0] == "ended":
            self._report_ended()


# ---------------------------------------------------------------------------------------------
# a trial as a run of the runs table


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, s


def trial_record(ev: TrialDone, method_label: str) -> tuple[RunRecord, dict[str, float], list[float]] | None:
    """The trial as one run: ``(record, metrics_std, per_class_std)``, or None for a failed trial.

    With one seed the record is the seed's own (relabelled "SalUn trial 7"); with several, its
    ``metrics`` and ``per_class_acc`` are the means over the seeds (the first seed's model and
    references are kept) and the std dicts hold the sample standard deviations (0 with one seed); the
    record carries them too (``metrics_std``, ``per_class_std``: session files keep them, the HTML
    report shows mean ± std), empty with one seed."""
    records = [r for r in ev.records if isinstance(r, RunRecord)]
    if not records:
        return None
    number = ev.trial.get("number", ev.index)
    label = f"{method_label} trial {number}"
    seeds = [r.spec.get("seed") for r in records]
    base = records[0]
    keys = [k for k, v in base.metrics.items()
            if isinstance(v, (int, float)) and all(isinstance(r.metrics.get(k), (int, float)) for r in records)]
    metrics, std = dict(base.metrics), {}
    for k in keys:
        metrics[k], std[k] = _mean_std([float(r.metrics[k]) for r in records])
    per_class, per_class_std = list(base.per_class_acc), [0.0] * len(base.per_class_acc)
    if len(records) > 1 and all(len(r.per_class_acc) == len(base.per_class_acc) for r in records):
        pairs = [_mean_std([float(r.per_class_acc[c]) for r in records]) for c in range(len(base.per_class_acc))]
        per_class, per_class_std = [p[0] for p in pairs], [p[1] for p in pairs]
    notes = list(base.notes)
    notes.append(f"sweep trial {number}: metrics are means over seeds {seeds} (± the standard deviation)"
                 if len(records) > 1 else f"sweep trial {number} (seed {seeds[0]})")
    several = len(records) > 1
    rec = dataclasses.replace(base, label=label, metrics=metrics, per_class_acc=per_class, notes=notes,
                              metrics_std=dict(std) if several else {}, per_class_std=list(per_class_std) if several else [])
    rec.model = base.model
    return rec, (std if several else {}), (per_class_std if several else [])


def split_params(method: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What a studio sweep searches and what it keeps: ``(fixed, searched)``.

    Searched: the method's float hyperparameters with finite bounds, its choices and its switches;
    fixed at the form's ``values``: everything else, notably the integer settings (epochs, batch
    size, steps), so that every trial costs about one run of the form's settings and the cost
    estimate holds."""
    from engine import methods

    info = methods.get(method)
    searched = []
    for f in dataclasses.fields(info.params):
        v = values.get(f.name, f.default)
        meta = f.metadata
        bounded = meta.get("min") is not None and meta.get("max") is not None
        if isinstance(v, bool) or meta.get("choices") or (isinstance(v, float) and bounded):
            searched.append(f.name)
    fixed = {k: v for k, v in values.items() if k not in searched}
    return fixed, searched
