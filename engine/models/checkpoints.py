"""Checkpoints: safetensors weights plus a JSON sidecar that says how to rebuild the model.

``name.safetensors`` holds the state dict; ``name.json`` holds the architecture config, the logit
mask, the input normalisation, the dataset fingerprint, the recipe and metrics. Weights are written
first and the sidecar last, both atomically, so a sidecar always implies complete weights. Plain
PyTorch state dicts are read with ``torch.load(..., weights_only=True)`` only: a pickle that would
run code is refused, never executed. Files are recognised by content, not suffix, and the dialects
other code saves in (wrappers, prefixes, head names, pruning masks, half precision, normalisation
buffers) are mapped by :mod:`engine.models.dialects`.

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
from engine.models import LetheModel, dialects, model_from_config
from engine.models.input_norm import InputNorm
from engine.models.registry import infer_options, normalise_image_size

SCHEMA_VERSION = 1
FORMAT = "lethe-checkpoint"
SAFETENSORS_SUFFIX = ".safetensors"
# What file pickers offer; loading itself goes by content (engine.models.dialects.sniff), not suffix.
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pth.tar", ".tar", ".ckpt", ".bin")
_RESERVED = ("schema_version", "format", "arch", "config", "logit_mask", "num_classes", "input_shape",
             "weights_file", "weights_sha256", "weights_fingerprint", "input_norm")
_PASS_ARCH_HINT = ('name the architecture the weights were trained with: "arch" in the JobSpec\'s model field, '
                   "--arch for `python -m engine inspect`, or arch=... in Python")
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
    A non-empty logit mask and a known input normalisation are hashed too: the same weights with a
    class masked, or fed other pixel statistics, give other logits.
    """
    h = hashlib.sha256()
    mask = sorted(int(i) for i in getattr(model, "logit_mask", None) or [])
    if mask:
        h.update(f"logit_mask={mask}".encode())
    norm = getattr(model, "input_norm", None)
    if isinstance(norm, InputNorm):
        h.update(f"input_norm={norm.to_json()}".encode())
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
        # {"mean": [...], "std": [...]} of inputs in [0, 1]; None only for a model built outside the runner
        "input_norm": model.input_norm.to_json() if model.input_norm is not None else None,
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
    """Unwrap {"state_dict": ...} / {"model": ...}, strip prefixes, fold masks (engine.models.dialects)."""
    return dialects.unwrap(obj, path).state


def _resolve_config(info: Mapping[str, Any] | None, arch: str | None, config: Mapping[str, Any] | None,
                    state: Mapping[str, torch.Tensor], expect_num_classes: int | None,
                    expect_input_shape: Sequence[int] | None, path: Path) -> dict[str, Any]:
    """Sidecar config, overridden by explicit arguments, completed from the weights or expectations."""
    cfg: dict[str, Any] = dict(info["config"]) if info and isinstance(info.get("config"), Mapping) else {}
    if config:
        cfg.update(config)
    if arch and arch != cfg.get("arch"):
        cfg = {k: v for k, v in cfg.items() if k in ("in_channels", "image_size", "num_classes")}  # other arch's options
        cfg.update({**infer_options(arch, state), **(config or {}), "arch": arch})
    if "arch" not in cfg:
        raise BadCheckpoint(f"{path} has no sidecar saying which architecture it is", hint=_PASS_ARCH_HINT)
    if "num_classes" not in cfg:
        found = dialects.class_count(state)
        if found is not None:
            cfg["num_classes"] = found
        elif expect_num_classes is not None:
            cfg["num_classes"] = int(expect_num_classes)
    if expect_input_shape is not None and len(expect_input_shape) == 3:
        cfg.setdefault("in_channels", int(expect_input_shape[0]))
        cfg.setdefault("image_size", [int(expect_input_shape[1]), int(expect_input_shape[2])])
    channels = dialects.input_channels(state)
    if channels is not None and "in_channels" not in cfg:
        cfg["in_channels"] = channels
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
                or (isinstance(v, float) and np.isfinite(v) and abs(v) < 1e12)):
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
            def fmt(s: Sequence[int]) -> str:
                return "x".join(str(v) for v in s)
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
    """Load a checkpoint into a fresh model (CPU, eval mode, logit mask and input normalisation restored).

    The file is recognised by content (safetensors, ``torch.save`` zip or legacy pickle, whatever its
    suffix); its dialect is mapped by :mod:`engine.models.dialects`. The architecture comes from
    ``arch``/``config``, else the sidecar (``name.json``), else the file itself (safetensors metadata,
    a wrapper's ``arch`` entry); without any, BadCheckpoint names the best-fitting guess. Returns the
    model and the sidecar information (synthesised when there is no sidecar), with ``dialect`` (one
    line: what was mapped), ``file_format`` and ``input_norm_source`` added.
    """
    path = Path(path)
    if not path.exists() and path.suffix != SAFETENSORS_SUFFIX and checkpoint_paths(path)[0].exists():
        path = checkpoint_paths(path)[0]  # "dir/name" as passed to save_checkpoint
    if not path.is_file():
        raise BadCheckpoint(f"no checkpoint file at {path}", hint="check the path")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise BadCheckpoint(f"cannot read {path} ({exc.strerror or exc})",
                            hint="check the file's permissions, or copy it somewhere readable") from None
    kind, sidecar, info, reading = read_checkpoint(path)
    state = reading.state
    if (info and info.get("weights_sha256") and info.get("weights_file") == path.name
            and sha256_file(path) != info["weights_sha256"]):
        raise BadCheckpoint(f"{path.name} does not match the checksum in {sidecar.name if sidecar else 'its sidecar'}: "
                            "the file is corrupt or was replaced", hint="re-export or re-download the checkpoint")

    named = arch or (config or {}).get("arch") or _sidecar_arch(info)
    if named is None:
        declared = _known_arch(reading.declared_arch)
        if declared is None:
            raise _no_architecture(path, info, reading, expect_num_classes, expect_input_shape)
        try:
            return load_checkpoint(path, arch=declared, config=config, expect_num_classes=expect_num_classes,
                                   expect_input_shape=expect_input_shape)
        except BadCheckpoint:
            raise _no_architecture(path, info, reading, expect_num_classes, expect_input_shape) from None

    bad = nonfinite_tensor(state)
    if bad is not None:
        raise BadCheckpoint(f"{path.name} has non-finite weights ({bad})", hint=_NONFINITE_HINT)

    cfg = _resolve_config(info, named, config, state, expect_num_classes, expect_input_shape, path)
    _check_expectations(cfg, expect_num_classes, expect_input_shape, path)
    model = _build_model(cfg, state, path)
    state = _fit_state(model, dialects.fit_names(reading, model), path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadCheckpoint(f"{path.name} could not be loaded into {_describe(model)}: {exc}",
                            hint=_PASS_ARCH_HINT) from exc
    model.eval()

    mask = (info or {}).get("logit_mask") or []
    if not isinstance(mask, list) or not all(isinstance(i, int) and 0 <= i < model.num_classes for i in mask):
        raise BadCheckpoint(f"{sidecar.name if sidecar else path.name} has an invalid logit_mask {mask!r}",
                            hint="restore the .json file saved with the weights")
    model.logit_mask = sorted(mask)
    model.input_norm = _input_norm(info, reading, sidecar or path)

    out = dict(info) if info else _sidecar(model, None)
    out.update(arch=model.arch, config=dict(model.config), logit_mask=list(model.logit_mask),
               num_classes=model.num_classes, input_shape=_input_shape(model.config), weights_path=str(path),
               input_norm=model.input_norm.to_json() if model.input_norm else None,
               input_norm_source=model.input_norm.source if model.input_norm else None,
               dialect=reading.summary(), file_format=kind, wrapper=reading.wrapper)
    return model, out


def read_checkpoint(path: Path) -> tuple[str, Path | None, dict[str, Any] | None, dialects.Reading]:
    """(file kind, sidecar path, sidecar contents, the weights as a dialects.Reading), nothing built yet.

    The file is recognised by content; TorchScript, exported programs and pickled models are refused.
    """
    kind = dialects.sniff(path)
    sidecar = _sidecar_path(path)
    info = _read_sidecar(sidecar) if sidecar is not None else None
    if kind == dialects.SAFETENSORS:
        reading = dialects.unwrap(_load_safetensors(path), path)
        reading.declared_arch = reading.declared_arch or dialects.safetensors_arch(path)
    else:
        reading = dialects.unwrap(_load_torch(path), path)
    return kind, sidecar, info, reading


def _sidecar_path(path: Path) -> Path | None:
    """``name.json`` beside the weights (``x.pth.tar``: ``x.pth.json`` or ``x.json``), if one exists."""
    candidates = [path.with_suffix(".json"), path.with_name(path.name.split(".", 1)[0] + ".json")]
    return next((p for p in candidates if p != path and p.is_file()), None)


def _sidecar_arch(info: Mapping[str, Any] | None) -> str | None:
    if not info:
        return None
    cfg = info.get("config")
    value = cfg.get("arch") if isinstance(cfg, Mapping) else None
    value = value or info.get("arch")  # a hand-written sidecar may give only a top-level "arch"
    return value if isinstance(value, str) and value else None


def _known_arch(name: str | None) -> str | None:
    """A name the file declares, as a Lethe architecture name (``resnet18`` -> ``torchvision:resnet18``)."""
    if not name:
        return None
    from engine.models.registry import available_models

    if name in available_models() or ":" in name:
        return name
    import torchvision

    if name in torchvision.models.list_models(module=torchvision.models):
        return f"torchvision:{name}"
    return None


def _input_norm(info: Mapping[str, Any] | None, reading: dialects.Reading, where: Path) -> InputNorm | None:
    """Sidecar ``input_norm``, else its ``mean``/``std`` (older Lethe sidecars), else the file's own buffers."""
    if info and info.get("input_norm") is not None:
        return _norm_from(info["input_norm"], where)
    if info and info.get("mean") is not None and info.get("std") is not None:
        return _norm_from({"mean": info["mean"], "std": info["std"]}, where)
    return reading.input_norm


def _norm_from(value: Any, where: Path) -> InputNorm:
    try:
        return InputNorm.from_json(value, source="sidecar")
    except LetheError as exc:
        raise BadCheckpoint(f"{where.name}: {exc.message}", hint="fix input_norm in the sidecar") from None


def _no_architecture(path: Path, info: Mapping[str, Any] | None, reading: dialects.Reading,
                     expect_num_classes: int | None, expect_input_shape: Sequence[int] | None) -> BadCheckpoint:
    """"Cannot tell the architecture", with the best-fitting guess to confirm."""
    from engine.models.guess import guess_architecture

    shape = tuple(int(v) for v in expect_input_shape) if expect_input_shape is not None else None
    guesses = guess_architecture(reading, in_channels=shape[0] if shape else None,
                                 image_size=(shape[1], shape[2]) if shape else None, num_classes=None)
    where = "its sidecar has no architecture" if info else "it has no sidecar"
    message = f"cannot tell the architecture of {path.name}: {where}"
    if guesses and guesses[0].exact:
        g = guesses[0]
        message += f"; its weights fit {g.describe()}"
        opts = "".join(f', "{k}": {v}' for k, v in g.options)
        hint = (f'add "arch": "{g.arch}"{opts} to the JobSpec\'s model field (--arch {g.arch} for inspect); '
                "then compare its predictions on a few images with your own code, since weights cannot show "
                "parameter-free layers such as a max-pool")
        return BadCheckpoint(message, hint=hint)
    if guesses:
        message += f"; the closest architecture is {guesses[0].describe()}"
    return BadCheckpoint(message, hint=_PASS_ARCH_HINT)
