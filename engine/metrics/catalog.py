"""The metric registry: every number Lethe reports, with what it means and which way is good.

Each :class:`MetricInfo` has a ``name`` (the key in ``RunRecord.metrics``), a plain-words
``definition``, a ``direction`` ("↑" higher is better, "↓" lower is better, "≈" closest to the
reference is best), the ``reference`` it is judged against ("original", "retrain" or "none"), the
``ideal`` value (a number, or "retrain" when the ideal is the retrained model's value), a ``cost``
class (cheap: from the shared feature pass; moderate: a few small fits or fine-tuning steps;
expensive: trains models) and the ``source`` (methods.md / pour.md section, paper).
Studio tables, the CLI and the HTML report read definitions from here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DIRECTIONS = ("↑", "↓", "≈")
REFERENCES = ("original", "retrain", "none")
COSTS = ("cheap", "moderate", "expensive")
GROUPS = ("accuracy", "privacy", "representation", "restoration", "cost")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    group: str
    definition: str
    direction: str
    reference: str
    ideal: float | str
    cost: str
    source: str = ""
    unit: str = "%"  # "%" for fractions shown ×100, "" for plain numbers, "s" seconds, "MB"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"{self.name}: direction {self.direction!r} not in {DIRECTIONS}")
        if self.reference not in REFERENCES:
            raise ValueError(f"{self.name}: reference {self.reference!r} not in {REFERENCES}")
        if self.cost not in COSTS:
            raise ValueError(f"{self.name}: cost {self.cost!r} not in {COSTS}")
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: group {self.group!r} not in {GROUPS}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def format(self, value: Any) -> str:
        """The value as shown to a person (fractions as %, NaN/None as –)."""
        if value is None or (isinstance(value, float) and value != value):
            return "–"
        if self.unit == "%":
            return f"{100 * float(value):.1f} %"
        if self.unit == "s":
            return f"{float(value):.2f} s"
        if self.unit == "MB":
            return f"{float(value):.1f} MB"
        if self.unit == "°":
            return f"{float(value):.1f}°"
        return f"{float(value):.3f}"


_REGISTRY: dict[str, MetricInfo] = {}


def register_metric(info: MetricInfo) -> MetricInfo:
    if info.name in _REGISTRY:
        raise ValueError(f"metric {info.name!r} is registered twice")
    _REGISTRY[info.name] = info
    return info


def get_metric(name: str) -> MetricInfo | None:
    return _REGISTRY.get(name)


def all_metrics() -> list[MetricInfo]:
    return list(_REGISTRY.values())


def _m(*args: Any, **kw: Any) -> None:
    register_metric(MetricInfo(*args, **kw))


# ---------------------------------------------------------------------------------- accuracy (B1)
_m("forget_acc", "Forget accuracy", "accuracy", "Share of the forget-set training images the model still classifies correctly (UA = 1 − this).", "≈", "retrain", "retrain", "cheap", "methods.md B1")
_m("retain_acc", "Retain accuracy", "accuracy", "Share of the retained training images classified correctly (RA).", "↑", "retrain", 1.0, "cheap", "methods.md B1")
_m("test_acc", "Test accuracy", "accuracy", "Share of all test images classified correctly (TA; includes the forgotten class in class forgetting).", "≈", "retrain", "retrain", "cheap", "methods.md B1")
_m("test_forget_acc", "Test accuracy, forgotten class", "accuracy", "Share of the forgotten class's test images still classified as that class (SSD's 'Df').", "↓", "retrain", 0.0, "cheap", "methods.md B1")
_m("test_retain_acc", "Test accuracy, other classes", "accuracy", "Share of the other classes' test images classified correctly (SalUn's TA in class forgetting).", "↑", "retrain", "retrain", "cheap", "methods.md B1, D7")
_m("aus", "AUS", "accuracy", "Adaptive Unlearning Score (1 − retain-accuracy drop vs the original) / (1 + forget accuracy).", "↑", "original", 1.0, "cheap", "pour.md", unit="")
# ---------------------------------------------------------------------------------- privacy (B2–B6)
_m("mia_svc", "MIA-efficacy", "privacy", "SalUn's SVC attack on the true-label confidence: share of forget images it calls non-members. Shadow members are a seeded stratified sample of the retain set.", "≈", "retrain", "retrain", "cheap", "methods.md B2; SalUn evaluation/SVC_MIA.py")
_m("mia_entropy", "Entropy-LR MIA", "privacy", "Logistic regression on the prediction entropy (retain = member, test = non-member): share of forget images called members.", "↓", "retrain", "retrain", "cheap", "methods.md B3; SSD metrics.py")
_m("zrf", "ZRF", "privacy", "Zero Retrain Forgetting: 1 − mean Jensen–Shannon divergence (natural log) between the model and a randomly initialised copy on the forget images; range 0.31–1, higher = closer to knowing nothing.", "≈", "retrain", "retrain", "cheap", "methods.md B3; Chundawat et al. 2023")
_m("mia_loss_acc", "Loss-attack accuracy", "privacy", "Logistic regression on the per-image loss, forget images vs unseen test images of the same classes (equal sizes, 5 shuffle splits); 50 % = cannot tell.", "≈", "retrain", 0.5, "cheap", "methods.md B4; SCRUB MIA_experiments.ipynb")
_m("mia_loss_auc", "Loss-attack ROC-AUC", "privacy", "ROC-AUC of 'low loss means member' on the same two sets; 0.5 = cannot tell.", "≈", "retrain", 0.5, "cheap", "methods.md B4", unit="")
_m("mia_worst_adv", "Worst-case attack advantage", "privacy", "Best threshold on the loss over all thresholds: max TPR − FPR of calling forget images members against unseen images of the same classes (0 = no leak; balanced accuracy = (1 + this)/2).", "↓", "retrain", 0.0, "cheap", "methods.md B4 (parameter-free variant)", unit="")
_m("mia_worst_chance", "Advantage by chance", "privacy", "95th percentile of the same advantage with the member labels shuffled: what noise alone reaches at these sample sizes.", "↓", "none", 0.0, "cheap", "Lethe", unit="")
_m("mia_nn", "MIA-NN accuracy", "privacy", "RBF-SVM separating forget-class images from the nearest other class by the remaining-class probabilities (class forgetting; reconstruction).", "≈", "retrain", "retrain", "cheap", "methods.md B6 [I]; arXiv 2506.20893")
_m("mia_nn_gap", "MIA-NN gap", "privacy", "|MIA-NN of the model − MIA-NN of the retrained model|.", "↓", "retrain", 0.0, "cheap", "methods.md B6 [I]")
_m("tv_leakage", "TV leakage", "privacy", "Mean total-variation distance between the model's and the retrained model's output distributions on the forget images.", "↓", "retrain", 0.0, "cheap", "methods.md B6; arXiv 2506.20893 v1")
_m("rmia", "rMIA", "privacy", "Feature-level membership attack (logistic regression on penultimate features, 5-fold): share of forget images called members.", "↓", "retrain", "retrain", "cheap", "pour.md rMIA")
# ---------------------------------------------------------------------------------- representation (B9, B11, pour.md)
for tag, who in (("o", "original"), ("r", "retrain")):
    for part, words in (("forget_train", "forget training images"), ("forget_test", "forgotten class's test images"),
                        ("retain_train", "retained training images"), ("retain_test", "other classes' test images")):
        if tag == "o":
            direction, ideal = ("≈", "retrain") if part.startswith("forget") else ("↑", 1.0)
        else:
            direction, ideal = "↑", 1.0
        _m(f"cka_{tag}_{part}", f"CKA vs {who}, {part.replace('_', ' ')}",
           "representation", f"Linear CKA between this model's and the {who} model's penultimate features of the {words} (1 = same representation).",
           direction, who, ideal, "cheap", "methods.md B9; Kim et al. arXiv 2503.06991", unit="")
_m("feature_shift_ratio", "Feature change, share of retrain's", "representation", "(1 − CKA vs original) of this model divided by the retrained model's, on the forget images: 0 = features untouched (suppression), 1 = moved as far as a retrained model's.", "↑", "retrain", 1.0, "cheap", "Lethe, from methods.md B9")
_m("rus_o", "RUS(o)", "representation", "Representation Unlearning Score against the original: harmonic mean of forget-side change and retain-side similarity.", "↑", "original", "retrain", "cheap", "pour.md", unit="")
_m("rus_r", "RUS(r)", "representation", "Representation Unlearning Score against the retrained model (1 = same as the retrained model).", "↑", "retrain", 1.0, "cheap", "pour.md", unit="")
_m("knn_forget", "k-NN probe, forget", "representation", "5-NN (cosine) on frozen training features, labels including the forgotten class; accuracy on the forgotten class's test images (sample forgetting: fit on retain, scored on the forget images). High = still decodable.", "≈", "retrain", "retrain", "moderate", "methods.md B9; UUEF main_knn.py")
_m("knn_retain", "k-NN probe, retain", "representation", "Same k-NN probe, accuracy on the other classes' test images.", "↑", "retrain", 1.0, "moderate", "methods.md B9")
_m("probe_forget", "Linear probe, forget", "representation", "Logistic regression on frozen, standardised features (labels include the forgotten class); accuracy on the forgotten class's test images. High = suppression, not deletion, unless the retrained model scores as high.", "≈", "retrain", "retrain", "moderate", "methods.md B9; 'An Illusion of Unlearning?'")
_m("probe_retain", "Linear probe, retain", "representation", "Same linear probe, accuracy on the other classes' test images.", "↑", "retrain", 1.0, "moderate", "methods.md B9")
_m("suppressed", "Suppressed", "representation", "1 when the outputs no longer recognise the forgotten class (≤ 10 %) but a probe on features that barely moved (1 − CKA < 0.03) still does (≥ 50 %).", "↓", "none", 0.0, "moderate", "methods.md B9/B10", unit="")
_m("nc1", "NC1 (retained classes)", "representation", "Within-class variability relative to between-class spread, tr(Σ_W Σ_B⁺)/C, on the retained classes (0 = fully collapsed).", "↓", "none", 0.0, "cheap", "methods.md B11; Papyan et al. 2020", unit="")
_m("nc2_equinorm", "NC2 equinorm", "representation", "Spread of the class-mean norms (std / mean) on the retained classes.", "↓", "none", 0.0, "cheap", "methods.md B11", unit="")
_m("nc2_equiangle", "NC2 equiangularity", "representation", "Mean |cos + 1/(C−1)| between centred class means: distance from a simplex ETF.", "↓", "none", 0.0, "cheap", "methods.md B11", unit="")
_m("nc3", "NC3 self-duality", "representation", "Distance between the normalised classifier rows and the normalised class means.", "↓", "none", 0.0, "cheap", "methods.md B11", unit="")
_m("nc4", "NC4 NCC disagreement", "representation", "Share of images where the classifier and the nearest-class-mean rule disagree.", "↓", "none", 0.0, "cheap", "methods.md B11")
_m("nc_mean_angle_deg", "Mean class-mean angle", "representation", "Mean pairwise angle of the centred retained class means (ideal: arccos(−1/(C−1))).", "≈", "none", "ideal angle", "cheap", "pour.md", unit="°")
_m("nc_ideal_angle_deg", "Ideal angle", "representation", "arccos(−1/(C−1)) for the C retained classes.", "≈", "none", "—", "cheap", "pour.md", unit="°")
# ---------------------------------------------------------------------------------- restoration (B8, B10)
_m("relearn_auc", "Relearning: mean forget accuracy", "restoration", "Mean forget accuracy over 30 fine-tuning steps on 10 forget images per class (1 % of a sample forget set), measured on the other forget images; output masks removed (the attacker owns the weights).", "≈", "retrain", "retrain", "moderate", "Lethe, after methods.md B10")
_m("relearn_final_acc", "Relearning: final forget accuracy", "restoration", "Forget accuracy after the last step of the relearning attack.", "≈", "retrain", "retrain", "moderate", "Lethe, after methods.md B10")
_m("quant_int8_forget_acc", "Forget accuracy after int8", "restoration", "Forget accuracy after int8 dynamic quantisation of the Linear layers (CPU).", "≈", "retrain", "retrain", "cheap", "Zhang et al. 2024")
_m("quant_fp16_forget_acc", "Forget accuracy after float16", "restoration", "Forget accuracy after rounding every weight to float16 and back.", "≈", "retrain", "retrain", "cheap", "Lethe")
_m("quant_base_forget_acc", "Forget accuracy before rounding", "restoration", "Forget accuracy of the same rows before quantisation (the baseline of the two above).", "≈", "retrain", "retrain", "cheap", "Lethe")
_m("avg_gap", "Avg. Gap", "restoration", "Mean of |UA − UA_R|, |RA − RA_R|, |TA − TA_R|, |MIA − MIA_R| against the retrained model (SalUn).", "↓", "retrain", 0.0, "cheap", "methods.md B8")
# ---------------------------------------------------------------------------------- cost (B8)
_m("audit_seconds", "Audit time", "cost", "Seconds spent on this audit (attacks, probes, restoration); not part of the method's time.", "↓", "none", 0.0, "cheap", "Lethe", unit="s")
_m("fb_passes", "Passes over the data", "cost", "Images sent forward with gradients on (forward + backward) during the method, divided by the training-set size. Retrain: the recipe's epochs × retain share.", "↓", "none", 0.0, "cheap", "methods.md B8", unit="")
_m("peak_memory_mb", "Peak memory", "cost", "CUDA: peak allocated memory during the method. CPU: growth of the process's peak resident memory during the method (a lower bound; 0 when it stayed below an earlier peak).", "↓", "none", 0.0, "cheap", "methods.md B8", unit="MB")
_m("ulira_auc", "U-LiRA AUC", "privacy", "Per-example likelihood-ratio attack between 'trained then unlearned' and 'never trained on' shadow models (K shadows, approximate for small K); 0.5 ideal.", "≈", "none", 0.5, "expensive", "methods.md B5", unit="")
_m("klom_mean", "KLoM (mean)", "privacy", "Mean over forget images of KL(oracle margins ‖ unlearned margins) from N retrained and N unlearned models (approximate for small N).", "↓", "none", 0.0, "expensive", "methods.md B7", unit="")


def catalog_json() -> list[dict[str, Any]]:
    return [m.to_json() for m in all_metrics()]
