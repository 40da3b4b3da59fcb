"""Cooperative cancellation: the GUI sets the token, engine loops check it every batch."""
from __future__ import annotations

import threading

from engine._core.errors import Cancelled


class CancelToken:
    """Thread-safe flag. ``check()`` raises :class:`Cancelled` once ``cancel()`` was called."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("the job was cancelled")


NEVER = CancelToken()
"""A token nobody cancels, for notebook and test use."""
