"""Advice around a verdict, derived from the rules themselves: what follows if the next step does not work, and
which unanswered questions would change the outcome.

Both evaluate hypothetical answers with the same engine, so they can never disagree with the rules: the step that
follows a knowledge gap is whatever the rules say once retrieval has been tried (retrieval again, never fine-tuning),
and a question is asked only when one of its answers really changes the verdict or the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from bot.engine.analysis import candidate_values
from bot.engine.answers import FACTS, Answers, contradictions
from bot.engine.ruleset import NextStep, RuleSet, VerdictKind
from bot.engine.verdict import Verdict, evaluate

# How far ahead the plan looks: "if DSPy does not move your metric, build an eval set; once you have one, ...".
MAX_FOLLOWS = 3
# How many open questions the thread asks at once.
MAX_QUESTIONS = 3


@dataclass(frozen=True, slots=True)
class Follow:
    """If `condition` (the step `after` was tried and did not do it), the rules advise `then`."""

    after: NextStep
    condition: str
    then: Verdict


def what_follows(verdict: Verdict) -> list[Follow]:
    """The plan after this verdict's next step: each step's `done` answers applied in turn, up to fine-tuning, a
    step whose trying the form does not record, or advice that no longer changes."""
    follows: list[Follow] = []
    current, seen = verdict, {verdict.next_step}
    while len(follows) < MAX_FOLLOWS and current.verdict is VerdictKind.DONT_FINE_TUNE:
        info = verdict.ruleset.next_steps.get(current.next_step)
        if info is None or not info.done or info.if_done is None:
            break
        answers = with_answers(current.answers, _done(info.done, current.answers))
        if answers is None:
            break
        after = evaluate(verdict.ruleset, answers)
        if after.next_step in seen:
            break  # the same advice stands once the step is tried: nothing new follows
        follows.append(Follow(current.next_step, info.if_done, after))
        seen.add(after.next_step)
        current = after
    return follows


def _done(done: dict[str, bool | int], answers: Answers) -> dict[str, Any]:
    """A step's `done` answers against today's: a count is a minimum, so a count already above it stays."""
    facts = answers.__dict__
    return {name: value if isinstance(value, bool) else max(value, facts[name] or 0) for name, value in done.items()}


def with_answers(answers: Answers, changes: dict[str, Any]) -> Answers | None:
    """`answers` with `changes` applied; an older answer that would contradict a change is dropped (counting 0
    iterations stops being true once the prompt has been iterated on). None when the result is still invalid."""
    merged = {**answers.__dict__, **changes}
    for fact, _ in contradictions(merged):
        if fact not in changes:
            merged[fact] = None
    try:
        return Answers.model_validate(merged)
    except ValidationError:
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One answer (or, for a count, a band of answers) to an open question, and the verdict it leads to."""

    value: Any  # for a count, the band's lowest value
    label: str  # "yes", "no", a choice, or a band of counts ("fewer than 10", "50 to 199", "500 or more")
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Question:
    """An unanswered question whose answer changes the outcome; `outcomes` lists each such answer."""

    fact: str
    outcomes: tuple[Outcome, ...]
    flips_verdict: bool


def open_questions(verdict: Verdict, limit: int = MAX_QUESTIONS) -> list[Question]:
    """At most `limit` unanswered questions whose answers would change the verdict or next step, most decisive
    first: those that can flip the verdict; then one whose answer means building an eval set (without one no other
    answer can be measured: the seed's "skipping the eval" pitfall); then those about something the team can act
    on (a step tried, the prompt work: an answer of "no" there is a plan) before facts of the situation
    (citations, a benchmark chase), which are rarely so when nobody mentioned them; then the earliest rule."""
    facts = verdict.answers.__dict__
    today = (verdict.verdict, verdict.next_step)
    found: list[tuple[tuple[bool, bool, bool, int, int], Question]] = []
    for position, (name, values) in enumerate(_domains(verdict.ruleset).items()):
        if facts[name] is not None:
            continue
        tried: list[tuple[Any, Verdict]] = []
        for value in values:
            answers = with_answers(verdict.answers, {name: value})
            if answers is not None and answers.__dict__[name] == value:  # else it contradicts another answer
                tried.append((value, evaluate(verdict.ruleset, answers)))
        outcomes = [o for o in _outcomes(name, tried) if (o.verdict.verdict, o.verdict.next_step) != today]
        if not outcomes:
            continue
        flips = any(o.verdict.verdict is not verdict.verdict for o in outcomes)
        measuring = any(o.verdict.next_step is NextStep.BUILD_EVAL for o in outcomes)
        actionable = FACTS[name].lever is not None
        earliest = min(o.verdict.decided_by.order for o in outcomes)
        rank = (not flips, not measuring, not actionable, earliest, position)
        found.append((rank, Question(name, tuple(outcomes), flips)))
    found.sort(key=lambda item: item[0])
    return [question for _, question in found[:limit]]


def _outcomes(name: str, tried: list[tuple[Any, Verdict]]) -> list[Outcome]:
    """Each answer tried as an outcome; for a count, neighbouring answers with the same outcome as one band."""
    fact = FACTS[name]
    if fact.type != "int":
        return [Outcome(value, _words(value), outcome) for value, outcome in tried]
    assert fact.minimum is not None
    assert fact.maximum is not None
    bands: list[tuple[int, Verdict]] = []
    for value, outcome in tried:  # in ascending order of value
        if not bands or (bands[-1][1].verdict, bands[-1][1].next_step) != (outcome.verdict, outcome.next_step):
            bands.append((value, outcome))
    found = []
    for index, (low, outcome) in enumerate(bands):
        high = bands[index + 1][0] - 1 if index + 1 < len(bands) else fact.maximum
        if index == 0:  # nothing lower was tried: a lower answer contradicts another one, or is the minimum
            label = f"fewer than {high + 1:,}" if high < fact.maximum else "any number"
        elif high >= fact.maximum:
            label = f"{low:,} or more"
        else:
            label = f"{low:,}" if low == high else f"{low:,} to {high:,}"
        found.append(Outcome(low, label, outcome))
    return found


def _words(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else str(value)


@lru_cache(maxsize=16)
def _domains(ruleset: RuleSet) -> dict[str, list[Any]]:
    """For each fact a decision rule reads (in the form's order), one answer on each side of every threshold."""
    leaves = [
        leaf for rule in ruleset.rules if rule.kind == "decision" and rule.condition for leaf in rule.condition.leaves()
    ]
    values = candidate_values(leaves)
    return {name: values[name] for name in FACTS if name in values}
