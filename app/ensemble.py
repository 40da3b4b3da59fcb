"""The studio's shadow-ensemble driver: a KLoM / U-LiRA job off the GUI thread, its events as Qt signals.

Where it runs: on a Python thread of the studio (:class:`EnsembleController`), never on the GUI
thread and never in the studio's job process, so the loaded original and a normal Run are not
touched. The job is an engine event generator (:meth:`engine.EnsembleAudit.job`); its token is
checked every training / unlearning batch, so Cancel stops it within a batch and the thread reports
``sig_failed(message, cancelled=True)``. Shadows already trained stay in the model cache (a later
job reuses them); the result is cached by the engine, so the same audit again is shown at once.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import Signal, Slot

from app.thread_job import Post, ThreadJob

from engine import CancelToken, Cancelled, Event, Log, Progress

JobFactory = Callable[[CancelToken], Generator[Event, None, dict[str, Any]]]


class EnsembleController(ThreadJob):
    """Run one ensemble job at a time; ``sig_progress(fraction, message)``, ``sig_log(text)``,
    ``sig_done(result dict)`` or ``sig_failed(message, cancelled)``, ``sig_busy(bool)``."""

    sig_progress = Signal(float, str)
    sig_log = Signal(str)
    sig_done = Signal(object)
    sig_failed = Signal(str, bool)
    what = "an ensemble job"
    cancelled_text = "The ensemble audit was cancelled; shadow models already trained stay cached for the next try."

    def start(self, factory: JobFactory) -> None:
        """Start ``factory(token)``'s generator on a thread. RuntimeError when one is still running."""
        def body(token: CancelToken, post: Post) -> None:
            job = factory(token)
            while True:
                try:
                    ev = next(job)
                except StopIteration as stop:
                    post(("done", stop.value))
                    return
                if token.cancelled:
                    raise Cancelled("cancelled")
                if isinstance(ev, (Progress, Log)):
                    post(ev)

        self._launch("lethe-ensemble", body)

    @Slot(int, object)
    def _on_post(self, gen: int, ev: Any) -> None:
        if gen != self._gen:
            return
        if isinstance(ev, Progress):
            self.sig_progress.emit(float(ev.fraction), ev.message)
        elif isinstance(ev, Log):
            self.sig_log.emit(ev.message)
        elif ev[0] == "done":
            self.sig_done.emit(ev[1])
        elif ev[0] == "failed":
            self.sig_failed.emit(ev[1], ev[2])
        elif ev[0] == "ended":
            self._report_ended()
