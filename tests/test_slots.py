"""Compute slots: at most two background jobs compute at once, and a job waiting on Slack gives its slot back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.slack.api import build_client
from bot.slots import DEFAULT_SLOTS, ComputeSlots
from tests.fakeslack import FakeSlack
from tests.slack_support import CHANNEL, bot_settings


class Gauge:
    """The most threads seen inside a block at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def inside(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self._lock:
            self.now -= 1


def run_all(jobs: int, job: Callable[[], None]) -> None:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(job) for _ in range(jobs)]:
            future.result(timeout=30)


def test_at_most_size_threads_compute_at_once() -> None:
    slots, gauge = ComputeSlots(2), Gauge()

    def job() -> None:
        with slots.computing():
            gauge.inside(0.02)

    run_all(12, job)
    assert gauge.most == 2


def test_a_thread_waiting_gives_its_slot_to_another() -> None:
    slots, computing, waiting = ComputeSlots(1), Gauge(), Gauge()

    def job() -> None:
        with slots.computing():
            computing.inside(0.005)
            with slots.waiting():
                waiting.inside(0.2)
            assert slots.holding()
            computing.inside(0.005)

    run_all(8, job)
    assert computing.most == 1
    assert waiting.most >= 4  # with one slot and no giving back, never more than one


def test_computing_is_reentrant_and_waiting_outside_a_slot_changes_nothing() -> None:
    slots = ComputeSlots(1)
    with slots.waiting():
        assert not slots.holding()
    with slots.computing():
        with slots.computing():
            assert slots.holding()
        assert slots.holding()
    assert not slots.holding()
    with slots.computing():  # the slot was given back once, not twice or never
        pass


def test_a_job_that_fails_gives_its_slot_back() -> None:
    slots = ComputeSlots(1)
    with pytest.raises(RuntimeError), slots.computing():
        raise RuntimeError("boom")
    done = threading.Event()

    def another() -> None:
        with slots.computing():
            done.set()

    threading.Thread(target=another, daemon=True).start()
    assert done.wait(5)


def test_the_default_is_two_and_at_least_one_is_needed() -> None:
    assert ComputeSlots().size == DEFAULT_SLOTS == 2
    with pytest.raises(ValueError, match="at least one slot"):
        ComputeSlots(0)


def test_web_api_calls_are_made_without_a_slot(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> None:
    # Eight jobs, one slot, each job posting once to a Slack that takes 1 s to answer: holding the slot during the
    # call, each call would arrive a second after the one before; giving it back, they are in flight together.
    fake_slack.set_delay("chat.postMessage", 1.0)
    slots = ComputeSlots(1)
    client = build_client(bot_settings(fake_slack, redis_url, key_prefix), slots=slots)
    holding_after: list[bool] = []

    def job() -> None:
        with slots.computing():
            client.chat_postMessage(channel=CHANNEL, text="hello")
            holding_after.append(slots.holding())

    run_all(8, job)

    arrivals = sorted(call.at for call in fake_slack.calls("chat.postMessage"))
    assert len(arrivals) == 8
    assert holding_after == [True] * 8
    in_flight_with_the_first = [at for at in arrivals if at - arrivals[0] < 1.0]
    assert len(in_flight_with_the_first) >= 4, arrivals
