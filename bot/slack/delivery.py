"""Posting a stored decision: the verdict in its channel, the explanation in the thread, or a DM saying why not."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.decisions import Decided
from bot.slack.api import error_code
from bot.slack.render import Renderer
from bot.store import DecisionStore, Delivery, DeliveryStatus

log = logging.getLogger(__name__)


def _post(client: WebClient, **message: object) -> tuple[str | None, str | None, str | None]:
    """(channel, ts, None) when posted, else (None, None, Slack's error code)."""
    try:
        response = client.chat_postMessage(unfurl_links=False, unfurl_media=False, **message)  # type: ignore[arg-type]
    except (SlackApiError, SlackClientError, OSError) as exc:
        return None, None, error_code(exc)
    return response.get("channel"), response.get("ts"), None


def deliver_verdict(*, client: WebClient, renderer: Renderer, store: DecisionStore, decided: Decided) -> Delivery:
    """Post the verdict and its explanation; record where it went, or why it could not go, on the decision."""
    decision = decided.decision
    context = {
        "report": decided.report,
        "step": decided.step,
        "decision": {"id": decision.id, "requester": decision.requester},
        "version": decision.latest.model_dump(mode="json"),
    }
    channel, ts, error = _post(client, channel=decision.channel, **renderer.message("verdict", **context))
    if error is not None:
        delivery = Delivery(status=DeliveryStatus.FAILED, error=error, at=datetime.now(UTC))
        _record(store, decided, delivery)
        log.warning("verdict %s not posted in %s: %s", decision.id, decision.channel, error)
        _tell_requester(client, renderer, decided, error, context)
        return delivery

    delivery = Delivery(status=DeliveryStatus.POSTED, channel=channel, ts=ts, at=datetime.now(UTC))
    _record(store, decided, delivery)
    _, explanation_ts, thread_error = _post(
        client, channel=channel, thread_ts=ts, **renderer.message("explanation", **context)
    )
    if thread_error is not None:
        log.warning("explanation of %s not posted in its thread: %s", decision.id, thread_error)
    elif explanation_ts is not None:
        try:  # a reaction on the explanation asks for a re-review too
            store.record_explanation(
                workspace=decision.workspace,
                channel=decision.channel,
                decision_id=decision.id,
                delivery=delivery,
                ts=explanation_ts,
            )
        except Exception:
            log.exception("decision %s: explanation not recorded", decision.id)
    return delivery


def _record(store: DecisionStore, decided: Decided, delivery: Delivery) -> None:
    decision = decided.decision
    try:
        store.record_delivery(
            workspace=decision.workspace, channel=decision.channel, decision_id=decision.id, delivery=delivery
        )
    except Exception:  # the message is out; a lost thread index must not hide that, so say so loudly
        log.exception("decision %s: delivery %s not recorded", decision.id, delivery.status)


def _tell_requester(
    client: WebClient, renderer: Renderer, decided: Decided, error: str, context: dict[str, Any]
) -> None:
    decision = decided.decision
    message = renderer.message("undelivered", channel=decision.channel, error=error, **context)
    _, _, dm_error = _post(client, channel=decision.requester, **message)
    if dm_error is not None:
        log.error("decision %s: requester %s not told either: %s", decision.id, decision.requester, dm_error)


def respond(response_url: str, message: dict[str, object]) -> None:
    """Answer through a command's or action's `response_url` (ephemeral unless the message says otherwise)."""
    try:
        WebhookClient(response_url, timeout=5).send_dict(message)
    except (SlackClientError, OSError, ValueError) as exc:
        log.warning("response_url answer failed: %s", type(exc).__name__)
