"""The embedded default config: what ``edge serve`` runs with no config file.

The built-in mock provider (models mock/echo, mock/tool, mock/json, ...), a SQLite ledger in
$EDGE_HOME (or the current folder), and every provider whose key is in the environment, under the
variable names the vendors' own SDKs read (OPENAI_API_KEY and OPENAI_BASE_URL, and so on), and
OpenTelemetry traces when the standard OTEL_* variables ask for them.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.adapters.mock import MOCK_MODELS

from .config import Config, KeysConfig, ProviderConfig, StateConfig
from .config_tracing import TracingConfig, resolve_tracing

__all__ = ["embedded_config"]


def _ollama_url(host: str) -> str:
    # OLLAMA_HOST is what the ollama CLI reads: "host", "host:port" or a URL.
    url = host if "://" in host else "http://" + host
    scheme, _, rest = url.partition("://")
    if ":" not in rest.split("/")[0]:
        rest = rest.split("/")[0] + ":11434"
    return f"{scheme}://{rest.rstrip('/')}"


def embedded_config(env: Mapping[str, str]) -> Config:
    providers: dict[str, ProviderConfig] = {"mock": ProviderConfig(kind="mock", models=list(MOCK_MODELS))}
    if env.get("OPENAI_API_KEY"):
        providers["openai"] = ProviderConfig(kind="openai", base_url=env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1", api_key=env["OPENAI_API_KEY"])
    if env.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = ProviderConfig(kind="anthropic", base_url=env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com", api_key=env["ANTHROPIC_API_KEY"])
    if env.get("GEMINI_API_KEY"):
        providers["gemini"] = ProviderConfig(kind="gemini", base_url=env.get("GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com", api_key=env["GEMINI_API_KEY"])
    if env.get("OLLAMA_HOST"):
        providers["ollama"] = ProviderConfig(kind="ollama", base_url=_ollama_url(env["OLLAMA_HOST"]))
    home = env.get("EDGE_HOME") or "."
    return Config(
        providers=providers,
        state=StateConfig(ledger=f"sqlite:///{home.rstrip('/')}/edge.db"),
        keys=KeysConfig(admin=env.get("EDGE_ADMIN_KEY") or None),
        # The standard OTEL_* variables turn traces on here too (an OTLP endpoint set).
        tracing=resolve_tracing(TracingConfig(), env),
    )
