"""Evaluating answers against a rule set: a pure function from (rule set, answers) to an explained `Verdict`.

Decision rules are first-hit in order: the first one whose condition is true decides. A rule whose condition is
unknown (it needs an unanswered fact) does not fire; if it comes before the deciding rule, the verdict records the
assumption that it does not apply and names the questions whose answers could change the outcome. The default
rule (a decision rule without a condition) decides when no other rule does. Warning rules never change the
verdict; they fire on their own condition when they apply to the verdict reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.engine.answers import Answers
from bot.engine.conditions import All, AnyOf, Condition, Leaf, Not, Truth
from bot.engine.ruleset import NextStep, Rule, RuleSet, VerdictKind

Status = Literal["fired", "not-fired", "undecidable"]


def evaluate(ruleset: RuleSet, answers: Answers) -> Verdict:
    """The verdict for `answers` under `ruleset`, with every rule's result recorded for the trace."""
    facts = answers.__dict__
    leaf_results = tuple(
        [
            None if (actual := facts[name]) is None else compare(actual, expected)
            for name, compare, expected in ruleset.leaf_specs
        ]
    )
    rules = ruleset.rules
    results: list[Truth] = [False] * len(rules)
    decider = -1
    for position in ruleset.decision_positions:
        check = rules[position].check
        result = (decider < 0) if check is None else check(leaf_results)  # no check: the default rule
        results[position] = result
        if result is True and decider < 0:
            decider = position
    verdict = rules[decider].verdict
    for position in ruleset.warning_positions:
        rule = rules[position]
        if verdict in rule.applies_to:
            results[position] = True if rule.check is None else rule.check(leaf_results)
    return Verdict(ruleset, answers, leaf_results, tuple(results), decider)


@dataclass(frozen=True, slots=True, eq=False)
class Assumption:
    """A rule before the deciding one that could not be decided: the verdict assumes it does not apply."""

    rule: Rule
    unanswered: tuple[str, ...]


@dataclass(slots=True, eq=False)
class Verdict:
    """The outcome of one evaluation. Treat it as immutable; the explanation is derived from it on demand."""

    ruleset: RuleSet
    answers: Answers
    leaf_results: tuple[Truth, ...]
    rule_results: tuple[Truth, ...]
    decider: int

    @property
    def decided_by(self) -> Rule:
        return self.ruleset.rules[self.decider]

    @property
    def verdict(self) -> VerdictKind:
        verdict = self.decided_by.verdict
        assert verdict is not None
        return verdict

    @property
    def next_step(self) -> NextStep:
        step = self.decided_by.next_step
        assert step is not None
        return step

    def status(self, position: int) -> Status:
        result = self.rule_results[position]
        return "undecidable" if result is None else ("fired" if result else "not-fired")

    @property
    def reasons(self) -> tuple[Rule, ...]:
        """Decision rules that fired, the deciding one first, then the others that also hold."""
        rules = self.ruleset.rules
        return tuple(rules[i] for i in self.ruleset.decision_positions if self.rule_results[i] is True)

    @property
    def warnings(self) -> tuple[Rule, ...]:
        rules = self.ruleset.rules
        return tuple(r for i, r in enumerate(rules) if r.kind == "warning" and self.rule_results[i] is True)

    @property
    def fired(self) -> tuple[Rule, ...]:
        """Every rule that fired, in rule order: the reasons and the warnings."""
        rules = self.ruleset.rules
        return tuple(rule for i, rule in enumerate(rules) if self.rule_results[i] is True)

    @property
    def assumptions(self) -> tuple[Assumption, ...]:
        """Undecidable decision rules ahead of the deciding one: answering them could change the verdict."""
        facts = self.answers.__dict__
        found = []
        for position in self.ruleset.decision_positions:
            if position >= self.decider:
                break
            if self.rule_results[position] is None:
                rule = self.ruleset.rules[position]
                found.append(Assumption(rule, tuple(f for f in rule.facts if facts[f] is None)))
        return tuple(found)

    @property
    def unanswered(self) -> tuple[str, ...]:
        """Unanswered facts whose answers could change the verdict or next step, most decisive first."""
        return tuple(dict.fromkeys(fact for a in self.assumptions for fact in a.unanswered))

    def trace(self) -> list[dict[str, Any]]:
        """Every rule with its status and each comparison it made, values included."""
        facts = self.answers.__dict__
        entries = []
        for position, rule in enumerate(self.ruleset.rules):
            entry: dict[str, Any] = {
                "rule": rule.id,
                "kind": rule.kind,
                "status": self.status(position),
                "decisive": position == self.decider,
            }
            if rule.condition is None:
                entry["condition"] = "default: no other decision rule fired" if rule.kind == "decision" else None
            else:
                entry["condition"] = _trace_condition(rule.condition, self.leaf_results, facts)
            entries.append(entry)
        return entries


def _trace_condition(condition: Condition, leaf_results: tuple[Truth, ...], facts: dict[str, Any]) -> dict[str, Any]:
    if isinstance(condition, Leaf):
        expected = sorted(condition.value) if isinstance(condition.value, frozenset) else condition.value
        return {
            "fact": condition.fact,
            "op": condition.op,
            "expected": expected,
            "actual": facts[condition.fact],
            "result": leaf_results[condition.index],
        }
    if isinstance(condition, Not):
        return {
            "not": _trace_condition(condition.part, leaf_results, facts),
            "result": condition.evaluate(leaf_results),
        }
    key = "all" if isinstance(condition, All) else "any"
    assert isinstance(condition, All | AnyOf)
    return {
        key: [_trace_condition(part, leaf_results, facts) for part in condition.parts],
        "result": condition.evaluate(leaf_results),
    }
