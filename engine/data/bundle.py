"""DatasetBundle: one in-memory image classification dataset, whatever its source.

Images stay uint8 (N, C, H, W) in memory (small datasets; no DataLoader workers inside a Qt
thread); :meth:`DatasetBundle.normalise` turns a batch into the float tensor models consume.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class DatasetBundle:
    """Train and test images with labels and class names.

    x_train / x_test: uint8 (N, C, H, W); y_train / y_test: int64 (N,);
    mean / std: the per-channel normalisation every forward pass uses (inputs scaled to [0, 1]):
    x_train's own statistics by default, or a model's own (see :meth:`with_input_norm`);
    norm_source: "dataset" for the former, else where the model's came from ("checkpoint", "spec", ...);
    notes: one line per thing the loader changed or skipped (resized images, unreadable files).
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())
    norm_source: str = "dataset"
    notes: tuple[str, ...] = ()  # what the loader changed or skipped (runs log each as a warning)

    def __post_init__(self) -> None:
        for key in ("x_train", "x_test"):
            arr = getattr(self, key)
            if arr.dtype != np.uint8 or arr.ndim != 4:
                raise ValueError(f"{key} must be uint8 (N, C, H, W), got {arr.dtype} {arr.shape}")
        if not self.mean:
            x = self.x_train.astype(np.float64) / 255.0
            object.__setattr__(self, "mean", tuple(float(v) for v in x.mean(axis=(0, 2, 3))))
            std = x.std(axis=(0, 2, 3))
            object.__setattr__(self, "std", tuple(float(max(v, 1e-3)) for v in std))
        object.__setattr__(self, "y_train", np.asarray(self.y_train, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "y_test", np.asarray(self.y_test, dtype=np.int64).reshape(-1))

    def with_input_norm(self, mean: Sequence[float], std: Sequence[float], source: str) -> DatasetBundle:
        """The same images (arrays shared, not copied) normalised with a model's own ``mean``/``std``."""
        if len(mean) != self.channels or len(std) != self.channels:
            raise ValueError(f"normalisation for {len(mean)} channels, images have {self.channels}")
        new = dataclasses.replace(self, mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
                                  norm_source=source)
        if "fingerprint" in self.__dict__:  # the pixels did not change: keep the hash
            new.__dict__["fingerprint"] = self.__dict__["fingerprint"]
        return new

    @property
    def norm_key(self) -> str:
        """"" for the dataset's own statistics, else a text naming the normalisation (for cache keys)."""
        if self.norm_source == "dataset":
            return ""
        return "|norm=" + ",".join(f"{v:.6g}" for v in self.mean) + "/" + ",".join(f"{v:.6g}" for v in self.std)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the pixel bytes, labels and class names: identifies the data, not its path."""
        h = hashlib.sha256()
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\n".join(self.classes).encode())
        return h.hexdigest()

    def class_counts(self, split: str = "train") -> np.ndarray:
        y = self.y_train if split == "train" else self.y_test
        return np.bincount(y, minlength=self.num_classes)

    def normalise(self, x_uint8: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """uint8 (B, C, H, W) -> float32 normalised tensor on ``device``."""
        return normalise(x_uint8, self.mean, self.std, device)


def normalise(
    x_uint8: np.ndarray | torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Scale to [0, 1] and standardise per channel; the copy to ``device`` happens on uint8 (4x less traffic)."""
    t = torch.as_tensor(x_uint8).to(device, non_blocking=True).float().div_(255.0)
    m = torch.tensor(mean, device=t.device, dtype=t.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=t.device, dtype=t.dtype).view(1, -1, 1, 1)
    return (t - m) / s
