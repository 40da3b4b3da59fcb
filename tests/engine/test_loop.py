"""The one training loop (engine.train.loop.run_phases): cancel, divergence, hooks and masks,
phases with their own optimiser settings, train / eval / frozen-BatchNorm modes, batches, events."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from engine._core.cancel import CancelToken
from engine._core.errors import BadSpec, Cancelled, Diverged
from engine._core.events import Event, Geometry, Log, Metrics, Progress
from engine.methods.masks import UpdateMask
from engine.train.loop import (
    EarlyStop,
    IndexBatches,
    OptimSpec,
    Phase,
    StepHook,
    Zipped,
    epoch_batches,
    forever,
    run_phases,
)


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


X = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
Y = (X[:, 0] > 0).long()


def _ce(model: nn.Module) -> Any:
    def loss(idx: np.ndarray) -> torch.Tensor:
        return nn.functional.cross_entropy(model(X[idx]), Y[idx])

    return loss


def _drain(gen: Any) -> tuple[list[Event], Any]:
    events: list[Event] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


class _Scalar(nn.Module):
    """One weight w; loss = w, so every SGD step without momentum moves w by exactly -lr."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))


# ---------------------------------------------------------------- cancel and divergence
def test_a_cancel_during_a_step_stops_before_the_next_step() -> None:
    token, calls = CancelToken(), []
    model = _net()
    ce = _ce(model)

    def loss(idx: np.ndarray) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            token.cancel()  # as the GUI would, while step 3 runs
        return ce(idx)

    phase = Phase(loss, IndexBatches(32, 8, 0), OptimSpec(lr=0.1, epochs=10))
    with pytest.raises(Cancelled):
        _drain(run_phases(model, [phase], token=token))
    assert len(calls) == 3  # step 3 finished, step 4 never computed its loss


def test_a_nan_loss_raises_diverged_naming_the_stage_and_step() -> None:
    model, calls = _net(), []
    ce = _ce(model)

    def loss(idx: np.ndarray) -> torch.Tensor:
        calls.append(1)
        out = ce(idx)
        return out * float("nan") if len(calls) == 4 else out

    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(Diverged, match=r"unlearn: the loss became nan at step 4"):
        _drain(run_phases(model, [Phase(loss, IndexBatches(32, 8, 0), OptimSpec(lr=0.1, epochs=3))], stage="unlearn"))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=False))  # steps 1-3 ran


def test_weights_that_become_infinite_without_a_bad_loss_raise_diverged_at_the_end() -> None:
    model = _net()

    class Poison(StepHook):  # after the last step only, so no loss ever sees it
        calls = 0

        def after_step(self, optimizer: torch.optim.Optimizer) -> None:
            self.calls += 1
            if self.calls == 2:
                model[0].weight[0, 0] = float("inf")

    with pytest.raises(Diverged, match="weights became NaN or infinite by step 2"):
        _drain(run_phases(model, [Phase(_ce(model), [np.arange(8)] * 2, OptimSpec(lr=0.1))], hooks=[Poison()]))


# ---------------------------------------------------------------- hooks and masks
def test_an_update_mask_keeps_masked_weights_bit_identical_despite_momentum_and_weight_decay() -> None:
    model = _net()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen = torch.Generator().manual_seed(3)
    fixed = {n: torch.rand(p.shape, generator=gen) < 0.5 for n, p in model.named_parameters()}
    mask = UpdateMask(model, lambda m: fixed, "test")  # type: ignore[arg-type]
    spec = OptimSpec(lr=0.1, momentum=0.9, weight_decay=0.1, epochs=3)
    _drain(run_phases(model, [Phase(_ce(model), IndexBatches(32, 8, 0), spec)], hooks=[mask]))
    for n, p in model.named_parameters():
        frozen = ~fixed[n]
        assert torch.equal(p.detach()[frozen], before[n][frozen]), f"{n}: a masked weight moved"
        assert not torch.equal(p.detach()[fixed[n]], before[n][fixed[n]]), f"{n}: no free weight moved"


def test_before_step_sees_the_gradient_and_its_edit_reaches_the_optimiser_step() -> None:
    model = _Scalar()
    seen: list[float] = []

    class Halve(StepHook):
        def before_step(self, optimizer: torch.optim.Optimizer) -> None:
            assert model.w.grad is not None
            seen.append(float(model.w.grad))
            model.w.grad.mul_(0.5)

    _drain(run_phases(model, [Phase(lambda _: model.w * 1.0, range(4), OptimSpec(lr=0.1))], hooks=[Halve()]))
    assert seen == [1.0] * 4
    assert float(model.w.detach()) == pytest.approx(1.0 - 4 * 0.05, abs=1e-12)


# ---------------------------------------------------------------- phases
def test_phases_run_in_order_with_their_own_learning_rate_and_slots() -> None:
    model = _Scalar()
    log: list[tuple[str, float, int]] = []

    class Record(StepHook):
        def before_step(self, optimizer: torch.optim.Optimizer) -> None:
            log.append((current[0], optimizer.param_groups[0]["lr"], id(optimizer)))

    current = [""]

    def loss_of(name: str) -> Any:
        def loss(_: Any) -> torch.Tensor:
            current[0] = name
            return model.w * 1.0

        return loss

    phases = [
        Phase(loss_of("a"), range(2), OptimSpec(lr=0.1)),
        Phase(loss_of("b"), range(3), OptimSpec(lr=0.01)),
        Phase(loss_of("c"), range(1), OptimSpec("adam", lr=0.5), slot="other"),
        Phase(loss_of("d"), range(1), OptimSpec(lr=0.2)),
    ]
    events, ran = _drain(run_phases(model, phases, hooks=[Record()]))
    assert ran == 7
    assert [(name, lr) for name, lr, _ in log] == [("a", 0.1)] * 2 + [("b", 0.01)] * 3 + [("c", 0.5), ("d", 0.2)]
    ids = [i for _, _, i in log]
    assert ids[0] == ids[2] == ids[6] != ids[5]  # "main" is one optimiser across a, b, d; "other" is another
    # SGD on loss = w moves w by -lr per step; Adam's first step moves it by -lr (bias-corrected).
    assert float(model.w.detach()) == pytest.approx(1.0 - 2 * 0.1 - 3 * 0.01 - 0.5 - 0.2, abs=1e-7)  # Adam: lr·g/(|g| + eps)
    assert [e.fraction for e in events if isinstance(e, Progress)] == pytest.approx([k / 7 for k in range(1, 8)])


def test_a_shared_slot_keeps_its_momentum_across_phases() -> None:
    def run(phases: list[Phase[Any]], model: _Scalar) -> float:
        _drain(run_phases(model, phases))
        return float(model.w.detach())

    m1, m2 = _Scalar(), _Scalar()
    one = run([Phase(lambda _: m1.w * 1.0, range(4), OptimSpec(lr=0.1, momentum=0.9))], m1)
    two = run([Phase(lambda _: m2.w * 1.0, range(2), OptimSpec(lr=0.1, momentum=0.9)),
               Phase(lambda _: m2.w * 1.0, range(2), OptimSpec(lr=0.1, momentum=0.9))], m2)
    assert one == two  # same slot: the momentum buffer carried over, bit for bit
    m3 = _Scalar()
    fresh = run([Phase(lambda _: m3.w * 1.0, range(2), OptimSpec(lr=0.1, momentum=0.9)),
                 Phase(lambda _: m3.w * 1.0, range(2), OptimSpec(lr=0.1, momentum=0.9), slot="new")], m3)
    assert fresh != one  # a new slot starts without momentum


def test_a_phase_schedule_runs_over_that_phase() -> None:
    model, lrs = _Scalar(), []

    class Record(StepHook):
        def before_step(self, optimizer: torch.optim.Optimizer) -> None:
            lrs.append(optimizer.param_groups[0]["lr"])

    spec = OptimSpec(lr=1.0, schedule="step", steps=8)
    _drain(run_phases(model, [Phase(lambda _: model.w * 1.0, range(1), spec)], hooks=[Record()]))
    assert lrs == pytest.approx([1.0] * 4 + [0.1] * 2 + [0.01] * 2)


def test_a_phase_length_is_epochs_times_batches_at_least_min_steps_or_explicit_steps() -> None:
    b = IndexBatches(10, 4, 0)
    assert Phase(lambda _: torch.zeros(()), b, OptimSpec(epochs=3)).steps == 9
    assert Phase(lambda _: torch.zeros(()), b, OptimSpec(epochs=3, min_steps=20)).steps == 20
    assert Phase(lambda _: torch.zeros(()), b, OptimSpec(epochs=3, steps=5)).steps == 5


def test_optim_specs_refuse_unknown_optimisers_schedules_and_bad_rates() -> None:
    with pytest.raises(BadSpec, match="optimizer"):
        OptimSpec("lbfgs")
    with pytest.raises(BadSpec, match="schedule"):
        OptimSpec(schedule="exp")
    for lr in (0.0, float("nan"), float("inf")):
        with pytest.raises(BadSpec, match="lr"):
            OptimSpec(lr=lr)


# ---------------------------------------------------------------- modes
@pytest.mark.parametrize("mode", ["train", "frozen_bn", "eval"])
def test_the_mode_is_honoured_at_every_step_even_after_a_frame_switches_to_eval(mode: str) -> None:
    model = _net()
    bn = model[1]
    stats_before = bn.running_mean.clone()
    seen: list[tuple[bool, bool]] = []
    ce = _ce(model)

    def loss(idx: np.ndarray) -> torch.Tensor:
        seen.append((model.training, bn.training))
        return ce(idx)

    def frame(step: int) -> Event | None:
        model.eval()  # a careless observer
        return None

    _drain(run_phases(model, [Phase(loss, IndexBatches(32, 8, 0), OptimSpec(lr=0.1))], mode=mode, geometry=frame, geometry_every=1))
    expected = {"train": (True, True), "frozen_bn": (True, False), "eval": (False, False)}[mode]
    assert seen == [expected] * 4
    assert torch.equal(bn.running_mean, stats_before) == (mode != "train")
    assert not model.training  # left in eval mode


# ---------------------------------------------------------------- batches, early stop, events
def test_index_batches_draw_a_fresh_seeded_epoch_per_iteration_and_count_exactly() -> None:
    b = IndexBatches(129, 64, 5)
    gen = torch.Generator().manual_seed(5)
    assert [x.tolist() for x in b] == [x.tolist() for x in epoch_batches(129, 64, gen)]
    assert [x.tolist() for x in b] == [x.tolist() for x in epoch_batches(129, 64, gen)]  # the next epoch
    assert len(b) == 2 == len(list(b))  # the single last row is merged, and counted so
    assert len(IndexBatches(5, 64, 0)) == 1 and len(IndexBatches(130, 64, 0)) == 3


def test_zipped_walks_the_lead_source_while_the_other_cycles_on() -> None:
    z = Zipped([1, 2, 3], ["a", "b"])
    assert len(z) == 3
    assert list(z) == [(1, "a"), (2, "b"), (3, "a")]
    assert list(z) == [(1, "b"), (2, "a"), (3, "b")]
    with pytest.raises(ValueError, match="empty"):
        next(forever([]))


def test_early_stop_ends_the_run_and_logs_why() -> None:
    model = _Scalar()
    stop = EarlyStop(lambda m: float(m.w.detach()) < 0.65, every=2, label="Test", why="w below 0.65")
    events, ran = _drain(run_phases(model, [Phase(lambda _: model.w * 1.0, range(10), OptimSpec(lr=0.1))], early_stop=stop))
    assert ran == 4  # w = 0.6 after step 4, the first check (step 2: w = 0.8) passes
    assert Log("Test: early stop after 4 of 10 steps (w below 0.65)") in events


def test_geometry_frames_at_the_start_every_k_steps_and_at_the_end() -> None:
    model, frames = _Scalar(), []

    def frame(step: int) -> Event | None:
        frames.append(step)
        return None

    _drain(run_phases(model, [Phase(lambda _: model.w * 1.0, range(7), OptimSpec(lr=0.01))], geometry=frame, geometry_every=3))
    assert frames == [0, 3, 6, 7]


def test_step_metrics_carry_the_loss_and_the_current_lr() -> None:
    model = _Scalar()
    events, _ = _drain(run_phases(model, [Phase(lambda _: model.w * 1.0, range(3), OptimSpec(lr=0.5))]))
    last = [e for e in events if isinstance(e, Metrics)][-1]
    assert last.step == 3 and last.values["lr"] == 0.5
    assert last.values["loss"] == pytest.approx(1.0 - 2 * 0.5)  # the loss of step 3, before its update
    assert not any(isinstance(e, Geometry) for e in events)
