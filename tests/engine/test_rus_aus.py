"""RUS and AUS of the POUR paper, and the accuracy helpers (pour.md, methods.md B1)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics import (
    accuracy,
    aus,
    linear_cka,
    per_class_accuracy,
    rus_against_original,
    rus_against_retrain,
    rus_components,
    rus_from_parts,
)


def _feats(seed: int, n: int = 80, d: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def test_unchanged_features_score_zero_against_original() -> None:
    Zf, Zr = _feats(0), _feats(1)
    comp = rus_components(Zf, Zf, Zr, Zr, reference="original")
    assert comp["cka_f"] == pytest.approx(1.0)
    assert comp["phi_f"] == pytest.approx(0.0, abs=1e-12)
    assert comp["cka_r"] == pytest.approx(1.0)
    assert comp["rus"] == pytest.approx(0.0, abs=1e-10)
    assert rus_against_original(Zf, Zf, Zr, Zr) == pytest.approx(0.0, abs=1e-10)


def test_matching_the_retrain_scores_one() -> None:
    Zf, Zr = _feats(2), _feats(3)
    assert rus_against_retrain(Zf, Zf, Zr, Zr) == pytest.approx(1.0, abs=1e-7)


def test_harmonic_mean_by_hand() -> None:
    # 2·0.5·1.0 / (0.5 + 1.0) = 1/1.5 = 0.6667;  2·0.6·0.9 / 1.5 = 1.08 / 1.5 = 0.72.
    assert rus_from_parts(0.5, 1.0) == pytest.approx(2.0 / 3.0, abs=1e-7)
    assert rus_from_parts(0.6, 0.9) == pytest.approx(0.72, abs=1e-7)
    assert rus_from_parts(0.0, 0.0) == 0.0  # the 1e-8 keeps 0/0 away


def test_components_use_cka() -> None:
    Zu_f, Zo_f, Zu_r, Zo_r = _feats(4), _feats(5), _feats(6), _feats(7)
    Zo_r = Zu_r + 0.5 * Zo_r
    comp = rus_components(Zu_f, Zo_f, Zu_r, Zo_r)
    phi = 1.0 - linear_cka(Zu_f, Zo_f)
    cr = linear_cka(Zu_r, Zo_r)
    assert comp["phi_f"] == pytest.approx(phi)
    assert comp["cka_r"] == pytest.approx(cr)
    assert comp["rus"] == pytest.approx(2 * phi * cr / (phi + cr + 1e-8))
    comp_r = rus_components(Zu_f, Zo_f, Zu_r, Zo_r, reference="retrain")
    assert comp_r["phi_f"] == pytest.approx(1.0 - phi)
    with pytest.raises(ValueError):
        rus_components(Zu_f, Zo_f, Zu_r, Zo_r, reference="other")  # type: ignore[arg-type]


def test_aus_formula() -> None:
    # POUR-P on CIFAR-10 (pour.md): (1 − (0.9447 − 0.9497)) / (1 + 0) = 1.005.
    assert aus(0.9447, 0.9497, 0.0) == pytest.approx(1.005)
    assert aus(0.95, 0.90, 0.5) == pytest.approx(0.95 / 1.5)  # (1 − 0.05) / 1.5
    assert aus(0.9, 0.9, 0.0) == pytest.approx(1.0)
    assert aus(0.9, 0.9, 1.0) == pytest.approx(0.5)


def test_accuracy_helpers() -> None:
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == pytest.approx(0.75)
    assert math.isnan(accuracy(np.array([], dtype=int), np.array([], dtype=int)))
    pc = per_class_accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), 4)
    np.testing.assert_allclose(pc[:3], [1.0, 0.5, 1.0])
    assert math.isnan(pc[3])
    with pytest.raises(ValueError):
        accuracy(np.array([0, 1]), np.array([0]))


@pytest.mark.parametrize("against", ["original", "retrain"])
def test_a_run_records_the_rus_of_metrics_rus_on_its_own_features(runner, against: str) -> None:  # noqa: ANN001
    """The RUS(o) / RUS(r) every record reports is :mod:`engine.metrics.rus` on the run's penultimate
    features of the training images (all forget / retain rows: digits is below the CKA subsample cap)."""
    from engine.runs.spec import JobSpec
    from engine.train.features import extract

    spec = JobSpec(method="pour_d", params={"min_steps": 50}, reference="retrain" if against == "retrain" else None,
                   geometry=False, audit=False)
    record = runner.run_to_record(spec)
    bundle, split = runner.load_inputs(spec)
    f, r = split.forget_idx, split.retain_idx
    assert max(len(f), len(r)) <= 2000  # Evaluator's max_cka_rows: every row is used
    z_u = extract(record.model, bundle.x_train, bundle.mean, bundle.std).features
    z_ref = extract(record.reference(against).model, bundle.x_train, bundle.mean, bundle.std).features
    score = rus_against_original if against == "original" else rus_against_retrain
    expected = score(z_u[f], z_ref[f], z_u[r], z_ref[r])
    assert expected > 0.01  # not degenerate: a scaled score could not match by accident
    key = "rus_o" if against == "original" else "rus_r"
    assert record.metrics[key] == pytest.approx(expected, rel=1e-6)
