"""Start-up as users run it: `should-finetune serve | socket | manifest` in a subprocess, settings and their errors."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.embedded_redis import EmbeddedRedis
from bot.manifest import BOT_EVENTS, BOT_SCOPES, build_manifest
from bot.runtime import open_services
from bot.settings import SettingsError, load_settings
from bot.store import DecisionStore, connect_redis
from tests import fixture_rules
from tests.fakeslack import FakeSlack
from tests.fakesocket import FakeSocketMode
from tests.slack_support import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    TEAM,
    BotClient,
    bot_settings,
    http,
)

SECRET_LOOKING = "xoxb-THIS-MUST-NOT-LEAK-1234"


def clean_env(**values: str) -> dict[str, str]:
    """The environment of a user's shell: none of the bot's settings unless given, but the tests' own rule set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_"))}
    return {**env, "SHOULD_FINETUNE_RULES_DIR": str(fixture_rules.DIRECTORY), **values}


def cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- settings -----------------------------------------------------------------------------------------------------


def test_settings_read_slacks_own_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("REDIS_URL", "unix:///tmp/redis.sock")
    settings = load_settings(_env_file=None)
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == BOT_TOKEN
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"  # the trailing slash slack_sdk needs
    assert BOT_TOKEN not in repr(settings)
    assert SIGNING_SECRET not in str(settings)


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("SLACK_API_URL", "ftp://slack.example", "http:// or https://"),
        ("REDIS_URL", "postgres://user:pw@db/1", "redis://"),
        ("REDIS_URL", "redis://", "no host"),
        ("SHOULD_FINETUNE_PORT", "eighty", "SHOULD_FINETUNE_PORT"),
        ("SHOULD_FINETUNE_LOG_LEVEL", "LOUD", "one of"),
        ("SHOULD_FINETUNE_RULES_DIR", "/no/such/dir", "not a directory"),
    ],
)
def test_a_malformed_setting_is_named_and_its_value_not_echoed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert f"setting {variable}:" in message
    assert words in message
    if variable.startswith("SLACK_") or variable == "REDIS_URL":
        assert value not in message


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("slack_bot_token", "xoxp-user-token-not-a-bot", "starting with xoxb-"),
        ("slack_bot_token", "xoxb-has space", "without spaces"),
        ("slack_bot_token", "xoxb-...", "still a placeholder: paste the Bot User OAuth Token"),
        ("slack_app_token", "xoxb-wrong-kind", "starting with xapp-"),
        ("slack_app_token", "xapp-...", "still a placeholder"),
        ("slack_signing_secret", "...", "still a placeholder: paste the app's signing secret"),
        ("slack_signing_secret", "abc", "32 hexadecimal characters (0-9, a-f), shown at Basic Information"),
        ("slack_signing_secret", "abc", "this value has 3 characters"),
        ("slack_signing_secret", "8f742231b10e8888abcd99yyyzzz85a5", "not all of them are 0-9 or a-f"),
        ("slack_signing_secret", "0123456789abcdef" * 4, "this value has 64 characters"),
    ],
)
def test_a_credential_is_checked_when_a_command_needs_it_naming_the_rule_not_the_value(
    field: str, value: str, words: str
) -> None:
    settings = load_settings(_env_file=None, **{field: value})  # reading it is not using it
    with pytest.raises(SettingsError) as caught:
        settings.require(field)
    message = str(caught.value)
    assert message.startswith(f"setting {field.upper()}: ")
    assert words in message
    assert value not in message


@pytest.mark.parametrize(
    "secret", ["8f742231b10e8888abcd99eeefff85a5", "0123456789ABCDEF0123456789abcdef", SIGNING_SECRET]
)
def test_a_signing_secret_as_slack_issues_it_is_accepted(secret: str) -> None:
    load_settings(_env_file=None, slack_bot_token=BOT_TOKEN, slack_signing_secret=secret).require(
        "slack_bot_token", "slack_signing_secret"
    )


def test_require_names_every_missing_and_every_malformed_setting_at_once() -> None:
    settings = load_settings(_env_file=None, slack_bot_token=None, slack_signing_secret="...", slack_app_token=None)
    with pytest.raises(SettingsError) as caught:
        settings.require("slack_bot_token", "slack_app_token", "slack_signing_secret")
    assert str(caught.value).splitlines() == [
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN must be set (in the environment or a .env file)",
        "setting SLACK_SIGNING_SECRET: still a placeholder: paste the app's signing secret from Basic Information > "
        "App Credentials > Signing Secret",
    ]


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SHOULD_FINETUNE_PORT", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSHOULD_FINETUNE_PORT=4001\nREDIS_URL=redis://localhost:6379/3\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == BOT_TOKEN
    assert settings.port == 4001
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://localhost:6379/3"


def test_require_names_every_missing_setting() -> None:
    settings = load_settings(_env_file=None, slack_bot_token=None, slack_signing_secret=None)
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set"):
        settings.require("slack_bot_token", "slack_signing_secret")


# --- start-up errors from the command line --------------------------------------------------------------------------


def test_serve_without_tokens_stops_naming_them(tmp_path: Path) -> None:
    result = cli("serve", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_token_in_the_environment_is_named_not_printed(tmp_path: Path) -> None:
    result = cli("serve", env=clean_env(SLACK_BOT_TOKEN="xoxp-" + SECRET_LOOKING), cwd=tmp_path)
    assert result.returncode == 2
    assert "setting SLACK_BOT_TOKEN" in result.stderr
    assert SECRET_LOOKING not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("invalid_auth", "copy the Bot User OAuth Token from OAuth & Permissions"),
        ("not_authed", "Slack received no token"),
        ("account_inactive", "install the app again"),
        ("token_revoked", "it was revoked"),
        ("token_expired", "token rotation"),
    ],
)
def test_a_token_slack_refuses_stops_start_up_with_slacks_error_code(
    tmp_path: Path, fake_slack: FakeSlack, error: str, hint: str
) -> None:
    fake_slack.fail("auth.test", status=200, error=error)
    data = tmp_path / "data"
    env = clean_env(
        SLACK_BOT_TOKEN=SECRET_LOOKING,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(data),
    )
    result = cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"should-finetune: setting SLACK_BOT_TOKEN: Slack refused it: {error} (")
    assert hint in line
    assert SECRET_LOOKING not in result.stderr
    assert [c.method for c in fake_slack.calls()] == ["auth.test"]  # asked once, and nothing else started
    assert not data.exists()  # the embedded Redis was never started


def test_a_token_of_no_app_is_refused_by_slack_and_named(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = clean_env(SLACK_BOT_TOKEN=SECRET_LOOKING, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url)
    result = cli("socket", env={**env, "SLACK_APP_TOKEN": "xapp-1-A0-1-abc"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "setting SLACK_BOT_TOKEN: Slack refused it: invalid_auth" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api/"
    server.close()


@pytest.fixture
def html_server() -> Iterator[str]:
    """A web server that is not Slack: every POST gets an HTML page."""

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<html><body>Not Found</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("command", ["serve", "socket"])
@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("refused", "refused the connection"),
        ("no_such_host", "cannot find the host slack-api.invalid"),
        ("silent", "no answer within 5 s"),
        ("html", "answered HTTP 404 without Slack's JSON: is it Slack's Web API?"),
    ],
)
def test_slack_out_of_reach_stops_start_up_with_one_line_naming_slack_api_url(
    tmp_path: Path, command: str, where: str, words: str, request: pytest.FixtureRequest
) -> None:
    # Where no Slack answers: nothing listening, no such host (.invalid never resolves, RFC 6761), a server that
    # never answers, a web server that is not Slack.
    url = {
        "refused": lambda: f"http://127.0.0.1:{free_port()}/api/",
        "no_such_host": lambda: "http://slack-api.invalid/api/",
        "silent": lambda: str(request.getfixturevalue("silent_server")),
        "html": lambda: str(request.getfixturevalue("html_server")),
    }[where]()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_APP_TOKEN="xapp-1-A0-1-abc",
        SLACK_API_URL=url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
    )
    started = time.monotonic()
    result = cli(command, env=env, cwd=tmp_path, timeout=30)
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()  # one message: no traceback, no library log line
    assert line.startswith(f"should-finetune: setting SLACK_API_URL: cannot reach {url}: ") or line.startswith(
        f"should-finetune: setting SLACK_API_URL: {url} answered"
    ), line
    assert words in line
    assert BOT_TOKEN not in result.stderr + result.stdout
    assert took < 15, f"{took:.1f} s"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("refusals", "words"), [(1, "start it again"), (2, "Slack refused it: invalid_auth")])
def test_slack_refusing_the_token_between_the_check_and_bolts_own_is_told_in_words(
    tmp_path: Path, fake_slack: FakeSlack, refusals: int, words: str
) -> None:
    """Bolt asks auth.test again as the app is built; if that fails, the bot asks once more to say why."""
    fake_slack.fail("auth.test", status=200, error="invalid_auth", after=1, times=refusals)
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
    )
    result = cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert [c.method for c in fake_slack.calls()] == ["auth.test"] * 3


def test_slack_failing_at_start_up_is_told_apart_from_a_bad_setting(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.fail("auth.test", status=503)
    env = clean_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url)
    result = cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"should-finetune: Slack answered HTTP 503 at {fake_slack.url}: it may be having")
    assert "start the bot again in a minute" in result.stderr
    fake_slack.fail("auth.test", status=429, retry_after=30)
    result = cli("serve", env=env, cwd=tmp_path)
    assert result.stderr == "should-finetune: Slack is rate-limiting this app (HTTP 429): start it again in 30 s\n"


def test_an_unreachable_redis_is_named_without_its_password(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=fake_slack.url,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        REDIS_URL=f"redis://:hunter2secret@127.0.0.1:{free_port()}/0",
    )
    result = cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "setting REDIS_URL: cannot reach Redis at redis://127.0.0.1:" in result.stderr
    assert "hunter2secret" not in result.stderr


def test_socket_mode_needs_the_app_token(tmp_path: Path) -> None:
    result = cli("socket", env=clean_env(SLACK_BOT_TOKEN=BOT_TOKEN), cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN must be set" in result.stderr


def test_a_port_out_of_range_is_refused(tmp_path: Path) -> None:
    result = cli("serve", "--port", "70000", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "--port 70000" in result.stderr


# --- serve, for real ------------------------------------------------------------------------------------------------


class Served:
    """`should-finetune serve` running in a subprocess."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(self.port), "--host", "127.0.0.1"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if http(self.url + "/healthz", method="GET").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not come up in 30 s")
            time.sleep(0.1)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out


@pytest.fixture
def serve_env(tmp_path: Path, fake_slack: FakeSlack) -> dict[str, str]:
    return clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
        SHOULD_FINETUNE_LOG_LEVEL="DEBUG",
    )


def stored_decisions(data_dir: Path) -> list[Any]:
    with EmbeddedRedis(data_dir) as server:
        redis = connect_redis(server.url)
        try:
            now = datetime.now(UTC)
            store = DecisionStore(redis)
            return store.decisions_between(
                workspace=TEAM, channel=CHANNEL, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
            )
        finally:
            redis.close()


def test_serve_with_the_embedded_redis_answers_slack_and_keeps_decisions_across_restarts(
    tmp_path: Path, fake_slack: FakeSlack, serve_env: dict[str, str]
) -> None:
    served = Served(serve_env, tmp_path)
    try:
        assert http(served.url + "/readyz", method="GET").json() == {"ready": True}
        bot = BotClient(served.url, services=None, fake=fake_slack)  # type: ignore[arg-type]
        verdict = bot.decide()
        assert bot.ask("what if we had 600 examples", thread_ts=verdict).status == 200
        bot.wait_replies(verdict, 2)
    finally:
        code, output = served.stop()
    assert code == 0, output  # SIGTERM drains work and shuts the embedded Redis down cleanly
    # Debug logs of a whole request cycle show no secret.
    assert BOT_TOKEN not in output
    assert SIGNING_SECRET not in output

    (decision,) = stored_decisions(Path(serve_env["SHOULD_FINETUNE_DATA_DIR"]))
    assert decision.latest.answers["use_case"] == "Support-ticket triage"
    assert decision.delivery.status == "posted"

    # A second start on the same data directory sees the decision, its thread and the thread's what-if.
    served = Served(serve_env, tmp_path)
    try:
        assert http(served.url + "/readyz", method="GET").json() == {"ready": True}
        bot = BotClient(served.url, services=None, fake=fake_slack)  # type: ignore[arg-type]
        assert bot.ask("and if we tried dspy", thread_ts=verdict).status == 200
        reply = bot.wait_replies(verdict, 3)[2]
        assert "Adding to your what-if" in reply["text"]
        assert "30 → *600*" in json.dumps(reply["blocks"], ensure_ascii=False)
    finally:
        code, output = served.stop()
    assert code == 0, output
    assert len(stored_decisions(Path(serve_env["SHOULD_FINETUNE_DATA_DIR"]))) == 1


# --- the manifest ---------------------------------------------------------------------------------------------------


def test_manifest_for_http_points_every_url_at_the_events_endpoint(tmp_path: Path) -> None:
    result = cli("manifest", "--url", "https://bot.example.com", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    url = "https://bot.example.com/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == url
    assert manifest["features"]["slash_commands"][0]["command"] == "/should-finetune"
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_the_readme_names_every_scope_the_manifest_asks_for() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"It asks for these bot scopes: (.*?)\.\n", readme, re.DOTALL)
    assert found, "the README's list of scopes is gone"
    assert re.findall(r"`([a-z_:.]+)`", found.group(1)) == list(BOT_SCOPES)
    # ... and explains each one, in a list item of its own that starts with the scope's name.
    explained = {
        scope for item in re.findall(r"\n   - (`[^\n]+)", readme) for scope in re.findall(r"`([a-z_:.]+)`[,:]", item)
    }
    assert set(BOT_SCOPES) <= explained, f"not explained: {set(BOT_SCOPES) - explained}"


def test_the_manifest_asks_for_no_scope_the_bot_does_not_use() -> None:
    # Channel names are written as `<#C…>`, which Slack renders: nothing calls conversations.info or the like.
    assert "channels:read" not in BOT_SCOPES
    assert "groups:read" not in BOT_SCOPES


def test_manifest_for_socket_mode_has_no_urls(tmp_path: Path) -> None:
    manifest = json.loads(cli("manifest", "--socket", env=clean_env(), cwd=tmp_path).stdout)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}


def test_manifest_refuses_a_url_slack_would_refuse(tmp_path: Path) -> None:
    result = cli("manifest", "--url", "http://bot.example.com", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "https://" in result.stderr


@pytest.mark.parametrize("socket_mode", [True, False])
def test_manifest_fits_slacks_schema(socket_mode: bool) -> None:
    # The limits of Slack's manifest schema (manifest-schema v1.0.0) for the fields the bot sets.
    manifest = build_manifest(socket_mode=socket_mode, url=None if socket_mode else "https://x.example/base/")
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 4 <= len(info["background_color"]) <= 7
    assert len(manifest["features"]["bot_user"]["display_name"]) <= 80
    command = manifest["features"]["slash_commands"][0]
    assert command["command"].startswith("/")
    assert len(command["command"]) <= 32
    assert len(command["usage_hint"]) <= 1000
    assert set(manifest) == {"_metadata", "display_information", "features", "oauth_config", "settings"}
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == list(BOT_EVENTS)
    # Undeliverable verdicts go to the requester's DM with the app, which needs the Messages tab.
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    if not socket_mode:
        assert command["url"] == "https://x.example/base/slack/events"


def test_socket_mode_reports_an_app_token_slack_refuses(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.on("apps.connections.open", lambda args: {"ok": True, "url": "ws://127.0.0.1:9/never"})
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN="xapp-1-NOT-KNOWN-TO-SLACK",
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
    )
    result = cli("socket", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "setting SLACK_APP_TOKEN: Slack refused it: invalid_auth (copy an app-level token" in result.stderr
    assert "NOT-KNOWN" not in result.stderr
    # Socket Mode opens its connection through SLACK_API_URL like every other call. auth.test twice: the start-up
    # check, then Bolt's own as the app is built.
    assert [c.method for c in fake_slack.calls()] == ["auth.test", "auth.test", "apps.connections.open"]


def test_socket_mode_end_to_end_opens_the_form_and_acknowledges(tmp_path: Path, fake_slack: FakeSlack) -> None:
    endpoint = FakeSocketMode()
    app_token = "xapp-1-A0FAKE-socket"
    fake_slack.tokens.add(app_token)
    fake_slack.on("apps.connections.open", lambda args: {"ok": True, "url": endpoint.url})
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=app_token,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
        SHOULD_FINETUNE_LOG_LEVEL="DEBUG",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "socket"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        endpoint.wait_connected()
        command = {
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": "U0ASKER",
            "command": "/should-finetune",
            "text": "over a socket",
            "trigger_id": "123.456.abcdef",
            "response_url": fake_slack.response_url("socket"),
        }
        endpoint.send(
            {"envelope_id": "env-1", "type": "slash_commands", "payload": command, "accepts_response_payload": True}
        )
        assert endpoint.wait_for_ack("env-1")["envelope_id"] == "env-1"
        (opened,) = fake_slack.wait_for("views.open", 1, timeout=10)
        assert opened.args["trigger_id"] == "123.456.abcdef"
        view = opened.args["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert json.loads(view["private_metadata"])["channel"] == CHANNEL
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        endpoint.close()
    assert process.returncode == 0, output.decode()
    assert app_token.encode() not in output
    assert BOT_TOKEN.encode() not in output


def test_starting_with_the_token_in_the_environment_logs_no_warning(
    fake_slack: FakeSlack,
    redis_url: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the client given wins; as configured, that is no news."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with caplog.at_level(logging.WARNING), open_services(bot_settings(fake_slack, redis_url, key_prefix)) as services:
        build_app(services)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
