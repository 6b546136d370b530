"""Start-up and shut-down: rules, templates, Redis (embedded or external) and the Web API clients, checked early."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

from bot.decisions import DecisionService
from bot.digest.runner import DigestRunner
from bot.embedded_redis import EmbeddedRedis
from bot.engine.ruleset import RuleSet, load_ruleset
from bot.metrics import Metrics
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.slack.api import build_client
from bot.slack.delivery import Verdicts
from bot.slack.home import Home
from bot.slack.render import Renderer
from bot.slack.reviews import Reviews
from bot.slack.threads import FollowUps
from bot.store import DecisionStore, RedisClient, StoreUnavailable, ThreadStore, WorkQueue
from bot.store.base import is_cluster_node, open_redis_client
from bot.store.channels import ChannelSettingsStore
from bot.store.digests import DigestStore
from bot.work import Question, Review, VerdictJob, Worker

log = logging.getLogger(__name__)


def redacted(url: str) -> str:
    """A Redis URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


def open_redis(settings: Settings, url: str | None, *, on_error: Callable[[str], None] | None = None) -> RedisClient:
    """The client for the settings' Redis mode (`url`: REDIS_URL's value, or the embedded Redis's), once Redis
    answers; a SettingsError naming the setting to fix otherwise."""
    mode = settings.redis_mode
    if mode == "sentinel":
        sentinels = ", ".join(f"{host}:{port}" for host, port in settings.redis_sentinels)
        where = f'the master of "{settings.redis_sentinel_service}" through the sentinels at {sentinels}'
    else:
        where = f"{'the Redis Cluster' if mode == 'cluster' else 'Redis'} at {redacted(url or '')}"
    try:
        client = open_redis_client(
            url,
            mode=mode,
            sentinels=settings.redis_sentinels,
            sentinel_service=settings.redis_sentinel_service,
            on_error=on_error,
        )
    except StoreUnavailable as exc:
        blame = "SHOULD_FINETUNE_REDIS_SENTINELS" if mode == "sentinel" else "REDIS_URL"
        if exc.kind == "AuthenticationError":  # the address was right, the password in REDIS_URL was not
            blame = "REDIS_URL"
        raise SettingsError(f"setting {blame}: cannot reach {where}: {exc.reason}") from None
    if mode == "standalone" and is_cluster_node(client):
        client.close()
        raise SettingsError(
            f"setting SHOULD_FINETUNE_REDIS_MODE: {where} is a node of a Redis Cluster: set "
            "SHOULD_FINETUNE_REDIS_MODE=cluster"
        )
    return client


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """Everything the listeners need, ready to serve; stopped again (worker threads drained first) on exit."""
    ruleset = load_ruleset(settings.rules_dir)
    renderer = Renderer(settings.template_dirs, rereview_emoji=settings.rereview_emoji[0])
    renderer.check()
    with ExitStack() as stack:
        url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
        if url is None and settings.redis_mode == "standalone":  # the settings refuse the other modes without Redis
            embedded = stack.enter_context(EmbeddedRedis(settings.data_dir))
            url = embedded.url
            log.info("using the embedded Redis in %s", settings.data_dir)
        metrics = Metrics()
        redis_client = open_redis(settings, url, on_error=metrics.redis_error)
        stack.callback(redis_client.close)
        worker = _worker(settings, redis_client, metrics)
        stack.callback(worker.shutdown)
        services = _services(settings, redis_client, worker, ruleset=ruleset, renderer=renderer, metrics=metrics)
        worker.handle(VerdictJob, services.verdicts.resume)
        worker.handle(Question, services.followups.work)
        worker.handle(Review, services.followups.work)
        # Registered last, so it stops first: no work is taken over while the worker threads drain.
        worker.start_sweeper(interval=min(15.0, max(0.25, settings.work_lease_seconds / 4)))
        stack.callback(worker.stop)
        stack.callback(services.digest.stop.set)  # a digest being posted stops between two messages
        yield services


def _worker(settings: Settings, redis_client: RedisClient, metrics: Metrics) -> Worker:
    queue = WorkQueue(
        redis_client,
        prefix=settings.redis_prefix,
        retention=timedelta(days=settings.retention_days),
        conversation_ttl=timedelta(days=settings.conversation_idle_days),
        lease=timedelta(seconds=settings.work_lease_seconds),
    )
    return Worker(
        queue,
        threads=settings.worker_threads,
        urgent_threads=max(2, settings.threads // 2),
        metrics=metrics,
        finish_for=settings.work_finish_seconds,
    )


def _services(
    settings: Settings,
    redis_client: RedisClient,
    worker: Worker,
    *,
    ruleset: RuleSet,
    renderer: Renderer,
    metrics: Metrics,
) -> Services:
    store = DecisionStore(redis_client, prefix=settings.redis_prefix, retention=timedelta(days=settings.retention_days))
    threads = ThreadStore(redis_client, prefix=settings.redis_prefix)
    client = build_client(settings, metrics=metrics, slots=worker.slots)
    channels = ChannelSettingsStore(redis_client, prefix=settings.redis_prefix)
    reviews = Reviews(
        store=store,
        threads=threads,
        ruleset=ruleset,
        renderer=renderer,
        client=client,
        reviewers=settings.reviewers,
        emoji=settings.rereview_emoji,
        cooldown=timedelta(seconds=settings.rereview_cooldown_seconds),
        metrics=metrics,
        channels=channels,
    )
    reviews.remember_rules()  # so that decisions made now can be compared with later rule sets
    digest = DigestRunner(
        store=store,
        ruleset=ruleset,
        renderer=renderer,
        client=client,
        digests=DigestStore(redis_client, prefix=settings.redis_prefix),
        schedule=settings.digest_schedule,
        quiet_weeks=settings.digest_quiet_weeks,
        interval=settings.digest_post_interval_seconds,
        lock_ttl=timedelta(seconds=settings.digest_lock_seconds),
        metrics=metrics,
        slots=worker.slots,
        channels=channels,
    )
    home = Home(store=store, ruleset=ruleset, renderer=renderer, client=client, schedule=digest.schedule_of)
    return Services(
        settings=settings,
        decisions=DecisionService(store=store, ruleset=ruleset, metrics=metrics),
        store=store,
        threads=threads,
        worker=worker,
        followups=FollowUps(
            store=store,
            threads=threads,
            worker=worker,
            ruleset=ruleset,
            renderer=renderer,
            client=client,
            reviews=reviews,
            metrics=metrics,
            on_change=home.changed,  # a person's Home tab follows their decisions
        ),
        reviews=reviews,
        verdicts=Verdicts(
            client=client, renderer=renderer, store=store, worker=worker, ruleset=ruleset, on_change=home.changed
        ),
        digest=digest,
        home=home,
        renderer=renderer,
        client=client,
        trigger_client=build_client(settings, for_triggers=True, metrics=metrics, slots=worker.urgent_slots),
        metrics=metrics,
    )
