"""Field checks shared by every parser of user input (job specs, recipes, hyperparameters, forget sets).

Each check takes the raw JSON value and the field's name, and returns the value in its Python type
or raises the given :class:`LetheError` subclass (``BadSpec`` unless told) with one line naming
the field. Booleans are never numbers here (JSON ``true`` is not ``1``), NaN and infinities are
never numbers either, and integers are bounded so they fit every library they reach (NumPy's
legacy seeding takes < 2**32, torch's seeding and index tensors < 2**63).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from engine._core.errors import BadSpec, LetheError

SEED_MAX = 2**32 - 1  # numpy.random.seed, torch.manual_seed and numpy's Generator all accept it
INDEX_MAX = 2**63 - 1  # int64: torch and NumPy index tensors
EPOCHS_MAX = 10_000
BATCH_SIZE_MAX = 65_536


def is_int(value: Any) -> bool:
    """An integer that is not a bool (NumPy integers count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number that is not a bool (ints and floats; NaN counts: use :func:`require_float`)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require_int(value: Any, field: str, *, lo: int, hi: int, error: type[LetheError] = BadSpec) -> int:
    """An integer in ``[lo, hi]``; a float, bool, string or anything else is refused."""
    if not is_int(value):
        raise error(f"{field}: expected an integer, got {type(value).__name__} {_show(value)}")
    v = int(value)
    if not lo <= v <= hi:
        raise error(f"{field}: {v} is out of range; expected an integer from {lo} to {hi}")
    return v


def require_float(value: Any, field: str, *, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False, hi_open: bool = False, error: type[LetheError] = BadSpec) -> float:
    """A finite number within the bounds (closed unless ``lo_open`` / ``hi_open``) as a float."""
    if not is_number(value):
        raise error(f"{field}: expected a number, got {type(value).__name__} {_show(value)}")
    try:
        v = float(value)
    except (OverflowError, ValueError):
        raise error(f"{field}: {_show(value)} is too large") from None
    if not math.isfinite(v):
        raise error(f"{field}: must be a finite number, got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise error(f"{field}: {v:g} is below the minimum {lo:g}" + (" (exclusive)" if lo_open else ""))
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise error(f"{field}: {v:g} is above the maximum {hi:g}" + (" (exclusive)" if hi_open else ""))
    return v
