"""One self-contained HTML audit report per run, readable without Lethe (issue 6).

:func:`write_report` writes a single ``.html`` file: the verdict table (pass / warn / fail with the
numbers behind each), figures drawn with matplotlib (Agg) and embedded as base64 PNG (metrics
against the original and retrained models, loss histograms of the membership attack, per-class
accuracy, relearning curves), thumbnails of forget images that are still recognised (when the
dataset is at hand), the rules behind the verdicts, every metric with its label, direction,
definition and source paper from :mod:`engine.metrics.catalog`, the cost, and what is needed to
reproduce the run: the JSON spec, SHA-256 of the checkpoint, dataset fingerprint, forget-set hash,
versions and seed. No external file, script or font is referenced, and no repository path is cited:
a reader has only this file. A metric that could not be computed reads "n/a" with its reason
(a numbered footnote and the cell's title). The file is written atomically (:mod:`engine._core.fileio`).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine._core.fileio import atomic_write_text, sha256_file
from engine.evaluation.audit.verdicts import (
    ADV_PASS_EXCESS,
    ADV_WARN_EXCESS,
    FEATURE_FREE_PASS,
    FEATURE_FREE_WARN,
    FEATURE_PASS_RATIO,
    FEATURE_WARN_RATIO,
    MIA_PASS_GAP,
    MIA_WARN_GAP,
    MIANN_PASS_GAP,
    MIANN_WARN_GAP,
    OUTPUT_FREE_CLASS_PASS,
    OUTPUT_FREE_CLASS_WARN,
    OUTPUT_FREE_SAMPLE_PASS,
    OUTPUT_FREE_SAMPLE_WARN,
    OUTPUT_PASS_GAP,
    OUTPUT_WARN_GAP,
    PROBE_MARGIN,
    QUANT_PASS_RISE,
    QUANT_WARN_RISE,
    RELEARN_FREE_PASS,
    RELEARN_FREE_WARN,
    RELEARN_PASS_EXCESS,
    RELEARN_WARN_EXCESS,
    UTILITY_PASS_DROP,
    UTILITY_WARN_DROP,
)
from engine.metrics.catalog import DIRECTION_WORDS, GLYPHS, GROUPS, KEY_FIGURE_KEYS, NA_TEXT, all_metrics, metric
from engine.report.palette import model_colours
from engine.runs.record import RunRecord, time_of

STATUS_COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#b3261e", "n/a": "#666"}
STATUS_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "n/a": "N/A"}
MODEL_COLOURS = model_colours()  # the studio's colours (engine.report.palette): grey, green, run 1
# The numbers shown in the "key numbers" figure (fractions, all on a 0–100 % axis).
KEY_METRICS = KEY_FIGURE_KEYS


# ------------------------------------------------------------------------------------------ safety
# Every value a report shows comes from a record.json, which may be someone else's file: it goes
# through :func:`esc` (HTML) or :func:`_mpl_text` (figure text), and the accessors below read it
# without trusting its types, so a hostile or malformed record renders (or loses a figure) instead
# of running markup or raising.
def esc(value: Any) -> str:
    """The one escaping function of the report: ``str(value)`` with ``& < > " '`` as entities.

    Safe between tags and inside single- or double-quoted attribute values.
    """
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _mpl_text(value: Any) -> str:
    """Text for matplotlib: ``$`` escaped so a name never starts mathtext (which can raise)."""
    return str(value).replace("$", r"\$")


def _d(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict (a malformed record field)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _num(v: Any, spec: str, unit: str = "") -> str:
    """A finite number formatted with ``spec`` (``".2f"``), else "–" (None, NaN, a string)."""
    return f"{format(float(v), spec)}{unit}" if _finite(v) else "–"


def _indices(value: Any, n: int) -> list[int]:
    """Dataset indices in [0, n) from a record's list (anything else is dropped)."""
    return [int(i) for i in _list(value) if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n]


def _verdicts(record: RunRecord) -> list[dict[str, Any]]:
    return [v for v in _list(_d(record.audit).get("verdicts")) if isinstance(v, dict)]


def _figure(draw: Callable[..., str | None], *args: Any) -> str | None:
    """A figure, or None when the record's numbers cannot be drawn (wrong types or shapes)."""
    try:
        return draw(*args)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        _plt().close("all")
        return None


# ------------------------------------------------------------------------------------------ figures
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _label(record: RunRecord, default: str) -> str:
    return str(record.label or record.method or default)


def _models(record: RunRecord) -> list[tuple[str, str, RunRecord]]:
    """(role, label, record) for original, retrain and the method, in that order."""
    out = []
    for role in ("original", "retrain"):
        ref = record.reference(role)
        if ref is not None and ref is not record:
            out.append((role, str(ref.label or role.capitalize()), ref))
    out.append(("method", _label(record, "method"), record))
    return out


def _metrics(r: RunRecord) -> dict[str, Any]:
    return _d(r.metrics)


def fig_key_metrics(record: RunRecord) -> str | None:
    plt = _plt()
    models = _models(record)
    keys = [k for k in KEY_METRICS if any(_finite(_metrics(r).get(k)) for _, _, r in models)]
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.6))
    width = 0.8 / len(models)
    x = np.arange(len(keys))
    for i, (role, label, r) in enumerate(models):
        m = _metrics(r)
        vals = [100 * float(m[k]) if _finite(m.get(k)) else None for k in keys]
        xs = x + (i - (len(models) - 1) / 2) * width
        ax.bar(xs, [0.0 if v is None else v for v in vals], width, label=_mpl_text(label), color=MODEL_COLOURS[role])
        for xv, v in zip(xs, vals, strict=True):  # print the value: a 0 % bar is otherwise invisible
            ax.text(xv, (v or 0.0) + 1.5, NA_TEXT if v is None else f"{v:.0f}", ha="center", va="bottom",
                    fontsize=6, color="#333", rotation=90 if v is None else 0)
    ax.set_xticks(x, [_short_label(k) for k in keys], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 112)
    ax.set_title("Key numbers: this model beside the original and the retrained model (the target)", pad=24)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(models), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def fig_loss_hist(record: RunRecord) -> str | None:
    plt = _plt()
    panels = [(label, _d(_d(_d(r.audit).get("details")).get("loss_hist"))) for role, label, r in _models(record)
              if role != "original"]
    panels = [(lab, h) for lab, h in panels if h.get("hist_edges")]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.0), squeeze=False)
    for ax, (label, h) in zip(axes[0], panels, strict=True):
        edges = np.asarray(h["hist_edges"], dtype=float)
        centres, w = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
        ax.bar(centres, np.asarray(h["hist_member"], dtype=float), w, alpha=0.6, label="forget images", color="#e76f51")
        ax.bar(centres, np.asarray(h["hist_nonmember"], dtype=float), w, alpha=0.5, label="unseen test images",
               color="#264653")
        ax.set_xlabel("loss (cross-entropy, clipped at 30)")
        ax.set_ylabel("density")
        ax.set_title(f"{_mpl_text(label)}: loss of forget vs unseen images", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle("Membership signal: overlapping histograms mean an attacker cannot tell them apart", fontsize=9)
    return _png(fig)


def fig_per_class(record: RunRecord, classes: Sequence[Any]) -> str | None:
    plt = _plt()
    models = [(role, lab, r) for role, lab, r in _models(record) if _list(r.per_class_acc)]
    if not models:
        return None
    n = len(models[0][2].per_class_acc)
    names = [str(c) for c in classes] if len(classes) == n else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(10, 3.0))
    width = 0.8 / len(models)
    x = np.arange(n)
    for i, (role, label, r) in enumerate(models):
        ax.bar(x + (i - (len(models) - 1) / 2) * width, 100 * np.asarray(r.per_class_acc, float), width,
               label=_mpl_text(label), color=MODEL_COLOURS[role])
    forgotten = {str(c) for c in _list(_d(record.forget).get("classes"))}
    ax.set_xticks(x, [_mpl_text(f"{c}\n(forgotten)" if c in forgotten else c) for c in names], fontsize=8)
    ax.set_ylabel("test accuracy %")
    ax.set_ylim(0, 105)
    ax.set_title("Test accuracy per class", pad=24)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(models), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def fig_relearn(record: RunRecord) -> str | None:
    plt = _plt()
    curves = [(role, lab, _d(_d(_d(r.audit).get("details")).get("relearn"))) for role, lab, r in _models(record)]
    curves = [(role, lab, c) for role, lab, c in curves if c]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.0))
    for role, label, c in curves:
        ax.plot(np.asarray(c["steps"], dtype=float), 100 * np.asarray(c["acc"], dtype=float), marker="o", ms=3,
                label=_mpl_text(label), color=MODEL_COLOURS[role])
    ax.set_xlabel("fine-tuning steps on a few forget images")
    ax.set_ylabel("forget accuracy %")
    ax.set_ylim(-3, 103)
    ax.set_title("Relearning attack: how fast does the forgotten data come back?", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def fig_thumbnails(images: np.ndarray, ids: Sequence[int], title: str) -> str | None:
    """A grid of uint8 (N, C, H, W) images labelled by dataset index."""
    if len(ids) == 0:
        return None
    plt = _plt()
    n = len(ids)
    cols = min(n, 12)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 1.05), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), ids, strict=False):  # the grid may have spare cells
        img = images[int(i)]
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", interpolation="nearest")
        else:
            ax.imshow(np.transpose(img[:3], (1, 2, 0)), interpolation="nearest")
        ax.set_title(f"#{int(i)}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


# ------------------------------------------------------------------------------------------ html
CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:24px;color:#1d1d1f;line-height:1.45}
h1{font-size:26px;margin-bottom:4px} h2{font-size:19px;margin-top:34px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin-top:22px}
.sub{color:#555;margin-top:0}
table{border-collapse:collapse;width:100%;margin:10px 0;font-size:13.5px}
th,td{border:1px solid #ddd;padding:6px 8px;vertical-align:top;text-align:left}
th{background:#f5f5f7}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.na{color:#666;cursor:help}
.badge{display:inline-block;color:#fff;font-weight:700;border-radius:4px;padding:2px 9px;font-size:13px}
.basis{color:#666;font-size:12px}
.ev{color:#444;font-size:12.5px;margin:4px 0 0 0;padding-left:18px}
.note{background:#f7f7f9;border-left:4px solid #8d99ae;padding:8px 12px;margin:12px 0;font-size:13.5px}
img.fig{max-width:100%;display:block;margin:10px 0}
pre{background:#f5f5f7;padding:10px;overflow-x:auto;font-size:12px}
.small{font-size:12px;color:#555}
"""


def _short_label(key: str) -> str:
    return metric(key).label


def _na_reason(record: RunRecord, key: str) -> str | None:
    """Why ``record``'s metric ``key`` is n/a (None: it is a number, or absent); never raises."""
    m = _metrics(record)
    if key not in m or _finite(m.get(key)):
        return None
    na = _d(getattr(record, "metric_na", None))
    audit_na = _d(_d(_d(record.audit).get("details")).get("not_applicable"))
    reason = na.get(key) or audit_na.get(key)
    return str(reason) if reason else "not computed (the record gives no reason)"


def _fmt(key: str, v: Any) -> str:
    """A metric's value as shown (unescaped text), with its unit; "n/a" for anything that is not a
    finite number."""
    return metric(key).format(v) if _finite(v) else NA_TEXT


class _Footnotes:
    """Numbered footnotes of one table: each distinct n/a reason once."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def cell(self, key: str, record: RunRecord) -> str:
        """A ``<td>``: the value, or "n/a" with a footnote mark and the reason as its title."""
        reason = _na_reason(record, key)
        if reason is None:
            text = _fmt(key, _metrics(record).get(key))
            std = _d(getattr(record, "metrics_std", None)).get(key)
            if _finite(std) and text != NA_TEXT:  # a mean over seeds: ± the standard deviation
                text += f" ± {_fmt(key, std)}"
            return f"<td class='num'>{esc(text)}</td>"
        if reason not in self.reasons:
            self.reasons.append(reason)
        k = self.reasons.index(reason) + 1
        return f"<td class='num na' title='{esc(reason)}'>{esc(NA_TEXT)}<sup>{k}</sup></td>"

    def html(self) -> str:
        if not self.reasons:
            return ""
        items = "".join(f"<li>{esc(r)}</li>" for r in self.reasons)
        return f"<ol class='notes small'>{items}</ol>"


def _img(src: str | None, alt: str) -> str:
    """An embedded figure; ``src`` is always a ``data:image/png;base64,`` URI made by :func:`_png`."""
    return f'<img class="fig" alt="{esc(alt)}" src="{esc(src)}">' if src else ""


def _verdict_table(record: RunRecord) -> str:
    verdicts = _verdicts(record)
    if not verdicts:
        return "<p>No audit was run for this model (the run's spec had <code>audit: false</code>).</p>"
    rows = []
    for v in verdicts:
        status = v.get("status")
        key = status if isinstance(status, str) else ""
        colour = STATUS_COLOURS.get(key, "#666")
        word = STATUS_WORDS.get(key, status)
        ev = "".join(f"<li>{esc(k)}: <b>{esc(x)}</b></li>" for k, x in _d(v.get("evidence")).items())
        basis = ("against the retrained model" if v.get("basis") == "retrain"
                 else "reference-free rule (no retrained model in this run)")
        rows.append(
            f"<tr><th>{esc(v.get('question', v.get('key', '?')))}</th>"
            f"<td><span class='badge' style='background:{esc(colour)}'>{esc(word)}</span>"
            f"<div class='basis'>{esc(basis)}</div></td>"
            f"<td>{esc(v.get('summary', ''))}<ul class='ev'>{ev}</ul></td></tr>"
        )
    return ("<table><tr><th style='width:170px'>Question</th><th style='width:150px'>Verdict</th>"
            "<th>What was measured</th></tr>" + "".join(rows) + "</table>")


def _metrics_table(record: RunRecord) -> str:
    models = _models(record)
    head = "".join(f"<th>{esc(lab)}</th>" for _, lab, _ in models)
    notes = _Footnotes()
    out = []
    for group in GROUPS:
        infos = [m for m in all_metrics() if m.group == group and any(m.name in _metrics(r) for _, _, r in models)]
        if not infos:
            continue
        out.append(f"<tr><th colspan='{esc(len(models) + 3)}' style='background:#e9ecef'>{esc(group.capitalize())}</th></tr>")
        for m in infos:
            cells = "".join(notes.cell(m.name, r) if m.name in _metrics(r) else "<td class='num'>–</td>"
                            for _, _, r in models)
            out.append(f"<tr><td><b>{esc(m.label)}</b></td>{cells}<td>{esc(m.better)}</td>"
                       f"<td class='small'>{esc(m.definition)} <i>[{esc(m.source)}; cost: {esc(m.cost)}]</i></td></tr>")
    return (f"<table><tr><th>Metric</th>{head}<th style='width:140px'>Better</th><th>Definition</th></tr>"
            + "".join(out) + "</table>" + notes.html())


def _pts(fraction: float) -> str:
    return f"{100 * fraction:g}"


def _rules() -> str:
    """How each verdict is decided, with the thresholds the audit uses (inline: the reader has only this file)."""
    items = [
        ("Forgot (outputs)?",
         f"With a retrained model: PASS when the forget accuracy is at most {_pts(OUTPUT_PASS_GAP)} points above the "
         f"retrained model's (sample forgetting: within {_pts(OUTPUT_PASS_GAP)} points either way, as too much "
         f"forgetting is visible too), WARN up to {_pts(OUTPUT_WARN_GAP)}, else FAIL. Without one: a forgotten class "
         f"passes at ≤ {_pts(OUTPUT_FREE_CLASS_PASS)} % (warn ≤ {_pts(OUTPUT_FREE_CLASS_WARN)} %); forget samples "
         f"pass when recognised at most {_pts(OUTPUT_FREE_SAMPLE_PASS)} points (warn {_pts(OUTPUT_FREE_SAMPLE_WARN)}) "
         "more often than unseen test images."),
        ("Forgot (features)?",
         "The change of the forget images' features from the original (1 − CKA) as a share of the retrained model's "
         f"change: PASS at ≥ {_pts(FEATURE_PASS_RATIO)} %, WARN at ≥ {_pts(FEATURE_WARN_RATIO)} %, else FAIL; one "
         f"step worse when a probe on frozen features decodes the forget data more than {_pts(PROBE_MARGIN)} points "
         "better than on the retrained model's features. Without a retrained model: PASS at 1 − CKA ≥ "
         f"{FEATURE_FREE_PASS}, WARN at ≥ {FEATURE_FREE_WARN}."),
        ("Private?",
         f"The worst of: MIA-efficacy within {_pts(MIA_PASS_GAP)} (pass) / {_pts(MIA_WARN_GAP)} (warn) points of "
         f"the retrained model's; the worst-case loss-threshold advantage at most {ADV_PASS_EXCESS} / "
         f"{ADV_WARN_EXCESS} above the larger of the retrained model's and the level a random guess (member labels "
         "shuffled) stays below 95 % of the time; for a class, the MIA-NN "
         f"gap to the retrained model within {_pts(MIANN_PASS_GAP)} / {_pts(MIANN_WARN_GAP)} points. Without a "
         "retrained model only the advantage over that random-guess level counts."),
        ("Kept utility?",
         "Test accuracy on the other classes (class forgetting) or on the test set (sample forgetting) at most "
         f"{_pts(UTILITY_PASS_DROP)} (pass) / {_pts(UTILITY_WARN_DROP)} (warn) points below the retrained model's "
         "(or the original's when there is no retrained model)."),
        ("Robust to relearning?",
         f"The mean forget accuracy during a short fine-tuning attack at most {_pts(RELEARN_PASS_EXCESS)} (pass) / "
         f"{_pts(RELEARN_WARN_EXCESS)} (warn) points above the retrained model's under the same attack (without one: "
         f"below {_pts(RELEARN_FREE_PASS)} % / {_pts(RELEARN_FREE_WARN)} % of the original's forget accuracy); "
         f"int8 quantisation or float16 rounding may raise the forget accuracy by at most {_pts(QUANT_PASS_RISE)} / "
         f"{_pts(QUANT_WARN_RISE)} points."),
    ]
    body = "".join(f"<tr><th style='width:170px'>{esc(q)}</th><td>{esc(t)}</td></tr>" for q, t in items)
    return ("<table>" + body + "</table><p class='small'>N/A: the question cannot be answered for this run; "
            "the verdict says why.</p>")


def _versions() -> dict[str, str]:
    import sklearn
    import torch

    from importlib.metadata import PackageNotFoundError, version

    try:
        lethe = version("lethe-studio")  # the distribution name in pyproject.toml
    except PackageNotFoundError:  # not installed as a distribution (run from the source tree)
        lethe = "source tree"
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "lethe": lethe, "platform": platform.platform()}


def _checkpoint_rows(weights: Any) -> list[tuple[str, str]]:
    """Name and SHA-256 of the run's weights: only a regular file is read (never a device or pipe)."""
    if not weights:
        return [("Checkpoint SHA-256", "not saved with this run")]
    try:
        path = Path(str(weights))
        if path.is_file():
            return [("Checkpoint", path.name), ("Checkpoint SHA-256", sha256_file(path))]
    except (OSError, ValueError):  # unreadable, or a path the OS rejects (NUL byte, too long)
        pass
    return [("Checkpoint SHA-256", "checkpoint file not found")]


def _provenance(record: RunRecord) -> str:
    rows: list[tuple[str, Any]] = list(_checkpoint_rows(record.weights))
    ds = _d(record.dataset)
    rows += [("Dataset", f"{ds.get('name', '?')} ({ds.get('train_size', '?')} train / {ds.get('test_size', '?')} test images)"),
             ("Dataset fingerprint (SHA-256 of pixels, labels, class names)", ds.get("fingerprint", "–")),
             ("Forget-set hash (SHA-256 of dataset fingerprint and forget rows)", _d(record.forget).get("hash", "–")),
             ("Seed", _d(record.spec).get("seed", "–")), ("Device", record.device)]
    rows += [(f"Version: {k}", v) for k, v in _versions().items()]
    body = "".join(f"<tr><th style='width:40%'>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _cost(record: RunRecord) -> str:
    cost = _d(_d(record.audit).get("cost"))
    rows = []
    for role, lab, r in _models(record):
        secs, note = time_of(r)
        load = _d(r.seconds).get("load")
        if r.time_source == "checkpoint":
            what = "an imported checkpoint: not trained by Lethe"
        elif r.time_source == "trained":
            what = "training, in this run"
        elif r.time_source:  # cache / memory
            what = f"training; {note}" + (" (the time recorded when it was trained)" if secs is not None else "")
        elif role in ("original", "retrain"):  # a record written before Lethe told training and loading apart
            what = "training or loading from the cache (this record does not say which)"
        else:
            what = "the method alone (evaluation excluded)"
        if load is not None and _finite(load):
            what += f"; this run loaded it in {float(load):.2f} s"
        rows.append(f"<tr><td>{esc(lab)}</td><td class='num'>{esc(_num(secs, '.2f', ' s') if secs is not None else (note or '–'))}</td><td>{esc(what)}</td></tr>")
    extra = ""
    if cost:
        extra = (f"<p>Passes over the training data (forward + backward): <b>{esc(_num(cost.get('fb_passes'), '.2f'))}</b>. "
                 f"Peak memory: <b>{esc(_num(cost.get('peak_memory_mb'), '.1f', ' MB'))}</b> "
                 f"({esc(cost.get('memory_kind', ''))}).</p>")
    return "<table><tr><th>Model</th><th>Time</th><th>What the time covers</th></tr>" + "".join(rows) + "</table>" + extra


def _spec_json(spec: Any) -> str:
    try:
        return json.dumps(spec, indent=2)
    except (TypeError, ValueError):  # not JSON-able (a record built in Python with odd values)
        return repr(spec)


def render_record(record: RunRecord, bundle: Any = None) -> str:
    """The HTML body section of one run (every value from the record escaped by :func:`esc`)."""
    f = _d(record.forget)
    classes = _list(f.get("classes"))
    forgot = f"class {', '.join(map(str, classes))}" if classes else "a set of samples"
    ds = _d(record.dataset)
    has_retrain = record.reference("retrain") is not None
    model = _d(_d(record.spec).get("model"))
    arch = model.get("arch") or (Path(str(model["checkpoint"])).name if model.get("checkpoint") else "")
    arch_text = f", model <b>{esc(arch)}</b>" if arch else ""
    parts = [
        f"<h1>Unlearning audit: {esc(_label(record, '?'))}</h1>",
        f"<p class='sub'>Dataset <b>{esc(ds.get('name', '?'))}</b>{arch_text}, forgetting "
        f"<b>{esc(forgot)}</b> ({esc(f.get('size', '?'))} training images). Report made "
        f"{esc(_dt.datetime.now().strftime('%Y-%m-%d %H:%M'))}.</p>",
        "<div class='note'>How to read this: each question is answered <b>PASS</b>, <b>WARN</b> or <b>FAIL</b>. "
        + ("The yardstick is a model <b>retrained from scratch without the forget set</b> &mdash; the gold standard of "
           "forgetting &mdash; trained with the same recipe and seed. " if has_retrain else
           "No retrained model was available, so fixed reference-free rules are used (less reliable). ")
        + "The rules and thresholds are listed under <i>How the verdicts are decided</i> below.</div>",
        *[f"<div class='note'>{esc(n)}</div>" for n in _list(record.notes)],
        "<h2>Verdicts</h2>",
        _verdict_table(record),
    ]
    verdicts = _verdicts(record)
    if bundle is not None:
        n = len(bundle.x_train)
        outputs = next((v for v in verdicts if v.get("key") == "outputs"), {})
        ids = _indices(outputs.get("indices"), n)
        if ids:
            parts.append("<h3>Forget images the model still recognises</h3>")
            parts.append(_img(fig_thumbnails(bundle.x_train, ids[:24], "still classified correctly (most confident first; #dataset index)"), "still recognised forget images"))
        private = next((v for v in verdicts if v.get("key") == "private"), {})
        vids = _indices(private.get("indices"), n)
        if vids:
            parts.append("<h3>Forget images most exposed to the membership attack</h3>")
            parts.append(_img(fig_thumbnails(bundle.x_train, vids[:24], "lowest loss: an attacker would call these 'members'"), "most vulnerable forget images"))
    elif verdicts:
        parts.append("<p class='small'>Thumbnails of forget images are not shown: the dataset was not available when this report was made.</p>")
    parts.append("<h3>How the verdicts are decided</h3>")
    parts.append(_rules())
    parts.append("<h2>Figures</h2>")
    parts.append(_img(_figure(fig_key_metrics, record), "key metrics"))
    parts.append(_img(_figure(fig_per_class, record, _list(ds.get("classes"))), "per-class accuracy"))
    parts.append(_img(_figure(fig_loss_hist, record), "loss histograms"))
    parts.append(_img(_figure(fig_relearn, record), "relearning curves"))
    parts.append("<h2>Cost</h2>")
    parts.append(_cost(record))
    parts.append("<h2>All metrics</h2>")
    words = ", ".join(f"{GLYPHS[d]} {DIRECTION_WORDS[d]}" for d in ("up", "down", "ref"))
    parts.append(f"<p class='small'>Fractions are shown as %. Direction: {esc(words)}; no mark: "
                 f"{esc(DIRECTION_WORDS['info'])}. {esc(NA_TEXT)}: could not be computed for this run (the numbered "
                 "note under the table says why); –: not measured for that model.</p>")
    parts.append(_metrics_table(record))
    parts.append("<h2>Reproduce this run</h2>")
    parts.append(_provenance(record))
    parts.append("<h3>Job spec (JSON)</h3>")
    parts.append(f"<pre>{esc(_spec_json(record.spec))}</pre>")
    parts.append("<p class='small'>Run it again with <code>python -m engine unlearn spec.json --out DIR</code>.</p>")
    return "\n".join(parts)


def render_html(records: Sequence[RunRecord], *, bundle: Any = None, title: str = "Lethe unlearning audit",
                bundles: Sequence[Any] | None = None) -> str:
    """The whole self-contained document: one section per record. ``bundles`` (one per record, None
    where unknown) gives each record its own dataset; else ``bundle`` serves every record."""
    per = list(bundles) if bundles is not None else [bundle] * len(records)
    sections = "\n<hr>\n".join(render_record(r, b) for r, b in zip(records, per, strict=True))
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{sections}\n"
            f"<p class='small'>Made by Lethe. This file is self-contained: it needs no network and no other file.</p>"
            f"</body></html>\n")


def write_report(record: RunRecord, out_path: str | Path, *, bundle: Any = None) -> Path:
    """Write the self-contained HTML report of ``record`` to ``out_path`` atomically.

    ``bundle`` (the run's DatasetBundle, optional) adds thumbnails of the forget images that are
    still recognised; it must be the dataset the run used (checked by fingerprint, else ignored).
    """
    if bundle is not None and _d(record.dataset).get("fingerprint") not in (None, getattr(bundle, "fingerprint", None)):
        bundle = None
    title = f"Lethe audit: {_label(record, '?')}"
    return atomic_write_text(Path(out_path), render_html([record], bundle=bundle, title=title))


def write_html(records: Sequence[RunRecord], path: str | Path, *, bundle: Any = None, load_missing: bool = True) -> Path:
    """Several runs in one report (the studio's export); one section per run, written atomically.

    Each run's thumbnails come from its own dataset: ``bundle`` (the one loaded in the studio) for
    the runs made on it (same fingerprint), the others' datasets loaded from their recorded source
    when ``load_missing`` (offline: a dataset no longer on disk only loses its thumbnails, and the
    report says so). Runs of several datasets may share one report after a dataset switch."""
    records = list(records)
    found: dict[str, Any] = {}
    if bundle is not None and getattr(bundle, "fingerprint", None):
        found[bundle.fingerprint] = bundle
    per: list[Any] = []
    for r in records:
        fp = _d(r.dataset).get("fingerprint")
        if fp not in found and load_missing and fp:
            found[fp] = load_bundle_for(r)
        per.append(found.get(fp) if fp else None)
    return atomic_write_text(Path(path), render_html(records, bundles=per))


def load_bundle_for(record: RunRecord) -> Any:
    """The dataset of a record, loaded from ``record.dataset['source']`` when possible (else None)."""
    source = _d(record.dataset).get("source")
    if not source or not isinstance(source, str):
        return None
    try:
        from engine.data import load_dataset

        bundle = load_dataset(source)
    except Exception:  # noqa: BLE001 - a report without thumbnails is still a report
        return None
    return bundle if bundle.fingerprint == _d(record.dataset).get("fingerprint") else None
