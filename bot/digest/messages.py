"""A digest as Slack messages: everything in one message when it fits, else a summary and its thread.

Nothing is cut to fit: the detail is split into as many thread messages as it takes, each within Slack's limits
(50 blocks, 3,000 characters a section, about 12,000 characters in all). Rows become lines here, from the patterns
in `templates/slack/_digest_rows.j2`, because a template loop over ten thousand rows is too slow.
"""

from __future__ import annotations

from typing import Any

from bot.digest.build import Change, Digest, Drift, Entry, bar, sparkline
from bot.slack import limits
from bot.slack.render import Renderer, escape_mrkdwn, mention, mrkdwn_link

__all__ = ["DETAIL_ROWS", "INLINE_ROWS", "TITLE_CHARS", "RowLines", "compose", "preview"]

# At most this many rows (decisions, changes, drifts) are listed in the summary message itself.
INLINE_ROWS = 24
# Rows tried per thread message (fewer when they would not fit), in sections of this many lines.
DETAIL_ROWS = 40
SECTION_LINES = 8
# How much of a use case a line shows, and of a next step's title or a rule set's version.
TITLE_CHARS = 70
NAME_CHARS = 40


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class RowLines:
    """Lines of mrkdwn for a digest's rows, from the template's patterns; every value escaped."""

    def __init__(self, renderer: Renderer) -> None:
        exported = renderer.exports("_digest_rows")
        self._patterns: dict[str, str] = exported["patterns"]
        self._verdicts = {key: escape_mrkdwn(words) for key, words in exported["verdict_words"].items()}
        self._done: dict[str, str] = exported["done_words"]
        self._names: dict[tuple[str, int], str] = {}  # next-step titles and rule-set versions: a few, many times

    def _verdict(self, verdict: str) -> str:
        return self._verdicts.get(verdict) or escape_mrkdwn(verdict)

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
        pattern, versions = self._patterns["decisions"], self._patterns["versions"]
        return [
            pattern.format(
                title=self._title(row.use_case, row.link),
                requester=mention(row.requester),
                verdict=self._verdict(row.verdict),
                next_step=self._name(row.next_step_title, 60),
                versions=versions.format(number=row.versions) if row.versions > 1 else "",
            )
            for row in rows
        ]

    def changes(self, rows: list[Change]) -> list[str]:
        """One line per re-review, edit or change in a thread."""
        lines = []
        for row in rows:
            if row.flipped:
                what = self._patterns["flipped"].format(
                    before=self._verdict(row.verdict_before), after=self._verdict(row.verdict)
                )
            elif row.moved:
                what = self._patterns["moved"].format(
                    before=self._name(row.step_before, NAME_CHARS),
                    after=self._name(row.next_step_title, NAME_CHARS),
                )
            else:
                what = self._patterns["unchanged"].format(after=self._verdict(row.verdict))
            lines.append(
                self._patterns["changes"].format(
                    title=self._title(row.use_case, row.link),
                    number=row.number,
                    done=escape_mrkdwn(self._done.get(row.trigger, row.trigger)),
                    by=mention(row.by),
                    what=what,
                )
            )
        return lines

    def drift(self, rows: list[Drift]) -> list[str]:
        """One line per decision today's rules would decide differently."""
        return [
            self._patterns["drift"].format(
                title=self._title(row.use_case, row.link),
                verdict=self._verdict(row.verdict),
                next_step=self._name(row.next_step_title, NAME_CHARS),
                ruleset=self._name(row.ruleset_version, 30),
                now_verdict=self._verdict(row.now_verdict),
                now_next_step=self._name(row.now_next_step_title, NAME_CHARS),
            )
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
        "d": digest,
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
    exported = renderer.exports("_digest_rows")
    heading: str = exported["headings"][kind]
    hint = exported["drift_hint"].format(emoji=renderer.rereview_emoji) if kind == "drift" else None
    messages: list[dict[str, Any]] = []
    start = 0
    while start < len(lines):
        size = min(DETAIL_ROWS, len(lines) - start)
        while True:
            shown = lines[start : start + size]
            head = heading
            if size < len(lines):
                head += exported["range_pattern"].format(first=start + 1, last=start + size, total=len(lines))
            message = _detail(head, shown, hint)
            if limits.fits_message(message):
                break
            if size == 1:  # every line is bounded in length, so one always fits; never loop on a pattern bug
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
