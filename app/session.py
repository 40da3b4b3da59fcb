"""Session files: dataset, original model, forget selection and runs as JSON (schema_version 1).

Paths are stored relative to the session file (and absolute, as a fallback) with the SHA-256 of
files, so a moved file can be relinked and a changed one noticed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from engine import BadSpec, RunRecord, atomic_write_text, sha256_file

SCHEMA_VERSION = 1
_PATH_SCHEMES = ("folder", "npz")


def _rel(path: str, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return path


def session_json(source: str, model: dict[str, Any], forget: dict[str, Any] | None, runs: list[RunRecord],
                 path: Path) -> dict[str, Any]:
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
        "runs": [r.to_json() for r in runs],
    }


def save_session(path: str | Path, **kw: Any) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(session_json(path=path, **kw), indent=1))
    return path


def load_session(path: str | Path) -> dict[str, Any]:
    """Parse a session; returns dict with dataset, model, forget, runs (RunRecords) and ``missing`` paths."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadSpec(f"{path} is not a readable session file ({exc})", hint="choose a .lethe.json session file") from None
    if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
        raise BadSpec(f"{path}: unsupported session schema_version {d.get('schema_version') if isinstance(d, dict) else None!r}")
    base = path.parent
    missing: list[str] = []
    source, model = d.get("dataset", "digits"), dict(d.get("model") or {"arch": "cnn_small"})
    files = d.get("files", {})
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
        else:
            missing.append("checkpoint")
    runs = [RunRecord.from_json(r) for r in d.get("runs", [])]
    return {"dataset": source, "model": model, "forget": d.get("forget"), "runs": runs, "missing": missing,
            "files": files}


def _find(entry: dict[str, Any], base: Path) -> str | None:
    for cand in (base / entry.get("relative", ""), Path(entry.get("absolute", ""))):
        if entry.get("relative") is not None and cand.exists():
            return str(cand.resolve())
    return None
