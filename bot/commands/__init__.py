"""What a person runs over the bot's services rather than answers in a form: the digest's sub-commands, and the
re-review of many decisions at once (the `rereview` CLI command)."""
