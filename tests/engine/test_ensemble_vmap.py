"""K models trained together under vmap (engine.train.ensemble_vmap): the same weights as each
trained alone, the one-by-one fallback with its reason, cancellation, and the shadow-ensemble jobs."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import engine.evaluation.ensembles as ens
import engine.train.pretrained as pretrained
from engine._core.cancel import CancelToken
from engine._core.errors import BadSpec, Cancelled
from engine._core.events import Log, Metrics, Progress, drain
from engine.data import ForgetSpec
from engine.models.base import LetheModel
from engine.models.registry import make_config, register_model
from engine.train.ensemble_vmap import StackedEnsemble, stack_sample, train_stacked, why_not_vmappable
from engine.train.loop import train
from engine.train.pretrained import fresh_model, obtain_many
from engine.train.recipe import Recipe

CPU = torch.device("cpu")
RECIPE = Recipe(epochs=2, lr=0.05, batch_size=32)


class _DataDependent(LetheModel):
    """Python control flow on a tensor's value: cannot run under vmap (the fallback's test case)."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__(make_config("_test_data_dependent", in_channels, image_size, num_classes))
        self.arch = "_test_data_dependent"
        self.body = nn.Linear(in_channels * image_size[0] * image_size[1], 16)
        self.head = nn.Linear(16, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.flatten(1))
        return h.relu() if bool(h.sum() > 0) else h.tanh()  # .item()-style branch: vmap refuses it


register_model("_test_data_dependent")(lambda c, s, k: _DataDependent(c, s, k))


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[n].double() - sb[n].double()).abs().max()) for n in sa)


@pytest.mark.parametrize("arch", ["cnn_small", "mlp"])
def test_stacked_models_match_models_trained_alone(digits, arch: str) -> None:  # noqa: ANN001
    """Same init, seed and rows: the weights (BatchNorm running statistics included) match to 1e-5."""
    rng = np.random.default_rng(0)
    rows = [np.sort(rng.choice(200, 40, replace=False)) for _ in range(3)]  # each its own subset
    seeds = [11, 12, 13]
    recipe = Recipe(epochs=2, lr=0.05, batch_size=16, augment="crop")  # 3 steps an epoch, the last of 8 rows  # per-model augmentation draws too
    alone = [drain(train(fresh_model(arch, digits, s), digits.x_train[r], digits.y_train[r], digits.mean, digits.std,
                         recipe, device=CPU, seed=s)) for s, r in zip(seeds, rows, strict=True)]
    together = drain(train_stacked([fresh_model(arch, digits, s) for s in seeds], digits.x_train, digits.y_train, rows,
                                   digits.mean, digits.std, recipe, seeds=seeds, device=CPU))
    for a, t in zip(alone, together, strict=True):
        assert _max_diff(a, t) < 1e-5
        assert not t.training
    # and the models differ from one another (each its own seed and rows)
    assert _max_diff(together[0], together[1]) > 1e-2


def test_stacked_batchnorm_updates_each_models_own_statistics(digits) -> None:  # noqa: ANN001
    models = [fresh_model("cnn_small", digits, s) for s in (0, 1)]
    stacked = StackedEnsemble(models).train()
    x = stack_sample(digits.x_train, digits.mean, digits.std, CPU, rows=8)
    before = stacked.b0.clone()  # first BatchNorm's running mean, (2, 32)
    stacked(torch.stack([x, x.flip(0) * 2.0]))
    moved = (stacked.b0 - before).abs().sum(1)
    assert bool((moved > 0).all()) and not torch.allclose(stacked.b0[0], stacked.b0[1])


def test_stacked_training_reports_progress_metrics_and_eta(digits) -> None:  # noqa: ANN001
    events = []
    gen = train_stacked([fresh_model("mlp", digits, s) for s in (0, 1)], digits.x_train[:128], digits.y_train[:128],
                        None, digits.mean, digits.std, RECIPE, seeds=[0, 1], device=CPU)
    models = None
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        models = stop.value
    progress = [e for e in events if isinstance(e, Progress)]
    assert len(progress) == 2 * 4 and progress[-1].fraction == pytest.approx(1.0)
    assert "2 models together" in progress[0].message and "ETA" in progress[0].message
    epochs = [e for e in events if isinstance(e, Metrics)]
    assert [e.values["epoch"] for e in epochs] == [1.0, 2.0] and epochs[0].values["models"] == 2.0
    assert models is not None and len(models) == 2


def test_mismatched_inputs_are_bad_specs(digits) -> None:  # noqa: ANN001
    ms = [fresh_model("mlp", digits, s) for s in (0, 1)]
    with pytest.raises(BadSpec, match="one length"):
        drain(train_stacked(ms, digits.x_train, digits.y_train, [np.arange(10), np.arange(12)], digits.mean,
                            digits.std, RECIPE, seeds=[0, 1], device=CPU))
    with pytest.raises(BadSpec, match="2 models, 1 seeds"):
        drain(train_stacked(ms, digits.x_train, digits.y_train, None, digits.mean, digits.std, RECIPE, seeds=[0],
                            device=CPU))
    with pytest.raises(BadSpec, match="batched must be one of"):
        drain(obtain_many("original", digits, "mlp", RECIPE, [0, 1], batched="fast"))


def test_probe_says_why_an_architecture_cannot_be_vmapped(digits) -> None:  # noqa: ANN001
    sample = stack_sample(digits.x_train, digits.mean, digits.std, CPU)
    assert why_not_vmappable(fresh_model("cnn_small", digits, 0), sample) is None
    reason = why_not_vmappable(fresh_model("_test_data_dependent", digits, 0), sample)
    assert reason is not None and "Error" in reason  # e.g. "RuntimeError: ... data-dependent control flow"


def test_obtain_many_falls_back_one_by_one_with_the_reason(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))
    recipe = Recipe(epochs=1, lr=0.05, batch_size=64)
    events: list = []
    gen = obtain_many("original", digits, "_test_data_dependent", recipe, [0, 1], batched="vmap")
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        models = stop.value
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("2 models one by one" in m and "Error" in m for m in logs), logs
    # one by one = exactly what obtain_original gives (same cache key: now a cache hit)
    again = drain(pretrained.obtain_original(digits, "_test_data_dependent", recipe, seed=1))
    assert _max_diff(models[1], again) == 0.0
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_obtain_many_vmap_fills_the_same_cache_as_one_by_one(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))
    recipe = Recipe(epochs=1, lr=0.05, batch_size=256)
    split = ForgetSpec(classes=(3,)).resolve(digits)
    events: list = []
    gen = obtain_many("retrain", digits, "cnn_small", recipe, [3, 4], split, batched="vmap")
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        stacked = stop.value
    assert any(isinstance(e, Log) and "2 models together (vmap)" in e.message for e in events)
    alone = drain(pretrained.obtain_retrain(digits, split, "cnn_small", recipe, seed=4, use_cache=False))
    cached = drain(pretrained.obtain_retrain(digits, split, "cnn_small", recipe, seed=4))
    assert _max_diff(stacked[1], cached) == 0.0 and _max_diff(alone, cached) < 1e-4
    # auto on the CPU trains one by one, and says so
    logs = [e.message for e in _events(obtain_many("original", digits, "mlp", recipe, [0, 1])) if isinstance(e, Log)]
    assert any("one by one" in m and "CPU" in m for m in logs), logs


def _events(gen) -> list:  # noqa: ANN001
    out = []
    try:
        while True:
            out.append(next(gen))
    except StopIteration:
        return out


def test_cancel_stops_stacked_training_within_a_second(digits) -> None:  # noqa: ANN001
    token = CancelToken()
    models = [fresh_model("cnn_small", digits, s) for s in range(4)]
    gen = train_stacked(models, digits.x_train, digits.y_train, None, digits.mean, digits.std,
                        Recipe(epochs=50, batch_size=64), seeds=list(range(4)), device=CPU, token=token)
    for ev in gen:
        if isinstance(ev, Progress):
            break
    threading.Timer(0.05, token.cancel).start()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass
    assert time.perf_counter() - t0 < 1.0


def test_klom_job_with_vmapped_shadows(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """batched="vmap": the shadows train together first (a Log says so), the loop then loads them."""
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))
    split = ForgetSpec(classes=(3,)).resolve(digits)
    recipe = Recipe(epochs=1, lr=0.05, batch_size=128)
    events = []
    gen = ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, seed=0, batched="vmap", use_cache=False)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        vmapped = stop.value
    logs = [e.message for e in events if isinstance(e, Log)]
    assert any("2 models together (vmap)" in m for m in logs), logs
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    # the one-by-one job on a fresh cache gives the same numbers (same models up to float rounding)
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "other"))
    gen = ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, seed=0, batched="sequential", use_cache=False)
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        sequential = stop.value
    assert any(isinstance(e, Log) and "one by one (sequential was asked for)" in e.message for e in events)
    assert vmapped["klom_mean"] == pytest.approx(sequential["klom_mean"], abs=1e-3)
    with pytest.raises(BadSpec, match="batched must be one of"):
        drain(ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, batched="fast"))


def test_preview_gives_the_cost_then_the_cached_result(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from engine import ensemble_preview

    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path))
    split = ForgetSpec(classes=(3,)).resolve(digits)
    recipe = Recipe(epochs=1, lr=0.05, batch_size=128)
    before = ensemble_preview("klom", digits, split, "mlp", recipe, ens.NO_OP, k=2, seconds_per_training=2.0)
    assert before["cached"] is None and before["cost"]["trainings_to_run"] == 4
    assert before["cost"]["seconds"] == pytest.approx(4 * 2.0 + 2 * 2.0)
    assert before["shadow_training"] == "one by one" and "CPU" in before["why"]
    result = drain(ens.klom_job(digits, split, "mlp", recipe, ens.NO_OP, k=2))
    after = ensemble_preview("klom", digits, split, "mlp", recipe, ens.NO_OP, k=2, batched="vmap")
    assert after["cached"] == result and after["cost"]["trainings_to_run"] == 0
    assert after["shadow_training"] == "vmap" and after["why"] is None
