"""Unlearning methods: one module each, registered by name (see :mod:`engine.methods.registry`)."""
from __future__ import annotations

from engine.methods.base import MethodContext, param
from engine.methods.registry import PAPER, SMALL, MethodInfo, available, get, preset_names, register

__all__ = ["PAPER", "SMALL", "MethodContext", "MethodInfo", "available", "get", "param", "preset_names", "register"]
