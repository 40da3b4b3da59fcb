"""CIFAR-10 / CIFAR-100 read from torchvision's on-disk layout, by our own safe unpickler.

torchvision's dataset classes MD5-check every file even without downloading, so they refuse any
re-packed or partial copy; and the files are pickles, which can run code when loaded. We parse
them ourselves with an unpickler that can only rebuild NumPy arrays (see ``SafeUnpickler``), and
use torchvision for one thing: downloading the official archive when the user asks for it.
"""
from __future__ import annotations

import importlib
import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.bundle import DatasetBundle
from engine.data.npz import make_bundle
from engine._core.errors import BadDataset, DatasetMissing

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"

# variant -> (folder, train files, test files, meta file, label key, names key, archive url)
_LAYOUT: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str, str, str, str]] = {
    "cifar10": (
        CIFAR10_DIR, tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "batches.meta",
        "labels", "label_names", CIFAR10_URL,
    ),
    "cifar100": (
        CIFAR100_DIR, ("train",), ("test",), "meta", "fine_labels", "fine_label_names", CIFAR100_URL,
    ),
    # the same files, labelled by the 20 superclasses
    "cifar100-coarse": (
        CIFAR100_DIR, ("train",), ("test",), "meta", "coarse_labels", "coarse_label_names", CIFAR100_URL,
    ),
}


def _numpy_reconstruct() -> Any:
    core = getattr(np, "_core", None)  # NumPy >= 2; ``numpy.core`` is a deprecated alias there
    if core is not None:
        return core.multiarray._reconstruct
    return importlib.import_module("numpy.core.multiarray")._reconstruct  # pragma: no cover - NumPy 1.x


def _numpy_frombuffer() -> Any:
    core = getattr(np, "_core", None) or np.core  # NumPy >= 2, else 1.x
    return core.numeric._frombuffer


def _codecs_encode() -> Any:
    import _codecs

    return _codecs.encode


MAX_ARRAY_BYTES = 2**34  # 16 GiB: far above CIFAR-100's 150 MB; a declared size over it is refused


def _checked_ndarray(shape: Any, dtype: Any = float, buffer: Any = None, offset: Any = 0, strides: Any = None,
                     order: Any = None) -> np.ndarray:
    """``numpy.ndarray(...)`` as a pickle may call it, but only over a real buffer that holds
    every byte of the array: a tiny file cannot declare a stride-0 view of 50,000 images that a
    later ``np.concatenate`` would materialise (memory amplification)."""
    try:
        dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(v) for v in shape)
        dt = np.dtype(dtype)
        off = int(offset)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadDataset(f"refusing a malformed array in a CIFAR pickle ({exc})") from None
    if buffer is None or strides is not None or off < 0 or any(d < 0 for d in dims):
        raise BadDataset("refusing an array view in a CIFAR pickle: only plain arrays over their own bytes are allowed")
    need = math.prod(dims) * dt.itemsize
    have = len(memoryview(buffer).cast("B")) - off if isinstance(buffer, (bytes, bytearray)) else -1
    if need > MAX_ARRAY_BYTES or need > have:
        raise BadDataset(f"refusing an array of shape {dims} in a CIFAR pickle: it declares {need:,} bytes "
                         f"but the pickle gives it {max(have, 0):,}")
    return np.ndarray(dims, dt, buffer, off, None, order)


def _checked_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    """NumPy's ``_reconstruct`` for plain arrays only (the data then arrives through
    ``__setstate__``, which refuses a buffer of the wrong size)."""
    if cls is not _checked_ndarray:
        raise BadDataset("refusing to rebuild anything but a plain NumPy array from a CIFAR pickle")
    return _numpy_reconstruct()(np.ndarray, shape, dtype)


# The only globals the official files (Python 2 pickles) and Python 3 protocol-2 re-pickles
# reference. Resolved here, not imported by name, so an old ``numpy.core`` reference does not
# import the deprecated module. ``numpy.ndarray`` is the checked constructor above (an official
# file only passes it to ``_reconstruct``, which maps it back to the real class).
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy", "ndarray"): _checked_ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs_encode(),
    # Protocol 5 (Python 3.14's default) rebuilds arrays from bytes with _frombuffer: bytes only, never objects.
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer(),
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer(),
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds NumPy arrays, dicts, lists, strings and numbers, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise BadDataset(
                f"refusing to unpickle {module}.{name}: CIFAR files may only hold NumPy arrays",
                hint="this file is not an official CIFAR batch; replace it with the official download",
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise BadDataset("refusing to unpickle a persistent reference: not a CIFAR batch file")


def safe_load_pickle(path: Path, data: bytes | None = None) -> dict[str, Any]:
    """Load one CIFAR pickle (``encoding="latin1"``) and return its dict with str keys.

    ``data``: the file's bytes when they come from elsewhere (a member of the downloaded archive)."""
    try:
        data = path.read_bytes() if data is None else data
    except OSError as exc:
        raise DatasetMissing(f"cannot read {path}: {exc}") from exc
    try:
        obj = SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except BadDataset as exc:
        raise BadDataset(f"{path}: {exc.message}", hint=exc.hint) from None
    except Exception as exc:  # truncated or garbage bytes: any unpickling failure is a bad file
        raise BadDataset(f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise BadDataset(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _as_str(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _read_batch(path: Path, label_key: str, raw: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One batch file (or its bytes ``raw``, read from an archive): images (N, 3, 32, 32) uint8, labels (N,)."""
    d = safe_load_pickle(path, raw)
    for key in ("data", label_key):
        if key not in d:
            raise BadDataset(f"{path}: missing key {key!r} (found {', '.join(sorted(d)) or 'none'})")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", type(data).__name__)
        raise BadDataset(f"{path}: 'data' must be uint8 (N, 3072), got {shape}")
    if data.dtype != np.uint8:
        raise BadDataset(f"{path}: 'data' must be uint8, got {data.dtype}")
    size = len(raw) if raw is not None else path.stat().st_size
    if not data.flags.c_contiguous or data.nbytes > size:
        raise BadDataset(f"{path}: 'data' declares {data.shape[0]:,} images ({data.nbytes:,} bytes) "
                         f"but the file holds {size:,} bytes; refused before it is copied")
    try:
        labels = np.asarray(d[label_key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise BadDataset(f"{path}: {label_key!r} is not a list of integers") from exc
    if labels.shape[0] != data.shape[0]:
        raise BadDataset(f"{path}: {labels.shape[0]} labels for {data.shape[0]} images")
    return data.reshape(-1, 3, 32, 32), labels


_MAX_MEMBER_BYTES = 200 * 1024 * 1024  # an official batch is ~31 MB (CIFAR-100 train: ~155 MB)


def _load_from_archive(variant: str, archive: Path, source: str | None) -> DatasetBundle:
    """CIFAR straight from ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``, nothing extracted to disk."""
    import tarfile

    folder, train, test, meta, *_ = _LAYOUT[variant]
    wanted = {f"{folder}/{f}": f for f in (*train, *test, meta)}
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name in wanted and info.isfile():
                    if info.size > _MAX_MEMBER_BYTES:
                        raise BadDataset(f"{archive}: member {name} is {info.size} bytes, too large for a CIFAR batch")
                    fh = tar.extractfile(info)
                    if fh is not None:
                        members[wanted[name]] = fh.read(_MAX_MEMBER_BYTES + 1)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadDataset(f"{archive}: not a readable CIFAR archive ({exc})",
                         hint="download it again, or extract it next to itself") from exc
    lacking = [f for f in wanted.values() if f not in members]
    if lacking:
        raise BadDataset(f"{archive}: the archive lacks {folder}/{lacking[0]}", hint="download the official archive again")
    return _assemble(variant, archive.parent / folder, source, members)


def expected_files(variant: str, root: Path) -> list[Path]:
    """Every file the loader reads, in the order it checks them."""
    folder, train, test, meta, *_ = _LAYOUT[variant]
    return [root / folder / f for f in (*train, *test, meta)]


def _download(variant: str, root: Path) -> None:
    try:
        from torchvision import datasets
    except ImportError as exc:
        raise DatasetMissing(f"cannot download {variant}: torchvision is not installed") from exc
    cls = datasets.CIFAR10 if variant == "cifar10" else datasets.CIFAR100
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as exc:  # network, disk, checksum: all leave the files missing
        url = _LAYOUT[variant][6]
        raise DatasetMissing(
            f"downloading {variant} into {root} failed ({type(exc).__name__}: {exc})",
            hint=f"download {url} yourself and extract it into {root}",
        ) from exc


def load_cifar(variant: str, root: str | Path, download: bool = False, source: str | None = None) -> DatasetBundle:
    """CIFAR-10 (``variant="cifar10"``), CIFAR-100 fine labels (``"cifar100"``) or its 20 superclasses
    (``"cifar100-coarse"``) from ``root``: the extracted folder, or the downloaded ``.tar.gz`` beside it."""
    if variant not in _LAYOUT:
        raise ValueError(f"unknown CIFAR variant {variant!r}")
    root = Path(root).expanduser()
    folder, *_, url = _LAYOUT[variant]
    missing = [p for p in expected_files(variant, root) if not p.is_file()]
    archive_path = root / url.rsplit("/", 1)[1]
    if missing and archive_path.is_file():  # the downloaded archive, not extracted: read it in memory
        return _load_from_archive(variant, archive_path, source)
    if missing and download:
        _download(variant, root)
        missing = [p for p in expected_files(variant, root) if not p.is_file()]
    if missing:
        archive = url.rsplit("/", 1)[1]
        raise DatasetMissing(
            f"{variant} not found: expected {missing[0]}; put {archive} ({url}) extracted as "
            f"{root / folder}/ ({', '.join(p.name for p in expected_files(variant, root))})",
            hint="put the files there, or allow a download",
        )
    return _assemble(variant, root / folder, source, {})


def _assemble(variant: str, d: Path, source: str | None, members: dict[str, bytes]) -> DatasetBundle:
    """Read the batches from ``d`` (or from ``members``: file name -> bytes) into one bundle."""
    _folder, train, test, meta, label_key, names_key, _url = _LAYOUT[variant]
    xs, ys = zip(*(_read_batch(d / f, label_key, members.get(f)) for f in train), strict=True)
    xt, yt = zip(*(_read_batch(d / f, label_key, members.get(f)) for f in test), strict=True)
    m = safe_load_pickle(d / meta, members.get(meta))
    if names_key not in m:
        raise BadDataset(f"{d / meta}: missing key {names_key!r} (found {', '.join(sorted(m)) or 'none'})")
    names = [_as_str(v) for v in m[names_key]]
    return make_bundle(
        variant, source or variant,
        np.concatenate(xs), np.concatenate(ys), np.concatenate(xt), np.concatenate(yt), names,
    )
