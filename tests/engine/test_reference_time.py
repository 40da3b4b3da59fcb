"""Retrain's (and the Original's) time is its training time, never the cache's load time (issue 12/16):
the record says whether the model was trained now or loaded, and every surface (CLI table and
footnote, report Cost table, the record) shows the training time or says it is not known."""
from __future__ import annotations

import json

import pytest

from engine._core.events import drain
from engine._core.progress import format_seconds
from engine.cli.format import format_legend, format_table
from engine.report.html import render_record
from engine.runs.record import UNRECORDED_TIME, RunRecord, time_cell, time_of
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec
from engine.train.pretrained import CACHED, TRAINED, obtain_retrain, provenance

# mlp on digits, no evaluation beyond accuracies: a run takes about a second
SPEC = JobSpec(method="pour_p", model={"arch": "mlp", "recipe": {"epochs": 3}}, reference="retrain",
               geometry=False, audit=False)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _retrain_sidecar(cache) -> object:  # noqa: ANN001
    (side,) = [p for p in cache.rglob("*.json") if json.loads(p.read_text()).get("kind") == "retrain"]
    return side


def test_the_cache_records_the_training_time_and_a_load_carries_it(fresh_cache, digits) -> None:  # noqa: ANN001
    from engine.data import ForgetSpec
    from engine.train.recipe import default_recipe

    split = ForgetSpec(classes=(3,)).resolve(digits)
    recipe = default_recipe("mlp", digits.image_size, digits.channels)
    trained = drain(obtain_retrain(digits, split, "mlp", recipe))
    p = provenance(trained)
    assert p is not None and p.source == TRAINED and p.train_seconds is not None and p.train_seconds > 0
    side = _retrain_sidecar(fresh_cache)
    assert json.loads(side.read_text())["train_seconds"] == pytest.approx(p.train_seconds)
    loaded = provenance(drain(obtain_retrain(digits, split, "mlp", recipe)))
    assert loaded is not None and loaded.source == CACHED and loaded.train_seconds == pytest.approx(p.train_seconds)
    assert loaded.load_seconds is not None
    meta = json.loads(side.read_text())
    meta.pop("train_seconds")  # an entry cached before the time was recorded
    side.write_text(json.dumps(meta))
    old = provenance(drain(obtain_retrain(digits, split, "mlp", recipe)))
    assert old is not None and old.source == CACHED and old.train_seconds is None


def test_a_cached_retrain_shows_its_training_time_on_every_surface(fresh_cache) -> None:  # noqa: ANN001
    first = Runner(threads=1).run_to_record(SPEC)
    r1 = first.reference("retrain")
    assert r1 is not None and r1.time_source == "trained" and r1.seconds["method"] > 0
    assert first.reference("original").time_source == "trained"

    second = Runner(threads=1).run_to_record(SPEC)  # a new runner: both models come from the cache
    r2 = second.reference("retrain")
    assert r2 is not None and r2.time_source == "cache"
    # the training time recorded when it was trained, not this run's load
    assert r2.seconds["method"] == pytest.approx(r1.seconds["method"])
    assert "load" in r2.seconds and r2.seconds["load"] != pytest.approx(r2.seconds["method"])
    assert time_of(r2) == (pytest.approx(r1.seconds["method"]), "trained earlier, loaded from the cache")
    o2 = second.reference("original")
    assert o2.time_source == "cache" and o2.seconds["train"] == pytest.approx(first.reference("original").seconds["train"])
    back = RunRecord.from_json(second.to_json()).reference("retrain")
    assert back is not None and back.time_source == "cache" and time_cell(back) == time_cell(r2)

    table = format_table([*second.references, second])
    row = next(line for line in table.splitlines() if line.startswith("| Retrain |"))
    assert row.rstrip(" |").endswith(format_seconds(r1.seconds["method"]).removesuffix(" s") + " (trained earlier)"), row
    assert "Retrain: trained earlier, loaded from the cache (this run loaded it in" in table
    assert "the seconds are its training time" in table
    assert "cache load" not in format_legend() and "never the load time" in format_legend()
    html = render_record(second)
    assert f"{r1.seconds['method']:.2f} s" in html and "training; trained earlier, loaded from the cache" in html

    side = _retrain_sidecar(fresh_cache)
    meta = json.loads(side.read_text())
    meta.pop("train_seconds")
    side.write_text(json.dumps(meta))
    third = Runner(threads=1).run_to_record(SPEC)
    r3 = third.reference("retrain")
    assert r3 is not None and "method" not in r3.seconds and time_of(r3) == (None, UNRECORDED_TIME)
    table = format_table([*third.references, third])
    row = next(line for line in table.splitlines() if line.startswith("| Retrain |"))
    assert row.rstrip(" |").endswith(UNRECORDED_TIME), row
    assert UNRECORDED_TIME in render_record(third)


def test_retrain_as_the_method_and_a_reused_reference_show_the_training_time(fresh_cache) -> None:  # noqa: ANN001
    runner = Runner(threads=1)
    first = runner.run_to_record(SPEC)
    again = runner.run_to_record(SPEC)  # the same runner: the reference comes from its memory
    r = again.reference("retrain")
    assert r is not None and r.time_source == "memory"
    assert r.seconds["method"] == pytest.approx(first.reference("retrain").seconds["method"])
    as_method = Runner(threads=1).run_to_record(SPEC.with_changes(method="retrain", reference=None))
    assert as_method.time_source == "cache"
    assert as_method.seconds["method"] == pytest.approx(first.reference("retrain").seconds["method"])
    assert "load" in as_method.seconds
