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

Many jobs in parallel (:mod:`engine.executors`) and hyperparameter sweeps
(:mod:`engine.executors.sweep`)::

    from engine import SweepConfig, TrialDone, make_executor, run_sweep
    with make_executor("local", workers=2) as ex:
        for ev in run_sweep(SweepConfig(spec, trials=20), ex, "sweeps/ft"):
            if isinstance(ev, TrialDone):   # ev.trial["metrics"]["forgetting_gap"], ["utility_gap"], ["cost"]
                plot(ev.trial, ev.pareto)   # the live Pareto front; ev.records: the trial's RunRecords
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
from engine.data import DatasetBundle, ForgetSpec, ForgetSplit, load_dataset
from engine.metrics.catalog import MISSING_TEXT, NA_TEXT, RUN_TABLE_KEYS, MetricInfo
from engine.metrics.catalog import metric as metric_info
from engine.evaluation.ensembles import ensemble_preview, klom_job, ulira_job
from engine.executors import EXECUTORS, Executor, InProcessExecutor, LocalExecutor, make_executor
from engine.executors.sweep import SweepConfig, SweepFinished, TrialDone, run_sweep, save_preset
from engine.executors.sweep_folders import remove_orphan_sweep_folders, remove_sweep_folder, temp_sweep_folder
from engine._core.progress import format_eta, format_seconds
from engine.data import default_data_root
from engine.models import available_models, model_families
from engine.models.checkpoints import CHECKPOINT_SUFFIXES
from engine.models.inspection import Inspection, inspect_checkpoint
from engine.report.html import write_html
from engine.report.palette import CLASS_PALETTE, ORIGINAL_COLOUR, RETRAIN_COLOUR, RUN_COLOURS, run_colour
from engine.runs.ensemble_audit import MIN_K as ENSEMBLE_MIN_K
from engine.runs.ensemble_audit import PAPER_K as ENSEMBLE_PAPER_K
from engine.runs.ensemble_audit import EnsembleAudit, ensemble_audit_for
from engine.cli.ensemble_text import format_klom, format_ulira
from engine.runs.prepare import Prepared, prepare
from engine.runs.record import RunRecord, save_run, time_cell, time_of
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
    "CLASS_PALETTE",
    "DEVICES",
    "ENSEMBLE_MIN_K",
    "ENSEMBLE_PAPER_K",
    "EXECUTORS",
    "MISSING_TEXT",
    "NA_TEXT",
    "ORIGINAL_COLOUR",
    "RETRAIN_COLOUR",
    "RUN_COLOURS",
    "RUN_TABLE_KEYS",
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
    "EnsembleAudit",
    "Event",
    "Executor",
    "Failed",
    "Finished",
    "ForgetSpec",
    "ForgetSplit",
    "Geometry",
    "InProcessExecutor",
    "Inspection",
    "JobProcess",
    "JobSpec",
    "LetheError",
    "LocalExecutor",
    "Log",
    "MetricInfo",
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
    "SweepConfig",
    "SweepFinished",
    "TrialDone",
    "WouldOverwrite",
    "atomic_write_text",
    "available_models",
    "cpu_thread_budget",
    "default_data_root",
    "describe_exit",
    "drain",
    "ensemble_audit_for",
    "ensemble_preview",
    "format_eta",
    "format_klom",
    "format_seconds",
    "format_ulira",
    "inspect_checkpoint",
    "is_end",
    "job_events",
    "klom_job",
    "load_dataset",
    "make_executor",
    "methods",
    "metric_info",
    "model_families",
    "prepare",
    "remove_orphan_sweep_folders",
    "remove_sweep_folder",
    "resolve_device",
    "run_colour",
    "run_headless",
    "run_sweep",
    "save_preset",
    "save_run",
    "sha256_file",
    "temp_sweep_folder",
    "time_cell",
    "time_of",
    "ulira_job",
    "write_html",
]
