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


def test_a_did_it_move_warning_stays_until_the_next_run(pane) -> None:  # noqa: ANN001
    pane.set_busy(True)
    pane.show_warning("Did it move? After 30 % of its budget, Fine-tune has changed neither ...")
    assert not pane.warning_label.isHidden() and "Fine-tune" in pane.warning_label.text()
    pane.set_progress(0.5, "unlearn", "step 10/20")  # progress does not wipe it
    pane.set_busy(False)
    assert not pane.warning_label.isHidden()  # still readable after the run ends
    pane.set_busy(True)  # the next run starts
    assert pane.warning_label.isHidden() and pane.warning_label.text() == ""


def test_a_label_says_which_values_the_form_holds_and_the_buttons_switch_them(qtbot, pane) -> None:  # noqa: ANN001
    name = WITH_SMALL[0]
    pane.select_method(name)
    assert pane.preset_state() == "paper" and "Paper defaults" in pane.preset_label.text()
    assert pane.reset_button.isChecked() and not pane.preset_button.isChecked()
    qtbot.mouseClick(pane.preset_button, Qt.MouseButton.LeftButton)
    assert pane.preset_state() == "small" and "Preset: small (digits-scale)" in pane.preset_label.text()
    assert pane.preset_button.isChecked() and not pane.reset_button.isChecked()
    qtbot.mouseClick(pane.preset_button, Qt.MouseButton.LeftButton)  # clicking the active one keeps it
    assert pane.preset_button.isChecked()
    key, value = next(iter(registry.get(name).presets["small"].items()))
    editor = pane.form.editors[key]
    if hasattr(editor, "setValue"):  # an edit by hand: neither preset any more
        editor.setValue(editor.value() + 1 if isinstance(value, int) else editor.value() * 2)
        assert pane.preset_state() == "custom" and "your own values" in pane.preset_label.text()
        assert not pane.preset_button.isChecked() and not pane.reset_button.isChecked()
    qtbot.mouseClick(pane.reset_button, Qt.MouseButton.LeftButton)
    assert pane.preset_state() == "paper" and pane.reset_button.isChecked()
