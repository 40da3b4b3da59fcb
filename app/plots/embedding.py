"""EmbeddingPlot: the probe set on the fixed 2-D basis, one scatter item per class.

Items are created once per class set (and primed: their style records made at once), then only
moved (:func:`move_points`, NumPy copies, no per-point Python). The forget set, ghosts of the
retrained model, the current selection and class-mean labels are separate overlay items. With
``selectable=True`` a drag draws a lasso and a click picks the nearest point (numpy, once on release);
``sig_selected`` gives the chosen row ids.

Legibility: class-mean labels are pushed apart on screen (:func:`repel_labels`) with a thin leader
to their mean; the forget set is a faint ring drawn *under* the class points (it never hides
them); the selection is a white ring in a black halo, unlike any class colour; hovering a point
shows its image, training-set index, class and prediction (:class:`PointTip`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from app.images import thumbnail
from app.plots import style

HOVER_PX = 8  # a point within this many pixels of the cursor is "hovered"
TIP_IMAGE_PX = 112  # the hovered image, scaled up (digits are 8 px, CIFAR 32 px)
LABEL_GAP_PX = 3.0


def repel_labels(centres: np.ndarray, sizes: np.ndarray, gap: float = LABEL_GAP_PX,
                 bounds: QRectF | None = None) -> np.ndarray:
    """Label centres (K, 2) in pixels, moved as little as possible so that no two label rectangles
    (sizes (K, 2): width, height in pixels) overlap or come closer than ``gap``, and (``bounds``,
    a QRectF: the view) each lies inside the view (:func:`keep_inside`).

    Greedy, in order: each label takes the nearest free spot on a grid of offsets (half a label
    height vertically, half a width sideways), each spot first moved inside ``bounds``. Rows with a
    non-finite centre are left as they are.
    """
    centres = np.asarray(centres, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    out = centres.copy()
    k = len(centres)
    placed: list[int] = []
    for i in range(k):
        if not np.all(np.isfinite(centres[i])):
            continue
        w, h = sizes[i]
        sy, sx = (h + gap) / 2, (w + gap) / 2
        rings = max(4, 2 * k)
        cand = np.array([(dx * sx, dy * sy) for dx in range(-2, 3) for dy in range(-rings, rings + 1)])
        cand = cand[np.argsort(np.hypot(cand[:, 0], cand[:, 1] * 1.5), kind="stable")]  # prefer vertical moves
        best, best_overlap = centres[i], np.inf
        for dx, dy in cand:
            c = centres[i] + (dx, dy)
            if bounds is not None:
                c = keep_inside(c[None], sizes[i][None], bounds)[0]
            overlap = sum(max(0.0, (w + sizes[j, 0]) / 2 + gap - abs(c[0] - out[j, 0]))
                          * max(0.0, (h + sizes[j, 1]) / 2 + gap - abs(c[1] - out[j, 1])) for j in placed)
            if overlap < best_overlap:  # no free spot (a crowded view, large labels): the least overlap,
                best, best_overlap = c, overlap  # still inside the view
            if overlap == 0.0:
                break
        out[i] = best
        placed.append(i)
    return out


def keep_inside(centres: np.ndarray, sizes: np.ndarray, bounds: QRectF, margin: float = 2.0) -> np.ndarray:
    """Label centres (K, 2) shifted the least so that each label rectangle (sizes (K, 2)) lies inside
    ``bounds`` (a QRectF, the view's scene rectangle) with ``margin`` px to spare: a long name near
    the edge is never cut ("olorectal adenocarcinoma epithelium"). A label wider than the view
    is centred. Non-finite rows are left as they are."""
    out = np.asarray(centres, dtype=np.float64).copy()
    lo = np.array([bounds.left(), bounds.top()]) + margin
    hi = np.array([bounds.right(), bounds.bottom()]) - margin
    for i in range(len(out)):
        if not np.all(np.isfinite(out[i])):
            continue
        half = np.asarray(sizes[i], dtype=np.float64) / 2
        for d in (0, 1):
            if hi[d] - lo[d] < 2 * half[d]:
                out[i, d] = (lo[d] + hi[d]) / 2
            else:
                out[i, d] = min(max(out[i, d], lo[d] + half[d]), hi[d] - half[d])
    return out


@dataclass
class PointInfo:
    """What the hover tip shows of one point."""

    index: int  # training-set index (or row id)
    label: int
    pred: int | None = None
    conf: float | None = None
    is_forget: bool = False


class PointTip(QFrame):
    """A small tool-tip window: the hovered point's image (scaled up) over its numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.ToolTip)
        self.setObjectName("pointTip")
        self.setFrameShape(QFrame.Shape.Box)
        self.setStyleSheet("#pointTip { background: #ffffe8; border: 1px solid #777; }")
        self.image_label = QLabel()
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text_label = QLabel()
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        lay.addWidget(self.image_label)
        lay.addWidget(self.text_label)
        self.index: int | None = None

    def text(self) -> str:
        return self.text_label.text()


def points_in_polygon(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(N,) bool: which points (N, 2) lie inside the closed polygon (M, 2) (even-odd rule)."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), dtype=bool)
    px, py = poly[:, 0], poly[:, 1]
    j = len(poly) - 1
    for i in range(len(poly)):
        xi, yi, xj, yj = px[i], py[i], px[j], py[j]
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < x_at)
        j = i
    return inside


def move_points(item: pg.ScatterPlotItem, x: np.ndarray, y: np.ndarray) -> None:
    """Move a scatter item's points, O(N) in NumPy, whatever their number.

    ``setData`` rebuilds every point's record and looks up its symbol in the atlas in Python
    (~5 µs a point: 10 ms for 2,000 points, 100 ms for 20,000). Every point of one of our items has
    the item's style, so a new number of points copies one styled record (atlas coordinates
    included) instead; only an item that never held a point pays ``setData`` once (see
    :func:`prime_item`, which does that at start-up).
    """
    n = len(x)
    if n == 0:
        if len(item.data):
            _remember_proto(item)
            item.setData(x=[], y=[])
        return
    if len(item.data) != n:
        if len(item.data):
            proto = item.data[:1]
        else:
            stored = getattr(item, "_lethe_proto", None)
            if stored is None:
                item.setData(x=x, y=y)
                _remember_proto(item)
                return
            # The style may have changed since (setSize, a new screen's pixel ratio): look the one
            # record's symbol up in the atlas again.
            proto = stored.copy()
            proto["sourceRect"] = 0
            item.data = proto
            item.updateSpots()
            proto = item.data
        data = np.repeat(proto, n)
        data["item"] = None  # no SpotItem wrappers: they are made on demand
        item.data = data
    item.data["x"] = x
    item.data["y"] = y
    item.prepareGeometryChange()
    item.informViewBoundsChanged()
    item.bounds = [None, None]
    item.invalidate()


def _remember_proto(item: pg.ScatterPlotItem) -> None:
    if len(item.data):
        proto = item.data[:1].copy()
        proto["item"] = None
        item._lethe_proto = proto


def prime_item(item: pg.ScatterPlotItem) -> None:
    """Give an empty item its styled record and symbol atlas now (one ``setData`` of one point), so
    that its first real frame is a NumPy copy (:func:`move_points`), not per-point style lookups and
    an atlas build in the middle of a run."""
    if not len(item.data) and getattr(item, "_lethe_proto", None) is None:
        item.setData(x=[0.0], y=[0.0])
        _remember_proto(item)
        item.fragmentAtlas.pixmap  # noqa: B018 - builds the symbol atlas image now
        item.setData(x=[], y=[])


class _LassoViewBox(pg.ViewBox):
    """A ViewBox whose left-drag draws a lasso (when enabled) instead of panning."""

    def __init__(self, owner: EmbeddingPlot) -> None:
        super().__init__()
        self._owner = owner
        self._path: list[QPointF] = []

    def mouseDragEvent(self, ev, axis=None):
        if not self._owner.selectable or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._path = [p]
        else:
            self._path.append(p)
        xs = [q.x() for q in self._path]
        ys = [q.y() for q in self._path]
        self._owner.lasso_curve.setData(xs + xs[:1], ys + ys[:1])
        if ev.isFinish():
            poly = np.array([[q.x(), q.y()] for q in self._path])
            self._owner.lasso_curve.setData([], [])
            self._path = []
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))
            if len(poly) >= 3:
                self._owner.select_polygon(poly, additive=additive)

    def mouseClickEvent(self, ev):
        if self._owner.selectable and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))
            self._owner.select_nearest(p.x(), p.y(), additive=additive)
            return
        super().mouseClickEvent(ev)


class EmbeddingPlot(pg.PlotWidget):
    """Scatter of 2-D coordinates coloured by class, with forget / ghost / selection overlays."""

    sig_selected = Signal(object)  # np.ndarray of ids (the ``ids`` given to set_points)

    def __init__(self, parent=None, *, selectable: bool = False, point_size: float = 6.0) -> None:
        self._vb = _LassoViewBox(self)
        super().__init__(parent, viewBox=self._vb)
        self.selectable = selectable
        self.point_size = point_size
        self.setMenuEnabled(False)
        self.hideButtons()
        self.getPlotItem().hideAxis("left")
        self.getPlotItem().hideAxis("bottom")
        self._vb.setAspectLocked(True)
        self.class_items: list[pg.ScatterPlotItem] = []
        self.ghost_items: list[pg.ScatterPlotItem] = []
        self.mean_labels: list[pg.TextItem] = []
        self.class_names: list[str] = []
        # The forget set: a faint ring *under* the class points (z 1.5 < 2), so a dense forget class
        # is a halo around its points, never a black mass over the other classes.
        forget_pen = QColor(style.FORGET_COLOUR)
        forget_pen.setAlpha(150)
        self.forget_item = pg.ScatterPlotItem(size=point_size + 4, pen=pg.mkPen(forget_pen, width=1.0),
                                              brush=None, symbol="o", hoverable=False)
        self.forget_item.setZValue(1.5)
        # The selection: a white ring in a black halo (two items), over everything, no fill.
        self.selection_halo = pg.ScatterPlotItem(size=point_size + 6, pen=pg.mkPen(style.SELECTION_HALO, width=3.5),
                                                 brush=None, symbol="o", hoverable=False)
        self.selection_halo.setZValue(6)
        self.selection_item = pg.ScatterPlotItem(size=point_size + 6, pen=pg.mkPen(style.SELECTION_RING, width=1.5),
                                                 brush=None, symbol="o", hoverable=False)
        self.selection_item.setZValue(6.5)
        self.lasso_curve = pg.PlotCurveItem(pen=pg.mkPen(style.LASSO_COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
        self.lasso_curve.setZValue(10)
        self.leader_curve = pg.PlotCurveItem(pen=pg.mkPen("#30384199", width=1.0), connect="pairs")
        self.leader_curve.setZValue(7)
        for it in (self.forget_item, self.selection_halo, self.selection_item, self.lasso_curve, self.leader_curve):
            self.addItem(it)
        self._means: np.ndarray | None = None
        self._label_font_pt: float | None = None
        # hover: per point info for the tip, and where images come from (a training-set index -> (C, H, W) uint8)
        self.image_source: Callable[[int], np.ndarray | None] | None = None
        self.invert_gray = False
        self._pred: np.ndarray | None = None
        self._conf: np.ndarray | None = None
        self._point_labels = np.zeros(0, dtype=np.int64)
        self._is_forget = np.zeros(0, dtype=bool)
        self.tip = PointTip(self)
        self.setMouseTracking(True)
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        # A range or size change can be signalled in the middle of a paint: moving items then is
        # unsafe (Qt crashes in QPainter::restore), so the labels are re-placed on the next turn.
        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(0)
        self._label_timer.timeout.connect(self._place_labels)
        self._vb.sigRangeChanged.connect(lambda *_: self._label_timer.start())
        self._vb.sigResized.connect(lambda *_: self._label_timer.start())
        self._coords = np.zeros((0, 2), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._labels: np.ndarray | None = None  # the labels the class rows were computed for
        self._class_rows: list[np.ndarray] = []
        self._range_fixed = False
        self.selected_ids = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ set-up
    def set_classes(self, names: Sequence[str]) -> None:
        """(Re)create one item per class; only when the class list changes."""
        names = list(names)
        if names == self.class_names:
            return
        for it in self.class_items + self.ghost_items + self.mean_labels:
            self.removeItem(it)
        self.class_names = names
        k = len(names)
        self.class_items, self.ghost_items, self.mean_labels = [], [], []
        for c in range(k):
            item = pg.ScatterPlotItem(size=self.point_size, pen=None, brush=style.class_brush(c, k, 210),
                                      hoverable=False, name=names[c])
            item.setZValue(2)
            self.addItem(item)
            self.class_items.append(item)
            ghost = pg.ScatterPlotItem(size=self.point_size + 2, pen=None, brush=style.class_brush(c, k, 45),
                                       symbol="d", hoverable=False)
            ghost.setZValue(1)
            self.addItem(ghost)
            self.ghost_items.append(ghost)
            if k <= 20:
                col = QColor(style.class_colour(c, k)).darker(150)
                label = pg.TextItem(names[c], color=col, anchor=(0.5, 0.5), border=pg.mkPen(col), fill=pg.mkBrush(255, 255, 255, 200))
                if self._label_font_pt is not None:
                    f = label.textItem.font()
                    f.setPointSizeF(self._label_font_pt)
                    label.setFont(f)
                label.setZValue(8)
                label.setVisible(False)
                self.addItem(label)
                self.mean_labels.append(label)
        self._labels = None
        self._means = None
        self._range_fixed = False
        self.prime()

    def prime(self) -> None:
        """Pay each item's one-off style set-up now (start-up, a new class list), not on a live frame."""
        for item in self.class_items + self.ghost_items + [self.forget_item, self.selection_item, self.selection_halo]:
            prime_item(item)

    def _same_labels(self, labels: np.ndarray) -> bool:
        """O(N) check: frames of one probe arrive as new arrays (from the job process) with equal labels."""
        old = self._labels
        return old is not None and (old is labels or (old.shape == labels.shape and np.array_equal(old, labels)))

    def reset_range(self) -> None:
        """Fit the axes to the next frame, then keep them fixed."""
        self._range_fixed = False

    # ------------------------------------------------------------------ data
    def set_points(self, coords: np.ndarray, labels: np.ndarray, is_forget: np.ndarray | None = None,
                   ids: np.ndarray | None = None, means2d: np.ndarray | None = None,
                   pred: np.ndarray | None = None, conf: np.ndarray | None = None) -> None:
        """Move the points: ``coords`` (N, 2), ``labels`` (N,), ``is_forget`` (N,) bool, ``ids`` (N,)
        (training-set indices: the hover tip shows them and their image); ``pred`` / ``conf`` (N,):
        the model's predicted class and its probability, for the hover tip."""
        coords = np.asarray(coords, dtype=np.float32)
        labels = np.asarray(labels)
        if not self._same_labels(labels):  # class rows change only when the probe does
            order = np.argsort(labels, kind="stable")
            bounds = np.searchsorted(labels[order], np.arange(len(self.class_items) + 1))
            self._class_rows = [order[bounds[c]:bounds[c + 1]] for c in range(len(self.class_items))]
            self._labels = labels
        for c, item in enumerate(self.class_items):
            rows = self._class_rows[c]
            move_points(item, coords[rows, 0], coords[rows, 1])
        if is_forget is not None and np.any(is_forget):
            f = coords[np.asarray(is_forget, dtype=bool)]
            move_points(self.forget_item, f[:, 0], f[:, 1])
        else:
            move_points(self.forget_item, coords[:0, 0], coords[:0, 1])
        self._coords = coords
        self._ids = np.arange(len(coords), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        self._point_labels = labels
        self._is_forget = np.zeros(len(coords), bool) if is_forget is None else np.asarray(is_forget, dtype=bool)
        self._pred = None if pred is None else np.asarray(pred)
        self._conf = None if conf is None else np.asarray(conf)
        self._refresh_selection()
        if not self._range_fixed and len(coords):
            self._fit(coords)
        if means2d is not None and self.mean_labels:
            self._means = np.asarray(means2d, dtype=np.float64)
            self._place_labels()

    def _fit(self, coords: np.ndarray) -> None:
        c = np.asarray(coords, dtype=np.float64)
        lo, hi = np.nanmin(c, axis=0), np.nanmax(c, axis=0)
        pad = 0.08 * np.maximum(hi - lo, 1e-6)
        self._vb.setRange(xRange=(float(lo[0] - pad[0]), float(hi[0] + pad[0])),
                          yRange=(float(lo[1] - pad[1]), float(hi[1] + pad[1])), padding=0)
        self._vb.disableAutoRange()
        self._range_fixed = True

    def _place_labels(self) -> None:
        """Class-mean labels at their means, pushed apart on screen, each with a leader to its mean."""
        means = self._means
        if means is None or not self.mean_labels:
            return
        k = len(self.mean_labels)
        centres = np.full((k, 2), np.nan)
        sizes = np.zeros((k, 2))
        for c, label in enumerate(self.mean_labels):
            m = means[c] if c < len(means) else (np.nan, np.nan)
            ok = bool(np.all(np.isfinite(m)))
            label.setVisible(ok)
            if ok:
                p = self._vb.mapViewToScene(QPointF(float(m[0]), float(m[1])))
                centres[c] = (p.x(), p.y())
                r = label.textItem.boundingRect()  # pixels, whatever the view's scale (TextItem's own
                sizes[c] = (r.width(), r.height())  # transform is set only on its next paint)
        moved = repel_labels(centres, sizes, bounds=self._vb.sceneBoundingRect())
        xs: list[float] = []
        ys: list[float] = []
        for c, label in enumerate(self.mean_labels):
            if not np.all(np.isfinite(moved[c])):
                continue
            q = self._vb.mapSceneToView(QPointF(float(moved[c, 0]), float(moved[c, 1])))
            label.setPos(q.x(), q.y())
            if np.hypot(*(moved[c] - centres[c])) > 1.0:
                xs += [float(means[c, 0]), q.x()]
                ys += [float(means[c, 1]), q.y()]
        self.leader_curve.setData(xs, ys)

    def label_scene_rects(self) -> list:
        """The scene rectangles of the visible class-mean labels (for tests and screenshots)."""
        return [lab.sceneBoundingRect() for lab in self.mean_labels if lab.isVisible()]

    def set_font_size(self, pt: float) -> None:
        """Class-mean labels in ``pt`` points (presenter mode)."""
        self._label_font_pt = pt
        for label in self.mean_labels:
            f = label.textItem.font()
            f.setPointSizeF(pt)
            label.setFont(f)
        self._place_labels()

    # ------------------------------------------------------------------ hover
    def point_at(self, x: float, y: float, max_px: float = HOVER_PX) -> int | None:
        """Row of the point nearest to view position (x, y) within ``max_px`` screen pixels, or None."""
        if not len(self._coords):
            return None
        px = self._vb.viewPixelSize()
        d = (((self._coords[:, 0] - x) / max(px[0], 1e-12)) ** 2
             + ((self._coords[:, 1] - y) / max(px[1], 1e-12)) ** 2)
        i = int(np.nanargmin(d)) if np.isfinite(d).any() else -1
        return i if i >= 0 and d[i] <= max_px**2 else None

    def point_info(self, row: int) -> PointInfo:
        pred = None if self._pred is None or row >= len(self._pred) else int(self._pred[row])
        conf = None if self._conf is None or row >= len(self._conf) else float(self._conf[row])
        label = int(self._point_labels[row]) if row < len(self._point_labels) else -1
        forget = bool(self._is_forget[row]) if row < len(self._is_forget) else False
        return PointInfo(int(self._ids[row]), label, pred, conf, forget)

    def _class_name(self, c: int | None) -> str:
        if c is None or c < 0:
            return "?"
        return self.class_names[c] if c < len(self.class_names) else str(c)

    def show_tip(self, row: int, global_pos: QPoint) -> None:
        """Show the hover tip of point ``row`` near ``global_pos``."""
        info = self.point_info(row)
        img = self.image_source(info.index) if self.image_source is not None else None
        if img is not None:
            self.tip.image_label.setPixmap(thumbnail(img, TIP_IMAGE_PX, invert_gray=self.invert_gray))
            self.tip.image_label.setVisible(True)
        else:
            self.tip.image_label.setVisible(False)
        lines = [f"<b>#{info.index}</b> · class <b>{self._class_name(info.label)}</b>"
                 + (" · <i>forget set</i>" if info.is_forget else "")]
        if info.pred is not None:
            ok = "✓" if info.pred == info.label else "✗"
            conf = f" ({100 * info.conf:.1f} %)" if info.conf is not None else ""
            lines.append(f"predicted <b>{self._class_name(info.pred)}</b>{conf} {ok}")
        self.tip.text_label.setText("<br>".join(lines))
        self.tip.index = info.index
        self.tip.adjustSize()
        self.tip.move(global_pos + QPoint(14, 14))
        self.tip.show()

    def hide_tip(self) -> None:
        self.tip.hide()
        self.tip.index = None

    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        if not self._vb.sceneBoundingRect().contains(scene_pos):
            self.hide_tip()
            return
        p = self._vb.mapSceneToView(scene_pos)
        row = self.point_at(p.x(), p.y())
        if row is None:
            self.hide_tip()
        else:
            self.show_tip(row, QCursor.pos() if self.underMouse() else self.mapToGlobal(self.mapFromScene(scene_pos)))

    def leaveEvent(self, ev) -> None:
        self.hide_tip()
        super().leaveEvent(ev)

    def set_ghosts(self, coords: np.ndarray | None, labels: np.ndarray | None) -> None:
        """Faint markers at the retrained model's positions (None clears them)."""
        for c, item in enumerate(self.ghost_items):
            if coords is None or labels is None:
                move_points(item, np.zeros(0, np.float32), np.zeros(0, np.float32))
            else:
                rows = labels == c
                move_points(item, coords[rows, 0], coords[rows, 1])

    def clear_points(self) -> None:
        empty = np.zeros(0, np.float32)
        for item in self.class_items + self.ghost_items + [self.forget_item]:
            move_points(item, empty, empty)
        for label in self.mean_labels:
            label.setVisible(False)
        self._means = None
        self.leader_curve.setData([], [])
        self.hide_tip()
        self._coords = np.zeros((0, 2), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._refresh_selection()

    # ------------------------------------------------------------------ selection
    def set_selected_ids(self, ids: Sequence[int]) -> None:
        self.selected_ids = np.unique(np.asarray(list(ids), dtype=np.int64))
        self._refresh_selection()

    def _refresh_selection(self) -> None:
        if len(self.selected_ids) and len(self._ids):
            mask = np.isin(self._ids, self.selected_ids)
            s = self._coords[mask]
        else:
            s = self._coords[:0]
        for item in (self.selection_halo, self.selection_item):
            move_points(item, s[:, 0], s[:, 1])

    def select_polygon(self, poly: np.ndarray, additive: bool = False) -> np.ndarray:
        hit = self._ids[points_in_polygon(self._coords.astype(np.float64), poly)]
        return self._emit_selection(hit, additive)

    def select_nearest(self, x: float, y: float, additive: bool = False) -> np.ndarray:
        if not len(self._coords):
            return self._emit_selection(np.zeros(0, dtype=np.int64), additive)
        # Pixel distance, so "near" means near on screen whatever the scale.
        px = self._vb.viewPixelSize()
        d = ((self._coords[:, 0] - x) / max(px[0], 1e-12)) ** 2 + ((self._coords[:, 1] - y) / max(px[1], 1e-12)) ** 2
        i = int(np.argmin(d))
        hit = self._ids[[i]] if d[i] <= 12**2 else np.zeros(0, dtype=np.int64)
        return self._emit_selection(hit, additive)

    def _emit_selection(self, hit: np.ndarray, additive: bool) -> np.ndarray:
        ids = np.union1d(self.selected_ids, hit) if additive else np.unique(hit)
        self.set_selected_ids(ids)
        self.sig_selected.emit(ids)
        return ids
