"""A local fake of the Slack Web API: realistic answers, fault injection, and a record of every call.

Point the code under test at it with ``WebClient(token="xoxb-test-token", base_url=fake.url)``.

Like Slack, the fake knows the bot token's granted scopes (by default the app manifest's `bot.manifest.BOT_SCOPES`,
read at call time) and answers a method whose scope is not granted with HTTP 200 and
``{"ok": false, "error": "missing_scope", "needed": ..., "provided": ...}``; see `SCOPES` and `FakeSlack.scopes`.
Messages come back from `conversations.history` and `conversations.replies` shaped as Slack returns them: people's
messages (seeded with `FakeSlack.add_message`) with `client_msg_id`, `team` and `rich_text` blocks; the bot's with
`bot_id`, `app_id` and `bot_profile`; replies with `thread_ts` and `parent_user_id`; thread parents with
`reply_count`, `reply_users`, `latest_reply`, `is_locked` and `subscribed`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import email.policy
import http.server
import importlib
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]
MethodHandler = Callable[[JSON], JSON]

DEFAULT_TOKEN = "xoxb-test-token"
CHANNEL_STATES = frozenset({"member", "not_in_channel", "is_archived", "channel_not_found"})
MAX_TEXT_CHARS = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_ATTACHMENTS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BLOCK_ID = 255
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
# slack_sdk form-encodes nested values as JSON strings; these fields are decoded back into objects.
JSON_FIELDS = ("view", "blocks", "attachments", "metadata")
TRIGGER_ID = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")
PERMALINK_BASE = "https://fake.slack.com/archives"
WEBHOOK_PREFIX = "webhook/"
_POLL_SECONDS = 0.01
BOT_ICONS = {
    "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
    "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
    "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png",
}

# The bot-token scope each Web API method needs, as Slack checks it before anything else. Methods of the
# conversations family need the scope of the conversation's kind (see `CONVERSATION_SCOPES`), conversations.open
# `im:write` (`mpim:write` for several people); methods left out (auth.test, chat.getPermalink, views.*) need none.
SCOPES: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "reactions.get": "reactions:read",
    "usergroups.users.list": "usergroups:read",
}
# Conversation-kind scopes: method -> suffix after "channels:", "groups:", "im:" or "mpim:".
CONVERSATION_SCOPES: dict[str, str] = {
    "conversations.history": "history",
    "conversations.replies": "history",
    "conversations.info": "read",
}
_KIND_BY_PREFIX = {"C": "channels", "G": "groups", "D": "im"}
_MARKUP = re.compile(r"<([^<>]*)>")


def rich_text(text: str) -> list[JSON]:
    """The `rich_text` blocks Slack attaches to a message written as `text` (mentions, channels, broadcasts and links
    become their own elements)."""
    elements: list[JSON] = []

    def plain(part: str) -> None:
        part = part.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        if part:
            elements.append({"type": "text", "text": part})

    at = 0
    for found in _MARKUP.finditer(text):
        plain(text[at : found.start()])
        at = found.end()
        inner, _, label = found.group(1).partition("|")
        if inner.startswith("@") and len(inner) > 1:
            elements.append({"type": "user", "user_id": inner[1:]})
        elif inner.startswith("#") and len(inner) > 1:
            elements.append({"type": "channel", "channel_id": inner[1:]})
        elif inner.startswith("!subteam^"):
            elements.append({"type": "usergroup", "usergroup_id": inner.removeprefix("!subteam^")})
        elif inner in {"!here", "!channel", "!everyone"}:
            elements.append({"type": "broadcast", "range": inner[1:]})
        elif inner.startswith(("http://", "https://", "mailto:")):
            link: JSON = {"type": "link", "url": inner}
            if label:
                link["text"] = label
            elements.append(link)
        else:
            plain(found.group(0))
    plain(text[at:])
    block_id = base64.b32encode(uuid.uuid5(uuid.NAMESPACE_OID, text).bytes[:3]).decode().rstrip("=")[:5]
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": block_id, "elements": [section]}]


@dataclass(frozen=True)
class Call:
    """One request the fake received, with what it answered."""

    method: str
    args: JSON
    headers: dict[str, str]
    token: str | None
    at: float
    status: int
    response: JSON | None


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int
    error: str | None
    delay: float


# A queued "fault" that lets one call through: fail(after=N) queues N of these first.
_PASS = _Fault(0, 0, None, 0.0)


@dataclass(frozen=True)
class _Reply:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class _ApiError(Exception):
    """An API error answered as HTTP 200 with ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def _json_reply(status: int, payload: JSON, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, "application/json; charset=utf-8", json.dumps(payload).encode(), headers)


def _text_reply(status: int, text: str) -> _Reply:
    return _Reply(status, "text/plain; charset=utf-8", text.encode())


def _missing(name: str, pointer: str = "") -> _ApiError:
    where = f" [json-pointer:{pointer}]" if pointer else ""
    return _ApiError("invalid_arguments", f"[ERROR] missing required field: {name}{where}")


def _too_long(limit: int, pointer: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _text_of(obj: Any) -> str:
    """The ``text`` of a text object, or "" when obj is not one."""
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return cast(str, obj["text"])
    return ""


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in {"1", "true", "yes"}
    return bool(value)


def _check_blocks(blocks: Any, *, limit: int, pointer: str) -> list[str]:
    """Block Kit problems Slack would reject, as Slack-style error messages (empty when valid)."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{pointer}]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        here = f"{pointer}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"[ERROR] missing required field: type [json-pointer:{here}]")
            continue
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if len(block_id) > MAX_BLOCK_ID:
                problems.append(_too_long(MAX_BLOCK_ID, f"{here}/block_id"))
            if block_id in seen_ids:
                problems.append(f"[ERROR] duplicate block_id [json-pointer:{here}/block_id]")
            seen_ids.add(block_id)
        max_text = {"section": MAX_SECTION_TEXT, "header": MAX_HEADER_TEXT}.get(block["type"])
        if max_text is not None and len(_text_of(block.get("text"))) > max_text:
            problems.append(_too_long(max_text, f"{here}/text/text"))
        if block["type"] == "section" and "text" not in block and "fields" not in block:
            problems.append(f"[ERROR] must provide either text or fields [json-pointer:{here}]")
    return problems


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default backlog of 5 drops connections when many clients call at once

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up; remember anything else as a bug in the fake."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        self.fake._note_error(traceback.format_exc())


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Serve a GET (query-string arguments)."""
        self._dispatch()

    def do_POST(self) -> None:
        """Serve a POST (form, multipart or JSON body)."""
        self._dispatch()

    def _dispatch(self) -> None:
        at = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = cast(_Server, self.server).fake
        reply = fake._serve(self.command, self.path, headers, body, at)
        if reply is None:  # the fake was stopped while this answer was delayed
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


class FakeSlack:
    """A fake Slack Web API on 127.0.0.1 that behaves like Slack and records every call."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        team: str = "Fake",
        user: str = "should-finetune",
        app_id: str = "A0FAKE",
        scopes: Iterable[str] | None = None,
    ) -> None:
        """Configure the fake; call start() (or use it as a context manager) to serve.

        `scopes` are the bot token's granted scopes; None (the default) grants exactly the app manifest's
        `bot.manifest.BOT_SCOPES`, read at each call. Change them later with `fake.scopes = [...]`."""
        self.tokens: set[str] = set(tokens)
        self.scopes: tuple[str, ...] | None = None if scopes is None else tuple(scopes)
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team = team
        self.user = user
        self.app_id = app_id
        self.errors: list[str] = []  # tracebacks of bugs inside the fake itself; tests should expect none
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._last_ts = 0
        self._counter = 0
        self._created = int(time.time())
        self._custom: dict[str, MethodHandler] = {}
        self._methods: dict[str, MethodHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "reactions.get": self._reactions_get,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }
        self._clear_state()

    def _clear_state(self) -> None:
        with self._lock:
            self._calls: list[Call] = []
            self._arrivals: list[tuple[str, float]] = []  # (method, time) as requests arrive, before any delay
            self._faults: dict[tuple[str, str | None], deque[_Fault]] = {}
            self._delays: dict[str | None, float] = {}
            self._messages: dict[tuple[str, str], JSON] = {}
            self._ephemerals: list[JSON] = []
            self._channels: dict[str, str] = {}
            self._views: dict[str, JSON] = {}
            self._external_ids: dict[str, str] = {}
            self._home_views: dict[str, str] = {}
            self._exchanged_triggers: set[str] = set()
            self._expired_triggers: set[str] = set()
            self._usergroups: dict[str, list[str]] = {}
            self._mpims: set[str] = set()
            self.errors.clear()

    # ----- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Start serving in a daemon thread (no-op when already started); returns self."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="FakeSlack", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed answers still pending are dropped. Safe to call twice."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        """Start and return the fake."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the fake."""
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root, e.g. "http://127.0.0.1:PORT"."""
        server = self._server
        if server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The Web API base URL for WebClient(base_url=...), ending in "/api/"."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "x") -> str:
        """A slash-command style response_url on this server; its POSTs are recorded as method "webhook/<name>"."""
        return f"{self.base_url}/webhook/{name}"

    # ----- configuration ---------------------------------------------------------------------------------------------

    def set_channel(self, channel_id: str, state: str) -> None:
        """Set a channel's state: "member" (the default), "not_in_channel", "is_archived" or "channel_not_found"."""
        if state not in CHANNEL_STATES:
            raise ValueError(f"unknown channel state {state!r}; expected one of {sorted(CHANNEL_STATES)}")
        with self._lock:
            self._channels[channel_id] = state

    def set_usergroup(self, group_id: str, users: Iterable[str]) -> None:
        """Create or replace a user group (`S…`) with these members, as `usergroups.users.list` reports them."""
        with self._lock:
            self._usergroups[group_id] = list(users)

    def fail(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
        delay: float = 0.0,
        after: int = 0,
        token: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail (429 with Retry-After, 5xx, or 200 with `error`), once
        `after` more calls have been answered normally; only the calls made with `token`, when given (so that
        one replica among several, each with its own token, can be singled out)."""
        if times < 1 or after < 0:
            raise ValueError("times must be at least 1 and after at least 0")
        if status == HTTPStatus.OK and not error:
            raise ValueError("a status-200 fault needs error=...")
        if status != HTTPStatus.OK and not 400 <= status <= 599:
            raise ValueError(f"status must be 200 (with error) or 4xx/5xx, not {status}")
        with self._lock:
            queue = self._faults.setdefault((method, token), deque())
            queue.extend(_PASS for _ in range(after))
            queue.extend(_Fault(status, retry_after, error, delay) for _ in range(times))

    def reset_faults(self, method: str | None = None) -> None:
        """Forget the faults still queued for `method` (for every method when None)."""
        with self._lock:
            if method is None:
                self._faults.clear()
            else:
                for key in [key for key in self._faults if key[0] == method]:
                    del self._faults[key]

    def set_delay(self, method: str | None, seconds: float) -> None:
        """Delay every answer of `method` (None: of every method without its own delay); 0 removes the delay."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def expire_trigger(self, trigger_id: str) -> None:
        """Make a trigger_id answer expired_trigger_id from now on."""
        with self._lock:
            self._expired_triggers.add(trigger_id)

    def new_trigger_id(self) -> str:
        """A fresh trigger_id in Slack's format, as an interaction payload would carry."""
        n = self._next_counter()
        return f"{10_000 + n}.{int(time.time())}.{n:012x}"

    def on(self, method: str, handler: MethodHandler) -> None:
        """Answer `method` with handler(args) -> response dict (after auth and faults); overrides built-ins."""
        with self._lock:
            self._custom[method] = handler

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0HUMAN",
        thread_ts: str | None = None,
        ts: str | None = None,
        **extra: Any,
    ) -> str:
        """Put a message `user` wrote into `channel` (into the thread of `thread_ts` when given), as Slack stores a
        message typed in its client: `client_msg_id`, `team`, `rich_text` blocks; a reply gets `thread_ts` and
        `parent_user_id`, and its parent the thread's counts. `ts` defaults to a fresh one (later than every message
        so far); `extra` fields (e.g. `team`, `user_team`, `subtype`) are added as given. The bot's own user id seeds
        a message of the bot instead (`bot_id`, `app_id`, `bot_profile`). Returns the message's ts."""
        with self._lock:
            ts = ts or self._next_ts()
            if (channel, ts) in self._messages:
                raise ValueError(f"a message {ts} is already in {channel}")
            if user == self.bot_user_id:
                message = self._bot_message(ts, {"text": text})
            else:
                message = {"client_msg_id": str(uuid.uuid4()), "type": "message", "text": text, "user": user}
                message.update(ts=ts, blocks=rich_text(text), team=self.team_id)
            message.update(extra)
            if thread_ts and thread_ts != ts:
                message["thread_ts"] = thread_ts
                parent_user = self._note_reply(channel, thread_ts, ts, user)
                if parent_user:
                    message["parent_user_id"] = parent_user
            self._messages[(channel, ts)] = message
            return ts

    def granted_scopes(self) -> tuple[str, ...]:
        """The bot token's scopes: `scopes` when set, else the app manifest's `BOT_SCOPES` as they are now."""
        scopes = self.scopes
        if scopes is not None:
            return tuple(scopes)
        # Read at call time, not import time: the manifest decides what the app is granted, whatever it says now.
        return tuple(importlib.import_module("bot.manifest").BOT_SCOPES)

    def needed_scope(self, method: str, args: JSON) -> str | None:
        """The scope Slack requires of a bot token for `method` called with `args` (None: none, or not knowable
        because the conversation is missing; the method then answers its own error)."""
        if method in SCOPES:
            return SCOPES[method]
        if method == "conversations.open":
            users = [u for u in str(args.get("users") or "").split(",") if u.strip()]
            return "mpim:write" if len(users) > 1 else "im:write"
        suffix = CONVERSATION_SCOPES.get(method)
        channel = args.get("channel")
        if suffix is None or not isinstance(channel, str) or not channel:
            return None
        with self._lock:
            kind = "mpim" if channel in self._mpims else _KIND_BY_PREFIX.get(channel[0])
        return f"{kind}:{suffix}" if kind else None

    def drain(self) -> tuple[list[Call], list[str]]:
        """The calls recorded since the last drain and the fake's own errors, forgotten with the messages posted;
        faults, delays and channel states stay. For long runs, whose records would otherwise only grow. A call
        answered meanwhile is in this drain or the next, never both or neither."""
        with self._lock:
            calls, self._calls = self._calls, []
            self._arrivals.clear()
            self._messages.clear()
            errors = list(self.errors)
            self.errors.clear()
        return calls, errors

    def forget_calls(self) -> None:
        """Forget the calls recorded so far; messages, views, faults and delays stay. For tests that send thousands
        of requests to one world and look only at each request's own calls."""
        with self._lock:
            self._calls.clear()
            self._arrivals.clear()

    def reset(self) -> None:
        """Forget calls, faults, delays, messages, ephemerals, views, triggers and channel states (the tokens and the
        granted scopes stay)."""
        self._clear_state()

    # ----- inspection ------------------------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls in arrival order, optionally only those of one method."""
        with self._lock:
            recorded = list(self._calls)
        recorded.sort(key=lambda c: c.at)
        return [c for c in recorded if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `method` has been called (and answered) `count` times; returns its calls."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls(method)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = [c.method for c in self.calls()]
                raise AssertionError(
                    f"expected {count} call(s) to {method} within {timeout}s, got {len(found)}; all calls: {seen}"
                )
            time.sleep(_POLL_SECONDS)

    def wait_for_arrival(self, method: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until `method` has been requested `count` times, answered or not (a delayed call counts)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                arrived = sum(1 for name, _ in self._arrivals if name == method)
            if arrived >= count:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {count} request(s) to {method} within {timeout}s, got {arrived}")
            time.sleep(_POLL_SECONDS)

    @property
    def messages(self) -> dict[tuple[str, str], JSON]:
        """A snapshot of the stored messages, keyed by (channel, ts)."""
        with self._lock:
            return copy.deepcopy(self._messages)

    def message(self, channel: str, ts: str) -> JSON | None:
        """A copy of the message at `ts` in `channel` as the fake stores it, or None."""
        with self._lock:
            found = self._messages.get((channel, ts))
            return None if found is None else copy.deepcopy(found)

    @property
    def ephemerals(self) -> list[JSON]:
        """A snapshot of the ephemeral messages posted (dicts with channel, user, ts, text, blocks...)."""
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def views(self) -> dict[str, JSON]:
        """A snapshot of the views opened, pushed, updated or published, keyed by view id."""
        with self._lock:
            return copy.deepcopy(self._views)

    def webhook_bodies(self, name: str | None = None) -> list[JSON]:
        """The JSON bodies accepted by response_url(name) (by every response_url when name is None)."""
        return [
            c.args
            for c in self.calls()
            if c.status == HTTPStatus.OK
            and (c.method == f"{WEBHOOK_PREFIX}{name}" if name is not None else c.method.startswith(WEBHOOK_PREFIX))
        ]

    # ----- request handling ------------------------------------------------------------------------------------------

    def _note_error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def _serve(self, verb: str, target: str, headers: dict[str, str], body: bytes, at: float) -> _Reply | None:
        """Answer one HTTP request and record it; None when the fake stopped meanwhile."""
        split = urlsplit(target)
        if split.path.startswith("/api/"):
            kind, method = "api", split.path[len("/api/") :]
        elif split.path.startswith("/webhook/"):
            kind, method = "webhook", WEBHOOK_PREFIX + split.path[len("/webhook/") :]
        else:
            kind, method = "other", split.path
        args, parse_error = self._parse_args(split.query, headers, body)
        token = self._token(headers, args) if kind == "api" else None
        with self._lock:
            self._arrivals.append((method, at))
            queue = self._faults.get((method, token)) or self._faults.get((method, None))
            fault = queue.popleft() if queue else None
            if fault is _PASS:
                fault = None
            delay = self._delays.get(method, self._delays.get(None, 0.0))
        delay += fault.delay if fault else 0.0
        if delay > 0 and self._stopping.wait(delay):
            return None
        try:
            if fault is not None:
                reply = self._fault_reply(fault, kind)
            elif kind == "api":
                answer, scope_headers = self._api(method, args, token, parse_error)
                reply = _json_reply(HTTPStatus.OK, answer, scope_headers)
            elif kind == "webhook":
                reply = self._webhook(verb, args, parse_error)
            else:
                reply = _text_reply(HTTPStatus.NOT_FOUND, "not_found")
        except Exception:  # a bug in the fake: answer like Slack's fatal_error and keep the traceback
            self._note_error(traceback.format_exc())
            reply = _json_reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "error": "fatal_error"})
        response: JSON | None = None
        if reply.content_type.startswith("application/json"):
            response = json.loads(reply.body)
        call = Call(method, args, headers, token, at, reply.status, response)
        with self._lock:
            self._calls.append(call)
        return reply

    @staticmethod
    def _parse_args(query: str, headers: dict[str, str], body: bytes) -> tuple[JSON, str | None]:
        """Decode query string and body into one dict; the second item is a Slack parse error, if any."""
        fields: dict[str, list[Any]] = {k: list(v) for k, v in parse_qs(query, keep_blank_values=True).items()}
        args: JSON = {}
        error: str | None = None
        content_type = headers.get("content-type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if body:
            try:
                if mime == "application/json":
                    decoded = json.loads(body)
                    if not isinstance(decoded, dict):
                        raise ValueError("not an object")
                    args.update(decoded)
                elif mime in {"application/x-www-form-urlencoded", "text/plain"}:
                    for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
                        fields.setdefault(key, []).extend(values)
                elif mime == "multipart/form-data":
                    for key, value in FakeSlack._parse_multipart(content_type, body):
                        fields.setdefault(key, []).append(value)
                elif not mime:
                    error = "missing_post_type"
                else:
                    error = "invalid_post_type"
            except (ValueError, UnicodeDecodeError):
                error = "invalid_json" if mime == "application/json" else "invalid_form_data"
        for key, values in fields.items():
            args.setdefault(key, values[0] if len(values) == 1 else values)
        for key in JSON_FIELDS:
            value = args.get(key)
            if isinstance(value, str) and value.strip():
                with contextlib.suppress(ValueError):  # left as a string; the method reports it as invalid
                    args[key] = json.loads(value)
        return args, error

    @staticmethod
    def _parse_multipart(content_type: str, body: bytes) -> list[tuple[str, Any]]:
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not message.is_multipart():
            raise ValueError("not multipart")
        parts: list[tuple[str, Any]] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                parts.append((name, payload if part.get_filename() else payload.decode()))
        return parts

    @staticmethod
    def _token(headers: dict[str, str], args: JSON) -> str | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[len("bearer ") :].strip() or None
        token = args.get("token")
        return token if isinstance(token, str) and token else None

    def _fault_reply(self, fault: _Fault, kind: str) -> _Reply:
        status = fault.status
        if kind != "api":  # response_url errors are short plain-text bodies
            default = "rate_limited" if status == HTTPStatus.TOO_MANY_REQUESTS else HTTPStatus(status).phrase
            reply = _text_reply(status, fault.error or default)
        elif status == HTTPStatus.TOO_MANY_REQUESTS:
            reply = _json_reply(status, {"ok": False, "error": fault.error or "ratelimited"})
        elif status == HTTPStatus.INTERNAL_SERVER_ERROR or status < 500:
            default = "internal_error" if status >= 500 else HTTPStatus(status).phrase.lower().replace(" ", "_")
            reply = _json_reply(status, {"ok": False, "error": fault.error or default})
        else:  # 502, 503, 504...: what a load balancer in front of Slack sends
            reply = _text_reply(status, fault.error or HTTPStatus(status).phrase)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            reply = _Reply(reply.status, reply.content_type, reply.body, (("Retry-After", str(fault.retry_after)),))
        return reply

    def _api(
        self, method: str, args: JSON, token: str | None, parse_error: str | None
    ) -> tuple[JSON, tuple[tuple[str, str], ...]]:
        """The answer to a Web API call, and the scope headers Slack sends with it once the token is known."""
        with self._lock:
            custom = self._custom.get(method)
            handler = custom or self._methods.get(method)
            tokens = set(self.tokens)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}, ()
        if parse_error:
            return {"ok": False, "error": parse_error}, ()
        if token is None:
            return {"ok": False, "error": "not_authed"}, ()
        if token not in tokens:
            return {"ok": False, "error": "invalid_auth"}, ()
        granted = self.granted_scopes()
        needed = self.needed_scope(method, args)
        provided = ",".join(granted)
        headers = (("X-OAuth-Scopes", provided), ("X-Accepted-OAuth-Scopes", needed or ""))
        if needed is not None and needed not in granted:
            return {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided}, headers
        try:
            if custom is not None:  # user code runs without the lock held
                return custom(copy.deepcopy(args)), headers
            with self._lock:
                return handler(copy.deepcopy(args)), headers
        except _ApiError as e:
            return e.payload(), headers

    def _webhook(self, verb: str, args: JSON, parse_error: str | None) -> _Reply:
        if verb != "POST":
            return _text_reply(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
        payload = args.get("payload")
        if isinstance(payload, str):  # form-encoded payload=<json>
            try:
                args.update(json.loads(payload))
            except (ValueError, TypeError):
                parse_error = "invalid_payload"
        if parse_error or not args:
            return _text_reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
        if not (args.get("text") or args.get("blocks") or args.get("attachments") or args.get("delete_original")):
            return _text_reply(HTTPStatus.BAD_REQUEST, "no_text")
        return _text_reply(HTTPStatus.OK, "ok")

    # ----- helpers used by the methods (called with the lock held) ---------------------------------------------------

    def _next_counter(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _next_ts(self) -> str:
        """A unique, increasing Slack ts such as "1764370000.000100"."""
        with self._lock:
            micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
            self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel(self, args: JSON, key: str = "channel") -> str:
        """The channel argument, checked against the configured channel state."""
        channel = args.get(key)
        if not isinstance(channel, str) or not channel:
            raise _ApiError("channel_not_found")
        self._check_channel_state(channel)
        return channel

    def _check_channel_state(self, *channels: str) -> None:
        for channel in channels:
            state = self._channels.get(channel, "member")
            if state != "member":
                raise _ApiError(state)

    @staticmethod
    def _required(args: JSON, name: str) -> str:
        value = args.get(name)
        if value is None or value == "":
            raise _missing(name)
        return str(value)

    def _message(self, channel: str, ts: str) -> JSON:
        message = self._messages.get((channel, ts))
        if message is None:
            raise _ApiError("message_not_found")
        return message

    @staticmethod
    def _content(args: JSON) -> JSON:
        """Validated text/blocks/attachments of a message; the text is truncated like Slack does."""
        content: JSON = {}
        blocks = args.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise _ApiError("invalid_blocks_format")
            problems = _check_blocks(blocks, limit=MAX_MESSAGE_BLOCKS, pointer="/blocks")
            if problems:
                raise _ApiError("invalid_blocks", *problems)
            content["blocks"] = blocks
        attachments = args.get("attachments")
        if attachments is not None:
            if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
                raise _ApiError("invalid_attachments")
            if len(attachments) > MAX_ATTACHMENTS:
                raise _ApiError("too_many_attachments")
            content["attachments"] = attachments
        text = args.get("text")
        if not text and not blocks and not attachments:
            raise _ApiError("no_text")
        content["text"] = str(text or "")[:MAX_TEXT_CHARS]
        return content

    def _bot_message(self, ts: str, content: JSON) -> JSON:
        """A message of the bot as Slack stores it (and returns it from chat.postMessage and the history)."""
        profile = {
            "id": self.bot_id,
            "deleted": False,
            "name": self.user,
            "updated": self._created,
            "app_id": self.app_id,
            "icons": dict(BOT_ICONS),
            "team_id": self.team_id,
        }
        return {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "bot_profile": profile,
            "ts": ts,
            **content,
        }

    def _note_reply(self, channel: str, thread_ts: str, ts: str, user: str) -> str | None:
        """Count the reply `ts` by `user` on its parent, as Slack does; the parent's author (None when the parent is
        not known)."""
        parent = self._messages.get((channel, thread_ts))
        if parent is None:
            return None
        parent["thread_ts"] = thread_ts
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = parent.setdefault("reply_users", [])
        if user not in users:
            users.append(user)
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = ts
        parent.setdefault("is_locked", False)
        # The author of a thread's parent follows the thread; the bot sees itself subscribed to its own threads.
        parent["subscribed"] = parent.get("user") == self.bot_user_id
        author = parent.get("user")
        return author if isinstance(author, str) else None

    def _listed(self, message: JSON, *, metadata: bool) -> JSON:
        """`message` as conversations.history and conversations.replies return it: text-only messages carry the
        `rich_text` blocks Slack derives from the text, and `metadata` only when asked for."""
        listed = copy.deepcopy(message)
        if "blocks" not in listed and isinstance(listed.get("text"), str) and listed["text"]:
            listed["blocks"] = rich_text(listed["text"])
        if not metadata:
            listed.pop("metadata", None)
        return listed

    def _trigger(self, args: JSON) -> str:
        trigger_id = args.get("trigger_id")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise _missing("trigger_id")
        if not TRIGGER_ID.match(trigger_id):
            raise _ApiError("invalid_trigger_id")
        if trigger_id in self._expired_triggers:
            raise _ApiError("expired_trigger_id")
        if trigger_id in self._exchanged_triggers:
            raise _ApiError("exchanged_trigger_id")
        return trigger_id

    @staticmethod
    def _checked_view(args: JSON, kind: str) -> JSON:
        """The view argument, validated the way Slack validates a modal or Home tab."""
        view = args.get("view")
        if view is None or view == "":
            raise _missing("view")
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments", "[ERROR] failed to parse view JSON [json-pointer:/view]")
        problems: list[str] = []
        if view.get("type") != kind:
            problems.append(f"[ERROR] must be {kind!r} [json-pointer:/view/type]")
        if "blocks" not in view:
            problems.append("[ERROR] missing required field: blocks [json-pointer:/view/blocks]")
        else:
            problems += _check_blocks(view["blocks"], limit=MAX_VIEW_BLOCKS, pointer="/view/blocks")
        if kind == "modal":
            for field, required in (("title", True), ("submit", False), ("close", False)):
                if field not in view:
                    if required:
                        problems.append(f"[ERROR] missing required field: {field} [json-pointer:/view/{field}]")
                    continue
                text = _text_of(view[field])
                if not text or len(text) > MAX_VIEW_TITLE:
                    problems.append(f"[ERROR] must be 1-{MAX_VIEW_TITLE} characters [json-pointer:/view/{field}/text]")
            blocks = view.get("blocks")
            blocks = blocks if isinstance(blocks, list) else []
            has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
            if has_input and "submit" not in view:
                problems.append("[ERROR] must provide a submit property when using input blocks [json-pointer:/view]")
        if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
            problems.append(_too_long(MAX_PRIVATE_METADATA, "/view/private_metadata"))
        if len(str(view.get("callback_id", ""))) > MAX_CALLBACK_ID:
            problems.append(_too_long(MAX_CALLBACK_ID, "/view/callback_id"))
        if problems:
            raise _ApiError("invalid_arguments", *problems)
        return view

    def _store_view(self, view: JSON, *, view_id: str | None = None, root_view_id: str | None = None) -> JSON:
        new_id = view_id or f"V{self._next_counter():08X}"
        external_id = str(view.get("external_id", ""))
        owner = self._external_ids.get(external_id)
        if external_id and owner is not None and owner != new_id:
            raise _ApiError("duplicate_external_id")
        stored: JSON = {
            "id": new_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": external_id,
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._next_counter():08x}",
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": _truthy(view.get("clear_on_close", False)),
            "notify_on_close": _truthy(view.get("notify_on_close", False)),
            "previous_view_id": None,
            "root_view_id": root_view_id or new_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[new_id] = stored
        if external_id:
            self._external_ids[external_id] = new_id
        return {"ok": True, "view": copy.deepcopy(stored)}

    # ----- Web API methods (called with the lock held) ---------------------------------------------------------------

    def _auth_test(self, args: JSON) -> JSON:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": self.team,
            "user": self.user,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JSON) -> JSON:
        channel = self._channel(args)
        if channel[0] in "UW":  # posting to a user id posts into the bot's DM with that user
            self._check_channel_state(f"D{channel}")
            channel = f"D{channel}"
        content = self._content(args)
        ts = self._next_ts()
        message = self._bot_message(ts, content)
        thread_ts = args.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            if _truthy(args.get("reply_broadcast", False)):
                message["subtype"] = "thread_broadcast"
            parent_user = self._note_reply(channel, str(thread_ts), ts, self.bot_user_id)
            if parent_user:
                message["parent_user_id"] = parent_user
        if isinstance(args.get("metadata"), dict):
            message["metadata"] = args["metadata"]
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, args: JSON) -> JSON:
        channel = self._channel(args)
        user = self._required(args, "user")
        content = self._content(args)
        ts = self._next_ts()
        ephemeral: JSON = {"channel": channel, "user": user, "ts": ts, **content}
        if args.get("thread_ts"):
            ephemeral["thread_ts"] = str(args["thread_ts"])
        self._ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": ts}

    def _chat_update(self, args: JSON) -> JSON:
        channel = self._channel(args)
        ts = self._required(args, "ts")
        message = self._message(channel, ts)
        if message.get("user") != self.bot_user_id:  # a bot token edits only the bot's own messages
            raise _ApiError("cant_update_message")
        content = self._content(args)
        message["text"] = content["text"]
        for field in ("blocks", "attachments", "metadata"):  # omitted fields keep their previous value
            value = content.get(field, args.get(field))
            if value is not None:
                message[field] = value
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": copy.deepcopy(message)}

    def _chat_delete(self, args: JSON) -> JSON:
        channel = self._channel(args)
        ts = self._required(args, "ts")
        if self._message(channel, ts).get("user") != self.bot_user_id:
            raise _ApiError("cant_delete_message")
        del self._messages[(channel, ts)]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_get_permalink(self, args: JSON) -> JSON:
        channel = self._channel(args)
        ts = self._required(args, "message_ts")
        message = self._message(channel, ts)
        permalink = f"{PERMALINK_BASE}/{channel}/p{ts.replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _conversations_open(self, args: JSON) -> JSON:
        if args.get("channel"):
            channel = self._channel(args)
            return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        channel = f"D{users[0]}" if len(users) == 1 else "G" + "".join(sorted(users))
        if len(users) > 1:
            self._mpims.add(channel)
        return {"ok": True, "no_op": False, "already_open": False, "channel": {"id": channel}}

    def _conversations_info(self, args: JSON) -> JSON:
        channel = args.get("channel")
        if not isinstance(channel, str) or not channel or self._channels.get(channel) == "channel_not_found":
            raise _ApiError("channel_not_found")
        state = self._channels.get(channel, "member")
        info: JSON = {"id": channel, "created": self._created, "is_archived": state == "is_archived"}
        if channel.startswith("D"):
            info.update(is_im=True, is_org_shared=False, context_team_id=self.team_id, user=channel[1:])
            info.update(is_user_deleted=False, priority=0)
            return {"ok": True, "channel": info}
        mpim = channel in self._mpims
        info.update(
            name=channel.lower(),
            is_channel=channel.startswith("C"),
            is_group=channel.startswith("G") and not mpim,
            is_im=False,
            is_mpim=mpim,
            is_private=not channel.startswith("C"),
            is_general=False,
            is_shared=False,
            is_ext_shared=False,
            is_org_shared=False,
            is_pending_ext_shared=False,
            is_member=state != "not_in_channel",
            context_team_id=self.team_id,
            creator="U0HUMAN",
            topic={"value": "", "creator": "", "last_set": 0},
            purpose={"value": "", "creator": "", "last_set": 0},
        )
        return {"ok": True, "channel": info}

    def _conversations_history(self, args: JSON) -> JSON:
        channel = self._channel(args)
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or "inf")
        inclusive = _truthy(args.get("inclusive"))
        found = [
            m
            for (ch, ts), m in self._messages.items()
            if ch == channel
            and (m.get("thread_ts", ts) == ts or m.get("subtype") == "thread_broadcast")
            and (oldest <= float(ts) <= latest if inclusive else oldest < float(ts) < latest)
        ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)  # newest first, as Slack pages history
        page = self._page(found, args, default_limit=100)
        return {
            "ok": True,
            "messages": page["messages"],
            "has_more": page["has_more"],
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": page["response_metadata"],
        }

    def _conversations_replies(self, args: JSON) -> JSON:
        channel = self._channel(args)
        ts = self._required(args, "ts")
        asked = self._messages.get((channel, ts))
        if asked is None:
            raise _ApiError("thread_not_found")
        root = str(asked.get("thread_ts") or ts)  # the ts of a reply stands for its whole thread
        found = [m for (ch, mts), m in self._messages.items() if ch == channel and root in (mts, m.get("thread_ts"))]
        found.sort(key=lambda m: float(m["ts"]))  # the parent first, then its replies oldest first
        page = self._page(found, args, default_limit=1000)
        return {"ok": True, **page}

    def _page(self, found: list[JSON], args: JSON, *, default_limit: int) -> JSON:
        """One page of messages, as Slack pages them: `limit` and an opaque `cursor`; metadata only when asked for
        with `include_all_metadata`."""
        limit = int(args.get("limit") or default_limit)
        cursor = str(args.get("cursor") or "")
        start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        metadata = _truthy(args.get("include_all_metadata"))
        messages = [self._listed(m, metadata=metadata) for m in found[start : start + limit]]
        more = start + limit < len(found)
        next_cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        return {"messages": messages, "has_more": more, "response_metadata": {"next_cursor": next_cursor}}

    def _reaction_target(self, args: JSON) -> tuple[str, JSON]:
        channel = self._channel(args)
        return channel, self._message(channel, self._required(args, "timestamp"))

    def _reactions_add(self, args: JSON) -> JSON:
        _, message = self._reaction_target(args)
        name = self._required(args, "name").strip(":")
        reactions: list[JSON] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise _ApiError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {"ok": True}

    def _reactions_remove(self, args: JSON) -> JSON:
        _, message = self._reaction_target(args)
        name = self._required(args, "name").strip(":")
        reactions: list[JSON] = message.get("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name and self.bot_user_id in r["users"]), None)
        if reaction is None:
            raise _ApiError("no_reaction")
        reaction["users"].remove(self.bot_user_id)
        reaction["count"] -= 1
        if not reaction["count"]:
            reactions.remove(reaction)
        if not reactions:
            message.pop("reactions", None)
        return {"ok": True}

    def _reactions_get(self, args: JSON) -> JSON:
        channel, message = self._reaction_target(args)
        listed = self._listed(message, metadata=False)
        listed["permalink"] = f"{PERMALINK_BASE}/{channel}/p{str(message['ts']).replace('.', '')}"
        return {"ok": True, "type": "message", "channel": channel, "message": listed}

    def _usergroups_users_list(self, args: JSON) -> JSON:
        group = self._required(args, "usergroup")
        if group not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[group])}

    def _views_open(self, args: JSON) -> JSON:
        trigger_id = self._trigger(args)
        view = self._checked_view(args, "modal")
        answer = self._store_view(view)
        self._exchanged_triggers.add(trigger_id)
        return answer

    def _views_push(self, args: JSON) -> JSON:
        return self._views_open(args)

    def _views_update(self, args: JSON) -> JSON:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            raise _missing("view_id")
        if not view_id:
            view_id = self._external_ids.get(str(external_id))
        current = self._views.get(str(view_id)) if view_id else None
        if current is None:
            raise _ApiError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        view = self._checked_view(args, current["type"])
        return self._store_view(view, view_id=current["id"], root_view_id=current["root_view_id"])

    def _views_publish(self, args: JSON) -> JSON:
        user_id = self._required(args, "user_id")
        view = self._checked_view(args, "home")
        current = self._views.get(self._home_views.get(user_id, ""))
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        answer = self._store_view(view, view_id=current["id"] if current else None)
        self._home_views[user_id] = answer["view"]["id"]
        return answer
