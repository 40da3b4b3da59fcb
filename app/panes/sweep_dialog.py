"""SweepDialog: how many trials, workers, which executor, seeds per trial; the cost shown before starting.

The estimate is ``jobs = trials × seeds`` runs of the method, each taking the time of one run of it
as **measured** (the last run of this method on this dataset in the runs table: its method and
evaluation seconds, without training the original or retrain, which are cached), else the last run
of any method on this dataset, else a rough guess that says so; the jobs share
``min(workers, jobs)`` workers (1 for ``inline``). The first jobs also train the retrained
reference of each seed once (then cached). The Start button names the number of jobs: pressing it
is the confirmation.
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine import LocalExecutor, RunRecord

GUESS_SECONDS = 10.0  # no run measured yet: a digits-sized run takes seconds


def executor_choices() -> list[tuple[str, str]]:
    """(name, label) of the executors usable here: local, ray when it is installed, inline."""
    out = [("local", "local: worker processes on this computer")]
    if importlib.util.find_spec("ray") is not None:
        out.append(("ray", "ray: a Ray cluster (or a local Ray)"))
    out.append(("inline", "inline: one job at a time inside the studio (debugging)"))
    return out


@dataclass(frozen=True)
class RunTime:
    """The time of one run: ``seconds`` and where the number comes from (``source``, in words)."""

    seconds: float
    source: str
    measured: bool


def run_time(runs: Sequence[RunRecord], method: str, dataset: str | None) -> RunTime:
    """The time of one run of ``method`` from the runs table (see the module doc)."""
    def cost(r: RunRecord) -> float | None:
        s = r.seconds
        parts = [s.get(k) for k in ("data", "method", "evaluate")]  # a sweep draws no live geometry
        total = sum(float(p) for p in parts if isinstance(p, (int, float)))
        return total if total > 0 else None

    same_data = [r for r in runs if dataset is None or r.spec.get("dataset") == dataset]
    for pool, words in (([r for r in same_data if r.method == method], "measured: the last {label} run"),
                        (same_data, "measured on the last run ({label}); this method may differ")):
        for r in reversed(pool):
            secs = cost(r)
            if secs is not None:
                return RunTime(secs, words.format(label=r.label or r.method), True)
    return RunTime(GUESS_SECONDS, "a rough guess: no run measured yet (press Run once for a measured estimate)", False)


def estimate_seconds(trials: int, seeds: int, workers: int, executor: str, one_run: float) -> float:
    """Wall time of the sweep: ``ceil(jobs / parallel) × one_run`` (parallel = min(workers, jobs), 1 inline)."""
    jobs = max(1, trials * seeds)
    parallel = 1 if executor == "inline" else max(1, min(workers, jobs))
    return math.ceil(jobs / parallel) * one_run


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class SweepDialog(QDialog):
    """Modal dialog; after ``exec()`` returns Accepted read :meth:`options`."""

    def __init__(self, method_label: str, one_run: RunTime, parent: QWidget | None = None, *,
                 searched: Sequence[str] = (), fixed: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sweep {method_label}'s hyperparameters")
        self.setObjectName("sweepDialog")
        self.one_run = one_run
        self.trials = QSpinBox()
        self.trials.setObjectName("sweepTrials")
        self.trials.setRange(1, 1000)
        self.trials.setValue(20)
        self.trials.setToolTip("How many settings of the hyperparameters to try (Optuna's TPE sampler picks them)")
        self.workers = QSpinBox()
        self.workers.setObjectName("sweepWorkers")
        self.workers.setRange(1, 256)
        self.workers.setValue(LocalExecutor(None).workers)  # the engine's default: one per core
        self.workers.setToolTip("Jobs run at the same time, each in its own process")
        self.executor = QComboBox()
        self.executor.setObjectName("sweepExecutor")
        for name, label in executor_choices():
            self.executor.addItem(label, name)
        self.seeds = QSpinBox()
        self.seeds.setObjectName("sweepSeeds")
        self.seeds.setRange(1, 20)
        self.seeds.setValue(1)
        self.seeds.setToolTip("Runs per trial with seeds seed, seed+1, …: the runs table then shows mean ± std")
        self.estimate_label = QLabel("")
        self.estimate_label.setObjectName("sweepEstimate")
        self.estimate_label.setWordWrap(True)
        intro = QLabel(f"Try many hyperparameter settings of <b>{method_label}</b> and plot how close each comes to "
                       "the retrained model (the gold standard). The forget set, data and model are the ones chosen now.")
        intro.setWordWrap(True)
        space = QLabel(f"Searched: <b>{', '.join(searched) or 'nothing'}</b>"
                       + (f"; kept at the form's values: {', '.join(fixed)}" if fixed else ""))
        space.setObjectName("sweepSpace")
        space.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Trials:", self.trials)
        form.addRow("Seeds per trial:", self.seeds)
        form.addRow("Workers:", self.workers)
        form.addRow("Executor:", self.executor)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("sweepStart")
        self.start_button.setDefault(True)
        self.buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(space)
        lay.addLayout(form)
        lay.addWidget(self.estimate_label)
        lay.addWidget(self.buttons)
        for w in (self.trials, self.seeds, self.workers):
            w.valueChanged.connect(self._on_value_changed)
        self.executor.currentIndexChanged.connect(self._on_value_changed)
        self._on_value_changed()
        self.resize(520, self.sizeHint().height())

    def options(self) -> dict[str, object]:
        """``trials``, ``seeds``, ``workers`` and ``executor`` as chosen."""
        return {"trials": self.trials.value(), "seeds": self.seeds.value(), "workers": self.workers.value(),
                "executor": self.executor.currentData()}

    def jobs(self) -> int:
        return self.trials.value() * self.seeds.value()

    def estimate(self) -> float:
        return estimate_seconds(self.trials.value(), self.seeds.value(), self.workers.value(),
                                str(self.executor.currentData()), self.one_run.seconds)

    @Slot()
    def _on_value_changed(self, *_: object) -> None:
        inline = self.executor.currentData() == "inline"
        self.workers.setEnabled(not inline)
        jobs = self.jobs()
        parallel = 1 if inline else min(self.workers.value(), jobs)
        self.estimate_label.setText(
            f"<b>Cost: {jobs} runs</b> ({self.trials.value()} trials × {self.seeds.value()} seed"
            f"{'s' if self.seeds.value() > 1 else ''}) × about {self.one_run.seconds:.1f} s each "
            f"({self.one_run.source}), {parallel} at a time: <b>about {duration_text(self.estimate())}</b>. "
            f"The first runs also train the retrained model of each seed once (then cached). You can cancel at "
            f"any time; finished trials are kept.")
        self.start_button.setText(f"Start {jobs} runs")
