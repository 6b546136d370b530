"""The HTTP front: `/slack/events` for everything Slack sends, `/healthz` and `/readyz`, served by waitress.

Requests are checked here before Bolt parses them: a body over the size cap gets 413 unread, and anything not
signed as Slack signs it gets 401, including the malformed headers that make Bolt's own check raise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from waitress.server import create_server as waitress_server  # type: ignore[import-untyped]

from bot.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Headers Bolt obeys but Slack never sends and never signs: a caller could use them to run lazy listeners directly.
_UNSIGNED_CONTROL_HEADERS = ("x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


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


def malformed(body: object) -> str | None:
    """What is wrong with a parsed request body's shape, for the fields Bolt reads to route it; None if fine."""
    if not isinstance(body, dict):
        return "the body is not an object"
    kind = body.get("type")
    if "command" in body and not _is_str(body["command"]):
        return "command is not a string"
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
    elif kind in {"shortcut", "message_action", "block_suggestion"} and not _is_str(
        body.get("callback_id") or body.get("action_id")
    ):
        return "callback_id is missing"
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

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            return _json("200 OK", {"status": "ok"}, start_response)
        if path == "/readyz":
            ready = self.ready()
            return _json("200 OK" if ready else "503 Service Unavailable", {"ready": ready}, start_response)
        if path != EVENTS_PATH:
            return _json("404 Not Found", {"error": "not found"}, start_response)
        if method != "POST":
            return _json("405 Method Not Allowed", {"error": "POST only"}, start_response)
        return self.slack_request(environ, start_response)

    def ready(self) -> bool:
        """Redis answers and the rule set is loaded."""
        try:
            return self.services.store.ping() and bool(self.services.decisions.ruleset.rules)
        except Exception:  # a readiness probe answers "no", it does not fail
            return False

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
        if not self._signed(raw, headers):
            return _json("401 Unauthorized", {"error": "invalid request"}, start_response)
        try:
            request = BoltRequest(body=raw.decode("utf-8"), headers=headers)  # parses the body: JSON or form
        except Exception:  # any parse failure of a signed body is the sender's problem, not a server error
            return _json("400 Bad Request", {"error": "unreadable body"}, start_response)
        problem = malformed(request.body)
        if problem is not None:
            # Bolt's matchers index into these shapes and would fail with a 500; Slack never sends them.
            log.warning("signed request refused: %s", problem)
            return _json("400 Bad Request", {"error": problem}, start_response)
        response = self.app.dispatch(request)
        payload = response.body.encode() if isinstance(response.body, str) else response.body
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}
        status = f"{response.status} {reason.get(response.status, 'Status')}"
        out_headers = [
            (k, v) for k, values in response.headers.items() for v in values if k.lower() != "content-length"
        ]
        out_headers.append(("Content-Length", str(len(payload))))
        start_response(status, out_headers)
        return [payload]

    def _signed(self, body: bytes, headers: dict[str, str | Sequence[str]]) -> bool:
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not isinstance(timestamp, str) or not isinstance(signature, str):
            return False
        if not timestamp.isdigit() or not signature.startswith("v0="):
            return False
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
