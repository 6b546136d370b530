"""The digest scheduler: a thread in the bot process that sends due digests, and catches up after downtime.

Every replica runs one. Each tick asks the runner to send the latest due period's digests; the per-channel markers
and claims in Redis make all but one replica (and a cron job running `should-finetune digest`) skip each channel.
The first tick is at start-up, so a digest missed while the bot was down goes out as soon as it is back.
"""

from __future__ import annotations

import logging
import random
import threading

from bot.digest.runner import DigestRunner

__all__ = ["DEFAULT_TICK", "DigestScheduler"]

log = logging.getLogger(__name__)

# Seconds between two looks at what is due; a due digest goes out within about this long of its time.
DEFAULT_TICK = 60.0


class DigestScheduler:
    """Runs `runner.run_due()` at start and then about every `tick` seconds until stopped."""

    def __init__(self, runner: DigestRunner, *, tick: float = DEFAULT_TICK) -> None:
        self._runner = runner
        self._tick = tick
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="digest-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop (a digest being posted stops between two messages) and wait for it."""
        self._runner.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._runner.stop.is_set():
            try:
                self._runner.run_due()
            except Exception:  # Redis down, say: logged, and the next tick tries again
                log.exception("digest run failed")
            # Replicas started together drift apart, so they do not all look at once.
            self._runner.stop.wait(self._tick * random.uniform(0.8, 1.2))
