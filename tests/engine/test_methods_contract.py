"""The contract every registered unlearning method keeps (parametrised over the registry, as timm
tests its model zoo): on digits with the cnn_small original and tiny hyperparameters, a method runs,
yields Progress, stops within a second of a cancel, returns a model of the original's architecture
and output size, and leaves the original's weights bit-identical. New methods are picked up
automatically (with their default hyperparameters unless FAST lists smaller ones).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import pytest
import torch

from engine._core.cancel import CancelToken
from engine.data import ForgetSpec
from engine._core.errors import BadSpec, Cancelled, UnsupportedForgetSet
from engine._core.events import Geometry, Progress
from engine.methods import MethodContext, available, get
from engine.methods.base import params_from_json
from engine.methods.masks import MASKS
from engine.models.base import LetheModel
from engine.live.probe import GeometryProbe
from engine.train.recipe import Recipe
from engine._core.events import drain

# Tiny settings so the whole contract suite runs in well under a minute on one thread.
FAST: dict[str, dict[str, Any]] = {
    "finetune": {"epochs": 1, "batch_size": 512},
    "pour_d": {"epochs": 1, "min_steps": 3},
    "grad_ascent": {"epochs": 1, "min_steps": 3, "early_stop_acc": -1.0},
    "random_label": {"epochs": 1, "batch_size": 512},
    "salun": {"epochs": 1, "batch_size": 512},
    "neggrad_plus": {"epochs": 1, "batch_size": 512},
    "l1_sparse": {"epochs": 1, "batch_size": 512},
    "scrub": {"epochs": 1, "msteps": 1, "retain_batch_size": 512},
    "bad_teacher": {"batch_size": 128},
    "boundary_shrink": {"epochs": 2},
    "boundary_expand": {"epochs": 2},
    "unsir": {"noise_steps": 2, "noise_copies": 2, "per_class": 20},
    "kodge_projection": {"retain_per_class": 10, "forget_samples": 20, "max_rows": 500},
    "unsc": {"epochs": 1, "retain_batch": 64, "max_rows": 500},
    "amun": {"pgd_steps": 2, "max_rounds": 1, "epochs": 1, "batch_size": 512},
    "trw": {"epochs": 1, "batch_size": 512},
    "oracle_matching": {"epochs": 1, "batch_size": 512},
    "modhifi_u": {"samples": 16},
    "laf": {"epochs": 1, "vae_epochs": 1, "batch_size": 64},
}
QUICK_RECIPE = Recipe(epochs=1, lr=0.05, batch_size=64)  # what Retrain trains with here


def _context(
    method: str, digits, original: LetheModel, token: CancelToken | None = None, *, geometry: bool = False  # noqa: ANN001
) -> MethodContext:
    info = get(method)
    spec = ForgetSpec(classes=(3,)) if "class" in info.kinds else ForgetSpec(fraction=0.1, seed=0)
    split = spec.resolve(digits)
    probe = GeometryProbe(digits, split, original, torch.device("cpu"), seed=0, max_points=100) if geometry else None
    return MethodContext(
        original=original,
        bundle=digits,
        split=split,
        probe=probe,
        device=torch.device("cpu"),
        recipe=QUICK_RECIPE,
        seed=0,
        token=token or CancelToken(),
        reference=copy.deepcopy(original),  # a stand-in oracle for Oracle Matching
        extras={"use_cache": False},
    )


@pytest.fixture(scope="module")
def frozen_original(digits_original):  # noqa: ANN001, ANN201
    """The original as the Runner hands it over: eval mode, gradients off."""
    return digits_original.eval().requires_grad_(False)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", available())
def test_runs_and_keeps_the_original(method: str, digits, frozen_original) -> None:  # noqa: ANN001
    info = get(method)
    params = params_from_json(info.params, FAST.get(method, {}))
    before = _snapshot(frozen_original)
    ctx = _context(method, digits, frozen_original, geometry=True)
    gen = info.fn(ctx, params)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            model = stop.value
            break
    assert any(isinstance(e, Progress) for e in events), f"{method} yielded no Progress"
    assert any(isinstance(e, Geometry) for e in events), f"{method} yielded no Geometry frame"
    assert all(0.0 <= e.fraction <= 1.0 for e in events if isinstance(e, Progress))
    assert isinstance(model, LetheModel)
    plain = model.exportable()
    assert plain.config["arch"] == frozen_original.config["arch"]
    assert plain.num_classes == frozen_original.num_classes
    shapes = {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in before.items()}, f"{method} changed the architecture"
    with torch.no_grad():
        out = model.eval()(digits.normalise(digits.x_test[:5]))
    assert out.shape == (5, frozen_original.num_classes)
    assert torch.isfinite(out).all()
    after = frozen_original.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), f"{method} modified the original's {k}"
    assert not any(p.requires_grad for p in frozen_original.parameters())
    assert not frozen_original.training


@pytest.mark.parametrize("method", available())
def test_cancel_stops_within_a_second(method: str, digits, frozen_original) -> None:  # noqa: ANN001
    info = get(method)
    params = params_from_json(info.params, FAST.get(method, {}))
    token = CancelToken()
    gen = info.fn(_context(method, digits, frozen_original, token), params)
    t_cancel = None
    try:
        for ev in gen:
            if isinstance(ev, Progress) and t_cancel is None:
                token.cancel()
                t_cancel = time.perf_counter()
    except Cancelled:
        pass
    # Stopping means raising Cancelled, or (a one-shot method already past its last check) finishing.
    assert t_cancel is not None, f"{method} yielded no Progress before finishing"
    assert time.perf_counter() - t_cancel < 1.0


@pytest.mark.parametrize("method", available())
def test_declared_kinds_are_enforced(method: str, digits) -> None:  # noqa: ANN001
    info = get(method)
    for spec in (ForgetSpec(classes=(3,)), ForgetSpec(fraction=0.1, seed=0)):
        split = spec.resolve(digits)
        if split.kind in info.kinds:
            info.check_supports(split)
        else:
            with pytest.raises(UnsupportedForgetSet):
                info.check_supports(split)
    assert set(info.needs) <= {"forget", "retain"}
    for f in dataclasses.fields(info.params):
        assert f.metadata.get("help"), f"{method}.{f.name} has no help text"


MASKED = [m for m in available() if "mask" in {f.name for f in dataclasses.fields(get(m).params)}]


@pytest.mark.parametrize("method", MASKED)
def test_salun_mask_freezes_the_non_salient_weights(method: str, digits, frozen_original) -> None:  # noqa: ANN001
    """With mask = salun, every weight outside the top-r saliency set ends bit-identical to the original."""
    info = get(method)
    params = params_from_json(info.params, {**FAST.get(method, {}), "mask": "salun", "mask_ratio": 0.2})
    model = drain(info.fn(_context(method, digits, frozen_original), params))
    orig = dict(frozen_original.named_parameters())
    moved = frozen = 0
    for name, q in model.named_parameters():
        if name not in orig or q.shape != orig[name].shape:
            continue
        same = q.detach() == orig[name]
        frozen += int(same.sum())
        moved += int((~same).sum())
    total = moved + frozen
    assert moved > 0, f"{method}: nothing moved under the SalUn mask"
    assert moved <= 0.2 * total + 10, f"{method}: {moved / total:.1%} of the weights moved with mask_ratio 0.2"


@pytest.mark.parametrize("method", ["grad_ascent", "neggrad_plus"])
def test_feasible_mask_runs(method: str, digits, frozen_original) -> None:  # noqa: ANN001
    info = get(method)
    params = params_from_json(info.params, {**FAST.get(method, {}), "mask": "feasible"})
    model = drain(info.fn(_context(method, digits, frozen_original), params))
    assert any(not torch.equal(q, frozen_original.state_dict()[k]) for k, q in model.state_dict().items())
    assert MASKS == ("none", "salun", "feasible")


def test_oracle_matching_without_reference_is_refused(digits, frozen_original) -> None:  # noqa: ANN001
    ctx = dataclasses.replace(_context("oracle_matching", digits, frozen_original), reference=None)
    with pytest.raises(BadSpec, match="retrain"):
        drain(get("oracle_matching").fn(ctx, get("oracle_matching").default_params()))
