"""One module per Slack surface; each ends in `register(app, services)`, called from `bot.app.build_app`."""
