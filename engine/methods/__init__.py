"""Unlearning methods: one module each, registered by name (see :mod:`engine.methods.registry`)."""
from __future__ import annotations

from engine.methods.base import MethodContext, param
from engine.methods.registry import MethodInfo, available, get, register

__all__ = ["MethodContext", "MethodInfo", "available", "get", "param", "register"]
