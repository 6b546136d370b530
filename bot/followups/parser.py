"""One reply in a verdict's thread turned into an intent and, for a what-if, the facts it changes.

Pure and total: any text gives a `FollowUp`, never an exception. Nothing is guessed: a fact named with a value the
parser cannot read comes back as `Unreadable` (with the forms it does read), and a clause naming no fact comes back in
`unrecognised`. Work stays linear-ish: the text is capped at `MAX_TEXT` and split into clauses, and no pattern nests
quantifiers that could match the same text two ways, so none can backtrack catastrophically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.followups.intents import (
    ADDRESSING,
    BUILDS_ON,
    CHATTER,
    COMMANDS,
    PEOPLE_ASKED,
    PREFIX,
    SUPPOSES,
    WEAK_PREFIXES,
    WHY_NOT,
    Intent,
    command_words,
    meaning,
)
from bot.followups.normalise import EDGE, clean
from bot.followups.whatif import (
    MAX_TEXT,
    SAID_MAX,
    UNRECOGNISED_MAX,
    Reading,
    Unreadable,
    accepted_forms,
    read_clauses,
    read_facts,
)

__all__ = [
    "MAX_TEXT",
    "SAID_MAX",
    "UNRECOGNISED_MAX",
    "FollowUp",
    "Intent",
    "Reading",
    "Unreadable",
    "accepted_forms",
    "parse_followup",
    "read_facts",
]


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One parsed reply. `changes`, `unreadable` and `unrecognised` are only ever set for what-ifs."""

    intent: Intent
    changes: dict[str, Any] = field(default_factory=dict)
    unreadable: tuple[Unreadable, ...] = ()
    unrecognised: tuple[str, ...] = ()


def parse_followup(text: str) -> FollowUp:
    """The intent of one reply in a verdict's thread, with the fact changes of a what-if."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return FollowUp(Intent.NOT_UNDERSTOOD)
    cleaned = clean(text)
    core = cleaned.strip(EDGE)
    if not core:  # a lone "?" asks what the bot can do
        return FollowUp(Intent.HELP if "?" in cleaned else Intent.NOT_UNDERSTOOD)
    if WHY_NOT.fullmatch(words := command_words(core)):
        return FollowUp(Intent.WHY_NOT)
    if words in COMMANDS:
        return FollowUp(COMMANDS[words])
    prefixes: list[str] = []
    while match := PREFIX.match(core):
        prefixes.append(match[1])
        core = core[match.end() :]
    core = core.strip(EDGE)
    if not prefixes:
        if intent := meaning(cleaned.strip(EDGE)):
            return FollowUp(intent)
        return _hypothetical_question(cleaned, core)
    if not core or PEOPLE_ASKED.search(core) or (set(prefixes) <= WEAK_PREFIXES and ADDRESSING.search(core)):
        return FollowUp(Intent.NOT_UNDERSTOOD)
    changes, unreadable, unrecognised = read_clauses(core)
    if not changes and not unreadable:  # names no fact: chatter ("what if we get lunch first"), not a question
        return FollowUp(Intent.NOT_UNDERSTOOD)
    intent = Intent.AND_IF if BUILDS_ON.intersection(prefixes) else Intent.WHAT_IF
    return FollowUp(intent, changes, unreadable, unrecognised)


def _hypothetical_question(cleaned: str, core: str) -> FollowUp:
    """A what-if asked as a question without "what if", or nothing: it must suppose, name a fact with a value that
    can be read, and address nobody else."""
    if not SUPPOSES.search(cleaned) or ADDRESSING.search(core) or CHATTER.search(core):
        return FollowUp(Intent.NOT_UNDERSTOOD)
    supposed = core.split(" if ", 1)[1] if " if " in core else core  # "what's the verdict if we retrain weekly"
    changes, unreadable, unrecognised = read_clauses(supposed)
    if not changes:
        return FollowUp(Intent.NOT_UNDERSTOOD)
    return FollowUp(Intent.WHAT_IF, changes, unreadable, unrecognised)
