"""Saving a session and opening it again gives back every run as the views drew it: numbers with
their n/a reasons and multi-seed spreads (error bars), dataset identity, class names, its ``#`` and
colour (issue 16: state that belongs to a run travels with the run)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from app.session import load_session, save_session
from app.state import SessionModel
from engine import RunRecord


def _full_record() -> RunRecord:
    """A run with every serialised field away from its default (checked below, so a new field of
    RunRecord must be added here, and so to the round trip)."""
    ref = RunRecord(method="retrain", label="Retrain", spec={"method": "retrain"}, metrics={"test_acc": 0.9},
                    per_class_acc=[0.9, 0.0, 0.95], time_source="cache",
                    seconds={"method": 12.5, "load": 0.01})
    return RunRecord(
        method="salun", spec={"method": "salun", "seed": 0, "forget": {"classes": [1]}},
        metrics={"forget_acc": 0.125, "test_acc": 0.875, "rmia": None}, seconds={"method": 1.5, "evaluate": 0.25},
        label="SalUn trial 3", params={"lr": 0.01, "sparsity": 0.5}, per_class_acc=[0.5, None, 0.75],  # type: ignore[list-item]
        forget={"kind": "class", "size": 3, "classes": ["1"], "hash": "ab"},
        dataset={"name": "digits", "source": "digits", "fingerprint": "ff00", "classes": ["zero", "one", "two"]},
        device="cuda", weights="/runs/salun/unlearned.safetensors", notes=["sweep trial 3: means over seeds [0, 1]"],
        references=[ref], audit={"verdicts": [{"key": "outputs", "status": "pass", "summary": "ok"}],
                                 "details": {"still_recognised": [4, 7]}},
        metric_na={"rmia": "not applicable: no shadow models"},
        metrics_std={"forget_acc": 0.025, "test_acc": 0.0125}, per_class_std=[0.01, None, 0.02],  # type: ignore[list-item]
        time_source="trained", schema_version=1,
    )


def _views(state: SessionModel, r: RunRecord) -> dict[str, object]:
    """What the runs table, bars, Compare and Verdicts take from the state for one run."""
    return {"number": state.run_number(r), "colour": state.run_colour(r), "std": state.run_std(r),
            "per_class_std": state.run_per_class_std(r), "names": state.class_names_for(r),
            "dataset": state.dataset_label(r), "na": r.na_reason("rmia"), "label": r.label}


def test_every_field_of_a_run_and_its_number_survive_save_and_open(tmp_path: Path) -> None:
    full = _full_record()
    defaults = RunRecord(method="", spec={}, metrics={})
    same = [f.name for f in dataclasses.fields(RunRecord)
            if f.name != "model" and f.name != "schema_version" and getattr(full, f.name) == getattr(defaults, f.name)]
    assert same == [], f"set these fields in _full_record so the round trip covers them: {same}"

    state = SessionModel()
    gone, one_seed = RunRecord(method="finetune", spec={}, metrics={}), RunRecord(method="ga", spec={}, metrics={})
    for r in (gone, full, one_seed):
        state.add_run(r)
        state.run_number(r)
    state.remove_runs([0])  # numbers 2 and 3 now: a reopened session must not renumber them 1, 2
    before = [(r.to_json(), _views(state, r)) for r in state.runs]

    path = save_session(tmp_path / "s.lethe.json", source="digits", model={"arch": "cnn_small"}, forget=None,
                        runs=list(state.runs), numbers=[state.run_number(r) for r in state.runs])
    d = load_session(path)
    reopened = SessionModel()
    reopened.set_runs(d["runs"], d["numbers"])
    after = [(r.to_json(), _views(reopened, r)) for r in reopened.runs]

    assert after == before
    assert before[0][1]["number"] == 2 and before[0][1]["per_class_std"] == [0.01, None, 0.02]
    reopened.add_run(RunRecord(method="x", spec={}, metrics={}))
    assert reopened.run_number(reopened.runs[-1]) == 4  # a new run after them, never a reused number


def test_a_session_without_numbers_numbers_its_runs_in_order(tmp_path: Path) -> None:
    runs = [RunRecord(method=m, spec={}, metrics={}) for m in ("a", "b")]
    d = load_session(save_session(tmp_path / "old.lethe.json", source="digits", model={"arch": "cnn_small"},
                                  forget=None, runs=runs))
    assert d["numbers"] == [None, None]
    state = SessionModel()
    state.set_runs(d["runs"], [5, 5])  # a hand-edited duplicate: the second gets a free number
    assert [state.run_number(r) for r in state.runs] == [5, 6]


def test_reopening_a_session_in_the_window_keeps_the_error_bars_and_numbers(qtbot, window, tmp_path) -> None:  # noqa: ANN001
    window.state.model = {"arch": "cnn_small"}
    rec = _full_record()
    rec.per_class_acc = [0.9] * 10
    rec.dataset = {"source": "digits", "name": "digits", "fingerprint": window.state.bundle.fingerprint}
    window.state.add_run(RunRecord(method="finetune", spec={}, metrics={}))
    window.state.add_run(rec)
    window.state.set_run_std(rec, {"forget_acc": 0.02}, [0.03] * 10)
    window.state.remove_runs([0])
    number = window.state.run_number(rec)
    path = window.save_session(tmp_path / "w.lethe.json")

    with qtbot.waitSignal(window.controller.sig_prepared, timeout=60_000):
        assert window.open_session(path) is True
    qtbot.waitUntil(lambda: not window.controller.is_busy())
    (reopened,) = window.state.runs
    assert reopened is not rec and window.state.run_number(reopened) == number
    assert window.runs_pane.table.item(0, 0).text().strip().lstrip("#") == str(number)
    window.runs_pane.table.clearSelection()
    window.runs_pane.table.selectRow(0)
    errors = window.live_view.bars.error_items
    assert len(errors) == 1 and list(errors[0].opts["top"]) == pytest.approx([0.03] * 10)
    assert not math.isnan(window.state.run_std(reopened)["forget_acc"])
