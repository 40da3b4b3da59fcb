"""One-off background calls (report export, saving weights) on Qt's thread pool.

The long-lived JobController runs unlearning jobs; exports must not cancel a running job, nor
block the GUI thread (a report renders its matplotlib figures for a second or two). The result
comes back through a queued signal to a slot of a GUI-thread QObject.
"""
from __future__ import annotations

import contextlib
import traceback
from typing import Any
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine import LetheError


class BackgroundCall(QObject):
    """Emits ``sig_done(result)`` or ``sig_failed(message)`` on the GUI thread when the call ends."""

    sig_done = Signal(object)
    sig_failed = Signal(str)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], Any], call: BackgroundCall) -> None:
        super().__init__()
        self.fn = fn
        self.call = call

    def run(self) -> None:  # on a pool thread: never touch a widget here
        try:
            result = self.fn()
        except LetheError as exc:
            self._emit(self.call.sig_failed, exc.message + (f" ({exc.hint})" if exc.hint else ""))
        except Exception as exc:  # noqa: BLE001 - report it instead of losing it in the pool
            self._emit(self.call.sig_failed, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
        else:
            self._emit(self.call.sig_done, result)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        """Report to the GUI; when whoever asked is gone (a dialog closed while its estimate ran,
        which deletes the BackgroundCall with it), the result has no reader and is dropped."""
        with contextlib.suppress(RuntimeError):  # "Signal source has been deleted"
            signal.emit(value)


def run_in_background(
    fn: Callable[[], Any],
    parent: QObject,
    on_done: Callable[[Any], None],
    on_failed: Callable[[str], None],
) -> BackgroundCall:
    """Start ``fn`` on the pool. ``on_done`` / ``on_failed`` (``@Slot`` methods of GUI-thread
    objects) are connected *before* the call starts, so a fast call cannot report to nobody."""
    call = BackgroundCall(parent)
    call.sig_done.connect(on_done)
    call.sig_failed.connect(on_failed)
    QThreadPool.globalInstance().start(_Runnable(fn, call))
    return call


def wait_for_background(timeout_ms: int = 10000) -> bool:
    """On shutdown: let running exports finish writing their files."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
