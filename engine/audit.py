"""The audit of one run: attacks, probes and restoration tests, then a verdict per question.

:class:`Auditor` measures a model (metrics of methods.md section B and pour.md, through
``engine.metrics``; features come from the run's :class:`engine.evaluation.Evaluator`, so no
extra forward pass over the data) and :func:`verdicts` answers five questions an auditor asks:

- *Forgot (outputs)?* — does the model still recognise the forget images?
- *Forgot (features)?* — did the representation of the forget data change like the retrained
  model's, or are the features untouched and only the outputs hidden (suppression)?
- *Private?* — do membership attacks still tell the forget images apart?
- *Kept utility?* — accuracy on the retained data and the test set.
- *Robust to relearning?* — does a few-image fine-tune (or int8 / float16 rounding) bring it back?

Each verdict is pass / warn / fail against the retrained model when the run has one, else against
reference-free criteria (labelled so). The thresholds are the constants below; each says why.
"""
from __future__ import annotations

import copy
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from engine.cancel import NEVER, CancelToken
from engine.checkpoints import weights_fingerprint
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine.evaluation import Evaluator
from engine.features import extract
from engine.metrics.mia import (
    MAX_SHADOW,
    confidence,
    entropy,
    entropy_lr_mia,
    loss_threshold_mia,
    mia_nn,
    nearest_class,
    per_sample_loss,
    remaining_profile,
    softmax,
    stratified_members,
    svc_mia_efficacy,
    threshold_sweep,
    tv_leakage,
    zrf,
)
from engine.metrics.probes import cka_grid, is_suppressed, knn_probe, linear_probe, nc_summary
from engine.metrics.restoration import avg_gap, quantised_forget_accuracy, relearn_attack, steps_to_reach
from engine.models.base import LetheModel

AUDIT_VERSION = 1
ZRF_TEACHER_SEED = 1234  # the incompetent teacher of ZRF: a fresh model of the same arch, fixed seed
SWEEP_PERMUTATIONS = 50  # shuffles for the chance level of the threshold attack
MAX_QUANT_ROWS = 1024  # forget rows evaluated after quantisation
MAX_LISTED = 32  # forget indices listed as "still recognised" / "most vulnerable"

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
# max(retrain's advantage, the permutation chance level), which absorbs small-sample noise.
MIA_PASS_GAP = 0.05
MIA_WARN_GAP = 0.15
ADV_PASS_EXCESS = 0.05
ADV_WARN_EXCESS = 0.15
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


# ------------------------------------------------------------------------------------- measuring
class Auditor:
    """Measures models of one run (same data, forget split, original and optional retrain).

    Results are cached per (weights of model, original and retrain, split, seed), so the original
    and the retrained reference are audited once per session however many runs use them.
    """

    _cache: "OrderedDict[tuple[str, ...], tuple[dict[str, float], dict[str, Any]]]" = OrderedDict()
    _cache_size = 16

    def __init__(
        self,
        bundle: DatasetBundle,
        split: ForgetSplit,
        evaluator: Evaluator,
        original: LetheModel,
        retrain: LetheModel | None = None,
        *,
        device: torch.device | str = "cpu",
        seed: int = 0,
        relearn: bool = True,
        token: CancelToken = NEVER,
    ) -> None:
        self.bundle, self.split, self.ev = bundle, split, evaluator
        self.original, self.retrain = original, retrain
        self.device = torch.device(device)
        self.seed, self.relearn, self.token = seed, relearn, token
        b, s = bundle, split
        self.kind = s.kind
        self.forget = np.asarray(s.forget_idx)
        self.forget_classes = tuple(int(c) for c in (s.forget_classes or ()))
        # Shadow sets for B2/B3: non-members = test images (forgotten class removed in class
        # forgetting, as SalUn does); members = a seeded stratified sample of the retain set with
        # the same class counts (pitfall D6).
        self.nonmem = np.asarray(s.test_retain_idx if s.kind == "class" else np.arange(len(b.y_test)))
        self.members = stratified_members(s.retain_idx, b.y_train[s.retain_idx], b.y_test[self.nonmem],
                                          seed=seed, cap=MAX_SHADOW)
        # B4 non-members: test images of the forget set's classes.
        fcls = np.unique(b.y_train[self.forget])
        self.loss_nonmem = np.flatnonzero(np.isin(b.y_test, fcls))
        self._key_ctx = (weights_fingerprint(original), weights_fingerprint(retrain) if retrain is not None else "-",
                         s.hash, str(seed), str(relearn), str(AUDIT_VERSION))
        self._p_incompetent: np.ndarray | None = None
        self._original_m: tuple[dict[str, float], dict[str, Any]] | None = None

    # -- helpers ---------------------------------------------------------------------------------
    def _incompetent_probs(self, model: LetheModel) -> np.ndarray:
        """Softmax of a freshly initialised model (fixed seed, global RNG untouched) on D_f."""
        if self._p_incompetent is None:
            from engine.models import model_from_config

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(ZRF_TEACHER_SEED)
                teacher = model_from_config(self.original.config).eval()
            fs = extract(teacher, self.bundle.x_train[self.forget], self.bundle.mean, self.bundle.std, device="cpu",
                         token=self.token)
            self._p_incompetent = softmax(fs.logits)
        return self._p_incompetent

    def measure(self, model: LetheModel) -> tuple[dict[str, float], dict[str, Any]]:
        """(flat metrics as floats, details for the report) of ``model``; cached."""
        key = (weights_fingerprint(model),) + self._key_ctx
        hit = Auditor._cache.get(key)
        if hit is not None:
            Auditor._cache.move_to_end(key)
            return copy.deepcopy(hit)
        t0 = time.perf_counter()
        # Keep BLAS to the job's thread budget: an oversubscribed OpenBLAS is 10-70x slower on a
        # busy machine than one thread for these small matrices.
        with threadpool_limits(limits=max(1, torch.get_num_threads())):
            m, d = self._measure(model)
        m["audit_seconds"] = time.perf_counter() - t0
        Auditor._cache[key] = copy.deepcopy((m, d))
        while len(Auditor._cache) > Auditor._cache_size:
            Auditor._cache.popitem(last=False)
        return m, d

    def _measure(self, model: LetheModel) -> tuple[dict[str, float], dict[str, Any]]:
        b, s, ev, seed = self.bundle, self.split, self.ev, self.seed
        F_ = self.forget
        tr, te = ev.features(model, "train"), ev.features(model, "test")
        P_tr, P_te = softmax(tr.logits), softmax(te.logits)
        m: dict[str, float] = {}
        d: dict[str, Any] = {}

        # ---- outputs: still-recognised forget images, most confident first
        pred = tr.predictions[F_]
        hit = np.flatnonzero(pred == b.y_train[F_])
        conf_f = confidence(P_tr[F_], b.y_train[F_])
        order = hit[np.argsort(-conf_f[hit], kind="stable")]
        d["still_recognised"] = [int(i) for i in F_[order][:MAX_LISTED]]
        d["still_recognised_count"] = int(hit.size)

        # ---- membership inference on outputs (B2, B3, B4, sweep)
        self.token.check()
        conf_tr, conf_te = confidence(P_tr, b.y_train), confidence(P_te, b.y_test)
        m["mia_svc"] = svc_mia_efficacy(conf_tr[self.members], conf_te[self.nonmem], conf_tr[F_], seed=seed)
        ent_tr, ent_te = entropy(P_tr), entropy(P_te)
        m["mia_entropy"] = entropy_lr_mia(ent_tr[self.members], ent_te[self.nonmem], ent_tr[F_])
        m["zrf"] = zrf(P_tr[F_], self._incompetent_probs(model))
        L_tr, L_te = per_sample_loss(tr.logits, b.y_train), per_sample_loss(te.logits, b.y_test)
        lt = loss_threshold_mia(L_tr[F_], L_te[self.loss_nonmem], seed=seed)
        m["mia_loss_acc"], m["mia_loss_auc"] = lt["cv_acc"], lt["auc"]
        sw = threshold_sweep(-L_tr[F_], -L_te[self.loss_nonmem], member_ids=F_, permutations=SWEEP_PERMUTATIONS,
                             seed=seed)
        m["mia_worst_adv"], m["mia_worst_chance"] = sw["advantage"], sw["chance95"]
        d["loss_hist"] = {k: _listify(lt.get(k)) for k in ("hist_edges", "hist_member", "hist_nonmember")}
        d["sweep"] = {k: _listify(v) for k, v in sw.items()}
        if self.kind == "class":
            ref = self.retrain if self.retrain is not None else self.original
            ref_te = ev.features(ref, "test")
            n = nearest_class(softmax(ref_te.logits)[s.test_forget_idx], self.forget_classes)
            rows_n = np.flatnonzero(b.y_train == n)
            m["mia_nn"] = mia_nn(remaining_profile(P_tr[F_], self.forget_classes),
                                 remaining_profile(P_tr[rows_n], self.forget_classes), seed=seed)
            d["mia_nn_neighbour"] = {"class": int(n), "from": "retrain" if self.retrain is not None else "original"}
        if self.retrain is not None:
            P_r = softmax(ev.features(self.retrain, "train").logits[F_])
            m["tv_leakage"] = tv_leakage(P_tr[F_], P_r)

        # ---- representation (B9, B11)
        self.token.check()
        feats = {"train": tr.features, "test": te.features}
        parts: dict[str, tuple[str, np.ndarray]] = {"forget_train": ("train", ev.cka_forget),
                                                   "retain_train": ("train", ev.cka_retain),
                                                   "retain_test": ("test", s.test_retain_idx)}
        if self.kind == "class":
            parts["forget_test"] = ("test", s.test_forget_idx)
        for tag, ref in (("o", self.original), ("r", self.retrain)):
            if ref is None:
                continue
            rf = {"train": ev.features(ref, "train").features, "test": ev.features(ref, "test").features}
            for name, v in cka_grid(feats, rf, parts).items():
                m[f"cka_{tag}_{name}"] = v
        if self.kind == "class":
            fit_x, fit_y = tr.features, b.y_train  # labels include the forget class
            ef_x, ef_y = te.features[s.test_forget_idx], b.y_test[s.test_forget_idx]
        else:
            fit_x, fit_y = tr.features[s.retain_idx], b.y_train[s.retain_idx]
            ef_x, ef_y = tr.features[F_], b.y_train[F_]
        er_x, er_y = te.features[s.test_retain_idx], b.y_test[s.test_retain_idx]
        m["knn_forget"], m["knn_retain"] = knn_probe(fit_x, fit_y, [ef_x, er_x], [ef_y, er_y], seed=seed)
        m["probe_forget"], m["probe_retain"] = linear_probe(fit_x, fit_y, [ef_x, er_x], [ef_y, er_y], seed=seed)
        retained = [c for c in range(b.num_classes) if c not in self.forget_classes]
        head = model.head
        W = head.weight.detach().float().cpu().numpy()
        bias = head.bias.detach().float().cpu().numpy() if head.bias is not None else None
        nc = nc_summary(tr.features, b.y_train, W, bias, retained, F_, b.num_classes)
        for k in ("nc1", "nc2_equinorm", "nc2_equiangle", "nc3", "nc4", "mean_angle_deg"):
            m[f"nc_{k}" if not k.startswith("nc") else k] = nc["nc"].get(k, float("nan"))
        m["nc_ideal_angle_deg"] = nc["nc"].get("ideal_angle_deg", float("nan"))
        d["placement"] = nc["placement"]
        forget_acc = float(np.mean(pred == b.y_train[F_])) if F_.size else float("nan")
        probe_max = np.nanmax([m["knn_forget"], m["probe_forget"]]) if np.isfinite([m["knn_forget"], m["probe_forget"]]).any() else float("nan")
        change = 1.0 - m.get("cka_o_forget_train", float("nan"))
        m["suppressed"] = float(is_suppressed(forget_acc, probe_max, change)) if self.kind == "class" else float("nan")

        # ---- restoration (relearning, quantisation)
        self.token.check()
        if self.relearn:
            rl = relearn_attack(model, b.x_train, b.y_train, F_, self.kind, b.mean, b.std, device=self.device,
                                seed=seed)
            m["relearn_auc"], m["relearn_final_acc"] = rl["auc"], rl["final_acc"]
            d["relearn"] = {k: rl[k] for k in ("steps", "acc", "n_attack", "n_eval", "lr")}
        q_rows = F_[:MAX_QUANT_ROWS]
        q = quantised_forget_accuracy(model, b.x_train[q_rows], b.y_train[q_rows], b.mean, b.std, device=self.device)
        m["quant_int8_forget_acc"], m["quant_fp16_forget_acc"] = q["int8"], q["fp16"]
        m["quant_base_forget_acc"] = float(np.mean(tr.predictions[q_rows] == b.y_train[q_rows])) if q_rows.size else float("nan")
        return m, d


def relative_metrics(m: dict[str, float], ref: dict[str, float] | None, ref_details: dict[str, Any] | None,
                     kind: str, original: dict[str, float] | None = None) -> dict[str, float]:
    """Metrics that compare a model with the retrained reference (B6 gap, B8 Avg. Gap, the
    feature-shift ratio and relearning steps to the original's level)."""
    out: dict[str, float] = {}
    if ref is None:
        return out
    if "mia_nn" in m and "mia_nn" in ref:
        out["mia_nn_gap"] = abs(m["mia_nn"] - ref["mia_nn"])
    out["avg_gap"] = avg_gap(m, ref, kind)
    shift_u = 1.0 - m.get("cka_o_forget_train", float("nan"))
    shift_r = 1.0 - ref.get("cka_o_forget_train", float("nan"))
    out["feature_shift_ratio"] = shift_u / shift_r if shift_r > 1e-6 else float("nan")
    return out


def _listify(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [float(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


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
        _v_features(m, kind, retrain, basis),
        _v_private(m, kind, retrain, basis),
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


def _v_features(m: dict[str, float], kind: str, r: dict[str, float] | None, basis: str) -> Verdict:
    shift = 1.0 - m.get("cka_o_forget_train", float("nan"))
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
        probe_excess = np.nanmax([probe - r.get("probe_forget", np.nan), knn - r.get("knn_forget", np.nan)])
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
    if m.get("suppressed") == 1.0 and status != "pass":
        summary += " The outputs no longer name the class but its features still do: suppressed, not deleted."
    return Verdict("features", "Forgot (features)?", status, basis, summary, ev)


def _v_private(m: dict[str, float], kind: str, r: dict[str, float] | None, basis: str) -> Verdict:
    mia = m.get("mia_svc", float("nan"))
    adv, chance = m.get("mia_worst_adv", float("nan")), m.get("mia_worst_chance", float("nan"))
    ev: dict[str, Any] = {
        "MIA-efficacy (forget images called non-members)": _pct(mia),
        "worst-case attack advantage (TPR − FPR)": f"{adv:.3f}",
        "advantage reached by chance (95 %)": f"{chance:.3f}",
        "loss-attack ROC-AUC": f"{m.get('mia_loss_auc', float('nan')):.3f}",
    }
    if r is not None:
        ev["retrained model: MIA-efficacy"] = _pct(r.get("mia_svc"))
        ev["retrained model: advantage"] = f"{r.get('mia_worst_adv', float('nan')):.3f}"
        s1 = _grade(abs(mia - r.get("mia_svc", np.nan)), MIA_PASS_GAP, MIA_WARN_GAP)
        floor = np.nanmax([r.get("mia_worst_adv", np.nan), chance])
        s2 = _grade(adv - floor, ADV_PASS_EXCESS, ADV_WARN_EXCESS)
        statuses = [s1, s2]
        if "mia_nn_gap" in m:
            ev["MIA-NN gap to retrain"] = _pct(m["mia_nn_gap"])
            statuses.append(_grade(m["mia_nn_gap"], MIANN_PASS_GAP, MIANN_WARN_GAP))
        status = _worst(*statuses)
        summary = (f"A membership attack calls {_pct(mia)} of the forget images non-members (retrained model: "
                   f"{_pct(r.get('mia_svc'))}). The best loss threshold separates forget images from unseen ones "
                   f"with advantage {adv:.2f} (retrained model {r.get('mia_worst_adv', float('nan')):.2f}, "
                   f"chance {chance:.2f}).")
    else:
        status = _grade(adv - chance, ADV_PASS_EXCESS, ADV_WARN_EXCESS)
        summary = (f"The best loss threshold separates forget images from unseen ones with advantage {adv:.2f}; "
                   f"on identical data it would reach {chance:.2f} by chance (reference-free rule).")
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
    rise = np.nanmax([m.get("quant_int8_forget_acc", np.nan) - base, m.get("quant_fp16_forget_acc", np.nan) - base])
    ev["forget accuracy after int8 quantisation"] = _pct(m.get("quant_int8_forget_acc"))
    ev["forget accuracy after float16 round trip"] = _pct(m.get("quant_fp16_forget_acc"))
    if np.isfinite(rise):
        statuses.append(_grade(rise, QUANT_PASS_RISE, QUANT_WARN_RISE))
    summary = ""
    rl = d.get("relearn")
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
    status = _worst(*statuses) if statuses else "warn"
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


# ------------------------------------------------------------------------------------- cost (B8)
class CostMeter:
    """Measures the unlearning stage: f/b passes over the training set and peak memory (B8).

    Passes: a forward hook on the original's first parameterised layer counts the images that go
    through it *with gradients on* (forward + backward); ``copy.deepcopy`` copies the hook, so the
    method's working copies are counted too, while no-grad passes (teachers, the geometry probe,
    evaluation) are not. Models a method builds from scratch (Retrain) are not hooked: their
    passes are filled in by the caller. Memory: ``torch.cuda.max_memory_allocated`` on CUDA; on
    the CPU the growth of the process's peak resident set (``ru_maxrss``), which stays 0 when the
    method never exceeds the process's earlier peak — a lower bound, labelled so.
    """

    def __init__(self, original: torch.nn.Module, n_train: int, device: torch.device) -> None:
        self.original, self.n_train, self.device = original, max(1, n_train), device
        self.images = 0
        self._layer = next((m for m in original.modules() if not list(m.children()) and any(True for _ in m.parameters(recurse=False))), None)
        self._rss0 = 0.0
        meter = self

        def hook(module: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
            # a plain function, not a bound method: deepcopy keeps functions as they are, so the
            # copies' hooks still count into this meter
            if torch.is_grad_enabled() and not torch.is_inference_mode_enabled() and inputs and hasattr(inputs[0], "shape"):
                meter.images += int(inputs[0].shape[0])

        hook.lethe_cost_meter = self  # type: ignore[attr-defined]
        self._hook = hook

    def __enter__(self) -> "CostMeter":
        if self._layer is not None:
            self._layer.register_forward_pre_hook(self._hook)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._rss0 = _maxrss_mb()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach(self.original)

    def detach(self, *models: torch.nn.Module | None) -> None:
        """Remove the counting hook from ``models`` (and their deep copies' modules)."""
        for model in models:
            if model is None:
                continue
            for mod in model.modules():
                for k, fn in list(mod._forward_pre_hooks.items()):
                    if getattr(fn, "lethe_cost_meter", None) is self:
                        del mod._forward_pre_hooks[k]

    def result(self) -> dict[str, Any]:
        if self.device.type == "cuda":
            peak, kind = torch.cuda.max_memory_allocated(self.device) / 2**20, "CUDA peak allocated during the method"
        else:
            peak, kind = max(0.0, _maxrss_mb() - self._rss0), "growth of the process's peak RSS during the method (CPU; lower bound)"
        return {"fb_passes": self.images / self.n_train, "peak_memory_mb": peak, "memory_kind": kind}


def _maxrss_mb() -> float:
    try:
        import resource
        import sys

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / 2**20 if sys.platform == "darwin" else r / 2**10  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):  # Windows: no resource module
        return float("nan")
