"""When digests are due and which week each one covers, and the settings that choose the schedule. Fixed clocks only."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.schedule import WEEKDAYS, Period, Schedule, parse_time, parse_weekday, parse_zone, rolling_week
from bot.settings import SettingsError, load_settings

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
MICRO = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DIGEST_VARS = ("SHOULD_FINETUNE_DIGEST_WEEKDAY", "SHOULD_FINETUNE_DIGEST_TIME", "SHOULD_FINETUNE_DIGEST_TIMEZONE")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as a UTC instant, resolved the way Python does (fold=0)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def iso_key(moment: datetime, zone: ZoneInfo) -> str:
    year, week, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def hours(period: Period) -> float:
    return (period.end - period.start) / HOUR


def is_utc(moment: datetime) -> bool:
    return moment.utcoffset() == timedelta(0)


# --- the default schedule: Monday 09:00 UTC ------------------------------------------------------------------------


def test_default_schedule_is_monday_0900_utc() -> None:
    schedule = Schedule()
    assert (schedule.weekday, schedule.at, schedule.zone) == (MON, time(9, 0), ZoneInfo("UTC"))
    assert schedule.describe() == "Monday 09:00 UTC"


def test_due_moment_itself_belongs_to_the_period_it_ends() -> None:
    due = utc(2026, 3, 9, 9)
    assert due.weekday() == MON
    assert Schedule().latest_due(due) == Period(key="2026-W11", start=utc(2026, 3, 2, 9), end=due)


def test_one_microsecond_before_the_due_moment_is_still_the_previous_week() -> None:
    assert Schedule().latest_due(utc(2026, 3, 9, 9) - MICRO) == Period(
        key="2026-W10", start=utc(2026, 2, 23, 9), end=utc(2026, 3, 2, 9)
    )


@pytest.mark.parametrize(
    "now",
    [
        utc(2026, 3, 9, 9, 0, 0, 1),  # just after
        utc(2026, 3, 9, 23, 59),  # Monday night
        utc(2026, 3, 11, 12),  # Wednesday
        utc(2026, 3, 15, 21, 30),  # Sunday evening
        utc(2026, 3, 16, 8, 59, 59, 999_999),  # the next Monday, just before it is due again
    ],
)
def test_the_whole_week_after_a_due_moment_maps_to_that_period(now: datetime) -> None:
    period = Schedule().latest_due(now)
    assert period == Period(key="2026-W11", start=utc(2026, 3, 2, 9), end=utc(2026, 3, 9, 9))
    assert period.end - period.start == WEEK


def test_period_ends_are_utc_whatever_zone_now_is_given_in() -> None:
    now = utc(2026, 3, 11, 12)
    for zone in (BERLIN, NEW_YORK, ZoneInfo("Asia/Kolkata")):
        period = Schedule().latest_due(now.astimezone(zone))
        assert period == Schedule().latest_due(now)
        assert is_utc(period.start)
        assert is_utc(period.end)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule().latest_due(datetime(2026, 3, 9, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        rolling_week(datetime(2026, 3, 9, 9), ZoneInfo("UTC"))


@pytest.mark.parametrize("weekday", [-1, 7])
def test_weekday_out_of_range_is_refused(weekday: int) -> None:
    with pytest.raises(ValueError, match="weekday"):
        Schedule(weekday=weekday)


def test_a_period_needs_aware_start_before_end() -> None:
    with pytest.raises(ValueError, match="start < end"):
        Period(key="k", start=utc(2026, 3, 9), end=utc(2026, 3, 9))
    with pytest.raises(ValueError, match="start < end"):
        Period(key="k", start=datetime(2026, 3, 2), end=utc(2026, 3, 9))


# --- keys: the ISO week of the due day in the schedule's zone ---------------------------------------------------------


@pytest.mark.parametrize(
    ("weekday", "due_day", "zone", "key"),
    [
        (MON, date(2026, 12, 28), "UTC", "2026-W53"),  # 2026 has 53 ISO weeks
        (MON, date(2027, 1, 4), "UTC", "2027-W01"),
        (FRI, date(2027, 1, 1), "UTC", "2026-W53"),  # New Year's Day 2027 is in 2026's last week
        (SUN, date(2027, 1, 3), "UTC", "2026-W53"),
        (THU, date(2026, 12, 31), "UTC", "2026-W53"),
        (THU, date(2026, 1, 1), "UTC", "2026-W01"),
        (MON, date(2025, 12, 29), "UTC", "2026-W01"),  # 2025 ends after week 52; its last Monday is in 2026-W01
        (MON, date(2025, 12, 22), "UTC", "2025-W52"),
        (SUN, date(2025, 12, 28), "UTC", "2025-W52"),
        (SAT, date(2028, 1, 1), "UTC", "2027-W52"),
        # The due day in the schedule's zone names the period, not the UTC day it falls on:
        (MON, date(2026, 12, 28), "Pacific/Auckland", "2026-W53"),  # Sunday 20:00 UTC, in UTC's 2026-W52
        (SUN, date(2027, 1, 3), "America/Los_Angeles", "2026-W53"),  # Monday 2027-01-04 in UTC, 2027-W01
    ],
)
def test_key_is_the_iso_week_of_the_due_day(weekday: int, due_day: date, zone: str, key: str) -> None:
    assert due_day.weekday() == weekday
    at = time(20, 0) if zone == "America/Los_Angeles" else time(9, 0)
    schedule = Schedule(weekday=weekday, at=at, zone=ZoneInfo(zone))
    due = wall(due_day, at, ZoneInfo(zone))

    period = schedule.latest_due(due)

    assert period.key == key
    assert period.end == due
    assert period.start == wall(due_day - WEEK, at, ZoneInfo(zone))
    assert schedule.latest_due(due - MICRO).end == period.start
    assert schedule.latest_due(due - MICRO).key != key


def test_the_auckland_due_moment_falls_in_an_earlier_utc_week() -> None:
    # The Auckland case above really does cross a UTC week boundary: the check is not vacuous.
    due = wall(date(2026, 12, 28), time(9, 0), ZoneInfo("Pacific/Auckland"))
    assert due == utc(2026, 12, 27, 20)
    assert iso_key(due, ZoneInfo("UTC")) == "2026-W52"


@pytest.mark.parametrize("weekday", range(7))
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/New_York"])
def test_consecutive_periods_across_new_year_have_distinct_consecutive_keys(weekday: int, zone: str) -> None:
    schedule = Schedule(weekday=weekday, at=time(9, 0), zone=ZoneInfo(zone))
    period = schedule.latest_due(utc(2026, 11, 20))
    periods = [period]
    for _ in range(12):
        period = schedule.latest_due(period.end + WEEK + timedelta(minutes=1))
        periods.append(period)

    keys = [p.key for p in periods]
    assert len(set(keys)) == len(keys)
    assert "2026-W53" in keys
    assert "2027-W01" in keys
    for earlier, later in itertools.pairwise(periods):
        assert later.start == earlier.end  # no gap, no overlap
        e_year, e_week = map(int, earlier.key.split("-W"))
        l_year, l_week = map(int, later.key.split("-W"))
        assert date.fromisocalendar(l_year, l_week, 1) - date.fromisocalendar(e_year, e_week, 1) == WEEK


# --- daylight-saving time ---------------------------------------------------------------------------------------------


def test_berlin_due_moment_is_0700_utc_in_summer_and_0800_utc_in_winter() -> None:
    schedule = Schedule(weekday=MON, at=time(9, 0), zone=BERLIN)
    assert schedule.latest_due(utc(2026, 7, 8)).end == utc(2026, 7, 6, 7)  # CEST, UTC+2
    assert schedule.latest_due(utc(2027, 1, 13)).end == utc(2027, 1, 11, 8)  # CET, UTC+1
    assert schedule.describe() == "Monday 09:00 Europe/Berlin"


def test_berlin_week_with_spring_forward_is_167_hours() -> None:
    schedule = Schedule(weekday=MON, at=time(9, 0), zone=BERLIN)
    period = schedule.latest_due(utc(2027, 3, 29, 7))  # Monday 09:00 CEST, the day after the change

    assert period == Period(key="2027-W13", start=utc(2027, 3, 22, 8), end=utc(2027, 3, 29, 7))
    assert period.start < wall(date(2027, 3, 28), time(3, 0), BERLIN) < period.end
    assert hours(period) == 167
    # Before it, still 09:00 CET: an ordinary week, which ends where this one starts.
    before = schedule.latest_due(utc(2027, 3, 29, 7) - MICRO)
    assert before == Period(key="2027-W12", start=utc(2027, 3, 15, 8), end=utc(2027, 3, 22, 8))
    assert hours(before) == 168


def test_berlin_week_with_fall_back_is_169_hours() -> None:
    schedule = Schedule(weekday=MON, at=time(9, 0), zone=BERLIN)
    # 07:30 UTC on Monday 2026-10-26 is 08:30 CET: the summer due moment (07:00 UTC) is no longer the one.
    assert schedule.latest_due(utc(2026, 10, 26, 7, 30)).end == utc(2026, 10, 19, 7)

    period = schedule.latest_due(utc(2026, 10, 26, 8))
    assert period == Period(key="2026-W44", start=utc(2026, 10, 19, 7), end=utc(2026, 10, 26, 8))
    assert period.start < wall(date(2026, 10, 25), time(12, 0), BERLIN) < period.end
    assert hours(period) == 169
    assert hours(schedule.latest_due(utc(2026, 11, 2, 8))) == 168


def test_new_york_time_skipped_by_spring_forward_resolves_with_fold_0() -> None:
    """Sunday 02:30 does not exist on 2027-03-14 in New York; fold=0 reads it with the EST offset: 03:30 EDT."""
    schedule = Schedule(weekday=SUN, at=time(2, 30), zone=NEW_YORK)
    expected = datetime(2027, 3, 14, 2, 30, tzinfo=NEW_YORK).astimezone(UTC)
    assert expected == utc(2027, 3, 14, 7, 30)
    assert expected.astimezone(NEW_YORK).time() == time(3, 30)  # the wall clock never showed 02:30

    period = schedule.latest_due(expected + MICRO)
    assert period == Period(key="2027-W10", start=utc(2027, 3, 7, 7, 30), end=expected)
    assert schedule.latest_due(expected) == period
    assert hours(period) == 168  # 02:30 EST to "02:30 EST"
    # 03:00 EDT is past the skipped hour, but the due moment (03:30 EDT) has not come yet.
    assert schedule.latest_due(utc(2027, 3, 14, 7)).end == utc(2027, 3, 7, 7, 30)
    assert schedule.next_due(utc(2027, 3, 14, 7)) == expected
    # The following week ends at a real 02:30 EDT, an hour earlier in UTC.
    following = schedule.latest_due(schedule.next_due(expected))
    assert following == Period(key="2027-W11", start=expected, end=utc(2027, 3, 21, 6, 30))
    assert hours(following) == 167


def test_new_york_time_repeated_by_fall_back_is_due_at_its_first_occurrence() -> None:
    """Sunday 01:30 happens twice on 2026-11-01 in New York: 05:30 UTC (EDT), then 06:30 UTC (EST)."""
    schedule = Schedule(weekday=SUN, at=time(1, 30), zone=NEW_YORK)
    first = utc(2026, 11, 1, 5, 30)
    second = utc(2026, 11, 1, 6, 30)
    assert first.astimezone(NEW_YORK).time() == second.astimezone(NEW_YORK).time() == time(1, 30)

    period = schedule.latest_due(first)
    assert period == Period(key="2026-W44", start=utc(2026, 10, 25, 5, 30), end=first)
    assert schedule.latest_due(first - MICRO).end == utc(2026, 10, 25, 5, 30)
    # The second 01:30 is not a second due moment: the same period, so no second digest.
    assert schedule.latest_due(second) == period
    assert schedule.latest_due(utc(2026, 11, 1, 6, 0)) == period
    assert schedule.next_due(first) == schedule.next_due(second) == utc(2026, 11, 8, 6, 30)
    assert hours(schedule.latest_due(utc(2026, 11, 8, 6, 30))) == 169


def test_lord_howe_half_hour_changes_give_167_and_a_half_hour_weeks() -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    schedule = Schedule(weekday=MON, at=time(9, 0), zone=zone)
    # Clocks go forward half an hour on Sunday 2026-10-04 and back on Sunday 2027-04-04.
    assert hours(schedule.latest_due(wall(date(2026, 10, 5), time(9, 0), zone))) == 167.5
    assert hours(schedule.latest_due(wall(date(2027, 4, 5), time(9, 0), zone))) == 168.5


# --- next_due ---------------------------------------------------------------------------------------------------------


def test_next_due_is_strictly_after_now() -> None:
    schedule = Schedule()
    assert schedule.next_due(utc(2026, 3, 9, 9) - MICRO) == utc(2026, 3, 9, 9)
    assert schedule.next_due(utc(2026, 3, 9, 9)) == utc(2026, 3, 16, 9)
    assert schedule.next_due(utc(2026, 3, 12, 18)) == utc(2026, 3, 16, 9)
    assert is_utc(schedule.next_due(utc(2026, 3, 12, 18)))


def test_next_due_across_dst_is_the_next_wall_clock_due_moment() -> None:
    schedule = Schedule(weekday=MON, at=time(9, 0), zone=BERLIN)
    assert schedule.next_due(utc(2027, 3, 25)) == utc(2027, 3, 29, 7)
    assert schedule.next_due(utc(2026, 10, 22)) == utc(2026, 10, 26, 8)


@pytest.mark.parametrize(
    ("zone", "weekday", "at", "now", "expected"),
    [
        # Nuuk springs forward at Saturday 23:00 -02 straight to Sunday 00:00 -01: Saturday 23:30 does not exist
        # on 2027-03-27 and resolves (fold=0) to Sunday 00:30 -01. The next due moment is the next Saturday
        # 23:30 -01 = Sunday 2027-04-04 00:30 UTC.
        ("America/Nuuk", SAT, time(23, 30), utc(2027, 3, 28, 3), utc(2027, 4, 4, 0, 30)),
        # Samoa skipped Friday 2011-12-30 entirely; Friday 09:00 that day resolves into Saturday. The next due
        # moment is Friday 2012-01-06 09:00 +14 = 2012-01-05 19:00 UTC.
        ("Pacific/Apia", FRI, time(9, 0), utc(2011, 12, 31), utc(2012, 1, 5, 19)),
    ],
)
def test_next_due_after_a_due_moment_pushed_past_midnight_keeps_the_weekday(
    zone: str, weekday: int, at: time, now: datetime, expected: datetime
) -> None:
    schedule = Schedule(weekday=weekday, at=at, zone=ZoneInfo(zone))
    assert expected.astimezone(schedule.zone).weekday() == weekday
    assert expected.astimezone(schedule.zone).time() == at
    assert schedule.latest_due(expected).end == expected  # latest_due gets it right
    assert schedule.latest_due(now).end < now < expected

    assert schedule.next_due(now) == expected
    assert schedule.latest_due(schedule.next_due(now)).end == schedule.next_due(now)


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# Times around the DST changes of those zones (02:00-03:00 local, 01:00-02:00 on the way back) and ordinary ones.
TIMES = [time(0, 0), time(1, 30), time(2, 0), time(2, 15), time(2, 30), time(3, 0), time(9, 0), time(23, 59)]


def check_invariants(schedule: Schedule, now: datetime) -> None:
    period = schedule.latest_due(now)
    following = schedule.next_due(now)

    assert period.end <= now < following
    assert is_utc(period.start)
    assert is_utc(period.end)
    assert is_utc(following)
    assert 167 <= hours(period) <= 169
    assert period.key == iso_key(period.end, schedule.zone)
    # The key names the due day; both ends are the schedule's wall-clock time on it and a week earlier.
    year, week = map(int, period.key.split("-W"))
    due_day = date.fromisocalendar(year, week, schedule.weekday + 1)
    assert period.end == wall(due_day, schedule.at, schedule.zone)
    assert period.start == wall(due_day - WEEK, schedule.at, schedule.zone)
    # No due moment between this period's end and the next one.
    assert schedule.latest_due(following - MICRO) == period
    assert schedule.latest_due(following).end == following
    assert schedule.latest_due(following).start == period.end
    assert schedule.latest_due(period.end) == period
    assert schedule.latest_due(period.end - MICRO).end == period.start


schedules = st.builds(
    Schedule,
    weekday=st.integers(0, 6),
    at=st.one_of(st.sampled_from(TIMES), st.builds(time, st.integers(0, 23), st.integers(0, 59))),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
)


@settings(max_examples=500, deadline=None)
@given(schedules, st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_latest_and_next_due_invariants(schedule: Schedule, now: datetime) -> None:
    check_invariants(schedule, now)


@pytest.mark.parametrize("zone", ZONES)
def test_invariants_hold_every_few_hours_through_two_years_of_dst_changes(zone: str) -> None:
    for weekday in (MON, SUN):
        for at in TIMES:
            schedule = Schedule(weekday=weekday, at=at, zone=ZoneInfo(zone))
            now = utc(2026, 1, 1, 0, 17)
            while now < utc(2028, 1, 1):
                check_invariants(schedule, now)
                now += timedelta(hours=29)  # walks through every hour of the week over time


# --- weeks_before and rolling_week ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "period",
    [
        Schedule().latest_due(utc(2026, 3, 11)),
        Schedule(weekday=MON, at=time(9, 0), zone=BERLIN).latest_due(utc(2027, 3, 29, 7)),  # 167 hours
    ],
)
def test_weeks_before_are_the_preceding_periods_oldest_first(period: Period) -> None:
    earlier = period.weeks_before(4)

    assert len(earlier) == 4
    assert [p.key for p in earlier] == [f"{period.key}-{n}" for n in (4, 3, 2, 1)]
    assert earlier[-1].end == period.start
    for older, newer in itertools.pairwise(earlier):
        assert older.end == newer.start
    assert all(p.end - p.start == period.end - period.start for p in earlier)
    assert earlier[0].start == period.start - 4 * (period.end - period.start)


def test_weeks_before_of_the_default_schedule_are_its_own_earlier_periods() -> None:
    schedule = Schedule()
    period = schedule.latest_due(utc(2026, 3, 11))
    assert [(p.start, p.end) for p in period.weeks_before(4)] == [
        (q.start, q.end) for q in (schedule.latest_due(period.start - n * WEEK) for n in (3, 2, 1, 0))
    ]
    assert period.weeks_before(0) == []


def test_rolling_week_is_the_seven_days_up_to_now() -> None:
    now = utc(2026, 3, 11, 15, 45, 12, 345_678)
    assert rolling_week(now, ZoneInfo("UTC")) == Period(key="now", start=now - WEEK, end=now)


def test_rolling_week_counts_wall_clock_days_in_the_zone() -> None:
    now = utc(2027, 3, 31, 10)  # Wednesday 12:00 CEST, three days after spring-forward
    period = rolling_week(now, BERLIN)
    assert period == Period(key="now", start=utc(2027, 3, 24, 11), end=now)  # Wednesday 12:00 CET
    assert hours(period) == 167
    autumn = rolling_week(utc(2026, 10, 28, 11), BERLIN)  # Wednesday 12:00 CET
    assert autumn.start == utc(2026, 10, 21, 10)  # Wednesday 12:00 CEST
    assert hours(autumn) == 169


def test_rolling_week_end_is_now_in_utc_whatever_zone_now_is_given_in() -> None:
    now = datetime(2026, 3, 11, 8, 30, tzinfo=NEW_YORK)
    period = rolling_week(now, NEW_YORK)
    assert period.end == now
    assert is_utc(period.end)
    assert is_utc(period.start)
    assert period.key == "now"


# --- parsers ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Monday", MON),
        ("mon", MON),
        (" SUNDAY ", SUN),
        ("tue", TUE),
        ("Wednesday", WED),
        ("THU", THU),
        ("friday", FRI),
        ("Sat", SAT),
        ("sun", SUN),
    ],
)
def test_parse_weekday_accepts_full_and_short_names_in_any_case(text: str, number: int) -> None:
    assert parse_weekday(text) == number


def test_parse_weekday_knows_every_day() -> None:
    assert [parse_weekday(name) for name in WEEKDAYS] == list(range(7))
    assert [parse_weekday(name[:3].upper()) for name in WEEKDAYS] == list(range(7))


@pytest.mark.parametrize("text", ["funday", "", "   ", "mo", "mondays", "1", "lundi", "mon day"])
def test_parse_weekday_refuses_other_words(text: str) -> None:
    with pytest.raises(ValueError, match="is not a weekday") as caught:
        parse_weekday(text)
    assert f'"{text}"' in str(caught.value)
    assert "monday ... sunday" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9:00", time(9, 0)),
        ("09:00", time(9, 0)),
        ("23:59", time(23, 59)),
        ("00:00", time(0, 0)),
        ("0:00", time(0, 0)),
        (" 17:30 ", time(17, 30)),
        ("7:05", time(7, 5)),
    ],
)
def test_parse_time_accepts_24_hour_hh_mm(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "24:00",
        "9:60",
        "9",
        "9:5",
        "٠٩:٠٠",  # Arabic-Indic digits  # noqa: RUF001
        "０９:００",  # fullwidth digits  # noqa: RUF001
        "",
        "09:00:00",
        "9.00",
        "9:00 pm",
        "-1:00",
        "009:00",
    ],
)
def test_parse_time_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time of day") as caught:
        parse_time(text)
    assert f'"{text}"' in str(caught.value)
    assert "HH:MM" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("UTC", "UTC"),
        ("Europe/Berlin", "Europe/Berlin"),
        (" America/New_York ", "America/New_York"),
        ("Australia/Lord_Howe", "Australia/Lord_Howe"),
    ],
)
def test_parse_zone_accepts_iana_names(text: str, key: str) -> None:
    zone = parse_zone(text)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == key


@pytest.mark.parametrize(
    "text",
    ["Mars/Base", "../etc/passwd", "/etc/localtime", "", "  ", "Europe", "Europe/", "Europe/Berlin/..", "Etc/../UTC"],
)
def test_parse_zone_refuses_unknown_names_and_paths(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time zone") as caught:
        parse_zone(text)
    assert f'"{text}"' in str(caught.value)
    assert "IANA" in str(caught.value)


# --- settings ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_digest_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in DIGEST_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_default_to_monday_0900_utc(clean_digest_env: pytest.MonkeyPatch) -> None:
    config = load_settings(_env_file=None)
    assert (config.digest_weekday, config.digest_time, config.digest_timezone) == ("monday", "09:00", "UTC")
    assert config.digest_schedule == Schedule()
    assert config.digest_schedule.describe() == "Monday 09:00 UTC"


def test_settings_normalize_the_digest_schedule(clean_digest_env: pytest.MonkeyPatch) -> None:
    config = load_settings(_env_file=None, digest_weekday="fri", digest_time="7:05", digest_timezone="Europe/Berlin")
    assert config.digest_weekday == "friday"
    assert config.digest_time == "07:05"
    assert config.digest_timezone == "Europe/Berlin"
    assert config.digest_schedule == Schedule(weekday=FRI, at=time(7, 5), zone=BERLIN)
    assert config.digest_schedule.describe() == "Friday 07:05 Europe/Berlin"


def test_settings_read_the_digest_schedule_from_the_environment(clean_digest_env: pytest.MonkeyPatch) -> None:
    clean_digest_env.setenv("SHOULD_FINETUNE_DIGEST_WEEKDAY", " SUN ")
    clean_digest_env.setenv("SHOULD_FINETUNE_DIGEST_TIME", "23:59")
    clean_digest_env.setenv("SHOULD_FINETUNE_DIGEST_TIMEZONE", "America/New_York")
    config = load_settings(_env_file=None)
    assert config.digest_schedule.describe() == "Sunday 23:59 America/New_York"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("SHOULD_FINETUNE_DIGEST_WEEKDAY", "funday", '"funday" is not a weekday'),
        ("SHOULD_FINETUNE_DIGEST_TIME", "24:00", '"24:00" is not a time of day'),
        ("SHOULD_FINETUNE_DIGEST_TIME", "9", '"9" is not a time of day'),
        ("SHOULD_FINETUNE_DIGEST_TIMEZONE", "Mars/Base", '"Mars/Base" is not a time zone'),
        ("SHOULD_FINETUNE_DIGEST_TIMEZONE", "../etc/passwd", '"../etc/passwd" is not a time zone'),
    ],
)
def test_a_bad_digest_setting_names_its_variable(
    clean_digest_env: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    clean_digest_env.setenv(name, value)
    with pytest.raises(SettingsError, match=name) as caught:
        load_settings(_env_file=None)
    assert words in str(caught.value)


def test_a_bad_digest_override_names_its_variable(clean_digest_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="SHOULD_FINETUNE_DIGEST_TIMEZONE") as caught:
        load_settings(_env_file=None, digest_timezone="/etc/localtime")
    assert '"/etc/localtime" is not a time zone' in str(caught.value)


def test_three_bad_digest_settings_are_all_named(clean_digest_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, digest_weekday="funday", digest_time="9:60", digest_timezone="Mars/Base")
    message = str(caught.value)
    for name in DIGEST_VARS:
        assert f"setting {name}:" in message
    assert len(message.splitlines()) == 3
