"""Shared test set-up: headless Qt, one torch thread, a private cache, no leaked threads or processes."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
from pathlib import Path

# What the suite writes outside tmp_path goes under one session folder, removed when the session
# ends (pytest_unconfigure): the model cache, so the digits original trains once and nothing lands
# in the user's ~/.cache/lethe, and matplotlib's font cache (else ~/.cache/matplotlib). An outer
# LETHE_CACHE_DIR (CI, or a developer reusing trained originals between runs) is used as it is
# and kept. Set here, before any fixture can train a model. Under pytest-xdist the workers inherit
# the controller's environment, so both share its cache (the cache's entry lock keeps one training
# per entry) and the controller removes it.
_SESSION_DIR = tempfile.mkdtemp(prefix="lethe-tests-")
if not os.environ.get("LETHE_CACHE_DIR"):
    os.environ["LETHE_CACHE_DIR"] = os.path.join(_SESSION_DIR, "cache")
    os.makedirs(os.environ["LETHE_CACHE_DIR"])
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_SESSION_DIR, "matplotlib"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402 - after the environment is set above
import torch  # noqa: E402

torch.set_num_threads(1)  # tiny models: a second intra-op thread makes them ~10x slower here


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove this session's folder (an outer LETHE_CACHE_DIR lies elsewhere and is kept)."""
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("LETHE_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.setenv("LETHE_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    """Fail a test that leaves a Python thread running (QThreads are checked in tests/app)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not leaked, f"test left threads running: {leaked}"


def _child_pids() -> set[int]:
    """Live (non-zombie) child processes of this test process (Linux /proc; empty elsewhere)."""
    pids: set[int] = set()
    for f in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            pids.update(int(p) for p in f.read_text().split())
        except OSError:
            continue
    live = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            live.add(pid)
    return live


def _resource_tracker_pid() -> int | None:
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_pid", None)  # started once by "spawn"; lives on


@pytest.fixture(autouse=True)
def _no_dangling_processes():
    """Fail a test that leaves a child process running (a job process, a subprocess); kill it first."""
    before_mp = {p.pid for p in multiprocessing.active_children()}
    before_os = _child_pids()
    yield
    left = [p for p in multiprocessing.active_children() if p.pid not in before_mp]
    for p in left:
        p.kill()
        p.join(5)
    stray = _child_pids() - before_os - {_resource_tracker_pid()} - {p.pid for p in left}
    assert not left and not stray, f"test left child processes running: {left} {sorted(stray)}"
