"""A self-contained HTML report of one or more runs: metrics (with definitions), specs and hashes.

Uses ``engine.report`` when the engine provides one; otherwise this plain version.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path
from typing import Sequence

from engine.fileio import atomic_write_text, sha256_file
from engine.record import RunRecord

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


def _table(records: Sequence[RunRecord]) -> str:
    head = "".join(f"<th title='{html.escape(d)}'>{html.escape(h)} {b}</th>" for _, h, b, d in METRICS)
    rows = []
    for r in records:
        cells = "".join(f"<td>{fmt_metric(k, r.metrics.get(k))}</td>" for k, *_ in METRICS)
        secs = r.seconds.get("method", r.seconds.get("train"))
        rows.append(f"<tr><th>{html.escape(r.label or r.method)}</th>{cells}<td>{'' if secs is None else f'{secs:.2f}'}</td></tr>")
    return f"<table><tr><th>model</th>{head}<th>seconds</th></tr>{''.join(rows)}</table>"


def render_html(records: Sequence[RunRecord], title: str = "Lethe unlearning report") -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
             "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "th{background:#f4f5f7}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}"
             "code{font-size:12px}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>Generated {_dt.datetime.now().isoformat(timespec='seconds')} by Lethe. Accuracies in %.</p>"]
    for r in records:
        refs = [x for x in r.references] + [r]
        parts.append(f"<h2>{html.escape(r.label or r.method)} — forgetting {html.escape(_forget_text(r))}</h2>")
        parts.append(_table(refs))
        hashes = {
            "dataset fingerprint (SHA-256)": r.dataset.get("fingerprint"),
            "forget set hash (SHA-256)": r.forget.get("hash"),
        }
        if r.weights and Path(r.weights).exists():
            hashes["unlearned weights SHA-256"] = sha256_file(r.weights)
            hashes["weights file"] = r.weights
        ck = r.spec.get("model", {}).get("checkpoint")
        if ck and Path(ck).exists():
            hashes["original checkpoint SHA-256"] = sha256_file(ck)
        parts.append("<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                                         for k, v in hashes.items()) + "</table>")
        parts.append("<h3>Job spec</h3><pre>" + html.escape(json.dumps(r.spec, indent=2)) + "</pre>")
        parts.append("<p>Equivalent command: <code>python -m engine unlearn spec.json</code></p>")
    parts.append("<h2>Metric definitions</h2><dl>" + "".join(
        f"<dt><b>{html.escape(h)}</b> ({b})</dt><dd>{html.escape(d)}</dd>" for _, h, b, d in METRICS) + "</dl>")
    parts.append("<p>≈R: closer to the retrained reference is better; ↑ higher is better; ↓ lower is better.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _forget_text(r: RunRecord) -> str:
    f = r.forget
    if f.get("classes"):
        return f"class {', '.join(map(str, f['classes']))} ({f.get('size')} images)"
    return f"{f.get('size')} samples"


def write_report(records: Sequence[RunRecord], path: str | Path, bundle: object = None) -> Path:
    """The engine's report (figures, provenance) when available, else the plain one above."""
    try:
        from engine import report as engine_report  # type: ignore[attr-defined]

        fn = getattr(engine_report, "write_html", None)
        if fn is not None:
            fn(list(records), path, bundle=bundle)
            return Path(path)
    except ImportError:
        pass
    path = Path(path)
    atomic_write_text(path, render_html(records))
    return path


def command_text(record: RunRecord) -> str:
    """``python -m engine unlearn spec.json`` with the spec to put in spec.json."""
    spec = json.dumps(record.spec, indent=2)
    return f"cat > spec.json <<'EOF'\n{spec}\nEOF\npython -m engine unlearn spec.json"
