"""The decision form's submission: inline errors, or a stored decision whose verdict is posted right after."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.engine.answers import Answers
from bot.services import Services
from bot.slack.forms import CHOOSE_CHANNEL, FormMetadata, parse_form, picked_channel
from bot.slack.ids import COMMAND, BlockId, CallbackId, PickerId
from bot.slack.reviews import enterprise_of, from_another_organisation, review_of
from bot.store import StoreUnavailable, Trigger, new_decision_id
from bot.store.base import SLACK_ID
from bot.work import VerdictJob

log = logging.getLogger(__name__)

STALE_FORM = f"This form cannot be read any more. Close it and run {COMMAND} again."
GONE = "This decision is no longer stored (deleted, or past the retention period), so it cannot be edited."
NOT_ALLOWED = "Only the person who asked for this decision and the reviewers can edit its answers; nothing was saved."
NOT_FROM_HERE = "This decision belongs to another organisation's workspace, so its answers cannot be edited from yours."
NOT_SAVED = "Your answers could not be saved just now, so nothing was posted. Press the button again in a minute."


def register(app: App, services: Services) -> None:
    """Listen for submissions of the decision form."""

    @app.view(CallbackId.DECISION_FORM.value)
    def handle_form_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        metadata, problems = read_submission(body, view, values)
        result = parse_form(values)
        if metadata is None or problems or result.answers is None:
            ack(response_action="errors", errors=problems if metadata is None else {**result.errors, **problems})
            return
        if metadata.decision is None:
            record_decision(ack, services, metadata, result.answers)
        else:
            record_edit(ack, services, metadata, metadata.decision, result.answers, body=body, view_id=view.get("id"))


def read_submission(
    body: dict[str, Any], view: dict[str, Any], values: object
) -> tuple[FormMetadata | None, dict[str, str]]:
    """The form's metadata, with the channel chosen in it when it asked for one; and what is wrong, by block id.
    None when the form is not one this bot opened for the person who submitted it."""
    metadata = FormMetadata.load(view.get("private_metadata"))
    user = body.get("user")
    submitter = user.get("id") if isinstance(user, dict) else None
    if metadata is None or submitter != metadata.user or (metadata.decision and metadata.channel is None):
        return None, {BlockId.USE_CASE.value: STALE_FORM}  # an edit form always names its decision's channel
    if metadata.channel is not None:
        return metadata, {}
    chosen = picked_channel(values)
    if chosen is None:
        return metadata, {PickerId.CHANNEL.value: CHOOSE_CHANNEL}
    return metadata.model_copy(update={"channel": chosen}), {}


def record_decision(ack: Ack, services: Services, metadata: FormMetadata, answers: Answers) -> None:
    """Store a new decision and claim its verdict's post before the form closes, then post it after the response.

    The post is claimed before the decision is stored: once the form closes, the post is on the durable work list,
    and another replica finishes it if this one stops."""
    job = VerdictJob(metadata.team, metadata.verdict_channel, new_decision_id())
    try:
        claim = services.worker.claim(job)
        decided = services.decisions.decide(
            workspace=job.workspace,
            channel=job.channel,
            requester=metadata.user,
            answers=answers,
            decision_id=job.decision,
            source=metadata.source,
        )
    except StoreUnavailable as exc:  # a claim without a decision is dropped by whoever takes it over
        log.error("decision for %s in %s not saved: %s", metadata.user, metadata.channel, exc.kind)
        ack(response_action="errors", errors={BlockId.USE_CASE.value: NOT_SAVED})
        return
    ack()  # closes the form; the decision is stored and its post claimed, so it is not lost
    services.worker.run_soon(services.verdicts.deliver, claim=claim, decided=decided)


def record_edit(
    ack: Ack,
    services: Services,
    metadata: FormMetadata,
    decision_id: str,
    answers: Answers,
    *,
    body: dict[str, Any],
    view_id: object,
) -> None:
    """Claim the edit of `decision_id` before the form closes, so it is done once even if this process stops. The
    rights are checked again here: the form may have been opened before they changed."""
    user = body.get("user")
    external = from_another_organisation(
        user_team=user.get("team_id") if isinstance(user, dict) else None,
        workspace=metadata.team,
        user_org=enterprise_of(body),
    )
    if not isinstance(view_id, str) or not SLACK_ID.fullmatch(view_id):
        ack(response_action="errors", errors={BlockId.USE_CASE.value: STALE_FORM})
        return
    try:
        decision = services.store.decision(
            workspace=metadata.team, channel=metadata.verdict_channel, decision_id=decision_id
        )
        review = None
        if decision is not None and not services.reviews.may_edit(metadata.user, decision, external=external):
            log.info("edit of %s by %s refused on submission (external: %s)", decision_id, metadata.user, external)
            ack(response_action="errors", errors={BlockId.USE_CASE.value: NOT_FROM_HERE if external else NOT_ALLOWED})
            return
        if decision is not None:
            review = review_of(
                decision,
                user=metadata.user,
                trigger=Trigger.EDIT,
                source="form",
                key=f"edit.{view_id}",
                answers=answers.known(),
            )
        if review is None:
            ack(response_action="errors", errors={BlockId.USE_CASE.value: GONE})
            return
        services.worker.submit(review)
    except StoreUnavailable as exc:
        log.error("edit of %s by %s not saved: %s", decision_id, metadata.user, exc.kind)
        ack(response_action="errors", errors={BlockId.USE_CASE.value: NOT_SAVED})
        return
    ack()
