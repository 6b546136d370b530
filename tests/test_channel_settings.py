"""Each channel's own settings, through signed slash commands against the served bot, the fake Slack and real Redis:
its digest schedule (`/should-finetune digest friday 16:00 Europe/Berlin`, `digest default`) and its reviewers
(`/should-finetune reviewers @a @b`, `reviewers none`, `reviewers default`); who may change the reviewers; re-reviews
and edits following each channel's reviewers; and the scheduler sending each channel at its own time, once, with a
schedule change mid-week neither repeating nor leaving out any day. Fixed clocks for the scheduler."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import pytest

from bot.digest.runner import Result, RunReport, continue_period
from bot.schedule import Period, Schedule, parse_zone
from bot.services import Services
from tests.fakeslack import FakeSlack
from tests.slack_support import CHANNEL, TEAM, USER, BotClient, message_ts
from tests.test_digest import digest_services, seed, summaries, text_of
from tests.test_followups import OwnRedis, texts
from tests.test_followups import own_redis as own_redis  # noqa: PLC0414 - the fixture, shared
from tests.test_reviews import GROUP, MEMBER, OTHER, REVIEWER, served_bot

OTHER_CHANNEL = "C0SECOND"
ALICE, BOB = "U0ALICE", "U0BOB"
BERLIN_FRIDAY = Schedule(weekday=4, at=clock_time(16, 0), zone=parse_zone("Europe/Berlin"))


@pytest.fixture
def reviewing(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """The bot with a default reviewer and a default reviewers' group (SHOULD_FINETUNE_REVIEWERS)."""
    fake_slack.set_usergroup(GROUP, [MEMBER])
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        yield bot


@pytest.fixture
def unreviewed(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """The bot with no default reviewers."""
    fake_slack.set_usergroup(GROUP, [MEMBER])
    with served_bot(fake_slack, redis_url, key_prefix, reviewers="") as bot:
        yield bot


def answer(bot: BotClient, text: str, *, user: str = USER, channel: str = CHANNEL) -> dict[str, Any]:
    """Run the command and return the one answer it sends through its response_url."""
    name = f"r{time.monotonic_ns()}"
    assert bot.command(text, user=user, channel=channel, response_url=bot.fake.response_url(name)).status == 200
    (body,) = [call.args for call in bot.fake.wait_for(f"webhook/{name}", 1)]
    return body


def said(bot: BotClient, count: int, channel: str = CHANNEL) -> list[str]:
    """The texts of the first `count` normal messages the bot posted in `channel` (not in a thread), waiting."""
    deadline = time.monotonic() + 5
    while True:
        found = [
            str(c.args.get("text"))
            for c in bot.fake.calls("chat.postMessage")
            if c.args.get("channel") == channel and not c.args.get("thread_ts")
        ]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, found
            return found


def run_and_announce(bot: BotClient, text: str, *, user: str = USER, channel: str = CHANNEL) -> str:
    """Run a command that changes a setting; the announcement it posted in the channel."""
    before = len(said(bot, 0, channel))
    assert bot.command(text, user=user, channel=channel).status == 200
    return said(bot, before + 1, channel)[before]


def no_posts_after(bot: BotClient, count: int) -> None:
    time.sleep(0.3)
    assert len(bot.fake.calls("chat.postMessage")) == count


# --- the digest's schedule -------------------------------------------------------------------------------------------


def test_a_channel_sets_its_digest_schedule_and_digest_reports_it(bot: BotClient) -> None:
    announced = run_and_announce(bot, "digest friday 16:00 Europe/Berlin")
    assert announced.startswith(f"<@{USER}> set this channel's weekly digest to Friday 16:00 Europe/Berlin.")
    assert "The next one is due <!date^" in announced

    status = answer(bot, "digest")
    assert status["response_type"] == "ephemeral"
    assert (
        "every Friday 16:00 Europe/Berlin (this channel's own schedule; the default is Monday 09:00 UTC)"
        in (status["text"])
    )
    assert bot.services.digest.schedule_of(TEAM, CHANNEL) == BERLIN_FRIDAY
    assert bot.services.digest.schedule_of(TEAM, OTHER_CHANNEL) == Schedule()  # another channel keeps the default
    assert "every Monday 09:00 UTC (the default schedule)" in answer(bot, "digest", channel=OTHER_CHANNEL)["text"]

    back = run_and_announce(bot, "digest default", user=OTHER)
    assert back.startswith(f"<@{OTHER}> set this channel's weekly digest back to the default, Monday 09:00 UTC.")
    assert bot.services.digest.schedule_of(TEAM, CHANNEL) == Schedule()
    assert "(the default schedule)" in answer(bot, "digest")["text"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("digest FRI 16:00 Europe/Berlin", BERLIN_FRIDAY),
        ("digest Friday 16:00 Europe/Berlin", BERLIN_FRIDAY),
        ("digest sun 7:05", Schedule(weekday=6, at=clock_time(7, 5))),  # no zone: the current one (UTC here)
    ],
)
def test_the_weekday_in_any_case_and_abbreviated(bot: BotClient, typed: str, expected: Schedule) -> None:
    run_and_announce(bot, typed)
    assert bot.services.digest.schedule_of(TEAM, CHANNEL) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("digest fryday 16:00 Europe/Berlin", "I could not read `fryday` as a weekday"),
        ("digest friday 25:00 Europe/Berlin", "I could not read `25:00` as a time of day"),
        ("digest friday 4pm:00 Europe/Berlin", "I could not read `4pm:00` as a time of day"),
        ("digest friday 16:00 Europe/Nowhere", "I could not read `Europe/Nowhere` as a time zone"),
        ("digest friday 16:00 ../../etc/passwd", "I could not read `../../etc/passwd` as a time zone"),
        ("digest friday 16:00 <!channel>", "I could not read `&lt;!channel&gt;` as a time zone"),
        ("digest friday", "A schedule needs a weekday and a time"),
        ("digest friday 16:00 Europe/Berlin now", "I could not read `now` after the time zone"),
    ],
)
def test_a_schedule_not_understood_gets_a_short_answer_naming_the_part(
    bot: BotClient, typed: str, expected: str
) -> None:
    body = answer(bot, typed)
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith(expected), body["text"]
    assert "so the schedule was not changed" in body["text"]
    assert "`/should-finetune digest friday 16:00 Europe/Berlin`" in body["text"]
    assert "Traceback" not in body["text"]
    no_posts_after(bot, 0)
    assert bot.services.digest.schedule_of(TEAM, CHANNEL) == Schedule()


def test_digest_followed_by_other_words_is_still_a_use_case(bot: BotClient) -> None:
    assert bot.command("digest summaries for the news team").status == 200
    bot.fake.wait_for("views.open", 1)


def test_a_channel_the_bot_cannot_post_in_hears_of_the_change_through_the_command(bot: BotClient) -> None:
    bot.fake.fail("chat.postMessage", status=200, error="not_in_channel")
    body = answer(bot, "digest tuesday 08:30 UTC")
    assert body["response_type"] == "in_channel"
    assert body["text"].startswith(f"<@{USER}> set this channel's weekly digest to Tuesday 08:30 UTC.")


# --- reviewers ------------------------------------------------------------------------------------------------------


def test_reviewers_are_shown_set_and_cleared(reviewing: BotClient) -> None:
    bot = reviewing
    shown = answer(bot, "reviewers")
    assert shown["response_type"] == "ephemeral"
    assert f"This channel's reviewers (the bot's default): <@{REVIEWER}> and <!subteam^{GROUP}>." in shown["text"]

    announced = run_and_announce(bot, f"reviewers <@{ALICE}|alice> <@{BOB}>", user=REVIEWER)
    assert announced.startswith(f"<@{REVIEWER}> made <@{ALICE}> and <@{BOB}> this channel's reviewers.")
    assert list(bot.services.reviews.reviewers_of(TEAM, CHANNEL)) == [ALICE, BOB]
    assert f"This channel's reviewers: <@{ALICE}> and <@{BOB}>." in answer(bot, "reviewers")["text"]
    # The other channel keeps the default.
    assert list(bot.services.reviews.reviewers_of(TEAM, OTHER_CHANNEL)) == [REVIEWER, GROUP]

    cleared = run_and_announce(bot, "reviewers none", user=BOB)
    assert cleared.startswith(f"<@{BOB}> cleared this channel's reviewers")
    assert list(bot.services.reviews.reviewers_of(TEAM, CHANNEL)) == []
    assert "This channel has no reviewers: only the person who asked" in answer(bot, "reviewers")["text"]

    defaulted = run_and_announce(bot, "reviewers default", user=OTHER)  # anyone, while there are none
    assert defaulted.startswith(f"<@{OTHER}> set this channel's reviewers back to the default: <@{REVIEWER}> and")
    assert list(bot.services.reviews.reviewers_of(TEAM, CHANNEL)) == [REVIEWER, GROUP]


def test_a_user_group_is_read_from_its_mention(unreviewed: BotClient) -> None:
    announced = run_and_announce(unreviewed, f"reviewers <!subteam^{GROUP}|@ml-leads> <@{ALICE}|alice>")
    assert announced.startswith(f"<@{USER}> made <!subteam^{GROUP}> and <@{ALICE}> this channel's reviewers.")
    assert list(unreviewed.services.reviews.reviewers_of(TEAM, CHANNEL)) == [GROUP, ALICE]


@pytest.mark.parametrize(
    ("typed", "bad"),
    [
        ("reviewers @alice", "@alice"),  # Slack did not turn it into a mention
        (f"reviewers <@{ALICE}> bob", "bob"),
        ("reviewers &lt;@U0TYPED&gt;", "&amp;lt;@U0TYPED&amp;gt;"),  # typed, not a mention: shown as typed
        ("reviewers <#C0CHAN|general>", "&lt;#C0CHAN|general&gt;"),
        ("reviewers <!channel>", "&lt;!channel&gt;"),
    ],
)
def test_anything_but_mentions_is_refused_with_a_short_answer(unreviewed: BotClient, typed: str, bad: str) -> None:
    body = answer(unreviewed, typed)
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith(f"I could not read `{bad}` as a person or a user group, so nothing was changed.")
    no_posts_after(unreviewed, 0)
    assert list(unreviewed.services.reviews.reviewers_of(TEAM, CHANNEL)) == []


def test_only_the_reviewers_may_change_them_once_there_are_some(reviewing: BotClient) -> None:
    bot = reviewing
    refused = answer(bot, f"reviewers <@{OTHER}>", user=OTHER)  # the default counts as the channel's reviewers
    assert refused["response_type"] == "ephemeral"
    assert refused["text"] == (
        f"Only this channel's reviewers (<@{REVIEWER}> and <!subteam^{GROUP}>) can change them, so nothing was changed."
    )
    assert answer(bot, "reviewers none", user=OTHER)["text"].startswith("Only this channel's reviewers")
    assert list(bot.services.reviews.reviewers_of(TEAM, CHANNEL)) == [REVIEWER, GROUP]

    run_and_announce(bot, f"reviewers <@{ALICE}>", user=MEMBER)  # a member of a listed group may
    assert list(bot.services.reviews.reviewers_of(TEAM, CHANNEL)) == [ALICE]
    assert answer(bot, f"reviewers <@{REVIEWER}>", user=REVIEWER)["text"].startswith("Only this channel's reviewers")
    assert list(bot.services.reviews.reviewers_of(TEAM, CHANNEL)) == [ALICE]


def test_anyone_may_name_reviewers_while_the_channel_has_none(unreviewed: BotClient) -> None:
    run_and_announce(unreviewed, f"reviewers <@{ALICE}>", user=OTHER)
    assert list(unreviewed.services.reviews.reviewers_of(TEAM, CHANNEL)) == [ALICE]
    assert answer(unreviewed, f"reviewers <@{OTHER}>", user=OTHER)["text"].startswith("Only this channel's reviewers")


def test_reviewers_of_pull_requests_is_a_use_case(bot: BotClient) -> None:
    assert bot.command("reviewers of pull requests").status == 200
    bot.fake.wait_for("views.open", 1)


def test_with_redis_down_the_commands_say_so(fake_slack: FakeSlack, own_redis: OwnRedis) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        own_redis.stop()
        try:
            for typed in ("reviewers", f"reviewers <@{ALICE}>", "digest friday 16:00 UTC", "digest", "digest default"):
                body = answer(bot, typed)
                assert "cannot reach my storage" in body["text"], (typed, body)
        finally:
            own_redis.start()


# --- each channel's reviewers at work -------------------------------------------------------------------------------


def reaction(ts: str, *, channel: str, user: str) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "repeat",
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": message_ts(),
    }


def edit_click(bot: BotClient, verdict: str, *, channel: str, user: str) -> str:
    """Press "Edit answers" on the verdict in `channel` as `user`; the response_url's name."""
    name = f"edit{time.monotonic_ns()}"
    assert bot.click("edit-answers", message_ts=verdict, channel=channel, user=user, name=name).status == 200
    return name


def test_rereviews_and_edits_follow_each_channels_reviewers(unreviewed: BotClient) -> None:
    bot = unreviewed
    run_and_announce(bot, f"reviewers <@{ALICE}>", channel=CHANNEL)
    run_and_announce(bot, f"reviewers <@{BOB}> <!subteam^{GROUP}>", channel=OTHER_CHANNEL)
    first = bot.decide(channel=CHANNEL)
    second = bot.decide(channel=OTHER_CHANNEL)

    assert bot.event(reaction(first, channel=CHANNEL, user=OTHER)).status == 200
    assert bot.event(reaction(second, channel=OTHER_CHANNEL, user=OTHER)).status == 200
    [_, rereviewed_first] = texts(bot.wait_replies(first, 2))
    [_, rereviewed_second] = texts(bot.wait_replies(second, 2))
    assert f"<@{ALICE}>: please take a look" in rereviewed_first
    assert f"<@{BOB}>" not in rereviewed_first
    assert f"<@{BOB}> <!subteam^{GROUP}>: please take a look" in rereviewed_second
    assert f"<@{ALICE}>" not in rereviewed_second

    opened = len(bot.fake.calls("views.open"))
    edit_click(bot, first, channel=CHANNEL, user=ALICE)  # a reviewer here
    bot.fake.wait_for("views.open", opened + 1)
    refused = edit_click(bot, second, channel=OTHER_CHANNEL, user=ALICE)  # not there
    (notice,) = bot.fake.wait_for(f"webhook/{refused}", 1)
    assert notice.args["text"].startswith(
        f"Only <@{USER}> (who asked for it) and the reviewers (<@{BOB}>, <!subteam^{GROUP}>) can edit its answers"
    )
    edit_click(bot, second, channel=OTHER_CHANNEL, user=MEMBER)  # a member of the group named there
    bot.fake.wait_for("views.open", opened + 2)
    assert len(bot.fake.calls("views.open")) == opened + 2


# --- the scheduler, each channel on its own schedule ----------------------------------------------------------------

ALPHA, BRAVO = "C0ALPHA", "C0BRAVO"
LONG_AGO = datetime(2026, 11, 1, tzinfo=UTC)


def set_schedule(services: Services, channel: str, spec: str | None, at: datetime = LONG_AGO) -> None:
    assert services.digest.channels is not None
    services.digest.channels.set_schedule(workspace=TEAM, channel=channel, schedule=spec, by=USER, now=at)


@pytest.fixture
def replicas(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[tuple[Services, Services]]:
    """Two replicas of the bot's services on the same Redis."""
    with (
        digest_services(fake_slack, redis_url, key_prefix) as first,
        digest_services(fake_slack, redis_url, key_prefix) as second,
    ):
        yield first, second


def run_on_both(replicas: tuple[Services, Services], now: datetime) -> list[RunReport]:
    """Both replicas run the scheduler's look at `now` at the same moment."""
    reports: list[RunReport] = []
    barrier = threading.Barrier(2)

    def run(services: Services) -> None:
        barrier.wait()
        reports.append(services.digest.run_due(now))

    threads = [threading.Thread(target=run, args=(services,)) for services in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return reports


def sent(reports: list[RunReport], channel: str) -> int:
    """How many of the reports sent `channel`'s digest."""
    return sum((TEAM, channel) in r.channels and r.channels[(TEAM, channel)].result is Result.SENT for r in reports)


def test_each_channel_gets_its_digest_at_its_own_time_once_across_replicas(
    replicas: tuple[Services, Services], fake_slack: FakeSlack
) -> None:
    services = replicas[0]
    set_schedule(services, BRAVO, "friday 16:00 Europe/Berlin")  # 15:00 UTC in winter
    seed(services, fake_slack, channel=ALPHA, count=2, start=datetime(2026, 11, 24, 10, tzinfo=UTC))
    seed(services, fake_slack, channel=BRAVO, count=3, start=datetime(2026, 11, 21, 10, tzinfo=UTC))

    assert sent(run_on_both(replicas, datetime(2026, 11, 27, 14, 59, tzinfo=UTC)), BRAVO) == 0  # 15:59 in Berlin
    assert summaries(fake_slack) == []
    friday = run_on_both(replicas, datetime(2026, 11, 27, 15, 1, tzinfo=UTC))
    assert sent(friday, BRAVO) == 1
    assert sent(friday, ALPHA) == 0  # its week (due Monday) is not over
    [bravo] = summaries(fake_slack, BRAVO)
    assert "*3 decisions*" in text_of(bravo)
    assert "Sent every Friday 16:00 Europe/Berlin" in text_of(bravo)
    period = next(r.periods[(TEAM, BRAVO)] for r in friday if (TEAM, BRAVO) in r.periods)
    assert period.start == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 27, 15, tzinfo=UTC)

    monday = run_on_both(replicas, datetime(2026, 11, 30, 9, 1, tzinfo=UTC))
    assert (sent(monday, ALPHA), sent(monday, BRAVO)) == (1, 0)
    [alpha] = summaries(fake_slack, ALPHA)
    assert "*2 decisions*" in text_of(alpha)
    assert "Sent every Monday 09:00 UTC" in text_of(alpha)

    for now in (datetime(2026, 11, 30, 18, tzinfo=UTC), datetime(2026, 12, 4, 14, 59, tzinfo=UTC)):
        assert all(sent(run_on_both(replicas, now), channel) == 0 for channel in (ALPHA, BRAVO))
    assert len(summaries(fake_slack)) == 2


def test_a_schedule_moved_later_in_the_week_sends_the_next_weeks_digest_covering_everything_since(
    services_one: Services, fake_slack: FakeSlack
) -> None:
    services = services_one
    seed(services, fake_slack, channel=ALPHA, count=1, start=datetime(2026, 11, 20, 10, tzinfo=UTC))
    assert services.digest.run_due(datetime(2026, 11, 23, 9, 30, tzinfo=UTC)).channels[(TEAM, ALPHA)].result is (
        Result.SENT
    )  # Monday's digest, 2026-W48
    # Wednesday: moved to Friday 16:00 UTC; decisions before and after the change.
    set_schedule(services, ALPHA, "friday 16:00 UTC", at=datetime(2026, 11, 25, 10, tzinfo=UTC))
    for day in (24, 26):
        seed(services, fake_slack, channel=ALPHA, count=1, start=datetime(2026, 11, day, 12, tzinfo=UTC))
    seed(services, fake_slack, channel=ALPHA, count=1, start=datetime(2026, 12, 1, 12, tzinfo=UTC))

    # This Friday is in the ISO week that already had its digest: none, and status says when the next one is.
    assert services.digest.run_due(datetime(2026, 11, 27, 16, 30, tzinfo=UTC)).channels == {}
    upcoming = services.digest.next_due(
        TEAM, ALPHA, services.digest.schedule_of(TEAM, ALPHA), datetime(2026, 11, 26, tzinfo=UTC)
    )
    assert upcoming == datetime(2026, 12, 4, 16, tzinfo=UTC)
    report = services.digest.run_due(datetime(2026, 12, 4, 16, 30, tzinfo=UTC))
    assert report.channels[(TEAM, ALPHA)].result is Result.SENT
    assert report.periods[(TEAM, ALPHA)] == Period(
        key="2026-W49", start=datetime(2026, 11, 23, 9, tzinfo=UTC), end=datetime(2026, 12, 4, 16, tzinfo=UTC)
    )
    monday, friday = summaries(fake_slack, ALPHA)
    assert "*1 decision*" in text_of(monday)
    assert "*3 decisions*" in text_of(friday)  # Tuesday's, Thursday's and next Tuesday's: nothing left out


def test_a_schedule_moved_earlier_in_the_week_reports_nothing_twice(
    services_one: Services, fake_slack: FakeSlack
) -> None:
    services = services_one
    set_schedule(services, ALPHA, "friday 16:00 UTC")
    seed(services, fake_slack, channel=ALPHA, count=2, start=datetime(2026, 11, 18, 10, tzinfo=UTC))
    assert services.digest.run_due(datetime(2026, 11, 20, 16, 30, tzinfo=UTC)).channels[(TEAM, ALPHA)].result is (
        Result.SENT
    )
    set_schedule(services, ALPHA, "monday 09:00 UTC", at=datetime(2026, 11, 21, 10, tzinfo=UTC))  # on Saturday
    seed(services, fake_slack, channel=ALPHA, count=1, start=datetime(2026, 11, 22, 10, tzinfo=UTC))

    report = services.digest.run_due(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert report.channels[(TEAM, ALPHA)].result is Result.SENT
    assert report.periods[(TEAM, ALPHA)].start == datetime(2026, 11, 20, 16, tzinfo=UTC)  # where Friday's ended
    friday, monday = summaries(fake_slack, ALPHA)
    assert "*2 decisions*" in text_of(friday)
    assert "*1 decision*" in text_of(monday)


def test_a_change_sends_nothing_at_once_only_at_the_next_due_moment(
    services_one: Services, fake_slack: FakeSlack
) -> None:
    services = services_one
    seed(services, fake_slack, channel=ALPHA, count=1, start=datetime(2026, 11, 25, 10, tzinfo=UTC))
    # Tuesday: moved to Sunday 08:00; last Sunday's moment had passed before the change, so it is not due.
    set_schedule(services, ALPHA, "sunday 08:00 UTC", at=datetime(2026, 11, 24, 10, tzinfo=UTC))
    assert services.digest.run_due(datetime(2026, 11, 24, 10, 5, tzinfo=UTC)).channels == {}
    report = services.digest.run_due(datetime(2026, 11, 29, 8, 5, tzinfo=UTC))
    assert report.channels[(TEAM, ALPHA)].result is Result.SENT
    assert report.periods[(TEAM, ALPHA)].start == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert services.digest.run_due(datetime(2026, 11, 29, 9, 5, tzinfo=UTC)).channels == {}


def test_unchanged_schedules_keep_seven_day_periods_after_a_missed_week() -> None:
    schedule = Schedule()
    period = schedule.latest_due(datetime(2026, 11, 30, 9, 30, tzinfo=UTC))
    assert continue_period(schedule, period, None) == period
    assert continue_period(schedule, period, period.start) == period  # last week's was sent
    assert continue_period(schedule, period, period.start - timedelta(days=7)) == period  # a week missed or off
    assert continue_period(schedule, period, period.end) is None  # covered already
    moved = continue_period(schedule, period, period.start + timedelta(days=3))
    assert moved == Period(key=period.key, start=period.start + timedelta(days=3), end=period.end)


@pytest.fixture
def services_one(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[Services]:
    with digest_services(fake_slack, redis_url, key_prefix) as services:
        yield services
