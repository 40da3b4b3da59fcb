"""Bring your own model, end to end: POUR-P and two baselines on an imported ResNet-18-style checkpoint
(OPTML layout, normalisation inside the model) and on ``torchvision:mobilenet_v3_small``; the
normalisation in force is logged and recorded; a recipe given beside the checkpoint trains Retrain."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from byom_layouts import CLASSES, OptmlResNet18, settle_batchnorm, standardise, tiny_images, to01

from engine._core.events import Failed, Finished, Log
from engine.models.checkpoints import load_checkpoint
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

SIZE = 16  # small images keep every run here a few seconds on a busy CPU
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("byom-runs") / "tiny.npz"
    np.savez(path, **tiny_images(size=SIZE))
    return f"npz:{path}"


@pytest.fixture(scope="module")
def optml_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny OPTML ResNet-18 (BatchNorm calibrated, fc fitted on frozen features), saved as their .pth.tar."""
    arrays = tiny_images(size=SIZE)
    torch.manual_seed(0)
    model = OptmlResNet18()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration pass
    x, y = to01(arrays["x_train"]), torch.as_tensor(arrays["y_train"])
    settle_batchnorm(model, x)
    feats: list[torch.Tensor] = []
    hook = model.fc.register_forward_hook(lambda _m, inp, _o: feats.append(inp[0]))
    with torch.no_grad():
        model(x)
    hook.remove()
    opt = torch.optim.Adam(model.fc.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model.fc(feats[0]), y).backward()
        opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("optml") / "0model_SA_best.pth.tar"
    torch.save({"state_dict": model.state_dict(), "epoch": 15, "best_sa": 0.0}, path)
    return path


@pytest.fixture(scope="module")
def mobilenet_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arrays = tiny_images(size=SIZE)
    torch.manual_seed(0)
    model = settle_batchnorm(torchvision.models.mobilenet_v3_small(num_classes=CLASSES),
                             standardise(to01(arrays["x_train"]), IMAGENET["mean"], IMAGENET["std"]))
    path = tmp_path_factory.mktemp("tv") / "mobilenet_v3_small_4.pth"
    torch.save(model.state_dict(), path)
    return path


def run(spec: JobSpec, out: Path | None = None) -> tuple[Finished, list[str]]:
    logs: list[str] = []
    finished = None
    for ev in Runner(use_cache=False, threads=1).run(spec, out_dir=out):
        if isinstance(ev, Log):
            logs.append(ev.message)
        if isinstance(ev, Finished):
            finished = ev
        assert not isinstance(ev, Failed), f"{ev.kind}: {ev.message}"
    assert finished is not None, logs
    return finished, logs


@pytest.mark.parametrize("method, params", [("pour_p", {}), ("finetune", {"epochs": 1}), ("grad_ascent", {"epochs": 1})])
def test_imported_optml_resnet_unlearns(dataset: str, optml_ckpt: Path, tmp_path: Path, method: str,
                                        params: dict[str, object]) -> None:
    spec = JobSpec.from_json({"dataset": dataset, "model": {"checkpoint": str(optml_ckpt), "arch": "resnet18_cifar"},
                              "forget": {"classes": [1]}, "method": method, "params": params, "reference": None,
                              "device": "cpu", "audit": False})
    finished, logs = run(spec, tmp_path / "out")
    rec = finished.record
    assert rec.dataset["input_norm"]["source"] == "checkpoint"
    assert rec.dataset["input_norm"]["std"] == pytest.approx([0.2470, 0.2435, 0.2616])
    assert any("buffers inside the checkpoint" in line for line in logs)
    assert any("normalize.mean/std buffers" in line for line in logs)  # the one line saying what was mapped
    original = rec.reference("original")
    assert original is not None and original.metrics["test_acc"] > 0.5  # the imported model works in Lethe
    if method == "pour_p":
        assert rec.metrics["forget_acc"] == 0.0 and rec.metrics["test_forget_acc"] == 0.0
    # the export records the normalisation it was used with, and reloads to the same predictions
    side = json.loads((tmp_path / "out" / "unlearned.json").read_text())
    assert side["input_norm"]["mean"] == pytest.approx([0.4914, 0.4822, 0.4465])
    model, _ = load_checkpoint(tmp_path / "out" / "unlearned.safetensors")
    assert model.input_norm is not None and model.input_norm.std == pytest.approx((0.2470, 0.2435, 0.2616))


@pytest.mark.parametrize("method, params", [("pour_p", {}), ("finetune", {"epochs": 1}), ("grad_ascent", {"epochs": 1})])
def test_torchvision_mobilenet_unlearns(dataset: str, mobilenet_ckpt: Path, method: str, params: dict[str, object]) -> None:
    spec = JobSpec.from_json({"dataset": dataset, "model": {"checkpoint": str(mobilenet_ckpt),
                                                            "arch": "torchvision:mobilenet_v3_small",
                                                            "input_norm": IMAGENET},
                              "forget": {"classes": [2]}, "method": method, "params": params, "reference": None,
                              "device": "cpu", "audit": False, "evaluate": False})  # rMIA on 1024-d features: slow
    finished, logs = run(spec)
    rec = finished.record
    assert rec.dataset["input_norm"]["source"] == "spec"
    assert any("given in the JobSpec" in line for line in logs)
    assert np.isfinite(rec.metrics["retain_acc"])
    if method == "pour_p":
        assert rec.metrics["forget_acc"] == 0.0 and rec.metrics["test_forget_acc"] == 0.0
        assert rec.metrics["retain_acc"] >= rec.reference("original").metrics["retain_acc"] - 0.25  # type: ignore[union-attr]


def test_a_checkpoint_without_normalisation_says_the_dataset_statistics_are_used(dataset: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(num_classes=CLASSES).state_dict(), tmp_path / "tv.pth")
    spec = JobSpec.from_json({"dataset": dataset, "model": {"checkpoint": str(tmp_path / "tv.pth"), "arch": "torchvision:resnet18"},
                              "method": "pour_p", "forget": {"classes": [0]}, "reference": None, "device": "cpu",
                              "audit": False, "geometry": False, "evaluate": False})
    finished, logs = run(spec)
    note = next(line for line in logs if line.startswith("input normalisation"))
    assert "gives none" in note and "dataset's statistics" in note
    assert note in finished.record.notes
    assert finished.record.dataset["input_norm"]["source"] == "dataset"


def test_a_recipe_beside_the_checkpoint_trains_the_retrain_reference(dataset: str, optml_ckpt: Path) -> None:
    recipe = {"epochs": 1, "lr": 0.01, "batch_size": 32}
    spec = JobSpec.from_json({"dataset": dataset, "model": {"checkpoint": str(optml_ckpt), "arch": "resnet18_cifar",
                                                            "recipe": recipe},
                              "method": "pour_p", "forget": {"classes": [1]}, "reference": "retrain", "device": "cpu",
                              "audit": False, "geometry": False, "evaluate": False})
    finished, _logs = run(spec)
    note = next(n for n in finished.record.notes if n.startswith("reference:"))
    assert "the recipe given in the JobSpec" in note and '"epochs": 1' in note and '"lr": 0.01' in note
    assert "input normalisation" in note
    assert finished.record.reference("retrain") is not None


def test_without_a_recipe_the_record_names_the_default_the_reference_used(dataset: str, tmp_path: Path) -> None:
    from engine.models import create_model

    torch.manual_seed(2)
    torch.save(create_model("mlp", 3, (SIZE, SIZE), CLASSES).state_dict(), tmp_path / "small.pt")
    spec = JobSpec.from_json({"dataset": dataset, "model": {"checkpoint": str(tmp_path / "small.pt"), "arch": "mlp"},
                              "method": "finetune", "params": {"epochs": 1}, "forget": {"classes": [1]},
                              "reference": "retrain", "device": "cpu", "audit": False, "geometry": False, "evaluate": False})
    finished, _ = run(spec)
    note = next(n for n in finished.record.notes if n.startswith("reference:"))
    assert "Lethe's default recipe for mlp (the checkpoint gives none)" in note and '"epochs": 15' in note


def test_the_reference_is_trained_with_the_model_normalisation_and_cached_apart(dataset: str, optml_ckpt: Path) -> None:
    """Two normalisations of one checkpoint give two Retrain references (memory and disk caches keyed apart)."""
    runner = Runner(threads=1)  # caches on (the test session's private cache folder)
    base = {"dataset": dataset, "method": "pour_p", "forget": {"classes": [1]}, "reference": "retrain", "device": "cpu",
            "audit": False, "geometry": False, "evaluate": False}
    model = {"checkpoint": str(optml_ckpt), "arch": "resnet18_cifar", "recipe": {"epochs": 1, "batch_size": 64}}
    weights = []
    for norm in ({"mean": [0.5], "std": [0.25]}, {"mean": [0.2], "std": [0.5]}, {"mean": [0.5], "std": [0.25]}):
        rec = runner.run_to_record(JobSpec.from_json({**base, "model": {**model, "input_norm": norm}}))
        retrain = rec.reference("retrain")
        assert retrain is not None and retrain.model.input_norm.std[0] == norm["std"][0]
        weights.append(retrain.model.state_dict()["head.weight"].clone())
    assert not torch.equal(weights[0], weights[1])  # trained on differently normalised pixels
    assert torch.equal(weights[0], weights[2])  # the same normalisation again: the cached reference
