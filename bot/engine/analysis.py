"""Static checks over a rule set: which rules can never fire.

A rule can never fire when its own condition is a contradiction (`n < 10 and n > 20`, a count below zero), or
when every answer that makes it true is already decided by an earlier decision rule, or (for a warning limited to
one verdict) when it cannot hold together with any rule that reaches that verdict. The search tries, for the
facts the rule reads, each value on either side of every threshold the rule set mentions, and "unanswered";
three-valued logic is monotone (answering a fact never turns true into false), so a branch is cut as soon as the
rule is false or an earlier rule is true.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bot.engine.answers import FACTS

if TYPE_CHECKING:  # the rule set module runs this analysis while loading
    from bot.engine.conditions import Condition
    from bot.engine.ruleset import Rule


def unreachable_rules(rules: Sequence[Rule]) -> list[tuple[Rule, str]]:
    """Each rule that no answers can make fire, with the reason."""
    domains = candidate_values(leaf for rule in rules if rule.condition for leaf in rule.condition.leaves())
    decisions = [rule for rule in rules if rule.kind == "decision"]
    order = [rule.id for rule in rules]
    found = []
    for rule in rules:
        own = [] if rule.condition is None else [rule.condition]
        if rule.kind == "decision":
            if not own:
                continue  # the default: it fires whenever nothing else does
            blockers: set[str] = set()
            if _reachable(own, _ahead_of(rule, decisions, own), domains, blockers):
                continue
            if blockers:
                names = ", ".join(sorted(blockers, key=order.index))
                found.append((rule, f"whenever it holds, an earlier rule decides first ({names})"))
            else:
                found.append((rule, CONTRADICTION))
            continue
        if own and not _reachable(own, [], domains, set()):
            found.append((rule, CONTRADICTION))
            continue
        if rule.applies_to >= {decision.verdict for decision in decisions}:
            continue
        # A warning for some verdicts only: it must be able to hold while one of those verdicts is reached.
        deciders = [decision for decision in decisions if decision.verdict in rule.applies_to]
        if not any(
            _reachable(
                both := [*own, *([] if d.condition is None else [d.condition])],
                _ahead_of(d, decisions, both),
                domains,
                set(),
            )
            for d in deciders
        ):
            verdicts = " or ".join(sorted(str(v) for v in rule.applies_to))
            found.append((rule, f"it never holds when the verdict is {verdicts}"))
    return found


CONTRADICTION = "its condition is a contradiction for every possible answer"


def _ahead_of(rule: Rule, decisions: list[Rule], conditions: list[Condition]) -> list[Rule]:
    """The decision rules before `rule` that could be true on the facts `conditions` read (the others stay
    unknown when only those facts are answered, so they cannot decide first)."""
    facts = {leaf.fact for condition in conditions for leaf in condition.leaves()}
    ahead = decisions[: decisions.index(rule)]
    return [other for other in ahead if other.condition is None or facts & set(other.facts)]


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


def _reachable(
    conditions: list[Condition], earlier: list[Rule], domains: dict[str, list[Any]], blockers: set[str]
) -> bool:
    """Whether some answers make every one of `conditions` true while no rule in `earlier` is true."""
    facts = list(dict.fromkeys(leaf.fact for condition in conditions for leaf in condition.leaves()))
    assignment: dict[str, Any] = {}

    def search(depth: int) -> bool:
        results = [condition.evaluate_facts(assignment) for condition in conditions]
        if False in results:
            return False
        for other in earlier:
            if other.condition is None or other.condition.evaluate_facts(assignment) is True:
                blockers.add(other.id)
                return False
        if all(result is True for result in results):
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
