"""Property-based tests (hypothesis): every generated spec, sidecar, weights file and record ends in
success or a LetheError, never another exception, and within a deadline (never a hang)."""
from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import struct
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine._core.errors import LetheError
from engine._core.fileio import dumps_json
from engine.data import load_dataset
from engine.methods import available, get
from engine.models.checkpoints import load_checkpoint, save_checkpoint
from engine.runs.record import RunRecord
from engine.runs.spec import JobSpec
from engine.train.pretrained import fresh_model

# A deadline per example (generous: CI machines are shared and the first example warms caches up)
# turns a hang into a failure; pytest-timeout bounds each test as a whole.
SETTINGS = settings(max_examples=250, deadline=10_000, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["digits", "cnn_small", "mlp", "retrain", "paper", "small", "auto", "cpu", "npz:x.npz"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

BASE: dict[str, Any] = {"schema_version": 1, "dataset": "digits", "model": {"arch": "cnn_small", "recipe": {"epochs": 2}},
                        "forget": {"classes": [3]}, "method": "finetune", "params": {}, "reference": None,
                        "seed": 0, "device": "cpu", "evaluate": False, "geometry": False, "audit": False}
SPEC_PATHS = [(k,) for k in [*BASE, "preset", "confirm_cost", "bogus"]] + [
    ("model", k) for k in ("arch", "checkpoint", "recipe", "x")] + [
    ("model", "recipe", k) for k in ("epochs", "lr", "momentum", "weight_decay", "batch_size", "optimizer", "schedule",
                                     "augment", "y")] + [
    ("forget", k) for k in ("classes", "ids", "fraction", "seed", "stratified", "z")]


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(d.get(key), dict):
            d[key] = {}
        d = d[key]
    d[path[-1]] = value


@st.composite
def specs(draw: st.DrawFn) -> Any:
    """A valid spec with a few fields (top level, model, recipe, forget or a method's hyperparameter)
    replaced by arbitrary JSON; sometimes not an object at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    d = copy.deepcopy(BASE)
    method = draw(st.sampled_from(available()))
    d["method"] = method
    names = [f.name for f in dataclasses.fields(get(method).params)] or ["none"]
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            _set(d, ("params", draw(st.sampled_from(names))), draw(json_values))
        else:
            _set(d, draw(st.sampled_from(SPEC_PATHS)), draw(json_values))
    return d


@pytest.mark.timeout(600)
@SETTINGS
@given(specs())
def test_the_spec_parser_ends_in_a_spec_or_a_lethe_error(raw: Any) -> None:
    try:
        spec = JobSpec.from_json(raw)
    except LetheError as exc:
        assert exc.message and "\n" not in exc.one_line()
        return
    # an accepted spec is stable and serialises as strict JSON (no NaN, no Infinity)
    assert spec.validated() == spec
    assert JobSpec.from_json(json.loads(dumps_json(spec.to_json()))) == spec


# ------------------------------------------------------------------------ checkpoints and sidecars
@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="lethe-prop-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Valid:
    """A valid checkpoint's weights bytes and sidecar (short repr: hypothesis prints it on failure)."""

    def __init__(self, weights: bytes, info: dict[str, Any]) -> None:
        self.weights, self.info = weights, info

    def __iter__(self) -> Iterator[Any]:
        return iter((self.weights, self.info))

    def __repr__(self) -> str:
        return f"Valid({len(self.weights)} bytes of cnn_small weights)"


@pytest.fixture(scope="module")
def valid(workdir: Path) -> Valid:
    model = fresh_model("cnn_small", load_dataset("digits"), 0)
    weights = save_checkpoint(model, workdir / "valid" / "m", {"recipe": {"epochs": 2}, "classes": list("0123456789")})
    return Valid(weights.read_bytes(), json.loads(weights.with_suffix(".json").read_text()))


def _write(workdir: Path, weights: bytes, sidecar: Any, suffix: str = ".safetensors") -> Path:
    d = workdir / uuid.uuid4().hex[:10]
    d.mkdir()
    path = d / f"m{suffix}"
    path.write_bytes(weights)
    if sidecar is not None:
        (d / "m.json").write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
    return path


def _load(path: Path) -> None:
    try:
        model, meta = load_checkpoint(path, expect_num_classes=10, expect_input_shape=(1, 8, 8))
    except LetheError as exc:
        assert "\n" not in exc.one_line()
        return
    assert model.num_classes == 10 and isinstance(meta, dict)


SIDECAR_PATHS = [(k,) for k in ("schema_version", "format", "arch", "config", "logit_mask", "num_classes", "input_shape",
                                "weights_file", "weights_sha256", "recipe", "classes", "metrics")] + [
    ("config", k) for k in ("arch", "in_channels", "image_size", "num_classes", "width", "depth")]


@pytest.mark.timeout(600)
@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(SIDECAR_PATHS), json_values), min_size=1, max_size=3), st.booleans())
def test_the_loader_survives_any_sidecar(workdir: Path, valid: Valid,
                                         changes: list[tuple[tuple[str, ...], Any]], drop_hash: bool) -> None:
    weights, info = valid
    side = copy.deepcopy(info)
    if drop_hash:
        side.pop("weights_sha256", None)
    for path, value in changes:
        _set(side, path, value)
    _load(_write(workdir, weights, side))


@pytest.mark.timeout(600)
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch's note on random bytes
@SETTINGS
@given(st.binary(max_size=4096), st.sampled_from([".safetensors", ".pt"]), st.booleans())
def test_the_loader_survives_any_weights_bytes(workdir: Path, valid: Valid, data: bytes,
                                               suffix: str, zip_magic: bool) -> None:
    _, info = valid
    side = {k: v for k, v in info.items() if k not in ("weights_sha256", "weights_file")}
    _load(_write(workdir, (b"PK\x03\x04" if zip_magic else b"") + data, side, suffix))


@pytest.mark.timeout(600)
@SETTINGS
@given(st.dictionaries(st.text(max_size=30), st.fixed_dictionaries(
    {"dtype": st.sampled_from(["F32", "F16", "I64", "U8", "BOOL", "X"]),
     "shape": st.lists(st.integers(-2, 2**40), max_size=4),
     "data_offsets": st.lists(st.integers(-2, 2**40), min_size=0, max_size=3)}), max_size=3),
    st.integers(0, 4096))
def test_the_loader_survives_any_safetensors_header(workdir: Path, valid: Valid,
                                                    header: dict[str, Any], payload: int) -> None:
    _, info = valid
    raw = json.dumps(header).encode()
    side = {k: v for k, v in info.items() if k not in ("weights_sha256", "weights_file")}
    _load(_write(workdir, struct.pack("<Q", len(raw)) + raw + b"\0" * payload, side))


@pytest.mark.timeout(600)
@SETTINGS
@given(st.integers(0, 10**6))
def test_the_loader_survives_truncated_weights(workdir: Path, valid: Valid, cut: int) -> None:
    weights, info = valid
    _load(_write(workdir, weights[: cut % len(weights)], info))


# ------------------------------------------------------------------------ records
RECORD = {"method": "pour_p", "spec": {}, "metrics": {"forget_acc": 0.1}, "seconds": {"method": 1.0}, "label": "POUR-P",
          "params": {}, "per_class_acc": [0.5], "forget": {}, "dataset": {}, "device": "cpu", "weights": None,
          "notes": [], "references": [], "audit": {}, "schema_version": 1}


@pytest.mark.timeout(600)
@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([*RECORD, "references"]), json_values), max_size=3))
def test_record_reading_ends_in_a_record_or_a_lethe_error(changes: list[tuple[str, Any]]) -> None:
    d = copy.deepcopy(RECORD)
    for key, value in changes:
        d[key] = value
    try:
        rec = RunRecord.from_json(d)
    except LetheError:
        return
    json.loads(dumps_json(rec.to_json()))
