"""The metric catalog: every number Lethe shows, with its label, direction, format, meaning and source.

One :class:`MetricInfo` per key of ``RunRecord.metrics`` (plus ``time_ratio`` of ``bench methods``).
The studio's runs table, the CLI tables and the HTML report take their column labels, direction
glyphs, number formats and definitions from here and nowhere else; ``RUN_TABLE_KEYS`` are the
columns the runs table and the CLI share.

Directions (``direction`` → ``glyph``):

- ``"up"`` (↑): higher is better (retain-side accuracies, CKA to the retrained model, AUS, RUS);
- ``"down"`` (↓): lower is better (forgotten-class test accuracy, attack advantage, gaps, cost);
- ``"ref"`` (≈R): best when it equals the retrained model's value, the gold standard of
  unlearning. A number that is too high *or* too low is a visible trace (the "Streisand" effect of
  over-forgetting a random sample);
- ``"info"`` (no glyph): context for another number (a chance level, an ideal angle), not a score.

How the directions follow the metric specs (methods.md section B, pour.md "Metrics"):

- ``forget_acc`` ≈R: B1's UA target is the retrained model's (its test error for a random sample;
  0 % for a class). ``test_acc`` ≈R too: in class forgetting it includes the forgotten class, so a
  good model *loses* that class's share, and in sample forgetting SalUn's Avg. Gap scores
  |TA − TA_R| (B8) — "↑" would reward not forgetting.
- ``test_forget_acc`` ↓ (ideal 0): a retrained model never saw the class and recognises none of its
  test images (C3); AUS divides by 1 + this accuracy, i.e. POUR treats it as lower-is-better.
- ``test_retain_acc``, ``retain_acc`` ↑: utility on what is kept.
- ``aus`` ↑ (1 = no retain loss and no forget accuracy; it can exceed 1 when retain accuracy rises).
- ``rus_o`` ↑, not ≈R: pour.md defines RUS as a harmonic mean of the forget-side change
  Φ_f = 1 − CKA to the original and the retain-side CKA, and the POUR paper reports it as a score
  (POUR-D 0.85 on CIFAR-10). The retrained model is *not* its ideal: at small scale it scores only
  0.3–0.55 because its features of the unseen class still resemble the original's (pour.md
  "independent small-scale run"); the tables show its value beside the method's as the yardstick.
- ``rus_r`` ↑ (ideal 1: the retrained model against itself scores exactly 1).
- ``rmia`` ↓: pour.md says "Lower is better" (share of forget images called members).
- ``mia_svc`` ≈R (B2: "the target is the retrain value"), ``mia_entropy`` ↓ (B3: "Lower is
  better"), ``mia_loss_*`` ≈R (B4: "Ideal = retrain's value"), ``mia_nn`` ≈R and its gap ↓ (B6),
  NC1–NC4 ↓ (B11: 0 = full collapse), ``avg_gap`` ↓ (B8), ``ulira_auc`` ≈R (B5: 0.5, what a
  retrained model scores), ``klom_mean`` ↓ (B7: 0 is perfect).

A metric that cannot be computed for a run is ``null`` in the record with a reason
(``RunRecord.metric_na``); :meth:`MetricInfo.format` shows it as ``NA_TEXT`` ("n/a"), never "nan".
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DIRECTIONS = ("up", "down", "ref", "info")
GLYPHS = {"up": "↑", "down": "↓", "ref": "≈R", "info": ""}
DIRECTION_WORDS = {
    "up": "higher is better",
    "down": "lower is better",
    "ref": "closest to the retrained model is best",
    "info": "context for another number, not a score",
}
COSTS = ("cheap", "moderate", "expensive")
GROUPS = ("accuracy", "privacy", "representation", "restoration", "cost")
UNITS = ("%", "", "s", "MB", "°", "×")
NA_TEXT = "n/a"  # what every surface shows for a metric that could not be computed
MISSING_TEXT = "–"  # what every surface shows for a metric this run did not measure


@dataclass(frozen=True)
class MetricInfo:
    """One metric as people see it.

    ``name``: the key in ``RunRecord.metrics``; ``short``: the column label of the runs table and
    the CLI; ``label``: the longer label of the report; ``direction``: one of :data:`DIRECTIONS`;
    ``ideal``: the best value when it is a fixed number (None: none, or the retrained model's for
    "ref"); ``unit``: "%" (a fraction shown ×100), "" (a plain number), "s", "MB", "°" or "×";
    ``digits``: decimals shown; ``definition``: one plain-words sentence; ``source``: the paper.
    """

    name: str
    short: str
    label: str
    group: str
    direction: str
    definition: str
    source: str
    unit: str = "%"
    digits: int = 1
    ideal: float | None = None
    cost: str = "cheap"

    def __post_init__(self) -> None:
        for field_name, value, allowed in (("direction", self.direction, DIRECTIONS), ("cost", self.cost, COSTS),
                                           ("group", self.group, GROUPS), ("unit", self.unit, UNITS)):
            if value not in allowed:
                raise ValueError(f"{self.name}: {field_name} {value!r} not in {allowed}")
        if self.direction == "ref" and self.ideal is not None and self.name != "ulira_auc":
            raise ValueError(f"{self.name}: a '≈R' metric's ideal is the retrained model's value, not {self.ideal}")

    @property
    def glyph(self) -> str:
        """↑, ↓, ≈R or "" (info)."""
        return GLYPHS[self.direction]

    @property
    def direction_words(self) -> str:
        return DIRECTION_WORDS[self.direction]

    @property
    def header(self) -> str:
        """The column header of the runs table and the CLI: short label and glyph ("forget ≈R")."""
        return f"{self.short} {self.glyph}".strip()

    @property
    def better(self) -> str:
        """The direction in words with the ideal value: "↓ lower is better; ideal 0.0 %"."""
        text = f"{self.glyph} {self.direction_words}".strip()
        if self.ideal is not None:
            text += f"; ideal {self.format(self.ideal)}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "glyph": self.glyph}

    def format(self, value: Any, *, unit: bool = True) -> str:
        """``value`` as shown to a person: fractions ×100; "n/a" for None / NaN / infinities.

        ``unit=False`` leaves out the unit (table cells whose header carries it).
        """
        if not is_value(value):
            return NA_TEXT
        v = float(value) * (100.0 if self.unit == "%" else 1.0)
        text = f"{v:.{self.digits}f}"
        if not unit or not self.unit:
            return text
        return text + ("°" if self.unit == "°" else f" {self.unit}")


def is_value(v: Any) -> bool:
    """True for a finite real number (not a bool): what a metric cell can show."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


_REGISTRY: dict[str, MetricInfo] = {}


def register_metric(info: MetricInfo) -> MetricInfo:
    """Add ``info``; a second entry under the same name raises ValueError."""
    if info.name in _REGISTRY:
        raise ValueError(f"metric {info.name!r} is registered twice")
    _REGISTRY[info.name] = info
    return info


def get_metric(name: str) -> MetricInfo | None:
    return _REGISTRY.get(name)


def metric(name: str) -> MetricInfo:
    """The entry of ``name``; a generic plain-number entry for a key the catalog does not know."""
    return _REGISTRY.get(name) or MetricInfo(name, name, name, "accuracy", "info", "No definition recorded.", "–",
                                              unit="", digits=3)


def all_metrics() -> list[MetricInfo]:
    return list(_REGISTRY.values())


def format_metric(name: str, value: Any, *, unit: bool = True) -> str:
    """:meth:`MetricInfo.format` of the entry of ``name``."""
    return metric(name).format(value, unit=unit)


def catalog_json() -> list[dict[str, Any]]:
    return [m.to_json() for m in all_metrics()]


def _m(name: str, short: str, label: str, group: str, direction: str, definition: str, source: str,
       **kw: Any) -> None:
    register_metric(MetricInfo(name, short, label, group, direction, definition, source, **kw))


SALUN = "Fan et al., SalUn (ICLR 2024)"
SSD = "Foster et al., Selective Synaptic Dampening (AAAI 2024)"
POUR = "Le et al., POUR (arXiv 2511.19339)"
KIM = "Kim, Cha, Kim, Are We Truly Forgetting? (arXiv 2503.06991)"
TRW = "Tilted ReWeighting (arXiv 2506.20893)"
NC = "Papyan, Han, Donoho, neural collapse (PNAS 2020)"
LETHE = "Lethe"


def guess_level(value: str, who: str = "a random guess") -> str:
    """The plain-words name of a 95 % permutation (or binomial) level, used wherever one is printed:
    "a random guess stays below 0.29 95 % of the time" (never "chance 0.29", which reads as the
    value a model without knowledge gets, while a retrained model may well sit below it)."""
    return f"{who} stays below {value} 95 % of the time"


# ------------------------------------------------------------------------------------------ accuracy
_m("forget_acc", "forget", "Forget accuracy", "accuracy", "ref",
   "Share of the forget-set training images the model still classifies correctly (UA = 1 − this); a retrained "
   "model gets its test error on a random sample and 0 % on a forgotten class.", SALUN)
_m("retain_acc", "retain", "Retain accuracy", "accuracy", "up",
   "Share of the retained training images classified correctly (RA).", SALUN, ideal=1.0)
_m("test_forget_acc", "test forget", "Test accuracy, forgotten class", "accuracy", "down",
   "Share of the forgotten class's test images still classified as that class; a retrained model gets 0 %.",
   SSD, ideal=0.0)
_m("test_retain_acc", "test retain", "Test accuracy, other classes", "accuracy", "up",
   "Share of the other classes' test images classified correctly (SalUn's TA in class forgetting).", SALUN, ideal=1.0)
_m("test_acc", "test", "Test accuracy, all classes", "accuracy", "ref",
   "Share of all test images classified correctly, the forgotten class included, so forgetting a class lowers "
   "it: the target is the retrained model's value.", SALUN)
_m("aus", "AUS", "Adaptive Unlearning Score", "accuracy", "up",
   "(1 − drop in other-class test accuracy from the original) / (1 + forgotten-class test accuracy): 1 = "
   "nothing lost and nothing left; above 1 when the other classes improve.", POUR, unit="", digits=3, ideal=1.0)
_m("time_ratio", "time ÷ Retrain", "Time relative to retraining", "cost", "down",
   "Seconds of the method alone divided by the seconds of retraining from scratch in the same run.",
   SSD + " (run-time protocol)", unit="×", digits=3)
# ------------------------------------------------------------------------------------------ privacy
_m("mia_svc", "MIA-SVC", "MIA-efficacy (SVC attack)", "privacy", "ref",
   "Share of the forget images that an SVM on the true-label confidence calls non-members (members: a stratified "
   "sample of the retain set; non-members: test images of the same classes).",
   SALUN + "; Jia et al., Model Sparsity (NeurIPS 2023)")
_m("mia_svc_shadow_acc", "SVC shadow acc.", "MIA-SVC: held-out shadow accuracy", "privacy", "info",
   "Accuracy of the same SVM at telling its own members (retain images) from non-members (test images) on "
   "rows held out of its fit (5 folds): near 50 % the attack cannot tell them apart on this model (the "
   "verdict then does not grade its MIA-efficacy).", LETHE + ", diagnostic of " + SALUN)
_m("mia_svc_shadow_auc", "SVC shadow AUC", "MIA-SVC: held-out shadow ROC-AUC", "privacy", "info",
   "ROC-AUC of the same SVM's decision values on those held-out shadow rows (0.5 = cannot tell).",
   LETHE + ", diagnostic of " + SALUN, unit="", digits=3)
_m("mia_svc_shadow_chance", "SVC coin-flip 95 %", "MIA-SVC: accuracy a coin flip stays below 95 % of the time",
   "privacy", "info",
   "The held-out accuracy a coin flip stays below 95 % of the time at these shadow sizes "
   "(0.5 + 1.645 · 0.5 / √N).", LETHE)
_m("mia_svc_spread", "SVC spread", "MIA-SVC: spread over shadow folds", "privacy", "info",
   "Largest minus smallest MIA-efficacy of the same SVM fitted on 4 of 5 folds of its shadow data in turn: how "
   "far the score moves with the shadow draw alone.", LETHE + ", diagnostic of " + SALUN)
_m("mia_svc_outside", "SVC outside", "MIA-SVC: forget images outside the shadow range", "privacy", "info",
   "Share of the forget images whose true-label confidence lies outside the range of the SVM's shadow data: "
   "its label for them is extrapolation, not learned.", LETHE + ", diagnostic of " + SALUN)
_m("mia_entropy", "entropy MIA", "Entropy membership attack", "privacy", "down",
   "Share of the forget images that a logistic regression on the prediction entropy calls members (trained on "
   "retain images as members and class-matched test images as non-members).", SSD)
_m("zrf", "ZRF", "Zero Retrain Forgetting score", "privacy", "ref",
   "1 − mean Jensen–Shannon divergence between the model's and a randomly initialised model's outputs on the "
   "forget images (0.31–1; higher = closer to knowing nothing).",
   "Chundawat et al., Can Bad Teaching Induce Forgetting? (AAAI 2023)", unit="", digits=3)
_m("mia_loss_acc", "loss MIA", "Loss-attack accuracy", "privacy", "ref",
   "Accuracy of a logistic regression on the per-image loss telling forget images from unseen test images of "
   "the same classes (equal sizes, 5 splits); 50 % = cannot tell.", "Kurmanji et al., SCRUB (NeurIPS 2023)")
_m("mia_loss_auc", "loss AUC", "Loss-attack ROC-AUC", "privacy", "ref",
   "ROC-AUC of 'a low loss means member' on the same forget and unseen images; 0.5 = cannot tell.",
   "Kurmanji et al., SCRUB (NeurIPS 2023)", unit="", digits=3)
_m("mia_worst_adv", "worst adv.", "Worst-case attack advantage", "privacy", "down",
   "Best loss threshold over all thresholds: its true-positive rate minus false-positive rate at calling forget "
   "images members against unseen images of their classes (0 = no leak).",
   LETHE + ", threshold form of SCRUB's loss attack", unit="", digits=3, ideal=0.0)
_m("mia_worst_chance", "guess adv. 95 %", "Advantage a random guess stays below 95 % of the time", "privacy", "info",
   "The advantage a random guess stays below 95 % of the time: the same attack with the member labels shuffled "
   "(95th percentile of 50 shuffles), what noise alone reaches at these sample sizes. A model that never saw "
   "the forget images usually sits below it.", LETHE, unit="", digits=3)
_m("mia_nn", "MIA-NN", "MIA-NN accuracy", "privacy", "ref",
   "Accuracy of an RBF-SVM telling forgotten-class images from the nearest other class by the model's "
   "probabilities over the remaining classes.", TRW)
_m("mia_nn_gap", "MIA-NN gap", "MIA-NN gap to retrain", "privacy", "down",
   "|MIA-NN of the model − MIA-NN of the retrained model|.", TRW, ideal=0.0)
_m("tv_leakage", "TV leakage", "Total-variation leakage", "privacy", "down",
   "Mean total-variation distance between the model's and the retrained model's output probabilities on the "
   "forget images.", TRW, unit="", digits=3, ideal=0.0)
_m("rmia", "rMIA", "Representation membership attack (rMIA)", "privacy", "down",
   "Share of the forget images that a logistic regression on penultimate features (training images as members, "
   "class-matched test images as non-members, 5 folds) calls members.", POUR)
_m("ulira_auc", "U-LiRA AUC", "U-LiRA attack ROC-AUC", "privacy", "ref",
   "ROC-AUC of a per-image likelihood-ratio test between shadow models trained then unlearned and shadow models "
   "never trained on the images; 0.5 = cannot tell, what a retrained model scores (approximate for few shadows).",
   "Hayes et al., Inexact Unlearning Needs More Careful Evaluations (2024)", unit="", digits=3, ideal=0.5,
   cost="expensive")
_m("klom_mean", "KLoM", "KL divergence of margins (mean)", "privacy", "down",
   "Mean over forget images of the KL divergence between the margins of retrained models and of unlearned "
   "models (approximate for few models).", "Georgiev et al., Datamodel Matching (ICLR 2025)", unit="", digits=3,
   ideal=0.0, cost="expensive")
# ------------------------------------------------------------------------------------------ representation
_m("rus_o", "RUS(o)", "Representation Unlearning Score vs original", "representation", "up",
   "Harmonic mean of how far the forget images' features moved from the original's (1 − CKA) and how similar "
   "the retained images' features stayed (CKA); a retrained model is the yardstick, often well below 1.",
   POUR, unit="", digits=3, ideal=1.0)
_m("rus_r", "RUS(r)", "Representation Unlearning Score vs retrained", "representation", "up",
   "Harmonic mean of the CKA to the retrained model's features on the forget and on the retained images "
   "(1 = the same representation as the retrained model).", POUR, unit="", digits=3, ideal=1.0)
for _tag, _who in (("o", "original"), ("r", "retrained")):
    for _part, _words in (("forget_train", "forget training images"), ("forget_test", "forgotten class's test images"),
                          ("retain_train", "retained training images"), ("retain_test", "other classes' test images")):
        _forget_vs_original = _tag == "o" and _part.startswith("forget")
        _m(f"cka_{_tag}_{_part}", f"CKA {_tag} {_part.replace('_', ' ')}", f"CKA vs {_who}, {_part.replace('_', ' ')}",
           "representation", "ref" if _forget_vs_original else "up",
           f"Linear CKA between this model's and the {_who} model's penultimate features of the {_words} "
           "(1 = the same representation up to rotation and scale).", KIM, unit="", digits=3,
           ideal=None if _forget_vs_original else 1.0)
_m("feature_shift_ratio", "feature shift", "Feature change, share of retrain's", "representation", "ref",
   "How far the forget images' features moved from the original's (1 − CKA), divided by how far the retrained "
   "model's moved: 0 = untouched (suppression), 100 % = as far as retraining.", KIM + "; " + LETHE)
_m("knn_forget", "k-NN forget", "k-NN probe, forgotten data", "representation", "ref",
   "Accuracy of a 5-nearest-neighbour classifier on frozen features on the forgotten class's test images (sample "
   "forgetting: fit on the retain set, scored on the forget images); high = still decodable.", KIM,
   cost="moderate")
_m("knn_retain", "k-NN retain", "k-NN probe, other classes", "representation", "up",
   "The same k-NN probe's accuracy on the other classes' test images.", KIM, ideal=1.0, cost="moderate")
_m("probe_forget", "probe forget", "Linear probe, forgotten data", "representation", "ref",
   "Accuracy of a logistic regression on frozen features (labels include the forgotten class) on the forgotten "
   "class's test images; high means suppressed, not deleted, unless the retrained model scores as high.",
   "An Illusion of Unlearning? (AISTATS 2026)", cost="moderate")
_m("probe_retain", "probe retain", "Linear probe, other classes", "representation", "up",
   "The same linear probe's accuracy on the other classes' test images.", "An Illusion of Unlearning? (AISTATS 2026)",
   ideal=1.0, cost="moderate")
_m("suppressed", "suppressed", "Suppressed, not deleted", "representation", "down",
   "1 when the outputs no longer recognise the forgotten class (≤ 10 %) but a probe on features that barely "
   "moved (1 − CKA < 0.03) still does (≥ 50 %); else 0.", "Jang et al., Suppression or Deletion (WWW 2026)",
   unit="", digits=0, ideal=0.0, cost="moderate")
_m("nc1", "NC1", "NC1 within-class variability", "representation", "down",
   "Within-class spread of the retained classes' features relative to the spread between their means, "
   "tr(Σ_W Σ_B⁺)/C (0 = fully collapsed).", NC, unit="", digits=3, ideal=0.0)
_m("nc2_equinorm", "NC2 norm", "NC2 equinorm", "representation", "down",
   "Spread of the retained class means' lengths (std / mean; 0 = all equal).", NC, unit="", digits=3, ideal=0.0)
_m("nc2_equiangle", "NC2 angle", "NC2 equiangularity", "representation", "down",
   "Mean |cos + 1/(C−1)| between the centred class means: 0 = a simplex (all pairs equally far apart).", NC,
   unit="", digits=3, ideal=0.0)
_m("nc3", "NC3", "NC3 self-duality", "representation", "down",
   "Distance between the normalised classifier rows and the normalised class means (0 = aligned).", NC,
   unit="", digits=3, ideal=0.0)
_m("nc4", "NC4", "NC4 nearest-mean disagreement", "representation", "down",
   "Share of images where the classifier and the nearest-class-mean rule disagree.", NC, ideal=0.0)
_m("nc_mean_angle_deg", "mean angle", "Mean angle between class means", "representation", "info",
   "Mean pairwise angle of the centred retained class means; compare with the ideal angle below.", POUR,
   unit="°")
_m("nc_ideal_angle_deg", "ideal angle", "Ideal simplex angle", "representation", "info",
   "arccos(−1/(C−1)) for the C retained classes: the angle of a perfect simplex.", POUR, unit="°")
# ------------------------------------------------------------------------------------------ restoration
_RELEARN = "Lethe, after Jang et al., Suppression or Deletion (WWW 2026)"
_m("relearn_auc", "relearn mean", "Relearning: mean forget accuracy", "restoration", "ref",
   "Mean forget accuracy over 30 fine-tuning steps on a few forget images (an attacker who owns the weights), "
   "measured on the other forget images.", _RELEARN, cost="moderate")
_m("relearn_final_acc", "relearn final", "Relearning: final forget accuracy", "restoration", "ref",
   "Forget accuracy after the last step of the same relearning attack.", _RELEARN, cost="moderate")
_m("quant_int8_forget_acc", "int8 forget", "Forget accuracy after int8", "restoration", "ref",
   "Forget accuracy after int8 dynamic quantisation of the linear layers.",
   "Zhang et al., Catastrophic Failure of LLM Unlearning via Quantization (2024)")
_m("quant_fp16_forget_acc", "fp16 forget", "Forget accuracy after float16", "restoration", "ref",
   "Forget accuracy after rounding every weight to float16 and back.", LETHE)
_m("quant_base_forget_acc", "forget before rounding", "Forget accuracy before rounding", "restoration", "ref",
   "Forget accuracy on the same images before quantisation (the baseline of the two above).", LETHE)
_m("avg_gap", "Avg. Gap", "Average gap to retrain", "restoration", "down",
   "Mean of the gaps |UA − UA_R|, |RA − RA_R|, |TA − TA_R| and |MIA − MIA_R| to the retrained model.", SALUN,
   ideal=0.0)
# ------------------------------------------------------------------------------------------ cost
_m("audit_seconds", "audit s", "Audit time", "cost", "info",
   "Seconds spent on this audit (attacks, probes, restoration); not part of the method's time.", LETHE,
   unit="s", digits=2)
_m("fb_passes", "passes", "Passes over the data", "cost", "down",
   "Images sent forward with gradients (forward + backward) during the method, divided by the training-set size.",
   SSD + " (run-time protocol)", unit="", digits=2)
_m("peak_memory_mb", "memory", "Peak memory", "cost", "down",
   "GPU: peak allocated memory during the method. CPU: growth of the process's peak resident memory (a lower "
   "bound; 0 when it stayed below an earlier peak).", LETHE, unit="MB")

# The metric columns of the studio's runs table and of the CLI's tables, in this order.
RUN_TABLE_KEYS = ("forget_acc", "retain_acc", "test_forget_acc", "test_retain_acc", "test_acc", "aus", "rus_o",
                  "rus_r", "rmia")
# The numbers of the report's "key numbers" figure (all fractions, on one 0–100 % axis).
KEY_FIGURE_KEYS = ("forget_acc", "test_forget_acc", "test_retain_acc", "test_acc", "mia_svc", "mia_entropy",
                   "probe_forget", "knn_forget", "relearn_auc")
