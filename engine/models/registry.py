"""Model registry (timm style): architectures register a builder under a name; jobs and
checkpoints rebuild models from that name plus a small JSON-able config.

A builder is ``fn(in_channels, image_size, num_classes, **kw) -> LetheModel``. The registry,
not the builder, stamps ``model.arch`` and ``model.config`` so every model can be rebuilt with
:func:`model_from_config` (the checkpoint sidecar stores exactly that config).

Names with a colon belong to a *family* that builds on demand (``torchvision:resnet18``,
``timm:vit_tiny_patch16_224``; see ``engine.models.wrapped``). Outside code registers models
through the entry-point group ``lethe.models`` (loaded on first need) or a plugin file
(:func:`load_plugin`, the CLI's ``--plugin file.py``).
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from torch import nn

from engine._core.errors import BadSpec, UnknownName
from engine.models.base import LetheModel

Builder = Callable[..., LetheModel]

_REGISTRY: dict[str, Builder] = {}
_FAMILIES: dict[str, Callable[[str], Builder]] = {}
# name -> fn(state dict) -> options the weights imply (e.g. resnet18_cifar's width); see infer_options
_INFER: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {}
_CORE_KEYS = ("arch", "in_channels", "image_size", "num_classes")
ENTRY_POINT_GROUP = "lethe.models"
_entry_points_loaded = False


def register_model(name: str, *, infer_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
                   ) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn`` under ``name``; a name can be registered once only.

    ``infer_options(state_dict)`` (optional) returns the builder options a checkpoint's weights
    imply, so a bare state dict of a non-default width loads with only the architecture named.
    """

    def decorate(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = fn
        if infer_options is not None:
            _INFER[name] = infer_options
        return fn

    if not isinstance(name, str) or not name:
        raise ValueError("a model name must be a non-empty string")
    return decorate


def register_family(prefix: str, resolve: Callable[[str], Builder], *,
                    infer_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None) -> None:
    """Names ``prefix:<rest>`` are built by ``resolve(rest)`` (raises UnknownName for an unknown rest);
    ``infer_options(state_dict)`` gives options a family member's weights imply (see :func:`infer_options`)."""
    if prefix in _FAMILIES:
        raise ValueError(f"model family {prefix!r} is already registered")
    _FAMILIES[prefix] = resolve
    if infer_options is not None:
        _INFER[prefix + ":"] = infer_options


def available_models() -> list[str]:
    """Registered names, sorted (stable order for menus and parametrised tests).

    Families (``torchvision:<builder>``, ``timm:<name>``) are not listed: see :func:`model_families`.
    """
    _load_entry_points()
    return sorted(_REGISTRY)


def infer_options(name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Builder options implied by a state dict's shapes ({} when the architecture infers none)."""
    fn = _INFER.get(name) or (_INFER.get(name.partition(":")[0] + ":") if ":" in name else None)
    return dict(fn(state)) if fn is not None else {}


def model_families() -> list[str]:
    """The prefixes of on-demand families, e.g. ``["timm", "torchvision"]``."""
    return sorted(_FAMILIES)


def _load_entry_points() -> None:
    """Import each ``lethe.models`` entry point once: a module registers on import; a callable is a
    plain-``nn.Module`` builder registered under the entry point's name."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin must not stop Lethe
            print(f"lethe: model plugin {ep.name!r} ({ep.value}) failed to load: {exc}", file=sys.stderr)
            continue
        if callable(obj) and not inspect.ismodule(obj) and ep.name not in _REGISTRY:
            from engine.models.wrapped import register_module

            register_module(ep.name)(obj)


def load_plugin(path: str | Path) -> list[str]:
    """Run a Python file that registers models (``register_model`` / ``register_module``).

    Returns the names it added. The file is the user's own code and runs as such.
    """
    path = Path(path)
    if not path.is_file():
        raise BadSpec(f"plugin file {path} does not exist", hint="give the path of a .py file that registers models")
    before = set(_REGISTRY)
    spec = importlib.util.spec_from_file_location(f"lethe_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise BadSpec(f"plugin file {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return sorted(set(_REGISTRY) - before)


def _builder(name: str) -> Builder | None:
    builder = _REGISTRY.get(name)
    if builder is None and ":" in name:
        prefix, _, rest = name.partition(":")
        resolve = _FAMILIES.get(prefix)
        if resolve is not None:
            return resolve(rest)
    if builder is None:
        _load_entry_points()
        builder = _REGISTRY.get(name)
    return builder


def normalise_image_size(image_size: int | Iterable[int]) -> tuple[int, int]:
    """``32`` or ``(32, 32)`` or ``[28, 28]`` -> ``(H, W)`` as ints."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 1:
        raise BadSpec(f"image_size must be a positive (height, width) pair, got {image_size!r}")
    return size[0], size[1]


def make_config(arch: str, in_channels: int, image_size: tuple[int, int], num_classes: int,
                **kw: Any) -> dict[str, Any]:
    """The canonical config dict (JSON-able: image_size is a list)."""
    return {"arch": arch, "in_channels": int(in_channels), "image_size": [int(image_size[0]), int(image_size[1])],
            "num_classes": int(num_classes), **kw}


def _check_kwargs(name: str, builder: Builder, kw: Mapping[str, Any]) -> None:
    """Unknown options are a user error (BadSpec), not a TypeError deep inside a builder."""
    if not kw:
        return
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kw) - set(params) - {"in_channels", "image_size", "num_classes"})
    if unknown:
        known = sorted(set(params) - {"in_channels", "image_size", "num_classes"})
        raise BadSpec(f"model {name!r} has no option(s) {', '.join(unknown)}",
                      hint=f"its options are: {', '.join(known) or 'none'}")


def create_model(name: str, in_channels: int, image_size: int | Iterable[int], num_classes: int,
                 **kw: Any) -> LetheModel:
    """Build a fresh (randomly initialised) model by registered name."""
    builder = _builder(name)
    if builder is None:
        names = ", ".join(available_models() + [f"{f}:<name>" for f in model_families()]) or "none"
        raise UnknownName(f"unknown model {name!r}; available models: {names}",
                          hint="pick one of the listed architectures")
    size = normalise_image_size(image_size)
    if int(in_channels) < 1:
        raise BadSpec(f"in_channels must be >= 1, got {in_channels!r}")
    if int(num_classes) < 1:
        raise BadSpec(f"num_classes must be >= 1, got {num_classes!r}")
    _check_kwargs(name, builder, kw)
    model = builder(int(in_channels), size, int(num_classes), **kw)
    if not isinstance(model, LetheModel) or not isinstance(getattr(model, "head", None), nn.Linear):
        raise TypeError(f"builder for {name!r} must return a LetheModel with an nn.Linear head")
    if model.head.out_features != int(num_classes):
        raise TypeError(f"builder for {name!r} returned {model.head.out_features} outputs, "
                        f"expected {num_classes}")
    model.arch = name
    model.config = make_config(name, in_channels, size, num_classes, **kw)
    return model


def model_from_config(config: Mapping[str, Any]) -> LetheModel:
    """Rebuild a model from ``model.config`` (e.g. read back from a checkpoint sidecar)."""
    missing = [k for k in _CORE_KEYS if k not in config]
    if missing:
        raise BadSpec(f"model config lacks {', '.join(missing)}",
                      hint="a model config needs arch, in_channels, image_size and num_classes")
    kw = {k: v for k, v in config.items() if k not in _CORE_KEYS}
    return create_model(str(config["arch"]), int(config["in_channels"]), config["image_size"],
                        int(config["num_classes"]), **kw)
