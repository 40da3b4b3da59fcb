"""Studio test set-up: a shared engine Runner and a guard that fails tests leaving a QThread running."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs.runner import Runner


@pytest.fixture(scope="session")
def runner() -> Runner:
    """One engine runner for the whole app suite (it caches the digits original in memory)."""
    return Runner()


@pytest.fixture(autouse=True)
def _no_running_qthreads():
    yield
    from app.worker import running_controllers

    left = running_controllers()
    for c in left:  # stop them so one failure does not cascade, then fail
        c.shutdown()
    assert not left, f"test left {len(left)} job controller thread(s) running"


@pytest.fixture(scope="session")
def letters_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small second dataset: digits images under the class names A..J (so a mix-up shows)."""
    import numpy as np

    from engine.data import load_dataset

    b = load_dataset("digits")
    path = tmp_path_factory.mktemp("data") / "letters.npz"
    np.savez(path, x_train=b.x_train[:600], y_train=b.y_train[:600], x_test=b.x_test[:200],
             y_test=b.y_test[:200], classes=np.array([chr(ord("A") + i) for i in range(10)]))
    return path


@pytest.fixture
def controller(qtbot, runner):  # noqa: ANN001
    from app.worker import JobController

    c = JobController(runner)
    yield c
    c.shutdown()
    assert not c.thread_running()


@pytest.fixture
def window(qtbot, controller):  # noqa: ANN001
    """The studio window with the digits original prepared (thread worker, the shared runner)."""
    from app.main_window import MainWindow
    from app.plots import style

    style.configure()
    w = MainWindow(controller=controller, autoload=False)
    w.show_dialogs = False
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    with qtbot.waitSignal(controller.sig_prepared, timeout=120_000):
        w.prepare("digits", {"arch": "cnn_small"})
    qtbot.waitUntil(lambda: not controller.is_busy())
    return w


@pytest.fixture(autouse=True)
def _delete_closed_windows(qtbot):  # noqa: ANN001, ANN202
    """After each test, delete inside Qt what it left, at one safe point, before the collector meets it.

    A test leaves closed top-level widgets behind: its main windows, the plots it gave qtbot, and
    pyqtgraph's parentless context menus (one QMenu per plot). Left to Python's garbage collector,
    they were destroyed whenever a later allocation triggered a collection, in the middle of another
    test's event processing: a segfault in GraphicsView.paintEvent, or "pure virtual method called"
    while pytest-qt processed events (1 run in 8 of test_plots_legible + test_long_class_names).
    Here they are deleted inside Qt (parentless hidden windows; their children go with them), so
    the collector later frees only dead Python wrappers (0 crashes in 18 runs; forcing gc.collect()
    here as well cost 0.15 s a test for no gain)."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication, QMainWindow

    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMainWindow):
            w.close()
        if w.parentWidget() is None and not w.isVisible():
            w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
