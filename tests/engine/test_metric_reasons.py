"""Every null metric of a run carries a specific reason (RunRecord.metric_na), and every number a
verdict sentence cites is re-derived from the metrics it is about (issue 12.2)."""
from __future__ import annotations

import math
import re
from typing import Any

import pytest

from engine.evaluation.audit.verdicts import FEATURE_FREE_PASS, LOSS_TIED_TEXT, PROBE_MARGIN, SVC_MIN_EDGE, verdicts
from engine.evaluation.evaluator import UNEXPLAINED
from engine.metrics.catalog import is_value
from engine.runs.record import NA_UNRECORDED, RunRecord
from engine.runs.spec import JobSpec

DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+")


@pytest.fixture(scope="module")
def class_run(runner) -> RunRecord:  # noqa: ANN001
    return runner.run_to_record(JobSpec(method="pour_p", reference="retrain", geometry=False))


@pytest.fixture(scope="module")
def free_run(runner) -> RunRecord:  # noqa: ANN001
    """The same method judged by the reference-free rules (no retrained model in the run)."""
    return runner.run_to_record(JobSpec(method="pour_p", reference=None, geometry=False))


@pytest.fixture(scope="module")
def one_image_run(runner) -> RunRecord:  # noqa: ANN001
    """A sample forget set of one image: several attacks cannot run (fail_08)."""
    return runner.run_to_record(JobSpec(method="ssd", forget={"ids": [12]}, reference=None, geometry=False))


def _unexplained(rec: RunRecord) -> dict[str, Any]:
    out = {}
    for r in (rec, *rec.references):
        for key, v in r.metrics.items():
            if not is_value(v):
                reason = r.na_reason(key)
                if not reason or reason in (UNEXPLAINED, NA_UNRECORDED) or not reason.startswith("not applicable: "):
                    out[f"{r.method}.{key}"] = reason
    return out


def test_every_null_metric_of_a_run_has_a_specific_reason(class_run, one_image_run) -> None:  # noqa: ANN001
    for rec in (class_run, one_image_run):
        assert not _unexplained(rec), _unexplained(rec)
    assert one_image_run.na_reason("mia_worst_adv") == "not applicable: one forget image (needs at least 2)"
    assert one_image_run.na_reason("rmia") == "not applicable: one forget image (needs at least 2)"
    assert one_image_run.na_reason("forget_acc") is None  # a number
    back = RunRecord.from_json(one_image_run.to_json())
    assert back.metrics["rmia"] is None and back.na_reason("rmia") == one_image_run.na_reason("rmia")


def test_an_old_record_without_reasons_still_says_why_it_cannot_tell(class_run) -> None:  # noqa: ANN001
    d = class_run.to_json()
    d.pop("metric_na")
    d["metrics"]["rmia"] = None
    d["audit"] = {}
    assert RunRecord.from_json(d).na_reason("rmia") == NA_UNRECORDED


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _cited_numbers(rec: RunRecord) -> dict[str, set[str]]:
    """The numbers each verdict may cite, re-derived from the records' metrics."""
    m = rec.metrics
    ret = rec.reference("retrain")
    r = ret.metrics if ret is not None else None
    o = rec.reference("original").metrics
    shift = 1 - m["cka_o_forget_train"]
    out = {"outputs": {_pct(m["forget_acc"])}, "features": {f"{shift:.3f}", _pct(m["probe_forget"]), _pct(m["knn_forget"])},
           "private": {_pct(m["mia_svc"]), f"{m['mia_worst_adv']:.2f}", f"{m['mia_worst_chance']:.2f}"},
           "utility": {_pct(m["test_retain_acc"])},
           "relearn": {_pct(m[k]) for k in ("relearn_final_acc", "quant_int8_forget_acc", "quant_fp16_forget_acc",
                                            "quant_base_forget_acc")}}
    if r is not None:
        # The SVC attack's diagnostics (cited when it is inconclusive) and MIA-NN, of both models.
        for x in (m, r):
            out["private"] |= {_pct(x[k]) for k in ("mia_svc_shadow_acc", "mia_svc_shadow_chance", "mia_svc_spread",
                                                    "mia_svc_outside", "mia_nn")}
            out["private"].add(_pct(max(x["mia_svc_shadow_chance"], 0.5 + SVC_MIN_EDGE)))
        shift_r = 1 - r["cka_o_forget_train"]
        out["outputs"].add(_pct(r["forget_acc"]))
        out["features"] |= {_pct(shift / shift_r), f"{shift_r:.3f}", _pct(r["probe_forget"]), _pct(r["knn_forget"])}
        out["private"] |= {_pct(r["mia_svc"]), f"{r['mia_worst_adv']:.2f}"}
        out["utility"].add(_pct(r["test_retain_acc"]))
        out["relearn"] |= {_pct(r["relearn_final_acc"]), _pct(0.5 * o["forget_acc"])}
    else:
        out["features"].add(str(FEATURE_FREE_PASS))
        out["utility"].add(_pct(o["test_retain_acc"]))
        out["relearn"] |= {_pct(m["relearn_auc"]), _pct(o["forget_acc"])}
    return out


@pytest.mark.parametrize("which", ["class_run", "free_run"])
def test_each_verdict_cites_the_numbers_of_its_metrics(which: str, request) -> None:  # noqa: ANN001
    rec = request.getfixturevalue(which)
    allowed = _cited_numbers(rec)
    for v in rec.audit["verdicts"]:
        cited = set(DECIMAL.findall(v["summary"]))
        assert cited, v["summary"]
        assert cited <= allowed[v["key"]], (v["key"], cited - allowed[v["key"]], v["summary"])
    by_key = {v["key"]: v["summary"] for v in rec.audit["verdicts"]}
    assert f"{_pct(rec.metrics['forget_acc'])} %" in by_key["outputs"]
    assert f"{_pct(rec.metrics['test_retain_acc'])} %" in by_key["utility"]
    assert f"{_pct(rec.metrics['mia_svc'])} %" in by_key["private"] or rec.reference("retrain") is None
    if rec.reference("retrain") is not None:
        # digits at 99 %: the SVC attack is at chance for both models and is not graded (issue 12)
        r = rec.reference("retrain").metrics
        assert r["mia_svc_shadow_acc"] < 0.5 + SVC_MIN_EDGE and r["mia_svc_outside"] == 1.0
        assert "inconclusive here and not graded" in by_key["private"]
        assert f"Retrained model: held-out shadow accuracy {_pct(r['mia_svc_shadow_acc'])} %" in by_key["private"]
    assert all(math.isfinite(float(x)) for s in by_key.values() for x in DECIMAL.findall(s))
    _check_claims(rec.metrics, rec.reference("retrain").metrics if rec.reference("retrain") else None, by_key)


def _check_claims(m: dict[str, Any], r: dict[str, Any] | None, by_key: dict[str, str]) -> None:
    """The verdicts' claims in words, re-derived from their numbers: "suppressed, not deleted" only
    when a probe reads the forget class well (> PROBE_MARGIN) above the retrained model's; the loss
    attack's 95 % permutation level named for what it is, never "chance"."""
    features = by_key["features"]
    excess = [m[k] - r[k] for k in ("probe_forget", "knn_forget")
              if r is not None and is_value(m.get(k)) and is_value(r.get(k))]
    claims = m.get("suppressed") == 1.0 and r is not None and max(excess, default=-1.0) > PROBE_MARGIN
    assert ("suppressed, not deleted" in features) == claims, (m.get("suppressed"), excess, features)
    private = by_key["private"]
    assert "chance" not in private, private
    if is_value(m.get("mia_worst_adv")) and is_value(m.get("mia_worst_chance")):
        if m["mia_worst_adv"] == 0.0 and m["mia_worst_chance"] == 0.0:  # one loss value on both sides
            assert LOSS_TIED_TEXT in private and "stays below 0.00" not in private, private
        else:
            assert f"a random guess stays below {m['mia_worst_chance']:.2f} 95 % of the time" in private, private


_QUANT = {"quant_base_forget_acc": 0.0, "quant_int8_forget_acc": 0.0, "quant_fp16_forget_acc": 0.0}
# PathMNIST POUR-P, class 3 (issue 16's tryout): the outputs forgot, the features barely moved, the
# probe reads the class at 97.9 % -- and so does the retrained model's (96.4 %), which never saw it.
_SUPPRESSED = {"forget_acc": 0.0, "test_forget_acc": 0.0, "test_retain_acc": 0.9, "retain_acc": 0.95,
               "cka_o_forget_train": 0.99, "probe_forget": 0.979, "knn_forget": 0.95, "suppressed": 1.0,
               "mia_svc": 0.5, "mia_worst_adv": 0.1, "mia_worst_chance": 0.29, **_QUANT}
_RETRAIN = {"forget_acc": 0.0, "test_forget_acc": 0.0, "test_retain_acc": 0.9, "retain_acc": 0.95,
            "cka_o_forget_train": 0.8, "probe_forget": 0.964, "knn_forget": 0.93, "suppressed": 0.0,
            "mia_svc": 0.5, "mia_worst_adv": 0.19, "mia_worst_chance": 0.29, **_QUANT}


@pytest.mark.parametrize("retrain_probe", [0.964, 0.30, None])
def test_suppressed_not_deleted_only_when_the_retrained_model_reads_the_class_worse(retrain_probe) -> None:  # noqa: ANN001
    r = None if retrain_probe is None else {**_RETRAIN, "probe_forget": retrain_probe, "knn_forget": retrain_probe}
    vs = {v.key: v.summary for v in verdicts(_SUPPRESSED, {}, "class", retrain=r, original=_RETRAIN)}
    _check_claims(_SUPPRESSED, r, vs)
    if retrain_probe == 0.964:
        assert "no sign of suppression" in vs["features"]
        assert "retrained model 0.19; a random guess stays below 0.29 95 % of the time" in vs["private"]
    elif retrain_probe == 0.30:
        assert "(linear probe 97.9 %, retrained model 30.0 %): suppressed, not deleted." in vs["features"]
    else:
        assert "possibly suppressed" in vs["features"] and "no retrained model" in vs["features"]


def test_a_class_without_test_images_gives_reasons_on_every_surface(runner, tmp_path) -> None:  # noqa: ANN001
    """fail_01: class 9 keeps its training images but has no test image. The evaluator's
    forgotten-class test accuracy, AUS and rMIA are null with the reason, in the record, the CLI
    table and the report."""
    import numpy as np
    from sklearn.datasets import load_digits

    from engine.cli.format import format_table
    from engine.report.html import render_html

    dg = load_digits()
    x = np.clip(dg.images * 16, 0, 255).astype(np.uint8)
    y = dg.target.astype(np.int64)
    te = (np.random.default_rng(0).random(len(y)) < 0.2) & (y != 9)
    np.savez(tmp_path / "notest.npz", x_train=x[~te], y_train=y[~te], x_test=x[te], y_test=y[te])
    spec = JobSpec(dataset=f"npz:{tmp_path}/notest.npz", model={"arch": "cnn_small", "recipe": {"epochs": 2}},
                   forget={"classes": [9]}, method="pour_p", reference="retrain", geometry=False)
    rec = runner.run_to_record(spec)
    why = "not applicable: class 9 has no test images"
    for r in (rec, *rec.references):
        for key in ("test_forget_acc", "aus", "rmia", "probe_forget", "cka_o_forget_test"):
            assert not is_value(r.metrics[key]) and r.na_reason(key) == why, (r.method, key)
    assert not _unexplained(rec), _unexplained(rec)
    # The Private? verdict of fail_01 does not grade the SVC attack (it read 100 % vs the retrained
    # model's 0 %, a coin flip on forget images outside the shadow range): it says it is inconclusive
    # and why, with the retrained model's numbers, and grades MIA-NN alone (the loss attack is n/a).
    r = rec.reference("retrain").metrics
    assert r["mia_svc_outside"] == 1.0 and r["mia_svc_shadow_acc"] < 0.5 + SVC_MIN_EDGE
    private = next(v for v in rec.audit["verdicts"] if v["key"] == "private")
    assert "SVM attack is inconclusive here and not graded" in private["summary"]
    assert (f"Retrained model: held-out shadow accuracy {100 * r['mia_svc_shadow_acc']:.1f} %, below the "
            in private["summary"])
    assert "not applicable: class 9 has no test images" in private["summary"]
    assert private["evidence"]["SVC attack (MIA-efficacy)"] == "inconclusive, not graded"
    assert private["status"] == ("pass" if rec.metrics["mia_nn_gap"] <= 0.10 else "warn" if
                                 rec.metrics["mia_nn_gap"] <= 0.20 else "fail")
    assert rec.reference("retrain").audit["details"]["svc"]["feature"] == "confidence p_y"
    table = format_table([*rec.references, rec])
    assert f"[1] {why}" in table and not re.search(r"\bnan\b", table, re.I)
    page = render_html([rec])
    assert why in page and not re.search(r"\bnan\b", re.sub(r'src="data:[^"]*"', "", page), re.I)
