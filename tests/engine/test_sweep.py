"""Sweeps (issue 14): search space from Params bounds, sweep.json, Pareto front, resume, presets, CLI."""
from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("optuna")

from engine._core.errors import BadSpec  # noqa: E402
from engine.executors import InProcessExecutor  # noqa: E402
from engine.executors.sweep import (  # noqa: E402
    JOURNAL_NAME, SweepConfig, SweepFinished, TrialDone, pareto_indices, run_sweep, save_preset, search_space,
)
from engine.methods.registry import get as get_method, preset_names  # noqa: E402
from engine.runs.spec import JobSpec  # noqa: E402

# finetune on the tiny mlp, one epoch at most: a trial takes well under a second once cached.
SPEC = JobSpec(method="finetune", model={"arch": "mlp", "recipe": {"epochs": 2}},
               params={"epochs": 1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 256, "schedule": "none"},
               evaluate=False, geometry=False, audit=True)


def _sweep(runner, out, trials: int, **kw):  # noqa: ANN001, ANN202
    config = SweepConfig(SPEC, trials=trials, sampler="random", bounds=(("lr", 1e-4, 0.05),), **kw)
    with InProcessExecutor(runner=runner) as ex:
        events = list(run_sweep(config, ex, out))
    return events


def test_the_search_space_comes_from_the_params_bounds() -> None:
    space = search_space("finetune")
    lr = get_method("finetune").params.__dataclass_fields__["lr"].metadata
    assert space["lr"].low == lr["min"] and space["lr"].high == lr["max"] and space["lr"].log
    assert not space["momentum"].log  # 0 .. 0.999: linear
    assert set(space["schedule"].choices) >= {"none"}
    fixed = search_space("finetune", fixed=("lr",), only=("lr", "epochs"), bounds={"epochs": (1, 3)})
    assert set(fixed) == {"epochs"} and (fixed["epochs"].low, fixed["epochs"].high) == (1, 3)
    near = search_space("finetune", span=10)  # a decade either side of the paper default, within the bounds
    d = get_method("finetune").params()
    assert math.isclose(near["lr"].low, d.lr / 10) and math.isclose(near["lr"].high, d.lr * 10) and near["lr"].log
    assert (near["epochs"].low, near["epochs"].high) == (1, d.epochs * 10)
    assert near["momentum"].high == 0.999
    with pytest.raises(BadSpec, match="within"):
        search_space("finetune", bounds={"lr": (0.0, 5.0)})
    with pytest.raises(BadSpec, match="no hyperparameter"):
        search_space("finetune", only=("nope",))


def test_pareto_indices_keep_exactly_the_non_dominated_points() -> None:
    pts = [[0.1, 0.5, 1.0], [0.2, 0.2, 1.0], [0.3, 0.3, 1.0], None, [0.1, 0.5, 0.5], [0.9, 0.9, 0.1]]
    # 0 is dominated by 4 (same gaps, cheaper); 2 by 1; 3 failed
    assert pareto_indices(pts) == [1, 4, 5]
    assert pareto_indices([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]) == [0, 1]  # ties dominate nothing


def test_a_sweep_writes_sweep_json_and_resumes_with_only_the_missing_trials(runner, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "sweep"
    first = _sweep(runner, out, 3)
    assert sum(isinstance(e, TrialDone) for e in first) == 3
    text = (out / "sweep.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON token {c}"))
    assert isinstance(first[-1], SweepFinished) and first[-1].summary == summary
    assert len(summary["trials"]) == 3 and (out / JOURNAL_NAME).exists()
    for t in summary["trials"]:
        assert t["state"] == "complete" and set(t["params"]) == {"lr"} and 1e-4 <= t["params"]["lr"] <= 0.05
        m = t["metrics"]
        gaps = m["forget_acc_gap"] + m["retain_acc_gap"] + m["test_acc_gap"] + m["mia_gap"]
        assert math.isclose(m["distance"], gaps) and m["cost"] > 0 and t["seconds"]["total"] > 0
    assert summary["pareto"] and all(0 <= i < 3 for i in summary["pareto"])
    best = summary["best"]
    assert summary["trials"][best]["metrics"]["distance"] == min(t["metrics"]["distance"] for t in summary["trials"])
    assert best in summary["pareto"]  # the lowest distance is never dominated

    second = _sweep(runner, out, 5)  # resume: only trials 3 and 4 run
    done = [e for e in second if isinstance(e, TrialDone)]
    assert [e.trial["number"] for e in done] == [3, 4]
    summary = json.loads((out / "sweep.json").read_text())
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2, 3, 4]
    lrs = [t["params"]["lr"] for t in summary["trials"]]
    assert len(set(lrs)) == 5  # the resumed sampler does not replay the first draws
    assert _sweep(runner, out, 5)[-1].summary["trials"] == summary["trials"]  # nothing left to run

    with pytest.raises(BadSpec, match="another spec"):
        _sweep(runner, out, 6, seeds=2)


def test_a_trial_averages_its_seeds(runner, tmp_path) -> None:  # noqa: ANN001
    summary = _sweep(runner, tmp_path / "s", 1, seeds=2)[-1].summary
    assert summary["seeds"] == [0, 1]
    assert set(summary["trials"][0]["metrics_std"]) >= {"distance", "forget_acc_gap"}


def test_a_sweep_needs_the_retrain_reference(runner, tmp_path) -> None:  # noqa: ANN001
    config = SweepConfig(SPEC.with_changes(reference=None), trials=1)
    with pytest.raises(BadSpec, match="retrain"), InProcessExecutor(runner=runner) as ex:
        list(run_sweep(config, ex, tmp_path))


def test_a_saved_preset_is_resolved_by_a_jobspec(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_PRESETS_DIR", str(tmp_path / "presets"))
    path = save_preset("tuned", "finetune", {"lr": 0.0123, "epochs": 2})
    assert path.parent == tmp_path / "presets"
    assert "tuned" in preset_names()
    spec = JobSpec.from_json({"method": "finetune", "preset": "tuned"})
    assert get_method("finetune").params_for(spec.preset).lr == 0.0123
    save_preset("tuned", "grad_ascent", {"lr": 0.002})  # a second method joins the same preset name
    assert get_method("finetune").presets["tuned"]["lr"] == 0.0123
    assert get_method("grad_ascent").presets["tuned"] == {"lr": 0.002}
    with pytest.raises(BadSpec, match="built-in"):
        save_preset("small", "finetune", {"lr": 0.01})
    with pytest.raises(BadSpec):
        save_preset("x", "finetune", {"lr": 5.0})  # out of the Params bounds
    with pytest.raises(BadSpec):
        save_preset("../escape", "finetune", {"lr": 0.01})


@pytest.mark.slow  # the CLI end to end (in-process executor)
def test_the_sweep_command_prints_the_front_and_saves_the_best_as_a_preset(runner, tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from engine.cli.main import main

    monkeypatch.setenv("LETHE_PRESETS_DIR", str(tmp_path / "presets"))
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(SPEC.to_json()))
    code = main(["sweep", str(spec_path), "--trials", "2", "--executor", "inline", "--out", str(tmp_path / "out"),
                 "--only", "lr", "--bounds", "lr=1e-3:0.05", "--save-preset", "best-ft"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Pareto" in out and "saved the best trial as preset 'best-ft'" in out
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    best_lr = summary["trials"][summary["best"]]["params"]["lr"]
    assert get_method("finetune").presets["best-ft"]["lr"] == best_lr


@pytest.mark.slow  # the executors bench, in-process
def test_bench_executors_prints_the_ratio_line(capsys) -> None:  # noqa: ANN001
    from engine.cli.main import main

    assert main(["bench", "executors", "--executor", "inline", "--workers", "1", "--trials", "2", "--model", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "parallel ÷ sequential:" in out
