"""Honest n/a: a metric that could not be computed reads "n/a" with its reason in the runs table,
the CLI table and the HTML report, and "nan" appears nowhere a person reads (issue 12.2); the
three surfaces label and orient the same columns the same way (the metric catalog)."""
from __future__ import annotations

import html as htmllib
import json
import math
import re
from pathlib import Path

import pytest

from app.panes.runs_pane import FIXED, CompareDialog, RunsPane
from app.report import METRICS
from app.state import SessionModel
from engine import NA_TEXT, RUN_TABLE_KEYS, RunRecord, metric_info
from engine.cli.format import format_table
from engine.report.html import render_html

WHY = "not applicable: class 9 has no test images"
NAN_WORD = re.compile(r"\bnan\b", re.IGNORECASE)


def _record(tmp_path: Path) -> RunRecord:
    """Original, Retrain and a method whose test-based metrics are NaN with a reason; saved and
    loaded back, so the reasons and the strict-JSON nulls survive the file."""
    nan = math.nan
    base = {"spec": {"method": "pour_p"}, "forget": {"kind": "class", "classes": ["9"], "size": 180},
            "dataset": {"name": "notest", "classes": [str(i) for i in range(10)], "source": "npz:notest.npz"}}
    na_keys = ("test_forget_acc", "aus", "rmia")

    def rec(method: str, label: str, forget: float) -> RunRecord:
        m = {"forget_acc": forget, "retain_acc": 0.93, "test_acc": 0.94, "test_retain_acc": 0.94, "rus_o": 0.1,
             "rus_r": 0.98, "mia_svc": 0.0, **dict.fromkeys(na_keys, nan), "mia_worst_adv": nan}
        return RunRecord(method, metrics=m, label=label, seconds={"method": 0.5}, per_class_acc=[0.9] * 10,
                         metric_na={**dict.fromkeys(na_keys, WHY), "mia_worst_adv": WHY}, **base)

    r = rec("pour_p", "POUR-P", 0.0)
    r.references = [rec("original", "Original", 0.92), rec("retrain", "Retrain", 0.0)]
    r.save(tmp_path / "record.json")
    raw = json.loads((tmp_path / "record.json").read_text())
    assert raw["metrics"]["aus"] is None and raw["metric_na"]["aus"] == WHY  # strict JSON: null + reason
    return RunRecord.load(tmp_path / "record.json")


def test_the_cli_table_reads_na_with_the_reason(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    text = format_table([*rec.references, rec])
    assert not NAN_WORD.search(text), text
    row = next(line for line in text.splitlines() if line.startswith("| POUR-P"))
    assert row.count(f"{NA_TEXT} [1]") == 3
    assert f"[1] {WHY}" in text


def test_the_report_reads_na_with_the_reason(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    page = render_html([rec])
    body = re.sub(r'src="data:[^"]*"', "", page)
    assert not NAN_WORD.search(htmllib.unescape(re.sub(r"<[^>]+>", " ", body)))
    assert f"title='{htmllib.escape(WHY, quote=True)}'>{NA_TEXT}<sup>1</sup>" in page
    assert f"<li>{htmllib.escape(WHY, quote=True)}</li>" in page  # the footnote


def test_the_runs_table_reads_na_with_the_reason_as_tooltip(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    rec = _record(tmp_path)
    state = SessionModel()
    pane = RunsPane(state)
    qtbot.addWidget(pane)
    state.add_run(rec)
    table = pane.table
    headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    texts = [table.item(0, j).text() for j in range(table.columnCount())]
    assert not any(NAN_WORD.search(t) for t in texts), texts
    for key in ("test_forget_acc", "aus", "rmia"):
        item = table.item(0, headers.index(metric_info(key).header))
        assert item.text() == NA_TEXT and WHY in item.toolTip()
    forget = table.item(0, headers.index("forget ≈R"))
    assert forget.text() == "0.0" and "retrained model: 0.0 %" in forget.toolTip()
    dlg = CompareDialog([(1, "#e76f51", rec)], [str(i) for i in range(10)], pane)
    qtbot.addWidget(dlg)
    row = [h.header for h in METRICS].index(metric_info("aus").header)
    assert dlg.table.item(row, 2).text() == NA_TEXT and WHY in dlg.table.item(row, 2).toolTip()
    pane.resize(1300, 220)
    pane.show()
    qtbot.waitExposed(pane)
    pane.grab().save(str(tmp_path / "runs_table.png"))  # looked at by hand when this test was written


def test_studio_cli_and_report_agree_on_labels_and_directions(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    """The same key has the same header (label + ↑ ↓ ≈R) in the runs table and the CLI, and the
    same label and direction words in the report's metrics table."""
    rec = _record(tmp_path)
    pane = RunsPane(SessionModel())
    qtbot.addWidget(pane)
    studio = [pane.table.horizontalHeaderItem(j).text() for j in range(len(FIXED), len(FIXED) + len(METRICS))]
    cli_header = format_table([rec]).splitlines()[0].strip("| ").split(" | ")
    assert studio == [metric_info(k).header for k in RUN_TABLE_KEYS]
    assert [h for h in cli_header if h not in ("method", "seconds")] == studio
    for j, key in enumerate(RUN_TABLE_KEYS):
        assert metric_info(key).better in pane.table.horizontalHeaderItem(len(FIXED) + j).toolTip()
    page = render_html([rec])
    for key in ("forget_acc", "test_acc", "test_forget_acc", "rus_o", "rmia"):
        info = metric_info(key)
        row = re.search(rf"<td><b>{re.escape(htmllib.escape(info.label))}</b></td>.*?</tr>", page, flags=re.S)
        assert row is not None, key
        assert f"<td>{htmllib.escape(info.better)}</td>" in row.group(0), key


@pytest.mark.parametrize("path_like", ["engine/", ".md", ".py"])
def test_the_report_cites_no_repository_path(tmp_path: Path, path_like: str) -> None:
    page = render_html([_record(tmp_path)])
    assert path_like not in page
