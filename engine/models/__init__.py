"""Model zoo: importing this package registers every architecture with the registry."""
from __future__ import annotations

from engine.models import cnn_small, convnet, mlp, resnet  # noqa: F401  (registration side effects)
from engine.models.base import LetheModel
from engine.models.registry import available_models, create_model, model_from_config, register_model

__all__ = ["LetheModel", "available_models", "create_model", "model_from_config", "register_model"]
