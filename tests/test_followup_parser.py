"""The follow-up parser: every intent and fact phrasing it reads, what it refuses to guess, and that no text at all
makes it raise or crawl.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.answers import FACTS, MAX_COUNT, MAX_DAYS, Answers, Failure
from bot.followups.parser import MAX_TEXT, FollowUp, Intent, Unreadable, accepted_forms, parse_followup

HYPOTHETICAL = (Intent.WHAT_IF, Intent.AND_IF)


def check(result: FollowUp) -> None:
    """What holds for any parse: known intent, only valid values, only fact names, bounded echoes of the text."""
    assert isinstance(result, FollowUp)
    assert result.intent in set(Intent)
    if result.intent not in HYPOTHETICAL:
        assert (result.changes, result.unreadable, result.unrecognised) == ({}, (), ())
    for fact, value in result.changes.items():
        assert FACTS[fact].type != "text"
        assert getattr(Answers.model_validate({fact: value}), fact) == value
        assert type(value) is {"int": int, "bool": bool, "enum": str}[FACTS[fact].type]
    for unreadable in result.unreadable:
        assert isinstance(unreadable, Unreadable)
        assert unreadable.fact in FACTS
        assert unreadable.fact not in result.changes
        assert unreadable.accepted == accepted_forms(unreadable.fact)
        assert 0 < len(unreadable.said) <= 80
    assert len({u.fact for u in result.unreadable}) == len(result.unreadable)
    assert len(result.unrecognised) <= 5
    assert all(0 < len(said) <= 80 for said in result.unrecognised)


def parsed(text: str) -> FollowUp:
    result = parse_followup(text)
    check(result)
    return result


# --- Whole-message intents -----------------------------------------------------------------------------------------

COMMANDS = [
    (Intent.WHY, ["why", "why?", "WHY", "Why this", "why so", "why that verdict", "explain", "explain why", "reasons",
                  "please explain", "why this verdict?", "can you explain why?", "<@U0BOT123> why"]),
    (Intent.WHY_NOT, ["why not", "why not?", "why not fine-tune", "why not fine tune?", "why shouldn't we fine-tune",
                      "why not finetune it", "why don't we fine-tune", "why shouldn\u2019t we fine-tune?",
                      "why not just fine-tune",
                      "<@U0BOT123> why not?", "<@U0BOT123|bot> <@U0OTHER>  why not?"]),
    (Intent.RESET, ["reset", "  reset. ", "start over", "clear", "forget it", "never mind", "nevermind", "Reset!",
                    "please start over"]),
    (Intent.ANSWERS, ["answers", "show answers", "what are the answers", "facts", "show me the answers",
                      "what are the answers?", "list the facts"]),
    (Intent.RULES, ["rules", "which rules fired", "show rules", "what rules", "which rules fired?", "list the rules",
                    "can you show me the rules please"]),
    (Intent.HELP, ["help", "?", "??", "what can you do", "how does this work", "commands", "help!", "<@U0BOT123> ?",
                   "what can you do?", "hey bot, help"]),
    (Intent.APPLY, ["apply", "apply it", "apply this", "apply that", "apply the hypothetical", "save it", "make it so",
                    "please apply it", "could you apply that"]),
    (Intent.HISTORY, ["history", "History?", "show the history", "versions", "what changed?", "who changed it",
                      "<@U0BOT123> history", "can you show me the history please", "audit log"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "intent"), [(text, intent) for intent, texts in COMMANDS for text in texts], ids=repr)
def test_commands(text: str, intent: Intent) -> None:
    assert parsed(text) == FollowUp(intent)


NOT_UNDERSTOOD = [
    "thanks!", "great, thanks", "I wonder why the weather is bad", "I wonder why the weather is bad today", "lol", "",
    "   ", "<!channel>", "what if", "what if?", "and if", "what about...", "suppose", "ok", "okay!", "...", "\x00\x07",
    "why the weather", "I think we should fine tune", "can you", "the", "please", "<https://example.com|why>",
    "<@U0BOT123>", "why <@U0BOT123> not", "explain everything about the universe", "reset the database tomorrow",
    # "if", "say", "also" and "plus" start plenty of thread chatter: they are a what-if only when a fact is named.
    "say hi to everyone", "if anyone needs me I'm out", "also, thanks for this!", "plus ça change",
]  # fmt: skip


@pytest.mark.parametrize("text", NOT_UNDERSTOOD, ids=repr)
def test_not_understood(text: str) -> None:
    assert parsed(text) == FollowUp(Intent.NOT_UNDERSTOOD)


# --- What-ifs ------------------------------------------------------------------------------------------------------

# The examples in the product spec, verbatim.
SPEC_EXAMPLES = [
    ("what if we had 600 examples", Intent.WHAT_IF, {"n_stable_examples": 600}),
    ("what if requirements change monthly", Intent.WHAT_IF, {"change_freq_days": 30}),
    ("what if we tried dspy", Intent.WHAT_IF, {"tried_dspy": True}),
    ("what if it's a knowledge problem", Intent.WHAT_IF, {"primary_failure": "missing-knowledge"}),
    ("what if there is no eval set", Intent.WHAT_IF, {"has_eval_set": False}),
    ("and if we tried dspy", Intent.AND_IF, {"tried_dspy": True}),
    (
        "what if we had 600 examples and requirements change monthly and we tried dspy",
        Intent.WHAT_IF,
        {"n_stable_examples": 600, "change_freq_days": 30, "tried_dspy": True},
    ),
    ("What if... we had 1,200 examples?!", Intent.WHAT_IF, {"n_stable_examples": 1200}),
]


@pytest.mark.parametrize(("text", "intent", "changes"), SPEC_EXAMPLES, ids=[e[0] for e in SPEC_EXAMPLES])
def test_spec_examples(text: str, intent: Intent, changes: dict[str, Any]) -> None:
    assert parsed(text) == FollowUp(intent, changes)


def test_spec_example_unreadable_count() -> None:
    result = parsed("what if we had lots of examples")
    assert result.intent is Intent.WHAT_IF
    assert result.changes == {}
    assert result.unrecognised == ()
    [unreadable] = result.unreadable
    assert unreadable.fact == "n_stable_examples"
    assert unreadable.said == "we had lots of examples"
    assert "whole number" in unreadable.accepted


PREFIXES = [
    ("what if we had 600 examples", Intent.WHAT_IF), ("what about 600 examples", Intent.WHAT_IF),
    ("suppose we had 600 examples", Intent.WHAT_IF), ("imagine we had 600 examples", Intent.WHAT_IF),
    ("if we had 600 examples", Intent.WHAT_IF), ("say we had 600 examples", Intent.WHAT_IF),
    ("hypothetically, we had 600 examples", Intent.WHAT_IF),
    ("hypothetically, what if we had 600 examples", Intent.WHAT_IF),
    ("suppose that we had 600 examples", Intent.WHAT_IF), ("ok, what if we had 600 examples", Intent.WHAT_IF),
    ("but what if we had 600 examples", Intent.WHAT_IF), ("What if: 600 examples", Intent.WHAT_IF),
    ("<@U0BOT123> what if we had 600 examples?", Intent.WHAT_IF), ("what if — we had 600 examples", Intent.WHAT_IF),
    ("and if we had 600 examples", Intent.AND_IF), ("and what if we had 600 examples", Intent.AND_IF),
    ("also 600 examples", Intent.AND_IF), ("and also 600 examples", Intent.AND_IF),
    ("plus 600 examples", Intent.AND_IF), ("what if also we had 600 examples", Intent.AND_IF),
    ("And if... 600 examples?", Intent.AND_IF),
]  # fmt: skip


@pytest.mark.parametrize(("text", "intent"), PREFIXES, ids=[p[0] for p in PREFIXES])
def test_prefixes(text: str, intent: Intent) -> None:
    assert parsed(text) == FollowUp(intent, {"n_stable_examples": 600})


# Each phrasing after "what if ": the changes it makes, and nothing unreadable or unrecognised.
PHRASINGS: list[tuple[str, dict[str, Any]]] = [
    # n_stable_examples
    *[(f"we had {n} examples", {"n_stable_examples": v}) for n, v in [
        ("600", 600), ("1,200", 1200), ("1200", 1200), ("1.2k", 1200), ("2k", 2000), ("10k", 10_000),
        ("1m", 1_000_000), ("1.5 million", 1_500_000), ("five", 5), ("ten", 10), ("twenty", 20), ("fifty", 50),
        ("twenty five", 25), ("a hundred", 100), ("a thousand", 1000), ("1,000,000,000", MAX_COUNT), ("0", 0),
        ("about 600", 600), ("twelve hundred", 1200)]],
    ("600 stable examples", {"n_stable_examples": 600}), ("600 labelled examples", {"n_stable_examples": 600}),
    ("600 labeled examples", {"n_stable_examples": 600}), ("600 good examples", {"n_stable_examples": 600}),
    ("600 high-quality examples", {"n_stable_examples": 600}), ("600 training examples", {"n_stable_examples": 600}),
    ("600 samples", {"n_stable_examples": 600}), ("600 demonstrations", {"n_stable_examples": 600}),
    ("examples 600", {"n_stable_examples": 600}), ("n_stable_examples 600", {"n_stable_examples": 600}),
    ("n_stable_examples=600", {"n_stable_examples": 600}), ("n_stable_examples: 600", {"n_stable_examples": 600}),
    ("no examples", {"n_stable_examples": 0}), ("we only had 600 examples", {"n_stable_examples": 600}),
    ("600 examples of support tickets", {"n_stable_examples": 600}),
    # primary_failure
    ("it's a knowledge problem", {"primary_failure": "missing-knowledge"}),
    ("missing knowledge", {"primary_failure": "missing-knowledge"}),
    ("knowledge gap", {"primary_failure": "missing-knowledge"}),
    ("the model lacks knowledge", {"primary_failure": "missing-knowledge"}),
    ("style problem", {"primary_failure": "style"}), ("it's about style", {"primary_failure": "style"}),
    ("tone", {"primary_failure": "style"}), ("format problem", {"primary_failure": "format"}),
    ("output format", {"primary_failure": "format"}), ("formatting", {"primary_failure": "format"}),
    ("tool calling problem", {"primary_failure": "tool-shape"}), ("tool use", {"primary_failure": "tool-shape"}),
    ("tool shape", {"primary_failure": "tool-shape"}), ("function calling", {"primary_failure": "tool-shape"}),
    ("latency problem", {"primary_failure": "latency"}), ("too slow", {"primary_failure": "latency"}),
    ("latency is the problem", {"primary_failure": "latency"}), ("cost problem", {"primary_failure": "cost"}),
    ("too expensive", {"primary_failure": "cost"}), ("cost is the problem", {"primary_failure": "cost"}),
    ("reasoning problem", {"primary_failure": "reasoning"}), ("bad reasoning", {"primary_failure": "reasoning"}),
    ("other problem", {"primary_failure": "other"}),
    ("primary_failure tool-shape", {"primary_failure": "tool-shape"}),
    ("primary_failure tool shape", {"primary_failure": "tool-shape"}),
    ("primary_failure=missing_knowledge", {"primary_failure": "missing-knowledge"}),
    ("the failure is format", {"primary_failure": "format"}),
    ("the problem is missing knowledge", {"primary_failure": "missing-knowledge"}),
    ("the problem is latency", {"primary_failure": "latency"}),
    ("it's a style problem", {"primary_failure": "style"}),
    # change_freq_days
    *[(f"requirements change {when}", {"change_freq_days": days}) for when, days in [
        ("monthly", 30), ("weekly", 7), ("daily", 1), ("every day", 1), ("biweekly", 14), ("fortnightly", 14),
        ("every two weeks", 14), ("quarterly", 90), ("yearly", 365), ("annually", 365), ("every year", 365),
        ("every 3 weeks", 21), ("every 10 days", 10), ("every 2 months", 60), ("never", MAX_DAYS),
        ("once a month", 30)]],
    ("requirements are stable", {"change_freq_days": MAX_DAYS}),
    ("requirements don't change", {"change_freq_days": MAX_DAYS}),
    ("requirements never change", {"change_freq_days": MAX_DAYS}),
    ("the requirements change weekly", {"change_freq_days": 7}), ("specs change weekly", {"change_freq_days": 7}),
    ("the spec changes weekly", {"change_freq_days": 7}), ("the task changes daily", {"change_freq_days": 1}),
    ("requirements changed monthly", {"change_freq_days": 30}),
    ("change_freq_days 30", {"change_freq_days": 30}), ("change_freq_days=weekly", {"change_freq_days": 7}),
    # tried_prompt_iteration, prompt_iterations, prompt_authors
    ("we iterated on the prompt", {"tried_prompt_iteration": True}),
    ("we tried prompt iteration", {"tried_prompt_iteration": True}),
    ("tried prompting", {"tried_prompt_iteration": True}),
    ("we haven't iterated on the prompt", {"tried_prompt_iteration": False}),
    ("tried_prompt_iteration yes", {"tried_prompt_iteration": True}),
    ("20 prompt iterations", {"prompt_iterations": 20}), ("iterated 20 times", {"prompt_iterations": 20}),
    ("20 iterations", {"prompt_iterations": 20}), ("we iterated on the prompt 20 times", {"prompt_iterations": 20}),
    ("prompt_iterations 20", {"prompt_iterations": 20}),
    ("3 prompt authors", {"prompt_authors": 3}), ("3 authors", {"prompt_authors": 3}),
    ("3 people wrote the prompts", {"prompt_authors": 3}), ("prompt_authors=3", {"prompt_authors": 3}),
    # tried_few_shot, tried_rag, tried_cot, tried_dspy
    ("we tried dspy", {"tried_dspy": True}), ("tried dspy", {"tried_dspy": True}),
    ("tried mipro", {"tried_dspy": True}), ("tried miprov2", {"tried_dspy": True}), ("used dspy", {"tried_dspy": True}),
    ("we tried few-shot", {"tried_few_shot": True}), ("few shot", {"tried_few_shot": True}),
    ("fewshot examples", {"tried_few_shot": True}), ("we tried few-shot examples", {"tried_few_shot": True}),
    ("tried rag", {"tried_rag": True}), ("retrieval", {"tried_rag": True}),
    ("tried chain of thought", {"tried_cot": True}), ("cot", {"tried_cot": True}),
    ("chain-of-thought", {"tried_cot": True}),
    ("we haven't tried dspy", {"tried_dspy": False}), ("didn't try rag", {"tried_rag": False}),
    ("not tried cot", {"tried_cot": False}), ("never tried few-shot", {"tried_few_shot": False}),
    ("no dspy", {"tried_dspy": False}), ("without rag", {"tried_rag": False}),
    ("we tried dspy and rag", {"tried_dspy": True, "tried_rag": True}),
    ("we tried dspy, rag and cot", {"tried_dspy": True, "tried_rag": True, "tried_cot": True}),
    ("we haven't tried dspy or rag", {"tried_dspy": False, "tried_rag": False}),
    ("we tried dspy but not rag", {"tried_dspy": True, "tried_rag": False}),
    ("tried_dspy=no", {"tried_dspy": False}), ("tried_rag true", {"tried_rag": True}),
    # has_eval_set
    ("there is no eval set", {"has_eval_set": False}), ("no eval set", {"has_eval_set": False}),
    ("no evals", {"has_eval_set": False}), ("we have an eval set", {"has_eval_set": True}),
    ("with an eval set", {"has_eval_set": True}), ("an eval set", {"has_eval_set": True}),
    ("eval set", {"has_eval_set": True}), ("evals", {"has_eval_set": True}),
    ("a held-out eval set", {"has_eval_set": True}), ("a test set", {"has_eval_set": True}),
    ("has_eval_set: false", {"has_eval_set": False}),
    # needs_citations
    ("we need citations", {"needs_citations": True}), ("citations are required", {"needs_citations": True}),
    ("compliance needs citations", {"needs_citations": True}), ("no citations needed", {"needs_citations": False}),
    ("citations aren't needed", {"needs_citations": False}),
    # style_describable
    ("the style is describable", {"style_describable": True}),
    ("we can describe the style", {"style_describable": True}),
    ("we can't describe the style", {"style_describable": False}),
    ("the style is not describable", {"style_describable": False}),
    # n_tools
    ("50 tools", {"n_tools": 50}), ("the model has 12 tools", {"n_tools": 12}), ("no tools", {"n_tools": 0}),
    ("n_tools 7", {"n_tools": 7}),
    # daily_calls
    ("100k calls a day", {"daily_calls": 100_000}), ("1M calls per day", {"daily_calls": 1_000_000}),
    ("5000 calls/day", {"daily_calls": 5000}), ("100k requests a day", {"daily_calls": 100_000}),
    ("2 million calls daily", {"daily_calls": 2_000_000}), ("daily_calls 5000", {"daily_calls": 5000}),
    ("we get 100k daily calls", {"daily_calls": 100_000}),
    # latency_sensitive
    ("latency matters", {"latency_sensitive": True}), ("it's latency sensitive", {"latency_sensitive": True}),
    ("latency-sensitive", {"latency_sensitive": True}), ("latency doesn't matter", {"latency_sensitive": False}),
    ("not latency sensitive", {"latency_sensitive": False}),
    # chasing_small_benchmark_gain
    ("we're chasing a small benchmark gain", {"chasing_small_benchmark_gain": True}),
    ("chasing a 2 point mmlu bump", {"chasing_small_benchmark_gain": True}),
    ("a small benchmark gain", {"chasing_small_benchmark_gain": True}),
    ("not chasing a benchmark", {"chasing_small_benchmark_gain": False}),
    # retrain_cadence_days
    ("we retrain weekly", {"retrain_cadence_days": 7}), ("retrain every 30 days", {"retrain_cadence_days": 30}),
    ("retraining monthly", {"retrain_cadence_days": 30}), ("retrain cadence 14 days", {"retrain_cadence_days": 14}),
    ("retrain_cadence_days 90", {"retrain_cadence_days": 90}),
    # several at once, and curly quotes
    ("we had 600 examples with an eval set", {"n_stable_examples": 600, "has_eval_set": True}),
    ("600 examples; 12 tools & no evals", {"n_stable_examples": 600, "n_tools": 12, "has_eval_set": False}),
    ("600 examples &amp; rag", {"n_stable_examples": 600, "tried_rag": True}),
    ("\u201c600 examples\u201d", {"n_stable_examples": 600}),
    ("it\u2019s a knowledge problem", {"primary_failure": "missing-knowledge"}),
    ("we\u2019ve got 600 examples", {"n_stable_examples": 600}),
]  # fmt: skip


@pytest.mark.parametrize(("phrase", "changes"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_phrasings(phrase: str, changes: dict[str, Any]) -> None:
    assert parsed(f"what if {phrase}") == FollowUp(Intent.WHAT_IF, changes)


@pytest.mark.parametrize(("phrase", "changes"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_phrased_changes_are_valid_answers(phrase: str, changes: dict[str, Any]) -> None:
    read = parse_followup(f"what if {phrase}").changes
    for fact, value in read.items():
        assert getattr(Answers.model_validate({fact: value}), fact) == value
    assert Answers.model_validate(read).known() == changes  # together, too, and nothing coerced on the way


# Facts named with a value that cannot be read: reported, never guessed.
UNREADABLE = [
    ("we had lots of examples", "n_stable_examples"), ("more examples", "n_stable_examples"),
    ("a few examples", "n_stable_examples"), ("-5 examples", "n_stable_examples"),
    ("1e99 examples", "n_stable_examples"), ("2,000,000,000 examples", "n_stable_examples"),
    ("1.5 examples", "n_stable_examples"), ("we don't know how many examples", "n_stable_examples"),
    ("examples unknown", "n_stable_examples"), ("n_stable_examples=lots", "n_stable_examples"),
    ("the problem is something weird", "primary_failure"), ("primary_failure stlye", "primary_failure"),
    ("requirements change sometimes", "change_freq_days"), ("requirements change often", "change_freq_days"),
    ("requirements change hourly", "change_freq_days"), ("requirements change every 0 days", "change_freq_days"),
    ("requirements change", "change_freq_days"), ("retrain", "retrain_cadence_days"),
    ("100001 tools", "n_tools"), ("lots of calls a day", "daily_calls"), ("maybe we have an eval set", "has_eval_set"),
    ("tried_dspy maybe", "tried_dspy"), ("use_case chatbot", "use_case"), ("notes: call me", "notes"),
]  # fmt: skip


@pytest.mark.parametrize(("phrase", "fact"), UNREADABLE, ids=[u[0] for u in UNREADABLE])
def test_unreadable_values(phrase: str, fact: str) -> None:
    result = parsed(f"what if {phrase}")
    assert result == FollowUp(Intent.WHAT_IF, unreadable=(Unreadable(fact, phrase, accepted_forms(fact)),))


def test_markup_is_never_read_as_a_value() -> None:
    assert parsed("what if we had <https://example.com|600> examples").unreadable[0].fact == "n_stable_examples"
    assert parsed("what if <https://example.com|dspy>") == FollowUp(Intent.NOT_UNDERSTOOD)  # names no fact
    assert parsed("what if <@U123> tried dspy").changes == {"tried_dspy": True}


def test_clauses_naming_no_fact_are_unrecognised() -> None:
    result = parsed("what if we had 600 examples and a pony")
    assert result == FollowUp(Intent.WHAT_IF, {"n_stable_examples": 600}, unrecognised=("a pony",))
    many = parsed("what if 600 examples, " + ", ".join(f"pony {i}" for i in range(10)))
    assert many.unrecognised == ("pony 0", "pony 1", "pony 2", "pony 3", "pony 4")
    long = parsed("what if 600 examples, " + "x" * 300)
    assert len(long.unrecognised[0]) == 80


@pytest.mark.parametrize(
    "text",
    ["what about lunch?", "what if we get lunch first", "what if it rains tomorrow", "suppose so",
     "if anyone wants to pair on the eval set, ping me", "say, does anyone have the eval set link?"],
)  # fmt: skip
def test_a_what_if_that_names_no_fact_or_addresses_people_is_chatter(text: str) -> None:
    assert parsed(text) == FollowUp(Intent.NOT_UNDERSTOOD)


MEANINGS = [
    (Intent.WHY, ["Why did it say that?", "why does it recommend DSPy?", "how come?", "but why though",
                  "what's the reasoning here", "can you explain that?", "hmm why"]),
    (Intent.WHY_NOT, ["why shouldn't we just fine-tune?", "what's wrong with fine-tuning here?"]),
    (Intent.ANSWERS, ["what did we put in the form?", "remind me of our answers", "what are the current answers?"]),
    (Intent.RULES, ["which rules fired here?", "what rule decided this"]),
    (Intent.HISTORY, ["who changed this and when?", "what has changed since yesterday's version?"]),
    (Intent.RESET, ["forget the what-ifs", "ok let's start over", "back to the real answers", "scrap that"]),
    (Intent.APPLY, ["ok let's go with that", "great, save this as our answers", "use those answers instead"]),
    (Intent.HELP, ["what can I ask you?", "how does this work?", "what should I type here?"]),
]  # fmt: skip
CHATTER = [
    "thanks for the answers!", "why is the dashboard down?", "reset the database tomorrow", "I wonder why",
    "@alice can you check the history of that ticket", "lol", "nice, thanks", "I'll try DSPy this week",
    "can someone explain the eval numbers to me at standup",
]  # fmt: skip


@pytest.mark.parametrize(("text", "intent"), [(t, i) for i, texts in MEANINGS for t in texts], ids=repr)
def test_intents_by_meaning(text: str, intent: Intent) -> None:
    assert parsed(text) == FollowUp(intent)


@pytest.mark.parametrize("text", CHATTER, ids=repr)
def test_chatter_that_mentions_a_command_word_is_not_answered(text: str) -> None:
    assert parsed(text) == FollowUp(Intent.NOT_UNDERSTOOD)


def test_the_last_mention_of_a_fact_wins() -> None:
    assert parsed("what if 600 examples and 700 examples").changes == {"n_stable_examples": 700}
    assert parsed("what if lots of examples and 600 examples") == FollowUp(Intent.WHAT_IF, {"n_stable_examples": 600})
    last_unreadable = parsed("what if 600 examples and lots of examples")
    assert (last_unreadable.changes, [u.fact for u in last_unreadable.unreadable]) == ({}, ["n_stable_examples"])


def test_said_is_whitespace_collapsed_and_short() -> None:
    [unreadable] = parsed("what if   we had\tlots   of examples").unreadable
    assert unreadable.said == "we had lots of examples"
    [long] = parsed("what if we had " + "very " * 40 + "many examples").unreadable
    assert long.fact == "n_stable_examples"
    assert len(long.said) <= 80


# --- Accepted forms ------------------------------------------------------------------------------------------------


def test_accepted_forms_wording() -> None:
    assert (
        accepted_forms("n_stable_examples")
        == 'a whole number from 0 to 1,000,000,000, as in "what if we had 600 examples"'
    )
    assert accepted_forms("tried_dspy") == 'yes or no, as in "we tried dspy" or "we haven\'t tried dspy"'
    assert accepted_forms("change_freq_days").startswith('how often, as in "requirements change weekly"')
    assert all(
        choice.replace("-", " ") in accepted_forms("primary_failure") for choice in FACTS["primary_failure"].choices
    )
    assert "Edit answers" in accepted_forms("use_case")
    with pytest.raises(KeyError):
        accepted_forms("n_examples")


@pytest.mark.parametrize("fact", [name for name, fact in FACTS.items() if fact.type != "text"])
def test_accepted_forms_examples_parse(fact: str) -> None:
    """The examples a reply offers are read back as the fact they illustrate."""
    examples = re.findall(r'"([^"]+)"', accepted_forms(fact))
    assert examples
    first = examples[0].removeprefix("what if ")
    assert fact in parsed(f"what if {first}").changes
    if FACTS[fact].type == "bool":
        assert parsed(f"what if {examples[0]}").changes == {fact: True}
        assert parsed(f"what if {examples[1]}").changes == {fact: False}
    if fact in DAY_EXAMPLE_VALUES:
        subject = first.rsplit(" ", 1)[0]  # "requirements change", "we retrain"
        read = [parsed(f"what if {subject} {when.removeprefix(subject)}").changes[fact] for when in examples]
        assert read == DAY_EXAMPLE_VALUES[fact]


DAY_EXAMPLE_VALUES = {"change_freq_days": [7, 30, 10], "retrain_cadence_days": [7, 30, 30]}


@pytest.mark.parametrize("failure", list(Failure))
def test_every_failure_choice_reads(failure: Failure) -> None:
    words = failure.value.replace("-", " ")
    assert parsed(f"what if the problem is {words}").changes == {"primary_failure": failure.value}
    assert parsed(f"what if primary_failure {failure.value}").changes == {"primary_failure": failure.value}


# --- Properties ----------------------------------------------------------------------------------------------------

VOCABULARY = [
    "what if", "and if", "what about", "also", "plus", "if", "say", "why", "not", "why not", "reset", "apply", "help",
    "we", "had", "have", "no", "600", "1,200", "1.2k", "1.5 million", "-5", "1e99", "99999999999999999999", "twenty",
    "hundred", "examples", "requirements", "change", "every", "3", "weeks", "monthly", "never", "tried", "haven't",
    "dspy", "rag", "cot", "few-shot", "eval set", "citations", "style", "describable", "problem", "is", "knowledge",
    "tools", "calls a day", "latency", "matters", "benchmark", "retrain", "n_stable_examples=", "primary_failure",
    "use_case", "maybe", "unknown", "and", "with", "or", ",", ";", "&", "&amp;", "/", "?", "!", ".", "...", "…",
    "\u201c", "\u201d", "\u2019", "'", '"', ":", "=", "-", "<@U123>", "<@U123|bob>", "<!channel>",
    "<https://x.test|600>", "<#C1|dspy>",
    "<", ">", "|", "\x00", "\n", "\t", "\u200b", "🙂", "İ", "ß",
]  # fmt: skip
mixed_text = st.lists(st.sampled_from(VOCABULARY), max_size=30).flatmap(
    lambda words: st.sampled_from([" ".join(words), "".join(words), ", ".join(words)])
)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(), st.text(max_size=MAX_TEXT), mixed_text))
def test_any_text_parses(text: str) -> None:
    check(parse_followup(text))


@settings(max_examples=50, deadline=None)
@given(text=st.one_of(st.text(), mixed_text))
def test_over_long_text_is_not_understood(text: str) -> None:
    long = "what if we had 600 examples " + text + " " * MAX_TEXT
    assert parse_followup(long) == FollowUp(Intent.NOT_UNDERSTOOD)


# Only texts with words besides markup: "?" alone (or after a mention) asks for help.
TABLE_TEXTS = sorted(
    text
    for text in {text for _, texts in COMMANDS for text in texts}
    | {text for text, _, _ in SPEC_EXAMPLES}
    | {text for text, _ in PREFIXES}
    | {f"what if {phrase}" for phrase, _ in PHRASINGS + UNREADABLE}
    | {"what if we had lots of examples", *NOT_UNDERSTOOD}
    if re.search(r"\w", re.sub(r"<[^<>]*>", "", text))
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(TABLE_TEXTS),
    punctuation=st.text(alphabet="?!.…,:;\"'\u201c\u201d\u2019 ", max_size=4),
    case=st.sampled_from([str.upper, str.lower, str.title, str.swapcase, str.capitalize]),
)
def test_case_and_trailing_punctuation_do_not_matter(text: str, punctuation: str, case: Any) -> None:
    assert parse_followup(case(text) + punctuation) == parse_followup(text)


def test_large_and_pathological_inputs_return() -> None:
    for text in [
        "x" * 10_000,
        "what if " + "1," * 5000,
        "what if " + "1," * 995,
        "what if " + "9" * 1990,
        "what if " + "a " * 995,
        "what if " + "examples " * 220,
        "what if " + "problem " * 220,
        "what if " + "<" * 1990,
        "what if " + "<@U1>" * 398,
        "what if requirements change " + "every " * 300,
        "what if " + "twenty " * 280,
        "why " * 500,
        "\x00" * MAX_TEXT,
    ]:
        check(parse_followup(text))
    assert parse_followup("what if " + "1," * 5000) == FollowUp(Intent.NOT_UNDERSTOOD)


def test_the_parser_is_pure() -> None:
    code = (
        "import sys, bot.followups.parser; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'slack_bolt', 'slack_sdk', 'redis', 'jinja2'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_new_fact_needs_no_change_to_the_reader() -> None:
    """A fact added to `FACTS` (with or without words) is read by its name, and the reader imports cleanly."""
    program = (
        "from bot.engine import answers\n"
        "answers.FACTS['n_reviewers'] = answers.Fact('n_reviewers', 'int', 'How many reviewers?', 0, 100)\n"
        "answers.FACTS['uses_gpu'] = answers.Fact('uses_gpu', 'bool', 'GPU?', words=answers.Words(names='gpus?',"
        " examples=('we use a gpu', 'no gpu')))\n"
        "from bot.followups.parser import parse_followup, accepted_forms\n"
        "assert parse_followup('what if n_reviewers 4').changes == {'n_reviewers': 4}\n"
        "assert parse_followup('what if we had no gpu').changes == {'uses_gpu': False}\n"
        "assert 'we use a gpu' in accepted_forms('uses_gpu')\n"
        "assert 'whole number' in accepted_forms('n_reviewers')\n"
    )
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
