"""One entry point, :func:`load_dataset`, from a source string to a :class:`DatasetBundle`.

Source strings are what job specs, the CLI and the studio store, so they are short and
human-readable (``digits``, ``cifar10``, ``medmnist:pathmnist@64``, ``npz:/data/x.npz``). The
studio and the job runner load the same dataset many times in one process, so loaded bundles
are kept in a small LRU cache keyed by source and location, and reloaded when the files change.
Loader modules are imported lazily: reading an ``.npz`` does not pay for importing scikit-learn
or torchvision.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from engine.data.bundle import DatasetBundle
from engine._core.errors import UnknownName

ENV_DATA_DIR = "LETHE_DATA_DIR"
CACHE_SIZE = 4
SCHEMES = ("digits", "cifar10", "cifar100", "cifar100-coarse", "medmnist", "folder", "npz")
MAX_SOURCE_CHARS = 4096

_cache: OrderedDict[tuple[object, ...], tuple[object, DatasetBundle]] = OrderedDict()
_cache_lock = threading.Lock()


def default_data_root() -> Path:
    """Where CIFAR and MedMNIST files live unless a root is given: ``$LETHE_DATA_DIR`` or ``~/.lethe/data``.

    Not created here: only a download writes into it.
    """
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".lethe" / "data"


def describe_sources() -> list[str]:
    """The valid source-string forms, for help text and error messages."""
    return [
        "digits",
        "cifar10[:<root dir>]",
        "cifar100[:<root dir>]",
        "cifar100-coarse[:<root dir>]  (CIFAR-100 by its 20 superclasses)",
        "medmnist:<flag>[@<size>][:<folder>]  (size 28, 64, 128 or 224; e.g. medmnist:pathmnist@64:/data/medmnist)",
        "folder:<image folder>[@<size>]  (<folder>/<class>/<images>, optionally under train/ and test/ or val/;"
        " @<size> resizes every image to size x size)",
        "npz:<file.npz>  (x_train, y_train, x_test, y_test, optional classes)",
    ]


@dataclass(frozen=True)
class ParsedSource:
    """A source string taken apart: ``scheme``, its argument (a path or MedMNIST flag), and ``size``."""

    scheme: str
    arg: str = ""
    size: int = 28  # MedMNIST resolution; for a folder the size every image is resized to (0: the most common)
    folder: str = ""  # medmnist:<flag>[@<size>]:<folder> - where the .npz lies


def _unknown(message: str) -> UnknownName:
    return UnknownName(message, hint="valid sources: " + "; ".join(describe_sources()))


def parse_source(source: str) -> ParsedSource:
    """Split and check a source string; anything malformed is an :class:`UnknownName`."""
    if not isinstance(source, str) or not source.strip():
        raise _unknown(f"dataset source must be a non-empty string, got {source!r}")
    if "\x00" in source or len(source) > MAX_SOURCE_CHARS:
        raise _unknown(f"dataset source {source[:60]!r} holds a NUL character or is over {MAX_SOURCE_CHARS} characters")
    text = source.strip()
    scheme, _, arg = text.partition(":")
    scheme = scheme.strip().lower()
    arg = arg.strip()
    if scheme not in SCHEMES:
        raise _unknown(f"unknown dataset source {source!r}")
    if scheme == "digits":
        if arg:
            raise _unknown(f"'digits' takes no argument, got {source!r}")
        return ParsedSource("digits")
    if scheme in ("cifar10", "cifar100", "cifar100-coarse"):
        return ParsedSource(scheme, arg)
    if scheme == "medmnist":
        arg, _, folder = arg.partition(":")  # medmnist:pathmnist@64:/data/medmnist
        flag, at, size_text = arg.partition("@")
        flag = flag.strip().lower()
        if not flag:
            raise _unknown(f"{source!r} names no MedMNIST flag (e.g. medmnist:pathmnist)")
        size = 28
        if at:
            try:
                size = int(size_text)
            except ValueError:
                raise _unknown(f"{source!r}: size {size_text!r} is not a number (28, 64, 128 or 224)") from None
            if size not in (28, 64, 128, 224):
                raise _unknown(f"{source!r}: size {size} is not one of 28, 64, 128, 224")
        return ParsedSource("medmnist", flag, size, folder.strip())
    if not arg:
        raise _unknown(f"{source!r} names no path (e.g. {scheme}:/path/to/data)")
    if scheme == "folder":
        path, at, size_text = arg.rpartition("@")
        if at and size_text.strip().isdigit() and path:
            size = int(size_text)
            if not 1 <= size <= 4096:
                raise _unknown(f"{source!r}: image size {size} is not between 1 and 4096")
            return ParsedSource("folder", path.strip(), size)
        return ParsedSource("folder", arg, 0)
    return ParsedSource(scheme, arg)


def _stat(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _files_stamp(paths: list[Path]) -> tuple[object, ...] | None:
    stamps = [_stat(p) for p in paths]
    return None if any(s is None for s in stamps) else tuple(stamps)


def _tree_stamp(root: Path) -> tuple[object, ...] | None:
    if not root.is_dir():
        return None
    entries: list[tuple[str, int, int]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            s = _stat(Path(dirpath, name))
            if s is not None:
                entries.append((os.path.join(dirpath, name), *s))
    return tuple(entries)


def _resolve(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def load_dataset(
    source: str, *, root: str | Path | None = None, download: bool = False, seed: int = 0
) -> DatasetBundle:
    """Load the dataset a source string names (see :func:`describe_sources`).

    ``root``: folder holding CIFAR / MedMNIST files (default :func:`default_data_root`; a path
    after ``cifar10:`` wins). ``download``: fetch missing CIFAR / MedMNIST files. ``seed``: the
    train/test split of sources without one (digits, a folder without train/test); keep the
    default so the dataset fingerprint stays stable. Results are cached in-process and shared:
    never modify a returned bundle's arrays in place.
    """
    parsed = parse_source(source)
    src = source.strip()
    scheme = parsed.scheme

    if scheme == "digits":
        where: Path | None = None
        stamp_fn: Callable[[], tuple[object, ...] | None] = lambda: ()  # noqa: E731 - nothing on disk
    elif scheme in ("cifar10", "cifar100", "cifar100-coarse"):
        from engine.data.cifar import expected_files

        where = _resolve(parsed.arg or root or default_data_root())
        files = expected_files(scheme, where)
        stamp_fn = lambda: _files_stamp(files)  # noqa: E731
    elif scheme == "medmnist":
        from engine.data.medmnist import file_name

        where = _resolve(parsed.folder or root or default_data_root())
        file = where / file_name(parsed.arg, parsed.size)
        package_copy = Path.home() / ".medmnist" / file.name  # where the medmnist package downloads to
        if not parsed.folder and root is None and not file.is_file() and package_copy.is_file():
            where, file = package_copy.parent, package_copy
        stamp_fn = lambda: _files_stamp([file])  # noqa: E731
    elif scheme == "folder":
        where = _resolve(parsed.arg)
        stamp_fn = partial(_tree_stamp, where)
    else:
        where = _resolve(parsed.arg)
        stamp_fn = lambda: _files_stamp([where])  # noqa: E731

    key = (src, str(where) if where else "", seed if scheme in ("digits", "folder") else 0)
    stamp = stamp_fn()
    if stamp is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None and hit[0] == stamp:
                _cache.move_to_end(key)
                return hit[1]

    bundle = _load(parsed, src, where, download, seed)

    stamp = stamp_fn()
    if stamp is not None:
        with _cache_lock:
            _cache[key] = (stamp, bundle)
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return bundle


def _load(parsed: ParsedSource, src: str, where: Path | None, download: bool, seed: int) -> DatasetBundle:
    if parsed.scheme == "digits":
        from engine.data.digits import load_digits

        return load_digits(seed=seed, source=src)
    assert where is not None
    if parsed.scheme in ("cifar10", "cifar100", "cifar100-coarse"):
        from engine.data.cifar import load_cifar

        return load_cifar(parsed.scheme, where, download=download, source=src)
    if parsed.scheme == "medmnist":
        from engine.data.medmnist import load_medmnist

        return load_medmnist(parsed.arg, where, size=parsed.size, download=download, source=src)
    if parsed.scheme == "folder":
        from engine.data.folder import load_folder

        return load_folder(where, seed=seed, source=src, size=parsed.size or None)
    from engine.data.npz import load_npz

    return load_npz(where, source=src)


def source_files(source: str, *, root: str | Path | None = None) -> list[Path]:
    """The files a source is read from (CIFAR batches, a MedMNIST or ``.npz`` file), resolved;
    empty for ``digits`` and image folders. A run protects them from being overwritten."""
    parsed = parse_source(source)
    if parsed.scheme in ("cifar10", "cifar100"):
        from engine.data.cifar import expected_files

        return expected_files(parsed.scheme, _resolve(parsed.arg or root or default_data_root()))
    if parsed.scheme == "medmnist":
        from engine.data.medmnist import file_name

        return [_resolve(root or default_data_root()) / file_name(parsed.arg, parsed.size)]
    if parsed.scheme == "npz":
        return [_resolve(parsed.arg)]
    return []


def clear_cache() -> None:
    """Forget every cached bundle (tests; or to free memory)."""
    with _cache_lock:
        _cache.clear()


def cached_sources() -> list[str]:
    """Source strings currently cached, least recently used first (diagnostics)."""
    with _cache_lock:
        return [str(k[0]) for k in _cache]
