"""Whole-message intents: the commands of a verdict's thread (`why`, `reset`, `apply`, ...) by phrase and by
meaning, the prefixes of a what-if, and the words that mark chatter between people.
"""

from __future__ import annotations

import re
from enum import StrEnum


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


_POLITE = re.compile(
    r"\b(?:can you|could you|would you|will you|show me|tell me|please|pls|plz|show|list|the|bot|hey|hi|ok|okay"
    r"|so|hmm|well|thanks|thank you|thx|just|now)\b"
)
_FINETUNE = re.compile(r"\bfine ?tun(?:e|ed|ing)\b|\bfinetun(?:e|ed|ing)\b")
WHY_NOT = re.compile(
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


def command_words(text: str) -> str:
    """A message as the command phrases are written: punctuation and polite words gone, "fine-tune" one word."""
    text = _FINETUNE.sub("finetune", re.sub(r"[^\w\s']+", " ", text))
    return " ".join(word.strip("'") for word in _POLITE.sub(" ", text).split())


COMMANDS = {command_words(phrase): intent for intent, phrases in _COMMAND_PHRASES.items() for phrase in phrases}

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
CHATTER = re.compile(
    r"\b(?:thanks|thank you|thx|ty|cheers|anyone|anybody|someone|somebody|everyone|ping me|let me know|lmk|dm me"
    r"|lunch|meeting|standup|tomorrow|tonight|database|dashboard|jira|ticket|pr|deploy\w*)\b"
)
# Whatever its first words, a message about what people should do is for them ("and if anyone asks, ...").
_PEOPLE = r"anyone|anybody|someone|somebody|everyone|everybody|ping me|lmk|dm me"
PEOPLE_ASKED = re.compile(rf"\b(?:{_PEOPLE})\b")
# A what-if that starts with a weak word ("if", "say", "also") and addresses people is chatter, not a question.
ADDRESSING = re.compile(
    rf"\b(?:{_PEOPLE}|let me know|pair|pairing|shout|you guys|y'all|lunch|meeting|we'd|we would|i'd|i would"
    r"|i should|i'll|i will|you need|you want|ask in|today|this morning|right now|currently|again)\b"
)


# A question about other answers without "what if" ("would it change anything if we had 20k examples", "does the
# verdict flip with 3,000 examples?", "with 8k examples would it say fine-tune?"): a question that supposes.
SUPPOSES = re.compile(
    r"\b(?:if|with|without|assuming|assume|suppose|supposing|had|were|for)\b.*\?$|^(?:would|does|do|is|will|could"
    r"|how would|how does|what would|what does)\b.*\b(?:if|with|without|had|for|at)\b|^(?:with|without|at|given"
    r"|assuming)\b|^what(?:'s| is| would be) the (?:verdict|answer|advice|call)\b.*\bif\b"
)


_EDITED_BY = re.compile(
    r"\b(?:has|did) (?:anyone|someone|anybody) (?:edit|edited|change|changed|update|updated"
    r"|touch|touched) (?:this|the|our) (?:decision|verdict|answers)\b"
)


def meaning(text: str) -> Intent | None:
    """The intent of a message by what it means, or None when it asks the bot nothing."""
    words = re.sub(r"[^\w\s']+", " ", text)
    words = " ".join(_FINETUNE.sub("finetune", words).split())
    if "<mention>" in text or "<link>" in text:  # it talks to someone else, or shares something: not a command
        return None
    if _EDITED_BY.search(words):
        return Intent.HISTORY
    if CHATTER.search(words):
        return None
    for intent, pattern in _MEANINGS:
        if pattern.search(words):
            return intent
    return None


# Prefixes of a what-if, taken off one at a time ("hypothetically, what if also ..."); "and"-words build on the last.
PREFIX = re.compile(
    r"(?:(?:ok|okay|so|but|well|hm+|hey|now|right|alright|btw|oh|wait|then)\b"
    r"(?:[\s,.!:;]|-(?=\s))*){0,3}"
    r"(and then what if|additionally what if|and what if|what if also|and also|and if|additionally|and then"
    r"|and what about|and how about|and with|and now|same but with|same but"
    r"|and on top of that|on top of that|also|plus|what if|what about|how about if|how about|supposing|suppose"
    r"|assuming|assume|imagine|in a world where|hypothetically|let's say|lets say|and say|same thing but|if|say)\b"
    r"(?:[\s,.!?:;]|-(?=\s))*"
)
BUILDS_ON = frozenset(
    {"and what if", "what if also", "and also", "and if", "also", "plus", "and what about", "and how about",
     "and with", "and now", "same but with", "same but", "and on top of that", "on top of that", "and say",
     "same thing but", "and then what if", "additionally what if", "additionally", "and then"}
)  # fmt: skip
# Chatter in a thread often starts with these; they are a what-if only when they name a fact.
WEAK_PREFIXES = frozenset({"if", "say", "also", "and also", "plus", "suppose", "supposing"})
