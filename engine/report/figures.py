"""Static figures for the README and reports: the probe embedding before and after a method.

Uses the same Geometry frames the studio animates (fixed basis from the original's class means),
drawn with matplotlib's Agg backend so it works headless.
"""
from __future__ import annotations

import io
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from engine._core.events import Geometry
from engine._core.fileio import atomic_write_bytes
from engine.report.palette import RETRAIN_COLOUR, RETRAIN_MARKER, class_colour


def embedding_before_after(
    before: Geometry,
    after: Geometry,
    classes: Sequence[str],
    out: str | Path,
    *,
    title_after: str = "after",
    ghost: Geometry | None = None,
) -> Path:
    """Two panels on shared axes: the original's probe embedding and the unlearned one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, sharey=True)
    for ax, frame, title in ((axes[0], before, "original"), (axes[1], after, title_after)):
        for c in range(len(classes)):
            keep = frame.labels == c
            ax.scatter(*frame.coords[keep].T, s=7, color=class_colour(c), alpha=0.55, linewidths=0)
        f = frame.is_forget
        ax.scatter(*frame.coords[f].T, s=22, facecolors="none", edgecolors="black", linewidths=0.6, label="forget images")
        if ghost is not None and ax is axes[1]:
            ax.scatter(*ghost.coords[f].T, s=14, marker=RETRAIN_MARKER, color=RETRAIN_COLOUR, alpha=0.45, linewidths=0, label="retrained model")
        for c, (x, y) in enumerate(frame.means2d):
            if np.isfinite(x) and np.isfinite(y):
                ax.annotate(classes[c], (x, y), ha="center", va="center", fontsize=10, weight="bold",
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": class_colour(c), "alpha": 0.9})
        angle, ideal = frame.nc.get("mean_angle_deg"), frame.nc.get("ideal_angle_deg")
        sub = f"mean class-mean angle {angle:.1f}° (ideal {ideal:.1f}°)" if angle is not None and ideal else ""
        ax.set_title(f"{title}\n{sub}", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(loc="lower right", fontsize=9, framealpha=0.9)
    fig.suptitle("Penultimate features of the probe images on the fixed 2-D basis of the original's class means", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path = Path(out)
    atomic_write_bytes(path, buf.getvalue())
    return path
