"""The config checks that types cannot express: names that must refer to something, ranges,
URLs, header syntax, cooldown settings, fallback cycles. edge.config decodes the YAML into its
structs and calls ``check_config``; every error names the path and the value at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge.adapters import KINDS

from .config_text import ConfigError, redact_url

if TYPE_CHECKING:
    from .config import Config, CooldownConfig

__all__ = ["check_config", "renamed_cooldown_keys"]


def _token(name: str) -> bool:
    """An HTTP field name (RFC 9110 section 5.1: a token)."""
    return bool(name) and name.isascii() and all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name)


def check_config(config: Config, source: str) -> None:
    """What types cannot say: names that must refer to something, ranges, URLs."""
    errors: list[str] = []
    s = config.server
    if not 0 <= s.port <= 65535:
        errors.append(f"server.port: must be 0..65535 (got {s.port})")
    if s.grpc_port is not None and not 0 <= s.grpc_port <= 65535:
        errors.append(f"server.grpc_port: must be 0..65535 (got {s.grpc_port})")
    if s.workers < 1:
        errors.append(f"server.workers: must be at least 1 (got {s.workers})")
    if s.max_body_mb <= 0:
        errors.append(f"server.max_body_mb: must be positive (got {s.max_body_mb})")
    for name in ("keepalive_timeout_s", "body_timeout_s", "max_header_bytes", "max_headers"):
        if getattr(s, name) <= 0:
            errors.append(f"server.{name}: must be positive (got {getattr(s, name)})")
    for name in ("max_concurrent", "max_concurrent_per_key", "ping_interval_s"):
        if getattr(s, name) < 0:
            errors.append(f"server.{name}: must be 0 (off) or more (got {getattr(s, name)})")
    ledger = config.state.ledger
    if not ledger.startswith(("sqlite://", "postgresql://", "postgres://")):
        errors.append(f"state.ledger: must be sqlite:///path or postgresql://... (got {redact_url(ledger)!r})")
    if not 0 < config.state.store_timeout_s <= 60:
        errors.append(f"state.store_timeout_s: must be more than 0 and at most 60 (got {config.state.store_timeout_s})")
    for where, seconds in (("state.ledger_flush_s", config.state.ledger_flush_s), ("keys.refresh_s", config.keys.refresh_s), ("limits.budget_refresh_s", config.limits.budget_refresh_s)):
        if seconds <= 0:
            errors.append(f"{where}: must be positive (got {seconds})")
    if config.state.redis and not config.state.redis.startswith(("redis://", "rediss://", "unix://")):
        errors.append(f"state.redis: must be a redis:// URL or empty (got {redact_url(config.state.redis)!r})")
    errors.extend(_cache_errors(config))
    for name, provider in config.providers.items():
        if "/" in name:
            errors.append(f"providers.{name}: a provider name cannot contain '/'")
        if KINDS[provider.kind].needs_base_url and not provider.base_url.startswith(("http://", "https://")):
            errors.append(f"providers.{name}.base_url: must be an http(s) URL (got {provider.base_url!r})")
        if provider.timeout_s <= 0:
            errors.append(f"providers.{name}.timeout_s: must be positive (got {provider.timeout_s})")
        if provider.max_connections < 1:
            errors.append(f"providers.{name}.max_connections: must be at least 1 (got {provider.max_connections})")
        if provider.max_response_mb <= 0:
            errors.append(f"providers.{name}.max_response_mb: must be positive (got {provider.max_response_mb})")
        if provider.max_stream_mb <= 0:
            errors.append(f"providers.{name}.max_stream_mb: must be positive (got {provider.max_stream_mb})")
        for header, value in provider.headers.items():
            # Values can hold secrets: name the header, never echo the value.
            if not _token(header):
                errors.append(f"providers.{name}.headers: {header!r} is not a valid header name")
            elif any(c in value for c in "\r\n\0") or not value.isascii():
                errors.append(f"providers.{name}.headers.{header}: the value must be printable ASCII on one line")
    for name, model in config.models.items():
        where = f"models.{name}"
        if not model.route and model.escalate is None:
            errors.append(f"{where}: needs a route (or an escalate block)")
        for i, route in enumerate(model.route):
            if route.provider not in config.providers:
                errors.append(f"{where}.route[{i}].provider: unknown provider {route.provider!r}" + _known(config.providers))
            if route.weight < 0:
                errors.append(f"{where}.route[{i}].weight: must not be negative (got {route.weight})")
        for i, other in enumerate(model.fallbacks):
            if other == name:
                errors.append(f"{where}.fallbacks[{i}]: a model cannot fall back to itself")
            elif other not in config.models:
                errors.append(f"{where}.fallbacks[{i}]: unknown model {other!r}" + _known(config.models))
        if model.escalate is not None:
            for key in ("from_", "to"):
                target = getattr(model.escalate, key)
                if target == name or target not in config.models:
                    errors.append(f"{where}.escalate.{key.rstrip('_')}: unknown model {target!r}" + _known(config.models))
    errors.extend(_cooldown_errors(config.routing.cooldown))
    for name in ("redis_timeout_s", "redis_retry_s"):
        if getattr(config.limits, name) <= 0:
            errors.append(f"limits.{name}: must be positive (got {getattr(config.limits, name)})")
    if config.limits.instances < 1:
        errors.append(f"limits.instances: must be at least 1 (got {config.limits.instances})")
    errors.extend(_cycles(config))
    errors.extend(_batch_errors(config))
    for name in config.prices:
        if config.prices[name].input < 0 or config.prices[name].output < 0:
            errors.append(f"prices.{name}: prices must not be negative")
    if errors:
        raise ConfigError(f"{source}: " + "\n  ".join(errors))


def _batch_errors(config: Config) -> list[str]:
    b = config.batch
    errors = [f"batch.{name}: must be positive (got {getattr(b, name)})" for name in ("max_file_mb", "lease_s", "poll_s", "flush_s") if getattr(b, name) <= 0]
    errors += [f"batch.{name}: must be at least 1 (got {getattr(b, name)})" for name in ("concurrency", "min_concurrency", "max_rows") if getattr(b, name) < 1]
    if b.min_concurrency > b.concurrency:
        errors.append(f"batch.min_concurrency: must be at most batch.concurrency ({b.concurrency}, got {b.min_concurrency})")
    if not 0 <= b.live_reserve < 1:
        errors.append(f"batch.live_reserve: must be at least 0 and less than 1 (got {b.live_reserve})")
    return errors


def _cooldown_errors(c: CooldownConfig) -> list[str]:
    where = "routing.cooldown"
    errors = [f"{where}.{name}: must be 0 (off) or more (got {getattr(c, name)})" for name in ("consecutive_failures",) if getattr(c, name) < 0]
    for name in ("failure_percent", "max_ejection_percent"):
        if not 0 <= getattr(c, name) <= 100:
            errors.append(f"{where}.{name}: must be a percentage, 0..100 (got {getattr(c, name)})")
    if c.min_requests < 1:
        errors.append(f"{where}.min_requests: must be at least 1 (got {c.min_requests})")
    for name in ("window_s", "base_ejection_s"):
        if getattr(c, name) <= 0:
            errors.append(f"{where}.{name}: must be positive (got {getattr(c, name)})")
    if c.max_ejection_s < c.base_ejection_s:
        errors.append(f"{where}.max_ejection_s: must be at least base_ejection_s ({c.base_ejection_s:g}) (got {c.max_ejection_s})")
    return errors


# Keys of routing.cooldown before outlier detection, and what replaced each.
_RENAMED_COOLDOWN = {
    "failures": "consecutive_failures (failures in a row) or failure_percent with min_requests",
    "for_s": "base_ejection_s (and max_ejection_s)",
}


def renamed_cooldown_keys(raw: dict[str, Any]) -> list[str]:
    routing = raw.get("routing")
    cooldown = routing.get("cooldown") if isinstance(routing, dict) else None
    if not isinstance(cooldown, dict):
        return []
    return [f"routing.cooldown.{old}: no longer a setting (got {cooldown[old]!r}); use {new}" for old, new in _RENAMED_COOLDOWN.items() if old in cooldown]


def _cycles(config: Config) -> list[str]:
    """Fallback and escalation chains must end: A -> B -> A is a config error."""
    edges = {
        name: [*model.fallbacks, *((model.escalate.from_, model.escalate.to) if model.escalate else ())]
        for name, model in config.models.items()
    }
    found: list[str] = []
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name):] + [name]
            found.append(f"models.{cycle[0]}: fallbacks/escalation form a cycle: {' -> '.join(cycle)}")
            return
        if name in done or name not in edges:
            return
        for other in edges[name]:
            if other != name:  # self-references are reported on their own
                walk(other, [*path, name])
        done.add(name)

    for name in edges:
        walk(name, [])
    return sorted(set(found))


def _known(names: Mapping[str, Any]) -> str:
    return f" (known: {', '.join(sorted(names))})" if names else " (none are configured)"


def _cache_errors(config: Config) -> list[str]:
    """The response cache (edge.rcache): a Redis to keep it in, sizes and times that make sense."""
    cache = config.cache
    errors: list[str] = []
    url = cache.redis or config.state.redis
    if cache.backend == "redis" and not url:
        errors.append("cache.backend: redis needs cache.redis or state.redis (a redis:// URL)")
    if cache.redis and not cache.redis.startswith(("redis://", "rediss://", "unix://")):
        errors.append(f"cache.redis: must be a redis:// URL or empty (got {redact_url(cache.redis)!r})")
    for name in ("max_mb", "max_entry_kb", "redis_timeout_s", "redis_retry_s"):
        if getattr(cache, name) <= 0:
            errors.append(f"cache.{name}: must be positive (got {getattr(cache, name)})")
    for name, model in config.models.items():
        response = model.cache.response if model.cache is not None else None
        if response is not None and not 0 <= response.ttl_s <= 30 * 86400:
            errors.append(f"models.{name}.cache.response.ttl_s: must be 0 (only on request) to 2592000 seconds (got {response.ttl_s})")
    return errors
