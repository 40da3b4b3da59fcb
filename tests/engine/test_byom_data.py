"""Bring your own data, as it lies on disk: 16-bit images, mixed sizes, val/ splits, unreadable files,
CIFAR pickles of protocol 5 and the unextracted download, a MedMNIST folder in the source string."""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.folder import load_folder
from engine.data.sources import load_dataset, parse_source


def _digit_like(n: int, seed: int = 0) -> np.ndarray:
    """(n, 8, 8) uint8 with 17 grey levels, like scikit-learn's digits scaled to 0-255."""
    return (np.random.default_rng(seed).integers(0, 17, (n, 8, 8)) * 15).astype(np.uint8)


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    x = _digit_like(24)
    for i, img in enumerate(x):
        d = tmp_path / "png16" / f"class{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.astype(np.uint16) * 257).save(d / f"{i:03d}.png")  # full 16-bit range
    assert Image.open(tmp_path / "png16" / "class0" / "000.png").mode.startswith("I")
    b = load_folder(tmp_path / "png16")
    loaded = np.sort(np.concatenate([b.x_train, b.x_test]).reshape(-1))
    assert np.array_equal(loaded, np.sort(x.reshape(-1)))  # the same 17 levels, not 0/255
    assert len(np.unique(loaded)) == len(np.unique(x))


def _tree(root: Path, sizes: list[tuple[int, int]]) -> None:
    rng = np.random.default_rng(1)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / c / f"{i:02d}.png")


def test_mixed_sizes_go_to_the_most_common_size_with_a_note(tmp_path: Path) -> None:
    _tree(tmp_path / "mixed", [(64, 64)] + [(20, 16)] * 5)  # the alphabetically first file is the odd one
    b = load_folder(tmp_path / "mixed")
    assert b.image_size == (16, 20)
    assert any("2 of 12 images are not 20x16" in n and "most common" in n for n in b.notes)
    b2 = load_dataset(f"folder:{tmp_path / 'mixed'}@12")
    assert b2.image_size == (12, 12) and b2.source.endswith("@12")
    assert parse_source("folder:/data/set@home/imgs").arg == "/data/set@home/imgs"  # an @ in a path stays a path


@pytest.mark.parametrize("test_dir", ["val", "valid"])
def test_val_folder_is_the_test_split(tmp_path: Path, test_dir: str) -> None:
    _tree(tmp_path / "ds" / "train", [(8, 8)] * 4)
    _tree(tmp_path / "ds" / test_dir, [(8, 8)] * 2)
    b = load_folder(tmp_path / "ds")
    assert (len(b.x_train), len(b.x_test)) == (8, 4)
    assert any(f"{test_dir}/ is used as the test split" in n for n in b.notes)


def _cifar_dicts() -> dict[str, dict[bytes, object]]:
    rng = np.random.default_rng(0)
    def batch(n: int) -> dict[bytes, object]:
        return {b"batch_label": b"b", b"labels": [int(v) for v in rng.integers(0, 10, n)],
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    out = {f"data_batch_{i}": batch(3) for i in range(1, 6)}
    out["test_batch"] = batch(3)
    out["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    return out


def _write(root: Path, protocol: int) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for name, obj in _cifar_dicts().items():
        (d / name).write_bytes(pickle.dumps(obj, protocol=protocol))
    return d


def test_cifar_protocol_5_and_the_unextracted_archive(tmp_path: Path) -> None:
    ref = load_dataset(f"cifar10:{_write(tmp_path / 'p2', 2).parent}")
    p5 = load_dataset(f"cifar10:{_write(tmp_path / 'p5', 5).parent}")
    assert p5.fingerprint == ref.fingerprint
    (tmp_path / "tar").mkdir()
    with tarfile.open(tmp_path / "tar" / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "p2" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from_tar = load_dataset(f"cifar10:{tmp_path / 'tar'}")
    assert from_tar.fingerprint == ref.fingerprint
    assert not (tmp_path / "tar" / "cifar-10-batches-py").exists()  # read in memory, nothing extracted


def test_medmnist_folder_in_the_source_string(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 12), ("val", 3), ("test", 6)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 9).astype(np.uint8)[:, None]
    np.savez(tmp_path / "pathmnist_64.npz", **arrays)
    b = load_dataset(f"medmnist:pathmnist@64:{tmp_path}")
    assert b.x_train.shape == (12, 3, 64, 64) and b.num_classes == 9
    assert parse_source(f"medmnist:pathmnist:{tmp_path}").size == 28


def test_cifar100_coarse_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name, n in (("train", 40), ("test", 20)):
        fine = rng.integers(0, 100, n)
        (d / name).write_bytes(pickle.dumps({b"fine_labels": [int(v) for v in fine], b"coarse_labels": [int(v) // 5 for v in fine],
                                             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}, protocol=2))
    (d / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                           b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}, protocol=2))
    fine_b, coarse_b = load_dataset(f"cifar100:{tmp_path}"), load_dataset(f"cifar100-coarse:{tmp_path}")
    assert (fine_b.num_classes, coarse_b.num_classes) == (100, 20) and coarse_b.classes[0] == "super0"
    assert np.array_equal(coarse_b.y_train, fine_b.y_train // 5)
