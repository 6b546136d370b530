"""The HTTP front: `/slack/events` for everything Slack sends, `/healthz`, `/readyz` and `/metrics`, served by
waitress; each request is counted, timed and logged in one access line under a request id of its own.

Requests are checked here before Bolt parses them: a body over the size cap gets 413 unread, and anything not
signed as Slack signs it gets 401, including the malformed headers that make Bolt's own check raise.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_sdk.signature import SignatureVerifier
from waitress import wasyncore  # type: ignore[import-untyped]
from waitress.server import create_server as waitress_server  # type: ignore[import-untyped]

from bot.logs import using_request_id
from bot.metrics import CONTENT_TYPE, EVENT_TYPES
from bot.services import Services
from bot.slack.ids import CallbackId

log = logging.getLogger(__name__)
access_log = logging.getLogger("bot.access")

EVENTS_PATH = "/slack/events"
# Headers Bolt obeys but Slack never sends and never signs: a caller could use them to run lazy listeners directly.
_UNSIGNED_CONTROL_HEADERS = ("x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
# Where `slack_request` leaves the kind of request it found, for the access line and the metrics.
KIND = "should_finetune.kind"
_RETRY_REASON = re.compile(r"[a-z_]{1,40}")
SLACK_TEAM = re.compile(r"[TE][A-Z0-9]{1,39}")
# How long a stopping server waits for the requests it has begun to be answered.
DRAIN_SECONDS = 10.0


def _json(status: str, payload: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _headers(environ: Environ) -> dict[str, str | Sequence[str]]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    for name in _UNSIGNED_CONTROL_HEADERS:
        headers.pop(name, None)
    return headers


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def misread_form(text: str, content_type: str | None) -> dict[str, str] | None:
    """The fields of a plain form body that Bolt reads as empty, else None.

    Bolt takes any form body containing the word "payload" for an interactivity payload (`payload=<JSON>`) and,
    finding no such field, reads nothing: `/should-finetune JSON payload extraction` would be lost."""
    if content_type == "application/json" or text.startswith("{") or "payload" not in text:
        return None
    fields = dict(parse_qsl(text, keep_blank_values=True))
    return None if "payload" in fields else fields


# Events API envelopes. Slack delivers an event again when it had no answer in time, and each listener of one
# claims its work once (keyed on the message or the reaction), so a copy of an event, replayed or redelivered, is
# answered and changes nothing. Commands and interactions are never sent twice: a copy of one is a replay.
_EVENTS_API = frozenset({"event_callback", "url_verification", "app_rate_limited"})
# Payload types that go on to Bolt: the ones the bot has listeners for, and view_closed (checked by `malformed`).
_ROUTED = _EVENTS_API | {"view_submission", "view_closed", "block_actions", "shortcut", "message_action"}
# The shortcuts the bot has (a shortcut with another callback_id would take Bolt's path for unhandled requests).
_SHORTCUTS = frozenset({CallbackId.MESSAGE_SHORTCUT.value, CallbackId.GLOBAL_SHORTCUT.value})


class ReplayGuard:
    """The signatures of the commands and interactions taken in the last five minutes, so that a copy is refused.

    Slack's scheme accepts a signed request for five minutes after its timestamp, and Slack never sends a command
    or an interaction twice, so a copy is a replay: without this, a copied form submission would record and post a
    second decision. A signature is forgotten once its timestamp is too old for the signature check anyway. Kept per
    process: a copy sent to another replica is not caught here (the clicks and edits still are, by their claims).
    """

    def __init__(self, *, window: int = 300, limit: int = 200_000, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.limit = limit  # at most this many (about 200 bytes each), however many requests come
        self.clock = clock
        self._until: dict[str, float] = {}  # signature -> when it may be forgotten; oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def first(self, signature: str, timestamp: int) -> bool:
        """Whether `signature` is new (it is remembered from now on)."""
        now = self.clock()
        with self._lock:
            # Slack's timestamps follow the clock, so the oldest entries are the first ones.
            while self._until and (next(iter(self._until.values())) < now or len(self._until) >= self.limit):
                del self._until[next(iter(self._until))]
            if signature in self._until:
                return False
            self._until[signature] = timestamp + self.window + 1
            return True

    def forget(self, signature: str) -> None:
        """Take `signature` as new again (its request failed on our side, so a copy of it may be served)."""
        with self._lock:
            self._until.pop(signature, None)


def is_ssl_check(raw: bytes) -> bool:
    """Whether a request body is Slack's certificate check of the command URL: a form with `ssl_check=1` (and the
    legacy `token`), sent without a signature."""
    if len(raw) > 1024 or b"ssl_check" not in raw:
        return False
    try:
        fields = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return dict(fields).get("ssl_check") == "1" and {name for name, _ in fields} <= {"ssl_check", "token"}


def request_kind(body: object) -> str:
    """The kind of a parsed Slack request, from a closed set (see `bot.metrics.KINDS`)."""
    if not isinstance(body, dict):
        return "other"
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind in {"view_submission", "view_closed", "block_actions", "url_verification", "app_rate_limited"}:
        return str(kind)
    if kind in {"shortcut", "message_action"}:
        return str(kind)
    if kind == "event_callback":
        event = body.get("event")
        name = event.get("type") if isinstance(event, dict) else None
        return f"event:{name}" if name in EVENT_TYPES else "event:other"
    return "other"


def malformed(body: object) -> str | None:
    """What is wrong with a parsed request body's shape, for the fields Bolt reads to route it; None if fine."""
    if not isinstance(body, dict):
        return "the body is not an object"
    kind = body.get("type")
    if "command" in body and not _is_str(body["command"]):
        return "command is not a string"
    if "view" in body and not isinstance(body["view"], dict):  # Bolt reads view.type of any payload that has one
        return "view is not an object"
    if kind in {"view_submission", "view_closed"}:
        view = body.get("view")
        if not isinstance(view, dict) or not _is_str(view.get("type")) or not _is_str(view.get("callback_id")):
            return "view is missing its type or callback_id"
    elif kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions is not a list of actions"
        if not all(isinstance(a, dict) and _is_str(a.get("action_id")) for a in actions):
            return "an action has no action_id"
    elif kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not _is_str(event.get("type")):
            return "event is missing its type"
    elif kind in {"shortcut", "message_action", "block_suggestion"}:
        if not _is_str(body.get("callback_id") or body.get("action_id")):
            return "callback_id is missing"
        # Bolt reads the person, the workspace and (for a message shortcut) the channel of any shortcut.
        if not all(isinstance(body.get(name), dict) for name in ("user", "team")):
            return "user or team is not an object"
        if kind == "message_action" and not all(isinstance(body.get(name), dict) for name in ("channel", "message")):
            return "channel or message is not an object"
    return None


class SlackWSGI:
    """The WSGI application: routes, size cap, signature check, then Bolt."""

    def __init__(self, app: App, services: Services) -> None:
        self.app = app
        self.services = services
        secret = services.settings.slack_signing_secret
        assert secret is not None, "serve requires SLACK_SIGNING_SECRET (checked at start-up)"
        self.verifier = SignatureVerifier(secret.get_secret_value())
        self.max_body = services.settings.max_body_bytes
        self.replays = ReplayGuard()
        self._unready = ""  # why /readyz last said no, to log each change once

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request under a fresh request id; count it and log one access line."""
        started = time.perf_counter()
        rid = os.urandom(6).hex()
        statuses: list[str] = []

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            headers.append(("X-Request-Id", rid))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        with using_request_id(rid):
            try:
                return self.route(environ, respond)
            finally:
                self._account(environ, statuses[-1] if statuses else "500", time.perf_counter() - started)

    def _account(self, environ: Environ, status_line: str, seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        if path == EVENTS_PATH:
            kind = environ.get(KIND, "other")
        elif path in {"/healthz", "/readyz"}:
            kind = "health"
        else:
            kind = "metrics" if path == "/metrics" else "other"
        status = int(status_line[:3]) if status_line[:3].isdigit() else 500
        self.services.metrics.request(kind, status, seconds)
        retry = self._redelivery(environ) if path == EVENTS_PATH else {}
        # One line per Slack request; health probes and scrapes (every few seconds) would drown the log at INFO.
        level = logging.INFO if path == EVENTS_PATH else logging.DEBUG
        if access_log.isEnabledFor(level):
            method, shown = environ.get("REQUEST_METHOD", ""), path[:200]
            ms = round(seconds * 1000, 2)
            extra = {"http_method": method, "path": shown, "kind": kind, "status": status, "duration_ms": ms, **retry}
            access_log.log(level, "%s %s %s %d %.1f ms", method, shown, kind, status, ms, extra=extra)

    def _redelivery(self, environ: Environ) -> dict[str, Any]:
        """Slack's retry number and reason when the request is a redelivery (and counted as one); else nothing."""
        number = environ.get("HTTP_X_SLACK_RETRY_NUM")
        if not isinstance(number, str) or not number.isdigit() or len(number) > 3:
            return {}
        reason = environ.get("HTTP_X_SLACK_RETRY_REASON")
        reason = reason if isinstance(reason, str) and _RETRY_REASON.fullmatch(reason) else "unknown"
        self.services.metrics.redelivery(reason)
        return {"retry_num": int(number), "retry_reason": reason}

    def route(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Routes: health, readiness, metrics, and Slack's requests."""
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics" and self.services.settings.metrics:
            if method != "GET":
                return _json("405 Method Not Allowed", {"error": "GET only"}, start_response)
            body = self.services.metrics.render()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/healthz":
            return _json("200 OK", {"status": "ok"}, start_response)
        if path == "/readyz":
            reason = self.unready()
            if not reason:
                return _json("200 OK", {"ready": True}, start_response)
            return _json("503 Service Unavailable", {"ready": False, "reason": reason}, start_response)
        if path != EVENTS_PATH:
            return _json("404 Not Found", {"error": "not found"}, start_response)
        if method != "POST":
            return _json("405 Method Not Allowed", {"error": "POST only"}, start_response)
        return self.slack_request(environ, start_response)

    def unready(self) -> str:
        """Why the bot should get no traffic now, or "" when it should: it can write to Redis (a primary that takes
        writes) and its rule set is loaded. Each change is logged once."""
        try:
            reason = self.services.store.unwritable()
            if not reason and not self.services.decisions.ruleset.rules:
                reason = "no rules are loaded"
        except Exception as exc:  # a readiness probe answers "no", it does not fail
            reason = f"{type(exc).__name__}: {exc}"
        if reason != self._unready:
            if reason:
                log.warning("not ready: %s", reason)
            else:
                log.info("ready again")
            self._unready = reason
        return reason

    def slack_request(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Verify, then hand the request to Bolt."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _json("400 Bad Request", {"error": "bad content length"}, start_response)
        if length > self.max_body:
            return _json("413 Content Too Large", {"error": "request body too large"}, start_response)
        raw: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = _headers(environ)
        if is_ssl_check(raw):
            # Slack checks the certificate of a slash command's URL with an unsigned `ssl_check=1&token=…` and
            # expects a 200; nothing is read from it and nothing is done.
            environ[KIND] = "ssl_check"
            return _json("200 OK", {}, start_response)
        if not self._signed(raw, headers):
            return _json("401 Unauthorized", {"error": "invalid request"}, start_response)
        try:
            text = raw.decode("utf-8")
            request = BoltRequest(body=text, headers=headers)  # parses the body: JSON or form
            fields = misread_form(text, request.content_type)
            if fields is not None:
                request.body = fields
                request.context = build_context(BoltContext({}), fields)
        except Exception:  # any parse failure of a signed body is the sender's problem, not a server error
            return _json("400 Bad Request", {"error": "unreadable body"}, start_response)
        environ[KIND] = request_kind(request.body)
        problem = malformed(request.body)
        if problem is not None:
            # Bolt's matchers index into these shapes and would fail with a 500; Slack never sends them.
            log.warning("signed request refused: %s", problem)
            return _json("400 Bad Request", {"error": problem}, start_response)
        kind = request.body.get("type")
        if kind == "app_rate_limited":
            return self._rate_limited(request.body, start_response)
        if kind in {"shortcut", "message_action"} and request.body.get("callback_id") not in _SHORTCUTS:
            kind = "an unknown shortcut"
        if kind is not None and kind not in _ROUTED:  # a slash command has no type
            # No listener takes it, and Bolt's path for unhandled requests reads fields of their own shapes (a 500 on
            # a shortcut whose `actions` or `user` is null): answered as Bolt answers an unhandled request.
            log.warning("signed request of a type the bot does not handle: %s", str(kind)[:40])
            return _json("404 Not Found", {"error": "unhandled request"}, start_response)
        signature = str(headers["x-slack-signature"])
        if kind not in _EVENTS_API and not self.replays.first(
            signature, int(str(headers["x-slack-request-timestamp"]))
        ):
            log.warning("refused a copy of a signed request already taken (a replay)")
            return _json("401 Unauthorized", {"error": "invalid request"}, start_response)
        try:
            response = self.app.dispatch(request)
        except BaseException:
            self.replays.forget(signature)
            raise
        if response.status >= 500:
            self.replays.forget(signature)
        payload = response.body.encode() if isinstance(response.body, str) else response.body
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}
        status = f"{response.status} {reason.get(response.status, 'Status')}"
        out_headers = [
            (k, v) for k, values in response.headers.items() for v in values if k.lower() != "content-length"
        ]
        out_headers.append(("Content-Length", str(len(payload))))
        start_response(status, out_headers)
        return [payload]

    def _rate_limited(self, body: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Slack's `app_rate_limited` notice: the workspace went over the Events API's limit, and Slack is not
        delivering some events. It needs a 200 like any delivery (Slack may turn off the event subscription of
        an app whose deliveries fail); it is logged and counted so that an operator sees why events went missing."""
        team, minute = body.get("team_id"), body.get("minute_rate_limited")
        log.warning(
            "Slack is dropping events for workspace %s: over the Events API limit in the minute starting at %s",
            team if isinstance(team, str) and SLACK_TEAM.fullmatch(team) else "?",
            minute if isinstance(minute, int) else "?",
        )
        self.services.metrics.events_rate_limited()
        return _json("200 OK", {}, start_response)

    def _signed(self, body: bytes, headers: dict[str, str | Sequence[str]]) -> bool:
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not isinstance(timestamp, str) or not isinstance(signature, str):
            return False
        if not (timestamp.isascii() and timestamp.isdigit()) or not signature.startswith("v0="):
            return False  # Slack sends ASCII digits; int() would also read other scripts' digits as a time
        try:
            return self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (ValueError, TypeError, OverflowError):
            return False


def create_server(wsgi: SlackWSGI, *, host: str, port: int, threads: int, loop_timeout: float = 1.0) -> Any:
    """A waitress server for `wsgi`; `.run()` serves until `.close()`, `.effective_port` says where.

    `loop_timeout` is how long the server's event loop waits between checks, and so how long a stop can take."""
    return waitress_server(
        wsgi,
        host=host,
        port=port,
        threads=threads,
        ident="should-finetune",
        # waitress reads a body before the app sees it; its own cap (which answers by closing the connection) is
        # kept well above ours, so that an oversized request normally gets the app's clean 413.
        max_request_body_size=wsgi.max_body * 4,
        clear_untrusted_proxy_headers=True,
        channel_timeout=30,
        asyncore_loop_timeout=loop_timeout,
    )


def serve_until(server: Any, stop: threading.Event, *, drain_seconds: float = DRAIN_SECONDS) -> int:
    """Serve until `stop` is set, then stop accepting connections, finish answering the requests already begun (for
    at most `drain_seconds`) and close; how many connections were still busy when it gave up (0: none)."""
    adj = server.adj

    def turn(timeout: float) -> None:
        wasyncore.loop(timeout=timeout, map=server._map, use_poll=adj.asyncore_use_poll, count=1)

    try:
        while not stop.is_set():
            turn(adj.asyncore_loop_timeout)
        wasyncore.dispatcher.close(server)  # the listening socket: new connections are refused from here on
        deadline = time.monotonic() + drain_seconds
        while True:
            busy = 0
            for channel in list(server.active_channels.values()):
                if channel.requests or channel.request is not None or channel.total_outbufs_len:
                    busy += 1  # a request being received, handled, or its response being sent
                elif not channel.will_close:
                    channel.will_close = True  # idle keep-alive: closed, so that no new request starts on it
            if not busy or time.monotonic() >= deadline:
                return busy
            turn(0.05)
    finally:
        server.task_dispatcher.shutdown(timeout=1)
        server.close()
        wasyncore.close_all(server._map)
