"""Engine fixtures: the digits dataset, a trained original and a shared Runner (trained once)."""
from __future__ import annotations

import pytest
import torch

from engine.data import load_dataset
from engine._core.events import drain
from engine.runs.runner import Runner
from engine.train.pretrained import obtain_original
from engine.train.recipe import Recipe, default_recipe


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_recipe(digits) -> Recipe:  # noqa: ANN001
    return default_recipe("cnn_small", digits.image_size, digits.channels)


@pytest.fixture(scope="session")
def runner() -> Runner:
    """One Runner for the session: originals and retrains stay in memory between tests."""
    return Runner(threads=1)


@pytest.fixture(scope="session")
def digits_original(digits, digits_recipe):  # noqa: ANN001, ANN201
    return drain(obtain_original(digits, "cnn_small", digits_recipe, device=torch.device("cpu")))
