"""MainWindow: the docks (Data & model, Forget, Method, Runs, Verdicts) around the live view, and their wiring.

The window freezes the panes' choices into a JobSpec and hands it to the JobController; it never
runs engine work itself.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QWidget,
)

from app import messages
from app.background import wait_for_background
from app.panes.data_pane import DataPane
from app.panes.forget_pane import ForgetPane
from app.panes.method_pane import MethodPane
from app.panes.runs_pane import RunsPane
from app.panes.sweep_pane import SweepPane
from app.panes.verdict_pane import VerdictPane
from app.plots.live_view import LiveView
from app.plots.throttle import Throttle
from app.excepthook import ErrorDialog
from app.session import checkpoint_matches, load_session, save_session
from app.state import DEFAULT_MODEL, DEFAULT_SOURCE, SessionModel
from app.worker import JobController
from engine import (
    CHECKPOINT_SUFFIXES,
    Failed,
    Finished,
    ForgetSpec,
    Geometry,
    JobSpec,
    LetheError,
    Log,
    Metrics,
    Progress,
    RunRecord,
    methods,
    sha256_file,
    time_of,
)

SMALL_DATA_IMAGES = 20_000  # at or below: the studio pre-fills methods' "small" presets
SWEEP_DOCK_HEIGHT = 420  # px: the Pareto plot and its explanation
VERDICT_DOCK_MAX_SHARE = 0.5  # the Verdicts dock grows to fit its five rows, up to this share of the window
PRESENTER_VERDICT_SHARE = 0.38  # ... in presenter mode (large fonts): the live view keeps the rest
DOCK_MIN_WIDTH = 260  # px: the side docks scroll below this rather than widen the window
PREPARE_STAGES = {"data": "loading the data", "original": "original model"}  # the Method pane's bar while preparing
METHOD_LIST_LINES = 9  # the Method list always shows three entries (name + two lines of description)


class MainWindow(QMainWindow):
    """The studio window. ``controller`` may be shared (tests); otherwise the window owns one."""

    sig_idle = Signal()  # no job running any more (prepared, finished or failed)

    def __init__(self, controller: JobController | None = None, *, autoload: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Lethe — machine unlearning studio")
        self.resize(1600, 1000)
        self.state = SessionModel(self)
        self.controller = controller or JobController(parent=self)
        self._owns_controller = controller is None
        self.run_frames: dict[int, tuple[list[Geometry], Geometry | None, dict[str, list[float]]]] = {}
        self.last_error: tuple[str, str] | None = None
        self.show_dialogs = True
        self._error_box: ErrorDialog | None = None
        self._job_kind: str | None = None
        self._run_outcome: str | None = None  # "cancelled" / "failed" of the current run, shown when it ends
        self._job_title = ""
        self._method_label = ""  # the running method's name, for the status line
        self._verdicts_sized = False

        self.live_view = LiveView()
        self.setCentralWidget(self.live_view)
        self.data_pane = DataPane()
        self.forget_pane = ForgetPane(self.state)
        self.method_pane = MethodPane()
        self.runs_pane = RunsPane(self.state)
        self.verdict_pane = VerdictPane()
        self.setDockNestingEnabled(True)
        self.data_dock = self._dock("Data and model", self.data_pane, Qt.DockWidgetArea.LeftDockWidgetArea, "dataDock", scroll=True)
        self.forget_dock = self._dock("Forget", self.forget_pane, Qt.DockWidgetArea.LeftDockWidgetArea, "forgetDock", scroll=True)
        self.tabifyDockWidget(self.data_dock, self.forget_dock)
        self.forget_dock.raise_()
        self.method_dock = self._dock("Method", self.method_pane, Qt.DockWidgetArea.RightDockWidgetArea, "methodDock", scroll=True)
        self.runs_dock = self._dock("Runs", self.runs_pane, Qt.DockWidgetArea.BottomDockWidgetArea, "runsDock")
        self.verdict_dock = self._dock("Verdicts", self.verdict_pane, Qt.DockWidgetArea.BottomDockWidgetArea, "verdictDock")
        # The sweep's Pareto plot sits beside the runs table (a click there selects a run here; split
        # before the runs are tabified, else Qt adds it as a tab); hidden until the first sweep.
        self.sweep_pane = SweepPane(self.state, runner=self.controller.runner)
        self.sweep_dock = self._dock("Sweep", self.sweep_pane, Qt.DockWidgetArea.BottomDockWidgetArea, "sweepDock")
        self.splitDockWidget(self.runs_dock, self.sweep_dock, Qt.Orientation.Horizontal)
        self.sweep_dock.hide()
        self.tabifyDockWidget(self.runs_dock, self.verdict_dock)
        self.runs_dock.raise_()
        # The Method pane keeps the window's full height (the bottom docks stop at it): opening
        # the Verdicts never squeezes the method list or pushes Run out of reach.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        ml = self.method_pane.method_list
        ml.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # descriptions wrap
        ml.setMinimumHeight(METHOD_LIST_LINES * ml.fontMetrics().lineSpacing() + 4 * ml.frameWidth() + 8)
        self.arrange_docks()

        self.status_label = QLabel("Starting…")
        self.status_label.setObjectName("statusLabel")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote paths and names: never markup
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # no re-layout per tick
        self.status_progress = QProgressBar()
        self.status_progress.setRange(0, 1000)
        self.status_progress.setMaximumWidth(260)
        self.status_progress.setVisible(False)
        self.status_cancel = QPushButton("Cancel")
        self.status_cancel.setVisible(False)
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.status_progress)
        self.statusBar().addPermanentWidget(self.status_cancel)
        self._menus()
        self._last_progress: Progress | None = None
        self._progress_throttle = Throttle(self._draw_progress, 100, self)

        c = self.controller
        c.sig_started.connect(self._on_controller_started)
        c.sig_progress.connect(self._on_controller_progress)
        c.sig_log.connect(self._on_controller_log)
        c.sig_metrics.connect(self._on_controller_metrics)
        c.sig_geometry.connect(self._on_controller_geometry)
        c.sig_prepared.connect(self._on_controller_prepared)
        c.sig_finished.connect(self._on_controller_finished)
        c.sig_failed.connect(self._on_controller_failed)
        c.sig_busy.connect(self._on_controller_busy)
        self.data_pane.sig_prepare_requested.connect(self._on_data_pane_prepare_requested)
        self.method_pane.sig_run_requested.connect(self._on_method_pane_run_requested)
        self.method_pane.sig_cancel_requested.connect(self._on_cancel_requested)
        self.method_pane.sig_method_changed.connect(self._on_method_pane_method_changed)
        self.method_pane.sig_sweep_requested.connect(self._on_method_pane_sweep_requested)
        self.sweep_pane.sig_run_chosen.connect(self.select_run)
        self.sweep_pane.sig_status.connect(self.show_status)
        self.sweep_pane.sig_started.connect(self._on_sweep_pane_started)
        self.sweep_pane.controller.sig_busy.connect(self.method_pane.set_sweeping)
        self.status_cancel.clicked.connect(self._on_cancel_requested)
        self.state.sig_forget_changed.connect(self._on_state_forget_changed)
        self.state.sig_dataset_changed.connect(self._on_state_dataset_changed)
        self.forget_pane.sig_status.connect(self.show_status)
        self.runs_pane.sig_status.connect(self.show_status)
        self.runs_pane.sig_error.connect(self._on_runs_pane_error)
        self.runs_pane.sig_run_selected.connect(self._on_runs_pane_run_selected)
        self.state.sig_runs_changed.connect(self._on_state_runs_changed)
        self._on_method_pane_method_changed(self.method_pane.method())
        self._on_state_forget_changed()
        if autoload:
            self.prepare(DEFAULT_SOURCE, dict(DEFAULT_MODEL))

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str,
              scroll: bool = False) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:  # the pane's own minimum size never pushes the window off a small screen: it scrolls
            area_widget = QScrollArea()
            area_widget.setObjectName(name + "Scroll")
            area_widget.setWidgetResizable(True)
            area_widget.setFrameShape(QFrame.Shape.NoFrame)
            area_widget.setWidget(widget)
            area_widget.setMinimumWidth(DOCK_MIN_WIDTH)
            dock.setWidget(area_widget)
        else:
            dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def fit_to_screen(self, width: int, height: int) -> tuple[int, int]:
        """Resize to ``width`` x ``height`` but never beyond the screen's available geometry (task
        bars and the window frame left out), and move the window inside it. Returns the size set."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else QRect(0, 0, width, height)
        frame_w = max(0, self.frameGeometry().width() - self.geometry().width())
        frame_h = max(0, self.frameGeometry().height() - self.geometry().height())
        w = max(640, min(width, avail.width() - frame_w))
        h = max(480, min(height, avail.height() - frame_h))
        self.resize(w, h)
        self.move(avail.left() + max(0, (avail.width() - w - frame_w) // 2),
                  avail.top() + max(0, (avail.height() - h - frame_h) // 2))
        return w, h

    def verdicts_height(self) -> int:
        """Pixels the Verdicts dock needs for its five rows at its current width (capped to
        ``VERDICT_DOCK_MAX_SHARE`` of the window height; the pane scrolls beyond)."""
        fm = self.verdict_pane.fontMetrics()
        chrome = 4 * fm.height() + 24  # the dock title bar, the Runs / Verdicts tab bar, slack
        width = max(200, self.verdict_dock.width() or self.width())
        need = self.verdict_pane.preferred_height(width) + chrome
        share = PRESENTER_VERDICT_SHARE if self.verdict_pane.compact else VERDICT_DOCK_MAX_SHARE
        return int(min(need, share * self.height()))

    def arrange_docks(self, left: int = 400, right: int = 360, bottom: int = 160) -> None:
        """Dock sizes in pixels (the live view takes the rest)."""
        self.resizeDocks([self.forget_dock, self.method_dock], [left, right], Qt.Orientation.Horizontal)
        self.resizeDocks([self.runs_dock], [bottom], Qt.Orientation.Vertical)

    def arrange_side_docks(self, presenter: bool = False) -> tuple[int, int]:
        """Side docks as wide as their panes prefer, within a share of the window (22 % / 30 % in
        presenter mode, 27 % each otherwise) and never below what the panes need (they shrink:
        buttons wrap, labels wrap), so no side dock scrolls sideways. Returns (left, right) px."""
        wide = self.width()
        def want(pane: QWidget, share: float, floor: int) -> int:
            need = max(pane.minimumSizeHint().width(), self.data_pane.minimumSizeHint().width()
                       if pane is self.forget_pane else 0) + 24  # + a vertical scroll bar
            return max(need, min(max(floor, pane.sizeHint().width() + 24), int(share * wide)))
        if presenter:
            left, right = want(self.forget_pane, 0.22, 0), want(self.method_pane, 0.30, 0)
            self.arrange_docks(left, right, 200)
        else:
            left, right = want(self.forget_pane, 0.27, 400), want(self.method_pane, 0.27, 360)
            self.arrange_docks(left, right)
        return left, right

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open session…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._on_open_session_triggered)
        save_action = QAction("&Save session…", self)
        save_action.setShortcut(QKeySequence.StandardKey.Save)
        save_action.triggered.connect(self._on_save_session_triggered)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for a in (open_action, save_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        for dock in (self.data_dock, self.forget_dock, self.method_dock, self.runs_dock, self.verdict_dock):
            view_menu.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Lethe", self)
        about.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about)

    # ------------------------------------------------------------------ jobs
    def prepare(self, source: str, model: dict[str, Any]) -> str:
        spec = JobSpec(dataset=source, model=model, method="pour_p", reference=None)
        self._job_kind = "prepare"
        self.show_status(f"Loading {source} and the original model…")
        job = self.controller.prepare(spec)
        self.status_progress.setVisible(True)
        self.status_cancel.setVisible(True)
        return job

    def build_spec(self) -> JobSpec:
        """Freeze the panes' choices into a validated JobSpec (raises LetheError when incomplete)."""
        st = self.state
        if st.bundle is None:
            raise LetheError("the dataset is still loading", "wait for the original model to be ready")
        if st.forget is None or st.split is None:
            raise LetheError(st.forget_error or "nothing is selected to forget", "pick classes or samples in the Forget pane")
        opts = self.method_pane.job_options()
        d = {"dataset": st.source, "model": st.model, "forget": st.forget.to_json(), **opts}
        return JobSpec.from_json(d)

    def start_run(self, spec: JobSpec | None = None) -> str | None:
        try:
            spec = spec or self.build_spec()
        except LetheError as exc:
            self._error("The run cannot start", messages.error_body(exc))
            return None
        info = methods.get(spec.method)
        self._method_label = info.label or info.name
        job = self.controller.start(spec)
        self._job_kind = "run"
        self._run_outcome = None
        f = self.state.split.summary(self.state.bundle) if self.state.split is not None else {}
        what = f"class {', '.join(f['forget_classes'])}" if f.get("forget_classes") else f"{f.get('forget', '?')} samples"
        self._job_title = f"<b>{html.escape(info.label or info.name)}</b> forgetting {html.escape(what)}"
        self.live_view.begin_job(job, self._job_title + " — running…")
        self._use_images(self.state.bundle)
        self.live_view.bars.clear("running…")  # never the previous run's bars under this run's title
        self.runs_pane.deselect_quietly()
        self.verdict_pane.show_message(f"<b>{html.escape(info.label or info.name)}</b> is running… its verdicts "
                                       f"appear here when it ends.")
        self.status_progress.setVisible(True)
        self.status_cancel.setVisible(True)
        self.show_status(f"Running {info.label or info.name}…")
        return job

    @Slot()
    def _on_method_pane_run_requested(self) -> None:
        self.start_run()

    @Slot()
    def _on_method_pane_sweep_requested(self) -> None:
        try:
            spec = self.build_spec()
        except LetheError as exc:
            self._error("The sweep cannot start", messages.error_body(exc))
            return
        try:
            self.sweep_pane.request(spec)
        except LetheError as exc:
            self._error("The sweep cannot start", messages.error_body(exc))

    @Slot()
    def _on_sweep_pane_started(self) -> None:
        first = not self.sweep_dock.isVisible()
        self.sweep_dock.show()
        self.runs_dock.raise_()
        if first:  # room for the plot: the bottom docks grow, the plot takes ~45 % of their width
            self.resizeDocks([self.runs_dock], [SWEEP_DOCK_HEIGHT], Qt.Orientation.Vertical)
            self.resizeDocks([self.runs_dock, self.sweep_dock], [55, 45], Qt.Orientation.Horizontal)

    @Slot(object)
    def select_run(self, record: RunRecord) -> None:
        """Select ``record``'s row in the runs table (which shows it, as a click there does)."""
        row = next((i for i, r in enumerate(self.state.runs) if r is record), None)
        if row is not None:
            self.runs_dock.raise_()
            self.runs_pane.table.selectRow(row)
            self.runs_pane.table.scrollToItem(self.runs_pane.table.item(row, 0))

    @Slot()
    def _on_cancel_requested(self) -> None:
        self.controller.cancel()
        self.show_status("Cancelling…")

    @Slot(str, object)
    def _on_data_pane_prepare_requested(self, source: str, model: object) -> None:
        self.prepare(source, dict(model))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ controller events
    @Slot(str, str)
    def _on_controller_started(self, _job_id: str, kind: str) -> None:
        """Every job shows its own progress in the Method pane from its start."""
        self._last_progress = None  # the previous job's last tick is not this job's
        self.method_pane.begin_job((self._method_label or "run") if kind == "run" else PREPARE_STAGES["data"])

    @Slot(object)
    def _on_controller_progress(self, ev: Progress) -> None:
        self._last_progress = ev
        self._progress_throttle.request()  # at most ~10 repaints a second of bars and labels

    def _draw_progress(self) -> None:
        ev = self._last_progress
        if ev is None:
            return
        self.status_progress.setValue(int(1000 * ev.fraction))
        self.status_progress.setFormat(f"{ev.stage} {100 * ev.fraction:.0f}%")
        if self._job_kind == "run":
            self.method_pane.set_progress(ev.fraction, ev.stage, ev.message, ev.eta_s)
        elif self._job_kind == "prepare":  # loading / training the original: its own progress, never "done"
            self.method_pane.set_progress(ev.fraction, PREPARE_STAGES.get(ev.stage, ev.stage), ev.message, ev.eta_s)
        text = messages.progress_text(ev, self._method_label)
        if self.status_label.text() != text:
            self.status_label.setText(text)
        if self._job_kind == "prepare":
            self.forget_pane.set_waiting_text(messages.waiting_text(ev))

    @Slot(object)
    def _on_controller_log(self, ev: Log) -> None:
        self.status_label.setText(ev.message)
        if ev.level == "warning" and self._job_kind == "run" and ev.message.startswith("Did it move?"):
            self.method_pane.show_warning(ev.message)  # stays visible: progress messages overwrite the status bar

    @Slot(object)
    def _on_controller_metrics(self, ev: Metrics) -> None:
        self.live_view.add_metrics(ev)

    @Slot(object)
    def _on_controller_geometry(self, ev: Geometry) -> None:
        self.live_view.add_geometry(ev)

    @Slot(object)
    def _on_controller_prepared(self, ev: Any) -> None:
        self.state.set_prepared(ev)
        self.data_pane.set_source(ev.source)
        self.data_pane.show_bundle(ev.bundle, ev.model, ev.arch)
        # Paper defaults are tuned for 50 k-image CIFAR on a GPU; on small data start from the
        # methods' small-data presets (measured to forget on digits and the CIFAR subset).
        small = len(ev.bundle.x_train) <= SMALL_DATA_IMAGES
        self.method_pane.set_prefer_small_preset(small)
        if small:
            self.method_pane.apply_small_preset()
        self._use_images(ev.bundle)
        self.show_status(f"Ready: {ev.bundle.name} with {ev.arch}. Pick what to forget, then press Run.")

    @Slot(object)
    def _on_controller_finished(self, ev: Finished) -> None:
        record = ev.record
        self.live_view.finish(record)
        self.run_frames[id(record)] = (list(self.live_view.frames), self.live_view.ghost, self.live_view.curves.history())
        self.live_view.title.setText(self._job_title + " — done")
        self.state.add_run(record)
        self.live_view.bars.show_record(record, self.state.class_names_for(record), self.state.run_colour(record))
        self.verdict_pane.show_record(record, self.state.bundle_for(record), self.state.run_title(record))
        self.verdict_dock.raise_()  # the first question after a run: did it really forget?
        need = self.verdicts_height()
        if not self._verdicts_sized and self.verdict_dock.height() < need:
            self._verdicts_sized = True  # once: after that the person's own dock size stands
            self.resizeDocks([self.verdict_dock], [need], Qt.Orientation.Vertical)
        self._last_progress = None  # a progress tick still throttled must not overwrite the summary
        secs, note = time_of(record)
        self.show_status(messages.run_summary(record.label or record.method, secs, record.metrics, note))

    @Slot(object)
    def _on_controller_failed(self, ev: Failed) -> None:
        self._last_progress = None  # a progress tick still throttled must not overwrite the outcome
        self.show_status(messages.status_text(ev))
        if self._job_kind == "prepare":
            self._run_outcome = "cancelled" if ev.cancelled else "failed"
        if self._job_kind == "run":
            self.live_view.finish(None)
            outcome = "cancelled" if ev.cancelled else "failed"
            self.live_view.title.setText(self._job_title + f" — {outcome}")
            self._run_outcome = outcome
            self.live_view.bars.clear(f"the run was {outcome}: no result")
            self.runs_pane.deselect_quietly()
            self.verdict_pane.show_message(f"The run was {outcome}: there is nothing to judge. "
                                           f"Select a run in the Runs table to see its verdicts.")
        if not ev.cancelled:
            self._error(messages.title_for(ev.kind), messages.failure_text(ev))

    @Slot(bool)
    def _on_controller_busy(self, busy: bool) -> None:
        self.method_pane.set_busy(busy)
        self.data_pane.load_button.setEnabled(not busy)
        self.data_pane.checkpoint_button.setEnabled(not busy)
        if not busy:
            self._last_progress = None  # a progress tick still throttled must not overwrite the outcome
            self.status_progress.setVisible(False)
            self.status_cancel.setVisible(False)
            outcome = self._run_outcome or "done"
            if self._job_kind == "run":
                self.method_pane.end_job(f"{self._method_label or 'run'} {outcome}", full=outcome == "done")
            elif self._job_kind == "prepare" and self._run_outcome:
                self.method_pane.end_job(f"loading {outcome}")
            else:
                self.method_pane.end_job("idle")
            self._job_kind = None
            self._run_outcome = None
            self.sig_idle.emit()

    # ------------------------------------------------------------------ state
    @Slot(str)
    def _on_method_pane_method_changed(self, name: str) -> None:
        info = methods.get(name)
        self.forget_pane.set_method_kinds(info.kinds, info.label or info.name)

    @Slot()
    def _on_state_forget_changed(self) -> None:
        st = self.state
        self.method_pane.set_forget_kind(st.split.kind if st.split is not None else st.forget_kind, st.split is not None)
        if not self.controller.is_busy() or self.controller.current_kind != "run":
            # A shown run answered another forget set: clear it, preview the new set.
            if self.state.bundle is not None and (self.live_view.frames or self.live_view.bars.items):
                self.runs_pane.deselect_quietly()
                self.live_view.clear("Live view — the original model; the rings mark the forget set. Press Run.",
                                     "no run yet for this forget set")
            shown = self.verdict_pane.record
            if shown is not None and st.forget is not None and (
                    st.forget.to_json() != shown.spec.get("forget") or not st.is_loaded_dataset(shown)):
                # another forget set, or the same class index / row ids on another dataset
                self.verdict_pane.show_message("The forget set changed. Press Run, or select a run in the Runs "
                                               "table to see its verdicts.")
            self._show_preview()

    @Slot()
    def _on_state_dataset_changed(self) -> None:
        b = self.state.bundle
        self.live_view.clear(f"Live view — {html.escape(str(b.name))} loaded: pick a forget set and press Run",
                             "no run yet on this dataset")
        self.live_view.set_classes(list(b.classes))
        self._use_images(b)
        self.live_view.embedding.reset_range()
        shown = self.verdict_pane.record
        if shown is not None:  # its own class names; its images only if it ran on this dataset
            self.verdict_pane.show_record(shown, self.state.bundle_for(shown), self.state.run_title(shown))
        self.runs_pane.refresh()  # the dataset column marks runs of another dataset
        self.runs_pane.deselect_quietly()  # the centre shows no run now
        self._show_preview()

    def _use_images(self, bundle: Any) -> None:
        """The hover tips of both embeddings show ``bundle``'s training images (None: no images)."""
        source = None
        if bundle is not None:
            x = bundle.x_train

            def source(i: int) -> np.ndarray | None:
                return x[i] if 0 <= i < len(x) else None
        invert = bundle is not None and getattr(bundle, "channels", 0) == 1 and getattr(bundle, "name", "") == "digits"
        self.live_view.set_images(source, invert_gray=invert)
        self.forget_pane.pick_plot.image_source = source
        self.forget_pane.pick_plot.invert_gray = invert

    def _show_preview(self) -> None:
        """Before a run: the original embedding with the current forget set ringed."""
        st = self.state
        if st.bundle is None or not len(st.embed_idx) or self.live_view.frames:
            return
        is_f = np.isin(st.embed_idx, st.split.forget_idx) if st.split is not None else np.zeros(len(st.embed_idx), bool)
        labels = st.bundle.y_train[st.embed_idx]
        means = np.full((st.bundle.num_classes, 2), np.nan)
        for c in np.unique(labels):
            means[c] = st.embed_coords[labels == c].mean(axis=0)
        self.live_view.embedding.set_points(st.embed_coords, labels, is_f, ids=st.embed_idx, means2d=means)

    @Slot(int)
    def _on_runs_pane_run_selected(self, row: int) -> None:
        if self.controller.is_busy() and self.controller.current_kind == "run":
            return  # do not disturb the live run
        if not 0 <= row < len(self.state.runs):
            return
        record = self.state.runs[row]
        st = self.state
        self.verdict_pane.show_record(record, st.bundle_for(record), st.run_title(record))
        frames, ghost, loss = self.run_frames.get(id(record), ([], None, {}))
        names = st.class_names_for(record)
        title = f"<b>{html.escape(str(record.label))}</b> (run {st.run_number(record)}"
        if not st.is_loaded_dataset(record):
            title += f", on {html.escape(st.dataset_label(record))}"
        self._use_images(st.bundle_for(record))  # never another dataset's image under this run's index
        if frames:
            self.live_view.set_classes(names)
            self.live_view.show_frames(frames, ghost, title + ") — replay", loss)
        elif any(str(n).startswith("sweep trial") for n in record.notes):
            self.live_view.clear(title + ") — a sweep trial: sweeps record numbers, not the live geometry")
        else:
            self.live_view.clear(title + ") — no recorded frames (a run from a session keeps only its numbers)")
        self.live_view.bars.show_record(record, names, st.run_colour(record), st.run_per_class_std(record))

    @Slot()
    def _on_state_runs_changed(self) -> None:
        shown = self.verdict_pane.record
        if shown is not None and not any(r is shown for r in self.state.runs):
            self.verdict_pane.show_record(None, None)  # its run was removed

    # ------------------------------------------------------------------ messages
    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _error(self, title: str, text: str) -> None:
        self.last_error = (title, text)
        self.show_status(f"{title}: {text.splitlines()[0]}")
        if not self.show_dialogs:
            return
        box = ErrorDialog(title, text, parent=self)
        box.setModal(False)  # never block the event loop (and the worker's signals)
        box.show()
        self._error_box = box

    @Slot(str, str)
    def _on_runs_pane_error(self, title: str, text: str) -> None:
        self._error(title, text)

    @Slot()
    def _on_about_triggered(self) -> None:
        QMessageBox.about(self, "About Lethe", "<b>Lethe</b> — forget a class or a handful of images, watch the "
                          "feature geometry change, and judge the result against retraining.")

    # ------------------------------------------------------------------ sessions
    def save_session(self, path: str | Path) -> Path:
        st = self.state
        return save_session(path, source=st.source, model=st.model,
                            forget=st.forget.to_json() if st.forget is not None else None, runs=list(st.runs),
                            numbers=[st.run_number(r) for r in st.runs])

    def open_session(self, path: str | Path) -> bool:
        """Open a session file: its runs, then its dataset, model and forget selection.

        A linked file that moved, or a checkpoint whose SHA-256 differs from the one the session
        stored, is offered for relinking (never opened silently). Returns False when the person
        cancelled a relink; raises :class:`LetheError` (a ``BadSession``) for a file that cannot
        be opened as a session at all.
        """
        d = load_session(path)
        model = d["model"]
        source = d["dataset"]
        for what, why in [(w, "missing") for w in d["missing"]] + [(w, "changed") for w in d["changed"]]:
            found = self.relink(what, d["files"][what], why, model.get("checkpoint") if what == "checkpoint" else None)
            if found is None:
                self.show_status(f"Opening {Path(path).name} was cancelled: its {what} was not relinked.")
                return False
            if what == "checkpoint":
                model = {**model, "checkpoint": found}  # keep "arch" / "input_norm" of a bare checkpoint
            else:
                source = f"{source.partition(':')[0]}:{found}"
        self.state.set_runs(list(d["runs"]), d["numbers"])
        self._pending_forget = d["forget"]
        self.controller.sig_prepared.connect(self._on_session_prepared, Qt.ConnectionType.SingleShotConnection)
        self.prepare(source, model)
        return True

    def relink(self, what: str, entry: dict[str, Any], why: str, current: str | None = None) -> str | None:
        """Ask for the session's ``what`` ("dataset" / "checkpoint") that is ``why`` "missing" or
        "changed" (found at ``current`` with another SHA-256); returns the chosen path or None.

        A chosen checkpoint is checked against the stored SHA-256 too; one that differs is used
        only when the person confirms it. Without dialogs (tests, scripts) this raises LetheError.
        """
        expected = entry.get("sha256")
        if why == "changed":
            text = (f"The session's {what} at\n{current}\nis not the file the session was saved with: its SHA-256 "
                    f"differs ({_short_hash(current)} here, {str(expected)[:12]}… in the session).\n"
                    f"Please locate the original {what}.")
        else:
            text = f"The session's {what} was not found at\n{entry.get('absolute')}\nPlease locate it."
        if not self.show_dialogs:
            raise LetheError(text.replace("\n", " "), "relink the file, or save the session again with this file")
        self._inform("Relink a moved file" if why == "missing" else "Relink a changed file", text)
        found = self._choose_file(what)
        if not found:
            return None
        differs = what == "checkpoint" and not checkpoint_matches(found, expected)
        if differs and not self._confirm(
            "This checkpoint differs too",
            f"{found}\nis not the checkpoint the session was saved with either (SHA-256 "
            f"{_short_hash(found)}, the session expects {str(expected)[:12]}…).\n"
            f"The session's runs were measured on another model. Use this file anyway?",
        ):
            return None
        return found

    def _inform(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.exec()

    def _confirm(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def _choose_file(self, what: str) -> str:
        if what == "checkpoint":
            patterns = " ".join(f"*{s}" for s in CHECKPOINT_SUFFIXES)
            found, _ = QFileDialog.getOpenFileName(self, "Locate the checkpoint", "", f"Checkpoints ({patterns});;All files (*)")
            return found
        return QFileDialog.getExistingDirectory(self, "Locate the dataset")

    @Slot(object)
    def _on_session_prepared(self, _ev: Any) -> None:
        forget = getattr(self, "_pending_forget", None)
        if forget:
            try:
                self.state.set_forget(ForgetSpec.from_json(forget))
                self.forget_pane._sync_from_state()
            except LetheError as exc:
                self.show_status(messages.error_text(exc))

    @Slot()
    def _on_open_session_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a session", "", "Lethe sessions (*.lethe.json *.json)")
        if path:
            try:
                self.open_session(path)
            except LetheError as exc:
                self._error("The session cannot be opened", messages.error_body(exc))

    @Slot()
    def _on_save_session_triggered(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the session", "session.lethe.json", "Lethe sessions (*.lethe.json)")
        if path:
            try:
                self.save_session(path)
            except LetheError as exc:
                self._error("The session was not saved", messages.error_body(exc))
                return
            except OSError as exc:  # read-only folder, disk full
                self._error("The session was not saved", f"{path}: {exc.strerror or exc}")
                return
            self.show_status(f"Saved the session to {path}")

    # ------------------------------------------------------------------ close
    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel any job and wait for the worker thread (and any export) before the window goes."""
        self.sweep_pane.shutdown()  # and its temporary folder goes
        if self._owns_controller:
            self.controller.shutdown()
        wait_for_background()
        super().closeEvent(event)


def _short_hash(path: str | Path | None) -> str:
    """The first 12 hex digits of a file's SHA-256 ("unreadable" when it cannot be read)."""
    try:
        return sha256_file(str(path))[:12] + "…"
    except (OSError, TypeError, ValueError):
        return "unreadable"
