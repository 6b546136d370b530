"""Several real bot processes sharing one Redis and one fake Slack, as replicas behind a load balancer run.

`Replicas` starts `should-finetune serve` processes (the venv's console script), each on a free loopback port with
its own bot token if asked, all with the test's Redis URL and key prefix and the fake Slack as `SLACK_API_URL`; it
waits for `/readyz`, stops them with SIGTERM or kills them with SIGKILL, and runs other `should-finetune` commands
(`digest`, say) the same way. Each process writes its stdout and stderr to a log file of its own; the `replicas`
fixture prints the end of every log at teardown, so a failing test shows what each process said.

Requests reach a replica through its `client`, a `BotClient` that signs them as Slack does. An Events API delivery
is built once with `envelope` and sent with `deliver`, so that Slack's redeliveries of it (`X-Slack-Retry-Num`
1-3 with an `X-Slack-Retry-Reason`) carry the very same body, to whichever replica the load balancer picks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, env_name
from tests import fixture_rules
from tests.fakeslack import FakeSlack
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, BotClient, Reply, event_callback, http

# Everything Slack sends as X-Slack-Retry-Reason on a redelivery.
RETRY_REASONS = ("http_timeout", "http_error", "connection_failed", "unknown_error", "ssl_error", "too_many_redirects")
# How long a replica may take to answer /readyz after it was started (imports, auth.test, Redis, rules).
READY_SECONDS = 60.0
# How long SIGTERM may take: in-flight work drains first.
STOP_SECONDS = 30.0


def console_script() -> Path:
    """The `should-finetune` command installed next to the Python running the tests (the venv's)."""
    script = Path(sys.executable).with_name("should-finetune")
    if not script.exists():
        raise AssertionError(f"{script} is missing: install the bot into the venv (make install)")
    return script


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def setting_env(**settings: object) -> dict[str, str]:
    """Environment variables for bot settings given by field name (`work_lease_seconds=2`), as docs/configuration.md
    names them; an unknown name is a mistake in the test."""
    unknown = sorted(set(settings) - set(Settings.model_fields))
    if unknown:
        raise ValueError(f"no such settings: {', '.join(unknown)}")
    return {env_name(name): _env_value(value) for name, value in settings.items()}


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


@dataclass
class Process:
    """One `should-finetune` process and the file its stdout and stderr go to."""

    name: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def output(self) -> str:
        """Everything the process wrote so far, stdout and stderr interleaved."""
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; its exit code."""
        return self.process.wait(timeout)

    def terminate(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, as a container runtime stops a replica, and wait; its exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, whatever it was doing."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Replica(Process):
    """A `should-finetune serve` process, and a client that sends it requests signed as Slack signs them."""

    url: str = ""
    client: BotClient = field(init=False, repr=False)

    def bind(self, fake: FakeSlack) -> None:
        """Make the client (the replica's own services live in its process, so the client has none)."""
        self.client = BotClient(self.url, services=None, fake=fake)  # type: ignore[arg-type]


class Replicas:
    """Starts bot processes that share the test's Redis (under its key prefix) and its fake Slack; whatever still
    runs when it is closed gets SIGTERM, and SIGKILL if that is not enough."""

    def __init__(self, *, fake: FakeSlack, redis_url: str, prefix: str, workdir: Path) -> None:
        self.fake = fake
        self.redis_url = redis_url
        self.prefix = prefix
        self.workdir = workdir
        self.processes: list[Process] = []
        workdir.mkdir(parents=True, exist_ok=True)

    def environment(self, token: str, settings: Mapping[str, object]) -> dict[str, str]:
        """The environment of one process: the user's shell without any of the bot's settings, then the shared
        Redis, prefix and fake Slack, the token, the tests' own rule set, no digest scheduler (unless `settings` turn
        it on), and `settings`."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_"))}
        values: dict[str, object] = {
            "rules_dir": fixture_rules.DIRECTORY,
            "slack_bot_token": token,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": self.fake.url,
            "redis_url": self.redis_url,
            "redis_prefix": self.prefix,
            "data_dir": self.workdir / "data",  # never used with REDIS_URL set; kept out of the user's home anyway
            "digest_scheduler": False,
            **settings,
        }
        return {**base, **setting_env(**values)}

    def _spawn(
        self, name: str, args: list[str], token: str, settings: Mapping[str, object]
    ) -> tuple[subprocess.Popen[bytes], Path]:
        self.fake.tokens.add(token)  # the fake Slack accepts every replica's token
        log = self.workdir / f"{name}.log"
        with log.open("ab") as log_file:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                [str(console_script()), *args],
                env=self.environment(token, settings),
                cwd=self.workdir,  # no stray .env file is read
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        return popen, log

    def command(self, name: str, *args: str, token: str = BOT_TOKEN, **settings: object) -> Process:
        """Start `should-finetune ARGS...` (a `digest` run, say) with the shared settings; it runs on its own."""
        popen, log = self._spawn(name, list(args), token, settings)
        process = Process(name=name, token=token, process=popen, log=log)
        self.processes.append(process)
        return process

    def start(self, name: str, *, token: str = BOT_TOKEN, **settings: object) -> Replica:
        """Start `should-finetune serve` on a free loopback port and wait until its /readyz says ready."""
        for _ in range(3):
            port = free_port()
            args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            popen, log = self._spawn(name, args, token, settings)
            replica = Replica(name=name, token=token, process=popen, log=log, url=f"http://127.0.0.1:{port}")
            replica.bind(self.fake)
            self.processes.append(replica)
            if self._wait_ready(replica):
                return replica
            # Another process took the port between the probe and the bind: try another one.
        raise AssertionError(f"replica {name} could not bind a port:\n{replica.output()}")

    def _wait_ready(self, replica: Replica) -> bool:
        """True once /readyz answers ready; False if the port was taken; an AssertionError for anything else."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if not replica.alive:
                replica.wait(1)
                output = replica.output()
                if "Address already in use" in output:
                    return False
                raise AssertionError(f"replica {replica.name} exited with {replica.process.returncode}:\n{output}")
            try:
                answer = http(replica.url + "/readyz", method="GET")
                if answer.status == 200 and answer.json() == {"ready": True}:
                    return True
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                replica.kill()
                raise AssertionError(f"replica {replica.name} not ready in {READY_SECONDS:.0f} s:\n{replica.output()}")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop everything still running: SIGTERM first, SIGKILL when it does not exit in time."""
        for process in self.processes:
            if process.alive:
                process.process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.process.kill()
                process.process.wait(10)

    def report(self, *, lines: int = 200) -> str:
        """Each process's name, exit code and the last `lines` lines of its output (all of it is in its log file),
        for a failing test's report."""
        parts = []
        for process in self.processes:
            code = process.process.poll()
            state = "running" if code is None else f"exit code {code}"
            output = process.output().splitlines()
            shown = output[-lines:]
            skipped = (
                f"({len(output) - len(shown)} earlier lines in {process.log})\n" if len(shown) < len(output) else ""
            )
            parts.append(f"===== {process.name} (pid {process.pid}, {state}) =====\n{skipped}" + "\n".join(shown))
        return "\n".join(parts)


@pytest.fixture
def replicas(fake_slack: FakeSlack, redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[Replicas]:
    """A harness for bot processes sharing this test's Redis prefix and fake Slack; each process's output is
    printed at teardown (pytest shows it when the test fails), and every process is stopped."""
    harness = Replicas(fake=fake_slack, redis_url=redis_url, prefix=key_prefix, workdir=tmp_path / "replicas")
    try:
        yield harness
    finally:
        try:
            harness.close()
        finally:
            print(harness.report(), file=sys.stderr)


def envelope(event: Mapping[str, Any], *, event_id: str) -> bytes:
    """The body of the Events API request that delivers `event`; every redelivery of it carries these bytes."""
    return json.dumps(event_callback(event, event_id=event_id)).encode()


def deliver(client: BotClient, body: bytes, *, retry_num: int = 0, reason: str = "http_timeout") -> Reply:
    """Deliver an event body as Slack does: `retry_num` 0 is the first delivery, 1-3 a redelivery for `reason`."""
    if retry_num and reason not in RETRY_REASONS:
        raise ValueError(f"Slack sends no retry reason {reason!r}")
    headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason} if retry_num else {}
    return client.post(body, content_type="application/json", headers=headers)
