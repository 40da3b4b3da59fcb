"""Training recipes: how a model is trained (optimiser, schedule, augmentation), and the tested defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from engine._core.errors import BadSpec

OPTIMISERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "none")
AUGMENTATIONS = ("none", "flip_crop", "crop")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained. Defaults suit the small CPU models; see :func:`default_recipe`."""

    epochs: int = 15
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine annealing to 0 over the run; "step" = x0.1 at 50 % and 75 %
    batch_size: int = 64
    augment: str = "none"  # flip_crop for natural images; never flip digits

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise BadSpec(f"recipe.epochs must be >= 1, got {self.epochs}")
        if self.optimizer not in OPTIMISERS:
            raise BadSpec(f"recipe.optimizer must be one of {OPTIMISERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise BadSpec(f"recipe.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.augment not in AUGMENTATIONS:
            raise BadSpec(f"recipe.augment must be one of {AUGMENTATIONS}, got {self.augment!r}")
        if not (self.lr > 0) or self.batch_size < 1:
            raise BadSpec("recipe.lr must be > 0 and recipe.batch_size >= 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Recipe:
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise BadSpec(f"recipe: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**d)
        except TypeError as exc:
            raise BadSpec(f"recipe: {exc}") from None


def default_recipe(arch: str, image_size: tuple[int, int], channels: int) -> Recipe:
    """Recipes measured to train each architecture well on the CPU (digits: seconds; CIFAR subset: minutes)."""
    natural = channels == 3 and image_size[0] >= 28
    if arch == "resnet18_cifar":
        return Recipe(epochs=30, lr=0.1, batch_size=128, augment="flip_crop" if natural else "none")
    if arch == "convnet":
        return Recipe(epochs=15, lr=0.05, batch_size=128, augment="flip_crop" if natural else "none")
    return Recipe(epochs=15, lr=0.05, batch_size=64, augment="none")

