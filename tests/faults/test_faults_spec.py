"""Hostile job specs end in one LetheError naming the field, at parse time; the fuzzer's findings stay
fixed; a run whose trainings would take hours asks for confirmation first."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine._core.cancel import CancelToken
from engine._core.errors import BadForgetSet, BadSpec, LetheError, NeedsConfirmation, UnknownName
from engine._core.events import Failed, Finished, Progress
from engine.cli.main import main
from engine.methods import available, get
from engine.runs import budget
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

from faultkit import FINDINGS

BASE: dict[str, Any] = {"schema_version": 1, "dataset": "digits", "model": {"arch": "mlp", "recipe": {"epochs": 1}},
                        "forget": {"classes": [3]}, "method": "pour_p", "reference": None, "device": "cpu",
                        "evaluate": False, "geometry": False, "audit": False}
NAN, INF = float("nan"), float("inf")
RECIPE = {"arch": "cnn_small"}

HOSTILE: list[tuple[dict[str, Any], type[LetheError], str]] = [
    ({"seed": -1}, BadSpec, "seed"), ({"seed": 2**32}, BadSpec, "seed"), ({"seed": 2**64}, BadSpec, "seed"),
    ({"seed": 1.5}, BadSpec, "seed"), ({"seed": True}, BadSpec, "seed"), ({"seed": None}, BadSpec, "seed"),
    ({"schema_version": True}, BadSpec, "schema_version"), ({"schema_version": "1"}, BadSpec, "schema_version"),
    ({"dataset": 3}, BadSpec, "dataset"), ({"dataset": "npz:a\x00b"}, UnknownName, "NUL"),
    ({"dataset": ""}, UnknownName, "dataset"), ({"confirm_cost": "yes"}, BadSpec, "confirm_cost"),
    ({"model": {"checkpoint": None}}, BadSpec, "model.checkpoint"), ({"model": {"checkpoint": 5}}, BadSpec, "model.checkpoint"),
    ({"model": {"checkpoint": ""}}, BadSpec, "model.checkpoint"), ({"model": {"checkpoint": "a\x00b"}}, BadSpec, "model.checkpoint"),
    ({"model": {"checkpoint": "m.safetensors", "recipe": "fast"}}, BadSpec, "model.recipe"),  # a recipe beside a checkpoint trains Retrain: it must be an object
    ({"model": {"arch": 3}}, BadSpec, "model.arch"), ({"model": {"arch": "nope"}}, UnknownName, "nope"),
    ({"model": "cnn_small"}, BadSpec, "model"),
    ({"model": {**RECIPE, "recipe": "fast"}}, BadSpec, "recipe"), ({"model": {**RECIPE, "recipe": []}}, BadSpec, "recipe"),
    ({"model": {**RECIPE, "recipe": {"epochs": 1.5}}}, BadSpec, "recipe.epochs"),
    ({"model": {**RECIPE, "recipe": {"epochs": 10**12}}}, BadSpec, "recipe.epochs"),
    ({"model": {**RECIPE, "recipe": {"epochs": 0}}}, BadSpec, "recipe.epochs"),
    ({"model": {**RECIPE, "recipe": {"epochs": True}}}, BadSpec, "recipe.epochs"),
    ({"model": {**RECIPE, "recipe": {"batch_size": 0}}}, BadSpec, "recipe.batch_size"),
    ({"model": {**RECIPE, "recipe": {"batch_size": 10**9}}}, BadSpec, "recipe.batch_size"),
    ({"model": {**RECIPE, "recipe": {"weight_decay": -5.0}}}, BadSpec, "recipe.weight_decay"),
    ({"model": {**RECIPE, "recipe": {"momentum": 1.0}}}, BadSpec, "recipe.momentum"),
    ({"model": {**RECIPE, "recipe": {"optimizer": ["sgd"]}}}, BadSpec, "recipe.optimizer"),
    ({"forget": {"ids": [2**63]}}, BadForgetSet, "forget ids"), ({"forget": {"ids": [1.5]}}, BadForgetSet, "forget ids"),
    ({"forget": {"fraction": NAN}}, BadForgetSet, "forget fraction"),
    ({"forget": {"fraction": 0.1, "seed": -1}}, BadForgetSet, "forget seed"),
    ({"forget": {"fraction": 0.1, "seed": 2**40}}, BadForgetSet, "forget seed"),
    ({"params": []}, BadSpec, "params"), ({"method": "nope"}, UnknownName, "nope"),
] + [
    ({"model": {**RECIPE, "recipe": {name: bad}}}, BadSpec, f"recipe.{name}")
    for name in ("lr", "momentum", "weight_decay") for bad in (NAN, INF, -INF, "0.1", True, None, 1e300)
]


@pytest.mark.parametrize(("change", "kind", "named"), HOSTILE, ids=[repr(c)[:60] for c, _, _ in HOSTILE])
def test_a_hostile_field_is_one_line_naming_it(change: dict[str, Any], kind: type[LetheError], named: str) -> None:
    with pytest.raises(kind) as info:
        JobSpec.from_json({**BASE, **change})
    assert named in info.value.message and "\n" not in info.value.one_line()


def _fields(kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(m, f.name) for m in available() for f in dataclasses.fields(get(m).params)
            if (f.type if isinstance(f.type, str) else f.type.__name__) in kinds]


@pytest.mark.parametrize(("method", "name"), _fields(("float",)))
@pytest.mark.parametrize("bad", [NAN, INF, -INF, "0.1", True, None, [], 10**400])
def test_every_float_hyperparameter_refuses_non_finite_and_non_numbers(method: str, name: str, bad: Any) -> None:
    with pytest.raises(BadSpec, match=f"params.{name}"):
        JobSpec.from_json({**BASE, "method": method, "params": {name: bad}})


@pytest.mark.parametrize(("method", "name"), _fields(("int",)))
@pytest.mark.parametrize("bad", [1.5, NAN, "3", True, 2**40, 10**400])
def test_every_integer_hyperparameter_refuses_fractions_and_absurd_sizes(method: str, name: str, bad: Any) -> None:
    with pytest.raises(BadSpec, match=f"params.{name}"):
        JobSpec.from_json({**BASE, "method": method, "params": {name: bad}})


@pytest.mark.parametrize(("method", "name"), [(m, f.name) for m in available() for f in dataclasses.fields(get(m).params)
                                              if f.metadata.get("min") is not None or f.metadata.get("max") is not None])
def test_every_bounded_hyperparameter_refuses_values_outside_its_bounds(method: str, name: str) -> None:
    meta = next(f.metadata for f in dataclasses.fields(get(method).params) if f.name == name)
    outside = meta["min"] - 1 if meta.get("min") is not None else meta["max"] + 1
    with pytest.raises(BadSpec, match=f"params.{name}"):
        JobSpec.from_json({**BASE, "method": method, "params": {name: outside}})


def test_a_spec_built_in_code_is_validated_by_the_runner() -> None:
    events = list(Runner(threads=1).run(JobSpec(**{**BASE, "seed": -1})))
    assert isinstance(events[-1], Failed) and events[-1].kind == "BadSpec" and "seed" in events[-1].message


# ------------------------------------------------------------------------------ fuzz findings
FINDING_FILES = sorted(FINDINGS.glob("*.json"))
VALID_FINDINGS = {"hang-321.json"}  # a legal spec (ResNet-18 on digits on the CPU): slow, not wrong


@pytest.mark.parametrize("path", FINDING_FILES, ids=[p.name for p in FINDING_FILES])
def test_fuzz_findings_parse_to_a_lethe_error_or_a_valid_spec(path: Path) -> None:
    raw = json.loads(path.read_text())
    if path.name in VALID_FINDINGS:
        assert JobSpec.from_json(raw).validated() == JobSpec.from_json(raw)
        return
    with pytest.raises(LetheError):
        JobSpec.from_json(raw)


@pytest.mark.parametrize("path", [p for p in FINDING_FILES if p.name not in VALID_FINDINGS],
                         ids=[p.name for p in FINDING_FILES if p.name not in VALID_FINDINGS])
def test_fuzz_findings_exit_2_with_one_line_from_the_cli(path: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    started = time.monotonic()
    assert main(["unlearn", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - started < 30  # refused at parse time, not after training


def _fuzzed_specs() -> list[Any]:
    lines = (FINDINGS / "results-seed1.jsonl").read_text().splitlines()
    return [json.loads(line)["spec"] for line in lines if line.strip()]


def test_every_spec_of_the_fuzzing_campaign_parses_to_a_spec_or_a_lethe_error() -> None:
    """The 330 specs of the fuzzer's run (results-seed1.jsonl), 16 of which crashed or hung Lethe."""
    specs = _fuzzed_specs()
    assert len(specs) == 330
    accepted = 0
    for raw in specs:
        try:
            JobSpec.from_json(raw)
            accepted += 1
        except LetheError as exc:
            assert "\n" not in exc.one_line()
    assert 0 < accepted < len(specs)


@pytest.mark.timeout(300)
def test_the_slow_fuzz_finding_is_costed_and_cancels_at_once(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))
    spec = JobSpec.from_json(json.loads((FINDINGS / "hang-321.json").read_text()))
    token = CancelToken()
    events = []
    cancelled_at = None
    for ev in Runner(threads=1).run(spec, token):
        events.append(ev)
        if isinstance(ev, Progress) and ev.stage == "original" and cancelled_at is None:
            token.cancel()
            cancelled_at = time.monotonic()
    assert isinstance(events[-1], Failed) and events[-1].cancelled
    assert cancelled_at is not None and time.monotonic() - cancelled_at < 5


# ------------------------------------------------------------------------------ the cost bound
def _quick(**kw: Any) -> JobSpec:
    return JobSpec.from_json({**BASE, **kw})


def test_an_expensive_run_asks_for_confirmation_before_training(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(budget, "MAX_SECONDS", 1e-6)
    events = list(Runner(threads=1).run(_quick()))
    assert isinstance(events[-1], Failed) and events[-1].kind == "NeedsConfirmation"
    assert "confirm_cost" in events[-1].hint and "mlp, 1 epochs x 1,437 images" in events[-1].message
    assert not any(isinstance(e, Progress) and e.stage == "original" and e.fraction > 0 for e in events)
    confirmed = list(Runner(threads=1).run(_quick(confirm_cost=True)))
    assert isinstance(confirmed[-1], Finished)
    # now the original is cached: only trainings still to do are costed
    assert isinstance(list(Runner(threads=1).run(_quick()))[-1], Finished)


def test_the_cost_counts_epochs_rows_and_the_model() -> None:
    small = budget.training("original", "mlp", 1, 1000, 1, (8, 8), 10)
    assert budget.training("original", "mlp", 10, 1000, 1, (8, 8), 10).macs == 10 * small.macs
    assert budget.training("original", "mlp", 1, 2000, 1, (8, 8), 10).macs == 2 * small.macs
    assert budget.training("original", "resnet18_cifar", 1, 1000, 1, (8, 8), 10).macs > 100 * small.macs
    with pytest.raises(NeedsConfirmation):
        budget.check_budget([budget.training("original", "resnet18_cifar", 30, 50_000, 3, (32, 32), 10)],
                            budget.torch.device("cpu"), confirmed=False)


def test_cli_yes_is_the_confirmation(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(budget, "MAX_SECONDS", 1e-6)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(BASE))
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "NeedsConfirmation" in capsys.readouterr().err
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "b"), "--quiet", "--yes"]) == 0
    assert (tmp_path / "b" / "record.json").exists()

