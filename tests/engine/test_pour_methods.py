"""POUR-P and POUR-D on digits, as pour.md and issue 3 require."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.checkpoints import weights_fingerprint
from engine._core.events import Failed, Geometry
from engine.runs.spec import JobSpec

CLASS = 3


@pytest.fixture(scope="module")
def pour_p_record(runner):  # noqa: ANN001, ANN201
    return runner.run_to_record(JobSpec(method="pour_p", forget={"classes": [CLASS]}, reference=None))


def test_pour_p_forgets_the_class_on_the_test_set(pour_p_record) -> None:  # noqa: ANN001
    assert pour_p_record.metrics["test_forget_acc"] == 0.0
    assert pour_p_record.metrics["forget_acc"] == 0.0


def test_pour_p_keeps_retain_accuracy_within_one_point(pour_p_record) -> None:  # noqa: ANN001
    original = pour_p_record.reference("original")
    gap = original.metrics["test_retain_acc"] - pour_p_record.metrics["test_retain_acc"]
    assert abs(gap) <= 0.01


def test_pour_p_inserted_and_folded_forms_give_the_same_logits(pour_p_record, digits) -> None:  # noqa: ANN001
    model = pour_p_record.model.to("cpu").eval()
    folded = model.exportable().eval()
    x = digits.normalise(digits.x_test)
    with torch.inference_mode():
        a, b = model(x), folded(x)
    assert torch.allclose(a, b, atol=1e-5, rtol=0)
    assert type(folded).__name__ != type(model).__name__  # a plain architecture: no projection layer
    assert set(folded.state_dict()) == set(pour_p_record.references[0].model.state_dict())


def test_pour_p_without_masking_still_never_predicts_the_class(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(
        JobSpec(method="pour_p", params={"mask_logits": False}, reference=None, evaluate=False, geometry=False)
    )
    assert rec.metrics["test_forget_acc"] <= 0.02  # only the zeroed row and bias remain


def test_pour_p_with_class_mean_direction_and_several_classes(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(
        JobSpec(method="pour_p", forget={"classes": [1, 7]}, params={"direction": "class_mean"},
                reference=None, evaluate=False, geometry=False)
    )
    assert rec.metrics["test_forget_acc"] == 0.0
    assert rec.metrics["test_retain_acc"] >= rec.reference("original").metrics["test_retain_acc"] - 0.03


def test_pour_p_streams_an_interpolation_from_original_to_projection(runner) -> None:  # noqa: ANN001
    events = list(runner.run(JobSpec(method="pour_p", reference=None, evaluate=False, params={"animation_frames": 6})))
    frames = [e for e in events if isinstance(e, Geometry) and e.stage == "unlearn"]
    assert [round(f.t, 3) for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    first, last = frames[0], frames[-1]
    forget = first.is_forget
    assert forget.any() and first.coords.shape == (len(forget), 2)
    # The forget class folds towards the origin of the removed direction: its spread shrinks.
    spread = lambda f: float(np.linalg.norm(f.coords[forget] - f.coords[~forget].mean(0), axis=1).mean())  # noqa: E731
    assert spread(last) < spread(first)


def test_pour_d_forgets_and_moves_the_representation(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(JobSpec(method="pour_d", forget={"classes": [CLASS]}, reference=None, geometry=False))
    original = rec.reference("original")
    assert rec.metrics["test_forget_acc"] <= 0.05
    assert original.metrics["rus_o"] == pytest.approx(0.0, abs=1e-9)
    assert rec.metrics["rus_o"] > 0.05
    assert rec.metrics["test_retain_acc"] >= original.metrics["test_retain_acc"] - 0.03


@pytest.mark.parametrize("method", ["pour_p", "pour_d"])
def test_pour_refuses_sample_level_forget_sets(runner, method) -> None:  # noqa: ANN001
    events = list(runner.run(JobSpec(method=method, forget={"ids": [0, 1, 2]}, reference=None)))
    assert isinstance(events[-1], Failed)
    assert events[-1].kind == "UnsupportedForgetSet"
    assert "class" in events[-1].message


@pytest.mark.parametrize("method", ["pour_p", "pour_d"])
def test_pour_leaves_the_original_weights_unchanged(runner, method) -> None:  # noqa: ANN001
    base = runner.run_to_record(JobSpec(method="pour_p", reference=None, evaluate=False, geometry=False))
    original = base.reference("original").model
    before = {k: v.clone() for k, v in original.state_dict().items()}
    fp = weights_fingerprint(original)
    rec = runner.run_to_record(JobSpec(method=method, reference=None, evaluate=False, params=_fast(method)))
    assert rec.reference("original").model is original
    assert weights_fingerprint(original) == fp
    for k, v in original.state_dict().items():
        assert torch.equal(v, before[k]), k


def _fast(method: str) -> dict:
    return {"min_steps": 20, "epochs": 1} if method == "pour_d" else {}


def test_pour_p_records_say_which_features_the_representation_metrics_used(pour_p_record) -> None:  # noqa: ANN001
    assert any("P θ(x)" in n for n in pour_p_record.notes)
    assert pour_p_record.to_json()["notes"] == pour_p_record.notes
