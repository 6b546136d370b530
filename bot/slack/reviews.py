"""Re-reviews, edits and answered questions over Slack: which reactions and buttons ask for one, who may edit, and
the work each becomes.

A request is claimed on the request path, like a follow-up, and done by `FollowUps.work` after the response: the new
version, the thread reply and the verdict message's update are recorded in one atomic step, then sent, so a crash,
a redelivered event or a double click gives one re-review (or one recorded answer).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.engine.answers import FACTS, Answers, AnswersError
from bot.engine.rulediff import load_snapshot, snapshot
from bot.engine.ruleset import RuleSet
from bot.followups.conversation import Answer
from bot.followups.review import answering, review_answer
from bot.metrics import Metrics
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.render import Renderer
from bot.store import Decision, DecisionStore, ThreadStore, Trigger
from bot.store.base import SLACK_ID, SLACK_TS
from bot.store.channels import ChannelSettingsStore
from bot.work import Review

log = logging.getLogger(__name__)

# Group memberships are looked up when someone edits; kept this long so a busy thread costs one call.
GROUP_CACHE_SECONDS = 60.0
# Who re-reviewed from the command line, when no member id is given.
COMMAND_USER = "cli"


@dataclass(frozen=True, slots=True)
class Reaction:
    """A `reaction_added` that may ask for a re-review: who reacted, on which message."""

    workspace: str
    channel: str
    ts: str
    user: str
    event_ts: str


def reaction_from(
    event: dict[str, Any], *, workspace: object, bot_user_id: object, emoji: frozenset[str]
) -> Reaction | None:
    """The re-review request in a reaction event, or None: another emoji, a reaction on something other than a
    message, the bot's own reaction, `reaction_removed`, or a malformed event."""
    if event.get("type") != "reaction_added":
        return None
    name = event.get("reaction")
    if not isinstance(name, str) or name.split("::", 1)[0] not in emoji:  # "+1::skin-tone-2" is "+1"
        return None
    item = event.get("item")
    if not isinstance(item, dict) or item.get("type") != "message":
        return None
    user = _matching(event.get("user"), SLACK_ID)
    channel, ts = _matching(item.get("channel"), SLACK_ID), _matching(item.get("ts"), SLACK_TS)
    event_ts, team = _matching(event.get("event_ts"), SLACK_TS), _matching(workspace, SLACK_ID)
    if not (user and channel and ts and event_ts and team) or user == bot_user_id:
        return None
    return Reaction(team, channel, ts, user, event_ts)


def _matching(value: object, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def from_another_organisation(
    *, user_team: object, workspace: str, ext_shared: object = None, org: object = None, user_org: object = None
) -> bool:
    """Whether a person acting on one of `workspace`'s decisions is from another organisation: a Slack Connect
    partner in a shared channel. They may ask questions and request re-reviews, never change answers.

    - `user_team`: the person's own workspace (or, in some Slack Connect events, their Enterprise Grid org), as the
      payload gives it: `user_team`/`team` of a message event, `user.team_id` of a click or a submission.
    - `ext_shared`: the event envelope's `is_ext_shared_channel`; clicks and submissions do not say (None).
    - `org`: this installation's Enterprise Grid org (`authorizations[0].enterprise_id` of an event), if any.
    - `user_org`: the person's side's Grid org (an event's `enterprise_id`, a click's `enterprise.id`), if any.

    A channel Slack says is not shared outside the org holds only colleagues. Otherwise, someone whose workspace (or
    org) is not this one counts as from elsewhere; so does someone whose team a shared channel's event leaves out."""
    if ext_shared is False:
        return False
    team = _matching(user_team, SLACK_ID)
    if team is None:
        return ext_shared is True
    if team == workspace:
        return False
    our_org = _matching(org, SLACK_ID)
    return our_org is None or our_org not in {team, user_org}


def enterprise_of(body: dict[str, Any]) -> object:
    """The Enterprise Grid org of an interaction payload, if Slack gave one (`enterprise.id`, or the team's)."""
    enterprise, team = body.get("enterprise"), body.get("team")
    if isinstance(enterprise, dict) and enterprise.get("id"):
        return enterprise.get("id")
    return team.get("enterprise_id") if isinstance(team, dict) else None


def review_of(decision: Decision, *, user: str, trigger: Trigger, source: str, key: str, **extra: Any) -> Review | None:
    """The review of `decision` requested by `user`; None when its verdict was never posted (no thread to reply in)."""
    delivery = decision.delivery
    if delivery.channel is None or delivery.ts is None:
        return None
    return Review(
        workspace=decision.workspace,
        channel=decision.channel,
        decision=decision.id,
        thread_channel=delivery.channel,
        thread_ts=delivery.ts,
        user=user,
        trigger=trigger.value,
        source=source,
        key=key,
        **extra,
    )


class Reviews:
    """Re-reviews and edits: who may edit, the cooldown, and the answer a claimed review gets."""

    def __init__(
        self,
        *,
        store: DecisionStore,
        threads: ThreadStore,
        ruleset: RuleSet,
        renderer: Renderer,
        client: WebClient,
        reviewers: list[str],
        emoji: list[str],
        cooldown: timedelta,
        metrics: Metrics | None = None,
        channels: ChannelSettingsStore | None = None,
    ) -> None:
        self.store = store
        self.threads = threads
        self.ruleset = ruleset
        self.renderer = renderer
        self.client = client
        self.reviewers = tuple(reviewers)  # the default: channels that did not name their own
        self.channels = channels  # each channel's own reviewers; None: every channel has the default
        self.emoji = frozenset(emoji)
        self.cooldown = cooldown
        self.metrics = metrics if metrics is not None else Metrics(process=False)
        self.snapshot = snapshot(ruleset)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # guards both caches

    def remember_rules(self) -> None:
        """Keep the loaded rule set's snapshot, so later rule sets can be compared with it (at start-up)."""
        self.store.remember_ruleset(self.ruleset.sha256, json.dumps(self.snapshot, separators=(",", ":")))

    def _snapshot_of(self, sha256: str) -> dict[str, Any] | None:
        """The snapshot of an earlier rule set, from Redis once per process (a hash always names the same rules)."""
        found = self._snapshots.get(sha256)
        if found is None:
            found = load_snapshot(self.store.ruleset_snapshot(sha256))
            if found is not None:
                with self._lock:
                    self._snapshots[sha256] = found
        return found

    def reviewers_of(self, workspace: str, channel: str) -> tuple[str, ...]:
        """The channel's reviewers: its own when it named them (none, if it cleared them), else the default.
        `StoreUnavailable` when Redis does not answer."""
        if self.channels is None:
            return self.reviewers
        own = self.channels.get(workspace=workspace, channel=channel).reviewers
        return self.reviewers if own is None else own

    def mentions(self, workspace: str, channel: str) -> list[str]:
        """The channel's reviewers as mentions: `<@U…>` for people, `<!subteam^S…>` for user groups."""
        return as_mentions(self.reviewers_of(workspace, channel))

    # Who may edit

    def may_edit(self, user: str, decision: Decision, *, external: bool = False) -> bool:
        """Whether `user` may change the decision's answers (edit them, apply what-ifs, answer its open questions):
        its requester, one of its channel's reviewers, or a reviewer group's member; never someone from another
        organisation."""
        if external:
            return False
        if user == decision.requester:
            return True
        return self.is_among(user, self.reviewers_of(decision.workspace, decision.channel))

    def is_among(self, user: str, reviewers: tuple[str, ...]) -> bool:
        """Whether `user` is one of `reviewers` or a member of one of its user groups (`usergroups.users.list`)."""
        if user in reviewers:
            return True
        return any(user in self._members(group) for group in reviewers if group.startswith("S"))

    def refusal(self, decision: Decision, user: str, *, action: str, external: bool) -> dict[str, Any]:
        """The private notice for `user`, who may not `action` ("edit", "answer" or "apply") the decision: who can,
        and what they can do instead."""
        requester = None if external and user == decision.requester else decision.requester
        reviewers = self.mentions(decision.workspace, decision.channel)
        return self.renderer.message(
            "notice", kind="refused", action=action, external=external, requester=requester, reviewers=reviewers
        )

    def _members(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(group)
        if cached is not None and now - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            users = self.client.usergroups_users_list(usergroup=group).get("users")
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("members of reviewer group %s not known: %s", group, error_code(exc))
            return cached[1] if cached is not None else frozenset()
        members = frozenset(u for u in users if isinstance(u, str)) if isinstance(users, list) else frozenset()
        with self._lock:
            self._groups[group] = (now, members)
        return members

    # Claimed work

    def allowed(self, review: Review) -> bool:
        """Whether the cooldown lets this review go ahead (it always does for a retry of the same request)."""
        if not review.gated or self.cooldown <= timedelta(0):
            return True
        held = self.threads.hold_cooldown(
            workspace=review.workspace,
            channel=review.channel,
            name=f"rereview.{review.decision}.{review.user}",
            holder=review.key,
            ttl=self.cooldown,
        )
        if not held:
            self.metrics.rereview_cooldown()
        return held

    def with_answer(self, review: Review, decision: Decision) -> Review | None:
        """An answered question's review against `decision` as it is stored now: its answers are the latest version's
        with the question's fact set. None when there is nothing to record, and the clicker hears why (privately):
        the latest version has that answer already (a double click, or an old button), or it contradicts another
        stored answer."""
        fact, value = review.fact, review.value
        if fact is None or fact not in FACTS:
            log.error("answer to %s: no usable question in the claim", review.decision)
            return None
        latest = decision.latest
        note: dict[str, Any] | None = None
        answers: dict[str, Any] | None = None
        if latest.answers.get(fact) == value:
            note = {"kind": "answer-already", "answer": value, "number": latest.number}
        else:
            try:
                answers = answering(latest.answers, fact, value)
            except AnswersError as exc:
                note = {"kind": "answer-contradicts", "answer": value, "problems": exc.problems}
        if answers is None:
            log.info("answer to %s by %s not recorded: %s", review.decision, review.user, note and note["kind"])
            if review.response_url and note is not None:
                notice = self.renderer.message("notice", fact=fact, question=FACTS[fact].question, **note)
                respond(review.response_url, notice)
            return None
        return replace(review, answers=answers)

    def answer(self, review: Review, decision: Decision) -> Answer:
        """The re-review, edit or answered question of `decision`, evaluated under the rules loaded now."""
        latest = decision.latest
        old = None if latest.ruleset_sha256 == self.ruleset.sha256 else self._snapshot_of(latest.ruleset_sha256)
        conversation = self.threads.conversation(
            workspace=review.workspace, channel=review.channel, thread_ts=review.thread_ts
        )
        answer = review_answer(
            ruleset=self.ruleset,
            snapshot=self.snapshot,
            old_snapshot=old,
            decision=decision,
            conversation=conversation,
            user=review.user,
            trigger=Trigger(review.trigger),
            answers=Answers.model_validate(review.answers) if review.answers is not None else None,
            now=datetime.now(UTC),
            question=review.fact if review.trigger == Trigger.ANSWERED else None,
        )
        diff = answer.context["diff"]
        changed = diff["verdict_changed"] or diff["next_step_changed"]
        # A bulk re-review asks people to look only where the verdict moved; a person's request always does.
        wanted = review.source != "command" or changed
        answer.context["reviewers"] = self.mentions(review.workspace, review.channel) if wanted else []
        self.metrics.rereview(trigger=review.trigger, source=review.source, changed=bool(changed))
        return answer


def as_mentions(reviewers: tuple[str, ...] | list[str]) -> list[str]:
    """Reviewers as mentions: `<@U…>` for people, `<!subteam^S…>` for user groups."""
    return [f"<!subteam^{r}>" if r.startswith("S") else f"<@{r}>" for r in reviewers]
