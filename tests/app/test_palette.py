"""One colour per model across the studio, the HTML report and ``engine figure`` (issue 16, item 10)."""
from __future__ import annotations

import engine
from app.plots import style
from engine.report import html
from engine.report.palette import RUN_COLOURS, model_colours


def test_studio_and_report_share_original_and_retrain_colours() -> None:
    assert style.ORIGINAL_COLOUR == html.MODEL_COLOURS["original"] == engine.ORIGINAL_COLOUR
    assert style.RETRAIN_COLOUR == html.MODEL_COLOURS["retrain"] == engine.RETRAIN_COLOUR
    # a one-run report draws the run in the colour the studio gives run 1
    assert html.MODEL_COLOURS["method"] == engine.run_colour(1)


def test_class_colours_are_the_same_list() -> None:
    assert [style.class_colour(c, 10).name() for c in range(10)] == list(engine.CLASS_PALETTE[:10])


def test_run_colours_distinct_from_references_and_stable() -> None:
    refs = {engine.ORIGINAL_COLOUR.lower(), engine.RETRAIN_COLOUR.lower()}
    assert not refs & {c.lower() for c in RUN_COLOURS}
    assert len(set(RUN_COLOURS)) == len(RUN_COLOURS)
    assert engine.run_colour(1) == engine.run_colour(1 + len(RUN_COLOURS))
    assert model_colours(3)["method"] == engine.run_colour(3)



def test_reference_colours_never_collide_with_a_class_colour() -> None:
    """The retrained model's ghosts sit among class-coloured points (``engine figure``'s embedding):
    neither reference colour may come near any class colour (it equalled class 2's green)."""
    from engine.report.palette import CLASS_PALETTE, MIN_REFERENCE_DELTA_E, RETRAIN_MARKER, delta_e

    for ref in (engine.ORIGINAL_COLOUR, engine.RETRAIN_COLOUR):
        nearest = min(CLASS_PALETTE, key=lambda c, r=ref: delta_e(r, c))
        assert delta_e(ref, nearest) >= MIN_REFERENCE_DELTA_E, (ref, nearest)
    assert delta_e(engine.ORIGINAL_COLOUR, engine.RETRAIN_COLOUR) >= MIN_REFERENCE_DELTA_E
    assert delta_e("#59a14f", "#59a14f") == 0.0 and delta_e("#000000", "#ffffff") > 99  # the metric itself
    assert RETRAIN_MARKER != "o"  # class points are circles
