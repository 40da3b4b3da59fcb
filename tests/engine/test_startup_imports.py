"""The command line starts without the heavy optional imports: scikit-learn and SciPy load only
when a measurement needs them (they added ~0.9 s to every command, `methods --json` included)."""
from __future__ import annotations

import subprocess
import sys


def test_starting_the_cli_does_not_import_sklearn_or_scipy() -> None:
    code = ("import sys, engine.cli.main, engine; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'PySide6', 'pyqtgraph'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
