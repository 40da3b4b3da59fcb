"""ForgetPane: what to forget — whole classes, picked samples (grid or embedding lasso), or a random fraction.

The grid and the embedding plot share one selection of training-row ids. A live counter shows the
forget / retain sizes with warnings. A selection saves to / loads from a JSON id list with its hash.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.images import thumbnail
from app.panes.shrink import WrapRow, narrow_spin, wrapped_label
from app.plots.embedding import EmbeddingPlot
from app.state import SessionModel
from engine import BadForgetSet, ForgetSpec, LetheError, atomic_write_text

SELECTION_SCHEMA = 1
MODE_CLASSES, MODE_SAMPLES, MODE_FRACTION = 0, 1, 2
TAB_NAMES = ("Classes", "Samples", "Random")
TAB_ACTIONS = ("Tick classes", "Pick samples", "Change the fraction")  # what replaces the forget set on each tab


def spec_mode(spec: ForgetSpec) -> int:
    """The tab a forget spec is chosen on (classes, samples or a random fraction)."""
    if spec.classes:
        return MODE_CLASSES
    if spec.ids:
        return MODE_SAMPLES
    return MODE_FRACTION


class ThumbnailModel(QAbstractListModel):
    """Training rows ``rows`` as icons (made lazily, cached) with the row id and class as text."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.bundle: Any = None
        self.rows = np.zeros(0, dtype=np.int64)
        self._cache: dict[int, QPixmap] = {}
        self.icon_size = 40

    def set_bundle(self, bundle: Any) -> None:
        self.beginResetModel()
        self.bundle = bundle
        self._cache.clear()
        self.rows = np.arange(len(bundle.y_train), dtype=np.int64) if bundle is not None else np.zeros(0, dtype=np.int64)
        self.endResetModel()

    def set_rows(self, rows: np.ndarray) -> None:
        self.beginResetModel()
        self.rows = np.asarray(rows, dtype=np.int64)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.bundle is None:
            return None
        rid = int(self.rows[index.row()])
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self._cache.get(rid)
            if pm is None:
                invert = self.bundle.channels == 1 and self.bundle.name == "digits"
                pm = thumbnail(self.bundle.x_train[rid], self.icon_size, invert_gray=invert)
                self._cache[rid] = pm
            return pm
        if role == Qt.ItemDataRole.DisplayRole:
            return str(rid)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"training row {rid} · class {self.bundle.classes[int(self.bundle.y_train[rid])]}"
        if role == Qt.ItemDataRole.UserRole:
            return rid
        return None


class ForgetPane(QWidget):
    """Edits ``state.forget``; ``set_method_kinds`` tells it what the chosen method supports."""

    sig_status = Signal(str)

    def __init__(self, state: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.method_kinds: tuple[str, ...] = ("class", "sample")
        self.method_label = ""
        self.selected_ids: set[int] = set()
        self._syncing = False

        # classes tab
        self.class_list = QListWidget()
        self.class_list.setObjectName("forgetClassList")
        self.class_list.setWordWrap(True)  # a long class name wraps in a narrow dock
        self.class_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        classes_tab = QWidget()
        cl = QVBoxLayout(classes_tab)
        cl.addWidget(wrapped_label("Tick the classes to forget:"))
        cl.addWidget(self.class_list, 1)

        # samples tab
        self.filter_box = QComboBox()
        self.filter_box.setObjectName("classFilter")
        # as narrow as ~6 letters of a class name, not as wide as the longest entry
        self.filter_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter_box.setMinimumContentsLength(6)
        self.grid_model = ThumbnailModel(self)
        self.grid = QListView()
        self.grid.setObjectName("thumbnailGrid")
        self.grid.setModel(self.grid_model)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setIconSize(QSize(40, 40))
        self.grid.setGridSize(QSize(52, 62))
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # ctrl / shift-range
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(200)
        self.pick_plot = EmbeddingPlot(selectable=True, point_size=5)
        self.pick_plot.setObjectName("pickEmbedding")
        self.pick_plot.setToolTip("Drag a lasso or click a point to pick samples; Shift/Ctrl adds to the selection")
        self.clear_button = QPushButton("Clear")
        self.all_shown_button = QPushButton("Select all shown")
        samples_tab = QWidget()
        sl = QVBoxLayout(samples_tab)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show class:"))
        row.addWidget(self.filter_box, 1)
        sl.addLayout(row)
        self.pick_buttons = WrapRow([self.all_shown_button, self.clear_button], [1, 1])  # one row, or two when narrow
        sl.addWidget(self.pick_buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.grid)
        split.addWidget(self.pick_plot)
        split.setSizes([260, 200])
        sl.addWidget(split, 1)

        # fraction tab
        self.fraction_spin = QDoubleSpinBox()
        self.fraction_spin.setObjectName("fractionSpin")
        self.fraction_spin.setRange(0.001, 0.99)
        self.fraction_spin.setDecimals(3)
        self.fraction_spin.setSingleStep(0.01)
        self.fraction_spin.setValue(0.1)
        self.fraction_seed = QSpinBox()
        self.fraction_seed.setRange(0, 2**31 - 1)
        narrow_spin(self.fraction_seed)
        narrow_spin(self.fraction_spin)
        self.stratified_box = QCheckBox("same fraction per class")
        self.stratified_box.setToolTip("Stratified: take the same fraction of every class")
        self.stratified_box.setChecked(True)
        fraction_tab = QWidget()
        fl = QFormLayout(fraction_tab)
        fl.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # labels above their fields when narrow
        fl.addRow(wrapped_label("Fraction of training rows:"), self.fraction_spin)
        fl.addRow("Seed:", self.fraction_seed)
        fl.addRow("", self.stratified_box)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("forgetTabs")
        self.tabs.setUsesScrollButtons(True)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)
        self.tabs.addTab(classes_tab, "Classes")
        self.tabs.addTab(samples_tab, "Samples")
        self.tabs.addTab(fraction_tab, "Random")

        self.counter_label = QLabel("")
        self.waiting_text = ""  # what the preparation is doing while no dataset is loaded
        self.counter_label.setObjectName("forgetCounter")
        self.counter_label.setWordWrap(True)
        self.warning_label = QLabel("")
        self.warning_label.setObjectName("forgetWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b3261e;")
        # Which tab's choice is the forget set when it is not the open tab's (a tab opened to look
        # never silently empties a choice made on another; switching back uses that one again).
        self.note_label = QLabel("")
        self.note_label.setObjectName("forgetNote")
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #1a5fb4;")
        self.note_label.setVisible(False)
        self.save_button = QPushButton("Save selection…")
        self.load_button = QPushButton("Load selection…")
        self.save_button.setToolTip("Save the forget selection (row ids and their hash) to a JSON file")
        self.load_button.setToolTip("Load a forget selection saved from this dataset")
        buttons = WrapRow([self.save_button, self.load_button], [1, 1])
        buttons.setObjectName("selectionButtons")

        lay = QVBoxLayout(self)
        lay.addWidget(self.note_label)  # on top: seen at once, however short the dock (the pane scrolls)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.counter_label)
        lay.addWidget(self.warning_label)
        lay.addWidget(buttons)

        self.class_list.itemChanged.connect(self._on_class_list_item_changed)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.filter_box.currentIndexChanged.connect(self._on_filter_box_changed)
        self.grid.selectionModel().selectionChanged.connect(self._on_grid_selection_changed)
        self.pick_plot.sig_selected.connect(self._on_pick_plot_selected)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        self.all_shown_button.clicked.connect(self._on_all_shown_clicked)
        for w in (self.fraction_spin,):
            w.valueChanged.connect(self._on_fraction_changed)
        self.fraction_seed.valueChanged.connect(self._on_fraction_changed)
        self.stratified_box.toggled.connect(self._on_fraction_changed)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.load_button.clicked.connect(self._on_load_clicked)
        state.sig_dataset_changed.connect(self._on_state_dataset_changed)
        state.sig_forget_changed.connect(self._on_state_forget_changed)
        self._on_state_forget_changed()

    # ------------------------------------------------------------------ dataset
    @Slot()
    def _on_state_dataset_changed(self) -> None:
        b = self.state.bundle
        counts = b.class_counts("train")
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for k, name in enumerate(b.classes):
            item = QListWidgetItem(f"{name}  ({counts[k]} images)")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole, k)
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)
        self.filter_box.blockSignals(True)
        self.filter_box.clear()
        self.filter_box.addItem("all classes", -1)
        for k, name in enumerate(b.classes):
            self.filter_box.addItem(f"{name} ({counts[k]})", k)
        self.filter_box.blockSignals(False)
        self.grid_model.set_bundle(b)
        self.selected_ids = set()
        self.pick_plot.set_selected_ids([])  # no red marks of the old dataset's selection
        self.pick_plot.set_classes(list(b.classes))
        self.pick_plot.reset_range()
        self.pick_plot.set_points(self.state.embed_coords, b.y_train[self.state.embed_idx], ids=self.state.embed_idx)
        self._sync_from_state()

    def _sync_from_state(self) -> None:
        """Show the state's forget spec in the matching tab (after load / session open)."""
        spec = self.state.forget
        if spec is None:
            return
        self._syncing = True
        try:
            if spec.classes:
                chosen = set()
                for c in spec.classes:
                    chosen.add(c if isinstance(c, int) else self.state.bundle.classes.index(c))
                for i in range(self.class_list.count()):
                    it = self.class_list.item(i)
                    it.setCheckState(Qt.CheckState.Checked if it.data(Qt.ItemDataRole.UserRole) in chosen else Qt.CheckState.Unchecked)
                self.tabs.setCurrentIndex(MODE_CLASSES)
            elif spec.ids:
                self.set_selected_ids(spec.ids, apply=False)
                self.tabs.setCurrentIndex(MODE_SAMPLES)
            elif spec.fraction is not None:
                self.fraction_spin.setValue(spec.fraction)
                self.fraction_seed.setValue(spec.seed)
                self.stratified_box.setChecked(spec.stratified)
                self.tabs.setCurrentIndex(MODE_FRACTION)
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ classes
    def checked_classes(self) -> list[int]:
        return [int(self.class_list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.class_list.count())
                if self.class_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked_classes(self, classes: list[int]) -> None:
        self.class_list.blockSignals(True)
        for i in range(self.class_list.count()):
            it = self.class_list.item(i)
            on = it.data(Qt.ItemDataRole.UserRole) in classes
            it.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.class_list.blockSignals(False)
        self.tabs.setCurrentIndex(MODE_CLASSES)
        self._apply()

    @Slot(QListWidgetItem)
    def _on_class_list_item_changed(self, _item: QListWidgetItem) -> None:
        self._apply()

    # ------------------------------------------------------------------ samples
    def set_selected_ids(self, ids: Any, apply: bool = True) -> None:
        self.selected_ids = {int(i) for i in ids}
        self._select_in_grid()
        self.pick_plot.set_selected_ids(sorted(self.selected_ids))
        if apply:
            self._syncing = True
            self.tabs.setCurrentIndex(MODE_SAMPLES)
            self._syncing = False
            self._apply()

    def _select_in_grid(self) -> None:
        sel = QItemSelection()
        rows = self.grid_model.rows
        pos = np.flatnonzero(np.isin(rows, np.fromiter(self.selected_ids, dtype=np.int64, count=len(self.selected_ids))))
        # Contiguous runs become one range each (fast for big selections).
        if len(pos):
            starts = np.r_[0, np.flatnonzero(np.diff(pos) > 1) + 1]
            ends = np.r_[starts[1:] - 1, len(pos) - 1]
            for s, e in zip(starts, ends, strict=True):
                sel.select(self.grid_model.index(int(pos[s])), self.grid_model.index(int(pos[e])))
        sm = self.grid.selectionModel()
        sm.blockSignals(True)
        sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        sm.blockSignals(False)
        self.grid.viewport().update()

    @Slot(QItemSelection, QItemSelection)
    def _on_grid_selection_changed(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        shown = set(int(r) for r in self.grid_model.rows)
        picked = {int(self.grid_model.rows[i.row()]) for i in self.grid.selectionModel().selectedIndexes()}
        self.selected_ids = (self.selected_ids - shown) | picked
        self.pick_plot.set_selected_ids(sorted(self.selected_ids))
        self._syncing = True
        self.tabs.setCurrentIndex(MODE_SAMPLES)
        self._syncing = False
        self._apply()

    @Slot(object)
    def _on_pick_plot_selected(self, ids: np.ndarray) -> None:
        self.set_selected_ids(ids)

    @Slot(int)
    def _on_filter_box_changed(self, _i: int) -> None:
        b = self.state.bundle
        if b is None:
            return
        k = self.filter_box.currentData()
        rows = np.arange(len(b.y_train)) if k is None or k < 0 else np.flatnonzero(b.y_train == k)
        self.grid_model.set_rows(rows)
        self._select_in_grid()

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.set_selected_ids([])

    @Slot()
    def _on_all_shown_clicked(self) -> None:
        self.set_selected_ids(self.selected_ids | {int(r) for r in self.grid_model.rows})

    # ------------------------------------------------------------------ fraction
    @Slot()
    def _on_fraction_changed(self, *_a: Any) -> None:
        if self.tabs.currentIndex() == MODE_FRACTION:
            self._apply()

    @Slot(int)
    def _on_tabs_current_changed(self, _i: int) -> None:
        self._apply()
        self._show_note()

    # ------------------------------------------------------------------ spec
    def current_spec(self) -> ForgetSpec | None:
        mode = self.tabs.currentIndex()
        try:
            if mode == MODE_CLASSES:
                classes = self.checked_classes()
                return ForgetSpec(classes=tuple(classes)) if classes else None
            if mode == MODE_SAMPLES:
                return ForgetSpec(ids=tuple(sorted(self.selected_ids))) if self.selected_ids else None
            return ForgetSpec(fraction=float(self.fraction_spin.value()), seed=int(self.fraction_seed.value()),
                              stratified=self.stratified_box.isChecked())
        except LetheError:
            return None

    def _apply(self) -> None:
        """The open tab's choice becomes the forget set; an empty one (nothing ticked or picked
        there) never replaces a choice made on another tab: that stays, and the note says so."""
        if self._syncing or self.state.bundle is None:
            return
        spec = self.current_spec()
        kept = self.state.forget
        if spec is None and kept is not None and spec_mode(kept) != self.tabs.currentIndex():
            self._show_note()
            return
        self.state.set_forget(spec)

    def describe(self, mode: int) -> str:
        """The choice on tab ``mode`` in words ("class 3", "12 picked samples", "a random 10 % of
        the training images"); "" when nothing is chosen there."""
        b = self.state.bundle
        if mode == MODE_CLASSES:
            names = [str(b.classes[k]) if b is not None and 0 <= k < len(b.classes) else str(k)
                     for k in self.checked_classes()]
            if not names:
                return ""
            return ("class " if len(names) == 1 else "classes ") + ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
        if mode == MODE_SAMPLES:
            n = len(self.selected_ids)
            return f"{n} picked sample{'s' if n != 1 else ''}" if n else ""
        return f"a random {100 * self.fraction_spin.value():.3g} % of the training images"

    def _show_note(self) -> None:
        """Say which choice is the forget set when another tab's choice stays or was replaced."""
        st = self.state
        mode = self.tabs.currentIndex()
        text = ""
        if st.bundle is not None and st.forget is not None:
            active = spec_mode(st.forget)
            if active != mode:
                text = (f"Still forgetting {html.escape(self.describe(active))}, chosen on the "
                        f"<b>{TAB_NAMES[active]}</b> tab. {TAB_ACTIONS[mode]} here to forget those instead.")
            else:
                others = [m for m in (MODE_CLASSES, MODE_SAMPLES) if m != mode and self.describe(m)]
                if others:
                    what = " and ".join(f"the {html.escape(self.describe(m))} on the <b>{TAB_NAMES[m]}</b> tab"
                                        for m in others)
                    back = " or ".join(TAB_NAMES[m] for m in others)
                    text = f"This replaces {what} (kept there): switch back to {back} to use it again."
        self.note_label.setText(text)
        self.note_label.setVisible(bool(text))

    def set_waiting_text(self, text: str) -> None:
        """What to say while no dataset is loaded yet (the window passes the preparation's progress:
        "Training the original model… (epoch 3/15 · ETA 1:05)")."""
        self.waiting_text = text
        if self.state.bundle is None:
            self.counter_label.setText(html.escape(text))

    def set_method_kinds(self, kinds: tuple[str, ...], label: str) -> None:
        self.method_kinds, self.method_label = tuple(kinds), label
        self._on_state_forget_changed()

    @Slot()
    def _on_state_forget_changed(self) -> None:
        st = self.state
        warnings: list[str] = []
        if st.bundle is None:
            self.counter_label.setText(html.escape(self.waiting_text or "Loading the dataset…"))
            self.warning_label.setText("")
            return
        n = len(st.bundle.y_train)
        if st.split is None:
            self.counter_label.setText(f"Forget <b>0</b> · retain <b>{n}</b> training images")
            warnings.append(st.forget_error or "Nothing selected to forget yet.")
        else:
            s = st.split.summary(st.bundle)
            per = [f"{st.bundle.classes[k]}: {v}" for k, v in enumerate(s["per_class_forget"]) if v]
            balance = ", ".join(per[:8]) + (" …" if len(per) > 8 else "")
            self.counter_label.setText(
                f"Forget <b>{s['forget']}</b> · retain <b>{s['retain']}</b> training images "
                f"({s['kind']}-level; test: {s['test_forget']} / {s['test_retain']})<br>"
                f"<span style='color:#555'>by class: {balance}</span>")
            if s["kind"] not in self.method_kinds:
                warnings.append(f"{self.method_label or 'The chosen method'} cannot do {s['kind']}-level forgetting.")
            present = sum(1 for v in s["per_class_forget"] if v)
            if s["kind"] == "sample" and present == st.bundle.num_classes and s["forget"] > 0.5 * n:
                warnings.append("The selection touches every class and most of the data.")
        self.warning_label.setText(" ".join(warnings))
        self._show_note()
        # keep the forget ring on the pick plot in step
        if st.split is not None and len(st.embed_idx):
            is_f = np.isin(st.embed_idx, st.split.forget_idx)
            self.pick_plot.forget_item.setData(x=st.embed_coords[is_f, 0], y=st.embed_coords[is_f, 1])
        else:
            self.pick_plot.forget_item.setData(x=[], y=[])

    # ------------------------------------------------------------------ files
    def selection_json(self, name: str = "selection") -> dict[str, Any]:
        st = self.state
        if st.split is None or st.forget is None:
            raise BadForgetSet("there is no valid selection to save")
        return {
            "schema_version": SELECTION_SCHEMA,
            "name": name,
            "dataset": st.source,
            "dataset_fingerprint": st.bundle.fingerprint,
            "forget": st.forget.to_json(),
            "kind": st.split.kind,
            "ids": [int(i) for i in st.split.forget_idx],
            "hash": st.split.hash,
        }

    def save_selection(self, path: str | Path) -> None:
        data = self.selection_json(Path(path).stem)
        atomic_write_text(Path(path), json.dumps(data, indent=1))
        self.sig_status.emit(f"Saved the selection ({len(data['ids'])} rows, hash {data['hash'][:12]}) to {path}")

    def load_selection(self, path: str | Path) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: not UTF-8, not JSON
            raise BadForgetSet(f"{path} is not a readable selection file ({exc})") from None
        if not isinstance(data, dict) or "forget" not in data:
            raise BadForgetSet(f"{path} is not a Lethe selection file")
        if data.get("dataset_fingerprint") not in (None, self.state.bundle.fingerprint):
            raise BadForgetSet(f"{path} was saved for another dataset ({data.get('dataset')})",
                               hint="load the dataset it was made for first")
        spec = ForgetSpec.from_json(data["forget"])
        self.state.set_forget(spec)
        self._sync_from_state()
        if self.state.split is not None and data.get("hash") and data["hash"] != self.state.split.hash:
            raise BadForgetSet(f"{path}: the selection resolves to other rows than when it was saved (hash mismatch)")
        self.sig_status.emit(f"Loaded the selection {data.get('name', '')} from {path}")

    @Slot()
    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the forget selection", "forget-selection.json", "JSON (*.json)")
        if path:
            try:
                self.save_selection(path)
            except LetheError as exc:
                self.sig_status.emit(exc.message)
            except OSError as exc:  # read-only folder, disk full: a message, not a traceback
                self.sig_status.emit(f"The selection was not saved: {exc.strerror or exc} ({path})")

    @Slot()
    def _on_load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a forget selection", "", "JSON (*.json)")
        if path:
            try:
                self.load_selection(path)
            except LetheError as exc:
                self.sig_status.emit(exc.message)
