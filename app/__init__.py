"""Lethe studio: the PySide6 + pyqtgraph desktop front end over :mod:`engine`.

Qt lives only here; every piece of engine work runs on the one worker thread of
:class:`app.worker.JobController`.
"""
from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lethe`` / ``python -m app``."""
    from app.__main__ import main as _main

    return _main(argv)
