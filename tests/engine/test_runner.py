"""The Runner end to end on digits: events, records, saving, cancel and bad input."""
from __future__ import annotations

import json
import threading
import time

import pytest
import torch

from engine._core.cancel import CancelToken
from engine.models.checkpoints import load_checkpoint, save_checkpoint
from engine._core.errors import BadSpec, Diverged
from engine._core.events import Failed, Finished, Log, Progress
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec
from engine.train.pretrained import fresh_model
from engine.train.loop import train
from engine.train.recipe import Recipe

from engine._core.events import drain

METRIC_NAMES = {"forget_acc", "retain_acc", "test_forget_acc", "test_retain_acc", "test_acc"}


@pytest.mark.slow  # end-to-end
def test_a_finetune_run_yields_progress_and_a_complete_record(runner, tmp_path) -> None:  # noqa: ANN001
    spec = JobSpec(method="finetune", params={"epochs": 1}, reference=None)
    events = list(runner.run(spec, job_id="job-1", out_dir=tmp_path))
    assert all(e.job_id == "job-1" for e in events)
    assert isinstance(events[-1], Finished)
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] == 1.0
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["method"] == "finetune"
    assert set(record["metrics"]) >= METRIC_NAMES
    assert {"method", "total", "evaluate"} <= set(record["seconds"])
    assert [r["method"] for r in record["references"]] == ["original"]
    assert record["spec"]["schema_version"] == 1
    model, meta = load_checkpoint(tmp_path / "unlearned.safetensors")
    assert meta["method"] == "finetune" and model.num_classes == 10


@pytest.mark.slow  # end-to-end
def test_retrain_reference_forgets_and_keeps_utility(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(JobSpec(method="pour_p", reference="retrain", geometry=False))
    retrain, original = rec.reference("retrain"), rec.reference("original")
    assert retrain.metrics["test_forget_acc"] <= 0.1  # chance is 0.1; retrain never saw the class
    assert retrain.metrics["test_retain_acc"] >= original.metrics["test_retain_acc"] - 0.03
    assert "rus_r" in rec.metrics and 0.0 <= rec.metrics["rus_r"] <= 1.0


@pytest.mark.slow  # end-to-end
def test_a_sample_level_run_has_no_class_test_metrics(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(
        JobSpec(method="finetune", forget={"fraction": 0.1, "seed": 1}, params={"epochs": 1}, reference=None, geometry=False)
    )
    assert rec.forget["kind"] == "sample"
    assert "test_forget_acc" not in rec.metrics and "aus" not in rec.metrics


def test_cancel_stops_a_job_within_a_second(runner) -> None:  # noqa: ANN001
    token = CancelToken()
    spec = JobSpec(method="finetune", params={"epochs": 50}, reference=None)
    events = runner.run(spec, token)
    cancelled_at = None
    last = None
    unlearn_steps = 0
    for event in events:
        last = event
        unlearn_steps += isinstance(event, Progress) and event.message.startswith("step ")
        if cancelled_at is None and unlearn_steps >= 3:  # mid-method
            cancelled_at = time.perf_counter()
            token.cancel()
    assert cancelled_at is not None
    assert isinstance(last, Failed) and last.cancelled
    assert time.perf_counter() - cancelled_at < 1.0


def test_cancel_from_another_thread_stops_training_the_original(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))  # force a fresh training
    token = CancelToken()
    timer = threading.Timer(0.5, token.cancel)
    timer.start()
    t0 = time.perf_counter()
    events = list(Runner(threads=1).run(JobSpec(method="pour_p", model={"arch": "cnn_small", "recipe": {"epochs": 200}}), token))
    timer.join()
    assert isinstance(events[-1], Failed) and events[-1].cancelled
    assert time.perf_counter() - t0 < 1.5
    assert not list(tmp_path.rglob("*.safetensors"))  # a half-trained model is never cached


def test_bad_spec_fields_are_named_in_one_line() -> None:
    with pytest.raises(BadSpec, match=r"^colour: unknown field"):
        JobSpec.from_json({"colour": "red"})
    with pytest.raises(BadSpec, match=r"^seed: expected int"):
        JobSpec.from_json({"seed": "zero"})
    with pytest.raises(BadSpec, match=r"^model:"):
        JobSpec.from_json({"model": {}})
    with pytest.raises(BadSpec, match=r"params\.lr"):
        list_failure(JobSpec(method="finetune", params={"lr": "fast"}))


def list_failure(spec: JobSpec) -> None:
    events = list(Runner(threads=1).run(spec))
    assert isinstance(events[-1], Failed)
    if events[-1].kind == "BadSpec":
        raise BadSpec(events[-1].message)


def test_job_spec_json_round_trips() -> None:
    spec = JobSpec(method="finetune", forget={"fraction": 0.05, "seed": 3, "stratified": True}, params={"lr": 0.02})
    assert JobSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


@pytest.mark.parametrize(
    ("forget", "kind"),
    [({"classes": []}, "EmptyForgetSet"), ({"classes": list(range(10))}, "BadForgetSet"), ({"ids": [99999]}, "BadForgetSet")],
)
def test_bad_forget_sets_fail_with_a_clear_kind(runner, forget, kind) -> None:  # noqa: ANN001
    events = list(runner.run(JobSpec(method="finetune", forget=forget)))
    assert isinstance(events[-1], Failed) and events[-1].kind == kind and not events[-1].internal


def test_a_checkpoint_for_another_dataset_is_refused(runner, tmp_path) -> None:  # noqa: ANN001
    wrong = fresh_model("cnn_small", _fake_bundle(classes=5), 0)
    save_checkpoint(wrong, tmp_path / "five", {})
    events = list(runner.run(JobSpec(model={"checkpoint": str(tmp_path / "five.safetensors")})))
    assert isinstance(events[-1], Failed) and events[-1].kind == "BadCheckpoint"
    assert "5" in events[-1].message and "10" in events[-1].message


@pytest.mark.slow  # end-to-end
def test_a_run_from_a_saved_checkpoint_leaves_the_file_untouched(runner, digits_original, tmp_path) -> None:  # noqa: ANN001
    path = save_checkpoint(digits_original, tmp_path / "orig", {"classes": [str(i) for i in range(10)]})
    before = path.read_bytes()
    rec = runner.run_to_record(
        JobSpec(model={"checkpoint": str(path)}, method="finetune", params={"epochs": 1}, reference=None, geometry=False),
        out_dir=tmp_path / "out",
    )
    assert path.read_bytes() == before
    assert rec.weights and rec.weights != str(path)


def test_a_diverging_loss_raises_diverged(digits) -> None:  # noqa: ANN001
    model = fresh_model("mlp", digits, 0)
    recipe = Recipe(epochs=3, lr=10.0, momentum=0.0)  # the largest lr a recipe accepts
    with pytest.raises(Diverged, match="loss became"):
        drain(train(model, digits.x_train, digits.y_train, digits.mean, digits.std, recipe, device=torch.device("cpu")))


@pytest.mark.slow  # end-to-end
def test_the_original_is_trained_once_and_then_loaded_from_the_cache(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))  # empty, even under an outer LETHE_CACHE_DIR
    spec = JobSpec(method="pour_p", model={"arch": "mlp", "recipe": {"epochs": 2}}, reference=None, evaluate=False, geometry=False)
    first = list(Runner(threads=1).run(spec))
    second = list(Runner(threads=1).run(spec))
    assert not any(isinstance(e, Log) and "loaded from cache" in e.message for e in first)
    assert any(isinstance(e, Log) and "loaded from cache" in e.message for e in second)
    # Every metric but the CPU peak-RSS growth, which depends on what the process ran before.
    def same(m: dict) -> dict:
        return {k: v for k, v in m.items() if k != "peak_memory_mb"}

    assert same(first[-1].record.metrics) == same(second[-1].record.metrics)


def _fake_bundle(classes: int):  # noqa: ANN202
    import numpy as np

    from engine.data.bundle import DatasetBundle

    x = np.zeros((classes * 2, 1, 8, 8), np.uint8)
    y = np.repeat(np.arange(classes), 2)
    return DatasetBundle("fake", "fake", x, y, x, y, tuple(str(i) for i in range(classes)), (0.5,), (0.5,))


@pytest.mark.slow  # end-to-end
def test_a_run_with_a_reference_streams_the_retrained_geometry_for_ghost_markers(runner) -> None:  # noqa: ANN001
    from engine._core.events import Geometry

    events = list(runner.run(JobSpec(method="pour_p", reference="retrain", evaluate=False, audit=False)))
    stages = [e.stage for e in events if isinstance(e, Geometry)]
    assert stages[:2] == ["original", "retrain"] and stages.count("retrain") == 1
    frames = {e.stage: e for e in events if isinstance(e, Geometry)}
    assert frames["retrain"].coords.shape == frames["original"].coords.shape
    assert "probe_forget_acc" in frames["original"].nc and frames["original"].nc["probe_forget_acc"] == 1.0


@pytest.mark.slow  # end-to-end
def test_live_geometry_time_is_reported_apart_from_the_method_time(runner) -> None:  # noqa: ANN001
    spec = JobSpec(method="finetune", params={"epochs": 1}, reference=None, evaluate=False, audit=False)
    with_frames = runner.run_to_record(spec).seconds
    without = runner.run_to_record(spec.with_changes(geometry=False)).seconds
    assert with_frames["geometry"] > 0 and without["geometry"] == 0
    assert with_frames["method"] > 0


def test_a_partial_recipe_overrides_only_the_fields_it_names(runner, digits) -> None:  # noqa: ANN001
    from engine.train.recipe import default_recipe

    spec = JobSpec(method="pour_p", model={"arch": "convnet", "recipe": {"epochs": 1, "lr": 0.01}}, reference=None,
                   evaluate=False, geometry=False, audit=False)
    rec = runner.run_to_record(spec)
    assert rec.references[0].model is not None
    # the cache key holds the merged recipe: convnet's batch size (128, not the dataclass's 64) is kept
    recipe = default_recipe("convnet", digits.image_size, digits.channels)
    assert recipe.batch_size != 64
    merged = {**recipe.to_json(), "epochs": 1, "lr": 0.01}
    from engine._core.cache import model_key, model_path

    key = model_key(digits.fingerprint, "convnet", merged, 0, None)
    assert model_path("original", key).with_suffix(".safetensors").exists()
