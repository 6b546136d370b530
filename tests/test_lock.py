"""Done when: the dependencies are locked and the ranges are honest.

- `uv.lock` was made from this `pyproject.toml` (its record of the project's requirements is the file's), and the
  files pip installs from (`requirements/*.txt`, exported from it) pin every package, with hashes, at its versions;
- every range in `pyproject.toml` has an upper bound below the next major version (the lock's version inside it),
  and every library the package imports is one it declares;
- the environment the tests run in is the lock's (skipped by `make test-lowest`, which installs the lowest versions
  the ranges allow on purpose).

None of this needs uv: the lock is read as the TOML it is.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
EXPORTS = ("runtime", "test", "build")
# Calendar-versioned data, not an API: a newer time-zone database is always the better one (see pyproject.toml).
UNCAPPED = {"tzdata"}
# pydantic pins its exact pydantic-core: declaring pydantic declares it.
PART_OF = {"pydantic-core": "pydantic"}


@dataclass(frozen=True)
class Pin:
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def parse_export(path: Path) -> dict[str, Pin]:
    """The pins of a `uv export` requirements file: `name==version ; marker` with its `--hash` lines."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins: dict[str, Pin] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        hashes = tuple(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line))
        spec = re.sub(r"--hash=\S+", "", line).strip()
        requirement = Requirement(spec)
        [specifier] = list(requirement.specifier)
        assert specifier.operator == "==", f"{path.name}: {spec} is not pinned with =="
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name} pins {name} twice"
        pins[name] = Pin(specifier.version, str(requirement.marker) if requirement.marker else None, hashes)
    return pins


def locked_packages() -> dict[str, dict[str, Any]]:
    return {canonicalize_name(package["name"]): package for package in LOCK["package"]}


def root_package() -> dict[str, Any]:
    return locked_packages()[PROJECT]


def declared() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements by scope: the run-time set, each extra, each dependency group."""
    project = PYPROJECT["project"]
    scopes = {"runtime": [Requirement(spec) for spec in project["dependencies"]]}
    for extra, specs in project.get("optional-dependencies", {}).items():
        scopes[extra] = [Requirement(spec) for spec in specs]
    for group, specs in PYPROJECT.get("dependency-groups", {}).items():
        scopes[f"group:{group}"] = [Requirement(spec) for spec in specs]
    return scopes


Key = tuple[str, tuple[str, ...], str, str]


def _key(name: str, extras: Iterable[str] | None, specifier: str, marker: str | None) -> Key:
    specifiers = ",".join(sorted(str(s) for s in SpecifierSet(specifier)))
    return (canonicalize_name(name), tuple(sorted(extras or ())), specifiers, str(Marker(marker)) if marker else "")


def locked_key(entry: dict[str, Any]) -> Key:
    """A requirement as uv.lock records it for the project."""
    return _key(entry["name"], entry.get("extras"), entry.get("specifier", ""), entry.get("marker"))


def declared_key(requirement: Requirement, extra: str | None = None) -> Key:
    """A requirement of pyproject.toml; of an extra, with the marker uv.lock records for it."""
    marker = str(requirement.marker) if requirement.marker else None
    if extra is not None:
        marker = f"({marker}) and extra == '{extra}'" if marker else f"extra == '{extra}'"
    return _key(requirement.name, requirement.extras, str(requirement.specifier), marker)


def test_the_lock_was_made_from_this_pyproject() -> None:
    """What `uv lock --check` checks for the project's own requirements: change one without `make lock`, and this
    fails."""
    metadata = root_package()["metadata"]
    in_lock = {locked_key(entry) for entry in metadata["requires-dist"]}
    wanted = {
        declared_key(requirement, None if scope == "runtime" else scope)
        for scope, requirements in declared().items()
        if not scope.startswith("group:")
        for requirement in requirements
    }
    assert in_lock == wanted, "pyproject.toml's requirements changed since uv.lock was made: run `make lock`"

    groups = {
        group: {locked_key(entry) for entry in entries} for group, entries in metadata.get("requires-dev", {}).items()
    }
    wanted_groups = {
        scope.removeprefix("group:"): {declared_key(requirement) for requirement in requirements}
        for scope, requirements in declared().items()
        if scope.startswith("group:")
    }
    assert groups == wanted_groups, "pyproject.toml's dependency groups changed since uv.lock was made: run `make lock`"
    assert LOCK["requires-python"] == PYPROJECT["project"]["requires-python"]


@pytest.mark.parametrize("export", EXPORTS)
def test_every_exported_pin_is_the_locks_version_with_its_hashes(export: str) -> None:
    packages = locked_packages()
    pins = parse_export(ROOT / "requirements" / f"{export}.txt")
    assert pins
    for name, pin in pins.items():
        assert name in packages, f"requirements/{export}.txt pins {name}, which uv.lock does not have: run `make lock`"
        assert pin.version == packages[name]["version"], f"{name}: requirements/{export}.txt and uv.lock differ"
        locked_hashes = {
            artifact["hash"]
            for artifact in [packages[name].get("sdist", {}), *packages[name].get("wheels", [])]
            if "hash" in artifact
        }
        assert pin.hashes, f"requirements/{export}.txt: {name} has no hash"
        assert set(pin.hashes) == locked_hashes, f"{name}: the hashes in requirements/{export}.txt are not uv.lock's"
    assert PROJECT not in pins  # the project itself is installed from the work tree, not from an index


def dependency_closure(roots: list[Requirement], packages: dict[str, dict[str, Any]]) -> set[str]:
    """Every package the lock resolves `roots` to (markers aside: an export keeps a package behind its marker)."""
    seen: set[str] = set()
    todo = [(canonicalize_name(r.name), tuple(r.extras)) for r in roots]
    while todo:
        name, extras = todo.pop()
        package = packages[name]
        new = name not in seen
        seen.add(name)
        edges = list(package.get("dependencies", [])) if new else []
        for extra in extras:
            edges += package.get("optional-dependencies", {}).get(extra, [])
        todo += [(canonicalize_name(edge["name"]), tuple(edge.get("extra", ()))) for edge in edges]
    return seen


@pytest.mark.parametrize(
    ("export", "scopes"), [("runtime", ["runtime"]), ("test", ["runtime", "test"]), ("build", ["group:build"])]
)
def test_each_export_holds_every_package_its_scope_needs_and_nothing_else(export: str, scopes: list[str]) -> None:
    packages = locked_packages()
    roots = [requirement for scope in scopes for requirement in declared()[scope]]
    needed = dependency_closure(roots, packages)
    pinned = set(parse_export(ROOT / "requirements" / f"{export}.txt"))
    assert pinned == needed, f"requirements/{export}.txt is not the lock's {export} set: run `make lock`"


def all_requirements() -> list[tuple[str, Requirement]]:
    return [(scope, requirement) for scope, requirements in declared().items() for requirement in requirements]


@pytest.mark.parametrize(("scope", "requirement"), all_requirements(), ids=str)
def test_every_range_holds_the_locked_version_and_stops_before_the_next_major(
    scope: str, requirement: Requirement
) -> None:
    name = canonicalize_name(requirement.name)
    locked = Version(locked_packages()[name]["version"])
    assert requirement.specifier.contains(locked, prereleases=True), (
        f"{scope}: {requirement} excludes the lock's {locked}"
    )
    assert any(s.operator == ">=" for s in requirement.specifier), f"{scope}: {requirement} has no lower bound"
    uppers = [Version(s.version) for s in requirement.specifier if s.operator == "<"]
    if name in UNCAPPED:
        assert not uppers
        return
    assert uppers, f"{scope}: {requirement} admits any future major version, which no test has run"
    # The next major version after the lock's; for 0.x, the next minor (semantic versioning's rule for 0.x).
    next_major = Version(f"{locked.major + 1}") if locked.major else Version(f"0.{locked.minor + 1}")
    assert min(uppers) <= next_major, f"{scope}: {requirement} admits {next_major}, which no test has run"


def test_the_build_backend_of_the_lock_is_the_one_pyproject_builds_with() -> None:
    build_system = {declared_key(Requirement(spec)) for spec in PYPROJECT["build-system"]["requires"]}
    group = {declared_key(requirement) for requirement in declared()["group:build"]}
    assert build_system <= group, "[build-system] requires and the build dependency group differ"


def imported_modules() -> set[str]:
    """The top-level names of every absolute import in the package, wherever it is (lazy imports included)."""
    names: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"bot", "__future__"}


def test_every_library_the_package_imports_is_a_declared_dependency() -> None:
    providers = importlib.metadata.packages_distributions()
    runtime = {canonicalize_name(r.name) for r in declared()["runtime"]}
    for module in sorted(imported_modules()):
        distributions = {PART_OF.get(name, name) for name in map(canonicalize_name, providers.get(module, []))}
        assert distributions, f"bot/ imports {module}, which no installed distribution provides"
        assert distributions & runtime, f"bot/ imports {module} ({', '.join(distributions)}) without declaring it"


@pytest.mark.locked_environment
def test_the_tests_run_on_the_locked_versions() -> None:
    """`make install` installed the lock: every package of requirements/test.txt at its pinned version."""
    wrong = {}
    for name, pin in parse_export(ROOT / "requirements" / "test.txt").items():
        if pin.marker and not Marker(pin.marker).evaluate():
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pin.version:
            wrong[name] = f"{installed}, the lock says {pin.version}"
    assert not wrong, f"the environment is not the lock's: {wrong}; run `make install`"
