"""Progress with ETA: the per-stage estimate, the runner's stamped events, the CLI's stderr lines.

Time is a fake clock advanced by each reading, so nothing sleeps."""
from __future__ import annotations

import io

import pytest

from engine._core.events import Progress
from engine._core.progress import StageEta, Throttle, format_eta, format_seconds
from engine.cli.format import ProgressPrinter
from engine.runs.spec import JobSpec


class FakeClock:
    """Each reading moves time on by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_an_eta_appears_after_two_seconds_and_follows_the_fraction() -> None:
    now = [0.0]
    eta = StageEta(lambda: now[0])
    assert eta.eta("train", 0.0) is None  # the stage starts
    now[0] = 1.0
    assert eta.eta("train", 0.5) is None  # too early to tell
    now[0] = 4.0
    assert eta.eta("train", 0.25) == pytest.approx(12.0)  # 4 s for a quarter: 12 s to go
    assert eta.eta("train", 1.0) == 0.0
    assert eta.eta("evaluate", 0.5) is None  # every stage has its own start


def test_eta_and_duration_texts() -> None:
    assert format_eta(None) == ""
    assert format_eta(65.4) == "ETA 1:05"
    assert format_eta(3725) == "ETA 1:02:05"
    assert format_seconds(0.0013) == "0.0013 s" and format_seconds(0.27) == "0.27 s" and format_seconds(None) == "–"


def test_the_throttle_passes_ten_a_second_and_every_forced_update() -> None:
    clock = FakeClock(0.01)  # 100 readings a second
    throttle = Throttle(clock)
    passed = sum(throttle.ready() for _ in range(100))
    assert 9 <= passed <= 11
    assert throttle.ready(force=True)


def test_a_run_emits_monotone_progress_with_an_eta_once_a_stage_ran_two_seconds(runner, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(runner, "clock", FakeClock(0.25))  # every progress reading: a quarter second later
    spec = JobSpec(method="finetune", params={"epochs": 2}, reference=None, geometry=False, audit=False)
    progress = [e for e in runner.run(spec) if isinstance(e, Progress)]
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    unlearn = [e for e in progress if e.stage == "unlearn"]
    assert unlearn[0].eta_s is None  # the first readings of a stage: no guess
    with_eta = [e for e in unlearn if e.eta_s is not None]
    assert with_eta, "a stage that ran past 2 s (fake clock) never got an ETA"
    assert all(e.eta_s >= 0 for e in with_eta)
    assert any("batch" in e.message or "step" in e.message for e in unlearn)


def test_the_printer_writes_plain_lines_with_an_eta_off_a_terminal() -> None:
    stream = io.StringIO()  # not a TTY: one plain line per stage, per 10 % and per 10 s
    now = [0.0]
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    for k in range(21):
        now[0] = 0.5 * k  # half a second an event: 10 s for the stage
        printer(Progress("train", k / 20, f"epoch {k}/20"))
    printer.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "[  0%] train · epoch 0/20"
    assert 10 <= len(lines) <= 12  # every 10 %, not every event
    assert any(line.endswith("ETA 0:05") for line in lines)  # 5 s for half the stage: 5 s to go


def test_the_printer_redraws_one_line_on_a_terminal_at_most_ten_times_a_second() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    now = [0.0]
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    for k in range(400):
        now[0] = 0.01 * k  # 100 events a second for 4 s
        printer(Progress("train", k / 400, f"batch {k}/400"))
    printer.close()
    text = stream.getvalue()
    assert 35 <= text.count("\r") <= 45 and "\n" not in text.rstrip("\n")  # ~10 a second, one line
    assert "ETA" in text


def test_a_methods_time_leaves_out_what_its_reader_does_between_events() -> None:
    import time

    from engine.runs.runner import OwnTime

    def method():  # noqa: ANN202 - a generator of events that returns a value, as a method does
        yield Progress("unlearn", 0.5, "half")
        yield Progress("unlearn", 1.0, "done")
        return "model"

    own = OwnTime(method())
    got = []
    while True:
        try:
            got.append(next(own))
        except StopIteration as stop:
            assert stop.value == "model"
            break
        time.sleep(0.2)  # the studio drawing a frame, a terminal printing: not the method's time
    assert len(got) == 2 and own.seconds < 0.1


def test_each_bench_step_gets_its_own_line_in_a_log_and_timed_work_is_followed_sparingly() -> None:
    """`bench methods` on CIFAR showed "1/11 load" for the whole 13-minute Retrain: step 2's line
    fell inside the printer's 10 % / 10 s window and the timed Retrain printed nothing."""
    from engine.cli.bench import Steps

    stream = io.StringIO()
    now = [0.0]
    printer = ProgressPrinter(stream, clock=lambda: now[0])
    steps = Steps("bench methods", 11, printer)
    steps.begin("seed 0: load the data and the original")
    now[0] = 0.3
    steps.begin("seed 0: Retrain (timed) and the references' metrics")

    def retrain():  # noqa: ANN202 - an event generator
        for k in range(1000):
            now[0] += 0.5  # the printer's clock: 500 s of training
            yield Progress("train", k / 1000, f"epoch {k // 100 + 1}/10")
        return "model"

    assert steps.follow(retrain(), every_s=1e-9) == "model"
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("1/11 seed 0: load the data and the original")
    assert lines[1].endswith("2/11 seed 0: Retrain (timed) and the references' metrics")
    training = [line for line in lines[2:] if "Retrain" in line]
    assert 40 <= len(training) <= 60  # a line every 10 s of a 500 s step, each with the epoch
    assert "epoch 10/10" in training[-1] and "ETA" in training[-1]


def test_a_followed_timed_job_reads_at_most_one_event_per_interval() -> None:
    from engine.cli.bench import Steps

    seen: list[Progress] = []
    steps = Steps("bench", 2, seen.append)
    steps.begin("timed")
    events = (Progress("train", k / 10_000, "") for k in range(10_000))
    steps.follow(events, every_s=3600.0)  # a fast generator: only the first event is shown
    assert len(seen) == 2  # the step's own line and one event
