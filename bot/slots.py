"""`ComputeSlots`: how many background jobs of one process may run Python at the same time.

The work after an HTTP response (answering a follow-up, posting a verdict, a re-review) is a little computing and
a lot of waiting: on Slack's Web API (tens of milliseconds a call, or a 429's Retry-After) and on Redis. Waiting
takes a thread but no interpreter, so the bot runs many worker threads (`SHOULD_FINETUNE_WORKER_THREADS`) to keep
many Web API calls in flight. Computing takes the interpreter, which one process runs on one core at a time: with
more than a couple of threads computing, each HTTP thread waits its turn behind all of them, and Slack's 3-second
acknowledgements are what suffers (measured in BENCHMARKS.md).

So a job holds a slot while it computes and gives it back while it waits on Slack (the Web API client does that
around each call, the retries' waits included). When the process has more work than its core can compute, the
answers queue for slots (durably: their claims are in Redis) and the acknowledgements stay on time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Two: one job's Python can run while another's Redis reply is on its way; more only take turns.
DEFAULT_SLOTS = 2


class ComputeSlots:
    """At most `size` threads inside `computing()` at once, less those inside `waiting()` within it."""

    def __init__(self, size: int = DEFAULT_SLOTS) -> None:
        if size < 1:
            raise ValueError("at least one slot")
        self.size = size
        self._free = threading.BoundedSemaphore(size)
        self._mine = threading.local()

    def holding(self) -> bool:
        """Whether the calling thread holds a slot now."""
        return bool(getattr(self._mine, "held", False))

    @contextmanager
    def computing(self) -> Iterator[None]:
        """Hold a slot for the block (waiting for one first); re-entrant on the same thread."""
        if self.holding():
            yield
            return
        self._free.acquire()
        self._mine.held = True
        try:
            yield
        finally:
            self._mine.held = False
            self._free.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the calling thread's slot back for the block, if it holds one, and take one again after it."""
        if not self.holding():
            yield
            return
        self._mine.held = False
        self._free.release()
        try:
            yield
        finally:
            self._free.acquire()
            self._mine.held = True
