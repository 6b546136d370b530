"""No secret in a log line or an HTTP answer, on any error path, with logging at DEBUG.

The bot token, the app-level token, the signing secret and a password in REDIS_URL are set to values found nowhere
else, logging is set up by the bot's own `configure_logging` (the one `serve` and `socket` use) at DEBUG, and every
error path the tests can reach is driven: signatures that fail, bodies over the cap, malformed and replayed
requests, Slack answering invalid_auth, 5xx, 429 and too slowly, Redis gone, a listener raising. Then every log line
and every HTTP answer (status, headers, body) is searched for each secret, for its secret part, for anything shaped
like a Slack token (`xoxb-…`, `xapp-…` followed by token characters) and for an `Authorization` value.

The start-up error paths run as users run them, `should-finetune serve` (and `socket`) in a subprocess: a token
Slack refuses, and a Redis that cannot be reached whose URL carries a password; and one served process at DEBUG
taking requests that fail, until SIGTERM.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot import serving
from bot.embedded_redis import EmbeddedRedis
from bot.logs import REDACTED
from bot.settings import load_settings
from bot.store import connect_redis
from tests.fakeslack import FakeSlack
from tests.inprocess import Answer, InProcessBot, in_process_bot, seed_world
from tests.payloads import World, signature
from tests.security_support import world_bot
from tests.slack_support import (
    REQUIRED_ANSWERS,
    bot_settings,
    event_callback,
    http,
    serving_in_thread,
    submission_payload,
    thread_message,
)

BOT_TOKEN = "xoxb-7331-SECRETBOTPART-q9Zt2"
APP_TOKEN = "xapp-1-A0FAKE-7331-SECRETAPPPART"
SIGNING_SECRET = "5ec7e7c0ffee7331f00dbeef0a1b2c3d"  # 32 hexadecimal characters, as Slack issues them
REDIS_PASSWORD = "redisSECRETpassword7331"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, REDIS_PASSWORD)
# The parts that make each secret secret: found alone, they are a leak too (a token cut or re-quoted).
SECRET_PARTS = ("SECRETBOTPART", "SECRETAPPPART", "c0ffee7331f00dbeef", "redisSECRETpassword")
# Anything shaped like a Slack token or an Authorization value, other than the redacted form.
TOKEN_SHAPED = re.compile(r"\bx(?:ox[a-z](?:\.xox[a-z])?|app)-(?!\[redacted\])[A-Za-z0-9]")
AUTHORIZATION_VALUE = re.compile(
    r"(?i:authorization)['\"]?\s*[:=]\s*['\"]?(?!\[redacted\])(?:(?i:bearer|basic|token)\s+)?(?!\[redacted\])\w"
)
BEARER = re.compile(r"(?i:bearer)\s+(?!\[redacted\])[A-Za-z0-9]")


def leaks(text: str) -> list[str]:
    """Every secret, secret part, token-shaped string and Authorization value in `text`, with some context."""
    found = []
    for needle in (*SECRETS, *SECRET_PARTS):
        for at in [m.start() for m in re.finditer(re.escape(needle), text)][:3]:
            found.append(f"{needle!r}: …{text[max(0, at - 120) : at + 60]!r}…")
    for pattern in (TOKEN_SHAPED, AUTHORIZATION_VALUE, BEARER):
        for match in list(pattern.finditer(text))[:3]:
            found.append(f"{pattern.pattern[:30]}: …{text[max(0, match.start() - 120) : match.end() + 40]!r}…")
    return found


def answer_text(answer: Answer) -> str:
    """An HTTP answer as text: status, headers and body."""
    headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
    return f"{answer.status}\n{headers}\n\n{answer.body.decode('utf-8', 'replace')}"


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything the bot logs, set up by its own configure_logging at DEBUG, written here instead of stderr."""
    stream = io.StringIO()
    settings = load_settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        log_level="DEBUG",
    )
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    real_stderr = sys.stderr
    sys.stderr = stream  # configure_logging writes to the stderr of the moment
    try:
        serving.configure_logging(settings)
    finally:
        sys.stderr = real_stderr
    yield stream
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def _secret_settings(**values: Any) -> dict[str, Any]:
    return {
        "slack_bot_token": BOT_TOKEN,
        "slack_app_token": APP_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "tokens": (BOT_TOKEN,),
        **values,
    }


# --- in-process: every error path a request can take ------------------------------------------------------------------


def _signed(bot: InProcessBot, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Answer:
    answer = bot.request(body, headers=bot.sign(body), content_type=content_type)
    bot.drain()
    return answer


def _command(bot: InProcessBot, world: World, text: str = "") -> Answer:
    fields = {
        "team_id": world.team,
        "channel_id": world.channel,
        "user_id": world.requester,
        "command": "/should-finetune",
        "text": text,
        "trigger_id": world.new_trigger_id(),
        "response_url": world.response_url,
    }
    return _signed(bot, urlencode(fields).encode())


def _submit(bot: InProcessBot, world: World) -> Answer:
    payload = submission_payload(world.form_view, REQUIRED_ANSWERS, user=world.requester)
    return _signed(bot, urlencode({"payload": json.dumps(payload)}).encode())


def _question(bot: InProcessBot, world: World, text: str = "why") -> Answer:
    event = event_callback(thread_message(text, thread_ts=world.verdict_ts), event_id=f"Ev{time.time_ns()}")
    return _signed(bot, json.dumps(event).encode(), "application/json")


def _requests_that_fail(bot: InProcessBot, world: World) -> list[Answer]:
    """Requests refused at the door, each way."""
    body = urlencode({"command": "/should-finetune", "team_id": world.team}).encode()
    now = str(int(time.time()))
    answers = [
        bot.request(body, headers={}),
        bot.request(body, headers={"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64}),
        bot.request(body, headers={"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=abc"}),
        bot.request(
            body,
            headers={
                "X-Slack-Request-Timestamp": str(int(now) - 3600),
                "X-Slack-Signature": signature(body, str(int(now) - 3600), SIGNING_SECRET),
                "Authorization": f"Bearer {BOT_TOKEN}",  # a header the bot must neither use nor echo
            },
        ),
        bot.request(b"x" * (bot.services.settings.max_body_bytes + 1), headers=bot.sign(b"")),
        _signed(bot, b"{not json", "application/json"),
        _signed(bot, urlencode({"payload": json.dumps({"type": "block_actions", "actions": "x"})}).encode()),
    ]
    replayed = urlencode({"command": "/should-finetune", "team_id": world.team, "text": "help"}).encode()
    headers = bot.sign(replayed)
    answers += [bot.request(replayed, headers=headers), bot.request(replayed, headers=headers)]
    return answers


def _slack_fails(bot: InProcessBot, world: World) -> list[Answer]:
    """Slack refusing the token, failing, limiting and hanging, on every kind of call the bot makes."""
    fake, answers = bot.fake, []
    fake.fail("chat.postMessage", status=200, error="invalid_auth", times=4)
    answers.append(_submit(bot, world))  # the verdict, then the DM, both refused
    fake.fail("chat.postMessage", status=500, times=3)
    answers.append(_question(bot, world))
    fake.fail("chat.postMessage", status=503, times=3)
    answers.append(_question(bot, world, "rules"))
    fake.fail("chat.postMessage", status=429, retry_after=1, times=1)
    answers.append(_question(bot, world, "answers"))
    fake.fail("views.open", status=200, error="invalid_auth")
    answers.append(_command(bot, world))
    fake.fail("views.open", status=401, error="not_authed")
    answers.append(_command(bot, world))
    fake.set_delay("views.open", 2.5)  # longer than the trigger's client waits
    answers.append(_command(bot, world))
    fake.set_delay("views.open", 0)
    fake.fail("chat.getPermalink", status=500, times=20)
    answers.append(_command(bot, world, "history"))
    fake.fail("webhook/fuzz", status=500, times=5)
    answers.append(_command(bot, world, "digest"))
    return answers


def _listener_raises(bot: InProcessBot, world: World) -> list[Answer]:
    @bot.app.command("/security-probe-raises")
    def raises(ack: Any) -> None:
        raise RuntimeError("a listener failed")

    body = urlencode({"command": "/security-probe-raises", "team_id": world.team, "text": ""}).encode()
    return [_signed(bot, body)]


def test_no_secret_in_logs_or_answers_on_any_error_path(debug_log: io.StringIO, redis_url: str, tmp_path: Path) -> None:
    answers: list[Answer] = []
    with world_bot(redis_url, **_secret_settings()) as (bot, world):
        answers += _requests_that_fail(bot, world)
        answers += _slack_fails(bot, world)
        answers += _listener_raises(bot, world)
        with serving_in_thread(bot.app, bot.services) as url:  # and through waitress, whose errors log too
            for path in ("/healthz", "/readyz", "/nope", "/metrics"):
                reply = http(url + path, method="GET")
                answers.append(Answer(reply.status, dict(reply.headers), reply.body))

    # Redis gone: a server of the test's own, stopped under the bot.
    with EmbeddedRedis(tmp_path / "redis") as server, FakeSlack(tokens=(BOT_TOKEN,)) as fake:
        values = {k: v for k, v in _secret_settings().items() if k != "tokens"}
        client = connect_redis(server.url)
        with in_process_bot(bot_settings(fake, server.url, "sf-test-secrets", **values), fake, client) as bot:
            world = seed_world(bot)
            server.stop()
            answers += [_submit(bot, world), _question(bot, world), _command(bot, world, "history")]
            answers.append(bot.request(b"", path="/readyz", method="GET"))
        client.close()

    log = debug_log.getvalue()
    assert "Sending a request" in log  # slack_sdk's DEBUG lines were written: DEBUG was really on
    assert REDACTED in log or BOT_TOKEN not in log
    found = leaks(log)
    for answer in answers:
        found += [f"HTTP answer {answer.status}: {leak}" for leak in leaks(answer_text(answer))]
    assert found == [], "\n".join(found)


# --- as users run it: `should-finetune serve` and `socket` in a subprocess, at DEBUG ---------------------------------


def _env(**values: str) -> dict[str, str]:
    """A user's environment with the bot's settings given here only, logging at DEBUG."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_"))}
    return {**env, "SHOULD_FINETUNE_LOG_LEVEL": "DEBUG", **values}


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_token_slack_refuses_stops_start_up_without_printing_it(
    tmp_path: Path, fake_slack: FakeSlack, log_format: str
) -> None:
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,  # not one the fake Slack knows: auth.test answers invalid_auth
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
        SHOULD_FINETUNE_LOG_FORMAT=log_format,
    )
    result = _run("serve", "--port", str(_free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert [c.method for c in fake_slack.calls()] == ["auth.test"]
    assert leaks(result.stdout + result.stderr) == []


def test_an_app_token_slack_refuses_stops_socket_mode_without_printing_it(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    fake_slack.tokens.add(BOT_TOKEN)
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,  # apps.connections.open answers invalid_auth
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
    )
    result = _run("socket", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "SLACK_APP_TOKEN" in result.stderr
    assert "apps.connections.open" in [c.method for c in fake_slack.calls()]
    assert leaks(result.stdout + result.stderr) == []


@pytest.mark.parametrize("scheme", ["redis", "rediss"])
def test_an_unreachable_redis_is_named_without_its_password(tmp_path: Path, scheme: str, fake_slack: FakeSlack) -> None:
    fake_slack.tokens.add(BOT_TOKEN)
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        REDIS_URL=f"{scheme}://default:{REDIS_PASSWORD}@127.0.0.1:{_free_port()}/0",
    )
    result = _run("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "setting REDIS_URL" in result.stderr
    assert leaks(result.stdout + result.stderr) == []


def test_a_served_bot_at_debug_logs_no_secret_through_failing_requests_and_sigterm(
    tmp_path: Path, fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    fake_slack.tokens.add(BOT_TOKEN)
    port = _free_port()
    env = _env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake_slack.url,
        REDIS_URL=redis_url,
        SHOULD_FINETUNE_REDIS_PREFIX=key_prefix,
        SHOULD_FINETUNE_LOG_FORMAT="text",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    answers: list[Answer] = []
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "serve exited early"
            try:
                if http(url + "/healthz", method="GET").status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "serve did not come up in 30 s"
            time.sleep(0.1)

        def post(body: bytes, headers: dict[str, str], content_type: str = "application/x-www-form-urlencoded") -> None:
            reply = http(url + "/slack/events", body, {"Content-Type": content_type, **headers})
            answers.append(Answer(reply.status, dict(reply.headers), reply.body))

        def signed(body: bytes) -> dict[str, str]:
            stamp = str(int(time.time()))
            return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(body, stamp, SIGNING_SECRET)}

        fields = {
            "team_id": "T0FAKE",
            "channel_id": "C0DECIDE",
            "user_id": "U0ASKER",
            "command": "/should-finetune",
            "text": "",
            "trigger_id": fake_slack.new_trigger_id(),
            "response_url": fake_slack.response_url("served"),
        }
        command = urlencode(fields).encode()
        post(command, {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"})
        post(command, {"Authorization": f"Bearer {BOT_TOKEN}"})
        fake_slack.fail("views.open", status=200, error="invalid_auth")
        post(command, signed(command))
        fake_slack.wait_for("webhook/served", 1, timeout=10)  # the person is told the form did not open
        fake_slack.fail("views.open", status=503)
        post(command.replace(b"trigger_id=", b"trigger_id=9"), signed(command.replace(b"trigger_id=", b"trigger_id=9")))
        fake_slack.wait_for("webhook/served", 2, timeout=10)
        post(b"{broken", signed(b"{broken"), "application/json")
        big = b"x" * 1_048_577
        post(big, signed(big))
        event = json.dumps(event_callback(thread_message("why", thread_ts="1700000000.000100"), event_id="EvS1"))
        post(event.encode(), signed(event.encode()), "application/json")
        for path in ("/readyz", "/metrics"):
            reply = http(url + path, method="GET")
            answers.append(Answer(reply.status, dict(reply.headers), reply.body))
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "DEBUG" in output  # the served process really logged at DEBUG
    found = leaks(output)
    for answer in answers:
        found += [f"HTTP answer {answer.status}: {leak}" for leak in leaks(answer_text(answer))]
    assert found == [], "\n".join(found)
