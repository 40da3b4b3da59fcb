"""POUR-P and POUR-D on digits, as pour.md and issue 3 require."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dataclasses

from engine.data import ForgetSpec
from engine.methods import MethodContext, get as get_method
from engine.methods.pour.pour_d import holdout_split
from engine.models.checkpoints import weights_fingerprint
from engine._core.events import Failed, Geometry, Log
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


def test_pour_d_small_preset_forgets_the_unseen_images_of_the_class_and_moves_the_representation(runner) -> None:  # noqa: ANN001
    """Issue 12: ≤ 1 % on the class's test images (never trained on, never judged on), retain kept."""
    rec = runner.run_to_record(JobSpec(method="pour_d", preset="small", forget={"classes": [CLASS]}, reference=None, geometry=False))
    original = rec.reference("original")
    assert rec.metrics["test_forget_acc"] <= 0.01
    assert original.metrics["rus_o"] == pytest.approx(0.0, abs=1e-9)
    assert rec.metrics["rus_o"] > 0.05
    assert rec.metrics["test_retain_acc"] >= original.metrics["test_retain_acc"] - 0.03


def test_pour_d_holdout_split_is_disjoint_per_class_and_never_takes_a_whole_class() -> None:
    y = np.array([3] * 10 + [5] * 4 + [7])
    trained, held = holdout_split(y, 0.2, seed=0)
    assert np.intersect1d(trained, held).size == 0
    assert np.array_equal(np.union1d(trained, held), np.arange(len(y)))
    assert [int((y[held] == c).sum()) for c in (3, 5, 7)] == [2, 1, 0]  # round(0.2 n_c), a class of one keeps its image
    assert np.array_equal(holdout_split(y, 0.2, seed=0)[1], held)  # seeded
    assert holdout_split(y, 0.0, seed=0)[1].size == 0
    assert holdout_split(np.array([3]), 0.9, seed=0)[0].tolist() == [0]


def _untouched(*args: object, **kwargs: object) -> None:
    raise AssertionError("POUR-D read the test split")


class _Untouchable:
    """Stands in for the test split: any read (index, length, iteration, NumPy / torch conversion,
    comparison, attribute) fails the test. The test split is for evaluation only."""

    __getitem__ = __len__ = __iter__ = __array__ = __eq__ = __ne__ = __bool__ = _untouched

    def __getattr__(self, name: str) -> None:
        _untouched()


class _Recording(MethodContext):
    """Records every batch of images normalised with gradients on: the images the student trains on."""

    trained_rows: list[np.ndarray]

    def normalise(self, x_uint8: np.ndarray) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.trained_rows.append(np.array(x_uint8, copy=True))
        return super().normalise(x_uint8)


def test_pour_d_stops_on_held_out_forget_images_never_trained_on_and_never_reads_the_test_split(digits, digits_original, digits_recipe) -> None:  # noqa: ANN001, E501
    split = ForgetSpec(classes=(CLASS,)).resolve(digits)
    bundle = dataclasses.replace(digits)
    object.__setattr__(bundle, "x_test", _Untouchable())  # past __post_init__'s checks
    object.__setattr__(bundle, "y_test", _Untouchable())
    ctx = _Recording(original=digits_original, bundle=bundle, split=split, device=torch.device("cpu"), recipe=digits_recipe, seed=0)
    ctx.trained_rows = []
    info = get_method("pour_d")
    events = []
    gen = info.fn(ctx, dataclasses.replace(info.params_for("small"), epochs=8))
    model = None
    while model is None:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            model = stop.value
    _, held = holdout_split(np.asarray(ctx.y_forget), 0.2, seed=0)
    held_rows = {ctx.x_forget[i].tobytes() for i in held}
    trained = {row.tobytes() for batch in ctx.trained_rows for row in batch}
    assert trained and not (trained & held_rows)  # the judge's images never reach the loss
    assert {ctx.x_forget[i].tobytes() for i in range(len(ctx.x_forget))} - held_rows <= trained
    logs = [e.message for e in events if isinstance(e, Log) and e.message.startswith("POUR-D")]
    assert any(f"judged on {len(held)} held-out forget images" in m for m in logs), logs


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
    return {"min_steps": 20, "epochs": 1, "early_stop_acc": -1.0} if method == "pour_d" else {}


def test_pour_p_records_say_which_features_the_representation_metrics_used(pour_p_record) -> None:  # noqa: ANN001
    assert any("P θ(x)" in n for n in pour_p_record.notes)
    assert pour_p_record.to_json()["notes"] == pour_p_record.notes
