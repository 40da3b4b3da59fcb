"""The metric catalog: every reported metric is documented once, with the direction the specs give it."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from engine.cli.format import COLUMNS, PERCENT_COLUMNS, format_legend
from engine.metrics.catalog import (
    COSTS,
    DIRECTIONS,
    GLYPHS,
    NA_TEXT,
    RUN_TABLE_KEYS,
    MetricInfo,
    all_metrics,
    catalog_json,
    get_metric,
    metric,
)
from engine.runs.spec import JobSpec

ROOT = Path(__file__).resolve().parents[2]

# What the metric specs say (methods.md section B, pour.md "Metrics"), one line of evidence each.
SPEC_DIRECTIONS = {
    "forget_acc": "ref",  # B1/B8: UA's target is the retrained model's (Avg. Gap |UA − UA_R|)
    "retain_acc": "up",  # B1: RA, utility on the retained data
    "test_acc": "ref",  # B8: |TA − TA_R|; includes the forgotten class in class forgetting
    "test_forget_acc": "down",  # C3: a retrained model scores 0 % on the class; AUS divides by 1 + it
    "test_retain_acc": "up",  # B1: SalUn's TA in class forgetting
    "aus": "up",  # pour.md: 1 = no retain loss and no forget accuracy
    "rus_o": "up",  # pour.md: a harmonic-mean score; the retrained model is not its ideal (0.3–0.55 at small scale)
    "rus_r": "up",  # pour.md: 1 = the retrained model's representation
    "rmia": "down",  # pour.md: "Lower is better"
    "mia_svc": "ref",  # B2: "the target is the retrain value"
    "mia_entropy": "down",  # B3: "Lower is better"
    "mia_loss_acc": "ref",  # B4: "Ideal = retrain's value"
    "mia_nn": "ref",  # B6: compared with the retrained model ...
    "mia_nn_gap": "down",  # B6: "Lower gap = better"
    "tv_leakage": "down",  # B6: a distance to the retrained model's outputs
    "ulira_auc": "ref",  # B5: "Ideal: 50 %", what a retrained model scores
    "klom_mean": "down",  # B7: "0 is perfect"
    "avg_gap": "down",  # B8
    "nc1": "down", "nc2_equinorm": "down", "nc2_equiangle": "down", "nc3": "down", "nc4": "down",  # B11
}


def test_entries_are_complete_and_consistent() -> None:
    names = [m.name for m in all_metrics()]
    assert len(names) == len(set(names))
    for m in all_metrics():
        assert m.direction in DIRECTIONS and m.cost in COSTS
        assert m.definition and m.label and m.short and m.source
        assert m.glyph == GLYPHS[m.direction] and m.header.startswith(m.short)
        # the report is read without the repository: no spec file or source path as a "source"
        assert not re.search(r"\.md\b|\.py\b|engine/", m.source + m.definition), m.name
        if m.direction == "ref":
            assert m.ideal is None or m.name == "ulira_auc", m.name
    assert {"name", "definition", "direction", "glyph", "ideal", "cost", "source"} <= set(catalog_json()[0])
    with pytest.raises(ValueError):
        MetricInfo("x", "x", "x", "privacy", "≈", "d", "s")


def test_directions_are_those_of_the_metric_specs() -> None:
    for key, direction in SPEC_DIRECTIONS.items():
        assert get_metric(key) is not None, key
        assert metric(key).direction == direction, (key, metric(key).direction, direction)
    assert metric("test_forget_acc").ideal == 0.0 and metric("rus_o").ideal == 1.0
    assert "retrained" not in metric("rus_o").better  # no "↑ (ideal: as retrained model)" again


def test_values_format_with_their_unit_and_never_as_nan() -> None:
    assert metric("forget_acc").format(0.123) == "12.3 %" and metric("forget_acc").format(0.123, unit=False) == "12.3"
    assert metric("aus").format(1.0049) == "1.005" and metric("audit_seconds").format(2.5) == "2.50 s"
    for v in (None, math.nan, math.inf, "0.5", True):
        assert metric("rmia").format(v) == NA_TEXT
    assert metric("unknown_key").format(0.25) == "0.250"


def test_the_cli_columns_are_the_catalogs() -> None:
    assert [k for k, _ in COLUMNS] == list(RUN_TABLE_KEYS)
    assert [h for _, h in COLUMNS] == [metric(k).header for k in RUN_TABLE_KEYS]
    assert dict(COLUMNS)["test_forget_acc"] == "test forget ↓" and dict(COLUMNS)["test_acc"] == "test ≈R"
    assert {k for k in RUN_TABLE_KEYS if metric(k).unit == "%"} == PERCENT_COLUMNS
    legend = format_legend()
    for k in RUN_TABLE_KEYS:
        assert f"{metric(k).header}: {metric(k).definition}" in legend and metric(k).better in legend


def test_no_surface_keeps_its_own_direction_table() -> None:
    """Directions and their words live in the catalog only (the studio, CLI and report import it)."""
    surfaces = [ROOT / "app/report.py", ROOT / "app/panes/runs_pane.py", ROOT / "engine/cli/format.py",
                ROOT / "engine/cli/main.py", ROOT / "engine/report/html.py"]
    for path in surfaces:
        text = path.read_text(encoding="utf-8")
        code = re.sub(r'"""(.*?)"""', "", text, flags=re.S)  # docstrings may name the glyphs
        for needle in ('"↑"', '"↓"', '"≈R"', "higher is better", "lower is better", "closer to the retrained"):
            assert needle not in code, (path.name, needle)


@pytest.mark.slow  # end-to-end
def test_every_metric_of_a_run_is_in_the_catalog(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(JobSpec(method="pour_p", reference="retrain", geometry=False))
    for r in [rec, *rec.references]:
        missing = [k for k in r.metrics if get_metric(k) is None]
        assert not missing, missing
