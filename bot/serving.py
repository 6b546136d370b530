"""`should-finetune serve` (HTTP) and `should-finetune socket` (Socket Mode): run the bot until stopped."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.app import build_app
from bot.digest.scheduler import DigestScheduler
from bot.runtime import open_services
from bot.server import SlackWSGI, create_server
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.slack.api import error_code

log = logging.getLogger(__name__)


def configure_logging(settings: Settings) -> None:
    """Plain lines on stderr at the configured level; tokens never reach a log line (they are SecretStr)."""
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds serve(): in-flight work drains, the embedded Redis shuts down cleanly

    signal.signal(signal.SIGTERM, stop)


def _build(services: Services, *, socket_mode: bool) -> App:
    try:
        return build_app(services, socket_mode=socket_mode)
    except (BoltError, SlackApiError) as exc:
        # Bolt checks the token with auth.test while it starts.
        raise SettingsError(f"setting SLACK_BOT_TOKEN: Slack did not accept it ({exc.__class__.__name__})") from None


@contextmanager
def _digests(services: Services) -> Iterator[None]:
    """The digest scheduler, while the bot runs (unless SHOULD_FINETUNE_DIGEST_SCHEDULER is off)."""
    if not services.settings.digest_scheduler:
        yield
        return
    scheduler = DigestScheduler(services.digest)
    scheduler.start()
    log.info("weekly digests due %s", services.settings.digest_schedule.describe())
    try:
        yield
    finally:
        scheduler.stop()


def serve(settings: Settings, *, port: int | None = None, host: str | None = None) -> None:
    """Serve `/slack/events`, `/healthz` and `/readyz` over HTTP until SIGINT or SIGTERM."""
    settings.require("slack_bot_token", "slack_signing_secret")
    _stop_on_sigterm()
    with open_services(settings) as services, _digests(services):
        app = _build(services, socket_mode=False)
        server = create_server(
            SlackWSGI(app, services),
            host=host or settings.host,
            port=settings.port if port is None else port,
            threads=settings.threads,
        )
        log.info("serving on http://%s:%s/slack/events", server.effective_host, server.effective_port)
        try:
            server.run()  # returns on SIGINT or SIGTERM
        finally:
            server.close()
            log.info("stopping: finishing work in progress")


def socket(settings: Settings) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) until SIGINT or SIGTERM."""
    settings.require("slack_bot_token", "slack_app_token")
    _stop_on_sigterm()
    with open_services(settings) as services, _digests(services):
        app = _build(services, socket_mode=True)
        assert settings.slack_app_token is not None
        # The handler's client is the app's, so apps.connections.open also goes through SLACK_API_URL.
        handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
        log.info("connecting to Slack over Socket Mode")
        try:
            handler.start()  # type: ignore[no-untyped-call]  # blocks until SIGINT or SIGTERM
        except KeyboardInterrupt:
            log.info("stopping: finishing work in progress")
        except SlackApiError as exc:  # apps.connections.open refused the app-level token
            raise SettingsError(f"setting SLACK_APP_TOKEN: Slack did not accept it ({error_code(exc)})") from None
        finally:
            handler.close()  # type: ignore[no-untyped-call]
