"""Done when: `pip install .` (not editable) into a fresh virtual environment gives a `should-finetune` that works
from any directory, with the bundled rule set and templates inside the installed package. The dependencies are the
lock's, as everywhere in the tests; `make test-lowest` checks the bottom of `pyproject.toml`'s ranges.

One virtual environment is made per run (tens of seconds; pip's cache makes reruns faster), from a copy of the
project so that the build writes nothing into the work tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).resolve().parent / "data" / "answers" / "checklist-fine-tune.yaml"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", ".*_cache", "__pycache__", ".hypothesis", "*.egg-info", "dist", "build", ".env"
)


@dataclass(frozen=True)
class Installed:
    venv: Path
    project: Path  # the copy that was installed
    run_dir: Path  # a directory that is neither the project nor the venv

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "should-finetune"

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_clean([self.command, *args], cwd=self.run_dir, timeout=timeout)


def run_clean(argv: list[str | Path], *, cwd: Path | None = None, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command in the clean environment, capturing its output; the caller checks the exit code."""
    return subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def clean_env() -> dict[str, str]:
    """The environment without anything that could point the new install back at the work tree."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SHOULD_FINETUNE_")}
    env["PIP_NO_INPUT"] = "1"
    return env


def base_python() -> str:
    """The interpreter behind the test run's virtual environment, to make a venv that shares nothing with it."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).exists():
        return str(base)
    return shutil.which("python3") or sys.executable


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    project = base / "project"
    shutil.copytree(ROOT, project, ignore=COPY_IGNORE)
    venv = base / "venv"
    made = run_clean([base_python(), "-m", "venv", venv], timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    # The lock's versions (what CI tests), then the package itself from the copy, built by the locked backend: what
    # `pip install .` does, without letting a new release upstream decide whether this test passes.
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    for step in (
        [
            "--require-hashes",
            "-r",
            project / "requirements" / "runtime.txt",
            "-r",
            project / "requirements" / "build.txt",
        ],
        ["--no-deps", "--no-build-isolation", project],
    ):
        done = run_clean([*pip, *step], cwd=base, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
    run_dir = base / "elsewhere"
    run_dir.mkdir()
    return Installed(venv=venv, project=project, run_dir=run_dir)


def bundled_version(project: Path) -> str:
    version = yaml.safe_load((project / "rules" / "ruleset.yaml").read_text(encoding="utf-8"))["version"]
    assert isinstance(version, str)
    return version


def inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def test_the_install_is_a_copy_in_site_packages_not_the_work_tree(installed: Installed) -> None:
    probe = run_clean(
        [
            installed.venv / "bin" / "python",
            "-c",
            "import bot, bot.resources as r; print(bot.__file__); print(r.default_rules_dir()); "
            "print(r.default_templates_dir())",
        ],
        cwd=installed.run_dir,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    package, rules, templates = (Path(line) for line in probe.stdout.splitlines())
    for path in (package, rules, templates):
        assert inside(path, installed.venv), path
        assert "site-packages" in path.parts
        assert not inside(path, ROOT)
        assert not inside(path, installed.project)
    assert (rules / "ruleset.yaml").is_file()
    assert (templates / "cli" / "verdict.txt.j2").is_file()


def test_evaluate_a_sample_file_from_another_directory(installed: Installed) -> None:
    shutil.copy(SAMPLE, installed.run_dir / "answers.yaml")
    result = installed.run("evaluate", "answers.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert (data["verdict"], data["next_step"]) == ("fine-tune", "fine-tune")
    assert data["answers"]["tried_dspy"] is True
    assert data["ruleset"]["version"] == bundled_version(installed.project)
    assert data["trace"]


def test_text_output_from_another_directory_uses_the_bundled_templates(installed: Installed) -> None:
    result = installed.run("evaluate", SAMPLE)
    assert result.returncode == 0, result.stderr
    assert re.search(r"(?m)^VERDICT: fine-tune$", result.stdout)
    assert "[fine-tune]" in result.stdout
    assert f"Rule set {bundled_version(installed.project)}" in result.stdout


def test_rules_check_reports_the_bundled_rule_set(installed: Installed) -> None:
    result = installed.run("rules", "check")
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.startswith("ok: ")
    checked = Path(first.removeprefix("ok: "))
    assert inside(checked, installed.venv)
    assert "site-packages" in checked.parts
    assert not inside(checked, ROOT)
    assert f"version {bundled_version(installed.project)}" in rest
    sha = next(line.removeprefix("sha256 ") for line in rest if line.startswith("sha256 "))
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    # The bundled copy means the same as the rules it was built from.
    source = installed.run("rules", "check", installed.project / "rules")
    assert source.returncode == 0, source.stderr
    assert f"sha256 {sha}" in source.stdout.splitlines()
