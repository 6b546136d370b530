"""Benchmark of the Slack flow, run as `.venv/bin/python benchmarks/bench_slack.py [--seconds 20] [--quick] [--json]`.

On loopback, with the fake Slack answering every Web API method after a realistic delay (50 ms by default), the
load generator sends signed requests exactly as Slack does, open-loop at a fixed rate (50 per second by default),
and measures:

* the slash command's HTTP response (send to last byte, as the client sees it);
* command to `views.open`: the fake Slack's arrival time of the `views.open` carrying the command's trigger_id,
  minus the time the command was sent;
* the view submission's HTTP response;
* submission to verdict: the arrival time of the verdict message (the first `chat.postMessage` without
  `thread_ts` naming the submitted use case, e.g. "bench 000123") minus the time the submission was sent.

The baseline is a bare Bolt app (no-op command and view handlers, Bolt's own WSGI adapter) served by waitress with
the same threads, hit with the same schedule and the same request bodies in the same run; the table shows the
ratio of the bot's response times to it.

Layout: the load generator runs in this process; the fake Slack, the bot and the bare Bolt app each run in their
own process (started with multiprocessing's "spawn"), so the generator's threads never compete with the servers for
a GIL. Redis is an embedded `redis-server` (see `bot.embedded_redis`) unless REDIS_URL is set; with an external
Redis the benchmark's keys live under their own prefix and are deleted at the end.

The fake Slack stamps each call on arrival, before its delay, so the delay reaches the two follow-up figures only
through what the bot does first (Bolt's one auth.test) and through its worker threads being held by slower calls.
Garbage collection: the bot's is left as it runs in production; the load generator's is off during a phase and
the fake Slack's runs between phases only, so that their pauses are not timed as the bot's latency.

Every request opens a new TCP connection. A request counts as failed when it gets no answer, a status other than
200, a submission is refused with inline errors, or its `views.open` / verdict does not reach the fake Slack (with
`ok: true`) within 5 seconds. The script prints PASS/FAIL against the targets but does not gate on them: it exits
0 unless it crashes or more than 1% of the requests failed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import importlib.metadata
import json
import logging
import math
import multiprocessing
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake Slack and request helpers live in tests/

import redis
import slack_bolt.version
import slack_sdk.version
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from waitress.server import create_server as waitress_server  # type: ignore[import-untyped]

from bot.app import build_app
from bot.embedded_redis import EmbeddedRedis
from bot.runtime import open_services
from bot.server import EVENTS_PATH, SlackWSGI, create_server
from bot.settings import Settings
from bot.slack.ids import COMMAND, CallbackId
from tests.fakeslack import FakeSlack
from tests.slack_support import (
    BOT_TOKEN,
    CHANNEL,
    REQUIRED_ANSWERS,
    SIGNING_SECRET,
    TEAM,
    USER,
    sign,
    submission_payload,
)

TARGET_COMMAND_P99_MS = 15.0
TARGET_VIEWS_OPEN_P99_MS = 300.0
TARGET_VERDICT_P99_MS = 500.0

DEFAULT_RATE = 50.0
DEFAULT_SECONDS = 20.0
DEFAULT_WARMUP_SECONDS = 2.0
QUICK_SECONDS = 3.0
QUICK_WARMUP_SECONDS = 1.0
DEFAULT_WORKERS = 32
DEFAULT_THREADS: int = Settings.model_fields["threads"].default
DEFAULT_DELAY_MS = 50.0

FOLLOW_UP_TIMEOUT = 5.0  # seconds within which views.open or the verdict must reach the fake Slack
REQUEST_TIMEOUT = 10.0
MAX_FAILED_FRACTION = 0.01
START_TIMEOUT = 60.0
FORM = "application/x-www-form-urlencoded"
USE_CASE = re.compile(r"\bbench \d{6}\b")

# One call seen by the fake Slack, as sent between processes: plain tuples pickle without this module's classes.
# (method, arrival time.time(), HTTP status, response ok, key, has thread_ts); key = trigger_id or use case.
CallTuple = tuple[str, float, int, bool, str | None, bool]
# A command's form not opened because its trigger was about to expire: the person was told to run it again.
WEBHOOK_NOTICE = "webhook:too-late"


# --- the server processes -----------------------------------------------------------------------------------


def _child_main(name: str, conn: Connection, body: Callable[[Connection], None]) -> None:
    logging.basicConfig(level=logging.WARNING, format=f"[{name}] %(levelname)s %(name)s: %(message)s")
    try:
        body(conn)
    except Exception:
        try:
            conn.send(("failed", traceback.format_exc()))  # the parent raises it with this traceback
        except OSError:
            raise
        raise SystemExit(1) from None


def _serve_until_stopped(conn: Connection, server: Any) -> None:
    """Run a waitress server in a thread, report its port, and close it when the parent says stop."""
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # the loop sees its sockets closed under it: that is the stop we asked for
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, name="waitress", daemon=True)
    thread.start()
    conn.send(("ready", server.effective_port))
    with contextlib.suppress(EOFError):
        conn.recv()
    closing.set()
    server.close()
    thread.join(5)


def _call_tuple(call: Any) -> CallTuple:
    key: str | None = None
    if call.method == "views.open":
        trigger = call.args.get("trigger_id")
        key = trigger if isinstance(trigger, str) else None
    elif call.method == "chat.postMessage":
        found = USE_CASE.search(str(call.args.get("text") or ""))
        key = found.group(0) if found else None
    elif call.method.startswith("webhook/"):  # a command's response_url: its trigger id follows the first dot
        name = call.method.split("/", 1)[1]
        key = name.split(".", 1)[1] if "." in name else None
        text = str(call.args.get("text") or "") if isinstance(call.args, dict) else ""
        return (WEBHOOK_NOTICE if "too busy" in text else "webhook", call.at, call.status, True, key, False)
    ok = bool(call.response.get("ok")) if isinstance(call.response, dict) else False
    return (call.method, call.at, call.status, ok, key, bool(call.args.get("thread_ts")))


def fake_slack_process(
    conn: Connection,
    call_tuple: Callable[[Any], CallTuple] = _call_tuple,
    extra: Mapping[str, Callable[[FakeSlack], Any]] | None = None,
) -> None:
    """The fake Slack, answering commands from the parent: delay, calls, view, reset, stop, and any `extra` ones
    (name -> function of the fake whose result is sent back). `call_tuple` summarises each call for `calls`."""

    def body(conn: Connection) -> None:
        # The fake keeps every call with a deep copy of its arguments, so its heap grows by megabytes per phase and
        # a full collection pauses it for 50 to 150 ms, which would show up as the bot's latency. It is the test
        # double, not the system under test: it collects between phases only (on "reset").
        gc.disable()
        with FakeSlack() as fake:
            delay = 0.0
            conn.send(("ready", {"api_url": fake.url, "response_url": fake.response_url("command")}))
            while True:
                try:
                    command, arg = conn.recv()
                except EOFError:
                    return
                if command == "stop":
                    return
                if command == "delay":
                    delay = float(arg)
                    fake.set_delay(None, delay)
                    conn.send(None)
                elif command == "calls":
                    conn.send([call_tuple(c) for c in fake.calls()])
                elif extra and command in extra:
                    conn.send(extra[command](fake))
                elif command == "view":
                    opened = fake.calls("views.open")
                    view = opened[0].args.get("view") if opened else None
                    conn.send(json.loads(view) if isinstance(view, str) else view)
                elif command == "reset":  # forget calls, messages, views and triggers; keep the delay
                    errors = list(fake.errors)
                    fake.reset()
                    fake.set_delay(None, delay)
                    gc.collect()
                    conn.send(errors)
                else:
                    conn.send(f"unknown command {command!r}")

    _child_main("fake-slack", conn, body)


def bot_process(conn: Connection, api_url: str, redis_url: str, prefix: str, threads: int) -> None:
    """The bot as `serve` runs it (as tests/slack_support.py wires it), on a loopback port."""

    def body(conn: Connection) -> None:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": api_url,
            "redis_url": redis_url,
            "redis_prefix": prefix,
            "threads": threads,
        }
        settings = Settings(_env_file=None, **values)
        with open_services(settings) as services:
            app = build_app(services)
            server = create_server(SlackWSGI(app, services), host="127.0.0.1", port=0, threads=threads)
            _serve_until_stopped(conn, server)

    _child_main("bot", conn, body)


def build_bare_app(api_url: str) -> App:
    """The baseline: Bolt with a no-op handler for the command and for the form's submission."""
    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=api_url),  # for Bolt's one auth.test, on the first request
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command(COMMAND)
    def noop_command(ack: Ack) -> None:
        ack()

    @app.view(CallbackId.DECISION_FORM.value)
    def noop_submission(ack: Ack) -> None:
        ack()

    return app


def serve_bare_app(conn: Connection, app: App, threads: int) -> None:
    """Serve a baseline Bolt app behind Bolt's WSGI adapter, under waitress configured as the bot's server is."""
    handler = SlackRequestHandler(app, path=EVENTS_PATH)
    server = waitress_server(
        handler,
        host="127.0.0.1",
        port=0,
        threads=threads,
        ident="bare-bolt",
        clear_untrusted_proxy_headers=True,
        channel_timeout=30,
    )
    _serve_until_stopped(conn, server)


def bare_bolt_process(conn: Connection, api_url: str, threads: int) -> None:
    """The bare Bolt app, served as the baseline."""
    _child_main("bare-bolt", conn, lambda conn: serve_bare_app(conn, build_bare_app(api_url), threads))


class Child:
    """A server process and the pipe to it."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any) -> None:
        self.name = name
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=target, args=(child_conn, *args), name=name, daemon=True)
        self.process.start()
        child_conn.close()
        self.ready: Any = self._receive(START_TIMEOUT, expect="ready")

    def _receive(self, timeout: float, *, expect: str | None = None) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"the {self.name} process did not answer within {timeout:.0f} s")
        message = self.conn.recv()
        if expect is not None:
            kind, value = message
            if kind != expect:
                raise RuntimeError(f"the {self.name} process failed:\n{value}")
            return value
        return message

    def ask(self, command: str, arg: Any = None) -> Any:
        """Send a command and wait for the answer (fake Slack only)."""
        if not self.process.is_alive():
            raise RuntimeError(f"the {self.name} process died (exit code {self.process.exitcode})")
        self.conn.send((command, arg))
        return self._receive(30.0)

    def check_alive(self) -> None:
        if not self.process.is_alive():
            raise RuntimeError(f"the {self.name} process died (exit code {self.process.exitcode})")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop", None))
        self.process.join(15)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()


# --- requests as Slack sends them ---------------------------------------------------------------------------


class Requests:
    """Request bodies with run-unique trigger ids and use cases (keys), numbered across the whole run."""

    def __init__(self, response_url: str) -> None:
        self.response_url = response_url
        self.sequence = 0

    def _next(self) -> int:
        self.sequence += 1
        return self.sequence

    @staticmethod
    def trigger_id(n: int) -> str:
        return f"{100_000 + n}.98765.abcdef{n:08x}"

    def command(self) -> tuple[str, bytes]:
        """`/should-finetune bench command N` typed in the test channel (as tests.slack_support.BotClient sends it)."""
        n = self._next()
        fields = {
            "token": "legacy-unused",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": CHANNEL,
            "channel_name": "decisions",
            "user_id": USER,
            "user_name": "asker",
            "command": COMMAND,
            "text": f"bench command {n:06d}",
            "api_app_id": "A0FAKE",
            # One response_url per command, so that a notice sent instead of the form tells which command it is for.
            "response_url": f"{self.response_url}.{self.trigger_id(n)}",
            "trigger_id": self.trigger_id(n),
        }
        return self.trigger_id(n), urlencode(fields).encode()

    def submission(self, view: Mapping[str, Any]) -> tuple[str, bytes]:
        """The opened form submitted with valid answers and the use case "bench N"."""
        n = self._next()
        use_case = f"bench {n:06d}"
        payload = submission_payload(view, {**REQUIRED_ANSWERS, "use_case": use_case})
        return use_case, urlencode({"payload": json.dumps(payload)}).encode()


# --- the load generator -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it was sent, how long until the last byte of the answer, and what came back."""

    key: str
    sent_at: float  # time.time() at send, comparable with the fake Slack's Call.at
    lag: float  # seconds the send started after its scheduled time
    seconds: float | None  # None when no answer came
    status: int | None
    body: bytes
    error: str | None


def send(
    port: int, key: str, body: bytes, lag: float, *, content_type: str = FORM, headers: Mapping[str, str] | None = None
) -> Sample:
    """One signed POST to /slack/events on a new connection; `headers` are added to the signature's."""
    all_headers = {"Content-Type": content_type, **sign(body), **(headers or {})}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    sent_at = time.time()
    started = time.perf_counter()
    try:
        connection.request("POST", EVENTS_PATH, body, all_headers)
        response = connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        return Sample(key, sent_at, lag, seconds, response.status, data, None)
    except (OSError, http.client.HTTPException) as exc:
        return Sample(key, sent_at, lag, None, None, b"", type(exc).__name__)
    finally:
        connection.close()


def on_schedule(count: int, *, rate: float, workers: int, job: Callable[[int, float], None]) -> None:
    """Call `job(i, lag)` at start + i/rate from a pool of worker threads, whatever the earlier calls take; `lag`
    is how late the call started. The generator's garbage collector is off meanwhile."""
    tickets = iter(range(count))
    lock = threading.Lock()
    start = math.inf  # set once the threads exist, just before they start

    def work() -> None:
        while True:
            with lock:
                i = next(tickets, None)
            if i is None:
                return
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            job(i, time.perf_counter() - due)

    threads = [threading.Thread(target=work, name=f"load-{n}") for n in range(min(workers, count))]
    gc.collect()
    gc.disable()  # a collection in the generator would be timed as the server's latency
    # The schedule starts after the collection and leaves time to start the threads, so that the first requests are
    # not sent late in a burst (as they are when the start time is taken first).
    start = time.perf_counter() + 0.05 + 0.002 * len(threads)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.enable()


def open_loop(port: int, requests: Sequence[tuple[str, bytes]], *, rate: float, workers: int) -> list[Sample]:
    """Send request i at start + i/rate, whatever the earlier answers take; a sample each."""
    samples: list[Sample | None] = [None] * len(requests)

    def job(i: int, lag: float) -> None:
        key, body = requests[i]
        samples[i] = send(port, key, body, lag)

    on_schedule(len(requests), rate=rate, workers=workers, job=job)
    return [s for s in samples if s is not None]


# --- follow-ups seen by the fake Slack ----------------------------------------------------------------------


def first_calls(calls: Sequence[CallTuple], method: str, *, threaded: bool | None = None) -> dict[str, CallTuple]:
    """The first call of `method` per key (optionally only those with or without thread_ts)."""
    found: dict[str, CallTuple] = {}
    for call in sorted(calls, key=lambda c: c[1]):
        name, _, _, _, key, has_thread = call
        if name == method and key is not None and key not in found and (threaded is None or has_thread == threaded):
            found[key] = call
    return found


def await_follow_ups(
    fake: Child, samples: Sequence[Sample], method: str, *, threaded: bool | None = None
) -> dict[str, CallTuple]:
    """Poll the fake Slack until every sample's follow-up arrived or FOLLOW_UP_TIMEOUT passed since the last send;
    then until the bot has gone quiet (its threads and explanations posted), so the next phase starts clean."""
    keys = {s.key for s in samples}
    deadline = max((s.sent_at for s in samples), default=time.time()) + FOLLOW_UP_TIMEOUT + 0.5
    while True:
        calls: list[CallTuple] = fake.ask("calls")
        found = first_calls(calls, method, threaded=threaded)
        if keys <= found.keys() or time.time() > deadline:
            break
        time.sleep(0.2)
    quiet_deadline = time.time() + FOLLOW_UP_TIMEOUT
    count = len(calls)
    while time.time() < quiet_deadline:
        time.sleep(0.5)
        latest = len(fake.ask("calls"))
        if latest == count:
            break
        count = latest
    return found


# --- statistics ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Stats:
    n: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), max(ms, default=float("nan")))

    def percentiles(self) -> tuple[float, float, float]:
        """p50, p99 and max, in milliseconds."""
        return self.p50_ms, self.p99_ms, self.max_ms


@dataclass(frozen=True, slots=True)
class Phase:
    """One open-loop phase against one server."""

    name: str
    sent: int
    failed: int
    failures: dict[str, int]
    response: Stats
    follow_up: Stats | None
    lag_p99_ms: float
    lag_max_ms: float


def summarize(
    name: str,
    samples: Sequence[Sample],
    follow_ups: Mapping[str, CallTuple] | None = None,
    *,
    check_body: bool = False,
) -> Phase:
    """Response times of the answered requests, follow-up delays, and why each failed request failed."""
    failures: dict[str, int] = {}
    answered: list[float] = []
    delays: list[float] = []
    failed = 0

    def fail(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    for sample in samples:
        ok = True
        if sample.seconds is None or sample.status is None:
            fail(f"no answer ({sample.error})")
            ok = False
        elif sample.status != 200:
            fail(f"HTTP {sample.status}")
            ok = False
        else:
            answered.append(sample.seconds)
            if check_body and sample.body.strip():
                fail("answered with a body (inline errors?)")
                ok = False
        if follow_ups is not None:
            call = follow_ups.get(sample.key)
            if call is None:
                fail("follow-up missing")
                ok = False
            else:
                _, at, status, api_ok, _, _ = call
                delay = at - sample.sent_at
                delays.append(delay)
                if status != 200 or not api_ok:
                    fail("follow-up refused by the fake Slack")
                    ok = False
                elif delay > FOLLOW_UP_TIMEOUT:
                    fail("follow-up later than 5 s")
                    ok = False
        failed += not ok
    lags = [s.lag * 1000 for s in samples]
    return Phase(
        name=name,
        sent=len(samples),
        failed=failed,
        failures=failures,
        response=Stats.of(answered),
        follow_up=Stats.of(delays) if follow_ups is not None else None,
        lag_p99_ms=percentile(lags, 99),
        lag_max_ms=max(lags, default=float("nan")),
    )


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Setup:
    fake: Child
    bot: Child
    bare: Child
    requests: Requests
    rate: float
    workers: int


def warm_up(setup: Setup, seconds: float) -> dict[str, Any]:
    """A short unmeasured burst of both kinds of request at both servers; returns the form the bot opened."""
    n = max(5, int(seconds * setup.rate))
    commands = [setup.requests.command() for _ in range(n)]
    open_loop(setup.bot.ready, commands, rate=setup.rate, workers=setup.workers)
    open_loop(setup.bare.ready, commands, rate=setup.rate, workers=setup.workers)
    deadline = time.time() + FOLLOW_UP_TIMEOUT
    view: dict[str, Any] | None = None
    while view is None and time.time() < deadline:
        view = setup.fake.ask("view")
        time.sleep(0.1)
    if view is None:
        raise RuntimeError("the bot opened no form during the warm-up; is the bot process healthy?")
    submissions = [setup.requests.submission(view) for _ in range(n)]
    open_loop(setup.bot.ready, submissions, rate=setup.rate, workers=setup.workers)
    open_loop(setup.bare.ready, submissions, rate=setup.rate, workers=setup.workers)
    await_follow_ups(setup.fake, [], "chat.postMessage")
    setup.fake.ask("reset")
    return view


def run_delay(setup: Setup, view: Mapping[str, Any], delay_ms: float, seconds: float) -> dict[str, Any]:
    """The four measured phases with the fake Slack answering after `delay_ms`."""
    setup.fake.ask("delay", delay_ms / 1000)
    n = max(1, round(seconds * setup.rate))
    fake_errors: list[str] = []

    def go(child: Child, requests: list[tuple[str, bytes]]) -> list[Sample]:
        samples = open_loop(child.ready, requests, rate=setup.rate, workers=setup.workers)
        child.check_alive()
        return samples

    commands = [setup.requests.command() for _ in range(n)]
    bot_commands = go(setup.bot, commands)
    views_open = await_follow_ups(setup.fake, bot_commands, "views.open")
    fake_errors += setup.fake.ask("reset")
    bare_commands = go(setup.bare, [setup.requests.command() for _ in range(n)])
    fake_errors += setup.fake.ask("reset")

    bot_submissions = go(setup.bot, [setup.requests.submission(view) for _ in range(n)])
    verdicts = await_follow_ups(setup.fake, bot_submissions, "chat.postMessage", threaded=False)
    fake_errors += setup.fake.ask("reset")
    bare_submissions = go(setup.bare, [setup.requests.submission(view) for _ in range(n)])
    fake_errors += setup.fake.ask("reset")

    phases = {
        "bot_command": summarize("bot: slash command", bot_commands, views_open),
        "bare_command": summarize("bare Bolt: slash command", bare_commands),
        "bot_submission": summarize("bot: view submission", bot_submissions, verdicts, check_body=True),
        "bare_submission": summarize("bare Bolt: view submission", bare_submissions, check_body=True),
    }
    return {"delay_ms": delay_ms, "requests_per_phase": n, "phases": phases, "fake_slack_errors": fake_errors}


# --- reporting ----------------------------------------------------------------------------------------------


def machine_info(redis_url: str) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    server_version = "unknown"
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(redis_url)
        server_version = str(client.info("server").get("redis_version", "unknown"))
        client.close()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "slack_bolt": slack_bolt.version.__version__,
        "slack_sdk": slack_sdk.version.__version__,
        "waitress": importlib.metadata.version("waitress"),
        "redis_py": redis.__version__,
        "redis_server": server_version,
        "loadavg_start": os.getloadavg(),
    }


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} ms"  # NaN when there were no samples


def _ratio(ours: float, base: float) -> str:
    return "n/a" if math.isnan(ours) or math.isnan(base) or base <= 0 else f"{ours / base:.2f}x"


def _verdict(stats: Stats, target_ms: float) -> str:
    return "**PASS**" if stats.n and stats.p99_ms <= target_ms else "**FAIL**"


def _row(label: str, stats: Stats, target_ms: float | None = None) -> tuple[str, ...]:
    target = ("", "") if target_ms is None else (f"p99 ≤ {target_ms:g} ms", _verdict(stats, target_ms))
    return (label, *(_ms(value) for value in stats.percentiles()), *target)


def _ratio_row(label: str, ours: Stats, base: Stats) -> tuple[str, ...]:
    ratios = (_ratio(a, b) for a, b in zip(ours.percentiles(), base.percentiles(), strict=True))
    return (label, *ratios, "", "")


def results_table(result: Mapping[str, Any]) -> list[str]:
    phases: Mapping[str, Phase] = result["phases"]
    bot_cmd, bare_cmd = phases["bot_command"], phases["bare_command"]
    bot_sub, bare_sub = phases["bot_submission"], phases["bare_submission"]
    assert bot_cmd.follow_up is not None
    assert bot_sub.follow_up is not None
    rows = [
        _row("Slash command: HTTP response (bot)", bot_cmd.response, TARGET_COMMAND_P99_MS),
        _row("Slash command: HTTP response (bare Bolt baseline)", bare_cmd.response),
        _ratio_row("Slash command: ratio bot / baseline", bot_cmd.response, bare_cmd.response),
        _row("Command sent → `views.open` at Slack", bot_cmd.follow_up, TARGET_VIEWS_OPEN_P99_MS),
        _row("View submission: HTTP response (bot)", bot_sub.response),
        _row("View submission: HTTP response (bare Bolt baseline)", bare_sub.response),
        _ratio_row("View submission: ratio bot / baseline", bot_sub.response, bare_sub.response),
        _row("Submission sent → verdict at Slack", bot_sub.follow_up, TARGET_VERDICT_P99_MS),
    ]
    lines = [
        "| Metric | p50 | p99 | max | Target | Pass? |",
        "|---|---:|---:|---:|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "| Phase | Requests | Failed | Send lag p99 | Send lag max | Failures |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for phase in phases.values():
        why = ", ".join(f"{reason}: {count}" for reason, count in phase.failures.items()) or "none"
        lines.append(
            f"| {phase.name} | {phase.sent} | {phase.failed} | {_ms(phase.lag_p99_ms)} | {_ms(phase.lag_max_ms)}"
            f" | {why} |"
        )
    if result["fake_slack_errors"]:
        lines += ["", f"The fake Slack itself failed {len(result['fake_slack_errors'])} time(s)."]
    return lines


def report(info: Mapping[str, Any], settings: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "## Slack flow benchmark",
        "",
        f"**Date:** {info['date']}. **Machine:** {info['cpu']}, {info['cores']} cores ({info['platform']}); "
        f"{info['python']}, slack_bolt {info['slack_bolt']}, slack_sdk {info['slack_sdk']}, "
        f"waitress {info['waitress']}, redis-py {info['redis_py']}, redis-server {info['redis_server']}. "
        f"Load average at start / end: {_loadavg(info['loadavg_start'])} / {_loadavg(info['loadavg_end'])}.",
        "",
        f"**Settings:** {settings['rate']:g} requests/s open-loop for {settings['seconds']:g} s per phase "
        f"(after a {settings['warmup']:g} s warm-up), {settings['workers']} sender threads, a new TCP connection "
        f"per request; the bot and the baseline each served by waitress with {settings['threads']} threads "
        f"(the bot sizes its worker pools from the same setting). Redis: {settings['redis']}.",
        "",
        f"**Layout:** {settings['layout']}",
    ]
    for result in results:
        lines += [
            "",
            f"### Fake Slack answering every Web API call after {result['delay_ms']:g} ms",
            "",
            *results_table(result),
        ]
    return "\n".join(lines)


def _loadavg(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _json_ready(value: Any) -> Any:
    if isinstance(value, Phase | Stats):
        return {k: _json_ready(getattr(value, k)) for k in value.__slots__}
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


# --- main ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_for_benchmark(prefix: str) -> Iterator[tuple[str, str]]:
    """(url, description): REDIS_URL if set (the benchmark's keys deleted afterwards), else an embedded Redis."""
    external = os.environ.get("REDIS_URL")
    if external:
        try:
            yield external, "REDIS_URL (external)"
        finally:
            client = redis.Redis.from_url(external)
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            client.close()
        return
    data_dir = Path(tempfile.mkdtemp(prefix="bench-slack-"))
    try:
        with EmbeddedRedis(data_dir / "redis") as embedded:
            yield embedded.url, "embedded redis-server (unix socket, append-only file, fsync every second)"
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="duration of each measured phase")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of unmeasured warm-up traffic")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_SECONDS:g} s smoke run per phase")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests per second")
    parser.add_argument(
        "--delay-ms",
        type=float,
        nargs="+",
        default=[DEFAULT_DELAY_MS],
        help="fake Slack answer delay(s) in ms; several values measure one set of phases each (e.g. 50 0)",
    )
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="waitress and background threads")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="load generator threads")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = QUICK_SECONDS
    if args.warmup is None:
        args.warmup = QUICK_WARMUP_SECONDS if args.quick else DEFAULT_WARMUP_SECONDS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prefix = f"bench-slack-{os.getpid()}-{int(time.time())}"
    children: list[Child] = []
    with redis_for_benchmark(prefix) as (redis_url, redis_description):
        info = machine_info(redis_url)
        try:
            fake = Child("fake-slack", fake_slack_process)
            children.append(fake)
            api_url, response_url = fake.ready["api_url"], fake.ready["response_url"]
            bot = Child("bot", bot_process, api_url, redis_url, prefix, args.threads)
            children.append(bot)
            bare = Child("bare-bolt", bare_bolt_process, api_url, args.threads)
            children.append(bare)
            setup = Setup(fake, bot, bare, Requests(response_url), args.rate, args.workers)
            view = warm_up(setup, args.warmup)
            results = [run_delay(setup, view, delay, args.seconds) for delay in args.delay_ms]
        finally:
            for child in reversed(children):
                child.stop()
    info["loadavg_end"] = os.getloadavg()
    settings = {
        "rate": args.rate,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "workers": args.workers,
        "threads": args.threads,
        "delays_ms": args.delay_ms,
        "redis": redis_description,
        "layout": (
            "load generator in the main process; fake Slack (tests/fakeslack.py), the bot (bot.server.SlackWSGI "
            "+ build_app, as `serve` runs it) and the bare Bolt app (slack_bolt.adapter.wsgi) each in their own "
            "process; Redis in its own process."
        ),
    }
    if args.json:
        print(json.dumps(_json_ready({"machine": info, "settings": settings, "results": results}), indent=2))
    else:
        print(report(info, settings, results))
    sent = sum(p.sent for r in results for p in r["phases"].values())
    failed = sum(p.failed for r in results for p in r["phases"].values())
    if sent and failed / sent > MAX_FAILED_FRACTION:
        print(f"\n{failed} of {sent} requests failed (over {MAX_FAILED_FRACTION:.0%}).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
