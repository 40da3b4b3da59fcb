"""Readable summaries of ``python -m engine ensemble klom|ulira`` (JSON stays one flag away: --json).

The numbers come from :mod:`engine.evaluation.ensembles` (KLoM, methods.md B7; U-LiRA, B5) and
:mod:`engine.metrics.shadow`; the texts here say what they measure and how they differ from the
single-model audit's "Private?" verdict.
"""
from __future__ import annotations

import math
from typing import Any


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{float(v):.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _k_line(result: dict[str, Any], paper_k: int) -> str:
    k = int(result.get("k", 0))
    if result.get("approximate"):
        return f"K = {k} shadow pairs (fewer than the paper's {paper_k}: an approximation, noisier)"
    return f"K = {k} shadow pairs (paper-sized)"


ULIRA_MEANING = (
    "What it measures: for each forget image, U-LiRA looks at one number, the model's confidence in the "
    "image's true class (log p / (1 − p)), under K models unlearned with the method and K models retrained "
    "without the forget set. It fits a bell curve to each group on K − 1 models and asks which group a "
    "held-out model belongs to (every pair held out in turn). AUC 0.5: an unlearned model cannot be told "
    "from a retrained one on these images (ideal); AUC 1.0: it always can."
)
ULIRA_VERSUS_PRIVATE = (
    "Why it can disagree with the studio's \"Private?\" verdict: \"Private?\" attacks the one unlearned model "
    "and asks whether its forget images still look like training images next to unseen images of the same "
    "class. U-LiRA instead compares the method with Retrain across many trained models. A high AUC beside "
    "Private? PASS means the method leaves a consistent fingerprint that a retrain does not, without the "
    "forget images looking like members. For example POUR-P masks the forgotten class's logit, so its "
    "confidence in that class is exactly 0 on every forget image, where a retrained model gives a small "
    "but non-zero confidence: the two groups separate perfectly (AUC 1.0) although no image is remembered."
)
KLOM_MEANING = (
    "What it measures: for each image, the spread of its margin (true-class logit minus the others, "
    "log p / (1 − p)) over K retrained models is compared with its spread over K models unlearned with "
    "the method, as the KL divergence between the two histograms. 0: the method's models behave like "
    "retrains on that image (ideal); larger: they differ. mean: the average over the images; p95: the "
    "95th percentile, the images that differ most. Forget images matter most; retain and test images "
    "show whether the method changed the rest of the model unlike a retrain would."
)


def format_ulira(result: dict[str, Any], title: str, paper_k: int) -> str:
    """A table of U-LiRA's numbers with what they mean (``result``: :func:`ensembles.ulira_job`'s)."""
    variance = ("per image" if result.get("per_sample_variance")
                else "one pooled over the images (too few models for one per image)")
    rows = [
        ["U-LiRA AUC", _num(result.get("ulira_auc")), "0.5 (cannot tell it from a retrain)"],
        ["U-LiRA balanced accuracy", _num(result.get("ulira_accuracy")), "0.5"],
        ["forget images", str(int(result.get("n_forget", 0))), ""],
    ]
    return "\n".join([
        title, _k_line(result, paper_k), "",
        _table(["measure", "value", "ideal"], rows), "",
        f"Variance of the bell curves: {variance}.", "",
        ULIRA_MEANING, "", ULIRA_VERSUS_PRIVATE,
    ])


def format_klom(result: dict[str, Any], title: str, paper_k: int) -> str:
    """A table of KLoM per image group with what it means (``result``: :func:`ensembles.klom_job`'s)."""
    rows = []
    for name, what in (("forget", "forget images (training)"), ("retain", "retained training images"),
                       ("test", "test images")):
        if f"klom_{name}_mean" in result:
            rows.append([what, _num(result.get(f"klom_{name}_mean")), _num(result.get(f"klom_{name}_p95"))])
    bins = result.get("bins")
    return "\n".join([
        title, _k_line(result, paper_k) + (f", histograms of {int(bins)} bins" if bins else ""), "",
        _table(["images", "KLoM mean (0 ideal)", "KLoM p95"], rows), "",
        KLOM_MEANING,
    ])
