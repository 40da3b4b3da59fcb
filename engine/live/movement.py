"""The "did it move?" early warning: a method that, a quarter of the way through its budget, has
changed neither the forget accuracy nor the features of the probe images is probably mis-tuned
(learning rate too small, a mask that selects nothing, paper defaults at the wrong scale).

Judged from the live geometry frames the studio draws anyway (no extra forward pass): the probe's
forget accuracy (``nc["probe_forget_acc"]``) and the forget points' displacement on the fixed 2-D
basis, relative to the spread of the original's probe embedding. Issue 14 ("did it move?").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine._core.events import Geometry

CHECK_AT = 0.25      # fraction of the method's budget (its progress) at which the check is made
ACC_TOL = 0.01       # |Δ probe forget accuracy| below this counts as "unchanged" (fraction)
MOVE_TOL = 0.01      # mean forget-point displacement ÷ RMS spread of the original embedding below this: "unchanged"


def displacement(before: Geometry, after: Geometry) -> float:
    """Mean displacement of the forget probe points between two frames ÷ the RMS distance of the
    ``before`` points from their centroid (0 = did not move; dimensionless). NaN without forget points."""
    f = np.asarray(before.is_forget, dtype=bool)
    if not f.any() or before.coords.shape != after.coords.shape:
        return float("nan")
    c0 = np.asarray(before.coords, dtype=np.float64)
    spread = float(np.sqrt(np.mean(np.sum((c0 - c0.mean(0)) ** 2, axis=1))))
    moved = float(np.mean(np.linalg.norm(np.asarray(after.coords, dtype=np.float64)[f] - c0[f], axis=1)))
    return moved / spread if spread > 0 else float("nan")


@dataclass
class MovementWatch:
    """Feed it the method's progress fractions and geometry frames; :meth:`verdict` returns the
    warning text once (at the first frame past ``CHECK_AT`` of the budget), else ``None``.

    ``original``: the original model's probe frame (stage "original"); ``label``: the method's name;
    ``knobs``: the names of the method's hyperparameters (its Params dataclass fields) and
    ``presets``: its named presets: the warning's advice names only what the method has.
    """

    original: Geometry
    label: str
    knobs: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    fraction: float = 0.0
    done: bool = field(default=False, init=False)

    def progress(self, fraction: float) -> None:
        self.fraction = max(self.fraction, float(fraction))

    def verdict(self, frame: Geometry) -> str | None:
        if self.done or self.fraction < CHECK_AT:
            return None
        self.done = True
        a0 = self.original.nc.get("probe_forget_acc", float("nan"))
        a1 = frame.nc.get("probe_forget_acc", float("nan"))
        d_acc = abs(a1 - a0) if np.isfinite(a0) and np.isfinite(a1) else float("nan")
        move = displacement(self.original, frame)
        if not (np.isfinite(d_acc) and np.isfinite(move)) or d_acc >= ACC_TOL or move >= MOVE_TOL:
            return None
        when = "By the end of its run" if self.fraction >= 0.999 else f"After {100 * self.fraction:.0f} % of its budget"
        running = self.fraction < 0.999
        tries = advice_for(self.knobs, self.presets)
        if tries:
            hint = f" Its hyperparameters may be too weak for this data (try {tries}{', or cancel it' if running else ''})."
        else:  # nothing of its own to turn up: no advice about knobs
            hint = " You may cancel it." if running else ""
        return (f"Did it move? {when}, {self.label} has changed neither "
                f"the forget accuracy (probe images: {100 * a1:.1f} %, original {100 * a0:.1f} %) nor the features "
                f"(forget points moved {100 * move:.2f} % of the embedding's spread).{hint}")


SMALL_PRESET = "small"  # the small-data preset's name (engine.methods.registry presets)


def advice_for(knobs: tuple[str, ...], presets: tuple[str, ...]) -> str:
    """What to try when a method did not move, naming only knobs it has: its small-data preset
    (when it has one) and its learning rates (fields ``lr``, ``lr_*``, ``*_lr``); "" when neither
    (a closed-form method such as POUR-P has no step size to raise)."""
    parts = []
    if SMALL_PRESET in presets:
        parts.append("the small-data preset")
    rates = [k for k in knobs if k == "lr" or k.startswith("lr_") or k.endswith("_lr")]
    if rates == ["lr"]:
        parts.append("a larger learning rate (lr)")
    elif rates:
        parts.append(f"larger learning rates ({', '.join(rates)})")
    return " or ".join(parts)
