"""Exports run on the thread pool and report back on the GUI thread."""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Slot

from app.background import run_in_background, wait_for_background
from engine._core.errors import DiskFull


class Receiver(QObject):
    """Collects what a background call reports, on the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.done: list[object] = []
        self.failed: list[str] = []
        self.threads: list[int] = []

    @Slot(object)
    def on_done(self, result: object) -> None:
        self.done.append(result)
        self.threads.append(threading.get_ident())

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.failed.append(message)


def test_a_background_call_runs_elsewhere_and_reports_on_the_gui_thread(qtbot) -> None:  # noqa: ANN001
    receiver = Receiver()
    gui = threading.get_ident()
    run_in_background(threading.get_ident, receiver, receiver.on_done, receiver.on_failed)
    qtbot.waitUntil(lambda: bool(receiver.done), timeout=10_000)
    assert receiver.done[0] != gui  # the work ran on a pool thread
    assert receiver.threads == [gui]  # the result arrived on the GUI thread
    assert wait_for_background(1000)


def test_a_failing_background_call_reports_the_error_message(qtbot) -> None:  # noqa: ANN001
    def fail() -> None:
        raise DiskFull("no space left writing report.html")

    receiver = Receiver()
    run_in_background(fail, receiver, receiver.on_done, receiver.on_failed)
    qtbot.waitUntil(lambda: bool(receiver.failed), timeout=10_000)
    assert "no space left" in receiver.failed[0] and not receiver.done
    assert wait_for_background(1000)


def test_a_result_whose_receiver_was_deleted_is_dropped_quietly(qtbot) -> None:  # noqa: ANN001
    """A dialog closed while its background estimate runs deletes the call with it: the late result
    must be dropped, not raise "Signal source has been deleted" on the pool thread."""
    release = threading.Event()
    receiver = Receiver()
    call = run_in_background(lambda: release.wait(5) and 42, receiver, receiver.on_done, receiver.on_failed)
    call.deleteLater()  # the parent dialog is gone
    qtbot.waitUntil(lambda: not _alive(call), timeout=5000)
    release.set()
    assert wait_for_background(5000)
    qtbot.wait(50)
    assert receiver.done == [] and receiver.failed == []


def _alive(obj: QObject) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)
