"""Load benchmark, run as `.venv/bin/python benchmarks/bench_load.py [--duration 30] [--quick] [--json]`.

The real bot runs as `--replicas` (2) separate `should-finetune serve` processes (the venv's console script, set up
through the environment as in production, its log at INFO going to a file), sharing one Redis (an embedded
`redis-server`, see `bot.embedded_redis`, unless REDIS_URL is set; then its keys live under a prefix of the run's
own and only those are deleted at the end) and the fake Slack Web API (`tests/fakeslack.py`, via SLACK_API_URL, in a
process of its own, answering every call after `--delay-ms`, 50 ms by default). There is no proxy: the load
generator sends request i to replica i mod N. The baseline is as many bare Bolt apps (no-op listeners for the slash
command and for `message` events, `process_before_response=True`), each in its own process behind waitress with the
same thread count, hit the same way in the same run; the tables show the bot's figures beside it and the ratio.

**Events** (`--rate`, 300 requests per second, for `--duration`, 30 s; `--duration 900` is the 15-minute soak): each
request is a signed `message` event callback in one of `--verdicts` (500) verdict threads, every one a decision made
through the form first (slash command, `views.open`, view submission, verdict and explanation posted). Every event is
"what if we had N examples" with its own N, so the bot's reply names the event it answers. Of the requests, 10% are
redeliveries of an event sent 0.05 to 3 s earlier (same body and event_id, `X-Slack-Retry-Num: 1`,
`X-Slack-Retry-Reason: http_timeout`; with round-robin about half reach the other replica), 1% are events of their
own with a bad signature (expect 401 and no reply), the rest first deliveries. Measured: the HTTP response of each
kind (send to last byte), and, once the work has drained, the replies at the fake Slack per event: **lost** (an event
accepted with a 200 but never answered) and **duplicated** (answered more than once); both must be 0. The fake's
record is emptied every few seconds, so a soak does not grow it without bound. When the bot's access log gives each
request's duration, the time spent inside the bot is shown too. Then requests of the same mix on the same schedule
go to the baseline (which has no side effects to count).

**Slash commands** at each of `--command-rates` (50 and 200 per second) for `--command-seconds` (20): the plain
`/should-finetune <use case>`, the command people type most, which acknowledges at once and then calls `views.open`
on a worker thread, so its response time includes whatever that work costs the process. Reported: the HTTP response
of the bot and of the baseline, their ratio, and command sent to `views.open` at Slack for the bot, waiting for every
form (up to `--drain-timeout`) so that no backlog runs into the next phase, and counting those opened after the
trigger's 3 seconds (real Slack would refuse them: `expired_trigger_id`). A command whose form the bot did not try
because its trigger was about to expire (the bot's answer to more commands than it can open forms for) is counted
apart: the person was told at the command's response_url (one per command here) to run it again.

**Resident memory** (VmRSS and VmHWM from /proc) of every bot replica, the baselines, Redis and the fake Slack
before the events phase and after the run. **CPU** (from /proc) of each process during each phase, of the whole
machine (what other programs took), and the servers' CPU time per request, counted until the phase's work drained.

The generator runs in this process: `--workers` (512) sender threads send request i at start + i/rate whatever the
earlier answers take (open loop; a request that finds every thread busy is sent late, and the send lag is reported),
over keep-alive HTTP/1.1 connections pooled per server (at most 90 each, under waitress's connection limit; a wait
for a free one counts in the response time). It shares the machine's cores with everything else, so the report
gives each process's CPU during each phase, and what other programs on the machine took meanwhile. Its garbage
collector is off during a phase; the fake Slack's runs when its record is emptied; the servers' collectors run as
in production.

Exit status: 1 if the bot lost or duplicated a reply, answered an event with a bad signature, or more than 1% of
the requests failed (no answer, a status other than the one expected, or a command whose form did not open within
5 s, bench_slack's rule); else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import heapq
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bot, the fake Slack and request helpers
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the harness of bench_slack.py

import redis
from bench_slack import (
    DEFAULT_DELAY_MS,
    DEFAULT_THREADS,
    FORM,
    MAX_FAILED_FRACTION,
    REQUEST_TIMEOUT,
    USE_CASE,
    WEBHOOK_NOTICE,
    CallTuple,
    Child,
    Phase,
    Requests,
    Sample,
    Stats,
    _child_main,
    _json_ready,
    _loadavg,
    _ms,
    _ratio,
    await_follow_ups,
    first_calls,
    machine_info,
    on_schedule,
    redis_for_benchmark,
    serve_bare_app,
    summarize,
)
from bench_slack import fake_slack_process as slack_fake_process
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.server import EVENTS_PATH
from bot.slack.ids import COMMAND
from tests.fakeslack import FakeSlack
from tests.slack_support import BOT_TOKEN, SIGNING_SECRET, event_callback, sign, thread_message

DEFAULT_RATE = 300.0
DEFAULT_SECONDS = 30.0
DEFAULT_COMMAND_RATES = (50.0, 200.0)
DEFAULT_COMMAND_SECONDS = 20.0
DEFAULT_WARMUP_SECONDS = 2.0
# The baseline's figures settle within a minute: a 15-minute soak of the bot needs no 15 minutes of bare Bolt.
MAX_BASELINE_SECONDS = 60.0
DEFAULT_REPLICAS = 2
DEFAULT_VERDICTS = 500
# Enough sender threads that a slow server does not hold the schedule up (at 300/s, 1.5 s responses mean 450
# requests outstanding); waiting threads cost the generator no CPU. Each server gets at most CONNECTIONS_PER_SERVER
# keep-alive connections, below waitress's connection_limit (100, which the bot keeps): a client holding that many
# open would leave a new connection unaccepted until some idle one timed out (channel_timeout, 30 s).
DEFAULT_WORKERS = 512
CONNECTIONS_PER_SERVER = 90
MAX_IDLE_SECONDS = 20.0  # a pooled connection idle this long is not reused: waitress closes them after 30 s
QUICK = {"duration": 5.0, "command_seconds": 3.0, "warmup": 1.0, "verdicts": 100}
SETUP_RATE = 100.0  # form submissions per second while the verdict threads are made

REDELIVERED_FRACTION = 0.10  # of the requests
BAD_SIGNATURE_FRACTION = 0.01  # of the requests
REDELIVERY_DELAY = (0.05, 3.0)  # seconds after the first delivery: in flight, or long answered
RETRY_HEADERS = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
WRONG_SECRET = "0123456789abcdef0123456789abcdef"
JSON_TYPE = "application/json"
SEED = 42

VALUE_BASE = 100_000  # event n asks "what if we had VALUE_BASE + n examples"; the stored answer is 30
MESSAGE_TS_BASE = 1_600_000_000  # the people's message ts, apart from the fake Slack's own (the current time)
TRIGGER_SECONDS = 3.0  # a trigger_id must reach views.open within about 3 s (docs: "within 3 seconds")
DRAIN_INTERVAL = 5.0  # seconds between two emptyings of the fake Slack's record during a phase
DEFAULT_DRAIN_TIMEOUT = 90.0  # longer than the bot's 60 s work lease: work taken over by the sweeper still counts
QUIET_SECONDS = 3.0  # no new reply for this long after the last expected one: the work has drained
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 20

# How the bot's what-if reply shows the asked-for value (templates/slack/followup.json.j2): "Stable examples: 30 → *N*".
ASKED_VALUE = re.compile(r"Stable examples: [^\n]*?→ \*([\d,]+)\*")

# One threaded reply seen by the fake Slack: (thread_ts, the event it answers or None, arrival time, ok).
ReplyTuple = tuple[str, int | None, float, bool]


# --- the fake Slack and the baseline, each in its own process -------------------------------------------------------


def _block_texts(args: Mapping[str, Any]) -> Iterator[str]:
    yield str(args.get("text") or "")
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):  # form-encoded calls carry blocks as a JSON string
        blocks = json.loads(blocks)
    for block in blocks if isinstance(blocks, list) else []:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict):
            yield str(text.get("text") or "")


def answered_event(args: Mapping[str, Any]) -> int | None:
    """The event number a reply answers, read from the what-if value it shows; None for any other message."""
    for text in _block_texts(args):
        found = ASKED_VALUE.search(text)
        if found:
            return int(found.group(1).replace(",", "")) - VALUE_BASE
    return None


def drain_replies(fake: FakeSlack) -> tuple[list[ReplyTuple], list[str]]:
    """The threaded replies since the last drain and the fake's own errors; the fake forgets both."""
    # The fake keeps every call and message it answered (a 15-minute soak would hold gigabytes): drained instead.
    calls, errors = fake.drain()
    replies = [
        (str(c.args["thread_ts"]), answered_event(c.args), c.at, bool(c.response and c.response.get("ok")))
        for c in calls
        if c.method == "chat.postMessage" and c.args.get("thread_ts")
    ]
    del calls
    gc.collect()  # the fake runs with its collector off (see bench_slack); its heap is small right now
    return replies, errors


def posted_verdicts(fake: FakeSlack) -> dict[str, str]:
    """{use case ("bench 000123"): ts} of every verdict message posted (top-level chat.postMessage)."""
    found: dict[str, str] = {}
    for call in fake.calls("chat.postMessage"):
        match = USE_CASE.search(str(call.args.get("text") or ""))
        if match and not call.args.get("thread_ts") and call.response and call.response.get("ok"):
            found.setdefault(match.group(0), str(call.response["ts"]))
    return found


def fake_slack_process(conn: Connection) -> None:
    """bench_slack's fake Slack with two more commands: `drain` and `verdicts`."""
    slack_fake_process(conn, extra={"drain": drain_replies, "verdicts": posted_verdicts})


def build_bare_app(api_url: str) -> App:
    """The baseline: Bolt with no-op listeners for the slash command and for `message` events."""
    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=api_url),  # for Bolt's one auth.test, on the first request
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command(COMMAND)
    def noop_command(ack: Ack) -> None:
        ack()

    @app.event("message")
    def noop_message() -> None:
        pass  # Bolt acknowledges events itself

    return app


def bare_bolt_process(conn: Connection, api_url: str, threads: int) -> None:
    """One baseline process: the bare Bolt app under waitress, served as bench_slack serves its baseline."""
    _child_main("bare-bolt", conn, lambda conn: serve_bare_app(conn, build_bare_app(api_url), threads))


# --- the bot replicas: `should-finetune serve` --------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_script() -> Path:
    """The venv's `should-finetune`, next to the interpreter running this script."""
    script = Path(sys.executable).with_name("should-finetune")
    if not script.exists():
        raise RuntimeError(f"{script} not found: install the bot in this venv (make install)")
    return script


class Replica:
    """One `should-finetune serve` process on a loopback port, configured through its environment."""

    def __init__(self, name: str, workdir: Path, environment: Mapping[str, str]) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # another program may take the port between free_port() and the bind
            self.port = free_port()
            env = {**environment, "SHOULD_FINETUNE_PORT": str(self.port)}
            with open(self.log_path, "ab") as log:
                # The working directory has no .env: the settings are exactly the ones given here.
                self.process = subprocess.Popen(
                    [str(console_script()), "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_ready():
                return
        raise RuntimeError(f"{name} did not start:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def _wait_ready(self) -> bool:
        """Poll /readyz until it says ready (True) or the process exits (False); RuntimeError on time-out."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass  # not listening yet
            finally:
                connection.close()
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def check_alive(self) -> None:
        """RuntimeError with the log's tail if the process has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (the bot finishes work in progress), then SIGKILL if it takes too long."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_tail(self) -> str:
        """The last lines of the process's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        return "(no log)"

    def log_summary(self) -> dict[str, Any]:
        """How many log lines there were, how many warnings and errors (with the commonest, numbers blanked out),
        and how many tracebacks."""
        text = ""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
        levels: Counter[str] = Counter()
        common: Counter[str] = Counter()
        lines = text.splitlines()
        for line in lines:
            level, message = _log_level_and_message(line)
            if level in {"WARNING", "ERROR", "CRITICAL"}:
                levels[level] += 1
                common[f"{level} {re.sub(r'[0-9]+', 'N', message)[:120]}"] += 1
        return {
            "lines": len(lines),
            "warnings": levels["WARNING"],
            "errors": levels["ERROR"] + levels["CRITICAL"],
            "tracebacks": text.count("Traceback (most recent call last)"),
            "commonest": common.most_common(3),
        }


def _log_level_and_message(line: str) -> tuple[str, str]:
    """(level, "logger: message") of one log line, JSON or plain text."""
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                return str(record.get("level", "")), f"{record.get('logger', '')}: {record.get('message', '')}"
    found = re.search(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b\s*(.*)", line)
    return (found.group(1), found.group(2)) if found else ("", line)


def replica_environment(api_url: str, redis_url: str, prefix: str, threads: int, data_dir: Path) -> dict[str, str]:
    """The environment of a bot replica: ours without any of the bot's settings, then the benchmark's."""
    own = ("SLACK_", "SHOULD_FINETUNE_", "REDIS_URL")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    return {
        **environment,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "REDIS_URL": redis_url,
        "SHOULD_FINETUNE_REDIS_PREFIX": prefix,
        "SHOULD_FINETUNE_HOST": "127.0.0.1",
        "SHOULD_FINETUNE_THREADS": str(threads),
        "SHOULD_FINETUNE_DATA_DIR": str(data_dir),
        # The weekly digest is not part of this load; a due digest would post into the benchmark's channel.
        "SHOULD_FINETUNE_DIGEST_SCHEDULER": "false",
    }


# --- /proc: memory and CPU ------------------------------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "whole machine"
BOT_NAME, BARE_NAME = "bot replica", "bare Bolt"  # the processes' names in the tables, followed by a number


def memory_kib(pid: int) -> dict[str, int | None]:
    """VmRSS (resident now) and VmHWM (the peak) of a process, in KiB; None when unreadable."""
    found: dict[str, int | None] = {"rss_kib": None, "peak_kib": None}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in {"VmRSS", "VmHWM"}:
                found["rss_kib" if name == "VmRSS" else "peak_kib"] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process (all its threads) so far; None when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime and stime, fields 14 and 15 of stat(5)


def redis_pid(redis_url: str) -> int | None:
    """The Redis server's pid when it runs on this machine (its /proc entry is a redis-server), else None."""
    client = redis.Redis.from_url(redis_url)
    try:
        pid = int(client.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/comm", encoding="ascii") as comm:
        if "redis" in comm.read():
            return pid
    return None


def machine_cpu_seconds() -> float | None:
    """CPU time every core of the machine has spent busy so far (/proc/stat), in seconds; None when unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


class CpuMeter:
    """CPU used by each named process between `start` and `stop`, as a share of one core; and by the whole
    machine, so that what other programs took is known too."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._before: dict[str, float | None] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float | None]:
        times = os.times()
        ours = {"load generator": times.user + times.system} | {n: cpu_seconds(p) for n, p in self.pids.items()}
        return ours | {MACHINE: machine_cpu_seconds()}

    def start(self) -> None:
        """Take the first reading."""
        self._before, self._started = self._now(), time.monotonic()

    def used(self) -> dict[str, float]:
        """{process: CPU seconds} since `start`, with MACHINE for the whole machine."""
        after = self._now()
        return {
            name: end - begin
            for name, end in after.items()
            if (begin := self._before.get(name)) is not None and end is not None
        }

    def stop(self) -> dict[str, float]:
        """{process: percent of one core} since `start`, with MACHINE for the whole machine."""
        wall = time.monotonic() - self._started
        return {name: 100 * seconds / wall for name, seconds in self.used().items() if wall > 0}


def cpu_ms_per_request(used: Mapping[str, float], servers: str, requests: int) -> float:
    """CPU milliseconds the processes whose names start with `servers` spent per request."""
    return 1000 * sum(seconds for name, seconds in used.items() if name.startswith(servers)) / max(1, requests)


def access_log_times(paths: Sequence[Path], since: float, until: float) -> dict[str, Stats]:
    """{request kind: time inside the bot} from the replicas' access log lines (JSON records of `bot.access` with
    `kind` and `duration_ms`) written between `since` and `until`; empty when the log has no such lines."""
    found: dict[str, list[float]] = {}
    for path in paths:
        with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                if '"bot.access"' not in line:
                    continue
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    record = json.loads(line)
                    at = datetime.fromisoformat(record["time"]).timestamp()
                    if since <= at <= until:
                        found.setdefault(str(record["kind"]), []).append(float(record["duration_ms"]) / 1000)
    return {kind: Stats.of(seconds) for kind, seconds in sorted(found.items())}


# --- the load generator ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One request ready to send: which server, the body, and the headers besides the signature."""

    key: str
    target: int
    body: bytes
    content_type: str = FORM
    headers: Mapping[str, str] = field(default_factory=dict)
    secret: str = SIGNING_SECRET


class KeepAliveSender:
    """Signed POSTs to /slack/events over keep-alive connections: a pool per server, as an HTTP client or a proxy
    keeps one, which grows to the number of requests outstanding, up to CONNECTIONS_PER_SERVER."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = ports
        self._idle: dict[int, deque[tuple[http.client.HTTPConnection, float]]] = {port: deque() for port in ports}
        self._slots = {port: threading.BoundedSemaphore(CONNECTIONS_PER_SERVER) for port in ports}
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _take(self, port: int) -> http.client.HTTPConnection:
        self._slots[port].acquire()
        idle = self._idle[port]
        while True:
            try:
                connection, last_used = idle.pop()  # the most recently used: the pool stays as small as it can
            except IndexError:
                break
            if time.monotonic() - last_used < MAX_IDLE_SECONDS:
                return connection
            connection.close()  # the server may have closed it already (waitress's channel_timeout)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        with self._lock:
            self._opened.append(connection)
        return connection

    def _give_back(self, port: int, connection: http.client.HTTPConnection, *, reusable: bool) -> None:
        if reusable:
            self._idle[port].append((connection, time.monotonic()))
        else:
            connection.close()
        self._slots[port].release()

    def send(self, request: Outgoing, lag: float) -> Sample:
        """Send one request, signed as Slack signs it (with `request.secret`); the time to the answer's last byte,
        counting any wait for a free connection (there is one only when the server has that many outstanding)."""
        port = self.ports[request.target]
        headers = {"Content-Type": request.content_type, **sign(request.body, secret=request.secret)}
        headers.update(request.headers)
        sent_at = time.time()
        started = time.perf_counter()
        connection = self._take(port)
        try:
            connection.request("POST", EVENTS_PATH, request.body, headers)
            response = connection.getresponse()
            data = response.read()
            seconds = time.perf_counter() - started
        except (OSError, http.client.HTTPException) as exc:
            self._give_back(port, connection, reusable=False)
            return Sample(request.key, sent_at, lag, None, None, b"", type(exc).__name__)
        self._give_back(port, connection, reusable=not response.will_close)
        return Sample(request.key, sent_at, lag, seconds, response.status, data, None)

    def opened(self) -> int:
        """How many connections were opened."""
        with self._lock:
            return len(self._opened)

    def close(self) -> None:
        """Close every connection opened."""
        with self._lock:
            for connection in self._opened:
                connection.close()


def open_loop(
    ports: Sequence[int], count: int, make: Callable[[int], Outgoing], *, rate: float, workers: int
) -> tuple[list[Sample], int]:
    """Send `make(i)` at start + i/rate whatever the earlier answers take, over keep-alive connections; the
    samples, and how many connections were opened."""
    sender = KeepAliveSender(ports)
    samples: list[Sample | None] = [None] * count

    def job(i: int, lag: float) -> None:
        try:
            samples[i] = sender.send(make(i), lag)
        except Exception as exc:  # a bug here must not silently stop one sender thread and skew the schedule
            samples[i] = Sample(str(i), time.time(), lag, None, None, b"", f"generator: {exc!r}")

    try:
        on_schedule(count, rate=rate, workers=workers, job=job)
    finally:
        sender.close()
    missing = samples.count(None)
    if missing:
        raise RuntimeError(f"{missing} of {count} requests were never sent")
    return [s for s in samples if s is not None], sender.opened()


# --- events ---------------------------------------------------------------------------------------------------------

FIRST, REDELIVERY, BAD_SIGNATURE = "first delivery", "redelivery", "bad signature"
KINDS = (FIRST, REDELIVERY, BAD_SIGNATURE)


@dataclass(frozen=True, slots=True)
class Slot:
    """Request i of an events phase: what it is, which event, which server."""

    kind: str
    event: int
    target: int


def plan_events(count: int, *, rate: float, servers: int, first_event: int, rng: random.Random) -> list[Slot]:
    """`count` requests: 10% redeliveries of an event sent 0.05-3 s before, 1% bad signatures, the rest new events;
    round-robin over the servers."""
    # Each new event is redelivered with the probability that makes redeliveries 10% of all requests.
    redeliver = REDELIVERED_FRACTION / (1 - REDELIVERED_FRACTION - BAD_SIGNATURE_FRACTION)
    bad_signature = BAD_SIGNATURE_FRACTION / (1 - REDELIVERED_FRACTION)  # of the slots left to new events
    due: list[tuple[int, int]] = []  # (slot, event) of the redeliveries to come
    slots: list[Slot] = []
    event = first_event
    for i in range(count):
        if due and due[0][0] <= i:
            slots.append(Slot(REDELIVERY, heapq.heappop(due)[1], i % servers))
            continue
        kind = BAD_SIGNATURE if rng.random() < bad_signature else FIRST
        slots.append(Slot(kind, event, i % servers))
        if kind == FIRST and rng.random() < redeliver:
            heapq.heappush(due, (i + max(1, round(rng.uniform(*REDELIVERY_DELAY) * rate)), event))
        event += 1
    return slots


def event_body(event: int, thread_ts: str, event_time: int) -> bytes:
    """The `message` event callback of event number `event`, the same bytes for every delivery of it."""
    ts = f"{MESSAGE_TS_BASE + event // 1_000_000}.{event % 1_000_000:06d}"
    message = thread_message(f"what if we had {VALUE_BASE + event} examples", thread_ts=thread_ts, ts=ts)
    envelope = {**event_callback(message, event_id=f"Ev{event:09d}LOAD"), "event_time": event_time}
    return json.dumps(envelope).encode()


def event_request(slot: Slot, threads: Sequence[str], event_time: int) -> Outgoing:
    """The request for `slot`: signed with the right secret or not, with the redelivery headers or not."""
    body = event_body(slot.event, threads[slot.event % len(threads)], event_time)
    return Outgoing(
        key=str(slot.event),
        target=slot.target,
        body=body,
        content_type=JSON_TYPE,
        headers=RETRY_HEADERS if slot.kind == REDELIVERY else {},
        secret=WRONG_SECRET if slot.kind == BAD_SIGNATURE else SIGNING_SECRET,
    )


@dataclass
class Replies:
    """The bot's threaded replies, as drained from the fake Slack."""

    per_event: Counter[int] = field(default_factory=Counter)
    first_at: dict[int, float] = field(default_factory=dict)
    misplaced: int = 0  # answering an event, but in another thread than the event's
    refused: int = 0  # the fake Slack did not answer ok (counted as no reply)
    other: int = 0  # replies that answer no event of the load (notices such as "storage unavailable")
    fake_errors: list[str] = field(default_factory=list)

    def add(self, batch: tuple[list[ReplyTuple], list[str]], threads: Sequence[str]) -> int:
        """Count a drained batch; how many replies it held."""
        replies, errors = batch
        self.fake_errors += errors
        for thread_ts, event, at, ok in replies:
            if not ok:  # refused by Slack: it never reached the thread, so it does not count as an answer
                self.refused += 1
            elif event is None or event < 0:
                self.other += 1
            else:
                self.per_event[event] += 1
                self.first_at[event] = min(at, self.first_at.get(event, at))
                self.misplaced += thread_ts != threads[event % len(threads)]
        return len(replies)


class Drainer:
    """Empties the fake Slack's record into `replies` every DRAIN_INTERVAL seconds while a phase runs."""

    def __init__(self, fake: Child, replies: Replies, threads: Sequence[str]) -> None:
        self.fake, self.replies, self.threads = fake, replies, threads
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drainer", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            while not self._stop.wait(DRAIN_INTERVAL):
                self.drain()
        except BaseException as exc:  # re-raised on leaving the `with`, in the main thread
            self.error = exc

    def drain(self) -> int:
        """Drain once; how many replies came."""
        return self.replies.add(self.fake.ask("drain"), self.threads)

    def __enter__(self) -> Drainer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error

    def until_drained(self, expected: set[int], timeout: float) -> float:
        """Drain until every expected event has a reply and nothing new came for QUIET_SECONDS, or `timeout`
        passed; the seconds it took."""
        started = time.monotonic()
        quiet_since = started
        while time.monotonic() - started < timeout:
            if self.drain():
                quiet_since = time.monotonic()
            complete = expected <= self.replies.per_event.keys()
            if complete and time.monotonic() - quiet_since >= QUIET_SECONDS:
                break
            time.sleep(0.25)
        return time.monotonic() - started


def summarize_kind(name: str, samples: Sequence[Sample], expected_status: int) -> Phase:
    """Response times of the requests answered with `expected_status`, and why the others failed."""
    if expected_status == 200:
        return summarize(name, samples)
    failures: Counter[str] = Counter()
    answered = []
    for sample in samples:
        if sample.seconds is None or sample.status is None:
            failures[f"no answer ({sample.error})"] += 1
        elif sample.status != expected_status:
            failures[f"HTTP {sample.status}"] += 1
        else:
            answered.append(sample.seconds)
    lags = Stats.of([s.lag for s in samples])
    return Phase(
        name, len(samples), sum(failures.values()), dict(failures), Stats.of(answered), None, lags.p99_ms, lags.max_ms
    )


EXPECTED_STATUS = {FIRST: 200, REDELIVERY: 200, BAD_SIGNATURE: 401}


@dataclass
class Run:
    """What the phases share: the processes, the verdict threads and the settings."""

    fake: Child
    replicas: list[Replica]
    bares: list[Child]
    pids: dict[str, int | None]
    workers: int
    threads: list[str] = field(default_factory=list)  # the verdict threads' ts
    event_time: int = field(default_factory=lambda: int(time.time()))
    next_event: int = 0

    @property
    def bot_ports(self) -> list[int]:
        """The replicas' ports, in round-robin order."""
        return [replica.port for replica in self.replicas]

    @property
    def bare_ports(self) -> list[int]:
        """The baseline processes' ports, in round-robin order."""
        return [int(bare.ready) for bare in self.bares]

    def check_alive(self) -> None:
        """RuntimeError if any server process has exited."""
        for replica in self.replicas:
            replica.check_alive()
        for child in (self.fake, *self.bares):
            child.check_alive()


def send_events(
    run: Run, ports: Sequence[int], *, rate: float, seconds: float, drainer: Drainer | None = None
) -> dict[str, Any]:
    """One events phase against `ports` (the fake Slack drained meanwhile when a drainer is given): per kind of
    request, the samples and their summary."""
    rng = random.Random(SEED + run.next_event)
    count = max(1, round(rate * seconds))
    slots = plan_events(count, rate=rate, servers=len(ports), first_event=run.next_event, rng=rng)
    run.next_event = max(slot.event for slot in slots) + 1
    meter = CpuMeter(run.pids)
    meter.start()
    window_start = time.time()
    with drainer if drainer is not None else contextlib.nullcontext():
        samples, connections = open_loop(
            ports,
            len(slots),
            lambda i: event_request(slots[i], run.threads, run.event_time),
            rate=rate,
            workers=run.workers,
        )
    cpu = meter.stop()
    run.check_alive()
    by_kind: dict[str, list[Sample]] = {kind: [] for kind in KINDS}
    first_target: dict[int, int] = {}
    crossed = 0
    for slot, sample in zip(slots, samples, strict=True):
        by_kind[slot.kind].append(sample)
        if slot.kind == FIRST:
            first_target[slot.event] = slot.target
        elif slot.kind == REDELIVERY:
            crossed += first_target[slot.event] != slot.target
    return {
        "requests": len(samples),
        "samples": by_kind,
        "redelivered_elsewhere": crossed,
        "send_lag": Stats.of([s.lag for s in samples]),
        "connections": connections,
        "window": (window_start, time.time()),
        "cpu_percent": cpu,
        "kinds": {kind: summarize_kind(kind, by_kind[kind], EXPECTED_STATUS[kind]) for kind in KINDS},
    }


def side_effects(result: Mapping[str, Any], replies: Replies, pending: int, drain_seconds: float) -> dict[str, Any]:
    """Lost and duplicated replies, and replies to requests that should have none, for one events phase."""
    samples: Mapping[str, list[Sample]] = result["samples"]
    accepted = {int(s.key) for kind in (FIRST, REDELIVERY) for s in samples[kind] if s.status == 200}
    forged = {int(s.key) for s in samples[BAD_SIGNATURE]}
    answered = set(replies.per_event)
    sent_at = {int(s.key): s.sent_at for s in samples[FIRST]}
    delays = [replies.first_at[e] - sent_at[e] for e in answered & sent_at.keys()]
    return {
        "events": len(samples[FIRST]),
        "accepted": len(accepted),
        "answered_once": sum(1 for e in accepted if replies.per_event[e] == 1),
        "lost": len(accepted - answered),
        "lost_events": sorted(accepted - answered)[:20],
        "duplicated": sum(1 for count in replies.per_event.values() if count > 1),
        "duplicated_events": sorted(e for e, count in replies.per_event.items() if count > 1)[:20],
        "extra_replies": sum(count - 1 for count in replies.per_event.values() if count > 1),
        "bad_signature_answered": len(forged & answered),
        "answered_not_accepted": len(answered - accepted - forged),
        "misplaced": replies.misplaced,
        "refused_by_slack": replies.refused,
        "other_replies": replies.other,
        "claims_pending": pending,
        "drain_seconds": drain_seconds,
        "reply": Stats.of(delays),
        "fake_slack_errors": replies.fake_errors,
    }


def pending_claims(redis_url: str, prefix: str) -> int:
    """Claims of follow-up work not finished (the bot's `work:pending` set, see bot/store/threads.py)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.zcard(f"{prefix}:work:pending"))
    finally:
        client.close()


def command_requests(commands: Sequence[tuple[str, bytes]], servers: int) -> Callable[[int], Outgoing]:
    """Request i of a list of (trigger_id, body) slash commands, round-robin over `servers`."""
    return lambda i: Outgoing(commands[i][0], i % servers, commands[i][1])


# --- the phases -----------------------------------------------------------------------------------------------------


def make_verdicts(run: Run, requests: Requests, count: int) -> float:
    """Make `count` decisions through the form, round-robin over the replicas, and keep their verdicts' ts as the
    run's threads; the seconds it took."""
    started = time.monotonic()
    ports = run.bot_ports
    # A submission carries the view the bot opened (its private_metadata says where the verdict goes).
    commands = [requests.command() for _ in ports]
    open_loop(ports, len(commands), command_requests(commands, len(ports)), rate=SETUP_RATE, workers=run.workers)
    view: dict[str, Any] | None = None
    deadline = time.monotonic() + 10
    while view is None and time.monotonic() < deadline:
        time.sleep(0.1)
        view = run.fake.ask("view")
    if view is None:
        raise RuntimeError("the bot opened no form; are the replicas healthy?")
    submissions = [requests.submission(view) for _ in range(count)]
    samples, _ = open_loop(
        ports,
        count,
        lambda i: Outgoing(submissions[i][0], i % len(ports), submissions[i][1]),
        rate=SETUP_RATE,
        workers=run.workers,
    )
    await_follow_ups(run.fake, samples, "chat.postMessage", threaded=False)  # and the explanations after them
    posted: dict[str, str] = run.fake.ask("verdicts")
    run.threads = [posted[use_case] for use_case, _ in submissions if use_case in posted]
    errors = run.fake.ask("reset")
    if len(run.threads) < count:
        failed = Counter(
            f"HTTP {s.status}" if s.status else f"no answer ({s.error})" for s in samples if s.status != 200
        )
        raise RuntimeError(
            f"only {len(run.threads)} of {count} verdicts were posted (requests failed: {dict(failed) or 'none'}; "
            f"fake Slack errors: {len(errors)})"
        )
    return time.monotonic() - started


def warm_up(run: Run, requests: Requests, *, rate: float, seconds: float) -> None:
    """Unmeasured events and commands at every server: first imports, pools, Bolt's auth.test, caches."""
    for ports, drained in ((run.bot_ports, True), (run.bare_ports, False)):
        replies = Replies()
        drainer = Drainer(run.fake, replies, run.threads) if drained else None
        send_events(run, ports, rate=rate, seconds=seconds, drainer=drainer)
        if drainer is not None:
            drainer.until_drained(set(), timeout=10)
        commands = [requests.command() for _ in range(max(5, round(seconds * 50)))]
        samples, _ = open_loop(
            ports, len(commands), command_requests(commands, len(ports)), rate=50, workers=run.workers
        )
        if drained:
            await_follow_ups(run.fake, samples, "views.open")
        run.fake.ask("reset")


def events_phase(
    run: Run, *, rate: float, seconds: float, baseline_seconds: float, redis_url: str, prefix: str, drain_timeout: float
) -> dict[str, Any]:
    """The events load at the bot, its side effects counted after the work drained; then the same at the baseline."""
    gc.collect()
    replies = Replies()
    drainer = Drainer(run.fake, replies, run.threads)
    cost = CpuMeter(run.pids)  # until the work has drained: the bot may finish its work well after the last request
    cost.start()
    bot = send_events(run, run.bot_ports, rate=rate, seconds=seconds, drainer=drainer)
    accepted = {int(s.key) for kind in (FIRST, REDELIVERY) for s in bot["samples"][kind] if s.status == 200}
    drain_seconds = drainer.until_drained(accepted, timeout=drain_timeout)
    bot["cpu_ms_per_request"] = cpu_ms_per_request(cost.used(), BOT_NAME, bot["requests"])
    effects = side_effects(bot, replies, pending_claims(redis_url, prefix), drain_seconds)
    bot["in_app"] = access_log_times([replica.log_path for replica in run.replicas], *bot["window"])
    run.fake.ask("reset")
    gc.collect()
    cost.start()
    bare = send_events(run, run.bare_ports, rate=rate, seconds=baseline_seconds)
    bare["cpu_ms_per_request"] = cpu_ms_per_request(cost.used(), BARE_NAME, bare["requests"])
    run.fake.ask("reset")
    for result in (bot, bare):
        del result["samples"]  # large, and summarized
    return {
        "rate": rate,
        "seconds": seconds,
        "baseline_seconds": baseline_seconds,
        "bot": bot,
        "bare": bare,
        "side_effects": effects,
    }


def await_forms(
    fake: Child, samples: Sequence[Sample], timeout: float
) -> tuple[dict[str, CallTuple], dict[str, CallTuple]]:
    """The first `views.open` of each command's trigger at the fake Slack, and the notices sent instead (the form
    not tried because its trigger was about to expire), waiting until every command has one or the other or
    `timeout` passed, so that no backlog of the bot's runs into the next phase."""
    keys = {sample.key for sample in samples}
    deadline = time.monotonic() + timeout
    while True:
        calls = fake.ask("calls")
        opened, told = first_calls(calls, "views.open"), first_calls(calls, WEBHOOK_NOTICE)
        if keys <= opened.keys() | told.keys() or time.monotonic() > deadline:
            return opened, told
        time.sleep(0.5)


def send_commands(
    run: Run,
    ports: Sequence[int],
    requests: Requests,
    *,
    rate: float,
    seconds: float,
    name: str,
    opens_form: bool,
    drain_timeout: float,
) -> dict[str, Any]:
    """One slash-command phase against `ports`; for the bot, each command's `views.open` is awaited too."""
    count = max(1, round(rate * seconds))
    commands = [requests.command() for _ in range(count)]
    gc.collect()
    meter = CpuMeter(run.pids)
    meter.start()
    started = time.time()
    samples, connections = open_loop(
        ports, count, command_requests(commands, len(ports)), rate=rate, workers=run.workers
    )
    window = (started, time.time())
    cpu = meter.stop()
    run.check_alive()
    opened, told = await_forms(run.fake, samples, drain_timeout) if opens_form else (None, {})
    used = meter.used()  # the forms opened late included
    errors = run.fake.ask("reset")
    in_app = access_log_times([replica.log_path for replica in run.replicas], *window) if opens_form else {}
    late = sum(
        1 for s in samples if opened is not None and s.key in opened and opened[s.key][1] - s.sent_at > TRIGGER_SECONDS
    )
    # A command is answered when its form opened or the person was told to run it again (a defined answer to a
    # load the process cannot keep up with); a form opened after its trigger expired is counted apart.
    return {
        "phase": summarize(name, samples, None if opened is None else {**told, **opened}),
        "views_open_late": late,
        "views_open_missing": sum(1 for s in samples if opened is not None and s.key not in opened | told.keys()),
        "told_to_retry": len(told.keys() & {s.key for s in samples}),
        "cpu_ms_per_request": cpu_ms_per_request(used, BOT_NAME if opens_form else BARE_NAME, len(samples)),
        "in_app": in_app,
        "connections": connections,
        "cpu_percent": cpu,
        "fake_slack_errors": errors,
    }


def commands_phase(
    run: Run, requests: Requests, *, rate: float, seconds: float, drain_timeout: float
) -> dict[str, Any]:
    """Slash commands at `rate` at the bot, then at the baseline."""
    common = {"rate": rate, "seconds": seconds, "drain_timeout": drain_timeout}
    bot = send_commands(run, run.bot_ports, requests, name=f"bot, {rate:g}/s", opens_form=True, **common)
    bare = send_commands(run, run.bare_ports, requests, name=f"bare Bolt, {rate:g}/s", opens_form=False, **common)
    return {"rate": rate, "seconds": seconds, "bot": bot, "bare": bare}


def memory_now(run: Run, redis_url: str) -> dict[str, dict[str, Any]]:
    """Resident memory of every process now: {name: {pid, rss_kib, peak_kib, source}}."""
    found = {name: {"pid": pid, **memory_kib(pid), "source": "/proc"} for name, pid in run.pids.items() if pid}
    if "Redis" not in found:  # a Redis on another machine: its own figure, which it reads from its /proc entry
        client = redis.Redis.from_url(redis_url)
        try:
            rss = int(client.info("memory")["used_memory_rss"]) // 1024
        finally:
            client.close()
        found["Redis"] = {"pid": None, "rss_kib": rss, "peak_kib": None, "source": "INFO memory used_memory_rss"}
    return found


# --- reporting ------------------------------------------------------------------------------------------------------


def _pass(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def _failed(phase: Phase) -> str:
    return (
        str(phase.failed)
        if not phase.failures
        else f"{phase.failed} ({', '.join(f'{reason}: {count}' for reason, count in phase.failures.items())})"
    )


def _comparison(label: str, count: str, bot: Phase, bare: Phase, *extra: str) -> str:
    b, s = bot.response, bare.response
    cells = (
        label,
        count,
        _ms(b.p50_ms),
        _ms(b.p99_ms),
        _ms(b.max_ms),
        _ms(s.p50_ms),
        _ms(s.p99_ms),
        _ms(s.max_ms),
        _ratio(b.p50_ms, s.p50_ms),
        _ratio(b.p99_ms, s.p99_ms),
        f"{_failed(bot)} / {_failed(bare)}",
        *extra,
    )
    return f"| {' | '.join(cells)} |"


COMPARISON_HEADER = (
    "| {what} | Requests | Bot p50 | Bot p99 | Bot max | Baseline p50 | Baseline p99 | Baseline max | Ratio p50 "
    "| Ratio p99 | Failed bot / baseline |{extra}\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|{extra_rule}"
)


def events_tables(events: Mapping[str, Any]) -> list[str]:
    """The events phase: response times per kind beside the baseline, then the side effects."""
    bot, bare, effects = events["bot"], events["bare"], events["side_effects"]
    rows = [
        COMPARISON_HEADER.format(what="Request", extra="", extra_rule=""),
        *(
            _comparison(
                kind + (" (401 expected)" if kind == BAD_SIGNATURE else ""),
                f"{bot['kinds'][kind].sent:,}",
                bot["kinds"][kind],
                bare["kinds"][kind],
            )
            for kind in KINDS
        ),
    ]
    lag = "; ".join(
        f"{label} {_ms(r['send_lag'].p99_ms)} / {_ms(r['send_lag'].max_ms)}"
        for label, r in (("bot", bot), ("baseline", bare))
    )
    reply: Stats = effects["reply"]
    times = in_app_times(bot.get("in_app", {}), "event:message")
    effect_rows = [
        ("Events sent (first deliveries)", f"{effects['events']:,}", ""),
        ("Accepted (a delivery answered 200)", f"{effects['accepted']:,}", ""),
        ("Answered exactly once", f"{effects['answered_once']:,}", ""),
        ("**Lost** (accepted, no reply after the work drained)", str(effects["lost"]), _pass(effects["lost"] == 0)),
        ("**Duplicated** (more than one reply)", str(effects["duplicated"]), _pass(effects["duplicated"] == 0)),
        (
            "Events with a bad signature that got a reply",
            str(effects["bad_signature_answered"]),
            _pass(effects["bad_signature_answered"] == 0),
        ),
        (
            "Replies in the wrong thread / refused by the fake / answering no event of the load",
            f"{effects['misplaced']} / {effects['refused_by_slack']} / {effects['other_replies']}",
            "",
        ),
        ("Follow-up claims still pending in Redis afterwards", str(effects["claims_pending"]), ""),
        (
            "Event sent → reply at Slack, p50 / p99 / max",
            f"{_ms(reply.p50_ms)} / {_ms(reply.p99_ms)} / {_ms(reply.max_ms)}",
            "",
        ),
        ("Time from the last request until the work had drained", f"{effects['drain_seconds']:.1f} s", ""),
    ]
    return [
        *rows,
        "",
        f"Redeliveries sent to another replica than their first delivery: {bot['redelivered_elsewhere']:,} of "
        f"{bot['kinds'][REDELIVERY].sent:,}. Send lag p99 / max: {lag}. Keep-alive connections opened: bot "
        f"{bot['connections']}, baseline {bare['connections']}.",
        "",
        *([IN_APP.format(times=f"`event:message` {times}"), ""] if times else []),
        "| Side effects at the fake Slack (bot) | Count | |",
        "|---|---:|---|",
        *(f"| {' | '.join(row)} |" for row in effect_rows),
    ]


IN_APP = (
    "Time inside the bot (its access log's `duration_ms`), p50 / p99 / max: {times}; the rest of the HTTP response "
    "time is spent before the request reaches the app (waitress's task queue, the GIL) and on loopback."
)


def in_app_times(in_app: Mapping[str, Stats], kind: str) -> str | None:
    """p50 / p99 / max of the time requests of `kind` spent inside the bot, if its access log said."""
    stats = in_app.get(kind)
    if stats is None or not stats.n:
        return None
    return f"{_ms(stats.p50_ms)} / {_ms(stats.p99_ms)} / {_ms(stats.max_ms)}"


def commands_table(commands: Sequence[Mapping[str, Any]]) -> list[str]:
    """Slash commands at each rate, bot beside baseline, with the bot's command → views.open."""
    lines = [
        COMPARISON_HEADER.format(
            what="Rate",
            extra=" Command → `views.open` (or the notice), p50 / p99 / max | told to run it again (trigger about to"
            " expire) | `views.open` after 3 s (trigger expired) / neither |",
            extra_rule="---|---:|---:|",
        )
    ]
    for result in commands:
        bot, bare = result["bot"]["phase"], result["bare"]["phase"]
        opened: Stats = bot.follow_up
        lines.append(
            _comparison(
                f"{result['rate']:g}/s for {result['seconds']:g} s",
                f"{bot.sent:,}",
                bot,
                bare,
                f"{_ms(opened.p50_ms)} / {_ms(opened.p99_ms)} / {_ms(opened.max_ms)}",
                f"{result['bot'].get('told_to_retry', 0):,}",
                f"{result['bot']['views_open_late']:,} / {result['bot']['views_open_missing']:,}",
            )
        )
    lines.append("")
    in_app = [(r["rate"], in_app_times(r["bot"].get("in_app", {}), "command")) for r in commands]
    if all(times for _, times in in_app):
        lines += [IN_APP.format(times="; ".join(f"`command` at {rate:g}/s {times}" for rate, times in in_app)), ""]
    lines.append(
        "Send lag p99 / max, and keep-alive connections opened: "
        + "; ".join(
            f"{r['rate']:g}/s bot {_ms(r['bot']['phase'].lag_p99_ms)} / {_ms(r['bot']['phase'].lag_max_ms)}, "
            f"{r['bot']['connections']}, baseline {_ms(r['bare']['phase'].lag_p99_ms)} / "
            f"{_ms(r['bare']['phase'].lag_max_ms)}, {r['bare']['connections']}"
            for r in commands
        )
        + "."
    )
    return lines


def cpu_table(phases: Sequence[tuple[str, Mapping[str, float]]], cores: int | None) -> list[str]:
    """CPU each process used during each measured phase, in percent of one core; what the benchmark's processes
    took together, and what other programs on the machine took meanwhile."""
    names = list(dict.fromkeys(name for _, cpu in phases for name in cpu if name != MACHINE))
    lines = [
        f"| Phase | {' | '.join(names)} | benchmark total | other programs | machine (of {100 * (cores or 1)}%) |",
        f"|---|{'---:|' * (len(names) + 3)}",
    ]
    for label, cpu in phases:
        cells = [f"{cpu[name]:.0f}%" if name in cpu else "" for name in names]
        ours = sum(value for name, value in cpu.items() if name != MACHINE)
        machine = cpu.get(MACHINE)
        others = "n/a" if machine is None else f"{max(0.0, machine - ours):.0f}%"
        whole = "n/a" if machine is None else f"{machine:.0f}%"
        lines.append(f"| {label} | {' | '.join(cells)} | {ours:.0f}% | {others} | {whole} |")
    return lines


def memory_row(name: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """One process's resident memory before the events phase and after the run."""
    start, end = before.get("rss_kib"), after.get("rss_kib")
    growth = f"{100 * (end - start) / start:+.1f}%" if start and end else "n/a"
    return f"| {name} | {_mib(start)} | {_mib(end)} | {growth} | {_mib(after.get('peak_kib'))} |"


def cpu_cost_line(events: Mapping[str, Any], commands: Sequence[Mapping[str, Any]]) -> str:
    """The servers' CPU time per request in each phase, counted until the phase's work had drained."""
    bot, bare = events["bot"]["cpu_ms_per_request"], events["bare"]["cpu_ms_per_request"]
    parts = [f"events: bot {bot:.2f} ms, baseline {bare:.2f} ms"]
    parts += [
        f"commands at {r['rate']:g}/s: bot {r['bot']['cpu_ms_per_request']:.2f} ms, baseline "
        f"{r['bare']['cpu_ms_per_request']:.2f} ms"
        for r in commands
    ]
    return (
        "CPU time per request in the servers (all replicas together, from the start of a phase until its work had "
        "drained; the bot's includes the work after the response): " + "; ".join(parts) + "."
    )


def log_lines(logs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the bot replicas logged: counts, and the commonest warnings and errors."""
    lines = [
        "Bot logs (lines / warnings / errors / tracebacks): "
        + "; ".join(
            f"{name} {c['lines']:,} / {c['warnings']:,} / {c['errors']:,} / {c['tracebacks']:,}"
            for name, c in logs.items()
        )
        + "."
    ]
    common: Counter[str] = Counter()
    for summary in logs.values():
        common.update(dict(summary["commonest"]))
    lines += [f"- {count:,} times: `{message}`" for message, count in common.most_common(3)]
    return lines


def report(info: Mapping[str, Any], settings: Mapping[str, Any], results: Mapping[str, Any]) -> str:
    """The Markdown section for BENCHMARKS.md."""
    events, commands = results["events"], results["commands"]
    cpu_phases = [
        (f"events, bot ({events['rate']:g}/s)", events["bot"]["cpu_percent"]),
        (f"events, baseline ({events['rate']:g}/s)", events["bare"]["cpu_percent"]),
    ]
    for result in commands:
        cpu_phases += [
            (f"commands, bot ({result['rate']:g}/s)", result["bot"]["cpu_percent"]),
            (f"commands, baseline ({result['rate']:g}/s)", result["bare"]["cpu_percent"]),
        ]
    memory = results["memory"]
    logs = results["logs"]
    lines = [
        "## Load benchmark",
        "",
        f"**Date:** {info['date']}. **Machine:** {info['cpu']}, {info['cores']} cores ({info['platform']}); "
        f"{info['python']}, slack_bolt {info['slack_bolt']}, slack_sdk {info['slack_sdk']}, "
        f"waitress {info['waitress']}, redis-py {info['redis_py']}, redis-server {info['redis_server']}. "
        f"Load average at start / end: {_loadavg(info['loadavg_start'])} / {_loadavg(info['loadavg_end'])}.",
        "",
        f"**Settings:** {settings['replicas']} bot replicas (`should-finetune serve`, log level INFO to a file) and "
        f"{settings['replicas']} bare Bolt processes, each behind waitress with {settings['threads']} threads; "
        f"request i goes to process i mod {settings['replicas']} (no proxy). Events: {settings['rate']:g} "
        f"requests/s open-loop for {settings['duration']:g} s ({REDELIVERED_FRACTION:.0%} redeliveries, "
        f"{BAD_SIGNATURE_FRACTION:.0%} bad signatures), in {settings['verdicts']} verdict threads made through the "
        f"form in {results['setup_seconds']:.1f} s beforehand. Slash commands: "
        f"{' and '.join(f'{r:g}' for r in settings['command_rates'])} per second for {settings['command_seconds']:g} "
        f"s each. A {settings['warmup']:g} s warm-up at every server first. The fake Slack answers every Web API "
        f"call after {settings['delay_ms']:g} ms. {settings['workers']} sender threads sharing keep-alive "
        f"connections (a pool per server of at most {CONNECTIONS_PER_SERVER}). Redis: {settings['redis']}."
        + (
            f" Extra bot settings: {', '.join(f'`{s}`' for s in settings['bot_setting'])}."
            if settings["bot_setting"]
            else ""
        ),
        "",
        f"**Layout:** {settings['layout']}",
        "",
        f"### Events: {events['rate']:g} requests/s for {events['seconds']:g} s (the baseline for "
        f"{events['baseline_seconds']:g} s)",
        "",
        *events_tables(events),
        "",
        "### Slash commands (`/should-finetune <use case>`: acknowledged, then `views.open` on a worker thread)",
        "",
        *commands_table(commands),
        "",
        f"### CPU during each phase (percent of one core; {info['cores']} cores, shared by everything)",
        "",
        *cpu_table(cpu_phases, info["cores"]),
        "",
        cpu_cost_line(events, commands),
        "",
        "### Resident memory (before the events phase, and after the run)",
        "",
        "| Process | RSS before the events | RSS after the run | Growth | Peak RSS |",
        "|---|---:|---:|---:|---:|",
        *(memory_row(name, results["memory_before"].get(name, {}), m) for name, m in memory.items()),
        "",
        *log_lines(logs),
    ]
    errors = len(events["side_effects"]["fake_slack_errors"]) + sum(
        len(r[side]["fake_slack_errors"]) for r in commands for side in ("bot", "bare")
    )
    if errors:
        lines += ["", f"The fake Slack itself failed {errors} time(s)."]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: every process this script started is stopped


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_SECONDS,
        help="seconds of events at the bot (900 for the 15-minute soak)",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        help=f"seconds of events at the baseline (default: --duration, at most {MAX_BASELINE_SECONDS:g})",
    )
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="event requests per second")
    parser.add_argument(
        "--command-rates",
        type=float,
        nargs="+",
        default=list(DEFAULT_COMMAND_RATES),
        help="slash commands per second, one phase each",
    )
    parser.add_argument(
        "--command-seconds", type=float, default=DEFAULT_COMMAND_SECONDS, help="seconds of each slash-command phase"
    )
    parser.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_SECONDS, help="seconds of unmeasured load")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (5 s of events, 3 s per rate)")
    parser.add_argument(
        "--replicas", type=int, default=DEFAULT_REPLICAS, help="bot replicas, and as many baseline processes"
    )
    parser.add_argument("--verdicts", type=int, default=DEFAULT_VERDICTS, help="verdict threads the events go to")
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="fake Slack answer delay in ms")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="waitress and background threads")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="load generator threads")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DEFAULT_DRAIN_TIMEOUT,
        help="seconds to wait for the bot's replies and forms after the last request",
    )
    parser.add_argument(
        "--bot-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra setting for the bot replicas, e.g. SHOULD_FINETUNE_WORKER_THREADS=8 (repeatable)",
    )
    parser.add_argument("--log-dir", type=Path, help="keep the bot replicas' logs here (default: deleted)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.baseline_seconds is None:
        args.baseline_seconds = min(args.duration, MAX_BASELINE_SECONDS)
    if args.replicas < 1 or args.verdicts < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("--replicas, --verdicts, --rate and --duration must be positive")
    return args


def run_benchmark(
    args: argparse.Namespace, stack: contextlib.ExitStack, redis_url: str, prefix: str, workdir: Path
) -> dict[str, Any]:
    """Start every process (stopped by `stack`), make the verdict threads, then run the measured phases."""
    fake = Child("fake-slack", fake_slack_process)
    stack.callback(fake.stop)
    api_url, response_url = fake.ready["api_url"], fake.ready["response_url"]
    fake.ask("delay", args.delay_ms / 1000)
    bares: list[Child] = []
    for n in range(args.replicas):
        bare = Child(f"bare-bolt-{n + 1}", bare_bolt_process, api_url, args.threads)
        stack.callback(bare.stop)
        bares.append(bare)
    environment = replica_environment(api_url, redis_url, prefix, args.threads, workdir / "data")
    environment.update(setting.split("=", 1) for setting in args.bot_setting)
    replicas: list[Replica] = []
    for n in range(args.replicas):
        replica = Replica(f"bot-{n + 1}", workdir, environment)
        stack.callback(replica.stop)  # stopped before the fake Slack and Redis: it finishes its work first
        replicas.append(replica)
    pids: dict[str, int | None] = {f"{BOT_NAME} {n}": r.pid for n, r in enumerate(replicas, 1)}
    pids |= {f"{BARE_NAME} {n}": b.process.pid for n, b in enumerate(bares, 1)}
    pids |= {"fake Slack": fake.process.pid, "Redis": redis_pid(redis_url)}
    run = Run(fake, replicas, bares, pids, args.workers)
    requests = Requests(response_url)
    setup_seconds = make_verdicts(run, requests, args.verdicts)
    warm_up(run, requests, rate=args.rate, seconds=args.warmup)
    memory_before = memory_now(run, redis_url)
    events = events_phase(
        run,
        rate=args.rate,
        seconds=args.duration,
        baseline_seconds=args.baseline_seconds,
        redis_url=redis_url,
        prefix=prefix,
        drain_timeout=args.drain_timeout,
    )
    commands = [
        commands_phase(run, requests, rate=rate, seconds=args.command_seconds, drain_timeout=args.drain_timeout)
        for rate in args.command_rates
    ]
    return {
        "setup_seconds": setup_seconds,
        "events": events,
        "commands": commands,
        "memory_before": memory_before,
        "memory": memory_now(run, redis_url),
        "logs": {replica.name: replica.log_summary() for replica in replicas},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    prefix = f"bench-load-{os.getpid()}-{int(time.time())}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        with redis_for_benchmark(prefix) as (redis_url, redis_description):
            info = machine_info(redis_url)
            with contextlib.ExitStack() as stack:
                results = run_benchmark(args, stack, redis_url, prefix, workdir)
            info["loadavg_end"] = os.getloadavg()
    finally:
        if args.log_dir is not None:
            args.log_dir.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                shutil.copy(log, args.log_dir / log.name)
        shutil.rmtree(workdir, ignore_errors=True)
    settings = {
        **{k: v for k, v in vars(args).items() if k not in {"json", "quick", "log_dir"}},
        "redis": redis_description,
        "layout": (
            "load generator in the main process; the fake Slack (tests/fakeslack.py), each bot replica "
            "(`should-finetune serve`, the venv's console script) and each bare Bolt app (slack_bolt.adapter.wsgi "
            "under waitress) in a process of its own; Redis in its own process. All on the same cores."
        ),
    }
    if args.json:
        print(json.dumps(_json_ready({"machine": info, "settings": settings, "results": results}), indent=2))
    else:
        print(report(info, settings, results))
    return exit_status(results)


def exit_status(results: Mapping[str, Any]) -> int:
    """1 if a reply was lost or duplicated, a forged event answered, or over 1% of the requests failed; else 0."""
    effects = results["events"]["side_effects"]
    problems = [
        f"{effects[key]} {label}"
        for key, label in (
            ("lost", "lost replies"),
            ("duplicated", "duplicated replies"),
            ("bad_signature_answered", "replies to events with a bad signature"),
        )
        if effects[key]
    ]
    phases: list[Phase] = [p for side in ("bot", "bare") for p in results["events"][side]["kinds"].values()]
    phases += [r[side]["phase"] for r in results["commands"] for side in ("bot", "bare")]
    sent, failed = sum(p.sent for p in phases), sum(p.failed for p in phases)
    if sent and failed / sent > MAX_FAILED_FRACTION:
        problems.append(f"{failed} of {sent} requests failed (over {MAX_FAILED_FRACTION:.0%})")
    for problem in problems:
        print(f"\nbench_load: {problem}.", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench_load: interrupted; the processes it started are stopped.", file=sys.stderr)
        sys.exit(130)
