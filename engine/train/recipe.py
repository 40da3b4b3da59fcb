"""Training recipes: how a model is trained (optimiser, schedule, augmentation), and the tested defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from engine._core.errors import BadSpec
from engine._core.validate import BATCH_SIZE_MAX, EPOCHS_MAX, require_float, require_int

OPTIMISERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "none")
AUGMENTATIONS = ("none", "flip_crop", "crop")
# name -> (min, max, min exclusive, max exclusive): every float of a recipe is bounded and finite.
FLOAT_BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, 10.0, True, False),
    "momentum": (0.0, 1.0, False, True),
    "weight_decay": (0.0, 1.0, False, False),
}


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
        """Every field is checked here, so a Recipe built in code is as safe as one read from JSON:
        integers are integers, floats are finite and bounded, names are among the choices."""
        object.__setattr__(self, "epochs", require_int(self.epochs, "recipe.epochs", lo=1, hi=EPOCHS_MAX))
        object.__setattr__(self, "batch_size", require_int(self.batch_size, "recipe.batch_size", lo=1, hi=BATCH_SIZE_MAX))
        for name, choices in (("optimizer", OPTIMISERS), ("schedule", SCHEDULES), ("augment", AUGMENTATIONS)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in choices:
                raise BadSpec(f"recipe.{name} must be one of {choices}, got {value!r}")
        for name, (lo, hi, lo_open, hi_open) in FLOAT_BOUNDS.items():
            v = require_float(getattr(self, name), f"recipe.{name}", lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open)
            object.__setattr__(self, name, v)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Recipe:
        """A recipe from a JSON object (None = all defaults); any bad field is a BadSpec naming it."""
        if d is not None and not isinstance(d, dict):
            raise BadSpec(f"recipe: expected an object such as {{\"epochs\": 5}}, got {type(d).__name__} {d!r:.60}")
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

