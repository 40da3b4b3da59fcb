"""Coalescing of redraw requests: many events in, at most one redraw per interval out."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Slot


class Throttle(QObject):
    """Call ``fn`` at most once per ``interval_ms`` after :meth:`request`; newer requests replace older."""

    def __init__(self, fn: Callable[[], None], interval_ms: int = 100, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timeout)
        self._dirty = False

    def request(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now if anything is pending (e.g. on Finished, so the last frame is never lost)."""
        if self._dirty:
            self._timer.stop()
            self._on_timeout()

    def cancel(self) -> None:
        """Drop a pending redraw (the view was cleared)."""
        self._dirty = False
        self._timer.stop()

    @Slot()
    def _on_timeout(self) -> None:
        if self._dirty:
            self._dirty = False
            self._fn()
