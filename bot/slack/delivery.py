"""Posting a stored decision: the verdict in its channel, the explanation in the thread, or a DM saying why not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.decisions import Decided
from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from bot.slack.api import error_code
from bot.slack.ids import is_direct_message
from bot.slack.posted import EXPLANATION_EVENT, VERDICT_EVENT, find_posted, tag
from bot.slack.render import Renderer
from bot.store import (
    Claim,
    Decision,
    DecisionStore,
    Delivery,
    DeliveryStatus,
    StoreUnavailable,
)
from bot.work import VerdictJob, Worker

log = logging.getLogger(__name__)


# After this many tries the requester is told that the verdict could not be posted, and the work is dropped.
MAX_ATTEMPTS = 3
_GAVE_UP = "delivery_failed"


def _post(client: WebClient, **message: object) -> tuple[str | None, str | None, str | None]:
    """(channel, ts, None) when posted, else (None, None, Slack's error code)."""
    try:
        response = client.chat_postMessage(unfurl_links=False, unfurl_media=False, **message)  # type: ignore[arg-type]
    except (SlackApiError, SlackClientError, OSError) as exc:
        return None, None, error_code(exc)
    return response.get("channel"), response.get("ts"), None


class Verdicts:
    """Posts verdicts: the message in the channel, the explanation in its thread, or a DM saying why not.

    Each verdict is claimed work (see `bot.work`). The worker that claimed it posts it right after the
    form closes; if that worker stops first, the sweeper of any replica takes the claim over once its lease runs
    out and calls `resume`, which first looks in the channel for what its predecessor posted (by the messages'
    metadata), so a verdict is posted once whichever replica finishes it.
    """

    def __init__(
        self,
        *,
        client: WebClient,
        renderer: Renderer,
        store: DecisionStore,
        worker: Worker,
        ruleset: RuleSet,
        on_change: Callable[..., None] | None = None,
    ) -> None:
        self.client = client
        self.renderer = renderer
        self.store = store
        self.worker = worker
        self.ruleset = ruleset
        # Told (workspace=, user=) the requester once a verdict is out: their Home tab is published again.
        self.on_change = on_change

    def deliver(self, *, claim: Claim, decided: Decided) -> Delivery | None:
        """Post a decision just made (the claim's first holder), then mark the work done."""
        try:
            with self.worker.holding(claim):
                delivery = deliver_verdict(
                    client=self.client, renderer=self.renderer, store=self.store, decided=decided, recorded=False
                )
        except StoreUnavailable as exc:  # the message is out (or refused) but not recorded: the sweeper finishes it
            log.error("verdict %s: Redis: %s; will be finished later", decided.decision.id, exc.kind)
            return None
        self.worker.finish(claim)
        if self.on_change is not None:
            decision = decided.decision
            self.worker.run_unslotted(self.on_change, workspace=decision.workspace, user=decision.requester)
        return delivery

    def resume(self, claim: Claim) -> None:
        """Finish a verdict whose first worker stopped: post what is missing, once, then mark the work done."""
        job = VerdictJob.from_payload(claim.payload or {})
        if job is None:
            log.error("claim %s in %s has no usable verdict payload; dropped", claim.ref.key, claim.ref.channel)
            self.worker.finish(claim)
            return
        try:
            decision = self.store.decision(workspace=job.workspace, channel=job.channel, decision_id=job.decision)
            if decision is None:  # the form was answered with an error before the decision was stored
                log.info("verdict %s: no such decision; nothing to post", job.decision)
            elif claim.attempts > MAX_ATTEMPTS:
                self._give_up(decision)
            else:
                with self.worker.holding(claim):
                    self._resume(decision)
        except StoreUnavailable as exc:  # the claim stays; its lease runs out and the sweeper tries again
            log.error("verdict %s: Redis: %s; will retry", job.decision, exc.kind)
            return
        self.worker.finish(claim)

    def _decided(self, decision: Decision) -> Decided:
        return Decided(decision, evaluate(self.ruleset, Answers.model_validate(decision.latest.answers)))

    def _resume(self, decision: Decision) -> None:
        decided = self._decided(decision)
        delivery = decision.delivery
        if delivery.status is DeliveryStatus.FAILED:
            return  # the requester was told already
        if delivery.status is DeliveryStatus.PENDING:
            ts = self._find(decision.channel, VERDICT_EVENT, decision, oldest=decision.created_at.timestamp())
            if ts is None:
                deliver_verdict(client=self.client, renderer=self.renderer, store=self.store, decided=decided)
                return
            log.warning("verdict %s was posted at %s before its worker stopped; recording it", decision.id, ts)
            delivery = Delivery(status=DeliveryStatus.POSTED, channel=decision.channel, ts=ts, at=datetime.now(UTC))
            self.store.record_delivery(
                workspace=decision.workspace, channel=decision.channel, decision_id=decision.id, delivery=delivery
            )
        if delivery.channel and delivery.ts and self._find(delivery.channel, EXPLANATION_EVENT, decision, delivery.ts):
            return
        _explain(
            self.client,
            renderer=self.renderer,
            store=self.store,
            decided=decided,
            delivery=delivery,
            context=_context(decided),
        )

    def _find(
        self,
        channel: str,
        event_type: str,
        decision: Decision,
        thread_ts: str | None = None,
        *,
        oldest: float | None = None,
    ) -> str | None:
        """The ts of the bot's message of `event_type` for `decision` in the channel (or in the thread at
        `thread_ts`), or None (see `find_posted`)."""
        return find_posted(
            self.client, channel, event_type, thread_ts=thread_ts, oldest=oldest, decision_id=decision.id
        )

    def _give_up(self, decision: Decision) -> None:
        if decision.delivery.status is not DeliveryStatus.PENDING:
            return
        log.error("verdict %s: giving up after %d attempts", decision.id, MAX_ATTEMPTS)
        delivery = Delivery(status=DeliveryStatus.FAILED, error=_GAVE_UP, at=datetime.now(UTC))
        decided = self._decided(decision)
        _record(self.store, decided, delivery)
        _tell_requester(self.client, self.renderer, decided, _GAVE_UP, _context(decided))


def _context(decided: Decided) -> dict[str, Any]:
    decision = decided.decision
    return {
        "report": decided.report,
        "step": decided.step,
        "decision": {"id": decision.id, "requester": decision.requester, "source": decision.source},
        "version": decision.latest.model_dump(mode="json"),
    }


def deliver_verdict(
    *, client: WebClient, renderer: Renderer, store: DecisionStore, decided: Decided, recorded: bool = True
) -> Delivery:
    """Post the verdict and its explanation; record where it went, or why it could not go, on the decision.

    With `recorded=False` a failure to record raises `StoreUnavailable` (the caller holds a claim that will retry);
    otherwise it is logged."""
    decision = decided.decision
    context = _context(decided)
    message = renderer.message("verdict", **context)
    channel, ts, error = _post(
        client, channel=decision.channel, metadata=tag(VERDICT_EVENT, decision_id=decision.id), **message
    )
    if error is not None:
        delivery = Delivery(status=DeliveryStatus.FAILED, error=error, at=datetime.now(UTC))
        _record(store, decided, delivery, strict=not recorded)
        log.warning("verdict %s not posted in %s: %s", decision.id, decision.channel, error)
        _tell_requester(client, renderer, decided, error, context)
        return delivery
    delivery = Delivery(status=DeliveryStatus.POSTED, channel=channel, ts=ts, at=datetime.now(UTC))
    _record(store, decided, delivery, strict=not recorded)
    _explain(client, renderer=renderer, store=store, decided=decided, delivery=delivery, context=context)
    return delivery


def _explain(
    client: WebClient,
    *,
    renderer: Renderer,
    store: DecisionStore,
    decided: Decided,
    delivery: Delivery,
    context: dict[str, Any],
) -> None:
    decision = decided.decision
    message = renderer.message("explanation", in_dm=is_direct_message(delivery.channel), **context)
    metadata = tag(EXPLANATION_EVENT, decision_id=decision.id)
    _, explanation_ts, error = _post(
        client, channel=delivery.channel, thread_ts=delivery.ts, metadata=metadata, **message
    )
    if error is not None:
        log.warning("explanation of %s not posted in its thread: %s", decision.id, error)
        return
    if explanation_ts is None:
        return
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


def _record(store: DecisionStore, decided: Decided, delivery: Delivery, *, strict: bool = False) -> None:
    decision = decided.decision
    try:
        store.record_delivery(
            workspace=decision.workspace, channel=decision.channel, decision_id=decision.id, delivery=delivery
        )
    except Exception as exc:
        if strict and isinstance(exc, StoreUnavailable):
            raise
        # the message is out; a lost thread index must not hide that, so say so loudly
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
