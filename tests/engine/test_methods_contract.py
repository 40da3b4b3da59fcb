"""The contract every registered unlearning method keeps (parametrised over the registry, as timm
tests its model zoo): on digits with the cnn_small original and tiny hyperparameters, a method runs,
yields Progress, stops within a second of a cancel, returns a model of the original's architecture
and output size, and leaves the original's weights bit-identical. New methods are picked up
automatically (with their default hyperparameters unless FAST lists smaller ones).
"""
from __future__ import annotations

import copy
import dataclasses
import threading
import time
from typing import Any

import numpy as np
import pytest
import torch

from engine._core.cancel import CancelToken
from engine.data import ForgetSpec
from engine._core.errors import BadSpec, Cancelled, UnsupportedForgetSet
from engine._core.events import Geometry, Progress
from engine.methods import MethodContext, available, get
from engine.methods.base import params_from_json
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
    method: str, digits, original: LetheModel, token: CancelToken | None = None, *, geometry: bool = False,  # noqa: ANN001
    recipe: Recipe = QUICK_RECIPE,
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
        recipe=recipe,
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


# ---------------------------------------------------------------- cancellation
# Settings an uncancelled run could not finish within a second of the cancel (thousands of optimiser
# steps, or thousands of PGD / noise steps before the first optimiser step). A new method must be
# listed here or in ONE_SHOT, so nobody adds one without deciding how its cancel is tested.
LONG: dict[str, dict[str, Any]] = {
    "finetune": {"epochs": 200, "batch_size": 8},
    "retrain": {},  # trains with LONG_RECIPE
    "pour_d": {"min_steps": 100000, "early_stop_acc": -1.0, "batch_size": 8},
    "grad_ascent": {"min_steps": 100000, "early_stop_acc": -1.0, "batch_size": 8},
    "random_label": {"epochs": 200, "batch_size": 8},
    "salun": {"epochs": 200, "batch_size": 8},
    "neggrad_plus": {"epochs": 200, "batch_size": 8},
    "l1_sparse": {"epochs": 200, "batch_size": 8},
    "scrub": {"epochs": 200, "msteps": 200, "forget_batch_size": 8, "retain_batch_size": 8},
    "bad_teacher": {"epochs": 200, "batch_size": 8},
    "boundary_shrink": {"epochs": 500, "batch_size": 8},
    "boundary_expand": {"epochs": 500, "batch_size": 8},
    "unsir": {"noise_steps": 10000},
    "unsc": {"epochs": 500, "batch_size": 2, "retain_batch": 64, "max_rows": 500},
    "amun": {"pgd_steps": 1000, "max_rounds": 30, "epochs": 200, "batch_size": 8},
    "trw": {"epochs": 200, "batch_size": 8},
    "oracle_matching": {"epochs": 200, "batch_size": 8, "forget_batch_size": 8},
    "laf": {"epochs": 1000, "vae_epochs": 1000, "batch_size": 8},
}
LONG_RECIPE = Recipe(epochs=200, lr=0.05, batch_size=8)
# Closed-form or one-pass methods: no loop can be made long on digits, so their cancel test sets the
# token before the call and requires the data pass to notice it.
ONE_SHOT = {"pour_p", "ssd", "lf_ssd", "kodge_projection", "modhifi_u"}
CANCEL_AFTER_S = 0.3  # the "user" presses Cancel this long after the start


def test_every_method_has_a_cancel_case() -> None:
    assert set(LONG) | ONE_SHOT == set(available()), "list the method in LONG (with long settings) or in ONE_SHOT"
    assert not set(LONG) & ONE_SHOT


@pytest.mark.parametrize("method", sorted(LONG))
def test_cancel_from_another_thread_raises_cancelled_within_a_second(method: str, digits, frozen_original) -> None:  # noqa: ANN001
    """A run far from its end, cancelled from another thread (as the studio does), raises Cancelled in < 1 s."""
    info = get(method)
    params = params_from_json(info.params, LONG[method])
    token = CancelToken()
    gen = info.fn(_context(method, digits, frozen_original, token, recipe=LONG_RECIPE), params)
    cancelled_at: list[float] = []

    def press_cancel() -> None:
        cancelled_at.append(time.perf_counter())
        token.cancel()

    timer = threading.Timer(CANCEL_AFTER_S, press_cancel)
    progress_at_cancel = 0.0
    outcome = "kept running for a second after the cancel"
    timer.start()
    try:
        for ev in gen:
            if isinstance(ev, Progress) and not cancelled_at:
                progress_at_cancel = ev.fraction
            if cancelled_at and time.perf_counter() - cancelled_at[0] > 1.0:
                break  # give up: a run that ignores the token would go on for minutes
        else:
            outcome = "returned a model instead of raising Cancelled"
    except Cancelled:
        outcome = "cancelled"
    finally:
        stopped = time.perf_counter()
        timer.cancel()
        timer.join()
        gen.close()
    assert cancelled_at, f"{method} finished within {CANCEL_AFTER_S} s: LONG[{method!r}] is not long"
    assert progress_at_cancel < 0.5, f"{method} was {progress_at_cancel:.0%} done at the cancel: LONG is not long"
    assert outcome == "cancelled", f"{method} {outcome}"
    assert stopped - cancelled_at[0] < 1.0, f"{method} took {stopped - cancelled_at[0]:.2f} s to stop"


# One case per method: its FAST settings; POUR-P twice, as its default (head) direction needs no data
# pass at all without a probe: with class-mean directions (a pass over the training set) and with the
# live probe (the animation loop).
PRE_CANCEL: list[tuple[str, dict[str, Any], bool]] = [(m, FAST.get(m, {}), False) for m in available() if m != "pour_p"] + [
    ("pour_p", {"direction": "class_mean"}, False),
    ("pour_p", {}, True),
]
PRE_CANCEL_IDS = [m if m != "pour_p" else ("pour_p-probe" if g else "pour_p-class_mean") for m, _, g in PRE_CANCEL]


@pytest.mark.parametrize(("method", "overrides", "geometry"), PRE_CANCEL, ids=PRE_CANCEL_IDS)
def test_a_token_cancelled_before_the_call_stops_the_method(
    method: str, overrides: dict[str, Any], geometry: bool, digits, frozen_original  # noqa: ANN001
) -> None:
    """Every method, one-shot ones included, checks the token in its passes: it raises Cancelled, never returns."""
    info = get(method)
    token = CancelToken()
    token.cancel()
    gen = info.fn(_context(method, digits, frozen_original, token, geometry=geometry),
                  params_from_json(info.params, overrides))
    with pytest.raises(Cancelled):
        drain(gen)


class CancelOnBatch:
    """Presses Cancel when the batch ``rows`` (the first batch of a pass) enters the original's
    ``module``, then counts the batches the original still sees. The hook is a plain function (a
    deepcopy of the original, as ``copy_original`` makes, shares it; copies are ignored)."""

    def __init__(self, module: torch.nn.Module, token: CancelToken, rows: torch.Tensor) -> None:
        self.after_cancel = 0

        def hook(m: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            if m is not module:
                return
            if token.cancelled:
                self.after_cancel += 1
            elif args[0].shape == rows.shape and torch.equal(args[0], rows):
                token.cancel()

        self.handle = module.register_forward_pre_hook(hook)


def _tiled(digits, times: int):  # noqa: ANN001, ANN202
    """Digits with the training set repeated ``times`` times: passes over the forget class span several batches."""
    from engine.data import DatasetBundle

    return DatasetBundle(f"digits-x{times}", "test", np.tile(digits.x_train, (times, 1, 1, 1)),
                         np.tile(digits.y_train, times), digits.x_test, digits.y_test, digits.classes,
                         digits.mean, digits.std)


# Passes that run before (or outside) the optimisation loop: (method, settings, which rows the pass
# reads first). A pass that does not check the token runs its remaining batches after the cancel.
PASSES = [
    ("pour_p", {"direction": "class_mean"}, "train"),  # class-mean forget directions (pour/common.py)
    ("pour_d", FAST["pour_d"], "forget"),  # the teacher's features P θ_o(x_f)
    ("laf", FAST["laf"], "train"),  # embeddings of the training set for the VAEs
    ("unsc", FAST["unsc"], "forget"),  # pseudo-labels of the forget set
    ("trw", FAST["trw"], "forget"),  # the original's predictions on the forget set (after the train pass)
]
BATCH = 512  # the batch size of the feature passes


@pytest.mark.parametrize(("method", "overrides", "rows"), PASSES, ids=[p[0] for p in PASSES])
def test_a_cancel_inside_a_data_pass_stops_it_at_the_next_batch(
    method: str, overrides: dict[str, Any], rows: str, digits, frozen_original  # noqa: ANN001
) -> None:
    bundle = _tiled(digits, 8)
    original = copy.deepcopy(frozen_original)
    token = CancelToken()
    ctx = dataclasses.replace(_context(method, digits, original, token), bundle=bundle,
                              split=ForgetSpec(classes=(3,)).resolve(bundle))
    x = ctx.x_forget if rows == "forget" else bundle.x_train
    assert len(x) > 2 * BATCH, "the pass must span several batches"
    hook = CancelOnBatch(original.body, token, bundle.normalise(x[:BATCH]))
    try:
        with pytest.raises(Cancelled):
            drain(get(method).fn(ctx, params_from_json(get(method).params, overrides)))
    finally:
        hook.handle.remove()
    assert token.cancelled, f"{method}: the pass over the {rows} rows never started"
    assert hook.after_cancel == 0, f"{method}: {hook.after_cancel} more batch(es) after the cancel"


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


def _train_accuracy(model: LetheModel, digits, rows: np.ndarray) -> float:  # noqa: ANN001
    with torch.no_grad():
        pred = model.eval()(digits.normalise(digits.x_train[rows])).argmax(1).numpy()
    return float((pred == digits.y_train[rows]).mean())


def test_the_feasible_mask_keeps_the_retain_set_that_plain_gradient_ascent_destroys(digits, frozen_original) -> None:  # noqa: ANN001
    """Gradient ascent on class 3 (lr 0.01, 20 steps) takes retain accuracy from 1.00 to ~0.22; with the
    feasible mask only coordinates whose update does not raise the retain loss move: the class is
    forgotten all the same and retain accuracy stays at ~1.00 (measured on digits, seed 0)."""
    info = get("grad_ascent")
    base = {"lr": 0.01, "min_steps": 20, "epochs": 1, "early_stop_acc": -1.0, "batch_size": 64}
    ctx = _context("grad_ascent", digits, frozen_original)
    out = {}
    for mask in ("none", "feasible"):
        model = drain(info.fn(ctx, params_from_json(info.params, {**base, "mask": mask})))
        out[mask] = (_train_accuracy(model, digits, ctx.split.forget_idx), _train_accuracy(model, digits, ctx.split.retain_idx))
    assert out["none"][1] < 0.5, f"plain gradient ascent no longer hurts the retain set: {out}"
    assert out["feasible"][0] <= 0.1, f"nothing forgotten under the feasible mask: {out}"
    assert out["feasible"][1] >= _train_accuracy(frozen_original, digits, ctx.split.retain_idx) - 0.02, out


def test_oracle_matching_without_reference_is_refused(digits, frozen_original) -> None:  # noqa: ANN001
    ctx = dataclasses.replace(_context("oracle_matching", digits, frozen_original), reference=None)
    with pytest.raises(BadSpec, match="retrain"):
        drain(get("oracle_matching").fn(ctx, get("oracle_matching").default_params()))
