"""A command's output file is settled before its work: a folder gets the usual name inside it, an
unwritable place is refused at once (bench methods on CIFAR once ran 38 minutes and then exited 2
because --out named a folder)."""
from __future__ import annotations

import json

import pytest

import engine.cli.bench as bench
from engine._core.errors import NotWritable
from engine.cli.main import main
from engine.cli.outfile import output_file


def test_a_folder_gets_the_usual_file_name_and_a_file_stays_itself(tmp_path) -> None:  # noqa: ANN001
    assert output_file(tmp_path, "bench-methods.json") == tmp_path / "bench-methods.json"
    assert output_file(tmp_path / "mine.json", "bench-methods.json") == tmp_path / "mine.json"


def test_a_missing_or_read_only_folder_is_refused_with_a_hint(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    with pytest.raises(NotWritable, match="does not exist") as err:
        output_file(tmp_path / "nowhere" / "x.json", "x.json")
    assert "create it first" in err.value.hint
    import engine.cli.outfile as outfile

    monkeypatch.setattr(outfile.os, "access", lambda path, mode: False)  # a read-only folder (root writes anywhere)
    with pytest.raises(NotWritable, match="cannot be written"):
        output_file(tmp_path / "x.json", "x.json")


def test_bench_refuses_a_bad_out_before_it_measures_anything(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    def must_not_run(args):  # noqa: ANN001, ANN202
        raise AssertionError("the bench ran although its --out could not be written")

    monkeypatch.setitem(bench.SUITES, "features", must_not_run)
    assert main(["bench", "features", "--out", str(tmp_path / "nowhere" / "b.json"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_writes_into_a_folder_given_as_out(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    result = {"dataset": "digits", "model": "mlp", "table": "| a |", "note": "n", "ratio": 2.0,
              "machine": {"device": "cpu", "device_name": "x", "cpu_cores": 2, "torch_threads": 1}}
    monkeypatch.setitem(bench.SUITES, "features", lambda args: dict(result))
    assert main(["bench", "features", "--out", str(tmp_path), "--quiet"]) == 0
    written = json.loads((tmp_path / "bench-features.json").read_text())
    assert written["ratio"] == 2.0 and "table" not in written


def test_figure_refuses_a_bad_out_before_it_trains_anything(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    import engine.cli.main as cli

    class NoRunner:
        def run(self, spec):  # noqa: ANN001, ANN202
            raise AssertionError("the figure's run started although its --out could not be written")

    monkeypatch.setattr(cli, "Runner", NoRunner)
    assert main(["figure", "--out", str(tmp_path / "nowhere" / "f.png"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
