"""Architecture rules that keep the engine headless and safe, checked mechanically.

(a) the engine never imports Qt (it must run in the CLI, notebooks and CI without a display);
(b) every ``torch.load`` passes ``weights_only=True`` (a checkpoint must never run code);
(c) the engine never calls ``.cuda()`` (devices are chosen explicitly with ``.to(device)``).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUI_PREFIXES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph")

_IMPORT_ALL = f"""
import importlib, json, pkgutil, sys, traceback
import engine
failed = {{}}
for info in pkgutil.walk_packages(engine.__path__, "engine."):
    try:
        importlib.import_module(info.name)
    except Exception:
        failed[info.name] = traceback.format_exc(limit=3)
gui = sorted(m for m in sys.modules if m.startswith({GUI_PREFIXES!r}))
print(json.dumps({{"failed": failed, "gui": gui}}))
"""


def _py_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def test_engine_imports_no_gui_toolkit() -> None:
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["failed"], "engine modules failed to import:\n" + "\n".join(
        f"{name}:\n{tb}" for name, tb in result["failed"].items())
    assert result["gui"] == [], f"the engine imported GUI modules: {result['gui'][:10]}"


def _is_torch_load(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "load"
            and isinstance(func.value, ast.Name) and func.value.id == "torch")


def test_every_torch_load_is_weights_only() -> None:
    offenders = []
    for path in _py_files("engine", "app"):
        for call in _calls(path):
            if not _is_torch_load(call):
                continue
            safe = any(kw.arg == "weights_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                       for kw in call.keywords)
            if not safe:
                offenders.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not offenders, "torch.load without weights_only=True: " + ", ".join(offenders)


def test_engine_never_calls_cuda() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{call.lineno}"
                 for path in _py_files("engine") for call in _calls(path)
                 if isinstance(call.func, ast.Attribute) and call.func.attr == "cuda"]
    assert not offenders, ".cuda() in the engine (use .to(device)): " + ", ".join(offenders)


@pytest.mark.parametrize("source, expected", [
    ("torch.load(p)", False),
    ("torch.load(p, weights_only=False)", False),
    ("torch.load(p, map_location='cpu', weights_only=True)", True),
])
def test_torch_load_detector(source: str, expected: bool) -> None:
    """The rule above really detects what it claims to (guards against a vacuous check)."""
    (call,) = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    safe = any(kw.arg == "weights_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
               for kw in call.keywords)
    assert _is_torch_load(call) and safe is expected
