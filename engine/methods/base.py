"""What every unlearning method receives and declares.

A method is ``unlearn(ctx, params) -> Generator[Event, None, LetheModel]``: maths only. The
context gives the frozen original, the forget / retain / test data, the device, the cancel token
and the geometry probe; :mod:`engine.methods._loops` owns the optimisation loop.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import numbers
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


PARAM_INT_MAX = 2**31 - 1  # any integer hyperparameter (steps, sizes, counts) is below this


def _param_kind(f: dataclasses.Field[Any]) -> type | None:
    """bool / int / float / str from the field's annotation (a string under postponed
    annotations), falling back to its default's type; None for anything else."""
    names = {"bool": bool, "int": int, "float": float, "str": str}
    ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if ann in names:
        return names[ann]
    for typ in (bool, int, float, str):
        if isinstance(f.default, typ):
            return typ
    return None


def _coerce_param(name: str, v: Any, kind: type | None) -> Any:
    """``v`` as the field's type; BadSpec for a wrong type, NaN, an infinity or an absurd integer."""
    def wrong() -> BadSpec:
        return BadSpec(f"params.{name}: expected {kind.__name__ if kind else 'a value'}, got "
                       f"{type(v).__name__} {v!r:.60}")

    if kind is bool:
        if not isinstance(v, bool):
            raise wrong()
        return v
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise wrong()
        if isinstance(v, float) and not (math.isfinite(v) and v == int(v)):
            raise BadSpec(f"params.{name}: expected an integer, got {v!r}")
        iv = int(v) if isinstance(v, numbers.Integral) else int(float(v))
        if abs(iv) > PARAM_INT_MAX:
            raise BadSpec(f"params.{name}: {iv} is out of range (at most {PARAM_INT_MAX} in size)")
        return iv
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise wrong()
        try:
            fv = float(v)
        except OverflowError:
            raise BadSpec(f"params.{name}: {v!r:.60} is too large") from None
        if not math.isfinite(fv):
            raise BadSpec(f"params.{name}: must be a finite number, got {v!r}")
        return fv
    if kind is str:
        if not isinstance(v, str):
            raise wrong()
        return v
    if not (v is None or isinstance(v, (bool, str)) or (isinstance(v, numbers.Real) and math.isfinite(float(v)))):
        raise wrong()
    return v


def params_from_json(cls: type, d: dict[str, Any] | None) -> Any:
    """Build a Params dataclass from JSON, checking names, types, finiteness and bounds.

    Every field is checked against its annotated type (JSON ``true`` is no number; an integer
    field takes integral numbers only), floats must be finite (NaN and infinities are refused
    whatever the bounds), and ``min`` / ``max`` / ``choices`` from :func:`param` apply. The first
    bad field raises :class:`BadSpec` naming it (``params.<name>``).
    """
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise BadSpec(f"params: expected an object of hyperparameters, got {type(d).__name__}")
    d = dict(d)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    for name in d:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise BadSpec(f"params.{name}: unknown hyperparameter (known: {known})")
    values: dict[str, Any] = {}
    for name, f in by_name.items():
        if name not in d:
            continue
        v = _coerce_param(name, d[name], _param_kind(f))
        meta = f.metadata
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise BadSpec(f"params.{name}: {v!r} is not one of {list(meta['choices'])}")
        if meta.get("min") is not None and isinstance(v, (int, float)) and v < meta["min"]:
            raise BadSpec(f"params.{name}: {v} is below the minimum {meta['min']}")
        if meta.get("max") is not None and isinstance(v, (int, float)) and v > meta["max"]:
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
