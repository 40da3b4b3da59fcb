"""``python -m engine export CHECKPOINT --out FILE.pt``: weights plain PyTorch code loads without Lethe.

Writes ``FILE.pt`` (a bare state dict under the architecture's own names with ``--names native``:
torchvision's ``fc``/``classifier.3`` instead of Lethe's ``head``) and ``FILE.json`` beside it with
what the weights alone do not say: the logit mask (classes to set to -inf: POUR-P zeroes their
head rows, so unmasked they score 0 and can still win), the input normalisation and class names.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from engine._core.errors import BadSpec
from engine._core.fileio import atomic_write, atomic_write_text
from engine.models.checkpoints import load_checkpoint
from engine.models.dialects import native_state_dict


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix != ".pt":
        raise BadSpec(f"--out {out}: give a .pt file name (the .json is written beside it)")
    beside = out.with_suffix(".json")
    src = Path(args.checkpoint).resolve()
    if out.resolve() == src or beside.resolve() in (src, src.with_suffix(".json")):
        raise BadSpec(f"--out {out} would overwrite the checkpoint being exported; choose another name")
    if (out.exists() or beside.exists()) and not args.overwrite:
        raise BadSpec(f"{out if out.exists() else beside} already exists; pass --overwrite or choose another --out")
    model, info = load_checkpoint(args.checkpoint)
    if args.names == "native":
        state, naming = native_state_dict(model)
    else:
        state, naming = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, "Lethe's names"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: torch.save(state, tmp))
    side = {"arch": model.arch, "config": dict(model.config), "names": naming, "num_classes": model.num_classes,
            "logit_mask": list(model.logit_mask), "input_norm": model.input_norm.to_json() if model.input_norm else None,
            "classes": info.get("classes"), "weights_file": out.name, "from": str(src)}
    atomic_write_text(beside, json.dumps(side, indent=2) + "\n")
    print(f"wrote {out} ({naming}) and {beside}")
    return 0
