"""Lethe engine: pure-PyTorch machine unlearning. No Qt is imported anywhere below this package,
so everything here runs from a notebook, the command line (``python -m engine``) and tests.

Typical use::

    from engine import JobSpec, Runner
    record = Runner().run_to_record(JobSpec(dataset="digits", forget={"classes": [3]}, method="pour_p"))
    print(record.metrics)
"""
from __future__ import annotations

from engine.cancel import CancelToken
from engine.errors import LetheError
from engine.events import Event, Failed, Finished, Geometry, Log, Metrics, Progress
from engine.jobs import JobSpec, Runner
from engine.record import RunRecord

__all__ = [
    "CancelToken",
    "Event",
    "Failed",
    "Finished",
    "Geometry",
    "JobSpec",
    "LetheError",
    "Log",
    "Metrics",
    "Progress",
    "RunRecord",
    "Runner",
]
