"""Each method does what it claims on digits (cnn_small original, seed 0, one CPU thread).

Class forgetting (class 3): forget-class *test* accuracy must fall well below the original's
(1.000) and the retained classes' test accuracy (original 0.994) must stay within a margin. Each
method runs with its registry ``small`` preset (``info.presets["small"]``: the digits-scale values;
paper defaults are for CIFAR-10 / ResNet-18 and often do nothing in ~10 steps on 1,437 8x8 images),
plus the test-speed overrides listed in CASES. The numbers in CASES were measured with those values;
the thresholds add slack: forget ≤ measured + 0.15, retain ≥ measured − 0.05.

Sample forgetting (10 % random): retraining still classifies ~99 % of the forgotten digits
(they generalise), so a method must stay within 5 points of the retrained model's forget accuracy
and not lose test accuracy.
"""
from __future__ import annotations

from typing import Any

import pytest

from engine.runs.spec import JobSpec
from engine.methods import available, get

ORIGINAL_FORGET, ORIGINAL_RETAIN = 1.000, 0.994

# method, test-speed overrides on top of its "small" preset, measured test_forget_acc, measured test_retain_acc
CASES: list[tuple[str, dict[str, Any], float, float]] = [
    ("grad_ascent", {}, 0.000, 0.842),
    ("random_label", {}, 0.000, 1.000),
    ("salun", {}, 0.000, 0.994),
    ("neggrad_plus", {}, 0.000, 0.981),
    ("l1_sparse", {}, 0.000, 0.929),
    ("scrub", {}, 0.000, 0.991),
    ("ssd", {}, 0.000, 0.988),
    ("lf_ssd", {}, 0.054, 0.802),
    ("bad_teacher", {}, 0.000, 0.994),
    ("boundary_shrink", {}, 0.000, 0.963),
    ("boundary_expand", {}, 0.162, 0.963),
    ("unsir", {}, 0.000, 0.960),
    ("kodge_projection", {}, 0.135, 0.988),
    ("unsc", {}, 0.000, 0.991),
    ("trw", {"epochs": 2}, 0.000, 0.978),
    ("modhifi_u", {}, 0.486, 0.916),
    ("laf", {}, 0.054, 0.991),
    ("oracle_matching", {"epochs": 2}, 0.000, 0.975),
]


def test_every_method_with_a_small_preset_is_checked_here() -> None:
    checked = {c[0] for c in CASES}
    missing = [n for n in available() if "small" in get(n).presets and n not in checked]
    assert not missing, f"add a class-forgetting case for {missing}"


def _run(runner, method: str, params: dict[str, Any], forget: dict[str, Any], reference: str | None = None,  # noqa: ANN001, ANN202
         preset: str | None = None):
    spec = JobSpec(method=method, params=params, forget=forget, evaluate=False, geometry=False, reference=reference,
                   preset=preset)
    return runner.run_to_record(spec)


@pytest.mark.parametrize(("method", "params", "forget_acc", "retain_acc"), CASES, ids=[c[0] for c in CASES])
def test_class_forgetting(runner, method: str, params: dict[str, Any], forget_acc: float, retain_acc: float) -> None:  # noqa: ANN001
    reference = "retrain" if method == "oracle_matching" else None
    record = _run(runner, method, params, {"classes": [3]}, reference, preset="small")
    expected = {**get(method).presets.get("small", {}), **params}
    assert {k: record.params[k] for k in expected} == expected  # the preset reached the method, overrides win
    m = record.metrics
    original = record.references[0].metrics
    assert original["test_forget_acc"] == pytest.approx(ORIGINAL_FORGET, abs=0.02)
    assert original["test_retain_acc"] == pytest.approx(ORIGINAL_RETAIN, abs=0.02)
    assert m["test_forget_acc"] <= min(forget_acc + 0.15, 0.7 * original["test_forget_acc"]), m
    assert m["test_retain_acc"] >= retain_acc - 0.05, m


SAMPLE = {"fraction": 0.1, "seed": 0}


@pytest.mark.parametrize(
    ("method", "params"),
    [("amun", {"pgd_steps": 10, "max_rounds": 4, "epochs": 2}), ("ssd", {})],
    ids=["amun", "ssd"],
)
def test_sample_forgetting_tracks_retrain(runner, method: str, params: dict[str, Any]) -> None:  # noqa: ANN001
    record = _run(runner, method, params, SAMPLE, "retrain")
    retrain = next(r for r in record.references if r.method == "retrain").metrics
    m = record.metrics
    assert abs(m["forget_acc"] - retrain["forget_acc"]) <= 0.05, (m, retrain)
    assert m["test_acc"] >= retrain["test_acc"] - 0.05, (m, retrain)
