"""Registry presets (``MethodInfo.presets``): named overrides of the paper defaults, e.g. "small" for
digits-scale data. Every preset validates; a JobSpec may name one; the runner merges it under the
spec's own params and says so in a Log event."""
from __future__ import annotations

import dataclasses
import json

import pytest

from engine._core.errors import BadSpec
from engine._core.events import Log
from engine.runs.spec import JobSpec
from engine.methods import available, get
from engine.methods.base import NoParams, params_from_json, params_to_json
from engine.methods.registry import PAPER, SMALL, MethodInfo, preset_names, register


@pytest.mark.parametrize("name", available())
def test_every_preset_names_real_fields_and_validates(name: str) -> None:
    info = get(name)
    fields = {f.name for f in dataclasses.fields(info.params)}
    assert PAPER not in info.presets
    for preset, values in info.presets.items():
        assert values, f"{name}: preset {preset!r} is empty"
        assert set(values) <= fields, f"{name}: preset {preset!r} names unknown fields {set(values) - fields}"
        p = params_from_json(info.params, values)  # types and bounds
        assert p == info.params_for(preset)
        for k, v in values.items():
            assert getattr(p, k) == v
            assert v != getattr(info.default_params(), k), f"{name}.{k}: the {preset!r} value equals the default"
    assert info.describe()["presets"] == info.presets
    json.dumps(info.describe())  # the CLI's `methods --json`


@pytest.mark.parametrize("name", available())
def test_paper_none_and_a_missing_preset_give_the_defaults(name: str) -> None:
    info = get(name)
    assert info.params_for(None) == info.params_for(PAPER) == info.params_for("no-such-preset") == info.default_params()


def test_methods_whose_paper_defaults_forget_nothing_on_digits_have_a_small_preset() -> None:
    # measured with `python -m engine bench methods --forget class:3` (paper defaults)
    for name in ("random_label", "salun", "bad_teacher", "scrub", "laf", "l1_sparse", "grad_ascent", "ssd"):
        assert SMALL in get(name).presets, name
    for name in ("pour_p", "retrain", "finetune"):
        assert not get(name).presets, name
    assert get("pour_d").presets == {SMALL: {"project_forget_rows": True}}  # paper loss: ~9 % on the class's test images (issue 12)
    assert preset_names() == [PAPER, SMALL]


def test_register_rejects_a_preset_outside_the_bounds_or_named_paper() -> None:
    @dataclasses.dataclass(frozen=True)
    class P:
        lr: float = dataclasses.field(default=0.1, metadata={"min": 0.0, "max": 1.0})

    with pytest.raises(BadSpec, match=r"params\.lr"):
        register("_preset_test_bad", P, description="x", presets={"small": {"lr": 5.0}})(lambda ctx, p: None)
    with pytest.raises(BadSpec, match=r"params\.momentum"):
        register("_preset_test_unknown", P, description="x", presets={"small": {"momentum": 0.9}})(lambda ctx, p: None)
    with pytest.raises(ValueError, match="reserved"):
        register("_preset_test_paper", NoParams, description="x", presets={"paper": {}})(lambda ctx, p: None)
    assert not {"_preset_test_bad", "_preset_test_unknown", "_preset_test_paper"} & set(available())
    assert hash(MethodInfo("x", lambda c, p: None, NoParams, "d", presets={"small": {}}))  # still hashable


def test_job_spec_preset_is_optional_validated_and_round_trips() -> None:
    assert "preset" not in JobSpec().to_json()  # old specs read and write the same
    assert JobSpec.from_json({"method": "ssd"}).preset is None
    spec = JobSpec.from_json({"method": "ssd", "preset": "small", "params": {"lam": 0.5}})
    assert spec.preset == "small" and spec.to_json()["preset"] == "small"
    assert JobSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert JobSpec.from_json({"preset": "paper"}).preset == "paper"
    with pytest.raises(BadSpec, match=r"^preset: 'huge' is not a known preset"):
        JobSpec.from_json({"preset": "huge"})
    with pytest.raises(BadSpec, match=r"^preset:"):
        JobSpec.from_json({"preset": 3})


def _quick(method: str, **kw) -> JobSpec:  # noqa: ANN003
    return JobSpec(method=method, reference=None, evaluate=False, geometry=False, audit=False, **kw)


def test_the_runner_merges_the_preset_under_the_spec_params_and_logs_it(runner) -> None:  # noqa: ANN001
    events = list(runner.run(_quick("ssd", preset="small", params={"lam": 0.5})))
    record = events[-1].record
    assert record.params["alpha"] == get("ssd").presets["small"]["alpha"]  # from the preset
    assert record.params["lam"] == 0.5  # the spec's own value
    assert record.spec["preset"] == "small"
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("'small' preset" in m and "alpha" in m for m in logs), logs

    record = runner.run_to_record(_quick("ssd", preset="small", params={"alpha": 120.0}))
    assert record.params["alpha"] == 120.0  # the spec overrides the preset


def test_a_method_without_the_preset_runs_with_its_defaults_and_says_so(runner) -> None:  # noqa: ANN001
    events = list(runner.run(_quick("pour_p", preset="small")))
    assert events[-1].record.params == params_to_json(get("pour_p").default_params())
    assert any(isinstance(e, Log) and "has no 'small' preset" in e.message for e in events)


def test_an_unknown_preset_fails_the_job_naming_the_field(runner) -> None:  # noqa: ANN001
    failed = list(runner.run(_quick("ssd", preset="huge")))[-1]
    assert failed.kind == "BadSpec" and failed.message.startswith("preset:")
