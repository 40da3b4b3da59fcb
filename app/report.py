"""The runs table's metric columns (from the engine's metric catalog), the report export (engine.report.html) and "Copy as command"."""
from __future__ import annotations

import json
import math
import re
import shlex
from datetime import datetime
from pathlib import Path
from collections.abc import Sequence

from engine import MISSING_TEXT, NA_TEXT, RUN_TABLE_KEYS, MetricInfo, RunRecord, metric_info

# The runs table's metric columns: label, direction, format and definition from the engine's catalog.
METRICS: list[MetricInfo] = [metric_info(key) for key in RUN_TABLE_KEYS]


def metric_cell(record: RunRecord, key: str) -> tuple[str, str | None]:
    """(cell text, reason or None): the value without its unit, "–" when the run did not measure
    it, or "n/a" with the reason the engine recorded (never "nan")."""
    if key not in record.metrics:
        return MISSING_TEXT, None
    reason = record.na_reason(key)
    if reason is not None:
        return NA_TEXT, reason
    return metric_info(key).format(record.metrics[key], unit=False), None


def is_number(v: object) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_metric(key: str, v: float | None) -> str:
    """A bare value as a table shows it ("n/a" for None or NaN)."""
    return metric_info(key).format(v, unit=False)


def header_tooltip(info: MetricInfo) -> str:
    """The column header's tooltip: definition, unit, direction in words and source."""
    unit = " (in %)" if info.unit == "%" else ""
    return f"{info.label}{unit}: {info.definition}\n{info.better}.\nSource: {info.source}"


def write_report(records: Sequence[RunRecord], path: str | Path, bundle: object = None) -> Path:
    """The engine's audit report (verdicts, figures, definitions, provenance) of the runs; slow-ish:
    call it off the GUI thread."""
    from engine import write_html

    write_html(list(records), path, bundle=bundle)
    return Path(path)


def fresh_out_name(record: RunRecord, now: datetime | None = None) -> str:
    """A new folder name for the command's ``--out``: ``lethe-<method>-<YYYYmmdd-HHMMSS>``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    method = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(record.method)) or "run"
    return f"lethe-{method}-{stamp}"


def command_text(record: RunRecord, out: str | None = None) -> str:
    """Shell lines that write the run's spec to spec.json and run ``python -m engine unlearn spec.json
    --out <out>`` (a fresh folder name by default, so the command never meets an existing result)."""
    spec = json.dumps(record.spec, indent=2)
    folder = out or fresh_out_name(record)
    return f"cat > spec.json <<'EOF'\n{spec}\nEOF\npython -m engine unlearn spec.json --out {shlex.quote(folder)}"
