"""The shapes of the words a fact has: the answers offered for it and how people type it. The words themselves are
in `bot.engine.facts` and `bot.engine.failures`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FailureWords:
    """How people say what is failing, as data (see `Words`). `names` are whole clauses that name it ("too slow",
    "json errors"); `weak` only after "the problem is" or before "problem" ("cost", "speed"), since alone they
    mean something else; `said` is a pattern that names it anywhere in a clause ("the model doesn't know our
    product facts")."""

    names: str
    weak: str = ""
    said: str = ""


@dataclass(frozen=True, slots=True)
class Words:
    """How people name a fact when they type, as data: what the thread's follow-up reader and the slash command read.

    Patterns are regular expressions over one clause of a message, lower-cased, with filler words ("we", "the",
    "just", "though") taken out; each must match the whole clause. A named group `v` is the value ("600" in "600
    examples"), `per` a period that a count is spread over ("350k calls a week"); a pattern given as (pattern, value)
    reads that value whenever it matches ("requirements are stable" is "never changes"). `names` is for yes/no facts: a
    pattern that names the fact anywhere in a clause, where a negation makes it "no". `technique` marks a technique
    a team tries, read the way "we tried dspy and rag" or "we haven't tried dspy or rag" say it. `examples` are
    phrasings that work, shown when a value cannot be read: for a yes/no fact a "yes" and a "no" one.
    A fact without words is still read by its own name ("n_tools 12").
    """

    patterns: tuple[str | tuple[str, int], ...] = ()
    names: str | None = None
    technique: bool = False
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    """An answer offered for a fact: `value` as stored, `label` as the form's option and the thread's button show
    it, `said` as a sentence says it ("failing: tool calls", "requirements change weekly")."""

    value: str | int
    label: str
    said: str
