"""Lethe engine: pure-PyTorch machine unlearning. No Qt is imported anywhere below this package,
so everything here runs from a notebook, the command line (``python -m engine``) and tests.

This module is the public API: the studio (``app/``) and notebooks import from ``engine`` only;
the layers below (``engine._core``, ``data``, ``models``, ``train``, ``metrics``, ``live``,
``methods``, ``evaluation``, ``runs``, ``report``, ``cli``) are the implementation, and an
import-linter contract in ``pyproject.toml`` keeps ``app`` on this surface.

Typical use::

    from engine import JobSpec, Runner
    record = Runner().run_to_record(JobSpec(dataset="digits", forget={"classes": [3]}, method="pour_p"))
    print(record.metrics)
"""
from __future__ import annotations

from engine import methods
from engine._core.cancel import CancelToken
from engine._core.device import DEVICES, cpu_thread_budget, resolve_device
from engine._core.errors import (
    BadCheckpoint,
    BadForgetSet,
    BadRecord,
    BadSpec,
    Cancelled,
    DatasetMissing,
    DiskFull,
    Diverged,
    LetheError,
    NeedsConfirmation,
    NotWritable,
    OutOfMemory,
    OutputLocked,
    WouldOverwrite,
)
from engine._core.events import Event, Failed, Finished, Geometry, Log, Metrics, Progress, drain
from engine._core.fileio import atomic_write_text, sha256_file
from engine._core.progress import format_eta, format_seconds
from engine.data import DatasetBundle, ForgetSpec, ForgetSplit, default_data_root, load_dataset
from engine.models import available_models, model_families
from engine.models.checkpoints import CHECKPOINT_SUFFIXES
from engine.models.inspection import Inspection, inspect_checkpoint
from engine.report.html import write_html
from engine.runs.prepare import Prepared, prepare
from engine.runs.record import RunRecord, save_run
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec
from engine.runs.worker_host import (
    JobProcess,
    PortableModel,
    describe_exit,
    is_end,
    job_events,
    run_headless,
)

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "DEVICES",
    "BadCheckpoint",
    "BadForgetSet",
    "BadRecord",
    "BadSpec",
    "CancelToken",
    "Cancelled",
    "DatasetBundle",
    "DatasetMissing",
    "DiskFull",
    "Diverged",
    "Event",
    "Failed",
    "Finished",
    "ForgetSpec",
    "ForgetSplit",
    "Geometry",
    "Inspection",
    "JobProcess",
    "JobSpec",
    "LetheError",
    "Log",
    "Metrics",
    "NeedsConfirmation",
    "NotWritable",
    "OutOfMemory",
    "OutputLocked",
    "PortableModel",
    "Prepared",
    "Progress",
    "RunRecord",
    "Runner",
    "WouldOverwrite",
    "atomic_write_text",
    "available_models",
    "cpu_thread_budget",
    "default_data_root",
    "describe_exit",
    "drain",
    "format_eta",
    "format_seconds",
    "inspect_checkpoint",
    "is_end",
    "job_events",
    "load_dataset",
    "methods",
    "model_families",
    "prepare",
    "resolve_device",
    "run_headless",
    "save_run",
    "sha256_file",
    "write_html",
]
