"""Temporary sweep folders are removed only when they hold nothing but a sweep's own files, and
only orphans (their process gone) are removed by the start-up clean-up."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine import remove_orphan_sweep_folders, remove_sweep_folder, temp_sweep_folder
from engine.executors.sweep_folders import TEMP_PREFIX, is_sweep_file

SWEEP_FILES = ("optuna-journal.log", "optuna-journal.log.lock", "sweep.json", ".sweep.json.lethe-12-0123abcd.tmp")


def _filled(folder: Path, names: tuple[str, ...] = SWEEP_FILES) -> Path:
    for n in names:
        (folder / n).write_text("x")
    return folder


def test_a_folder_of_sweep_files_is_removed_and_anything_else_keeps_it(tmp_path: Path) -> None:
    folder = temp_sweep_folder("pour-p", parent=tmp_path)
    assert folder.parent == tmp_path and folder.name.startswith(TEMP_PREFIX + "pour_p-") and not any(folder.iterdir())
    assert remove_sweep_folder(_filled(folder)) and not folder.exists()
    assert remove_sweep_folder(folder)  # already gone: nothing left behind

    kept = _filled(temp_sweep_folder("salun", parent=tmp_path))
    (kept / "record.json").write_text("{}")  # a run someone exported into it
    assert not remove_sweep_folder(kept) and (kept / "record.json").exists() and (kept / "sweep.json").exists()
    nested = _filled(temp_sweep_folder("salun", parent=tmp_path))
    (nested / "sweep.json.d").mkdir()  # a folder, even with a sweep-like name, is not a sweep file
    assert not remove_sweep_folder(nested) and nested.is_dir()
    assert not is_sweep_file("unlearned.safetensors") and is_sweep_file("optuna-journal.log")


def test_only_folders_of_dead_processes_are_orphans(tmp_path: Path) -> None:
    mine = _filled(temp_sweep_folder("finetune", parent=tmp_path))
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    dead_pid = int(child.stdout)  # that process has ended
    orphan = tmp_path / f"{TEMP_PREFIX}finetune-20260101-000000-p{dead_pid}-abcd1234"
    orphan.mkdir()
    _filled(orphan)
    no_pid = tmp_path / f"{TEMP_PREFIX}finetune-20250101-000000-abcd1234"  # an older studio's: no owner known
    no_pid.mkdir()
    other = tmp_path / "someone-elses-p1-folder"
    other.mkdir()
    assert remove_orphan_sweep_folders(tmp_path) == [orphan]
    assert not orphan.exists() and mine.exists() and no_pid.exists() and other.exists()

