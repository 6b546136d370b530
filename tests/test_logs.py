"""Logs and stopping: JSON lines with a request id carried into the work after the response, secrets scrubbed from
every record (the libraries' included), the text format, and a SIGTERM that finishes what was acknowledged."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot import logs, serving
from bot.embedded_redis import find_redis_server
from bot.settings import Settings, SettingsError, load_settings
from tests.fakeslack import FakeSlack
from tests.slack_support import (
    BOT_TOKEN,
    CHANNEL,
    REQUIRED_ANSWERS,
    SIGNING_SECRET,
    TEAM,
    USER,
    BotClient,
    sign,
    thread_message,
    trigger_id,
)
from tests.test_serve import Served, clean_env, free_port, stored_decisions
from tests.test_serve import serve_env as serve_env  # noqa: PLC0414 - the fixture, shared

APP_TOKEN = "xapp-1-A0FAKE-1234567890-abcdef"
REDIS_PASSWORD = "hunter2-redis-secret"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A buffer for the root logger configured as the bot configures it; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of the output, parsed; fails on a line that is not one JSON object."""
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all(isinstance(line, dict) for line in parsed)
    return parsed


def secret_settings() -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=APP_TOKEN,
        redis_url=f"redis://default:{REDIS_PASSWORD}@127.0.0.1:6390/0",
        log_level="DEBUG",
    )


# --- the formats ---------------------------------------------------------------------------------------------------


def test_json_lines_carry_time_level_logger_message_request_id_extras_and_the_exception(
    captured: io.StringIO,
) -> None:
    logs.configure(level="DEBUG", fmt="json", stream=captured)
    log = logging.getLogger("bot.example")
    log.info("outside any request")
    with logs.using_request_id("0123abcd4567"):
        log.debug("decided %s", "fine-tune", extra={"kind": "command", "duration_ms": 2.5})
        try:
            raise ValueError("no such rule")
        except ValueError:
            log.exception("it failed")
    first, second, third = lines(captured)

    assert set(first) == {"time", "level", "logger", "message"}
    assert first["time"].endswith("Z")
    assert datetime.fromisoformat(first["time"]).utcoffset() == timedelta(0)
    assert (first["level"], first["logger"], first["message"]) == ("INFO", "bot.example", "outside any request")
    assert second == {
        "time": second["time"],
        "level": "DEBUG",
        "logger": "bot.example",
        "message": "decided fine-tune",
        "request_id": "0123abcd4567",
        "kind": "command",
        "duration_ms": 2.5,
    }
    assert third["level"] == "ERROR"
    assert third["request_id"] == "0123abcd4567"
    assert third["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: no such rule" in third["exception"]


def test_text_format_is_one_readable_line_with_the_request_id(captured: io.StringIO) -> None:
    settings = Settings(_env_file=None, log_format="text", log_level="INFO")
    serving.configure_logging(settings)
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h.formatter, logs.TextFormatter)]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured)
    log = logging.getLogger("bot.example")
    log.debug("not shown at INFO")
    with logs.using_request_id("feedface0001"):
        log.info("posted the verdict")
    log.warning("no request here")
    first, second = captured.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" INFO bot\.example: posted the verdict \[feedface0001\]", first), first
    assert re.fullmatch(stamp + r" WARNING bot\.example: no request here", second), second


def test_configuring_again_replaces_the_handler_instead_of_adding_one(captured: io.StringIO) -> None:
    logs.configure(level="INFO", fmt="json", stream=io.StringIO())
    logs.configure(level="INFO", fmt="json", stream=captured)
    logging.getLogger("bot.example").info("once")
    assert [line["message"] for line in lines(captured)] == ["once"]


def test_the_log_format_setting_accepts_json_and_text_only() -> None:
    assert Settings(_env_file=None).log_format == "json"
    assert Settings(_env_file=None, log_format="TEXT").log_format == "text"
    with pytest.raises(SettingsError, match="setting SHOULD_FINETUNE_LOG_FORMAT: expected json or text"):
        load_settings(_env_file=None, log_format="xml")


# --- redaction -----------------------------------------------------------------------------------------------------


SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, REDIS_PASSWORD, "xoxp-9999-personal", "Zm9vOmJhcg==")


def log_secrets_from_libraries(handler: logging.Handler) -> None:
    """What a library might log at DEBUG, deliberately: every way a secret can travel in a record."""
    url = f"redis://default:{REDIS_PASSWORD}@127.0.0.1:6390/0"
    logging.getLogger("slack_sdk.web.base_client").debug(
        "Sending a request - url: https://slack.com/api/chat.postMessage, headers: %s",
        {"Authorization": f"Bearer {BOT_TOKEN}", "Content-Type": "application/json"},
    )
    logging.getLogger("urllib3.connectionpool").debug("POST /api/auth.test token=xoxp-9999-personal HTTP/1.1")
    logging.getLogger("redis.connection").debug("connecting to %s", url)
    logging.getLogger("waitress").debug("request headers: Authorization: Basic Zm9vOmJhcg==")
    logging.getLogger("slack_bolt.App").debug("signing secret %s, app token %s", SIGNING_SECRET, APP_TOKEN)
    logging.getLogger("slack_sdk.socket_mode").debug("raw %s", f"authorization=bearer {APP_TOKEN}")
    logging.getLogger("bot.example").info("context", extra={"headers": {"authorization": f"Bearer {BOT_TOKEN}"}})
    try:
        raise ConnectionError(f"cannot reach {url} with {BOT_TOKEN}")
    except ConnectionError:
        logging.getLogger("redis").exception("failed")
    logging.getLogger("slack_sdk").debug("stack", stack_info=True, extra={"note": f"token {BOT_TOKEN}"})
    # Arguments that do not fit the format, straight to the handler (pytest's own capture would fail on it first).
    unformattable = ("bad", "arguments", f"too many {BOT_TOKEN}")
    handler.handle(logging.makeLogRecord({"name": "slack_sdk", "msg": "%s %s", "args": unformattable}))


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_the_output_even_when_libraries_log_them(captured: io.StringIO, fmt: str) -> None:
    settings = secret_settings()
    handler = logs.configure(level="DEBUG", fmt=fmt, literals=logs.secrets_of(settings), stream=captured)
    log_secrets_from_libraries(handler)
    output = captured.getvalue()
    for secret in SECRETS:
        assert secret not in output
    assert "Authorization': 'Bearer [redacted]'" in output
    assert "redis://default:[redacted]@127.0.0.1:6390/0" in output
    assert "ConnectionError: cannot reach redis://default:[redacted]@" in output
    assert "'bad', 'arguments', 'too many [redacted]'" in output  # the unformattable record is kept, scrubbed
    if fmt == "json":
        parsed = lines(captured)
        assert len(parsed) == 10
        assert parsed[6]["headers"] == {"authorization": "Bearer [redacted]"}


def test_the_configured_secrets_are_scrubbed_whatever_their_shape() -> None:
    literals = logs.secrets_of(secret_settings())
    assert SIGNING_SECRET in literals
    assert REDIS_PASSWORD in literals
    text = f"secret={SIGNING_SECRET}; pw {REDIS_PASSWORD}"
    assert logs.scrub(text, literals) == "secret=[redacted]; pw [redacted]"
    # Shapes, without any configuration.
    assert logs.scrub("xoxb-1-2-abc xoxe.xoxp-1-2 xapp-1-A-2") == "xoxb-[redacted] xoxe.xoxp-[redacted] xapp-[redacted]"
    assert logs.scrub("rediss://:p4ss@host:6380/0") == "rediss://:[redacted]@host:6380/0"
    assert logs.scrub("http://127.0.0.1:3000/slack/events") == "http://127.0.0.1:3000/slack/events"


# --- the served bot ------------------------------------------------------------------------------------------------


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own that wants a password; its URL."""
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--requirepass", REDIS_PASSWORD, "--save", ""]
    process = subprocess.Popen(
        [find_redis_server(), *args, "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    yield f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def parsed_output(output: str) -> list[dict[str, Any]]:
    """The served process's output: every line must be one JSON object with the four fields every line has."""
    parsed = []
    for line in output.splitlines():
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
        parsed.append(record)
    return parsed


def test_a_served_bot_logs_json_with_one_request_id_from_the_request_to_its_background_work(
    tmp_path: Path, fake_slack: FakeSlack, password_redis: str
) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        REDIS_URL=password_redis,
        SHOULD_FINETUNE_REDIS_PREFIX=f"sf-logs-{time.time_ns()}",
        SHOULD_FINETUNE_LOG_LEVEL="DEBUG",
    )
    served = Served(env, tmp_path)
    try:
        bot = BotClient(served.url, services=None, fake=fake_slack)  # type: ignore[arg-type]
        verdict = bot.decide()
        asking = thread_message("why", thread_ts=verdict)
        assert bot.event(asking, retry_num=1, reason="http_timeout").status == 200
        bot.wait_replies(verdict, 2)
    finally:
        code, output = served.stop()
    assert code == 0, output
    for secret in (BOT_TOKEN, SIGNING_SECRET, REDIS_PASSWORD):
        assert secret not in output
    records = parsed_output(output)

    access = [r for r in records if r["logger"] == "bot.access" and r["path"] == "/slack/events"]
    probes = [r for r in records if r["logger"] == "bot.access" and r["path"] == "/healthz"]
    assert probes  # Served waits for /healthz before it returns
    assert all(r["level"] == "DEBUG" and r["kind"] == "health" for r in probes)
    by_kind = {r["kind"]: r for r in access}
    assert {"command", "view_submission", "event:message"} <= set(by_kind)
    for record in access:
        assert record["level"] == "INFO"
        assert record["http_method"] == "POST"
        assert record["status"] == 200
        assert isinstance(record["duration_ms"], float)
        assert re.fullmatch(r"[0-9a-f]{12}", record["request_id"])
    assert len({r["request_id"] for r in access}) == len(access)  # one id per request
    asked = by_kind["event:message"]
    assert (asked["retry_num"], asked["retry_reason"]) == (1, "http_timeout")

    def web_api_calls(request_id: str, method: str) -> list[dict[str, Any]]:
        return [
            r
            for r in records
            if r.get("request_id") == request_id
            and r["logger"].startswith("slack_sdk")
            and f"/api/{method}" in r["message"]
        ]

    # Posting the verdict and answering the question run after their responses, on worker threads, with the id.
    assert web_api_calls(by_kind["view_submission"]["request_id"], "chat.postMessage")
    assert web_api_calls(asked["request_id"], "chat.postMessage")
    assert web_api_calls(by_kind["command"]["request_id"], "views.open")
    assert not web_api_calls(by_kind["command"]["request_id"], "chat.postMessage")


# --- stopping ------------------------------------------------------------------------------------------------------


def test_sigterm_after_the_form_closed_still_posts_the_verdict_then_exits_0(
    tmp_path: Path, fake_slack: FakeSlack, serve_env: dict[str, str]
) -> None:
    served = Served(serve_env, tmp_path)
    try:
        bot = BotClient(served.url, services=None, fake=fake_slack)  # type: ignore[arg-type]
        assert bot.command().status == 200
        fake_slack.wait_for("views.open", 1)
        fake_slack.set_delay("chat.postMessage", 2.0)
        assert bot.submit(REQUIRED_ANSWERS).status == 200  # acknowledged: the form closes
        served.process.send_signal(signal.SIGTERM)
        signalled = time.time()
        output, _ = served.process.communicate(timeout=60)
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()
    assert served.process.returncode == 0, output

    posts = fake_slack.calls("chat.postMessage")
    assert len(posts) >= 2  # the verdict and its explanation, each answered 2 s after it was sent
    assert all(call.response is not None and call.response["ok"] for call in posts)
    assert posts[-1].at + 2.0 > signalled  # still being answered when the signal came
    (decision,) = stored_decisions(Path(serve_env["SHOULD_FINETUNE_DATA_DIR"]))
    assert decision.delivery.status == "posted"  # recorded in Redis after the post, before Redis stopped
    messages = [record["message"] for record in parsed_output(output)]
    assert "stopped accepting; finishing the work acknowledged to Slack" in messages
    assert messages[-1] == "stopped"


def read_until(sock: socket.socket, marker: bytes, received: bytes = b"") -> bytes:
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_sigterm_refuses_new_connections_and_answers_the_request_in_progress(
    tmp_path: Path, fake_slack: FakeSlack, serve_env: dict[str, str]
) -> None:
    served = Served(serve_env, tmp_path)
    fields = {
        "team_id": TEAM,
        "channel_id": CHANNEL,
        "user_id": USER,
        "command": "/should-finetune",
        "text": "half sent",
        "response_url": fake_slack.response_url("command"),
        "trigger_id": trigger_id(),
    }
    body = urlencode(fields).encode()
    headers = {
        "Host": "127.0.0.1",
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
        "Expect": "100-continue",  # the server says when it has read the headers
        **sign(body),
    }
    head = "POST /slack/events HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    try:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as client:
            client.sendall(head.encode())
            assert read_until(client, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
            served.process.send_signal(signal.SIGTERM)

            deadline = time.monotonic() + 10
            while True:  # the listening socket closes: a new connection is refused
                try:
                    socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
                except ConnectionRefusedError:
                    break
                except ConnectionResetError:
                    pass  # connected while the listening socket was closing: try again
                assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
                time.sleep(0.05)
            assert served.process.poll() is None  # waiting for the request it began to receive

            client.sendall(body)
            response = read_until(client, b"\r\n\r\n")
        output, _ = served.process.communicate(timeout=60)
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()
    assert response.startswith(b"HTTP/1.1 200 OK"), response
    assert served.process.returncode == 0, output
    (opened,) = fake_slack.calls("views.open")  # the form opened after the response, before the exit
    assert opened.args["trigger_id"] == fields["trigger_id"]
    assert opened.response is not None
    assert opened.response["ok"]
