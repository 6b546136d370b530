"""The layout `docs/architecture.md` describes, checked on the source of `bot/`: only the store imports redis, the
parts import each other in one direction only, files and functions stay small, and registered listeners are thin."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_LISTENER_LINES = 20
# Where redis may be imported: the store, and the embedded server's own lifecycle (start, wait, stop).
REDIS_ALLOWED = ("store", "embedded_redis")


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(BOT.rglob("*.py")):
        name = ".".join(("bot", *path.relative_to(BOT).with_suffix("").parts)).removesuffix(".__init__")
        yield name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(tree: ast.Module, module: str) -> set[str]:
    """Every module `tree` imports, at any depth (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                package = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
                base = ".".join([*package, base]) if base else ".".join(package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def part(module: str) -> str | None:
    """The part a `bot.` module belongs to: its package under `bot`, or the module itself at the top."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "bot" else None


def part_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, _, tree in modules():
        own = part(name)
        if own is None:
            continue
        edges = graph.setdefault(own, set())
        for target in imported(tree, name):
            other = part(target)
            if other is not None and other != own and (BOT / other).exists() | (BOT / f"{other}.py").exists():
                edges.add(other)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_only_the_store_imports_redis() -> None:
    offenders = [
        f"{name}: {sorted(t for t in imported(tree, name) if t == 'redis' or t.startswith('redis.'))}"
        for name, _, tree in modules()
        if part(name) not in REDIS_ALLOWED and any(t == "redis" or t.startswith("redis.") for t in imported(tree, name))
    ]
    assert offenders == []


def test_the_parts_import_each_other_in_one_direction() -> None:
    assert cycles(part_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(("name", "path"), [(name, path) for name, path, _ in modules()], ids=str)
def test_no_file_is_over_500_lines(name: str, path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FILE_LINES, f"{name} has {lines} lines"


def test_no_function_is_over_80_lines() -> None:
    long = [
        f"{name}:{node.lineno} {node.name} ({(node.end_lineno or node.lineno) - node.lineno + 1} lines)"
        for name, _, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def registered_listeners() -> Iterator[tuple[str, ast.FunctionDef]]:
    """The functions each listener module registers with Bolt (decorated `@app.…`, or passed to `app.event(...)`)."""
    for name, _, tree in modules():
        if not name.startswith("bot.listeners."):
            continue
        passed = {
            arg.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Call) and _is_app_call(node.func)
            for arg in node.args
            if isinstance(arg, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and (
                node.name in passed or any(isinstance(d, ast.Call) and _is_app_call(d) for d in node.decorator_list)
            ):
                yield name, node


def _is_app_call(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and _is_app(call.func.value)


def _is_app(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "app"


def test_registered_listeners_are_thin() -> None:
    listeners = list(registered_listeners())
    assert len(listeners) >= 7  # the command, the form, three kinds of button, reactions, thread messages
    fat = [
        f"{name}.{node.name}: {(node.end_lineno or node.lineno) - node.lineno + 1} lines"
        for name, node in listeners
        if (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_LISTENER_LINES
    ]
    assert fat == []


def test_no_listener_module_imports_another() -> None:
    # What they share is in bot.listeners.common, which registers nothing.
    listening = {name for name, _, tree in modules() if name.startswith("bot.listeners.") and _registers(tree)}
    crossing = [
        f"{name} imports {target}"
        for name, _, tree in modules()
        if name in listening
        for target in imported(tree, name)
        if any(target == other or target.startswith(other + ".") for other in listening - {name})
    ]
    assert crossing == []


def _registers(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.FunctionDef) and node.name == "register" for node in tree.body)
