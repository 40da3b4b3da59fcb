"""Issue 12, item 6: forget sets of one and two images, for every method that accepts samples, on
both built-in convolutional architectures (cnn_small and resnet18_cifar, whose last stage runs at
1x1 on 8-px digits, so a batch of one gives BatchNorm one value per channel).

The originals are freshly initialised (a crash does not depend on the weights) and the bundle is a
small slice of digits, so each case runs in about a second; the test fails if a method raises,
returns a model of the wrong shape or non-finite logits. BatchNorm batches of one are run with the
layer's running statistics (``engine.train.loop.batchnorm_single_row``), as a frozen-BatchNorm
fine-tune does.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from engine._core.cancel import CancelToken
from engine._core.events import drain
from engine.data import ForgetSpec
from engine.data.bundle import DatasetBundle
from engine.methods import MethodContext, available, get
from engine.methods.base import params_from_json
from engine.models.registry import create_model
from engine.train.recipe import Recipe

from tests.engine.test_methods_contract import FAST

SAMPLE_METHODS = [m for m in available() if "sample" in get(m).kinds]
ARCHS = ("cnn_small", "resnet18_cifar")
# Smaller still than the contract suite's FAST: one pass, few rows (ResNet-18 on a CPU).
TINY: dict[str, dict[str, object]] = {
    "amun": {"pgd_steps": 1, "max_rounds": 1, "epochs": 1, "batch_size": 64},
    "laf": {"epochs": 1, "vae_epochs": 1, "batch_size": 32},
}


@pytest.fixture(scope="module")
def small_digits(digits) -> DatasetBundle:  # noqa: ANN001
    """120 training and 40 test digits (every class present), the rest of the bundle as is."""
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(digits.y_train), 120, replace=False))
    te = np.sort(rng.choice(len(digits.y_test), 40, replace=False))
    return dataclasses.replace(digits, x_train=digits.x_train[tr], y_train=digits.y_train[tr],
                               x_test=digits.x_test[te], y_test=digits.y_test[te], mean=digits.mean, std=digits.std)


@pytest.fixture(scope="module")
def originals(small_digits):  # noqa: ANN001, ANN201
    out = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        m = create_model(arch, small_digits.channels, small_digits.image_size, small_digits.num_classes)
        out[arch] = m.eval().requires_grad_(False)
    return out


def test_every_sample_method_is_covered() -> None:
    assert len(SAMPLE_METHODS) >= 10 and "ssd" in SAMPLE_METHODS and "retrain" in SAMPLE_METHODS


@pytest.mark.parametrize("n_forget", [1, 2])
@pytest.mark.parametrize("arch", [ARCHS[0], pytest.param(ARCHS[1], marks=pytest.mark.slow)])
@pytest.mark.parametrize("method", SAMPLE_METHODS)
def test_one_and_two_forget_images(method: str, arch: str, n_forget: int, small_digits, originals) -> None:  # noqa: ANN001
    info = get(method)
    original = originals[arch]
    split = ForgetSpec(ids=tuple(range(3, 3 + n_forget))).resolve(small_digits)
    assert split.kind == "sample" and len(split.forget_idx) == n_forget
    ctx = MethodContext(original=original, bundle=small_digits, split=split, probe=None, device=torch.device("cpu"),
                        recipe=Recipe(epochs=1, lr=0.01, batch_size=64), seed=0, token=CancelToken(),
                        reference=copy.deepcopy(original), extras={"use_cache": False})
    params = params_from_json(info.params, {**FAST.get(method, {}), **TINY.get(method, {})})
    model = drain(info.fn(ctx, params))
    with torch.no_grad():
        out = model.eval()(small_digits.normalise(small_digits.x_test[:4], torch.device("cpu")))
    assert out.shape == (4, small_digits.num_classes) and torch.isfinite(out).all(), (method, arch)


def test_pour_d_class_mean_direction_is_centred_as_pour_p(monkeypatch, digits, digits_original) -> None:  # noqa: ANN001
    """POUR-P and POUR-D build the class-mean projector the same way (centred by the global mean)."""
    import engine.methods.pour.pour_d as pour_d
    import engine.methods.pour.pour_p as pour_p

    seen: dict[str, bool] = {}

    class _Stop(Exception):
        pass

    def spy(name: str):  # noqa: ANN202
        def fake(ctx, classes, source, centre):  # noqa: ANN001, ANN202
            seen[name] = centre
            raise _Stop

        return fake

    monkeypatch.setattr(pour_d, "projector", spy("pour_d"))
    monkeypatch.setattr(pour_p, "projector", spy("pour_p"))
    split = ForgetSpec(classes=(3,)).resolve(digits)
    for name in ("pour_d", "pour_p"):
        ctx = MethodContext(original=digits_original, bundle=digits, split=split, device=torch.device("cpu"),
                            recipe=Recipe(epochs=1), seed=0)
        with pytest.raises(_Stop):
            drain(get(name).fn(ctx, params_from_json(get(name).params, {"direction": "class_mean"})))
    assert seen == {"pour_d": True, "pour_p": True}
