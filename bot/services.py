"""What listeners work with, created once in `bot.runtime` and handed to each listener module's `register`.

Listeners receive this object through `register(app, services)` rather than through Bolt's `context`: Bolt
deep-copies the context for lazy listeners, which would copy (or refuse to copy) a Redis connection pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.decisions import DecisionService
from bot.digest.runner import DigestRunner
from bot.settings import Settings
from bot.slack.render import Renderer
from bot.slack.reviews import Reviews
from bot.slack.threads import FollowUps
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
    digest: DigestRunner
    renderer: Renderer
    client: WebClient
    trigger_client: WebClient
    background: ThreadPoolExecutor
    # Work that must start within a trigger's 3 seconds gets threads of its own, so posts waiting out a 429
    # can never make a form open too late.
    urgent: ThreadPoolExecutor

    def run_soon(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Run `function` after the HTTP response, on the bot's worker threads; an exception is logged, not lost."""
        return self.background.submit(_logged, function, kwargs)

    def run_now(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Like `run_soon`, on threads kept for work with a deadline (opening a form with a trigger_id)."""
        return self.urgent.submit(_logged, function, kwargs)


def _logged(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    try:
        return function(**kwargs)
    except Exception:
        log.exception("background work %s failed", getattr(function, "__name__", function))
        raise
