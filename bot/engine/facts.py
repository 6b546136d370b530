"""The facts a decision is made from, as the engine, the form, the command line and follow-ups know them: each
fact's question, bounds and choices, and the words people type for it. The one home of every fact's words."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

# Largest count or number of days the bot accepts. Anything past these is a typo, not a use case.
MAX_COUNT = 1_000_000_000
MAX_DAYS = 36_500
MAX_SMALL_COUNT = 100_000


class Failure(StrEnum):
    """What is actually going wrong with the model today."""

    MISSING_KNOWLEDGE = "missing-knowledge"
    STYLE = "style"
    FORMAT = "format"
    TOOL_SHAPE = "tool-shape"
    LATENCY = "latency"
    COST = "cost"
    REASONING = "reasoning"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FailureWords:
    """How people say what is failing, as data (see `Words`). `names` are whole clauses that name it ("too slow",
    "json errors"); `weak` only after "the problem is" or before "problem" ("cost", "speed"), since alone they
    mean something else; `said` is a pattern that names it anywhere in a clause ("the model doesn't know our
    product facts")."""

    names: str
    weak: str = ""
    said: str = ""


FAILURE_WORDS: dict[Failure, FailureWords] = {
    Failure.MISSING_KNOWLEDGE: FailureWords(
        names=(
            "knowledge|missing knowledge|knowledge gap|lack of knowledge|lack knowledge|lacks knowledge"
            "|model lacks knowledge|lacking knowledge|domain knowledge|missing facts|facts"
            "|missing context|hallucinations|hallucination|hallucinating|made up facts|stale facts"
            "|outdated facts|product knowledge"
        ),
        said=(
            r"(?:doesn't|doesnt|does not|didn't|didnt) know (?!how\b|what\b|if\b|whether\b|when\b|why\b|yet\b)\w+"
            r"|not knowing\b|makes? (?:\w+ )?up\b|made up\b|invents?\b"
            r"|(?:don't|dont) know (?:about )?(?:\w+ )?(?:facts|products?|domain|company|policies|policy|pricing"
            r"|docs|documentation|catalog|catalogue|inventory|customers?|latest|recent|new|internal|answers?)"
            r"|hallucinat\w*|lacks? (?:the )?(?:facts|knowledge|context)|(?:product|domain|company|policy)"
            r" (?:facts|knowledge)"
        ),
    ),
    Failure.STYLE: FailureWords(
        names="style|tone|voice|writing style|brand voice|wording|tone of voice",
        said=r"sounds? (?:robotic|off|wrong|stiff)|(?:wrong|off) (?:tone|voice)|off brand",
    ),
    Failure.FORMAT: FailureWords(
        names=(
            "format|formatting|output format|output formatting|structure|output structure|json"
            "|invalid json|broken json|malformed json|malformed output|schema|schema errors|json errors"
            "|parsing errors|parse errors"
        ),
        said=(
            r"(?:invalid|broken|malformed|bad) (?:json|output|schema)|json (?:errors?|issues?)"
            r"|schema (?:errors?|violations?)|(?:doesn't|doesnt|does not) (?:follow|match) (?:the )?schema"
        ),
    ),
    Failure.TOOL_SHAPE: FailureWords(
        names=(
            "tool shape|tool calling|tool calls|tool use|tool usage|function calling|tool arguments"
            "|tool args|function arguments|wrong tool|wrong tools|wrong function|tool selection"
        ),
        said=(
            r"(?:wrong|garbage|bad|invalid) (?:arguments|args|parameters|params)|picking (?:the )?wrong one"
            r"|picks (?:the )?wrong one|wrong (?:tools?|functions?)|(?:tool|function) (?:arguments|args|calls?)"
            r" (?:are )?wrong|picks? (?:the )?wrong (?:tool|function)"
        ),
    ),
    Failure.LATENCY: FailureWords(
        names="too slow|slow|slowness|sluggish|laggy|response time|slow responses",
        weak="latency|speed",
        said=r"too slow|takes? (?:too|way too) long|slow (?:responses?|answers?)",
    ),
    Failure.COST: FailureWords(
        names=(
            "too expensive|expensive|pricey|too costly|costly|bill|the bill|inference cost|inference costs|token costs"
        ),
        weak="cost|costs|price|spend",
        said=r"too expensive|costs? too much|(?:inference|token|api) (?:bill|costs?|spend)",
    ),
    Failure.REASONING: FailureWords(
        names=(
            "reasoning|bad reasoning|poor reasoning|weak reasoning|logic|logic errors|math|math mistakes"
            "|arithmetic|multi step reasoning|reasoning errors"
        ),
        said=r"(?:math|logic|reasoning) (?:mistakes|errors)|reasons? badly|can't reason|cant reason",
    ),
    Failure.OTHER: FailureWords(names="", weak="other|something else"),
}


FactType = Literal["int", "bool", "enum", "text"]


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


# Pieces the patterns share.
_ADJ = r"(?:stable |labell?ed |good |high quality |quality |training |clean |curated |gold |golden |annotated |real )"
_EXAMPLES = r"(?:examples?|samples?|demonstrations?|demos)"
_CALLS = r"(?:calls?|requests?|queries|query|invocations?|inferences?|messages|conversations|tickets|hits)"
_VOLUME = r"(?:volume|traffic|load|usage)"
_DAY = r"(?:(?:per |each |every )?day|daily)"
_REQS = r"(?:product |business )?(?:requirements?|reqs|specs?|specifications?|task(?: definitions?)?|definitions?)"
_CHANGE = r"(?:change[sd]?|changing|shift(?:s|ed)?|evolve[sd]?|update[sd]?)"
_RETRAIN = r"(?:re ?train(?:s|ed|ing)?|refresh(?:es|ed|ing)? (?:fine tuned |tuned )?model)"
_PEOPLE = r"(?:people|persons?|engineers?|folks|devs|developers|teammates|colleagues|team members)"


@dataclass(frozen=True, slots=True)
class Fact:
    """One field of `Answers` as the rule engine sees it."""

    name: str
    type: FactType
    question: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    # Set on the facts a team can change by its own work ("levers"): counts only grow, yes/no only turns to yes.
    # The phrase is the condition as a person reads it: {to} is the new count, {more} how many more than today.
    lever: str | None = None
    words: Words = field(default_factory=Words)


def _int(
    name: str, question: str, minimum: int, maximum: int, *, lever: str | None = None, words: Words | None = None
) -> Fact:
    return Fact(name, "int", question, minimum=minimum, maximum=maximum, lever=lever, words=words or Words())


def _bool(name: str, question: str, lever: str | None = None, words: Words | None = None) -> Fact:
    return Fact(name, "bool", question, lever=lever, words=words or Words())


def _text(name: str, question: str) -> Fact:
    return Fact(name, "text", question)


# In the order the form and the interactive CLI ask them. The bounds repeat the model's (a test keeps them equal).
FACTS: dict[str, Fact] = {
    fact.name: fact
    for fact in (
        _text("use_case", "What is the use case, in a few words?"),
        _int(
            "n_stable_examples",
            "How many stable, high-quality examples do you have?",
            0,
            MAX_COUNT,
            lever="you collect {to:,} stable, high-quality examples ({more:,} more)",
            words=Words(
                patterns=(
                    rf"(?P<v>.+?) {_ADJ}{{0,2}}{_EXAMPLES}(?: .+)?",
                    rf"{_ADJ}?{_EXAMPLES} (?P<v>.+)",
                ),
                examples=("what if we had 600 examples",),
            ),
        ),
        Fact(
            "primary_failure",
            "enum",
            "What is actually failing?",
            choices=tuple(failure.value for failure in Failure),
        ),
        _int(
            "change_freq_days",
            "How often do the requirements change, in days?",
            1,
            MAX_DAYS,
            words=Words(
                patterns=(
                    rf"{_REQS} {_CHANGE}(?: (?P<v>.+))?",
                    rf"{_REQS} (?P<v>\S+) {_CHANGE}",
                    (rf"{_REQS} (?:stable|fixed|frozen|static|settled|constant|unchanging|same)", MAX_DAYS),
                    (
                        rf"{_REQS} (?:never|don't|dont|doesn't|doesnt|won't|wont|do not|does not) {_CHANGE}(?: .+)?",
                        MAX_DAYS,
                    ),
                    rf"(?:\w+ )?{_CHANGE} {_REQS}(?: (?P<v>.+))?",
                    r"(?:change freq(?:uency)?|requirement changes?) (?P<v>.+)",
                    r"(?P<v>.+?) (?:requirements?|spec) changes",
                ),
                examples=("requirements change weekly", "every 10 days"),
            ),
        ),
        _bool(
            "tried_prompt_iteration",
            "Have you iterated on the prompt?",
            "a better prompt does not move your metric",
            words=Words(
                names=r"iterat\w*(?: on)? prompts?|prompt (?:iterations?|engineering|tuning|tweaking)|prompting"
                r"|iterat(?:ed|ing)|tried prompts?|tweak\w* prompts?|touch\w* prompts?",
                examples=("we iterated on the prompt", "we haven't iterated on the prompt"),
            ),
        ),
        _int(
            "prompt_iterations",
            "How many prompt iterations so far?",
            0,
            MAX_SMALL_COUNT,
            lever="{to} honest prompt iterations ({more} more) no longer move your metric",
            words=Words(
                patterns=(
                    r"(?P<v>.+?) (?:prompt )?(?:iterations?|revisions?|rewrites?|versions?|rounds?|passes)"
                    r"(?: (?:on|of) prompts?)?(?: total| in total| so far)?",
                    r"(?:iterated|revised|rewrote|rewritten|tweaked)(?: on)?(?: prompts?)? (?P<v>.+?) times",
                    r"(?:prompt )?iterations (?P<v>.+)",
                ),
                examples=("20 prompt iterations",),
            ),
        ),
        _int(
            "prompt_authors",
            "How many different people wrote them?",
            0,
            MAX_SMALL_COUNT,
            lever="{to} different people have written versions of the prompt ({more} more)",
            words=Words(
                patterns=(
                    r"(?P<v>.+?) (?:prompt )?(?:authors?|writers?)",
                    rf"(?P<v>.+?) (?:different )?{_PEOPLE}(?: .+)?",
                    rf"(?P<v>.+?) {_PEOPLE} (?:wrote|write|written|authored|edited|worked on) prompts?",
                    rf"prompts? (?:written|authored|edited) by (?P<v>.+?)(?: {_PEOPLE})?",
                    r"(?:prompt )?authors (?P<v>.+)",
                ),
                examples=("3 prompt authors",),
            ),
        ),
        _bool(
            "tried_few_shot",
            "Have you tried few-shot examples in the prompt?",
            "few-shot examples do not move your metric",
            words=Words(
                names=r"few ?shots?(?: examples?| prompting| prompts?| learning)?|in context (?:examples|learning)"
                r"|examples (?:to|in|into) prompts?",
                technique=True,
                examples=("we tried few-shot", "we haven't tried few-shot"),
            ),
        ),
        _bool(
            "tried_rag",
            "Have you tried retrieval (RAG)?",
            "retrieval does not move your metric",
            words=Words(
                names=r"rag|retrieval(?: augmented)?(?: generation)?",
                technique=True,
                examples=("we tried rag", "we haven't tried rag"),
            ),
        ),
        _bool(
            "tried_cot",
            "Have you tried chain-of-thought prompting?",
            "reasoning first does not move your metric",
            words=Words(
                names=r"cot|chain of thoughts?(?: prompting)?|step by step(?: reasoning| prompting)?",
                technique=True,
                examples=("we tried chain of thought", "we haven't tried chain of thought"),
            ),
        ),
        _bool(
            "tried_dspy",
            "Have you tried DSPy prompt optimisation (e.g. MIPROv2)?",
            "DSPy does not move your metric",
            words=Words(
                names=r"dspy|mipro ?v2|mipro|(?:automatic |automated )?prompt optimi[sz](?:ation|er|ing)",
                technique=True,
                examples=("we tried dspy", "we haven't tried dspy"),
            ),
        ),
        _bool(
            "has_eval_set",
            "Do you have a held-out eval set with a metric?",
            "you build a held-out eval set",
            words=Words(
                names=r"(?:eval|evaluation|test|held out|holdout|hold out|validation|golden)(?: eval| evaluation)?"
                r" (?:sets?|suites?|data|dataset)|evals|evaluations|eval",
                examples=("we have an eval set", "there is no eval set"),
            ),
        ),
        _bool(
            "needs_citations",
            "Do compliance or audit require a citation for each answer?",
            words=Words(
                names=r"citations?|cite|citing|cited",
                examples=("we need citations", "no citations needed"),
            ),
        ),
        _bool(
            "style_describable",
            "Is the change you want a style you could describe in words?",
            words=Words(
                names=r"\w*describ\w*",
                examples=("we can describe the style", "we can't describe the style"),
            ),
        ),
        _int(
            "n_tools",
            "How many tools can the model call?",
            0,
            MAX_SMALL_COUNT,
            words=Words(
                patterns=(
                    r"(?:model )?(?P<v>.+?) (?:tools?|functions?|tool definitions)(?: available)?",
                    r"(?:number of )?tools (?P<v>.+)",
                ),
                examples=("the model has 12 tools",),
            ),
        ),
        _int(
            "daily_calls",
            "How many calls a day does the task get?",
            0,
            MAX_COUNT,
            words=Words(
                patterns=(
                    rf"(?P<v>.+?) {_CALLS} {_DAY}(?: .+)?",
                    rf"{_VOLUME} (?P<v>.+?) (?:{_CALLS} )?(?:per |each |every )?(?P<per>hour|week|month|year)",
                    rf"{_VOLUME} (?P<v>.+?) (?:{_CALLS} )?{_DAY}",
                    rf"(?P<v>double|triple|twice|half|halve|quadruple) (?:{_CALLS}|{_VOLUME})(?: .+)?",
                    rf"(?:{_CALLS}|{_VOLUME}) (?P<v>doubles|doubled|triples|tripled|halves|halved)(?: .+)?",
                    rf"(?P<v>.+?) {_CALLS} (?:per |each |every |an )?(?P<per>hour|week|month|year)(?: .+)?",
                    rf"(?P<v>.+?) (?P<per>weekly|monthly|yearly) {_CALLS}",
                    rf"(?P<v>.+?) (?:daily|per day) {_CALLS}",
                    rf"(?:daily {_CALLS}|{_CALLS} {_DAY}) (?P<v>.+)",
                ),
                examples=("100k calls a day",),
            ),
        ),
        _bool(
            "latency_sensitive",
            "Is the task latency-sensitive?",
            words=Words(
                names=r"latency (?:\S+ )?(?:sensitive|sensitivity|matters?|critical|important|insensitive|crucial"
                r"|concern|priority)|(?:sensitive|care|cares) (?:to|about) latency|real ?time|low latency"
                r"|(?:under|within) \d+ ?(?:ms|milliseconds)|sub ?second",
                examples=("latency matters", "latency doesn't matter"),
            ),
        ),
        _bool(
            "chasing_small_benchmark_gain",
            "Is the goal a small benchmark gain (a 1-2 point MMLU bump)?",
            words=Words(
                names=r"benchmarks?|mmlu|leaderboards?|sota",
                examples=("we're chasing a small benchmark gain", "we're not chasing a benchmark"),
            ),
        ),
        _int(
            "retrain_cadence_days",
            "If you fine-tuned, how often would you retrain, in days?",
            1,
            MAX_DAYS,
            lever="you retrain no more often than every {to} days",
            words=Words(
                patterns=(
                    (rf"(?:never|don't|dont|won't|wont) {_RETRAIN}(?: .+)?", MAX_DAYS),
                    rf"{_RETRAIN}(?: (?:cadence|frequency|interval|model|it))?(?: (?P<v>.+))?",
                    rf"(?P<v>.+?) {_RETRAIN}",
                ),
                examples=("we retrain weekly", "every 30 days"),
            ),
        ),
        _text("notes", "Anything else reviewers should know?"),
    )
}
