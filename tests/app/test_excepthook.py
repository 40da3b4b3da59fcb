"""Every exception that reaches the studio's event loop becomes a dialog (issue 11.7).

The dialogs' ``exec`` is replaced by a recorder, so nothing blocks; pytest-qt's own exception
capture is switched off for these tests (the router is what is under test).
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtWidgets import QPushButton

from app import messages
from app.excepthook import ErrorDialog, ExceptionRouter, install_excepthook
from engine import BadCheckpoint, JobSpec

pytestmark = pytest.mark.qt_no_exception_capture


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[ErrorDialog]:
    """Dialogs that would have been shown (``exec`` returns at once)."""
    dialogs: list[ErrorDialog] = []

    def fake_exec(self: ErrorDialog) -> int:
        dialogs.append(self)
        return 0

    monkeypatch.setattr(ErrorDialog, "exec", fake_exec)
    return dialogs


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[ExceptionRouter]:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored whatever happens
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    r = install_excepthook()
    assert sys.excepthook == r.excepthook
    yield r
    r.uninstall()


def _click_raising(qtbot, exc: BaseException) -> None:  # noqa: ANN001
    button = QPushButton("boom")
    qtbot.addWidget(button)

    def boom() -> None:
        raise exc

    button.clicked.connect(boom)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_bug_in_a_slot_becomes_a_dialog_with_the_traceback(qtbot, router, shown, capsys) -> None:  # noqa: ANN001
    _click_raising(qtbot, ValueError("boom in a slot"))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    dialog = shown[0]
    assert dialog.windowTitle() == messages.BUG_TITLE and messages.BUG_TITLE in dialog.text()  # also as headline
    assert "ValueError: boom in a slot" in dialog.body and "this is a bug in Lethe" in dialog.body
    assert "ValueError: boom in a slot" in dialog.informativeText()
    assert "Traceback" in dialog.detailedText() and "boom in a slot" in dialog.detailedText()
    assert "boom in a slot" in capsys.readouterr().err  # still logged


def test_a_lethe_error_in_a_slot_shows_its_message_and_hint(qtbot, router, shown) -> None:  # noqa: ANN001
    _click_raising(qtbot, BadCheckpoint("weights.pt has no <b>head</b>", "pick the <i>right</i> file"))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    dialog = shown[0]
    assert dialog.windowTitle() == messages.TITLES["BadCheckpoint"]
    assert dialog.body == "weights.pt has no <b>head</b>\n\nWhat to do: pick the <i>right</i> file."
    # markup in a message is shown as typed, not rendered
    assert "&lt;b&gt;head&lt;/b&gt;" in dialog.informativeText() and "<b>head" not in dialog.informativeText()
    assert dialog.detailedText() == ""  # a user's problem, not a bug: no traceback


def test_an_exception_in_a_slot_of_an_engine_event_becomes_a_dialog(qtbot, router, shown, controller) -> None:  # noqa: ANN001
    """Slots connected to the JobController's signals (events from the worker thread, queued)."""
    calls: list[str] = []

    def on_prepared(_ev: object) -> None:
        calls.append("prepared")
        raise RuntimeError("a bug in a slot of an engine event")

    controller.sig_prepared.connect(on_prepared)
    with qtbot.waitSignal(controller.sig_busy, timeout=120_000, check_params_cb=lambda busy: not busy):
        controller.prepare(JobSpec(dataset="digits", model={"arch": "cnn_small"}, reference=None))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    assert calls == ["prepared"]
    assert "RuntimeError: a bug in a slot of an engine event" in shown[0].body
    assert not controller.is_busy()  # the controller went on after the slot raised


def test_an_exception_in_another_thread_is_shown_on_the_gui_thread(qtbot, router, shown) -> None:  # noqa: ANN001
    gui = threading.get_ident()
    seen_on: list[int] = []
    original = ErrorDialog.exec

    def record_thread(self: ErrorDialog) -> int:
        seen_on.append(threading.get_ident())
        return original(self)

    ErrorDialog.exec = record_thread  # type: ignore[method-assign]  # restored by the shown fixture
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    assert "ZeroDivisionError" in shown[0].body and seen_on == [gui]


def test_errors_while_a_dialog_is_open_do_not_stack_dialogs(qtbot, router, monkeypatch) -> None:  # noqa: ANN001
    opened: list[ErrorDialog] = []

    def exec_raising_again(self: ErrorDialog) -> int:  # a timer failing again while the dialog is up
        opened.append(self)
        try:
            raise KeyError("again")
        except KeyError:
            router.excepthook(*sys.exc_info())  # type: ignore[arg-type]
        return 0

    monkeypatch.setattr(ErrorDialog, "exec", exec_raising_again)
    _click_raising(qtbot, ValueError("first"))
    qtbot.waitUntil(lambda: len(opened) == 1, timeout=5000)
    assert router.suppressed == 1 and len(router.shown) == 1


def test_uninstall_restores_the_previous_hooks(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    before = (sys.excepthook, threading.excepthook)
    r = ExceptionRouter().install()
    assert sys.excepthook != before[0]
    r.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_the_studio_installs_the_router(qtbot, monkeypatch) -> None:  # noqa: ANN001
    """``python -m app`` installs the hook before the window exists and removes it at exit."""
    import app.__main__ as main_module

    installed: list[ExceptionRouter] = []
    real_install = main_module.install_excepthook

    def spy(window=None):  # noqa: ANN001, ANN202
        r = real_install(window)
        installed.append(r)
        return r

    class FakeWindow(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.live_view = None

        def resize(self, *_a: object) -> None: ...
        def show(self) -> None: ...
        def arrange_docks(self, *_a: object) -> None: ...
        def arrange_side_docks(self, *_a: object, **_k: object) -> None: ...
        def fit_to_screen(self, *_a: object) -> None: ...
        def width(self) -> int:
            return 1600

    class FakePane:
        def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
            return QSize(300, 300)

    FakeWindow.forget_pane = FakeWindow.method_pane = FakePane()  # type: ignore[attr-defined]

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(main_module, "install_excepthook", spy)
    monkeypatch.setattr("app.main_window.MainWindow", FakeWindow)
    from PySide6.QtWidgets import QApplication

    qapp = QApplication.instance()
    font, sheet, interval = qapp.font(), qapp.styleSheet(), sys.getswitchinterval()
    monkeypatch.setattr(QApplication, "exec", lambda self: 0 if sys.excepthook == installed[0].excepthook else 7)
    try:
        assert main_module.main([]) == 0  # the hook was in place while the event loop ran
    finally:
        qapp.setFont(font)
        qapp.setStyleSheet(sheet)
        sys.setswitchinterval(interval)
    assert installed and sys.excepthook != installed[0].excepthook  # and removed afterwards
