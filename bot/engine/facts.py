"""The facts a decision is made from: for each, what the engine knows (type, bounds, choices, lever) and every word
people read or type for it (question, hint, label, the answers offered, follow-up vocabulary).

The one home of a fact's words: the form, the command line, the thread's follow-up reader and the explanation all
read them from here. The failures' words are in `bot.engine.failures`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.engine.failures import FAILURE_OPTIONS, Failure
from bot.engine.words import Choice, Words

# Largest count or number of days the bot accepts. Anything past these is a typo, not a use case.
MAX_COUNT = 1_000_000_000
MAX_DAYS = 36_500
MAX_SMALL_COUNT = 100_000


FactType = Literal["int", "bool", "enum", "text"]


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
    """One field of `Answers`: what the rule engine knows of it, and every word people read or type for it.

    `question` is asked by the form, the command line and an explanation's open questions; `hint` and `placeholder`
    help under it in the form. `label` names the fact beside its value in messages ("Stable examples: 120").
    `options` are the answers the form and the thread's buttons offer, in the order shown: for an enum every choice,
    for a period the usual ones. `said` is how a sentence names an answer, `{}` standing for the value in words ("{}
    stable examples"); for a yes/no fact it names a yes, and `said_no` a no. `tried` is a technique's box under the
    form's "What have you tried already?" (its value, label, and its name in a sentence). `words` are how people
    type it (see `Words`).
    """

    name: str
    type: FactType
    question: str
    minimum: int | None = None
    maximum: int | None = None
    # An enum's closed set of values, in the engine's order (which decides ties between what-ifs).
    choices: tuple[str, ...] = ()
    # Set on the facts a team can change by its own work ("levers"): counts only grow, yes/no only turns to yes.
    # The phrase is the condition as a person reads it: {to} is the new count, {more} how many more than today.
    lever: str | None = None
    words: Words = field(default_factory=Words)
    label: str = ""
    hint: str | None = None
    placeholder: str | None = None
    options: tuple[Choice, ...] = ()
    said: str = ""
    said_no: str = ""
    tried: Choice | None = None


# How often requirements change, as the form offers it (in days).
_PERIOD_OPTIONS = (
    Choice(1, "Daily", "daily"),
    Choice(7, "Weekly", "weekly"),
    Choice(14, "Every two weeks", "every two weeks"),
    Choice(30, "Monthly", "monthly"),
    Choice(90, "Quarterly", "quarterly"),
    Choice(365, "Once a year or less", "yearly or less"),
)

# In the order the form and the interactive CLI ask them. The bounds repeat the model's (a test keeps them equal).
FACTS: dict[str, Fact] = {
    fact.name: fact
    for fact in (
        Fact(
            "use_case",
            "text",
            "What is the use case, in a few words?",
            label="Use case",
            placeholder="e.g. Triage support tickets into 12 queues",
        ),
        Fact(
            "n_stable_examples",
            "int",
            "How many stable, high-quality examples do you have?",
            0,
            MAX_COUNT,
            label="Stable examples",
            hint="Input/output pairs you would be happy to train on, that will still be right next month.",
            placeholder="e.g. 120",
            said="{} stable examples",
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
            label="What is failing",
            options=FAILURE_OPTIONS,
            said="failing: {}",
        ),
        Fact(
            "change_freq_days",
            "int",
            "How often do the requirements change?",
            1,
            MAX_DAYS,
            label="Requirements change",
            options=_PERIOD_OPTIONS,
            said="requirements change {}",
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
        Fact(
            "tried_prompt_iteration",
            "bool",
            "Have you iterated on the prompt?",
            label="Iterated on the prompt",
            tried=Choice("prompt", "Iterating on the prompt", "prompt iteration"),
            lever="a better prompt does not move your metric",
            words=Words(
                names=r"iterat\w*(?: on)? prompts?|prompt (?:iterations?|engineering|tuning|tweaking)|prompting"
                r"|iterat(?:ed|ing)|tried prompts?|tweak\w* prompts?|touch\w* prompts?",
                examples=("we iterated on the prompt", "we haven't iterated on the prompt"),
            ),
        ),
        Fact(
            "prompt_iterations",
            "int",
            "How many prompt iterations so far?",
            0,
            MAX_SMALL_COUNT,
            label="Prompt iterations",
            said="{} prompt iterations",
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
        Fact(
            "prompt_authors",
            "int",
            "How many different people wrote them?",
            0,
            MAX_SMALL_COUNT,
            label="Prompt authors",
            hint="Ten iterations by one person can still miss what a second pair of eyes sees.",
            said="{} prompt authors",
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
        Fact(
            "tried_few_shot",
            "bool",
            "Have you tried few-shot examples in the prompt?",
            label="Tried few-shot",
            tried=Choice("few-shot", "Few-shot examples in the prompt", "few-shot"),
            lever="few-shot examples do not move your metric",
            words=Words(
                names=r"few ?shots?(?: examples?| prompting| prompts?| learning)?|in context (?:examples|learning)"
                r"|examples (?:to|in|into) prompts?",
                technique=True,
                examples=("we tried few-shot", "we haven't tried few-shot"),
            ),
        ),
        Fact(
            "tried_rag",
            "bool",
            "Have you tried retrieval (RAG)?",
            label="Tried RAG",
            tried=Choice("rag", "Retrieval (RAG)", "RAG"),
            lever="retrieval does not move your metric",
            words=Words(
                names=r"rag|retrieval(?: augmented)?(?: generation)?",
                technique=True,
                examples=("we tried rag", "we haven't tried rag"),
            ),
        ),
        Fact(
            "tried_cot",
            "bool",
            "Have you tried chain-of-thought prompting?",
            label="Tried chain-of-thought",
            tried=Choice("cot", "Chain-of-thought", "chain-of-thought"),
            lever="reasoning first does not move your metric",
            words=Words(
                names=r"cot|chain of thoughts?(?: prompting)?|step by step(?: reasoning| prompting)?",
                technique=True,
                examples=("we tried chain of thought", "we haven't tried chain of thought"),
            ),
        ),
        Fact(
            "tried_dspy",
            "bool",
            "Have you tried DSPy prompt optimisation (e.g. MIPROv2)?",
            label="Tried DSPy",
            tried=Choice("dspy", "DSPy / MIPROv2 prompt optimisation", "DSPy"),
            lever="DSPy does not move your metric",
            words=Words(
                names=r"dspy|mipro ?v2|mipro|(?:automatic |automated )?prompt optimi[sz](?:ation|er|ing)",
                technique=True,
                examples=("we tried dspy", "we haven't tried dspy"),
            ),
        ),
        Fact(
            "has_eval_set",
            "bool",
            "Do you have a held-out eval set with a metric?",
            label="Eval set",
            said="an eval set",
            said_no="no eval set",
            lever="you build a held-out eval set",
            words=Words(
                names=r"(?:eval|evaluation|test|held out|holdout|hold out|validation|golden)(?: eval| evaluation)?"
                r" (?:sets?|suites?|data|dataset)|evals|evaluations|eval",
                examples=("we have an eval set", "there is no eval set"),
            ),
        ),
        Fact(
            "needs_citations",
            "bool",
            "Do compliance or audit need a citation for each answer?",
            label="Citations required",
            said="citations required",
            said_no="no citations required",
            words=Words(
                names=r"citations?|cite|citing|cited",
                examples=("we need citations", "no citations needed"),
            ),
        ),
        Fact(
            "style_describable",
            "bool",
            "Could you describe the style you want in words?",
            label="Style describable",
            said="a style you can describe",
            said_no="a style you cannot describe",
            words=Words(
                names=r"\w*describ\w*",
                examples=("we can describe the style", "we can't describe the style"),
            ),
        ),
        Fact(
            "n_tools",
            "int",
            "How many tools can the model call?",
            0,
            MAX_SMALL_COUNT,
            label="Tools",
            said="{} tools",
            words=Words(
                patterns=(
                    r"(?:model )?(?P<v>.+?) (?:tools?|functions?|tool definitions)(?: available)?",
                    r"(?:number of )?tools (?P<v>.+)",
                ),
                examples=("the model has 12 tools",),
            ),
        ),
        Fact(
            "daily_calls",
            "int",
            "How many calls a day does the task get?",
            0,
            MAX_COUNT,
            label="Calls a day",
            said="{} calls a day",
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
        Fact(
            "latency_sensitive",
            "bool",
            "Is the task latency-sensitive?",
            label="Latency-sensitive",
            said="latency-sensitive",
            said_no="not latency-sensitive",
            words=Words(
                names=r"latency (?:\S+ )?(?:sensitive|sensitivity|matters?|critical|important|insensitive|crucial"
                r"|concern|priority)|(?:sensitive|care|cares) (?:to|about) latency|real ?time|low latency"
                r"|(?:under|within) \d+ ?(?:ms|milliseconds)|sub ?second",
                examples=("latency matters", "latency doesn't matter"),
            ),
        ),
        Fact(
            "chasing_small_benchmark_gain",
            "bool",
            "Is the goal a small benchmark gain (a 1-2 point MMLU bump)?",
            label="Chasing a small benchmark gain",
            said="chasing a small benchmark gain",
            said_no="not chasing a small benchmark gain",
            words=Words(
                names=r"benchmarks?|mmlu|leaderboards?|sota",
                examples=("we're chasing a small benchmark gain", "we're not chasing a benchmark"),
            ),
        ),
        Fact(
            "retrain_cadence_days",
            "int",
            "If you fine-tuned, how often would you retrain (days)?",
            1,
            MAX_DAYS,
            label="Retrain every (days)",
            said="retraining every {} days",
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
        Fact("notes", "text", "Anything else reviewers should know?", label="Notes"),
    )
}
