"""Work the studio asks of the worker besides an unlearning run, as event generators.

``prepare`` loads a dataset and obtains the original model (trained and cached on first use, or
read from a checkpoint) so that the panes can show classes, thumbnails and an embedding before any
run. It runs on the worker thread only and yields engine events plus :class:`Prepared`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

import numpy as np

from engine._core.cancel import CancelToken
from engine.data import load_dataset
from engine._core.device import resolve_device
from engine._core.events import Event, Log, Progress, forward
from engine._core.progress import StageEta, Throttle
from engine.train.features import extract
from engine.live.geometry import FixedBasis, select_probe
from engine.runs.normalisation import bundle_for_model
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec

MAX_EMBED_POINTS = 5000


@dataclass(frozen=True)
class Prepared(Event):
    """Dataset and original model are ready.

    bundle: the (read-only, shared) DatasetBundle; arch: the original's architecture;
    embed_idx: (M,) training rows embedded; embed_coords: (M, 2) their original features on the
    fixed class-mean basis (for picking samples in the embedding plot).
    """

    source: str
    model: dict[str, Any]
    bundle: Any
    arch: str
    embed_idx: np.ndarray
    embed_coords: np.ndarray


def prepare(runner: Runner, spec: JobSpec, token: CancelToken) -> Iterator[Event]:
    """Load ``spec.dataset`` and the original ``spec.model``; end with a :class:`Prepared`.

    The spec is validated first (:meth:`JobSpec.validated`), as the Runner does for a run."""
    spec = spec.validated()
    yield Progress("data", 0.0, f"loading {spec.dataset}")
    bundle = load_dataset(spec.dataset)
    yield Log(f"data: {bundle.name}, {len(bundle.x_train)} train / {len(bundle.x_test)} test images")
    for note in bundle.notes:
        yield Log(f"data: {note}", level="warning")
    token.check()
    device = resolve_device(spec.device)
    # The runner keeps originals in memory, so the first run after prepare starts at once.
    gen = runner.load_original(spec, bundle, device, token)
    eta, throttle = StageEta(runner.clock), Throttle(runner.clock)

    def training(ev: Progress) -> Progress | None:
        left = eta.eta("original", ev.fraction)  # the training's own fraction: its ETA
        if not throttle.ready(ev.fraction >= 1.0):
            return None
        return Progress("original", 0.05 + 0.9 * ev.fraction, ev.message, eta_s=left)

    model, arch, _recipe = yield from forward(gen, training)
    token.check()
    bundle, norm_note = bundle_for_model(bundle, model, imported="checkpoint" in spec.model)
    if norm_note:
        yield Log(norm_note)
    yield Progress("original", 0.96, "embedding the training set")
    idx = select_probe(bundle.y_train, np.zeros(0, dtype=np.int64), max_points=MAX_EMBED_POINTS, seed=spec.seed)
    feats = extract(model, bundle.x_train[idx], bundle.mean, bundle.std, device=device, token=token).features
    basis = FixedBasis.from_features(feats, bundle.y_train[idx], bundle.num_classes)
    coords = basis.project(feats).astype(np.float32)  # (M, 2)
    yield Progress("original", 1.0, "ready")
    yield Prepared(spec.dataset, dict(spec.model), bundle, arch, idx.copy(), coords)


def spec_key(spec: JobSpec) -> str:
    """A stable text key of a spec (tests, logs)."""
    return json.dumps(spec.to_json(), sort_keys=True)
