"""User-facing errors: every failure a person can cause or fix has one class with a hint.

The CLI maps any ``LetheError`` to exit code 2 and one line; the studio maps it to one dialog.
Anything else escaping the engine is a bug (exit code 1).
"""
from __future__ import annotations


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


class LetheError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what the user can do about it."""

    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        # One line always: messages quote file names, library errors and user input, any of
        # which may hold line breaks.
        message = _one_line(str(message))
        super().__init__(message)
        self.message = message
        self.hint = _one_line(hint) if hint is not None else self.default_hint

    def one_line(self) -> str:
        """The message and hint as a single line (CLI output, status bars)."""
        text = f"{type(self).__name__}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class BadSpec(LetheError):
    default_hint = "fix the named field in the job spec"


class BadCheckpoint(LetheError):
    default_hint = "check that the checkpoint matches the architecture and dataset it is used with"


class DatasetMissing(LetheError):
    default_hint = "put the files where the message says, or allow a download"


class BadDataset(LetheError):
    default_hint = "check the dataset files and their format"


class EmptyForgetSet(LetheError):
    default_hint = "pick at least one class or sample to forget"


class BadForgetSet(LetheError):
    default_hint = "check the forget selection"


class UnsupportedForgetSet(LetheError):
    default_hint = "choose another method, or a class-level forget set"


class UnknownName(LetheError):
    default_hint = "run `python -m engine methods` to list the available names"


class Diverged(LetheError):
    default_hint = "lower the learning rate or the number of steps"


class OutOfMemory(LetheError):
    default_hint = "lower the batch size or run on the CPU"


class DiskFull(LetheError):
    default_hint = "free some disk space or choose another output folder"


class BadRecord(LetheError):
    """A run record (record.json, a session's runs) that is not what Lethe writes."""

    default_hint = "give a record.json written by Lethe (python -m engine unlearn, or the studio)"


class NotWritable(LetheError):
    """A write was refused by the system: read-only file system, no permission, or not a folder."""

    default_hint = "choose a folder you can write to, or change its permissions"


class WouldOverwrite(LetheError):
    """A write would replace a file the user owns: an earlier run's output, or an input of this run."""

    default_hint = "choose another output folder, or pass --overwrite to replace an earlier run's files"


class OutputLocked(LetheError):
    """Another Lethe process is writing into the same output folder."""

    default_hint = "wait for the other run to finish or choose another output folder"


class NeedsConfirmation(BadSpec):
    """A valid spec whose cost is above the confirmation threshold; rerun with the opt-in."""

    default_hint = 'set "confirm_cost": true in the job spec, or pass --yes on the command line'


class Cancelled(Exception):
    """Raised inside a job when its CancelToken is set; not an error, so not a LetheError."""
