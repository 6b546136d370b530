"""`Worker`: claims jobs once, runs them after the HTTP response on its thread pools within compute slots, keeps
their leases alive while they run, marks them done, and takes over the jobs a stopped worker left behind."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bot.heartbeat import Heartbeat
from bot.metrics import Metrics
from bot.slots import ComputeSlots
from bot.store import Claim, StoreUnavailable, WorkQueue
from bot.work.jobs import Job, job_of

log = logging.getLogger(__name__)

Handler = Callable[[Claim], None]


class Worker:
    """The one owner of background work: two thread pools (`background`, and `urgent` for work with a deadline,
    such as opening a form within a trigger's 3 seconds), their compute slots, the claims' heartbeats and the sweeper.

    What a job does is registered per kind with `handle`; `run` dispatches a held claim to it."""

    def __init__(
        self,
        queue: WorkQueue,
        *,
        threads: int,
        urgent_threads: int,
        metrics: Metrics | None = None,
        slots: ComputeSlots | None = None,
        urgent_slots: ComputeSlots | None = None,
        finish_for: float = 30.0,
    ) -> None:
        self.queue = queue
        self.finish_for = finish_for
        self.metrics = metrics if metrics is not None else Metrics(process=False)
        self.background = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="should-finetune")
        self.urgent = ThreadPoolExecutor(max_workers=urgent_threads, thread_name_prefix="should-finetune-now")
        # Background work computes in one of these, and gives it back while it waits on Slack (see `bot.slots`);
        # work with a deadline has slots of its own, so that neither can hold the other up.
        self.slots = slots if slots is not None else ComputeSlots()
        self.urgent_slots = urgent_slots if urgent_slots is not None else ComputeSlots()
        self._handlers: dict[type, Handler] = {}
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def handle(self, kind: type, handler: Handler) -> None:
        """Run claims of jobs of `kind` with `handler` (it does the work and marks the claim done)."""
        self._handlers[kind] = handler

    # Claims

    def claim(self, job: Job, *, event_id: str = "", verdict_thread: str | None = None) -> Claim:
        """Claim `job` (durably, on the request path) without running it."""
        return self.queue.claim(job.ref, event_id=event_id, payload=job.payload(), verdict_thread=verdict_thread)

    def submit(self, job: Job, *, event_id: str = "", verdict_thread: str | None = None) -> Claim:
        """Claim `job` and, if this worker holds it now, run it after the HTTP response."""
        claim = self.claim(job, event_id=event_id, verdict_thread=verdict_thread)
        if claim.held:
            self.run_soon(self.run, claim=claim)
        return claim

    def run(self, claim: Claim) -> None:
        """Do the held `claim`'s job now, on this thread."""
        job = job_of(claim.payload or {})
        handler = self._handlers.get(type(job)) if job is not None else None
        if handler is None:
            log.error("claim %s in %s has no usable payload; dropped", claim.ref.key, claim.ref.channel)
            self.finish(claim)
            return
        handler(claim)

    def holding(self, claim: Claim) -> Heartbeat:
        """A heartbeat that renews `claim`'s lease three times per lease while the work runs."""
        return Heartbeat(
            lambda: self.queue.extend(claim),
            interval=self.queue.lease.total_seconds() / 3,
            name=f"{claim.ref.key} in {claim.ref.channel}",
        )

    def finish(self, claim: Claim) -> None:
        """Mark claimed work done once its messages are out. While Redis is away (a failover takes up to about 30
        seconds) keep trying for `finish_for` seconds: work left unfinished would be done again by the sweeper."""
        error, delay = "", 0.0
        deadline = time.monotonic() + self.finish_for
        while True:
            time.sleep(delay)
            try:
                self.queue.finish(claim)
                return
            except StoreUnavailable as exc:
                error = exc.kind
            delay = min(2.0, max(0.2, delay * 2))
            if time.monotonic() + delay > deadline:
                break
        log.error("%s in %s done but not marked done (%s)", claim.ref.key, claim.ref.channel, error)

    # Threads

    def run_soon(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Run `function` after the HTTP response, on the worker threads; an exception is logged, not lost."""
        return self._submit(self.background, "background", function, kwargs, self.slots)

    def run_now(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Like `run_soon`, on threads kept for work with a deadline (opening a form with a trigger_id)."""
        return self._submit(self.urgent, "urgent", function, kwargs, self.urgent_slots)

    def run_unslotted(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Like `run_soon`, without a compute slot: for one HTTP call and nothing else."""
        return self._submit(self.background, "background", function, kwargs, None)

    def _submit(
        self,
        pool: ThreadPoolExecutor,
        name: str,
        function: Callable[..., Any],
        kwargs: dict[str, Any],
        slots: ComputeSlots | None,
    ) -> Future[Any]:
        # The work runs in a copy of the caller's context, so its log lines carry the request's id.
        context = contextvars.copy_context()
        self.metrics.work_started(name)
        try:
            return pool.submit(context.run, _logged, self.metrics, name, function, kwargs, slots)
        except BaseException:  # refused (the pool is shutting down): it will never finish
            self.metrics.work_finished(name, failed=False)
            raise

    # The sweeper: work claimed by a worker that died (or lost Redis) is taken over once its lease runs out.

    def start_sweeper(self, interval: float) -> None:
        """Look for overdue work every `interval` seconds on a daemon thread, until `stop`."""
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep_loop, args=(interval,), name="sweeper", daemon=True)
            self._sweeper.start()

    def stop(self) -> None:
        """Stop the sweeper (work it is doing finishes first)."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)

    def shutdown(self) -> None:
        """Let the pools finish what they hold, then stop them."""
        self.urgent.shutdown(wait=True)
        self.background.shutdown(wait=True)

    def sweep(self) -> int:
        """Take over and do every piece of overdue work; how many were taken."""
        taken = 0
        for ref in self.queue.overdue():
            claim = self.queue.take_over(ref)
            if claim.held:
                taken += 1
                log.warning("taking over %s in %s (attempt %d)", ref.key, ref.channel, claim.attempts)
                self.run(claim)
        return taken

    def _sweep_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except StoreUnavailable as exc:
                log.debug("sweeper: Redis: %s", exc.kind)
            except Exception:
                log.exception("sweeper failed; it goes on")


def _logged(
    metrics: Metrics, pool: str, function: Callable[..., Any], kwargs: dict[str, Any], slots: ComputeSlots | None
) -> Any:
    failed = True
    try:
        if slots is None:
            result = function(**kwargs)
        else:
            with slots.computing():
                result = function(**kwargs)
        failed = False
        return result
    except Exception:
        log.exception("background work %s failed", getattr(function, "__name__", function))
        raise
    finally:
        metrics.work_finished(pool, failed=failed)
