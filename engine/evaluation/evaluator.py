"""Evaluation of one model against the original and the retrained reference.

One feature pass per (model, split), shared by every metric through :class:`FeatureCache`:
accuracies (methods.md B1), AUS, RUS(o) / RUS(r) and rMIA (pour.md).

A metric this split cannot support is NaN in the returned dict, and :meth:`Evaluator.reasons`
says why ("not applicable: class 9 has no test images"); the runner keeps the reasons in
``RunRecord.metric_na``, so no surface ever shows a bare NaN.
"""
from __future__ import annotations

from typing import Literal

from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from engine._core.cancel import NEVER, CancelToken
from engine.models.checkpoints import weights_fingerprint
from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSplit
from engine.train.features import FeatureCache, FeatureSet, extract
from engine.metrics import accuracy, aus, per_class_accuracy, rus_components
from engine.metrics.catalog import is_value
from engine.metrics.rmia import rmia_matched
from engine.models.base import LetheModel


class Evaluator:
    """Evaluates models on one (dataset, forget split); caches features per weights fingerprint."""

    def __init__(
        self,
        bundle: DatasetBundle,
        split: ForgetSplit,
        device: torch.device,
        *,
        token: CancelToken = NEVER,
        cache: FeatureCache | None = None,
        max_cka_rows: int = 2000,
        seed: int = 0,
    ) -> None:
        self.bundle = bundle
        self.split = split
        self.device = device
        self.token = token
        self.cache = cache or FeatureCache()
        self.seed = seed
        # rMIA's class matching per model (weights fingerprint): what the score was computed on.
        self.rmia_matching: dict[str, dict[str, Any]] = {}
        rng = np.random.default_rng(seed)
        # CKA is O(n^2): compare on a fixed seeded subsample of each side (the same rows for every model).
        self.cka_forget = _subsample(split.forget_idx, max_cka_rows, rng)
        self.cka_retain = _subsample(split.retain_idx, max_cka_rows, rng)
        self.not_applicable = split_reasons(bundle, split)

    def features(self, model: LetheModel, part: str) -> FeatureSet:
        x = self.bundle.x_train if part == "train" else self.bundle.x_test
        key = (weights_fingerprint(model), f"{self.bundle.fingerprint}:{part}")
        return self.cache.get_or_compute(
            key,
            lambda: extract(model, x, self.bundle.mean, self.bundle.std, device=self.device, token=self.token),
        )

    def accuracies(self, model: LetheModel) -> tuple[dict[str, float], list[float]]:
        b, s = self.bundle, self.split
        train_pred = self.features(model, "train").predictions
        test_pred = self.features(model, "test").predictions
        m = {
            "forget_acc": accuracy(train_pred[s.forget_idx], b.y_train[s.forget_idx]),
            "retain_acc": accuracy(train_pred[s.retain_idx], b.y_train[s.retain_idx]),
            "test_acc": accuracy(test_pred, b.y_test),
        }
        if s.kind == "class":
            m["test_forget_acc"] = accuracy(test_pred[s.test_forget_idx], b.y_test[s.test_forget_idx])
            m["test_retain_acc"] = accuracy(test_pred[s.test_retain_idx], b.y_test[s.test_retain_idx])
        per_class = per_class_accuracy(test_pred, b.y_test, b.num_classes)
        return m, [float(v) for v in per_class]

    def rus(self, model: LetheModel, reference: LetheModel, against: Literal["original", "retrain"]) -> float:
        """RUS (pour.md) of ``model`` against ``reference`` by :func:`engine.metrics.rus_components`, on
        the training-image features of the fixed forget / retain subsamples (``cka_forget`` / ``cka_retain``)."""
        zu = self.features(model, "train").features
        self.token.check()
        zref = self.features(reference, "train").features
        self.token.check()
        parts = rus_components(zu[self.cka_forget], zref[self.cka_forget], zu[self.cka_retain], zref[self.cka_retain],
                               reference=against)
        return float(parts["rus"])

    def rmia(self, model: LetheModel) -> float:
        """rMIA on class-matched members / non-members (test labels passed; see
        :func:`engine.metrics.rmia.rmia_matched`); the matching is kept in ``rmia_matching``.
        NaN when no forget image can be matched (e.g. its class has no test images)."""
        train = self.features(model, "train").features
        test = self.features(model, "test").features
        forget_mask = np.zeros(len(train), dtype=bool)
        forget_mask[self.split.forget_idx] = True
        score, info = rmia_matched(train, self.bundle.y_train, test, forget_mask, test_labels=self.bundle.y_test,
                                   seed=self.seed, check=self.token.check)
        self.rmia_matching[weights_fingerprint(model)] = info
        return float(score)

    def reasons(self, metrics: dict[str, float], *extra: dict[str, str] | None) -> dict[str, str]:
        """{key: reason} for every metric in ``metrics`` that is not a finite number.

        The reason comes from ``extra`` maps (the audit's ``details["not_applicable"]``) first, then
        from this split (:func:`split_reasons`), then from :data:`KNOWN_REASONS`; a NaN none of
        them explains gets :data:`UNEXPLAINED` (a test keeps runs free of it).
        """
        out: dict[str, str] = {}
        for key, v in metrics.items():
            if is_value(v):
                continue
            found = next((m[key] for m in (*extra, self.not_applicable) if m and m.get(key)), None)
            out[key] = str(found or KNOWN_REASONS.get(key, UNEXPLAINED))
        return out

    def evaluate(
        self,
        model: LetheModel,
        original: LetheModel,
        retrain: LetheModel | None = None,
        *,
        representation: bool = True,
    ) -> tuple[dict[str, float], list[float]]:
        # BLAS to the job's thread budget (as the audit does): an oversubscribed OpenBLAS makes a
        # 1,000-row CKA 30x slower on a busy machine, and a cancel waits for it.
        with threadpool_limits(limits=max(1, torch.get_num_threads())):
            return self._evaluate(model, original, retrain, representation=representation)

    def _evaluate(
        self,
        model: LetheModel,
        original: LetheModel,
        retrain: LetheModel | None,
        *,
        representation: bool,
    ) -> tuple[dict[str, float], list[float]]:
        metrics, per_class = self.accuracies(model)
        if self.split.kind == "class":
            self.token.check()
            orig, _ = self.accuracies(original)
            metrics["aus"] = aus(orig["test_retain_acc"], metrics["test_retain_acc"], metrics["test_forget_acc"])
        if representation:
            self.token.check()
            metrics["rus_o"] = self.rus(model, original, "original")
            if retrain is not None:
                self.token.check()
                metrics["rus_r"] = self.rus(model, retrain, "retrain")
            self.token.check()
            metrics["rmia"] = self.rmia(model)
        for key in self.not_applicable.keys() & metrics.keys():  # e.g. rMIA "of" one forget image: 0 or 100 %
            metrics[key] = float("nan")
        return metrics, per_class


UNEXPLAINED = "not computed: the value came out undefined for this run"
# Reasons for metrics that are undefined by construction in some runs (NaN without a split-level cause).
KNOWN_REASONS = {
    "suppressed": "not applicable: defined for class forgetting only",
    "feature_shift_ratio": "not applicable: the retrained model's forget features did not move (1 − CKA ≈ 0), "
                           "so a share of its change is undefined",
    "nc1": "not applicable: needs at least two retained classes with features",
    "nc2_equinorm": "not applicable: needs at least two retained classes with features",
    "nc2_equiangle": "not applicable: needs at least two retained classes with features",
    "nc3": "not applicable: needs at least two retained classes with features",
    "nc4": "not applicable: needs at least two retained classes with features",
    "nc_mean_angle_deg": "not applicable: needs at least two retained classes with features",
    "nc_ideal_angle_deg": "not applicable: needs at least two retained classes with features",
    "quant_base_forget_acc": "not applicable: no forget image",
    "quant_int8_forget_acc": "not applicable: no forget image",
    "quant_fp16_forget_acc": "not applicable: no forget image",
    "time_ratio": "not applicable: the original model is trained, not unlearned",
    "rmia": "not applicable: no forget image has unseen test images of its class to match it with",
}


# The audit's metrics read on the forgotten class's test images (class forgetting).
CLASS_TEST_METRICS = ("cka_o_forget_test", "cka_r_forget_test", "knn_forget", "probe_forget", "mia_loss_acc",
                      "mia_loss_auc", "mia_worst_adv", "mia_worst_chance")


def no_test_images_reason(classes: list[int]) -> str:
    """The reason given for every test-based metric when forgotten ``classes`` have no test image."""
    return f"not applicable: class {', '.join(map(str, classes))} has no test images"


def split_reasons(bundle: DatasetBundle, split: ForgetSplit) -> dict[str, str]:
    """{metric: reason} for the evaluator's metrics that ``split`` cannot support.

    A forgotten class without test images leaves the forgotten-class test accuracy, AUS (which
    divides by 1 + it), rMIA (whose members are matched to the test images' classes) and the
    audit's :data:`CLASS_TEST_METRICS` undefined;
    a forget set of fewer than two images leaves rMIA without folds.
    """
    na: dict[str, str] = {}
    if split.kind == "class":
        empty = [int(c) for c in split.forget_classes if not np.any(bundle.y_test == c)]
        if empty:
            why = no_test_images_reason(empty)
            na.update({k: why for k in ("test_forget_acc", "aus", "rmia", *CLASS_TEST_METRICS)})
    if len(split.forget_idx) < 2:
        na.setdefault("rmia", "not applicable: one forget image (needs at least 2)" if len(split.forget_idx) == 1
                      else "not applicable: no forget image")
    return na


def _subsample(idx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    if len(idx) <= k:
        return idx
    return np.sort(rng.choice(idx, size=k, replace=False))
