"""Multi-seed runs: error bars (± the standard deviation over seeds) on the per-class bars."""
from __future__ import annotations

import numpy as np
import pytest

from app.plots.bars import PerClassBars
from app.state import SessionModel
from engine import RunRecord


def _record(per_class: list[float]) -> RunRecord:
    ref = RunRecord(method="retrain", label="Retrain", spec={}, metrics={}, per_class_acc=[0.9, 0.0, 0.95])
    return RunRecord(method="salun", label="SalUn trial 3", spec={}, metrics={"forget_acc": 0.1},
                     per_class_acc=per_class, references=[ref])


def test_the_state_keeps_per_class_std_on_the_run_itself() -> None:
    state = SessionModel()
    a, b = _record([0.9, 0.1, 0.9]), _record([0.8, 0.0, 0.9])
    state.add_run(a)
    state.add_run(b)
    state.set_run_std(a, {"forget_acc": 0.02}, [0.01, 0.05, 0.02])
    assert state.run_per_class_std(a) == [0.01, 0.05, 0.02] and state.run_per_class_std(b) == []
    assert a.per_class_std == [0.01, 0.05, 0.02] and a.metrics_std == {"forget_acc": 0.02}  # it travels with the run
    state.remove_runs([0])
    assert state.runs == [b]


def test_a_multi_seed_run_is_drawn_with_error_bars_and_a_one_seed_run_without(qtbot) -> None:
    bars = PerClassBars()
    qtbot.addWidget(bars)
    rec = _record([0.9, 0.1, 0.9])
    bars.show_record(rec, ["0", "1", "2"], per_class_std=[0.01, 0.05, 0.02])
    assert len(bars.items) == 2 and len(bars.error_items) == 1  # retrain + the run; bars on the run only
    opts = bars.error_items[0].opts
    assert list(opts["top"]) == pytest.approx([0.01, 0.05, 0.02]) and list(opts["bottom"]) == list(opts["top"])
    assert list(opts["y"]) == pytest.approx([0.9, 0.1, 0.9])
    run_x = bars.items[1].opts["x"]
    assert np.allclose(opts["x"], run_x)  # centred on the run's own bars, not on Retrain's
    assert "mean ± std over seeds" in bars.plot.plotItem.titleLabel.text
    bars.show_record(rec, ["0", "1", "2"])
    assert bars.error_items == [] and "± std" not in bars.plot.plotItem.titleLabel.text


def test_selecting_a_multi_seed_run_in_the_window_draws_its_error_bars(qtbot, window) -> None:
    rec = _record([0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    rec.dataset = {"source": "digits", "name": "digits", "fingerprint": window.state.bundle.fingerprint}
    window.state.add_run(rec)
    window.state.set_run_std(rec, {"forget_acc": 0.02}, [0.03] * 10)
    window.runs_pane.table.clearSelection()
    window.runs_pane.table.selectRow(len(window.state.runs) - 1)
    errors = window.live_view.bars.error_items
    assert len(errors) == 1 and list(errors[0].opts["top"]) == pytest.approx([0.03] * 10)


def test_a_multi_seed_record_carries_its_std_to_json_and_the_report_shows_mean_plus_minus_std() -> None:
    from engine import BadRecord
    from engine.report.html import render_html

    rec = RunRecord(method="finetune", label="Fine-tune trial 2", spec={"forget": {"classes": [3]}},
                    metrics={"forget_acc": 0.125, "test_acc": 0.9}, metrics_std={"forget_acc": 0.025})
    d = rec.to_json()
    assert d["metrics_std"] == {"forget_acc": 0.025}
    assert RunRecord.from_json(d).metrics_std == {"forget_acc": 0.025}
    assert "metrics_std" not in RunRecord(method="x", spec={}, metrics={}).to_json()  # one seed: as before
    with pytest.raises(BadRecord, match=r"metrics_std\.forget_acc"):
        RunRecord.from_json({**d, "metrics_std": {"forget_acc": "wide"}})
    page = render_html([rec])
    cells = [c for c in page.split("<td class='num'>")[1:] if "±" in c]
    assert len(cells) == 1 and cells[0].startswith("12.5 % ± 2.5 %"), cells[:1]
    state = SessionModel()
    assert state.run_std(RunRecord.from_json(d)) == {"forget_acc": 0.025}  # the runs table's ± after reopening
