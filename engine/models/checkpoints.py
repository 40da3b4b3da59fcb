"""Checkpoints: safetensors weights plus a JSON sidecar that says how to rebuild the model.

``name.safetensors`` holds the state dict; ``name.json`` holds the architecture config, the logit
mask, the dataset fingerprint, the recipe and metrics. Weights are written first and the sidecar
last, both atomically, so a sidecar always implies complete weights. Plain PyTorch state dicts
(``.pt``/``.pth``/``.bin``) are read with ``torch.load(..., weights_only=True)`` only: a pickle
that would run code is refused, never executed.

Finiteness is an invariant at this boundary: a model with a NaN or infinite parameter or buffer
(BatchNorm running statistics included) is never saved (:class:`Diverged`) and never loaded
(:class:`BadCheckpoint`), each naming the tensor. A zipped ``.pt`` whose entries declare far
more bytes than the file holds is refused before it is inflated, and a sidecar's config is
checked (types, sizes) before any model is built from it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from engine._core.errors import BadCheckpoint, Diverged, LetheError
from engine._core.fileio import (
    atomic_write_bytes,
    atomic_write_text,
    check_not_input,
    dumps_json,
    sha256_file,
    writing,
)
from engine._core.limits import check_zip_inflation
from engine.models import LetheModel, model_from_config
from engine.models.registry import normalise_image_size

SCHEMA_VERSION = 1
FORMAT = "lethe-checkpoint"
SAFETENSORS_SUFFIX = ".safetensors"
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
_STRIP_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DDP, torch.compile
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_RESERVED = ("schema_version", "format", "arch", "config", "logit_mask", "num_classes", "input_shape",
             "weights_file", "weights_sha256", "weights_fingerprint")
_PASS_ARCH_HINT = "pass the architecture the weights were trained with (arch=... and config=...)"
_MAX_LISTED = 3
_MAX_CHANNELS = 16
_MAX_SIDE = 4096
_MAX_CLASSES = 100_000
MAX_SIDECAR_BYTES = 16 * 2**20
_NONFINITE_HINT = "the weights are broken (a diverged training?); use a checkpoint saved before the divergence"


# ----------------------------------------------------------------------------------------------
# paths and helpers


def checkpoint_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``dir/name`` or ``dir/name.safetensors`` -> (``dir/name.safetensors``, ``dir/name.json``)."""
    path = Path(path)
    weights = path if path.suffix == SAFETENSORS_SUFFIX else path.with_name(path.name + SAFETENSORS_SUFFIX)
    return weights, weights.with_suffix(".json")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _input_shape(config: Mapping[str, Any]) -> list[int]:
    h, w = normalise_image_size(config["image_size"])
    return [int(config["in_channels"]), int(h), int(w)]


def _describe(model: LetheModel) -> str:
    c, h, w = _input_shape(model.config)
    return f"{model.arch!r} ({model.num_classes} classes, input {c}x{h}x{w})"


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-256 over sorted state-dict names, dtypes, shapes and bytes (parameters and buffers).

    Identifies the weights, not the file, e.g. to cache extracted features and logits per model.
    A non-empty logit mask is hashed too: the same weights with a class masked give other logits.
    """
    h = hashlib.sha256()
    mask = sorted(int(i) for i in getattr(model, "logit_mask", None) or [])
    if mask:
        h.update(f"logit_mask={mask}".encode())
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes, any dtype
    return h.hexdigest()


def nonfinite_tensor(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> str | None:
    """``"NaN in <name>"`` / ``"Inf in <name>"`` for the first floating tensor of the state dict
    (parameters and buffers, e.g. BatchNorm running statistics) holding a non-finite value; None
    when every value is finite."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    for name, t in state.items():
        if not isinstance(t, torch.Tensor) or not (t.is_floating_point() or t.is_complex()):
            continue
        if t.device.type == "meta":
            continue
        finite = torch.isfinite(t.detach())
        if not bool(finite.all()):
            bad = t.detach()[~finite]
            kind = "NaN" if bool(torch.isnan(bad).any()) else "Inf"
            return f"{kind} in {name}"
    return None


def check_finite(model: nn.Module, what: str) -> None:
    """Raise :class:`Diverged` (one line, naming the tensor) when ``model`` holds NaN or Inf.

    ``what`` names the model in the message, e.g. ``"pour_p: the unlearned model"``.
    """
    bad = nonfinite_tensor(model)
    if bad is not None:
        raise Diverged(f"{what} has non-finite weights ({bad})")


# ----------------------------------------------------------------------------------------------
# saving


def _sidecar(model: LetheModel, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """Sidecar contents; the model is the truth for reserved keys, ``meta`` adds the rest."""
    info: dict[str, Any] = {"classes": None, "dataset_fingerprint": None, "recipe": None, "metrics": {}}
    info.update({k: v for k, v in (meta or {}).items() if k not in _RESERVED})
    return {
        "schema_version": SCHEMA_VERSION,
        "format": FORMAT,
        "arch": model.arch,
        "config": dict(model.config),
        "logit_mask": sorted(int(i) for i in model.logit_mask),
        "num_classes": model.num_classes,
        "input_shape": _input_shape(model.config),
        **info,
    }


def save_checkpoint(model: LetheModel, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None,
                    *, overwrite: bool = False) -> Path:
    """Write ``name.safetensors`` then ``name.json``; returns the ``.safetensors`` path.

    Refuses to replace an existing checkpoint unless ``overwrite=True`` (so an original model is
    never clobbered by an unlearned one by accident), and, whatever ``overwrite`` says, a file
    that is an input of a running job (:class:`~engine._core.errors.WouldOverwrite`). A model
    with a NaN or infinite weight or buffer is refused with :class:`Diverged` before any file is
    touched; a full or read-only disk is :class:`~engine._core.errors.DiskFull` /
    :class:`~engine._core.errors.NotWritable`. Floats in ``meta`` that are not finite are
    written as ``null``.
    """
    weights, sidecar = checkpoint_paths(path)
    existing = [p for p in (weights, sidecar) if p.exists()]
    if existing and not overwrite:
        raise BadCheckpoint(f"refusing to overwrite existing checkpoint {existing[0]}",
                            hint="choose another name, or pass overwrite=True")
    if not model.arch or "arch" not in model.config:
        raise ValueError("only models built with engine.models.create_model can be saved")
    bad = nonfinite_tensor(model)
    if bad is not None:
        raise Diverged(f"refusing to save {weights}: the model has non-finite weights ({bad})")
    check_not_input(weights)
    check_not_input(sidecar)

    info = _sidecar(model, meta)
    try:
        dumps_json(info, default=_json_default)  # fail before any file is touched
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint meta must be JSON-serialisable: {exc}") from exc

    # safetensors refuses shared or non-contiguous tensors: give it independent CPU copies. The
    # bytes are made in memory and written by atomic_write_bytes (safetensors' own file writer
    # leaves temporaries of its own naming behind on a crash, and its errors carry no errno).
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    payload = safetensors_bytes(tensors, metadata={"format": "pt", "lethe_arch": model.arch})
    if overwrite:
        with writing(sidecar):  # never let an old sidecar describe new, half-written weights
            sidecar.unlink(missing_ok=True)
    atomic_write_bytes(weights, payload)
    del payload
    info["weights_file"] = weights.name
    info["weights_sha256"] = sha256_file(weights)
    info["weights_fingerprint"] = weights_fingerprint(model)
    info["saved_at"] = info.get("saved_at") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(sidecar, dumps_json(info, indent=2, default=_json_default) + "\n")
    return weights


# ----------------------------------------------------------------------------------------------
# loading


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    hint = "restore the .json file saved with the weights, or " + _PASS_ARCH_HINT
    try:
        if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
            raise BadCheckpoint(f"the sidecar {sidecar} is larger than {MAX_SIDECAR_BYTES // 2**20} MB", hint=hint)
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadCheckpoint(f"the sidecar {sidecar} is unreadable, corrupt or not JSON ({type(exc).__name__}: {exc})",
                            hint=hint) from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise BadCheckpoint(f"{sidecar} is not a Lethe checkpoint sidecar",
                            hint="restore the .json file saved with the weights, or " + _PASS_ARCH_HINT)
    version = info.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise BadCheckpoint(f"{sidecar} has schema version {version!r}; this Lethe reads up to {SCHEMA_VERSION}",
                            hint="update Lethe to read this checkpoint")
    expected: dict[str, tuple[type, ...]] = {
        "config": (dict,), "logit_mask": (list,), "weights_file": (str,), "weights_sha256": (str,),
        "recipe": (dict,), "classes": (list,), "metrics": (dict,), "mean": (list,), "std": (list,),
    }
    for key, types in expected.items():
        value = info.get(key)
        if value is not None and not isinstance(value, types):
            raise BadCheckpoint(f"{sidecar}: {key!r} must be {' or '.join(t.__name__ for t in types)} or null, "
                                f"got {type(value).__name__}",
                                hint="restore the .json file saved with the weights, or " + _PASS_ARCH_HINT)
    return info


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # SafetensorError, OSError, ... from a truncated or foreign file
        raise BadCheckpoint(f"{path} is corrupt or not a weights file ({exc})",
                            hint="re-export or re-download the checkpoint") from exc


def _load_torch(path: Path) -> Any:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    # Zip-format torch.save files start with PK\x03\x04; legacy ones with a pickle PROTO opcode.
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):
        raise BadCheckpoint(f"{path} is corrupt or not a weights file (unrecognised header)",
                            hint="give a PyTorch state dict (.pt/.pth/.bin) or a .safetensors file")
    if magic.startswith(b"PK\x03\x04"):  # torch.save stores entries uncompressed: a high ratio is a bomb
        check_zip_inflation(path, error=BadCheckpoint, what="PyTorch checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found or ("global" in text.lower() and "not an allowed" in text):
            what = f" ({found.group(1)})" if found else ""
            raise BadCheckpoint(
                f"{path} contains arbitrary Python objects{what} and was refused for safety",
                hint="export a plain state dict (model.state_dict()) or a .safetensors file from a trusted source",
            ) from exc
        raise BadCheckpoint(f"{path} is corrupt or not a weights file ({type(exc).__name__})",
                            hint="re-export or re-download the checkpoint") from exc


def _as_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Unwrap {"state_dict": ...} / {"model": ...} and strip DataParallel / compile prefixes."""
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise BadCheckpoint(f"{path} does not hold a state dict (found {type(obj).__name__})",
                            hint="save model.state_dict(), not the model or a training state")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise BadCheckpoint(f"{path} does not hold a plain state dict: non-tensor entries {', '.join(bad[:_MAX_LISTED])}",
                            hint="save model.state_dict(), or wrap it as {'state_dict': ...}")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        name = str(key)
        stripped = True
        while stripped:
            stripped = False
            for prefix in _STRIP_PREFIXES:
                if name.startswith(prefix):
                    name, stripped = name[len(prefix):], True
        state[name] = value
    return state


def _resolve_config(info: Mapping[str, Any] | None, arch: str | None, config: Mapping[str, Any] | None,
                    state: Mapping[str, torch.Tensor], expect_num_classes: int | None,
                    expect_input_shape: Sequence[int] | None, path: Path) -> dict[str, Any]:
    """Sidecar config, overridden by explicit arguments, completed from the weights or expectations."""
    cfg: dict[str, Any] = dict(info["config"]) if info and isinstance(info.get("config"), Mapping) else {}
    if config:
        cfg.update(config)
    if arch:
        cfg["arch"] = arch
    if "arch" not in cfg:
        raise BadCheckpoint(f"{path} has no sidecar saying which architecture it is", hint=_PASS_ARCH_HINT)
    if "num_classes" not in cfg:
        head = state.get("head.weight")
        if head is not None and head.ndim == 2:
            cfg["num_classes"] = int(head.shape[0])
        elif expect_num_classes is not None:
            cfg["num_classes"] = int(expect_num_classes)
    if expect_input_shape is not None and len(expect_input_shape) == 3:
        cfg.setdefault("in_channels", int(expect_input_shape[0]))
        cfg.setdefault("image_size", [int(expect_input_shape[1]), int(expect_input_shape[2])])
    missing = [k for k in ("num_classes", "in_channels", "image_size") if k not in cfg]
    if missing:
        raise BadCheckpoint(f"cannot rebuild {cfg['arch']!r} from {path}: unknown {', '.join(missing)}",
                            hint="pass config={'in_channels': ..., 'image_size': [H, W], 'num_classes': ...}")
    _check_config(cfg, path)
    return cfg


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_config(cfg: Mapping[str, Any], path: Path) -> None:
    """Types and sizes of a model config before anything is built from it (a sidecar is input)."""
    hint = "restore the .json file saved with the weights, or " + _PASS_ARCH_HINT

    def bad(what: str) -> BadCheckpoint:
        return BadCheckpoint(f"{path.name}: the model config's {what}", hint=hint)

    if not isinstance(cfg.get("arch"), str) or not cfg["arch"]:
        raise bad(f"arch must be a model name, got {cfg.get('arch')!r}")
    for key, top in (("in_channels", _MAX_CHANNELS), ("num_classes", _MAX_CLASSES)):
        v = cfg[key]
        if not _is_int(v) or not 1 <= int(v) <= top:
            raise bad(f"{key} must be an integer from 1 to {top}, got {v!r}")
    size = cfg["image_size"]
    sides = [size, size] if _is_int(size) else size
    if not (isinstance(sides, (list, tuple)) and len(sides) == 2
            and all(_is_int(v) and 1 <= int(v) <= _MAX_SIDE for v in sides)):
        raise bad(f"image_size must be an integer or [height, width] from 1 to {_MAX_SIDE}, got {size!r}")
    for key, v in cfg.items():
        if key in ("arch", "in_channels", "num_classes", "image_size"):
            continue
        if not (v is None or isinstance(v, (str, bool)) or _is_int(v)
                or isinstance(v, float) and np.isfinite(v) and abs(v) < 1e12):
            raise bad(f"option {key!r} must be a finite number, a string or a boolean, got {v!r}")


def _build_model(cfg: Mapping[str, Any], state: Mapping[str, torch.Tensor], path: Path) -> LetheModel:
    """The model the config describes, after checking on the meta device (no memory) that it is
    not vastly larger than the weights the file holds (a hostile sidecar cannot make Lethe
    allocate a huge model)."""

    def build() -> LetheModel:
        try:
            return model_from_config(cfg)
        except LetheError as exc:
            raise BadCheckpoint(f"{path.name}: {exc.message}", hint=exc.hint or _PASS_ARCH_HINT) from None
        except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
            raise BadCheckpoint(f"cannot build {cfg['arch']!r} from the config of {path.name} ({exc})",
                                hint=_PASS_ARCH_HINT) from exc

    with torch.device("meta"):
        skeleton = build()
    need = sum(t.numel() for t in skeleton.state_dict().values())
    have = sum(t.numel() for t in state.values())
    if need > max(2 * have, have + 1_000_000):
        raise BadCheckpoint(f"{path.name} holds {have:,} weights but its config describes "
                            f"{_describe(skeleton)} with {need:,}", hint=_PASS_ARCH_HINT)
    return build()


def _check_expectations(cfg: Mapping[str, Any], expect_num_classes: int | None,
                        expect_input_shape: Sequence[int] | None, path: Path) -> None:
    if expect_num_classes is not None and int(cfg["num_classes"]) != int(expect_num_classes):
        raise BadCheckpoint(f"{path.name} has {int(cfg['num_classes'])} classes but the dataset has "
                            f"{int(expect_num_classes)}",
                            hint="use a checkpoint trained on this dataset")
    if expect_input_shape is not None:
        found = tuple(_input_shape(cfg))
        expected = tuple(int(v) for v in expect_input_shape)
        if found != expected:
            fmt = lambda s: "x".join(str(v) for v in s)
            raise BadCheckpoint(f"{path.name} takes {fmt(found)} inputs but the dataset has {fmt(expected)} images",
                                hint="use a checkpoint trained on this dataset")


def _fit_state(model: LetheModel, state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Check names and shapes before load_state_dict, with a message a person can act on."""
    expected = model.state_dict()
    # BatchNorm's counter is bookkeeping only; old exports often lack it.
    for name, value in expected.items():
        if name.endswith("num_batches_tracked") and name not in state:
            state[name] = value.clone()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or mismatched):
        return state

    def listed(keys: list[str]) -> str:
        more = f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
        return ", ".join(keys[:_MAX_LISTED]) + more

    parts = []
    if mismatched:
        shown = "; ".join(f"{k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
                          for k in mismatched[:_MAX_LISTED])
        more = f" (+{len(mismatched) - _MAX_LISTED} more)" if len(mismatched) > _MAX_LISTED else ""
        parts.append(f"shape mismatch: {shown}{more}")
    if missing:
        parts.append(f"missing keys: {listed(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {listed(unexpected)}")
    raise BadCheckpoint(f"{path.name} does not fit {_describe(model)}: " + "; ".join(parts),
                        hint="the weights belong to another architecture or class count; " + _PASS_ARCH_HINT)


def load_checkpoint(path: str | os.PathLike[str], *, arch: str | None = None, config: Mapping[str, Any] | None = None,
                    expect_num_classes: int | None = None,
                    expect_input_shape: Sequence[int] | None = None) -> tuple[LetheModel, dict[str, Any]]:
    """Load a checkpoint into a fresh model (CPU, eval mode, logit mask restored).

    ``.safetensors`` needs its ``.json`` sidecar unless ``arch``/``config`` are given; ``.pt``,
    ``.pth`` and ``.bin`` state dicts need them unless a sidecar lies beside the file. Returns the
    model and the sidecar information (synthesised when there is no sidecar).
    """
    path = Path(path)
    if not path.exists() and path.suffix != SAFETENSORS_SUFFIX and checkpoint_paths(path)[0].exists():
        path = checkpoint_paths(path)[0]  # "dir/name" as passed to save_checkpoint
    if not path.is_file():
        raise BadCheckpoint(f"no checkpoint file at {path}", hint="check the path")
    suffix = path.suffix.lower()
    if suffix != SAFETENSORS_SUFFIX and suffix not in TORCH_SUFFIXES:
        raise BadCheckpoint(f"{path.name}: unsupported checkpoint type {suffix or '(no suffix)'}",
                            hint="give a .safetensors file with its .json sidecar, or a .pt/.pth/.bin state dict")

    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise BadCheckpoint(f"cannot read {path} ({exc.strerror or exc})",
                            hint="check the file's permissions, or copy it somewhere readable") from None
    sidecar = path.with_suffix(".json")
    info = _read_sidecar(sidecar) if sidecar.is_file() else None
    if info is None and arch is None and not (config and "arch" in config):
        where = f"its sidecar {sidecar.name} is missing" if suffix == SAFETENSORS_SUFFIX else "it has no sidecar"
        raise BadCheckpoint(f"cannot tell the architecture of {path.name}: {where}", hint=_PASS_ARCH_HINT)

    if suffix == SAFETENSORS_SUFFIX:
        state = _as_state_dict(_load_safetensors(path), path)
    else:
        state = _as_state_dict(_load_torch(path), path)
    if info and info.get("weights_sha256") and info.get("weights_file") == path.name:
        if sha256_file(path) != info["weights_sha256"]:
            raise BadCheckpoint(f"{path.name} does not match the checksum in {sidecar.name}: "
                                "the file is corrupt or was replaced", hint="re-export or re-download the checkpoint")
    bad = nonfinite_tensor(state)
    if bad is not None:
        raise BadCheckpoint(f"{path.name} has non-finite weights ({bad})", hint=_NONFINITE_HINT)

    cfg = _resolve_config(info, arch, config, state, expect_num_classes, expect_input_shape, path)
    _check_expectations(cfg, expect_num_classes, expect_input_shape, path)
    model = _build_model(cfg, state, path)
    state = _fit_state(model, state, path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadCheckpoint(f"{path.name} could not be loaded into {_describe(model)}: {exc}",
                            hint=_PASS_ARCH_HINT) from exc
    model.eval()

    mask = (info or {}).get("logit_mask") or []
    if not isinstance(mask, list) or not all(isinstance(i, int) and 0 <= i < model.num_classes for i in mask):
        raise BadCheckpoint(f"{sidecar.name} has an invalid logit_mask {mask!r}",
                            hint="restore the .json file saved with the weights")
    model.logit_mask = sorted(mask)

    out = dict(info) if info else _sidecar(model, None)
    out.update(arch=model.arch, config=dict(model.config), logit_mask=list(model.logit_mask),
               num_classes=model.num_classes, input_shape=_input_shape(model.config), weights_path=str(path))
    return model, out
