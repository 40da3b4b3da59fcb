"""Helpers the fault tests share (importable because tests/faults is on sys.path under pytest)."""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

FINDINGS = Path(__file__).parent / "fuzz_findings"


def poison(model: torch.nn.Module, name: str, value: float) -> None:
    """Write ``value`` (NaN, inf) into the first element of the state-dict tensor ``name``."""
    with torch.no_grad():
        model.state_dict()[name].view(-1)[0] = value


def failing_os_open(real: Callable[..., int], code: int, under: Path) -> Callable[..., int]:
    """``os.open`` that raises ``OSError(code)`` for files created under ``under`` (the tmp files of
    atomic writes, lock files) and behaves normally elsewhere: a full, read-only or forbidden
    folder without mounting anything (the tests run as root, so chmod would not stop them)."""
    def fake(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        p = Path(os.fsdecode(path)).resolve()
        if flags & os.O_CREAT and (p == under.resolve() or under.resolve() in p.parents):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, flags, *args, **kw)

    return fake


# (errno, the error class it becomes, words its message must hold)
ERRNO_KINDS = [(errno.ENOSPC, "DiskFull", "disk is full"), (errno.EROFS, "NotWritable", "read-only"),
               (errno.EACCES, "NotWritable", "permission denied")]


def failing_os_mkdir(real: Callable[..., None], code: int, under: Path) -> Callable[..., None]:
    """``os.mkdir`` that raises ``OSError(code)`` for folders under ``under`` (a read-only parent)."""
    def fake(path: Any, *args: Any, **kw: Any) -> None:
        p = Path(os.fsdecode(path)).resolve()
        if p == under.resolve() or under.resolve() in p.parents:
            raise OSError(code, os.strerror(code), str(path))
        real(path, *args, **kw)

    return fake


def tiny_cifar_batch(rows: int) -> bytes:
    """A ~200-byte pickle of {'data': ndarray((rows, 3072), u1, 8 zero bytes, 0, (0, 0)), 'labels': ...}:
    stride-0 views that a loader without size checks would accept and then materialise
    (from ../shared/cases/reliability/13_cifar_tiny_pickle_alloc.py)."""
    def tup(items: list[bytes]) -> bytes:
        return b"(" + b"".join(items) + b"t"

    def i4(v: int) -> bytes:
        return b"J" + int(v).to_bytes(4, "little", signed=True)

    def call_ndarray(shape: tuple[int, ...], dt: str) -> bytes:
        dtype = b"cnumpy\ndtype\n" + tup([b"X" + len(dt).to_bytes(4, "little") + dt.encode()]) + b"R"
        buf = b"C\x08" + b"\x00" * 8
        args = tup([tup([i4(s) for s in shape]), dtype, buf, i4(0), tup([i4(0) for _ in shape])])
        return b"cnumpy\nndarray\n" + args + b"R"

    body = b"\x80\x02}("
    body += b"X\x04\x00\x00\x00data" + call_ndarray((rows, 3072), "u1")
    body += b"X\x06\x00\x00\x00labels" + call_ndarray((rows,), "i8")
    return body + b"u."
