"""Who may change a decision, over signed requests: its requester and the reviewers may edit its answers, answer its
open questions and `apply` what-ifs; anyone in the thread may explore what-ifs and ask for a re-review; people from
another organisation (Slack Connect) may ask and request re-reviews, never change anything.

The Slack Connect payloads follow what Slack sends (bolt-python's actor fixtures): in a shared channel the event's
envelope and a click's `team`/`enterprise` are the acting person's side, `authorizations` is this installation, and
the person's own workspace is the message's `user_team`/`team` or the click's `user.team_id`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack.reviews import from_another_organisation
from tests.fakeslack import FakeSlack
from tests.slack_support import (
    CHANNEL,
    REQUIRED_ANSWERS,
    TEAM,
    USER,
    BotClient,
    event_callback,
    new_event_id,
    submission_payload,
    thread_message,
)
from tests.test_followups import texts
from tests.test_questions import click_payload, fine_tune_verdict, posted, private, question_buttons
from tests.test_reviews import GROUP, MEMBER, OTHER, REVIEWER, decision_of, edit_form, reaction, served_bot

# A Slack Connect partner: their workspace and Enterprise Grid org, and one of their people.
PARTNER_TEAM, PARTNER_ORG, PARTNER = "T0PARTNER", "E0PARTNER", "U0PARTNER"
# This installation's Grid org and a sibling workspace in it (for the Grid cases).
HOME_ORG, SIBLING_TEAM = "E0HOME", "T0SIBLING"


@pytest.fixture
def bot(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """The bot with a reviewer, a reviewers' group, and the partner's person listed as a reviewer too: being listed
    must not let someone from another organisation change a decision."""
    fake_slack.set_usergroup(GROUP, [MEMBER])
    with served_bot(fake_slack, redis_url, key_prefix, reviewers=f"{REVIEWER},{GROUP},{PARTNER}") as served:
        yield served


def deliver(
    bot: BotClient,
    event: dict[str, Any],
    *,
    shared: bool = False,
    actor_team: str = TEAM,
    actor_org: str | None = None,
    home_org: str | None = None,
) -> None:
    """`event` as Slack delivers it in a channel shared with other organisations (`shared`) or not: the envelope's
    `team_id`/`enterprise_id` are the acting person's side, `authorizations` this installation."""
    envelope = event_callback(event, event_id=new_event_id())
    envelope.update(team_id=actor_team, is_ext_shared_channel=shared)
    if actor_org is not None:
        envelope["enterprise_id"] = actor_org
    envelope["authorizations"] = [
        {"enterprise_id": home_org, "team_id": TEAM, "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}
    ]
    reply = bot.post(json.dumps(envelope).encode(), content_type="application/json")
    assert reply.status == 200


def say(bot: BotClient, text: str, verdict: str, user: str, *, team: str = TEAM, **envelope: Any) -> None:
    """`user` of workspace `team` writes `text` in the verdict's thread."""
    event = thread_message(text, thread_ts=verdict, user=user, team=team, user_team=team, source_team=team)
    deliver(bot, event, actor_team=team, **envelope)


def partner_says(bot: BotClient, text: str, verdict: str) -> None:
    say(bot, text, verdict, PARTNER, team=PARTNER_TEAM, shared=True, actor_org=PARTNER_ORG)


def replies(bot: BotClient, verdict: str, count: int) -> list[str]:
    return texts(bot.wait_replies(verdict, count))


def private_in_thread(bot: BotClient, user: str, count: int = 1) -> list[str]:
    """What the bot told `user` privately in a thread (chat.postEphemeral)."""
    deadline = time.monotonic() + 5
    while len(found := [c.args for c in bot.fake.calls("chat.postEphemeral") if c.args.get("user") == user]) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} private replies to {user}"
        time.sleep(0.01)
    return [str(args["text"]) for args in found]


def settle() -> None:
    time.sleep(0.3)


# --- apply needs the rights to edit ----------------------------------------------------------------------------------


def test_a_strangers_apply_changes_nothing_and_tells_them_who_can(bot: BotClient) -> None:
    verdict = bot.decide()
    say(bot, "what if we had 5000 examples and we tried dspy", verdict, OTHER)
    assert "5,000" in replies(bot, verdict, 2)[1]  # what-ifs are open to everyone

    say(bot, "apply", verdict, OTHER)
    (note,) = private_in_thread(bot, OTHER)
    assert f"Only <@{USER}> (who asked for it) and the reviewers (<@{REVIEWER}>, <!subteam^{GROUP}>" in note
    assert "can apply what-ifs to it, so nothing was changed" in note
    assert "one of them can say `apply`" in note
    (ephemeral,) = [c.args for c in bot.fake.calls("chat.postEphemeral") if c.args.get("user") == OTHER]
    assert ephemeral["thread_ts"] == verdict
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert bot.fake.calls("chat.update") == []
    assert len(bot.replies(verdict)) == 2  # nothing said in the thread for everyone

    # The requester applies the same what-if: it is still there, and it is recorded.
    say(bot, "apply", verdict, USER)
    applied = replies(bot, verdict, 3)[2]
    assert "Recorded as version 2" in applied
    assert f"proposed by <@{OTHER}>" in applied
    latest = decision_of(bot, verdict).latest
    assert latest.by == USER
    assert latest.answers["n_stable_examples"] == 5000
    assert latest.answers["tried_dspy"] is True
    (update,) = bot.fake.calls("chat.update")
    assert update.args["ts"] == verdict


@pytest.mark.parametrize("who", [REVIEWER, MEMBER])
def test_reviewers_and_their_group_may_apply(bot: BotClient, who: str) -> None:
    verdict = bot.decide()
    say(bot, "what if we had 5000 examples", verdict, who)
    replies(bot, verdict, 2)
    say(bot, "apply", verdict, who)
    assert "Recorded as version 2" in replies(bot, verdict, 3)[2]
    assert decision_of(bot, verdict).latest.by == who


def test_apply_of_changes_several_people_proposed_names_each_and_asks_the_reviewers(bot: BotClient) -> None:
    verdict = bot.decide()
    say(bot, "what if we had 5000 examples", verdict, OTHER)
    replies(bot, verdict, 2)
    say(bot, "and if we tried dspy", verdict, MEMBER)
    replies(bot, verdict, 3)
    say(bot, "apply", verdict, USER)
    applied = replies(bot, verdict, 4)[3]
    lines = applied.splitlines()
    assert any("Stable examples" in line and "5,000" in line and f"proposed by <@{OTHER}>" in line for line in lines)
    assert any("DSPy" in line and f"proposed by <@{MEMBER}>" in line for line in lines), applied
    assert f"<@{REVIEWER}> <!subteam^{GROUP}>" in applied
    assert "please take a look" in applied


def test_a_requester_applying_their_own_what_if_is_not_told_who_proposed_it(bot: BotClient) -> None:
    verdict = bot.decide()
    say(bot, "what if we had 5000 examples", verdict, USER)
    replies(bot, verdict, 2)
    say(bot, "apply", verdict, USER)
    applied = replies(bot, verdict, 3)[2]
    assert "Recorded as version 2" in applied
    assert "proposed by" not in applied


# --- people from another organisation ---------------------------------------------------------------------------------


def test_a_partner_may_ask_and_explore_but_not_apply_even_when_listed_as_a_reviewer(bot: BotClient) -> None:
    verdict = bot.decide()
    partner_says(bot, "why?", verdict)
    assert "Why don't fine-tune yet" in replies(bot, verdict, 2)[1]
    partner_says(bot, "what if we had 5000 examples and we tried dspy", verdict)
    assert "5,000" in replies(bot, verdict, 3)[2]

    partner_says(bot, "apply", verdict)
    (note,) = private_in_thread(bot, PARTNER)
    assert "belongs to another organisation's workspace" in note
    assert "ask questions about it and request a re-review, but not apply what-ifs to it" in note
    assert f"On their side, <@{USER}> (who asked for it)" in note
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert bot.fake.calls("chat.update") == []


def test_a_partner_may_request_a_rereview_with_a_reaction(bot: BotClient) -> None:
    verdict = bot.decide()
    deliver(bot, reaction(verdict, user=PARTNER), shared=True, actor_team=PARTNER_TEAM, actor_org=PARTNER_ORG)
    assert f"Re-reviewed by <@{PARTNER}>" in replies(bot, verdict, 2)[1]
    assert [v.trigger for v in decision_of(bot, verdict).versions][-1] == "re-review"


def partner_click(bot: BotClient, action: str, ts: str, *, name: str) -> str:
    """A click by the partner's person on the bot's message at `ts`: as Slack sends it in a shared channel, the
    payload's `team` and `enterprise` are the clicker's side; the message is the bot's, of this workspace."""
    payload = {
        "type": "block_actions",
        "user": {"id": PARTNER, "username": "partner", "name": "partner", "team_id": PARTNER_TEAM},
        "api_app_id": "A0FAKE",
        "token": "legacy-unused",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": bot.fake.new_trigger_id(),
        "team": {"id": PARTNER_TEAM, "domain": "partner", "enterprise_id": PARTNER_ORG},
        "enterprise": {"id": PARTNER_ORG, "name": "Partner Org"},
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "shared-decisions"},
        "message": {"type": "message", "ts": ts, "user": "U0BOT", "bot_id": "B0BOT", "team": TEAM, "text": "verdict"},
        "state": {"values": {}},
        "response_url": bot.fake.response_url(name),
        "actions": [
            {"action_id": action, "block_id": "verdict-actions", "type": "button", "action_ts": f"{time.time():.6f}"}
        ],
    }
    assert bot.interaction(payload).status == 200
    return name


def test_a_partners_edit_button_is_refused_and_their_rereview_button_works(bot: BotClient) -> None:
    verdict = bot.decide()
    opened = len(bot.fake.calls("views.open"))
    partner_click(bot, "edit-answers", verdict, name="partner-edit")
    (notice,) = bot.fake.wait_for("webhook/partner-edit", 1)
    assert notice.args["response_type"] == "ephemeral"
    assert "not edit its answers" in notice.args["text"]
    settle()
    assert len(bot.fake.calls("views.open")) == opened

    partner_click(bot, "request-rereview", verdict, name="partner-rereview")
    assert f"Re-reviewed by <@{PARTNER}>" in replies(bot, verdict, 2)[1]


def test_an_edit_submitted_from_another_organisation_is_refused_inline(bot: BotClient) -> None:
    verdict = bot.decide()
    view = edit_form(bot, verdict, user=REVIEWER)
    # Listed as a reviewer here, but submitting as a member of the partner's workspace.
    payload = submission_payload(view, {**REQUIRED_ANSWERS, "tried": ["prompt", "few-shot"]}, user=REVIEWER)
    payload["user"] = {"id": REVIEWER, "username": "r", "name": "r", "team_id": PARTNER_TEAM}
    reply = bot.interaction(payload)
    assert reply.json()["response_action"] == "errors"
    assert "another organisation" in json.dumps(reply.json()["errors"])
    settle()
    assert len(decision_of(bot, verdict).versions) == 1


# --- colleagues of the same Enterprise Grid org -----------------------------------------------------------------------


def test_a_reviewer_from_a_sibling_workspace_may_apply_where_the_channel_is_the_orgs_own(bot: BotClient) -> None:
    verdict = bot.decide()
    grid = {"shared": False, "actor_org": HOME_ORG, "home_org": HOME_ORG}
    say(bot, "what if we had 5000 examples", verdict, REVIEWER, team=SIBLING_TEAM, **grid)
    replies(bot, verdict, 2)
    say(bot, "apply", verdict, REVIEWER, team=SIBLING_TEAM, **grid)
    assert "Recorded as version 2" in replies(bot, verdict, 3)[2]


def test_in_a_shared_channel_a_reviewer_of_the_same_org_may_apply(bot: BotClient) -> None:
    verdict = bot.decide()
    grid = {"shared": True, "actor_org": HOME_ORG, "home_org": HOME_ORG}
    say(bot, "what if we had 5000 examples", verdict, REVIEWER, team=SIBLING_TEAM, **grid)
    replies(bot, verdict, 2)
    say(bot, "apply", verdict, REVIEWER, team=SIBLING_TEAM, **grid)
    assert "Recorded as version 2" in replies(bot, verdict, 3)[2]


def test_a_partners_answer_to_an_open_question_is_refused(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    button = question_buttons(posted(bot, explanation), "has_eval_set")["No"]
    payload = click_payload(
        bot, ts=explanation, thread_ts=verdict, button=button, block_id="question-has_eval_set", name="partner"
    )
    payload["user"]["team_id"] = PARTNER_TEAM
    payload["team"] = {"id": PARTNER_TEAM, "domain": "partner", "enterprise_id": PARTNER_ORG}
    payload["enterprise"] = {"id": PARTNER_ORG, "name": "Partner Org"}
    payload["user"]["id"] = PARTNER
    assert bot.interaction(payload).status == 200
    (note,) = private(bot, "partner")
    assert "not answer its open questions" in note
    settle()
    assert len(decision_of(bot, verdict).versions) == 1


# --- who counts as from another organisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "external"),
    [
        ({"user_team": TEAM}, False),
        ({"user_team": TEAM, "ext_shared": True}, False),
        ({"user_team": PARTNER_TEAM, "ext_shared": True}, True),
        ({"user_team": PARTNER_TEAM}, True),  # a click: Slack does not say whether the channel is shared
        ({"user_team": PARTNER_ORG, "ext_shared": True}, True),  # an app_mention from a connected Grid org
        ({"user_team": None, "ext_shared": True}, True),  # a shared channel's event without the author's team
        ({"user_team": None}, False),
        ({"user_team": SIBLING_TEAM, "ext_shared": False}, False),  # the org's own channel: colleagues only
        ({"user_team": SIBLING_TEAM, "ext_shared": True, "org": HOME_ORG, "user_org": HOME_ORG}, False),
        ({"user_team": HOME_ORG, "ext_shared": True, "org": HOME_ORG}, False),
        ({"user_team": SIBLING_TEAM, "ext_shared": True, "org": HOME_ORG, "user_org": PARTNER_ORG}, True),
        ({"user_team": "not an id", "ext_shared": True}, True),
    ],
)
def test_who_is_from_another_organisation(fields: dict[str, Any], external: bool) -> None:
    assert from_another_organisation(workspace=TEAM, **fields) is external
