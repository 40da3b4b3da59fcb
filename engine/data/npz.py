"""Plain ``.npz`` datasets ("bring your own arrays"), plus the array checks every loader shares.

Every loader ends in :func:`make_bundle`, so shapes, label ranges and class names are checked in
one place and a malformed file becomes a :class:`BadDataset` with the offending key, never a
``ValueError`` from deep inside NumPy. Files are read with ``allow_pickle=False`` always: an
``.npz`` can hold pickled object arrays, and those could run code.
"""
from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.data.bundle import DatasetBundle
from engine._core.errors import BadDataset, DatasetMissing
from engine._core.limits import check_npz_headers, check_zip_inflation

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_STATS_CHUNK = 4096  # images per chunk when computing channel statistics


def as_nchw(images: np.ndarray, what: str) -> np.ndarray:
    """uint8 (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3} -> contiguous uint8 (N, C, H, W).

    HWC is assumed when the last axis has 1 or 3 entries (the NumPy/PIL/MedMNIST convention);
    otherwise an axis 1 of size 1 or 3 is taken as already channel-first.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() > 255)):
            raise BadDataset(f"{what}: images must be uint8 values 0-255, got dtype {arr.dtype}")
        arr = arr.astype(np.uint8)
    if arr.ndim == 3:
        arr = arr[:, None, :, :]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    elif not (arr.ndim == 4 and arr.shape[1] in (1, 3)):
        raise BadDataset(
            f"{what}: images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, "
            f"got {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise BadDataset(f"{what}: no images")
    if arr.shape[2] == 0 or arr.shape[3] == 0:
        raise BadDataset(f"{what}: images have an empty side, shape {arr.shape}")
    return np.ascontiguousarray(arr)


def as_labels(labels: np.ndarray | Sequence[int], n: int, what: str) -> np.ndarray:
    """Integer labels (N,) or single-label (N, 1) -> int64 (N,); multi-label (N, L>1) is refused."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2 and arr.shape[1] > 1:
        raise BadDataset(
            f"{what}: labels have shape {arr.shape}: this is a multi-label dataset, "
            "and Lethe does single-label classification",
            hint="choose a single-label dataset",
        )
    if arr.ndim != 1:
        raise BadDataset(f"{what}: labels must have shape (N,) or (N, 1), got {arr.shape}")
    integral_floats = arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    if arr.dtype.kind not in "iu" and not integral_floats:
        raise BadDataset(f"{what}: labels must be integers, got dtype {arr.dtype}")
    if arr.shape[0] != n:
        raise BadDataset(f"{what}: {arr.shape[0]} labels for {n} images")
    if arr.size and arr.min() < 0:
        raise BadDataset(f"{what}: negative label {int(arr.min())}")
    return arr.astype(np.int64)


def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, C, H, W) scaled to [0, 1], as :class:`DatasetBundle` defines them.

    Exact integer sums in chunks, so a 50,000-image set needs no float64 copy of itself (which the
    bundle's own fallback would make: 1.2 GB for CIFAR-10).
    """
    c = x.shape[1]
    s = np.zeros(c, dtype=np.int64)
    ss = np.zeros(c, dtype=np.int64)
    for start in range(0, x.shape[0], _STATS_CHUNK):
        chunk = x[start : start + _STATS_CHUNK].astype(np.int64)
        s += chunk.sum(axis=(0, 2, 3))
        ss += (chunk * chunk).sum(axis=(0, 2, 3))
    count = float(x.shape[0] * x.shape[2] * x.shape[3])
    mean = s / count
    var = np.maximum(ss / count - mean * mean, 0.0)
    std = np.sqrt(var) / 255.0
    return tuple(float(v) for v in mean / 255.0), tuple(float(max(v, 1e-3)) for v in std)


def make_bundle(
    name: str,
    source: str,
    x_train: np.ndarray,
    y_train: np.ndarray | Sequence[int],
    x_test: np.ndarray,
    y_test: np.ndarray | Sequence[int],
    classes: Sequence[str] | None,
) -> DatasetBundle:
    """Check and normalise raw arrays into a :class:`DatasetBundle` (class names default to "0".."K-1")."""
    xtr = as_nchw(x_train, f"{name}: train")
    xte = as_nchw(x_test, f"{name}: test")
    if xtr.shape[1:] != xte.shape[1:]:
        raise BadDataset(f"{name}: train images are {xtr.shape[1:]} but test images are {xte.shape[1:]}")
    ytr = as_labels(y_train, xtr.shape[0], f"{name}: train")
    yte = as_labels(y_test, xte.shape[0], f"{name}: test")
    top = int(max(ytr.max(), yte.max()))
    if classes is None:
        names = tuple(str(i) for i in range(top + 1))
    else:
        names = tuple(str(c) for c in classes)
        if top >= len(names):
            raise BadDataset(f"{name}: label {top} but only {len(names)} class names")
        if len(set(names)) != len(names):
            raise BadDataset(f"{name}: class names are not unique: {list(names)}")
    if len(names) < 2:
        raise BadDataset(f"{name}: needs at least 2 classes, found {len(names)}")
    mean, std = channel_stats(xtr)
    return DatasetBundle(
        name=name, source=source, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte,
        classes=names, mean=mean, std=std,
    )


def _class_names(raw: np.ndarray, path: Path) -> list[str]:
    arr = np.asarray(raw)
    if arr.ndim != 1 or arr.dtype.kind not in "US":
        raise BadDataset(f"{path}: 'classes' must be a 1-D string array, got {arr.dtype} {arr.shape}")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.tolist()]


def load_npz(path: str | Path, source: str | None = None) -> DatasetBundle:
    """Read ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optional ``classes``; name = file stem."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetMissing(f"no such .npz file: {path}", hint="check the path after 'npz:'")
    check_zip_inflation(path, error=BadDataset, what=".npz file")  # before NumPy inflates anything
    check_npz_headers(path, error=BadDataset)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise BadDataset(
                    f"{path}: missing key {missing[0]!r} (found {', '.join(z.files) or 'none'}); "
                    f"a Lethe .npz needs {', '.join(NPZ_KEYS)} and may have 'classes'"
                )
            arrays = {k: z[k] for k in NPZ_KEYS}
            classes = _class_names(z["classes"], path) if "classes" in z.files else None
    except BadDataset:
        raise
    except ValueError as exc:  # object arrays need pickle, which stays off
        raise BadDataset(f"{path}: cannot read without pickle ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise BadDataset(f"{path}: not a readable .npz file ({exc})") from exc
    return make_bundle(
        path.stem, source or f"npz:{path}",
        arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], classes,
    )
