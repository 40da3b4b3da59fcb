"""What the Data pane tells a newcomer about architectures and dataset locations.

- :data:`ARCH_INFO`: one plain-words line per built-in architecture (parameters, the images it is
  meant for, a typical training time measured on this project's 2-core CPU; README "Results").
- :func:`suggest_arch`: the architecture to start from for images of a given size and colour.
- :func:`source_shape`: (channels, height) of a dataset choice without loading it (an .npz header
  is read, never its arrays), so the suggestion follows the dataset as it is chosen.
- :func:`resolved_location`: the absolute path a typed *Location* means, and what it is relative to.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import default_data_root


@dataclass(frozen=True)
class ArchInfo:
    title: str
    params: str
    images: str
    time: str

    def line(self) -> str:
        return f"{self.title}: {self.params} parameters; {self.images}; {self.time}."


ARCH_INFO: dict[str, ArchInfo] = {
    "mlp": ArchInfo("Small fully connected network", "≈ 51 k (8×8) to 0.8 M (32×32)",
                    "any image size, ignores image structure", "digits: a few seconds on a laptop CPU"),
    "cnn_small": ArchInfo("Small convolutional network", "≈ 95 k",
                          "tiny images, 8×8 to 28×28 (digits, MedMNIST)", "digits: about 20 s on a laptop CPU"),
    "convnet": ArchInfo("VGG-style convolutional network", "≈ 0.29 M",
                        "32×32 colour images (CIFAR-10/100)",
                        "a 10 k-image CIFAR subset: about 12 min on a laptop CPU, under a minute on a GPU"),
    "resnet18_cifar": ArchInfo("ResNet-18, CIFAR variant (the POUR paper's model)", "≈ 11 M",
                               "32×32 colour images", "hours on a CPU: use a GPU"),
}


def arch_text(arch: str) -> str:
    """One line about ``arch`` (a plugin's or a family's model gets a generic line)."""
    info = ARCH_INFO.get(arch)
    return info.line() if info is not None else f"{arch}: a model added by a plugin or a library."


def suggest_arch(channels: int, size: int) -> tuple[str, str]:
    """(architecture, why) for images of ``channels`` × ``size`` × ``size``: cnn_small up to
    28 px (grey or colour, as MedMNIST), convnet above (CIFAR's 32×32 colour images)."""
    colour = "colour" if channels == 3 else "grey"
    if size <= 28:
        return "cnn_small", f"{size}×{size} {colour} images"
    return "convnet", f"{size}×{size} {colour} images"


def npz_shape(path: Path) -> tuple[int, int] | None:
    """(channels, height) of ``x_train`` in an .npz, read from its header only; None when unreadable."""
    try:
        with zipfile.ZipFile(path) as z, z.open("x_train.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(f)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if len(shape) == 3:  # (N, H, W): grey
        return 1, int(shape[1])
    if len(shape) == 4:
        if shape[-1] in (1, 3):  # NHWC
            return int(shape[-1]), int(shape[1])
        return int(shape[1]), int(shape[2])  # NCHW
    return None


def source_shape(scheme: str, path: str, medmnist_size: int = 28) -> tuple[int, int] | None:
    """(channels, height) of a Data pane choice when known without loading, else None."""
    if scheme == "digits":
        return 1, 8
    if scheme in ("cifar10", "cifar100"):
        return 3, 32
    if scheme == "medmnist":
        return 3, medmnist_size  # channels vary by flag; the size decides the suggestion
    if scheme == "npz" and path.strip():
        p = resolved_location(path)[0]
        return npz_shape(p) if p is not None and p.is_file() else None
    return None


def resolved_location(text: str, scheme: str = "") -> tuple[Path | None, str]:
    """(absolute path, note) of a typed *Location*: relative paths resolve against the folder Lethe
    was started in; an empty location of CIFAR / MedMNIST means the data folder."""
    text = text.strip()
    if not text:
        if scheme in ("cifar10", "cifar100", "medmnist"):
            root = default_data_root()
            return root, f"Empty: the data folder {root}"
        return None, ""
    p = Path(text).expanduser()
    absolute = p.resolve()
    where = "" if p.is_absolute() else f" (relative to the folder Lethe started in, {Path.cwd()})"
    missing = "" if absolute.exists() else " — not found"
    return absolute, f"Reads {absolute}{where}{missing}"
