"""The field rules the translating kinds (Anthropic, Gemini, Ollama) share (adapters/fields.py).

Each translating adapter module builds its ``FIELDS`` table from ``translating_rules`` and its
own rules for the fields it carries into its dialect. What is here is what none of the three
native APIs has a slot for: OpenAI's log probabilities, audio, predicted outputs, web search,
moderation, stored completions, the deprecated function-calling shape, participant names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import CACHE_BREAKPOINT, CACHE_CONTROL, MESSAGE_NAME, TOOL_CACHE_CONTROL, FieldRule, ValueRule, ignored, refused, translated, when

__all__ = ["custom_tools", "has_tools", "is_false", "is_zero", "one_choice", "text_only", "translating_rules", "unknown_tool_choice"]


def is_false(value: Any, body: Mapping[str, Any]) -> bool:
    return value is False


def is_zero(value: Any, body: Mapping[str, Any]) -> bool:
    return value == 0 and not isinstance(value, bool)


def has_tools(value: Any, body: Mapping[str, Any]) -> bool:
    return bool(body.get("tools"))


def one_choice(value: Any, body: Mapping[str, Any]) -> bool:
    return value == 1


def text_only(value: Any, body: Mapping[str, Any]) -> bool:
    return isinstance(value, list) and "audio" not in value


def _empty(value: Any, body: Mapping[str, Any]) -> bool:
    return value == {}


def custom_tools(value: Any, body: Mapping[str, Any]) -> bool:
    """Tools of another type than ``function`` (OpenAI's free-form ``custom`` tools)."""
    return isinstance(value, list) and any(not isinstance(t, dict) or t.get("type", "function") != "function" for t in value)


def _function_tools(value: Any) -> Any:
    kept = [t for t in value if isinstance(t, dict) and t.get("type", "function") == "function"]
    return kept or None


def unknown_tool_choice(value: Any, body: Mapping[str, Any]) -> bool:
    """``allowed_tools`` and ``custom`` tool choices (and anything newer)."""
    if isinstance(value, str):
        return value not in ("auto", "none", "required")
    return not (isinstance(value, dict) and value.get("type", "function") == "function" and isinstance(value.get("function"), dict))


CUSTOM_TOOLS = when("tools of type custom", custom_tools, "refused", keep=_function_tools, note="free-form custom tools have no equivalent (function tools are translated)")
OTHER_CHOICES = when("allowed_tools, custom", unknown_tool_choice, "refused", note="only auto, none, required and a named function are translated")
THE_DEFAULT = "the provider's own default"


def translating_rules(provider: str) -> dict[str, FieldRule]:
    """The rules every translating kind shares; ``provider`` names it in the notes."""
    no_slot = f"{provider} has no such option"

    def default(label: str, test: Any) -> ValueRule:
        return when(label, test, "translated")

    return {
        "stream_options": translated(None, "include_usage: the gateway writes the usage chunk; obfuscation padding is never added"),
        "n": translated(None, "one choice per request", when("above 1", lambda v, b: not one_choice(v, b), "refused")),
        "logprobs": refused(f"{provider} returns no log probabilities", default("false", is_false)),
        "top_logprobs": refused(f"{provider} returns no log probabilities", default("0", is_zero)),
        "logit_bias": refused(f"{provider} takes no token biases", default("{}", _empty)),
        "metadata": ignored("OpenAI's tags for stored completions (the gateway reads them as tags); no output changes"),
        "store": ignored("stores the completion at OpenAI; no output changes", default("false", is_false)),
        "service_tier": ignored("OpenAI's processing tier; no output changes"),
        "modalities": refused(f"{provider} answers in text only", default('["text"]', text_only)),
        "audio": refused(f"{provider} answers in text only"),
        "prediction": ignored("a Predicted Output only makes OpenAI faster; the answer is the same"),
        "verbosity": refused(no_slot),
        "web_search_options": refused("OpenAI's built-in web search; no such tool here"),
        "prompt_cache_key": ignored("a cache-routing hint; no output changes"),
        "prompt_cache_retention": ignored("how long OpenAI keeps a cache; no output changes"),
        "prompt_cache_options": ignored("OpenAI's cache settings; no output changes"),
        "moderation": refused("OpenAI's moderation of input and output"),
        "functions": refused("the deprecated function-calling shape; use tools"),
        "function_call": refused("the deprecated function-calling shape; use tool_choice"),
        MESSAGE_NAME: refused(f"{provider} has no participant names"),
        CACHE_BREAKPOINT: ignored(f"a cache hint; {provider} caches prompt prefixes on its own"),
        CACHE_CONTROL: ignored(f"a cache hint; {provider} caches prompt prefixes on its own"),
        TOOL_CACHE_CONTROL: ignored(f"a cache hint; {provider} caches prompt prefixes on its own"),
    }
