"""`Heartbeat`: keep a lease or lock alive while slow work holds it, so that it runs out only if the worker dies.

Claims (`bot.store.threads`) and digest locks (`bot.store.digests`) have a finite lifetime so that work a dead
replica held is taken over. A live worker can still outlast one: the Web API client waits out a 429's Retry-After
(up to three times) inside a single call. Without renewal, another replica would take the work over from a worker
that is only waiting, and the message would go out twice.

Every heartbeat of a process is kept by one daemon thread (started on first use), not a thread each: under load
the bot holds a claim per answer, and starting and joining a thread for each cost more than the answer's own
Redis calls.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from bot.store import StoreUnavailable

log = logging.getLogger(__name__)


class Heartbeat:
    """Calls `renew` every `interval` seconds while the `with` block runs.

    `renew` returns False when the lease is no longer this worker's (taken over): the heartbeat then stops. A
    Redis error is logged and the next beat tries again; the lease is long enough to miss a few. Once the block
    has exited, `renew` is not running and will not run again.
    """

    def __init__(self, renew: Callable[[], bool], *, interval: float, name: str) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.renew = renew
        self.interval = interval
        self.name = name
        self.beats = 0
        self.stopped = False
        self.lock = threading.Lock()  # held while renewing, so that leaving the block waits for a renewal under way

    def __enter__(self) -> Heartbeat:
        _BEATER.add(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        with self.lock:
            self.stopped = True

    def beat(self) -> bool:
        """Renew once, unless stopped; whether to go on."""
        with self.lock:
            if self.stopped:
                return False
            try:
                held = self.renew()
            except StoreUnavailable as exc:
                log.warning("%s: lease not renewed (Redis: %s); trying again", self.name, exc.kind)
                return True
            self.beats += 1
            if not held:
                log.warning("%s: the lease was taken over; no longer renewing it", self.name)
                self.stopped = True
            return not self.stopped


class _Beater:
    """The one thread that renews every running heartbeat when it is due."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Heartbeat]] = []
        self._order = itertools.count()  # ties in time are taken first come, first served
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, heartbeat: Heartbeat) -> None:
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + heartbeat.interval, next(self._order), heartbeat))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._due and self._due[0][2].stopped:
                    heapq.heappop(self._due)  # left its block: forget it without waiting for its turn
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, heartbeat = heapq.heappop(self._due)
            try:
                going_on = heartbeat.beat()
            except Exception:  # a renewal that fails in an unexpected way must not stop every other heartbeat
                log.exception("%s: renewal failed; no longer renewing it", heartbeat.name)
                going_on = False
            if going_on:
                with self._changed:
                    heapq.heappush(self._due, (time.monotonic() + heartbeat.interval, next(self._order), heartbeat))


_BEATER = _Beater()
