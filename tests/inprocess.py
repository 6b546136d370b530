"""The bot's WSGI application called in-process, as waitress calls it, for tests that send thousands of requests.

`InProcessBot` wraps the real `SlackWSGI` (size cap, signature check, Bolt, listeners) built on real Redis and the
fake Slack, and adds what those tests need to judge each request on its own: waiting until the work a request left
for the worker threads is done (`drain`), and a fingerprint of every key under the bot's prefix (`fingerprint`), so
that "nothing was written" is a comparison rather than a guess.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import redis

from bot.app import build_app
from bot.runtime import open_services
from bot.server import EVENTS_PATH, SlackWSGI
from bot.services import Services
from bot.settings import Settings
from tests.fakeslack import Call, FakeSlack
from tests.payloads import World, signature
from tests.slack_support import CHANNEL, REQUIRED_ANSWERS, USER, submission_payload, trigger_id

# A fingerprint entry: the key's serialized value, and whether it has a time to live.
Fingerprint = dict[str, tuple[bytes | None, bool]]


@dataclass(frozen=True)
class Answer:
    """What the WSGI application answered."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Body(io.BytesIO):
    """A request body that records whether the application read it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.touched = False

    def read(self, size: int | None = -1) -> bytes:
        self.touched = True
        return super().read(size)


def environ_for(
    body: bytes,
    headers: Mapping[str, str],
    *,
    content_type: str | None,
    path: str = EVENTS_PATH,
    method: str = "POST",
    content_length: str | None = None,
) -> dict[str, Any]:
    """The WSGI environ waitress builds for such a request (header names upper-cased with an HTTP_ prefix)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": _Body(body),
        "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    return environ


def call_wsgi(app: Callable[..., Any], environ: dict[str, Any]) -> Answer:
    """Call a WSGI application once and collect its whole answer."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Answer(int(seen["status"][:3]), dict(seen["headers"]), body)


class _Tracked:
    """Counts the work submitted to an executor that has not finished yet."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._submit = executor.submit
        self._lock = threading.Lock()
        self._pending: set[Future[Any]] = set()
        executor.submit = self.submit  # type: ignore[method-assign]

    def submit(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = self._submit(function, *args, **kwargs)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._pending)


class InProcessBot:
    """The served bot without the socket: real WSGI application, real Redis, the fake Slack."""

    def __init__(self, services: Services, fake: FakeSlack, redis_client: redis.Redis, prefix: str) -> None:
        self.services = services
        self.fake = fake
        self.redis = redis_client
        self.prefix = prefix
        self.app = build_app(services)
        self.wsgi = SlackWSGI(self.app, services)
        self._work = [_Tracked(services.worker.background), _Tracked(services.worker.urgent)]
        secret = services.settings.slack_signing_secret
        assert secret is not None
        self.secret = secret.get_secret_value()
        self._age = itertools.count()

    def sign(self, body: bytes) -> dict[str, str]:
        """Slack's signature headers for `body`, each request a different second of the last four minutes, so that
        two equal bodies are two requests (Slack never signs the same request twice) rather than a replay."""
        stamp = str(int(time.time()) - next(self._age) % 240)
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(body, stamp, self.secret)}

    def request(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = "application/x-www-form-urlencoded",
        **environ: Any,
    ) -> Answer:
        """One request to /slack/events (or `path=`) with exactly these headers."""
        return call_wsgi(self.wsgi, environ_for(body, headers or {}, content_type=content_type, **environ))

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until the work handed to the worker threads is done. Work that hands over more work does so before
        it finishes, so when nothing is pending, nothing more is coming."""
        deadline = time.monotonic() + timeout
        while any(work.busy for work in self._work):
            if time.monotonic() > deadline:
                raise AssertionError(f"background work still running after {timeout} s")
            time.sleep(0.001)

    def calls(self) -> list[Call]:
        """Every call the fake Slack received so far."""
        return self.fake.calls()

    def fingerprint(self) -> Fingerprint:
        """Every key under the bot's prefix with its serialized value and whether it expires."""
        keys = sorted(self.redis.scan_iter(match=f"{self.prefix}:*", count=10_000))
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.dump(key)
                pipe.pttl(key)
            found = pipe.execute()
        return {key: (found[2 * i], found[2 * i + 1] >= 0) for i, key in enumerate(keys)}


def seed_world(bot: InProcessBot) -> World:
    """One decision asked for and posted in the usual way (command, form, verdict and its explanation)."""
    fake, team = bot.fake, bot.fake.team_id
    fields = {
        "team_id": team,
        "channel_id": CHANNEL,
        "user_id": USER,
        "command": "/should-finetune",
        "text": "",
        "trigger_id": fake.new_trigger_id(),
        "response_url": fake.response_url("seed"),
    }
    body = urlencode(fields).encode()
    assert bot.request(body, headers=bot.sign(body)).status == 200
    bot.drain()
    view = fake.calls("views.open")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    body = urlencode({"payload": json.dumps(submission_payload(view, REQUIRED_ANSWERS))}).encode()
    assert bot.request(body, headers=bot.sign(body)).status == 200
    bot.drain()
    verdict, explanation = (call.response for call in fake.calls("chat.postMessage")[-2:])
    assert verdict is not None
    assert explanation is not None
    decision = bot.services.store.decision_for_message(workspace=team, channel=CHANNEL, ts=verdict["ts"])
    assert decision is not None
    return World(
        team=team,
        channel=CHANNEL,
        requester=USER,
        bot_user=fake.bot_user_id,
        verdict_ts=verdict["ts"],
        explanation_ts=explanation["ts"],
        decision_id=decision.id,
        form_view=view,
        response_url=fake.response_url("fuzz"),
        # Not the fake's own method: Hypothesis keeps the strategies built from it, and with them the fake and its
        # record of every call, long after the test.
        new_trigger_id=trigger_id,
        rereview_emoji=bot.services.settings.rereview_emoji[0],
    )


def changed_keys(before: Fingerprint, after: Fingerprint) -> list[str]:
    """Keys created, deleted or rewritten between two fingerprints."""
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


@contextmanager
def in_process_bot(settings: Settings, fake: FakeSlack, redis_client: redis.Redis) -> Iterator[InProcessBot]:
    """The bot for `settings`, started as `serve` starts it, without the HTTP server."""
    with open_services(settings) as services:
        bot = InProcessBot(services, fake, redis_client, settings.redis_prefix)
        try:
            yield bot
        finally:
            bot.drain()
