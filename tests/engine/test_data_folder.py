"""ImageFolder trees written with Pillow."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.folder import load_folder
from engine.data.sources import load_dataset
from engine._core.errors import BadDataset, DatasetMissing


def _png(path: Path, value: int, mode: str = "RGB", size: tuple[int, int] = (6, 5)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill: int | tuple[int, int, int] = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, fill).save(path)


def make_tree(root: Path, per_class: int = 5, mode: str = "RGB") -> Path:
    for c, name in enumerate(("cat", "dog", "emu")):
        for i in range(per_class):
            _png(root / name / f"{i:03d}.png", 10 * c + i, mode)
    return root


def test_single_tree_is_split_80_20_per_class_with_sorted_class_names(tmp_path: Path) -> None:
    b = load_folder(make_tree(tmp_path / "pets"))
    assert b.classes == ("cat", "dog", "emu") and b.name == "pets"
    assert b.x_train.shape == (12, 3, 5, 6) and b.x_test.shape == (3, 3, 5, 6)
    assert b.class_counts("test").tolist() == [1, 1, 1]


def test_pixels_and_labels_match_the_files(tmp_path: Path) -> None:
    b = load_folder(make_tree(tmp_path / "pets"))
    red = np.concatenate([b.x_train[:, 0, 0, 0], b.x_test[:, 0, 0, 0]])
    labels = np.concatenate([b.y_train, b.y_test])
    assert np.array_equal(red // 10, labels)  # each image's red value encodes its class


def test_split_is_deterministic_for_a_seed_and_changes_with_it(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pets", per_class=10)
    a, b, c = load_folder(root, seed=0), load_folder(root, seed=0), load_folder(root, seed=1)
    assert a.fingerprint == b.fingerprint and a.fingerprint != c.fingerprint


def test_all_grey_images_give_one_channel(tmp_path: Path) -> None:
    b = load_folder(make_tree(tmp_path / "g", mode="L"))
    assert b.channels == 1


def test_train_and_test_subfolders_are_used_as_given(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds" / "train", per_class=3)
    make_tree(tmp_path / "ds" / "test", per_class=2)
    b = load_dataset(f"folder:{tmp_path / 'ds'}")
    assert b.x_train.shape[0] == 9 and b.x_test.shape[0] == 6


def test_images_of_another_size_are_resized_to_the_first(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pets")
    _png(root / "emu" / "big.png", 3, size=(12, 10))
    b = load_folder(root)
    assert b.image_size == (5, 6)


def test_missing_folder_is_dataset_missing_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing, match="nowhere"):
        load_folder(tmp_path / "nowhere")


def test_folder_without_class_folders_is_a_bad_dataset(tmp_path: Path) -> None:
    with pytest.raises(BadDataset, match="no class folders"):
        load_folder(tmp_path)


def test_class_folder_without_images_is_named(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pets")
    (root / "yak").mkdir()
    with pytest.raises(BadDataset, match="yak"):
        load_folder(root)


def test_unreadable_image_is_skipped_and_named(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pets")
    good = load_folder(root)
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    bundle = load_folder(root)
    assert len(bundle.x_train) + len(bundle.x_test) == len(good.x_train) + len(good.x_test)
    assert any("skipped 1 unreadable" in n and "broken.png" in n for n in bundle.notes)


def test_train_folder_without_test_folder_is_refused_clearly(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds" / "train")
    with pytest.raises(BadDataset, match="no test/ folder"):
        load_folder(tmp_path / "ds")
