"""The metric registry: every reported metric is documented, with a valid direction and reference."""
from __future__ import annotations

import pytest

from engine.runs.spec import JobSpec
from engine.metrics.catalog import COSTS, DIRECTIONS, REFERENCES, MetricInfo, all_metrics, catalog_json, get_metric


def test_entries_are_complete() -> None:
    names = [m.name for m in all_metrics()]
    assert len(names) == len(set(names))
    for m in all_metrics():
        assert m.direction in DIRECTIONS and m.reference in REFERENCES and m.cost in COSTS
        assert m.definition and m.label and m.source
    assert {"name", "definition", "direction", "reference", "ideal", "cost"} <= set(catalog_json()[0])
    assert get_metric("mia_svc").direction == "≈" and get_metric("mia_svc").reference == "retrain"
    assert get_metric("forget_acc").format(0.123) == "12.3 %" and get_metric("nc1").format(None) == "–"
    with pytest.raises(ValueError):
        MetricInfo("x", "x", "privacy", "d", "up", "retrain", 0.0, "cheap")


@pytest.mark.slow  # end-to-end
def test_every_metric_of_a_run_is_in_the_catalog(runner) -> None:  # noqa: ANN001
    rec = runner.run_to_record(JobSpec(method="pour_p", reference="retrain", geometry=False))
    for r in [rec, *rec.references]:
        missing = [k for k in r.metrics if get_metric(k) is None]
        assert not missing, missing
