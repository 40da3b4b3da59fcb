"""The studio's import dialog: a checkpoint without a sidecar asks for its architecture and normalisation,
prefilled by Lethe's reading of the file; a Lethe checkpoint goes straight to loading."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from app.panes.data_pane import DataPane, source_string
from engine.models import create_model
from engine.models.checkpoints import save_checkpoint


class _Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4914, 0.4822, 0.4465]))
        self.register_buffer("std", torch.tensor([0.2470, 0.2435, 0.2616]))


def _optml_like_state(classes: int = 10) -> dict[str, torch.Tensor]:
    """Lethe's resnet18_cifar at width 4, saved the OPTML way: `normalize` buffers and an `fc` head."""
    state = create_model("resnet18_cifar", 3, (32, 32), classes, width=4).state_dict()
    out = {f"normalize.{k}": v for k, v in _Normalize().state_dict().items()}
    out.update({("fc." + k[5:] if k.startswith("head.") else k): v for k, v in state.items()})
    return out


def test_a_bare_checkpoint_opens_the_dialog_prefilled(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    torch.save({"state_dict": _optml_like_state(), "epoch": 1}, tmp_path / "0model_SA_best.pth.tar")
    pane = DataPane()
    qtbot.addWidget(pane)
    pane._classes = [f"c{i}" for i in range(10)]
    dialog = pane.import_dialog(str(tmp_path / "0model_SA_best.pth.tar"))
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert dialog.arch_box.currentText() == "resnet18_cifar"
    assert "c0, c1" in dialog.classes_edit.text()
    assert dialog.norm_box.currentText() == "from the checkpoint's own buffers"
    field = dialog.model_field()
    assert field["arch"] == "resnet18_cifar"
    assert field["input_norm"]["std"] == [0.247, 0.2435, 0.2616]
    dialog.norm_box.setCurrentIndex(dialog.norm_box.findText("the dataset's own statistics"))
    assert "input_norm" not in dialog.model_field()  # the dataset's statistics: nothing to pass


def test_a_lethe_checkpoint_needs_no_dialog(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    path = save_checkpoint(create_model("cnn_small", 1, (8, 8), 10), tmp_path / "orig")
    pane = DataPane()
    qtbot.addWidget(pane)
    assert pane.import_dialog(str(path)) is None
    assert pane.confirm_checkpoint(str(path)) == {"checkpoint": str(path)}


def test_the_medmnist_folder_travels_in_the_source_string() -> None:
    assert source_string("medmnist", "/data/med", "PathMNIST", 64) == "medmnist:pathmnist@64:/data/med"
    assert source_string("medmnist", "", "pathmnist", 28) == "medmnist:pathmnist@28"
