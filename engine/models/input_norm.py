"""The input normalisation a model was trained with: ``x = (pixels / 255 - mean) / std`` per channel.

Normalisation belongs to the model, not to the dataset: a classifier trained elsewhere with the
widely copied CIFAR std (0.2023, 0.1994, 0.2010) disagrees with itself on many images when it is
fed the dataset's own statistics instead. A Lethe model carries an :class:`InputNorm` (or None:
"not known, the dataset's statistics are used"); every sidecar Lethe writes records it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine._core.errors import BadSpec

# Where an InputNorm came from (shown in logs, records and ``inspect``).
SOURCES = ("spec", "sidecar", "checkpoint", "dataset")


@dataclass(frozen=True)
class InputNorm:
    """Per-channel ``mean`` and ``std`` of inputs scaled to [0, 1]; ``source`` says who said so.

    ``mean == 0`` and ``std == 1`` means the model takes [0, 1] inputs unchanged.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = "spec"

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise BadSpec(f"input_norm: mean and std need the same number of channels, got {list(self.mean)} "
                          f"and {list(self.std)}")
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)) or min(self.std) <= 0:
            raise BadSpec(f"input_norm: mean must be finite and std finite and > 0, got mean {list(self.mean)} "
                          f"std {list(self.std)}")

    @property
    def channels(self) -> int:
        return len(self.mean)

    def for_channels(self, channels: int) -> InputNorm:
        """Broadcast a one-channel normalisation to ``channels``; refuse any other mismatch."""
        if self.channels == channels:
            return self
        if self.channels == 1:
            return InputNorm(self.mean * channels, self.std * channels, self.source)
        raise BadSpec(f"input_norm has {self.channels} channels but the images have {channels}",
                      hint="give one mean/std value per image channel (or one value for all)")

    def close_to(self, mean: Sequence[float], std: Sequence[float], tol: float = 1e-6) -> bool:
        """True when ``mean``/``std`` are this normalisation (within ``tol``)."""
        return (len(mean) == self.channels and len(std) == self.channels
                and all(abs(a - b) <= tol for a, b in zip(self.mean, mean, strict=True))
                and all(abs(a - b) <= tol for a, b in zip(self.std, std, strict=True)))

    def to_json(self) -> dict[str, Any]:
        """``{"mean": [...], "std": [...]}`` (the sidecar and JobSpec form; the source is written apart)."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    def describe(self) -> str:
        """``mean (0.4914, 0.4822, 0.4465) std (0.2023, 0.1994, 0.201)``: four decimals, for log lines."""
        fmt = lambda vs: "(" + ", ".join(f"{v:.4g}" for v in vs) + ")"  # noqa: E731
        return f"mean {fmt(self.mean)} std {fmt(self.std)}"

    @classmethod
    def from_json(cls, d: Any, source: str = "spec", *, field: str = "input_norm") -> InputNorm:
        """Read ``{"mean": [...], "std": [...]}`` (numbers or lists of numbers); BadSpec naming ``field``."""
        if not isinstance(d, Mapping) or set(d) - {"mean", "std", "source"} or not {"mean", "std"} <= set(d):
            raise BadSpec(f'{field}: expected {{"mean": [...], "std": [...]}}, got {d!r}')
        values: list[tuple[float, ...]] = []
        for key in ("mean", "std"):
            raw = d[key]
            items = [raw] if isinstance(raw, (int, float)) and not isinstance(raw, bool) else raw
            if not isinstance(items, (list, tuple)) or not items or len(items) > 4 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
                raise BadSpec(f"{field}.{key}: expected a number or a list of 1-4 numbers, got {raw!r}")
            values.append(tuple(float(v) for v in items))
        mean, std = values
        if len(mean) != len(std) and 1 in (len(mean), len(std)):  # one value broadcast to the other's channels
            n = max(len(mean), len(std))
            mean, std = (mean * n if len(mean) == 1 else mean), (std * n if len(std) == 1 else std)
        try:
            return cls(mean, std, source)
        except BadSpec as exc:
            raise BadSpec(exc.message.replace("input_norm", field, 1)) from None
