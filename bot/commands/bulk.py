"""`should-finetune rereview`: re-review a channel's decisions in bulk, each posted in its thread, paced for Slack.

Each decision's re-review is claimed under a key naming the version it re-reviews and the rule set it uses, so a run
that is interrupted and started again, or two runs at once, re-review each decision once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.services import Services
from bot.slack.reviews import COMMAND_USER, review_of
from bot.store import Decision, Trigger

log = logging.getLogger(__name__)

_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
# Slack allows about one message a second in a channel; a re-review posts one and updates another.
DEFAULT_INTERVAL = 1.2


@dataclass
class BulkResult:
    """What a bulk re-review did, decision by decision."""

    reviewed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # reviewed, and the verdict or next step moved
    current: list[str] = field(default_factory=list)  # skipped with --changed-only: decided under the loaded rules
    unposted: list[str] = field(default_factory=list)  # skipped: the verdict never reached Slack, so no thread
    already: list[str] = field(default_factory=list)  # skipped: re-reviewed under these rules by another run
    failed: list[str] = field(default_factory=list)


def find_workspaces(services: Services, channel: str) -> list[str]:
    """The workspaces that have decisions in a channel with this id."""
    return [workspace for workspace, found in services.store.channels_with_decisions() if found == channel]


def rereview_channel(
    services: Services,
    *,
    workspace: str,
    channel: str,
    changed_only: bool = False,
    by: str = COMMAND_USER,
    interval: float = DEFAULT_INTERVAL,
    progress: Callable[[str], None] = lambda line: None,
) -> BulkResult:
    """Re-review every decision kept for the channel, oldest first, waiting `interval` seconds between two."""
    ruleset = services.decisions.ruleset
    result = BulkResult()
    decisions = services.store.decisions_between(
        workspace=workspace, channel=channel, start=_EPOCH_START, end=_FAR_FUTURE
    )
    last_post = 0.0
    for decision in decisions:
        latest = decision.latest
        if changed_only and latest.ruleset_sha256 == ruleset.sha256:
            result.current.append(decision.id)
            continue
        key = f"bulk.{decision.id}.v{latest.number}.{ruleset.sha256[:16]}"
        review = review_of(decision, user=by, trigger=Trigger.RE_REVIEW, source="command", key=key)
        if review is None:
            result.unposted.append(decision.id)
            progress(f"{decision.id}: skipped, its verdict was never posted")
            continue
        claim = services.worker.claim(review)
        if not claim.held:
            result.already.append(decision.id)
            progress(f"{decision.id}: skipped, already re-reviewed under these rules")
            continue
        time.sleep(max(0.0, last_post + interval - time.monotonic()))
        last_post = time.monotonic()
        services.worker.run(claim)
        _tally(services, decision, result, progress)
    return result


def _tally(services: Services, before: Decision, result: BulkResult, progress: Callable[[str], None]) -> None:
    after = services.store.decision(workspace=before.workspace, channel=before.channel, decision_id=before.id)
    if after is None or len(after.versions) <= len(before.versions):
        result.failed.append(before.id)
        progress(f"{before.id}: FAILED, no new version was recorded (see the log)")
        return
    result.reviewed.append(before.id)
    old, new = before.latest, after.latest
    moved = (old.verdict, old.next_step) != (new.verdict, new.next_step)
    if moved:
        result.changed.append(before.id)
    change = f"{old.verdict}/{old.next_step} -> {new.verdict}/{new.next_step}" if moved else "unchanged"
    progress(f"{before.id}: version {new.number}, {change}")
