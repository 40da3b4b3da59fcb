"""Nothing the user owns is overwritten: a run's inputs never (hard links and symbolic links
included), an earlier run's files only with --overwrite, and two writers never share a folder."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine._core import fileio
from engine._core.errors import DiskFull, OutputLocked, WouldOverwrite
from engine._core.events import Failed, Finished
from engine._core.fileio import atomic_write_text, protect_inputs
from engine._core.outputs import LOCK_NAME, OutputFolder
from engine.cli.main import main
from engine.models.checkpoints import save_checkpoint
from engine.runs.record import RunRecord, save_run
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

from faultkit import failing_os_open

QUICK = {"dataset": "digits", "forget": {"classes": [3]}, "method": "pour_p", "reference": None, "device": "cpu",
         "evaluate": False, "geometry": False, "audit": False}


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def original_as_unlearned(bn_model, tmp_path: Path) -> Path:  # noqa: ANN001
    """An original checkpoint saved as D/unlearned.safetensors (an earlier run's output kept
    without its record.json, or weights saved from the studio under that name)."""
    return save_checkpoint(bn_model, tmp_path / "D" / "unlearned", {"classes": [str(i) for i in range(10)]})


@pytest.fixture()
def record(tmp_path: Path) -> RunRecord:
    """A finished run of the quickest kind (its model is in memory)."""
    return Runner(threads=1).run_to_record(JobSpec(**QUICK, model={"arch": "mlp", "recipe": {"epochs": 1}}))


# ------------------------------------------------------------------------ the run's inputs
@pytest.mark.parametrize("overwrite", [False, True])
def test_out_over_the_checkpoints_folder_never_replaces_it(original_as_unlearned: Path, tmp_path: Path, capsys,  # noqa: ANN001
                                                           overwrite: bool) -> None:
    folder = original_as_unlearned.parent
    before = snapshot(folder)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**QUICK, "model": {"checkpoint": str(original_as_unlearned)}}))
    argv = ["unlearn", str(spec), "--out", str(folder), "--quiet"] + (["--overwrite"] if overwrite else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "WouldOverwrite" in err and ("input of this run" in err if overwrite else "already holds" in err)
    assert snapshot(folder) == before and not (folder / LOCK_NAME).exists()


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_another_name_for_an_input_is_refused_too(original_as_unlearned: Path, tmp_path: Path, link: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "unlearned.safetensors"
    (os.link if link == "hard" else os.symlink)(original_as_unlearned, target)
    before = sha(original_as_unlearned)
    spec = JobSpec(**QUICK, model={"checkpoint": str(original_as_unlearned)})
    events = list(Runner(threads=1).run(spec, out_dir=out, overwrite=True))
    assert isinstance(events[-1], Failed) and events[-1].kind == "WouldOverwrite"
    assert "input of this run" in events[-1].message
    assert sha(original_as_unlearned) == before and target.exists()
    assert len(events) < 5  # refused before any work, not after the run


def test_atomic_writes_refuse_a_protected_file_by_any_name(tmp_path: Path) -> None:
    src = tmp_path / "input.json"
    src.write_text("precious")
    alias = tmp_path / "alias.json"
    os.link(src, alias)
    with protect_inputs([src]):
        for name in (src, alias, tmp_path / "sub" / ".." / "input.json"):
            with pytest.raises(WouldOverwrite, match="input of this run"):
                atomic_write_text(name, "clobbered")
    assert src.read_text() == "precious" and not (tmp_path / "sub").exists()
    atomic_write_text(alias, "free again")  # protection ends with the run (the write gives alias its own inode)
    assert alias.read_text() == "free again" and src.read_text() == "precious"


def test_the_spec_file_itself_is_never_an_output(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    out.mkdir()
    spec = out / "record.json"  # a spec saved under the name the run writes its record to
    spec.write_text(json.dumps({**QUICK, "model": {"arch": "mlp", "recipe": {"epochs": 1}}}))
    before = spec.read_text()
    assert main(["unlearn", str(spec), "--out", str(out), "--quiet", "--overwrite"]) == 2
    assert "WouldOverwrite" in capsys.readouterr().err and spec.read_text() == before


# ------------------------------------------------------------------------ earlier runs
def test_an_out_folder_holding_a_run_is_refused_unless_overwrite(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**QUICK, "model": {"arch": "mlp", "recipe": {"epochs": 1}}}))
    out = tmp_path / "run"
    assert main(["unlearn", str(spec), "--out", str(out), "--quiet"]) == 0
    before = snapshot(out)
    assert set(before) == {"record.json", "unlearned.safetensors", "unlearned.json"}
    spec.write_text(json.dumps({**QUICK, "method": "finetune", "params": {"epochs": 1},
                                "model": {"arch": "mlp", "recipe": {"epochs": 1}}}))
    capsys.readouterr()
    assert main(["unlearn", str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "WouldOverwrite" in err and "record.json" in err and len(err.splitlines()) == 1
    assert snapshot(out) == before
    assert main(["unlearn", str(spec), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert json.loads((out / "record.json").read_text())["method"] == "finetune"


@pytest.mark.parametrize("name", ["record.json", "model.safetensors", "weights.pt", "report.html"])
def test_any_lethe_artefact_makes_a_folder_taken(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("{}")
    with pytest.raises(WouldOverwrite, match=name):
        OutputFolder.claim(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with OutputFolder.claim(tmp_path, overwrite=True):
        pass
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / LOCK_NAME).exists()


def test_save_run_follows_the_same_rule(record: RunRecord, tmp_path: Path) -> None:
    save_run(record, tmp_path / "a")
    before = snapshot(tmp_path / "a")
    with pytest.raises(WouldOverwrite):
        save_run(record, tmp_path / "a")
    assert snapshot(tmp_path / "a") == before
    save_run(record, tmp_path / "a", overwrite=True)


def test_train_refuses_an_out_holding_a_model(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    before = snapshot(tmp_path)
    assert main(argv) == 2
    assert "WouldOverwrite" in capsys.readouterr().err and snapshot(tmp_path) == before


def test_out_naming_a_file_is_refused(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    f = tmp_path / "iam_a_file"
    f.write_text("precious")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**QUICK, "model": {"arch": "mlp", "recipe": {"epochs": 1}}}))
    assert main(["unlearn", str(spec), "--out", str(f), "--quiet", "--overwrite"]) == 2
    assert "NotWritable" in capsys.readouterr().err and f.read_text() == "precious"


# ------------------------------------------------------------------------ report --out
@pytest.fixture()
def saved_record(record: RunRecord, tmp_path: Path) -> Path:
    save_run(record, tmp_path / "run")
    return tmp_path / "run" / "record.json"


def test_report_never_replaces_its_own_record(saved_record: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    before = sha(saved_record)
    alias = tmp_path / "alias.json"
    os.link(saved_record, alias)
    for out in (saved_record, alias):
        for extra in ([], ["--overwrite"]):
            assert main(["report", str(saved_record), "--out", str(out), "--no-thumbnails", *extra]) == 2
            assert "WouldOverwrite: refusing to write the report onto its own input" in capsys.readouterr().err
    assert sha(saved_record) == before


def test_report_replaces_an_existing_file_only_with_overwrite(saved_record: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    weights = saved_record.parent / "unlearned.safetensors"
    before = sha(weights)
    assert main(["report", str(saved_record), "--out", str(weights), "--no-thumbnails"]) == 2
    assert sha(weights) == before
    # --overwrite may replace an ordinary file, but never the weights the record describes
    assert main(["report", str(saved_record), "--out", str(weights), "--no-thumbnails", "--overwrite"]) == 2
    assert sha(weights) == before
    other = tmp_path / "old.html"
    other.write_text("old")
    assert main(["report", str(saved_record), "--out", str(other), "--no-thumbnails"]) == 2
    assert other.read_text() == "old"
    assert main(["report", str(saved_record), "--out", str(other), "--no-thumbnails", "--overwrite"]) == 0
    assert other.read_text().startswith("<!DOCTYPE html>")
    capsys.readouterr()


# ------------------------------------------------------------------------ two writers
def test_a_second_writer_fails_on_the_lock(tmp_path: Path) -> None:
    with OutputFolder.claim(tmp_path / "out"), pytest.raises(OutputLocked, match=str(os.getpid())):
        OutputFolder.claim(tmp_path / "out", overwrite=True)
    with OutputFolder.claim(tmp_path / "out"):  # released: free again
        pass


def test_a_second_process_fails_on_the_lock_and_the_first_result_survives(record: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = ("import sys; from engine._core.outputs import OutputFolder\n"
            "try:\n    OutputFolder.claim(sys.argv[1], overwrite=True)\n"
            "except Exception as e:\n    print(type(e).__name__); sys.exit(3)\n")
    with OutputFolder.claim(out) as folder:
        p = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).resolve().parents[2])
        assert p.returncode == 3 and p.stdout.strip() == "OutputLocked"
        save_run(record, folder)
    assert RunRecord.load(out / "record.json").method == record.method


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "since": 0}))
    with OutputFolder.claim(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


# ------------------------------------------------------------------------ failed saves
def test_a_save_that_fails_half_way_leaves_the_folder_as_it_was(record: RunRecord, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    real = os.open

    def full_at_the_record(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        if flags & os.O_CREAT and ".record.json." in os.fsdecode(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, flags, *a, **kw)

    monkeypatch.setattr(fileio.os, "open", full_at_the_record)
    with pytest.raises(DiskFull, match=r"record\.json"):
        save_run(record, out)
    monkeypatch.setattr(fileio.os, "open", real)
    assert not out.exists() or list(out.iterdir()) == []
    save_run(record, out)  # the rerun is not refused by half a run
    assert RunRecord.load(out / "record.json").weights == str(out / "unlearned.safetensors")


def test_a_runner_rerun_into_the_same_folder_after_a_full_disk(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    real = os.open
    monkeypatch.setattr(fileio.os, "open", failing_os_open(real, errno.ENOSPC, out))
    spec = JobSpec(**QUICK, model={"arch": "mlp", "recipe": {"epochs": 1}})
    events = list(Runner(threads=1).run(spec, out_dir=out))
    assert isinstance(events[-1], Failed) and events[-1].kind == "DiskFull" and str(out) in events[-1].message
    monkeypatch.setattr(fileio.os, "open", real)
    assert isinstance(list(Runner(threads=1).run(spec, out_dir=out))[-1], Finished)
