"""The HTML audit report: self-contained, has the verdicts and the spec, written atomically; CLI."""
from __future__ import annotations

import json
import re

import pytest

import engine._core.fileio as fileio
from engine.cli.main import main
from engine.runs.spec import JobSpec
from engine.runs.record import RunRecord
from engine.report.html import write_html, write_report


@pytest.fixture(scope="module")
def saved_run(runner, tmp_path_factory):  # noqa: ANN001, ANN201
    """A fine-tune of one epoch: the forget class is still recognised, so thumbnails appear."""
    out = tmp_path_factory.mktemp("run")
    rec = runner.run_to_record(JobSpec(method="finetune", params={"epochs": 1}, geometry=False), out_dir=out)
    return rec, out


def _outside_pre(html: str) -> str:
    return re.sub(r"<pre>.*?</pre>", "", html, flags=re.S)


def test_the_report_is_self_contained_with_verdicts_spec_and_hashes(saved_run, digits, tmp_path) -> None:  # noqa: ANN001
    rec, _ = saved_run
    path = write_report(rec, tmp_path / "report.html", bundle=digits)
    html = path.read_text(encoding="utf-8")
    body = _outside_pre(html)
    assert "http://" not in body and "https://" not in body and "file:" not in body
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:)""", body)  # only embedded data: images
    assert "<script" not in html and "<link" not in html
    assert "Forgot (features)?" in html and "Robust to relearning?" in html
    assert html.count("data:image/png;base64,") >= 4  # bars, per class, histograms, relearning (+ thumbnails)
    assert "Forget images the model still recognises" in html  # a 1-epoch fine-tune forgets nothing
    pre = re.search(r"<pre>(.*?)</pre>", html, flags=re.S).group(1)
    assert json.loads(pre.replace("&quot;", '"').replace("&#x27;", "'"))["method"] == "finetune"
    assert rec.forget["hash"] in html and rec.dataset["fingerprint"] in html
    assert "Checkpoint SHA-256" in html and fileio.sha256_file(rec.weights) in html


def test_the_report_is_written_atomically(saved_run, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    rec, _ = saved_run
    out = tmp_path / "report.html"
    out.write_text("previous report")

    def boom(src, dst):  # noqa: ANN001, ANN202
        raise OSError("disk went away")

    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError):
        write_report(rec, out)
    assert out.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left behind


def test_a_report_of_several_records_and_of_a_record_without_audit(saved_run, tmp_path) -> None:  # noqa: ANN001
    rec, _ = saved_run
    bare = RunRecord.from_json({k: v for k, v in rec.to_json().items() if k != "audit"})
    html = write_html([rec, bare], tmp_path / "both.html").read_text()
    assert html.count("<h1>") == 2 and "No audit was run" in html


def test_a_report_after_a_dataset_switch_keeps_each_runs_own_thumbnails(saved_run, tmp_path) -> None:  # noqa: ANN001
    """The studio exports with the dataset loaded *now*; a digits run must still show digits images."""
    rec, _ = saved_run
    class Other:  # the dataset loaded now: another fingerprint
        fingerprint = "not-" + str(rec.dataset["fingerprint"])

    other = Other()
    html = write_html([rec], tmp_path / "switched.html", bundle=other).read_text()
    assert "Forget images the model still recognises" in html  # loaded from the run's own source
    offline = write_html([rec], tmp_path / "offline.html", bundle=other, load_missing=False).read_text()
    assert "Forget images the model still recognises" not in offline
    assert "dataset was not available" in offline  # says why, never silently


@pytest.mark.slow  # end-to-end
def test_cli_report(saved_run, tmp_path, capsys) -> None:  # noqa: ANN001
    _, out_dir = saved_run
    dest = tmp_path / "cli.html"
    assert main(["report", str(out_dir / "record.json"), "--out", str(dest)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "Forgot (outputs)?" in dest.read_text()
    assert "load the run's dataset (digits) for its thumbnails" in captured.err  # progress while it loads
    assert "draw the figures" in captured.err
    assert main(["report", str(out_dir / "record.json"), "--out", str(tmp_path / "b.html"), "--no-thumbnails",
                 "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["report", str(tmp_path / "missing.json"), "--out", str(dest)]) == 2
