"""The cost of the unlearning stage (methods.md B8): forward/backward passes and peak memory."""
from __future__ import annotations

from typing import Any

import torch



# ------------------------------------------------------------------------------------- cost (B8)
class CostMeter:
    """Measures the unlearning stage: f/b passes over the training set and peak memory (B8).

    Passes: a forward hook on the original's first parameterised layer counts the images that go
    through it *with gradients on* (forward + backward); ``copy.deepcopy`` copies the hook, so the
    method's working copies are counted too, while no-grad passes (teachers, the geometry probe,
    evaluation) are not. Models a method builds from scratch (Retrain) are not hooked: their
    passes are filled in by the caller. Memory: ``torch.cuda.max_memory_allocated`` on CUDA; on
    the CPU the growth of the process's peak resident set (``ru_maxrss``), which stays 0 when the
    method never exceeds the process's earlier peak — a lower bound, labelled so.
    """

    def __init__(self, original: torch.nn.Module, n_train: int, device: torch.device) -> None:
        self.original, self.n_train, self.device = original, max(1, n_train), device
        self.images = 0
        self._layer = next((m for m in original.modules() if not list(m.children()) and any(True for _ in m.parameters(recurse=False))), None)
        self._rss0 = 0.0
        meter = self

        def hook(module: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
            # a plain function, not a bound method: deepcopy keeps functions as they are, so the
            # copies' hooks still count into this meter
            if torch.is_grad_enabled() and not torch.is_inference_mode_enabled() and inputs and hasattr(inputs[0], "shape"):
                meter.images += int(inputs[0].shape[0])

        hook.lethe_cost_meter = self  # type: ignore[attr-defined]
        self._hook = hook

    def __enter__(self) -> CostMeter:
        if self._layer is not None:
            self._layer.register_forward_pre_hook(self._hook)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._rss0 = _maxrss_mb()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach(self.original)

    def detach(self, *models: torch.nn.Module | None) -> None:
        """Remove the counting hook from ``models`` (and their deep copies' modules)."""
        for model in models:
            if model is None:
                continue
            for mod in model.modules():
                for k, fn in list(mod._forward_pre_hooks.items()):
                    if getattr(fn, "lethe_cost_meter", None) is self:
                        del mod._forward_pre_hooks[k]

    def result(self) -> dict[str, Any]:
        if self.device.type == "cuda":
            peak, kind = torch.cuda.max_memory_allocated(self.device) / 2**20, "CUDA peak allocated during the method"
        else:
            peak, kind = max(0.0, _maxrss_mb() - self._rss0), "growth of the process's peak RSS during the method (CPU; lower bound)"
        return {"fb_passes": self.images / self.n_train, "peak_memory_mb": peak, "memory_kind": kind}


def _maxrss_mb() -> float:
    try:
        import resource
        import sys

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / 2**20 if sys.platform == "darwin" else r / 2**10  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):  # Windows: no resource module
        return float("nan")
