"""Shadow-ensemble metrics (methods.md B5 U-LiRA, B7 KLoM): statistics, jobs, cache, cancel, cost, CLI."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import engine.evaluation.ensembles as ens
import engine.metrics.shadow as shadow
from engine._core.cancel import CancelToken
from engine.data import ForgetSpec
from engine._core.errors import BadSpec, Cancelled
from engine._core.events import Log, Progress, drain
from engine.train.recipe import Recipe

RECIPE = Recipe(epochs=2, lr=0.05, batch_size=64)  # mlp on digits: ~0.05 s a training


@pytest.fixture(scope="module")
def split(digits):  # noqa: ANN001, ANN201
    return ForgetSpec(classes=(3,)).resolve(digits)


# ------------------------------------------------------------------------------ pure statistics
def test_margin_is_logit_of_the_label_probability() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 10)) * 3
    y = rng.integers(0, 10, 50)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    py = p[np.arange(50), y]
    assert np.allclose(shadow.margins(z, y), np.log(py / (1 - py)), atol=1e-8)


def test_klom_scores_zero_for_identical_and_large_for_disjoint() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 30))
    assert np.allclose(shadow.klom_scores(a, a.copy(), bins=10), 0.0)
    far = shadow.klom_scores(a, a + 50.0, bins=10)  # no overlap: q = 1e-5 wherever p > 0
    assert np.all(far > math.log(1e5) - 0.01)
    # Clipping to ±100: two samples beyond the clip are identical after clipping.
    assert np.allclose(shadow.klom_scores(np.full((4, 3), 500.0), np.full((4, 3), 900.0), bins=5), 0.0)


def test_ulira_statistic_chance_on_same_distribution_and_one_when_separated() -> None:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=400) * 3  # per-sample means shared by both hypotheses
    same_u = mu + rng.normal(size=(8, 400))
    same_r = mu + rng.normal(size=(8, 400))
    for holdout in ("last", "rotate"):
        r = shadow.ulira_attack(same_u, same_r, holdout=holdout)
        assert 0.42 < r["ulira_auc"] < 0.58, r
        assert 0.5 <= r["ulira_accuracy"] < 0.6
    assert r["per_sample_variance"] is True  # K−1 = 7 fitting shadows
    apart = shadow.ulira_attack(mu + 4 + rng.normal(size=(3, 400)), mu + rng.normal(size=(3, 400)))
    assert apart["ulira_auc"] > 0.97 and apart["ulira_accuracy"] > 0.9
    assert apart["per_sample_variance"] is False  # K−1 = 2: pooled ("global") variance
    with pytest.raises(BadSpec, match="needs k >= 3 shadow pairs"):
        shadow.ulira_attack(same_u[:2], same_r[:2])


def test_cost_estimate_arithmetic() -> None:
    c = ens.estimate_cost("ulira", 4, 10.0, seconds_per_unlearn=2.0)
    assert c["trainings"] == 8 and c["unlearning_runs"] == 4
    assert c["seconds"] == pytest.approx(8 * 10.0 + 4 * 2.0)
    assert c["approximate"] is True and c["paper_k"] == 8
    c = ens.estimate_cost("klom", 3, 5.0, cached_trainings=4)  # unlearning defaults to one training
    assert c["trainings_to_run"] == 2 and c["seconds"] == pytest.approx(2 * 5.0 + 3 * 5.0)
    assert c["minutes"] == pytest.approx(c["seconds"] / 60)
    assert ens.estimate_cost("ulira", 16, 1.0)["approximate"] is False
    with pytest.raises(BadSpec, match="kind must be one of"):
        ens.estimate_cost("lira", 4, 1.0)
    with pytest.raises(BadSpec, match="k must be >= 3, got 2"):
        ens.estimate_cost("ulira", 2, 1.0)


# ------------------------------------------------------------------------------------- the jobs
def test_klom_of_retrain_is_far_below_klom_of_no_unlearning(digits, split) -> None:  # noqa: ANN001
    events: list = []
    gen = ens.klom_job(digits, split, "mlp", RECIPE, "retrain", k=4, seed=0)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        retrain = stop.value
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    noop = drain(ens.klom_job(digits, split, "mlp", RECIPE, ens.NO_OP, k=4, seed=0))
    assert retrain["k"] == 4 and retrain["approximate"] is True
    assert set(retrain) >= {"klom_mean", "klom_forget_p95", "klom_retain_mean", "klom_test_mean"}
    assert retrain["klom_mean"] < 0.5 * noop["klom_mean"], (retrain, noop)
    assert noop["klom_mean"] > 10.0  # the original's forget margins never meet the retrains'


def test_ulira_separates_no_unlearning_and_caches(digits, split, monkeypatch) -> None:  # noqa: ANN001
    noop = drain(ens.ulira_job(digits, split, "mlp", RECIPE, ens.NO_OP, k=3, seed=0))
    retrain = drain(ens.ulira_job(digits, split, "mlp", RECIPE, "retrain", k=3, seed=0))
    assert noop["ulira_auc"] > 0.95 and noop["ulira_accuracy"] > 0.9
    assert retrain["ulira_auc"] < noop["ulira_auc"]  # ≈ chance in expectation; noisy at K = 3
    assert isinstance(retrain["approximate"], bool) and retrain["k"] == 3

    def boom(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("trained although the result was cached")

    monkeypatch.setattr(ens, "obtain_retrain", boom)
    monkeypatch.setattr(ens, "obtain_original", boom)
    events: list = []
    gen = ens.ulira_job(digits, split, "mlp", RECIPE, "retrain", k=3, seed=0)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        again = stop.value
    assert again == retrain
    assert any(isinstance(e, Log) and "from cache" in e.message for e in events)
    # A different k or method params is a different cache entry (and would train).
    with pytest.raises(AssertionError, match="trained"):
        drain(ens.ulira_job(digits, split, "mlp", RECIPE, "retrain", k=4, seed=0))
    with pytest.raises(AssertionError, match="trained"):
        drain(ens.ulira_job(digits, split, "mlp", RECIPE, "finetune", {"epochs": 1}, k=3, seed=0))


def test_cancel_stops_within_a_second(digits, split) -> None:  # noqa: ANN001
    token = CancelToken()
    recipe = Recipe(epochs=3, lr=0.05, batch_size=16)  # not cached by other tests
    gen = ens.klom_job(digits, split, "mlp", recipe, "retrain", k=4, seed=100, token=token, use_cache=False)
    for event in gen:
        if isinstance(event, Progress):
            break
    token.cancel()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass
    assert time.perf_counter() - t0 < 1.0


def test_bad_inputs(digits, split) -> None:  # noqa: ANN001
    with pytest.raises(BadSpec, match="k must be >= 2, got 1"):
        drain(ens.klom_job(digits, split, "mlp", RECIPE, "retrain", k=1))
    with pytest.raises(BadSpec, match=r"^params\.nope: unknown hyperparameter"):
        drain(ens.ulira_job(digits, split, "mlp", RECIPE, "finetune", {"nope": 1}, k=3))


def test_cli_prints_cost_then_result(capsys) -> None:  # noqa: ANN001
    from engine.cli.main import main

    argv = ["ensemble", "klom", "--method", "original", "--k", "2", "--model", "mlp", "--epochs", "1", "--quiet"]
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.index("cost estimate") < out.index('"klom_mean"')
    result = json.loads(out[out.index("{"):])
    assert result["k"] == 2 and result["approximate"] is True
    # by default a table with the numbers (the same ones) and what they mean; no JSON
    assert main(argv) == 0  # the shadows and the result are cached now
    text = capsys.readouterr().out
    assert "{" not in text and "| forget images (training) |" in text
    assert f"{result['klom_forget_mean']:.3f}" in text and "K = 2 shadow pairs" in text
    assert "0: the method's models behave like retrains" in text


def test_the_ulira_summary_explains_a_high_auc_beside_a_private_pass() -> None:
    from engine.cli.ensemble_text import format_ulira

    text = format_ulira({"k": 4, "approximate": True, "ulira_auc": 1.0, "ulira_accuracy": 1.0,
                         "per_sample_variance": False, "n_forget": 146.0}, "U-LiRA of POUR-P", paper_k=8)
    assert "| U-LiRA AUC | 1.000 | 0.5" in text and "fewer than the paper's 8" in text
    assert "Private? PASS" in text and "fingerprint" in text and "one pooled over the images" in text


def test_library_code_is_qt_free_and_silent() -> None:
    src = Path(ens.__file__).read_text(encoding="utf-8")
    assert "PySide" not in src and "PyQt" not in src and "print(" not in src
