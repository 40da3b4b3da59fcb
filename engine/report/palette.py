"""One set of colours for every surface that draws runs: the studio, the HTML report and ``engine figure``.

A user comparing a studio screenshot with an exported report must see the same model in the same
colour: the original is always grey, the retrained model (the gold standard) always green, a run
always its own colour (by its number in the runs table; run 1 in a one-run report), and class ``c``
always ``class_colour(c)``. The app reads these through ``engine`` (its public API).
"""
from __future__ import annotations

# Tableau-10, then its light variants: distinct for up to 20 classes (beyond that, callers space hues).
CLASS_PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
ORIGINAL_COLOUR = "#9aa5b1"  # the trained model before unlearning: grey
RETRAIN_COLOUR = "#59a14f"   # the model retrained without the forget set (the target): green
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
