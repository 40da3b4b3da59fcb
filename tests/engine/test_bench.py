"""Benchmarks print ratios measured in one run; here we check they run and report, not their speed."""
from __future__ import annotations

import json
import math

import pytest

from engine.cli.main import main

pytestmark = pytest.mark.slow  # every bench is an end-to-end CLI run


def test_bench_methods_prints_a_table_and_writes_json(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "bench.json"
    argv = ["bench", "methods", "--model", "mlp", "--only", "pour_p,finetune", "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "| POUR-P |" in text and "| Retrain |" in text and "time ÷ Retrain" in text
    # progress on stderr (plain lines off a terminal): each step named, never on stdout
    progress = [line for line in captured.err.splitlines() if "bench methods · " in line]
    assert any("POUR-P" in line for line in progress) and progress[-1].startswith("[100%]")
    assert "bench methods · " not in text
    result = json.loads(out.read_text())
    assert result["results"]["retrain"]["time_ratio"]["mean"] == 1.0
    assert 0 < result["results"]["pour_p"]["time_ratio"]["mean"] < 1
    assert result["machine"]["cpu_cores"] >= 1


def test_bench_methods_marks_methods_that_cannot_run_on_a_sample_forget_set(tmp_path, capsys) -> None:  # noqa: ANN001
    argv = ["bench", "methods", "--model", "mlp", "--only", "pour_p", "--forget", "fraction:0.1", "--device", "cpu"]
    assert main(argv) == 0
    assert "cannot handle this forget set" in capsys.readouterr().out


def test_bench_pour_reports_its_four_ratios(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "pour.json"
    assert main(["bench", "pour", "--model", "mlp", "--out", str(out), "--device", "cpu"]) == 0
    ratios = json.loads(out.read_text())["ratios"]
    assert len(ratios) == 4 and all(math.isfinite(v) and v > 0 for v in ratios.values())
    assert "POUR-D (small preset) ÷ Retrain" in ratios


def test_bench_methods_runs_a_preset_and_says_which(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "bench.json"
    argv = ["bench", "methods", "--model", "mlp", "--only", "pour_p,ssd", "--preset", "small", "--out", str(out),
            "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| SSD |" in text and "the 'small' preset where a method has one (SSD)" in text
    assert json.loads(out.read_text())["preset"] == "small"
    assert main(["bench", "methods", "--model", "mlp", "--only", "pour_p", "--preset", "huge", "--device", "cpu"]) == 2
    assert "--preset: 'huge'" in capsys.readouterr().err


def test_bench_methods_runs_one_method_with_its_own_preset_beside_the_defaults(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "bench.json"
    argv = ["bench", "methods", "--model", "mlp", "--only", "pour_d@small", "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| POUR-D (small preset) |" in text
    assert "POUR-D (small preset): the preset named in the row" in text  # not "the paper defaults" for every row
    assert json.loads(out.read_text())["per_seed"][0]["pour_d@small"]["time_ratio"] > 0
    assert main(["bench", "methods", "--model", "mlp", "--only", "pour_d@huge", "--device", "cpu"]) == 2
    assert "'pour_d@huge' names an unknown preset" in capsys.readouterr().err


def test_bench_methods_footer_names_the_presets_each_row_ran_with() -> None:
    from engine.cli.bench import _preset_text

    mixed = _preset_text("paper", ["pour_p", "pour_d@small"])
    assert mixed != "hyperparameters: the paper defaults"
    assert mixed.startswith("POUR-D (small preset): the preset named in the row;") and "paper defaults for the others" in mixed
    assert _preset_text("paper", ["pour_p", "ssd"]) == "hyperparameters: the paper defaults"
    both = _preset_text("small", ["ssd", "pour_p", "pour_d@paper"])
    assert "POUR-D (paper preset): the preset named in the row" in both and "preset where a method has one (SSD)" in both
    assert "no method here has the 'small' preset" in _preset_text("small", ["pour_p"])


def test_bench_all_runs_every_suite_on_each_available_dataset(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    import engine.cli.bench as bench

    monkeypatch.setattr(bench, "SHARED_DATASETS", ())  # only digits: the shared subsets may be absent
    out = tmp_path / "all.json"
    argv = ["bench", "all", "--model", "mlp", "--only", "pour_p", "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "## bench pour" in text and "## bench features" in text and "## bench methods" in text
    assert [r["suite"] for r in json.loads(out.read_text())["results"]] == ["pour", "features", "methods"]


def test_bench_ensemble_prints_vmap_over_sequential(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "ensemble.json"
    argv = ["bench", "ensemble", "--model", "mlp", "--k", "2", "--epochs", "1", "--repeats", "1", "--out", str(out),
            "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "vmap ÷ sequential" in text and "Load average" in text
    result = json.loads(out.read_text())
    assert result["ratios"]["vmap ÷ sequential"] > 0 and result["k"] == 2
    assert result["max_relative_weight_difference"] < 1e-4  # same seeds: the same models (mlp: no chaos in 1 epoch)
