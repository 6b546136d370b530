"""The weekly digest end to end: real Redis, the fake Slack, the bot's own services, and a fixed clock.

Decisions are written straight into the store at fixed times (their verdict messages seeded in the fake Slack), and
the digest is run as the scheduler and `should-finetune digest` run it: `DigestRunner.run_due(now)`. Slash-command
tests go through signed HTTP like the rest of the scenario tests.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from bot.cli import main
from bot.decisions import new_version
from bot.digest.runner import DigestRunner, Result
from bot.digest.scheduler import DigestScheduler
from bot.engine.answers import Answers
from bot.engine.verdict import evaluate
from bot.runtime import open_services
from bot.schedule import Schedule, parse_zone
from bot.services import Services
from bot.slack import limits
from bot.slots import ComputeSlots
from bot.store import Decision, Delivery, DeliveryStatus, Trigger
from tests import fixture_rules
from tests.fakeslack import Call, FakeSlack
from tests.slack_support import BOT_TOKEN, CHANNEL, SIGNING_SECRET, TEAM, USER, BotClient, bot_settings
from tests.store_support import append_version

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # Monday; the period due at 09:00 is 2026-W49
PERIOD = Schedule().latest_due(NOW)
CHANNELS = ["C0ALPHA", "C0BRAVO", "C0CHARLIE"]


@contextmanager
def digest_services(fake: FakeSlack, redis_url: str, prefix: str, **settings: Any) -> Iterator[Services]:
    """The bot's services (one replica) with no pause between posts unless asked."""
    values = {"digest_post_interval_seconds": 0.0, "digest_scheduler": False, **settings}
    with open_services(bot_settings(fake, redis_url, prefix, **values)) as services:
        yield services


@pytest.fixture
def services(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[Services]:
    with digest_services(fake_slack, redis_url, key_prefix) as found:
        yield found


def seed(
    services: Services,
    fake: FakeSlack,
    *,
    channel: str = CHANNEL,
    count: int = 1,
    start: datetime = PERIOD.start + timedelta(hours=1),
    step: timedelta = timedelta(minutes=7),
    use_case: str = "Ticket triage {i}",
    examples: int = 30,
) -> list[Decision]:
    """`count` decisions made in `channel` from `start`, `step` apart, each with its verdict message posted."""
    ruleset = services.decisions.ruleset
    made = []
    for i in range(count):
        at = start + i * step
        answers = Answers.model_validate({"use_case": use_case.format(i=i), "n_stable_examples": examples})
        version = new_version(evaluate(ruleset, answers), by=USER, trigger=Trigger.SUBMIT)
        decision = services.store.create_decision(
            workspace=TEAM, channel=channel, requester=USER, version=version, now=at
        )
        ts = fake.add_message(channel, "verdict", user=fake.bot_user_id)
        delivery = Delivery(status=DeliveryStatus.POSTED, channel=channel, ts=ts, at=at + timedelta(seconds=2))
        services.store.record_delivery(workspace=TEAM, channel=channel, decision_id=decision.id, delivery=delivery)
        made.append(decision)
    return made


def verdict_ts(services: Services, decision: Decision) -> str:
    """The ts of the decision's verdict message, as recorded."""
    found = services.store.decision(workspace=TEAM, channel=decision.channel, decision_id=decision.id)
    assert found is not None
    assert found.delivery.ts is not None
    return found.delivery.ts


def rereview(services: Services, decision: Decision, *, at: datetime, verdict: str = "fine-tune") -> None:
    """A re-review by another person at `at` that moved the decision to `verdict`."""
    latest = decision.latest
    version = new_version(
        evaluate(services.decisions.ruleset, Answers.model_validate(latest.answers)), by="U0OTHER",
        trigger=Trigger.RE_REVIEW,
    ).model_copy(update={"verdict": verdict})  # fmt: skip
    append_version(
        services.store, workspace=TEAM, channel=decision.channel, decision_id=decision.id, version=version, now=at
    )


def summaries(fake: FakeSlack, channel: str | None = None) -> list[Call]:
    """The digest messages posted in channels (not in threads), answered ok."""
    return [
        call
        for call in fake.calls("chat.postMessage")
        if not call.args.get("thread_ts")
        and (channel is None or call.args["channel"] == channel)
        and call.response is not None
        and call.response.get("ok")
    ]


def thread_of(fake: FakeSlack, summary: Call) -> list[Call]:
    """The ok messages posted in a summary's thread, in order."""
    assert summary.response is not None
    ts = summary.response["ts"]
    return [
        call
        for call in fake.calls("chat.postMessage")
        if call.args.get("thread_ts") == ts and call.response is not None and call.response.get("ok")
    ]


def text_of(call: Call) -> str:
    blocks = call.args.get("blocks") or []
    return "\n".join(
        [str(call.args.get("text", ""))]
        + [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]
        + [e["text"] for b in blocks if b.get("type") == "context" for e in b["elements"]]
    )


# --- what a digest says --------------------------------------------------------------------------------------------


def test_a_channel_gets_one_digest_of_its_week_with_counts_links_and_re_reviews(
    services: Services, fake_slack: FakeSlack
) -> None:
    made = seed(services, fake_slack, count=3, use_case="Ticket <!channel> triage & routing {i}")
    seed(services, fake_slack, count=1, start=PERIOD.start - timedelta(hours=2), use_case="last week")
    seed(services, fake_slack, count=1, start=PERIOD.end + timedelta(minutes=1), use_case="next week")
    rereview(services, made[0], at=PERIOD.start + timedelta(days=2))

    report = services.digest.run_due(NOW)

    assert report.period.key == "2026-W49"
    assert report.channels[(TEAM, CHANNEL)].result is Result.SENT
    [summary] = summaries(fake_slack, CHANNEL)
    assert thread_of(fake_slack, summary) == []  # three decisions fit in one message
    text = text_of(summary)
    assert "*3 decisions*" in text
    assert "*1* re-review or edit (*1* flipped the verdict)" in text
    assert "last week" not in text
    assert "next week" not in text
    assert text.count("https://fake.slack.com/archives/C0DECIDE/p") == 4  # three decisions and the re-review
    assert "v2 re-reviewed by <@U0OTHER>" in text
    assert "don't fine-tune yet → *fine-tune*" in text
    assert "Sent every Monday 09:00 UTC" in text
    body = json.dumps(summary.args)
    assert "<!channel>" not in body
    assert "Ticket &lt;!channel&gt; triage &amp; routing 0" in body
    assert summary.args["unfurl_links"] is False
    assert limits.fits_message({"text": summary.args["text"], "blocks": summary.args["blocks"]})
    # One permalink call; the other links are built from it.
    assert len(fake_slack.calls("chat.getPermalink")) == 1

    again = services.digest.run_due(NOW + timedelta(hours=3))
    assert again.channels == {}  # marked: not even claimed again
    assert len(summaries(fake_slack)) == 1


def test_a_quiet_week_posts_nothing_unless_quiet_weeks_are_asked_for(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with digest_services(fake_slack, redis_url, key_prefix) as services:
        seed(services, fake_slack, start=PERIOD.start - timedelta(days=3))  # the week before
        report = services.digest.run_due(NOW)
        assert report.channels[(TEAM, CHANNEL)].result is Result.QUIET
        assert summaries(fake_slack) == []
        done = services.digest.digests.done(workspace=TEAM, channel=CHANNEL, period=PERIOD.key)
        assert done is not None
        assert done.outcome == "quiet"

    with digest_services(fake_slack, redis_url, key_prefix + "-q", digest_quiet_weeks=True) as services:
        seed(services, fake_slack, start=PERIOD.start - timedelta(days=3))
        report = services.digest.run_due(NOW)
        assert report.channels[(TEAM, CHANNEL)].result is Result.SENT
        [summary] = summaries(fake_slack)
        assert "No decisions and no re-reviews" in text_of(summary)


def test_decisions_todays_rules_would_decide_differently_are_listed_with_a_hint(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, tmp_path: Any
) -> None:
    with digest_services(fake_slack, redis_url, key_prefix) as services:
        seed(services, fake_slack, count=2, examples=30, use_case="thirty examples {i}")
        seed(
            services, fake_slack, count=1, examples=5, use_case="five examples", start=PERIOD.start + timedelta(days=1)
        )
        seed(services, fake_slack, examples=30, use_case="three weeks ago", start=PERIOD.start - timedelta(days=21))
    rules = fixture_rules.copy_with_fewer_examples_needed(tmp_path, 20)  # too-few-examples: below 20, not 40
    with digest_services(fake_slack, redis_url, key_prefix, rules_dir=rules) as services:
        services.digest.run_due(NOW)
    [summary] = summaries(fake_slack)
    text = text_of(summary)
    assert "Today's rules would decide these differently" in text
    # The three with 30 examples, one of them from an earlier week; 5 is still too few.
    assert text.count(f"under rule set {fixture_rules.VERSION}; now") == 3
    assert "three weeks ago" in text
    assert "3 of this channel's decisions were decided under other rules" in text
    assert "React with :repeat: on a verdict" in text


# --- exactly once ----------------------------------------------------------------------------------------------------


def test_three_replicas_running_at_once_send_one_digest_per_channel(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with ExitStack() as stack:
        replicas = [stack.enter_context(digest_services(fake_slack, redis_url, key_prefix)) for _ in range(3)]
        for channel in CHANNELS:
            seed(replicas[0], fake_slack, channel=channel, count=60)  # a summary and a thread each
        fake_slack.set_delay("chat.postMessage", 0.02)  # so that the three runs overlap
        start = threading.Barrier(3)
        reports = []

        def run(services: Services) -> None:
            start.wait()
            reports.append(services.digest.run_due(NOW))

        workers = [threading.Thread(target=run, args=(replica,)) for replica in replicas]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)

    assert len(reports) == 3
    for channel in CHANNELS:
        [summary] = summaries(fake_slack, channel)
        thread = thread_of(fake_slack, summary)
        assert len(thread) == 2  # 60 decisions: 40 and 20 lines
        listed = "\n".join(text_of(call) for call in thread)
        assert sum(f"|Ticket triage {i}>" in listed for i in range(60)) == 60
    results = Counter(sent.result for report in reports for sent in report.channels.values())
    assert results[Result.SENT] == 3
    assert set(results) <= {Result.SENT, Result.BUSY, Result.ALREADY}


def test_a_runner_waiting_out_a_429_keeps_its_lock_so_no_other_runner_sends_it_too(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with ExitStack() as stack:
        first, second = (
            stack.enter_context(digest_services(fake_slack, redis_url, key_prefix, digest_lock_seconds=1.0))
            for _ in range(2)
        )
        seed(first, fake_slack, count=3)
        # The first runner's summary waits 3 s, three lock lifetimes: only renewal keeps the second one out.
        fake_slack.fail("chat.postMessage", status=429, retry_after=3)
        reports = []
        worker = threading.Thread(target=lambda: reports.append(first.digest.run_due(NOW)))
        worker.start()
        fake_slack.wait_for("chat.postMessage", 1)  # the 429: the first runner is now waiting
        time.sleep(1.5)
        assert second.digest.run_due(NOW).channels[(TEAM, CHANNEL)].result is Result.BUSY
        worker.join(30)
    assert reports[0].channels[(TEAM, CHANNEL)].result is Result.SENT
    assert len(summaries(fake_slack)) == 1


def _cli_env(fake: FakeSlack, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOULD_FINETUNE_", "SLACK_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.url,
            "REDIS_URL": redis_url,
            "SHOULD_FINETUNE_REDIS_PREFIX": prefix,
            "SHOULD_FINETUNE_DIGEST_POST_INTERVAL_SECONDS": "0",
            **extra,
        }
    )
    return env


def test_a_runner_killed_between_claiming_and_posting_leaves_the_digest_to_another_which_sends_it_once(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    with digest_services(fake_slack, redis_url, key_prefix, digest_lock_seconds=2.0) as services:
        seed(services, fake_slack, count=3)
        fake_slack.set_delay("chat.getPermalink", 30)  # the first runner hangs while it builds the digest
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "digest", "--at", NOW.isoformat()],
            env=_cli_env(fake_slack, redis_url, key_prefix, SHOULD_FINETUNE_DIGEST_LOCK_SECONDS="2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            fake_slack.wait_for_arrival("chat.getPermalink", timeout=20)
            lock = f"{key_prefix}:{{{TEAM}:{CHANNEL}}}:digest:{PERIOD.key}:lock"
            assert redis_client.exists(lock)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        fake_slack.set_delay("chat.getPermalink", 0)
        assert summaries(fake_slack) == []

        # While the dead runner's claim lasts, nobody sends; once it has run out, one runner does, once.
        assert services.digest.run_due(NOW).channels[(TEAM, CHANNEL)].result is Result.BUSY
        deadline = time.monotonic() + 10
        while redis_client.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert services.digest.run_due(NOW).channels[(TEAM, CHANNEL)].result is Result.SENT
        assert services.digest.run_due(NOW).channels == {}
    assert len(summaries(fake_slack)) == 1


def test_a_runner_that_stops_half_way_through_a_thread_is_continued_not_repeated(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with digest_services(fake_slack, redis_url, key_prefix, digest_lock_seconds=1.0) as services:
        seed(services, fake_slack, count=130)  # a summary and four thread messages
        fake_slack.fail("chat.postMessage", times=1, status=200, error="fatal_error", after=2)
        first = services.digest.run_due(NOW).channels[(TEAM, CHANNEL)]
        assert first.result is Result.RETRY  # Slack failed the third message
        second = services.digest.run_due(NOW).channels[(TEAM, CHANNEL)]
        assert second.result is Result.SENT
    [summary] = summaries(fake_slack)
    thread = thread_of(fake_slack, summary)
    assert len(thread) == 4
    listed = "\n".join(text_of(call) for call in thread)
    assert [listed.count(f"|Ticket triage {i}>") for i in range(130)] == [1] * 130


def test_after_downtime_the_missed_digest_is_sent_at_start_up_and_the_next_week_on_time(
    services: Services, fake_slack: FakeSlack
) -> None:
    seed(services, fake_slack, count=2)
    seed(services, fake_slack, count=1, start=PERIOD.end + timedelta(days=1), use_case="next week's")
    wednesday = NOW + timedelta(days=2)  # the bot was down on Monday
    scheduler_report = services.digest.run_due(wednesday)
    assert scheduler_report.period.key == "2026-W49"
    assert scheduler_report.channels[(TEAM, CHANNEL)].result is Result.SENT
    assert services.digest.run_due(PERIOD.end + timedelta(days=7, minutes=-1)).channels == {}
    following = services.digest.run_due(PERIOD.end + timedelta(days=7))  # due at exactly 09:00
    assert following.period.key == "2026-W50"
    assert following.channels[(TEAM, CHANNEL)].result is Result.SENT
    first, second = summaries(fake_slack)
    assert "*2 decisions*" in text_of(first)
    assert "*1 decision*" in text_of(second)
    assert "next week's" in text_of(second)


def test_a_berlin_schedule_across_the_year_end_and_a_dst_change(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    berlin = parse_zone("Europe/Berlin")
    with digest_services(fake_slack, redis_url, key_prefix, digest_timezone="Europe/Berlin") as services:
        # 08:30 UTC on Monday 28 December is 09:30 in Berlin: after that week's due moment (08:00 UTC).
        seed(services, fake_slack, count=1, start=datetime(2026, 12, 28, 7, 59, tzinfo=UTC), use_case="old year")
        seed(services, fake_slack, count=1, start=datetime(2026, 12, 28, 8, 0, tzinfo=UTC), use_case="new year")
        report = services.digest.run_due(datetime(2027, 1, 4, 8, 30, tzinfo=UTC))
        assert report.period.key == "2027-W01"
        assert report.period.start == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)
        [summary] = summaries(fake_slack)
        assert "new year" in text_of(summary)
        assert "old year" not in text_of(summary)
        assert "Monday 09:00 Europe/Berlin" in text_of(summary)
        # The week of the spring change: due at 07:00 UTC (09:00 CEST), 167 hours after 08:00 UTC a week before.
        spring = services.digest.schedule.latest_due(datetime(2027, 3, 29, 7, 0, tzinfo=UTC))
        assert spring.key == "2027-W13"
        assert spring.end - spring.start == timedelta(hours=167)
        assert spring.end.astimezone(berlin).hour == 9


# --- Slack refusing, slow or rate limiting --------------------------------------------------------------------------


def test_a_channel_the_bot_was_removed_from_fails_alone_and_is_logged(
    services: Services, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    for channel in CHANNELS:
        seed(services, fake_slack, channel=channel, count=2)
    fake_slack.set_channel("C0BRAVO", "not_in_channel")
    with caplog.at_level(logging.WARNING, logger="bot.digest.runner"):
        report = services.digest.run_due(NOW)
    assert report.channels[(TEAM, "C0ALPHA")].result is Result.SENT
    assert report.channels[(TEAM, "C0CHARLIE")].result is Result.SENT
    failed = report.channels[(TEAM, "C0BRAVO")]
    assert (failed.result, failed.error) == (Result.FAILED, "not_in_channel")
    assert any("C0BRAVO" in r.getMessage() and "not_in_channel" in r.getMessage() for r in caplog.records)
    assert [call.args["channel"] for call in summaries(fake_slack)] == ["C0ALPHA", "C0CHARLIE"]
    # Marked failed for the week: not tried again on every tick.
    calls = len(fake_slack.calls())
    assert services.digest.run_due(NOW + timedelta(minutes=1)).channels == {}
    assert len(fake_slack.calls()) == calls


def test_rate_limits_are_waited_out_and_the_digest_goes_out_once(services: Services, fake_slack: FakeSlack) -> None:
    seed(services, fake_slack, count=2)
    fake_slack.fail("chat.postMessage", times=2, status=429, retry_after=1)
    report = services.digest.run_due(NOW)
    assert report.channels[(TEAM, CHANNEL)].result is Result.SENT
    attempts = fake_slack.calls("chat.postMessage")
    assert [call.status for call in attempts] == [429, 429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0
    assert attempts[2].at - attempts[1].at >= 1.0
    assert len(summaries(fake_slack)) == 1


def test_a_slack_outage_leaves_the_digest_for_the_next_run_without_a_retry_storm(
    services: Services, fake_slack: FakeSlack
) -> None:
    seed(services, fake_slack, count=2)
    fake_slack.fail("chat.postMessage", times=10, status=503)
    first = services.digest.run_due(NOW).channels[(TEAM, CHANNEL)]
    assert (first.result, first.error) == (Result.RETRY, "http_503")
    assert len(fake_slack.calls("chat.postMessage")) == 2  # one retry, then left for the next tick
    fake_slack.reset_faults("chat.postMessage")
    assert services.digest.run_due(NOW).channels[(TEAM, CHANNEL)].result is Result.SENT
    assert len(summaries(fake_slack)) == 1


class RunnerClock:
    """The digest runner's monotonic clock, moved only by its pauses and by the Web API calls it makes (each takes
    `call_seconds`), so that pacing is checked in the runner's own time, whatever else the machine is doing."""

    def __init__(self, call_seconds: float) -> None:
        self.now = 1000.0
        self.call_seconds = call_seconds
        self.pauses: list[float] = []
        self.posts: list[float] = []  # when each chat.postMessage began

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def timed(self, api_call: Callable[..., Any]) -> Callable[..., Any]:
        def call(api_method: str, *args: Any, **kwargs: Any) -> Any:
            if api_method == "chat.postMessage":
                self.posts.append(self.now)
            self.now += self.call_seconds
            return api_call(api_method, *args, **kwargs)

        return call


@pytest.mark.parametrize("call_seconds", [0.0, 0.1, 0.4])
def test_messages_in_one_channel_are_paced(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch, call_seconds: float
) -> None:
    clock = RunnerClock(call_seconds)
    with digest_services(fake_slack, redis_url, key_prefix, digest_post_interval_seconds=0.25) as services:
        seed(services, fake_slack, count=90)  # a summary and three thread messages
        runner = services.digest
        runner.sleep, runner.monotonic = clock.sleep, clock.monotonic
        monkeypatch.setattr(runner.client, "api_call", clock.timed(runner.client.api_call))
        runner.run_due(NOW)
    assert len(fake_slack.calls("chat.postMessage")) == len(clock.posts) == 4
    # Each message begins `interval` after the one before, counting the time the post itself took; a post slower
    # than the interval is followed at once.
    gaps = [later - earlier for earlier, later in itertools.pairwise(clock.posts)]
    assert gaps == pytest.approx([max(0.25, call_seconds)] * 3)
    assert clock.pauses == pytest.approx([0.25 - call_seconds] * 3 if call_seconds < 0.25 else [])


# --- a very busy week ------------------------------------------------------------------------------------------------


def test_ten_thousand_decisions_make_a_summary_and_a_thread_every_message_within_slacks_limits(
    services: Services, fake_slack: FakeSlack
) -> None:
    made = seed(services, fake_slack, count=10_000, step=timedelta(seconds=59), use_case="Use case number {i}")
    for decision in made[::10]:
        rereview(services, decision, at=decision.created_at + timedelta(minutes=30))
    report = services.digest.run_due(NOW)
    assert report.channels[(TEAM, CHANNEL)].result is Result.SENT

    [summary] = summaries(fake_slack)
    thread = thread_of(fake_slack, summary)
    assert "*10000 decisions*" in text_of(summary)
    assert "*1000* re-reviews or edits" in text_of(summary)
    assert "This digest's thread lists every decision" in text_of(summary)
    for call in [summary, *thread]:
        message = {"text": call.args["text"], "blocks": call.args["blocks"]}
        assert limits.fits_message(message), call.args["text"]
        assert "not shown" not in json.dumps(message)
    listed = Counter()
    for call in thread:
        for block in call.args["blocks"]:
            for line in block.get("text", {}).get("text", "").splitlines():
                if line.startswith("• *<"):
                    listed[line.split("|", 1)[0]] += 1
    assert len(listed) == 10_000
    assert set(listed.values()) == {1}
    assert sum(text_of(call).count("re-reviewed by <@U0OTHER>") for call in thread) == 1000
    assert len(fake_slack.calls("chat.getPermalink")) == 1


# --- the slash command -----------------------------------------------------------------------------------------------


def test_preview_shows_the_digest_only_to_the_caller_and_posts_nothing(bot: BotClient) -> None:
    bot.services.digest.clock = lambda: NOW
    seed(bot.services, bot.fake, start=NOW - timedelta(days=6))
    seed(bot.services, bot.fake, start=NOW - timedelta(days=8), use_case="eight days ago")
    posted = len(bot.fake.calls("chat.postMessage"))
    assert bot.command("digest preview").status == 200
    [answer] = wait_webhooks(bot.fake, 1)
    assert answer["response_type"] == "ephemeral"
    assert "Preview: only you can see this" in json.dumps(answer)
    assert "*1 decision*" in json.dumps(answer)
    assert "eight days ago" not in json.dumps(answer)
    time.sleep(0.2)
    assert len(bot.fake.calls("chat.postMessage")) == posted


def test_now_posts_the_last_seven_days_once_and_says_so_to_a_second_caller(bot: BotClient) -> None:
    bot.services.digest.clock = lambda: NOW
    [decision] = seed(bot.services, bot.fake, start=NOW - timedelta(days=6, hours=23))
    seed(bot.services, bot.fake, start=NOW - timedelta(days=7, minutes=1), use_case="more than seven days ago")
    verdict = verdict_ts(bot.services, decision)
    posted = len(bot.fake.calls("chat.postMessage"))
    assert bot.command("digest now").status == 200
    [digest] = bot.fake.wait_for("chat.postMessage", posted + 1)[posted:]
    assert digest.args["channel"] == CHANNEL
    assert not digest.args.get("thread_ts")
    assert "Decisions of the last seven days" in text_of(digest)
    assert "*1 decision*" in text_of(digest)
    assert "more than seven days ago" not in text_of(digest)
    assert f"p{verdict.replace('.', '')}" in json.dumps(digest.args)
    assert "Sent every" not in text_of(digest)
    assert bot.command("digest now", user="U0SECOND").status == 200
    [answer] = wait_webhooks(bot.fake, 1)
    assert "a moment ago" in answer["text"]
    assert len(summaries(bot.fake)) == 1  # the one digest


def test_now_in_a_quiet_channel_and_where_the_bot_is_not_a_member_answer_the_caller(bot: BotClient) -> None:
    bot.services.digest.clock = lambda: NOW
    assert bot.command("digest now", channel="C0EMPTY").status == 200
    [answer] = wait_webhooks(bot.fake, 1)
    assert "Nothing to post" in answer["text"]
    seed(bot.services, bot.fake, start=NOW - timedelta(days=1))
    bot.fake.set_channel(CHANNEL, "not_in_channel")
    assert bot.command("digest now").status == 200
    [_, answer] = wait_webhooks(bot.fake, 2)
    assert "`not_in_channel`" in answer["text"]
    assert "/invite @should-finetune" in answer["text"]
    # Nothing is marked for a failed request: once invited, asking again posts it.
    bot.fake.set_channel(CHANNEL, "member")
    posted, calls = len(summaries(bot.fake)), len(bot.fake.calls("chat.postMessage"))
    assert bot.command("digest now").status == 200
    bot.fake.wait_for("chat.postMessage", calls + 1)
    assert len(summaries(bot.fake)) == posted + 1


def test_off_and_on_are_announced_in_the_channel_and_decide_whether_it_gets_the_digest(
    bot: BotClient, fake_slack: FakeSlack
) -> None:
    seed(bot.services, fake_slack, count=1)
    assert bot.command("digest off").status == 200
    [off] = wait_webhooks(fake_slack, 1)
    assert off["response_type"] == "in_channel"
    assert f"<@{USER}> turned the weekly digest *off*" in off["text"]
    assert bot.services.digest.run_due(NOW).channels == {}
    assert bot.command("digest").status == 200
    [_, status] = wait_webhooks(fake_slack, 2)
    assert status["response_type"] == "ephemeral"
    assert "is *off*" in status["text"]
    assert bot.command("digest on").status == 200
    [_, _, on] = wait_webhooks(fake_slack, 3)
    assert "turned the weekly digest *on*" in on["text"]
    assert "Monday 09:00 UTC" in on["text"]
    assert bot.services.digest.run_due(NOW).channels[(TEAM, CHANNEL)].result is Result.SENT


def test_digest_followed_by_a_use_case_opens_the_form_instead(bot: BotClient) -> None:
    assert bot.command("digest summaries for the news team").status == 200
    view = bot.opened_view()
    assert "digest summaries for the news team" in json.dumps(view)


def wait_webhooks(fake: FakeSlack, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(fake.webhook_bodies("command")) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    bodies = fake.webhook_bodies("command")
    assert len(bodies) == count, bodies
    return bodies


# --- where it runs ---------------------------------------------------------------------------------------------------


def test_the_scheduler_thread_sends_at_start_up_and_stops_promptly(services: Services, fake_slack: FakeSlack) -> None:
    services.digest.clock = lambda: NOW
    seed(services, fake_slack, start=PERIOD.start - timedelta(days=1), count=1)
    seed(services, fake_slack, start=PERIOD.start, count=1)
    scheduler = DigestScheduler(services.digest, tick=0.2)
    scheduler.start()
    try:
        fake_slack.wait_for("chat.postMessage", 1, timeout=10)
    finally:
        started = time.monotonic()
        scheduler.stop()
    assert time.monotonic() - started < 2
    time.sleep(0.5)
    [summary] = summaries(fake_slack)
    assert "*1 decision*" in text_of(summary)
    assert services.digest.digests.done(workspace=TEAM, channel=CHANNEL, period=PERIOD.key) is not None


def test_a_run_computes_in_a_slot_and_gives_it_back_while_it_paces_its_posts(
    services: Services, fake_slack: FakeSlack
) -> None:
    seed(services, fake_slack, count=90)  # a summary and three thread messages: three pauses
    slots = ComputeSlots(1)
    paused: list[bool] = []
    built: list[bool] = []
    runner = DigestRunner(
        store=services.store,
        digests=services.digest.digests,
        ruleset=services.decisions.ruleset,
        renderer=services.renderer,
        client=services.client,
        schedule=services.digest.schedule,
        interval=0.05,
        sleep=lambda seconds: (paused.append(slots.holding()), time.sleep(seconds)),
        slots=slots,
    )
    build = runner.build
    runner.build = lambda **kwargs: (built.append(slots.holding()), build(**kwargs))[1]  # type: ignore[method-assign]
    assert runner.run_due(NOW).channels[(TEAM, CHANNEL)].result is Result.SENT
    assert built == [True]
    assert paused == [False, False, False]
    assert not slots.holding()


def test_the_cli_sends_what_is_due_and_reports_each_channel(
    fake_slack: FakeSlack,
    redis_url: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with digest_services(fake_slack, redis_url, key_prefix) as services:
        seed(services, fake_slack, channel="C0ALPHA", count=1)
        seed(services, fake_slack, channel="C0BRAVO", count=1)
    fake_slack.set_channel("C0BRAVO", "is_archived")
    for name, value in _cli_env(fake_slack, redis_url, key_prefix).items():
        if name.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_")):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(key_prefix and os.path.dirname(__file__))  # no stray .env
    assert main(["digest", "--at", "2026-11-30T09:30Z"]) == 1
    out = capsys.readouterr().out
    assert f"{TEAM}:C0ALPHA: sent" in out
    assert f"{TEAM}:C0BRAVO: failed (is_archived)" in out
    assert "digest 2026-W49: 1 sent, 1 failed" in out
    assert main(["digest", "--at", "2026-11-30T09:30Z"]) == 0
    assert "digest 2026-W49: nothing due" in capsys.readouterr().out
    assert main(["digest", "--at", "next monday"]) == 2
    assert "--at next monday" in capsys.readouterr().err
    assert main(["digest", "--at", "2026-11-30T09:30"]) == 2
    assert "give a time zone" in capsys.readouterr().err
