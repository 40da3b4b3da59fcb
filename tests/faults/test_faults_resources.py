"""Resource faults are messages: a full, read-only or forbidden disk is DiskFull / NotWritable naming
the path (an unwritable cache only costs a warning); memory bombs are refused before they are
inflated; orphaned temporary files of a crash are swept."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import save_file

from engine._core import fileio, limits
from engine._core.errors import BadCheckpoint, BadDataset, DiskFull, NotWritable
from engine._core.events import Finished, Log
from engine._core.fileio import atomic_write_text, resource_error, sweep_orphan_tmp
from engine._core.outputs import OutputFolder
from engine.cli.main import main
from engine.data.cifar import load_cifar
from engine.data.folder import load_folder
from engine.data.npz import load_npz
from engine.models.checkpoints import load_checkpoint, save_checkpoint
from engine.runs.record import RunRecord
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

from faultkit import ERRNO_KINDS, failing_os_mkdir, failing_os_open, tiny_cifar_batch

QUICK = {"dataset": "digits", "forget": {"classes": [3]}, "method": "pour_p", "reference": None, "device": "cpu",
         "evaluate": False, "geometry": False, "audit": False, "model": {"arch": "mlp", "recipe": {"epochs": 1}}}


def _unwritable(monkeypatch: pytest.MonkeyPatch, code: int, under: Path) -> None:
    monkeypatch.setattr(fileio.os, "open", failing_os_open(os.open, code, under))
    monkeypatch.setattr(os, "mkdir", failing_os_mkdir(os.mkdir, code, under))


# ------------------------------------------------------------------------ writers
@pytest.mark.parametrize(("code", "kind", "words"), ERRNO_KINDS)
def test_atomic_writes_map_resource_faults_and_leave_the_old_file(tmp_path: Path, monkeypatch, code: int, kind: str, words: str) -> None:  # noqa: ANN001
    target = tmp_path / "d" / "record.json"
    target.parent.mkdir()
    target.write_text("old")
    _unwritable(monkeypatch, code, tmp_path / "d")
    with pytest.raises((DiskFull, NotWritable)) as info:
        atomic_write_text(target, "new")
    assert type(info.value).__name__ == kind and str(target) in info.value.message and words in info.value.message
    assert target.read_text() == "old" and sorted(p.name for p in target.parent.iterdir()) == ["record.json"]


@pytest.mark.parametrize(("code", "kind", "words"), ERRNO_KINDS)
def test_a_writer_failing_mid_write_leaves_no_temporary_file(tmp_path: Path, code: int, kind: str, words: str) -> None:
    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(code, os.strerror(code))

    with pytest.raises((DiskFull, NotWritable)) as info:
        fileio.atomic_write(tmp_path / "w.bin", writer)
    assert type(info.value).__name__ == kind and words in info.value.message and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("text", "kind"), [
    ("Error while serializing: I/O error: No space left on device (os error 28)", DiskFull),
    ("Error while serializing: I/O error: Read-only file system (os error 30)", NotWritable),
    ("Error while serializing: I/O error: Permission denied (os error 13)", NotWritable),
])
def test_safetensors_errors_are_recognised(tmp_path: Path, text: str, kind: type) -> None:
    err = resource_error(SafetensorError(text), tmp_path / "m.safetensors")
    assert isinstance(err, kind) and "m.safetensors" in err.message
    assert resource_error(SafetensorError("Error while serializing: bad dtype"), tmp_path) is None


def test_a_real_safetensors_write_error_is_recognised(tmp_path: Path) -> None:
    try:
        save_file({"a": torch.zeros(3)}, str(tmp_path / "missing" / "m.safetensors"))
    except SafetensorError as exc:
        err = resource_error(exc, tmp_path / "missing" / "m.safetensors")
    assert isinstance(err, NotWritable)


@pytest.mark.parametrize(("code", "kind", "words"), ERRNO_KINDS)
def test_checkpoints_and_records_fail_with_the_path(bn_model, tmp_path: Path, monkeypatch, code: int, kind: str, words: str) -> None:  # noqa: ANN001
    _unwritable(monkeypatch, code, tmp_path / "out")
    with pytest.raises((DiskFull, NotWritable), match=r"m\.safetensors") as info:
        save_checkpoint(bn_model, tmp_path / "out" / "m", {})
    assert type(info.value).__name__ == kind
    with pytest.raises((DiskFull, NotWritable), match=r"record\.json"):
        RunRecord("m", spec={}, metrics={}).save(tmp_path / "out" / "record.json")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(("code", "kind", "words"), ERRNO_KINDS)
def test_cli_unlearn_into_an_unwritable_out_is_one_line(tmp_path: Path, monkeypatch, capsys, code: int, kind: str, words: str) -> None:  # noqa: ANN001
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(QUICK))
    _unwritable(monkeypatch, code, tmp_path / "ro")
    started = time.monotonic()
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "ro" / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {kind}") and str(tmp_path / "ro") in err and len(err.splitlines()) == 1
    assert time.monotonic() - started < 30  # refused before training


@pytest.mark.parametrize(("code", "kind", "words"), ERRNO_KINDS)
def test_cli_report_onto_an_unwritable_disk_is_one_line(tmp_path: Path, monkeypatch, capsys, code: int, kind: str, words: str) -> None:  # noqa: ANN001
    rec = RunRecord("m", spec={}, metrics={"forget_acc": 0.5}).save(tmp_path / "record.json")
    _unwritable(monkeypatch, code, tmp_path / "full")
    assert main(["report", str(rec), "--out", str(tmp_path / "full" / "r.html"), "--no-thumbnails", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {kind}") and "r.html" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("code", "kind", "words"), ERRNO_KINDS)
def test_an_unwritable_cache_costs_a_warning_and_the_run_goes_on(tmp_path: Path, monkeypatch, code: int, kind: str, words: str) -> None:  # noqa: ANN001
    cache = tmp_path / "cache"
    monkeypatch.setenv("LETHE_CACHE_DIR", str(cache))
    _unwritable(monkeypatch, code, cache)
    events = list(Runner(threads=1).run(JobSpec(**QUICK), out_dir=tmp_path / "out"))
    assert isinstance(events[-1], Finished)
    warnings = [e.message for e in events if isinstance(e, Log) and e.level == "warning"]
    assert any("not cached" in w and kind in w and str(cache) in w for w in warnings)
    assert (tmp_path / "out" / "record.json").exists()
    assert not cache.exists() or not any(cache.rglob("*.safetensors"))


# ------------------------------------------------------------------------ orphans of a crash
def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)


def _aged(path: Path, seconds: float) -> Path:
    path.write_bytes(b"half-written")
    os.utime(path, (time.time() - seconds, time.time() - seconds))
    return path


def test_only_lethes_own_orphans_are_swept(tmp_path: Path) -> None:
    dead = _dead_pid()
    orphan = _aged(tmp_path / f".m.safetensors.lethe-{dead}-0123abcd.tmp", 3600)
    legacy = _aged(tmp_path / ".record.json.0123456789ab.tmp", 7200)
    keep = [
        _aged(tmp_path / f".m.safetensors.lethe-{os.getpid()}-0123abcd.tmp", 3600),  # a write in progress here
        _aged(tmp_path / f".m.json.lethe-{dead}-0123abcd.tmp", 1),  # too young: maybe another host's
        _aged(tmp_path / ".r.json.fedcba987654.tmp", 60),  # a legacy name, younger than an hour
        _aged(tmp_path / "notes.tmp", 7200), _aged(tmp_path / "model.safetensors", 7200),
        _aged(tmp_path / ".cache.tmp", 7200),
    ]
    assert sorted(sweep_orphan_tmp(tmp_path)) == sorted([orphan, legacy])
    assert all(p.exists() for p in keep) and not orphan.exists() and not legacy.exists()


def test_runs_sweep_the_cache_and_the_out_folder_on_start(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "models").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    dead = _dead_pid()
    in_cache = _aged(tmp_path / "cache" / "models" / f".original-abc.safetensors.lethe-{dead}-0123abcd.tmp", 600)
    in_out = _aged(tmp_path / "out" / f".record.json.lethe-{dead}-0123abcd.tmp", 600)
    assert isinstance(list(Runner(threads=1).run(JobSpec(**QUICK), out_dir=tmp_path / "out"))[-1], Finished)
    assert not in_cache.exists() and not in_out.exists()
    with OutputFolder.claim(tmp_path / "o2"):
        pass


# ------------------------------------------------------------------------ memory bombs
@pytest.fixture()
def small_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bombs a test can afford: the ratio rule applies from 1 MB of declared data up."""
    monkeypatch.setattr(limits, "INFLATE_FLOOR_BYTES", 1 << 20)


def test_a_zipped_pt_bomb_is_refused_before_it_is_inflated(bn_model, tmp_path: Path, small_floor: None) -> None:  # noqa: ANN001
    plain = tmp_path / "plain.pt"
    torch.save({**bn_model.state_dict(), "extra_zeros": torch.zeros(64 << 20, dtype=torch.uint8)}, plain)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename))
    assert bomb.stat().st_size < 1_000_000  # 64 MB of zeros (and 0.4 MB of weights) in under 1 MB
    with pytest.raises(BadCheckpoint, match="decompression bomb"):
        load_checkpoint(bomb, arch="cnn_small", expect_num_classes=10, expect_input_shape=(1, 8, 8))


def test_an_ordinary_pt_state_dict_still_loads(bn_model, tmp_path: Path, small_floor: None) -> None:  # noqa: ANN001
    torch.save(bn_model.state_dict(), tmp_path / "m.pt")
    model, _ = load_checkpoint(tmp_path / "m.pt", arch="cnn_small", expect_num_classes=10, expect_input_shape=(1, 8, 8))
    assert model.num_classes == 10


def _npz(path: Path, x_train: np.ndarray) -> Path:
    n = x_train.shape[0]
    np.savez_compressed(path, x_train=x_train, y_train=np.arange(n) % 2, x_test=np.zeros((4, 8, 8), np.uint8),
                        y_test=np.arange(4) % 2)
    return path


def test_an_npz_bomb_is_refused_before_it_is_inflated(tmp_path: Path, small_floor: None) -> None:
    bomb = _npz(tmp_path / "bomb.npz", np.zeros((40, 320, 320), np.uint8))  # 4 MB of zeros in a few KB
    with pytest.raises(BadDataset, match="decompression bomb"):
        load_npz(bomb)
    ok = _npz(tmp_path / "ok.npz", np.random.default_rng(0).integers(0, 255, (40, 8, 8), dtype=np.uint8))
    assert load_npz(ok).x_train.shape == (40, 1, 8, 8)


def test_an_npz_whose_header_lies_about_its_shape_is_refused(tmp_path: Path) -> None:
    good = _npz(tmp_path / "good.npz", np.zeros((6, 8, 8), np.uint8))
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(liar, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "x_train.npy":  # 38 GB declared, 64 bytes given
                header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (600000000, 8, 8), }".ljust(117) + b"\n"
                data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64
            zout.writestr(item.filename, data)
    with pytest.raises(BadDataset, match="declares shape"):
        load_npz(liar)


def test_a_tiny_cifar_folder_is_not_accepted_as_thousands_of_images(tmp_path: Path) -> None:
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / f).write_bytes(tiny_cifar_batch(2000))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2))
    assert sum(p.stat().st_size for p in d.iterdir()) < 2000
    with pytest.raises(BadDataset, match="data_batch_1: refusing an array view"):
        load_cifar("cifar10", tmp_path)


def test_a_cifar_batch_bigger_than_its_file_is_refused_before_it_is_copied(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from engine.data import cifar

    (tmp_path / "data_batch_1").write_bytes(b"x" * 100)
    view = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(50_000, 3072), strides=(0, 0))
    monkeypatch.setattr(cifar, "safe_load_pickle", lambda path, raw=None: {"data": view, "labels": [0] * 50_000})
    with pytest.raises(BadDataset, match="declares 50,000 images"):
        cifar._read_batch(tmp_path / "data_batch_1", "labels")


def test_a_cifar_pickle_declaring_more_images_than_it_holds_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    real = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3]}
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / f).write_bytes(pickle.dumps(real, protocol=2))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2))
    assert load_cifar("cifar10", tmp_path).x_train.shape == (20, 3, 32, 32)  # honest files load
    buf = io.BytesIO()
    pickle.dump({"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3]}, buf, protocol=2)
    lying = buf.getvalue().replace(b"K\x04M\x00\x0c\x86", b"M\x10'M\x00\x0c\x86")  # shape (4, 3072) -> (10000, 3072)
    assert lying != buf.getvalue()
    (d / "data_batch_1").write_bytes(lying)
    with pytest.raises(BadDataset):
        load_cifar("cifar10", tmp_path)


def _image_folder(root: Path, side: int, per_class: int = 3) -> Path:
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", (side, side), color=i * 40).save(root / c / f"{i}.png")
    return root


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [12, 20])  # over the limit (Pillow only warns), and over twice it (Pillow refuses)
def test_pillows_decompression_bomb_limit_is_honoured(tmp_path: Path, monkeypatch, side: int) -> None:  # noqa: ANN001
    root = _image_folder(tmp_path / "imgs", side)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BadDataset, match="decompression") as info:
        load_folder(root)
    assert ".png" in info.value.message


def test_an_image_folder_too_large_for_memory_is_refused_before_allocation(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    root = _image_folder(tmp_path / "imgs", 20)
    assert load_folder(root).x_train.shape[1:] == (1, 20, 20)
    monkeypatch.setattr(limits, "MAX_INFLATE_BYTES", 2000)
    with pytest.raises(BadDataset, match="would need"):
        load_folder(tmp_path / "imgs")
