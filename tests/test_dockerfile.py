"""Done when: the Dockerfile keeps its promises (a pinned slim base, a fixed non-root user, a health check on
`/healthz`, `should-finetune serve` by default, no secrets in any layer), and what the image does can be done
without Docker: the files `.dockerignore` lets into the build context make a wheel that, installed into a fresh
virtual environment, finds its rules and templates from any directory, serves, and passes the image's health check.

The Dockerfile is read as Docker reads it (continuation lines, comments, stages); `.dockerignore` is evaluated with
Docker's rules (patterns in order, `!` re-includes, the last match wins, `**` spans directories).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from bot.embedded_redis import EmbeddedRedis
from tests.fakeslack import FakeSlack
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
UID = "10001"
VENV = "/opt/should-finetune"
DATA_DIR = "/var/lib/should-finetune"
SECRET_WORDS = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_KEY|REDIS_URL", re.IGNORECASE)


# --- reading the Dockerfile ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the logical line, continuations joined
    stage: int  # 0 for the instructions before the first FROM (global ARGs), then 1, 2, ...

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction; fails the test for the shell form."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec (JSON array) form: {self.args}"
        assert all(isinstance(item, str) for item in value)
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Logical instructions: comment lines dropped, lines ending in a backslash joined to the next."""
    instructions: list[Instruction] = []
    stage = 0
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as Docker does
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, args.strip(), stage))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def key_values(args: str) -> dict[str, str]:
    """`ENV`, `ARG` and `LABEL` arguments (`A=1 B="two words"`, or the legacy `A value`) as a dict."""
    words = shlex.split(args)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) if "=" in word else (word, "") for word in words)


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def final_env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final_stage(instructions):
        if instruction.keyword == "ENV":
            env.update(key_values(instruction.args))
    return env


def test_the_parser_joins_continuations_and_numbers_stages() -> None:
    parsed = parse_dockerfile(
        "ARG BASE=x\n# a comment\nFROM $BASE AS build\nRUN a \\\n  # inside\n  && b\nFROM $BASE\nUSER 1:1\n"
    )
    assert [(i.keyword, i.args, i.stage) for i in parsed] == [
        ("ARG", "BASE=x", 0),
        ("FROM", "$BASE AS build", 1),
        ("RUN", "a && b", 1),
        ("FROM", "$BASE", 2),
        ("USER", "1:1", 2),
    ]


# --- the Dockerfile's promises -------------------------------------------------------------------------------------


def test_both_stages_use_one_pinned_slim_python_image(dockerfile: list[Instruction]) -> None:
    base = key_values(only([i for i in dockerfile if i.stage == 0], "ARG").args)
    image = base["PYTHON_IMAGE"]
    # An exact patch release on a named Debian release: never `latest`, never a bare `3.11`.
    assert re.fullmatch(r"python:3\.1[1-9]\.[0-9]+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image
    froms = [i.args for i in dockerfile if i.keyword == "FROM"]
    assert len(froms) == 2, froms
    assert froms[0] == "${PYTHON_IMAGE} AS build"
    assert froms[1] == "${PYTHON_IMAGE}"


def test_the_final_stage_runs_as_a_fixed_unprivileged_user(dockerfile: list[Instruction]) -> None:
    final = final_stage(dockerfile)
    users = [i.args for i in final if i.keyword == "USER"]
    assert users == [f"{UID}:{UID}"], users
    # Nothing runs as root after the switch, and the user is created with that fixed uid and gid.
    after = final[[i.keyword for i in final].index("USER") :]
    assert not [i for i in after if i.keyword == "RUN"]
    creates = " ".join(i.args for i in final if i.keyword == "RUN")
    assert f"--uid {UID}" in creates
    assert f"--gid {UID}" in creates


def test_the_data_directory_is_a_volume_the_user_owns(dockerfile: list[Instruction]) -> None:
    final = final_stage(dockerfile)
    assert final_env(dockerfile)["SHOULD_FINETUNE_DATA_DIR"] == DATA_DIR
    assert only(final, "VOLUME").exec_form() == [DATA_DIR]
    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert re.search(rf"install --directory --owner {UID} --group {UID} --mode 0700 {re.escape(DATA_DIR)}\b", runs)


def test_serve_is_the_default_command_and_any_other_command_can_replace_it(dockerfile: list[Instruction]) -> None:
    final = final_stage(dockerfile)
    assert only(final, "ENTRYPOINT").exec_form() == ["should-finetune"]
    assert only(final, "CMD").exec_form() == ["serve"]
    env = final_env(dockerfile)
    assert env["PATH"].split(":")[0] == f"{VENV}/bin"
    assert only(final, "EXPOSE").args == "3000"


def test_python_is_unbuffered_and_pip_keeps_no_cache(dockerfile: list[Instruction]) -> None:
    assert final_env(dockerfile)["PYTHONUNBUFFERED"] == "1"
    build_env: dict[str, str] = {}
    for instruction in dockerfile:
        if instruction.stage == 1 and instruction.keyword == "ENV":
            build_env.update(key_values(instruction.args))
    assert build_env["PIP_NO_CACHE_DIR"] == "1"


def test_the_final_stage_takes_only_the_virtual_environment_from_the_build(dockerfile: list[Instruction]) -> None:
    copies = [i.args for i in final_stage(dockerfile) if i.keyword in {"COPY", "ADD"}]
    assert copies == [f"--from=build {VENV} {VENV}"]


def test_no_instruction_carries_a_secret(dockerfile: list[Instruction]) -> None:
    for instruction in dockerfile:
        if instruction.keyword in {"ENV", "ARG"}:
            names = [name for name in key_values(instruction.args) if SECRET_WORDS.search(name)]
            assert not names, f"{instruction.keyword} {instruction.args}"
        if instruction.keyword in {"COPY", "ADD"}:
            assert ".env" not in instruction.args.split()
    assert "xoxb-" not in DOCKERFILE.read_text(encoding="utf-8")
    assert "xapp-" not in DOCKERFILE.read_text(encoding="utf-8")


def test_the_health_check_asks_healthz_on_the_configured_port(dockerfile: list[Instruction]) -> None:
    check = only(final_stage(dockerfile), "HEALTHCHECK")
    options, _, command = check.args.partition("CMD ")
    assert "--start-period=" in options
    argv = json.loads(command)
    assert argv[:2] == [f"{VENV}/bin/python", "-c"]
    assert "/healthz" in argv[2]
    assert "SHOULD_FINETUNE_PORT" in argv[2]


# --- the health check's command, run against a stand-in server ----------------------------------------------------


def healthcheck_argv(python: str | Path) -> list[str]:
    """The image's health check command, with its interpreter replaced by `python`."""
    check = only(final_stage(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))), "HEALTHCHECK")
    argv = json.loads(check.args.partition("CMD ")[2])
    return [str(python), *argv[1:]]


def run_healthcheck(python: str | Path, env: dict[str, str]) -> int:
    return subprocess.run(healthcheck_argv(python), env=env, capture_output=True, timeout=30, check=False).returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Stub(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str]  # each stub server gets its own list (see the fixture)

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[int, type[_Stub]]]:
    """An HTTP server on 127.0.0.1 whose answer status a test sets, recording the paths asked for."""
    handler = type("Stub", (_Stub,), {"status": 200, "paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), handler
    finally:
        server.shutdown()
        server.server_close()


def probe_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOULD_FINETUNE_") and "proxy" not in k.lower()}
    return {**env, **values}


def test_the_health_check_passes_on_200_from_healthz_at_the_configured_port(stub: tuple[int, type[_Stub]]) -> None:
    port, handler = stub
    assert run_healthcheck(sys.executable, probe_env(SHOULD_FINETUNE_PORT=str(port))) == 0
    assert handler.paths == ["/healthz"]


def test_the_health_check_fails_on_an_error_status(stub: tuple[int, type[_Stub]]) -> None:
    port, handler = stub
    handler.status = 503
    assert run_healthcheck(sys.executable, probe_env(SHOULD_FINETUNE_PORT=str(port))) != 0
    assert handler.paths == ["/healthz"]


def test_the_health_check_fails_when_nothing_listens() -> None:
    assert run_healthcheck(sys.executable, probe_env(SHOULD_FINETUNE_PORT=str(free_port()))) != 0


def test_the_health_check_ignores_a_proxy_set_for_the_calls_to_slack(stub: tuple[int, type[_Stub]]) -> None:
    port, handler = stub
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    env = probe_env(SHOULD_FINETUNE_PORT=str(port), HTTP_PROXY=dead_proxy, http_proxy=dead_proxy, NO_PROXY="")
    assert run_healthcheck(sys.executable, env) == 0
    assert handler.paths == ["/healthz"]


# --- .dockerignore --------------------------------------------------------------------------------------------------


def ignore_patterns() -> list[tuple[bool, str]]:
    """(re-include?, pattern) for each rule of .dockerignore, cleaned as Docker cleans them."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip() if negate else line
        pattern = os.path.normpath(pattern).lstrip("/")
        rules.append((negate, pattern))
    return rules


def _matches(pattern: str, path: str) -> bool:
    """Docker's pattern match: `*` and `?` stay within one path element, `**` spans any number of them."""
    return _regex(pattern).fullmatch(path) is not None


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex += pattern[i : end + 1]
            i = end + 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.compile(regex)


def ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether Docker leaves `path` (relative to the context) out: the last rule matching it or a parent wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, pattern in rules:
        if any(_matches(pattern, prefix) for prefix in prefixes):
            result = not negate
    return result


def test_the_ignore_matcher_follows_dockers_rules() -> None:
    rules = [(False, "*"), (True, "bot"), (False, "**/__pycache__")]
    assert ignored(".env", rules)
    assert ignored("tests/test_x.py", rules)
    assert not ignored("bot/cli.py", rules)
    assert ignored("bot/__pycache__/cli.cpython-311.pyc", rules)
    assert ignored("bot/slack/__pycache__/x.pyc", rules)
    assert _matches("**/*.py[cod]", "bot/a.pyc")
    assert not _matches("*.aof", "data/appendonly.aof")
    assert fnmatchcase(".env", "*")  # no special case for dot files, in Docker or here


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        "bot/.env",
        ".venv/bin/python",
        ".git/config",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/bot/cli.data.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "bot/__pycache__/cli.cpython-311.pyc",
        "bot/engine/__pycache__/verdict.cpython-311.pyc",
        "data/appendonly.aof",
        "data/dump.rdb",
        "bot/appendonlydir/appendonly.aof.1.incr.aof",
        "tests/test_cli.py",
        "dist/should_finetune-0.1.0-py3-none-any.whl",
        "build/lib/bot/cli.py",
        "should_finetune.egg-info/PKG-INFO",
    ],
)
def test_dockerignore_keeps_secrets_and_local_state_out(path: str) -> None:
    assert ignored(path, ignore_patterns())


def reincluded_below(directory: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether a `!` rule could re-include something inside `directory`."""
    return any(negate and (pattern.startswith((directory + "/", "*"))) for negate, pattern in rules)


def context_files() -> list[str]:
    """The work tree's files that .dockerignore lets into the build context."""
    rules = ignore_patterns()
    kept = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        relative_dir = Path(dirpath).relative_to(ROOT).as_posix()
        # Skip the excluded directories that no `!` rule reaches into (.git, .venv, the caches).
        subdirs = {d: d if relative_dir == "." else f"{relative_dir}/{d}" for d in dirnames}
        dirnames[:] = [d for d, path in subdirs.items() if not ignored(path, rules) or reincluded_below(path, rules)]
        for name in filenames:
            path = name if relative_dir == "." else f"{relative_dir}/{name}"
            if not ignored(path, rules):
                kept.append(path)
    return sorted(kept)


def test_every_file_the_build_copies_is_in_the_context(dockerfile: list[Instruction]) -> None:
    kept = context_files()
    build_copies = [i.args.split() for i in dockerfile if i.keyword == "COPY" and not i.args.startswith("--from")]
    sources = [source for args in build_copies for source in args[:-1]]
    assert sources
    for source in sources:
        assert any(path == source or path.startswith(source.rstrip("/") + "/") for path in kept), source
    assert "pyproject.toml" in kept
    assert "rules/ruleset.yaml" in kept
    assert "templates/cli/verdict.txt.j2" in kept
    assert not [path for path in kept if path.endswith(".env") or "__pycache__" in path]


def test_the_image_installs_the_locked_versions_and_nothing_else(dockerfile: list[Instruction]) -> None:
    commands = " && ".join(i.args for i in dockerfile if i.keyword == "RUN")
    installs = re.findall(r"pip(?: --python \S+)? install ([^&]+)", commands)
    assert sorted(" ".join(args.split()) for args in installs) == sorted(
        [
            "--require-hashes -r requirements/runtime.txt",
            "--require-hashes -r requirements/build.txt",
            "--no-deps /tmp/wheels/should_finetune-*.whl",
        ]
    ), installs
    assert "wheel --no-deps --no-build-isolation" in commands  # built with the locked backend, nothing fetched
    assert " check" in commands


# --- the image's build and run, without Docker ---------------------------------------------------------------------


def clean_env(**values: str) -> dict[str, str]:
    """A user's environment: none of the bot's settings and nothing pointing Python back at the work tree."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_"))
    }
    return {**env, "PIP_NO_INPUT": "1", "PYTHONUNBUFFERED": "1", **values}


def base_python() -> str:
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).exists():
        return str(base)
    return shutil.which("python3") or sys.executable


@dataclass(frozen=True)
class Image:
    """What the image's build stage makes: a virtual environment with the project's wheel in it."""

    venv: Path
    context: Path
    run_dir: Path
    data_dir: Path

    def command(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "should-finetune"), *args],
            cwd=self.run_dir,
            env=env or clean_env(SHOULD_FINETUNE_DATA_DIR=str(self.data_dir)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _run(argv: list[str | Path], cwd: Path, timeout: float = 600) -> None:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The build stage's steps: the context .dockerignore admits, a wheel of it, a fresh venv with the wheel."""
    base = tmp_path_factory.mktemp("image")
    context = base / "context"
    for path in context_files():
        target = context / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target)
    # The lock's build backend in a venv of its own, the wheel built with it, the lock's run-time set and the wheel
    # in the image's venv: every file checked against the lock's hashes, as the Dockerfile's RUN lines do.
    build = base / "build"
    _run([base_python(), "-m", "venv", build], cwd=base)
    locked = context / "requirements"
    _run(
        [build / "bin" / "python", "-m", "pip", "install", "--quiet", "--require-hashes", "-r", locked / "build.txt"],
        cwd=base,
    )
    wheels = base / "wheels"
    _run(
        [
            build / "bin" / "python",
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            wheels,
            context,
        ],
        cwd=base,
    )
    built = sorted(wheels.glob("should_finetune-*.whl"))
    assert len(built) == 1, built
    venv = base / "venv"
    _run([base_python(), "-m", "venv", "--without-pip", venv], cwd=base)
    # As the image's build installs it, less the bytecode compilation (time the test does not need).
    pip = [base_python(), "-m", "pip", "--python", venv / "bin" / "python"]
    _run([*pip, "install", "--quiet", "--no-compile", "--require-hashes", "-r", locked / "runtime.txt"], cwd=base)
    _run([*pip, "install", "--quiet", "--no-compile", "--no-deps", built[0]], cwd=base)
    _run([*pip, "check"], cwd=base)
    run_dir = base / "app"  # like the image's WORKDIR: empty, neither the context nor the venv
    run_dir.mkdir()
    return Image(venv=venv, context=context, run_dir=run_dir, data_dir=base / "data")


def test_the_wheel_finds_its_bundled_rules_from_another_directory(image: Image) -> None:
    result = image.command("rules", "check")
    assert result.returncode == 0, result.stderr
    checked = Path(result.stdout.splitlines()[0].removeprefix("ok: "))
    assert checked.is_relative_to(image.venv)
    assert checked.parts[-3:] == ("bot", "_defaults", "rules")
    # The same rules as the work tree's, byte for byte in meaning.
    source = image.command("rules", "check", str(ROOT / "rules"))
    assert source.returncode == 0, source.stderr
    assert result.stdout.splitlines()[1:] == source.stdout.splitlines()[1:]


def test_the_wheel_renders_with_its_bundled_templates(image: Image) -> None:
    manifest = image.command("manifest", "--socket")
    assert manifest.returncode == 0, manifest.stderr
    assert json.loads(manifest.stdout)["settings"]["socket_mode_enabled"] is True
    answers = image.run_dir / "answers.yaml"
    answers.write_text("use_case: Support ticket triage\nn_stable_examples: 20\n", encoding="utf-8")
    try:
        verdict = image.command("evaluate", "answers.yaml")
    finally:
        answers.unlink()
    assert verdict.returncode == 0, verdict.stderr
    assert re.search(r"(?m)^VERDICT: ", verdict.stdout)


def test_serve_with_no_settings_stops_at_once_naming_them(image: Image) -> None:
    started = time.monotonic()
    result = image.command("serve")
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_serve_from_the_wheel_passes_the_images_health_check(image: Image, fake_slack: FakeSlack) -> None:
    port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(image.data_dir),
        SHOULD_FINETUNE_PORT=str(port),
    )
    python = image.venv / "bin" / "python"
    assert run_healthcheck(python, env) != 0  # nothing serves yet
    process = subprocess.Popen(
        [str(image.venv / "bin" / "should-finetune"), "serve"],  # the image's ENTRYPOINT and CMD, no flags
        cwd=image.run_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30  # the health check's start period
        while run_healthcheck(python, env) != 0:
            assert process.poll() is None, f"serve exited early:\n{process.communicate()[0]}"
            assert time.monotonic() < deadline, "serve did not become healthy within the start period"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)  # what `docker stop` sends
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output  # SIGTERM drains the work and shuts the embedded Redis down
    # The embedded Redis kept its append-only file in the data directory (the image's volume) and let go of it:
    # the next container on the same volume can start.
    assert list(image.data_dir.glob("appendonly*")), sorted(p.name for p in image.data_dir.iterdir())
    with EmbeddedRedis(image.data_dir) as restarted:
        assert restarted.url.startswith("unix://")
