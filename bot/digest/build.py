"""What a channel's digest says about one period: pure functions from stored decisions and the loaded rules.

`build_digest` reads the period from the channel's activity log (one range query; see `bot.store.activity`) and
returns a `Digest`: the decisions made, counted by verdict and next step; every later version written in the
period (re-reviews, edits, changes in the thread, answered questions) and whether it flipped the verdict; and the
channel's decisions (of any week still kept) whose latest verdict was reached under other rules and that the rules
loaded now would decide differently.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import ValidationError

from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from bot.schedule import Period
from bot.store import Decision, DecisionStore, DeliveryStatus
from bot.store.activity import VersionRow

__all__ = ["BAR_WIDTH", "TREND_WEEKS", "Change", "Digest", "Drift", "Entry", "bar", "build_digest", "sparkline"]

log = logging.getLogger(__name__)

# How many earlier periods the trend line shows, and how wide the per-verdict bars are.
TREND_WEEKS = 4
BAR_WIDTH = 12
_SPARKS = "▁▂▃▄▅▆▇█"
VERDICT_ORDER = ("fine-tune", "dont-fine-tune")

Links = Callable[[str, str], str | None]  # (the verdict's channel, its ts) -> a permalink


class Entry(NamedTuple):
    """A decision made in the period, as it stood at the period's end."""

    id: str
    use_case: str
    requester: str
    verdict: str
    next_step: str
    next_step_title: str
    created: int  # epoch seconds
    versions: int
    link: str | None


class Change(NamedTuple):
    """A version after the first, written in the period: a re-review, an edit, a change in the thread or an answered
    question."""

    id: str
    use_case: str
    number: int
    by: str
    trigger: str
    at: int
    verdict_before: str
    step_before: str
    verdict: str
    next_step_title: str
    link: str | None

    @property
    def flipped(self) -> bool:
        """Whether the verdict itself changed (not only the next step)."""
        return self.verdict != self.verdict_before

    @property
    def moved(self) -> bool:
        """Whether the next step changed."""
        return self.next_step_title != self.step_before


class Drift(NamedTuple):
    """A decision decided under other rules that the rules loaded now would decide differently."""

    id: str
    use_case: str
    verdict: str
    next_step_title: str
    ruleset_version: str
    now_verdict: str
    now_next_step_title: str
    link: str | None


@dataclass(frozen=True, slots=True)
class Digest:
    """One channel's digest for one period."""

    workspace: str
    channel: str
    period: Period
    decisions: list[Entry]
    changes: list[Change]
    drift: list[Drift]
    trend: list[int]  # decisions made in each earlier period, oldest first, then in this one
    ruleset_version: str
    verdicts: dict[str, int] = field(default_factory=dict)
    steps: list[tuple[str, int]] = field(default_factory=list)  # next-step titles by count, most common first

    @property
    def quiet(self) -> bool:
        """Nothing was decided or looked at again in the period."""
        return not self.decisions and not self.changes

    @property
    def flips(self) -> int:
        """How many of the period's changes flipped a verdict."""
        return sum(change.flipped for change in self.changes)


def build_digest(
    store: DecisionStore,
    ruleset: RuleSet,
    *,
    workspace: str,
    channel: str,
    period: Period,
    links: Links = lambda channel, ts: None,
) -> Digest:
    """The digest of `channel` for `period`, with links to verdict messages from `links(channel, ts)`."""
    rows = store.activity_between(workspace=workspace, channel=channel, start=period.start, end=period.end)
    titles = {step.value: info.title for step, info in ruleset.next_steps.items()}
    # One pass over the rows: a week can hold tens of thousands.
    first: dict[str, VersionRow] = {}
    last: dict[str, VersionRow] = {}
    later: list[VersionRow] = []
    posted: dict[str, tuple[str, str]] = {}
    for row in rows:
        # By number, not position: two versions written in the same microsecond sort by their text.
        if row.decision not in first or row.number < first[row.decision].number:
            first[row.decision] = row
        if row.decision not in last or row.number > last[row.decision].number:
            last[row.decision] = row
        if row.number > 1:
            later.append(row)
        if row.posted_channel and row.posted_ts:
            posted[row.decision] = (row.posted_channel, row.posted_ts)
    # Decisions made before the period and looked at again in it: their verdicts' places in one round trip.
    unlogged = [decision for decision in first if decision not in posted]
    for decision, delivery in store.deliveries(workspace=workspace, channel=channel, decision_ids=unlogged).items():
        if delivery.channel and delivery.ts:
            posted[decision] = (delivery.channel, delivery.ts)
    link = {decision: links(*where) for decision, where in posted.items()}

    entries = [
        Entry(
            row.decision,
            _use_case(row),
            row.requester or "",
            end.verdict,
            end.next_step,
            titles.get(end.next_step, end.next_step),
            int(row.at),
            end.number,
            link.get(row.decision),
        )  # positional, in Entry's field order: quicker, ten thousand times over
        for row in first.values()
        if row.number == 1 and (end := last[row.decision])
    ]
    changes = [_change(row, titles, link.get(row.decision)) for row in later]
    changes.sort(key=lambda change: (change.at, change.id, change.number))
    # Drift: any of the channel's kept decisions made before the period ended, not only the period's. A quiet
    # period posts nothing, so it is not looked for then.
    drift: list[Drift] = []
    if entries or changes:
        for kept in store.stale(workspace=workspace, channel=channel, ruleset_sha256=ruleset.sha256):
            if kept.created_at >= period.end:
                continue
            where = link[kept.id] if kept.id in link else _posted_link(kept, links)
            if (found := _drift(kept, ruleset, titles, where)) is not None:
                drift.append(found)
    verdicts = Counter(entry.verdict for entry in entries)
    steps = Counter(entry.next_step_title for entry in entries)
    weeks = [(before.start, before.end) for before in period.weeks_before(TREND_WEEKS)]
    trend = store.count_created(workspace=workspace, channel=channel, periods=weeks)
    return Digest(
        workspace=workspace,
        channel=channel,
        period=period,
        decisions=entries,
        changes=changes,
        drift=drift,
        trend=[*trend, len(entries)],
        ruleset_version=ruleset.version,
        verdicts={verdict: verdicts[verdict] for verdict in [*VERDICT_ORDER, *sorted(verdicts)] if verdict in verdicts},
        steps=sorted(steps.items(), key=lambda item: (-item[1], item[0])),
    )


def _use_case(row: VersionRow) -> str:
    return row.use_case.strip() or "(no use case given)"


def _change(row: VersionRow, titles: dict[str, str], link: str | None) -> Change:
    before = row.verdict_before or row.verdict
    step_before = row.step_before or row.next_step
    return Change(
        id=row.decision,
        use_case=_use_case(row),
        number=row.number,
        by=row.by,
        trigger=row.trigger,
        at=int(row.at),
        verdict_before=before,
        step_before=titles.get(step_before, step_before),
        verdict=row.verdict,
        next_step_title=titles.get(row.next_step, row.next_step),
        link=link,
    )


def _posted_link(decision: Decision, links: Links) -> str | None:
    delivery = decision.delivery
    if delivery.status is DeliveryStatus.POSTED and delivery.channel and delivery.ts:
        return links(delivery.channel, delivery.ts)
    return None


def _drift(decision: Decision, ruleset: RuleSet, titles: dict[str, str], link: str | None) -> Drift | None:
    latest = decision.latest
    if latest.ruleset_sha256 == ruleset.sha256:  # re-reviewed under these rules since
        return None
    try:
        verdict = evaluate(ruleset, Answers.model_validate(latest.answers))
    except ValidationError:
        # Answers stored under an older form that today's engine no longer reads: nothing to compare.
        log.info("digest: the answers of decision %s no longer validate; not compared", decision.id)
        return None
    now_verdict, now_step = verdict.verdict.value, verdict.next_step.value
    if (now_verdict, now_step) == (latest.verdict, latest.next_step):
        return None
    use_case = str(decision.versions[0].answers.get("use_case") or "").strip() or "(no use case given)"
    return Drift(
        id=decision.id,
        use_case=use_case,
        verdict=latest.verdict,
        next_step_title=titles.get(latest.next_step, latest.next_step),
        ruleset_version=latest.ruleset_version,
        now_verdict=now_verdict,
        now_next_step_title=titles.get(now_step, now_step),
        link=link,
    )


def bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells, filled in proportion to count / most (at least one cell for any count above 0)."""
    if most <= 0 or count <= 0:
        return "░" * width
    filled = max(1, round(width * count / most))
    return "█" * filled + "░" * (width - filled)


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled to the largest."""
    most = max(values, default=0)
    if most == 0:
        return _SPARKS[0] * len(values)
    return "".join(_SPARKS[round((len(_SPARKS) - 1) * value / most)] for value in values)
