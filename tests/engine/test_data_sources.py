"""Source strings, the default data root, and the in-process cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.data import describe_sources, load_dataset
from engine.data.sources import cached_sources, clear_cache, default_data_root, parse_source
from engine._core.errors import UnknownName


def _npz(path: Path, value: int = 0) -> Path:
    np.savez(
        path,
        x_train=np.full((4, 2, 2), value, np.uint8), y_train=np.array([0, 1, 0, 1]),
        x_test=np.full((2, 2, 2), value, np.uint8), y_test=np.array([0, 1]),
    )
    return path


def test_unknown_scheme_lists_the_valid_forms() -> None:
    with pytest.raises(UnknownName) as err:
        load_dataset("mnist")
    assert "medmnist:<flag>" in err.value.hint and "npz:<file.npz>" in err.value.hint


@pytest.mark.parametrize("bad", ["", "npz:", "folder:", "medmnist:", "medmnist:pathmnist@big", "digits:x"])
def test_malformed_sources_are_unknown_names(bad: str) -> None:
    with pytest.raises(UnknownName):
        parse_source(bad)


def test_source_strings_parse_into_scheme_argument_and_size() -> None:
    assert parse_source("medmnist:PathMNIST@64") == parse_source("medmnist:pathmnist@64")
    assert parse_source("medmnist:pathmnist@64").size == 64
    assert parse_source("npz:C:/data/x.npz").arg == "C:/data/x.npz"
    assert parse_source("cifar10").arg == ""


def test_describe_sources_names_every_scheme() -> None:
    text = " ".join(describe_sources())
    for scheme in ("digits", "cifar10", "cifar100", "medmnist:", "folder:", "npz:"):
        assert scheme in text


def test_default_data_root_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LETHE_DATA_DIR", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("LETHE_DATA_DIR")
    assert default_data_root() == Path.home() / ".lethe" / "data"


def test_cache_returns_the_same_bundle_until_the_file_changes(tmp_path: Path) -> None:
    p = _npz(tmp_path / "x.npz", 1)
    a = load_dataset(f"npz:{p}")
    assert load_dataset(f"npz:{p}") is a
    _npz(p, 2)
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    b = load_dataset(f"npz:{p}")
    assert b is not a and int(b.x_train[0, 0, 0, 0]) == 2


def test_cache_holds_only_a_few_bundles(tmp_path: Path) -> None:
    clear_cache()
    for i in range(7):
        load_dataset(f"npz:{_npz(tmp_path / f'd{i}.npz')}")
    assert 0 < len(cached_sources()) <= 4
    clear_cache()
    assert cached_sources() == []
