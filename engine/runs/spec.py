"""JobSpec: everything one run needs, frozen, validated from JSON (``schema_version`` 1)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


from engine.data import ForgetSpec
from engine._core.device import DEVICES
from engine._core.errors import BadSpec
from engine.methods.registry import PAPER, preset_names
from engine.models.input_norm import InputNorm
from engine.train.recipe import Recipe

SCHEMA_VERSION = 1
DEFAULT_ARCH = "cnn_small"


@dataclass(frozen=True)
class JobSpec:
    """Everything a run needs, frozen: the worker never reads a widget."""

    dataset: str = "digits"
    model: dict[str, Any] = field(default_factory=lambda: {"arch": DEFAULT_ARCH})
    forget: dict[str, Any] = field(default_factory=lambda: {"classes": [3]})
    method: str = "pour_p"
    params: dict[str, Any] = field(default_factory=dict)
    reference: str | None = "retrain"
    preset: str | None = None  # None / "paper" = the paper defaults; e.g. "small": engine.methods registry presets
    seed: int = 0
    device: str = "auto"
    evaluate: bool = True  # representation metrics (RUS, rMIA) on top of accuracies
    geometry: bool = True  # stream Geometry events of the probe set
    audit: bool = True  # attacks, probes, restoration tests and verdicts (engine.evaluation.audit)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, d: Any) -> JobSpec:
        """Validate field by field; the first bad field raises BadSpec naming it."""
        if not isinstance(d, dict):
            raise BadSpec("the job spec must be a JSON object")
        known = set(cls.__dataclass_fields__)
        for key in d:
            if key not in known:
                raise BadSpec(f"{key}: unknown field (known: {', '.join(sorted(known))})")
        version = d.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise BadSpec(f"schema_version: {version!r} is not supported (this Lethe reads {SCHEMA_VERSION})")
        _expect(d, "dataset", str)
        _expect(d, "method", str)
        _expect(d, "model", dict)
        _expect(d, "forget", dict)
        _expect(d, "params", dict)
        _expect(d, "seed", int)
        _expect(d, "device", str)
        _expect(d, "evaluate", bool)
        _expect(d, "geometry", bool)
        _expect(d, "audit", bool)
        _check_preset(d.get("preset"))
        if d.get("reference") not in (None, "retrain"):
            raise BadSpec(f"reference: must be \"retrain\" or null, got {d.get('reference')!r}")
        _check_model(d.get("model", {"arch": DEFAULT_ARCH}))
        ForgetSpec.from_json(d.get("forget", {"classes": [3]}))
        if d.get("device", "auto") not in DEVICES:
            raise BadSpec(f"device: {d['device']!r} is not one of {', '.join(DEVICES)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        # ``preset`` is written only when set, so specs without one read the same as before it existed.
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "preset" or self.preset is not None}

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BadSpec(f"spec file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise BadSpec(f"spec file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return cls.from_json(raw)

    def with_changes(self, **kw: Any) -> JobSpec:
        return replace(self, **kw)


MODEL_FIELDS = ("checkpoint", "arch", "input_norm", "recipe")


def _check_model(model: dict[str, Any]) -> None:
    """{"arch": NAME, "recipe"?} trains; {"checkpoint": PATH, "arch"?, "input_norm"?, "recipe"?} imports.

    With a checkpoint, ``arch`` names the architecture of a bare state dict, ``input_norm`` the
    normalisation it was trained with, and ``recipe`` how its Retrain reference is trained.
    """
    if "checkpoint" not in model and "arch" not in model:
        raise BadSpec('model: give {"checkpoint": PATH} (optionally with "arch", "input_norm", "recipe") '
                      'or {"arch": NAME, "recipe": {...}}')
    unknown_model = set(model) - set(MODEL_FIELDS)
    if unknown_model:
        raise BadSpec(f"model.{sorted(unknown_model)[0]}: unknown field (known: {', '.join(MODEL_FIELDS)})")
    for key in ("checkpoint", "arch"):
        if key in model and (not isinstance(model[key], str) or not model[key].strip()):
            raise BadSpec(f"model.{key}: expected a non-empty string, got {model[key]!r}")
    if "input_norm" in model:
        if "checkpoint" not in model:
            raise BadSpec("model.input_norm: only with a checkpoint (a model Lethe trains uses the dataset's statistics)")
        InputNorm.from_json(model["input_norm"], field="model.input_norm")
    if "recipe" in model:
        if not isinstance(model["recipe"], dict):
            raise BadSpec(f"model.recipe: expected an object, got {model['recipe']!r}")
        Recipe.from_json(model["recipe"])


def _check_preset(preset: Any) -> None:
    """None, "paper" or a preset name some registered method defines; otherwise BadSpec naming ``preset``."""
    if preset is None:
        return
    names = preset_names()
    if not isinstance(preset, str) or preset not in names:
        raise BadSpec(f"preset: {preset!r} is not a known preset (known: {', '.join(names)})")


def _preset_note(label: str, preset: str, presets: dict[str, dict[str, Any]], params: dict[str, Any]) -> str | None:
    """The Log line saying which preset a run uses (None for the paper defaults)."""
    if preset == PAPER:
        return None
    extra = f", overridden by {params}" if params else ""
    if preset in presets:
        return f"params: {label} with the {preset!r} preset {presets[preset]}{extra}"
    return f"params: {label} has no {preset!r} preset; using the paper defaults{extra}"


def _expect(d: dict[str, Any], key: str, typ: type) -> None:
    if key in d and (not isinstance(d[key], typ) or (typ is int and isinstance(d[key], bool))):
        raise BadSpec(f"{key}: expected {typ.__name__}, got {type(d[key]).__name__} {d[key]!r}")


