"""The method registry: ``@register`` a generator by name, ``get`` it, list ``available`` ones.

Presets: each method registers its named presets in code; a person (or ``python -m engine sweep
--save-preset NAME``) adds *user presets* as JSON files ``<presets dir>/NAME.json`` =
``{"name": NAME, "methods": {METHOD: {PARAM: VALUE, ...}, ...}}``, where the presets dir is
``LETHE_PRESETS_DIR`` or ``<cache dir>/presets``. :func:`get` and :func:`preset_names` include
them, so a JobSpec's ``preset=NAME`` resolves; a built-in preset of the same name wins, and a file
or a method entry that does not validate is ignored.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from engine._core.cache import cache_dir
from engine._core.errors import BadSpec
from engine.data.forget import ForgetSplit
from engine._core.errors import UnknownName, UnsupportedForgetSet
from engine.methods.base import MethodContext, UnlearnFn, params_from_json

KINDS = ("class", "sample")
PAPER = "paper"  # the preset name of the Params defaults themselves
SMALL = "small"  # values that forget on small CPU models / small data (digits cnn_small, CIFAR subset convnet)


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its generator, hyperparameter class and what it supports."""

    name: str
    fn: UnlearnFn
    params: type
    description: str
    kinds: tuple[str, ...] = KINDS  # forget-set kinds it can handle
    needs: tuple[str, ...] = ()  # data it reads: "forget", "retain"
    label: str = ""
    # Named hyperparameter overrides of the paper defaults, e.g. {"small": {"lr": 0.05}}.
    presets: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    # The reference method (Retrain): a job running it needs no separate retrained reference, and
    # its audit is the reference's own.
    is_reference: bool = False
    # Forward-backward passes (in training-set units) of a method that trains a model the cost
    # meter's hooks on the original never see (Retrain's fresh model); None = measured.
    fb_passes: Callable[[MethodContext], float] | None = field(default=None, hash=False)

    def default_params(self) -> Any:
        return self.params()

    def params_for(self, preset: str | None = None) -> Any:
        """The Params of a preset: None / "paper" / a preset this method lacks -> the paper defaults,
        otherwise the defaults overridden by the preset (validated: names, types and bounds)."""
        return params_from_json(self.params, self.presets.get(preset or PAPER, {}))

    def unsupported_reason(self, split: ForgetSplit | None = None, kind: str | None = None) -> str | None:
        """Why this method cannot run on a forget set of this kind (None when it can)."""
        kind = split.kind if split is not None else kind
        if kind is not None and kind not in self.kinds:
            what = "individual samples" if kind == "sample" else "whole classes"
            return f"{self.label or self.name} cannot forget {what}; it supports {' and '.join(self.kinds)}-level forget sets"
        return None

    def check_supports(self, split: ForgetSplit) -> None:
        reason = self.unsupported_reason(split)
        if reason:
            raise UnsupportedForgetSet(reason)

    def describe(self) -> dict[str, Any]:
        """Name, description and each hyperparameter with default, bounds and help (CLI, GUI)."""
        rows = []
        for f in dataclasses.fields(self.params):
            rows.append(
                {
                    "name": f.name,
                    "default": f.default,
                    "type": type(f.default).__name__,
                    "help": f.metadata.get("help", ""),
                    "min": f.metadata.get("min"),
                    "max": f.metadata.get("max"),
                    "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None,
                }
            )
        return {
            "name": self.name,
            "label": self.label or self.name,
            "description": self.description,
            "kinds": list(self.kinds),
            "needs": list(self.needs),
            "params": rows,
            "presets": {k: dict(v) for k, v in self.presets.items()},
            "is_reference": self.is_reference,
        }


_REGISTRY: dict[str, MethodInfo] = {}


def register(
    name: str,
    params: type,
    *,
    description: str,
    kinds: tuple[str, ...] = KINDS,
    needs: tuple[str, ...] = (),
    label: str = "",
    presets: dict[str, dict[str, Any]] | None = None,
    is_reference: bool = False,
    fb_passes: Callable[[MethodContext], float] | None = None,
) -> Callable[[UnlearnFn], UnlearnFn]:
    """Decorator registering ``unlearn(ctx, params)`` under ``name``; a second registration raises.

    ``presets`` maps a preset name (e.g. ``"small"``) to overrides of the paper defaults; each is
    validated against ``params`` here, so a typo fails at import time. ``is_reference`` marks the
    gold standard (one method at most); ``fb_passes(ctx)`` gives the cost of a method whose training
    the cost meter cannot see (see :class:`MethodInfo`)."""

    def deco(fn: UnlearnFn) -> UnlearnFn:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        if not dataclasses.is_dataclass(params):
            raise TypeError(f"{name}: params must be a dataclass")
        presets_ = {k: dict(v) for k, v in (presets or {}).items()}
        if PAPER in presets_:
            raise ValueError(f"{name}: the preset name {PAPER!r} is reserved for the defaults")
        for values in presets_.values():
            params_from_json(params, values)  # BadSpec on an unknown field or an out-of-bounds value
        if is_reference and any(info.is_reference for info in _REGISTRY.values()):
            raise ValueError(f"{name}: a reference method is already registered")
        _REGISTRY[name] = MethodInfo(
            name, fn, params, description, tuple(kinds), tuple(needs), label, presets_, is_reference, fb_passes
        )
        return fn

    return deco


def get(name: str) -> MethodInfo:
    """The method registered as ``name``, its presets including the user presets for it."""
    _load_builtin()
    try:
        info = _REGISTRY[name]
    except KeyError:
        raise UnknownName(f"unknown method {name!r}; available: {', '.join(available())}") from None
    user = user_presets().get(name)
    if not user:
        return info
    return dataclasses.replace(info, presets={**user, **info.presets})


def available() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)


def preset_names() -> list[str]:
    """Every preset name a job may ask for: "paper" and each name some registered method defines."""
    _load_builtin()
    names = {k for info in _REGISTRY.values() for k in info.presets}
    names |= {k for presets in user_presets().values() for k in presets}
    return [PAPER, *sorted(names)]


def user_presets_dir() -> Path:
    """Where user presets live: ``LETHE_PRESETS_DIR``, else ``<cache dir>/presets``."""
    override = os.environ.get("LETHE_PRESETS_DIR")
    return Path(override) if override else cache_dir() / "presets"


_USER_CACHE: dict[str, Any] = {"key": None, "value": {}}


def user_presets() -> dict[str, dict[str, dict[str, Any]]]:
    """method -> preset name -> params, read from :func:`user_presets_dir` (re-read when it changes).

    Entries whose method is unknown or whose params fail validation are skipped."""
    folder = user_presets_dir()
    try:
        key = (str(folder), folder.stat().st_mtime_ns)
    except OSError:
        return {}
    if _USER_CACHE["key"] == key:
        return dict(_USER_CACHE["value"])
    found: dict[str, dict[str, dict[str, Any]]] = {}
    _load_builtin()
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        name = data.get("name") if isinstance(data, dict) else None
        methods = data.get("methods") if isinstance(data, dict) else None
        if not isinstance(name, str) or name == PAPER or not isinstance(methods, dict):
            continue
        for method, params in methods.items():
            info = _REGISTRY.get(method)
            if info is None or not isinstance(params, dict):
                continue
            try:
                params_from_json(info.params, params)
            except BadSpec:
                continue
            found.setdefault(method, {})[name] = dict(params)
    _USER_CACHE["key"], _USER_CACHE["value"] = key, found
    return dict(found)


def _load_builtin() -> None:
    # Importing the package registers every built-in method module (late, to avoid import cycles).
    import engine.methods.catalog  # noqa: F401
