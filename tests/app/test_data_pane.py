"""The Data pane explains architectures, suggests one for the chosen images and shows where a
relative Location points."""
from __future__ import annotations

import numpy as np
import pytest

from app.panes.data_pane import DataPane
from app.panes.model_guide import npz_shape, suggest_arch


@pytest.fixture
def pane(qtbot):  # noqa: ANN001, ANN201
    p = DataPane()
    qtbot.addWidget(p)
    return p


def _choose(pane: DataPane, scheme: str) -> None:
    pane.source_box.setCurrentIndex(pane.source_box.findData(scheme))


def test_every_architecture_is_described(pane) -> None:  # noqa: ANN001
    built_in = {"cnn_small", "convnet", "mlp", "resnet18_cifar"}
    names = [pane.arch_box.itemData(i) for i in range(pane.arch_box.count())]
    assert built_in <= set(names)
    for i, name in enumerate(names):
        tip = pane.arch_box.itemData(i, 3)  # Qt.ToolTipRole
        assert tip, name  # every entry, plugins' too (other tests register some)
        if name in built_in:
            assert "parameters" in tip, name
    assert "parameters" in pane.arch_note.text() and "digits" in pane.arch_note.text()


def test_the_suggestion_follows_the_images() -> None:
    assert suggest_arch(1, 8)[0] == "cnn_small"
    assert suggest_arch(3, 28)[0] == "cnn_small"  # MedMNIST
    assert suggest_arch(3, 32) == ("convnet", "32×32 colour images")


def test_choosing_cifar_suggests_convnet_and_digits_cnn_small(pane) -> None:  # noqa: ANN001
    _choose(pane, "cifar10")
    assert pane.arch_box.currentData() == "convnet"
    assert pane.arch_note.text().startswith("Suggested for 32×32 colour images.")
    assert "data folder" in pane.path_note.text()  # an empty Location: where it reads instead
    _choose(pane, "digits")
    assert pane.arch_box.currentData() == "cnn_small"
    pane.arch_box.setCurrentIndex(pane.arch_box.findData("mlp"))  # the person's own choice stands
    assert not pane.arch_note.text().startswith("Suggested") and pane.arch_box.currentData() == "mlp"


def test_a_relative_npz_location_is_resolved_and_its_images_decide_the_suggestion(pane, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    x = np.zeros((4, 32, 32, 3), np.uint8)
    np.savez(tmp_path / "cifar_subset.npz", x_train=x, y_train=np.arange(4), x_test=x, y_test=np.arange(4))
    assert npz_shape(tmp_path / "cifar_subset.npz") == (3, 32)
    _choose(pane, "npz")
    assert pane.arch_box.currentData() == "cnn_small"  # nothing to go by yet
    pane.path_edit.setText("cifar_subset.npz")
    assert pane.arch_box.currentData() == "convnet"
    note = pane.path_note.text()
    assert str(tmp_path / "cifar_subset.npz") in note and "relative to the folder Lethe started in" in note
    pane.path_edit.setText("missing.npz")
    assert pane.path_note.text().endswith("not found")
