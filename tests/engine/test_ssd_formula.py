"""SSD (methods.md A8) on a 2-layer toy model with hand-set importances and hand-computable gradients.

Dampening: θ_j ← min(λ·I_D[j]/I_f[j], 1)·θ_j where I_f[j] > α·I_D[j], untouched elsewhere.
Importance: mean over batches of the squared batch-mean gradient (SSD) or of |grad| of the mean
squared logit norm (LF-SSD).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine._core.cancel import NEVER
import pytest

from engine.methods.ssd import dampen, full_data_order, importance, importance_per_sample
from engine._core.events import Log, drain


def _toy() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        model[0].bias.copy_(torch.tensor([0.5, -0.5]))
        model[1].weight.copy_(torch.tensor([[2.0, -1.0]]))
    return model


def test_dampening_matches_the_formula_exactly() -> None:
    model = _toy()
    params = dict(model.named_parameters())
    # Hand-set importances. alpha = 10, lambda = 1.
    imp_f = {
        "0.weight": torch.tensor([[50.0, 1.0], [200.0, 0.0]]),
        "0.bias": torch.tensor([10.0, 30.0]),
        "1.weight": torch.tensor([[4.0, 100.0]]),
    }
    imp_d = {
        "0.weight": torch.tensor([[2.0, 1.0], [10.0, 5.0]]),
        "0.bias": torch.tensor([1.0, 1.0]),
        "1.weight": torch.tensor([[0.1, 20.0]]),
    }
    selected = dampen(params, imp_f, imp_d, alpha=10.0, lam=1.0)
    # 0.weight: 50 > 20 -> x 2/50; 1 > 10? no; 200 > 100 -> x 10/200; 0 > 50? no.
    assert torch.equal(model[0].weight.data, torch.tensor([[1.0 * (2 / 50), -2.0], [3.0 * (10 / 200), 4.0]]))
    # 0.bias: 10 > 10? no (strict); 30 > 10 -> x 1/30.
    assert torch.equal(model[0].bias.data, torch.tensor([0.5, -0.5 * (1 / 30)]))
    # 1.weight: 4 > 1 -> x min(0.1/4, 1); 100 > 200? no.
    assert torch.equal(model[1].weight.data, torch.tensor([[2.0 * (0.1 / 4), -1.0]]))
    assert selected == 4


def test_dampening_factor_is_capped_at_one() -> None:
    """With λ large, β = min(λ I_D / I_f, 1) = 1: selected weights stay as they are."""
    model = _toy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    imp_f = {n: torch.full_like(p, 100.0) for n, p in model.named_parameters()}
    imp_d = {n: torch.full_like(p, 1.0) for n, p in model.named_parameters()}
    assert dampen(dict(model.named_parameters()), imp_f, imp_d, alpha=10.0, lam=1000.0) == 8
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def _ctx() -> SimpleNamespace:
    return SimpleNamespace(token=NEVER, device=torch.device("cpu"), normalise=lambda x: torch.as_tensor(x, dtype=torch.float32))


def test_label_free_importance_is_the_mean_absolute_batch_gradient() -> None:
    """f(x) = W x (one Linear, no bias): ∂/∂W mean_b ‖W x_b‖² = (2/B)·W Σ_b x_b x_bᵀ, by hand."""
    W = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(W)
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]], dtype=np.float32)
    imp = drain(importance(_ctx(), model, x, np.zeros(4, dtype=np.int64), 2, label_free=True, lo=0.0, hi=1.0))
    expected = torch.zeros(2, 2)
    for s in (0, 2):
        xb = torch.as_tensor(x[s : s + 2])
        expected += ((2 / 2) * W @ (xb.T @ xb)).abs()
    torch.testing.assert_close(imp["weight"], expected / 2, rtol=0, atol=1e-6)


def test_importance_is_the_mean_squared_batch_mean_gradient() -> None:
    """A 2-layer toy with CE: I = (1/#batches) Σ_batches (∂ CE_batch/∂θ)², gradients of the batch *mean*."""
    model = _toy()
    head = nn.Sequential(model, nn.Linear(1, 3))
    with torch.no_grad():
        head[1].weight.copy_(torch.tensor([[1.0], [-1.0], [0.5]]))
        head[1].bias.zero_()
    x = np.array([[0.5, -1.0], [1.0, 2.0], [0.0, 1.0], [-1.0, 0.5], [2.0, 0.0]], dtype=np.float32)
    y = np.array([0, 2, 1, 0, 2])
    imp = drain(importance(_ctx(), head, x, y, 2, label_free=False, lo=0.0, hi=1.0))
    expected = {n: torch.zeros_like(p) for n, p in head.named_parameters()}
    batches = [(0, 2), (2, 4), (4, 5)]
    for a, b in batches:
        head.zero_grad()
        F.cross_entropy(head(torch.as_tensor(x[a:b])), torch.as_tensor(y[a:b])).backward()
        for n, p in head.named_parameters():
            expected[n] += p.grad.pow(2)
    for n in expected:
        torch.testing.assert_close(imp[n], expected[n] / len(batches), rtol=0, atol=1e-7)
    # The last layer of the toy by hand for the single-row batch: softmax(z) − onehot times the input.
    z_in = head[0](torch.as_tensor(x[4:5])).detach()  # (1, 1)
    p = torch.softmax(head(torch.as_tensor(x[4:5])).detach(), 1)  # (1, 3)
    g_last = (p - F.one_hot(torch.tensor([2]), 3)).T @ z_in  # (3, 1)
    head.zero_grad()
    F.cross_entropy(head(torch.as_tensor(x[4:5])), torch.tensor([2])).backward()
    torch.testing.assert_close(head[1].weight.grad, g_last, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------ importance batching (issue 12)
def _events(gen):  # noqa: ANN001, ANN202
    out = []
    while True:
        try:
            out.append(next(gen))
        except StopIteration:
            return out

def test_per_sample_importance_is_the_mean_of_single_row_squared_gradients() -> None:
    """The paper's Fisher: per-sample importances (vmap) equal batches of one row, BatchNorm in eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    model[1].running_mean.uniform_(-0.5, 0.5)
    model[1].running_var.uniform_(0.5, 2.0)
    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0, 2, 2])
    for label_free in (False, True):
        want = drain(importance(_ctx(), model, x, y, 1, label_free=label_free, lo=0.0, hi=1.0))
        got = drain(importance_per_sample(_ctx(), model, x, y, label_free=label_free, lo=0.0, hi=1.0, chunk=3,
                                             vectorised=True))
        for n in want:
            torch.testing.assert_close(got[n], want[n], rtol=1e-5, atol=1e-7)
    assert not model.training


def _split_ctx(y_train: np.ndarray, forget: np.ndarray, seed: int = 0) -> SimpleNamespace:
    retain = np.setdiff1d(np.arange(len(y_train)), forget)
    return SimpleNamespace(bundle=SimpleNamespace(y_train=y_train), split=SimpleNamespace(retain_idx=retain, forget_idx=forget),
                           seed=seed)


def test_class_sorted_order_is_the_reference_loader_retain_by_class_then_forget() -> None:
    y = np.array([2, 0, 1, 0, 2, 1, 3, 0])
    forget = np.array([1, 3])  # two class-0 rows (sample forgetting)
    order = full_data_order(_split_ctx(y, forget), "class_sorted")  # type: ignore[arg-type]
    assert order.tolist() == [7, 2, 5, 0, 4, 6, 1, 3]  # retain: 0 | 1 1 | 2 2 | 3, stable; then forget rows
    shuffled = full_data_order(_split_ctx(y, forget, seed=1), "shuffled")  # type: ignore[arg-type]
    assert sorted(shuffled.tolist()) == list(range(8)) and shuffled.tolist() != list(range(8))
    assert full_data_order(_split_ctx(y, forget, seed=1), "shuffled").tolist() == shuffled.tolist()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="importance_batches"):
        full_data_order(_split_ctx(y, forget), "by_size")  # type: ignore[arg-type]


def test_class_sorted_batching_dampens_far_fewer_weights_than_mixed_batches(digits, digits_original) -> None:  # noqa: ANN001
    """Issue 12: at α = 10 mixed-class batches nearly cancel (small I_D) and select many more weights
    than the reference's class-sorted loader (digits class 3: 9,508 vs ~50,000 of 94,186)."""
    from engine.data import ForgetSpec
    from engine.methods import MethodContext
    from engine.methods.ssd import run_ssd

    split = ForgetSpec(classes=(3,)).resolve(digits)
    counts = {}
    for mode in ("class_sorted", "shuffled"):
        ctx = MethodContext(original=digits_original, bundle=digits, split=split, device=torch.device("cpu"),
                            recipe=None, seed=0)  # type: ignore[arg-type]
        logs = [e.message for e in _events(run_ssd(ctx, 10.0, 1.0, 0, False, "SSD", mode)) if isinstance(e, Log)]
        counts[mode] = int(next(m for m in logs if "dampened" in m).split()[2])
    assert 0 < counts["class_sorted"] < 0.5 * counts["shuffled"], counts


def test_importance_batching_is_a_recorded_parameter(runner) -> None:  # noqa: ANN001
    from engine.methods import get
    from engine.runs.spec import JobSpec

    assert get("ssd").default_params().importance_batches == "class_sorted"
    assert get("lf_ssd").default_params().importance_batches == "class_sorted"
    assert get("ssd").presets["small"]["importance_batches"] == "per_sample"  # forgetting checked in test_methods_behaviour
    spec = JobSpec(method="lf_ssd", params={"importance_batches": "shuffled"}, reference=None,
                   evaluate=False, geometry=False, audit=False)
    record = runner.run_to_record(spec)
    assert record.params["importance_batches"] == "shuffled" and record.params["alpha"] == 10.0
