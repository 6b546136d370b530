"""A reply as the readers see it: Slack markup, emoji, emphasis and typography gone, lower case, misspellings of the
words facts are named by corrected.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata

from bot.engine.answers import FACTS, FAILURE_WORDS
from bot.text import unescape

_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[^<>]*>)+")
_MARKUP = re.compile(r"<([^<>]*)>")
# Curly quotes, primes and the ellipsis as typed on phones; a dash between words breaks a clause like a comma.
_TYPOGRAPHY = str.maketrans(
    dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'")
    | dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"')
    | {"\u2026": "...", "\u2014": ",", "\u2013": ","}
)
EDGE = " ?!.,:;\"'`*_~()[]{}¿¡"  # punctuation around a message or clause that never carries meaning


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


def clean(text: str) -> str:
    """`text` as the readers see it: lower case, one space between words, markup, emoji and emphasis gone."""
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
