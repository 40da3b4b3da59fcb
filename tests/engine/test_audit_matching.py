"""Issue 12: membership attacks on class-matched samples, honest "not applicable", one-image forget sets.

Each test guards one case of ``../shared/cases/audit/``: fail_04 (rMIA learns the class mix),
fail_01 (a forgotten class without test images: MIA-NN's neighbour silently class 0, "advantage
nan"), fail_07 (a batch of one through BatchNorm) and fail_08 ("never reaches 50 %", "1 − CKA nan").
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from engine._core.cancel import CancelToken
from engine._core.events import drain
from engine.data import ForgetSpec
from engine.evaluation.audit.verdicts import verdicts
from engine.methods import MethodContext, available, get
from engine.methods.base import params_from_json
from engine.metrics.mia import match_classes, nearest_class
from engine.metrics.rmia import rmia_matched
from engine.models.base import LetheModel
from engine.models.registry import make_config, register_model
from engine.train.recipe import Recipe

from tests.engine.test_methods_contract import FAST


# ------------------------------------------------------------------------------ matching
def test_match_classes_gives_both_sides_the_same_class_counts() -> None:
    a = np.array([0] * 50 + [1] * 5 + [2] * 7)
    b = np.array([0] * 10 + [1] * 20 + [3] * 4)
    ia, ib, info = match_classes(a, b, seed=0)
    assert np.array_equal(np.bincount(a[ia], minlength=4), np.bincount(b[ib], minlength=4))
    assert info["per_class"] == {"0": 10, "1": 5} and info["n"] == 15
    assert info["dropped"] == {"2": [7, 0], "3": [0, 4]}
    ia, ib, info = match_classes(a, b, seed=0, cap=6)
    assert info["capped"] and len(ia) == len(ib) <= 6
    assert np.array_equal(np.bincount(a[ia], minlength=4), np.bincount(b[ib], minlength=4))


def _shifted_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits pixels with a test split whose class mix differs from training: half of class 3 goes
    to the test split, a tenth of every other class."""
    dg = load_digits()
    x, y = dg.data.astype(np.float64), dg.target
    rng = np.random.default_rng(seed)
    te = np.zeros(len(y), bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        te[rng.choice(idx, int(len(idx) * (0.5 if c == 3 else 0.1)), replace=False)] = True
    return x[~te], y[~te], x[te], y[te]


def test_rmia_of_a_model_that_never_saw_the_forget_set_is_chance_on_a_shifted_split() -> None:
    """Raw pixels are the features of a model that saw neither split (the ideal retrained model):
    no membership signal at all, so a matched attack sits at 0.5; the unmatched one learns the class."""
    matched, unmatched = [], []
    for seed in range(3):
        xtr, ytr, xte, yte = _shifted_digits(seed)
        forget = ytr == 3  # forget class 3: 92 training images, 91 test images; others ~9:1
        score, info = rmia_matched(xtr, ytr, xte, forget, test_labels=yte, seed=seed)
        assert info["matched"] and info["n"] == info["n_nonmembers"]
        assert info["per_class"]["3"] == int(np.count_nonzero(yte == 3))
        matched.append(score)
        unmatched.append(rmia_matched(xtr, ytr, xte, forget, seed=seed)[0])
    assert abs(np.mean(matched) - 0.5) <= 0.1, matched
    assert abs(np.mean(unmatched) - 0.5) > 0.2, unmatched  # the split really shifts the class mix


def test_rmia_is_not_applicable_when_the_forget_class_has_no_test_images() -> None:
    xtr, ytr, xte, yte = _shifted_digits(0)
    keep = yte != 3
    score, info = rmia_matched(xtr, ytr, xte[keep], ytr == 3, test_labels=yte[keep], seed=0)
    assert np.isnan(score) and info["forget_in_pool"] == 0


def test_nearest_class_refuses_zero_rows_instead_of_answering_class_0() -> None:
    with pytest.raises(ValueError):
        nearest_class(np.zeros((0, 10)), [9])
    p = np.full((4, 10), 0.01)
    p[:, 3] = 0.9
    assert nearest_class(p, [9]) == 3


# ------------------------------------------------------------------------------ audit on a run
def test_class_without_test_images_audit_says_not_applicable(runner, tmp_path) -> None:  # noqa: ANN001
    """fail_01: class 9 keeps its training images but has no test image."""
    from engine import JobSpec

    dg = load_digits()
    x = np.clip(dg.images * 16, 0, 255).astype(np.uint8)
    y = dg.target.astype(np.int64)
    rng = np.random.default_rng(0)
    te = rng.random(len(y)) < 0.2
    te &= y != 9
    np.savez(tmp_path / "notest.npz", x_train=x[~te], y_train=y[~te], x_test=x[te], y_test=y[te])
    spec = JobSpec(dataset=f"npz:{tmp_path}/notest.npz", model={"arch": "cnn_small", "recipe": {"epochs": 2}},
                   forget={"classes": [9]}, method="pour_p", reference="retrain", geometry=False)
    rec = runner.run_to_record(spec)
    details = rec.audit["details"]
    assert details["mia_nn_neighbour"]["class"] != 9
    assert "training images" in details["mia_nn_neighbour"]["from"]
    assert details["not_applicable"]["mia_worst_adv"] == "not applicable: class 9 has no test images"
    private = next(v for v in rec.audit["verdicts"] if v["key"] == "private")
    assert "not applicable: class 9 has no test images" in private["summary"]
    for v in rec.audit["verdicts"]:
        assert "nan" not in v["summary"].lower(), v["summary"]
    assert set(details["matched"]) >= {"svc", "entropy", "loss", "mia_nn"}


# ------------------------------------------------------------------------------ verdict text
def _one_image_metrics() -> tuple[dict[str, float], dict[str, Any]]:
    nan = float("nan")
    m = {"forget_acc": 1.0, "test_acc": 0.9, "retain_acc": 1.0, "cka_o_forget_train": nan, "probe_forget": 1.0,
         "knn_forget": 1.0, "mia_svc": 0.0, "mia_worst_adv": nan, "mia_worst_chance": nan, "relearn_auc": nan,
         "relearn_final_acc": nan, "quant_base_forget_acc": 1.0, "quant_int8_forget_acc": 1.0,
         "quant_fp16_forget_acc": 1.0}
    why = "not applicable: one forget image (needs at least 2)"
    d = {"relearn": {"steps": [0, 10], "acc": [nan, nan], "n_attack": 1, "n_eval": 0, "lr": 0.01},
         "not_applicable": {k: why for k in ("cka_o_forget_train", "mia_worst_adv", "relearn_auc")}}
    return m, d


@pytest.mark.parametrize("with_retrain", [False, True])
def test_one_forget_image_verdicts_give_the_reason_not_a_false_claim(with_retrain: bool) -> None:
    """fail_08: no "never reaches", no "nan"; the reason is in the sentence."""
    m, d = _one_image_metrics()
    r = (copy.deepcopy(m), copy.deepcopy(d)) if with_retrain else None
    vs = {v.key: v for v in verdicts(m, d, "sample", retrain=r[0] if r else None, retrain_details=r[1] if r else None,
                                     original=m, original_details=d)}
    for v in vs.values():
        assert "nan" not in v.summary.lower(), v.summary
    assert "never reaches" not in vs["relearn"].summary
    assert "one forget image" in vs["relearn"].summary
    # the quantisation check passes, but the relearning attack could not run: never a PASS
    assert vs["relearn"].status == "warn", vs["relearn"].status
    assert vs["features"].status == "n/a" and "one forget image" in vs["features"].summary
    assert "one forget image" in vs["private"].summary


# ------------------------------------------------------------------------------ batches of one
class _BN1dNet(LetheModel):
    """flatten -> Linear(64, 16) -> BatchNorm1d -> ReLU = features: a batch of one row cannot pass
    BatchNorm in train mode (one value per channel), as resnet18_cifar's last block on 8-px images."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__(make_config("_test_bn1d", in_channels, image_size, num_classes))
        self.arch = "_test_bn1d"
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size[0] * image_size[1], 16),
                                  nn.BatchNorm1d(16), nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, 16)
        return self.body(x)


register_model("_test_bn1d")(lambda c, s, k: _BN1dNet(c, s, k))

SAMPLE_METHODS = [m for m in available() if "sample" in get(m).kinds]


@pytest.fixture(scope="module")
def bn1d_original(digits):  # noqa: ANN001, ANN201
    from engine.train.loop import train

    torch.manual_seed(0)
    model = _BN1dNet(digits.channels, digits.image_size, digits.num_classes)
    drain(train(model, digits.x_train, digits.y_train, digits.mean, digits.std, Recipe(epochs=1, batch_size=128),
                device=torch.device("cpu"), seed=0))
    return model.eval().requires_grad_(False)


@pytest.mark.parametrize("method", SAMPLE_METHODS)
def test_single_image_forget_set_runs_through_batchnorm(method: str, digits, bn1d_original) -> None:  # noqa: ANN001
    """fail_07: one forget image, every method that accepts samples, a model whose BatchNorm sees
    one value per channel; the loop runs such batches with the layer's running statistics."""
    info = get(method)
    split = ForgetSpec(ids=(12,)).resolve(digits)
    ctx = MethodContext(original=bn1d_original, bundle=digits, split=split, probe=None, device=torch.device("cpu"),
                        recipe=Recipe(epochs=1, lr=0.05, batch_size=64), seed=0, token=CancelToken(),
                        reference=copy.deepcopy(bn1d_original), extras={"use_cache": False})
    params = params_from_json(info.params, FAST.get(method, {}))
    model = drain(info.fn(ctx, params))
    with torch.no_grad():
        out = model.eval()(digits.normalise(digits.x_test[:4]))
    assert out.shape == (4, digits.num_classes) and torch.isfinite(out).all()


# ------------------------------------------------------------------------------ reference protocols
def test_reference_faithful_defaults() -> None:
    """SCRUB does not augment (reference loaders); POUR-P's class-mean direction is centred;
    the entropy MIA's binary C = 2 is the reference's two-class multinomial with C = 1."""
    from engine.methods.pour.pour_p import PourPParams
    from engine.methods.scrub import ScrubParams
    from engine.metrics.mia import ENTROPY_MIA_C

    assert ScrubParams().augment is False
    assert PourPParams().centre_mean is True
    assert ENTROPY_MIA_C == 2.0
