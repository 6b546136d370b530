"""Verdicts in a direct message: asked for in the bot's Messages tab, they are posted there, and nothing posted in a
DM invites a follow-up question the bot would not see (it subscribes to no DM message events). A worker that takes
over a DM verdict's post finds the one already posted instead of posting it twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bot.manifest import BOT_EVENTS, BOT_SCOPES
from bot.slack.delivery import EXPLANATION_EVENT, VERDICT_EVENT
from bot.store import DeliveryStatus
from bot.work import VerdictJob
from tests.fakeslack import FakeSlack
from tests.slack_support import TEAM, BotClient, served_bot
from tests.test_followups import texts
from tests.test_verdicts import posted_by_a_worker_that_stopped, posts, stopped_after_ack, wait_until_done

DM = "D0BOTDM"  # the requester's DM with the bot
LEASE = 0.5
# What would invite a question in the thread.
INVITATIONS = ("ask `why`", "say `history`", "say `rules`", "`what if …` here")


@pytest.fixture
def bot(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=LEASE) as served:
        yield served


def test_the_manifest_subscribes_to_no_dm_messages() -> None:
    assert "message.im" not in BOT_EVENTS
    assert "message.mpim" not in BOT_EVENTS
    assert "im:history" in BOT_SCOPES  # only to find its own posts after a restart


def test_a_verdict_in_a_dm_invites_no_question_it_would_not_see(bot: BotClient) -> None:
    verdict = bot.decide(channel=DM)
    explanation = texts(bot.wait_replies(verdict, 1))[0]
    for invitation in INVITATIONS:
        assert invitation not in explanation
    assert "Use *Edit answers* or *Request re-review* on the verdict" in explanation
    assert "in a channel's thread: run `/should-finetune` in a channel" in explanation

    # A re-review from the verdict's button: the reply in the DM's thread invites nothing either.
    assert bot.click("request-rereview", message_ts=verdict, channel=DM).status == 200
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert "Re-reviewed by" in reply
    for invitation in INVITATIONS:
        assert invitation not in reply


def test_a_verdict_in_a_channel_still_invites_questions(bot: BotClient) -> None:
    verdict = bot.decide()
    explanation = texts(bot.wait_replies(verdict, 1))[0]
    assert "ask `why`, `what if …` or `history` here" in explanation


def test_a_dm_verdict_posted_before_its_worker_stopped_is_not_posted_again(bot: BotClient) -> None:
    services = bot.services
    claim, decided = stopped_after_ack(bot, DM)
    posted = posted_by_a_worker_that_stopped(bot, decided)
    job = VerdictJob.from_payload(claim.payload or {})
    assert job is not None
    wait_until_done(bot, claim)
    assert len(posts(bot.fake, VERDICT_EVENT, job.decision)) == 1
    (explanation,) = posts(bot.fake, EXPLANATION_EVENT, job.decision)
    assert explanation["thread_ts"] == posted["ts"]
    (history,) = [c for c in bot.fake.calls("conversations.history") if c.args.get("channel") == DM]
    assert history.response is not None
    assert history.response["ok"], history.response  # the scope the manifest asks for lets it look
    decision = services.store.decision(workspace=TEAM, channel=DM, decision_id=job.decision)
    assert decision is not None
    assert (decision.delivery.status, decision.delivery.ts) == (DeliveryStatus.POSTED, posted["ts"])
    time.sleep(LEASE * 3)
    assert len(posts(bot.fake, VERDICT_EVENT, job.decision)) == 1


def test_the_dm_verdicts_form_metadata_names_the_dm(bot: BotClient) -> None:
    bot.command(channel=DM)
    bot.fake.wait_for("views.open", 1)
    assert json.loads(bot.opened_view()["private_metadata"])["channel"] == DM


def test_an_install_without_the_dm_scope_says_which_scope_to_grant(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    # An app installed from an older manifest: the lookup is refused, so the verdict is posted rather than lost,
    # and the operator is told which scope would have prevented a repeat.
    bot.fake.scopes = [scope for scope in BOT_SCOPES if scope != "im:history"]
    claim, _ = stopped_after_ack(bot, DM)
    job = VerdictJob.from_payload(claim.payload or {})
    assert job is not None
    wait_until_done(bot, claim)
    assert len(posts(bot.fake, VERDICT_EVENT, job.decision)) == 1
    assert any("lacks the scope im:history" in r.getMessage() for r in caplog.records)
