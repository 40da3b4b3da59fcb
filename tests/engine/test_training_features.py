"""The training loop, recipes, the feature pass and the geometry probe."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data import ForgetSpec
from engine._core.errors import BadSpec, Cancelled
from engine._core.cancel import CancelToken
from engine._core.events import Metrics, Progress
from engine.train.features import FeatureCache, extract
from engine.models.base import eval_mode, freeze_batchnorm
from engine.train.pretrained import fresh_model
from engine.live.probe import GeometryProbe
from engine.train.loop import augment_batch, epoch_batches, train
from engine.train.recipe import Recipe, default_recipe

from engine._core.events import drain


def test_recipes_reject_bad_fields_with_the_field_name() -> None:
    with pytest.raises(BadSpec, match=r"recipe\.optimizer"):
        Recipe(optimizer="lbfgs")
    with pytest.raises(BadSpec, match="unknown field 'epoch'"):
        Recipe.from_json({"epoch": 3})
    assert Recipe.from_json(Recipe(epochs=3).to_json()) == Recipe(epochs=3)


def test_digits_never_get_flipped_but_natural_images_do() -> None:
    assert default_recipe("cnn_small", (8, 8), 1).augment == "none"
    assert default_recipe("convnet", (32, 32), 3).augment == "flip_crop"


def test_augmentation_keeps_shape_and_is_seeded() -> None:
    x = torch.randn(6, 3, 32, 32)
    a = augment_batch(x, "flip_crop", torch.Generator().manual_seed(1))
    b = augment_batch(x, "flip_crop", torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


def test_epoch_batches_cover_every_row_once_and_never_leave_a_single_row() -> None:
    batches = epoch_batches(129, 64, torch.Generator().manual_seed(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(129))
    assert min(len(b) for b in batches) > 1


def test_training_reports_progress_and_per_epoch_metrics(digits) -> None:  # noqa: ANN001
    model = fresh_model("mlp", digits, 0)
    events = []
    gen = train(model, digits.x_train, digits.y_train, digits.mean, digits.std, Recipe(epochs=2), device=torch.device("cpu"))
    while True:
        try:
            events.append(next(gen))
        except StopIteration:
            break
    epochs = [e for e in events if isinstance(e, Metrics)]
    assert [e.values["epoch"] for e in epochs] == [1.0, 2.0]
    assert epochs[1].values["loss"] < epochs[0].values["loss"]
    assert [e for e in events if isinstance(e, Progress)][-1].fraction == 1.0


def test_training_stops_at_the_next_batch_when_cancelled(digits) -> None:  # noqa: ANN001
    token = CancelToken()
    gen = train(fresh_model("mlp", digits, 0), digits.x_train, digits.y_train, digits.mean, digits.std,
                Recipe(epochs=5), device=torch.device("cpu"), token=token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_the_same_seed_trains_the_same_model(digits) -> None:  # noqa: ANN001
    def trained() -> torch.Tensor:
        m = fresh_model("mlp", digits, 7)
        drain(train(m, digits.x_train, digits.y_train, digits.mean, digits.std, Recipe(epochs=1), device=torch.device("cpu"), seed=7))
        return m.head.weight.detach().clone()

    assert torch.equal(trained(), trained())


def test_the_feature_pass_matches_the_model_and_is_batch_size_independent(digits, digits_original) -> None:  # noqa: ANN001
    x = digits.x_test[:100]
    a = extract(digits_original, x, digits.mean, digits.std, batch_size=7)
    b = extract(digits_original, x, digits.mean, digits.std, batch_size=512)
    with torch.inference_mode():
        logits = digits_original(digits.normalise(x))
    assert np.allclose(a.features, b.features, atol=1e-5)
    assert np.allclose(a.logits, logits.numpy(), atol=1e-5)
    assert a.features.shape == (100, digits_original.feature_dim)


def test_evaluation_restores_each_module_mode_so_frozen_batchnorm_stays_frozen(digits_original) -> None:  # noqa: ANN001
    import copy

    model = copy.deepcopy(digits_original).train()
    freeze_batchnorm(model)
    with eval_mode(model):
        assert not model.training
    bn = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert model.training and bn and not any(m.training for m in bn)


def test_the_feature_cache_computes_once_per_key() -> None:
    cache = FeatureCache(max_entries=2)
    calls = []
    for key in [("w", "a"), ("w", "a"), ("w", "b"), ("w", "c"), ("w", "a")]:
        cache.get_or_compute(key, lambda: calls.append(1))
    assert len(calls) == 4 and cache.hits == 1


def test_the_geometry_probe_keeps_every_forget_image_and_a_fixed_basis(digits, digits_original) -> None:  # noqa: ANN001
    split = ForgetSpec(classes=(3,)).resolve(digits)
    probe = GeometryProbe(digits, split, digits_original, torch.device("cpu"), max_points=500)
    assert set(split.forget_idx) <= set(probe.indices) and len(probe.indices) <= 500
    frame = probe.frame(digits_original, "original", 0, 0.0)
    assert frame.coords.shape == (len(probe.indices), 2)
    assert frame.gram.shape == (10, 10) and frame.means2d.shape == (10, 2)
    assert frame.is_forget.sum() == len(split.forget_idx)
    assert 0 < frame.nc["mean_angle_deg"] < 180
