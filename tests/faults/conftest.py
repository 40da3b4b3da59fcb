"""Fault tests: each test makes its fault itself (NaN injection, a patched writer raising ENOSPC /
EROFS / EACCES, hostile spec values, a small zip bomb) and checks the one promise it breaks."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.data import DatasetBundle, load_dataset
from engine.models.base import LetheModel
from engine.models.checkpoints import save_checkpoint
from engine.train.pretrained import fresh_model


@pytest.fixture(scope="session")
def digits() -> DatasetBundle:
    return load_dataset("digits")


@pytest.fixture()
def bn_model(digits: DatasetBundle) -> LetheModel:
    """An untrained cnn_small (it has BatchNorm buffers), fresh per test."""
    return fresh_model("cnn_small", digits, 0)


@pytest.fixture()
def saved_checkpoint(bn_model: LetheModel, tmp_path: Path) -> Path:
    """A valid Lethe checkpoint of ``bn_model`` (weights + sidecar) in a fresh folder."""
    return save_checkpoint(bn_model, tmp_path / "ckpt" / "model", {"classes": [str(i) for i in range(10)]})
