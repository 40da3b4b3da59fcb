"""Measuring one model for the audit: attacks, probes and restoration tests, then a verdict per question.

:class:`Auditor` measures a model (metrics of methods.md section B and pour.md, through
``engine.metrics``; features come from the run's :class:`engine.evaluation.evaluator.Evaluator`, so no
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
from typing import Any, ClassVar
from collections.abc import Generator

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from engine._core.cancel import NEVER, CancelToken
from engine._core.events import Progress, drain
from engine.models.checkpoints import weights_fingerprint
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine.evaluation.evaluator import Evaluator
from engine.train.features import extract
from engine.metrics.mia import (
    MAX_SHADOW,
    SHADOW_FOLDS,
    confidence,
    entropy,
    entropy_lr_mia,
    loss_threshold_mia,
    match_classes,
    mia_nn,
    nearest_class,
    per_sample_loss,
    remaining_profile,
    softmax,
    svc_mia_efficacy,
    svc_shadow_fit,
    threshold_sweep,
    tv_leakage,
    zrf,
)
from engine.metrics.probes import cka_grid, is_suppressed, knn_probe, linear_probe, nc_summary
from engine.evaluation.restoration import avg_gap, quantised_forget_accuracy, relearn_attack
from engine.models.base import LetheModel
from engine.evaluation.audit.verdicts import AUDIT_VERSION

ZRF_TEACHER_SEED = 1234  # the incompetent teacher of ZRF: a fresh model of the same arch, fixed seed
SWEEP_PERMUTATIONS = 50  # shuffles for the chance level of the threshold attack
MAX_QUANT_ROWS = 1024  # forget rows evaluated after quantisation
MAX_LISTED = 32  # forget indices listed as "still recognised" / "most vulnerable"
MIN_MATCHED = 2  # rows per side below which a membership comparison is "not applicable"
# Metrics that compare forget images with unseen images of their class (test split).
_TEST_BASED = ("test_forget_acc", "aus", "rmia", "mia_loss_acc", "mia_loss_auc", "mia_worst_adv", "mia_worst_chance")

# ------------------------------------------------------------------------------------- measuring
class Auditor:
    """Measures models of one run (same data, forget split, original and optional retrain).

    Results are cached per (weights of model, original and retrain, split, seed), so the original
    and the retrained reference are audited once per session however many runs use them.
    """

    _cache: ClassVar[OrderedDict[tuple[str, ...], tuple[dict[str, float], dict[str, Any]]]] = OrderedDict()
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
        # forgetting, as SalUn does); members = retain images. Both sides are class-matched
        # (stratified to the smaller side per class, seeded), so an attack cannot score by the class
        # mix (pitfall D6); SVC's sides are capped at MAX_SHADOW (O(n²)), the cap recorded.
        self.nonmem_pool = np.asarray(s.test_retain_idx if s.kind == "class" else np.arange(len(b.y_test)))
        ret = np.asarray(s.retain_idx)
        ia, ib, self.match_entropy = match_classes(b.y_train[ret], b.y_test[self.nonmem_pool], seed=seed)
        self.members, self.nonmem = ret[ia], self.nonmem_pool[ib]
        ia, ib, self.match_svc = match_classes(b.y_train[ret], b.y_test[self.nonmem_pool], seed=seed, cap=MAX_SHADOW)
        self.svc_members, self.svc_nonmem = ret[ia], self.nonmem_pool[ib]
        # B4 and the sweep: forget images against unseen test images of their classes, class-matched.
        pool = np.flatnonzero(np.isin(b.y_test, np.unique(b.y_train[self.forget])))
        ia, ib, self.match_loss = match_classes(b.y_train[self.forget], b.y_test[pool], seed=seed)
        self.loss_members, self.loss_nonmem = self.forget[ia], pool[ib]
        self.not_applicable = self._not_applicable()
        self._key_ctx = (weights_fingerprint(original), weights_fingerprint(retrain) if retrain is not None else "-",
                         s.hash, str(seed), str(relearn), str(AUDIT_VERSION))
        self._p_incompetent: np.ndarray | None = None
        self._original_m: tuple[dict[str, float], dict[str, Any]] | None = None

    # -- helpers ---------------------------------------------------------------------------------
    def _not_applicable(self) -> dict[str, str]:
        """{metric: reason} for metrics this split cannot support (reported as null with the reason)."""
        b, s = self.bundle, self.split
        na: dict[str, str] = {}
        if s.kind == "class":
            empty = [c for c in self.forget_classes if not np.any(b.y_test == c)]
            if empty:
                why = f"not applicable: class {', '.join(map(str, empty))} has no test images"
                na.update({k: why for k in _TEST_BASED})
        if self.match_svc["n"] < SHADOW_FOLDS:
            why = (f"not applicable: {self.match_svc['n']} class-matched shadow row(s) a side, fewer than the "
                   f"{SHADOW_FOLDS} folds of the held-out check")
            for k in ("mia_svc_shadow_acc", "mia_svc_shadow_auc", "mia_svc_shadow_chance", "mia_svc_spread"):
                na[k] = why
        n_f = int(self.forget.size)
        if n_f < MIN_MATCHED:
            why = f"not applicable: {'one forget image' if n_f == 1 else 'no forget image'} (needs at least {MIN_MATCHED})"
            for k in ("mia_loss_acc", "mia_loss_auc", "mia_worst_adv", "mia_worst_chance", "mia_nn", "mia_nn_gap",
                      "cka_o_forget_train", "cka_r_forget_train", "relearn_auc", "relearn_final_acc", "rmia"):
                na.setdefault(k, why)
        elif self.match_loss["n"] < MIN_MATCHED:
            why = (f"not applicable: only {self.match_loss['n']} forget image(s) have unseen test images of "
                   "their class to compare with")
            for k in ("mia_loss_acc", "mia_loss_auc", "mia_worst_adv", "mia_worst_chance"):
                na.setdefault(k, why)
        return na

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
        return drain(self.measure_steps(model))

    def measure_steps(self, model: LetheModel) -> Generator[Progress, None, tuple[dict[str, float], dict[str, Any]]]:
        """As :meth:`measure`, yielding ``Progress("audit", f, what)`` before each of its parts
        (outputs and membership attacks, representation probes, relearning and quantisation)."""
        key = (weights_fingerprint(model), *self._key_ctx)
        hit = Auditor._cache.get(key)
        if hit is not None:
            Auditor._cache.move_to_end(key)
            return copy.deepcopy(hit)
        t0 = time.perf_counter()
        # Keep BLAS to the job's thread budget: an oversubscribed OpenBLAS is 10-70x slower on a
        # busy machine than one thread for these small matrices.
        with threadpool_limits(limits=max(1, torch.get_num_threads())):
            m, d = yield from self._measure(model)
        m["audit_seconds"] = time.perf_counter() - t0
        Auditor._cache[key] = copy.deepcopy((m, d))
        while len(Auditor._cache) > Auditor._cache_size:
            Auditor._cache.popitem(last=False)
        return m, d

    def _measure(self, model: LetheModel) -> Generator[Progress, None, tuple[dict[str, float], dict[str, Any]]]:
        yield Progress("audit", 0.0, "features and membership attacks")
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
        check = self.token.check
        svc_sides = (conf_tr[self.svc_members], conf_te[self.svc_nonmem], conf_tr[F_])
        m["mia_svc"] = svc_mia_efficacy(*svc_sides, seed=seed, cap=None)
        check()
        # Whether that score means anything here (the verdict does not grade it otherwise): the same
        # SVC's held-out accuracy on its own shadow data, how far the score moves between its fold
        # models, and the share of forget images outside the shadow confidences' range.
        sf = svc_shadow_fit(*svc_sides, seed=seed, check=check)
        m["mia_svc_shadow_acc"], m["mia_svc_shadow_auc"] = sf["heldout_acc"], sf["heldout_auc"]
        m["mia_svc_shadow_chance"], m["mia_svc_spread"] = sf["chance95"], sf["spread"]
        m["mia_svc_outside"] = sf["outside"]
        d["svc"] = {**sf, "feature": "confidence p_y"}
        check()
        ent_tr, ent_te = entropy(P_tr), entropy(P_te)
        m["mia_entropy"] = entropy_lr_mia(ent_tr[self.members], ent_te[self.nonmem], ent_tr[F_])
        check()
        m["zrf"] = zrf(P_tr[F_], self._incompetent_probs(model))
        check()
        L_tr, L_te = per_sample_loss(tr.logits, b.y_train), per_sample_loss(te.logits, b.y_test)
        LM = self.loss_members
        lt = loss_threshold_mia(L_tr[LM], L_te[self.loss_nonmem], seed=seed, check=check)
        m["mia_loss_acc"], m["mia_loss_auc"] = lt["cv_acc"], lt["auc"]
        sw = threshold_sweep(-L_tr[LM], -L_te[self.loss_nonmem], member_ids=LM, permutations=SWEEP_PERMUTATIONS,
                             seed=seed, check=check)
        m["mia_worst_adv"], m["mia_worst_chance"] = sw["advantage"], sw["chance95"]
        d["loss_hist"] = {k: _listify(lt.get(k)) for k in ("hist_edges", "hist_member", "hist_nonmember")}
        d["sweep"] = {k: _listify(v) for k, v in sw.items()}
        d["matched"] = {"svc": self.match_svc, "entropy": self.match_entropy, "loss": self.match_loss,
                        "sweep": self.match_loss}
        rm = ev.rmia_matching.get(weights_fingerprint(model))
        if rm is not None:
            d["matched"]["rmia"] = rm
        if self.kind == "class" and F_.size >= MIN_MATCHED:
            check()
            # The neighbour class n is read from the reference model's outputs on forget-class images
            # it never trained on: the test images, or (a class without test images) the retrained
            # model's forget training images. Both MIA-NN sides are then cut to the same size.
            ref = self.retrain if self.retrain is not None else self.original
            who = "retrain" if self.retrain is not None else "original"
            if len(s.test_forget_idx):
                src, rows_ref = "test images", ev.features(ref, "test").logits[s.test_forget_idx]
            else:
                src, rows_ref = "training images", ev.features(ref, "train").logits[F_]
            n = nearest_class(softmax(rows_ref), self.forget_classes)
            rows_n = np.flatnonzero(b.y_train == n)
            n_side = int(min(F_.size, rows_n.size))
            rng = np.random.default_rng(seed)
            f_rows, n_rows = np.sort(rng.permutation(F_)[:n_side]), np.sort(rng.permutation(rows_n)[:n_side])
            m["mia_nn"] = mia_nn(remaining_profile(P_tr[f_rows], self.forget_classes),
                                 remaining_profile(P_tr[n_rows], self.forget_classes), seed=seed)
            d["mia_nn_neighbour"] = {"class": int(n), "from": f"{who} ({src} of the forgotten class)"}
            d["matched"]["mia_nn"] = {"n": n_side, "per_class": {"forget": n_side, str(int(n)): n_side}}
        if self.retrain is not None:
            P_r = softmax(ev.features(self.retrain, "train").logits[F_])
            m["tv_leakage"] = tv_leakage(P_tr[F_], P_r)

        # ---- representation (B9, B11)
        self.token.check()
        yield Progress("audit", 0.35, "representation probes (CKA, k-NN, linear probe)")
        feats = {"train": tr.features, "test": te.features}
        parts: dict[str, tuple[str, np.ndarray]] = {"forget_train": ("train", ev.cka_forget),
                                                   "retain_train": ("train", ev.cka_retain),
                                                   "retain_test": ("test", s.test_retain_idx)}
        if self.kind == "class":
            parts["forget_test"] = ("test", s.test_forget_idx)
        for tag, reference in (("o", self.original), ("r", self.retrain)):
            if reference is None:
                continue
            check()
            rf = {"train": ev.features(reference, "train").features, "test": ev.features(reference, "test").features}
            for name, v in cka_grid(feats, rf, parts).items():
                m[f"cka_{tag}_{name}"] = v
        if self.kind == "class":
            fit_x, fit_y = tr.features, b.y_train  # labels include the forget class
            ef_x, ef_y = te.features[s.test_forget_idx], b.y_test[s.test_forget_idx]
        else:
            fit_x, fit_y = tr.features[s.retain_idx], b.y_train[s.retain_idx]
            ef_x, ef_y = tr.features[F_], b.y_train[F_]
        er_x, er_y = te.features[s.test_retain_idx], b.y_test[s.test_retain_idx]
        check()
        m["knn_forget"], m["knn_retain"] = knn_probe(fit_x, fit_y, [ef_x, er_x], [ef_y, er_y], seed=seed)
        check()
        m["probe_forget"], m["probe_retain"] = linear_probe(fit_x, fit_y, [ef_x, er_x], [ef_y, er_y], seed=seed)
        check()
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
        yield Progress("audit", 0.6, "relearning attack and quantisation")
        if self.relearn:
            rl = relearn_attack(model, b.x_train, b.y_train, F_, self.kind, b.mean, b.std, device=self.device,
                                seed=seed, check=check)
            m["relearn_auc"], m["relearn_final_acc"] = rl["auc"], rl["final_acc"]
            d["relearn"] = {k: rl[k] for k in ("steps", "acc", "n_attack", "n_eval", "lr")}
        q_rows = F_[:MAX_QUANT_ROWS]
        q = quantised_forget_accuracy(model, b.x_train[q_rows], b.y_train[q_rows], b.mean, b.std, device=self.device,
                                      check=check)
        m["quant_int8_forget_acc"], m["quant_fp16_forget_acc"] = q["int8"], q["fp16"]
        m["quant_base_forget_acc"] = float(np.mean(tr.predictions[q_rows] == b.y_train[q_rows])) if q_rows.size else float("nan")
        if self.relearn and d.get("relearn", {}).get("n_eval", 1) == 0:
            self.not_applicable.setdefault(
                "relearn_auc", "not applicable: with one forget image none is left to evaluate the relearning on")
        # Not applicable: null with the reason (never a NaN that a sentence could print).
        na = {k: v for k, v in self.not_applicable.items() if k in m or k in _TEST_BASED}
        for key in na:
            if key in m:
                m[key] = float("nan")
        d["not_applicable"] = na
        return m, d


def relative_metrics(m: dict[str, float], ref: dict[str, float] | None, ref_details: dict[str, Any] | None,
                     kind: str, original: dict[str, float] | None = None) -> dict[str, float]:
    """Metrics that compare a model with the retrained reference (B6 gap, B8 Avg. Gap, the
    feature-shift ratio and relearning steps to the original's level)."""
    out: dict[str, float] = {}
    if ref is None:
        return out
    if "mia_nn" in m and "mia_nn" in ref and np.isfinite(m["mia_nn"]) and np.isfinite(ref["mia_nn"]):
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


