"""MedMNIST .npz files read directly (subsets allowed), in MedMNIST's own key layout."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from engine.data.medmnist import load_medmnist
from engine.data.sources import load_dataset
from engine._core.errors import BadDataset, DatasetMissing, UnknownName


def write_medmnist(path: Path, size: int = 28, rgb: bool = True, k: int = 9, labels_per_image: int = 1) -> Path:
    rng = np.random.default_rng(0)
    shape = (size, size, 3) if rgb else (size, size)
    arrays = {}
    for split, n in (("train", 12), ("val", 3), ("test", 5)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        y = rng.integers(0, k if labels_per_image == 1 else 2, (n, labels_per_image))
        y[0, 0], y[1, 0] = 0, k - 1 if labels_per_image == 1 else 1
        arrays[f"{split}_labels"] = y.astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_rgb_medmnist_loads_train_and_test_with_info_class_names(tmp_path: Path) -> None:
    write_medmnist(tmp_path / "pathmnist.npz")
    b = load_medmnist("pathmnist", tmp_path)
    assert b.x_train.shape == (12, 3, 28, 28) and b.x_test.shape == (5, 3, 28, 28)
    assert b.y_train.ndim == 1 and b.classes[0] == "adipose" and len(b.classes) == 9
    raw = np.load(tmp_path / "pathmnist.npz")
    assert np.array_equal(b.x_train.transpose(0, 2, 3, 1), raw["train_images"])
    assert b.name == "pathmnist"


def test_grey_medmnist_at_64_px_uses_the_sized_file_name(tmp_path: Path) -> None:
    write_medmnist(tmp_path / "pneumoniamnist_64.npz", size=64, rgb=False, k=2)
    b = load_dataset("medmnist:pneumoniamnist@64", root=tmp_path)
    assert b.x_train.shape == (12, 1, 64, 64) and b.num_classes == 2 and b.name == "pneumoniamnist_64"


def test_chestmnist_is_refused_as_multi_label(tmp_path: Path) -> None:
    write_medmnist(tmp_path / "chestmnist.npz", rgb=False, k=14, labels_per_image=14)
    with pytest.raises(BadDataset, match="multi-label"):
        load_medmnist("chestmnist", tmp_path)


def test_multi_label_arrays_are_refused_even_under_a_single_label_flag(tmp_path: Path) -> None:
    write_medmnist(tmp_path / "pathmnist.npz", k=9, labels_per_image=14)
    with pytest.raises(BadDataset, match="single-label"):
        load_medmnist("pathmnist", tmp_path)


def test_missing_medmnist_file_names_the_expected_path_and_zenodo(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing) as err:
        load_medmnist("bloodmnist", tmp_path, size=128)
    assert str(tmp_path / "bloodmnist_128.npz") in err.value.message and "Zenodo" in err.value.message


def test_unknown_medmnist_flag_is_an_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownName, match="notamnist"):
        load_medmnist("notamnist", tmp_path)


def test_unsupported_medmnist_size_is_an_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownName, match="32"):
        load_dataset("medmnist:pathmnist@32", root=tmp_path)


def test_medmnist_missing_key_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "pathmnist.npz", train_images=np.zeros((2, 28, 28, 3), np.uint8))
    with pytest.raises(BadDataset, match="train_labels"):
        load_medmnist("pathmnist", tmp_path)


def test_reading_class_names_does_not_import_medmnist(tmp_path: Path) -> None:
    if "medmnist" in sys.modules:
        pytest.skip("medmnist was already imported by another test")
    write_medmnist(tmp_path / "dermamnist.npz", k=7)
    assert load_medmnist("dermamnist", tmp_path).num_classes == 7
    assert "medmnist" not in sys.modules  # importing it would create ~/.medmnist


def test_shared_pathmnist_subset_loads_through_the_medmnist_layout(tmp_path: Path) -> None:
    shared = Path("/work/shared/data/pathmnist_subset.npz")
    if not shared.is_file():
        pytest.skip("shared PathMNIST subset not present")
    z = np.load(shared)
    np.savez(
        tmp_path / "pathmnist.npz",
        train_images=z["x_train"], train_labels=z["y_train"][:, None],
        val_images=z["x_test"][:0], val_labels=z["y_test"][:0, None],
        test_images=z["x_test"], test_labels=z["y_test"][:, None],
    )
    b = load_medmnist("pathmnist", tmp_path)
    assert b.class_counts().tolist() == [84, 95, 85, 112, 72, 116, 65, 72, 95]


def test_failed_medmnist_download_is_dataset_missing_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"not the real file"))
    with pytest.raises(DatasetMissing, match="MD5"):
        load_medmnist("pathmnist", tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []
