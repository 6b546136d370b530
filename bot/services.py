"""What listeners work with, created once in `bot.runtime` and handed to each listener module's `register`.

Listeners receive this object through `register(app, services)` rather than through Bolt's `context`: Bolt
deep-copies the context for lazy listeners, which would copy (or refuse to copy) a Redis connection pool.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.decisions import DecisionService
from bot.digest.runner import DigestRunner
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.delivery import Verdicts, respond
from bot.slack.render import Renderer
from bot.slack.reviews import Reviews
from bot.slack.threads import FollowUps
from bot.slots import ComputeSlots
from bot.store import DecisionStore, ThreadStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The bot's dependencies: settings, decisions and threads in Redis, follow-ups, reviews and digests, renderer
    and Web API clients."""

    settings: Settings
    decisions: DecisionService
    store: DecisionStore
    threads: ThreadStore
    followups: FollowUps
    reviews: Reviews
    verdicts: Verdicts
    digest: DigestRunner
    renderer: Renderer
    client: WebClient
    trigger_client: WebClient
    background: ThreadPoolExecutor
    # Work that must start within a trigger's 3 seconds gets threads of its own, so posts waiting out a 429
    # can never make a form open too late.
    urgent: ThreadPoolExecutor
    metrics: Metrics
    # Background work computes in one of these, and gives it back while it waits on Slack (see `bot.slots`); work
    # with a deadline has slots of its own, so that neither can hold the other up.
    slots: ComputeSlots
    urgent_slots: ComputeSlots

    def run_soon(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Run `function` after the HTTP response, on the bot's worker threads; an exception is logged, not lost."""
        return self._submit(self.background, "background", function, kwargs, self.slots)

    def respond_soon(self, response_url: str, message: dict[str, object]) -> Future[Any]:
        """Send `message` to `response_url` on a worker thread, without a compute slot: it is one HTTP call."""
        kwargs: dict[str, Any] = {"response_url": response_url, "message": message}
        return self._submit(self.background, "background", respond, kwargs, None)

    def run_now(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Like `run_soon`, on threads kept for work with a deadline (opening a form with a trigger_id)."""
        return self._submit(self.urgent, "urgent", function, kwargs, self.urgent_slots)

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
