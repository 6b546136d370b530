"""`build_app`: the one place where the Bolt app is created and every listener module is registered."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse

from bot.listeners import command, home, messages, questions, reviews, shortcuts, submission, threads
from bot.services import Services

log = logging.getLogger(__name__)
bolt_log = logging.getLogger("bot.bolt")


class _TokenFromTheEnvironment(logging.Filter):
    """Drops Bolt's start-up warning that the `client` given wins over `SLACK_BOT_TOKEN`, which Bolt reads from the
    environment on its own: the client is built from that same token, so the warning only alarms operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_app(services: Services, *, socket_mode: bool = False) -> App:
    """The Bolt app, wired to `services`.

    `process_before_response=True`: each listener acknowledges within its own call, so the HTTP response leaves as
    soon as `ack()` has run instead of after Bolt's 10 ms polling loop; slow work goes to `services.run_soon`.
    """
    settings = services.settings
    if not any(isinstance(f, _TokenFromTheEnvironment) for f in bolt_log.filters):
        bolt_log.addFilter(_TokenFromTheEnvironment())
    app = App(
        client=services.client,
        signing_secret=None if socket_mode else settings.slack_signing_secret.get_secret_value(),  # type: ignore[union-attr]
        request_verification_enabled=not socket_mode,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        logger=bolt_log,
    )
    command.register(app, services)
    submission.register(app, services)
    threads.register(app, services)
    reviews.register(app, services)
    questions.register(app, services)
    shortcuts.register(app, services)
    home.register(app, services)
    messages.register(app, services)  # last: it holds the catch-all event listener

    @app.error
    def handle_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        kind = body.get("type") or ("command" if "command" in body else "unknown")
        log.error("listener failed on a %s request", kind, exc_info=error)
        return BoltResponse(status=500, body="")

    return app
