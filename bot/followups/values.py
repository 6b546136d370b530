"""Clauses and values: where a clause ends, the words that carry no meaning, negation, and numbers and periods
in digits or words ("1.5k", "twenty five", "every sprint").
"""

from __future__ import annotations

import re

from bot.engine.answers import FACTS, MAX_DAYS

# A clause ends at a comma (but not inside 1,200), ; ! ? / & a full stop not before a digit, or a joining word.
SPLIT = re.compile(r"(?<!\d),|,(?!\d{3}(?!\d))|[;!?/&]|\.(?!\d)|\s(?:and|plus|with|but|or|nor)\s|\s(?:by|from)\s(?=\d)")
RANGE = re.compile(r"\bbetween (\S+) and (\S+)")
HUNDRED_AND = re.compile(r"\b(hundred|thousand) and (?=[a-z])")
PER_DAY = re.compile(r"\s?/\s?(?=day\b)")  # "calls/day" is one clause
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
LETTER_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")  # "few-shot" is "few shot", but "-5" stays negative
FILLER = frozenset(
    {"we", "we'd", "we're", "we've", "we'll", "had", "have", "has", "there", "there's", "there're", "it's", "it", "its",
     "the", "a", "an", "our", "us", "they", "they're", "they've", "were", "was", "is", "are", "got", "get", "only",
     "instead", "now", "actually", "really", "just", "also", "and", "with", "that", "then", "so", "would", "will",
     "still", "i", "though", "tho", "anyway", "anyways", "lol", "haha", "hmm", "mostly", "mainly", "primarily",
     "basically", "like", "pretty", "kinda", "btw", "ok", "okay", "please", "pls", "totally", "even", "all", "you",
     "guess", "reckon", "grows", "grew", "goes", "went", "jumps", "jumped", "rises", "rose",
     "drops", "dropped", "to", "up", "down", "at", "like,", "around"}
)  # fmt: skip
_NEGATION = re.compile(
    r"\b(?:no|not|never|none|nor|neither|without|cannot|can't|cant|don't|dont|doesn't|doesnt|didn't|didnt|haven't"
    r"|havent|hasn't|hasnt|hadn't|hadnt|isn't|isnt|aren't|arent|wasn't|wasnt|weren't|werent|won't|wont|wouldn't"
    r"|wouldnt|shouldn't|shouldnt|lack|lacks|lacking|insensitive|indescribable|undescribable|unimportant|irrelevant"
    r"|optional|unnecessary|nothing|skip|skipped|skipping|drop|drops|dropped|dropping|remove|removes|removed|lose"
    r"|lost|nobody|waive|waives|waived|lifts|lifted"
    r"|no one)\b"
)
_UNSURE = re.compile(
    r"\b(?:unknown|unsure|not sure|no idea|don't know|dont know|do not know|maybe|perhaps|possibly|might|idk"
    r"|unclear|uncertain|tbd)\b"
)
YES_NO = {"yes": True, "y": True, "yep": True, "yeah": True, "true": True, "1": True}
YES_NO |= {"no": False, "n": False, "nope": False, "false": False, "0": False}

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


_DOZENS = {
    "half a million": "500000",
    "half a billion": "500000000",
    "half million": "500000",
    "half billion": "500000000",
    "a dozen": "12",
    "dozen": "12",
    "a couple of": "2",
    "a couple": "2",
    "couple of": "2",
    "a pair of": "2",
    "half a thousand": "500",
}
_VAGUE = frozenset({"few", "several", "some", "many", "couple", "between", "and", "to", "or", "dozens", "hundreds"})
_RELATIVE = frozenset(
    {"more", "extra", "additional", "another", "fewer", "less", "double", "twice", "triple", "half", "halve",
     "quadruple", "doubles", "doubled", "triples", "tripled", "halves", "halved", "lost", "lose", "losing", "add",
     "added", "adding", "gain", "gained", "remove", "removed", "drop", "dropped", "cut"}
)  # fmt: skip


def trailing_number(text: str | None) -> int | None:
    """The number at the end of a value ("traffic grows to 50k", "support ticket triage 120"), or None. A relative
    amount ("1,500 more") ends in its word, never in a number: it is never read as an absolute one."""
    words = (text or "").split()
    relative = [word for word in words[-3:] if word in _RELATIVE]
    if not words or (relative and " ".join(words[-2:]) not in _DOZENS):  # "half million" is an amount
        return None
    for start in range(max(0, len(words) - 4), len(words)):
        if (value := read_number(" ".join(words[start:]))) is not None:
            return None if start and words[start - 1] in _VAGUE else value  # "a few hundred", "500 to 1000"
    # "7,500 support tickets as training examples": the one number among the last words.
    numbers = [word for word in words[-5:] if _NUMERAL.fullmatch(word)]
    if len(numbers) == 1 and not _VAGUE.intersection(words[-5:]):
        return read_number(numbers[0])
    return None


def read_number(text: str | None) -> int | None:
    """A whole number in digits ("1200", "1.2k", "1.5 million") or words ("twenty five", "a hundred", "a dozen")."""
    text = (text or "").replace("_", "")
    for phrase, digits in _DOZENS.items():
        text = text.replace(phrase, digits) if text == phrase or text.startswith(f"{phrase} ") else text
    words = [w for w in text.split() if w not in _APPROX]
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
_PERIODS |= {"other day": 2, "other week": 14, "other month": 60, "twice a month": 15, "twice month": 15}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "sprint": 14, "month": 30, "quarter": 90, "year": 365}
_UNIT_DAYS |= {f"{unit}s": days for unit, days in _UNIT_DAYS.items()}


def read_period(text: str | None) -> int | None:
    """Days between changes: "weekly", "every 10 days", "once a month", "never", or a bare number of days."""
    words = [w for w in (text or "").split() if w not in {"every", "each", "once", "per", "in", *_APPROX}]
    if (joined := " ".join(words)) in _PERIODS:
        return _PERIODS[joined]
    if words and words[-1] in _UNIT_DAYS:
        count = read_number(" ".join(words[:-1])) if len(words) > 1 else 1
        days = None if count is None else count * _UNIT_DAYS[words[-1]]
    else:
        days = read_number(joined)
    return days if days is not None and 1 <= days <= MAX_DAYS else None


def bounded(fact: str, number: int | None) -> int | None:
    """`number` when it is within the fact's range, else None."""
    low, high = FACTS[fact].minimum or 0, FACTS[fact].maximum or 0
    return number if number is not None and low <= number <= high else None


def polarity(key: str) -> bool | None:
    """Yes, no (a negation anywhere in the clause) or None (unsure: "maybe", "not sure")."""
    return None if _UNSURE.search(key) else not _NEGATION.search(key)
