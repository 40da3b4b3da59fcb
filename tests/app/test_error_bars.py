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


def test_the_state_keeps_per_class_std_per_run_and_forgets_it_with_the_run() -> None:
    state = SessionModel()
    a, b = _record([0.9, 0.1, 0.9]), _record([0.8, 0.0, 0.9])
    state.add_run(a)
    state.add_run(b)
    state.set_run_std(a, {"forget_acc": 0.02}, [0.01, 0.05, 0.02])
    assert state.run_per_class_std(a) == [0.01, 0.05, 0.02] and state.run_per_class_std(b) == []
    state.remove_runs([0])
    assert state.run_per_class_std(a) == []


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
