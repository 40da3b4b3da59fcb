"""Memory bounds checked *before* a file is loaded, so a small hostile file cannot make Lethe
allocate gigabytes first and refuse later.

Zip containers (PyTorch ``.pt`` files, NumPy ``.npz``) declare every entry's uncompressed size
in their central directory; the readers (``zipfile``, PyTorch's miniz) allocate at most that.
:func:`check_zip_inflation` refuses a file whose declared total exceeds both a floor and a fixed
ratio of the file's own size, or an absolute cap. :func:`check_npz_headers` also reads each
``.npy`` header and refuses an array whose shape needs more bytes than its entry holds.
"""
from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from engine._core.errors import LetheError

INFLATE_RATIO = 100.0  # a legitimately compressed image set or state dict stays far below this
INFLATE_FLOOR_BYTES = 256 * 2**20  # small files may compress well: below this, no ratio rule
MAX_INFLATE_BYTES = 64 * 2**30  # the absolute cap on what one file may declare
_GB = 1e9


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_cap() -> int:
    """The most one decoded input may take: :data:`MAX_INFLATE_BYTES`, or this machine's RAM if less."""
    ram = physical_memory()
    return min(MAX_INFLATE_BYTES, ram) if ram else MAX_INFLATE_BYTES


def check_allocation(nbytes: int, *, error: type[LetheError], what: str) -> None:
    """Refuse (raise ``error``) to allocate ``nbytes`` for ``what`` above :func:`memory_cap`."""
    cap = memory_cap()
    if nbytes > cap:
        raise error(f"{what} would need {_size_text(nbytes)} of memory (limit {_size_text(cap)}); refused before loading",
                    hint="use fewer or smaller images")


def _size_text(n: float) -> str:
    return f"{n / _GB:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def declared_zip_bytes(path: Path, error: type[LetheError], what: str) -> tuple[int, list[zipfile.ZipInfo]]:
    """Total declared uncompressed size of a zip file's entries and the entries themselves."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise error(f"{path} is corrupt or not a readable {what} ({type(exc).__name__}: {exc})") from exc
    return sum(max(0, int(i.file_size)) for i in infos), infos


def check_zip_inflation(path: str | os.PathLike[str], *, error: type[LetheError], what: str,
                        ratio: float | None = None, floor: int | None = None, cap: int | None = None) -> int:
    """Refuse (raise ``error``) a zip file that declares more than ``max(floor, ratio * file
    size)`` or ``cap`` bytes uncompressed (defaults: :data:`INFLATE_FLOOR_BYTES`,
    :data:`INFLATE_RATIO`, :func:`memory_cap`); returns the declared total."""
    p = Path(path)
    ratio = INFLATE_RATIO if ratio is None else ratio
    floor = INFLATE_FLOOR_BYTES if floor is None else floor
    cap = memory_cap() if cap is None else cap
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise error(f"cannot read {p} ({exc.strerror or exc})") from exc
    total, _ = declared_zip_bytes(p, error, what)
    allowed = min(cap, max(floor, ratio * size))
    if total > allowed:
        raise error(
            f"{p} declares {_size_text(total)} uncompressed from a {_size_text(size)} file "
            f"(limit {_size_text(allowed)}); refused before loading, as a decompression bomb",
            hint=f"use an uncompressed or ordinarily compressed {what} from a trusted source",
        )
    return total


def check_npz_headers(path: str | os.PathLike[str], *, error: type[LetheError]) -> None:
    """Refuse an ``.npz`` whose ``.npy`` headers declare arrays larger than their entries hold
    (NumPy allocates the declared shape before it reads the data)."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = npy_format.read_magic(fh)
                    if version == (1, 0):
                        shape, _order, dtype = npy_format.read_array_header_1_0(fh)
                    else:
                        shape, _order, dtype = npy_format.read_array_header_2_0(fh)
                need = math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize
                if dtype.hasobject:
                    continue  # object arrays are refused later: pickle stays off
                if need > info.file_size:
                    raise error(
                        f"{p}: {info.filename[:-4]} declares shape {tuple(shape)} ({_size_text(need)}) but its "
                        f"entry holds {_size_text(info.file_size)}; refused before loading",
                        hint="the file is corrupt or hostile; re-create it with numpy.savez",
                    )
    except LetheError:
        raise
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, TypeError) as exc:
        raise error(f"{p}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
