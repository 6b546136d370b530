"""Start-up and shut-down: rules, templates, Redis (embedded or external) and the Web API clients, checked early."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from bot.decisions import DecisionService
from bot.digest.runner import DigestRunner
from bot.embedded_redis import EmbeddedRedis
from bot.engine.ruleset import load_ruleset
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.slack.api import build_client
from bot.slack.render import Renderer
from bot.slack.reviews import Reviews
from bot.slack.threads import FollowUps
from bot.store import DecisionStore, ThreadStore, connect_redis
from bot.store.digests import DigestStore

log = logging.getLogger(__name__)


def redacted(url: str) -> str:
    """A Redis URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """Everything the listeners need, ready to serve; stopped again (worker threads drained first) on exit."""
    ruleset = load_ruleset(settings.rules_dir)
    renderer = Renderer(settings.template_dirs, rereview_emoji=settings.rereview_emoji[0])
    renderer.check()
    with ExitStack() as stack:
        if settings.redis_url is not None:
            url = settings.redis_url.get_secret_value()
        else:
            embedded = stack.enter_context(EmbeddedRedis(settings.data_dir))
            url = embedded.url
            log.info("using the embedded Redis in %s", settings.data_dir)
        redis = connect_redis(url)
        stack.callback(redis.close)
        try:
            redis.ping()
        except RedisError as exc:
            raise SettingsError(f"setting REDIS_URL: cannot reach Redis at {redacted(url)}: {exc}") from None
        retention = timedelta(days=settings.retention_days)
        store = DecisionStore(redis, prefix=settings.redis_prefix, retention=retention)
        threads = ThreadStore(
            redis,
            prefix=settings.redis_prefix,
            retention=retention,
            conversation_ttl=timedelta(days=settings.conversation_idle_days),
            lease=timedelta(seconds=settings.work_lease_seconds),
        )
        background = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="should-finetune")
        stack.callback(background.shutdown, wait=True)
        urgent = ThreadPoolExecutor(max_workers=max(2, settings.threads // 2), thread_name_prefix="should-finetune-now")
        stack.callback(urgent.shutdown, wait=True)
        client = build_client(settings)
        reviews = Reviews(
            store=store,
            threads=threads,
            ruleset=ruleset,
            renderer=renderer,
            client=client,
            reviewers=settings.reviewers,
            emoji=settings.rereview_emoji,
            cooldown=timedelta(seconds=settings.rereview_cooldown_seconds),
        )
        reviews.remember_rules()  # so that decisions made now can be compared with later rule sets
        services = Services(
            settings=settings,
            decisions=DecisionService(store=store, ruleset=ruleset),
            store=store,
            threads=threads,
            followups=FollowUps(
                store=store,
                threads=threads,
                ruleset=ruleset,
                renderer=renderer,
                client=client,
                run_soon=lambda function, **kwargs: services.run_soon(function, **kwargs),  # noqa: PLW0108 - not yet bound
                reviews=reviews,
            ),
            reviews=reviews,
            digest=DigestRunner(
                store=store,
                digests=DigestStore(redis, prefix=settings.redis_prefix),
                ruleset=ruleset,
                renderer=renderer,
                client=client,
                schedule=settings.digest_schedule,
                quiet_weeks=settings.digest_quiet_weeks,
                interval=settings.digest_post_interval_seconds,
                lock_ttl=timedelta(seconds=settings.digest_lock_seconds),
            ),
            renderer=renderer,
            client=client,
            trigger_client=build_client(settings, for_triggers=True),
            background=background,
            urgent=urgent,
        )
        # Registered last, so it stops first: no work is taken over while the worker threads drain.
        services.followups.start_sweeper(interval=min(15.0, max(0.25, settings.work_lease_seconds / 4)))
        stack.callback(services.followups.stop)
        stack.callback(services.digest.stop.set)  # a digest being posted stops between two messages
        yield services
