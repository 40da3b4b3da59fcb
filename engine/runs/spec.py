"""JobSpec: everything one run needs, frozen, validated from JSON (``schema_version`` 1).

:meth:`JobSpec.from_json` is the one validation layer for a job: every field's type, every
number's finiteness and range (seeds, recipe, the method's hyperparameters with the preset
applied), the dataset source's form, the model's architecture or checkpoint path, and the forget
selection. The first bad field raises a :class:`~engine._core.errors.LetheError` naming it
(``BadSpec`` mostly; ``BadForgetSet`` / ``EmptyForgetSet`` for the forget set, ``UnknownName``
for a method, model or source that does not exist); nothing else escapes it. The Runner applies
the same checks to a JobSpec built in code (:meth:`JobSpec.validated`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine._core.device import DEVICES
from engine._core.errors import BadSpec
from engine.methods.registry import PAPER, preset_names
from engine.models.input_norm import InputNorm
from engine._core.errors import UnknownName
from engine._core.validate import SEED_MAX, require_int
from engine.data import ForgetSpec
from engine.data.sources import parse_source
from engine.methods.base import params_from_json
from engine.methods.registry import get as get_method
from engine.models import available_models
from engine.models.registry import model_families
from engine.train.recipe import Recipe

SCHEMA_VERSION = 1
DEFAULT_ARCH = "cnn_small"
MAX_SPEC_BYTES = 16 * 2**20
MAX_PATH_CHARS = 4096


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
    confirm_cost: bool = False  # run even when the training cost is above the confirmation threshold
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, d: Any) -> JobSpec:
        """Validate field by field; the first bad field raises a LetheError naming it (see the module doc)."""
        if not isinstance(d, dict):
            raise BadSpec("the job spec must be a JSON object")
        known = set(cls.__dataclass_fields__)
        for key in d:
            if key not in known:
                raise BadSpec(f"{key}: unknown field (known: {', '.join(sorted(known))})")
        version = d.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version != SCHEMA_VERSION:
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
        _expect(d, "confirm_cost", bool)
        if "seed" in d:
            require_int(d["seed"], "seed", lo=0, hi=SEED_MAX)
        _check_preset(d.get("preset"))
        if d.get("reference") not in (None, "retrain"):
            raise BadSpec(f"reference: must be \"retrain\" or null, got {d.get('reference')!r}")
        if d.get("device", "auto") not in DEVICES:
            raise BadSpec(f"device: {d['device']!r} is not one of {', '.join(DEVICES)}")
        if "dataset" in d:
            parse_source(d["dataset"])  # UnknownName naming a malformed source; files are read at run time
        _check_model(d.get("model", {"arch": DEFAULT_ARCH}))
        ForgetSpec.from_json(d.get("forget", {"classes": [3]}))
        info = get_method(d.get("method", cls.method))
        preset = d.get("preset") or PAPER
        params_from_json(info.params, {**info.presets.get(preset, {}), **d.get("params", {})})
        return cls(**{k: v for k, v in d.items() if k in known})

    def validated(self) -> JobSpec:
        """This spec after :meth:`from_json`'s checks (for specs built in code rather than parsed)."""
        return type(self).from_json(self.to_json())

    def to_json(self) -> dict[str, Any]:
        # ``preset`` and ``confirm_cost`` are written only when set, so specs without them read the
        # same as before they existed.
        optional = {"preset": self.preset is not None, "confirm_cost": bool(self.confirm_cost)}
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if optional.get(k, True)}

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        """Read and validate a spec file; every way the file can be wrong is a BadSpec."""
        try:
            if Path(path).stat().st_size > MAX_SPEC_BYTES:
                raise BadSpec(f"spec file {path} is larger than {MAX_SPEC_BYTES // 2**20} MB")
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadSpec(f"spec file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise BadSpec(f"spec file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise BadSpec(f"spec file {path} cannot be read ({type(exc).__name__}: {exc})",
                          hint="check that the file is a readable UTF-8 JSON file") from None
        return cls.from_json(raw)

    def with_changes(self, **kw: Any) -> JobSpec:
        return replace(self, **kw)


MODEL_FIELDS = ("checkpoint", "arch", "input_norm", "recipe")


def _check_model(model: Any) -> None:
    """{"arch": NAME, "recipe"?} trains; {"checkpoint": PATH, "arch"?, "input_norm"?, "recipe"?} imports.

    With a checkpoint, ``arch`` names the architecture of a bare state dict, ``input_norm`` the
    normalisation it was trained with, and ``recipe`` how its Retrain reference is trained.
    """
    if not isinstance(model, dict):
        raise BadSpec(f"model: expected an object, got {type(model).__name__}")
    if "checkpoint" not in model and "arch" not in model:
        raise BadSpec('model: give {"checkpoint": PATH} (optionally with "arch", "input_norm", "recipe") '
                      'or {"arch": NAME, "recipe": {...}}')
    unknown_model = set(model) - set(MODEL_FIELDS)
    if unknown_model:
        raise BadSpec(f"model.{sorted(unknown_model)[0]}: unknown field (known: {', '.join(MODEL_FIELDS)})")
    for key in ("checkpoint", "arch"):
        if key in model and (not isinstance(model[key], str) or not model[key].strip()):
            raise BadSpec(f"model.{key}: expected a non-empty string, got {model[key]!r}")
    if "checkpoint" in model:
        _check_path(model["checkpoint"], "model.checkpoint")
    if "arch" in model:
        _check_arch(model["arch"])
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


def _check_path(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadSpec(f"{field_name}: expected a file path (a non-empty string), got {type(value).__name__} {value!r:.60}")
    if "\x00" in value or len(value) > MAX_PATH_CHARS:
        raise BadSpec(f"{field_name}: {value[:60]!r} is not a usable path (NUL character or over {MAX_PATH_CHARS} characters)")
    return value


def _check_arch(arch: str) -> None:
    """A registered name, or ``family:<name>`` of a registered family (resolved when the model is built)."""
    family, sep, _rest = arch.partition(":")
    if sep and family in model_families():
        return
    if arch not in available_models():
        families = ", ".join(f"{f}:<name>" for f in model_families())
        raise UnknownName(f"unknown model {arch!r}; available models: {', '.join(available_models())}"
                          + (f" (or {families})" if families else ""),
                          hint="pick one of the listed architectures")


def _expect(d: dict[str, Any], key: str, typ: type) -> None:
    if key in d and (not isinstance(d[key], typ) or (typ is int and isinstance(d[key], bool))):
        raise BadSpec(f"{key}: expected {typ.__name__}, got {type(d[key]).__name__} {d[key]!r}")


