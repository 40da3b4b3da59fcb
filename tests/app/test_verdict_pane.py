"""The verdict pane: five audit answers with readable badges, the still-recognised thumbnails, empty states."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app.panes.verdict_pane import EMPTY_TEXT, MAX_THUMBS, VerdictPane
from engine.runs.record import RunRecord


def _bundle(n: int = 64) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    return SimpleNamespace(name="digits", channels=1, classes=[str(i) for i in range(10)],
                           x_train=rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8),
                           y_train=rng.integers(0, 10, n))


def _record(statuses: tuple[str, ...] = ("fail", "warn", "pass", "pass", "n/a"), indices: list[int] | None = None,
            basis: str = "retrain") -> RunRecord:
    """A record whose audit mirrors engine.evaluation.audit.audit_block (verdicts as Verdict.to_json dicts)."""
    keys = [("outputs", "Forgot (outputs)?"), ("features", "Forgot (features)?"), ("private", "Private?"),
            ("utility", "Kept utility?"), ("relearn", "Robust to relearning?")]
    idx = list(range(20)) if indices is None else indices
    verdicts = [{"key": k, "question": q, "status": s, "basis": basis, "summary": f"Summary of {k}.",
                 "evidence": {"forget accuracy (training images)": "40.0 %", "retrained model": "0.0 %"},
                 "indices": idx if k == "outputs" else []}
                for (k, q), s in zip(keys, statuses, strict=True)]
    audit = {"version": 1, "basis": basis, "is_reference": False, "verdicts": verdicts[::-1],  # any order
             "details": {"still_recognised_count": len(idx)}, "cost": {}}
    return RunRecord(method="pour_p", spec={}, metrics={"forget_acc": 0.4}, label="POUR-P", audit=audit)


@pytest.fixture
def pane(qtbot) -> VerdictPane:  # noqa: ANN001
    p = VerdictPane()
    qtbot.addWidget(p)
    p.resize(1400, 300)
    p.show()
    return p


def test_five_rows_in_question_order_with_readable_status_text(pane: VerdictPane) -> None:
    pane.show_record(_record(), _bundle())
    assert pane.status_texts() == ["FAIL", "WARN", "PASS", "PASS", "n/a"]
    assert [r.question_label.text() for r in pane.rows] == [
        "Forgot (outputs)?", "Forgot (features)?", "Private?", "Kept utility?", "Robust to relearning?"]
    assert all(r.basis_label.text() == "against the retrained model" for r in pane.rows)
    assert pane.rows[0].summary_label.text() == "Summary of outputs." and pane.rows[0].summary_label.wordWrap()
    assert "retrained model: 0.0 %" in pane.rows[0].summary_label.toolTip()


def test_thumbnails_show_at_most_twelve_still_recognised_images_with_their_index(pane: VerdictPane) -> None:
    pane.show_record(_record(indices=list(range(5, 25))), _bundle())
    assert pane.thumbs_list.count() == min(MAX_THUMBS, 20) == 12
    assert pane.thumbs_list.item(0).text() == "#5"
    assert not pane.thumbs_list.item(0).icon().isNull()
    pane.show_record(_record(indices=[3, 9, 11], basis="reference-free"), _bundle())
    assert pane.thumbs_list.count() == 3
    assert pane.rows[0].basis_label.text() == "reference-free rules"
    pane.show_record(_record(indices=[]), _bundle())
    assert pane.thumbs_list.count() == 0 and "No forget image" in pane.thumbs_label.text()


def test_empty_state_and_a_record_without_audit(pane: VerdictPane) -> None:
    pane.show_record(_record(), _bundle())
    pane.show_record(None, None)
    assert pane.header_label.text() == EMPTY_TEXT
    assert pane.status_texts() == [] and pane.thumbs_list.count() == 0
    bare = RunRecord(method="finetune", spec={}, metrics={}, label="Fine-tune")
    pane.show_record(bare, _bundle())
    assert "not audited" in pane.header_label.text()
    assert pane.status_texts() == [] and pane.thumbs_list.isHidden()


@pytest.mark.slow  # end-to-end
def test_a_real_audited_pour_p_record(qtbot, pane: VerdictPane, runner) -> None:  # noqa: ANN001
    from engine.runs.spec import JobSpec

    spec = JobSpec(method="pour_p", reference="retrain", geometry=False)
    record = runner.run_to_record(spec)
    bundle = runner.load_inputs(spec)[0]
    pane.show_record(record, bundle)
    # POUR-P keeps the encoder: outputs forgotten, features moved ~40 % of the retrain's way (warn),
    # private, utility kept, and relearnt within a few steps (fail); tests/engine/test_audit.py.
    assert pane.status_texts() == ["PASS", "WARN", "PASS", "PASS", "FAIL"]
    assert all(r.basis_label.text() == "against the retrained model" for r in pane.rows)
    outputs = next(v for v in record.audit["verdicts"] if v["key"] == "outputs")
    assert pane.rows[0].summary_label.text() == outputs["summary"]
    assert pane.thumbs_list.count() == min(MAX_THUMBS, len(outputs["indices"]))
