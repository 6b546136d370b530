"""A digest as Slack messages: everything in one message when it fits, else a summary and its thread.

Nothing is cut to fit: the detail is split into as many thread messages as it takes, each within Slack's limits
(50 blocks, 3,000 characters a section, about 12,000 characters in all). The summary is the template
`slack/digest.json.j2`; the rows (decisions, changes, drift) and the thread's messages are put together here, the one
place they are formatted, because a template loop over ten thousand rows takes three to four times as long (see
BENCHMARKS.md). Verdicts and triggers are named in the words of the templates that define them (`_verdicts.j2`,
`slack/_facts.j2`), each rendered once per digest.
"""

from __future__ import annotations

from typing import Any

from bot.digest.build import Change, Digest, Drift, Entry, bar, sparkline
from bot.slack import limits
from bot.slack.render import Renderer, escape_mrkdwn, mention, mrkdwn_link

__all__ = ["DETAIL_ROWS", "HEADINGS", "INLINE_ROWS", "TITLE_CHARS", "RowLines", "compose", "preview"]

# At most this many rows (decisions, changes, drifts) are listed in the summary message itself.
INLINE_ROWS = 24
# Rows tried per thread message (fewer when they would not fit), in sections of this many lines.
DETAIL_ROWS = 40
SECTION_LINES = 8
# How much of a use case a line shows, and of a next step's title or a rule set's version.
TITLE_CHARS = 70
NAME_CHARS = 40

# The heading of each kind of row, in the summary and in the thread.
HEADINGS = {
    "decisions": ":clipboard: *Decisions*",
    "changes": ":repeat: *Re-reviews, edits and answers*",
    "drift": ":warning: *Today's rules would decide these differently*",
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class RowLines:
    """Lines of mrkdwn for a digest's rows; every value escaped."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer
        # Verdicts and triggers in words, next-step titles and rule-set versions cut: a few, many times over.
        self._verdicts: dict[str, str] = {}
        self._done: dict[str, str] = {}
        self._names: dict[tuple[str, int], str] = {}

    def _verdict(self, verdict: str) -> str:
        found = self._verdicts.get(verdict)
        if found is None:
            found = self._verdicts[verdict] = escape_mrkdwn(self._renderer.macro("_verdicts.j2", "said", verdict))
        return found

    def _did(self, trigger: str) -> str:
        found = self._done.get(trigger)
        if found is None:
            found = self._done[trigger] = escape_mrkdwn(self._renderer.macro("slack/_facts.j2", "did", trigger))
        return found

    def _name(self, text: str, limit: int) -> str:
        found = self._names.get((text, limit))
        if found is None:
            found = self._names[(text, limit)] = escape_mrkdwn(_cut(text, limit))
        return found

    @staticmethod
    def _title(use_case: str, link: str | None) -> str:
        name = _cut(use_case, TITLE_CHARS)
        return mrkdwn_link(link, name) if link else escape_mrkdwn(name)

    def decisions(self, rows: list[Entry]) -> list[str]:
        """One line per decision made."""
        return [
            f"• *{self._title(row.use_case, row.link)}* · {mention(row.requester)} · *{self._verdict(row.verdict)}*,"
            f" next step {self._name(row.next_step_title, 60)}{f' · v{row.versions}' if row.versions > 1 else ''}"
            for row in rows
        ]

    def changes(self, rows: list[Change]) -> list[str]:
        """One line per re-review, edit or change in a thread."""
        lines = []
        for row in rows:
            if row.flipped:
                before, after = self._verdict(row.verdict_before), self._verdict(row.verdict)
                what = f":arrows_counterclockwise: *flipped*: {before} → *{after}*"
            elif row.moved:
                before, after = self._name(row.step_before, NAME_CHARS), self._name(row.next_step_title, NAME_CHARS)
                what = f"next step {before} → *{after}*"
            else:
                what = f"unchanged: *{self._verdict(row.verdict)}*"
            title = self._title(row.use_case, row.link)
            lines.append(f"• {title}: v{row.number} {self._did(row.trigger)} by {mention(row.by)} · {what}")
        return lines

    def drift(self, rows: list[Drift]) -> list[str]:
        """One line per decision today's rules would decide differently."""
        return [
            f"• {self._title(row.use_case, row.link)}: *{self._verdict(row.verdict)}*"
            f" ({self._name(row.next_step_title, NAME_CHARS)}) under rule set {self._name(row.ruleset_version, 30)};"
            f" now *{self._verdict(row.now_verdict)}* ({self._name(row.now_next_step_title, NAME_CHARS)})"
            for row in rows
        ]

    def all(self, digest: Digest) -> dict[str, list[str]]:
        """Every row of `digest` as lines, by kind."""
        return {
            "decisions": self.decisions(digest.decisions),
            "changes": self.changes(digest.changes),
            "drift": self.drift(digest.drift),
        }


def _context(renderer: Renderer, digest: Digest, schedule: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "digest": digest,
        "headings": HEADINGS,
        "bar": bar,
        "sparkline": sparkline,
        "schedule": schedule,
        "lines": RowLines(renderer).all(digest),
        "preview": False,
        **extra,
    }


def _rows(digest: Digest) -> int:
    return len(digest.decisions) + len(digest.changes) + len(digest.drift)


def compose(renderer: Renderer, digest: Digest, *, schedule: str | None) -> list[dict[str, Any]]:
    """The messages to post, in order: the summary (to the channel), then the thread's messages, if any."""
    context = _context(renderer, digest, schedule)
    if _rows(digest) <= INLINE_ROWS:
        whole = renderer.message_if_fits("digest", inline=True, **context)
        if whole is not None:
            return [whole]
    messages = [renderer.message("digest", inline=False, **context)]
    for kind, lines in context["lines"].items():
        messages += _details(renderer, kind, lines)
    return messages


def preview(renderer: Renderer, digest: Digest, *, schedule: str | None) -> dict[str, Any]:
    """The summary alone, as an ephemeral reply: everything when it fits, else counts and a word on the thread."""
    context = _context(renderer, digest, schedule, preview=True)
    if _rows(digest) <= INLINE_ROWS:
        whole = renderer.message_if_fits("digest", inline=True, **context)
        if whole is not None:
            return whole
    return renderer.message("digest", inline=False, **context)


def _details(renderer: Renderer, kind: str, lines: list[str]) -> list[dict[str, Any]]:
    """Thread messages listing `lines`, as many to a message as fit. Put together here rather than in a template:
    a ten-thousand-decision week has hundreds of them."""
    hint = None
    if kind == "drift":
        hint = f"React with :{renderer.rereview_emoji}: on a verdict to re-review it under the rules loaded now."
    messages: list[dict[str, Any]] = []
    start = 0
    while start < len(lines):
        size = min(DETAIL_ROWS, len(lines) - start)
        while True:
            shown = lines[start : start + size]
            head = HEADINGS[kind]
            if size < len(lines):
                head += f" ({start + 1}\u2013{start + size} of {len(lines)})"  # an en dash
            message = _detail(head, shown, hint)
            if limits.fits_message(message):
                break
            if size == 1:  # every line is bounded in length, so one always fits; never loop on a formatting bug
                raise ValueError(f"a single {kind} line of the digest does not fit in a Slack message")
            size = max(1, size // 2)
        messages.append(message)
        start += size
    return messages


def _text(text: str) -> dict[str, Any]:
    # verbatim, as for every rendered message (see bot.slack.render): a typed @channel stays text
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _detail(heading: str, lines: list[str], hint: str | None) -> dict[str, Any]:
    sections = [lines[i : i + SECTION_LINES] for i in range(0, len(lines), SECTION_LINES)]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _text((f"{heading}\n" if i == 0 else "") + "\n".join(group))}
        for i, group in enumerate(sections)
    ]
    if hint is not None:
        blocks.append({"type": "context", "elements": [_text(hint)]})
    return {"text": heading, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
