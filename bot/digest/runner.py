"""Sending digests: each due channel once per period, paced for Slack, one failing channel never stopping the rest.

`DigestRunner.run_due` is what the scheduler thread and `should-finetune digest` both call. For every channel with
the digest on and no marker for the latest due period it claims the channel's digest (see `bot.store.digests`),
builds it, posts the summary and then its thread one message at a time (at most one message a second in a channel;
429s wait for `Retry-After` in the Web API client), recording progress after each post so that a runner taking over
from one that died posts only what is missing. Slack refusing for good (the bot removed, the channel archived) marks
the channel's digest failed for the period and is logged; a failure that may pass (5xx, timeouts, Redis) leaves the
digest to the next run, up to `MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.digest.build import Digest, build_digest
from bot.digest.messages import compose
from bot.engine.ruleset import RuleSet
from bot.heartbeat import Heartbeat
from bot.metrics import Metrics
from bot.schedule import Period, Schedule
from bot.slack.api import error_code
from bot.slack.render import Renderer
from bot.slots import ComputeSlots
from bot.store import DecisionStore, StoreUnavailable
from bot.store.channels import ChannelSettings, ChannelSettingsStore
from bot.store.digests import DigestClaim, DigestStore, Done, Outcome

__all__ = [
    "MAX_ATTEMPTS",
    "PERMANENT_ERRORS",
    "DigestRunner",
    "Permalinks",
    "Result",
    "RunReport",
    "Sent",
    "continue_period",
]

log = logging.getLogger(__name__)

# Slack's answers that another try will not change: the digest is marked failed for the period.
PERMANENT_ERRORS = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "account_inactive",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "ekm_access_denied",
        "no_permission",
        "thread_not_found",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
    }
)
# Tries of a channel's digest for one period before it is marked failed.
MAX_ATTEMPTS = 5
# How long an on-demand digest (`/should-finetune digest now`) keeps another from being posted in the channel.
NOW_COOLDOWN = timedelta(minutes=1)


class Result(StrEnum):
    """What happened to one channel's digest in one run."""

    SENT = "sent"
    QUIET = "quiet"  # nothing to report; nothing posted
    ALREADY = "already"  # another runner sent it (or marked it) for this period
    BUSY = "busy"  # another runner is sending it now
    FAILED = "failed"  # Slack refused for good; marked, not retried this period
    RETRY = "retry"  # a failure that may pass; the next run tries again


@dataclass(frozen=True)
class Sent:
    """One channel's result, with the summary message's ts and Slack's error code where there is one."""

    result: Result
    ts: str | None = None
    error: str | None = None
    messages: int = 0


@dataclass
class RunReport:
    """What one run did, channel by channel: `period` is the default schedule's latest due period, `periods` the one
    each channel was sent (its own schedule's, continued from where its previous digest ended)."""

    period: Period
    channels: dict[tuple[str, str], Sent] = field(default_factory=dict)
    periods: dict[tuple[str, str], Period] = field(default_factory=dict)

    def count(self, result: Result) -> int:
        """How many channels ended with `result`."""
        return sum(sent.result is result for sent in self.channels.values())


class Permalinks:
    """Links to verdict messages: `chat.getPermalink` once per channel, then the same form for its other messages.

    A permalink is the workspace's address, the channel and the ts without its dot; when the first one Slack gives
    has that form, the others are built from it, which keeps a ten-thousand-decision week to one call. When it does
    not, each message gets its own call; when the call fails, the channel's rows go without links.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._bases: dict[str, str | None] = {}

    def __call__(self, channel: str, ts: str) -> str | None:
        """The permalink of the message at `ts` in `channel`, or None."""
        digits = ts.replace(".", "")
        known = self._bases.get(channel, "")
        if known:
            return f"{known}/p{digits}"
        if known is None:  # Slack refused this channel's links once: no more calls for it in this digest
            return None
        try:
            link = self._client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("digest: no permalinks in %s: %s", channel, error_code(exc))
            self._bases[channel] = None
            return None
        if not isinstance(link, str) or not link.startswith("https://"):
            return None
        suffix = f"/archives/{channel}/p{digits}"
        if link.endswith(suffix):
            self._bases[channel] = link[: -len(f"/p{digits}")]
        return link


class DigestRunner:
    """Builds and posts digests; shared by the scheduler thread, the CLI and the slash command."""

    def __init__(
        self,
        *,
        store: DecisionStore,
        digests: DigestStore,
        ruleset: RuleSet,
        renderer: Renderer,
        client: WebClient,
        schedule: Schedule,
        quiet_weeks: bool = False,
        interval: float = 1.1,
        lock_ttl: timedelta = timedelta(minutes=2),
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        slots: ComputeSlots | None = None,
        channels: ChannelSettingsStore | None = None,
    ) -> None:
        self.store = store
        self.digests = digests
        self.ruleset = ruleset
        self.renderer = renderer
        self.client = client
        self.schedule = schedule  # the default: channels without a schedule of their own
        # Each channel's own settings (its schedule); None: every channel has the default.
        self.channels = channels
        self.quiet_weeks = quiet_weeks
        self.interval = interval
        self.lock_ttl = lock_ttl
        self.stop = stop or threading.Event()
        # How the pauses between posts are waited and measured; tests give a clock of their own, so that what they
        # check of the pacing does not depend on how busy the machine is.
        self.sleep = sleep
        self.monotonic = monotonic
        self.metrics = metrics if metrics is not None else Metrics(process=False)
        # What time it is (a digest asked for now covers the seven days before it); tests fix it.
        self.clock = clock
        # The process's compute slots (see `bot.slots`): a run computes in one and gives it back while it waits between
        # two posts, as the Web API client gives it back during each call.
        self.slots = slots if slots is not None else ComputeSlots()
        self._last_post: dict[str, float] = {}

    def build(self, *, workspace: str, channel: str, period: Period) -> Digest:
        """The channel's digest for `period`, with links to the verdicts."""
        return build_digest(
            self.store, self.ruleset, workspace=workspace, channel=channel, period=period, links=Permalinks(self.client)
        )

    def schedule_of(self, workspace: str, channel: str) -> Schedule:
        """The channel's digest schedule: its own, or the default. `StoreUnavailable` when Redis does not answer."""
        if self.channels is None:
            return self.schedule
        return self.own_schedule(self.channels.get(workspace=workspace, channel=channel)) or self.schedule

    def own_schedule(self, settings: ChannelSettings | None) -> Schedule | None:
        """The schedule a channel's settings give, or None when it has none of its own (or one no longer readable:
        a time zone the system no longer knows, say)."""
        if settings is None or settings.schedule is None:
            return None
        try:
            return Schedule.parse(settings.schedule)
        except ValueError as exc:
            log.warning("digest schedule %r not usable, the default applies: %s", settings.schedule, exc)
            return None

    def next_due(self, workspace: str, channel: str, schedule: Schedule, now: datetime) -> datetime:
        """When the channel's next scheduled digest goes out: the schedule's next due moment, or the one after when
        the channel already had a digest in that ISO week (its schedule moved later in the week)."""
        upcoming = schedule.next_due(now)
        if self.digests.done(workspace=workspace, channel=channel, period=schedule.latest_due(upcoming).key):
            return schedule.next_due(upcoming)
        return upcoming

    def run_due(self, now: datetime | None = None) -> RunReport:
        """Send each channel the latest due period of its own schedule, if it has not had it; an earlier miss is
        caught up."""
        now = now if now is not None else self.clock()
        report = RunReport(period=self.schedule.latest_due(now))
        with self.slots.computing():
            due = self._due(self.store.channels_with_decisions(), now)
            pending = self.digests.pending_each({pair: period.key for pair, (_, period) in due.items()})
        for (workspace, channel), until in pending.items():
            if self.stop.is_set():
                break
            schedule, period = due[(workspace, channel)]
            continued = continue_period(schedule, period, until)
            if continued is None:
                continue  # its previous digest already covered this period (the schedule moved earlier)
            report.periods[(workspace, channel)] = continued
            with self.slots.computing():  # a slot per channel, so that other work gets its turn between two channels
                sent = self.send(workspace=workspace, channel=channel, period=continued, schedule=schedule)
            report.channels[(workspace, channel)] = sent
            if sent.result in {Result.SENT, Result.FAILED, Result.RETRY}:
                log.log(
                    logging.WARNING if sent.result is not Result.SENT else logging.INFO,
                    "digest %s for %s:%s: %s%s (%d messages)",
                    continued.key,
                    workspace,
                    channel,
                    sent.result.value,
                    f" ({sent.error})" if sent.error else "",
                    sent.messages,
                )
        return report

    def _due(self, channels: list[tuple[str, str]], now: datetime) -> dict[tuple[str, str], tuple[Schedule, Period]]:
        """Each channel's schedule and latest due period; a period that ended before the channel's schedule was last
        changed is not due (a change never sends a digest at once: the next due moment after it does)."""
        settings = self.channels.get_many(channels) if self.channels is not None else {}
        due: dict[tuple[str, str], tuple[Schedule, Period]] = {}
        for pair in channels:
            own = settings.get(pair)
            schedule = self.own_schedule(own) or self.schedule
            period = schedule.latest_due(now)
            if own is not None and own.schedule_at is not None and period.end <= own.schedule_at:
                continue
            due[pair] = (schedule, period)
        return due

    def send(
        self,
        *,
        workspace: str,
        channel: str,
        period: Period,
        on_demand: bool = False,
        schedule: Schedule | None = None,
    ) -> Sent:
        """Send one channel's digest for `period` unless it was sent or is being sent; `on_demand` is a digest asked
        for in the channel (no schedule line, and a quiet week posts nothing). `schedule`: the channel's, for the
        digest's last line (default: the default schedule)."""
        sent = self._claim_and_send(
            workspace=workspace, channel=channel, period=period, on_demand=on_demand, schedule=schedule or self.schedule
        )
        self.metrics.digest(sent.result.value)
        return sent

    def _claim_and_send(
        self, *, workspace: str, channel: str, period: Period, on_demand: bool, schedule: Schedule
    ) -> Sent:
        try:
            claim = self.digests.claim(workspace=workspace, channel=channel, period=period.key, ttl=self.lock_ttl)
        except StoreUnavailable as exc:
            log.error("digest for %s:%s: Redis: %s", workspace, channel, exc.kind)
            return Sent(Result.RETRY, error="redis")
        if claim is None:
            return Sent(Result.BUSY)
        if isinstance(claim, Done):
            return Sent(Result.ALREADY, ts=claim.ts, error=claim.error)
        try:
            return self._send(claim, period, on_demand=on_demand, schedule=schedule)
        except StoreUnavailable as exc:  # the claim runs out and the next run takes over from the recorded progress
            log.error("digest for %s:%s: Redis: %s", workspace, channel, exc.kind)
            return Sent(Result.RETRY, error="redis")

    def _send(self, claim: DigestClaim, period: Period, *, on_demand: bool, schedule: Schedule) -> Sent:
        ts = claim.summary_ts
        try:
            digest = self.build(workspace=claim.workspace, channel=claim.channel, period=period)
            if digest.quiet and on_demand:
                self.digests.release(claim, count=False)
                return Sent(Result.QUIET)
            if digest.quiet and not self.quiet_weeks:
                self.digests.finish(claim, Outcome.QUIET, until=period.end)
                return Sent(Result.QUIET)
            messages = compose(self.renderer, digest, schedule=None if on_demand else schedule.describe())
            # The lock is renewed while posting, not only between posts: one post can wait out a 429's Retry-After
            # three times, longer than the lock lives, and another runner must not take over from a live one.
            renew = Heartbeat(
                lambda: self.digests.keep(claim, ttl=self.lock_ttl),
                interval=self.lock_ttl.total_seconds() / 3,
                name=f"digest for {claim.workspace}:{claim.channel}",
            )
            with renew:
                return self._post(claim, messages, ts=ts, on_demand=on_demand, until=period.end)
        except (SlackApiError, SlackClientError, OSError) as exc:
            code = error_code(exc)
            permanent = code in PERMANENT_ERRORS
            return self._give_up(claim, ts=ts, error=code, permanent=permanent, on_demand=on_demand, until=period.end)
        except Exception:
            # A bug (a template that breaks on some row, say) must not stop the other channels, nor be retried
            # without end: it counts as an attempt like any failure that may pass.
            log.exception("digest for %s:%s failed", claim.workspace, claim.channel)
            return self._give_up(
                claim, ts=ts, error="internal_error", permanent=False, on_demand=on_demand, until=period.end
            )

    def _post(
        self, claim: DigestClaim, messages: list[dict[str, Any]], *, ts: str | None, on_demand: bool, until: datetime
    ) -> Sent:
        """Post the digest's messages not yet posted, recording progress after each; then mark it sent."""
        for index, message in enumerate(messages):
            if index < claim.posted:
                continue  # posted by a runner that stopped half-way
            if self.stop.is_set():
                self.digests.release(claim)
                return Sent(Result.RETRY, ts=ts, error="stopped", messages=index)
            self._pace(claim.channel)
            if not self.digests.keep(claim, ttl=self.lock_ttl):
                log.warning("digest for %s:%s: the claim was taken over; stopping", claim.workspace, claim.channel)
                return Sent(Result.BUSY, ts=ts, messages=index)
            arguments: dict[str, Any] = {"channel": claim.channel, **message}
            if index > 0 and ts:
                arguments["thread_ts"] = ts
            response = self.client.chat_postMessage(**arguments)
            if index == 0:
                ts = str(response.get("ts"))
            if not self.digests.keep(claim, ttl=self.lock_ttl, summary_ts=ts, posted=index + 1):
                log.warning(
                    "digest for %s:%s: the claim was taken over while posting; stopping", claim.workspace, claim.channel
                )
                return Sent(Result.BUSY, ts=ts, messages=index + 1)
        finished = self.digests.finish(
            claim, Outcome.SENT, ts=ts, ttl=NOW_COOLDOWN if on_demand else None, until=None if on_demand else until
        )
        if not finished:
            log.warning("digest for %s:%s: sent, but the claim had been taken over", claim.workspace, claim.channel)
        return Sent(Result.SENT, ts=ts, messages=len(messages) - claim.posted)

    def _give_up(
        self, claim: DigestClaim, *, ts: str | None, error: str, permanent: bool, on_demand: bool, until: datetime
    ) -> Sent:
        """Leave a digest that failed: marked failed for the period when another try will not help (or this was the
        last), else released for the next run. A digest asked for on demand is never marked: the person who asked
        is told, and may ask again at once."""
        if on_demand:
            self.digests.release(claim, count=False)
            return Sent(Result.FAILED if permanent else Result.RETRY, ts=ts, error=error)
        if permanent or claim.attempts + 1 >= MAX_ATTEMPTS:
            self.digests.finish(claim, Outcome.FAILED, ts=ts, error=error, until=until)
            return Sent(Result.FAILED, ts=ts, error=error)
        self.digests.release(claim)
        return Sent(Result.RETRY, ts=ts, error=error)

    def _pace(self, channel: str) -> None:
        """Wait until `interval` has passed since the last post in `channel` (Slack allows about one a second)."""
        wait = self._last_post.get(channel, float("-inf")) + self.interval - self.monotonic()
        if wait > 0:
            with self.slots.waiting():
                self.sleep(wait)
        self._last_post[channel] = self.monotonic()


def continue_period(schedule: Schedule, period: Period, until: datetime | None) -> Period | None:
    """`period` (the schedule's latest due one) made to start where the channel's previous scheduled digest ended,
    when that was after the start of the period before (the schedule changed since): so a change of schedule neither
    leaves days out of every digest nor reports them twice. None when the previous digest covered all of `period`.
    A channel whose schedule did not change, or whose digest was missed or off for whole weeks, gets `period` as it is.
    """
    if until is None:
        return period
    if until >= period.end:
        return None
    before = schedule.latest_due(period.start)  # the period that ended where this one starts
    if until <= before.start or until == period.start:
        return period
    return Period(key=period.key, start=until, end=period.end)
