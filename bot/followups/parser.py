"""One reply in a verdict's thread turned into an intent and, for a what-if, the facts it changes.

Pure and total: any text gives a `FollowUp`, never an exception. Nothing is guessed: a fact named with a value the
parser cannot read comes back as `Unreadable` (with the forms it does read), and a clause naming no fact comes back in
`unrecognised`. Work stays linear-ish: the text is capped at `MAX_TEXT` and split into clauses, and no pattern nests
quantifiers that could match the same text two ways, so none can backtrack catastrophically.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.engine.answers import FACTS, FAILURE_WORDS, MAX_DAYS, Fact, Failure
from bot.slack.limits import unescape

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


_EMOJI = re.compile(r":[a-z0-9_+'-]{1,40}:")
_EMPHASIS = re.compile(r"(?<![\w<])[*_~`]+|[*_~`]+(?![\w>])")
# Misspellings people type for the words facts are named by ("exmaples", "requirments", "retrian"), found once
# from the vocabulary (bot.engine.answers) by similarity; ordinary words are never changed.
_TYPOS = {"wat": "what", "waht": "what", "whta": "what", "evla": "eval", "evlas": "evals"}
_SPELLING_CUTOFF = 0.85  # "exmaples", "requirments", "retrian" pass; "formal" is not "format" (0.83)


def _vocabulary() -> frozenset[str]:
    """The words the facts are named by, from their example phrasings and the failures' plain names (not from the
    patterns, whose fragments are not words): what misspellings are corrected to."""
    sources = [example for fact in FACTS.values() for example in fact.words.examples]
    sources += [words.names for words in FAILURE_WORDS.values()]
    sources += ["requirements retrain retraining iterations authors retrieval describable citations demonstrations"]
    return frozenset(word for source in sources for word in re.findall(r"[a-z]{5,}", source))


_VOCABULARY = _vocabulary()
_VOCABULARY_LIST = sorted(_VOCABULARY)
# Words the readers' patterns spell out ("stable", "biweekly", "training"): never corrected into something else.
_SPELLED = frozenset(
    word
    for source in [
        *(str(item[0] if isinstance(item, tuple) else item) for f in FACTS.values() for item in f.words.patterns),
        *(f.words.names or "" for f in FACTS.values()),
        *(part for words in FAILURE_WORDS.values() for part in (words.weak, words.said)),
        r"daily weekly biweekly fortnightly monthly quarterly yearly annually annual never stable training labelled",
    ]
    for word in re.findall(r"[a-z]{5,}", source)
)


@functools.lru_cache(maxsize=4096)
def _spelling(word: str) -> str:
    """`word`, or the vocabulary word it is a misspelling of. Only words of five letters or more that are not
    themselves in the vocabulary are looked at, so that short words and known words never change."""
    if word in _TYPOS:
        return _TYPOS[word]
    if len(word) < 5 or len(word) > 20 or word in _VOCABULARY or word in _SPELLED or not word.isalpha():
        return word
    close = difflib.get_close_matches(word, _VOCABULARY_LIST, n=1, cutoff=_SPELLING_CUTOFF)
    if not close or (close[0].startswith(word[:-2]) and word.startswith(close[0][:-2])):
        return word  # another form of the same word ("changed", "labelled"): the patterns read it as it is
    return close[0]


def _clean(text: str) -> str:
    # Control and format characters only garble matching; whitespace of any kind becomes one space.
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    text = _LEADING_MENTIONS.sub("", text)
    # Other Slack markup (links, mentions, <!channel>) is one opaque word: its display text is never read as a value.
    text = _MARKUP.sub(lambda m: " <mention> " if m[1].startswith(("@", "#", "!")) else " <link> ", text)
    text = text.translate(_TYPOGRAPHY).lower()
    text = unescape(text)
    text = _EMOJI.sub(" ", text)  # :thinking_face:, :+1::skin-tone-2:
    text = _EMPHASIS.sub(" ", text)  # *bold*, _italic_, ~strike~, `code` around words
    return " ".join(_spelling(word) for word in text.split())


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

# Whole-message intents by meaning, for the ways people ask that no list of phrases covers ("Why did it say that?",
# "what did we put in the form?", "forget the what-ifs"). Each is anchored at the start or names the verdict, the
# form or the bot, so that a passing "why" or "history" in chatter is not taken for a question to the bot.
_LEAD = r"^(?:(?:but|and|so|ok|okay|hmm+|hm+|well|wait|sorry|quick question|q|hey|please|pls|lol|ah|oh|um+|uh+)\b,? ?)*"
_ABOUT_VERDICT = (
    r"\b(?:it|that|this|so|the verdict|verdict|decision|recommendation|recommend\w*|advice|advise\w*|say|said|says"
    r"|suggest\w*|bot|you|answer|result|outcome|fine ?tun\w*|finetun\w*|rag|dspy|few ?shot|prompt\w*|eval\w*)\b"
)
_MEANINGS: list[tuple[Intent, re.Pattern[str]]] = [
    (Intent.WHY_NOT, re.compile(
        _LEAD + r"(?:why (?:not|no|shouldn't|shouldnt|should not|don't|dont|do not|can't|cant|cannot|wouldn't|wouldnt"
        r"|won't|wont|isn't|isnt)\b(?: (?:we|i|you|it|us|just))*(?: (?:fine ?tune|finetune|train|go with fine ?tun\w*"
        r"|do fine ?tun\w*|train (?:a )?lora))?(?: (?:it|this|that|here|then|instead|yet|now|the model|though|tho"
        r"|right away|at this point|already))*$|what(?:'s| is) wrong with fine ?tun\w*"
        r"|what(?:'s| is)? (?:stops|stopping) us (?:from )?fine ?tun\w*|why is fine ?tun\w* (?:a bad idea|wrong|not)\b"
        r"|why (?:does|did) it say (?:don't|dont|do not|not to) fine ?tun\w*)")),
    (Intent.WHY, re.compile(
        _LEAD + r"(?:why(?: (?:though|tho|exactly|so|again|that|this))?$"
        r"|how come(?: (?:it|that|this|the bot|you)\b.*)?$|why (?:did|does|do|is|would|was"
        r"|are|should)\b.*" + _ABOUT_VERDICT + r"|explain (?:why|how|the|this|that|it|yourself|your|more)\b"
        r"|what(?:'s| is| was) (?:the )?(?:reason|reasoning|logic|rationale)\b|what made (?:it|you)\b"
        r"|(?:can|could) you (?:explain|justify)\b|reasons? (?:for|behind)\b|how did (?:it|you|the bot) (?:come up with"
        r"|get to|arrive at|decide|reach)\b|why(?: the verdict)?\b.*\b(?:seems?|backwards|wrong|off|odd|weird|strange"
        r"|surprising)\b|explain (?:pls|please|plz)$)")),
    (Intent.ANSWERS, re.compile(
        r"\bwhat (?:did|do|have) (?:we|i|you) (?:put|enter|entered|say|said|fill|filled|answer|answered|tell|told"
        r"|submit|submitted|give|gave)\b|\b(?:show|list|see|remind me of)(?: me| us)? (?:the |our |my )?(?:answers"
        r"|facts|inputs|form)\b|\bwhat(?:'s| is| are| was| were) (?:in|on) (?:the |our )?form\b|\bwhat are"
        r" (?:the |our |my )?(?:current |stored )?(?:answers|facts|inputs)\b|\b(?:our|my|the|current|stored)"
        r" answers\?$|\bwhat (?:answers|numbers|values|inputs) (?:is|are|did|does|do|was|were)\b|\bwhat (?:we|i)"
        r" (?:answered|filled in|put in|entered|submitted|said)\b|\bwhat did the form say\b|\bwhich answers\b"
        r"|\bstored answers\b|\bwhat does it have for\b")),
    (Intent.RULES, re.compile(
        r"\b(?:which|what) rules?\b|\brules? (?:fired|matched|applied|triggered|used)\b|\b(?:show|list|see)"
        r"(?: me)? (?:the )?rules\b|^rules(?: (?:pls|please|fired|here))?$")),
    (Intent.HISTORY, re.compile(
        r"^(?:show |see |the |decision |version )*history(?: (?:pls|please|of this|of this decision|here))?$"
        r"|\b(?:show|see|list)(?: me)? (?:the )?(?:version )?history\b|\bhistory\?$"
        r"|\b(?:all |previous |old |earlier )?versions\b|\bwho (?:changed|edited|updated|touched)\b"
        r"|\bwhat(?:'s| has)? changed\b|^(?:what's |what is |show |see )?(?:the )?change ?log(?: on this| for this"
        r"| here)?$|\baudit(?: log| trail)?$|\bwhat did it say before\b"
        r"|\bwhen was (?:this|it) (?:last )?(?:changed|edited|updated|decided)\b"
        r"|\bwas (?:this|it) (?:re ?reviewed|edited|changed)\b|\b(?:first|previous|earlier|original) version\b")),
    (Intent.RESET, re.compile(
        _LEAD + r"(?:let's |lets |can we |we can )?(?:(?:reset|clear|forget|drop|scrap|scratch|undo|discard|ditch|throw"
        r" away|toss)(?: (?:about|it|that|this|everything|all|them|those|these|my|our|the|what ?ifs?|hypotheticals?"
        r"|scenarios?|changes|what-ifs?))*|start (?:over|again|fresh)|never ?mind|nvm|(?:go )?back to (?:the )?(?:real"
        r"|stored|saved|original|actual|submitted) answers)$|^(?:start over|start again)\b|^never ?mind\b.*\bback\b"
        r"|\bback to reality\b|^ignore (?:the |all |those |these )?what ?ifs?\b")),
    (Intent.APPLY, re.compile(
        _LEAD + r"(?:(?:great|cool|nice|perfect|yes|yep|yeah|sure|good),? )*(?:let's |lets |please |can you |could you"
        r" )?(?:apply|save|go with (?:that|this|it|those)|make it so|keep (?:it|this|that|those)|lock (?:it|that|this)"
        r" in|record (?:it|that|this)|use (?:that|this|these|those)(?: answers| instead)?|ship it|commit (?:it|that"
        r"|this))\b(?: (?:it|this|that|these|those|them))?(?: (?:as|to) (?:our|the) (?:answers|decision))?"
        r"(?: (?:please|then|instead|now))*$|^(?:(?:ok|okay|great|cool|yes|yep|sure),? )*(?:let's |lets )?"
        r"(?:make (?:that|this|it) the (?:real|actual|new|stored) answers?|record (?:this|that|it) as\b"
        r"|keep (?:these|those|the) answers|commit (?:that|this|the)\b|use (?:those|these|the) (?:numbers|answers"
        r"|values)\b|update the"
        r" (?:decision|answers) with\b)")),
    (Intent.HELP, re.compile(
        _LEAD + r"(?:help\b|what (?:can|should|do) (?:i|we) (?:ask|say|type|do)\b|what can you (?:do|answer)\b"
        r"|how (?:does|do) (?:this|it|you) work\b|how do (?:i|we) (?:use|ask|talk to) (?:this|it|you)\b"
        r"|what (?:commands|questions)\b|(?:list of )?commands$|usage$)")),
]  # fmt: skip
# Chatter between people that mentions a command word in passing ("thanks for the answers!", "reset the database").
_CHATTER = re.compile(
    r"\b(?:thanks|thank you|thx|ty|cheers|anyone|anybody|someone|somebody|everyone|ping me|let me know|lmk|dm me"
    r"|lunch|meeting|standup|tomorrow|tonight|database|dashboard|jira|ticket|pr|deploy\w*)\b"
)
# Whatever its first words, a message about what people should do is for them ("and if anyone asks, ...").
_PEOPLE = r"anyone|anybody|someone|somebody|everyone|everybody|ping me|lmk|dm me"
_PEOPLE_ASKED = re.compile(rf"\b(?:{_PEOPLE})\b")
# A what-if that starts with a weak word ("if", "say", "also") and addresses people is chatter, not a question.
_ADDRESSING = re.compile(
    rf"\b(?:{_PEOPLE}|let me know|pair|pairing|shout|you guys|y'all|lunch|meeting|we'd|we would|i'd|i would"
    r"|i should|i'll|i will|you need|you want|ask in|today|this morning|right now|currently|again)\b"
)


# A question about other answers without "what if" ("would it change anything if we had 20k examples", "does the
# verdict flip with 3,000 examples?", "with 8k examples would it say fine-tune?"): a question that supposes.
_SUPPOSES = re.compile(
    r"\b(?:if|with|without|assuming|assume|suppose|supposing|had|were|for)\b.*\?$|^(?:would|does|do|is|will|could"
    r"|how would|how does|what would|what does)\b.*\b(?:if|with|without|had|for|at)\b|^(?:with|without|at|given"
    r"|assuming)\b|^what(?:'s| is| would be) the (?:verdict|answer|advice|call)\b.*\bif\b"
)


def _hypothetical_question(cleaned: str, core: str) -> FollowUp:
    """A what-if asked as a question without "what if", or nothing: it must suppose, name a fact with a value that
    can be read, and address nobody else."""
    if not _SUPPOSES.search(cleaned) or _ADDRESSING.search(core) or _CHATTER.search(core):
        return FollowUp(Intent.NOT_UNDERSTOOD)
    supposed = core.split(" if ", 1)[1] if " if " in core else core  # "what's the verdict if we retrain weekly"
    changes, unreadable, unrecognised = _read_facts(supposed)
    if not changes:
        return FollowUp(Intent.NOT_UNDERSTOOD)
    return FollowUp(Intent.WHAT_IF, changes, unreadable, unrecognised)


_EDITED_BY = re.compile(
    r"\b(?:has|did) (?:anyone|someone|anybody) (?:edit|edited|change|changed|update|updated"
    r"|touch|touched) (?:this|the|our) (?:decision|verdict|answers)\b"
)


def _meaning(text: str) -> Intent | None:
    """The intent of a message by what it means, or None when it asks the bot nothing."""
    words = re.sub(r"[^\w\s']+", " ", text)
    words = " ".join(_FINETUNE.sub("finetune", words).split())
    if "<mention>" in text or "<link>" in text:  # it talks to someone else, or shares something: not a command
        return None
    if _EDITED_BY.search(words):
        return Intent.HISTORY
    if _CHATTER.search(words):
        return None
    for intent, pattern in _MEANINGS:
        if pattern.search(words):
            return intent
    return None


# Prefixes of a what-if, taken off one at a time ("hypothetically, what if also ..."); "and"-words build on the last.
_PREFIX = re.compile(
    r"(?:(?:ok|okay|so|but|well|hm+|hey|now|right|alright|btw|oh|wait|then)\b"
    r"(?:[\s,.!:;]|-(?=\s))*){0,3}"
    r"(and then what if|additionally what if|and what if|what if also|and also|and if|additionally|and then"
    r"|and what about|and how about|and with|and now|same but with|same but"
    r"|and on top of that|on top of that|also|plus|what if|what about|how about if|how about|supposing|suppose"
    r"|assuming|assume|imagine|in a world where|hypothetically|let's say|lets say|and say|same thing but|if|say)\b"
    r"(?:[\s,.!?:;]|-(?=\s))*"
)
_BUILDS_ON = frozenset(
    {"and what if", "what if also", "and also", "and if", "also", "plus", "and what about", "and how about",
     "and with", "and now", "same but with", "same but", "and on top of that", "on top of that", "and say",
     "same thing but", "and then what if", "additionally what if", "additionally", "and then"}
)  # fmt: skip
# Chatter in a thread often starts with these; they are a what-if only when they name a fact.
_WEAK_PREFIXES = frozenset({"if", "say", "also", "and also", "plus", "suppose", "supposing"})

# --- Clauses and values --------------------------------------------------------------------------------------------

# A clause ends at a comma (but not inside 1,200), ; ! ? / & a full stop not before a digit, or a joining word.
_SPLIT = re.compile(
    r"(?<!\d),|,(?!\d{3}(?!\d))|[;!?/&]|\.(?!\d)|\s(?:and|plus|with|but|or|nor)\s|\s(?:by|from)\s(?=\d)"
)
_RANGE = re.compile(r"\bbetween (\S+) and (\S+)")
_HUNDRED_AND = re.compile(r"\b(hundred|thousand) and (?=[a-z])")
_PER_DAY = re.compile(r"\s?/\s?(?=day\b)")  # "calls/day" is one clause
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_LETTER_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")  # "few-shot" is "few shot", but "-5" stays negative
_FILLER = frozenset(
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


def _trailing_number(text: str | None) -> int | None:
    """The number at the end of a value ("traffic grows to 50k", "support ticket triage 120"), or None. A relative
    amount ("1,500 more") ends in its word, never in a number: it is never read as an absolute one."""
    words = (text or "").split()
    relative = [word for word in words[-3:] if word in _RELATIVE]
    if not words or (relative and " ".join(words[-2:]) not in _DOZENS):  # "half million" is an amount
        return None
    for start in range(max(0, len(words) - 4), len(words)):
        if (value := _number(" ".join(words[start:]))) is not None:
            return None if start and words[start - 1] in _VAGUE else value  # "a few hundred", "500 to 1000"
    # "7,500 support tickets as training examples": the one number among the last words.
    numbers = [word for word in words[-5:] if _NUMERAL.fullmatch(word)]
    if len(numbers) == 1 and not _VAGUE.intersection(words[-5:]):
        return _number(numbers[0])
    return None


def _number(text: str | None) -> int | None:
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
# Facts counted in days ("weekly", "every sprint"): named so, as `change_freq_days` and `retrain_cadence_days` are.
_DAY_FACTS = frozenset(name for name, fact in FACTS.items() if fact.type == "int" and name.endswith("_days"))


def _count(fact: str) -> _Reader:
    return lambda match: _bounded(fact, _trailing_number(match["v"]))


_PER = {"hour": 1 / 24, "week": 7, "weekly": 7, "month": 30, "monthly": 30, "year": 365, "yearly": 365}


def _per_day(match: re.Match[str]) -> int | None:
    """Calls a week, month or year as calls a day, to the nearest whole call."""
    total = _trailing_number(match["v"])
    return None if total is None else _bounded("daily_calls", round(total / _PER[match["per"]]))


def _days(match: re.Match[str]) -> int | None:
    return _period(match["v"])


def _never(_match: re.Match[str]) -> int:
    return MAX_DAYS


def _reader(fact: str, pattern: str, fixed: int | None) -> _Reader:
    if fixed is not None:
        return lambda _match: fixed
    if "(?P<per>" in pattern:
        return _per_day
    return _days if fact in _DAY_FACTS else _count(fact)


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
    body = _HUNDRED_AND.sub(r"\1 ", _RANGE.sub(r"between \1-\2", _PER_DAY.sub(" per ", body)))
    for clause in _SPLIT.split(body):
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
    if fact.name in _DAY_FACTS:
        shown = ", ".join([*examples[:1], '"monthly"', *examples[1:2]]) if examples else '"weekly" or "monthly"'
        return f"how often, as in {shown} (from daily to every {MAX_DAYS:,} days)"
    shown = f", as in {examples[0]}" if examples else ""
    return f"a whole number from {fact.minimum:,} to {fact.maximum:,}{shown}"


_ACCEPTED = {name: _accepted(fact) for name, fact in FACTS.items()}


def accepted_forms(fact: str) -> str:
    """The forms a fact's value is read in, in plain words (a `KeyError` for a name that is not a fact)."""
    return _ACCEPTED[fact]


# --- The parser ----------------------------------------------------------------------------------------------------


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
    body = _clean(text).strip(_EDGE)
    return Reading(*_read_facts(body)) if body else Reading({}, (), ())


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
    if not prefixes:
        if intent := _meaning(cleaned.strip(_EDGE)):
            return FollowUp(intent)
        return _hypothetical_question(cleaned, core)
    if not core or _PEOPLE_ASKED.search(core) or (set(prefixes) <= _WEAK_PREFIXES and _ADDRESSING.search(core)):
        return FollowUp(Intent.NOT_UNDERSTOOD)
    changes, unreadable, unrecognised = _read_facts(core)
    if not changes and not unreadable:  # names no fact: chatter ("what if we get lunch first"), not a question
        return FollowUp(Intent.NOT_UNDERSTOOD)
    intent = Intent.AND_IF if _BUILDS_ON.intersection(prefixes) else Intent.WHAT_IF
    return FollowUp(intent, changes, unreadable, unrecognised)
