"""VerdictPane: the audit's five answers for one run, and the forget images it still recognises.

It only reads ``record.audit["verdicts"]`` (written by ``engine.evaluation.audit.audit_block``); no engine work.
"""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Slot
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
COMPACT_THUMB_SHARE = 0.2  # ... in compact mode (presenter): the wrapped summaries need the width

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


def wrap_words(text: str, fm: QFontMetrics, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` px at word boundaries (greedy, as QLabel's word
    wrap does); a single word wider than ``width`` stays whole on its own line."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}" if line else word
            if line and fm.horizontalAdvance(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def fit_lines(text: str, fm: QFontMetrics, width: int, max_lines: int) -> list[str]:
    """``text`` word-wrapped to ``width`` px in at most ``max_lines`` lines; only when it needs more
    is the last line cut with "…" (the rest of the words folded into it first)."""
    lines = wrap_words(text, fm, width)
    if len(lines) <= max_lines:
        return lines
    keep = lines[: max(1, max_lines)]
    rest = " ".join([keep[-1], *lines[len(keep):]])
    keep[-1] = fm.elidedText(rest, Qt.TextElideMode.ElideRight, max(0, width))
    return keep


class SummaryLabel(QLabel):
    """A verdict's summary: word-wrapped (normal mode), or in compact mode (presenters' large font)
    word-wrapped in at most ``max_lines`` lines, which the pane sets from the room it has
    (:meth:`VerdictPane.fit_summaries`): only a summary that needs more lines than there is room for
    has its last line cut with "…" (``text()`` keeps the whole summary; the tooltip shows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.compact = False
        self.max_lines = 1

    def set_compact(self, compact: bool) -> None:
        self.compact = compact
        self.setWordWrap(not compact)
        self.updateGeometry()
        self.update()

    def set_max_lines(self, n: int) -> None:
        n = max(1, int(n))
        if n != self.max_lines:
            self.max_lines = n
            self.updateGeometry()
            self.update()

    def lines_needed(self, width: int | None = None) -> int:
        """Lines the whole summary takes wrapped at ``width`` px (default: the label's width)."""
        w = self.contentsRect().width() if width is None else width
        return len(wrap_words(self.text(), self.fontMetrics(), max(1, w)))

    def shown_lines(self) -> list[str]:
        """The lines as drawn (compact mode)."""
        return fit_lines(self.text(), self.fontMetrics(), max(1, self.contentsRect().width()), self.max_lines)

    def shown_text(self) -> str:
        """The text as drawn: the whole summary, or (compact) the fitted lines joined by spaces."""
        if not self.compact:
            return self.text()
        return " ".join(self.shown_lines())

    def is_elided(self) -> bool:
        """Whether the drawn text is cut (compact mode, more lines needed than allotted)."""
        return self.compact and self.lines_needed() > self.max_lines

    def _lines_height(self, n: int) -> int:
        fm = self.fontMetrics()
        return fm.height() + max(0, n - 1) * fm.lineSpacing()

    def minimumSizeHint(self) -> QSize:
        if not self.compact:
            return super().minimumSizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("…") * 8, self._lines_height(self.max_lines))

    def sizeHint(self) -> QSize:
        if not self.compact:
            return super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("…") * 8, self._lines_height(self.max_lines))

    def hasHeightForWidth(self) -> bool:
        return False if self.compact else super().hasHeightForWidth()

    def paintEvent(self, ev) -> None:
        if not self.compact:
            super().paintEvent(ev)
            return
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        fm = self.fontMetrics()
        r = self.contentsRect()
        for i, line in enumerate(self.shown_lines()):
            p.drawText(r.left(), r.top() + fm.ascent() + i * fm.lineSpacing(), line)
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
        self._scroll = scroll
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self.fit_summaries)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.show_record(None, None)

    def thumb_columns(self, width: int) -> int:
        """Thumbnail columns for a pane ``width`` px wide: the images take at most
        ``THUMB_SHARE`` of it (the verdicts' text needs the rest), 2 to ``THUMB_COLUMNS``."""
        share = COMPACT_THUMB_SHARE if self.compact else THUMB_SHARE
        return max(2, min(THUMB_COLUMNS, int((share * width - 18) // self._thumb_cell)))

    def resizeEvent(self, ev) -> None:
        side = self.thumb_columns(ev.size().width()) * self._thumb_cell + 18
        if side != self._thumbs_side:
            self._thumbs_side = side
            self.thumbs_list.setFixedWidth(side)
            if self.thumbs_list.isVisible() or self.thumbs_label.width() > side:
                self.thumbs_label.setFixedWidth(side)
        super().resizeEvent(ev)
        if self.compact:
            self._fit_timer.start()  # once the layout has given the summaries their widths

    # ------------------------------------------------------------------ compact fitting
    def _row_floor(self, row: VerdictRowWidgets) -> int:
        """A row's height without its summary: the badge, the question."""
        return max(row.badge_label.sizeHint().height(), row.question_label.sizeHint().height())

    def _fixed_height(self, header_width: int) -> int:
        """Pixels of the body that are not verdict rows: margins, the header, spacing."""
        lay = self._body.layout()
        m = lay.contentsMargins()
        hh = self.header_label.heightForWidth(max(1, header_width))
        hh = hh if hh > 0 else self.header_label.sizeHint().height()
        rows = sum(1 for r in self.rows if not r.badge_label.isHidden())
        return m.top() + m.bottom() + hh + 3 + self.grid.verticalSpacing() * max(0, rows - 1) + 4

    def _summary_width(self, pane_width: int | None = None) -> int:
        """The summaries' width in px now, or (``pane_width``) once the pane is that wide."""
        now = self.rows[0].summary_label.contentsRect().width()
        if pane_width is None:
            return now
        if self.isVisible() and now > 20:
            return max(40, now + pane_width - self.width())
        return max(40, pane_width // 2)

    @Slot()
    def fit_summaries(self) -> None:
        """Compact mode: give each summary as many lines as the pane's height has room for, rows
        needing the fewest extra lines first (so most summaries are whole); only a summary that
        still does not fit is cut with "…"."""
        if not self.compact:
            return
        rows = [r for r in self.rows if not r.badge_label.isHidden()]
        if not rows:
            return
        width = max(1, self._summary_width())
        room = self._scroll.viewport().height() - self._fixed_height(self.header_label.width() or width)
        fm = rows[0].summary_label.fontMetrics()
        def h(n: int) -> int:
            return fm.height() + max(0, n - 1) * fm.lineSpacing()
        need = [r.summary_label.lines_needed(width) for r in rows]
        floor = [self._row_floor(r) for r in rows]
        lines = [1] * len(rows)
        def total() -> int:
            return sum(max(f, h(k)) for f, k in zip(floor, lines, strict=True))
        for i in sorted(range(len(rows)), key=lambda i: need[i]):  # whole summaries first, shortest first
            old = lines[i]
            lines[i] = need[i]
            if total() > room:
                lines[i] = old
        grew = True
        while grew:  # then the leftover room, a line at a time, to the summaries still cut
            grew = False
            for i in range(len(rows)):
                if lines[i] < need[i]:
                    lines[i] += 1
                    if total() > room:
                        lines[i] -= 1
                    else:
                        grew = True
        for r, k in zip(rows, lines, strict=True):
            r.summary_label.set_max_lines(k)

    # ------------------------------------------------------------------ public
    def set_compact(self, compact: bool) -> None:
        """Compact rows (presenter mode, large font): no basis line under the question (the header
        says it); each summary wrapped into the lines the pane's height has room for
        (:meth:`fit_summaries`), cut with "…" only when there is no room (the whole text in the
        tooltip), so all five rows fit a short dock."""
        self.compact = compact
        for row in self.rows:
            row.summary_label.set_compact(compact)
            row.basis_label.setHidden(compact)
        self.show_record(self.record, self._bundle, self._title)

    def preferred_height(self, width: int) -> int:
        """Pixels the pane needs to show its rows unscrolled at ``width`` pixels wide (compact mode:
        every summary whole, wrapped at the width its column will have)."""
        if self.compact:
            sw = self._summary_width(width)
            rows = [r for r in self.rows if not r.badge_label.isHidden()]
            body = sum(max(self._row_floor(r), r.summary_label._lines_height(r.summary_label.lines_needed(sw)))
                       for r in rows)
            return self._fixed_height(max(1, width - self._thumbs_side - 24)) + body + 6
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
            outputs = next((v for v in vs if v.get("key") == "outputs"), None)
            # compact (presenter): no hovering; "none still recognised" joins the header, so the
            # summaries get the width a column beside them would take
            tail = ("." + (" No forget image is still recognised." if outputs is not None and not outputs.get("indices")
                           else "")) if self.compact else "; hover a row for the numbers behind it."
            self.header_label.setText(f"<b>Did {name} really forget?</b> "
                                      f"<span style='color:#5f6368'>Judged {judged}{tail}</span>")
        for i, row in enumerate(self.rows):
            if i < len(vs):
                row.show_verdict(vs[i])
            else:
                row.hide()
        outputs = next((v for v in vs if v.get("key") == "outputs"), None)
        self._show_thumbs(list(outputs.get("indices") or []) if outputs else [], bundle, outputs is not None)
        if self.compact:
            self._fit_timer.start()

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
            self.thumbs_label.setVisible(not self.compact)  # compact: the header says it
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
