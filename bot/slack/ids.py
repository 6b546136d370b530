"""Every Slack id the bot defines, in one place, so that templates and handlers cannot drift apart.

Templates receive these enums as `ids` (see `bot.slack.render`)."""

from __future__ import annotations

from enum import StrEnum

COMMAND = "/should-finetune"


def is_trigger_id(value: object) -> bool:
    """Whether `value` can be a `trigger_id` (Slack's look like `132456.7890123.abcdef`): a short, non-empty token.
    Anything else would only get `invalid_arguments` from `views.open`, after the person waited for it."""
    return (
        isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable() and not any(c.isspace() for c in value)
    )


def is_direct_message(channel: object) -> bool:
    """Whether a conversation id is a direct message (`D…`). The bot answers follow-up questions in channel threads
    only, so what it posts in a DM must not invite any."""
    return isinstance(channel, str) and channel.startswith("D")


class CallbackId(StrEnum):
    """`callback_id` of each modal and shortcut."""

    DECISION_FORM = "decision-form"
    # "Should we fine-tune this?" on a message's menu: the form, prefilled from the message, for its channel.
    MESSAGE_SHORTCUT = "should-finetune-message"
    # "New fine-tune decision" in the shortcuts menu: the form, with a channel to choose.
    GLOBAL_SHORTCUT = "new-fine-tune-decision"


class PickerId(StrEnum):
    """`block_id` (and `action_id`) of the form's inputs that are not answers."""

    # The channel the verdict goes to, when the form was opened where there is none (a global shortcut).
    CHANNEL = "verdict-channel"


class ActionId(StrEnum):
    """`action_id` of each button on the bot's messages and Home tab."""

    EDIT_ANSWERS = "edit-answers"
    REQUEST_REREVIEW = "request-rereview"
    # An open question's answer buttons in the thread: "answer-question:0", ":1", ... (unique within a block).
    ANSWER_QUESTION = "answer-question"
    # The Home tab's "New decision": the form, with a channel to choose.
    HOME_NEW_DECISION = "home-new-decision"


class BlockId(StrEnum):
    """`block_id` of every input of the decision form (each input's `action_id` is the same string).

    Most are the engine fact they fill in; `TRIED` is one checkbox group for the five `tried_*` facts."""

    USE_CASE = "use_case"
    PRIMARY_FAILURE = "primary_failure"
    N_STABLE_EXAMPLES = "n_stable_examples"
    CHANGE_FREQ_DAYS = "change_freq_days"
    TRIED = "tried"
    PROMPT_ITERATIONS = "prompt_iterations"
    PROMPT_AUTHORS = "prompt_authors"
    HAS_EVAL_SET = "has_eval_set"
    NEEDS_CITATIONS = "needs_citations"
    STYLE_DESCRIBABLE = "style_describable"
    CHASING_SMALL_BENCHMARK_GAIN = "chasing_small_benchmark_gain"
    N_TOOLS = "n_tools"
    DAILY_CALLS = "daily_calls"
    LATENCY_SENSITIVE = "latency_sensitive"
    RETRAIN_CADENCE_DAYS = "retrain_cadence_days"
    NOTES = "notes"
