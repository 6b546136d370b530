"""Each person's Home tab: their recent decisions, the questions waiting for their answer, the channels they decide
in with each one's digest schedule, and a button for a new decision. Published with `views.publish` when they open
the tab, and again whenever one of their decisions changes."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.engine.advice import open_questions
from bot.engine.answers import FACTS, Answers
from bot.engine.ruleset import NextStep, RuleSet
from bot.engine.verdict import evaluate
from bot.schedule import Schedule
from bot.slack.api import error_code
from bot.slack.render import Renderer
from bot.store import Decision, DecisionStore, StoreUnavailable

log = logging.getLogger(__name__)

# How many of the person's decisions are read, and how many of them are listed (the rest are counted): the view
# stays far below Slack's 100 blocks, and the permalinks (one Web API call each) few.
READ = 20
SHOWN = 10
WAITING = 5
LINKS = 10_000
# How long after opening their Home tab a person's changes keep publishing it.
KEEP_UP = timedelta(days=30)


class Home:
    """Builds and publishes Home tabs."""

    def __init__(
        self,
        *,
        store: DecisionStore,
        ruleset: RuleSet,
        renderer: Renderer,
        client: WebClient,
        schedule: Callable[[str, str], Schedule],
    ) -> None:
        self.store = store
        self.ruleset = ruleset
        self.renderer = renderer
        self.client = client
        self.schedule = schedule  # a channel's digest schedule, by workspace and channel
        # Permalinks never change: each is asked for once per process (the newest LINKS kept).
        self._links: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()  # Home tabs are published on several worker threads

    def opened(self, *, workspace: str, user: str) -> None:
        """`user` opened their Home tab: publish it, and keep it up to date for KEEP_UP from now."""
        try:
            self.store.people.opened_home(workspace=workspace, user=user, ttl=KEEP_UP)
        except StoreUnavailable as exc:
            log.warning("home of %s: not kept up to date: Redis: %s", user, exc.kind)
        self.publish(workspace=workspace, user=user)

    def changed(self, *, workspace: str, user: str) -> None:
        """One of `user`'s decisions was posted or changed: publish their Home tab again, if they have opened it
        (someone who never did gets a fresh one when they do, and Slack is spared the calls)."""
        try:
            kept = self.store.people.has_home(workspace=workspace, user=user)
        except StoreUnavailable as exc:
            log.warning("home of %s: not refreshed: Redis: %s", user, exc.kind)
            return
        if kept:
            self.publish(workspace=workspace, user=user)

    def publish(self, *, workspace: str, user: str) -> None:
        """Publish `user`'s Home tab; a failure is logged (the tab keeps its last view)."""
        try:
            view = self.view(workspace=workspace, user=user)
        except StoreUnavailable as exc:
            log.error("home of %s: Redis: %s", user, exc.kind)
            view = self.renderer.view("home", unavailable=True, decisions=[], waiting=[], channels=[], more=0)
        try:
            self.client.views_publish(user_id=user, view=view)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("home of %s not published: %s", user, error_code(exc))

    def view(self, *, workspace: str, user: str) -> dict[str, Any]:
        """The Home view of `user`: what `templates/slack/home.json.j2` shows."""
        refs, total = self.store.people.recent(workspace=workspace, user=user, limit=READ)
        by_channel: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            by_channel[ref.channel].append(ref.decision)
        found = [
            decision
            for channel, ids in by_channel.items()
            for decision in self.store.decisions(workspace=workspace, channel=channel, decision_ids=ids)
            if decision is not None
        ]
        found.sort(key=lambda decision: decision.created_at, reverse=True)
        ruleset = self.ruleset
        rows = [self._row(decision, ruleset) for decision in found]
        waiting = [row for row in rows if row["questions"]][:WAITING]
        for row in [*rows[:SHOWN], *waiting]:
            row.setdefault("link", self._permalink(row["delivery"]))
        channels = [
            {"id": channel, "schedule": self.schedule(workspace, channel).describe()}
            for channel in dict.fromkeys(decision.channel for decision in found)
        ]
        return self.renderer.view(
            "home", decisions=rows[:SHOWN], waiting=waiting, channels=channels, more=max(0, total - SHOWN)
        )

    def _row(self, decision: Decision, ruleset: RuleSet) -> dict[str, Any]:
        latest = decision.latest
        try:
            step = ruleset.next_steps.get(NextStep(latest.next_step))
        except ValueError:
            step = None
        verdict = evaluate(ruleset, Answers.model_validate(latest.answers))
        questions = [FACTS[question.fact].question for question in open_questions(verdict) if question.fact in FACTS]
        return {
            "use_case": latest.answers.get("use_case") or "(no use case given)",
            "channel": decision.channel,
            "verdict": latest.verdict,
            "step": step.title if step is not None else None,
            "version": len(decision.versions),
            "created": int(decision.created_at.timestamp()),
            "created_text": decision.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "questions": questions,
            "delivery": (decision.delivery.channel, decision.delivery.ts),
        }

    def _permalink(self, where: tuple[str | None, str | None]) -> str | None:
        channel, ts = where
        if not (channel and ts):
            return None
        with self._lock:
            known = self._links.get((channel, ts))
        if known is not None:
            return known
        link = self._ask_permalink(channel, ts)
        if link is not None:
            with self._lock:
                self._links[(channel, ts)] = link
                while len(self._links) > LINKS:
                    self._links.popitem(last=False)
        return link

    def _ask_permalink(self, channel: str, ts: str) -> str | None:
        try:
            found = self.client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("no permalink for %s in %s: %s", ts, channel, error_code(exc))
            return None
        return found if isinstance(found, str) and found.startswith("https://") else None
