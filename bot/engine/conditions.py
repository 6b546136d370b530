"""Rule conditions: a closed set of operators over the facts, parsed and type-checked once, evaluated in
three-valued logic.

A comparison with an unanswered fact is *unknown*, never false. `all`, `any` and `not` combine results the way
Kleene's logic does, so a condition is true or false only when the answered facts settle it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from bot.engine.answers import FACTS, Fact
from bot.engine.errors import suggest

Truth: TypeAlias = bool | None
"""True, False, or None for "cannot tell: a fact it needs is unanswered"."""


def _is_in(actual: Any, expected: Any) -> bool:
    return bool(actual in expected)


def _not_in(actual: Any, expected: Any) -> bool:
    return bool(actual not in expected)


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "in": _is_in,
    "not_in": _not_in,
}

OPERATORS_BY_TYPE: dict[str, frozenset[str]] = {
    "int": frozenset({"eq", "ne", "lt", "le", "gt", "ge"}),
    "bool": frozenset({"eq", "ne"}),
    "enum": frozenset({"eq", "ne", "in", "not_in"}),
    "text": frozenset(),
}

SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": "in", "not_in": "not in"}

COMBINATORS = ("all", "any", "not")


class ConditionError(ValueError):
    """A condition in a rule file is not well-formed; the message says where and why."""


@dataclass(frozen=True, slots=True, eq=False)
class Leaf:
    """`fact op value`: the only place a fact is read."""

    index: int
    fact: str
    op: str
    value: Any

    def evaluate(self, leaf_results: Sequence[Truth]) -> Truth:
        return leaf_results[self.index]

    def evaluate_facts(self, facts: Mapping[str, Any]) -> Truth:
        actual = facts.get(self.fact)
        if actual is None:
            return None
        return OPERATORS[self.op](actual, self.value)

    def leaves(self) -> Iterable[Leaf]:
        yield self

    def describe(self) -> str:
        value = ", ".join(map(show_value, self.value)) if isinstance(self.value, frozenset) else show_value(self.value)
        return f"{self.fact} {SYMBOLS[self.op]} {value}"


@dataclass(frozen=True, slots=True, eq=False)
class All:
    """True when every part is true; false as soon as one part is false."""

    parts: tuple[Condition, ...]

    def evaluate(self, leaf_results: Sequence[Truth]) -> Truth:
        return _all(part.evaluate(leaf_results) for part in self.parts)

    def evaluate_facts(self, facts: Mapping[str, Any]) -> Truth:
        return _all(part.evaluate_facts(facts) for part in self.parts)

    def leaves(self) -> Iterable[Leaf]:
        for part in self.parts:
            yield from part.leaves()

    def describe(self) -> str:
        return " and ".join(_paren(part) for part in self.parts)


@dataclass(frozen=True, slots=True, eq=False)
class AnyOf:
    """True as soon as one part is true; false when every part is false."""

    parts: tuple[Condition, ...]

    def evaluate(self, leaf_results: Sequence[Truth]) -> Truth:
        return _any(part.evaluate(leaf_results) for part in self.parts)

    def evaluate_facts(self, facts: Mapping[str, Any]) -> Truth:
        return _any(part.evaluate_facts(facts) for part in self.parts)

    def leaves(self) -> Iterable[Leaf]:
        for part in self.parts:
            yield from part.leaves()

    def describe(self) -> str:
        return " or ".join(_paren(part) for part in self.parts)


@dataclass(frozen=True, slots=True, eq=False)
class Not:
    """True when its part is false; unknown stays unknown."""

    part: Condition

    def evaluate(self, leaf_results: Sequence[Truth]) -> Truth:
        result = self.part.evaluate(leaf_results)
        return None if result is None else not result

    def evaluate_facts(self, facts: Mapping[str, Any]) -> Truth:
        result = self.part.evaluate_facts(facts)
        return None if result is None else not result

    def leaves(self) -> Iterable[Leaf]:
        return self.part.leaves()

    def describe(self) -> str:
        return f"not {_paren(self.part)}"


Condition: TypeAlias = Leaf | All | AnyOf | Not
Check: TypeAlias = Callable[[Sequence[Truth]], Truth]


def compile_condition(condition: Condition) -> Check:
    """A fast function from the leaf results to the condition's result: what the evaluation loop calls.

    `Condition.evaluate` says the same thing plainly; this is that logic unrolled into closures, with
    C-level `itemgetter` for the common case of a combinator over plain comparisons (a test keeps them equal).
    """
    if isinstance(condition, Leaf):
        return operator.itemgetter(condition.index)
    if isinstance(condition, Not):
        inner = compile_condition(condition.part)
        return lambda results: None if (result := inner(results)) is None else not result
    settles, otherwise = (False, True) if isinstance(condition, All) else (True, False)
    if all(isinstance(part, Leaf) for part in condition.parts) and len(condition.parts) > 1:
        pick = operator.itemgetter(*(part.index for part in condition.parts))  # type: ignore[union-attr]

        def check_leaves(results: Sequence[Truth]) -> Truth:
            values = pick(results)
            if settles in values:
                return settles
            return None if None in values else otherwise

        return check_leaves
    parts = tuple(compile_condition(part) for part in condition.parts)

    def check_parts(results: Sequence[Truth]) -> Truth:
        verdict: Truth = otherwise
        for part in parts:
            result = part(results)
            if result is settles:
                return settles
            if result is None:
                verdict = None
        return verdict

    return check_parts


def _all(results: Iterable[Truth]) -> Truth:
    verdict: Truth = True
    for result in results:
        if result is False:
            return False
        if result is None:
            verdict = None
    return verdict


def _any(results: Iterable[Truth]) -> Truth:
    verdict: Truth = False
    for result in results:
        if result is True:
            return True
        if result is None:
            verdict = None
    return verdict


def _paren(condition: Condition) -> str:
    text = condition.describe()
    return f"({text})" if isinstance(condition, All | AnyOf) else text


def show_value(value: Any) -> str:
    """A compared value as conditions show it: yes or no, 10,000, or the text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:,}" if isinstance(value, int) else str(value)


class ConditionParser:
    """Turns the YAML form of a condition into `Condition` objects, numbering leaves as it goes."""

    def __init__(self, facts: Mapping[str, Fact] = FACTS) -> None:
        self._facts = facts
        self.leaves: list[Leaf] = []

    def parse(self, raw: Any, where: str = "when") -> Condition:
        if not isinstance(raw, Mapping):
            raise ConditionError(f"{where}: expected a mapping, got {type(raw).__name__}")
        keys = set(raw)
        if keys & set(COMBINATORS):
            if len(keys) != 1:
                raise ConditionError(f"{where}: a combinator stands alone, found keys {sorted(keys)}")
            (key,) = keys
            return self._combinator(key, raw[key], f"{where}.{key}")
        if keys == {"fact", "op", "value"}:
            return self._leaf(raw, where)
        missing = {"fact", "op", "value"} - keys
        extra = keys - {"fact", "op", "value"}
        hint = "".join(suggest(str(key), ("fact", "op", "value", *COMBINATORS)) for key in sorted(extra, key=str))
        raise ConditionError(
            f"{where}: a condition is {{fact, op, value}} or one of all/any/not;"
            + (f" missing {sorted(missing)}" if missing else "")
            + (f" unexpected {sorted(map(str, extra))}{hint}" if extra else "")
        )

    def _combinator(self, key: str, raw: Any, where: str) -> Condition:
        if key == "not":
            return Not(self.parse(raw, where))
        if not isinstance(raw, list) or not raw:
            raise ConditionError(f"{where}: expected a non-empty list of conditions")
        parts = tuple(self.parse(part, f"{where}[{i}]") for i, part in enumerate(raw))
        return All(parts) if key == "all" else AnyOf(parts)

    def _leaf(self, raw: Mapping[str, Any], where: str) -> Leaf:
        name, op, value = raw["fact"], raw["op"], raw["value"]
        fact = self._facts.get(name) if isinstance(name, str) else None
        if fact is None:
            raise ConditionError(f'{where}: unknown fact "{name}"{suggest(str(name), self._facts)}')
        allowed = OPERATORS_BY_TYPE[fact.type]
        if not allowed:
            raise ConditionError(f"{where}: {name} is free text; rules cannot test it")
        if op not in OPERATORS:
            raise ConditionError(f'{where}: unknown operator "{op}"{suggest(str(op), OPERATORS)}')
        if op not in allowed:
            raise ConditionError(
                f"{where}: operator {op} does not apply to {name} ({fact.type}); use one of {sorted(allowed)}"
            )
        leaf = Leaf(len(self.leaves), name, op, _check_value(fact, op, value, where))
        self.leaves.append(leaf)
        return leaf


def _check_value(fact: Fact, op: str, value: Any, where: str) -> Any:
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ConditionError(f"{where}: {op} takes a non-empty list of {fact.name} values")
        return frozenset(_check_scalar(fact, item, where) for item in value)
    return _check_scalar(fact, value, where)


def _check_scalar(fact: Fact, value: Any, where: str) -> Any:
    if fact.type == "bool":
        if not isinstance(value, bool):
            raise ConditionError(f"{where}: {fact.name} is yes/no, got {value!r}")
        return value
    if fact.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConditionError(f"{where}: {fact.name} is a whole number, got {value!r}")
        return value
    if value not in fact.choices:
        raise ConditionError(
            f'{where}: {fact.name} has no value "{value}"{suggest(str(value), fact.choices)}; '
            f"choose from {', '.join(fact.choices)}"
        )
    return value
