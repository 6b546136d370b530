"""Messages and views from the Jinja templates in `templates/slack/`, escaped for mrkdwn and fitted to Slack's limits.

Templates write JSON. Every value goes in through `tojson`; every piece of text that is not the template's own
markup goes through `mrkdwn` first, so `<!channel>` typed into the form is shown, never sent as a ping. Every mrkdwn
text object is sent `verbatim`, so that Slack does not turn a typed `@channel`, `#general` or bare URL into a mention
or a link either ("automatic parsing", on by default in blocks); the markup the templates write is still read.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.engine.answers import FACTS
from bot.followups.examples import EXAMPLES
from bot.slack import ids, limits
from bot.templating import build_environment

_LINKABLE = re.compile(r"https?://[^\s<>|]+")
_MEMBER = re.compile(r"[UW][A-Z0-9]{1,39}")


def escape_mrkdwn(value: object) -> str:
    """`value` as text that Slack shows literally: only `&`, `<` and `>` are control characters in mrkdwn."""
    text = str(value)
    if "&" not in text and "<" not in text and ">" not in text:  # most text: three scans instead of three copies
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_link(url: object, label: object | None = None) -> str:
    """A link for a URL the bot trusts (rule sources), else the escaped text; a label never hides the address."""
    text = str(url)
    if not _LINKABLE.fullmatch(text):
        return escape_mrkdwn(text)
    shown = escape_mrkdwn(label if label is not None else text).replace("|", "¦")
    return f"<{text}|{shown}>"


def verbatim(data: Any) -> Any:
    """`data` (a message or a view) with every mrkdwn text object marked `verbatim`, changed in place and returned."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "mrkdwn" and isinstance(item.get("text"), str):
                item["verbatim"] = True
            stack.extend(value for value in item.values() if isinstance(value, dict | list))
        elif isinstance(item, list):
            stack.extend(item)
    return data


@functools.lru_cache(maxsize=1024)  # a digest mentions the same few people thousands of times
def mention(user: object) -> str:
    """A member id as a mention; the bulk command by name; anything else as escaped text."""
    text = str(user)
    if _MEMBER.fullmatch(text):
        return f"<@{text}>"
    if text == "cli":
        return "the `should-finetune rereview` command"
    return escape_mrkdwn(text)


class Renderer:
    """Renders `templates/slack/*.json.j2` into dicts ready for the Web API, within Slack's limits."""

    def __init__(self, template_dirs: Sequence[Path], *, rereview_emoji: str = "repeat") -> None:
        self._env = build_environment(template_dirs)
        self._env.add_extension("jinja2.ext.do")  # message templates build their block lists with `do`
        self._env.filters["mrkdwn"] = escape_mrkdwn
        self._env.filters["link"] = mrkdwn_link
        self._env.filters["mention"] = mention
        self._env.globals["ids"] = ids
        self._env.globals["facts"] = FACTS  # every fact's words: questions, labels, options (bot/engine/facts.py)
        self._env.globals["limits"] = limits
        self._env.globals["examples"] = EXAMPLES  # the phrasings help and hints show (bot/followups/examples.py)
        self._env.globals["rereview_emoji"] = rereview_emoji  # the reaction messages suggest for a re-review
        self.rereview_emoji = rereview_emoji

    def _render(self, name: str, context: dict[str, Any]) -> dict[str, Any]:
        text = self._env.get_template(f"slack/{name}.json.j2").render(**context)
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"template slack/{name}.json.j2 must produce a JSON object")
        verbatim(data)
        return data

    def message(self, name: str, **context: Any) -> dict[str, Any]:
        """A message (`text` and `blocks`) from template `name`, fitted to Slack's message limits."""
        return limits.fit_message(self._render(name, context))

    def message_if_fits(self, name: str, **context: Any) -> dict[str, Any] | None:
        """The message from template `name` if it is within Slack's limits as it is, else None (nothing cut)."""
        message = self._render(name, context)
        return message if limits.fits_message(message) else None

    def view(self, name: str, **context: Any) -> dict[str, Any]:
        """A modal view from template `name`, fitted to Slack's view limits."""
        return limits.fit_view(self._render(name, context))

    def macro(self, template: str, name: str, *args: str) -> str:
        """Macro `name` of `template` rendered with `args`: words defined once in a template, for code that puts many
        lines together itself (the digest's rows name verdicts with `_verdicts.j2`'s `said`)."""
        return self._macro(template, name, args)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one renderer per process; a few verdicts and triggers
    def _macro(self, template: str, name: str, args: tuple[str, ...]) -> str:
        return str(getattr(self._env.get_template(template).module, name)(*args))

    def check(self) -> None:
        """Compile every Slack template and the shared ones (`_verdicts.j2`) now, so that a broken one stops start-up
        instead of a request."""
        for name in self._env.list_templates(filter_func=lambda n: n.startswith("slack/") or "/" not in n):
            self._env.get_template(name)
