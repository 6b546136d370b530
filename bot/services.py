"""What listeners work with, created once in `bot.runtime` and handed to each listener module's `register`.

Listeners receive this object through `register(app, services)` rather than through Bolt's `context`: Bolt
deep-copies the context for lazy listeners, which would copy (or refuse to copy) a Redis connection pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.decisions import DecisionService
from bot.digest.runner import DigestRunner
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.delivery import Verdicts, respond
from bot.slack.home import Home
from bot.slack.render import Renderer
from bot.slack.reviews import Reviews
from bot.slack.threads import FollowUps
from bot.store import DecisionStore, ThreadStore
from bot.work import Worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The bot's dependencies: settings, decisions and threads in Redis, the worker that runs background jobs,
    follow-ups, reviews and digests, renderer and Web API clients."""

    settings: Settings
    decisions: DecisionService
    store: DecisionStore
    threads: ThreadStore
    worker: Worker
    followups: FollowUps
    reviews: Reviews
    verdicts: Verdicts
    digest: DigestRunner
    home: Home
    renderer: Renderer
    client: WebClient
    trigger_client: WebClient
    metrics: Metrics

    def run_soon(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Run `function` after the HTTP response, on the worker's threads (`Worker.run_soon`)."""
        return self.worker.run_soon(function, **kwargs)

    def run_now(self, function: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Like `run_soon`, on the threads kept for work with a deadline (`Worker.run_now`)."""
        return self.worker.run_now(function, **kwargs)

    def respond_soon(self, response_url: str, message: dict[str, object]) -> Future[Any]:
        """Send `message` to `response_url` on a worker thread, without a compute slot: it is one HTTP call."""
        return self.worker.run_unslotted(respond, response_url=response_url, message=message)
