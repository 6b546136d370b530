"""Prometheus metrics: one registry per bot (several bots may share a process in tests), served at `/metrics`.

Every label takes values from a closed set, or from a set capped in size: never user text, ids or channels, so
that a busy or hostile workspace cannot grow the number of series. Updates cost a microsecond or two; the ack path
makes one per request.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

__all__ = ["CONTENT_TYPE", "EVENT_TYPES", "KINDS", "PREFIX", "Metrics"]

PREFIX = "should_finetune_"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# The event types the app subscribes to (`bot.manifest.BOT_EVENTS`, where `message.channels` and `message.groups`
# both arrive as `message`); anything else Slack sends is `event:other`.
EVENT_TYPES = frozenset({"message", "app_mention", "reaction_added", "app_home_opened"})
KINDS = frozenset(
    {
        "command",
        "view_submission",
        "view_closed",
        "block_actions",
        "shortcut",
        "message_action",
        *(f"event:{event}" for event in EVENT_TYPES),
        "event:other",
        "url_verification",
        "ssl_check",
        "app_rate_limited",
        "health",
        "metrics",
        "other",
    }
)
# Acks are a few milliseconds; Slack gives up at 3 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Slack's reasons for a redelivery (`X-Slack-Retry-Reason`).
RETRY_REASONS = frozenset({"http_timeout", "too_many_requests", "http_error", "unknown_error", "ssl_error"})

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,79}")
_METHOD = re.compile(r"[a-z]+(?:\.[A-Za-z]+){1,3}")
_OTHER = "other"


class _Bounded:
    """Label values as given while they look like codes and fewer than `limit` distinct ones were seen; after that,
    or for anything else, "other"."""

    def __init__(self, limit: int, pattern: re.Pattern[str] = _WORD) -> None:
        self._limit = limit
        self._pattern = pattern
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if not self._pattern.fullmatch(value):
            return _OTHER
        with self._lock:
            if len(self._seen) >= self._limit:
                return _OTHER
            self._seen.add(value)
        return value


class Metrics:
    """The bot's counters, histograms and gauges, in a registry of its own."""

    def __init__(self, *, process: bool = True) -> None:
        registry = self.registry = CollectorRegistry()
        if process:  # resident memory, CPU, open files: read from /proc when scraped, where there is one
            ProcessCollector(namespace="should_finetune", registry=registry)

        self._define_http(registry)
        self._define_outcomes(registry)
        self._define_dependencies(registry)
        # The request path's series, looked up once: `labels()` costs more than the update itself.
        self._request_series: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._outcomes = _Bounded(limit=32)
        self._review_labels = _Bounded(limit=16)
        self._digest_results = _Bounded(limit=16)
        self._errors = _Bounded(limit=64)
        self._methods = _Bounded(limit=64, pattern=_METHOD)
        self._codes = _Bounded(limit=128)
        self._steps = _Bounded(limit=32)
        for pool in ("background", "urgent"):
            self._work.labels(pool)
            self._work_failures.labels(pool)
        for result in ("sent", "quiet", "failed", "retry"):
            self._digests.labels(result)

    def _define_http(self, registry: CollectorRegistry) -> None:
        """Requests answered, their latency, and Slack's redeliveries."""
        self._requests = Counter(
            PREFIX + "requests",
            "HTTP requests answered, by kind (command, view_submission, event:<type>, health, ...) and status.",
            ["kind", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            PREFIX + "request_duration_seconds",
            "Time from a request's arrival to its response, by kind.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._retries = Counter(
            PREFIX + "slack_redeliveries",
            "Requests Slack sent again (X-Slack-Retry-Num), by Slack's reason: the bot answered late or failed.",
            ["reason"],
            registry=registry,
        )

    def _define_outcomes(self, registry: CollectorRegistry) -> None:
        """What the bot did: decisions, follow-ups, forms, re-reviews, digests."""
        self._decisions = Counter(
            PREFIX + "decisions",
            "Decisions made from a submitted form, by verdict and next step.",
            ["verdict", "next_step"],
            registry=registry,
        )
        self._followups = Counter(
            PREFIX + "followups", "Questions in verdict threads, by outcome.", ["outcome"], registry=registry
        )
        self._forms = Counter(
            PREFIX + "forms",
            "Forms asked for with a trigger_id, by outcome: opened, failed (Slack refused), too-late (not tried: the "
            "trigger had all but expired).",
            ["outcome"],
            registry=registry,
        )
        self._rereviews = Counter(
            PREFIX + "rereviews",
            "Re-reviews, edits and answered questions evaluated, by trigger (re-review, edit, answered), what asked "
            "(reaction, button, form, command, question) and whether the verdict or next step changed.",
            ["trigger", "source", "changed"],
            registry=registry,
        )
        self._rereview_cooldowns = Counter(
            PREFIX + "rereview_cooldowns",
            "Re-review requests ignored because the same person asked within the cooldown.",
            registry=registry,
        )
        self._rate_limited = Counter(
            PREFIX + "slack_events_rate_limited",
            "app_rate_limited notices from Slack: the workspace sent more events than the Events API allows in a "
            "minute, and Slack is dropping some of them.",
            registry=registry,
        )
        self._digests = Counter(
            PREFIX + "digests",
            "Channel digests, by result: sent, quiet (nothing to report, nothing posted), failed (Slack refused for "
            "good), retry (may pass; tried again later), already (sent by another runner), busy (being sent).",
            ["result"],
            registry=registry,
        )

    def _define_dependencies(self, registry: CollectorRegistry) -> None:
        """Failures of Redis and the Web API, and the work running after the response."""
        self._redis_errors = Counter(
            PREFIX + "redis_errors", "Redis failures, by exception class.", ["error"], registry=registry
        )
        self._slack_calls = Counter(
            PREFIX + "slack_api_requests",
            "Web API requests sent (each retry counts), by method.",
            ["method"],
            registry=registry,
        )
        self._slack_errors = Counter(
            PREFIX + "slack_api_errors",
            "Web API requests that failed (each retry counts), by method and error: Slack's error code, ratelimited "
            "(429), http_<status>, timeout or connection_error.",
            ["method", "error"],
            registry=registry,
        )
        self._work = Gauge(
            PREFIX + "background_work",
            "Work handed over to run after the response and not finished yet, by pool (background, urgent).",
            ["pool"],
            registry=registry,
        )
        self._work_failures = Counter(
            PREFIX + "background_failures",
            "Work run after the response that ended in an unexpected exception, by pool.",
            ["pool"],
            registry=registry,
        )

    # HTTP

    def request(self, kind: str, status: int, seconds: float) -> None:
        """One request answered: its kind (see `KINDS`), HTTP status and duration."""
        if kind not in KINDS:
            kind = _OTHER
        if not 100 <= status <= 599:
            status = 0
        series = self._request_series.get((kind, status))
        if series is None:
            code = str(status) if status else _OTHER
            series = self._request_series[(kind, status)] = (
                self._requests.labels(kind, code),
                self._latency.labels(kind),
            )
        series[0].inc()
        series[1].observe(seconds)

    def redelivery(self, reason: str) -> None:
        """A request Slack sent again, with its `X-Slack-Retry-Reason`."""
        self._retries.labels(reason if reason in RETRY_REASONS else _OTHER).inc()

    # What the bot did

    def decision(self, verdict: str, next_step: str) -> None:
        """A decision stored from a submitted form."""
        self._decisions.labels(self._steps(verdict), self._steps(next_step)).inc()

    def followup(self, outcome: str) -> None:
        """A question in a verdict thread and what became of it (`answered`, `duplicate`, `failed`, ...)."""
        self._followups.labels(self._outcomes(outcome)).inc()

    def form(self, outcome: str) -> None:
        """A form asked for with a trigger_id: `opened`, `failed` or `too-late`."""
        self._forms.labels(self._outcomes(outcome)).inc()

    def rereview(self, *, trigger: str, source: str, changed: bool) -> None:
        """A re-review, edit or answered question evaluated."""
        labels = self._review_labels
        self._rereviews.labels(labels(trigger), labels(source), "true" if changed else "false").inc()

    def rereview_cooldown(self) -> None:
        """A re-review request ignored within the cooldown."""
        self._rereview_cooldowns.inc()

    def digest(self, result: str) -> None:
        """One channel's digest and its result."""
        self._digests.labels(self._digest_results(result)).inc()

    # Failures of the parts the bot depends on

    def events_rate_limited(self) -> None:
        """Slack said (`app_rate_limited`) that it is dropping events beyond the Events API's limit."""
        self._rate_limited.inc()

    def redis_error(self, error: str) -> None:
        """A Redis failure; `error` is the exception's class name (`ConnectionError`, `TimeoutError`, ...)."""
        self._redis_errors.labels(self._errors(error)).inc()

    def slack_api_request(self, method: str) -> None:
        """A Web API request sent (a retry is another request)."""
        self._slack_calls.labels(self._methods(method)).inc()

    def slack_api_error(self, method: str, error: str) -> None:
        """A Web API request that failed, with Slack's error code or one of ours."""
        self._slack_errors.labels(self._methods(method), self._codes(error)).inc()

    # Work after the response

    def work_started(self, pool: str) -> None:
        """Work handed to a pool."""
        self._work.labels(pool).inc()

    def work_finished(self, pool: str, *, failed: bool) -> None:
        """Work done (or failed) in a pool."""
        self._work.labels(pool).dec()
        if failed:
            self._work_failures.labels(pool).inc()

    def render(self) -> bytes:
        """Every metric in Prometheus's text format."""
        return generate_latest(self.registry)
