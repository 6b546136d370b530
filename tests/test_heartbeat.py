"""Heartbeats: renewals while the block runs, none after, one thread for all of them."""

from __future__ import annotations

import threading
import time

import pytest

from bot.heartbeat import Heartbeat
from bot.store import StoreUnavailable

INTERVAL = 0.02


class Renewals:
    """A renew function that counts its calls and answers as told."""

    def __init__(self, answers: list[bool | Exception] | None = None, *, takes: float = 0.0) -> None:
        self.calls: list[float] = []
        self.answers = answers or []
        self.takes = takes
        self.running = threading.Event()

    def __call__(self) -> bool:
        self.running.set()
        self.calls.append(time.monotonic())
        time.sleep(self.takes)
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_renews_every_interval_while_the_block_runs_and_never_after() -> None:
    renewals = Renewals()
    with Heartbeat(renewals, interval=INTERVAL, name="claim") as heartbeat:
        time.sleep(INTERVAL * 10)
    stopped = len(renewals.calls)
    time.sleep(INTERVAL * 5)

    assert stopped >= 3  # on a busy machine fewer than the ten due, but it did keep renewing
    assert len(renewals.calls) == stopped == heartbeat.beats
    assert all(b - a >= INTERVAL * 0.9 for a, b in zip(renewals.calls, renewals.calls[1:], strict=False))


def test_a_short_block_renews_nothing() -> None:
    renewals = Renewals()
    with Heartbeat(renewals, interval=0.5, name="claim"):
        pass
    time.sleep(0.6)
    assert renewals.calls == []


def test_leaving_the_block_waits_for_a_renewal_under_way() -> None:
    renewals = Renewals(takes=0.2)
    with Heartbeat(renewals, interval=INTERVAL, name="claim"):
        assert renewals.running.wait(2)
        left_at = time.monotonic()
    assert time.monotonic() - left_at >= 0.1  # waited for the renewal in progress, as joining a thread did
    count = len(renewals.calls)
    time.sleep(0.3)
    assert len(renewals.calls) == count


def test_a_lease_taken_over_is_no_longer_renewed() -> None:
    renewals = Renewals([True, False])
    with Heartbeat(renewals, interval=INTERVAL, name="claim") as heartbeat:
        time.sleep(INTERVAL * 10)
    assert len(renewals.calls) == 2
    assert heartbeat.beats == 2


def test_a_redis_error_is_logged_and_the_next_beat_tries_again(caplog: pytest.LogCaptureFixture) -> None:
    renewals = Renewals([StoreUnavailable("ConnectionError: down", kind="ConnectionError"), True, True])
    with Heartbeat(renewals, interval=INTERVAL, name="claim in C1") as heartbeat:
        time.sleep(INTERVAL * 8)
    assert len(renewals.calls) >= 3
    assert heartbeat.beats == len(renewals.calls) - 1
    assert "claim in C1: lease not renewed (Redis: ConnectionError); trying again" in caplog.text


def test_an_unexpected_error_stops_that_heartbeat_only(caplog: pytest.LogCaptureFixture) -> None:
    broken = Renewals([ValueError("bug")])
    fine = Renewals()
    with Heartbeat(broken, interval=INTERVAL, name="broken"), Heartbeat(fine, interval=INTERVAL, name="fine"):
        time.sleep(INTERVAL * 8)
    assert len(broken.calls) == 1
    assert len(fine.calls) >= 3
    assert "broken: renewal failed" in caplog.text


def test_many_heartbeats_share_one_thread_and_each_is_renewed() -> None:
    before = threading.active_count()
    renewals = [Renewals() for _ in range(50)]
    heartbeats = [Heartbeat(r, interval=INTERVAL, name=f"claim {n}") for n, r in enumerate(renewals)]
    for heartbeat in heartbeats:
        heartbeat.__enter__()
    try:
        time.sleep(INTERVAL * 10)
        assert threading.active_count() <= before + 1
    finally:
        for heartbeat in heartbeats:
            heartbeat.__exit__(None, None, None)
    assert all(len(r.calls) >= 2 for r in renewals)


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        Heartbeat(Renewals(), interval=0, name="claim")
