"""The what-if reader: the facts named in free text, each fact's value read by the patterns of its `Words`
(bot.engine.answers), and the forms each fact is read in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.engine.answers import FACTS, FAILURE_WORDS, MAX_DAYS, Fact, Failure
from bot.followups.normalise import EDGE, clean
from bot.followups.values import (
    FILLER,
    HUNDRED_AND,
    LETTER_HYPHEN,
    PER_DAY,
    RANGE,
    SPLIT,
    THOUSANDS,
    YES_NO,
    bounded,
    polarity,
    read_number,
    read_period,
    trailing_number,
)

MAX_TEXT = 2000
SAID_MAX = 80
UNRECOGNISED_MAX = 5


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A fact that was named with a value the parser cannot read, and the forms it would have read."""

    fact: str
    said: str
    accepted: str


_Reader = Callable[[re.Match[str]], Any]  # None means "the fact is named but its value cannot be read"
# Facts counted in days ("weekly", "every sprint"): named so, as `change_freq_days` and `retrain_cadence_days` are.
DAY_FACTS = frozenset(name for name, fact in FACTS.items() if fact.type == "int" and name.endswith("_days"))


def _count(fact: str) -> _Reader:
    return lambda match: bounded(fact, trailing_number(match["v"]))


_PER = {"hour": 1 / 24, "week": 7, "weekly": 7, "month": 30, "monthly": 30, "year": 365, "yearly": 365}


def _per_day(match: re.Match[str]) -> int | None:
    """Calls a week, month or year as calls a day, to the nearest whole call."""
    total = trailing_number(match["v"])
    return None if total is None else bounded("daily_calls", round(total / _PER[match["per"]]))


def _days(match: re.Match[str]) -> int | None:
    return read_period(match["v"])


def _never(_match: re.Match[str]) -> int:
    return MAX_DAYS


def _reader(fact: str, pattern: str, fixed: int | None) -> _Reader:
    if fixed is not None:
        return lambda _match: fixed
    if "(?P<per>" in pattern:
        return _per_day
    return _days if fact in DAY_FACTS else _count(fact)


# Matched against a whole clause with filler words gone ("we had 600 examples" is "600 examples"): each fact's
# patterns from its `Words` (bot.engine.answers), facts in the form's order, a fact's patterns in their order.
_RULES: list[tuple[str, re.Pattern[str], _Reader]] = [
    (name, re.compile(pattern), _reader(name, pattern, fixed))
    for name, fact in FACTS.items()
    for pattern, fixed in (item if isinstance(item, tuple) else (item, None) for item in fact.words.patterns)
]
_TECHNIQUES = {name: fact.words.names for name, fact in FACTS.items() if fact.words.technique and fact.words.names}
_NEVER = r"(?!)"  # matches nothing: a rule set of facts with no techniques
_TECHNIQUE = re.compile(r"\b(?:" + ("|".join(f"(?P<{fact}>{p})" for fact, p in _TECHNIQUES.items()) or _NEVER) + r")\b")
_BARE_TECHNIQUE_WORDS = frozenset({"too", "either", "as", "well", "using", "use"})
# Yes/no facts: the phrase names the fact; a negation anywhere in the clause makes it "no".
_KEYWORDS = [
    (name, re.compile(rf"\b(?:{fact.words.names})\b"))
    for name, fact in FACTS.items()
    if fact.type == "bool" and fact.words.names and not fact.words.technique
]
# What is failing, in the words of `FAILURE_WORDS` (bot.engine.answers): phrase -> (failure, whether it names the
# failure on its own).
_FAILURE_WORDS: dict[str, tuple[Failure, bool]] = {
    phrase: (failure, alone)
    for failure, words in FAILURE_WORDS.items()
    for alone, phrases in ((True, words.names), (False, words.weak))
    for phrase in phrases.split("|")
    if phrase
}
# Named anywhere in a clause ("cost is what's killing us", "format rather than knowledge"): the first one named.
_FAILURE_NAMED = [
    (
        failure,
        re.compile(
            r"\b(?:" + "|".join(sorted(filter(None, f"{w.names}|{w.weak}".split("|")), key=len, reverse=True)) + r")\b"
        ),
    )
    for failure, w in FAILURE_WORDS.items()
]
# Said in passing anywhere in a clause ("the model just doesn't know our product facts").
_FAILURE_SAID = [
    (failure, re.compile(rf"\b(?:{words.said})\b")) for failure, words in FAILURE_WORDS.items() if words.said
]
_FAILURE_FIRST = re.compile(
    r"(?:primary failure|main failure|failure mode|failure|main problem|problem|main issue|issue|failing)"
    r"(?: (?P<v>.+))?"
)
_FAILURE_LAST = re.compile(r"(?:about )?(?P<v>.+?) (?:problems?|issues?|failure|thing|complaint)")
_GENERIC = re.compile(
    r"(?P<fact>" + "|".join(n.replace("_", "[ _]") for n in sorted(FACTS, key=len, reverse=True)) + r")(?: (?P<v>.+))?"
)


def _failure(text: str | None) -> str | None:
    words = (text or "").replace("_", " ").removeprefix("about ").removeprefix("model ")
    words = re.sub(r" (?:problems?|issues?|failure|thing|complaint)$", "", words)
    found = _FAILURE_WORDS.get(words)
    return found[0].value if found else None


def _generic_value(fact: str, text: str | None) -> Any:
    kind = FACTS[fact].type
    if text is None or kind == "text":  # use_case and notes change only through the form
        return None
    if kind == "bool":
        return YES_NO.get(text)
    if kind == "enum":
        return _failure(text)
    return read_period(text) if fact in DAY_FACTS else bounded(fact, read_number(text))


def _candidates(key: str, tried_before: bool | None) -> Iterator[list[tuple[str, Any]]]:
    """Every reading of one clause, most specific first; a value of None is a fact named with an unreadable value."""
    if match := _GENERIC.fullmatch(key):
        fact = match["fact"].replace(" ", "_")
        yield [(fact, _generic_value(fact, match["v"]))]
    for fact, pattern, read in _RULES:
        if match := pattern.fullmatch(key):
            yield [(fact, read(match))]
    if techniques := [m.lastgroup for m in _TECHNIQUE.finditer(key) if m.lastgroup]:
        # "we tried dspy and rag", "we haven't tried dspy or rag": a technique alone takes the previous clause's verb.
        bare = set(_TECHNIQUE.sub(" ", key).split()) <= _BARE_TECHNIQUE_WORDS
        value = tried_before if bare and tried_before is not None else polarity(key)
        yield [(fact, value) for fact in techniques]
    for fact, pattern in _KEYWORDS:
        if pattern.search(key):
            yield [(fact, polarity(key))]
    if match := _FAILURE_FIRST.fullmatch(key) or _FAILURE_LAST.fullmatch(key):
        yield [("primary_failure", _failure(match["v"]))]
    elif (found := _FAILURE_WORDS.get(key.removeprefix("about "))) and found[1]:
        yield [("primary_failure", found[0].value)]
    for failure, pattern in _FAILURE_SAID:
        if pattern.search(key):
            yield [("primary_failure", failure.value)]
            break
    if key.startswith(("not ", "no ", "rather than ", "instead of ")):
        return  # "knowledge and not style": a failure it is not
    named = [(match.start(), failure) for failure, pattern in _FAILURE_NAMED if (match := pattern.search(key))]
    if named:
        yield [("primary_failure", min(named)[1].value)]  # "format rather than knowledge": the first one named


def _read_clause(key: str, tried_before: bool | None) -> list[tuple[str, Any]]:
    # The first reading with every value readable wins; else the first reading at all, so that "lots of examples"
    # is reported as unreadable but "tried prompt iteration" is not mistaken for a count of iterations.
    fallback: list[tuple[str, Any]] = []
    for found in _candidates(key, tried_before):
        if all(value is not None for _, value in found):
            return found
        fallback = fallback or found
    return fallback


def _key(clause: str) -> str:
    clause = LETTER_HYPHEN.sub(" ", THOUSANDS.sub("", clause)).replace("=", " ").replace(":", " ")
    words = (word.strip(EDGE) for word in clause.split())
    return " ".join(word for word in words if word and word not in FILLER)


def _said(clause: str) -> str:
    said = " ".join(clause.split()).strip(EDGE)
    return said if len(said) <= SAID_MAX else said[: SAID_MAX - 1].rstrip() + "…"


def read_clauses(body: str) -> tuple[dict[str, Any], tuple[Unreadable, ...], tuple[str, ...]]:
    """The facts in a cleaned text, clause by clause: the values read, the facts named with a value that cannot be
    read, and the clauses (as typed, shortened) that name no fact."""
    read: dict[str, Any] = {}  # fact -> value or Unreadable; the last mention of a fact wins
    unrecognised: list[str] = []
    tried_before: bool | None = None
    body = HUNDRED_AND.sub(r"\1 ", RANGE.sub(r"between \1-\2", PER_DAY.sub(" per ", body)))
    for clause in SPLIT.split(body):
        if not (key := _key(clause)):
            continue
        found = _read_clause(key, tried_before)
        if not found and len(unrecognised) < UNRECOGNISED_MAX:
            unrecognised.append(_said(clause))
        for fact, value in found:
            read.pop(fact, None)
            read[fact] = value if value is not None else Unreadable(fact, _said(clause), _ACCEPTED[fact])
        tried = [value for fact, value in found if fact in _TECHNIQUES and value is not None]
        tried_before = tried[-1] if tried else None
    changes = {fact: value for fact, value in read.items() if not isinstance(value, Unreadable)}
    unreadable = tuple(value for value in read.values() if isinstance(value, Unreadable))
    return changes, unreadable, tuple(unrecognised)


def _accepted(fact: Fact) -> str:
    """The forms a fact's value is read in, with the fact's own example phrasings where it has them."""
    examples = [f'"{example}"' for example in fact.words.examples]
    if fact.type == "text":
        return 'changes to this answer only through the "Edit answers" button'
    if fact.type == "enum":
        words = [choice.replace("-", " ") for choice in fact.choices]
        example = 'as in "it\'s a knowledge problem" or "the problem is format"'
        return f"one of {', '.join(words[:-1])} or {words[-1]}, {example}"
    if fact.type == "bool":
        return f"yes or no, as in {' or '.join(examples)}" if examples else "yes or no"
    if fact.name in DAY_FACTS:
        shown = ", ".join([*examples[:1], '"monthly"', *examples[1:2]]) if examples else '"weekly" or "monthly"'
        return f"how often, as in {shown} (from daily to every {MAX_DAYS:,} days)"
    shown = f", as in {examples[0]}" if examples else ""
    return f"a whole number from {fact.minimum:,} to {fact.maximum:,}{shown}"


_ACCEPTED = {name: _accepted(fact) for name, fact in FACTS.items()}


def accepted_forms(fact: str) -> str:
    """The forms a fact's value is read in, in plain words (a `KeyError` for a name that is not a fact)."""
    return _ACCEPTED[fact]


@dataclass(frozen=True, slots=True)
class Reading:
    """The facts named in free text: the values read, the facts named with a value that could not be read, and the
    clauses that name no fact (as typed, shortened)."""

    changes: dict[str, Any]
    unreadable: tuple[Unreadable, ...]
    unrecognised: tuple[str, ...]


def read_facts(text: str) -> Reading:
    """The facts in `text`, read the way a what-if's are: the one reader behind the thread and the slash command, so
    the two never disagree. Pure and total, like `parse_followup`."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return Reading({}, (), ())
    body = clean(text).strip(EDGE)
    return Reading(*read_clauses(body)) if body else Reading({}, (), ())
