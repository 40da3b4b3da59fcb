"""Where a command's single output file goes, decided before the command does any work.

A long command (``bench methods`` on CIFAR: 40 minutes) that learns only at the end that its
``--out`` cannot be written wastes the whole run; so each file-writing command resolves its
``--out`` first: an existing folder gets the command's usual file name inside it, and a missing
or read-only folder is refused at once.
"""
from __future__ import annotations

import os
from pathlib import Path

from engine._core.errors import NotWritable


def output_file(arg: str | os.PathLike[str], default_name: str) -> Path:
    """The file to write for ``--out arg``.

    ``arg`` naming an existing folder means ``arg/default_name``. Raises :class:`NotWritable`
    (with a hint) when the file's folder does not exist or cannot be written, or when the path
    is something other than a file or folder.
    """
    path = Path(arg).expanduser()
    if path.is_dir():
        path = path / default_name
    if path.exists() and not path.is_file():
        raise NotWritable(f"--out {path} is not a file", hint=f"give a file name, e.g. --out {default_name}")
    folder = path.parent
    if not folder.is_dir():
        raise NotWritable(f"--out {path}: the folder {folder} does not exist",
                          hint="create it first, or choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NotWritable(f"--out {path}: the folder {folder} cannot be written",
                          hint="choose a folder you can write to")
    return path
