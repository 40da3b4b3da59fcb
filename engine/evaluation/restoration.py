"""Can the forgotten knowledge be brought back? Relearning, quantisation, and the gap to retrain.

- :func:`relearn_attack` — fine-tune a copy of the model on a few forget images for a few steps
  and follow the accuracy on the *other* forget images. A model that only suppressed the data
  recovers it much faster than a model retrained without it (the honest reference: a retrained
  model also learns from the few images, so compare the two curves, never the raw number).
  Setting from the relearning literature (e.g. Lynch et al. 2024; "Suppression or Deletion",
  methods.md B10, a cheaper stand-in for its SAE injection): 10 images per forgotten class, or
  1 % of a sample forget set (at least 10), SGD, full batch, BatchNorm statistics frozen.
  The attacker owns the weights, so an output mask (``logit_mask``) is removed first.
- :func:`quantised_forget_accuracy` — forget accuracy after int8 dynamic quantisation of the
  Linear layers (``torch.ao``, CPU only) and after a float16 round trip of every weight. Small
  weight edits can be undone by rounding (Zhang et al. 2024, "Catastrophic failure of LLM
  unlearning via quantization"); the deployed model (mask kept) is evaluated.
- :func:`avg_gap` — SalUn's Avg. Gap to retrain (methods.md B8).
"""
from __future__ import annotations

import copy
import warnings
from typing import Any
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.bundle import normalise
from engine.models.base import LetheModel, eval_mode, freeze_batchnorm

RELEARN_PER_CLASS = 10  # images per forgotten class handed to the attacker
RELEARN_FRACTION = 0.01  # share of a sample-level forget set handed to the attacker (≥ 10 images)
RELEARN_STEPS = 30  # optimiser steps; the curve is evaluated every RELEARN_EVAL_EVERY steps
RELEARN_EVAL_EVERY = 3
# Gentle on purpose: with lr 0.01 a retrained cnn_small relearns a digit from 10 images in ~6
# steps, as fast as any suppressed model, and the attack tells nothing apart; at 0.003 the
# retrained model needs ~18 steps while a masked original is at 100 % from step 0.
RELEARN_LR = 0.003
RELEARN_MAX_EVAL = 1024  # held-out forget rows the curve is measured on


def _no_check() -> None:
    return None


def _forget_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, mean: Any, std: Any, device: Any,
                     check: Callable[[], None] = _no_check) -> float:
    if len(x) == 0:
        return float("nan")
    correct = 0
    with eval_mode(model), torch.inference_mode():
        for s in range(0, len(x), 512):
            check()
            xb = normalise(x[s : s + 512], mean, std, device)
            pred = model(xb).argmax(1).cpu().numpy()
            correct += int((pred == y[s : s + 512]).sum())
    return correct / len(x)


def attack_rows(forget_idx: np.ndarray, labels: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """The forget rows given to the attacker: RELEARN_PER_CLASS per class (class forgetting) or
    RELEARN_FRACTION of the set, at least 10 (sample forgetting); seeded, sorted."""
    rng = np.random.default_rng(seed)
    idx = np.asarray(forget_idx)
    if kind == "class":
        parts = [rng.permutation(idx[labels[idx] == c])[:RELEARN_PER_CLASS] for c in np.unique(labels[idx])]
        rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    else:
        k = min(len(idx), max(10, round(RELEARN_FRACTION * len(idx))))
        rows = rng.permutation(idx)[:k]
    # keep at least half of the forget set for measuring
    return np.sort(rows[: max(1, len(idx) // 2)]).astype(np.int64)


def relearn_attack(
    model: LetheModel,
    x_train: np.ndarray,
    y_train: np.ndarray,
    forget_idx: np.ndarray,
    kind: str,
    mean: Any,
    std: Any,
    *,
    device: torch.device | str = "cpu",
    steps: int = RELEARN_STEPS,
    lr: float = RELEARN_LR,
    eval_every: int = RELEARN_EVAL_EVERY,
    seed: int = 0,
    check: Callable[[], None] = _no_check,
) -> dict[str, Any]:
    """Fine-tune a copy on a few forget images; return the forget-accuracy curve on the rest.

    Returns dict(steps (list of evaluated steps, 0 first), acc (same length, fractions),
    n_attack, n_eval, attack_rows (dataset indices), final_acc, auc (mean of the curve)). The
    model passed in is never modified. ``check`` is called every step and evaluation batch; it may
    raise to stop (a job's cancel).
    """
    rows = attack_rows(forget_idx, y_train, kind, seed)
    held = np.setdiff1d(np.asarray(forget_idx), rows)
    if len(held) > RELEARN_MAX_EVAL:
        held = np.sort(np.random.default_rng(seed + 1).choice(held, RELEARN_MAX_EVAL, replace=False))
    x_eval, y_eval = x_train[held], y_train[held]
    attacker = copy.deepcopy(model.exportable()).to(device)
    attacker.logit_mask = []  # the attacker owns the weights: an output mask is not a defence
    attacker.requires_grad_(True)
    xa = normalise(x_train[rows], mean, std, device)
    ya = torch.as_tensor(y_train[rows], dtype=torch.long, device=device)
    opt = torch.optim.SGD([p for p in attacker.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    curve_steps = [0]
    curve = [_forget_accuracy(attacker, x_eval, y_eval, mean, std, device, check)]
    gen = torch.Generator().manual_seed(seed)
    batch = 64
    for step in range(1, steps + 1):
        check()
        attacker.train()
        freeze_batchnorm(attacker)  # a batch of one class must not rewrite the BN statistics
        if len(rows) > batch:
            pick = torch.randperm(len(rows), generator=gen)[:batch].to(device)
            xb, yb = xa[pick], ya[pick]
        else:
            xb, yb = xa, ya
        loss = F.cross_entropy(attacker(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            curve_steps.append(step)
            curve.append(_forget_accuracy(attacker, x_eval, y_eval, mean, std, device, check))
    acc = np.asarray(curve, dtype=np.float64)
    return {
        "steps": curve_steps,
        "acc": [float(v) for v in acc],
        "n_attack": len(rows),
        "n_eval": len(held),
        "attack_rows": [int(i) for i in rows],
        "final_acc": float(acc[-1]),
        "auc": float(acc.mean()),
        "lr": lr,
    }


def steps_to_reach(steps: list[int], acc: list[float], target: float) -> int | None:
    """First evaluated step whose accuracy is ≥ ``target`` (None if never)."""
    for s, a in zip(steps, acc, strict=True):
        if a >= target:
            return int(s)
    return None


def _fp16_round_trip(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model)
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return m


def quantised_forget_accuracy(
    model: LetheModel, x: np.ndarray, y: np.ndarray, mean: Any, std: Any, *, device: torch.device | str = "cpu",
    check: Callable[[], None] = _no_check,
) -> dict[str, float]:
    """Forget accuracy of the deployed model (mask kept) after int8 dynamic quantisation of its
    Linear layers (CPU) and after a float16 round trip. Keys: int8, fp16 (NaN if unsupported).
    ``check`` is called between the two and every evaluation batch (it may raise to stop)."""
    base = copy.deepcopy(model.exportable()).to("cpu").eval()
    out: dict[str, float] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            q = quantize_dynamic(base, {nn.Linear}, dtype=torch.qint8)
        out["int8"] = _forget_accuracy(q, x, y, mean, std, "cpu", check)
    except (RuntimeError, ImportError, AssertionError):  # no quantised engine on this platform
        out["int8"] = float("nan")
    check()
    half = _fp16_round_trip(base).to(device)
    out["fp16"] = _forget_accuracy(half, x, y, mean, std, device, check)
    return out


def avg_gap(unlearned: dict[str, Any], retrain: dict[str, Any], kind: str, mia_key: str = "mia_svc") -> float:
    """SalUn's Avg. Gap (B8) = mean(|UA−UA_R|, |RA−RA_R|, |TA−TA_R|, |MIA−MIA_R|), as a fraction.

    UA = 1 − forget accuracy, RA = retain accuracy, TA = test accuracy (remaining classes for class
    forgetting, as SalUn drops the forgotten class from D_t), MIA = MIA-efficacy (B2). Terms
    missing on either side are skipped; NaN if none is available.
    """
    ta = "test_retain_acc" if kind == "class" else "test_acc"
    gaps = []
    for key in ("forget_acc", "retain_acc", ta, mia_key):
        a, b = unlearned.get(key), retrain.get(key)
        if a is None or b is None or not np.isfinite(a) or not np.isfinite(b):
            continue
        gaps.append(abs(float(a) - float(b)))  # |UA−UA_R| = |forget_acc − forget_acc_R|
    return float(np.mean(gaps)) if gaps else float("nan")
