"""The studio's shadow-ensemble driver: a KLoM / U-LiRA job off the GUI thread, its events as Qt signals.

Where it runs: on a Python thread of the studio (:class:`EnsembleController`), never on the GUI
thread and never in the studio's job process, so the loaded original and a normal Run are not
touched. The job is an engine event generator (:meth:`engine.EnsembleAudit.job`); its token is
checked every training / unlearning batch, so Cancel stops it within a batch and the thread reports
``sig_failed(message, cancelled=True)``. Shadows already trained stay in the model cache (a later
job reuses them); the result is cached by the engine, so the same audit again is shown at once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from engine import CancelToken, Cancelled, Event, LetheError, Log, Progress

log = logging.getLogger(__name__)

JobFactory = Callable[[CancelToken], Generator[Event, None, dict[str, Any]]]


class EnsembleController(QObject):
    """Run one ensemble job at a time; ``sig_progress(fraction, message)``, ``sig_log(text)``,
    ``sig_done(result dict)`` or ``sig_failed(message, cancelled)``, ``sig_busy(bool)``."""

    sig_progress = Signal(float, str)
    sig_log = Signal(str)
    sig_done = Signal(object)
    sig_failed = Signal(str, bool)
    sig_busy = Signal(bool)
    _sig_post = Signal(int, object)  # generation, event (posted by the job thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._token = CancelToken()
        self._gen = 0
        self._sig_post.connect(self._on_post, Qt.ConnectionType.QueuedConnection)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, factory: JobFactory) -> None:
        """Start ``factory(token)``'s generator on a thread. RuntimeError when one is still running."""
        if self.is_running():
            raise RuntimeError("an ensemble job is already running")
        self._gen += 1
        self._token = CancelToken()
        self._thread = threading.Thread(target=self._work, args=(self._gen, self._token, factory),
                                        name="lethe-ensemble", daemon=True)
        self._thread.start()
        self.sig_busy.emit(True)

    def cancel(self) -> None:
        """Ask the job to stop at its next batch (returns at once)."""
        if self.is_running():
            self._token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the job thread; True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel and wait (closing the dialog or the window)."""
        self.cancel()
        self.wait(timeout)

    # ------------------------------------------------------------------ the job thread
    def _post(self, gen: int, ev: Any) -> None:
        try:
            self._sig_post.emit(gen, ev)
        except RuntimeError:  # the controller was deleted (window closed mid-job): stop quietly
            self._token.cancel()

    def _work(self, gen: int, token: CancelToken, factory: JobFactory) -> None:
        try:
            job = factory(token)
            while True:
                try:
                    ev = next(job)
                except StopIteration as stop:
                    self._post(gen, ("done", stop.value))
                    break
                if token.cancelled:
                    raise Cancelled("cancelled")
                if isinstance(ev, (Progress, Log)):
                    self._post(gen, ev)
        except Cancelled:
            self._post(gen, ("failed", "The ensemble audit was cancelled; shadow models already trained "
                                      "stay cached for the next try.", True))
        except LetheError as exc:
            text = exc.message + (f" ({exc.hint})" if getattr(exc, "hint", "") else "")
            self._post(gen, ("failed", text, False))
        except Exception as exc:
            log.exception("the ensemble job failed")
            self._post(gen, ("failed", f"{type(exc).__name__}: {exc}", False))
        finally:
            self._post(gen, ("ended",))

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
            self.sig_busy.emit(False)
