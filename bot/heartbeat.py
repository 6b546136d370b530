"""`Heartbeat`: keep a lease or lock alive while slow work holds it, so that it runs out only if the worker dies.

Claims (`bot.store.threads`) and digest locks (`bot.store.digests`) have a finite lifetime so that work a dead
replica held is taken over. A live worker can still outlast one: the Web API client waits out a 429's Retry-After
(up to three times) inside a single call. Without renewal, another replica would take the work over from a worker
that is only waiting, and the message would go out twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Heartbeat:
    """Calls `renew` every `interval` seconds on a daemon thread while the `with` block runs.

    `renew` returns False when the lease is no longer this worker's (taken over): the heartbeat then stops. A
    Redis error is logged and the next beat tries again; the lease is long enough to miss a few.
    """

    def __init__(self, renew: Callable[[], bool], *, interval: float, name: str) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.renew = renew
        self.interval = interval
        self.name = name
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                held = self.renew()
            except RedisError as exc:
                log.warning("%s: lease not renewed (Redis: %s); trying again", self.name, type(exc).__name__)
                continue
            self.beats += 1
            if not held:
                log.warning("%s: the lease was taken over; no longer renewing it", self.name)
                return
