"""VerdictPane: the audit's five answers for one run, and the forget images it still recognises.

It only reads ``record.audit["verdicts"]`` (written by ``engine.evaluation.audit.audit_block``); no engine work.
"""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QIcon, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.images import thumbnail
from engine import RunRecord

EMPTY_TEXT = "Run a method to see whether it really forgot."
NO_AUDIT_TEXT = "This run was not audited (the audit was turned off), so there are no verdicts to show."
MAX_THUMBS = 12
THUMB_PX = 32
THUMB_COLUMNS = 6  # 12 thumbnails: two rows beside the verdicts
THUMB_CELL = THUMB_PX + 24
THUMB_SHARE = 0.3  # of the pane's width, at most, for the thumbnails

# status -> (badge text, background, text colour): the text carries the meaning, the colour helps.
BADGES: dict[str, tuple[str, str, str]] = {
    "pass": ("PASS", "#1e7b34", "#ffffff"),
    "warn": ("WARN", "#f0b429", "#2b2100"),
    "fail": ("FAIL", "#b3261e", "#ffffff"),
    "n/a": ("n/a", "#9aa0a6", "#ffffff"),
}
BASIS_TEXT = {"retrain": "against the retrained model", "reference-free": "reference-free rules"}
ORDER = ("outputs", "features", "private", "utility", "relearn")


def badge_for(status: str) -> tuple[str, str, str]:
    """(text, background, foreground) of a status badge; unknown statuses look like n/a."""
    return BADGES.get(str(status).lower(), (str(status) or "n/a", BADGES["n/a"][1], BADGES["n/a"][2]))


def evidence_lines(evidence: Any) -> list[str]:
    """``label: value`` lines from a verdict's evidence (a dict, or a list of pairs / strings)."""
    if isinstance(evidence, dict):
        return [f"{k}: {v}" for k, v in evidence.items()]
    out = []
    for e in evidence or []:
        if isinstance(e, (list, tuple)) and len(e) == 2:
            out.append(f"{e[0]}: {e[1]}")
        elif isinstance(e, dict) and "label" in e:
            out.append(f"{e['label']}: {e.get('value', '')}")
        else:
            out.append(str(e))
    return out


class SummaryLabel(QLabel):
    """A verdict's summary: word-wrapped, or in compact mode (presenters' large font) one line cut
    with "…" at the label's width (``text()`` keeps the whole summary; the tooltip shows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.compact = False

    def set_compact(self, compact: bool) -> None:
        self.compact = compact
        self.setWordWrap(not compact)
        self.updateGeometry()
        self.update()

    def shown_text(self) -> str:
        """The text as drawn: the whole summary, or one line elided to the current width."""
        if not self.compact:
            return self.text()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, max(0, self.contentsRect().width()))

    def minimumSizeHint(self) -> QSize:
        if not self.compact:
            return super().minimumSizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("…") * 8, self.fontMetrics().height())

    def sizeHint(self) -> QSize:
        if not self.compact:
            return super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 4, self.fontMetrics().height())

    def paintEvent(self, ev) -> None:
        if not self.compact:
            super().paintEvent(ev)
            return
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.shown_text())
        p.end()


class VerdictRowWidgets:
    """The labels of one verdict row (kept so tests and updates can reach them)."""

    def __init__(self, grid: QGridLayout, row: int) -> None:
        self.badge_label = QLabel()
        self.badge_label.setObjectName("verdictBadge")
        self.badge_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bold = QFont(self.badge_label.font())
        bold.setBold(True)
        # wide enough for "WARN" in whatever font size the window uses (the presenters' demo is large)
        self.badge_label.setFixedWidth(max(48, QFontMetrics(bold).horizontalAdvance("WARN") + 14))
        self.question_label = QLabel()
        self.question_label.setStyleSheet("font-weight: bold;")
        self.basis_label = QLabel()
        self.basis_label.setStyleSheet("color: #5f6368; font-size: 8pt;")
        self.summary_label = SummaryLabel()
        for label in (self.badge_label, self.question_label, self.basis_label, self.summary_label):
            label.setTextFormat(Qt.TextFormat.PlainText)  # a session's record may hold markup: show it as text
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        top = Qt.AlignmentFlag.AlignTop
        what = QVBoxLayout()  # the question, and below it (small) what it is judged against
        what.setSpacing(0)
        what.addWidget(self.question_label)
        what.addWidget(self.basis_label)
        grid.addWidget(self.badge_label, row, 0, top)
        grid.addLayout(what, row, 1, top)
        grid.addWidget(self.summary_label, row, 2, top)

    def widgets(self) -> tuple[QLabel, ...]:
        return (self.badge_label, self.question_label, self.basis_label, self.summary_label)

    def show_verdict(self, v: dict[str, Any]) -> None:
        text, bg, fg = badge_for(v.get("status", "n/a"))
        self.badge_label.setText(text)
        self.badge_label.setStyleSheet(f"background: {bg}; color: {fg}; font-weight: bold; border-radius: 3px; padding: 1px 4px;")
        self.question_label.setText(str(v.get("question", v.get("key", ""))))
        basis = v.get("basis", "")
        self.basis_label.setText(str(BASIS_TEXT.get(basis, basis)) if isinstance(basis, str) else "")
        self.summary_label.setText(str(v.get("summary", "")))
        lines = evidence_lines(v.get("evidence"))
        # Qt renders a tooltip that looks like markup: escape it and force rich text, so it shows as typed.
        tip = "<qt>" + "<br>".join(html.escape(line) for line in lines) + "</qt>" if lines else "no numbers recorded"
        if self.summary_label.compact:  # the summary is cut on screen: the tooltip holds all of it
            tip = f"<qt><b>{html.escape(str(v.get('summary', '')))}</b><br>{tip.removeprefix('<qt>')}"
        for w in self.widgets():
            w.setToolTip(tip)
            w.setVisible(w is not self.basis_label or not self.summary_label.compact)

    def hide(self) -> None:
        for w in self.widgets():
            w.setVisible(False)


class VerdictPane(QWidget):
    """Five verdict rows (status badge, question over its basis, summary; evidence as a tooltip) and,
    beside them, up to 12 forget images the run still recognises with their training-set index."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record: RunRecord | None = None
        self._bundle: Any = None
        self._title: str | None = None
        self.compact = False
        self.header_label = QLabel(EMPTY_TEXT)
        self.header_label.setObjectName("verdictHeader")
        self.header_label.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(3)
        self.grid.setColumnStretch(2, 1)
        self.rows = [VerdictRowWidgets(self.grid, i) for i in range(len(ORDER))]
        self.thumbs_label = QLabel()
        self.thumbs_label.setStyleSheet("color: #5f6368;")
        self.thumbs_list = QListWidget()
        self.thumbs_list.setObjectName("verdictThumbs")
        self.thumbs_list.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs_list.setFlow(QListView.Flow.LeftToRight)
        self.thumbs_list.setMovement(QListView.Movement.Static)
        self.thumbs_list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.thumbs_list.setIconSize(QSize(THUMB_PX, THUMB_PX))
        fm = self.thumbs_list.fontMetrics()  # cells fit an index label such as "#12345" at any font size
        cell = max(THUMB_CELL, fm.horizontalAdvance("#12345") + 8)
        self.thumbs_list.setGridSize(QSize(cell, THUMB_PX + fm.height() + 6))
        self.thumbs_list.setWrapping(True)
        self.thumbs_list.setResizeMode(QListView.ResizeMode.Adjust)
        self._thumb_cell = cell
        side = THUMB_COLUMNS * cell + 18  # + room for a scroll bar
        self.thumbs_list.setFixedWidth(side)
        self.thumbs_list.setMinimumHeight(THUMB_PX + 24)
        self.thumbs_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thumbs_list.setFrameShape(QFrame.Shape.NoFrame)
        self.thumbs_list.setStyleSheet("QListWidget { background: transparent; }")
        self.thumbs_label.setWordWrap(True)
        self.thumbs_label.setFixedWidth(side)
        self._thumbs_side = side

        body = QWidget()
        self._body = body
        left = QVBoxLayout()
        left.setSpacing(3)
        left.addWidget(self.header_label)
        left.addLayout(self.grid)
        left.addStretch(1)
        right = QVBoxLayout()  # the forget images still recognised, beside the verdicts
        right.setSpacing(2)
        right.addWidget(self.thumbs_label)
        right.addWidget(self.thumbs_list, 1)
        lay = QHBoxLayout(body)
        lay.setContentsMargins(6, 2, 6, 0)
        lay.setSpacing(12)
        lay.addLayout(left, 1)
        lay.addLayout(right)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.show_record(None, None)

    def thumb_columns(self, width: int) -> int:
        """Thumbnail columns for a pane ``width`` px wide: the images take at most
        ``THUMB_SHARE`` of it (the verdicts' text needs the rest), 2 to ``THUMB_COLUMNS``."""
        return max(2, min(THUMB_COLUMNS, int((THUMB_SHARE * width - 18) // self._thumb_cell)))

    def resizeEvent(self, ev) -> None:
        side = self.thumb_columns(ev.size().width()) * self._thumb_cell + 18
        if side != self._thumbs_side:
            self._thumbs_side = side
            self.thumbs_list.setFixedWidth(side)
            if self.thumbs_list.isVisible() or self.thumbs_label.width() > side:
                self.thumbs_label.setFixedWidth(side)
        super().resizeEvent(ev)

    # ------------------------------------------------------------------ public
    def set_compact(self, compact: bool) -> None:
        """Compact rows (presenter mode, large font): each summary on one line cut with "…" (the
        whole text in the tooltip), no basis line under the question (the header says it), so all
        five rows fit a short dock."""
        self.compact = compact
        for row in self.rows:
            row.summary_label.set_compact(compact)
            row.basis_label.setHidden(compact)
        self.show_record(self.record, self._bundle, self._title)

    def preferred_height(self, width: int) -> int:
        """Pixels the pane needs to show its rows unscrolled at ``width`` pixels wide."""
        lay = self._body.layout()
        h = lay.heightForWidth(width) if lay.hasHeightForWidth() else -1
        return (h if h > 0 else self._body.sizeHint().height()) + 6

    def verdicts(self) -> list[dict[str, Any]]:
        """The shown record's verdicts in the questions' order (empty without an audit)."""
        if self.record is None:
            return []
        vs = list((self.record.audit or {}).get("verdicts") or [])
        rank = {k: i for i, k in enumerate(ORDER)}
        return sorted(vs, key=lambda v: rank.get(v.get("key", ""), len(ORDER)))

    def status_texts(self) -> list[str]:
        """The badge texts of the visible rows (PASS / WARN / FAIL / n/a)."""
        return [r.badge_label.text() for r in self.rows if not r.badge_label.isHidden()]

    def show_message(self, text: str) -> None:
        """The explicit empty state with ``text`` (a run is running, was cancelled, the forget set changed)."""
        self.show_record(None, None)
        self.header_label.setText(text)

    def show_record(self, record: RunRecord | None, bundle: Any, title: str | None = None) -> None:
        """Show ``record``'s verdicts (None: the empty state). ``bundle`` supplies the thumbnails and
        class names: pass it only when ``record`` was run on it (else None: images are not shown).
        ``title`` names the run in the header ("SalUn (run 4) · digits"; default: its label)."""
        self.record, self._bundle = record, bundle
        self._title = title
        name = html.escape(str(title or (record.label or record.method if record is not None else "")))
        if record is not None and bundle is not None and record.dataset.get("fingerprint") not in (
                None, getattr(bundle, "fingerprint", None)):
            bundle = None  # never another dataset's images under this run's indices
        vs = self.verdicts()
        if record is None:
            self.header_label.setText(EMPTY_TEXT)
        elif not vs:
            self.header_label.setText(f"<b>{name}</b>: {NO_AUDIT_TEXT}")
        else:
            basis = (record.audit or {}).get("basis", "")
            judged = html.escape(str(BASIS_TEXT.get(basis, basis) if isinstance(basis, str) else ""))
            self.header_label.setText(f"<b>Did {name} really forget?</b> "
                                      f"<span style='color:#5f6368'>Judged {judged}; "
                                      f"hover a row for the numbers behind it.</span>")
        for i, row in enumerate(self.rows):
            if i < len(vs):
                row.show_verdict(vs[i])
            else:
                row.hide()
        outputs = next((v for v in vs if v.get("key") == "outputs"), None)
        self._show_thumbs(list(outputs.get("indices") or []) if outputs else [], bundle, outputs is not None)

    # ------------------------------------------------------------------ thumbnails
    def _show_thumbs(self, indices: list[int], bundle: Any, audited: bool) -> None:
        self.thumbs_list.clear()
        x = getattr(bundle, "x_train", None)
        shown = [int(i) for i in indices if x is not None and 0 <= int(i) < len(x)][:MAX_THUMBS]
        if not audited:
            self.thumbs_label.setVisible(False)
            self.thumbs_list.setVisible(False)
            return
        self.thumbs_label.setVisible(True)
        if not indices:
            text = "No forget image is still recognised."
            self.thumbs_label.setText(text)  # a short line: give the verdicts the width the images would take
            self.thumbs_label.setFixedWidth(min(self._thumbs_side, self.thumbs_label.fontMetrics().horizontalAdvance(text) + 12))
            self.thumbs_list.setVisible(False)
            return
        self.thumbs_label.setFixedWidth(self._thumbs_side)
        total = max(len(indices), int((self.record.audit.get("details") or {}).get("still_recognised_count", 0) or 0))
        more = f", {len(shown)} shown" if total > len(shown) else ""
        assert self.record is not None
        ds = html.escape(str(self.record.dataset.get("name") or self.record.dataset.get("source") or "its dataset"))
        self.thumbs_label.setText(f"<b>{total}</b> still recognised{more}, most confident first:" if shown else
                                  f"<b>{total}</b> forget images still recognised; not shown: this run used "
                                  f"<b>{ds}</b>, which is not the dataset loaded now.")
        self.thumbs_list.setVisible(bool(shown))
        invert = getattr(bundle, "channels", 0) == 1 and getattr(bundle, "name", "") == "digits"
        classes = list(self.record.dataset.get("classes") or getattr(bundle, "classes", []) or [])
        y = getattr(bundle, "y_train", None)
        for i in shown:
            item = QListWidgetItem(QIcon(thumbnail(x[i], THUMB_PX, invert_gray=invert)), f"#{i}")
            tip = f"training image #{i}"
            if y is not None and classes:
                tip += f" (class {html.escape(str(classes[int(y[i])]))})"
            item.setToolTip(tip)
            self.thumbs_list.addItem(item)
