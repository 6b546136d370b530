"""Static checks over a rule set: which rules can never fire.

A rule can never fire when its own condition is a contradiction (`n < 10 and n > 20`, a count below zero), or
when every answer that makes it true is already decided by an earlier decision rule. The search tries, for the
facts the rule reads, each value on either side of every threshold the rule set mentions, and "unanswered";
three-valued logic is monotone (answering a fact never turns true into false), so a branch is cut as soon as the
rule is false or an earlier rule is true.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bot.engine.answers import FACTS

if TYPE_CHECKING:  # the rule set module runs this analysis while loading
    from bot.engine.ruleset import Rule


def unreachable_rules(rules: Sequence[Rule]) -> list[tuple[Rule, str]]:
    """Each rule that no answers can make fire, with the reason."""
    domains = candidate_values(leaf for rule in rules if rule.condition for leaf in rule.condition.leaves())
    found = []
    for position, rule in enumerate(rules):
        if rule.condition is None:
            continue
        earlier: list[Rule] = []
        if rule.kind == "decision":
            facts = set(rule.facts)
            earlier = [
                other
                for other in rules[:position]
                if other.kind == "decision" and (other.condition is None or facts & set(other.facts))
            ]
        blockers: set[str] = set()
        if _satisfiable(rule, earlier, domains, blockers):
            continue
        if blockers:
            names = ", ".join(sorted(blockers, key=[r.id for r in rules].index))
            found.append((rule, f"whenever it holds, an earlier rule decides first ({names})"))
        else:
            found.append((rule, "its condition is a contradiction for every possible answer"))
    return found


def candidate_values(leaves: Iterable[Any]) -> dict[str, list[Any]]:
    """For each fact, a value on each side of every threshold the rules use, within the fact's bounds."""
    values: dict[str, set[Any]] = {}
    for leaf in leaves:
        fact = FACTS[leaf.fact]
        bucket = values.setdefault(leaf.fact, set())
        if fact.type == "int":
            assert fact.minimum is not None
            assert fact.maximum is not None
            bucket.update((fact.minimum, fact.maximum))
            bucket.update(v for v in (leaf.value - 1, leaf.value, leaf.value + 1) if fact.minimum <= v <= fact.maximum)
        elif fact.type == "bool":
            bucket.update((True, False))
        else:
            bucket.update(fact.choices)
    return {
        name: sorted(bucket, key=repr) if FACTS[name].type == "enum" else sorted(bucket)
        for name, bucket in values.items()
    }


def _satisfiable(rule: Rule, earlier: list[Rule], domains: dict[str, list[Any]], blockers: set[str]) -> bool:
    assert rule.condition is not None
    condition = rule.condition
    facts = list(rule.facts)
    assignment: dict[str, Any] = {}

    def search(depth: int) -> bool:
        result = condition.evaluate_facts(assignment)
        if result is False:
            return False
        for other in earlier:
            if other.condition is None or other.condition.evaluate_facts(assignment) is True:
                blockers.add(other.id)
                return False
        if result is True:
            return True
        if depth == len(facts):
            return False
        name = facts[depth]
        for value in [*domains[name], None]:
            assignment[name] = value
            if search(depth + 1):
                return True
        del assignment[name]
        return False

    return search(0)
