"""Work in verdict threads over Slack: which message events are questions, and doing the questions, re-reviews,
edits and answered questions the worker (`bot.work`) hands over: answer, record with the outbox, send."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.decisions import Decided
from bot.engine.ruleset import RuleSet
from bot.followups.conversation import Answer, answer_followup
from bot.followups.parser import MAX_TEXT, Intent, parse_followup
from bot.metrics import Metrics
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.ids import is_direct_message
from bot.slack.posted import REPLY_EVENT, find_posted, tag
from bot.slack.render import Renderer
from bot.slack.reviews import Reviews, from_another_organisation
from bot.store import (
    Claim,
    ClaimLost,
    ClaimStatus,
    Decision,
    DecisionNotFound,
    DecisionStore,
    StoreUnavailable,
    ThreadChanged,
    ThreadStore,
    Trigger,
)
from bot.store.base import SLACK_ID, SLACK_TS
from bot.work import Question, Review, Worker, job_of

log = logging.getLogger(__name__)

# Message subtypes that are a person writing in the thread (a reply, one also sent to the channel, one with a file
# attached); edits, deletions, joins, bots and the rest are not.
_PEOPLE_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
# After this many tries, claimed work is reported in the thread instead of tried again.
MAX_ATTEMPTS = 3
# Attempts on one question when other messages change the same thread at the same moment.
_CONFLICT_RETRIES = 5
# A redelivered question that finds Redis away is claimed again after 0.5 s, then at most every 5 s, for this long
# (about a failover): it may have been answered before Redis went away, and must then get nothing.
_PARK_SECONDS = 60.0
_PARK_FIRST_DELAY = 0.5
_PARK_MAX_DELAY = 5.0


def question_from(
    event: dict[str, Any],
    *,
    workspace: object,
    bot_user_id: object,
    ext_shared: object = None,
    org: object = None,
    user_org: object = None,
) -> Question | None:
    """The question in a `message` or `app_mention` event, or None for anything that is not a person's reply in a
    thread: top-level messages, bots (this one included), edits, deletions, joins and other subtypes. `ext_shared`,
    `org` and `user_org` say with the author's team whether they are from another organisation (see
    `from_another_organisation`)."""
    if event.get("type") not in {"message", "app_mention"} or event.get("subtype") not in _PEOPLE_SUBTYPES:
        return None
    if event.get("bot_id") or event.get("bot_profile"):
        return None
    user, channel = _matching(event.get("user"), SLACK_ID), _matching(event.get("channel"), SLACK_ID)
    ts, thread_ts = _matching(event.get("ts"), SLACK_TS), _matching(event.get("thread_ts"), SLACK_TS)
    team = _matching(workspace, SLACK_ID)
    if not (user and channel and ts and thread_ts and team) or ts == thread_ts or user == bot_user_id:
        return None
    text = event.get("text")
    text = text[: MAX_TEXT + 1] if isinstance(text, str) else ""  # longer is "not understood" anyway
    mentioned = event.get("type") == "app_mention" or (
        isinstance(bot_user_id, str) and re.search(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", text) is not None
    )
    parent_is_bot = isinstance(bot_user_id, str) and event.get("parent_user_id") == bot_user_id
    external = from_another_organisation(
        user_team=event.get("user_team") or event.get("team"),
        workspace=team,
        ext_shared=ext_shared,
        org=org,
        user_org=user_org,
    )
    return Question(team, channel, thread_ts, ts, user, text, mentioned, parent_is_bot, external)


def _matching(value: object, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


class FollowUps:
    """Does the work claimed in verdict threads (questions, re-reviews, edits), each piece once across retries,
    duplicate events and replicas."""

    def __init__(
        self,
        *,
        store: DecisionStore,
        threads: ThreadStore,
        worker: Worker,
        ruleset: RuleSet,
        renderer: Renderer,
        client: WebClient,
        reviews: Reviews,
        metrics: Metrics | None = None,
        on_change: Callable[..., None] | None = None,
    ) -> None:
        self.store = store
        self.threads = threads
        self.worker = worker
        self.ruleset = ruleset
        self.renderer = renderer
        self.client = client
        self.reviews = reviews
        self.metrics = metrics if metrics is not None else Metrics(process=False)
        self.park_seconds = _PARK_SECONDS
        # Told (workspace=, user=) the requester when a decision gets a new version: their Home tab is published.
        self.on_change = on_change

    # On the request path: decide, claim, hand over. Everything here is a few Redis calls with short timeouts.

    def receive(self, question: Question, *, event_id: str, redelivery: bool = False) -> None:
        """Claim `question` if it is one to answer, and answer it after the HTTP response. Without Redis, the
        person is told to ask again; but Slack's redelivery of a question may have been answered already, so it is
        kept and claimed again once Redis is back (see `_retry_parked`)."""
        if parse_followup(question.text).intent is Intent.NOT_UNDERSTOOD and not question.mentioned:
            return  # chatter in the thread: no reply, and no need to look anything up
        try:
            claim = self.worker.submit(question, event_id=event_id, verdict_thread=question.thread_ts)
        except StoreUnavailable as exc:
            log.error("follow-up %s in %s not taken: Redis: %s", question.ts, question.channel, exc.kind)
            if redelivery:
                self.metrics.followup("parked")
                self._park(question, event_id, waited=0.0)
                return
            self._unavailable(question)
            return
        if claim.held or claim.status is ClaimStatus.NOT_A_VERDICT_THREAD:
            return  # taken: the worker answers it after the response
        self.metrics.followup("duplicate")
        log.info("follow-up %s in %s: %s already", question.ts, question.channel, claim.status)

    def _unavailable(self, question: Question) -> None:
        self.metrics.followup("unavailable")
        if question.parent_is_bot:  # without Redis, the parent's author is all that says it is our thread
            self.worker.run_soon(self._say, job=question, kind="unavailable")

    def _park(self, question: Question, event_id: str, *, waited: float) -> None:
        delay = min(_PARK_MAX_DELAY, max(_PARK_FIRST_DELAY, waited))
        timer = threading.Timer(delay, self._retry_parked, args=(question, event_id, waited + delay))
        timer.daemon = True
        timer.start()

    def _retry_parked(self, question: Question, event_id: str, waited: float) -> None:
        """Claim a redelivered question again: nothing if it was answered before Redis went away, an answer if not,
        and "ask again" once Redis has been away for `park_seconds`."""
        try:
            claim = self.worker.submit(question, event_id=event_id, verdict_thread=question.thread_ts)
        except StoreUnavailable:
            if waited < self.park_seconds:
                self._park(question, event_id, waited=waited)
            else:
                log.error(
                    "follow-up %s in %s: Redis away for %.0f s; asked to ask again",
                    question.ts,
                    question.channel,
                    waited,
                )
                self._unavailable(question)
            return
        log.info("follow-up %s in %s claimed after %.1f s: %s", question.ts, question.channel, waited, claim.status)

    # After the response: answer, record, send, finish.

    def work(self, claim: Claim) -> None:
        """Do a claimed question, re-review, edit or answered question: answer and record it (unless a previous
        holder did), send the reply, mark it done."""
        if claim.outbox is not None:  # answered and recorded by a worker that stopped before sending, or after
            with self.worker.holding(claim):
                if self._sent_before(claim, claim.outbox):
                    log.info("%s in %s: its reply is in the thread already", claim.ref.key, claim.ref.channel)
                else:
                    self._send(claim.outbox)
            self.worker.finish(claim)
            return
        job = job_of(claim.payload or {})
        if not isinstance(job, Question | Review):
            log.error("claim %s in %s has no usable payload; dropped", claim.ref.key, claim.ref.channel)
            self.worker.finish(claim)
            return
        question = isinstance(job, Question)
        try:
            with self.worker.holding(claim):
                outbox, outcome = self._attempt(claim, job)
                if outbox is not None:
                    self._send(outbox)
        except ClaimLost:
            log.warning("%s in %s was taken over by another worker", claim.ref.key, claim.ref.channel)
            return
        except StoreUnavailable as exc:
            # Nothing was written: the claim stays, its lease runs out and the sweeper tries again.
            log.error("%s in %s: Redis: %s; will retry", claim.ref.key, claim.ref.channel, exc.kind)
            if question:
                self.metrics.followup("retrying")
            if claim.attempts == 1:
                self._say(job=job, kind="retrying")
            return
        if question:
            self.metrics.followup(outcome)
        self.worker.finish(claim)

    def _attempt(self, claim: Claim, job: Question | Review) -> tuple[dict[str, Any] | None, str]:
        """The reply to send for `job` (recorded first), or None; and what became of it, for the metrics."""
        if claim.attempts > MAX_ATTEMPTS:
            self._say(job=job, kind="failed", asked=job.text[:80] if isinstance(job, Question) else job.trigger)
            return None, "failed"
        outbox = self._answer(claim, job)
        return outbox, "answered" if outbox is not None else "silent"

    def _answer(self, claim: Claim, job: Question | Review) -> dict[str, Any] | None:
        """Answer the job and record the answer with its outbox; the outbox, or None for silence."""
        for _ in range(_CONFLICT_RETRIES):
            found = self._compute(job)
            if found is None:
                return None
            decision, answer = found
            outbox = self._outbox(job, decision, answer, key=claim.ref.key)
            try:
                self.worker.queue.record(
                    claim,
                    thread_ts=job.thread_ts,
                    conversation=answer.conversation,
                    outbox=outbox,
                    decision_id=decision.id,
                    version=answer.version,
                    versions_seen=len(decision.versions),
                )
            except ThreadChanged:
                continue
            except DecisionNotFound:
                return None
            if answer.version is not None and self.on_change is not None:
                self.worker.run_unslotted(self.on_change, workspace=job.workspace, user=decision.requester)
            return outbox
        raise ThreadChanged(f"thread {job.thread_ts} kept changing; gave up after {_CONFLICT_RETRIES} tries")

    def _compute(self, job: Question | Review) -> tuple[Decision, Answer] | None:
        """The decision and the answer to `job`, read afresh; None when there is nothing to say."""
        if isinstance(job, Review):
            decision = self.store.decision(workspace=job.workspace, channel=job.channel, decision_id=job.decision)
            if decision is None:
                return None  # expired meanwhile
            if job.trigger == Trigger.ANSWERED:
                # Read against the latest version now: a double click's second claim finds the answer recorded.
                answered = self.reviews.with_answer(job, decision)
                if answered is None:
                    return None
                job = answered
            if not self.reviews.allowed(job):
                log.info("re-review of %s by %s: within the cooldown", job.decision, job.user)
                if job.response_url:
                    minutes = math.ceil(self.reviews.cooldown.total_seconds() / 60)
                    respond(job.response_url, self.renderer.message("notice", kind="cooldown", minutes=minutes))
                return None
            return decision, self.reviews.answer(job, decision)
        decision = self.store.decision_for_thread(workspace=job.workspace, channel=job.channel, thread_ts=job.thread_ts)
        if decision is None:
            return None  # the decision expired meanwhile
        followup = parse_followup(job.text)
        if followup.intent is Intent.APPLY and not self.reviews.may_edit(job.user, decision, external=job.external):
            log.info("apply on %s by %s refused: may not change it (external: %s)", decision.id, job.user, job.external)
            self._tell_privately(job, self.reviews.refusal(decision, job.user, action="apply", external=job.external))
            return None
        conversation = self.threads.conversation(workspace=job.workspace, channel=job.channel, thread_ts=job.thread_ts)
        answer = answer_followup(
            ruleset=self.ruleset,
            decision=decision,
            conversation=conversation,
            followup=followup,
            user=job.user,
            text=job.text,
            mentioned=job.mentioned,
            now=datetime.now(UTC),
        )
        if answer is not None and answer.version is not None:  # an applied what-if changed the decision
            answer.context["reviewers"] = self.reviews.mentions(decision.workspace, decision.channel)
        return (decision, answer) if answer is not None else None

    def _outbox(self, job: Question | Review, decision: Decision, answer: Answer, *, key: str) -> dict[str, Any]:
        """The Web API calls that deliver `answer`: the thread reply, and for a new version the verdict's update
        (with the reply to send instead if the update fails, which must not say the message shows the new version);
        and who asked, to be told if the reply cannot be posted. The replies are tagged with the work's `key`, so
        that a worker taking the work over can see whether it was sent."""
        renderer = self.renderer
        where = {"channel": job.thread_channel, "thread_ts": job.thread_ts, "metadata": tag(REPLY_EVENT, work=key)}
        in_dm = is_direct_message(job.thread_channel)
        reply = {**where, **renderer.message("followup", kind=answer.kind, in_dm=in_dm, **answer.context)}
        update = stale_reply = None
        if answer.verdict is not None and answer.version is not None and decision.delivery.ts is not None:
            decided = Decided(decision, answer.verdict)
            version = {
                "number": len(decision.versions) + 1,
                "trigger": answer.version.trigger.value,
                "by": answer.version.by,
            }
            message = renderer.message(
                "verdict",
                report=decided.report,
                step=decided.step,
                decision={"id": decision.id, "requester": decision.requester, "source": decision.source},
                version=version,
            )
            update = {"channel": decision.delivery.channel or job.thread_channel, "ts": decision.delivery.ts, **message}
            stale = renderer.message("followup", kind=answer.kind, verdict_updated=False, in_dm=in_dm, **answer.context)
            stale_reply = {**where, **stale}
        return {"reply": reply, "update": update, "stale_reply": stale_reply, "asker": job.user}

    def _sent_before(self, claim: Claim, outbox: dict[str, Any]) -> bool:
        """Whether the reply of `outbox` is in its thread already: its worker posted it, then could not mark the
        work done (Redis away for longer than `work_finish_seconds`)."""
        reply = outbox["reply"]
        if not isinstance(reply.get("metadata"), dict):  # recorded before replies were tagged
            return False
        found = find_posted(
            self.client, reply["channel"], REPLY_EVENT, thread_ts=reply["thread_ts"], work=claim.ref.key
        )
        return found is not None

    def _send(self, outbox: dict[str, Any]) -> None:
        client = self.client
        reply = outbox["reply"]
        if outbox.get("update"):
            try:
                client.chat_update(**outbox["update"])
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.warning("verdict message not updated: %s", error_code(exc))
                reply = outbox.get("stale_reply") or reply
        try:
            client.chat_postMessage(unfurl_links=False, unfurl_media=False, **reply)
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = error_code(exc)
            log.warning("follow-up reply not posted: %s", error)
            if outbox.get("asker"):
                self._tell_asker(reply, user=outbox["asker"], error=error)

    def _tell_asker(self, reply: dict[str, Any], *, user: str, error: str) -> None:
        """Say privately, in the thread, that the answer could not be posted: otherwise the person just waits."""
        in_dm = is_direct_message(reply["channel"])
        message = self.renderer.message("followup", kind="not-posted", error=error, in_dm=in_dm)
        try:
            self.client.chat_postEphemeral(channel=reply["channel"], user=user, thread_ts=reply["thread_ts"], **message)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.error("follow-up reply not posted, and %s not told either: %s", user, error_code(exc))

    def _tell_privately(self, job: Question, message: dict[str, Any]) -> None:
        """A reply only the asker sees, in the thread (a refusal: the others need not read it)."""
        try:
            self.client.chat_postEphemeral(
                channel=job.thread_channel, user=job.user, thread_ts=job.thread_ts, text=message["text"]
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("private reply to %s not posted: %s", job.user, error_code(exc))

    def _say(self, *, job: Question | Review, kind: str, **context: Any) -> None:
        """A reply that needs no stored state: storage unavailable, answer delayed, or given up on."""
        message = self.renderer.message("followup", kind=kind, in_dm=is_direct_message(job.thread_channel), **context)
        self._send({"reply": {"channel": job.thread_channel, "thread_ts": job.thread_ts, **message}, "asker": job.user})
