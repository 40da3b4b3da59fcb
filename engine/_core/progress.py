"""Time left in a job: per-stage ETA from the fraction done, a throttle, and the "m:ss" text.

One rule everywhere (runner, CLI printer, studio): the ETA of a stage is ``elapsed × (1 − f) / f``
where ``f`` is the stage's fraction done and ``elapsed`` the time since the stage's first progress
event; it is given only once the stage has run for :data:`ETA_AFTER_S` seconds (a short job never
shows a jumpy guess) and ``f`` is above 1 %. The clock is injectable, so tests need no sleeping.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

ETA_AFTER_S = 2.0  # no ETA before a stage has run this long
EVERY_S = 0.1  # progress shown at most this often (10 a second)


class StageEta:
    """ETA (seconds) of each stage of a job from its fraction done; ``clock`` returns seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, after_s: float = ETA_AFTER_S) -> None:
        self.clock = clock
        self.after_s = after_s
        self._start: dict[str, float] = {}

    def eta(self, stage: str, fraction: float) -> float | None:
        """Seconds left in ``stage`` at ``fraction`` (clamped to [0, 1]); None while too early to tell."""
        now = self.clock()
        start = self._start.setdefault(stage, now)
        elapsed = now - start
        f = max(0.0, min(1.0, fraction))
        if f >= 1.0:
            return 0.0
        if elapsed < self.after_s or f < 0.01:
            return None
        return elapsed * (1.0 - f) / f


class Throttle:
    """True at most every ``every_s`` seconds, and always for a ``force``d update (a new stage, the end)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, every_s: float = EVERY_S) -> None:
        self.clock = clock
        self.every_s = every_s
        self._last = -math.inf

    def ready(self, force: bool = False) -> bool:
        now = self.clock()
        if force or now - self._last >= self.every_s:
            self._last = now
            return True
        return False


def format_eta(seconds: float | None) -> str:
    """``"ETA 1:05"`` (m:ss; h:mm:ss past an hour), or ``""`` when there is no estimate."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    s = round(max(0.0, seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"ETA {h}:{m:02d}:{sec:02d}" if h else f"ETA {m}:{sec:02d}"


def format_seconds(seconds: float | None) -> str:
    """A duration as people read it: ``"12.35 s"``, ``"0.27 s"``, ``"0.0013 s"`` (two significant
    digits below 0.1 s, never a bare "0.00"), ``"–"`` for None or NaN."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds:.2g} s"
