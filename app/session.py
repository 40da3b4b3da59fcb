"""Session files: dataset, original model, forget selection and runs as JSON (schema_version 1).

Each run is its :meth:`RunRecord.to_json` (all that the views draw from: metrics with their
``metric_na`` reasons and multi-seed ``metrics_std`` / ``per_class_std``, dataset identity and
class names, forget set, audit) plus ``"number"``, its ``#`` in the runs table, so that a reopened
run keeps its number and colour. Only its live frames and its model stay behind.

Paths are stored relative to the session file (and absolute, as a fallback) with the SHA-256 of
files, so a moved file can be relinked and a changed one noticed.

:func:`load_session` trusts nothing in the file: every field is checked for its type, and any
problem (not JSON, the wrong shape, a wrong type anywhere, a schema from a newer Lethe) is one
:class:`BadSession` naming the field, which the studio shows as a dialog.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeGuard

from engine import (
    BadRecord,
    BadSpec,
    ForgetSpec,
    JobSpec,
    LetheError,
    RunRecord,
    atomic_write_text,
    sha256_file,
)

SCHEMA_VERSION = 1
_PATH_SCHEMES = ("folder", "npz")
MAX_SESSION_BYTES = 256 * 1024 * 1024  # a session holds metrics and verdicts, never weights


class BadSession(BadSpec):
    """A session file that cannot be opened; ``message`` names the file and the field."""

    default_hint = "choose a session file saved by Lethe (File ▸ Save session…)"


def _rel(path: str, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return path


def session_json(source: str, model: dict[str, Any], forget: dict[str, Any] | None, runs: list[RunRecord],
                 path: Path, numbers: list[int] | None = None) -> dict[str, Any]:
    """The session as a JSON object; ``numbers``: the runs' ``#`` in the runs table (aligned with
    ``runs``; none: not stored, a reader numbers them 1, 2, ...)."""
    base = path.parent
    files: dict[str, Any] = {}
    scheme, _, arg = source.partition(":")
    if scheme in _PATH_SCHEMES and arg:
        files["dataset"] = {"relative": _rel(arg, base), "absolute": str(Path(arg).resolve())}
    if "checkpoint" in model:
        ck = model["checkpoint"]
        files["checkpoint"] = {"relative": _rel(ck, base), "absolute": str(Path(ck).resolve()),
                               "sha256": sha256_file(ck) if Path(ck).is_file() else None}
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": source,
        "model": model,
        "forget": forget,
        "files": files,
        "runs": [_run_json(r, n) for r, n in zip(runs, numbers or [None] * len(runs), strict=True)],
    }


def _run_json(record: RunRecord, number: int | None) -> dict[str, Any]:
    d = record.to_json()
    if number is not None:
        d["number"] = number
    return d


def save_session(path: str | Path, **kw: Any) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(session_json(path=path, **kw), indent=1))
    return path


def load_session(path: str | Path) -> dict[str, Any]:
    """Parse and check a session file.

    Returns dict(dataset (source string), model (JobSpec model dict), forget (dict or None), runs
    (RunRecords), numbers (each run's stored ``#`` in the runs table, or None), missing (names of linked files not found: "dataset", "checkpoint"), changed
    (linked files found but whose SHA-256 differs from the one stored: "checkpoint"), files (the
    stored entries)). Raises :class:`BadSession` for anything else wrong with the file.
    """
    path = Path(path)
    d = _read_json(path)
    where = path.name
    if not isinstance(d, dict):
        raise BadSession(f"{where}: a session file holds a JSON object, this one holds {_kind(d)}")
    version = d.get("schema_version")
    if not _is_int(version):
        raise BadSession(f"{where}: schema_version must be a whole number, got {_show(version)}")
    if version > SCHEMA_VERSION:
        raise BadSession(f"{where} was written by a newer Lethe (session schema_version {version}; "
                         f"this Lethe reads up to {SCHEMA_VERSION})", hint="update Lethe to open this session")
    if version != SCHEMA_VERSION:
        raise BadSession(f"{where}: unsupported session schema_version {version}")
    unknown = sorted(set(d) - {"schema_version", "dataset", "model", "forget", "files", "runs"})
    if unknown:
        raise BadSession(f"{where}: unknown field {unknown[0]!r}")

    source = d.get("dataset", "digits")
    if not isinstance(source, str) or not source:
        raise BadSession(f"{where}: dataset must be a dataset name or scheme:path, got {_show(source)}")
    model = d.get("model", {"arch": "cnn_small"})
    if not isinstance(model, dict):
        raise BadSession(f"{where}: model must be an object, got {_kind(model)}")
    try:  # the same checks as a job spec's model field (one of checkpoint / arch, a valid recipe)
        JobSpec.from_json({"dataset": source, "model": model})
    except LetheError as exc:
        raise BadSession(f"{where}: {exc.message}") from None
    except (TypeError, ValueError) as exc:  # a recipe the engine's parser does not expect
        raise BadSession(f"{where}: model is malformed ({exc})") from None
    if "checkpoint" in model and (not isinstance(model["checkpoint"], str) or not model["checkpoint"]):
        raise BadSession(f"{where}: model.checkpoint must be a path, got {_show(model['checkpoint'])}")
    forget = d.get("forget")
    if forget is not None:
        _check_forget(forget, where)
    files = d.get("files", {})
    if not isinstance(files, dict):
        raise BadSession(f"{where}: files must be an object, got {_kind(files)}")
    for name, entry in files.items():
        _check_file_entry(name, entry, where)
    raw_runs = d.get("runs", [])
    if not isinstance(raw_runs, list):
        raise BadSession(f"{where}: runs must be a list, got {_kind(raw_runs)}")
    runs = [_run(r, f"{where}: runs[{i}]") for i, r in enumerate(raw_runs)]
    numbers = [_number(r, f"{where}: runs[{i}]") for i, r in enumerate(raw_runs)]

    base = path.parent
    missing: list[str] = []
    changed: list[str] = []
    model = dict(model)
    if "dataset" in files:
        found = _find(files["dataset"], base)
        scheme = source.partition(":")[0]
        if found:
            source = f"{scheme}:{found}"
        else:
            missing.append("dataset")
    if "checkpoint" in files:
        found = _find(files["checkpoint"], base)
        if found:
            model = {**model, "checkpoint": found}  # keep "arch" / "input_norm" of a bare checkpoint
            if not checkpoint_matches(found, files["checkpoint"].get("sha256")):
                changed.append("checkpoint")
        else:
            missing.append("checkpoint")
    return {"dataset": source, "model": model, "forget": forget, "runs": runs, "numbers": numbers, "missing": missing,
            "changed": changed, "files": files}


def checkpoint_matches(path: str | Path, sha256: str | None) -> bool:
    """True when ``path``'s SHA-256 is ``sha256`` (or none was stored); an unreadable file differs."""
    if sha256 is None:
        return True
    try:
        return sha256_file(path) == sha256
    except OSError:
        return False


# ---------------------------------------------------------------------------------------- checks
def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_SESSION_BYTES:
            raise BadSession(f"{path} is {path.stat().st_size / 2**20:.0f} MB: too large for a session file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadSession(f"the session file {path} does not exist") from None
    except IsADirectoryError:
        raise BadSession(f"{path} is a folder, not a session file") from None
    except OSError as exc:
        raise BadSession(f"{path} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise BadSession(f"{path} is not a session file (it is not text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadSession(f"{path.name} is not a session file (not valid JSON: line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise BadSession(f"{path.name} is not a session file (nested too deeply)") from None


def _check_forget(forget: Any, where: str) -> None:
    try:
        ForgetSpec.from_json(forget)  # types, one kind, fraction in (0, 1), integer seed
    except LetheError as exc:
        raise BadSession(f"{where}: {exc.message}") from None
    except (TypeError, ValueError) as exc:
        raise BadSession(f"{where}: the forget selection is malformed ({exc})") from None


def _check_file_entry(name: Any, entry: Any, where: str) -> None:
    if name not in ("dataset", "checkpoint"):
        raise BadSession(f"{where}: files.{name}: unknown linked file (known: dataset, checkpoint)")
    if not isinstance(entry, dict):
        raise BadSession(f"{where}: files.{name} must be an object, got {_kind(entry)}")
    for key in ("relative", "absolute"):
        if not isinstance(entry.get(key), str):
            raise BadSession(f"{where}: files.{name}.{key} must be a path, got {_show(entry.get(key))}")
    sha = entry.get("sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise BadSession(f"{where}: files.{name}.sha256 must be 64 hex digits or null, got {_show(sha)}")


# field -> the JSON type a run record's field must have (RunRecord.from_json trusts its input)
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "method": (str,), "label": (str,), "spec": (dict,), "metrics": (dict,), "seconds": (dict,), "params": (dict,),
    "per_class_acc": (list,), "forget": (dict,), "dataset": (dict,), "device": (str,), "weights": (str, type(None)),
    "notes": (list,), "references": (list,), "audit": (dict,), "schema_version": (int,),
    "metric_na": (dict,), "metrics_std": (dict,), "per_class_std": (list,), "number": (int,),
}


def _run(d: Any, where: str, depth: int = 0) -> RunRecord:
    """One run record, its fields' types checked (numbers where the tables expect numbers)."""
    if not isinstance(d, dict):
        raise BadSession(f"{where}: a run must be an object, got {_kind(d)}")
    for key in ("method", "spec", "metrics"):
        if key not in d:
            raise BadSession(f"{where}: the run has no {key!r}")
    for key, types in _RUN_FIELDS.items():
        if key in d and (not isinstance(d[key], types) or isinstance(d[key], bool)):
            raise BadSession(f"{where}.{key}: expected {' or '.join(_json_name(t) for t in types)}, got {_kind(d[key])}")
    for group in ("metrics", "seconds"):
        for k, v in d.get(group, {}).items():
            if v is not None and not _is_number(v):
                raise BadSession(f"{where}.{group}.{k}: expected a number, got {_show(v)}")
    for key in ("per_class_acc", "per_class_std"):  # null: a class without test images (NaN)
        if not all(v is None or _is_number(v) for v in d.get(key, [])):
            raise BadSession(f"{where}.{key}: expected a list of numbers")
    if not all(isinstance(n, str) for n in d.get("notes", [])):
        raise BadSession(f"{where}.notes: expected a list of texts")
    forget = d.get("forget", {})
    if "size" in forget and not _is_int(forget["size"]):
        raise BadSession(f"{where}.forget.size: expected a whole number, got {_show(forget['size'])}")
    if not isinstance(forget.get("classes", []), list):
        raise BadSession(f"{where}.forget.classes: expected a list, got {_kind(forget['classes'])}")
    if not isinstance(d.get("dataset", {}).get("classes", []), list):
        raise BadSession(f"{where}.dataset.classes: expected a list")
    verdicts = d.get("audit", {}).get("verdicts", [])
    if not isinstance(verdicts, list) or not all(isinstance(v, dict) for v in verdicts):
        raise BadSession(f"{where}.audit.verdicts: expected a list of objects")
    if depth == 0:
        for i, ref in enumerate(d.get("references", [])):
            _run(ref, f"{where}.references[{i}]", depth + 1)
    elif d.get("references"):
        raise BadSession(f"{where}: a reference run cannot have references of its own")
    try:
        return RunRecord.from_json(d)
    except BadRecord as exc:  # metric_na, metrics_std, ... of the wrong type
        raise BadSession(f"{where}: {exc.message}") from None
    except (TypeError, ValueError) as exc:  # a field RunRecord does not accept
        raise BadSession(f"{where}: not a run record ({exc})") from None


def _number(d: dict[str, Any], where: str) -> int | None:
    """The run's stored ``#`` (None when the session has none: an older file)."""
    n = d.get("number")
    if n is not None and not (_is_int(n) and n > 0):
        raise BadSession(f"{where}.number: expected a positive whole number, got {_show(n)}")
    return n


def _find(entry: dict[str, Any], base: Path) -> str | None:
    """The linked file: beside the session (relative path) first, then at its absolute path."""
    for text, cand in ((entry["relative"], base / entry["relative"]), (entry["absolute"], Path(entry["absolute"]))):
        try:
            if text and cand.exists():
                return str(cand.resolve())
        except (OSError, ValueError):  # a path the OS rejects (NUL byte, too long)
            continue
    return None


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_name(t: type) -> str:
    return {str: "a text", dict: "an object", list: "a list", int: "a whole number", type(None): "null"}.get(t, t.__name__)


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a text", bool: "true/false", int: "a number", float: "a number",
            type(None): "null"}.get(type(v), type(v).__name__)


def _show(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, (str, int, float, bool, type(None))) else _kind(v)
    return text if len(text) <= 60 else text[:57] + "…"
