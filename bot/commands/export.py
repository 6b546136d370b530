"""`should-finetune export`: a channel's decisions with every version, as JSON lines or CSV, for notebooks and BI tools.

Reading (`read`) goes through the store only; the rest is pure: `decision_object` is a decision as one JSON object
(its versions nested, answers as stored), `version_rows` its versions as flat CSV rows (one column per fact of
`FACTS`, in the facts' order). Every text cell of the CSV is guarded against formula injection (`cell`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal, TextIO

from bot.cli_answers import InputError
from bot.engine.answers import FACTS
from bot.store import Decision, DecisionStore, Version
from bot.store.base import SLACK_ID

__all__ = [
    "COLUMNS",
    "Export",
    "Format",
    "cell",
    "check_ids",
    "decision_object",
    "parse_since",
    "read",
    "version_rows",
    "write",
    "write_csv",
    "write_jsonl",
]

Format = Literal["jsonl", "csv"]

_DECISION_COLUMNS = (
    "decision_id",
    "workspace",
    "channel",
    "requester",
    "created_at",
    "source",
    "delivery_status",
    "delivery_channel",
    "delivery_ts",
    "delivery_error",
    "delivery_at",
)
_VERSION_COLUMNS = ("version", "version_at", "by", "trigger")
_OUTCOME_COLUMNS = ("verdict", "next_step", "decided_by", "fired", "ruleset_version", "ruleset_sha256")
COLUMNS: tuple[str, ...] = (*_DECISION_COLUMNS, *_VERSION_COLUMNS, *FACTS, *_OUTCOME_COLUMNS)
"""The CSV's header: the decision, the version, one column per fact (its id), then the outcome."""
if len(set(COLUMNS)) != len(COLUMNS):  # a fact named like a fixed column would silently shadow it
    raise RuntimeError(f"a fact's id clashes with a column of the export: {sorted(FACTS)}")

# OWASP's CSV injection advice: a spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BOM = "\ufeff"


@dataclass(frozen=True)
class Export:
    """What an export read: the channel, the workspace it was found in, and its decisions, oldest first."""

    workspace: str
    channel: str
    decisions: list[Decision]

    @property
    def versions(self) -> int:
        """How many versions the decisions have in all."""
        return sum(len(decision.versions) for decision in self.decisions)


# Reading


def check_ids(*, channel: str, workspace: str | None) -> None:
    """An `InputError` unless `--channel` and `--workspace` (when given) are Slack ids, as `rereview` says it."""
    for name, value in (("channel", channel), ("workspace", workspace)):
        if value is not None and not SLACK_ID.fullmatch(value):
            raise InputError(f"--{name} {value}: expected a Slack id such as C0123ABCD (capital letters and digits)")


def parse_since(text: str) -> datetime:
    """`--since`: an ISO date (UTC midnight of that day) or an ISO date and time with a time zone, in UTC."""
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--since {text}: expected an ISO 8601 date such as 2026-11-01, or a time such as 2026-11-01T09:00Z"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise InputError(f"--since {text}: give a time zone, such as Z or +01:00 (or a date alone, for UTC midnight)")
    return when.astimezone(UTC)


def read(store: DecisionStore, *, channel: str, workspace: str | None, since: datetime | None) -> Export:
    """The channel's decisions created at or after `since` (all of them without it), oldest first, each with every
    version. Without `workspace`, the one workspace that has decisions in a channel with this id; an `InputError`
    when there is none or several. Redis failures raise the store's `StoreUnavailable`."""
    known = [found for found, kept in store.channels_with_decisions() if kept == channel]
    if workspace is None:
        if not known:
            raise InputError(f"no decisions are stored for channel {channel}")
        if len(known) > 1:
            raise InputError(f"channel {channel} is in several workspaces ({', '.join(known)}); add --workspace")
        workspace = known[0]
    elif workspace not in known:
        raise InputError(f"no decisions are stored for channel {channel} in workspace {workspace}")
    decisions = store.decisions_between(workspace=workspace, channel=channel, start=since or _EPOCH, end=_FAR_FUTURE)
    decisions.sort(key=lambda decision: (decision.created_at, decision.id))
    return Export(workspace=workspace, channel=channel, decisions=decisions)


# Shaping


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _answers(version: Version) -> dict[str, Any]:
    """The version's answers as stored, in the facts' order; answers to facts the bot no longer asks come last."""
    stored = version.answers
    return {fact: stored[fact] for fact in FACTS if fact in stored} | {
        key: value for key, value in stored.items() if key not in FACTS
    }


def _delivery(decision: Decision) -> dict[str, Any]:
    delivery = decision.delivery
    return {
        "status": delivery.status.value,
        "channel": delivery.channel,
        "ts": delivery.ts,
        "error": delivery.error,
        "at": _iso(delivery.at),
    }


def _version_object(version: Version) -> dict[str, Any]:
    return {
        "version": version.number,
        "at": _iso(version.at),
        "by": version.by,
        "trigger": version.trigger.value,
        "answers": _answers(version),
        "verdict": version.verdict,
        "next_step": version.next_step,
        "decided_by": version.decided_by,
        "fired": list(version.fired),
        "ruleset_version": version.ruleset_version,
        "ruleset_sha256": version.ruleset_sha256,
    }


def decision_object(decision: Decision) -> dict[str, Any]:
    """One decision as a JSON object: who asked, where and when, its delivery, and its versions oldest first."""
    return {
        "decision_id": decision.id,
        "workspace": decision.workspace,
        "channel": decision.channel,
        "requester": decision.requester,
        "created_at": _iso(decision.created_at),
        "source": decision.source,  # the message a message shortcut asked about, or None
        "delivery": _delivery(decision),
        "versions": [_version_object(version) for version in decision.versions],
    }


def cell(value: Any) -> str | int | float:
    """A value as a CSV cell. Numbers stay numbers; yes/no is `true`/`false`; unanswered is empty; lists are joined
    with `;`; any text starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so that a
    spreadsheet shows it as text instead of running it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        text = ";".join(str(item) for item in value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def version_rows(decision: Decision) -> Iterator[list[str | int | float]]:
    """The decision's versions as CSV rows in `COLUMNS` order, oldest first."""
    head = decision_object(decision)
    delivery = head["delivery"]
    fixed = [head[name] for name in ("decision_id", "workspace", "channel", "requester", "created_at", "source")]
    fixed += [delivery[name] for name in ("status", "channel", "ts", "error", "at")]
    for version in decision.versions:
        shaped = _version_object(version)
        answers = shaped["answers"]
        values = [*fixed, *(shaped[name] for name in ("version", "at", "by", "trigger"))]
        values += [answers.get(fact) for fact in FACTS]
        values += [shaped[name] for name in _OUTCOME_COLUMNS]
        yield [cell(value) for value in values]


# Writing


def write_jsonl(decisions: Iterable[Decision], out: TextIO) -> None:
    """One JSON object per decision and line, UTF-8 as is. U+2028 and U+2029 are escaped, so that no reader that
    splits lines on them (as Python's `str.splitlines` does) cuts an object in two."""
    for decision in decisions:
        line = json.dumps(decision_object(decision), ensure_ascii=False)
        out.write(line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n")


def write_csv(decisions: Iterable[Decision], out: TextIO) -> None:
    """A header row, then one row per version (RFC 4180: CRLF line ends, quoted where needed). `out` must be opened
    with newline=""."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for decision in decisions:
        writer.writerows(version_rows(decision))


def write(found: Export, *, fmt: Format, output: str | None) -> str:
    """Write the export to the file `output` (replacing it), or to standard output; UTF-8, and for CSV with a byte
    order mark, so that Excel reads it as UTF-8. Returns what was written, in words. An `InputError` when the file
    cannot be opened for writing; the `OSError` of a write that failed after that."""
    with _opened(output) as out:
        if fmt == "csv":
            out.write(_BOM)
            write_csv(found.decisions, out)
        else:
            write_jsonl(found.decisions, out)
    where = output if output is not None else "standard output"
    decisions, versions = _count(len(found.decisions), "decision"), _count(found.versions, "version")
    return f"exported {decisions} ({versions}) of {found.workspace}:{found.channel} to {where}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@contextmanager
def _opened(output: str | None) -> Iterator[TextIO]:
    if output is not None:
        try:
            stream = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"--output {output}: cannot write it: {exc.strerror or exc}") from None
        with stream:
            yield stream
        return
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream standing in for standard output
        yield sys.stdout
        return
    # UTF-8 whatever the locale says, and no newline translation (the CSV's line ends are its own).
    stream = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=True)
    try:
        yield stream
        stream.flush()
    finally:
        with suppress(OSError, ValueError):  # a reader that stopped early: nothing more can go there
            stream.detach()  # standard output stays open
