"""A channel's activity log: one small row per version written, by time, with where the verdict was posted.

The log is a sorted set scored by time whose members are the rows, small JSON objects that also carry their time
(reading scores back costs more than the row itself). The digest reads a week of a channel from it with one range
query instead of loading every decision: a row carries what the digest shows (who, verdict, next step, the rules,
the use case) and nothing else. The decisions themselves stay the record; the log is derived from them as they are
written, and trimmed with them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic_core import from_json

__all__ = ["RULESET_CHARS", "USE_CASE_CHARS", "VersionRow", "parse_rows", "version_row"]

# How much of the use case a row keeps (messages show 70 characters), and of the rule set's sha256 (64 bits tell
# rule sets apart).
USE_CASE_CHARS = 80
RULESET_CHARS = 16


class VersionRow(NamedTuple):
    """A version written at `at`; for versions after the first, the verdict and next step it replaced; for the first,
    who asked and (once posted) the verdict message's channel and ts."""

    decision: str
    number: int
    at: float  # epoch seconds
    verdict: str
    next_step: str
    by: str
    trigger: str
    ruleset_sha256: str  # its first RULESET_CHARS characters
    ruleset_version: str
    use_case: str
    requester: str | None = None  # first versions only
    verdict_before: str | None = None  # versions after the first
    step_before: str | None = None
    posted_channel: str | None = None  # first versions, once the verdict was posted
    posted_ts: str | None = None


def version_row(*, decision: str, version: dict[str, Any], requester: str | None, at: float) -> str:
    """The row of a version written at `at` (epoch seconds), without its number (the store adds it where the number
    is assigned)."""
    row = {
        "a": at,
        "d": decision,
        "v": version["verdict"],
        "s": version["next_step"],
        "b": version["by"],
        "t": version["trigger"],
        "h": version["ruleset_sha256"][:RULESET_CHARS],
        "r": version["ruleset_version"],
        "u": str(version["answers"].get("use_case") or "")[:USE_CASE_CHARS],
    }
    if requester is not None:
        row["q"] = requester
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def parse_rows(members: Sequence[str]) -> list[VersionRow]:
    """Rows from the log's members, oldest first; parsed as one JSON document, which is quicker than one by one."""
    return [
        # Positional, in the field order above: quicker than by keyword, which counts at ten thousand rows.
        VersionRow(
            row["d"],
            row["n"],
            row["a"],
            row["v"],
            row["s"],
            row["b"],
            row["t"],
            row["h"],
            row["r"],
            row["u"],
            row.get("q"),
            row.get("pv"),
            row.get("ps"),
            row.get("c"),
            row.get("ts"),
        )
        for row in from_json("[" + ",".join(members) + "]")
    ]
