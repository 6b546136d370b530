"""What can be failing with a model today: the `Failure` choices, as the form offers them and as people type them."""

from __future__ import annotations

from enum import StrEnum

from bot.engine.words import Choice, FailureWords


class Failure(StrEnum):
    """What is actually going wrong with the model today."""

    MISSING_KNOWLEDGE = "missing-knowledge"
    STYLE = "style"
    FORMAT = "format"
    TOOL_SHAPE = "tool-shape"
    LATENCY = "latency"
    COST = "cost"
    REASONING = "reasoning"
    OTHER = "other"


FAILURE_WORDS: dict[Failure, FailureWords] = {
    Failure.MISSING_KNOWLEDGE: FailureWords(
        names=(
            "knowledge|missing knowledge|knowledge gap|lack of knowledge|lack knowledge|lacks knowledge"
            "|model lacks knowledge|lacking knowledge|domain knowledge|missing facts|facts"
            "|missing context|hallucinations|hallucination|hallucinating|made up facts|stale facts"
            "|outdated facts|product knowledge"
        ),
        said=(
            r"(?:doesn't|doesnt|does not|didn't|didnt) know (?!how\b|what\b|if\b|whether\b|when\b|why\b|yet\b)\w+"
            r"|not knowing\b|makes? (?:\w+ )?up\b|made up\b|invents?\b"
            r"|(?:don't|dont) know (?:about )?(?:\w+ )?(?:facts|products?|domain|company|policies|policy|pricing"
            r"|docs|documentation|catalog|catalogue|inventory|customers?|latest|recent|new|internal|answers?)"
            r"|hallucinat\w*|lacks? (?:the )?(?:facts|knowledge|context)|(?:product|domain|company|policy)"
            r" (?:facts|knowledge)"
        ),
    ),
    Failure.STYLE: FailureWords(
        names="style|tone|voice|writing style|brand voice|wording|tone of voice",
        said=r"sounds? (?:robotic|off|wrong|stiff)|(?:wrong|off) (?:tone|voice)|off brand",
    ),
    Failure.FORMAT: FailureWords(
        names=(
            "format|formatting|output format|output formatting|structure|output structure|json"
            "|invalid json|broken json|malformed json|malformed output|schema|schema errors|json errors"
            "|parsing errors|parse errors"
        ),
        said=(
            r"(?:invalid|broken|malformed|bad) (?:json|output|schema)|json (?:errors?|issues?)"
            r"|schema (?:errors?|violations?)|(?:doesn't|doesnt|does not) (?:follow|match) (?:the )?schema"
        ),
    ),
    Failure.TOOL_SHAPE: FailureWords(
        names=(
            "tool shape|tool calling|tool calls|tool use|tool usage|function calling|tool arguments"
            "|tool args|function arguments|wrong tool|wrong tools|wrong function|tool selection"
        ),
        said=(
            r"(?:wrong|garbage|bad|invalid) (?:arguments|args|parameters|params)|picking (?:the )?wrong one"
            r"|picks (?:the )?wrong one|wrong (?:tools?|functions?)|(?:tool|function) (?:arguments|args|calls?)"
            r" (?:are )?wrong|picks? (?:the )?wrong (?:tool|function)"
        ),
    ),
    Failure.LATENCY: FailureWords(
        names="too slow|slow|slowness|sluggish|laggy|response time|slow responses",
        weak="latency|speed",
        said=r"too slow|takes? (?:too|way too) long|slow (?:responses?|answers?)",
    ),
    Failure.COST: FailureWords(
        names=(
            "too expensive|expensive|pricey|too costly|costly|bill|the bill|inference cost|inference costs|token costs"
        ),
        weak="cost|costs|price|spend",
        said=r"too expensive|costs? too much|(?:inference|token|api) (?:bill|costs?|spend)",
    ),
    Failure.REASONING: FailureWords(
        names=(
            "reasoning|bad reasoning|poor reasoning|weak reasoning|logic|logic errors|math|math mistakes"
            "|arithmetic|multi step reasoning|reasoning errors"
        ),
        said=r"(?:math|logic|reasoning) (?:mistakes|errors)|reasons? badly|can't reason|cant reason",
    ),
    Failure.OTHER: FailureWords(names="", weak="other|something else"),
}


# The failures as the form offers them: what is wrong with the answers first, then speed and cost.
FAILURE_OPTIONS = (
    Choice(Failure.MISSING_KNOWLEDGE.value, "It lacks knowledge (facts, documents)", "missing knowledge"),
    Choice(Failure.STYLE.value, "Tone or style is off", "style"),
    Choice(Failure.FORMAT.value, "Output format is wrong", "output format"),
    Choice(Failure.TOOL_SHAPE.value, "It calls tools wrongly", "tool calls"),
    Choice(Failure.REASONING.value, "Reasoning mistakes", "reasoning"),
    Choice(Failure.LATENCY.value, "Too slow", "latency"),
    Choice(Failure.COST.value, "Too expensive", "cost"),
    Choice(Failure.OTHER.value, "Something else", "something else"),
)
