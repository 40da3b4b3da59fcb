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
from collections.abc import Callable

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


def unsafe_torch_loads(source: str) -> list[int]:
    """Lines of ``torch.load(...)`` calls in ``source`` that do not pass a literal ``weights_only=True``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
            continue
        safe = any(kw.arg == "weights_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                   for kw in node.keywords)
        if not safe:
            lines.append(node.lineno)
    return lines


def cuda_calls(source: str) -> list[int]:
    """Lines of ``<anything>.cuda(...)`` calls in ``source``."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda"]


def _offenders(rule: Callable[[str], list[int]], *folders: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}" for path in _py_files(*folders)
            for line in rule(path.read_text(encoding="utf-8"))]


def test_engine_imports_no_gui_toolkit() -> None:
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["failed"], "engine modules failed to import:\n" + "\n".join(
        f"{name}:\n{tb}" for name, tb in result["failed"].items())
    assert result["gui"] == [], f"the engine imported GUI modules: {result['gui'][:10]}"


def test_every_torch_load_is_weights_only() -> None:
    offenders = _offenders(unsafe_torch_loads, "engine", "app")
    assert not offenders, "torch.load without weights_only=True: " + ", ".join(offenders)


def test_engine_never_calls_cuda() -> None:
    offenders = _offenders(cuda_calls, "engine")
    assert not offenders, ".cuda() in the engine (use .to(device)): " + ", ".join(offenders)


@pytest.mark.parametrize(("source", "lines"), [
    ("torch.load(p)", [1]),
    ("torch.load(p, weights_only=False)", [1]),
    ("flag = True\ntorch.load(p, weights_only=flag)", [2]),  # only a literal True is provably safe
    ("torch.load(p, **options)", [1]),
    ("x = 1\ny = torch.load(p, map_location='cpu', weights_only=True)\nz = torch.load(q)", [3]),
    ("torch.load(p, map_location='cpu', weights_only=True)", []),
    ("np.load(p)\nsafetensors.torch.load_file(p)", []),
])
def test_the_torch_load_rule_flags_exactly_the_unsafe_calls(source: str, lines: list[int]) -> None:
    assert unsafe_torch_loads(source) == lines


@pytest.mark.parametrize(("source", "lines"), [
    ("model.cuda()", [1]),
    ("x = t.to(device)\ny = t.cuda(0)", [2]),
    ("torch.cuda.is_available()\ntorch.cuda.synchronize()", []),  # the torch.cuda module is fine
    ("model.to('cuda')", []),
])
def test_the_cuda_rule_flags_exactly_the_cuda_calls(source: str, lines: list[int]) -> None:
    assert cuda_calls(source) == lines
