"""Plain .npz datasets: HWC uint8 images, flat or (N, 1) labels, optional class names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data.npz import load_npz
from engine.data.sources import load_dataset
from engine._core.errors import BadDataset, DatasetMissing

SHARED = Path("/work/shared/data")


def write_npz(path: Path, **overrides: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 0, 1, 2, 0, 1], np.uint8),
        "x_test": rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8),
        "y_test": np.array([[0], [1], [2]], np.int64),
        "classes": np.array(["a", "b", "c"]),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_npz_hwc_images_become_nchw_and_classes_are_read(tmp_path: Path) -> None:
    p = write_npz(tmp_path / "toy.npz")
    b = load_npz(p)
    raw = np.load(p)
    assert b.x_train.shape == (8, 3, 4, 4) and np.array_equal(b.x_train.transpose(0, 2, 3, 1), raw["x_train"])
    assert b.y_test.tolist() == [0, 1, 2] and b.classes == ("a", "b", "c") and b.name == "toy"


def test_npz_without_classes_numbers_them(tmp_path: Path) -> None:
    b = load_npz(write_npz(tmp_path / "toy.npz", classes=None))
    assert b.classes == ("0", "1", "2")


def test_grey_npz_images_get_one_channel(tmp_path: Path) -> None:
    p = write_npz(tmp_path / "g.npz", x_train=np.zeros((8, 5, 5), np.uint8), x_test=np.zeros((3, 5, 5), np.uint8))
    assert load_npz(p).input_shape == (1, 5, 5)


def test_missing_npz_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadDataset, match="y_test"):
        load_npz(write_npz(tmp_path / "toy.npz", y_test=None))


def test_label_beyond_the_class_names_is_a_bad_dataset(tmp_path: Path) -> None:
    with pytest.raises(BadDataset, match="label 5"):
        load_npz(write_npz(tmp_path / "toy.npz", y_test=np.array([0, 1, 5])))


def test_label_count_must_match_image_count(tmp_path: Path) -> None:
    with pytest.raises(BadDataset, match="2 labels for 3 images"):
        load_npz(write_npz(tmp_path / "toy.npz", y_test=np.array([0, 1])))


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    p = write_npz(tmp_path / "toy.npz", classes=np.array(["a", "b", "c"], dtype=object))
    with pytest.raises(BadDataset, match="pickle"):
        load_npz(p)


def test_missing_npz_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing, match=r"absent\.npz"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")


def test_not_an_npz_file_is_a_bad_dataset(tmp_path: Path) -> None:
    p = tmp_path / "junk.npz"
    p.write_bytes(b"hello")
    with pytest.raises(BadDataset):
        load_npz(p)


@pytest.mark.parametrize(
    ("stem", "n_train", "n_classes", "side"),
    [("cifar10_subset", 10000, 10, 32), ("pathmnist_subset", 796, 9, 28)],
)
def test_shared_subsets_load_by_file_stem(stem: str, n_train: int, n_classes: int, side: int) -> None:
    path = SHARED / f"{stem}.npz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    b = load_dataset(f"npz:{path}")
    assert b.name == stem and b.x_train.shape == (n_train, 3, side, side) and b.num_classes == n_classes
