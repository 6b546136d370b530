"""The open questions' buttons in a verdict's thread: an answer clicked by someone who may edit the decision becomes
a new version (trigger `answered`), like an edit of that one answer.

The click is acknowledged at once; after the response the decision is read, the clicker checked, and the answer
claimed (keyed on the message, the clicker and the click, so Slack's redelivery of the click is the same request)
and done by `FollowUps.work`: the version, the thread reply and the verdict message's update in one atomic step. A
second click of the same answer finds it recorded and changes nothing. Whatever cannot be recorded (someone else's
click, "Not sure", an answer that contradicts another, a button whose value is not one the bot wrote) is answered
privately through the click's response_url, and logged.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App

from bot.engine.answers import FACTS
from bot.listeners.common import Click, clicked, clicked_decision, incomplete
from bot.services import Services
from bot.slack.delivery import respond
from bot.slack.ids import ActionId
from bot.slack.reviews import review_of
from bot.store import StoreUnavailable, Trigger

log = logging.getLogger(__name__)

# "answer-question:0", ":1", ... (one per button of a question); the bare id too, which no template writes.
ANSWER_ACTION = re.compile(rf"^{re.escape(ActionId.ANSWER_QUESTION.value)}(:[0-9]{{1,3}})?$")
# The decision ids the bot writes into a button's value: ULIDs (see `bot.store.decisions.new_decision_id`).
_DECISION_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
# A button's value is at most 2,000 characters (Slack's limit); a question's is far shorter.
_MAX_VALUE = 2000
# The facts a button can answer: yes/no questions and choices. A number is answered in the form.
_ANSWERABLE = frozenset({"bool", "enum"})


@dataclass(frozen=True, slots=True)
class ButtonAnswer:
    """What an answer button says: the decision, the question's fact, and the answer (None: "Not sure")."""

    decision: str
    fact: str
    value: bool | str | None


def read_answer(raw: object) -> ButtonAnswer | None:
    """The answer in a button's `value` (`{"d": decision id, "f": fact, "v": answer}`), or None when it is not one the
    bot could have written: not that JSON, an unknown fact or one a button does not answer, or an answer outside the
    fact's type or choices."""
    if not isinstance(raw, str) or len(raw) > _MAX_VALUE:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"d", "f", "v"}:
        return None
    decision, name, value = data["d"], data["f"], data["v"]
    if not isinstance(decision, str) or not _DECISION_ID.fullmatch(decision):
        return None
    fact = FACTS.get(name) if isinstance(name, str) else None
    if fact is None or fact.type not in _ANSWERABLE:
        return None
    if value is None:
        return ButtonAnswer(decision, fact.name, None)
    if fact.type == "bool" and isinstance(value, bool):
        return ButtonAnswer(decision, fact.name, value)
    if fact.type == "enum" and isinstance(value, str) and value in fact.choices:
        return ButtonAnswer(decision, fact.name, value)
    return None


def register(app: App, services: Services) -> None:
    """Listen for the open questions' answer buttons."""

    @app.action(ANSWER_ACTION)
    def handle_answer_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = clicked(body)
        if click is None:
            log.warning("answer button: the click lacks its message, person or response_url")
            incomplete(services, body)
            return
        actions = body.get("actions")
        action = actions[0] if isinstance(actions, list) and actions else None
        raw = action.get("value") if isinstance(action, dict) else None
        services.run_soon(answer_question, services=services, click=click, raw=raw)


def answer_question(*, services: Services, click: Click, raw: object) -> None:
    """Record the answer a button gave, or tell the clicker privately why not."""
    user, ts, channel, response_url, external = click.user, click.ts, click.channel, click.response_url, click.external
    notice = services.renderer.message
    answer = read_answer(raw)
    if answer is None:
        log.warning("answer button on %s in %s by %s: a value the bot did not write", ts, channel, user)
        respond(response_url, notice("notice", kind="answer-unreadable"))
        return
    try:
        decision = clicked_decision(services, click)
        if decision is None or decision.id != answer.decision:
            log.info("answer button on %s in %s: no decision %s there", ts, channel, answer.decision)
            respond(response_url, notice("notice", kind="gone"))
            return
        if not services.reviews.may_edit(user, decision, external=external):
            log.info("answer to %s by %s refused: may not change it (from elsewhere: %s)", decision.id, user, external)
            respond(response_url, services.reviews.refusal(decision, user, action="answer", external=external))
            return
        if answer.value is None:
            respond(response_url, notice("notice", kind="answer-not-sure", question=FACTS[answer.fact].question))
            return
        # Keyed on the click: Slack's redelivery of it is the same request; a second click is another, which finds
        # the answer recorded.
        review = review_of(
            decision,
            user=user,
            trigger=Trigger.ANSWERED,
            source="question",
            key=f"answer.{ts}.{user}.{click.action_ts}",
            response_url=response_url,
            fact=answer.fact,
            value=answer.value,
        )
        if review is None:
            respond(response_url, notice("notice", kind="gone"))
            return
        # The latest answers with this one set; None (the clicker told why) when recorded already or contradictory.
        review = services.reviews.with_answer(review, decision)
        if review is None:
            return
        claim = services.worker.claim(review)
    except StoreUnavailable as exc:
        log.error("answer button on %s in %s: Redis: %s", ts, channel, exc.kind)
        respond(response_url, notice("notice", kind="unavailable"))
        return
    if claim.held:  # already on a worker thread: done here
        services.worker.run(claim)
