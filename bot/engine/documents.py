"""Reading JSON and YAML documents strictly: a key given twice is an error, never a silent last-one-wins."""

from __future__ import annotations

import json
from typing import Any

import yaml

try:  # libyaml is an order of magnitude faster; PyYAML's wheels ship it on the usual platforms.
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class DuplicateKeyError(ValueError):
    """A JSON object with the same key twice."""


class _StrictLoader(_BaseLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """YAML with the safe loader; raises `yaml.YAMLError` (with a `problem_mark`) on a duplicate key."""
    return yaml.load(text, Loader=_StrictLoader)


def load_json(text: str | bytes) -> Any:
    """JSON; raises `json.JSONDecodeError` as usual, or `DuplicateKeyError` naming the repeated key."""
    return json.loads(text, object_pairs_hook=_unique_pairs)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(f"duplicate key {key!r}")
        result[key] = value
    return result
