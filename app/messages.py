"""Engine failures -> one user-facing text each (status bar line and dialog body).

Every :class:`engine._core.errors.LetheError` subclass has a title here; tests assert on these texts.
"""
from __future__ import annotations

import traceback
from types import TracebackType

from engine import Failed, LetheError, Progress, format_eta, format_seconds

BUG_TITLE = "Something went wrong inside Lethe"
BUG_HINT = "this is a bug in Lethe; please report it with the details below"

TITLES: dict[str, str] = {
    "BadSpec": "The job settings are invalid",
    "BadCheckpoint": "The checkpoint cannot be used",
    "DatasetMissing": "The dataset files are missing",
    "BadDataset": "The dataset cannot be read",
    "EmptyForgetSet": "Nothing is selected to forget",
    "BadForgetSet": "The forget selection is invalid",
    "UnsupportedForgetSet": "This method cannot forget that selection",
    "UnknownName": "Unknown name",
    "Diverged": "Training diverged",
    "OutOfMemory": "Out of memory",
    "DiskFull": "The disk is full",
    "Cancelled": "Cancelled",
    "BadSession": "The session cannot be opened",
    "WouldOverwriteInput": "That file is an input of this session",
    "WorkerDied": "The job crashed",  # app.worker: the job process was killed or crashed
    "WorkerHung": "The job hung",
}


def title_for(kind: str) -> str:
    return TITLES.get(kind, BUG_TITLE)


def failure_text(event: Failed) -> str:
    """Dialog body: what happened, then what to do about it."""
    if event.cancelled:
        return "The job was cancelled."
    msg = event.message if not event.internal else event.message.split("\n", 1)[0]
    text = f"{msg}"
    if event.hint:
        text += f"\n\nWhat to do: {event.hint}."
    return text


def status_text(event: Failed) -> str:
    """One line for the status bar."""
    if event.cancelled:
        return "Cancelled."
    line = event.message.split("\n", 1)[0]
    return f"{title_for(event.kind)}: {line}" + (f" — {event.hint}" if event.hint else "")


def title_of(exc: BaseException) -> str:
    """The title of an exception: its own class's, else the nearest base class's that has one."""
    for cls in type(exc).__mro__:
        if cls.__name__ in TITLES:
            return TITLES[cls.__name__]
    return BUG_TITLE


def error_text(exc: LetheError) -> str:
    """One line for an error raised on the GUI side (status bar): title, message and hint."""
    return f"{title_of(exc)}: {exc.message}" + (f" — {exc.hint}" if exc.hint else "")


def error_body(exc: LetheError) -> str:
    """Dialog body for an error raised on the GUI side: the message, then what to do."""
    return exc.message + (f"\n\nWhat to do: {exc.hint}." if exc.hint else "")


def exception_texts(exc_type: type[BaseException], exc: BaseException,
                    tb: TracebackType | None) -> tuple[str, str, str]:
    """(title, body, details) of the dialog for an exception that reached the GUI thread.

    A :class:`LetheError` is a problem the user can fix: its message and "What to do: hint", no
    traceback. Anything else is a bug: the exception in one line, the request to report it, and
    the traceback as details.
    """
    if isinstance(exc, LetheError):
        return title_of(exc), error_body(exc), ""
    line = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    return BUG_TITLE, f"{line}\n\nWhat to do: {BUG_HINT}.", details


# What each stage of a job is doing, in words (the status bar and the Forget pane while it waits).
STAGE_WORDS = {
    "data": "Loading the data",
    "original": "Preparing the original model",
    "reference": "Retraining without the forget set (the reference)",
    "evaluate": "Measuring the result",
}


def stage_words(ev: Progress, method_label: str = "") -> str:
    """The stage of ``ev`` in words: "Training the original model" while its epochs run."""
    if ev.stage == "original" and ev.message.startswith("epoch"):
        return "Training the original model"
    if ev.stage == "unlearn":
        return f"Running {method_label}" if method_label else "Unlearning"
    return STAGE_WORDS.get(ev.stage, ev.stage)


def progress_text(ev: Progress, method_label: str = "") -> str:
    """One status line: "Training the original model · epoch 3/15 · batch 12/40 · ETA 1:05"
    (no message that only repeats the stage, no ETA while there is none)."""
    parts = [stage_words(ev, method_label)]
    if ev.message and ev.message not in ("ready", "done"):
        parts.append(ev.message)
    eta = format_eta(ev.eta_s) if ev.eta_s is not None and ev.eta_s >= 0.5 and ev.fraction < 1.0 else ""
    if eta:
        parts.append(eta)
    return " · ".join(parts)


def waiting_text(ev: Progress) -> str:
    """What the Forget pane says while the dataset and the original are prepared:
    "Training the original model… (epoch 3/15 · batch 12/40 · ETA 1:05)"."""
    line = progress_text(ev)
    words, _, rest = line.partition(" · ")
    return f"{words}…" + (f" ({rest})" if rest else "")


def run_summary(label: str, seconds: float | None, metrics: dict[str, float], time_note: str = "") -> str:
    """What a finished run did: "POUR-P finished in 0.0028 s: forget 0.0 %, test 98.9 %".

    ``time_note`` (:func:`engine.time_of`'s note) marks a model that was not computed now: "Retrain
    (trained earlier, loaded from the cache; trained in 5.85 s)", never its load time as its cost."""
    def pct(key: str) -> str:
        v = metrics.get(key)
        return "–" if v is None or v != v else f"{100 * v:.1f} %"

    if time_note:
        took = f"ready ({time_note}" + (f"; trained in {format_seconds(seconds)})" if seconds is not None else ")")
    else:
        took = f"finished in {format_seconds(seconds)} (the method alone)"
    return (f"{label} {took}: forget {pct('forget_acc')}, "
            f"test {pct('test_acc')}. Its verdicts are in the Verdicts pane.")
