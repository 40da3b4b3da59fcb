"""A model with NaN or Inf weights or BatchNorm buffers is never saved, cached, loaded or audited,
and no JSON Lethe writes holds a NaN / Infinity token."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine._core.cache import model_key, model_path
from engine._core.errors import BadCheckpoint, Diverged
from engine._core.events import Failed, Log, Progress, drain
from engine._core.fileio import dumps_json, sha256_file
from engine.methods import registry
from engine.models.checkpoints import check_finite, load_checkpoint, nonfinite_tensor, save_checkpoint
from engine.runs.record import RunRecord
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec
from engine.train import pretrained
from engine.train.pretrained import obtain_original
from engine.train.recipe import Recipe

from faultkit import poison

BN_BUFFER = "body.0.1.running_var"
BN_WEIGHT = "body.0.1.weight"


def _strict_json(text: str) -> Any:
    """json.loads that fails on the NaN / Infinity / -Infinity tokens Python's json accepts."""
    def refuse(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(("name", "value", "kind"), [
    (BN_BUFFER, float("nan"), "NaN"), (BN_BUFFER, float("inf"), "Inf"),
    ("body.0.1.running_mean", float("-inf"), "Inf"), (BN_WEIGHT, float("nan"), "NaN"), ("head.bias", float("nan"), "NaN"),
])
def test_every_non_finite_tensor_is_found_and_named(bn_model, name: str, value: float, kind: str) -> None:  # noqa: ANN001
    assert nonfinite_tensor(bn_model) is None
    poison(bn_model, name, value)
    assert nonfinite_tensor(bn_model) == f"{kind} in {name}"
    with pytest.raises(Diverged, match=rf"^the model has non-finite weights \({kind} in {name}\)$"):
        check_finite(bn_model, "the model")


@pytest.mark.parametrize("name", [BN_BUFFER, BN_WEIGHT])
def test_a_non_finite_model_is_never_saved(bn_model, tmp_path: Path, name: str) -> None:  # noqa: ANN001
    poison(bn_model, name, float("nan"))
    with pytest.raises(Diverged, match=name):
        save_checkpoint(bn_model, tmp_path / "m", {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "value"), [(BN_BUFFER, float("nan")), (BN_WEIGHT, float("inf"))])
def test_a_checkpoint_with_non_finite_weights_or_buffers_is_refused_on_load(
    bn_model, saved_checkpoint: Path, name: str, value: float  # noqa: ANN001
) -> None:
    poison(bn_model, name, value)
    # Replace the weights and fix the sidecar's checksum, so only the finiteness check can refuse them.
    save_file({k: v.contiguous() for k, v in bn_model.state_dict().items()}, str(saved_checkpoint))
    sidecar = saved_checkpoint.with_suffix(".json")
    info = json.loads(sidecar.read_text())
    info["weights_sha256"] = sha256_file(saved_checkpoint)
    sidecar.write_text(json.dumps(info))
    with pytest.raises(BadCheckpoint, match=rf"non-finite weights \((NaN|Inf) in {name}\)"):
        load_checkpoint(saved_checkpoint)


def test_a_pt_state_dict_with_a_nan_buffer_is_refused(bn_model, tmp_path: Path) -> None:  # noqa: ANN001
    poison(bn_model, BN_BUFFER, float("nan"))
    torch.save(bn_model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(BadCheckpoint, match=BN_BUFFER):
        load_checkpoint(tmp_path / "m.pt", arch="cnn_small", expect_num_classes=10, expect_input_shape=(1, 8, 8))


def test_a_trained_model_with_nan_weights_is_diverged_and_never_cached(digits, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))

    def nan_train(model, *args: Any, **kw: Any):  # noqa: ANN001, ANN202 - a loop whose loss stayed finite
        poison(model, "body.1.1.running_var", float("nan"))
        return model
        yield  # a generator, like engine.train.loop.train

    monkeypatch.setattr(pretrained, "train", nan_train)
    with pytest.raises(Diverged, match=r"original: the trained cnn_small has non-finite weights \(NaN in body.1.1.running_var\)"):
        drain(obtain_original(digits, "cnn_small", Recipe(epochs=1), device=torch.device("cpu")))
    assert not (tmp_path / "cache" / "models").exists() or not any((tmp_path / "cache" / "models").iterdir())


def test_a_cached_model_with_nan_weights_is_trained_again(digits, bn_model, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))
    recipe = Recipe(epochs=1)
    stem = model_path("original", model_key(digits.fingerprint, "mlp", recipe.to_json(), 0, None))
    broken = pretrained.fresh_model("mlp", digits, 0)
    save_checkpoint(broken, stem, {})
    poison(broken, "head.weight", float("nan"))  # then make the cached weights NaN behind the sidecar's back
    save_file({k: v.contiguous() for k, v in broken.state_dict().items()}, str(stem.with_suffix(".safetensors")))
    events: list[Any] = []
    gen = obtain_original(digits, "mlp", recipe, device=torch.device("cpu"))
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        model = stop.value
    assert any(isinstance(e, Log) and "training again" in e.message for e in events)
    assert nonfinite_tensor(model) is None


def _nan_method(name: str):  # noqa: ANN202
    """A method that returns a copy of the original with one BatchNorm buffer NaN."""
    def unlearn(ctx, params):  # noqa: ANN001, ANN202
        model = ctx.copy_original()
        poison(model, name, float("nan"))
        yield Progress("unlearn", 1.0, "poisoned")
        return model

    return unlearn


def test_a_method_that_returns_a_nan_model_fails_and_nothing_is_evaluated_or_saved(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    info = registry.get("finetune")
    monkeypatch.setitem(registry._REGISTRY, "finetune", dataclasses.replace(info, fn=_nan_method("body.0.1.running_var")))
    spec = JobSpec(method="finetune", model={"arch": "cnn_small", "recipe": {"epochs": 1}}, reference=None,
                   geometry=False, evaluate=False, audit=False)
    out = tmp_path / "out"
    events = list(Runner(threads=1).run(spec, out_dir=out))
    last = events[-1]
    assert isinstance(last, Failed) and last.kind == "Diverged" and not last.internal
    assert "body.0.1.running_var" in last.message and "\n" not in last.message
    assert not any(isinstance(e, Progress) and e.stage == "evaluate" for e in events)
    assert not out.exists() or not any(out.iterdir())


def test_run_records_are_strict_json_and_read_back_with_null(tmp_path: Path) -> None:
    rec = RunRecord("m", spec={}, metrics={"a": float("nan"), "b": float("inf"), "c": -math.inf,
                                          "d": np.float32("nan"), "e": 0.5},
                    per_class_acc=[float("nan"), 1.0], audit={"details": {"x": [np.float64("inf")]}})
    path = rec.save(tmp_path / "record.json")
    data = _strict_json(path.read_text())
    assert data["metrics"] == {"a": None, "b": None, "c": None, "d": None, "e": 0.5}
    assert data["audit"]["details"]["x"] == [None] and data["per_class_acc"] == [None, 1.0]
    back = RunRecord.load(path)
    assert back.metrics["a"] is None and back.metrics["e"] == 0.5


def test_checkpoint_sidecars_are_strict_json(bn_model, tmp_path: Path) -> None:  # noqa: ANN001
    weights = save_checkpoint(bn_model, tmp_path / "m", {"metrics": {"aus": float("nan"), "x": float("inf")}})
    info = _strict_json(weights.with_suffix(".json").read_text())
    assert info["metrics"] == {"aus": None, "x": None}
    load_checkpoint(weights)  # a sidecar with nulls reads back


def test_dumps_json_never_writes_nan_tokens() -> None:
    value = {"a": [float("nan"), (np.float64("inf"), -math.inf)], "b": {"c": np.int64(3)}, "d": torch.tensor(float("nan"))}
    assert _strict_json(dumps_json(value)) == {"a": [None, [None, None]], "b": {"c": 3}, "d": None}


@pytest.mark.parametrize("audit", [{"verdicts": [{"status": "pass"}]}, {"verdicts": "pass"}, {"verdicts": [3]}])
def test_report_of_an_incomplete_record_is_one_line(tmp_path: Path, capsys, audit: dict[str, Any]) -> None:  # noqa: ANN001
    from engine.cli.main import main

    path = RunRecord("pour_p", spec={}, metrics={"forget_acc": float("nan")}, audit=audit).save(tmp_path / "r.json")
    assert main(["report", str(path), "--out", str(tmp_path / "r.html"), "--no-thumbnails"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: BadRecord") and len(err.splitlines()) == 1 and not (tmp_path / "r.html").exists()


def test_json_on_stdout_is_strict_too(capsys) -> None:  # noqa: ANN001
    from engine.cli.main import main

    assert main(["methods", "--json"]) == 0
    _strict_json(capsys.readouterr().out)
