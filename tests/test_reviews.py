"""Re-reviews, edits and history, over HTTP: the served bot, the fake Slack and real Redis.

Reactions the bot ignores are decided on the request path, before the HTTP response. A reaction it acts on is
claimed there too, so once the HTTP answers are in and a later re-review's reply has arrived, the counts are final.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from bot import cli
from bot.commands import bulk
from bot.slack.reviews import review_of
from bot.store import Trigger
from tests import fixture_rules
from tests.fakeslack import FakeSlack
from tests.slack_support import (
    CHANNEL,
    REQUIRED_ANSWERS,
    TEAM,
    USER,
    BotClient,
    bot_settings,
    message_ts,
    new_event_id,
)
from tests.test_followups import OwnRedis, texts
from tests.test_followups import own_redis as own_redis  # noqa: PLC0414 - the fixture, shared
from tests.test_followups import served_bot as served

OTHER, REVIEWER, MEMBER = "U0OTHER", "U0REVIEW", "U0MEMBER"
GROUP = "S0REVIEWERS"


@contextmanager
def served_bot(fake: FakeSlack, redis_url: str, prefix: str, **settings: Any) -> Iterator[BotClient]:
    """The served bot, with a reviewer and a reviewers' user group unless `settings` say otherwise."""
    with served(fake, redis_url, prefix, **{"reviewers": f"{REVIEWER},{GROUP}", **settings}) as bot:
        yield bot


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the tests' own rules, to change between two runs of the bot."""
    return fixture_rules.copy(tmp_path)


@pytest.fixture
def reviewing(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """The bot with a reviewer and a reviewers' user group configured."""
    fake_slack.set_usergroup(GROUP, [MEMBER])
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        yield bot


def reaction(
    ts: str, *, user: str = USER, name: str = "repeat", kind: str = "reaction_added", event_ts: str | None = None
) -> dict[str, Any]:
    """A reaction event on the message at `ts` in the decisions channel."""
    return {
        "type": kind,
        "user": user,
        "reaction": name,
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        "event_ts": event_ts or message_ts(),
    }


def click(bot: BotClient, action: str, ts: str, *, user: str = USER, name: str = "button") -> str:
    """Press a verdict button on the message at `ts`; the name of the response_url the bot answers on."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "team_id": TEAM},
        "channel": {"id": CHANNEL, "name": "decisions"},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
        "message": {"type": "message", "ts": ts, "user": "U0BOT", "text": "verdict"},
        "response_url": bot.fake.response_url(name),
        "trigger_id": f"{time.time_ns()}.1.abc",
        "actions": [{"action_id": action, "block_id": "verdict-actions", "type": "button", "action_ts": message_ts()}],
    }
    assert bot.interaction(payload).status == 200
    return name


def edit_form(bot: BotClient, verdict: str, *, user: str = USER) -> dict[str, Any]:
    """Press "Edit answers" on the verdict as `user`; the form the bot opened."""
    opened = len(bot.fake.calls("views.open"))
    click(bot, "edit-answers", verdict, user=user)
    view = bot.fake.wait_for("views.open", opened + 1)[-1].args["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


def decision_of(bot: BotClient, verdict: str) -> Any:
    found = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert found is not None
    return found


def updates_of(bot: BotClient, verdict: str) -> list[str]:
    return texts([call.args for call in bot.fake.calls("chat.update") if call.args.get("ts") == verdict])


def explanation_ts(bot: BotClient, verdict: str) -> str:
    """The ts of the verdict's explanation, once the bot has recorded it (just after posting it)."""
    (explanation, *_) = [c for c in bot.fake.calls("chat.postMessage") if c.args.get("thread_ts") == verdict]
    assert explanation.response is not None
    ts = str(explanation.response["ts"])
    deadline = time.monotonic() + 5
    while bot.services.store.decision_for_message(workspace=TEAM, channel=CHANNEL, ts=ts) is None:
        assert time.monotonic() < deadline, f"the explanation at {ts} was never recorded"
        time.sleep(0.01)
    return ts


# --- re-review on a reaction ---------------------------------------------------------------------------------------


def test_a_reaction_rereviews_replies_in_the_thread_and_updates_the_verdict(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    assert bot.event(reaction(verdict, user=OTHER)).status == 200
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert f"Re-reviewed by <@{OTHER}>*, recorded as version 2" in reply
    assert "Same verdict and next step as version 1." in reply
    assert "Same rules as version 1" in reply
    assert f"<@{REVIEWER}> <!subteam^{GROUP}>: please take a look." in reply
    (update,) = bot.fake.wait_for("chat.update", 1)
    assert update.args["ts"] == verdict
    assert f"Version 2, re-reviewed by <@{OTHER}>" in texts([update.args])[0]
    decision = decision_of(bot, verdict)
    assert [(v.number, v.trigger, v.by) for v in decision.versions] == [
        (1, Trigger.SUBMIT, USER),
        (2, Trigger.RE_REVIEW, OTHER),
    ]


def test_a_reaction_on_the_explanation_also_rereviews(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    assert bot.event(reaction(explanation_ts(bot, verdict))).status == 200
    assert "Re-reviewed by" in texts(bot.wait_replies(verdict, 2))[1]
    assert len(decision_of(bot, verdict).versions) == 2


def test_several_configured_emoji_each_ask_for_one(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, rereview_emoji="eyes, arrows_counterclockwise") as bot:
        verdict = bot.decide()
        assert bot.event(reaction(verdict, name="repeat")).status == 200  # not configured here
        assert bot.event(reaction(verdict, name="arrows_counterclockwise", user=OTHER)).status == 200
        bot.wait_replies(verdict, 2)
        assert bot.event(reaction(verdict, name="eyes::skin-tone-2", user=REVIEWER)).status == 200
        bot.wait_replies(verdict, 3)
        time.sleep(0.3)
        assert [v.by for v in decision_of(bot, verdict).versions[1:]] == [OTHER, REVIEWER]


def test_reactions_to_ignore_make_no_slack_call(reviewing: BotClient, redis_url: str, key_prefix: str) -> None:
    bot = reviewing
    verdict = bot.decide()
    before = len(bot.fake.calls())
    ignored = [
        reaction(verdict, name="thumbsup"),
        reaction(message_ts()),  # some other message
        reaction(verdict, kind="reaction_removed"),
        reaction(verdict, user="U0BOT"),  # the bot's own
        {**reaction(verdict), "item": {"type": "file", "file": "F0FILE"}},
        {**reaction(verdict), "item": {"type": "message", "channel": "C0ELSEWHERE", "ts": verdict}},
        {**reaction(verdict), "user": None},
        {**reaction(verdict), "reaction": ["repeat"]},
        {**reaction(verdict), "item": "nope"},
        {**reaction(verdict), "event_ts": "yesterday"},
    ]
    for event in ignored:
        assert bot.event(event).status == 200
    time.sleep(0.3)
    assert bot.fake.calls()[before:] == []
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert list(client.scan_iter(f"{key_prefix}:*:work:rereview.*")) == []
    assert list(client.scan_iter(f"{key_prefix}:*:cooldown:*")) == []
    assert len(decision_of(bot, verdict).versions) == 1


def test_redelivered_events_and_a_second_reaction_by_the_same_person_give_one_rereview(
    reviewing: BotClient,
) -> None:
    bot = reviewing
    verdict = bot.decide()
    event, event_id = reaction(verdict), new_event_id()
    for retry in range(4):
        assert bot.event(event, event_id=event_id, retry_num=retry).status == 200
    bot.wait_replies(verdict, 2)
    assert bot.event(reaction(verdict)).status == 200  # removed and added again: a new event, within the cooldown
    assert bot.event(reaction(verdict, name="repeat")).status == 200
    click(bot, "request-rereview", verdict)  # the button shares the cooldown, and says so
    (notice,) = bot.fake.wait_for("webhook/button", 1)
    assert "in the last 10 minutes" in notice.args["text"]
    assert bot.event(reaction(verdict, user=OTHER)).status == 200  # someone else may
    bot.wait_replies(verdict, 3)
    time.sleep(0.3)
    assert len(bot.replies(verdict)) == 3
    assert len(bot.fake.calls("chat.update")) == 2
    assert [v.by for v in decision_of(bot, verdict).versions] == [USER, USER, OTHER]


def test_after_the_cooldown_the_same_person_may_ask_again(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, rereview_cooldown_seconds=0.5) as bot:
        verdict = bot.decide()
        assert bot.event(reaction(verdict)).status == 200
        bot.wait_replies(verdict, 2)
        time.sleep(0.6)
        assert bot.event(reaction(verdict)).status == 200
        bot.wait_replies(verdict, 3)
        assert len(decision_of(bot, verdict).versions) == 3


def test_the_rereview_button_does_the_same_and_a_double_click_is_one(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    click(bot, "request-rereview", verdict, user=REVIEWER, name="first")
    click(bot, "request-rereview", verdict, user=REVIEWER, name="second")
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert f"Re-reviewed by <@{REVIEWER}>" in reply
    bot.fake.wait_for("chat.update", 1)
    time.sleep(0.3)
    assert len(bot.replies(verdict)) == 2
    assert len(decision_of(bot, verdict).versions) == 2


def test_rules_changed_between_submit_and_reaction_the_reply_names_the_changed_rule(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, rules: Path
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        verdict = bot.decide()  # 30 examples: under the 40 of too-few-examples
    fixture_rules.lower_examples_threshold(rules, 20)
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        assert bot.event(reaction(verdict, user=OTHER)).status == 200
        reply = texts(bot.wait_replies(verdict, 2))[1]
        assert "stops firing: Under 40 examples" in reply
        assert "The rules changed since version 1.*" in reply
        assert "changed: *Under 40 examples*: threshold Stable examples &lt; 40 → &lt; 20" in reply
        # People read this reply: the rule's title and the form's name for the fact; the ids, the rule set's
        # versions and hashes are for `rules` and `history`.
        decision = decision_of(bot, verdict)
        for engineers_only in (
            "too-few-examples",
            "n_stable_examples",
            decision.versions[0].ruleset_version,
            decision.versions[1].ruleset_version,
            decision.versions[0].ruleset_sha256[:12],
            decision.versions[1].ruleset_sha256[:12],
        ):
            assert engineers_only not in reply
        assert decision.versions[0].ruleset_sha256 != decision.versions[1].ruleset_sha256
        assert decision.versions[1].ruleset_sha256 == bot.services.decisions.ruleset.sha256
        assert "too-few-examples" not in decision.latest.fired


def test_with_redis_down_a_reaction_gets_200_and_the_reactor_is_told(
    fake_slack: FakeSlack, own_redis: OwnRedis
) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        verdict = bot.decide()
        own_redis.stop()
        started = time.monotonic()
        assert bot.event(reaction(verdict, user=OTHER)).status == 200
        assert time.monotonic() - started < 3.0
        (told,) = fake_slack.wait_for("chat.postEphemeral", 1)
        assert told.args["user"] == OTHER
        assert "cannot reach my storage" in told.args["text"]
        click(bot, "request-rereview", verdict)
        (notice,) = fake_slack.wait_for("webhook/button", 1)
        assert "cannot reach my storage" in notice.args["text"]
        own_redis.start()
        assert bot.event(reaction(verdict, user=OTHER)).status == 200  # once it is back, reacting again works
        assert "Re-reviewed by" in texts(bot.wait_replies(verdict, 2))[1]


def test_a_rereview_claimed_by_a_worker_that_died_is_finished_once_by_the_sweeper(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=0.5) as bot:
        verdict = bot.decide()
        # A replica claims the reaction, then dies before doing anything: only its claim is left.
        event = reaction(verdict, user=OTHER)
        key = f"rereview.{verdict}.{OTHER}.{event['event_ts']}"
        review = review_of(decision_of(bot, verdict), user=OTHER, trigger=Trigger.RE_REVIEW, source="reaction", key=key)
        assert review is not None
        assert bot.services.worker.queue.claim(review.ref, event_id="Ev0DIED", payload=review.payload()).held
        assert f"Re-reviewed by <@{OTHER}>" in texts(bot.wait_replies(verdict, 2))[1]
        # Slack's redelivery of the event after the sweeper finished it changes nothing.
        assert bot.event(event, event_id="Ev0DIED", retry_num=2).status == 200
        time.sleep(1.5)
        assert len(bot.replies(verdict)) == 2
        assert len(decision_of(bot, verdict).versions) == 2
        assert bot.services.worker.queue.overdue() == []


# --- editing --------------------------------------------------------------------------------------------------------


def test_the_requester_edits_the_answers_and_the_thread_says_what_changed(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    view = edit_form(bot, verdict)
    assert view["title"]["text"] == "Edit answers"
    initial = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"}
    assert initial["n_stable_examples"] == "30"
    assert initial["use_case"] == "Support-ticket triage"
    assert bot.submit({**REQUIRED_ANSWERS, "n_stable_examples": "600"}, view=view, view_id="V0EDIT1").status == 200
    assert bot.submit({**REQUIRED_ANSWERS, "n_stable_examples": "600"}, view=view, view_id="V0EDIT1").status == 200
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert f"Answers edited by <@{USER}>*, recorded as version 2" in reply
    assert "Stable examples: 30 → *600*" in reply
    assert "stops firing: Under 40 examples" in reply
    (update,) = bot.fake.wait_for("chat.update", 1)
    assert f"Version 2, edited by <@{USER}>" in texts([update.args])[0]
    time.sleep(0.3)
    decision = decision_of(bot, verdict)
    assert [(v.trigger, v.answers["n_stable_examples"]) for v in decision.versions] == [
        (Trigger.SUBMIT, 30),
        (Trigger.EDIT, 600),
    ]
    assert len(bot.replies(verdict)) == 2  # the same view submitted twice is one edit


def test_someone_else_may_not_edit(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    opened = len(bot.fake.calls("views.open"))
    click(bot, "edit-answers", verdict, user=OTHER)
    (notice,) = bot.fake.wait_for("webhook/button", 1)
    assert notice.args["response_type"] == "ephemeral"
    assert f"Only <@{USER}> (who asked for it) and the reviewers (" in notice.args["text"]
    assert "can edit its answers, so nothing was changed" in notice.args["text"]
    assert f"<@{REVIEWER}>" in notice.args["text"]
    time.sleep(0.2)
    assert len(bot.fake.calls("views.open")) == opened


@pytest.mark.parametrize("editor", [REVIEWER, MEMBER])
def test_reviewers_and_members_of_the_reviewers_group_may_edit(reviewing: BotClient, editor: str) -> None:
    bot = reviewing
    verdict = bot.decide()
    view = edit_form(bot, verdict, user=editor)
    assert bot.submit({**REQUIRED_ANSWERS, "tried": ["prompt", "few-shot"]}, view=view, user=editor).status == 200
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert f"Answers edited by <@{editor}>" in reply
    assert "Tried few-shot" in reply


def test_an_edit_submitted_by_someone_other_than_who_opened_it_is_refused(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    view = edit_form(bot, verdict)
    reply = bot.submit(REQUIRED_ANSWERS, view=view, user=OTHER)
    assert reply.json()["response_action"] == "errors"
    time.sleep(0.2)
    assert len(decision_of(bot, verdict).versions) == 1


def test_an_invalid_edit_gets_inline_errors_and_records_nothing(reviewing: BotClient) -> None:
    bot = reviewing
    verdict = bot.decide()
    view = edit_form(bot, verdict)
    reply = bot.submit({**REQUIRED_ANSWERS, "n_stable_examples": "-4"}, view=view)
    assert reply.json()["response_action"] == "errors"
    assert "n_stable_examples" in reply.json()["errors"]
    time.sleep(0.2)
    assert len(decision_of(bot, verdict).versions) == 1


# --- history --------------------------------------------------------------------------------------------------------


def test_history_in_the_thread_lists_every_version_and_nothing_is_rewritten(
    reviewing: BotClient, redis_url: str
) -> None:
    bot = reviewing
    verdict = bot.decide()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    (versions_key,) = client.scan_iter(f"{bot.services.settings.redis_prefix}:*:decision:*:versions")
    first = client.lindex(versions_key, 0)
    assert bot.event(reaction(verdict, user=OTHER)).status == 200
    bot.wait_replies(verdict, 2)
    bot.ask("what if we had 600 examples", thread_ts=verdict)
    bot.wait_replies(verdict, 3)
    bot.ask("apply", thread_ts=verdict, user=REVIEWER)
    bot.wait_replies(verdict, 4)
    bot.ask("history", thread_ts=verdict)
    history = texts(bot.wait_replies(verdict, 5))[4]
    assert "3 versions" in history
    assert "*v1* <!date^" in history
    assert f"submitted by <@{USER}>" in history
    assert f"re-reviewed by <@{OTHER}>" in history
    assert f"changed in the thread by <@{REVIEWER}>" in history
    assert f"rule set {fixture_rules.VERSION}" in history
    assert "older rules" not in history
    assert client.lindex(versions_key, 0) == first
    assert client.llen(versions_key) == 3


def test_the_history_command_lists_the_channels_decisions_with_links_and_older_rules(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, rules: Path
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        old = bot.decide({**REQUIRED_ANSWERS, "use_case": "Old <!channel> triage"})
        before = bot.services.decisions.ruleset.version
    fixture_rules.lower_examples_threshold(rules, 30)
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        after = bot.services.decisions.ruleset.version
        new = bot.decide({**REQUIRED_ANSWERS, "use_case": "New triage"})
        assert bot.command("history").body == b""
        (answer,) = bot.fake.wait_for("webhook/command", 1)
        body = answer.args
        assert body["response_type"] == "ephemeral"
        text = texts([body])[0]
        assert text.index("New triage") < text.index("Old &lt;!channel&gt; triage")
        assert f"p{new.replace('.', '')}" in text
        assert f"p{old.replace('.', '')}" in text
        assert text.count(f"decided under older rules ({before})") == 1
        assert f"1 of these were decided under older rules than the ones loaded now (rule set {after})" in text
        assert f"/{CHANNEL}/p" in text
        bot.ask("history", thread_ts=old)
        history = texts(bot.wait_replies(old, 2))[1]
        assert "Decided under older rules" in history
        assert "(older rules)" in history


def test_the_history_of_an_empty_channel_says_so(bot: BotClient) -> None:
    assert bot.command("history", channel="C0EMPTY").status == 200
    (answer,) = bot.fake.wait_for("webhook/command", 1)
    assert "No decisions in this channel yet" in answer.args["text"]


# --- bulk re-review ------------------------------------------------------------------------------------------------


def test_bulk_rereview_with_a_429_in_the_middle_does_each_decision_once(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, rules: Path
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        verdicts = [
            bot.decide({**REQUIRED_ANSWERS, "n_stable_examples": str(n), "tried": tried})
            for n, tried in ((20, ["prompt"]), (35, ["prompt", "few-shot"]), (600, ["prompt"]))
        ]
    fixture_rules.lower_examples_threshold(rules, 30)
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        lines: list[str] = []

        def progress(line: str) -> None:
            if not lines:  # after the first decision: Slack rate-limits the next post
                fake_slack.fail("chat.postMessage", status=429, retry_after=1)
            lines.append(line)

        posts = len(fake_slack.calls("chat.postMessage"))
        result = bulk.rereview_channel(
            bot.services, workspace=TEAM, channel=CHANNEL, changed_only=True, interval=0.0, progress=progress
        )
        assert len(result.reviewed) == 3
        assert not result.failed
        calls = fake_slack.calls("chat.postMessage")[posts:]
        assert [call.status for call in calls].count(429) == 1
        assert len([call for call in calls if call.status == 200]) == 3
        for verdict in verdicts:
            decision = decision_of(bot, verdict)
            assert [v.trigger for v in decision.versions] == [Trigger.SUBMIT, Trigger.RE_REVIEW]
            posted = [c for c in fake_slack.calls("chat.postMessage") if c.args.get("thread_ts") == verdict]
            assert [c.status for c in posted if c.status == 200] == [200, 200]  # the explanation and the result
        by_35 = texts(bot.replies(verdicts[1]))[-1]
        assert "the `should-finetune rereview` command" in by_35
        assert "stops firing: Under 40 examples" in by_35  # 35 is under 40 but not under 30
        assert "threshold Stable examples &lt; 40 → &lt; 30" in by_35
        assert "a different next step" in by_35
        assert "please take a look" in by_35  # the next step moved, so reviewers are asked
        assert result.changed == [decision_of(bot, verdicts[1]).id]
        assert "please take a look" not in texts(bot.replies(verdicts[2]))[-1]  # 600: nothing moved

        again = bulk.rereview_channel(bot.services, workspace=TEAM, channel=CHANNEL, changed_only=True, interval=0.0)
        assert (again.reviewed, len(again.current)) == ([], 3)
        everything = bulk.rereview_channel(bot.services, workspace=TEAM, channel=CHANNEL, interval=0.0)
        assert len(everything.reviewed) == 3  # asked for all: each once more, under the same rules


def test_the_rereview_command_runs_from_the_command_line(
    fake_slack: FakeSlack,
    redis_url: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        verdict = bot.decide()
    settings = bot_settings(fake_slack, redis_url, key_prefix)
    for name, value in {
        "SLACK_BOT_TOKEN": settings.slack_bot_token.get_secret_value(),  # type: ignore[union-attr]
        "SLACK_API_URL": fake_slack.url,
        "REDIS_URL": redis_url,
        "SHOULD_FINETUNE_REDIS_PREFIX": key_prefix,
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["rereview", "--channel", CHANNEL, "--interval", "0", "--by", REVIEWER]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "re-reviewed 1 (0 changed)" in out
    assert cli.main(["rereview", "--channel", "C0NOTHING"]) == cli.EXIT_BAD_INPUT
    assert "no decisions are stored for channel C0NOTHING" in capsys.readouterr().err
    assert cli.main(["rereview", "--channel", "not a channel"]) == cli.EXIT_BAD_INPUT
    assert cli.main(["rereview", "--channel", CHANNEL, "--interval", "-1"]) == cli.EXIT_BAD_INPUT
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        decision = decision_of(bot, verdict)
        assert (decision.latest.trigger, decision.latest.by) == (Trigger.RE_REVIEW, REVIEWER)
        assert f"Re-reviewed by <@{REVIEWER}>" in texts(bot.replies(verdict))[1]


def test_a_rereview_and_an_edit_done_in_slack_are_in_the_channels_activity_log(reviewing: BotClient) -> None:
    """The weekly digest reads the activity log: versions recorded from a thread must be in it like any other."""
    bot = reviewing
    verdict = bot.decide()
    assert bot.event(reaction(verdict, user=OTHER)).status == 200
    bot.wait_replies(verdict, 2)
    view = edit_form(bot, verdict)
    assert bot.submit({**REQUIRED_ANSWERS, "n_stable_examples": "600"}, view=view, view_id="V0EDITLOG").status == 200
    bot.wait_replies(verdict, 3)
    decision = decision_of(bot, verdict)
    rows = bot.services.store.activity_between(
        workspace=TEAM, channel=CHANNEL, start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC)
    )
    assert [(r.decision, r.number, r.trigger, r.by) for r in rows] == [
        (decision.id, 1, "submit", USER),
        (decision.id, 2, "re-review", OTHER),
        (decision.id, 3, "edit", USER),
    ]
    first, second, third = decision.versions
    assert (rows[1].verdict_before, rows[1].step_before) == (first.verdict, first.next_step)
    assert (rows[2].verdict, rows[2].next_step) == (third.verdict, third.next_step)
    assert (rows[2].verdict_before, rows[2].step_before) == (second.verdict, second.next_step)
