"""CIFAR-10/100 from torchvision's folder layout, written here in the real pickle format."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.data.cifar import load_cifar, safe_load_pickle
from engine.data.sources import load_dataset
from engine._core.errors import BadDataset, DatasetMissing

C10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # what the official Python 2 files are


def _batch(rng: np.random.Generator, n: int, label_key: bytes = b"labels", k: int = 10) -> dict[bytes, object]:
    return {
        b"batch_label": b"training batch",
        label_key: [int(v) for v in rng.integers(0, k, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def write_cifar10(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    for i in range(1, 6):
        _dump(d / f"data_batch_{i}", _batch(rng, n))
    _dump(d / "test_batch", _batch(rng, n))
    _dump(d / "batches.meta", {b"label_names": [s.encode() for s in C10_NAMES], b"num_cases_per_batch": n, b"num_vis": 3072})
    return d


def write_cifar100(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(1)
    d = root / "cifar-100-python"
    for name in ("train", "test"):
        b = _batch(rng, n, b"fine_labels", 100)
        b[b"coarse_labels"] = [int(v) for v in rng.integers(0, 20, n)]
        _dump(d / name, b)
    _dump(d / "meta", {
        b"fine_label_names": [f"fine{i:02d}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse{i:02d}".encode() for i in range(20)],
    })
    return d


class Hostile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # noqa: ANN204 - the classic pickle exploit
        return (os.system, (f"touch {self.target}",))


def test_cifar10_batches_load_as_nchw_with_label_names(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    b = load_cifar("cifar10", tmp_path)
    assert b.x_train.shape == (20, 3, 32, 32) and b.x_test.shape == (4, 3, 32, 32)
    assert b.classes == tuple(C10_NAMES)
    with open(d / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    first = raw[b"data"][0]
    assert np.array_equal(b.x_train[0, 0].reshape(-1), first[:1024])  # rows are 1024 R, G, B
    assert np.array_equal(b.x_train[0, 2].reshape(-1), first[2048:])
    assert b.y_train[:4].tolist() == raw[b"labels"]
    assert b.name == "cifar10"


def test_cifar100_uses_fine_labels_and_fine_label_names(tmp_path: Path) -> None:
    d = write_cifar100(tmp_path)
    b = load_cifar("cifar100", tmp_path)
    with open(d / "train", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert b.num_classes == 100 and b.classes[0] == "fine00"
    assert b.y_train.tolist() == raw[b"fine_labels"]


def test_hostile_pickle_is_refused_without_running_code(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    pwned = tmp_path / "pwned"
    _dump(d / "data_batch_1", {b"data": Hostile(pwned), b"labels": [0]})
    with pytest.raises(BadDataset, match="refusing to unpickle"):
        load_cifar("cifar10", tmp_path)
    assert not pwned.exists()


def test_safe_unpickler_refuses_builtins_such_as_eval(tmp_path: Path) -> None:
    p = tmp_path / "evil"
    p.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(BadDataset, match=r"builtins\.eval"):
        safe_load_pickle(p)


def test_missing_cifar_folder_names_the_expected_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing) as err:
        load_cifar("cifar10", tmp_path)
    expected = str(tmp_path / "cifar-10-batches-py" / "data_batch_1")
    assert expected in err.value.message and "cifar-10-python.tar.gz" in err.value.message


def test_missing_cifar100_meta_is_named(tmp_path: Path) -> None:
    d = write_cifar100(tmp_path)
    (d / "meta").unlink()
    with pytest.raises(DatasetMissing, match="meta"):
        load_cifar("cifar100", tmp_path)


def test_wrong_shape_cifar_data_is_a_bad_dataset(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    _dump(d / "test_batch", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(BadDataset, match="3072"):
        load_cifar("cifar10", tmp_path)


def test_truncated_cifar_file_is_a_bad_dataset(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    (d / "test_batch").write_bytes((d / "test_batch").read_bytes()[:50])
    with pytest.raises(BadDataset, match="test_batch"):
        load_cifar("cifar10", tmp_path)


def test_cifar_source_with_a_root_dir_loads(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    b = load_dataset(f"cifar10:{tmp_path}")
    assert b.source == f"cifar10:{tmp_path}" and b.x_train.shape[0] == 20


def test_cifar_source_uses_the_data_dir_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar100(tmp_path)
    monkeypatch.setenv("LETHE_DATA_DIR", str(tmp_path))
    assert load_dataset("cifar100").num_classes == 100


class _Py2Array:
    """Pickles like a NumPy array written by Python 2: pixel data as a (latin-1) str in the state."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr

    def __reduce__(self):  # noqa: ANN204
        state = (1, self.arr.shape, self.arr.dtype, False, self.arr.tobytes().decode("latin1"))
        return (np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), state)


def test_python2_style_batches_with_str_keys_and_numpy_core_globals_load(tmp_path: Path) -> None:
    d = write_cifar10(tmp_path)
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    blob = pickle.dumps({"data": _Py2Array(data), "labels": [3, 4], "batch_label": "testing batch 1 of 1"}, protocol=2)
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # how NumPy 1.x names it
    (d / "test_batch").write_bytes(blob)
    b = load_cifar("cifar10", tmp_path)
    assert np.array_equal(b.x_test.reshape(2, -1), data) and b.y_test.tolist() == [3, 4]


def test_failed_cifar_download_is_dataset_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    import sys
    import types

    fake = types.ModuleType("torchvision")  # importing the real one costs seconds
    fake.datasets = types.SimpleNamespace(CIFAR10=offline, CIFAR100=offline)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    with pytest.raises(DatasetMissing, match="network is unreachable"):
        load_cifar("cifar10", tmp_path / "data", download=True)
