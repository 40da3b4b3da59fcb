"""Engine failures -> one user-facing text each (status bar line and dialog body).

Every :class:`engine._core.errors.LetheError` subclass has a title here; tests assert on these texts.
"""
from __future__ import annotations

from engine import Failed, LetheError

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
    "WorkerDied": "The job crashed",  # app.worker: the job process was killed or crashed
    "WorkerHung": "The job hung",
}


def title_for(kind: str) -> str:
    return TITLES.get(kind, "Something went wrong inside Lethe")


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


def error_text(exc: LetheError) -> str:
    """The same wording for an error raised on the GUI side (e.g. a bad selection file)."""
    return f"{title_for(type(exc).__name__)}: {exc.message}" + (f" — {exc.hint}" if exc.hint else "")
