"""Mutation check: plant each fault the suite must catch, run the tests that guard it, expect red.

Each mutant is an exact text replacement in a temporary copy of the repository (tracked and
untracked-but-not-ignored files); a replacement whose text is not found exactly once stops the
check with exit code 3, so a refactor cannot silently turn a mutant into a no-op: update the anchor.
An unmutated copy runs every selected test alongside and must pass (exit code 2 otherwise: a red
baseline would make every "killed" meaningless). Then one line per mutant, ``killed`` or
``SURVIVED``; the exit code is 1 when any mutant survives. Anchors in engine/methods/_loops.py
(mutant e) follow the optimisation loop: move them with it when the loop is refactored.

Usage: python scripts/mutation_check.py [--jobs 2] [--timeout 240] [--only a,c] [--keep]
Cost: ~110 s of CPU (seven pytest processes of one to three tests each, two at a time): about a
minute on 2 free cores. Each process trains the digits original unless tests/conftest.py honours an
outer LETHE_CACHE_DIR, which the script points at a cache it pre-warms once.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "tests/engine/test_methods_contract.py"


@dataclass(frozen=True)
class Mutant:
    """A planted fault: ``edits`` are (file, exact old text, new text); ``tests`` the pytest node ids
    that must go red with it."""

    key: str
    what: str
    edits: tuple[tuple[str, str, str], ...]
    tests: tuple[str, ...]
    notes: str = field(default="")


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "a", "cancellation switched off: CancelToken.check never raises",
        (("engine/_core/cancel.py",
          "        if self._event.is_set():\n            raise Cancelled(",
          "        if False:  # MUTANT\n            raise Cancelled("),),
        (f"{CONTRACT}::test_a_token_cancelled_before_the_call_stops_the_method[finetune]",
         f"{CONTRACT}::test_a_token_cancelled_before_the_call_stops_the_method[pour_p-class_mean]",
         f"{CONTRACT}::test_cancel_from_another_thread_raises_cancelled_within_a_second[finetune]"),
    ),
    Mutant(
        "b1", "RUS halved in engine/metrics/rus.py",
        (("engine/metrics/rus.py",
          "    return 2.0 * phi_f * cka_r / (phi_f + cka_r + RUS_EPS)",
          "    return 1.0 * phi_f * cka_r / (phi_f + cka_r + RUS_EPS)  # MUTANT"),),
        ("tests/engine/test_rus_aus.py::test_harmonic_mean_by_hand",
         "tests/engine/test_rus_aus.py::test_components_use_cka"),
    ),
    Mutant(
        "b2", "RUS halved where every record gets it (Evaluator.rus)",
        (("engine/evaluation/evaluator.py",
          '        return float(parts["rus"])',
          '        return float(parts["rus"]) / 2  # MUTANT'),),
        ("tests/engine/test_rus_aus.py::test_a_run_records_the_rus_of_metrics_rus_on_its_own_features[original]",),
    ),
    Mutant(
        "c", "the original modified in place: copy_original hands out the original itself",
        (("engine/methods/base.py",
          "        model = copy.deepcopy(self.original)\n",
          "        model = self.original  # MUTANT\n"),),
        (f"{CONTRACT}::test_runs_and_keeps_the_original[finetune]",
         "tests/engine/test_pour_methods.py::test_pour_leaves_the_original_weights_unchanged[pour_d]"),
    ),
    Mutant(
        "d", "the feasible mask not applied: every coordinate admitted",
        (("engine/methods/masks.py",
          "            ok = helps & significant\n",
          "            ok = torch.ones_like(helps)  # MUTANT\n"),),
        (f"{CONTRACT}::test_the_feasible_mask_keeps_the_retain_set_that_plain_gradient_ascent_destroys",),
    ),
    Mutant(
        "e", "update masks (SalUn) not applied in the optimisation loop",
        (("engine/methods/_loops.py",
          "            all_hooks.insert(0, update_mask)\n",
          "            pass  # MUTANT: the mask is built but never handed to the loop\n"),),
        (f"{CONTRACT}::test_salun_mask_freezes_the_non_salient_weights[random_label]",
         f"{CONTRACT}::test_salun_mask_freezes_the_non_salient_weights[grad_ascent]"),
        notes="anchor in engine/methods/_loops.py (the method-side adapter of engine/train/loop.run_phases)",
    ),
)


def repo_files(root: Path) -> list[Path]:
    """Tracked and untracked-but-not-ignored files (what a commit of the working tree would hold)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, check=True).stdout.decode()
    return [Path(p) for p in out.split("\0") if p and (root / p).is_file()]


def copy_tree(root: Path, files: list[Path], dest: Path) -> None:
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def plant(tree: Path, mutant: Mutant) -> None:
    """Apply the mutant's edits; raise LookupError if an anchor is not found exactly once."""
    for rel, old, new in mutant.edits:
        path = tree / rel
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        count = text.count(old)
        if count != 1:
            raise LookupError(f"mutant ({mutant.key}): the text to replace occurs {count} times in {rel} "
                              f"(expected once); update its anchor in scripts/mutation_check.py:\n{old}")
        path.write_text(text.replace(old, new), encoding="utf-8")


def run_tests(tree: Path, tests: tuple[str, ...], cache_dir: Path, timeout: float) -> tuple[int, float, str]:
    """(pytest exit code, seconds, output tail); exit code -1 on a timeout."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1",
           "LETHE_CACHE_DIR": str(cache_dir)}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *tests]  # one process each
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return -1, time.perf_counter() - t0, out[-2000:]
    return proc.returncode, time.perf_counter() - t0, (proc.stdout + proc.stderr)[-2000:]


PREWARM = """
import torch
from engine._core.events import drain
from engine.data import load_dataset
from engine.train.pretrained import obtain_original
from engine.train.recipe import default_recipe
torch.set_num_threads(1)
d = load_dataset("digits")
drain(obtain_original(d, "cnn_small", default_recipe("cnn_small", d.image_size, d.channels), device=torch.device("cpu")))
"""


def prewarm_cache(tree: Path, cache_dir: Path) -> None:
    """Train the digits original the tests use once, into ``cache_dir`` (copied to every run's cache, so
    a conftest that honours an outer LETHE_CACHE_DIR does not train it once per pytest process)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "LETHE_CACHE_DIR": str(cache_dir)}
    subprocess.run([sys.executable, "-c", PREWARM], cwd=tree, env=env, check=True, capture_output=True)


def check_imports_the_copy(tree: Path) -> None:
    """The copy's ``engine`` must be the one imported (an installed copy would hide every mutant)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", "import engine; print(engine.__file__)"], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the copy imports engine from {out}, not from {tree}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="pytest processes at a time (default 2)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per pytest process")
    ap.add_argument("--only", default="", help="comma-separated mutant keys (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies")
    args = ap.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.key in args.only.split(",")]
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="lethe-mutants-"))
    try:
        files = repo_files(ROOT)
        trees: dict[str, Path] = {}
        for key in ["baseline", *(m.key for m in mutants)]:
            trees[key] = work / key
            copy_tree(ROOT, files, trees[key])
        try:
            for m in mutants:
                plant(trees[m.key], m)
        except LookupError as exc:
            print(f"ERROR {exc}", file=sys.stderr)
            return 3
        check_imports_the_copy(trees["baseline"])
        prewarm_cache(trees["baseline"], work / "cache-seed")
        for key in trees:
            shutil.copytree(work / "cache-seed", work / f"cache-{key}")
        baseline_tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
        jobs = [("baseline", baseline_tests)] + [(m.key, m.tests) for m in mutants]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {key: pool.submit(run_tests, trees[key], tests, work / f"cache-{key}", args.timeout)
                       for key, tests in jobs}
            results = {key: f.result() for key, f in futures.items()}
        code, secs, tail = results["baseline"]
        if code != 0:
            print(f"ERROR the unmutated tree fails the selected tests (exit {code}, {secs:.0f} s):\n{tail}",
                  file=sys.stderr)
            return 2
        print(f"baseline  passes {len(baseline_tests)} selected tests ({secs:.0f} s)")
        survived = errors = 0
        for m in mutants:
            code, secs, tail = results[m.key]
            # pytest exit 1: tests failed (red). 0: all green. 2-5: interrupted, internal or usage
            # error, nothing collected: the mutant broke the run rather than a test's assertion.
            verdict = {0: "SURVIVED", 1: "killed", -1: "killed (timeout)"}.get(code, f"ERROR (pytest exit {code})")
            survived += code == 0
            errors += code not in (0, 1, -1)
            print(f"{verdict:<8} ({m.key}) {m.what}  [{secs:.0f} s]" + (f"  -- {m.notes}" if m.notes else ""))
            if code == 0:
                print(f"         these tests stayed green: {' '.join(m.tests)}")
            elif code not in (1, -1):
                print(tail, file=sys.stderr)
        print(f"{len(mutants) - survived - errors} of {len(mutants)} mutants killed "
              f"in {time.perf_counter() - t_start:.0f} s")
        return 1 if survived else (3 if errors else 0)
    finally:
        if args.keep:
            print(f"copies kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
