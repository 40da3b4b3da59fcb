"""Hyperparameter forms are generated from Params dataclasses and round-trip their values."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from app.forms import ParamsForm
from engine.methods import registry
from engine.methods.base import param, params_from_json


@dataclass(frozen=True)
class ToyParams:
    steps: int = param(200, "How many steps.", min=1, max=5000)
    lr: float = param(0.01, "Learning rate.", min=1e-6, max=1.0)
    mask: bool = param(True, "Mask logits.")
    direction: str = param("head", "Which direction.", choices=("head", "class_mean"))


def test_each_field_type_gets_its_widget_with_bounds_and_tooltip(qtbot) -> None:
    form = ParamsForm(ToyParams)
    qtbot.addWidget(form)
    ed = form.editors
    assert isinstance(ed["steps"], QSpinBox) and (ed["steps"].minimum(), ed["steps"].maximum()) == (1, 5000)
    assert isinstance(ed["lr"], QDoubleSpinBox) and ed["lr"].minimum() == pytest.approx(1e-6)
    assert ed["lr"].decimals() >= 6
    assert isinstance(ed["mask"], QCheckBox)
    assert isinstance(ed["direction"], QComboBox) and ed["direction"].count() == 2
    assert "Learning rate." in ed["lr"].toolTip()
    assert form.values() == {"steps": 200, "lr": 0.01, "mask": True, "direction": "head"}


def test_values_round_trip_and_reset_restores_defaults(qtbot) -> None:
    form = ParamsForm(ToyParams)
    qtbot.addWidget(form)
    new = {"steps": 42, "lr": 0.003, "mask": False, "direction": "class_mean"}
    form.set_values(new)
    assert form.values() == new
    assert form.changed_values() == new
    form.reset()
    assert form.values() == {"steps": 200, "lr": 0.01, "mask": True, "direction": "head"}
    assert form.changed_values() == {}


@pytest.mark.parametrize("name", registry.available())
def test_every_registered_method_gets_a_form_whose_values_the_engine_accepts(qtbot, name: str) -> None:
    info = registry.get(name)
    form = ParamsForm(info.params)
    qtbot.addWidget(form)
    assert params_from_json(info.params, form.values()) == info.default_params()


def test_float_fields_show_significant_digits_and_accept_scientific_notation(qtbot) -> None:
    from PySide6.QtGui import QValidator

    from app.forms import significant

    assert [significant(v) for v in (0.01, 0.0005, 1e-5, 0.013, 100.0, 1e6, 0.0)] == \
        ["0.01", "0.0005", "1e-5", "0.013", "100", "1e6", "0"]
    form = ParamsForm(ToyParams)
    qtbot.addWidget(form)
    lr = form.editors["lr"]
    assert lr.text() == "0.01"  # not "0.01000000"
    lr.setValue(3e-4)
    assert lr.text() == "0.0003" and form.values()["lr"] == pytest.approx(3e-4)
    assert lr.validate("3e-4", 4)[0] == QValidator.State.Acceptable
    assert lr.validate("3e-", 3)[0] == QValidator.State.Intermediate
    assert lr.validate("abc", 3)[0] == QValidator.State.Invalid
    assert lr.valueFromText("2.5e-3") == pytest.approx(2.5e-3)
    lr.setValue(1e-8)  # below the field's minimum: clamped, never rounded to 0
    assert form.values()["lr"] == pytest.approx(1e-6)
