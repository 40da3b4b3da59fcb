"""The shared hyperparameter mixins (engine.methods._params) and the bounds every Params field keeps."""
from __future__ import annotations

import dataclasses
import math

import pytest

from engine.methods import available, get
from engine.methods._params import MaskParams, SGDParams
from engine.train.loop import OptimSpec


@pytest.mark.parametrize("method", available())
def test_every_numeric_field_has_finite_bounds_around_its_default(method: str) -> None:
    for f in dataclasses.fields(get(method).params):
        if isinstance(f.default, bool) or not isinstance(f.default, (int, float)):
            continue
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        assert lo is not None and hi is not None, f"{method}.{f.name} has no bounds"
        assert math.isfinite(lo) and math.isfinite(hi) and lo <= f.default <= hi, f"{method}.{f.name}: [{lo}, {hi}]"


def test_the_mixins_give_their_fields_and_the_sgd_spec_to_the_methods() -> None:
    sgd = [m for m in available() if issubclass(get(m).params, SGDParams)]
    masked = [m for m in available() if issubclass(get(m).params, MaskParams)]
    assert {"finetune", "grad_ascent", "random_label", "salun", "amun", "pour_d"} <= set(sgd)
    assert {"grad_ascent", "scrub", "bad_teacher", "trw", "amun"} <= set(masked)
    p = get("grad_ascent").params_for("small")
    assert p.sgd(min_steps=p.min_steps) == OptimSpec("sgd", lr=1e-3, momentum=0.9, weight_decay=5e-4, epochs=5, min_steps=100)
    assert get("neggrad_plus").default_params().sgd().weight_decay == 0.0  # its own default, not the mixin's
    assert get("pour_d").default_params().sgd(nesterov=True, schedule="cosine").nesterov
