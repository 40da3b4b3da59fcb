"""The "did it move?" early warning (issue 14): a method that has changed neither the forget accuracy
nor the features after a quarter of its budget gets a warning; one that forgets does not."""
from __future__ import annotations

import numpy as np

from engine._core.events import Geometry, Log
from engine.live.movement import MovementWatch, displacement
from engine.runs.spec import JobSpec


def _frame(coords: np.ndarray, acc: float, stage: str = "unlearn") -> Geometry:
    n = len(coords)
    return Geometry(stage, 0, 0.0, coords, np.zeros(n, int), np.arange(n) < n // 2, np.zeros((1, 2)),
                    np.eye(1), {"probe_forget_acc": acc})


def test_displacement_is_relative_to_the_spread() -> None:
    rng = np.random.default_rng(0)
    c = rng.normal(size=(40, 2))
    assert displacement(_frame(c, 1.0), _frame(c, 1.0)) == 0.0
    shifted = c.copy()
    shifted[:20] += 0.5  # forget half moved by 0.5 on a spread of ~sqrt(2)
    assert 0.3 < displacement(_frame(c, 1.0), _frame(shifted, 1.0)) < 0.7  # |(0.5, 0.5)| ÷ ~sqrt(2)
    assert displacement(_frame(c, 1.0), _frame(10 * c, 1.0)) > 1  # scale-free against the *before* spread


def test_watch_warns_once_and_only_past_a_quarter() -> None:
    c = np.random.default_rng(1).normal(size=(40, 2))
    w = MovementWatch(_frame(c, 1.0, "original"), "Fine-tune")
    w.progress(0.1)
    assert w.verdict(_frame(c, 1.0)) is None and not w.done  # too early to judge
    w.progress(0.3)
    text = w.verdict(_frame(c, 1.0))
    assert text is not None and "Fine-tune" in text and "30 %" in text and "nan" not in text
    assert w.verdict(_frame(c, 1.0)) is None  # once


def test_watch_silent_when_accuracy_or_features_move() -> None:
    c = np.random.default_rng(2).normal(size=(40, 2))
    for after in (_frame(c, 0.5), _frame(c * 1.5, 1.0)):
        w = MovementWatch(_frame(c, 1.0, "original"), "m")
        w.progress(0.5)
        assert w.verdict(after) is None


def _warnings(runner, method: str, params: dict) -> list[str]:  # noqa: ANN001
    # mlp: no BatchNorm, so a step too small to change the weights changes nothing at all
    spec = JobSpec(method=method, params=params, model={"arch": "mlp"}, reference=None, evaluate=False, audit=False)
    events = list(runner.run(spec))
    return [e.message for e in events if isinstance(e, Log) and e.level == "warning" and "Did it move" in e.message]


def test_runner_warns_for_a_method_that_does_nothing_and_not_for_one_that_forgets(runner) -> None:  # noqa: ANN001
    assert _warnings(runner, "finetune", {"epochs": 1, "lr": 1e-6})  # the smallest learning rate allowed: moves nothing
    assert not _warnings(runner, "pour_p", {})


def test_the_advice_names_only_knobs_the_method_has() -> None:
    """POUR-P (closed form: no learning rate, no small preset) gets no advice about knobs; a method
    with a learning rate and a small preset gets both, named as its Params fields name them."""
    import dataclasses

    from engine.methods import get as get_method

    c = np.random.default_rng(3).normal(size=(40, 2))

    def warning(method: str) -> str:
        info = get_method(method)
        w = MovementWatch(_frame(c, 1.0, "original"), info.label or method,
                          knobs=tuple(f.name for f in dataclasses.fields(info.params)), presets=tuple(info.presets))
        w.progress(0.3)
        text = w.verdict(_frame(c, 1.0))
        assert text is not None
        return text

    pour_p = warning("pour_p")
    assert "learning rate" not in pour_p and "preset" not in pour_p and "hyperparameters" not in pour_p
    assert "try the small-data preset or a larger learning rate (lr)" in warning("salun")
    assert "preset" not in warning("finetune") and "a larger learning rate (lr)" in warning("finetune")
    assert "larger learning rates (lr_ue, lr_ra, vae_lr)" in warning("laf")
    assert "learning rate" not in warning("ssd") and "small-data preset" in warning("ssd")


def test_runner_passes_the_methods_knobs_to_the_watch(runner) -> None:  # noqa: ANN001
    text = _warnings(runner, "finetune", {"epochs": 1, "lr": 1e-6})[0]
    assert "a larger learning rate (lr)" in text and "small-data preset" not in text  # Fine-tune has no small preset
