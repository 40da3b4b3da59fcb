"""Model zoo: importing this package registers every architecture with the registry."""
from __future__ import annotations

from engine.models import cnn_small, convnet, mlp, resnet, wrapped  # noqa: F401  (registration side effects)
from engine.models.base import LetheModel
from engine.models.input_norm import InputNorm
from engine.models.registry import (
    available_models,
    create_model,
    load_plugin,
    model_families,
    model_from_config,
    register_model,
)
from engine.models.wrapped import WrappedModel, register_module

__all__ = ["InputNorm", "LetheModel", "WrappedModel", "available_models", "create_model", "load_plugin",
           "model_families", "model_from_config", "register_model", "register_module"]
