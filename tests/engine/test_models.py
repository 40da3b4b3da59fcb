"""Every registered architecture honours the LetheModel contract (new ones are picked up automatically)."""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from engine._core.errors import BadSpec, UnknownName
from engine.models import LetheModel, available_models, create_model, model_from_config, register_model
from engine.models import registry

# Input shapes (C, H, W) each architecture is tested on; models not listed get DEFAULT_SHAPES.
SHAPES: dict[str, list[tuple[int, int, int]]] = {
    "mlp": [(1, 8, 8), (3, 28, 28)],
    "cnn_small": [(1, 8, 8), (3, 28, 28)],
    "convnet": [(3, 32, 32)],
    "resnet18_cifar": [(3, 32, 32)],
}
DEFAULT_SHAPES = [(3, 32, 32)]
NUM_CLASSES = 5
BATCH = 2

CASES = [(name, shape) for name in available_models() for shape in SHAPES.get(name, DEFAULT_SHAPES)]
IDS = [f"{name}-{'x'.join(map(str, shape))}" for name, shape in CASES]


@functools.cache
def _cached(name: str, shape: tuple[int, int, int]) -> tuple[LetheModel, torch.Tensor]:
    torch.manual_seed(0)
    model = create_model(name, shape[0], shape[1:], NUM_CLASSES)
    x = torch.randn(BATCH, *shape)  # (N, C, H, W)
    return model, x


def _build(name: str, shape: tuple[int, int, int]) -> tuple[LetheModel, torch.Tensor]:
    """One model per case, shared by the read-only tests (ResNet-18 takes a while to initialise)."""
    model, x = _cached(name, shape)
    model.eval()
    model.logit_mask = []
    return model, x


def test_all_expected_models_registered() -> None:
    assert {"mlp", "cnn_small", "convnet", "resnet18_cifar"} <= set(available_models())
    assert available_models() == sorted(available_models())


@pytest.mark.parametrize(("name", "shape"), CASES, ids=IDS)
def test_forward_and_features_shapes(name: str, shape: tuple[int, int, int]) -> None:
    model, x = _build(name, shape)
    assert isinstance(model, LetheModel)
    assert isinstance(model.head, nn.Linear)
    assert model.arch == name
    with torch.no_grad():
        z = model.features(x)  # (N, d)
        logits = model(x)  # (N, K)
    assert z.shape == (BATCH, model.head.in_features) == (BATCH, model.feature_dim)
    assert logits.shape == (BATCH, NUM_CLASSES)
    assert model.num_classes == NUM_CLASSES
    torch.testing.assert_close(logits, model.head(z))


@pytest.mark.parametrize(("name", "shape"), CASES, ids=IDS)
def test_config_rebuilds_same_architecture(name: str, shape: tuple[int, int, int]) -> None:
    model, _ = _build(name, shape)
    assert model.config == {"arch": name, "in_channels": shape[0], "image_size": list(shape[1:]),
                            "num_classes": NUM_CLASSES}
    clone = model_from_config(model.config)
    assert clone.arch == name and clone.config == model.config
    got = {k: tuple(v.shape) for k, v in clone.state_dict().items()}
    assert got == {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("name", "shape"), CASES, ids=IDS)
def test_logit_mask_blocks_class(name: str, shape: tuple[int, int, int]) -> None:
    model, x = _build(name, shape)
    with torch.no_grad():
        target = int(model(x).argmax(1)[0])  # a class the unmasked model predicts
        model.logit_mask = [target]
        masked = model(x)  # (N, K)
    assert (masked.argmax(1) != target).all()
    assert torch.isfinite(masked).all()
    assert (masked[:, target] <= -1e8).all()


@pytest.mark.parametrize("name", available_models())
def test_gradients_reach_every_parameter(name: str) -> None:
    """Gradients reach the whole network (no detached branch, no in-place autograd error)."""
    shape = SHAPES.get(name, DEFAULT_SHAPES)[0]
    torch.manual_seed(0)
    model = create_model(name, shape[0], shape[1:], NUM_CLASSES).train()
    x = torch.randn(BATCH, *shape)  # (N, C, H, W)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1]))
    loss.backward()
    no_grad = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad


def test_register_same_name_twice_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp")(lambda in_channels, image_size, num_classes: None)
    name = "_test_dummy_model"
    try:
        register_model(name)(registry._REGISTRY["mlp"])
        with pytest.raises(ValueError):
            register_model(name)(registry._REGISTRY["mlp"])
    finally:
        registry._REGISTRY.pop(name, None)
    assert name not in available_models()


def test_unknown_name_lists_available() -> None:
    with pytest.raises(UnknownName) as err:
        create_model("no_such_net", 3, 32, 10)
    for name in available_models():
        assert name in err.value.message


def test_unknown_option_is_bad_spec() -> None:
    with pytest.raises(BadSpec, match="no option"):
        create_model("mlp", 1, 8, 10, depth=3)


def test_image_size_forms() -> None:
    assert create_model("mlp", 1, 8, 3).config["image_size"] == [8, 8]
    assert create_model("mlp", 1, (8, 6), 3).config["image_size"] == [8, 6]
    with pytest.raises(BadSpec):
        create_model("mlp", 1, (8, 6, 2), 3)
