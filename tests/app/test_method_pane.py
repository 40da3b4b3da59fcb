"""The method pane's "Small-data preset" button fills the form with the registry's "small" preset."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.panes.method_pane import MethodPane
from engine.methods import registry
from engine.methods.base import params_from_json

WITH_SMALL = [n for n in registry.available() if "small" in registry.get(n).presets]


@pytest.fixture
def pane(qtbot):  # noqa: ANN001, ANN201
    p = MethodPane()
    qtbot.addWidget(p)
    return p


@pytest.mark.parametrize("name", WITH_SMALL)
def test_the_small_preset_button_fills_the_form_with_defaults_plus_the_preset(qtbot, pane, name: str) -> None:  # noqa: ANN001
    info = registry.get(name)
    pane.select_method(name)
    assert pane.preset_button.isEnabled()
    for key, value in info.presets["small"].items():
        assert f"{key} = {value!r}" in pane.preset_button.toolTip()
    pane.form.set_values({"batch_size": 7} if "batch_size" in pane.form.editors else {})  # an edit the preset must undo
    qtbot.mouseClick(pane.preset_button, Qt.MouseButton.LeftButton)
    assert params_from_json(info.params, pane.form.values()) == info.params_for("small")
    assert params_from_json(info.params, pane.job_options()["params"]) == info.params_for("small")
    pane.reset_button.click()
    assert params_from_json(info.params, pane.form.values()) == info.default_params()


def test_the_button_is_disabled_for_methods_without_a_small_preset(pane) -> None:  # noqa: ANN001
    assert pane.method() == "pour_p" and not registry.get("pour_p").presets
    assert not pane.preset_button.isEnabled()
    assert "no small-data preset" in pane.preset_button.toolTip()
    pane.select_method(WITH_SMALL[0])
    assert pane.preset_button.isEnabled()
    pane.select_method("finetune")
    assert not pane.preset_button.isEnabled()


def test_on_small_data_selecting_a_method_starts_from_its_small_preset(pane) -> None:  # noqa: ANN001
    pane.set_prefer_small_preset(True)
    pane.select_method("random_label")
    info = registry.get("random_label")
    assert params_from_json(info.params, pane.form.values()) == info.params_for("small")
    pane.select_method("finetune")  # no preset: paper defaults
    assert params_from_json(registry.get("finetune").params, pane.form.values()) == registry.get("finetune").default_params()
    pane.set_prefer_small_preset(False)
    pane.select_method("random_label")
    assert params_from_json(info.params, pane.form.values()) == info.default_params()
