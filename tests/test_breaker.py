import logging

import pytest

from satisfice.routing.breaker import CLOSED, HALF_OPEN, OPEN, BreakerBoard


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_threshold_within_window_and_probes_after_cooldown() -> None:
    clock = Clock()
    b = BreakerBoard(failures=3, window_s=10, cooldown_s=30, clock=clock)
    for _ in range(2):
        b.record_failure("p/m")
    assert b.allow("p/m") and b.state("p/m") == CLOSED
    b.record_failure("p/m")
    assert b.state("p/m") == OPEN and not b.allow("p/m")
    clock.t += 30
    assert b.state("p/m") == HALF_OPEN
    assert b.allow("p/m")  # the one probe
    assert not b.allow("p/m")  # no second probe while the first is out
    b.record_success("p/m")
    assert b.state("p/m") == CLOSED and b.allow("p/m")


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    b = BreakerBoard(failures=2, window_s=5, cooldown_s=30, clock=clock)
    b.record_failure("k")
    clock.t += 6
    b.record_failure("k")
    assert b.state("k") == CLOSED


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = Clock()
    b = BreakerBoard(failures=1, window_s=5, cooldown_s=10, clock=clock)
    b.record_failure("k")
    clock.t += 10
    assert b.allow("k")
    b.record_failure("k")
    assert b.state("k") == OPEN
    clock.t += 9
    assert not b.allow("k")
    clock.t += 1
    assert b.allow("k")


def test_released_probe_lets_another_probe_through() -> None:
    clock = Clock()
    b = BreakerBoard(failures=1, window_s=5, cooldown_s=10, clock=clock)
    b.record_failure("k")
    clock.t += 10
    assert b.allow("k")
    b.release_probe("k")
    assert b.allow("k")


def test_opening_and_closing_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    """A provider going down showed nothing in the log at the default level."""
    clock = Clock()
    b = BreakerBoard(failures=2, window_s=10, cooldown_s=30, clock=clock)
    with caplog.at_level(logging.WARNING, logger="satisfice.breaker"):
        for _ in range(2):
            b.record_failure("p/m")
        for _ in range(5):
            assert not b.allow("p/m")  # refused requests add no lines
        clock.t += 30
        assert b.allow("p/m")
        b.record_success("p/m")
    assert [r.getMessage() for r in caplog.records] == [
        "circuit opened for p/m: 2 failures within 10 s",
        "circuit closed for p/m: a probe succeeded",
    ]


def test_breakers_for_many_model_names_stay_bounded_and_open_ones_are_kept() -> None:
    """A passthrough provider makes a breaker per model name a client sends; the board kept every
    one for good (a soak's random names grew each worker by ~2 MB a minute)."""
    clock = Clock()
    board = BreakerBoard(failures=2, window_s=30, cooldown_s=60, clock=clock, max_keys=50)
    board.record_failure("real")
    board.record_failure("real")
    assert board.state("real") == OPEN
    for i in range(500):  # a flood of names, each failing once, all within the window
        board.record_failure(f"junk-{i}")
        assert len(board.snapshot()) <= 50
    assert board.state("real") == OPEN  # the closed ones went first, least recently failed first
    assert "junk-499" in board.snapshot() and "junk-0" not in board.snapshot()
    board.record_failure("junk-499")  # its second failure within the window still opens it
    assert board.state("junk-499") == OPEN
