"""Log lines: JSON objects (or plain text) on stderr, each with the id of the request it belongs to, scrubbed of
secrets.

The request id lives in a context variable set for each HTTP request; `Services.run_soon` runs work in a copy of
the context, so lines logged after the response carry the same id. The redaction filter sits on the handler, so it
sees every record that reaches the output, the libraries' included (slack_sdk, waitress, redis at DEBUG): tokens,
`Authorization` values, passwords in URLs and the configured secrets' literal values are replaced before any
formatting happens.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.settings import Settings

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactingFilter",
    "RequestIdFilter",
    "TextFormatter",
    "configure",
    "request_id",
    "scrub",
    "secrets_of",
    "using_request_id",
]

REDACTED = "[redacted]"
_request_id: ContextVar[str | None] = ContextVar("should_finetune_request_id", default=None)

# Secrets by their shape: Slack tokens (xoxb-, xoxp-, rotating xoxe.xoxb-, xapp-), the credential of an
# Authorization header or a bare Bearer token, and the password part of any URL (redis://user:pass@host).
_PATTERNS = re.compile(
    r"(?P<token>\bx(?:ox[a-z](?:\.xox[a-z])?|app)-[A-Za-z0-9-]+)"
    r"|(?P<auth>(?i:authorization)['\"]?\s*[:=]\s*['\"]?(?:(?i:bearer|basic|token)\s+)?)[^\s'\",;}]+"
    r"|(?P<bearer>\b(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"  # long enough to be a credential, not a word
    r"|(?P<url>\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@'\"/]+@"
)
# Shorter configured values are left to the patterns: replacing them literally would blank ordinary words.
_MIN_LITERAL = 8

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "request_id",
        "taskName",
    }
)


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "token":
        return match.group("token").split("-", 1)[0] + "-" + REDACTED
    if kind == "url":
        return match.group("url") + REDACTED + "@"
    return match.group(kind or 0) + REDACTED


def scrub(text: str, literals: Iterable[str] = ()) -> str:
    """`text` with secrets replaced: the configured `literals` and anything shaped like a token or credential."""
    for literal in literals:
        if literal in text:
            text = text.replace(literal, REDACTED)
    return _PATTERNS.sub(_replace, text)


def secrets_of(settings: Settings) -> list[str]:
    """The configured secret values long enough to be replaced wherever they appear."""
    values = [
        secret.get_secret_value()
        for secret in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token)
        if secret is not None
    ]
    if settings.redis_url is not None:  # its password only: the rest of the URL helps whoever reads the log
        password = re.match(r"[a-z]+://[^:@/]*:([^@/]+)@", settings.redis_url.get_secret_value())
        if password:
            values.append(password.group(1))
    return sorted({v for v in values if len(v) >= _MIN_LITERAL}, key=len, reverse=True)


# The request id


def request_id() -> str | None:
    """The id of the request being handled (or whose work is being done), if any."""
    return _request_id.get()


@contextmanager
def using_request_id(value: str) -> Iterator[None]:
    """Log with `value` as the request id inside the block."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record (in the emitting thread, where the context is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `record.request_id`; never drops a record."""
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class RedactingFilter(logging.Filter):
    """Scrubs message, arguments, exception and stack text, and `extra=` strings, of every record it sees."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        self.literals = tuple(literals)
        self._traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, scrubbed, rather than lose the line
            message = f"{record.msg!s} (arguments {record.args!r})"
        record.msg, record.args = scrub(message, self.literals), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.literals)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self.literals)
        fields = record.__dict__
        for name in [name for name in fields if name not in _STANDARD]:
            value = fields[name]
            if not isinstance(value, int | float | bool | None):
                fields[name] = self._scrubbed(value)
        return True

    def _scrubbed(self, value: object) -> object:
        """An `extra=` value scrubbed: a string as text, anything else through its JSON form."""
        if isinstance(value, str):
            return scrub(value, self.literals)
        text = json.dumps(value, ensure_ascii=False, default=str)
        cleaned = scrub(text, self.literals)
        if cleaned == text:
            return value
        try:
            return json.loads(cleaned)
        except ValueError:
            return cleaned


# Formats


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, request_id, exception, and the
    record's `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            line["request_id"] = rid
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        fields = record.__dict__
        for name in [name for name in fields if name not in _STANDARD]:
            line.setdefault(name, fields[name])
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [request_id]`, with the exception below, for reading in a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line, with the request id at its end when there is one."""
        line = super().formatMessage(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [{rid}]" if rid is not None else line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The bot's own handler, so that configuring again replaces it instead of adding another."""


def configure(*, level: str, fmt: str, literals: Iterable[str] = (), stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at `level` and above to `stream` (stderr) as `fmt` (json or text), scrubbed."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(literals))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
