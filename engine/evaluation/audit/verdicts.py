"""The five verdicts of the audit and the block a RunRecord keeps (thresholds below, each says why)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.evaluation.restoration import steps_to_reach
from engine.metrics.catalog import guess_level
from engine.metrics.mia import SHADOW_FOLDS

AUDIT_VERSION = 2  # 2: the SVC attack's shadow diagnostics (mia_svc_shadow_*, mia_svc_outside)

# ---------------------------------------------------------------------------- verdict thresholds
# Forgot (outputs). Against retrain: the forget accuracy may exceed the retrained model's by this
# much (pass) / this much (warn). 5 points is about the run-to-run spread of a retrain on small
# data; 15 points means a visible share of the forget set is still recognised.
OUTPUT_PASS_GAP = 0.05
OUTPUT_WARN_GAP = 0.15
# Reference-free, class forgetting: a retrained model recognises none of the class (methods.md C3),
# so ≤ 5 % passes and ≤ 15 % warns. Sample forgetting: forget images should look like unseen test
# images, so the forget accuracy may exceed the test accuracy by 3 (pass) / 10 (warn) points.
OUTPUT_FREE_CLASS_PASS = 0.05
OUTPUT_FREE_CLASS_WARN = 0.15
OUTPUT_FREE_SAMPLE_PASS = 0.03
OUTPUT_FREE_SAMPLE_WARN = 0.10

# Forgot (features). The forget-side feature change 1 − CKA(model, original) on the forget images,
# as a share of the retrained model's change. ≥ 50 % of the retrain's change passes, ≥ 20 % warns:
# below that the forget features are essentially those of the original (a mask or a head edit).
FEATURE_PASS_RATIO = 0.5
FEATURE_WARN_RATIO = 0.2
# A probe may decode the forget class this much better than on the retrained model's features
# before it counts against the verdict (one warn step): the test split has few images per class.
PROBE_MARGIN = 0.15
# Reference-free: absolute forget-side change 1 − CKA vs the original. Heuristic (small CNNs on
# digits: retrain ≈ 0.16, a masked original 0.0): ≥ 0.10 passes, ≥ 0.03 warns.
FEATURE_FREE_PASS = 0.10
FEATURE_FREE_WARN = 0.03

# Private?. MIA-efficacy (B2) within 5 (pass) / 15 (warn) points of the retrained model's, and the
# worst-case threshold attack's advantage (TPR − FPR) no more than 0.05 (pass) / 0.15 (warn) above
# max(retrain's advantage, the permutation level a random guess stays below 95 % of the time), which
# absorbs small-sample noise.
MIA_PASS_GAP = 0.05
MIA_WARN_GAP = 0.15
ADV_PASS_EXCESS = 0.05
ADV_WARN_EXCESS = 0.15
# The SVC attack behind MIA-efficacy is graded only where it is informative, for the model and for
# the retrained model. Measured on digits (cnn_small, 99 % test accuracy, forget class 3 or 9, 323
# shadow rows a side): the SVC's held-out accuracy on its own shadow data is 0.52-0.53 (AUC
# 0.53-0.54); the retrained model's forget images (p_y ≤ 6e-4) lie below every shadow confidence
# (≥ 0.09) among a mix of low-confidence members and non-members, and its MIA-efficacy reads 0 % or
# 100 % depending on the shadow draw (1-2 of 10 draws, 1-2 of 5 fold models give 0 %). With 30
# training images a class the low-confidence shadow rows are all non-members and the same
# extrapolation reads 100 % in every draw: being outside the range alone does not make it arbitrary.
# So the held-out accuracy must reach both a coin flip's 95 % bound and 0.5 + SVC_MIN_EDGE (within
# the verdict's 5-point resolution of a coin flip, the original's score still moved 7.6-21.9 % over
# 10 draws), and the fold models' scores may spread by at most SVC_MAX_SPREAD (the warn gap: more
# lets the shadow draw alone turn a pass into a fail).
SVC_MIN_EDGE = 0.05
SVC_MAX_SPREAD = 0.15
# MIA-NN (B6, class forgetting) accuracy gap to the retrained model: 10 / 20 points.
MIANN_PASS_GAP = 0.10
MIANN_WARN_GAP = 0.20

# Kept utility?. Test accuracy on the retained classes (class) or the test set (sample) at most
# 2 (pass) / 5 (warn) points below the retrained model (or the original, reference-free).
UTILITY_PASS_DROP = 0.02
UTILITY_WARN_DROP = 0.05

# Robust to relearning?. Mean forget accuracy over the relearning curve at most 10 (pass) /
# 25 (warn) points above the retrained model's curve under the same attack. Reference-free: the
# curve's mean must stay below half of the original's forget accuracy (pass) / 80 % of it (warn).
RELEARN_PASS_EXCESS = 0.10
RELEARN_WARN_EXCESS = 0.25
RELEARN_FREE_PASS = 0.5
RELEARN_FREE_WARN = 0.8
# Quantisation or a float16 round trip must not raise the forget accuracy by more than 5 (pass)
# / 15 (warn) points.
QUANT_PASS_RISE = 0.05
QUANT_WARN_RISE = 0.15

QUESTIONS = (
    ("outputs", "Forgot (outputs)?"),
    ("features", "Forgot (features)?"),
    ("private", "Private?"),
    ("utility", "Kept utility?"),
    ("relearn", "Robust to relearning?"),
)
_RANK = {"pass": 0, "warn": 1, "fail": 2}


@dataclass
class Verdict:
    """One answer: status pass / warn / fail / n/a, the basis ("retrain" or "reference-free"),
    a plain-words summary, the numbers behind it and (for outputs) forget indices to show."""

    key: str
    question: str
    status: str
    basis: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    indices: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: _RANK.get(s, -1))


def _grade(value: float, pass_at: float, warn_at: float) -> str:
    """pass if value ≤ pass_at, warn if ≤ warn_at, else fail (NaN: warn, cannot tell)."""
    if value is None or not np.isfinite(value):
        return "warn"
    if value <= pass_at:
        return "pass"
    return "warn" if value <= warn_at else "fail"


def _pct(v: Any) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * float(v):.1f} %"


def _num(v: Any, digits: int = 3) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{float(v):.{digits}f}"


def _finite(v: Any) -> bool:
    return v is not None and bool(np.isfinite(v))


def _reasons(d: dict[str, Any], *keys: str) -> list[str]:
    """The distinct "not applicable: ..." reasons recorded for ``keys`` (details["not_applicable"])."""
    na = d.get("not_applicable") or {}
    out: list[str] = []
    for k in keys:
        r = na.get(k)
        if r and r not in out:
            out.append(str(r))
    return out


def _na_sentence(reasons: list[str], what: str) -> str:
    why = "; ".join(r.removeprefix("not applicable: ") for r in reasons) or "the value could not be computed"
    return f"{what}: not applicable: {why}."


# ------------------------------------------------------------------------------------- verdicts
def verdicts(
    m: dict[str, float],
    d: dict[str, Any],
    kind: str,
    *,
    retrain: dict[str, float] | None = None,
    retrain_details: dict[str, Any] | None = None,
    original: dict[str, float] | None = None,
    original_details: dict[str, Any] | None = None,
) -> list[Verdict]:
    """The five answers for a model's metrics ``m`` (from :meth:`Auditor.measure` + accuracies)."""
    basis = "retrain" if retrain is not None else "reference-free"
    return [
        _v_outputs(m, d, kind, retrain, basis),
        _v_features(m, d, kind, retrain, basis),
        _v_private(m, d, kind, retrain, basis),
        _v_utility(m, kind, retrain, original, basis),
        _v_relearn(m, d, retrain, retrain_details, original, basis),
    ]


def _v_outputs(m: dict[str, float], d: dict[str, Any], kind: str, r: dict[str, float] | None, basis: str) -> Verdict:
    fa = m.get("forget_acc", float("nan"))
    tfa = m.get("test_forget_acc")
    ev: dict[str, Any] = {"forget accuracy (training images)": _pct(fa)}
    if tfa is not None:
        ev["forget-class accuracy (test images)"] = _pct(tfa)
    n_left = d.get("still_recognised_count", 0)
    if r is not None:
        gap = fa - r.get("forget_acc", float("nan"))
        ev["retrained model"] = _pct(r.get("forget_acc"))
        if kind == "class":
            status = _grade(gap, OUTPUT_PASS_GAP, OUTPUT_WARN_GAP)
        else:  # too little and too much forgetting are both visible (the "Streisand" effect)
            status = _grade(abs(gap), OUTPUT_PASS_GAP, OUTPUT_WARN_GAP)
        summary = (f"The model still recognises {_pct(fa)} of the forget images; the retrained model "
                   f"recognises {_pct(r.get('forget_acc'))}.")
    else:
        if kind == "class":
            status = _grade(fa, OUTPUT_FREE_CLASS_PASS, OUTPUT_FREE_CLASS_WARN)
            summary = f"The model still recognises {_pct(fa)} of the forget images (a model that never saw the class: 0 %)."
        else:
            ta = m.get("test_acc", float("nan"))
            status = _grade(fa - ta, OUTPUT_FREE_SAMPLE_PASS, OUTPUT_FREE_SAMPLE_WARN)
            ev["test accuracy (unseen images)"] = _pct(ta)
            summary = f"Forget images are recognised at {_pct(fa)}, unseen test images at {_pct(ta)}."
    if n_left:
        summary += f" {n_left} forget image(s) are still classified correctly."
    return Verdict("outputs", "Forgot (outputs)?", status, basis, summary, ev, list(d.get("still_recognised", [])))


def _v_features(m: dict[str, float], d: dict[str, Any], kind: str, r: dict[str, float] | None,
                basis: str) -> Verdict:
    shift = 1.0 - m.get("cka_o_forget_train", float("nan"))
    if not _finite(shift) or (r is not None and not _finite(1.0 - r.get("cka_o_forget_train", float("nan")))):
        probe = m.get("probe_forget", float("nan"))
        ev0: dict[str, Any] = {"forget-feature change vs original (1 − CKA)": "n/a",
                               "linear probe on forget images": _pct(probe)}
        summary = _na_sentence(_reasons(d, "cka_o_forget_train", "cka_r_forget_train"),
                               "The forget-feature change (1 − CKA)")
        if _finite(probe):
            summary += f" A linear probe on the frozen features recognises {_pct(probe)} of the forget images"
            summary += (f" (retrained model: {_pct(r.get('probe_forget'))})." if r is not None else ".")
        return Verdict("features", "Forgot (features)?", "n/a", basis, summary, ev0)
    probe = m.get("probe_forget", float("nan"))
    knn = m.get("knn_forget", float("nan"))
    ev: dict[str, Any] = {
        "forget-feature change vs original (1 − CKA)": f"{shift:.3f}",
        "linear probe on forget images": _pct(probe),
        "k-NN probe on forget images": _pct(knn),
    }
    if r is not None:
        shift_r = 1.0 - r.get("cka_o_forget_train", float("nan"))
        ratio = shift / shift_r if shift_r > 1e-6 else float("nan")
        ev["retrained model's change (1 − CKA)"] = f"{shift_r:.3f}"
        ev["share of the retrain's change"] = _pct(ratio)
        ev["retrained model's linear probe"] = _pct(r.get("probe_forget"))
        status = "pass" if ratio >= FEATURE_PASS_RATIO else ("warn" if ratio >= FEATURE_WARN_RATIO else "fail")
        if not np.isfinite(ratio):
            status = "warn"
        if shift_r < FEATURE_FREE_WARN:
            # The retrained model's features of the forget images hardly differ from the original's
            # (typical of random-sample forgetting: both generalise to them), so there is no
            # feature-level change to demand; only the probes can count against the model.
            status = "pass"
        excess = [v for v in (probe - r.get("probe_forget", np.nan), knn - r.get("knn_forget", np.nan)) if _finite(v)]
        probe_excess = max(excess) if excess else float("nan")
        if np.isfinite(probe_excess) and probe_excess > PROBE_MARGIN:
            status = _worst(status, "warn" if status == "pass" else "fail")
        what = "forget-class test images" if kind == "class" else "forget images (probe fit on the retain set)"
        summary = (f"On the forget images the features moved {_pct(ratio)} as far from the original as the "
                   f"retrained model's did (1 − CKA {shift:.3f} vs {shift_r:.3f}). A linear probe on the frozen "
                   f"features still recognises {_pct(probe)} of {what} (retrained model: "
                   f"{_pct(r.get('probe_forget'))}).")
        if shift_r < FEATURE_FREE_WARN:
            summary += " The retrained model's features of these images barely differ from the original's either."
    else:
        status = "pass" if shift >= FEATURE_FREE_PASS else ("warn" if shift >= FEATURE_FREE_WARN else "fail")
        summary = (f"On the forget images the features changed by 1 − CKA = {shift:.3f} from the original "
                   f"(reference-free rule: ≥ {FEATURE_FREE_PASS} passes). A linear probe still recognises "
                   f"{_pct(probe)} of them.")
    if m.get("suppressed") == 1.0:
        summary += _suppression_sentence(m, r, status)
    return Verdict("features", "Forgot (features)?", status, basis, summary, ev)


def suppression_claim(m: dict[str, float], r: dict[str, float] | None) -> tuple[str, float, float] | None:
    """The probe that shows the forget class is suppressed rather than deleted, compared with the
    retrained model: (probe name, this model's accuracy, the retrained model's) when ``m`` is flagged
    ``suppressed`` and a probe (linear or k-NN) reads the forget class more than PROBE_MARGIN better
    than on the retrained model's features; else None (a model that never saw the class decoding it
    as well is no evidence of suppression). Without a retrained model: None (see the caller)."""
    if m.get("suppressed") != 1.0 or r is None:
        return None
    best: tuple[str, float, float] | None = None
    for name, key in (("linear probe", "probe_forget"), ("k-NN probe", "knn_forget")):
        a, b = m.get(key, float("nan")), r.get(key, float("nan"))
        if _finite(a) and _finite(b) and a - b > PROBE_MARGIN and (best is None or a - b > best[1] - best[2]):
            best = (name, float(a), float(b))
    return best


def _suppression_sentence(m: dict[str, float], r: dict[str, float] | None, status: str) -> str:
    """The sentence on a model flagged ``suppressed`` (outputs forgot, features barely moved, a probe
    still decodes the class): "suppressed, not deleted" only when the comparison with the retrained
    model supports it (:func:`suppression_claim`)."""
    if r is None:
        if status == "pass":
            return ""
        return (" The outputs no longer name the class but its features still do: possibly suppressed rather than "
                "deleted (no retrained model here to tell whether one that never saw the class decodes it as well).")
    claim = suppression_claim(m, r)
    if claim is not None:
        name, a, b = claim
        return (f" The outputs no longer name the class but its features still do ({name} {_pct(a)}, retrained "
                f"model {_pct(b)}): suppressed, not deleted.")
    return (" The outputs no longer name the class; a probe still decodes it from the features, but at most "
            f"{round(100 * PROBE_MARGIN)} points better than from the retrained model's, which never saw it: "
            "no sign of suppression.")


def svc_inconclusive(m: dict[str, float]) -> list[str]:
    """Why the SVC attack's MIA-efficacy in ``m`` means nothing here ([] when it is informative, or
    when ``m`` predates the diagnostics). Each reason cites the numbers of ``m`` it rests on."""
    if "mia_svc_shadow_acc" not in m or not _finite(m.get("mia_svc")):
        return []
    out: list[str] = []
    acc, chance = m.get("mia_svc_shadow_acc", float("nan")), m.get("mia_svc_shadow_chance", float("nan"))
    if not _finite(acc):
        out.append("too few shadow rows for a held-out check")
    else:
        need = float(np.nanmax([chance, 0.5 + SVC_MIN_EDGE]))
        if acc < need:
            out.append(f"held-out shadow accuracy {_pct(acc)}, below the {_pct(need)} needed "
                       f"({guess_level(_pct(chance), 'a coin flip')})")
    spread, outside = m.get("mia_svc_spread", float("nan")), m.get("mia_svc_outside", float("nan"))
    if _finite(spread) and spread > SVC_MAX_SPREAD:
        text = f"leaving out one of {SHADOW_FOLDS} shadow folds moves its score by {_pct(spread)}"
        if _finite(outside) and outside > 0:
            text += (f" ({_pct(outside)} of the forget images lie outside its shadow data's confidence range, "
                     "where its label is extrapolation)")
        out.append(text)
    return out


# A loss attack whose advantage and whose 95 % permutation level are both 0 saw one loss value on
# both sides (e.g. POUR-P masks the class: every forget and unseen image of it gets the clipped
# loss): "advantage 0.00; a random guess stays below 0.00" is true but says nothing to a reader.
LOSS_TIED_TEXT = ("No loss threshold separates forget images from unseen ones: they all get the same loss "
                  "(advantage 0.00, as for any random split).")


def _loss_tied(adv: float, chance: float) -> bool:
    return _finite(adv) and _finite(chance) and adv <= 1e-12 and chance <= 1e-12


def _v_private(m: dict[str, float], d: dict[str, Any], kind: str, r: dict[str, float] | None,
               basis: str) -> Verdict:
    mia = m.get("mia_svc", float("nan"))
    adv, chance = m.get("mia_worst_adv", float("nan")), m.get("mia_worst_chance", float("nan"))
    ev: dict[str, Any] = {
        "MIA-efficacy (forget images called non-members)": _pct(mia),
        "worst-case attack advantage (TPR − FPR)": _num(adv),
        "advantage a random guess stays below 95 % of the time": _num(chance),
        "loss-attack ROC-AUC": _num(m.get("mia_loss_auc")),
    }
    sweep_na = _reasons(d, "mia_worst_adv") if not _finite(adv) else []
    if not _finite(adv) and not sweep_na:
        sweep_na = ["the loss attack could not be computed"]
    if "mia_svc_shadow_acc" in m:
        ev["SVC attack: held-out shadow accuracy"] = _pct(m.get("mia_svc_shadow_acc"))
        ev["SVC attack: forget images outside its shadow range"] = _pct(m.get("mia_svc_outside"))
    statuses: list[str] = []
    svc_why: list[str] = []
    if r is not None:
        r_adv = r.get("mia_worst_adv", float("nan"))
        ev["retrained model: MIA-efficacy"] = _pct(r.get("mia_svc"))
        ev["retrained model: advantage"] = _num(r_adv)
        if "mia_svc_shadow_acc" in r:
            ev["retrained model: SVC held-out shadow accuracy"] = _pct(r.get("mia_svc_shadow_acc"))
            ev["retrained model: forget images outside its shadow range"] = _pct(r.get("mia_svc_outside"))
        svc_why = [f"{who}: {'; '.join(why)}." for who, why in (("This model", svc_inconclusive(m)),
                                                              ("Retrained model", svc_inconclusive(r))) if why]
        if svc_why:
            ev["SVC attack (MIA-efficacy)"] = "inconclusive, not graded"
        elif _finite(mia) and _finite(r.get("mia_svc")):
            statuses.append(_grade(abs(mia - r.get("mia_svc", np.nan)), MIA_PASS_GAP, MIA_WARN_GAP))
        if _finite(adv):
            floor = np.nanmax([r_adv, chance]) if (_finite(r_adv) or _finite(chance)) else float("nan")
            statuses.append(_grade(adv - floor, ADV_PASS_EXCESS, ADV_WARN_EXCESS))
        if "mia_nn_gap" in m and _finite(m["mia_nn_gap"]):
            ev["MIA-NN gap to retrain"] = _pct(m["mia_nn_gap"])
            statuses.append(_grade(m["mia_nn_gap"], MIANN_PASS_GAP, MIANN_WARN_GAP))
        summary = (f"A membership attack calls {_pct(mia)} of the forget images non-members (retrained model: "
                   f"{_pct(r.get('mia_svc'))})")
        summary += (", but that SVM attack is inconclusive here and not graded. " + " ".join(svc_why)
                    if svc_why else ".")
        if _loss_tied(adv, chance):
            summary += " " + LOSS_TIED_TEXT
        elif _finite(adv):
            summary += (f" The best loss threshold separates forget images from unseen ones with advantage "
                        f"{adv:.2f} (retrained model {_num(r_adv, 2)}; {guess_level(_num(chance, 2))}).")
        if "mia_nn_gap" in m and _finite(m["mia_nn_gap"]):
            summary += (f" MIA-NN tells the forget images from the nearest other class's by their other-class "
                        f"probabilities with accuracy {_pct(m.get('mia_nn'))} (retrained model: "
                        f"{_pct(r.get('mia_nn'))}).")
    else:
        if _finite(adv) and _finite(chance):
            statuses.append(_grade(adv - chance, ADV_PASS_EXCESS, ADV_WARN_EXCESS))
            summary = (LOSS_TIED_TEXT if _loss_tied(adv, chance) else
                       f"The best loss threshold separates forget images from unseen ones with advantage {adv:.2f}; "
                       f"{guess_level(f'{chance:.2f}')} (reference-free rule).")
        else:
            summary = ""
    if sweep_na:
        summary = (summary + " " + _na_sentence(sweep_na, "The loss-threshold attack")).strip()
    status = _worst(*statuses) if statuses else "n/a"
    vuln = m.get("_vulnerable")
    return Verdict("private", "Private?", status, basis, summary, ev, list(vuln) if isinstance(vuln, list) else [])


def _v_utility(m: dict[str, float], kind: str, r: dict[str, float] | None, o: dict[str, float] | None,
               basis: str) -> Verdict:
    key = "test_retain_acc" if kind == "class" else "test_acc"
    label = "test accuracy on the other classes" if kind == "class" else "test accuracy"
    u = m.get(key, float("nan"))
    ref, who = (r, "retrained model") if r is not None else (o, "original model")
    ev: dict[str, Any] = {label: _pct(u), "retain accuracy (training images)": _pct(m.get("retain_acc"))}
    if ref is None:
        return Verdict("utility", "Kept utility?", "warn", basis, "No reference model to compare with.", ev)
    rv = ref.get(key, float("nan"))
    ev[f"{who}"] = _pct(rv)
    status = _grade(rv - u, UTILITY_PASS_DROP, UTILITY_WARN_DROP)
    summary = f"The {label} is {_pct(u)}; the {who} reaches {_pct(rv)}."
    return Verdict("utility", "Kept utility?", status, basis, summary, ev)


def _v_relearn(m: dict[str, float], d: dict[str, Any], r: dict[str, float] | None, rd: dict[str, Any] | None,
               o: dict[str, float] | None, basis: str) -> Verdict:
    ev: dict[str, Any] = {}
    statuses = []
    base = m.get("quant_base_forget_acc", float("nan"))
    rises = [v - base for v in (m.get("quant_int8_forget_acc", np.nan), m.get("quant_fp16_forget_acc", np.nan))
             if _finite(v - base)]
    rise = max(rises) if rises else float("nan")  # a record without the quantisation metrics: no warning
    ev["forget accuracy after int8 quantisation"] = _pct(m.get("quant_int8_forget_acc"))
    ev["forget accuracy after float16 round trip"] = _pct(m.get("quant_fp16_forget_acc"))
    if np.isfinite(rise):
        statuses.append(_grade(rise, QUANT_PASS_RISE, QUANT_WARN_RISE))
    summary = ""
    rl = d.get("relearn")
    relearn_na = _reasons(d, "relearn_auc") if rl and not _finite(m.get("relearn_auc")) else []
    if rl and not _finite(m.get("relearn_auc")):
        summary = _na_sentence(relearn_na, "The relearning attack")
        rl = None
    if rl:
        auc, final = m.get("relearn_auc", float("nan")), m.get("relearn_final_acc", float("nan"))
        ev["images given to the attacker"] = str(rl["n_attack"])
        ev[f"forget accuracy after {rl['steps'][-1]} fine-tuning steps"] = _pct(final)
        ev["mean forget accuracy during the attack"] = _pct(auc)
        if r is not None and rd is not None and rd.get("relearn"):
            r_auc = r.get("relearn_auc", float("nan"))
            ev["retrained model under the same attack"] = f"{_pct(r.get('relearn_final_acc'))} (mean {_pct(r_auc)})"
            statuses.append(_grade(auc - r_auc, RELEARN_PASS_EXCESS, RELEARN_WARN_EXCESS))
            target = 0.5 * (o.get("forget_acc", 1.0) if o else 1.0)
            su = steps_to_reach(rl["steps"], rl["acc"], target)
            sr = steps_to_reach(rd["relearn"]["steps"], rd["relearn"]["acc"], target)
            ev[f"steps to reach {_pct(target)} (model / retrain)"] = f"{_steps(su)} / {_steps(sr)}"
            summary = (f"Fine-tuning on {rl['n_attack']} forget images for {rl['steps'][-1]} steps brings the forget "
                       f"accuracy to {_pct(final)} (retrained model: {_pct(r.get('relearn_final_acc'))}); "
                       f"{_reach(su, target)} (retrained model: {_steps(sr)} steps).")
        else:
            o_acc = o.get("forget_acc", 1.0) if o else 1.0
            statuses.append(_grade(auc / max(o_acc, 1e-6), RELEARN_FREE_PASS, RELEARN_FREE_WARN))
            summary = (f"Fine-tuning on {rl['n_attack']} forget images for {rl['steps'][-1]} steps brings the forget "
                       f"accuracy to {_pct(final)} (mean {_pct(auc)} during the attack; original {_pct(o_acc)}).")
    if np.isfinite(rise):
        summary += (f" int8 quantisation / float16 rounding give {_pct(m.get('quant_int8_forget_acc'))} / "
                    f"{_pct(m.get('quant_fp16_forget_acc'))} (before: {_pct(base)}).")
    if relearn_na and statuses:  # quantisation alone cannot answer "robust to relearning?": at best "cannot tell"
        statuses.append("warn")
    status = _worst(*statuses) if statuses else ("n/a" if relearn_na else "warn")
    return Verdict("relearn", "Robust to relearning?", status, basis, summary.strip(), ev)


def _steps(s: int | None) -> str:
    return "never" if s is None else str(s)


def _reach(s: int | None, target: float) -> str:
    if s is None:
        return f"it never reaches {_pct(target)}"
    if s == 0:
        return f"it is above {_pct(target)} before the attack even starts"
    return f"it reaches {_pct(target)} after {s} steps"


# ------------------------------------------------------------------------------------- the block
def audit_block(
    m: dict[str, float],
    d: dict[str, Any],
    kind: str,
    *,
    retrain: tuple[dict[str, float], dict[str, Any]] | None,
    original: tuple[dict[str, float], dict[str, Any]] | None,
    cost: dict[str, Any] | None = None,
    is_retrain: bool = False,
) -> dict[str, Any]:
    """What a RunRecord keeps in ``record.audit``: verdicts, details for the report, cost."""
    m = dict(m)
    m["_vulnerable"] = d.get("sweep", {}).get("vulnerable", [])
    vs = verdicts(m, d, kind, retrain=retrain[0] if retrain else None, retrain_details=retrain[1] if retrain else None,
                  original=original[0] if original else None, original_details=original[1] if original else None)
    return {
        "version": AUDIT_VERSION,
        "basis": "retrain" if retrain else "reference-free",
        "is_reference": is_retrain,
        "verdicts": [v.to_json() for v in vs],
        "details": d,
        "cost": cost or {},
    }


