"""Text as people typed it in Slack."""

from __future__ import annotations

import re


def unescape(text: str) -> str:
    """Text as the person typed it, from text Slack sent: Slack escapes only `&`, `<` and `>` in what people write
    (commands, messages), so those three are decoded, once, and `&amp;` last (`&amp;lt;` was typed as `&lt;`)."""
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# Slack's markup in text it sends: `<@U…|name>`, `<#C…|name>`, `<!subteam^S…|@team>`, `<!here>`, `<https://…|label>`.
_MARKUP = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
_SPECIAL = {"!here": "@here", "!channel": "@channel", "!everyone": "@everyone"}


def readable(text: str) -> str:
    """Slack's markup in text it sent, as the person saw it: a mention as `@name`, a channel as `#name`, a link as
    its label (or its address). The entities `&amp;`, `&lt;` and `&gt;` are left for `unescape`, which comes after."""

    def shown(found: re.Match[str]) -> str:
        target, label = found.group(1), found.group(2)
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or _SPECIAL.get(target, target[1:].split("^", 1)[0])
        return label or target

    return _MARKUP.sub(shown, text)
