"""One reply in a verdict's thread turned into an intent and, for a what-if, the facts it changes.

Pure and total: any text gives a `FollowUp`, never an exception. Nothing is guessed: a fact named with a value the
parser cannot read comes back as `Unreadable` (with the forms it does read), and a clause naming no fact comes back in
`unrecognised`. Work stays linear-ish: the text is capped at `MAX_TEXT` and split into clauses, and no pattern nests
quantifiers that could match the same text two ways, so none can backtrack catastrophically.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.engine.answers import FACTS, MAX_DAYS, Fact, Failure

MAX_TEXT = 2000
SAID_MAX = 80
UNRECOGNISED_MAX = 5


class Intent(StrEnum):
    """What a reply in the thread asks for."""

    WHY = "why"
    WHY_NOT = "why-not"
    WHAT_IF = "what-if"
    AND_IF = "and-if"
    RESET = "reset"
    ANSWERS = "answers"
    RULES = "rules"
    HELP = "help"
    APPLY = "apply"
    HISTORY = "history"
    NOT_UNDERSTOOD = "not-understood"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A fact that was named with a value the parser cannot read, and the forms it would have read."""

    fact: str
    said: str
    accepted: str


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One parsed reply. `changes`, `unreadable` and `unrecognised` are only ever set for what-ifs."""

    intent: Intent
    changes: dict[str, Any] = field(default_factory=dict)
    unreadable: tuple[Unreadable, ...] = ()
    unrecognised: tuple[str, ...] = ()


# --- Normalisation -------------------------------------------------------------------------------------------------

_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[^<>]*>)+")
_MARKUP = re.compile(r"<([^<>]*)>")
# Curly quotes, primes and the ellipsis as typed on phones; a dash between words breaks a clause like a comma.
_TYPOGRAPHY = str.maketrans(
    dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'")
    | dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"')
    | {"\u2026": "...", "\u2014": ",", "\u2013": ","}
)
_EDGE = " ?!.,:;\"'`*_~()[]{}¿¡"  # punctuation around a message or clause that never carries meaning


def _clean(text: str) -> str:
    # Control and format characters only garble matching; whitespace of any kind becomes one space.
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    text = _LEADING_MENTIONS.sub("", text)
    # Other Slack markup (links, mentions, <!channel>) is one opaque word: its display text is never read as a value.
    text = _MARKUP.sub(lambda m: " <mention> " if m[1].startswith(("@", "#", "!")) else " <link> ", text)
    text = text.translate(_TYPOGRAPHY).lower()
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # Slack's only escapes
    return " ".join(text.split())


# --- Whole-message commands ----------------------------------------------------------------------------------------

_POLITE = re.compile(
    r"\b(?:can you|could you|would you|will you|show me|tell me|please|pls|plz|show|list|the|bot|hey|hi|ok|okay"
    r"|so|hmm|well|thanks|thank you|thx|just|now)\b"
)
_FINETUNE = re.compile(r"\bfine ?tun(?:e|ed|ing)\b|\bfinetun(?:e|ed|ing)\b")
_WHY_NOT = re.compile(
    r"(?:explain )?why (?:not|no|not to|shouldn't we|shouldnt we|should we not|don't we|dont we|do we not|can't we"
    r"|cant we|wouldn't we|wouldnt we|isn't it|isnt it)(?: finetune)?(?: it| this| that| here| then| instead| yet)?"
)
_COMMAND_PHRASES: dict[Intent, tuple[str, ...]] = {
    Intent.WHY: ("why", "why this", "why that", "why that verdict", "why this verdict", "why the verdict",
                 "why is that", "why is this", "why this answer", "why that answer", "why though", "how come",
                 "explain", "explain why", "explain this", "explain that", "explain it", "explain the verdict",
                 "explain yourself", "explain your reasoning", "reasons", "reason", "reasoning", "what are the reasons",
                 "what's the reason"),
    Intent.RESET: ("reset", "reset it", "reset that", "reset everything", "start over", "start again", "clear",
                   "clear it", "clear that", "forget it", "forget that", "forget about it", "never mind", "nevermind",
                   "nvm", "scratch that"),
    Intent.ANSWERS: ("answers", "facts", "what are the answers", "what are the facts", "my answers", "our answers",
                     "current answers", "answers so far", "what did we answer", "what did i answer"),
    Intent.RULES: ("rules", "which rules", "what rules", "which rules fired", "what rules fired", "rules fired",
                   "fired rules", "which rules matched", "what rules matched", "which rules applied",
                   "what rules applied", "what are the rules", "all rules"),
    Intent.HELP: ("help", "help me", "what can you do", "what can i do", "what can i ask", "what can i say",
                  "how does this work", "how does it work", "how do i use this", "how do i use you", "commands",
                  "what commands", "usage", "options"),
    Intent.APPLY: ("apply", "apply it", "apply this", "apply that", "apply the hypothetical", "apply the what if",
                   "apply the changes", "apply these changes", "apply them", "save", "save it", "save this",
                   "save that", "make it so", "keep it", "keep this", "keep that"),
    Intent.HISTORY: ("history", "versions", "all versions", "show history", "show the history", "decision history",
                     "what changed", "what has changed", "log", "changelog", "audit", "audit log", "who changed it",
                     "who changed this", "list versions", "show versions"),
}  # fmt: skip


def _command_words(text: str) -> str:
    text = _FINETUNE.sub("finetune", re.sub(r"[^\w\s']+", " ", text))
    return " ".join(word.strip("'") for word in _POLITE.sub(" ", text).split())


_COMMANDS = {_command_words(phrase): intent for intent, phrases in _COMMAND_PHRASES.items() for phrase in phrases}

# Prefixes of a what-if, taken off one at a time ("hypothetically, what if also ..."); "and"-words build on the last.
_PREFIX = re.compile(
    r"(?:(?:ok|okay|so|but|well|hm+|hey|now|right|alright)\b(?:[\s,.!:;]|-(?=\s))*){0,2}"
    r"(and what if|what if also|and also|and if|also|plus|what if|what about|supposing|suppose|imagine"
    r"|hypothetically|if|say)\b(?:[\s,.!?:;]|-(?=\s))*"
)
_BUILDS_ON = frozenset({"and what if", "what if also", "and also", "and if", "also", "plus"})
# Chatter in a thread often starts with these; they are a what-if only when they name a fact.
_WEAK_PREFIXES = frozenset({"if", "say", "also", "and also", "plus"})

# --- Clauses and values --------------------------------------------------------------------------------------------

# A clause ends at a comma (but not inside 1,200), ; ! ? / & a full stop not before a digit, or a joining word.
_SPLIT = re.compile(r"(?<!\d),|,(?!\d{3}(?!\d))|[;!?/&]|\.(?!\d)|\s(?:and|plus|with|but|or|nor)\s")
_PER_DAY = re.compile(r"\s?/\s?(?=day\b)")  # "calls/day" is one clause
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_LETTER_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")  # "few-shot" is "few shot", but "-5" stays negative
_FILLER = frozenset(
    {"we", "we'd", "we're", "we've", "we'll", "had", "have", "has", "there", "there's", "there're", "it's", "it", "its",
     "the", "a", "an", "our", "us", "they", "they're", "they've", "were", "was", "is", "are", "got", "get", "only",
     "instead", "now", "actually", "really", "just", "also", "and", "with", "that", "then", "so", "would", "will",
     "still", "i"}
)  # fmt: skip
_NEGATION = re.compile(
    r"\b(?:no|not|never|none|nor|neither|without|cannot|can't|cant|don't|dont|doesn't|doesnt|didn't|didnt|haven't"
    r"|havent|hasn't|hasnt|hadn't|hadnt|isn't|isnt|aren't|arent|wasn't|wasnt|weren't|werent|won't|wont|wouldn't"
    r"|wouldnt|shouldn't|shouldnt|lack|lacks|lacking|insensitive|indescribable|undescribable|unimportant|irrelevant"
    r"|optional|unnecessary|nothing)\b"
)
_UNSURE = re.compile(
    r"\b(?:unknown|unsure|not sure|no idea|don't know|dont know|do not know|maybe|perhaps|possibly|might|idk"
    r"|unclear|uncertain|tbd)\b"
)
_YES_NO = {"yes": True, "y": True, "yep": True, "yeah": True, "true": True, "1": True}
_YES_NO |= {"no": False, "n": False, "nope": False, "false": False, "0": False}

_NUMERAL = re.compile(r"(\d{1,12})(?:\.(\d{1,6}))? ?(k|m|mm|mn|b|bn|mil|hundred|thousand|million|billion)?")
_SCALES = {"": 1, "k": 10**3, "hundred": 100, "thousand": 10**3, "m": 10**6, "mm": 10**6, "mn": 10**6}
_SCALES |= {"mil": 10**6, "million": 10**6, "b": 10**9, "bn": 10**9, "billion": 10**9}
_UNITS = {
    word: n
    for n, word in enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                              "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                              "nineteen"))
}  # fmt: skip
_TENS = {word: 10 * n for n, word in enumerate(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty"), 2)}
_TENS["ninety"] = 90
_APPROX = frozenset({"about", "around", "roughly", "approximately", "approx"})


def _number(text: str | None) -> int | None:
    """A whole number in digits ("1200", "1.2k", "1.5 million") or words ("twenty five", "a hundred")."""
    words = [w for w in (text or "").replace("_", "").split() if w not in _APPROX]
    if match := _NUMERAL.fullmatch(" ".join(words)):
        fraction = match[2] or ""
        value, base = int(match[1] + fraction) * _SCALES[match[3] or ""], 10 ** len(fraction)
        return value // base if value % base == 0 else None
    if words in (["no"], ["none"]):
        return 0
    # Words in the usual order ("twenty five", "twelve hundred", "five hundred thousand"); any other is unreadable.
    total, current, last, scale_before = 0, 0, "", 10**12
    for word in words:
        unit, tens, scale = _UNITS.get(word), _TENS.get(word), _SCALES.get(word, 0)
        if unit is not None and last in ("", "tens", "hundred", "scale") and not (last == "tens" and unit >= 10):
            current, last = current + unit, "unit"
        elif tens is not None and last in ("", "hundred", "scale"):
            current, last = current + tens, "tens"
        elif word == "hundred" and last in ("", "unit", "tens") and current < 100:
            current, last = (current if last else 1) * 100, "hundred"
        elif 1000 <= scale < scale_before and word.isalpha() and last != "scale":
            total, current, last, scale_before = total + (current if last else 1) * scale, 0, "scale", scale
        else:
            return None
    return total + current if words else None


_PERIODS = {"daily": 1, "weekly": 7, "biweekly": 14, "bi weekly": 14, "fortnightly": 14, "monthly": 30}
_PERIODS |= {"quarterly": 90, "yearly": 365, "annually": 365, "annual": 365, "never": MAX_DAYS}
_PERIODS |= {"other day": 2, "other week": 14, "other month": 60}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "quarter": 90, "year": 365}
_UNIT_DAYS |= {f"{unit}s": days for unit, days in _UNIT_DAYS.items()}


def _period(text: str | None) -> int | None:
    """Days between changes: "weekly", "every 10 days", "once a month", "never", or a bare number of days."""
    words = [w for w in (text or "").split() if w not in {"every", "each", "once", "per", "in", *_APPROX}]
    if (joined := " ".join(words)) in _PERIODS:
        return _PERIODS[joined]
    if words and words[-1] in _UNIT_DAYS:
        count = _number(" ".join(words[:-1])) if len(words) > 1 else 1
        days = None if count is None else count * _UNIT_DAYS[words[-1]]
    else:
        days = _number(joined)
    return days if days is not None and 1 <= days <= MAX_DAYS else None


def _bounded(fact: str, number: int | None) -> int | None:
    low, high = FACTS[fact].minimum or 0, FACTS[fact].maximum or 0
    return number if number is not None and low <= number <= high else None


def _polarity(key: str) -> bool | None:
    return None if _UNSURE.search(key) else not _NEGATION.search(key)


# --- What each fact sounds like ------------------------------------------------------------------------------------

_Reader = Callable[[re.Match[str]], Any]  # None means "the fact is named but its value cannot be read"
_DAY_FACTS = frozenset({"change_freq_days", "retrain_cadence_days"})


def _count(fact: str) -> _Reader:
    return lambda match: _bounded(fact, _number(match["v"]))


def _days(match: re.Match[str]) -> int | None:
    return _period(match["v"])


def _never(_match: re.Match[str]) -> int:
    return MAX_DAYS


_ADJ = r"(?:stable |labell?ed |good |high quality |quality |training |clean |curated |gold |golden |annotated |real )"
_EXAMPLES = r"(?:examples?|samples?|demonstrations?|demos)"
_CALLS = r"(?:calls?|requests?|queries|query|invocations?|inferences?)"
_DAY = r"(?:(?:per |each |every )?day|daily)"
_REQS = r"(?:product |business )?(?:requirements?|reqs|specs?|specifications?|task)"
_CHANGE = r"(?:change[sd]?|changing|shift(?:s|ed)?|evolve[sd]?|update[sd]?)"
_RETRAIN = r"re ?train(?:s|ed|ing)?"
# Matched against a whole clause with filler words gone ("we had 600 examples" is "600 examples"), in this order.
_RULES: list[tuple[str, re.Pattern[str], _Reader]] = [
    (fact, re.compile(pattern), read or _count(fact))
    for fact, pattern, read in (
        ("n_stable_examples", rf"(?P<v>.+?) {_ADJ}{{0,2}}{_EXAMPLES}(?: (?:of|for|from|in|on|covering) .+)?", None),
        ("n_stable_examples", rf"{_ADJ}?{_EXAMPLES} (?P<v>.+)", None),
        ("prompt_iterations", r"(?P<v>.+?) (?:prompt )?(?:iterations?|revisions?|rewrites?)(?: (?:on|of) prompts?)?",
         None),
        ("prompt_iterations", r"(?:iterated|revised|rewrote|rewritten|tweaked)(?: on)?(?: prompts?)? (?P<v>.+?) times",
         None),
        ("prompt_iterations", r"(?:prompt )?iterations (?P<v>.+)", None),
        ("prompt_authors", r"(?P<v>.+?) (?:prompt )?(?:authors?|writers?)", None),
        ("prompt_authors", r"(?P<v>.+?) (?:people|persons?|engineers?)"
         r" (?:wrote|write|written|authored|edited|worked on) prompts?", None),
        ("prompt_authors", r"prompts? (?:written|authored|edited) by (?P<v>.+?)(?: people| persons| engineers)?", None),
        ("prompt_authors", r"(?:prompt )?authors (?P<v>.+)", None),
        ("n_tools", r"(?:model )?(?P<v>.+?) (?:tools?|functions?|tool definitions)(?: available)?", None),
        ("n_tools", r"(?:number of )?tools (?P<v>.+)", None),
        ("daily_calls", rf"(?P<v>.+?) {_CALLS} {_DAY}", None),
        ("daily_calls", rf"(?P<v>.+?) (?:daily|per day) {_CALLS}", None),
        ("daily_calls", rf"(?:daily {_CALLS}|{_CALLS} {_DAY}) (?P<v>.+)", None),
        ("change_freq_days", rf"{_REQS} {_CHANGE}(?: (?P<v>.+))?", _days),
        ("change_freq_days", rf"{_REQS} (?P<v>\S+) {_CHANGE}", _days),
        ("change_freq_days", rf"{_REQS} (?:stable|fixed|frozen|static|settled|constant|unchanging|same)", _never),
        ("change_freq_days", rf"{_REQS} (?:never|don't|dont|doesn't|doesnt|won't|wont|do not|does not) {_CHANGE}",
         _never),
        ("change_freq_days", r"(?:change freq(?:uency)?|requirement changes?) (?P<v>.+)", _days),
        ("change_freq_days", r"(?P<v>.+?) (?:requirements?|spec) changes", _days),
        ("retrain_cadence_days", rf"{_RETRAIN}(?: (?:cadence|frequency|interval|model|it))?(?: (?P<v>.+))?", _days),
        ("retrain_cadence_days", rf"(?P<v>.+?) {_RETRAIN}", _days),
    )
]  # fmt: skip
_TECHNIQUES = {
    "tried_few_shot": r"few ?shots?(?: examples?| prompting| prompts?| learning)?|in context (?:examples|learning)",
    "tried_rag": r"rag|retrieval(?: augmented)?(?: generation)?",
    "tried_cot": r"cot|chain of thoughts?(?: prompting)?",
    "tried_dspy": r"dspy|mipro ?v2|mipro|(?:automatic |automated )?prompt optimi[sz](?:ation|er|ing)",
}
_TECHNIQUE = re.compile(r"\b(?:" + "|".join(f"(?P<{fact}>{p})" for fact, p in _TECHNIQUES.items()) + r")\b")
_BARE_TECHNIQUE_WORDS = frozenset({"too", "either", "as", "well", "using", "use"})
# Yes/no facts: the phrase names the fact; a negation anywhere in the clause makes it "no".
_KEYWORDS = [
    (fact, re.compile(rf"\b(?:{pattern})\b"))
    for fact, pattern in (
        ("tried_prompt_iteration", r"iterat\w*(?: on)? prompts?|prompt (?:iterations?|engineering|tuning|tweaking)"
         r"|prompting|iterat(?:ed|ing)|tried prompts?|tweak\w* prompts?"),
        ("has_eval_set", r"(?:eval|evaluation|test|held out|holdout|hold out|validation|golden)(?: eval| evaluation)?"
         r" (?:sets?|suites?|data|dataset)|evals|evaluations"),
        ("needs_citations", r"citations?|cite|citing|cited"),
        ("style_describable", r"\w*describ\w*"),
        ("latency_sensitive", r"latency (?:\S+ )?(?:sensitive|sensitivity|matters?|critical|important|insensitive"
         r"|crucial)|(?:sensitive|care|cares) (?:to|about) latency|real ?time|low latency"),
        ("chasing_small_benchmark_gain", r"benchmarks?|mmlu|leaderboards?|sota"),
    )
]  # fmt: skip
_FAILURE_WORDS: dict[str, tuple[Failure, bool]] = {
    phrase: (failure, alone)
    for failure, alone, phrases in (
        (Failure.MISSING_KNOWLEDGE, True, "knowledge|missing knowledge|knowledge gap|lack of knowledge|lack knowledge"
         "|lacks knowledge|model lacks knowledge|lacking knowledge|domain knowledge|missing facts"),
        (Failure.STYLE, True, "style|tone|voice|writing style"),
        (Failure.FORMAT, True, "format|formatting|output format|output formatting|structure|output structure"),
        (Failure.TOOL_SHAPE, True, "tool shape|tool calling|tool calls|tool use|tool usage|function calling"),
        (Failure.LATENCY, True, "too slow|slow|slowness"),
        (Failure.LATENCY, False, "latency|speed"),
        (Failure.COST, True, "too expensive|expensive"),
        (Failure.COST, False, "cost|costs|price|spend"),
        (Failure.REASONING, True, "reasoning|bad reasoning|poor reasoning|weak reasoning|logic"),
        (Failure.OTHER, False, "other|something else"),
    )
    for phrase in phrases.split("|")
}  # fmt: skip
_FAILURE_FIRST = re.compile(
    r"(?:primary failure|main failure|failure mode|failure|main problem|problem|main issue|issue|failing)"
    r"(?: (?P<v>.+))?"
)
_FAILURE_LAST = re.compile(r"(?:about )?(?P<v>.+?) (?:problems?|issues?|failure)")
_GENERIC = re.compile(
    r"(?P<fact>" + "|".join(n.replace("_", "[ _]") for n in sorted(FACTS, key=len, reverse=True)) + r")(?: (?P<v>.+))?"
)


def _failure(text: str | None) -> str | None:
    words = (text or "").replace("_", " ").removeprefix("about ").removeprefix("model ")
    words = re.sub(r" (?:problems?|issues?|failure)$", "", words)
    found = _FAILURE_WORDS.get(words)
    return found[0].value if found else None


def _generic_value(fact: str, text: str | None) -> Any:
    kind = FACTS[fact].type
    if text is None or kind == "text":  # use_case and notes change only through the form
        return None
    if kind == "bool":
        return _YES_NO.get(text)
    if kind == "enum":
        return _failure(text)
    return _period(text) if fact in _DAY_FACTS else _bounded(fact, _number(text))


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
        value = tried_before if bare and tried_before is not None else _polarity(key)
        yield [(fact, value) for fact in techniques]
    for fact, pattern in _KEYWORDS:
        if pattern.search(key):
            yield [(fact, _polarity(key))]
    if match := _FAILURE_FIRST.fullmatch(key) or _FAILURE_LAST.fullmatch(key):
        yield [("primary_failure", _failure(match["v"]))]
    elif (found := _FAILURE_WORDS.get(key.removeprefix("about "))) and found[1]:
        yield [("primary_failure", found[0].value)]


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
    clause = _LETTER_HYPHEN.sub(" ", _THOUSANDS.sub("", clause)).replace("=", " ").replace(":", " ")
    words = (word.strip(_EDGE) for word in clause.split())
    return " ".join(word for word in words if word and word not in _FILLER)


def _said(clause: str) -> str:
    said = " ".join(clause.split()).strip(_EDGE)
    return said if len(said) <= SAID_MAX else said[: SAID_MAX - 1].rstrip() + "…"


def _read_facts(body: str) -> tuple[dict[str, Any], tuple[Unreadable, ...], tuple[str, ...]]:
    read: dict[str, Any] = {}  # fact -> value or Unreadable; the last mention of a fact wins
    unrecognised: list[str] = []
    tried_before: bool | None = None
    for clause in _SPLIT.split(_PER_DAY.sub(" per ", body)):
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


# --- Accepted forms ------------------------------------------------------------------------------------------------

_COUNT_EXAMPLES = {
    "n_stable_examples": "what if we had 600 examples",
    "prompt_iterations": "20 prompt iterations",
    "prompt_authors": "3 prompt authors",
    "n_tools": "the model has 12 tools",
    "daily_calls": "100k calls a day",
}
_DAY_EXAMPLES = {
    "change_freq_days": ("requirements change weekly", "every 10 days"),
    "retrain_cadence_days": ("we retrain weekly", "every 30 days"),
}
_BOOL_EXAMPLES = {
    "tried_prompt_iteration": ("we iterated on the prompt", "we haven't iterated on the prompt"),
    "tried_few_shot": ("we tried few-shot", "we haven't tried few-shot"),
    "tried_rag": ("we tried rag", "we haven't tried rag"),
    "tried_cot": ("we tried chain of thought", "we haven't tried chain of thought"),
    "tried_dspy": ("we tried dspy", "we haven't tried dspy"),
    "has_eval_set": ("we have an eval set", "there is no eval set"),
    "needs_citations": ("we need citations", "no citations needed"),
    "style_describable": ("we can describe the style", "we can't describe the style"),
    "latency_sensitive": ("latency matters", "latency doesn't matter"),
    "chasing_small_benchmark_gain": ("we're chasing a small benchmark gain", "we're not chasing a benchmark"),
}


def _accepted(fact: Fact) -> str:
    if fact.type == "text":
        return 'changes to this answer only through the "Edit answers" button'
    if fact.type == "enum":
        words = [choice.replace("-", " ") for choice in fact.choices]
        example = 'as in "it\'s a knowledge problem" or "the problem is format"'
        return f"one of {', '.join(words[:-1])} or {words[-1]}, {example}"
    if fact.type == "bool":
        yes, no = _BOOL_EXAMPLES[fact.name]
        return f'yes or no, as in "{yes}" or "{no}"'
    if fact.name in _DAY_FACTS:
        weekly, every = _DAY_EXAMPLES[fact.name]
        return f'how often, as in "{weekly}", "monthly" or "{every}" (from daily to every {MAX_DAYS:,} days)'
    return f'a whole number from {fact.minimum:,} to {fact.maximum:,}, as in "{_COUNT_EXAMPLES[fact.name]}"'


_ACCEPTED = {name: _accepted(fact) for name, fact in FACTS.items()}


def accepted_forms(fact: str) -> str:
    """The forms a fact's value is read in, in plain words (a `KeyError` for a name that is not a fact)."""
    return _ACCEPTED[fact]


# --- The parser ----------------------------------------------------------------------------------------------------


def parse_followup(text: str) -> FollowUp:
    """The intent of one reply in a verdict's thread, with the fact changes of a what-if."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return FollowUp(Intent.NOT_UNDERSTOOD)
    cleaned = _clean(text)
    core = cleaned.strip(_EDGE)
    if not core:  # a lone "?" asks what the bot can do
        return FollowUp(Intent.HELP if "?" in cleaned else Intent.NOT_UNDERSTOOD)
    if _WHY_NOT.fullmatch(words := _command_words(core)):
        return FollowUp(Intent.WHY_NOT)
    if words in _COMMANDS:
        return FollowUp(_COMMANDS[words])
    prefixes: list[str] = []
    while match := _PREFIX.match(core):
        prefixes.append(match[1])
        core = core[match.end() :]
    core = core.strip(_EDGE)
    if not prefixes or not core:
        return FollowUp(Intent.NOT_UNDERSTOOD)
    changes, unreadable, unrecognised = _read_facts(core)
    if not changes and not unreadable and set(prefixes) <= _WEAK_PREFIXES:
        return FollowUp(Intent.NOT_UNDERSTOOD)
    intent = Intent.AND_IF if _BUILDS_ON.intersection(prefixes) else Intent.WHAT_IF
    return FollowUp(intent, changes, unreadable, unrecognised)
