"""What a channel's digest says about a week, and the Slack messages it becomes: real decisions (the tests' fixture
rules and an edited copy) in a real Redis, fixed clocks only."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.decisions import new_version
from bot.digest.build import BAR_WIDTH, Digest, bar, build_digest, sparkline
from bot.digest.messages import compose, preview
from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet, load_ruleset
from bot.engine.verdict import evaluate
from bot.schedule import Period, Schedule
from bot.settings import load_settings
from bot.slack.limits import fits_message
from bot.slack.render import Renderer
from bot.store import Decision, DecisionStore, Delivery, DeliveryStatus, Trigger
from tests import fixture_rules
from tests.store_support import append_version

T = "T0001"
C = "C0001"
# Wednesday 4 March 2026: the latest digest due is Monday 2 March 09:00 UTC, for 23 Feb 09:00 to 2 Mar 09:00.
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
PERIOD = Schedule().latest_due(NOW)
START, END = PERIOD.start, PERIOD.end
DAY, WEEK = timedelta(days=1), timedelta(days=7)
MICRO = timedelta(microseconds=1)

# Under the fixture rules: dont-fine-tune, few-shot (under 40 examples). Under the edited rules (see
# `edited_rules`): FEW_30 gives dont-fine-tune, prompt-and-rag; FT_30 gives fine-tune, fine-tune; FEW_10 is unchanged.
FEW_30: dict[str, Any] = {"n_stable_examples": 30}
FEW_10: dict[str, Any] = {"n_stable_examples": 10}
FT_30: dict[str, Any] = {
    "n_stable_examples": 30,
    "primary_failure": "style",
    "change_freq_days": 30,
    "tried_prompt_iteration": True,
    "tried_dspy": True,
}
# Under the fixture rules: fine-tune, fine-tune; and dont-fine-tune, prompt-and-rag.
FINE_TUNE = {**FT_30, "n_stable_examples": 300}
PROMPT_AND_RAG: dict[str, Any] = {"n_stable_examples": 60}
EVIL = "<!channel> <@U0VICTIM> <https://evil.example|x> & *bold*"
RAW_MARKUP = ("<!channel>", "<@U0VICTIM>", "<https://evil")
DASH = "\u2013"  # the en dash of "(1\u201340 of 600)"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return fixture_rules.ruleset()


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(load_settings(_env_file=None).template_dirs)


@pytest.fixture
def edited_rules(tmp_path: Path) -> RuleSet:
    """The fixture rules with the examples threshold of both too-few-examples and pattern-fine-tune lowered from 40
    to 20, as the edited version."""
    copy = fixture_rules.copy_with_fewer_examples_needed(tmp_path, 20)
    behaviour = "- {fact: n_stable_examples, op: ge, value: %d}\n        - {fact: primary_failure"
    fixture_rules.edit(copy, "decisions.yaml", behaviour % fixture_rules.EXAMPLES_THRESHOLD, behaviour % 20)
    return load_ruleset(copy)


def decide(
    store: DecisionStore,
    ruleset: RuleSet,
    *,
    at: datetime,
    answers: dict[str, Any] = FEW_30,
    use_case: str = "Route support tickets",
    requester: str = "U0REQ",
    channel: str = C,
) -> Decision:
    verdict = evaluate(ruleset, Answers.model_validate({"use_case": use_case, **answers}))
    return store.create_decision(
        workspace=T,
        channel=channel,
        requester=requester,
        version=new_version(verdict, by=requester, trigger=Trigger.SUBMIT),
        now=at,
    )


def review(
    store: DecisionStore,
    ruleset: RuleSet,
    decision: Decision,
    *,
    at: datetime,
    answers: dict[str, Any],
    by: str = "U0REV",
    trigger: Trigger = Trigger.RE_REVIEW,
) -> None:
    use_case = decision.versions[0].answers.get("use_case", "")
    verdict = evaluate(ruleset, Answers.model_validate({"use_case": use_case, **answers}))
    append_version(
        store,
        workspace=T,
        channel=decision.channel,
        decision_id=decision.id,
        version=new_version(verdict, by=by, trigger=trigger),
        now=at,
    )


def post(store: DecisionStore, decision: Decision, ts: str, *, to: str = C) -> None:
    delivery = Delivery(status=DeliveryStatus.POSTED, channel=to, ts=ts, at=decision.created_at)
    store.record_delivery(workspace=T, channel=decision.channel, decision_id=decision.id, delivery=delivery)


def permalink(channel: str, ts: str) -> str:
    return f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"


class Links:
    """A `links` callable that remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, channel: str, ts: str) -> str:
        self.calls.append((channel, ts))
        return permalink(channel, ts)


def build(store: DecisionStore, ruleset: RuleSet, period: Period = PERIOD, links: Any = permalink) -> Digest:
    return build_digest(store, ruleset, workspace=T, channel=C, period=period, links=links)


# What the digest says


def test_a_week_lists_its_decisions_and_the_changes_made_in_it(store: DecisionStore, rules: RuleSet) -> None:
    before = decide(store, rules, at=START - DAY, use_case="Before the week", requester="U0OLD")
    post(store, before, "1771750000.000100")
    second = decide(store, rules, at=START + 2 * DAY, answers=FINE_TUNE, use_case="Second", requester="U0B")
    post(store, second, "1771950000.000300")
    first = decide(store, rules, at=START, use_case="First", requester="U0A")
    post(store, first, "1771840000.000200", to="D0A")  # the verdict went to a DM
    third = decide(store, rules, at=END - MICRO, use_case="Third", requester="U0C")  # never posted
    decide(store, rules, at=END, use_case="After the week")
    review(store, rules, before, at=START + DAY, answers=PROMPT_AND_RAG, trigger=Trigger.EDIT, by="U0OLD")
    review(store, rules, before, at=START + 3 * DAY, answers=FINE_TUNE)
    review(store, rules, first, at=START + 4 * DAY, answers=FEW_30, trigger=Trigger.FOLLOW_UP, by="U0A")
    links = Links()

    digest = build(store, rules, links=links)

    assert [(e.id, e.use_case, e.requester) for e in digest.decisions] == [
        (first.id, "First", "U0A"),
        (second.id, "Second", "U0B"),
        (third.id, "Third", "U0C"),
    ]
    assert [(e.verdict, e.next_step, e.next_step_title, e.versions) for e in digest.decisions] == [
        ("dont-fine-tune", "few-shot", fixture_rules.titles()["few-shot"], 2),
        ("fine-tune", "fine-tune", fixture_rules.titles()["fine-tune"], 1),
        ("dont-fine-tune", "few-shot", fixture_rules.titles()["few-shot"], 1),
    ]
    assert [e.created for e in digest.decisions] == [
        int(START.timestamp()),
        int((START + 2 * DAY).timestamp()),
        int((END - MICRO).timestamp()),
    ]
    assert [e.link for e in digest.decisions] == [
        permalink("D0A", "1771840000.000200"),
        permalink(C, "1771950000.000300"),
        None,
    ]
    assert list(digest.verdicts.items()) == [("fine-tune", 1), ("dont-fine-tune", 2)]
    assert digest.steps == [(fixture_rules.titles()["few-shot"], 2), (fixture_rules.titles()["fine-tune"], 1)]

    # The decision made before the week is only among the changes, linked through its stored delivery.
    assert [(c.id, c.number, c.by, c.trigger) for c in digest.changes] == [
        (before.id, 2, "U0OLD", "edit"),
        (before.id, 3, "U0REV", "re-review"),
        (first.id, 2, "U0A", "follow-up"),
    ]
    moved, flipped, unchanged = digest.changes
    assert (moved.verdict_before, moved.step_before, moved.verdict, moved.next_step_title) == (
        "dont-fine-tune",
        fixture_rules.titles()["few-shot"],
        "dont-fine-tune",
        fixture_rules.titles()["prompt-and-rag"],
    )
    assert (moved.flipped, moved.moved) == (False, True)
    assert (flipped.verdict_before, flipped.step_before, flipped.verdict, flipped.next_step_title) == (
        "dont-fine-tune",
        fixture_rules.titles()["prompt-and-rag"],
        "fine-tune",
        fixture_rules.titles()["fine-tune"],
    )
    assert (flipped.flipped, flipped.moved) == (True, True)
    assert (unchanged.flipped, unchanged.moved) == (False, False)
    assert [c.at for c in digest.changes] == [
        int((START + DAY).timestamp()),
        int((START + 3 * DAY).timestamp()),
        int((START + 4 * DAY).timestamp()),
    ]
    assert [c.use_case for c in digest.changes] == ["Before the week", "Before the week", "First"]
    assert [c.link for c in digest.changes] == [
        permalink(C, "1771750000.000100"),
        permalink(C, "1771750000.000100"),
        permalink("D0A", "1771840000.000200"),
    ]
    assert digest.flips == 1
    assert Counter(links.calls) == Counter(
        [(C, "1771750000.000100"), ("D0A", "1771840000.000200"), (C, "1771950000.000300")]
    )

    assert digest.drift == []
    assert digest.trend == [0, 0, 0, 1, 3]
    assert not digest.quiet
    assert (digest.workspace, digest.channel, digest.period, digest.ruleset_version) == (T, C, PERIOD, rules.version)


def test_a_decision_is_shown_as_it_stood_at_the_end_of_the_week(store: DecisionStore, rules: RuleSet) -> None:
    decision = decide(store, rules, at=START + DAY)
    review(store, rules, decision, at=START + 2 * DAY, answers=FINE_TUNE)  # in the week: counts
    review(store, rules, decision, at=END, answers=PROMPT_AND_RAG)  # the end is not in the week
    review(store, rules, decision, at=END + DAY, answers=FEW_30)

    digest = build(store, rules)

    (entry,) = digest.decisions
    assert (entry.verdict, entry.next_step, entry.next_step_title, entry.versions) == (
        "fine-tune",
        "fine-tune",
        fixture_rules.titles()["fine-tune"],
        2,
    )
    assert [(c.number, c.verdict) for c in digest.changes] == [(2, "fine-tune")]
    assert digest.verdicts == {"fine-tune": 1}
    assert digest.steps == [(fixture_rules.titles()["fine-tune"], 1)]

    following = build(store, rules, period=Period(key="2026-W11", start=END, end=END + WEEK))
    assert following.decisions == []
    assert [(c.id, c.number, c.verdict, c.next_step_title, c.flipped) for c in following.changes] == [
        (decision.id, 3, "dont-fine-tune", fixture_rules.titles()["prompt-and-rag"], True),
        (decision.id, 4, "dont-fine-tune", fixture_rules.titles()["few-shot"], False),
    ]
    assert not following.quiet
    assert following.trend == [0, 0, 0, 1, 0]


def test_drift_lists_decisions_the_loaded_rules_would_decide_differently(
    store: DecisionStore, rules: RuleSet, edited_rules: RuleSet
) -> None:
    assert edited_rules.sha256 != rules.sha256
    flips = decide(store, rules, at=START + DAY, answers=FT_30, use_case="Would flip")
    post(store, flips, "1771850000.000100")
    moves = decide(store, rules, at=START + 2 * DAY, answers=FEW_30, use_case="Would move")
    same = decide(store, rules, at=START + 3 * DAY, answers=FEW_10, use_case="Same either way")
    reviewed = decide(store, rules, at=START + 4 * DAY, answers=FEW_30, use_case="Reviewed under the new rules")
    review(store, edited_rules, reviewed, at=START + 5 * DAY, answers=FEW_30)

    digest = build(store, edited_rules)

    assert [d.id for d in digest.drift] == [flips.id, moves.id]
    flip, move = digest.drift
    assert flip == (
        flips.id,
        "Would flip",
        "dont-fine-tune",
        fixture_rules.titles()["few-shot"],
        fixture_rules.VERSION,
        "fine-tune",
        fixture_rules.titles()["fine-tune"],
        permalink(C, "1771850000.000100"),
    )
    assert (move.verdict, move.next_step_title, move.now_verdict, move.now_next_step_title, move.link) == (
        "dont-fine-tune",
        fixture_rules.titles()["few-shot"],
        "dont-fine-tune",
        fixture_rules.titles()["prompt-and-rag"],
        None,
    )
    assert digest.ruleset_version == fixture_rules.EDITED_VERSION
    assert same.id not in {d.id for d in digest.drift}
    assert reviewed.id not in {d.id for d in digest.drift}
    # The same week under the fixture rules: only the decision reviewed under the edited rules drifts.
    assert [(d.id, d.ruleset_version, d.now_next_step_title) for d in build(store, rules).drift] == [
        (reviewed.id, fixture_rules.EDITED_VERSION, fixture_rules.titles()["few-shot"])
    ]


def test_drift_covers_the_channels_decisions_of_earlier_weeks_but_not_later_ones(
    store: DecisionStore, rules: RuleSet, edited_rules: RuleSet
) -> None:
    earlier = decide(store, rules, at=START - 5 * WEEK, answers=FT_30, use_case="Five weeks before")
    post(store, earlier, "1768830000.000100", to="D0A")  # its verdict went to a DM
    unposted = decide(store, rules, at=START - 2 * WEEK, answers=FEW_30, use_case="Never posted")
    this_week = decide(store, edited_rules, at=START + DAY, answers=FEW_30, use_case="This week")
    later = decide(store, rules, at=END + DAY, answers=FT_30, use_case="After the period")
    links = Links()

    digest = build(store, edited_rules, links=links)

    assert [d.id for d in digest.decisions] == [this_week.id]
    assert [(d.id, d.use_case, d.link) for d in digest.drift] == [
        (earlier.id, "Five weeks before", permalink("D0A", "1768830000.000100")),
        (unposted.id, "Never posted", None),
    ]
    assert later.id not in {d.id for d in digest.drift}
    # Under the fixture rules only the decision of this week, made under the edited ones, would come out differently.
    assert [(d.id, d.now_next_step_title) for d in build(store, rules).drift] == [
        (this_week.id, fixture_rules.titles()["few-shot"])
    ]
    # A quiet week posts nothing, so it lists no drift either.
    quiet = build(store, edited_rules, period=Period(key="2026-W12", start=END + 2 * WEEK, end=END + 3 * WEEK))
    assert quiet.quiet
    assert quiet.drift == []


def test_a_week_without_activity_is_quiet(store: DecisionStore, rules: RuleSet) -> None:
    digest = build_digest(store, rules, workspace=T, channel="C0EMPTY", period=PERIOD)

    assert digest.quiet
    assert (digest.decisions, digest.changes, digest.drift) == ([], [], [])
    assert digest.trend == [0, 0, 0, 0, 0]
    assert (digest.verdicts, digest.steps, digest.flips) == ({}, [], 0)


def test_the_trend_counts_decisions_made_in_each_of_four_earlier_weeks_and_this_one(
    store: DecisionStore, rules: RuleSet
) -> None:
    s1, s2, s3, s4 = (START - n * WEEK for n in (1, 2, 3, 4))
    made = [
        s4 - MICRO,  # the week before the trend starts
        s4,
        # none in the third week back
        s2 + timedelta(hours=1),
        s2 + 2 * DAY,
        s1 - MICRO,
        s1,
        START - MICRO,
        START,
        START + DAY,
        START + 2 * DAY,
        END - MICRO,
        END,  # the next week
    ]
    for at in made:
        decide(store, rules, at=at)

    digest = build(store, rules)

    assert digest.trend == [1, 0, 3, 2, 4]
    assert [p.start for p in PERIOD.weeks_before(4)] == [s4, s3, s2, s1]
    # A week with nothing in it is quiet, while its trend still shows the weeks before.
    empty = Period(key="2026-W07", start=s3, end=s2)
    quiet = build(store, rules, period=empty)
    assert quiet.quiet
    assert quiet.trend == [0, 0, 1, 1, 0]


# The messages


def message_json(messages: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(message, ensure_ascii=False) for message in messages]


def assert_no_raw_markup(messages: list[dict[str, Any]]) -> None:
    for raw in message_json(messages):
        for markup in RAW_MARKUP:
            assert markup not in raw


def test_a_small_digest_is_one_message_that_shows_user_text_without_pinging(
    store: DecisionStore, rules: RuleSet, edited_rules: RuleSet, renderer: Renderer
) -> None:
    evil = decide(store, rules, at=START + DAY, answers=FEW_30, use_case=EVIL, requester="U0REQ")
    post(store, evil, "1771850000.000100")
    review(store, rules, evil, at=START + 2 * DAY, answers=FEW_30, trigger=Trigger.FOLLOW_UP)
    plain = decide(store, rules, at=START + 3 * DAY, answers=FEW_10, use_case="Plain")
    post(store, plain, "1771860000.000200")
    digest = build(store, edited_rules)
    assert [len(digest.decisions), len(digest.changes), len(digest.drift)] == [2, 1, 1]  # the text in every kind

    for schedule in ("Monday 09:00 UTC", None):
        (message,) = compose(renderer, digest, schedule=schedule)
        assert message["unfurl_links"] is False
        assert message["unfurl_media"] is False
        assert fits_message(message)
        assert_no_raw_markup([message])
        raw = json.dumps(message)
        assert raw.count("&lt;!channel&gt; &lt;@U0VICTIM&gt;") == 3  # shown, once per row
        assert raw.count(f"<{permalink(C, '1771850000.000100')}|") == 3
        assert raw.count(f"<{permalink(C, '1771860000.000200')}|") == 1
        assert "not shown" not in raw

    shown = preview(renderer, digest, schedule=None)
    assert shown["response_type"] == "ephemeral"
    assert fits_message(shown)
    assert_no_raw_markup([shown])


def test_a_big_digest_is_a_summary_and_a_thread_listing_every_decision_once(
    store: DecisionStore, rules: RuleSet, renderer: Renderer
) -> None:
    made: list[Decision] = []
    for i in range(600):
        decision = decide(
            store,
            rules,
            at=START + i * timedelta(minutes=10),
            use_case=EVIL if i % 2 else "&<>" * 30,  # escaped, 40 of these lines are too long for one message
            requester=f"U0R{i:04d}",
        )
        post(store, decision, f"{1771800000 + i}.000100")
        made.append(decision)
    for decision in made[:60]:
        review(store, rules, decision, at=START + 6 * DAY, answers=FINE_TUNE)
    digest = build(store, rules)
    assert (len(digest.decisions), len(digest.changes), digest.flips) == (600, 60, 60)

    messages = compose(renderer, digest, schedule="Monday 09:00 UTC")

    assert len(messages) > 2
    thread = messages[1:]  # after the summary
    raws = message_json(messages)
    for message, raw in zip(messages, raws, strict=True):
        assert fits_message(message), raw[:200]
        assert message["unfurl_links"] is False
        assert "not shown" not in raw
    assert_no_raw_markup(messages)
    assert "*600 decisions*" in raws[0]
    assert "This digest's thread lists every decision, every re-review and edit" in raws[0]
    links = [permalink(C, f"{1771800000 + i}.000100") for i in range(600)]
    assert all(f"<{link}|" not in raws[0] for link in links)

    listed = [raw for message, raw in zip(thread, raws[1:], strict=True) if message["text"].startswith(":clipboard:")]
    changed = [raw for message, raw in zip(thread, raws[1:], strict=True) if message["text"].startswith(":repeat:")]
    assert len(listed) + len(changed) == len(thread)
    assert len(listed) >= 600 // 40
    for i, link in enumerate(links):
        assert sum(raw.count(f"<{link}|") for raw in listed) == 1, i
        assert sum(raw.count(f"<{link}|") for raw in changed) == (1 if i < 60 else 0), i
    numbered = [m["text"] for m in thread if m["text"].startswith(":clipboard:")]
    assert numbered[0].startswith(f":clipboard: *Decisions* (1{DASH}")
    assert numbered[-1].endswith(f"{DASH}600 of 600)")
    assert len(numbered) > 600 // 40  # fewer rows than tried went into a message, rather than any being cut

    shown = preview(renderer, digest, schedule=None)
    assert shown["response_type"] == "ephemeral"
    assert fits_message(shown)
    raw = json.dumps(shown, ensure_ascii=False)
    assert "not shown" not in raw
    assert "The posted digest lists every decision" in raw
    assert_no_raw_markup([shown])
    assert all(f"<{link}|" not in raw for link in links)


# Text charts


def test_bar_fills_in_proportion_with_at_least_one_cell() -> None:
    assert BAR_WIDTH == 12
    assert bar(0, 10) == "░" * 12
    assert bar(0, 0) == "░" * 12
    assert bar(3, 0) == "░" * 12
    assert bar(10, 10) == "█" * 12
    assert bar(5, 10) == "█" * 6 + "░" * 6
    assert bar(1, 1000) == "█" + "░" * 11  # tiny but not nothing
    assert bar(999, 1000) == "█" * 12
    assert bar(1, 4, width=4) == "█░░░"
    assert all(len(bar(count, 37)) == 12 for count in range(38))


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([]) == ""
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([0, 7]) == "▁█"
    assert sparkline([5, 5]) == "██"
    assert sparkline(list(range(8))) == "▁▂▃▄▅▆▇█"
    assert sparkline([1, 0, 3, 2, 4]) == "▃▁▆▅█"
