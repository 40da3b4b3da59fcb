"""One set of colours for every surface that draws runs: the studio, the HTML report and ``engine figure``.

A user comparing a studio screenshot with an exported report must see the same model in the same
colour: the original is always grey, the retrained model (the gold standard) always green, a run
always its own colour (by its number in the runs table; run 1 in a one-run report), and class ``c``
always ``class_colour(c)``. The app reads these through ``engine`` (its public API).

The two reference models are drawn beside class-coloured points (the retrained model's positions
in an embedding), so their colours are dark shades that no class colour comes near: each differs
from every class colour by at least ``MIN_REFERENCE_DELTA_E`` (CIE76 ΔE in CIELAB; 2.3 is a
just-noticeable difference, ~10 reads as another colour at a glance). Their markers differ too:
class points are circles, the retrained model's positions diamonds (``RETRAIN_MARKER``).
"""
from __future__ import annotations

# Tableau-10, then its light variants: distinct for up to 20 classes (beyond that, callers space hues).
CLASS_PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
ORIGINAL_COLOUR = "#3d4852"  # the trained model before unlearning: dark slate grey (no class is this dark)
RETRAIN_COLOUR = "#1d6b45"   # the model retrained without the forget set (the target): dark green, not class 2's
RETRAIN_MARKER = "D"         # the retrained model's positions in an embedding: diamonds (class points: circles)
MIN_REFERENCE_DELTA_E = 20.0  # CIE76 distance of each reference colour from every class colour, at least
# Run colours: distinct from each other and from the original's grey and the retrained model's green.
RUN_COLOURS: tuple[str, ...] = (
    "#e15759", "#4e79a7", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
    "#1f77b4", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e",
)


def run_colour(number: int) -> str:
    """The colour (hex) of run ``number`` (1-based, the runs table's ``#``): a fixed palette cycled,
    so a run keeps its colour in every comparison and every export."""
    return RUN_COLOURS[(int(number) - 1) % len(RUN_COLOURS)]


def class_colour(c: int) -> str:
    """The colour (hex) of class ``c`` for up to 20 classes (cycled beyond)."""
    return CLASS_PALETTE[int(c) % len(CLASS_PALETTE)]


def model_colours(run_number: int = 1) -> dict[str, str]:
    """{role: hex} for the report's figures: "original", "retrain" and "method" (the run's colour)."""
    return {"original": ORIGINAL_COLOUR, "retrain": RETRAIN_COLOUR, "method": run_colour(run_number)}


def lab(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a ``#rrggbb`` colour: L in 0..100, a and b roughly -128..127."""
    h = colour.lstrip("#")
    rgb = [int(h[i:i + 2], 16) / 255.0 for i in (0, 2, 4)]
    lin = [((v + 0.055) / 1.055) ** 2.4 if v > 0.04045 else v / 12.92 for v in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def delta_e(c1: str, c2: str) -> float:
    """CIE76 colour difference of two ``#rrggbb`` colours (Euclidean distance in CIELAB)."""
    return float(sum((a - b) ** 2 for a, b in zip(lab(c1), lab(c2), strict=True)) ** 0.5)
