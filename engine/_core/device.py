"""Device choice, seeding and the CPU thread budget, in one place so every job does them alike."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from engine._core.errors import BadSpec

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; asking for an absent accelerator is a clear error."""
    if name not in DEVICES:
        raise BadSpec(f"device: {name!r} is not one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadSpec("device: cuda was asked for but no CUDA GPU is available", hint="use device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadSpec("device: mps was asked for but is not available", hint="use device auto or cpu")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator for data order (independent of the global one)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def cpu_thread_budget(leave_free: int = 1) -> int:
    """Threads for torch in a worker: all cores but ``leave_free`` (the GUI keeps one), at least 1.

    Measured on the 2-core CI machine: a cnn_small training step on 8x8 digits takes ~10x longer
    with 2 intra-op threads than with 1 (thread hand-off dominates such small kernels), while a
    32-px convnet step gains only ~8 % from the second thread. So 2 cores -> 1 thread.
    """
    override = os.environ.get("LETHE_THREADS")
    if override:
        return max(1, int(override))
    return max(1, (os.cpu_count() or 1) - leave_free)
