"""Cache of trained originals and retrains, keyed by what determines them.

Key = (dataset fingerprint, architecture, recipe, seed, forget hash or None). Entries are
ordinary Lethe checkpoints, so a cached model can also be opened as a file. The folder is the
platform user cache (``LETHE_CACHE_DIR`` overrides it).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    override = os.environ.get("LETHE_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "lethe" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "lethe"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lethe"


def model_key(
    dataset_fingerprint: str,
    arch: str,
    recipe: dict[str, Any],
    seed: int,
    forget_hash: str | None,
) -> str:
    payload = json.dumps(
        {"v": 1, "dataset": dataset_fingerprint, "arch": arch, "recipe": recipe, "seed": seed, "forget": forget_hash},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def model_path(kind: str, key: str) -> Path:
    """Checkpoint stem for a cached model (``kind`` is ``original`` or ``retrain``)."""
    return cache_dir() / "models" / f"{kind}-{key}"
