"""Slow one-time imports, done early on a background thread so that no job waits for them.

The first ``torch.optim`` optimiser of a process imports ``torch._dynamo`` (``add_param_group``
is wrapped by ``torch._disable_dynamo``): about 2 s on an idle CPU and 6 s on a busy one. An
import cannot be interrupted, so a job building its first optimiser would not see a cancel for
that long. :func:`warm_up` starts that import once per process on a daemon thread;
:class:`engine.runs.runner.Runner` calls it when it is created (the studio creates its runner at
start-up, long before the first run).
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import() -> None:
    import torch._dynamo  # noqa: F401 - the import is the point


def warm_up() -> threading.Thread:
    """Start the background imports (once per process); returns the thread (join it to wait)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import, name="lethe-warm-up", daemon=True)
            _thread.start()
        return _thread


def wait_for_warm_up(timeout: float | None = None) -> bool:
    """Block until the warm-up imports are done (tests, benchmarks); True when they are."""
    thread = warm_up()
    thread.join(timeout)
    return not thread.is_alive()
