"""The runs table's metric columns, the report export (engine.report.html) and "Copy as command"."""
from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from pathlib import Path
from collections.abc import Sequence

from engine import RunRecord

# (key, header, better, definition)
METRICS: list[tuple[str, str, str, str]] = [
    ("forget_acc", "forget", "≈R", "accuracy on the forget set's training images; the target is the retrained model's (0 for a class)"),
    ("retain_acc", "retain", "↑", "accuracy on the retained training images"),
    ("test_forget_acc", "test forget", "≈R", "test accuracy on the forgotten classes"),
    ("test_retain_acc", "test retain", "↑", "test accuracy on the other classes"),
    ("test_acc", "test", "↑", "overall test accuracy"),
    ("aus", "AUS", "↑", "adaptive unlearning score: trade-off of forget and test accuracy (1 = ideal)"),
    ("rus_o", "RUS(o)", "↑", "representation unlearning score against the original (higher = more forgotten in the features)"),
    ("rus_r", "RUS(r)", "↑", "representation unlearning score against the retrained model"),
    ("rmia", "rMIA %", "↓", "forget images called 'member' by a feature-level membership attack"),
]
PERCENT = {"forget_acc", "retain_acc", "test_forget_acc", "test_retain_acc", "test_acc", "rmia"}


def fmt_metric(key: str, v: float | None) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}" if key in PERCENT else f"{v:.3f}"


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
