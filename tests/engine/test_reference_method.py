"""The registry names the reference method (Retrain); the runner asks it, never the method's name."""
from __future__ import annotations

import dataclasses

import pytest

from engine._core.events import Finished, Progress
from engine.methods import available, get
from engine.methods.registry import register
from engine.runs.spec import JobSpec
from engine.train.recipe import default_recipe


def test_retrain_is_the_one_reference_and_a_second_one_is_refused() -> None:
    assert [m for m in available() if get(m).is_reference] == ["retrain"]
    assert get("retrain").describe()["is_reference"] is True
    assert get("retrain").fb_passes is not None and get("finetune").fb_passes is None

    @dataclasses.dataclass(frozen=True)
    class NoParams:
        pass

    with pytest.raises(ValueError, match="reference method is already registered"):
        register("another_gold_standard", NoParams, description="x", is_reference=True)(lambda ctx, p: None)
    assert "another_gold_standard" not in available()


def test_a_retrain_job_trains_no_separate_reference_and_costs_its_recipe(runner) -> None:  # noqa: ANN001
    spec = JobSpec(method="retrain", reference="retrain", geometry=False, evaluate=False, audit=False)
    events = list(runner.run(spec))
    assert not any(isinstance(e, Progress) and e.stage == "reference" for e in events)
    record = events[-1].record if isinstance(events[-1], Finished) else None
    assert record is not None
    bundle, split = runner.load_inputs(spec)
    recipe = default_recipe("cnn_small", bundle.image_size, bundle.channels)  # the job's: no recipe in the spec
    expected = recipe.epochs * len(split.retain_idx) / len(bundle.x_train)
    assert record.metrics["fb_passes"] == pytest.approx(expected)
    assert [r.method for r in record.references] == ["original"]  # no retrain reference beside itself
