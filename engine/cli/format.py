"""Plain-text output for the CLI: a stderr progress bar and markdown tables on stdout."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO
from collections.abc import Iterable

from engine._core.events import Event, Failed, Log, Metrics, Progress
from engine.metrics.catalog import MISSING_TEXT, NA_TEXT, RUN_TABLE_KEYS, is_value, metric
from engine.runs.record import RunRecord


class ProgressPrinter:
    """Renders Progress events as one bar on a terminal, or a line every 10 % in a log file."""

    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last_decile = -1
        self.last_stage = ""
        self.start = time.perf_counter()

    def __call__(self, event: Event) -> None:
        if self.quiet:  # quiet hides progress, never a warning (e.g. "not cached: the disk is full")
            if isinstance(event, Log) and event.level in ("warning", "error"):
                self.stream.write(f"{event.level}: {event.message}\n")
            return
        if isinstance(event, Progress):
            pct = int(event.fraction * 100)
            if self.tty:
                bar = "#" * (pct // 4) + "." * (25 - pct // 4)
                self.stream.write(f"\r[{bar}] {pct:3d}% {event.stage:<9} {event.message[:40]:<40}")
                self.stream.flush()
            elif pct // 10 != self.last_decile or event.stage != self.last_stage:
                self.last_decile, self.last_stage = pct // 10, event.stage
                self.stream.write(f"[{pct:3d}%] {event.stage}: {event.message}\n")
        elif isinstance(event, Log):
            self._newline()
            self.stream.write(f"{event.level}: {event.message}\n")
        elif isinstance(event, Metrics) and "epoch" in event.values:
            self._newline()
            v = event.values
            self.stream.write(f"  {event.stage} epoch {int(v['epoch'])}: loss {v['loss']:.4f}, train acc {v['train_acc']:.3f}\n")

    def _newline(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 90 + "\r")

    def close(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")


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
    for r in records:
        cells = [r.label or r.method] + [metric_cell(r, key, notes) for key, _ in cols]
        secs = r.seconds.get("method", r.seconds.get("train"))
        cells.append(f"{secs:.2f}" if is_value(secs) else MISSING_TEXT)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"[{i}] {reason}" for i, reason in enumerate(notes, 1)]
    return "\n".join(lines)


def format_legend(keys: Iterable[str] = RUN_TABLE_KEYS) -> str:
    """What each column means, from the metric catalog: "header: definition (direction)." lines."""
    out = []
    for key in keys:
        info = metric(key)
        unit = " In %." if info.unit == "%" else ""
        out.append(f"{info.header}: {info.definition}{unit} ({info.better})")
    out.append("seconds: the method alone (Original: training or cache load). n/a: could not be computed for this "
               "run (the reason is listed under the table); –: not measured in this run.")
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
