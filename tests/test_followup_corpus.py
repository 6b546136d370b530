"""The follow-up reader against replies as people write them: `tests/data/followup_corpus.yaml`, 496 realistic
thread replies (paraphrases, typos, Slack formatting, several facts at once, relative amounts, and chatter the bot
must not answer) and the two phrasings `help` shows, each with the reading a person means. Written from meaning, not
from the parser's behaviour.

A reply is understood when its intent is right and, for a what-if, it reads exactly the facts meant: every value
right, nothing extra, and a value nobody could read (or a relative one, "1,500 more") reported unreadable rather
than guessed. The rate is recorded in BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.followups.examples import EXAMPLES
from bot.followups.parser import Intent, parse_followup

CORPUS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "data" / "followup_corpus.yaml").read_text())
HYPOTHETICAL = {"what-if", "and-if"}
UNDERSTOOD_AT_LEAST = 0.95


def misses(entry: dict[str, Any]) -> list[str]:
    """How the reader got one reply wrong; empty when it understood it."""
    expected, result = entry["intent"], parse_followup(entry["text"])
    got = result.intent.value
    if expected == "chatter":
        return [] if result.intent is Intent.NOT_UNDERSTOOD else [f"chatter answered as {got}"]
    if expected not in HYPOTHETICAL or got not in HYPOTHETICAL:
        return [] if got == expected else [f"{expected} read as {got}"]
    found = [] if got == expected else [f"{expected} read as {got}"]
    changes, relative = entry.get("changes") or {}, entry.get("relative") or {}
    unreadable = set(entry.get("unreadable") or [])
    flagged = {u.fact for u in result.unreadable}
    for fact, value in changes.items():
        if result.changes.get(fact, ...) != value or type(result.changes.get(fact)) is not type(value):
            found.append(f"{fact}: want {value!r}, got {result.changes.get(fact, 'nothing')!r}")
    for fact in [*relative, *unreadable]:
        if fact not in flagged:
            found.append(f"{fact}: should be asked about, got {result.changes.get(fact, 'nothing')!r}")
    named = {*changes, *relative, *unreadable}
    found += [f"extra {fact}" for fact in [*result.changes, *flagged] if fact not in named]
    return found


def test_the_corpus_is_big_and_varied() -> None:
    intents = {entry["intent"] for entry in CORPUS}
    assert len(CORPUS) >= 300
    assert intents == {"why", "why-not", "what-if", "and-if", "reset", "answers", "rules", "history", "apply",
                       "help", "chatter"}  # fmt: skip
    assert sum(entry["intent"] == "chatter" for entry in CORPUS) >= 0.2 * len(CORPUS)
    assert len({entry["text"] for entry in CORPUS}) == len(CORPUS)


def test_at_least_95_percent_of_replies_are_understood() -> None:
    missed = {entry["text"]: found for entry in CORPUS if (found := misses(entry))}
    rate = 1 - len(missed) / len(CORPUS)
    listing = "\n".join(f"  {text!r}: {'; '.join(found)}" for text, found in missed.items())
    assert rate >= UNDERSTOOD_AT_LEAST, f"{rate:.1%} understood; missed:\n{listing}"


def test_no_chatter_is_answered() -> None:
    answered = [
        (entry["text"], parse_followup(entry["text"]).intent.value)
        for entry in CORPUS
        if entry["intent"] == "chatter" and parse_followup(entry["text"]).intent is not Intent.NOT_UNDERSTOOD
    ]
    assert answered == []


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.get("relative")][:12], ids=lambda e: e["text"][:40])
def test_a_relative_amount_is_asked_about_never_set_as_absolute(entry: dict[str, Any]) -> None:
    result = parse_followup(entry["text"])
    for fact in entry["relative"]:
        assert fact not in result.changes


def test_the_examples_people_are_shown_are_drawn_from_the_corpus() -> None:
    readings = {entry["text"]: entry for entry in CORPUS}
    for example in EXAMPLES.what_ifs:
        entry = readings.get(example.text)
        assert entry is not None, f"{example.text!r} is not in the corpus"
        assert entry.get("changes") == dict(example.changes)
        assert misses(entry) == []
