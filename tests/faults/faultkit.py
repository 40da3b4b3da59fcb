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


ERRNO_KINDS = [(errno.ENOSPC, "DiskFull"), (errno.EROFS, "NotWritable"), (errno.EACCES, "NotWritable")]
