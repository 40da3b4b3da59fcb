"""The command line: results on stdout, progress on stderr, exit codes 0 / 2 / 1."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_methods_lists_every_method_with_its_hyperparameters(capsys) -> None:  # noqa: ANN001
    assert main(["methods", "--json"]) == 0
    infos = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert {"retrain", "finetune", "pour_p", "pour_d"} <= set(infos)
    lr = next(p for p in infos["pour_d"]["params"] if p["name"] == "lr")
    assert lr["default"] == 0.01 and lr["help"]


@pytest.mark.slow  # end-to-end
def test_demo_json_prints_original_retrain_and_both_pour_variants(capsys) -> None:  # noqa: ANN001
    assert main(["demo", "--json", "--quiet"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["original", "retrain", "pour_p", "pour_d"]
    pour_p = records[2]["metrics"]
    assert pour_p["test_forget_acc"] == 0.0
    assert {"rus_o", "rus_r", "rmia", "aus"} <= set(pour_p)


@pytest.mark.slow  # end-to-end
def test_unlearn_writes_a_record_and_weights(tmp_path, capsys) -> None:  # noqa: ANN001
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"schema_version": 1, "method": "pour_p", "forget": {"classes": [5]}, "reference": None}))
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "record.json").exists()
    assert (tmp_path / "out" / "unlearned.safetensors").exists()
    assert (tmp_path / "out" / "unlearned.json").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"method": "pour_p", "colour": 1}), "colour: unknown field"),
        (json.dumps({"method": "no_such_method"}), "unknown method"),
        (json.dumps({"forget": {"classes": []}}), "EmptyForgetSet"),
        (json.dumps({"dataset": "npz:/nowhere/data.npz"}), "/nowhere/data.npz"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, content, expected) -> None:  # noqa: ANN001
    spec = tmp_path / "spec.json"
    spec.write_text(content)
    out = tmp_path / "out"
    assert main(["unlearn", str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.target,))


def test_a_hostile_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path, capsys) -> None:  # noqa: ANN001
    pwned = tmp_path / "pwned"
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(pickle.dumps({"state_dict": _Payload(pwned)}))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model": {"checkpoint": str(ckpt)}, "method": "pour_p"}))
    before = ckpt.read_bytes()
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "BadCheckpoint" in capsys.readouterr().err
    assert not pwned.exists()
    assert ckpt.read_bytes() == before


@pytest.mark.slow  # end-to-end
def test_train_saves_a_checkpoint_with_its_recipe(tmp_path, capsys) -> None:  # noqa: ANN001
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recipe"]["epochs"] == 1 and 0.0 <= result["test_acc"] <= 1.0
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["arch"] == "mlp" and meta["recipe"]["epochs"] == 1
    # the original is never overwritten
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 2


@pytest.mark.slow  # end-to-end
def test_the_module_runs_as_a_program_with_exit_code_2_on_bad_input(tmp_path) -> None:  # noqa: ANN001
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "unlearn", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and proc.stdout == ""


@pytest.mark.slow  # end-to-end
def test_figure_writes_the_before_and_after_embedding_png(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "embedding.png"
    assert main(["figure", "--method", "pour_p", "--model", "mlp", "--out", str(out), "--quiet"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out
