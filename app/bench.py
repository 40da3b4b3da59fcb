"""``python -m app.bench``: is the studio responsive while a job runs, and how fast is a big redraw?

Prints (1) the GUI thread's event-loop stall during a POUR-D run on digits, measured as the lateness
of a 10 ms QTimer (p50, p99, max), and (2) the time to move and repaint a 20,000-point embedding
frame. Aims: p99 stall < 50 ms, redraw < 50 ms.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication


class StallProbe(QObject):
    """Records how late each tick of a 10 ms timer fires."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = QElapsedTimer()
        self.last = 0
        self.lateness: list[float] = []
        self.timer = QTimer(self)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._on_timeout)

    def start(self) -> None:
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start()

    @Slot()
    def _on_timeout(self) -> None:
        now = self.clock.nsecsElapsed()
        self.lateness.append(max(0.0, (now - self.last) / 1e6 - 10.0))
        self.last = now


def bench_redraw(n: int = 20_000, classes: int = 10, frames: int = 20) -> list[float]:
    from app.plots.embedding import EmbeddingPlot

    plot = EmbeddingPlot()
    plot.resize(900, 700)
    plot.show()
    plot.set_classes([str(c) for c in range(classes)])
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, n)
    is_forget = labels == 3
    base = rng.normal(size=(n, 2)).astype(np.float32) + labels[:, None] * 0.5
    times = []
    for i in range(frames):
        coords = base + 0.05 * i * rng.normal(size=base.shape).astype(np.float32)
        t0 = time.perf_counter()
        plot.set_points(coords, labels, is_forget)
        plot.grab()  # render the whole widget now (offscreen: a real raster paint)
        times.append((time.perf_counter() - t0) * 1000)
    plot.close()
    return times[1:]  # the first frame builds symbol atlases


def main() -> int:
    sys.setswitchinterval(0.001)  # as app.__main__ does
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.plots import style

    style.configure()
    window = MainWindow(autoload=False)
    window.show_dialogs = False
    window.resize(1600, 1000)
    window.show()
    probe = StallProbe()
    result: dict[str, float] = {}

    def on_prepared(_ev: object) -> None:
        window.forget_pane.set_checked_classes([3])
        window.method_pane.select_method("pour_d")
        window.method_pane.reference_box.setChecked(False)
        window.controller.sig_finished.connect(on_done)
        window.controller.sig_failed.connect(on_done)
        probe.start()
        t0 = time.perf_counter()
        window.start_run()
        result["t0"] = t0

    def on_done(_ev: object) -> None:
        probe.timer.stop()
        result["seconds"] = time.perf_counter() - result["t0"]
        QTimer.singleShot(0, app.quit)

    window.controller.sig_prepared.connect(on_prepared)
    window.prepare("digits", {"arch": "cnn_small"})
    app.exec()
    late = np.asarray(probe.lateness)
    print(f"POUR-D on digits: {result.get('seconds', float('nan')):.1f} s, {len(late)} timer ticks, "
          f"{window.live_view.redraws} live redraws")
    if len(late):
        print(f"event-loop stall (ms): p50 {np.percentile(late, 50):.1f}  p99 {np.percentile(late, 99):.1f}  max {late.max():.1f}")
    window.close()
    t = bench_redraw()
    print(f"20,000-point embedding redraw (ms): median {np.median(t):.1f}  max {np.max(t):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
