"""Exports run on the thread pool and report back on the GUI thread."""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject

from app.background import run_in_background, wait_for_background
from engine.errors import DiskFull


def test_a_background_call_returns_its_result_from_another_thread(qtbot) -> None:  # noqa: ANN001
    owner = QObject()
    caller = threading.get_ident()
    call = run_in_background(lambda: threading.get_ident(), owner)
    with qtbot.waitSignal(call.sig_done, timeout=5000) as done:
        pass
    assert done.args[0] != caller
    assert wait_for_background(1000)


def test_a_failing_background_call_reports_the_error_message(qtbot) -> None:  # noqa: ANN001
    def fail() -> None:
        raise DiskFull("no space left writing report.html")

    owner = QObject()
    call = run_in_background(fail, owner)
    with qtbot.waitSignal(call.sig_failed, timeout=5000) as failed:
        pass
    assert "no space left" in failed.args[0]
    assert wait_for_background(1000)
