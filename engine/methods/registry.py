"""The method registry: ``@register`` a generator by name, ``get`` it, list ``available`` ones."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.data.forget import ForgetSplit
from engine.errors import UnknownName, UnsupportedForgetSet
from engine.methods.base import UnlearnFn

KINDS = ("class", "sample")


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

    def default_params(self) -> Any:
        return self.params()

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
):
    """Decorator registering ``unlearn(ctx, params)`` under ``name``; a second registration raises."""

    def deco(fn: UnlearnFn) -> UnlearnFn:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        if not dataclasses.is_dataclass(params):
            raise TypeError(f"{name}: params must be a dataclass")
        _REGISTRY[name] = MethodInfo(name, fn, params, description, tuple(kinds), tuple(needs), label)
        return fn

    return deco


def get(name: str) -> MethodInfo:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownName(f"unknown method {name!r}; available: {', '.join(available())}") from None


def available() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)


def _load_builtin() -> None:
    # Importing the package registers every built-in method module (late, to avoid import cycles).
    import engine.methods.catalog  # noqa: F401
