"""Shared test set-up: headless Qt, one torch thread, a private cache, no leaked threads."""
from __future__ import annotations

import os
import tempfile
import threading

# One private model cache for the whole run (set before any fixture can train a model), so the
# digits original trains once and nothing is written to the user's real cache.
os.environ["LETHE_CACHE_DIR"] = tempfile.mkdtemp(prefix="lethe-test-cache-")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
import torch

torch.set_num_threads(1)  # tiny models: a second intra-op thread makes them ~10x slower here


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
