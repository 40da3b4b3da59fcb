"""What every unlearning method receives and declares.

A method is ``unlearn(ctx, params) -> Generator[Event, None, LetheModel]``: maths only. The
context gives the frozen original, the forget / retain / test data, the device, the cancel token
and the geometry probe; :mod:`engine.methods._loops` owns the optimisation loop.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np
import torch

from engine._core.cancel import NEVER, CancelToken
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine._core.errors import BadSpec
from engine.models.base import LetheModel
from engine.train.recipe import Recipe

if TYPE_CHECKING:
    from engine._core.events import Geometry
    from engine.live.probe import GeometryProbe


def param(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    label: str | None = None,
) -> Any:
    """A hyperparameter field: default from the paper, help text and bounds the GUI form uses."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "label": label}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class NoParams:
    """For methods without hyperparameters."""


def params_to_json(p: Any) -> dict[str, Any]:
    return dataclasses.asdict(p)


def params_from_json(cls: type, d: dict[str, Any] | None) -> Any:
    """Build a Params dataclass from JSON, checking names, types and bounds; a bad field is one line."""
    d = dict(d or {})
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    for name in d:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise BadSpec(f"params.{name}: unknown hyperparameter (known: {known})")
    values: dict[str, Any] = {}
    for name, f in by_name.items():
        if name not in d:
            continue
        v = d[name]
        default = f.default
        try:
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise TypeError
            elif isinstance(default, int):
                if isinstance(v, bool) or float(v) != int(v):
                    raise TypeError
                v = int(v)
            elif isinstance(default, float):
                if isinstance(v, bool):
                    raise TypeError
                v = float(v)
            elif isinstance(default, str) and not isinstance(v, str):
                raise TypeError
        except (TypeError, ValueError):
            raise BadSpec(f"params.{name}: expected {type(default).__name__}, got {v!r}") from None
        meta = f.metadata
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise BadSpec(f"params.{name}: {v!r} is not one of {list(meta['choices'])}")
        if meta.get("min") is not None and v < meta["min"]:
            raise BadSpec(f"params.{name}: {v} is below the minimum {meta['min']}")
        if meta.get("max") is not None and v > meta["max"]:
            raise BadSpec(f"params.{name}: {v} is above the maximum {meta['max']}")
        values[name] = v
    return cls(**values)


@dataclass
class MethodContext:
    """Everything a method may read. ``original`` is frozen: methods work on :meth:`copy_original`."""

    original: LetheModel
    bundle: DatasetBundle
    split: ForgetSplit
    device: torch.device
    recipe: Recipe
    seed: int = 0
    token: CancelToken = NEVER
    reference: LetheModel | None = None
    probe: GeometryProbe | None = None
    geometry_every: int = 5
    extras: dict[str, Any] = field(default_factory=dict)
    geometry_seconds: float = 0.0  # time spent on live geometry frames, kept out of the method's time

    def copy_original(self) -> LetheModel:
        """A deep copy of the original on the job's device (the original itself never moves)."""
        model = copy.deepcopy(self.original)
        model.requires_grad_(True)  # the runner froze the original; the copy is the method's to train
        return model.to(self.device)

    @property
    def x_forget(self) -> np.ndarray:
        return self.bundle.x_train[self.split.forget_idx]

    @property
    def y_forget(self) -> np.ndarray:
        return self.bundle.y_train[self.split.forget_idx]

    @property
    def x_retain(self) -> np.ndarray:
        return self.bundle.x_train[self.split.retain_idx]

    @property
    def y_retain(self) -> np.ndarray:
        return self.bundle.y_train[self.split.retain_idx]

    def normalise(self, x_uint8: np.ndarray) -> torch.Tensor:
        return self.bundle.normalise(x_uint8, self.device)

    def geometry(self, model: LetheModel, stage: str, step: int, t: float | None = None) -> Geometry | None:
        """A Geometry frame of ``model`` on the probe set, or None when no probe is attached."""
        if self.probe is None:
            return None
        t0 = time.perf_counter()
        try:
            return self.probe.frame(model, stage, step, float(step) if t is None else t)
        finally:
            self.geometry_seconds += time.perf_counter() - t0


UnlearnFn = Callable[[MethodContext, Any], Any]
