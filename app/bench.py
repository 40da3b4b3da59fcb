"""``python -m app.bench``: is the studio responsive while a job runs, and how fast is a big redraw?

For each worker mode (the job process and the in-thread worker, side by side in one run) it opens
the studio window, loads digits (not measured), then runs POUR-D forgetting class 3 and prints

* the GUI thread's event-loop stall: how late each tick of a 10 ms precise QTimer fires
  (p50, p99, max, in ms), and when the worst stalls happened;
* the live view's redraw time (the throttled ~10/s repaint of embedding, Gram and curves);
* the job's wall time and the number of live redraws.

Then the time to move and repaint a 20,000-point embedding frame, the first one (items primed at
start-up: no per-point style set-up, no atlas build) included. Aims (2 cores, median of 3 runs):
stall p99 < 16 ms and max < 100 ms with the job process; redraw < 16 ms. ``os.getloadavg()`` is
printed alongside, since a shared machine's load moves these numbers.

Measured (2 cores shared with other test runs, load average 3-9; three runs, process | thread):
stall p99 9.9 / 19.9 / 14.0 ms | 34.3 / 32.5 / 36.7 ms, max 40 / 166 / 90 ms | 555 / 487 / 530 ms;
medians: process p99 14.0 ms, max 90 ms; thread p99 34.3 ms, max 530 ms. The in-thread worker's
worst stalls come while the job loads its data and original (GIL-bound Python in the engine);
the job process leaves only the GUI's own paint work (~55 ms of CPU a second) and the wait for a
CPU on a loaded machine. 20,000-point redraw: median 16-20 ms, first frame 40-48 ms (was ~120).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np


def _stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    v = np.asarray(values)
    return f"p50 {np.percentile(v, 50):5.1f}  p99 {np.percentile(v, 99):5.1f}  max {v.max():6.1f}"


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"load {one:.2f} {five:.2f} {fifteen:.2f}"
    except OSError:  # pragma: no cover - not on this platform
        return "load n/a"


def bench_job(mode: str, method: str = "pour_d", forget_class: int = 3) -> dict[str, Any]:
    """Open a window over a ``mode`` controller, prepare digits, time one ``method`` run."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.worker import JobController

    app = QApplication.instance()
    assert app is not None
    # paint timing of every pyqtgraph view (the repaint after a redraw comes later, in paintEvent);
    # hooked before any view exists (PySide caches a Python override once it was called)
    import pyqtgraph as pg

    paints: list[float] = []
    measuring = [False]
    paint_event = pg.GraphicsView.paintEvent

    def timed_paint(view: Any, ev: Any) -> None:
        t0 = time.perf_counter()
        paint_event(view, ev)
        if measuring[0]:
            paints.append((time.perf_counter() - t0) * 1000)

    pg.GraphicsView.paintEvent = timed_paint
    controller = JobController(mode=mode)
    window = MainWindow(controller=controller, autoload=False)
    window.show_dialogs = False
    window.resize(1600, 1000)
    window.show()
    loop = QEventLoop()
    result: dict[str, Any] = {"mode": mode}

    # stall probe: lateness of a 10 ms precise timer, with the time of each tick
    clock = QElapsedTimer()
    ticks: list[tuple[float, float]] = []
    last = [0]
    cpu_last = [0.0]
    stall_cpu: list[tuple[float, float]] = []  # (wall ms, GUI-thread CPU ms) of each stall over 30 ms
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)

    def on_tick() -> None:
        now, cpu = clock.nsecsElapsed(), time.thread_time()
        late = max(0.0, (now - last[0]) / 1e6 - 10.0)
        ticks.append((now / 1e9, late))
        if late > 30.0:
            stall_cpu.append((late, (cpu - cpu_last[0]) * 1000))
        last[0], cpu_last[0] = now, cpu

    timer.timeout.connect(on_tick)

    # redraw timing of the live view: embedding + Gram (throttled), then the curves (a tick later)
    redraws: list[float] = []
    curve_redraws: list[float] = []
    live = window.live_view
    inner, inner_curves = live._throttle._fn, live.curves.redraw

    def timed_redraw() -> None:
        t0 = time.perf_counter()
        inner()
        redraws.append((time.perf_counter() - t0) * 1000)

    def timed_curves() -> None:
        t0 = time.perf_counter()
        inner_curves()
        curve_redraws.append((time.perf_counter() - t0) * 1000)

    live._throttle._fn = timed_redraw
    live.curves.redraw = timed_curves  # type: ignore[method-assign]


    def on_prepared(_ev: object) -> None:
        window.forget_pane.set_checked_classes([forget_class])
        window.method_pane.select_method(method)
        window.method_pane.reference_box.setChecked(False)
        QTimer.singleShot(500, start)  # let the preview settle first

    def start() -> None:
        controller.sig_finished.connect(on_done)
        controller.sig_failed.connect(on_done)
        clock.start()
        last[0] = clock.nsecsElapsed()
        result["cpu0"] = cpu_last[0] = time.thread_time()
        timer.start()
        measuring[0] = True
        result["t0"] = time.perf_counter()
        window.start_run()

    def on_done(ev: object) -> None:
        timer.stop()
        measuring[0] = False
        result["seconds"] = time.perf_counter() - result["t0"]
        result["gui_cpu"] = time.thread_time() - result["cpu0"]  # the GUI thread's own CPU seconds
        result["outcome"] = type(ev).__name__
        QTimer.singleShot(0, loop.quit)

    def on_prepare_failed(ev: object) -> None:
        if "t0" not in result:
            result["outcome"] = f"prepare failed: {getattr(ev, 'message', ev)}"
            QTimer.singleShot(0, loop.quit)

    controller.sig_prepared.connect(on_prepared)
    controller.sig_failed.connect(on_prepare_failed)
    t_prep = time.perf_counter()
    window.prepare("digits", {"arch": "cnn_small"})
    loop.exec()
    result["prepare_seconds"] = result.get("t0", time.perf_counter()) - t_prep
    late = [lt for _t, lt in ticks]
    worst = sorted(ticks, key=lambda x: -x[1])[:3]
    result.update(ticks=len(ticks), late=late, worst=worst, redraws=redraws, curve_redraws=curve_redraws,
                  live_redraws=live.redraws,
                  stall_cpu=stall_cpu,
                  worker_pid=controller.worker_pid)
    pg.GraphicsView.paintEvent = paint_event
    result["paints"] = paints
    window.close()
    controller.shutdown()
    window.deleteLater()
    return result


def bench_redraw(n: int = 20_000, classes: int = 10, frames: int = 20) -> list[float]:
    """Milliseconds to move + repaint an ``n``-point embedding, frame by frame (the first included)."""
    from app.plots.embedding import EmbeddingPlot

    plot = EmbeddingPlot()
    plot.resize(900, 700)
    plot.show()
    plot.set_classes([str(c) for c in range(classes)])  # creates and primes the items (start-up)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, n)
    is_forget = labels == 3
    base = rng.standard_normal((n, 2), dtype=np.float32) + labels[:, None].astype(np.float32) * 0.5
    times = []
    for i in range(frames):
        coords = base + np.float32(0.05 * i) * rng.standard_normal(base.shape, dtype=np.float32)
        t0 = time.perf_counter()
        plot.set_points(coords, labels, is_forget)
        plot.grab()  # render the whole widget now (offscreen: a real raster paint)
        times.append((time.perf_counter() - t0) * 1000)
    plot.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="process,thread", help="worker modes to compare, in order")
    parser.add_argument("--method", default="pour_d")
    args = parser.parse_args(argv)

    sys.setswitchinterval(0.001)  # as app.__main__ does
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.plots import style

    style.configure()
    print(f"{os.cpu_count()} cores, {_load()}")
    results = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        r = bench_job(mode, args.method)
        results.append(r)
        print(f"[{mode:7s}] {args.method} on digits: {r.get('seconds', float('nan')):.1f} s ({r.get('outcome')}), "
              f"{r['ticks']} timer ticks, {r['live_redraws']} live redraws; {_load()}")
        print(f"[{mode:7s}]   event-loop stall (ms): {_stats(r['late'])}   worst at "
              + ", ".join(f"{t:.1f} s ({lt:.0f} ms)" for t, lt in r["worst"]))
        first = r["redraws"][0] if r["redraws"] else float("nan")
        print(f"[{mode:7s}]   redraw (ms): embedding + Gram {_stats(r['redraws'])}   first {first:.1f}")
        print(f"[{mode:7s}]                curves           {_stats(r['curve_redraws'])}")
        print(f"[{mode:7s}]   view paints (ms):      {_stats(r['paints'])}   "
              f"{sum(r['paints']) / max(r.get('seconds', 1.0), 1e-9):.0f} ms per second of run")
        sc = r["stall_cpu"]
        if sc:
            print(f"[{mode:7s}]   {len(sc)} stalls over 30 ms: {sum(w for w, _ in sc):.0f} ms late in all, of which the "
                  f"GUI thread computed {sum(c for _, c in sc):.0f} ms (the rest it waited for a CPU or a lock)")
        print(f"[{mode:7s}]   GUI thread CPU: {r.get('gui_cpu', float('nan')):.2f} s "
              f"({1000 * r.get('gui_cpu', float('nan')) / max(r.get('seconds', 1.0), 1e-9):.0f} ms per second of run)")
    t = bench_redraw()
    print(f"20,000-point embedding redraw (ms): median {np.median(t[1:]):.1f}  max {np.max(t[1:]):.1f}; "
          f"first frame {t[0]:.1f}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
