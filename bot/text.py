"""Text as people typed it in Slack."""

from __future__ import annotations


def unescape(text: str) -> str:
    """Text as the person typed it, from text Slack sent: Slack escapes only `&`, `<` and `>` in what people write
    (commands, messages), so those three are decoded, once, and `&amp;` last (`&amp;lt;` was typed as `&lt;`)."""
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
