"""Bring your own model: each kind of checkpoint public code writes loads through a JobSpec, and the
loaded model's logits equal its source model's (1e-5) on the same raw images, preprocessing included.

The source networks are defined in byom_layouts.py in the other code bases' own words; every
checkpoint is written here, nothing is downloaded.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from byom_layouts import (
    CLASSES,
    COMPARATOR_MEAN,
    COMPARATOR_STD,
    CifarResNet18WithHead,
    OptmlResNet18,
    SsdResNet18,
    comparator_resnet18,
    settle_batchnorm,
    standardise,
    tiny_images,
    to01,
)
from safetensors.torch import save_file
from torch import nn

from engine._core.errors import BadCheckpoint, BadSpec
from engine._core.events import drain
from engine.cli.main import main
from engine.models import create_model
from engine.models.input_norm import InputNorm
from engine.models.checkpoints import load_checkpoint, save_checkpoint
from engine.models.inspection import inspect_checkpoint
from engine.runs.normalisation import bundle_for_model
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec
from engine.train.features import extract

TOL = 1e-5


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    arrays = tiny_images()
    path = tmp_path_factory.mktemp("byom-data") / "tiny.npz"
    np.savez(path, **arrays)
    return f"npz:{path}", arrays


def logits_via_spec(dataset: str, model_field: dict[str, Any]) -> tuple[np.ndarray, str | None]:
    """The path every run takes: JobSpec -> original -> the model's normalisation -> one forward pass.

    Returns the test images' logits (N, K) and the run's normalisation note."""
    spec = JobSpec.from_json({"dataset": dataset, "model": model_field, "device": "cpu", "forget": {"classes": [1]}})
    runner = Runner(use_cache=False)
    bundle, _split = runner.load_inputs(spec)
    model, _arch, _recipe = drain(runner.load_original(spec, bundle, torch.device("cpu")))
    bundle, note = bundle_for_model(bundle, model, imported=True)
    return extract(model, bundle.x_test, bundle.mean, bundle.std).logits, note


def source_logits(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(x).numpy()


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert float(np.abs(a - b).max()) <= TOL, float(np.abs(a - b).max())
    assert (a.argmax(1) == b.argmax(1)).all()


def tiny_optml(x01: torch.Tensor) -> OptmlResNet18:
    torch.manual_seed(0)
    return settle_batchnorm(OptmlResNet18(), x01[:32])  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- OPTML: normalize inside, fc, .pth.tar


@pytest.mark.parametrize("container", ["training_pth_tar", "unlearned_pth_tar", "bare_pth"])
def test_optml_checkpoints_load_with_their_own_normalisation(images, tmp_path: Path, container: str) -> None:  # noqa: ANN001
    dataset, arrays = images
    x01 = to01(arrays["x_test"])
    src = tiny_optml(to01(arrays["x_train"]))
    sd = src.state_dict()
    path = tmp_path / {"training_pth_tar": "0model_SA_best.pth.tar", "unlearned_pth_tar": "FTcheckpoint.pth.tar",
                       "bare_pth": "optml.pth"}[container]
    if container == "training_pth_tar":
        opt = torch.optim.SGD(src.parameters(), lr=0.1, momentum=0.9)
        torch.save({"state": 0, "result": {"train_ta": [10.0]}, "epoch": 1, "state_dict": sd, "best_sa": 10.0,
                    "optimizer": opt.state_dict(), "init_weight": sd}, path)
    elif container == "unlearned_pth_tar":
        torch.save({"state_dict": sd, "evaluation_result": {"accuracy": {"retain": 90.0}}}, path)
    else:
        torch.save(sd, path)
    logits, note = logits_via_spec(dataset, {"checkpoint": str(path), "arch": "resnet18_cifar"})
    assert_same(logits, source_logits(src, x01))  # the model takes [0, 1]: its buffers became Lethe's input_norm
    assert note is not None and "buffers inside the checkpoint" in note


def test_optml_pruned_masks_are_folded(images, tmp_path: Path) -> None:  # noqa: ANN001
    from torch.nn.utils import prune

    dataset, arrays = images
    src = copy.deepcopy(tiny_optml(to01(arrays["x_train"])))
    convs = [(m, "weight") for m in src.modules() if isinstance(m, nn.Conv2d)]
    prune.global_unstructured(convs, pruning_method=prune.L1Unstructured, amount=0.5)
    assert any(k.endswith("weight_mask") for k in src.state_dict())
    torch.save({"state_dict": src.state_dict(), "evaluation_result": None}, tmp_path / "l1_sparse.pth.tar")
    logits, _ = logits_via_spec(dataset, {"checkpoint": str(tmp_path / "l1_sparse.pth.tar"), "arch": "resnet18_cifar"})
    assert_same(logits, source_logits(src, to01(arrays["x_test"])))


# ---------------------------------------------------------------------------------------------- containers and precisions


def _save_plain(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save(sd, p / "plain_state_dict.pt")
    return p / "plain_state_dict.pt"


def _save_dataparallel(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save({f"module.{k}": v for k, v in sd.items()}, p / "dataparallel.pth")
    return p / "dataparallel.pth"


def _save_compiled(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save({f"_orig_mod.{k}": v for k, v in sd.items()}, p / "compiled.pth")
    return p / "compiled.pth"


def _save_model_key(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save({"model": sd, "epoch": 3, "optimizer": {"state": {}, "param_groups": []}}, p / "wrapped_model_key.pth")
    return p / "wrapped_model_key.pth"


def _save_net_key(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save({"net": {f"module.{k}": v for k, v in sd.items()}, "acc": 91.2, "epoch": 200}, p / "ckpt.tar")
    return p / "ckpt.tar"


def _save_lightning(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save({"epoch": 3, "global_step": 100, "pytorch-lightning_version": "2.4.0",
                "state_dict": {f"model.{k}": v for k, v in sd.items()}, "hyper_parameters": {"lr": 0.1}}, p / "lightning.ckpt")
    return p / "lightning.ckpt"


def _save_safetensors(sd: dict[str, torch.Tensor], p: Path) -> Path:
    save_file({k: v.contiguous() for k, v in sd.items()}, str(p / "hf_style.safetensors"), metadata={"format": "pt"})
    return p / "hf_style.safetensors"


def _save_legacy(sd: dict[str, torch.Tensor], p: Path) -> Path:
    torch.save(sd, p / "legacy_pickle.pt", _use_new_zipfile_serialization=False)
    return p / "legacy_pickle.pt"


def _save_bin_named_safetensors(sd: dict[str, torch.Tensor], p: Path) -> Path:
    save_file({k: v.contiguous() for k, v in sd.items()}, str(p / "pytorch_model.bin"))  # content decides, not suffix
    return p / "pytorch_model.bin"


CONTAINERS: dict[str, Callable[[dict[str, torch.Tensor], Path], Path]] = {
    "plain": _save_plain, "dataparallel": _save_dataparallel, "compiled": _save_compiled, "model_key": _save_model_key,
    "net_key_tar": _save_net_key, "lightning": _save_lightning, "safetensors": _save_safetensors,
    "legacy_pickle": _save_legacy, "bin_holding_safetensors": _save_bin_named_safetensors,
}


@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_containers_load_identically(images, tmp_path: Path, container: str) -> None:  # noqa: ANN001
    dataset, arrays = images
    torch.manual_seed(1)
    src = settle_batchnorm(CifarResNet18WithHead(), standardise(to01(arrays["x_train"][:32]), [0.5], [0.25]))
    path = CONTAINERS[container](src.state_dict(), tmp_path)
    field = {"checkpoint": str(path), "arch": "resnet18_cifar", "input_norm": {"mean": [0.5], "std": [0.25]}}
    logits, note = logits_via_spec(dataset, field)
    assert_same(logits, source_logits(src, standardise(to01(arrays["x_test"]), [0.5] * 3, [0.25] * 3)))
    assert note is not None and "given in the JobSpec" in note


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_are_cast(images, tmp_path: Path, dtype: torch.dtype) -> None:  # noqa: ANN001
    dataset, arrays = images
    torch.manual_seed(2)
    src = settle_batchnorm(CifarResNet18WithHead(), to01(arrays["x_train"][:32]))
    half = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in src.state_dict().items()}
    torch.save(half, tmp_path / "half.pt")
    src.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})  # what the file holds
    logits, _ = logits_via_spec(dataset, {"checkpoint": str(tmp_path / "half.pt"), "arch": "resnet18_cifar",
                                          "input_norm": {"mean": [0.0], "std": [1.0]}})
    assert_same(logits, source_logits(src, to01(arrays["x_test"])))
    _, info = load_checkpoint(tmp_path / "half.pt", arch="resnet18_cifar", expect_input_shape=(3, 32, 32))
    assert "cast to float32" in info["dialect"]


# ---------------------------------------------------------------------------------------------- other repos' names


def test_comparator_resnet18_with_its_normalisation(images, tmp_path: Path) -> None:  # noqa: ANN001
    dataset, arrays = images
    torch.manual_seed(3)
    src = settle_batchnorm(comparator_resnet18(), standardise(to01(arrays["x_train"][:32]), COMPARATOR_MEAN, COMPARATOR_STD))
    torch.save(src.state_dict(), tmp_path / "0000.pth")
    field = {"checkpoint": str(tmp_path / "0000.pth"), "arch": "resnet18_cifar",
             "input_norm": {"mean": COMPARATOR_MEAN, "std": COMPARATOR_STD}}
    logits, _ = logits_via_spec(dataset, field)
    assert_same(logits, source_logits(src, standardise(to01(arrays["x_test"]), COMPARATOR_MEAN, COMPARATOR_STD)))
    # Without the normalisation the run says it falls back to the dataset's statistics, and predictions differ.
    other, note = logits_via_spec(dataset, {"checkpoint": str(tmp_path / "0000.pth"), "arch": "resnet18_cifar"})
    assert note is not None and "gives none" in note and "dataset's statistics" in note
    assert float(np.abs(other - logits).max()) > 1e-3


def test_ssd_pytorch_cifar100_names(images, tmp_path: Path) -> None:  # noqa: ANN001
    dataset, arrays = images
    torch.manual_seed(4)
    src = settle_batchnorm(SsdResNet18(), to01(arrays["x_train"][:32]))
    torch.save(src.state_dict(), tmp_path / "ResNet18_ssd.pth")
    logits, _ = logits_via_spec(dataset, {"checkpoint": str(tmp_path / "ResNet18_ssd.pth"), "arch": "resnet18_cifar",
                                          "input_norm": {"mean": [0], "std": [1]}})
    assert_same(logits, source_logits(src, to01(arrays["x_test"])))


@pytest.mark.parametrize("builder", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_classifiers_as_saved(images, tmp_path: Path, builder: str) -> None:  # noqa: ANN001
    dataset, arrays = images
    torch.manual_seed(5)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    src = settle_batchnorm(torchvision.models.get_model(builder, weights=None, num_classes=CLASSES),
                           standardise(to01(arrays["x_train"][:32]), mean, std))
    torch.save(src.state_dict(), tmp_path / f"{builder}.pth")
    field = {"checkpoint": str(tmp_path / f"{builder}.pth"), "arch": f"torchvision:{builder}",
             "input_norm": {"mean": mean, "std": std}}
    logits, _ = logits_via_spec(dataset, field)
    assert_same(logits, source_logits(src, standardise(to01(arrays["x_test"]), mean, std)))


def test_lethe_export_round_trip_keeps_the_normalisation(images, tmp_path: Path) -> None:  # noqa: ANN001
    """A model imported with its own normalisation and saved by Lethe reloads with it (the sidecar says so)."""
    dataset, arrays = images
    src = tiny_optml(to01(arrays["x_train"]))
    torch.save(src.state_dict(), tmp_path / "optml.pth")
    model, _ = load_checkpoint(tmp_path / "optml.pth", arch="resnet18_cifar", expect_input_shape=(3, 32, 32))
    assert model.input_norm is not None and model.input_norm.source == "checkpoint"
    save_checkpoint(model, tmp_path / "export")
    side = json.loads((tmp_path / "export.json").read_text())
    assert side["input_norm"] == {"mean": pytest.approx(side["input_norm"]["mean"]), "std": side["input_norm"]["std"]}
    assert side["input_norm"]["std"] == pytest.approx([0.2470, 0.2435, 0.2616])
    logits, note = logits_via_spec(dataset, {"checkpoint": str(tmp_path / "export.safetensors")})
    assert_same(logits, source_logits(src, to01(arrays["x_test"])))
    assert note is not None and "from its sidecar" in note


# ---------------------------------------------------------------------------------------------- refusals, each with what to do


class _Whole(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # TorchScript is deprecated: that is the point
def test_code_archives_are_refused_with_what_to_give_instead(tmp_path: Path) -> None:
    m = _Whole().eval()
    torch.save(m, tmp_path / "whole_model.pt")
    torch.jit.save(torch.jit.script(m), str(tmp_path / "torchscript.pt"))
    torch.export.save(torch.export.export(m, (torch.randn(2, 4),)), str(tmp_path / "exported.pt2"))
    expected = {"whole_model.pt": "whole pickled model", "torchscript.pt": "TorchScript archive",
                "exported.pt2": "exported program"}
    for name, phrase in expected.items():
        with pytest.raises(BadCheckpoint) as err:
            load_checkpoint(tmp_path / name, arch="mlp", expect_input_shape=(1, 2, 2))
        assert phrase in err.value.message
        assert "state_dict()" in err.value.hint  # what to provide instead
        ins = inspect_checkpoint(tmp_path / name)
        assert not ins.loads and ins.problem and phrase in ins.problem and ins.action
    assert "_Whole" in inspect_checkpoint(tmp_path / "whole_model.pt").problem  # type: ignore[operator]


def test_no_architecture_names_the_fitting_guess(tmp_path: Path) -> None:
    torch.manual_seed(6)
    torch.save(OptmlResNet18().state_dict(), tmp_path / "optml.pth")
    with pytest.raises(BadCheckpoint) as err:
        load_checkpoint(tmp_path / "optml.pth", expect_input_shape=(3, 32, 32), expect_num_classes=CLASSES)
    assert "resnet18_cifar" in err.value.message and "width=8" in err.value.message
    assert '"arch": "resnet18_cifar"' in err.value.hint


def test_a_wrong_architecture_gives_the_first_mismatch(tmp_path: Path) -> None:
    torch.save(torchvision.models.resnet18(num_classes=CLASSES).state_dict(), tmp_path / "tv.pth")
    ins = inspect_checkpoint(tmp_path / "tv.pth", arch="resnet18_cifar")
    assert not ins.loads and ins.first_mismatch is not None
    assert "conv1.weight" in ins.first_mismatch and "(64, 3, 7, 7)" in ins.first_mismatch
    assert ins.action is not None and "torchvision:resnet18" in ins.action
    ok = inspect_checkpoint(tmp_path / "tv.pth")
    assert ok.loads and ok.arch == "torchvision:resnet18" and ok.arch_from == "guess"


def test_jobspec_model_field_rules() -> None:
    JobSpec.from_json({"model": {"checkpoint": "x.pt", "arch": "resnet18_cifar", "input_norm": {"mean": [0.5], "std": [0.25]},
                                 "recipe": {"epochs": 3}}})
    with pytest.raises(BadSpec, match=r"model\.input_norm"):
        JobSpec.from_json({"model": {"checkpoint": "x.pt", "input_norm": {"mean": [0.5], "std": [0]}}})
    with pytest.raises(BadSpec, match=r"model\.input_norm"):
        JobSpec.from_json({"model": {"arch": "cnn_small", "input_norm": {"mean": [0.5], "std": [0.2]}}})
    with pytest.raises(BadSpec, match=r"model\.wrapper"):
        JobSpec.from_json({"model": {"checkpoint": "x.pt", "wrapper": "state_dict"}})
    with pytest.raises(BadSpec, match="model"):
        JobSpec.from_json({"model": {}})


# ---------------------------------------------------------------------------------------------- export for plain PyTorch


def test_export_native_names_loads_in_plain_torchvision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(7)
    for arch, plain in (("torchvision:mobilenet_v3_small", lambda: torchvision.models.mobilenet_v3_small(num_classes=CLASSES)),
                        ("resnet18_cifar", lambda: comparator_resnet18(CLASSES))):
        model = create_model(arch, 3, (32, 32), CLASSES)
        model.logit_mask = [1]
        model.input_norm = InputNorm((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
        stem = tmp_path / arch.replace(":", "_")
        save_checkpoint(model, stem)
        assert main(["export", str(stem) + ".safetensors", "--out", str(stem) + "_plain.pt"]) == 0
        side = json.loads(Path(str(stem) + "_plain.json").read_text())
        assert side["logit_mask"] == [1] and side["input_norm"]["std"] == [0.25] * 3
        net = plain().eval()
        net.load_state_dict(torch.load(str(stem) + "_plain.pt", weights_only=True))  # strict: every name matches
        x = torch.randn(3, 3, 32, 32)
        with torch.no_grad():
            expected = model.eval()(x)
            got = net(x)
        got[:, side["logit_mask"]] = -1e9
        assert float((got - expected).abs().max()) <= TOL
    assert "head.* -> fc.*" in capsys.readouterr().out


@pytest.mark.parametrize("name, kw", [("resnet18", {}), ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 4})])
def test_timm_models_when_timm_is_installed(images, tmp_path: Path, name: str, kw: dict[str, Any]) -> None:  # noqa: ANN001
    timm = pytest.importorskip("timm")  # optional: Lethe does not depend on timm
    dataset, arrays = images
    torch.manual_seed(8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    src = settle_batchnorm(timm.create_model(name, num_classes=CLASSES, **kw), standardise(to01(arrays["x_train"][:32]), mean, std))
    torch.save(src.state_dict(), tmp_path / f"timm_{name}.pth")
    field = {"checkpoint": str(tmp_path / f"timm_{name}.pth"), "arch": f"timm:{name}", "input_norm": {"mean": mean, "std": std}}
    logits, _ = logits_via_spec(dataset, field)  # a ViT's image and patch size come from the data and the weights
    assert_same(logits, source_logits(src, standardise(to01(arrays["x_test"]), mean, std)))
