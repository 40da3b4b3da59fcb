"""Run a script from ``../shared/cases/`` against this checkout, whatever engine paths it imports.

The case scripts were written against the flat engine of before the layers (``engine.checkpoints``,
``engine.jobs``, ``app.tasks``, ...). This runner maps each old module name onto its new home in
``sys.modules`` and then runs the script as ``__main__``, so the evidence stays usable without
keeping compatibility modules in the package itself.

Usage: ``python scripts/run_case.py ../shared/cases/<area>/<file>.py [args...]`` from the repo root.
"""
from __future__ import annotations

import importlib
import runpy
import sys
from pathlib import Path

OLD_TO_NEW = {
    "engine.errors": "engine._core.errors",
    "engine.events": "engine._core.events",
    "engine.cancel": "engine._core.cancel",
    "engine.device": "engine._core.device",
    "engine.fileio": "engine._core.fileio",
    "engine.cache": "engine._core.cache",
    "engine.checkpoints": "engine.models.checkpoints",
    "engine.training": "engine.train.loop",
    "engine.features": "engine.train.features",
    "engine.pretrained": "engine.train.pretrained",
    "engine.geometry": "engine.live.geometry",
    "engine.probe": "engine.live.probe",
    "engine.simplex": "engine.live.simplex",
    "engine.methods.pour_common": "engine.methods.pour.common",
    "engine.methods.pour_p": "engine.methods.pour.pour_p",
    "engine.methods.pour_d": "engine.methods.pour.pour_d",
    "engine.metrics.restoration": "engine.evaluation.restoration",
    "engine.audit": "engine.evaluation.audit",
    "engine.ensembles": "engine.evaluation.ensembles",
    "engine.jobs": "engine.runs.runner",
    "engine.record": "engine.runs.record",
    "engine.report": "engine.report.html",
    "engine.figures": "engine.report.figures",
    "engine.cli_format": "engine.cli.format",
    "engine.bench": "engine.cli.bench",
    "app.tasks": "engine.runs.prepare",
}
# Names the old flat modules exported that now live in a sibling module of the new home.
EXTRA = {
    "engine.jobs": ("engine.runs.spec", "engine.runs.record"),
    "engine.training": ("engine.train.recipe",),
    "engine.evaluation": ("engine.evaluation.evaluator",),
}


class _Alias:
    """A module-like view over several modules (first one wins)."""

    def __init__(self, *mods: object) -> None:
        self._mods = mods

    def __getattr__(self, name: str) -> object:
        for m in self._mods:
            if hasattr(m, name):
                return getattr(m, name)
        raise AttributeError(name)


def install() -> None:
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    # Import every new module first, so an old name that is now a package keeps working as one.
    for new in {*OLD_TO_NEW.values(), *(x for xs in EXTRA.values() for x in xs)}:
        importlib.import_module(new)
    for old, new in OLD_TO_NEW.items():
        mods = [sys.modules[new]] + [sys.modules[x] for x in EXTRA.get(old, ())]
        if old in sys.modules and hasattr(sys.modules[old], "__path__"):  # now a package: add the names
            for m in mods:
                for k, v in vars(m).items():
                    if not k.startswith("__"):
                        setattr(sys.modules[old], k, v)
            continue
        sys.modules[old] = mods[0] if len(mods) == 1 else _Alias(*mods)  # type: ignore[assignment]
    for old, extra in EXTRA.items():  # old names that are packages now (engine.evaluation)
        if old not in OLD_TO_NEW and old in sys.modules:
            for x in extra:
                for k, v in vars(sys.modules[x]).items():
                    if not k.startswith("__"):
                        setattr(sys.modules[old], k, v)


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    install()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
