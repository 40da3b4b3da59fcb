"""What Lethe sees in a checkpoint file, before anything is run: ``python -m engine inspect PATH``.

:func:`inspect_checkpoint` reads the file the way :func:`load_checkpoint` does (by content,
``weights_only=True``), and reports its format, wrapper, key dialect and mapping, the architecture
(given, from the sidecar or the file, else guessed), class count, input normalisation, and the
first mismatch, each refusal as one sentence with what to do.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine._core.errors import LetheError
from engine.models import dialects
from engine.models.checkpoints import _known_arch, _sidecar_arch, load_checkpoint, read_checkpoint
from engine.models.guess import guess_architecture
from engine.models.registry import create_model

DEFAULT_SIZE = (32, 32)  # image size assumed without a dataset (only ViT-like models care)


@dataclass
class Inspection:
    """The facts ``inspect`` prints; ``problem``/``action`` are set when the file cannot be used as is."""

    path: str
    size_bytes: int = 0
    file_format: str | None = None
    wrapper: str | None = None
    dialect: str | None = None
    tensors: int = 0
    parameters: int = 0
    sidecar: str | None = None
    arch: str | None = None
    arch_from: str | None = None  # "given", "sidecar", "file", "guess"
    guesses: list[str] = field(default_factory=list)
    num_classes: int | None = None
    class_names: list[str] | None = None
    in_channels: int | None = None
    input_norm: dict[str, Any] | None = None
    first_mismatch: str | None = None
    loads: bool = False
    problem: str | None = None
    action: str | None = None
    model_field: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def inspect_checkpoint(path: str | Path, *, arch: str | None = None, input_shape: Sequence[int] | None = None,
                       num_classes: int | None = None) -> Inspection:
    """Inspect ``path``; never raises a LetheError (a refusal becomes ``problem`` + ``action``)."""
    p = Path(path)
    out = Inspection(path=str(p))
    if not p.is_file():
        out.problem, out.action = f"there is no file at {p}", "check the path"
        return out
    out.size_bytes = p.stat().st_size
    try:
        kind, sidecar, info, reading = read_checkpoint(p)
    except LetheError as exc:
        out.problem, out.action = exc.message, exc.hint
        return out
    out.file_format, out.wrapper, out.sidecar = kind, reading.wrapper, str(sidecar) if sidecar else None
    out.tensors = len(reading.state)
    out.parameters = int(sum(v.numel() for v in reading.state.values()))
    out.in_channels = dialects.input_channels(reading.state) or (int(input_shape[0]) if input_shape else None)
    out.num_classes = (info or {}).get("num_classes") or dialects.class_count(reading.state)
    names = (info or {}).get("classes")
    out.class_names = [str(n) for n in names] if isinstance(names, list) else None
    norm = None
    if info and info.get("input_norm"):
        norm = {**info["input_norm"], "source": "sidecar"}
    elif info and info.get("mean") is not None and info.get("std") is not None:
        norm = {"mean": info["mean"], "std": info["std"], "source": "sidecar"}
    elif reading.input_norm is not None:
        norm = {**reading.input_norm.to_json(), "source": "checkpoint"}
    out.input_norm = norm

    shape = tuple(int(v) for v in input_shape) if input_shape is not None else None
    size = (shape[1], shape[2]) if shape else None
    chosen = [(arch, "given"), (_sidecar_arch(info), "sidecar"), (_known_arch(reading.declared_arch), "file")]
    out.arch, out.arch_from = next(((a, w) for a, w in chosen if a), (None, None))
    candidates = []
    if out.arch is None or out.arch_from == "given" or not info:  # a Lethe sidecar needs no guessing (it is slow)
        candidates = guess_architecture(reading, in_channels=shape[0] if shape else None, image_size=size,
                                        num_classes=num_classes)
    out.guesses = [g.describe() for g in candidates]
    if out.arch is None and candidates and candidates[0].exact:
        out.arch, out.arch_from = candidates[0].arch, "guess"
    if out.arch is None:
        out.dialect = reading.summary()
        out.problem = "Lethe cannot tell which architecture these weights belong to" + (
            f" (closest: {out.guesses[0]})" if out.guesses else "")
        out.action = ('name it: "arch" in the JobSpec\'s model field or --arch here (a Lethe model, '
                      "torchvision:<builder>, timm:<name>, or your own through --plugin)")
        return out

    options = dict(next((g.options for g in candidates if g.arch == out.arch), ()))
    if info and isinstance(info.get("config"), dict) and out.arch_from == "sidecar":
        options = {k: v for k, v in info["config"].items() if k not in ("arch", "in_channels", "image_size", "num_classes")}
    c = out.in_channels or 3
    k = num_classes or out.num_classes or 10
    try:
        model = create_model(out.arch, c, size or DEFAULT_SIZE, k, **options)
    except LetheError as exc:
        out.problem, out.action = exc.message, exc.hint
        return out
    state = dialects.fit_names(reading, model)
    out.dialect = reading.summary()
    out.first_mismatch = dialects.first_mismatch(state, model)
    if out.first_mismatch is not None:
        out.problem = f"the weights do not fit {out.arch}: {out.first_mismatch}"
        out.action = (f"check that the file holds a {out.arch}" + (f" (the weights look like {out.guesses[0]})"
                      if out.guesses and not out.guesses[0].startswith(out.arch + " ") else "")
                      + ", or name the right architecture with --arch")
        return out
    try:
        load_checkpoint(p, arch=out.arch, config=options or None,
                        expect_input_shape=shape or (c, *(size or DEFAULT_SIZE)), expect_num_classes=num_classes)
    except LetheError as exc:
        out.problem, out.action = exc.message, exc.hint
        return out
    out.loads = True
    field_: dict[str, Any] = {"checkpoint": str(p.resolve())}
    if out.arch_from in ("given", "guess"):
        field_["arch"] = out.arch
    if norm is None:
        out.action = ("no input normalisation is recorded: the dataset's statistics will be used; if the model was "
                      'trained with others, add "input_norm": {"mean": [...], "std": [...]} to the model field')
    if out.arch_from == "guess":
        out.action = ((out.action + "; ") if out.action else "") + (
            "the architecture is a guess from the weights: compare predictions on a few images with your own code "
            "(weights cannot show parameter-free layers such as a max-pool)")
    out.model_field = field_
    return out


def format_inspection(ins: Inspection) -> str:
    """Plain text, one fact a line (what ``python -m engine inspect`` prints)."""
    def mb(n: int) -> str:
        return f"{n / 1e6:.1f} MB"

    rows: list[tuple[str, str]] = [("file", f"{ins.path}" + (f" ({mb(ins.size_bytes)})" if ins.size_bytes else ""))]
    if ins.file_format:
        rows.append(("format", ins.file_format + (" (read with torch.load weights_only=True)" if "torch" in ins.file_format else "")))
        rows.append(("wrapper", ins.wrapper or "none (a bare state dict)"))
        rows.append(("sidecar", ins.sidecar or "none"))
        rows.append(("tensors", f"{ins.tensors} ({ins.parameters / 1e6:.2f} M values)"))
    if ins.dialect:
        rows.append(("mapping", ins.dialect))
    if ins.arch:
        rows.append(("architecture", f"{ins.arch} ({_FROM.get(ins.arch_from or '', ins.arch_from)})"))
    if ins.guesses:
        rows.append(("fits", "; ".join(ins.guesses)))
    if ins.num_classes is not None:
        names = f": {', '.join(ins.class_names[:10])}{' ...' if len(ins.class_names) > 10 else ''}" if ins.class_names else ""
        rows.append(("classes", f"{ins.num_classes}{names}"))
    if ins.in_channels is not None:
        rows.append(("input", f"{ins.in_channels} channels"))
    if ins.file_format:
        if ins.input_norm:
            fmt = lambda vs: ", ".join(f"{float(v):.4g}" for v in vs)  # noqa: E731
            rows.append(("input norm", f"mean ({fmt(ins.input_norm['mean'])}) std ({fmt(ins.input_norm['std'])}), "
                                       f"{_FROM.get(ins.input_norm['source'], ins.input_norm['source'])}"))
        else:
            rows.append(("input norm", "none recorded: the dataset's statistics will be used"))
    if ins.first_mismatch:
        rows.append(("first mismatch", ins.first_mismatch))
    rows.append(("verdict", "ready: loads into " + str(ins.arch) if ins.loads else f"cannot be used as is: {ins.problem}"))
    if ins.action:
        rows.append(("what to do", ins.action))
    if ins.model_field:
        rows.append(("JobSpec", json.dumps({"model": ins.model_field})))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


_FROM = {"given": "as given", "sidecar": "from the sidecar", "file": "named in the file",
         "guess": "guessed from the weights", "checkpoint": "from buffers inside the checkpoint"}
