"""What would change a verdict: the smallest change a team can make that flips it, found from the rules themselves.

Only levers count: what a team can do or find out by its own work (collect more examples, build an eval set, try a
step, get more people to iterate on the prompt, retrain less often; see `Fact.lever`). What is failing, whether
citations are required, fewer examples or faster-changing requirements are facts of the situation, never advice.

For each way the verdict could flip (a fine-tune rule firing with every earlier rule out of the way, or an earlier
"not yet" rule firing), the conditions are turned into requirements on facts (an interval for a count, a set of
allowed values for a choice), merged, and turned into concrete values close to today's answers. Every candidate
is checked by evaluating the changed answers: only changes that really flip the verdict are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from typing import Any

from pydantic import ValidationError

from bot.engine.answers import FACTS, Answers
from bot.engine.conditions import All, AnyOf, Condition, Leaf, Not
from bot.engine.ruleset import Rule, VerdictKind
from bot.engine.verdict import Verdict, evaluate

# A requirement on one fact: an inclusive interval for a count, or the allowed values for a yes/no or a choice.
Interval = tuple[float, float]
Allowed = frozenset[Any]
Requirement = dict[str, Interval | Allowed]

_MAX_ALTERNATIVES = 24
_MAX_REPAIRS = 6
MAX_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class Change:
    """Answering `facts` differently (fact -> (today, instead)) leads to `verdict` / `next_step` via `rule`."""

    facts: dict[str, tuple[Any, Any]]
    verdict: VerdictKind
    next_step: str
    rule: str

    def said(self) -> str:
        """The change as a condition a person reads: "you collect 200 examples (150 more) and DSPy does not ..."."""
        return " and ".join(lever_phrase(name, old, new) for name, (old, new) in self.facts.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": {name: {"from": old, "to": new} for name, (old, new) in self.facts.items()},
            "if": self.said(),
            "verdict": self.verdict.value,
            "next_step": self.next_step,
            "rule": self.rule,
        }


def is_lever(name: str, old: Any, new: Any) -> bool:
    """Whether moving `name` from `old` to `new` is something a team can do: a lever, in its direction."""
    fact = FACTS[name]
    if fact.lever is None:
        return False
    if fact.type == "bool":
        return new is True and old is not True
    return old is not None and isinstance(new, int) and new > old


def lever_phrase(name: str, old: Any, new: Any) -> str:
    """A lever's change in words ("you collect 200 stable, high-quality examples (150 more)")."""
    phrase = FACTS[name].lever
    assert phrase is not None, name
    return phrase.format(to=new, more=new - old) if isinstance(new, int) and not isinstance(new, bool) else phrase


def what_would_change(verdict: Verdict) -> list[Change]:
    """For "not yet": the smallest change that leads to fine-tuning. For "fine-tune": the smallest changes that
    would lead away from it (at most three, each through a different rule)."""
    rules = verdict.ruleset.rules
    decisions = [rules[i] for i in verdict.ruleset.decision_positions]
    if verdict.verdict is VerdictKind.DONT_FINE_TUNE:
        routes = [
            (rule, decisions[: decisions.index(rule)])
            for rule in decisions
            if rule.verdict is VerdictKind.FINE_TUNE and rule.condition is not None
        ]
        found = [change for rule, before in routes if (change := _route(verdict, rule, before, True))]
        found.sort(key=lambda change: len(change.facts))
        return found[:1]
    decider = verdict.decided_by
    alternatives = [rule for rule in decisions[: decisions.index(decider)] if rule.condition is not None]
    found = [change for rule in alternatives if (change := _route(verdict, rule, [], True))]
    if decider.condition is not None and (change := _route(verdict, decider, [], False)):
        found.append(change)
    found.sort(key=lambda change: len(change.facts))
    return found[:MAX_SUGGESTIONS]


def _route(verdict: Verdict, target: Rule, blockers: list[Rule], want: bool) -> Change | None:
    """The cheapest verified change that makes `target` true (or false) with no earlier rule in the way."""
    assert target.condition is not None
    facts = verdict.answers.__dict__
    alternatives = requirements(target.condition, want)
    for blocker in blockers:
        if blocker.condition is None:
            return None
        if blocker.condition.evaluate_facts(facts) is True:
            alternatives = _product(alternatives, requirements(blocker.condition, False))
    for _ in range(_MAX_REPAIRS):
        if not alternatives:
            return None
        alternatives.sort(key=lambda requirement: _cost(requirement, facts))
        flip = VerdictKind.DONT_FINE_TUNE if verdict.verdict is VerdictKind.FINE_TUNE else VerdictKind.FINE_TUNE
        repaired: list[Requirement] = []
        for requirement in alternatives[:_MAX_ALTERNATIVES]:
            changed = _concrete(requirement, facts)
            if not changed or not all(is_lever(name, facts[name], value) for name, value in changed.items()):
                continue
            try:
                answers = Answers.model_validate({**facts, **changed})
            except ValidationError:
                continue
            outcome = evaluate(verdict.ruleset, answers)
            if outcome.verdict is flip:
                return Change(
                    facts={name: (facts[name], value) for name, value in changed.items()},
                    verdict=outcome.verdict,
                    next_step=outcome.next_step.value,
                    rule=outcome.decided_by.id,
                )
            # Another rule got in the way: try again with that rule out of the way too.
            blocker = outcome.decided_by
            if blocker.condition is not None and blocker is not target:
                repaired.extend(_product([requirement], requirements(blocker.condition, False)))
        alternatives = repaired
    return None


def requirements(condition: Condition, want: bool) -> list[Requirement]:
    """Alternative requirements on facts (any one suffices) that make `condition` definitely `want`."""
    if isinstance(condition, Leaf):
        return _leaf_requirements(condition, want)
    if isinstance(condition, Not):
        return requirements(condition.part, not want)
    parts = [requirements(part, want) for part in condition.parts]
    conjunctive = isinstance(condition, All) == want
    assert isinstance(condition, All | AnyOf)
    if not conjunctive:
        return [alternative for alternatives in parts for alternative in alternatives]
    merged: list[Requirement] = [{}]
    for alternatives in parts:
        merged = _product(merged, alternatives)
    return merged


def _product(left: list[Requirement], right: list[Requirement]) -> list[Requirement]:
    merged = [m for a, b in product(left, right) if (m := _merge(a, b)) is not None]
    return merged[: _MAX_ALTERNATIVES * 4]


def _merge(a: Requirement, b: Requirement) -> Requirement | None:
    out = dict(a)
    for name, need in b.items():
        have = out.get(name)
        if have is None:
            out[name] = need
        elif isinstance(have, frozenset) and isinstance(need, frozenset):
            if not (both := have & need):
                return None
            out[name] = both
        else:
            assert isinstance(have, tuple)
            assert isinstance(need, tuple)
            low, high = max(have[0], need[0]), min(have[1], need[1])
            if low > high:
                return None
            out[name] = (low, high)
    return out


def _leaf_requirements(leaf: Leaf, want: bool) -> list[Requirement]:
    fact = FACTS[leaf.fact]
    op = leaf.op if want else _NEGATION[leaf.op]
    value = leaf.value
    if fact.type == "int":
        low, high = float(fact.minimum or 0), float(fact.maximum or math.inf)
        match op:
            case "lt":
                intervals = [(low, value - 1)]
            case "le":
                intervals = [(low, value)]
            case "gt":
                intervals = [(value + 1, high)]
            case "ge":
                intervals = [(value, high)]
            case "eq":
                intervals = [(value, value)]
            case _:
                intervals = [(low, value - 1), (value + 1, high)]
        return [{leaf.fact: (max(a, low), min(b, high))} for a, b in intervals if max(a, low) <= min(b, high)]
    domain: frozenset[str | bool] = frozenset(fact.choices) if fact.type == "enum" else frozenset({True, False})
    match op:
        case "eq":
            allowed = frozenset({value})
        case "ne":
            allowed = domain - {value}
        case "in":
            allowed = value
        case _:
            allowed = domain - value
    return [{leaf.fact: allowed}] if allowed else []


_NEGATION = {
    "eq": "ne",
    "ne": "eq",
    "lt": "ge",
    "ge": "lt",
    "le": "gt",
    "gt": "le",
    "in": "not_in",
    "not_in": "in",
}


def _satisfied(value: Any, need: Interval | Allowed) -> bool:
    if value is None:
        return False
    if isinstance(need, frozenset):
        return bool(value in need)
    return bool(need[0] <= value <= need[1])


def _cost(requirement: Requirement, facts: dict[str, Any]) -> int:
    return sum(not _satisfied(facts[name], need) for name, need in requirement.items())


def _concrete(requirement: Requirement, facts: dict[str, Any]) -> dict[str, Any]:
    """Values for the facts that need changing: the nearest to today's answer, or the threshold itself."""
    changed: dict[str, Any] = {}
    for name, need in requirement.items():
        current = facts[name]
        if _satisfied(current, need):
            continue
        if isinstance(need, frozenset):
            order = FACTS[name].choices or (True, False)
            changed[name] = next(choice for choice in order if choice in need)
            continue
        low, high = need
        if current is None:
            # Unanswered: the threshold is the most useful hypothetical ("with 50 examples ...").
            minimum = FACTS[name].minimum or 0
            changed[name] = int(low if low > minimum else high)
        else:
            changed[name] = int(low if current < low else high)
    return changed
