"""Every exception that reaches the studio's event loop becomes a dialog, never a traceback on
stderr only (issue 11.7).

:class:`ExceptionRouter` replaces ``sys.excepthook`` (PySide6 calls it for an exception raised in
any slot, timer or event handler, engine-event slots included) and ``threading.excepthook`` (a
Python thread other than the GUI's). An exception on the GUI thread opens an :class:`ErrorDialog`
at once; one from another thread is handed to the GUI thread through a queued signal. The
traceback is still written to stderr (the log) as well.
"""
from __future__ import annotations

import html
import sys
import threading
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app import messages

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class ErrorDialog(QMessageBox):
    """An error dialog: the title as a bold headline (macOS and bare X servers show no window
    title), the message below it and, for a bug, the traceback under *Show Details…*.

    Every text is escaped: markup in a message (a file name, a record's label) is shown as typed.
    ``title``, ``body`` and ``details`` keep the plain texts.
    """

    def __init__(self, title: str, body: str, details: str = "", parent: QWidget | None = None) -> None:
        icon = QMessageBox.Icon.Critical if details else QMessageBox.Icon.Warning
        super().__init__(icon, title, "", QMessageBox.StandardButton.Ok, parent)
        self.setObjectName("errorDialog")
        self.title, self.body, self.details = title, body, details
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(f"<b>{html.escape(title)}</b>")
        self.setInformativeText(_rich(body))
        if details:
            self.setDetailedText(details)  # a plain-text box


def _rich(text: str) -> str:
    """Plain ``text`` as escaped rich text that keeps its line breaks (a ``<p>`` forces rich text)."""
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


def dialog_for(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
               parent: QWidget | None = None) -> ErrorDialog:
    """The dialog of one exception (see :func:`app.messages.exception_texts` for the wording)."""
    title, text, details = messages.exception_texts(exc_type, exc, tb)
    return ErrorDialog(title, text, details, parent)


class ExceptionRouter(QObject):
    """Routes uncaught exceptions to dialogs on the GUI thread; :meth:`install` / :meth:`uninstall`.

    ``shown`` lists (title, text) of every dialog opened, ``suppressed`` counts exceptions that
    arrived while a dialog was already open (written to stderr only, so a failing timer cannot
    stack dialogs without end).
    """

    sig_exception = Signal(object)  # ExcInfo from another thread -> _on_sig_exception (queued)

    def __init__(self, window: QWidget | None = None) -> None:
        super().__init__()
        self.window = window
        self.shown: list[tuple[str, str]] = []
        self.suppressed = 0
        self._open = False
        self._previous: tuple[Any, Any] | None = None
        self.sig_exception.connect(self._on_sig_exception, Qt.ConnectionType.QueuedConnection)

    def install(self) -> ExceptionRouter:
        if self._previous is None:
            self._previous = (sys.excepthook, threading.excepthook)
            sys.excepthook = self.excepthook
            threading.excepthook = self._thread_excepthook
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = None

    def excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """``sys.excepthook``: log to stderr, then a dialog (now on the GUI thread, else queued)."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        if sys.stderr is not None:  # pythonw has none: the dialog still comes
            traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        app = QApplication.instance()
        if app is None:
            return
        if QThread.currentThread() is app.thread():
            self.show_exception((exc_type, exc, tb))
        else:
            self.sig_exception.emit((exc_type, exc, tb))

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(object)
    def _on_sig_exception(self, info: ExcInfo) -> None:
        self.show_exception(info)

    def show_exception(self, info: ExcInfo) -> ErrorDialog | None:
        """Open the dialog of ``info`` (modal) unless one is open already; returns it."""
        if self._open:
            self.suppressed += 1
            return None
        parent = self.window if self.window is not None else QApplication.activeWindow()
        try:
            dialog = dialog_for(*info, parent=parent)
        except Exception:  # noqa: BLE001 - building the dialog failed: the log has the traceback
            return None
        self.shown.append((dialog.title, dialog.body))
        self._open = True
        try:
            dialog.exec()
        finally:
            self._open = False
        return dialog


def install_excepthook(window: QWidget | None = None) -> ExceptionRouter:
    """Route every uncaught exception of the studio to a dialog over ``window``."""
    return ExceptionRouter(window).install()
