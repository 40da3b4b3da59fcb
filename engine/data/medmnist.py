"""MedMNIST 2D datasets read straight from their ``.npz`` files.

``medmnist.PathMNIST(...)`` asserts the official sample counts, so it cannot open a subset; we read
the ``.npz`` with NumPy (``allow_pickle=False``) and use the medmnist package only for its ``INFO``
table (class names, download URLs, MD5s). Importing ``medmnist.info`` creates ``~/.medmnist`` as a
side effect, so the table is read from the installed ``info.py`` source without executing it,
and the module is imported only if that fails. The ``val`` split is not used: Lethe trains on
``train`` and evaluates on ``test``.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.bundle import DatasetBundle
from engine.data.npz import make_bundle
from engine._core.errors import BadDataset, DatasetMissing, UnknownName
from engine._core.limits import check_npz_headers, check_zip_inflation

SIZES = (28, 64, 128, 224)
ZENODO = "https://zenodo.org/records/10519652"
KEYS = ("train_images", "train_labels", "test_images", "test_labels")
_DOWNLOAD_TIMEOUT_S = 60


def file_name(flag: str, size: int = 28) -> str:
    """``pathmnist.npz`` for 28 px, ``pathmnist_64.npz`` and so on for larger sizes."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


@functools.lru_cache(maxsize=1)
def medmnist_info() -> dict[str, dict[str, Any]] | None:
    """medmnist's ``INFO`` table, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec("medmnist")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or ():
        try:
            tree = ast.parse(Path(folder, "info.py").read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "INFO" for t in node.targets):
                try:
                    info = ast.literal_eval(node.value)
                except ValueError:
                    break
                if isinstance(info, dict):
                    return info
    try:  # a medmnist whose INFO is not a literal: import it after all (creates ~/.medmnist)
        from medmnist.info import INFO
    except Exception:  # noqa: BLE001 - whatever a third-party import raises means: no MedMNIST
        return None
    return dict(INFO)


def flags() -> list[str]:
    """The 2D MedMNIST flags known to the installed medmnist (empty if it is not installed)."""
    info = medmnist_info() or {}
    return [f for f in info if not f.endswith("3d")]


def _check_flag(flag: str) -> dict[str, Any] | None:
    info = medmnist_info()
    if info is None:
        return None
    if flag not in info:
        raise UnknownName(
            f"unknown MedMNIST flag {flag!r}",
            hint=f"use one of {', '.join(flags())}",
        )
    if flag.endswith("3d"):
        raise BadDataset(f"{flag} is a 3D volume dataset; Lethe reads 2D images", hint=f"use one of {', '.join(flags())}")
    if str(info[flag].get("task", "")).startswith("multi-label"):
        raise BadDataset(
            f"{flag} is a multi-label dataset; Lethe does single-label classification",
            hint="choose a single-label MedMNIST dataset such as pathmnist",
        )
    return info[flag]


def _download(flag: str, size: int, meta: dict[str, Any] | None, path: Path) -> None:
    if meta is None:
        raise DatasetMissing(f"cannot download {path.name}: the medmnist package is not installed")
    suffix = "" if size == 28 else f"_{size}"
    url, md5 = meta.get(f"url{suffix}"), meta.get(f"MD5{suffix}")
    if not url:
        raise DatasetMissing(f"medmnist lists no download for {flag} at {size} px")
    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5()
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp, open(part, "wb") as out:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if md5 and digest.hexdigest() != md5:
            raise OSError(f"MD5 mismatch: got {digest.hexdigest()}, expected {md5}")
        os.replace(part, path)
    except Exception as exc:  # network, disk, checksum
        part.unlink(missing_ok=True)
        raise DatasetMissing(
            f"downloading {url} to {path} failed ({type(exc).__name__}: {exc})",
            hint=f"download {path.name} from MedMNIST on Zenodo ({ZENODO}) and put it at {path}",
        ) from exc


def load_medmnist(
    flag: str, root: str | Path, size: int = 28, download: bool = False, source: str | None = None
) -> DatasetBundle:
    """Read ``<root>/<flag>.npz`` (28 px) or ``<root>/<flag>_<size>.npz``; name = the file stem."""
    if size not in SIZES:
        raise UnknownName(f"MedMNIST size {size} is not one of {', '.join(map(str, SIZES))}")
    flag = flag.lower()
    root = Path(root).expanduser()
    path = root / file_name(flag, size)
    meta = _check_flag(flag)
    if not path.is_file() and download:
        _download(flag, size, meta, path)
    if not path.is_file():
        raise DatasetMissing(
            f"{flag} not found: expected {path}; the file {path.name} comes from MedMNIST on Zenodo ({ZENODO})",
            hint="put the file there, or allow a download",
        )
    check_zip_inflation(path, error=BadDataset, what=".npz file")  # before NumPy inflates anything
    check_npz_headers(path, error=BadDataset)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise BadDataset(f"{path}: missing key {missing[0]!r} (found {', '.join(z.files) or 'none'})")
            arrays = {k: z[k] for k in KEYS}
    except BadDataset:
        raise
    except ValueError as exc:
        raise BadDataset(f"{path}: cannot read without pickle ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise BadDataset(f"{path}: not a readable .npz file ({exc})") from exc
    for split in ("train", "test"):
        images = arrays[f"{split}_images"]
        if images.ndim == 4 and images.shape[-1] not in (1, 3):
            raise BadDataset(f"{path}: {split}_images have shape {images.shape}; expected (N, S, S) or (N, S, S, 3)")
        if images.ndim in (3, 4) and images.shape[1] != size:
            raise BadDataset(f"{path}: {split}_images are {images.shape[1]} px but the file name says {size} px")
        labels = arrays[f"{split}_labels"]
        if labels.ndim == 2 and labels.shape[1] > 1:
            raise BadDataset(
                f"{path}: multi-label dataset ({labels.shape[1]} labels per image); "
                "Lethe does single-label classification",
                hint="choose a single-label MedMNIST dataset such as pathmnist",
            )
    classes: list[str] | None = None
    if meta is not None and isinstance(meta.get("label"), dict):
        label = meta["label"]
        classes = [str(label[k]) for k in sorted(label, key=int)]
    return make_bundle(
        path.stem, source or f"medmnist:{flag}" + ("" if size == 28 else f"@{size}"),
        arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"], classes,
    )
