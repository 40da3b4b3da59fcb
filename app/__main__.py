"""``python -m app`` / ``lethe``: open the studio with the digits demo loaded.

Options: ``--demo`` plays the presenters' script (forget one class with POUR-P, then POUR-D, large
fonts, the geometry animation); ``--run METHOD`` starts one run once the original is ready;
``--screenshot PATH`` waits until idle (after the run / demo), saves the window as PNG and quits.
"""
from __future__ import annotations

import argparse
import sys
from importlib import resources

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from app.excepthook import install_excepthook
from app.plots import style


def _stylesheet() -> str:
    try:
        return resources.files("resources").joinpath("lethe.qss").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return ""


class ScriptDriver(QObject):
    """Drives the window through a script: runs after the original is ready, then screenshots / replays."""

    def __init__(self, window, methods: list[str], forget_class: int, screenshot: str | None,
                 demo: bool, hold_ms: int = 2500) -> None:
        super().__init__(window)
        self.window = window
        self.methods = list(methods)
        self.forget_class = forget_class
        self.screenshot = screenshot
        self.demo = demo
        self.hold_ms = hold_ms
        self.started = False
        window.sig_idle.connect(self._on_window_idle)
        window.controller.sig_failed.connect(self._on_failed)
        self.failed = False

    @Slot(object)
    def _on_failed(self, _ev) -> None:
        self.failed = True

    @Slot()
    def _on_window_idle(self) -> None:
        w = self.window
        if w.state.bundle is None:
            if self.failed:
                self._finish()
            return
        if not self.started:
            self.started = True
            w.forget_pane.set_checked_classes([self.forget_class])
            self._next()
            return
        if self.demo and w.state.runs:
            QTimer.singleShot(600, self._replay)  # the geometry animation of the run just finished
        else:
            self._next()

    def _next(self) -> None:
        if self.methods:
            method = self.methods.pop(0)
            QTimer.singleShot(self.hold_ms if self.demo and self.window.state.runs else 100, lambda m=method: self._run(m))
        else:
            QTimer.singleShot(400, self._finish)

    def _run(self, method: str) -> None:
        w = self.window
        w.method_pane.select_method(method)
        w.start_run()

    def _replay(self) -> None:
        """Scrub the last run's frames from the original to the end, then go on."""
        slider = self.window.live_view.slider
        self._frame = 0
        slider.setValue(0)
        self._timer = QTimer(self)
        self._timer.setInterval(max(60, 3000 // max(1, slider.maximum())))
        self._timer.timeout.connect(self._on_replay_tick)
        self._timer.start()

    @Slot()
    def _on_replay_tick(self) -> None:
        slider = self.window.live_view.slider
        self._frame += 1
        if self._frame > slider.maximum():
            self._timer.stop()
            self._next()
            return
        slider.setValue(self._frame)

    def _finish(self) -> None:
        if self.screenshot:
            self.window.grab().save(self.screenshot)
            print(f"screenshot saved to {self.screenshot}")
            QTimer.singleShot(0, self.window.close)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lethe", description="Lethe: a desktop studio for machine unlearning")
    parser.add_argument("--demo", action="store_true", help="play the scripted presenters' demo")
    parser.add_argument("--run", metavar="METHOD", action="append", default=[], help="run METHOD once ready (repeatable)")
    parser.add_argument("--forget-class", type=int, default=3, help="class to forget in --demo / --run (default 3)")
    parser.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window when idle, then quit")
    parser.add_argument("--size", default=None, help="window size WxH, at most the screen's available size "
                        "(default 1600x1000; 1920x1080 with --demo)")
    args = parser.parse_args(argv)

    # The worker thread holds the GIL between torch calls; a shorter switch interval lets the GUI
    # thread (whose paints are many short Python calls) get it back sooner.
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Lethe")
    app.setOrganizationName("Lethe")
    app.setStyle("Fusion")
    font = QFont(app.font())
    font.setPointSize(14 if args.demo else 10)
    app.setFont(font)
    app.setStyleSheet(_stylesheet())
    style.configure()
    # From here on no exception is a traceback on stderr only: each one becomes a dialog.
    router = install_excepthook()

    from app.main_window import MainWindow

    window = MainWindow()
    router.window = window
    w, _, h = (args.size or ("1920x1080" if args.demo else "1600x1000")).partition("x")
    window.fit_to_screen(int(w), int(h))  # never larger than the screen it opens on
    methods = list(args.run)
    if args.demo and not methods:
        methods = ["pour_p", "pour_d"]
    if args.demo:
        window.live_view.set_large(True, font_pt=font.pointSizeF() - 1)
        window.verdict_pane.set_compact(True)  # all five verdicts fit the dock at 1600 x 1000
    driver = None
    if methods or args.screenshot:
        driver = ScriptDriver(window, methods, args.forget_class, args.screenshot, args.demo)
    window.show()
    # Once shown, the window manager's frame is known: fit again so the frame fits too.
    window.fit_to_screen(int(w), int(h))
    QTimer.singleShot(0, lambda: window.fit_to_screen(int(w), int(h)))
    def arrange() -> None:
        window.arrange_side_docks(presenter=args.demo)

    arrange()
    QTimer.singleShot(0, arrange)  # again once fitted to the screen
    code = app.exec()
    del driver
    router.uninstall()
    return code


if __name__ == "__main__":
    sys.exit(main())
