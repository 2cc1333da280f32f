"""The ``tracing:`` config section, and the standard OTEL_* variables that fill what it leaves unset.

A value written in the config wins; one left out comes from the OpenTelemetry SDK's environment
variable for it (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
and the OTLP exporter's https://opentelemetry.io/docs/specs/otel/protocol/exporter/); else the
default. Tracing is off unless ``tracing.enabled`` is true, or it is left out and an OTLP
endpoint variable is set. ``OTEL_SDK_DISABLED=true`` and ``OTEL_TRACES_EXPORTER=none`` turn it off
whatever the file says (the SDK's kill switches). This is the only place the gateway reads OTEL_*;
the SDK itself still reads its own tuning variables (OTEL_BSP_*, OTEL_EXPORTER_OTLP_CERTIFICATE,
OTEL_RESOURCE_ATTRIBUTES...) as it documents.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote

from msgspec import Struct, structs

from .config_text import ConfigError

__all__ = ["SAMPLERS", "TracingConfig", "resolve_tracing"]

Protocol = Literal["http/protobuf", "grpc"]
SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio")
_DEFAULT_ENDPOINTS = {"http/protobuf": "http://localhost:4318/v1/traces", "grpc": "http://localhost:4317"}
_EXPORTERS = {"http/protobuf": "opentelemetry.exporter.otlp.proto.http", "grpc": "opentelemetry.exporter.otlp.proto.grpc"}


class TracingConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """OpenTelemetry traces (README "Tracing"). None: not set in the file (OTEL_* or the default)."""

    enabled: bool | None = None
    # OTLP/HTTP: the whole URL (.../v1/traces); OTLP/gRPC: http(s)://host:port.
    endpoint: str | None = None
    protocol: Protocol | None = None
    headers: dict[str, str] | None = None  # sent with every export (a vendor's API key, say)
    timeout_s: float | None = None  # one export
    service_name: str | None = None
    sampler: str | None = None  # one of SAMPLERS (OTEL_TRACES_SAMPLER's names)
    sampler_arg: float | None = None  # the ratio of the *traceidratio samplers
    # Prompts and answers on the spans (gen_ai.input.messages / gen_ai.output.messages): off,
    # since they carry whatever users typed.
    capture_content: bool | None = None


def _flag(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() == "true"


def _headers(text: str, name: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoded values (the OTLP exporter spec's format)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            # The value may be a credential: name the variable, never echo it.
            raise ConfigError(f"{name}: expected comma-separated key=value pairs")
        out[unquote(key.strip())] = unquote(value.strip())
    return out


def _number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}: must be a number (got {raw[:40]!r})") from None


def resolve_tracing(config: TracingConfig, env: Mapping[str, str]) -> TracingConfig:
    """Every field filled: the file's value, else the OTEL_* variable, else the default."""
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter not in ("", "otlp", "none"):
        raise ConfigError(f"OTEL_TRACES_EXPORTER: only 'otlp' or 'none' are supported (got {exporter[:40]!r})")
    protocol = config.protocol or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol not in _DEFAULT_ENDPOINTS:
        raise ConfigError(f"tracing.protocol: must be http/protobuf or grpc (got {protocol[:40]!r}; http/json is not supported)")
    endpoint = config.endpoint
    signal_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if endpoint is None:
        if signal_endpoint:
            endpoint = signal_endpoint
        elif base_endpoint:
            # The base endpoint gets the signal's path for OTLP/HTTP only (exporter spec).
            endpoint = base_endpoint.rstrip("/") + "/v1/traces" if protocol == "http/protobuf" else base_endpoint
        else:
            endpoint = _DEFAULT_ENDPOINTS[protocol]
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"tracing.endpoint: must be an http(s):// URL (got {endpoint[:80]!r})")
    enabled = config.enabled
    if enabled is None:
        enabled = bool(signal_endpoint or base_endpoint)
    if _flag(env.get("OTEL_SDK_DISABLED")) or exporter == "none":
        enabled = False
    headers = config.headers
    if headers is None:
        for name in ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
            if env.get(name, "").strip():
                headers = _headers(env[name], name)
                break
    timeout_s = config.timeout_s
    if timeout_s is None:
        # The spec's unit is milliseconds.
        millis = _number(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or _number(env, "OTEL_EXPORTER_OTLP_TIMEOUT")
        timeout_s = millis / 1000.0 if millis else 10.0
    if timeout_s <= 0:
        raise ConfigError(f"tracing.timeout_s: must be positive (got {timeout_s})")
    sampler = (config.sampler or env.get("OTEL_TRACES_SAMPLER") or "parentbased_always_on").strip().lower()
    if sampler not in SAMPLERS:
        raise ConfigError(f"tracing.sampler: must be one of {', '.join(SAMPLERS)} (got {sampler[:40]!r})")
    sampler_arg = config.sampler_arg
    if sampler_arg is None:
        sampler_arg = _number(env, "OTEL_TRACES_SAMPLER_ARG") if sampler.endswith("traceidratio") else None
    sampler_arg = 1.0 if sampler_arg is None else sampler_arg
    if not 0.0 <= sampler_arg <= 1.0:
        raise ConfigError(f"tracing.sampler_arg: must be between 0 and 1 (got {sampler_arg})")
    service_name = config.service_name or env.get("OTEL_SERVICE_NAME", "").strip() or "llm-edge"
    capture = config.capture_content
    if capture is None:
        capture = bool(_flag(env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")))
    if enabled:
        _require_sdk(protocol)
    return structs.replace(
        config,
        enabled=enabled,
        endpoint=endpoint,
        protocol=protocol,
        headers=headers or {},
        timeout_s=timeout_s,
        service_name=service_name,
        sampler=sampler,
        sampler_arg=sampler_arg,
        capture_content=capture,
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing (or cannot be imported)
        return False


def _require_sdk(protocol: str) -> None:
    """Tracing on without the SDK is a config error at load, not a crash of every worker."""
    for module in ("opentelemetry.sdk", _EXPORTERS[protocol]):
        if not _installed(module):
            raise ConfigError(f"tracing is on but {module} is not installed: pip install 'llm-edge[otel]' (or turn tracing off)")
