"""Start-up as users run it: `should-finetune serve | socket | manifest` in a subprocess, settings and their errors."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.embedded_redis import EmbeddedRedis
from bot.manifest import BOT_EVENTS, BOT_SCOPES, build_manifest
from bot.runtime import open_services
from bot.settings import SettingsError, load_settings
from bot.store import DecisionStore, connect_redis
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
    """The environment of a user's shell: none of the bot's settings unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_"))}
    return {**env, **values}


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
        ("SLACK_BOT_TOKEN", "xoxp-user-token-not-a-bot", "starting with xoxb-"),
        ("SLACK_BOT_TOKEN", "xoxb-has space", "starting with xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-wrong-kind", "starting with xapp-"),
        ("SLACK_SIGNING_SECRET", "short", "signing secret"),
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


def test_a_token_slack_refuses_stops_start_up(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN=SECRET_LOOKING,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SHOULD_FINETUNE_DATA_DIR=str(tmp_path / "data"),
    )
    result = cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "setting SLACK_BOT_TOKEN: Slack did not accept it" in result.stderr
    assert SECRET_LOOKING not in result.stderr
    assert [c.method for c in fake_slack.calls()] == ["auth.test"]


def test_an_unreachable_redis_is_named_without_its_password(tmp_path: Path) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
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
    assert "setting SLACK_APP_TOKEN: Slack did not accept it (invalid_auth)" in result.stderr
    assert "NOT-KNOWN" not in result.stderr
    # Socket Mode opens its connection through SLACK_API_URL like every other call.
    assert [c.method for c in fake_slack.calls()] == ["auth.test", "apps.connections.open"]


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
