"""One engine event stream on a Python thread of the studio, its events posted to the GUI thread.

The sweep (:mod:`app.sweep`) and the shadow-ensemble audit (:mod:`app.ensemble`) share this
machinery: one job at a time, a :class:`engine.CancelToken` per job, a generation number so that a
late event of an earlier job is dropped, and the job's end reported as ``("failed", message,
cancelled)`` and then ``("ended",)``. Subclasses give ``_on_post(gen, event)`` (on the GUI thread)
and the text of a cancelled job. The studio's own Run uses the job process (:mod:`app.worker`)
instead; these jobs must not touch the loaded model and may start worker processes of their own.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from engine import CancelToken, Cancelled, LetheError

log = logging.getLogger(__name__)

Post = Callable[[Any], None]
Body = Callable[[CancelToken, Post], None]


class ThreadJob(QObject):
    """Base of the studio's thread-run jobs: ``sig_busy(bool)`` when one starts and ends;
    ``cancel_at`` / ``ended_at`` are monotonic times (for cancel latency)."""

    sig_busy = Signal(bool)
    _sig_post = Signal(int, object)  # generation, event (posted by the job thread)
    what = "job"  # for messages: "a sweep is already running"
    cancelled_text = "Cancelled."

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._token = CancelToken()
        self._gen = 0
        self.cancel_at: float | None = None
        self.ended_at: float | None = None
        self._sig_post.connect(self._on_post, Qt.ConnectionType.QueuedConnection)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _launch(self, name: str, body: Body) -> None:
        """Run ``body(token, post)`` on a new thread. RuntimeError when a job is still running."""
        if self.is_running():
            raise RuntimeError(f"{self.what} is already running")
        self._gen += 1
        self._token = CancelToken()
        self.cancel_at = self.ended_at = None
        self._thread = threading.Thread(target=self._work, args=(self._gen, self._token, body), name=name, daemon=True)
        self._thread.start()
        self.sig_busy.emit(True)

    def cancel(self) -> None:
        """Ask the job to stop (returns at once; the job reports ``failed(..., cancelled=True)``)."""
        if self.is_running() and not self._token.cancelled:
            self.cancel_at = time.monotonic()
            self._token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the job thread; True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel and wait (closing a dialog or the window)."""
        self.cancel()
        self.wait(timeout)

    # ------------------------------------------------------------------ the job thread
    def _post(self, gen: int, token: CancelToken, ev: Any) -> None:
        try:
            self._sig_post.emit(gen, ev)
        except RuntimeError:  # the controller was deleted (window closed mid-job): stop quietly
            token.cancel()

    def _work(self, gen: int, token: CancelToken, body: Body) -> None:
        def post(ev: Any) -> None:
            self._post(gen, token, ev)

        try:
            body(token, post)
        except Cancelled:
            post(("failed", self.cancelled_text, True))
        except LetheError as exc:
            post(("failed", exc.message + (f" ({exc.hint})" if getattr(exc, "hint", "") else ""), False))
        except Exception as exc:
            log.exception("%s failed", self.what)
            post(("failed", f"{type(exc).__name__}: {exc}", False))
        finally:
            self.ended_at = time.monotonic()
            post(("ended",))

    def _report_ended(self) -> None:
        """Called by subclasses on the GUI thread for the job's ``("ended",)`` event: the job thread
        posted it as its last act, so it is joined (it has only to return) before ``sig_busy(False)``;
        a slot of ``sig_busy`` therefore always sees ``is_running()`` False and may start the next job."""
        if self._thread is not None:
            self._thread.join(1.0)
        self.sig_busy.emit(False)

    def _on_post(self, gen: int, ev: Any) -> None:  # pragma: no cover - subclasses give it
        raise NotImplementedError
