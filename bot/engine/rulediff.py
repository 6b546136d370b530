"""What differs between two versions of the rule set, for re-reviewing a decision made under older rules.

The old `RuleSet` is long gone by then, so each rule set is kept as a compact JSON snapshot (its rules' ids,
titles, orders, conditions and outcomes; no rationale or sources, which never change an outcome) and two
snapshots are compared. A condition that kept its shape and only moved a number or a list of values is reported
as threshold changes; any other condition change shows the whole condition before and after.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.engine.conditions import SYMBOLS, Leaf, show_value
from bot.engine.ruleset import Rule, RuleSet

SNAPSHOT_FORMAT = 1

# What may stand between two comparisons in a `describe()` text: brackets, spaces and the combinators.
_STRUCTURE = re.compile(r"(?:[()\s]|and|or|not)*")
_SCALARS = (str, int)


@dataclass(frozen=True, slots=True)
class ThresholdChange:
    """One comparison of a condition that kept its shape: `fact` went from `before` to `after` (e.g. "< 50")."""

    fact: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A rule that was added, removed or changed; `details` are short phrases saying what changed."""

    rule: str
    title: str
    change: str
    details: tuple[str, ...]
    thresholds: tuple[ThresholdChange, ...]


def snapshot(ruleset: RuleSet) -> dict[str, Any]:
    """The rule set as a small JSON-able dict, to store next to the decisions made under it."""
    return {
        "format": SNAPSHOT_FORMAT,
        "version": ruleset.version,
        "sha256": ruleset.sha256,
        "rules": [_rule_snapshot(rule) for rule in ruleset.rules],
    }


def load_snapshot(raw: str | bytes | None) -> dict[str, Any] | None:
    """A stored snapshot, or None if there is none or it is not a snapshot this module understands."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and _read(data) is not None else None


def diff_snapshots(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[RuleChange]:
    """The rules that differ from `old` to `new`, in the new rule set's order, then removed rules in the old order.

    Both are snapshots as `snapshot` makes them or `load_snapshot` accepts; anything else raises `ValueError`.
    """
    before, after = _read(old), _read(new)
    if before is None or after is None:
        raise ValueError("not a rule-set snapshot")
    if old["sha256"] == new["sha256"]:
        return []
    old_rules = {rule.id: rule for rule in before}
    new_ids = {rule.id for rule in after}
    changes: list[RuleChange] = []
    for rule in after:
        previous = old_rules.get(rule.id)
        if previous is None:
            changes.append(RuleChange(rule.id, rule.title, "added", rule.summary(), ()))
        elif change := _compare(previous, rule):
            changes.append(change)
    changes.extend(
        RuleChange(rule.id, rule.title, "removed", rule.summary(), ()) for rule in before if rule.id not in new_ids
    )
    return changes


# --- snapshots in and out ----------------------------------------------------------------------------------


def _rule_snapshot(rule: Rule) -> dict[str, Any]:
    leaves = [] if rule.condition is None else [_SnapLeaf.of(leaf) for leaf in rule.condition.leaves()]
    when = None if rule.condition is None else rule.condition.describe()
    if when is not None:
        # describe() lists an `in` set in hash order, which differs between processes; the snapshot sorts it.
        when = _Condition.read(when, tuple(leaves)).text
    return {
        "id": rule.id,
        "title": rule.title,
        "order": rule.order,
        "kind": rule.kind,
        "when": when,
        "leaves": [leaf.to_json() for leaf in leaves],
        "verdict": None if rule.verdict is None else str(rule.verdict),
        "next_step": None if rule.next_step is None else str(rule.next_step),
        "applies_to": sorted(str(verdict) for verdict in rule.applies_to),
    }


def _read(data: Mapping[str, Any]) -> list[_SnapRule] | None:
    """The snapshot's rules, or None when `data` is not a snapshot of a known format."""
    fmt = data.get("format")
    if type(fmt) is not int or fmt != SNAPSHOT_FORMAT:
        return None
    if not isinstance(data.get("version"), str) or not isinstance(data.get("sha256"), str):
        return None
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        return None
    rules = [_SnapRule.read(raw) for raw in raw_rules]
    if any(rule is None for rule in rules):
        return None
    checked = [rule for rule in rules if rule is not None]
    return checked if len({rule.id for rule in checked}) == len(checked) else None


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _sort_key(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value


@dataclass(frozen=True, slots=True)
class _SnapLeaf:
    """One comparison as stored: a list value is sorted, so it reads the same in every process."""

    fact: str
    op: str
    value: Any

    @classmethod
    def of(cls, leaf: Leaf) -> _SnapLeaf:
        value = leaf.value
        return cls(leaf.fact, leaf.op, tuple(sorted(value, key=_sort_key)) if isinstance(value, frozenset) else value)

    @classmethod
    def read(cls, raw: Any) -> _SnapLeaf | None:
        if not isinstance(raw, list) or len(raw) != 3:
            return None
        fact, op, value = raw
        if not isinstance(fact, str) or not isinstance(op, str):
            return None
        if isinstance(value, list):
            if not value or not all(isinstance(item, _SCALARS) for item in value):
                return None
            try:
                return cls(fact, op, tuple(sorted(value, key=_sort_key)))
            except TypeError:
                return None
        return cls(fact, op, value) if isinstance(value, _SCALARS) else None

    def to_json(self) -> list[Any]:
        return [self.fact, self.op, list(self.value) if isinstance(self.value, tuple) else self.value]

    @property
    def values_text(self) -> str:
        return ", ".join(map(show_value, self.value)) if isinstance(self.value, tuple) else show_value(self.value)

    @property
    def comparison(self) -> str:
        """The comparison without the fact, as `Leaf.describe` shows it: "< 50", "in format, style"."""
        return f"{SYMBOLS.get(self.op, self.op)} {self.values_text}"

    def describe(self) -> str:
        return f"{self.fact} {self.comparison}"


@dataclass(frozen=True, slots=True)
class _Condition:
    """A condition as text: `pieces` is the text around the comparisons (None if the text could not be read)."""

    text: str
    leaves: tuple[_SnapLeaf, ...]
    pieces: tuple[str, ...] | None

    @classmethod
    def read(cls, when: str, leaves: tuple[_SnapLeaf, ...]) -> _Condition:
        """Split `when` at its comparisons, and rewrite each with its values sorted."""
        pieces: list[str] = []
        cursor = 0
        for leaf in leaves:
            head = f"{leaf.fact} {SYMBOLS.get(leaf.op, leaf.op)} "
            start = when.find(head, cursor)
            end = start + len(head) + len(leaf.values_text)
            if start < 0 or not _STRUCTURE.fullmatch(when, cursor, start) or not _same_values(when[start:end], leaf):
                return cls(when, leaves, None)
            pieces.append(when[cursor:start])
            cursor = end
        if not _STRUCTURE.fullmatch(when, cursor):
            return cls(when, leaves, None)
        pieces.append(when[cursor:])
        text = "".join(piece + leaf.describe() for piece, leaf in zip(pieces, leaves, strict=False)) + pieces[-1]
        return cls(text, leaves, tuple(pieces))

    def same_shape(self, other: _Condition) -> bool:
        return (
            self.pieces is not None
            and self.pieces == other.pieces
            and [leaf.fact for leaf in self.leaves] == [leaf.fact for leaf in other.leaves]
        )


def _same_values(text: str, leaf: _SnapLeaf) -> bool:
    """Whether `text` is `leaf` as describe() wrote it, its values in any order."""
    shown = text.removeprefix(f"{leaf.fact} {SYMBOLS.get(leaf.op, leaf.op)} ")
    if isinstance(leaf.value, tuple):
        return sorted(shown.split(", ")) == sorted(map(show_value, leaf.value))
    return shown == show_value(leaf.value)


@dataclass(frozen=True, slots=True)
class _SnapRule:
    id: str
    title: str
    order: int
    kind: str
    condition: _Condition | None
    verdict: str | None
    next_step: str | None
    applies_to: tuple[str, ...]

    @classmethod
    def read(cls, raw: Any) -> _SnapRule | None:
        if not isinstance(raw, dict):
            return None
        rule_id, title, order, kind, when = (raw.get(key) for key in ("id", "title", "order", "kind", "when"))
        raw_leaves, applies_to = raw.get("leaves"), raw.get("applies_to")
        if not (isinstance(rule_id, str) and isinstance(title, str) and isinstance(kind, str)):
            return None
        if type(order) is not int or not _optional_str(when) or not isinstance(raw_leaves, list):
            return None
        if not _optional_str(raw.get("verdict")) or not _optional_str(raw.get("next_step")):
            return None
        if not isinstance(applies_to, list) or not all(isinstance(verdict, str) for verdict in applies_to):
            return None
        leaves = [_SnapLeaf.read(leaf) for leaf in raw_leaves]
        checked = tuple(leaf for leaf in leaves if leaf is not None)
        if len(checked) != len(leaves) or (when is None and checked):
            return None
        return cls(
            id=rule_id,
            title=title,
            order=order,
            kind=kind,
            condition=None if when is None else _Condition.read(when, checked),
            verdict=raw.get("verdict"),
            next_step=raw.get("next_step"),
            applies_to=tuple(sorted(applies_to)),
        )

    @property
    def when(self) -> str:
        return "none" if self.condition is None else self.condition.text

    @property
    def outcome(self) -> str:
        if self.verdict is None and self.next_step is None:
            return "none"
        return f"{self.verdict or '?'}/{self.next_step or '?'}"

    def summary(self) -> tuple[str, ...]:
        """What an added or removed rule said."""
        if self.kind == "warning":
            return f"condition: {self.when}", f"warning for {', '.join(self.applies_to) or 'no verdict'}"
        return f"condition: {self.when}", f"outcome: {self.outcome}"


# --- comparing two rules -----------------------------------------------------------------------------------


def _compare(old: _SnapRule, new: _SnapRule) -> RuleChange | None:
    details: list[str] = []
    thresholds: tuple[ThresholdChange, ...] = ()
    if _condition_changed(old.condition, new.condition):
        thresholds = _thresholds(old.condition, new.condition)
        if thresholds:
            details.extend(f"condition: {t.fact} {t.before} → {t.fact} {t.after}" for t in thresholds)
        else:
            details.append(f"condition: {old.when} → {new.when}")
    if old.outcome != new.outcome:
        details.append(f"outcome: {old.outcome} → {new.outcome}")
    if old.applies_to != new.applies_to:
        details.append(f"applies to: {', '.join(old.applies_to)} → {', '.join(new.applies_to)}")
    if old.order != new.order:
        details.append(f"order {old.order} → {new.order}")
    if old.title != new.title:
        details.append("title changed")
    if old.kind != new.kind:
        details.append(f"kind: {old.kind} → {new.kind}")
    if not details:
        return None
    return RuleChange(new.id, new.title, "changed", tuple(details), thresholds)


def _condition_changed(old: _Condition | None, new: _Condition | None) -> bool:
    if old is None or new is None:
        return old is not new
    return old.text != new.text or old.leaves != new.leaves


def _thresholds(old: _Condition | None, new: _Condition | None) -> tuple[ThresholdChange, ...]:
    """The comparisons that changed, when the condition kept its shape; () when it did not."""
    if old is None or new is None or not old.same_shape(new):
        return ()
    return tuple(
        ThresholdChange(after.fact, before.comparison, after.comparison)
        for before, after in zip(old.leaves, new.leaves, strict=True)
        if before != after
    )
