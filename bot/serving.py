"""`should-finetune serve` (HTTP) and `should-finetune socket` (Socket Mode): run the bot until stopped.

Stopping `serve` (SIGTERM, or SIGINT): the listening socket closes at once, so new connections are refused; the
requests already begun are answered (for at most `bot.server.DRAIN_SECONDS`); then the work acknowledged to Slack
and still running or queued (posting a verdict, answering a follow-up, opening a form) finishes; then Redis closes
and the process exits 0. A second signal stops waiting for the requests in progress (the process then exits 130,
still after the acknowledged work); only SIGKILL abandons that work.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import logs
from bot.app import build_app
from bot.digest.scheduler import DigestScheduler
from bot.runtime import open_services
from bot.server import SlackWSGI, create_server, serve_until
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.slack.api import check_slack, error_code

log = logging.getLogger(__name__)


def configure_logging(settings: Settings) -> None:
    """Lines on stderr at the configured level, as JSON or text (SHOULD_FINETUNE_LOG_FORMAT), scrubbed of secrets."""
    logs.configure(level=settings.log_level, fmt=settings.log_format, literals=logs.secrets_of(settings))
    logging.captureWarnings(True)  # a library's warnings become log lines in the same format


class _Stopper:
    """SIGTERM and SIGINT: a graceful stop once the server runs (an immediate one before, or when sent twice)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.server: Any = None

    def install(self) -> None:
        """Handle SIGTERM and SIGINT from now on."""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.server is None or self.stop.is_set():
            raise KeyboardInterrupt  # unwinds serve(): acknowledged work drains, the embedded Redis stops cleanly
        self.stop.set()
        self.server.pull_trigger()  # wakes the server's loop now rather than at its next timeout


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds socket(): in-flight work drains, the embedded Redis shuts down cleanly

    signal.signal(signal.SIGTERM, stop)


def _check_slack(settings: Settings) -> None:
    """Whether Slack takes the bot token, before Redis or anything else starts (see `check_slack`)."""
    identity = check_slack(settings)
    log.info("Slack accepts the bot token: %s in %s", identity.get("user", "?"), identity.get("team", "?"))


def _build(services: Services, *, socket_mode: bool) -> App:
    try:
        return build_app(services, socket_mode=socket_mode)
    except (BoltError, SlackClientError, OSError):
        # Bolt asks auth.test again while it starts: after `check_slack` took the token moments ago, this fails only
        # when Slack just became unreachable or refused it; asking once more says which, in words.
        check_slack(services.settings)
        raise SettingsError("Slack failed while the bot started (after accepting the token): start it again") from None


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
    """Serve `/slack/events`, `/healthz`, `/readyz` and `/metrics` over HTTP until SIGINT or SIGTERM."""
    settings.require("slack_bot_token", "slack_signing_secret")
    _check_slack(settings)
    stopper = _Stopper()
    stopper.install()
    with open_services(settings) as services, _digests(services):
        app = _build(services, socket_mode=False)
        server = create_server(
            SlackWSGI(app, services),
            host=host or settings.host,
            port=settings.port if port is None else port,
            threads=settings.threads,
        )
        log.info("serving on http://%s:%s/slack/events", server.effective_host, server.effective_port)
        stopper.server = server
        busy = serve_until(server, stopper.stop)  # returns after SIGTERM or SIGINT
        if busy:
            log.warning("stopped accepting; %d connections still busy were closed", busy)
        log.info("stopped accepting; finishing the work acknowledged to Slack")
    log.info("stopped")


def socket(settings: Settings) -> None:
    """Connect to Slack over Socket Mode (no public URL needed) until SIGINT or SIGTERM."""
    settings.require("slack_bot_token", "slack_app_token")
    _check_slack(settings)
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
            raise SettingsError(
                f"setting SLACK_APP_TOKEN: Slack refused it: {error_code(exc)} (copy an app-level token with the "
                "connections:write scope from Basic Information > App-Level Tokens)"
            ) from None
        finally:
            handler.close()  # type: ignore[no-untyped-call]
