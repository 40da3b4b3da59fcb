"""The dialects checkpoints are saved in, read by content rather than by file suffix.

Public unlearning code saves classifiers in many ways; this module turns what ``torch.load``
(``weights_only=True``) or safetensors returns into a plain state dict with Lethe's names, and
says in one line what it mapped:

* containers: a bare state dict, or one inside ``state_dict`` / ``model_state_dict`` / ``model`` /
  ``net`` / ... (OPTML ``.pth.tar`` training checkpoints, PyTorch Lightning ``.ckpt`` whose keys
  carry the LightningModule attribute, e.g. ``model.``);
* prefixes: ``module.`` (DataParallel / DDP), ``_orig_mod.`` (torch.compile), a prefix shared by
  every key (Lightning);
* names: the head as ``fc`` / ``linear`` / ``classifier`` / ..., the architecture's own names for
  wrapped torchvision / timm / plugin models (:attr:`LetheModel.native_names`), the weiaicunzai
  ``pytorch-cifar100`` ResNet names (``conv2_x.0.residual_function.0``) used by SSD;
* pruning: ``weight_orig * weight_mask`` (torch.nn.utils.prune) folded into ``weight``;
* precision: float16 / bfloat16 / float64 tensors cast to float32;
* normalisation inside the model: ``<name>.mean`` / ``<name>.std`` buffers (OPTML's
  ``normalize``) become the model's :class:`InputNorm` instead of being dropped.

Files that hold code rather than weights are refused before anything is unpickled, each with
what to provide instead: a TorchScript archive (``torch.jit.save``), an exported program
(``torch.export.save``, ``.pt2``) and a whole pickled model (``torch.save(model)``).
"""
from __future__ import annotations

import json
import math
import pickletools
import re
import struct
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine._core.errors import BadCheckpoint
from engine.models.input_norm import InputNorm

SAFETENSORS = "safetensors"
TORCH_ZIP = "torch zip"
TORCH_LEGACY = "torch legacy pickle"

STRIP_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DDP, torch.compile
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module", "weights", "params",
                "model_state")
HEAD_ALIASES = ("fc", "linear", "classifier", "last_linear", "logits", "out", "output", "fc_out", "head.fc",
                "heads.head", "classifier.fc")
_NORM_PAIRS = (("mean", "std"), ("mu", "sigma"))
_LIBRARY_MODULES = ("torch.", "collections.", "builtins.", "__builtin__.", "_codecs.", "numpy.", "copyreg.")
_MAX_PICKLE_SCAN = 64 * 1024 * 1024  # data.pkl of a state dict is kilobytes; never scan more than this
_STATE_ONLY = "save the weights with torch.save(model.state_dict(), 'weights.pt') (or safetensors) and give that file"


# ---------------------------------------------------------------------------------------------- file kinds


def sniff(path: Path) -> str:
    """The file's kind from its bytes: :data:`SAFETENSORS`, :data:`TORCH_ZIP` or :data:`TORCH_LEGACY`.

    Raises BadCheckpoint, with what to provide instead, for a TorchScript archive, an exported
    program, a whole pickled model, or bytes that are no weights file at all. Nothing is unpickled.
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
    size = path.stat().st_size
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8 and head[8:9] == b"{":
            return SAFETENSORS
    if head.startswith(b"PK\x03\x04"):
        _refuse_code_archives(path)
        return TORCH_ZIP
    if head[:1] == b"\x80":
        return TORCH_LEGACY
    raise BadCheckpoint(f"{path} is corrupt or not a weights file (unrecognised header)",
                        hint="give a PyTorch state dict (torch.save(model.state_dict(), ...)) or a .safetensors file")


def _refuse_code_archives(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if any("/code/" in n for n in names) or any(n.endswith("/constants.pkl") for n in names):
                raise BadCheckpoint(
                    f"{path.name} is a TorchScript archive (torch.jit.save): it holds compiled code, which Lethe does not run",
                    hint="from the model before scripting (or torch.jit.load(path).state_dict()), " + _STATE_ONLY)
            if any(n.endswith("/archive_format") or "serialized_exported_program" in n for n in names):
                raise BadCheckpoint(
                    f"{path.name} is an exported program (torch.export.save, .pt2): a graph, not a state dict",
                    hint="from torch.export.load(path).module() or the original model, " + _STATE_ONLY)
            pkl = [i for i in infos if i.filename.endswith("data.pkl")]
            if pkl and pkl[0].file_size <= _MAX_PICKLE_SCAN:
                classes = _pickled_classes(zf.read(pkl[0]))
                modules = [c for c in classes if c.startswith("torch.nn.modules.")]
                if modules:
                    user = [c for c in classes if not c.startswith(_LIBRARY_MODULES)]  # the root class comes first
                    what = f" ({user[0]})" if user else f" ({modules[0].rsplit('.', 1)[-1]})"
                    raise BadCheckpoint(
                        f"{path.name} is a whole pickled model{what}, saved with torch.save(model): loading it would "
                        "run the code of its classes, which Lethe never does",
                        hint="where that code is importable and the file trusted, " + _STATE_ONLY)
    except zipfile.BadZipFile as exc:
        raise BadCheckpoint(f"{path} is corrupt or not a weights file (damaged zip archive: {exc})",
                            hint="re-export or re-download the checkpoint") from exc


def _pickled_classes(data: bytes) -> list[str]:
    """``module.name`` of every global a pickle references, in order, read without unpickling it."""
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                found.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str) and op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(arg)
    except (ValueError, EOFError):  # a damaged pickle: torch.load will say so
        pass
    return found


def safetensors_arch(path: Path) -> str | None:
    """The architecture a safetensors header names (``lethe_arch`` metadata, as Lethe writes), if any."""
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100 * 1024 * 1024:
                return None
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        return None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    arch = meta.get("lethe_arch") if isinstance(meta, dict) else None
    return arch if isinstance(arch, str) and arch else None


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class Reading:
    """A checkpoint's weights as a clean state dict, with what was done to get there.

    state: name -> float32 (or integer) tensor, prefixes stripped, masks folded, normalisation
    buffers removed; input_norm: from those buffers; declared_arch: what the file itself says
    (a wrapper's ``arch`` entry, safetensors metadata); steps: human-readable notes, in order.
    """

    state: dict[str, torch.Tensor]
    wrapper: str | None = None
    input_norm: InputNorm | None = None
    norm_buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    declared_arch: str | None = None
    steps: list[str] = field(default_factory=list)
    renames: list[str] = field(default_factory=list)  # filled by fit_names

    def summary(self) -> str:
        """One line: what was mapped (or "as saved")."""
        parts = ([f"wrapper {self.wrapper!r}"] if self.wrapper else []) + self.steps + self.renames
        return "; ".join(parts) if parts else "state dict used as saved"


def _is_state(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, path: Path) -> Reading:
    """Find the state dict inside what ``torch.load`` returned; BadCheckpoint when there is none."""
    wrapper: str | None = None
    declared: str | None = None
    if isinstance(obj, Mapping) and not _is_state(obj):
        lightning = any(str(k).startswith("pytorch-lightning") for k in obj)
        declared = _declared_arch(obj)
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and not _is_state(inner):  # {"model": {"state_dict": ...}}
                nested = next((k for k in WRAPPER_KEYS if _is_state(inner.get(k))), None)
                if nested is not None:
                    obj, wrapper = inner[nested], f"{key}.{nested}"
                    break
            if _is_state(inner):
                obj, wrapper = inner, key
                break
        if wrapper is not None and lightning:
            wrapper = f"Lightning checkpoint {wrapper}"
    if not isinstance(obj, Mapping) or not obj:
        raise BadCheckpoint(f"{path} does not hold a state dict (found {type(obj).__name__})",
                            hint="save model.state_dict(), not the model or a training state")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        listed = ", ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        raise BadCheckpoint(f"{path} does not hold a plain state dict: non-tensor entries {listed}",
                            hint="save model.state_dict(), or wrap it as {'state_dict': ...}")
    reading = Reading({str(k): v for k, v in obj.items()}, wrapper=wrapper, declared_arch=declared)
    _strip_prefixes(reading)
    _fold_pruning(reading)
    _take_norm_buffers(reading)
    _to_float32(reading)
    return reading


def _declared_arch(obj: Mapping[str, Any]) -> str | None:
    for holder in (obj, obj.get("hyper_parameters"), obj.get("config"), obj.get("args")):
        if isinstance(holder, Mapping):
            for key in ("arch", "architecture", "model_name"):
                value = holder.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


def _strip_prefixes(r: Reading) -> None:
    counts: dict[str, int] = {}
    out: dict[str, torch.Tensor] = {}
    for name, value in r.state.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in STRIP_PREFIXES:
                if name.startswith(prefix):
                    name, stripped = name[len(prefix):], True
                    counts[prefix] = counts.get(prefix, 0) + 1
        out[name] = value
    r.state = out
    r.steps += [f"prefix {p!r} stripped" for p in counts]


def _fold_pruning(r: Reading) -> None:
    folded = 0
    out: dict[str, torch.Tensor] = {}
    for name, value in r.state.items():
        if name.endswith("_mask") and name[:-5] + "_orig" in r.state:
            continue
        if name.endswith("_orig") and name[:-5] + "_mask" in r.state:
            out[name[:-5]] = value * r.state[name[:-5] + "_mask"].to(value.dtype)
            folded += 1
        else:
            out[name] = value
    r.state = out
    if folded:
        r.steps.append(f"{folded} pruning masks folded (weight_orig × weight_mask)")


def _take_norm_buffers(r: Reading) -> None:
    """``<p>.mean`` + ``<p>.std`` (1-4 values each, not BatchNorm's running_*) -> InputNorm."""
    for name in list(r.state):
        for m_key, s_key in _NORM_PAIRS:
            suffix = "." + m_key
            if not name.endswith(suffix) and name != m_key:
                continue
            stem = name[: -len(m_key)]
            std_name = stem + s_key
            mean, std = r.state.get(name), r.state.get(std_name)
            if mean is None or std is None or not 1 <= mean.numel() <= 4 or mean.numel() != std.numel():
                continue
            if not mean.is_floating_point() or not std.is_floating_point():
                continue
            # float32 buffers: 7 significant digits give back the value the model was written with (0.4914, not 0.49140000343)
            values_m = [float(f"{float(v):.7g}") for v in mean.detach().float().reshape(-1)]
            values_s = [float(f"{float(v):.7g}") for v in std.detach().float().reshape(-1)]
            if not all(math.isfinite(v) for v in values_m + values_s) or min(values_s) <= 0:
                continue
            r.norm_buffers = {name: r.state.pop(name), std_name: r.state.pop(std_name)}
            r.input_norm = InputNorm(tuple(values_m), tuple(values_s), source="checkpoint")
            r.steps.append(f"{name}/{s_key} buffers -> input normalisation")
            return


def _to_float32(r: Reading) -> None:
    kinds: dict[str, int] = {}
    for name, value in r.state.items():
        if value.is_floating_point() and value.dtype != torch.float32:
            kinds[str(value.dtype).replace("torch.", "")] = kinds.get(str(value.dtype).replace("torch.", ""), 0) + 1
            r.state[name] = value.float()
    r.steps += [f"{n} {k} tensors cast to float32" for k, n in kinds.items()]


# ---------------------------------------------------------------------------------------------- names


NameMap = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor] | None]


def _prefix_map(pairs: Iterable[tuple[str, str]]) -> NameMap:
    """Rename by the first matching (from, to) prefix; None when no key uses any ``from``."""
    pairs = tuple(pairs)

    def apply(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        out: dict[str, torch.Tensor] = {}
        used = False
        for name, value in state.items():
            for old, new in pairs:
                if name.startswith(old):
                    name, used = new + name[len(old):], used or bool(old)
                    break
            out[name] = value
        return out if used or any(old == "" for old, _ in pairs) else None

    return apply


def _ssd_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """weiaicunzai/pytorch-cifar100 ResNet names (SSD's models) -> torchvision's."""
    if not any(re.match(r"conv\d_x\.", k) for k in state):
        return None
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        k = k.replace("conv1.0.", "conv1.", 1) if k.startswith("conv1.0.") else k
        k = k.replace("conv1.1.", "bn1.", 1) if k.startswith("conv1.1.") else k
        m = re.match(r"conv(\d)_x\.(\d+)\.(.*)", k)
        if m:
            rest = m.group(3)
            for a, b in (("residual_function.0.", "conv1."), ("residual_function.1.", "bn1."),
                         ("residual_function.3.", "conv2."), ("residual_function.4.", "bn2."),
                         ("shortcut.", "downsample.")):
                rest = rest.replace(a, b)
            k = f"layer{int(m.group(1)) - 1}.{m.group(2)}.{rest}"
        out[k] = v
    return out


def _common_prefix(state: Mapping[str, torch.Tensor]) -> str | None:
    firsts = {k.split(".", 1)[0] for k in state}
    if len(firsts) == 1 and all("." in k for k in state):
        return firsts.pop() + "."
    return None


def _candidates(state: dict[str, torch.Tensor], native: tuple[tuple[str, str], ...]
                ) -> list[tuple[list[str], dict[str, torch.Tensor]]]:
    """(description, renamed state) for every name mapping worth trying, the unchanged state first."""
    bases: list[tuple[list[str], dict[str, torch.Tensor]]] = [([], state)]
    current, stripped = state, []
    for _ in range(2):  # Lightning's "model." (and one more level, e.g. "model.net.")
        prefix = _common_prefix(current)
        if prefix is None:
            break
        current = {k[len(prefix):]: v for k, v in current.items()}
        stripped.append(prefix)
        bases.append(([f"common prefix {''.join(stripped)!r} stripped"], current))
    maps: list[tuple[str, NameMap]] = []
    if native:
        label = ", ".join(f"{old or ''}* -> {new}*" for old, new in native)
        maps.append((f"the architecture's own names: {label}", _prefix_map(native)))
    maps += [(f"{alias}.* -> head.*", _prefix_map([(alias + ".", "head.")])) for alias in HEAD_ALIASES]
    maps.append(("pytorch-cifar100 ResNet names -> torchvision's", _ssd_names))
    out = list(bases)
    for notes, base in bases:
        for label, fn in maps:
            mapped = fn(base)
            if mapped is not None:
                out.append(([*notes, label], mapped))
                if label.startswith("pytorch-cifar100"):
                    for alias in ("fc", "linear"):
                        again = _prefix_map([(alias + ".", "head.")])(mapped)
                        if again is not None:
                            out.append(([*notes, label, f"{alias}.* -> head.*"], again))
    return out


def _score(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    names = sum(1 for k in expected if k in state)
    shapes = sum(1 for k, v in expected.items() if k in state and tuple(state[k].shape) == tuple(v.shape))
    return shapes, names


def fit_names(reading: Reading, model: nn.Module) -> dict[str, torch.Tensor]:
    """The reading's state renamed to ``model``'s names by the best-fitting mapping (recorded in
    ``reading.renames``); normalisation buffers the model itself has are put back."""
    expected = model.state_dict()
    state = dict(reading.state)
    if reading.norm_buffers and all(k in expected for k in reading.norm_buffers):
        state.update(reading.norm_buffers)
        reading.input_norm = None
        reading.steps = [s for s in reading.steps if "input normalisation" not in s]
    native = tuple(getattr(model, "native_names", ()) or ())
    best_notes: list[str] = []
    best_state, best_score = state, _score(state, expected)
    if best_score[0] < len(expected):
        for notes, candidate in _candidates(state, native)[1:]:
            score = _score(candidate, expected)
            if score > best_score:
                best_notes, best_state, best_score = notes, candidate, score
            if score[0] == len(expected):
                break
    reading.renames = best_notes
    return dict(best_state)


def first_mismatch(state: Mapping[str, torch.Tensor], model: nn.Module) -> str | None:
    """The first difference between ``state`` and ``model``'s own state dict, as one line; None if they fit."""
    expected = model.state_dict()
    for k, v in expected.items():
        if k in state and tuple(state[k].shape) != tuple(v.shape):
            return f"{k}: the file has shape {tuple(state[k].shape)}, the architecture needs {tuple(v.shape)}"
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        return f"{missing[0]} is missing from the file" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        return f"the file has {unexpected[0]}, which the architecture does not" + (
            f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
    return None


def class_count(state: Mapping[str, torch.Tensor]) -> int | None:
    """Rows of ``head.weight``, else of the last 2-D ``*.weight`` (the final Linear comes last)."""
    head = state.get("head.weight")
    if head is not None and head.ndim == 2:
        return int(head.shape[0])
    last = [v for k, v in state.items() if k.endswith("weight") and v.ndim == 2]
    return int(last[-1].shape[0]) if last else None


def input_channels(state: Mapping[str, torch.Tensor]) -> int | None:
    """Input channels of the first 4-D convolution weight, if any."""
    first = next((v for k, v in state.items() if k.endswith("weight") and v.ndim == 4), None)
    return int(first.shape[1]) if first is not None else None


# ---------------------------------------------------------------------------------------------- export


def native_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], str]:
    """The model's weights under its architecture's own names, and how they were named.

    A wrapped torchvision / timm / plugin model gives the original network's names (``net.`` dropped,
    ``head.`` back to e.g. ``classifier.3.``); Lethe's ``resnet18_cifar`` gives torchvision's
    (``head.`` -> ``fc.``: torchvision's resnet18 with a 3x3 stride-1 ``conv1`` and no max-pool loads it);
    other Lethe models keep their names. Tensors are detached CPU copies.
    """
    native = tuple(getattr(model, "native_names", ()) or ())
    pairs = tuple((new, old) for old, new in native) if native else (("head.", "fc."),)
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    if not native and getattr(model, "arch", "") != "resnet18_cifar":
        return state, "Lethe's names"
    renamed = _prefix_map(pairs)(state)
    label = ", ".join(f"{new}* -> {old or ''}*" for new, old in pairs)
    return (renamed if renamed is not None else state), f"the architecture's own names ({label})"
