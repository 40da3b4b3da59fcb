"""Plain-text output for the CLI: a stderr progress bar and markdown tables on stdout."""
from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO
from collections.abc import Callable, Iterable

from engine._core.events import Event, Failed, Log, Metrics, Progress
from engine.metrics.catalog import MISSING_TEXT, NA_TEXT, RUN_TABLE_KEYS, is_value, metric
from engine._core.progress import StageEta, Throttle, format_eta, format_seconds
from engine.runs.record import RunRecord, time_of


class ProgressPrinter:
    """Progress on stderr: one line rewritten in place (``\\r``) on a terminal, plain lines in a log.

    Each line reads "[ 42%] stage · what (k/n) · ETA m:ss": the ETA is the event's own (the
    runner's) or, for jobs that do not stamp one (train, ensemble, bench), measured here the same
    way (:class:`engine._core.progress.StageEta`). A terminal line is redrawn at most 10 times a
    second; a plain line is written when the stage changes, every 10 %, or every ``every_s``
    seconds of a long stage. ``clock`` (seconds) is injectable for tests.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, *,
                 clock: Callable[[], float] = time.monotonic, every_s: float = 10.0) -> None:
        stream = sys.stderr if stream is None else stream  # looked up now: tests and callers may replace it
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.clock = clock
        self.every_s = every_s
        self.last_decile = -1
        self.last_stage = ""
        self.last_line = -math.inf
        self.eta = StageEta(clock)
        self.throttle = Throttle(clock)
        self.start = clock()
        self._dirty = False

    def __call__(self, event: Event) -> None:
        if self.quiet:  # quiet hides progress, never a warning (e.g. "not cached: the disk is full")
            if isinstance(event, Log) and event.level in ("warning", "error"):
                self.stream.write(f"{event.level}: {event.message}\n")
            return
        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, Log):
            self._newline()
            self.stream.write(f"{event.level}: {event.message}\n")
        elif isinstance(event, Metrics) and "epoch" in event.values:
            self._newline()
            v = event.values
            self.stream.write(f"  {event.stage} epoch {int(v['epoch'])}: loss {v['loss']:.4f}, train acc {v['train_acc']:.3f}\n")

    def step(self, event: Progress) -> None:
        """Show ``event`` now, also in a log between its 10 % / ``every_s`` lines: a bench's next
        step ("2/11 seed 0: Retrain (timed)") is news even when its fraction barely moved."""
        if self.quiet:
            return
        if not self.tty:
            self.last_line = -math.inf
        else:
            self.last_stage = ""  # a new stage forces the redraw
        self._progress(event)

    def _progress(self, event: Progress) -> None:
        own = self.eta.eta(event.stage, event.fraction)
        # A runner's event (job_id set) carries its stage's ETA (its fraction is the whole job's);
        # other jobs' fractions are their own, timed here.
        eta = event.eta_s if event.job_id else own
        pct = int(event.fraction * 100)
        new_stage = event.stage != self.last_stage
        text = progress_line(event.stage, event.fraction, event.message, eta)
        if self.tty:
            if self.throttle.ready(force=new_stage or event.fraction >= 1.0):
                self.last_stage = event.stage
                self.stream.write("\r" + text[:110].ljust(110))
                self.stream.flush()
                self._dirty = True
            return
        now = self.clock()
        if new_stage or pct // 10 != self.last_decile or now - self.last_line >= self.every_s:
            self.last_decile, self.last_stage, self.last_line = pct // 10, event.stage, now
            self.stream.write(text + "\n")
            self.stream.flush()

    def _newline(self) -> None:
        if self.tty and self._dirty:
            self.stream.write("\r" + " " * 110 + "\r")
            self._dirty = False

    def close(self) -> None:
        if self.tty and not self.quiet and self._dirty:
            self.stream.write("\n")
            self._dirty = False


def progress_line(stage: str, fraction: float, message: str, eta_s: float | None) -> str:
    """``"[ 42%] original · epoch 3/15 · batch 12/40 · ETA 1:05"`` (no ETA part when there is none)."""
    parts = [f"[{int(100 * max(0.0, min(1.0, fraction))):3d}%] {stage}"]
    if message:
        parts.append(message)
    eta = format_eta(eta_s) if eta_s is not None and eta_s >= 0.5 and fraction < 1.0 else ""
    if eta:
        parts.append(eta)
    return " · ".join(parts)


# The metric columns (key, header) shared with the studio's runs table: labels and glyphs from the catalog.
COLUMNS = [(key, metric(key).header) for key in RUN_TABLE_KEYS]
PERCENT_COLUMNS = {key for key in RUN_TABLE_KEYS if metric(key).unit == "%"}


def metric_cell(record: RunRecord, key: str, notes: list[str]) -> str:
    """One table cell: the value without its unit, "–" when not measured, or "n/a [k]" with the
    reason appended to ``notes`` (each distinct reason once; k is its 1-based number)."""
    v = record.metrics.get(key)
    if key not in record.metrics:
        return MISSING_TEXT
    reason = record.na_reason(key)
    if reason is None:
        return metric(key).format(v, unit=False)
    if reason not in notes:
        notes.append(reason)
    return f"{NA_TEXT} [{notes.index(reason) + 1}]"


def format_table(records: Iterable[RunRecord]) -> str:
    """A markdown table: one row per record, accuracies as %, the method's own time; a metric that
    could not be computed reads "n/a [k]" and its reason is listed under the table as "[k] ..."."""
    records = list(records)
    cols = [(k, h) for k, h in COLUMNS if any(k in r.metrics and r.metrics[k] is not None for r in records)
            or any(r.na_reason(k) for r in records)]
    header = ["method"] + [h for _, h in cols] + ["seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    notes: list[str] = []
    time_notes: list[str] = []
    for r in records:
        cells = [r.label or r.method] + [metric_cell(r, key, notes) for key, _ in cols]
        cells.append(time_text(r, time_notes))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"[{i}] {reason}" for i, reason in enumerate(notes, 1)]
    lines += time_notes
    return "\n".join(lines)


def time_text(r: RunRecord, footnotes: list[str] | None = None) -> str:
    """The seconds cell of a record (:func:`engine.runs.record.time_of`): the method's own time, or
    the Original's / Retrain's training time marked "(trained earlier)" when the model came from the
    cache or an earlier run, or the words when no training time is known. Adds the footnote that
    says what the marked time is (and the load time this run spent) to ``footnotes``."""
    secs, note = time_of(r)
    who = r.label or r.method
    load = r.seconds.get("load")
    loaded = f" (this run loaded it in {format_seconds(load)})" if is_value(load) else ""
    if secs is None:
        text = note or MISSING_TEXT
        foot = f"{who}: {note}{loaded}; its training time is not known to this run." if note else ""
    elif note:
        text = f"{format_seconds(secs).removesuffix(' s')} (trained earlier)"
        foot = f"{who}: {note}{loaded}; the seconds are its training time, recorded when it was trained."
    else:
        text, foot = format_seconds(secs).removesuffix(" s"), ""
    if foot and footnotes is not None and foot not in footnotes:
        footnotes.append(foot)
    return text


def format_legend(keys: Iterable[str] = RUN_TABLE_KEYS) -> str:
    """What each column means, from the metric catalog: "header: definition (direction)." lines."""
    out = []
    for key in keys:
        info = metric(key)
        unit = " In %." if info.unit == "%" else ""
        out.append(f"{info.header}: {info.definition}{unit} ({info.better})")
    out.append("seconds: the method alone; Original and Retrain: their training time (\"trained earlier\" when the "
               "model came from the cache: the time recorded when it was trained, never the load time). n/a: could not "
               "be computed for this run (the reason is listed under the table); –: not measured in this run.")
    return "\n".join(out)


def failure_line(event: Failed) -> str:
    if event.internal:
        return f"error: {event.kind}: {event.message}"
    return f"error: {event.kind}: {event.message}" + (f" ({event.hint})" if event.hint else "")


def describe_method(info: dict[str, Any]) -> str:
    out = [f"{info['name']:<16} {info['description']}", f"{'':<16} forget sets: {', '.join(info['kinds'])}"]
    for p in info["params"]:
        bounds = ""
        if p["choices"]:
            bounds = f" one of {p['choices']}"
        elif p["min"] is not None or p["max"] is not None:
            bounds = f" in [{p['min']}, {p['max']}]"
        out.append(f"{'':<18}{p['name']} = {p['default']!r} ({p['type']}{bounds}): {p['help']}")
    for name, values in (info.get("presets") or {}).items():
        out.append(f"{'':<16} preset {name!r}: " + ", ".join(f"{k} = {v!r}" for k, v in values.items()))
    return "\n".join(out)
