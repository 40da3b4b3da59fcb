"""Checkpoint round trips, refusal of unsafe or mismatched files, and atomic writes."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from engine._core import fileio
from engine.models.checkpoints import load_checkpoint, save_checkpoint, weights_fingerprint
from engine._core.errors import BadCheckpoint, DiskFull
from engine._core.fileio import atomic_write, atomic_write_bytes, atomic_write_text, sha256_file
from engine.models import LetheModel, create_model


def _model(arch: str = "cnn_small", classes: int = 4, seed: int = 0) -> LetheModel:
    torch.manual_seed(seed)
    model = create_model(arch, 1, (8, 8), classes)
    # Non-trivial BN statistics so buffers are part of what must round-trip.
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 1, 8, 8))
    return model.eval()


def _x() -> torch.Tensor:
    return torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))  # (N, C, H, W)


def _logits(model: LetheModel) -> torch.Tensor:
    with torch.no_grad():
        return model(_x())  # (N, K)


# ---------------------------------------------------------------------------------------------- round trips


def test_safetensors_round_trip_identical_logits(tmp_path: Path) -> None:
    model = _model()
    model.logit_mask = [2]
    path = save_checkpoint(model, tmp_path / "orig", meta={"classes": ["a", "b", "c", "d"], "metrics": {"acc": 0.9}})
    assert path == tmp_path / "orig.safetensors"
    assert (tmp_path / "orig.json").is_file()
    loaded, info = load_checkpoint(path)
    assert not loaded.training
    assert loaded.logit_mask == [2]
    assert loaded.config == model.config and loaded.arch == "cnn_small"
    assert torch.equal(_logits(loaded), _logits(model))
    assert weights_fingerprint(loaded) == weights_fingerprint(model)
    assert info["classes"] == ["a", "b", "c", "d"]
    # "dir/name" works for loading too
    loaded2, _ = load_checkpoint(tmp_path / "orig")
    assert torch.equal(_logits(loaded2), _logits(model))


def test_sidecar_contents(tmp_path: Path) -> None:
    model = _model(classes=3)
    model.logit_mask = [1]
    meta = {"classes": ["x", "y", "z"], "dataset_fingerprint": "abc123", "recipe": {"method": "pour", "lr": 0.01},
            "metrics": {"forget_acc": 0.0}, "note": "extra keys survive"}
    save_checkpoint(model, tmp_path / "m.safetensors", meta=meta)
    info = json.loads((tmp_path / "m.json").read_text())
    assert info["schema_version"] == 1
    assert info["format"] == "lethe-checkpoint"
    assert info["arch"] == "cnn_small"
    assert info["config"] == {"arch": "cnn_small", "in_channels": 1, "image_size": [8, 8], "num_classes": 3}
    assert info["logit_mask"] == [1]
    assert info["num_classes"] == 3
    assert info["input_shape"] == [1, 8, 8]
    assert info["classes"] == ["x", "y", "z"]
    assert info["dataset_fingerprint"] == "abc123"
    assert info["recipe"] == {"method": "pour", "lr": 0.01}
    assert info["metrics"] == {"forget_acc": 0.0}
    assert info["note"] == "extra keys survive"
    assert info["weights_sha256"] == sha256_file(tmp_path / "m.safetensors")
    assert info["weights_fingerprint"] == weights_fingerprint(model)


def test_fingerprint_tracks_weights() -> None:
    a, b = _model(seed=0), _model(seed=0)
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.head.bias[0] += 1e-3
    assert weights_fingerprint(a) != weights_fingerprint(b)
    plain = weights_fingerprint(a)
    a.logit_mask = [1]  # same weights, other logits: cached logits must not be reused
    assert weights_fingerprint(a) != plain


def test_pt_state_dict_round_trip_with_arch(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "plain.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(BadCheckpoint, match="architecture"):
        load_checkpoint(path)
    loaded, info = load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})
    assert torch.equal(_logits(loaded), _logits(model))
    assert info["num_classes"] == 4 and info["logit_mask"] == []
    # input shape may come from the dataset instead of a config
    loaded, _ = load_checkpoint(path, arch="cnn_small", expect_input_shape=(1, 8, 8), expect_num_classes=4)
    assert torch.equal(_logits(loaded), _logits(model))


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_wrapped_and_dataparallel_prefix(tmp_path: Path, wrapper: str) -> None:
    model = _model()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "ddp.pth"
    torch.save({wrapper: state, "epoch": 7}, path)
    loaded, _ = load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})
    assert torch.equal(_logits(loaded), _logits(model))


def test_sidecar_beside_pt_file(tmp_path: Path) -> None:
    model = _model()
    save_checkpoint(model, tmp_path / "w")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded, _ = load_checkpoint(tmp_path / "w.pt")  # arch and config from w.json
    assert torch.equal(_logits(loaded), _logits(model))


# ---------------------------------------------------------------------------------------------- mismatches


def test_wrong_arch_lists_shapes(tmp_path: Path) -> None:
    path = tmp_path / "cnn.pt"
    torch.save(_model("cnn_small").state_dict(), path)
    with pytest.raises(BadCheckpoint) as err:
        load_checkpoint(path, arch="mlp", config={"in_channels": 1, "image_size": [8, 8]})
    text = err.value.message
    assert "missing keys" in text and "unexpected keys" in text
    assert "more" in text  # long key lists are cut to a few
    assert err.value.hint


def test_wrong_num_classes_shapes_in_message(tmp_path: Path) -> None:
    path = tmp_path / "four.pt"
    torch.save(_model(classes=4).state_dict(), path)
    with pytest.raises(BadCheckpoint) as err:
        load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8], "num_classes": 7})
    assert "head.weight" in err.value.message
    assert "(7, 128)" in err.value.message and "(4, 128)" in err.value.message


def test_expect_num_classes_and_input_shape(tmp_path: Path) -> None:
    path = save_checkpoint(_model(classes=4), tmp_path / "m")
    with pytest.raises(BadCheckpoint, match=r"4 classes.*10"):
        load_checkpoint(path, expect_num_classes=10)
    with pytest.raises(BadCheckpoint, match=r"1x8x8.*3x32x32"):
        load_checkpoint(path, expect_input_shape=(3, 32, 32))
    model, _ = load_checkpoint(path, expect_num_classes=4, expect_input_shape=(1, 8, 8))
    assert model.num_classes == 4


def test_safetensors_without_sidecar(tmp_path: Path) -> None:
    model = _model()
    path = save_checkpoint(model, tmp_path / "lonely")
    (tmp_path / "lonely.json").unlink()
    with pytest.raises(BadCheckpoint, match="sidecar"):
        load_checkpoint(path)
    loaded, _ = load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})
    assert torch.equal(_logits(loaded), _logits(model))


# ---------------------------------------------------------------------------------------------- corrupt and hostile files


def test_truncated_safetensors(tmp_path: Path) -> None:
    path = save_checkpoint(_model(), tmp_path / "t")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadCheckpoint, match="corrupt"):
        load_checkpoint(path)


def test_replaced_weights_fail_checksum(tmp_path: Path) -> None:
    path = save_checkpoint(_model(seed=0), tmp_path / "a")
    other = save_checkpoint(_model(seed=1), tmp_path / "b")
    path.write_bytes(other.read_bytes())
    with pytest.raises(BadCheckpoint, match="checksum"):
        load_checkpoint(path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_garbage_bytes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(BadCheckpoint, match="corrupt or not a weights file"):
        load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})


def test_truncated_pt(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    torch.save(_model().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadCheckpoint, match="corrupt"):
        load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})


class _Hostile:
    """Unpickling this runs ``open(target, "w")``: it creates a file (a stand-in for any code)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.target), "w"))


def test_hostile_pickle_is_refused_not_run(tmp_path: Path) -> None:
    # The payload really is hostile: a plain (unsafe) torch.load creates the file.
    probe = tmp_path / "probe_created"
    torch.save({"state_dict": _Hostile(probe)}, tmp_path / "probe.pt")
    torch.load(tmp_path / "probe.pt", weights_only=False).get("state_dict").close()  # unsafe load: the point
    assert probe.exists()

    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": _Hostile(target)}, path)
    with pytest.raises(BadCheckpoint) as err:
        load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})
    assert "arbitrary Python objects" in err.value.message
    assert "refused for safety" in err.value.message
    assert not target.exists()


def test_non_state_dict_pickle(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(BadCheckpoint, match="state dict"):
        load_checkpoint(path, arch="cnn_small", config={"in_channels": 1, "image_size": [8, 8]})


def test_corrupt_sidecar(tmp_path: Path) -> None:
    path = save_checkpoint(_model(), tmp_path / "s")
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(BadCheckpoint, match="sidecar"):
        load_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadCheckpoint, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing.safetensors")


# ---------------------------------------------------------------------------------------------- writing


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    original = _model(seed=0)
    path = save_checkpoint(original, tmp_path / "orig")
    before = path.read_bytes(), (tmp_path / "orig.json").read_bytes()
    with pytest.raises(BadCheckpoint, match="refusing to overwrite"):
        save_checkpoint(_model(seed=1), tmp_path / "orig.safetensors")
    assert (path.read_bytes(), (tmp_path / "orig.json").read_bytes()) == before
    replacement = _model(seed=1)
    save_checkpoint(replacement, tmp_path / "orig", overwrite=True)
    loaded, _ = load_checkpoint(path)
    assert torch.equal(_logits(loaded), _logits(replacement))


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"

    def failing_writer(tmp: Path) -> None:
        tmp.write_bytes(b"half of it")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash mid-write"):
        atomic_write(target, failing_writer)
    assert list(tmp_path.iterdir()) == []

    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="crash mid-write"):
        atomic_write(target, failing_writer)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_write_text_and_sha(tmp_path: Path) -> None:
    target = atomic_write_text(tmp_path / "sub" / "a.txt", "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    import hashlib

    assert sha256_file(target) == hashlib.sha256("héllo\n".encode()).hexdigest()


def test_disk_full_raises_diskfull(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "big.bin"

    def full_writer(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull) as err:
        atomic_write(target, full_writer)
    assert str(target) in err.value.message
    assert list(tmp_path.iterdir()) == []

    # ENOSPC during the final rename (monkeypatched) is reported the same way, for checkpoints too.
    def no_space(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", no_space)
    with pytest.raises(DiskFull):
        save_checkpoint(_model(), tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_checkpoint_files_get_ordinary_permissions(tmp_path: Path) -> None:
    """safetensors recreates its file as 0o600; the saved checkpoint must follow the umask like any file."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    path = save_checkpoint(_model(), tmp_path / "perm")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert (tmp_path / "perm.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
