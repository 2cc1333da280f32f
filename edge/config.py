"""The gateway's configuration: one YAML file decoded into frozen, typed structs (msgspec).

``${VAR}`` and ``${VAR:-default}`` in any string value are replaced from the environment; a missing
variable without a default is an error that names it. Every error names the path and the value at
fault (``models.smart.route[0].provider: unknown provider 'opneai'``), with secrets masked.
The file a user writes is examples/edge.yaml; the README documents every key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml
from msgspec import Struct, field

from edge.adapters import KINDS
from edge.fastpath import jsonio

from .config_batch import BatchConfig
from .config_check import check_config, renamed_cooldown_keys
from .config_text import ConfigError, describe, redact_url, substitute
from .config_tracing import TracingConfig, resolve_tracing

__all__ = ["Config", "ConfigError", "TracingConfig", "load_config", "parse_config"]

RetryCondition = int | Literal["timeout", "connection"]
Check = Literal["invalid_json", "truncated", "refusal", "empty"]


class _Frozen(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every config section: immutable, no unknown keys. Subclasses repeat ``frozen=True``
    (msgspec inherits it; type checkers read each class's own arguments)."""


class ServerConfig(_Frozen, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = None
    workers: int = 1
    max_body_mb: float = 16.0
    drain_timeout_s: float = 30.0
    access_log: bool = False
    # The hot endpoints (chat, Responses, Messages, embeddings) on edge.server's own HTTP/1.1
    # protocol; false: every endpoint on aiohttp's.
    lean_path: bool = True
    # Hostile-client caps (docs/hostile.md). A connection must send its whole request head
    # within keepalive_timeout_s (also how long an idle keep-alive connection stays open) and
    # its body within body_timeout_s; head lines and header fields over max_header_bytes, or
    # more than max_headers headers, are refused with 400 and the connection closed.
    keepalive_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    max_header_bytes: int = 16384
    max_headers: int = 128
    # Requests in flight per worker: over max_concurrent -> 503, over max_concurrent_per_key
    # (per Authorization value) -> 429, both with Retry-After. 0 turns a cap off.
    max_concurrent: int = 1024
    max_concurrent_per_key: int = 256
    # Anthropic Messages streams: a ping event after this long without a write (0: never).
    ping_interval_s: float = 10.0


class StateConfig(_Frozen, frozen=True):
    ledger: str = "sqlite:///./edge.db"
    redis: str = ""
    # A budget check, key reload or admin call waits at most this long for the ledger store,
    # then answers 503 with Retry-After (edge.store.guard).
    store_timeout_s: float = 1.5
    # Where ledger rows wait on disk while the store cannot take them (edge.ledger); empty:
    # "<ledger file>.spool" beside a SQLite ledger, "edge-spool" beside the config for PostgreSQL.
    spool_dir: str = ""
    # Where they go when spool_dir cannot be written (a full disk); empty: the temp folder or
    # /dev/shm, if on another filesystem (edge.store.spool_chain); "off": rows wait in memory.
    spool_fallback_dir: str = ""
    # How often each worker hands its queued ledger rows to the store (edge.ledger).
    ledger_flush_s: float = 0.5


class ProviderConfig(_Frozen, frozen=True):
    """What every provider entry may say; a kind's own options (edge.adapters: its module's
    ``KIND.options``, e.g. anthropic's default_max_tokens) sit beside these keys in the YAML and
    end up decoded in ``options``."""

    kind: str
    base_url: str = ""
    api_key: str | None = None
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)
    max_connections: int = 256
    # The largest plain (non-streamed) answer read from it; larger ones fail as they arrive
    # (edge/client/response.py MAX_BODY_BYTES says why 64).
    max_response_mb: float = 64.0
    # The most a stream from it may send in all (decoded size); beyond it the stream ends with
    # the dialect's error event and a 502 (edge/client/response.py MAX_STREAM_BYTES says why 256).
    max_stream_mb: float = 256.0
    # Upstream models advertised by GET /v1/models as "<provider>/<model>".
    models: list[str] = field(default_factory=list)
    # The kind's options struct, filled in by the loader (never written in the YAML as such).
    options: Any = None


class RouteConfig(_Frozen, frozen=True):
    provider: str
    model: str
    weight: float = 1.0
    max_concurrency: int | None = None


class EscalateConfig(_Frozen, frozen=True):
    from_: str = field(name="from")
    to: str
    when: list[Check] = field(default_factory=lambda: ["invalid_json", "truncated", "refusal", "empty"])


class ModelConfig(_Frozen, frozen=True):
    route: list[RouteConfig] = field(default_factory=list)
    strategy: Literal["weighted", "least_busy", "latency"] = "weighted"
    fallbacks: list[str] = field(default_factory=list)
    escalate: EscalateConfig | None = None
    context_window: int | None = None
    max_tokens: int | None = None
    # Request fields a route cannot honour: dropped and named (true) or refused with 400
    # (false); unset: routing.drop_params (edge.params).
    drop_params: bool | None = None
    # Every route (and fallback) cooling down: send the request to the route whose cooldown
    # started first (Envoy's panic mode), or, false, answer 503 cooling_down.
    panic: bool = True
    # Prompt-cache breakpoints and the response cache (edge.prompt_cache, edge.rcache).
    cache: ModelCacheConfig | None = None


class CooldownConfig(_Frozen, frozen=True):
    """Outlier detection per route (edge.routing.breaker; Envoy's OutlierDetection).

    One outcome is one request on a route: failed when all its attempts there failed with a
    retry_on condition, succeeded when one answered (a failure its own retry recovered does not
    count). 0 turns consecutive_failures or failure_percent off.
    """

    consecutive_failures: int = 5
    failure_percent: float = 50.0
    min_requests: int = 20
    window_s: float = 30.0
    base_ejection_s: float = 30.0
    max_ejection_s: float = 300.0
    max_ejection_percent: float = 50.0


class RoutingConfig(_Frozen, frozen=True):
    retries: int = 2
    retry_on: list[RetryCondition] = field(default_factory=lambda: [429, 500, 502, 503, 504, "timeout", "connection"])
    honor_retry_after: bool = True
    # A Retry-After longer than this is not waited for on the same route.
    max_retry_wait_s: float = 5.0
    timeout_s: float = 600.0
    # Streams: how long an upstream may take to start answering (its response headers).
    first_byte_timeout_s: float = 60.0
    # Retries add at most this fraction to the requests of the last 10 s, with a floor of
    # retry_budget_min retries per 10 s so a quiet gateway can still retry.
    retry_budget: float = 0.2
    retry_budget_min: int = 10
    cooldown: CooldownConfig = field(default_factory=CooldownConfig)
    # Request fields a route cannot honour are dropped and named rather than refused (edge.params).
    drop_params: bool = False


class PriceConfig(_Frozen, frozen=True):
    """USD per 1M tokens. Cache reads (``cached_input``) and writes (``cache_write`` for a
    five-minute TTL, ``cache_write_1h`` for one hour) default to the input rate."""

    input: float
    output: float
    cached_input: float | None = None
    reasoning: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None


class ResponseCacheModel(_Frozen, frozen=True):
    """One model's entries in the gateway's response cache (edge.rcache)."""

    # Seconds an answer is kept; 0: only requests with the x-edge-cache header are cached.
    ttl_s: float = 0.0
    # One cache for every gateway key (otherwise each key has its own).
    shared: bool = False
    # Also cache requests that send a temperature above 0 (sampled answers).
    temperature: bool = False


class ModelCacheConfig(_Frozen, frozen=True):
    """``models.<name>.cache``: prompt-cache breakpoints added for the providers that take them
    (Anthropic), and the response cache."""

    auto: list[Literal["system", "tools"]] = field(default_factory=list)
    auto_ttl: Literal["5m", "1h"] = "5m"
    response: ResponseCacheModel | None = None


class CacheConfig(_Frozen, frozen=True):
    """``cache``: where the response cache keeps answers (off for every model by default)."""

    backend: Literal["memory", "redis"] = "memory"
    # memory: per worker, least recently used first out beyond this size.
    max_mb: float = 64.0
    # An answer larger than this is not kept (nor a stream that grows past it).
    max_entry_kb: float = 1024.0
    # redis: the URL (empty: state.redis), the key prefix, and how long a request waits for it.
    redis: str = ""
    prefix: str = "edge:rc:"
    redis_timeout_s: float = 0.2
    redis_retry_s: float = 5.0


class KeysConfig(_Frozen, frozen=True):
    admin: str | None = None
    # How often each worker re-reads the gateway keys from the store (edge.auth).
    refresh_s: float = 0.5


class RateLimit(_Frozen, frozen=True):
    rpm: int | None = None
    tpm: int | None = None


class LimitsConfig(_Frozen, frozen=True):
    default: RateLimit = field(default_factory=RateLimit)
    # With state.redis (edge.limits.health): a request waits at most redis_timeout_s for Redis;
    # one that did not answer is probed in the background every redis_retry_s, and meanwhile
    # each key gets this host's share of its limit (limit / live instances; until Redis has
    # told how many instances are live, limit / instances).
    redis_timeout_s: float = 0.2
    redis_retry_s: float = 1.0
    instances: int = 1
    # How often each worker re-reads budget spend from the ledger (edge.limits.budgets).
    budget_refresh_s: float = 1.0


class BudgetConfig(_Frozen, frozen=True):
    usd: float
    period: Literal["day", "month"] = "month"
    tag: str | None = None
    key: str | None = None


class UiConfig(_Frozen, frozen=True):
    """The pages the gateway serves itself (edge/http/ui.py, edge/http/catalog_page.py)."""

    # GET /ui: the dashboard (signed in with keys.admin); its JSON endpoints stay on either way.
    enabled: bool = True
    # GET /models: the public model catalog page (no key).
    catalog: bool = True


class ResponsesConfig(_Frozen, frozen=True):
    """The Responses API's stored conversations (edge/responses/store.py), kept in the ledger's
    store (state.ledger): a response made with ``store: true`` can be retrieved, and continued
    with ``previous_response_id``, on every instance for this long."""

    retention_days: float = 30.0


class Config(_Frozen, frozen=True):
    server: ServerConfig = field(default_factory=ServerConfig)
    state: StateConfig = field(default_factory=StateConfig)
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    allow_passthrough: bool = True
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    prices: dict[str, PriceConfig] = field(default_factory=dict)
    keys: KeysConfig = field(default_factory=KeysConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    budgets: list[BudgetConfig] = field(default_factory=list)
    ui: UiConfig = field(default_factory=UiConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    # OpenTelemetry traces; every field resolved against OTEL_* at load (edge.config_tracing).
    tracing: TracingConfig = field(default_factory=TracingConfig)
    # The Batch API: rows run by the gateway itself (edge.batch, edge.config_batch).
    batch: BatchConfig = field(default_factory=BatchConfig)
    # Where the file was read from; relative sqlite paths resolve against its folder.
    source: str = "<embedded default>"


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and validate a YAML config file. Raises ConfigError."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # found by tools/fuzz/fuzz_config.py
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}): save the config as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    return parse_config(raw if raw is not None else {}, env=env, source=str(file))


def parse_config(raw: Any, env: Mapping[str, str] | None = None, source: str = "<config>") -> Config:
    """Validate an already-parsed document (dicts and lists) into a Config."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    used: set[str] = set()
    env = os.environ if env is None else env
    try:
        raw = substitute(raw, env, "", used)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        config = _validate(raw, source)
        try:
            return msgspec.structs.replace(config, tracing=resolve_tracing(config.tracing, env))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    except ConfigError as exc:
        # A value that came from the environment may be a secret wherever it was put (a key in
        # a URL, say): an error never shows it (found by tools/fuzz/fuzz_config.py).
        message = str(exc)
        for value in sorted(used, key=len, reverse=True):
            if len(value) >= 6:
                message = message.replace(value, "<from environment>")
        raise ConfigError(message) from None


def _validate(raw: dict[str, Any], source: str) -> Config:
    raw["source"] = source
    # Sections keyed by user-chosen names are checked entry by entry first, so an error can name
    # the entry (msgspec reports dict values as "[...]").
    options = _kind_options(raw, source)
    for section, entry_type in (("providers", ProviderConfig), ("models", ModelConfig), ("prices", PriceConfig)):
        entries = raw.get(section)
        if isinstance(entries, dict):
            for name, entry in entries.items():
                _convert(entry, entry_type, raw, f"{section}.{name}", source)
    renamed = renamed_cooldown_keys(raw)
    if renamed:
        raise ConfigError(f"{source}: " + "\n  ".join(renamed))
    config = _convert(raw, Config, raw, "", source)
    providers = {name: msgspec.structs.replace(p, options=options.get(name) or KINDS[p.kind].options()) for name, p in config.providers.items()}
    config = msgspec.structs.replace(config, providers=providers)
    check_config(config, source)
    return config


_COMMON_PROVIDER_KEYS = frozenset(f.encode_name for f in msgspec.structs.fields(ProviderConfig)) - {"options"}


def _kind_options(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Take each provider entry's own-kind keys out of ``raw`` and decode them with that kind's
    options struct; returns them by provider name. An unknown kind, or an option of another kind,
    is an error naming the path."""
    entries = raw.get("providers")
    found: dict[str, Any] = {}
    if not isinstance(entries, dict):
        return found
    for name, entry in list(entries.items()):
        if not isinstance(entry, dict) or "kind" not in entry:
            continue  # the ProviderConfig check reports it
        kind = entry["kind"]
        spec = KINDS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            raise ConfigError(f"{source}: providers.{name}.kind: invalid enum value {kind!r} (known: {', '.join(sorted(KINDS))})")
        own = {k: v for k, v in entry.items() if k not in _COMMON_PROVIDER_KEYS}
        for key in own:
            if key not in {f.encode_name for f in msgspec.structs.fields(spec.options)}:
                owners = sorted(k.name for k in KINDS.values() if key in {f.encode_name for f in msgspec.structs.fields(k.options)})
                where = f"only for kind {' and '.join(owners)}" if owners else "unknown field"
                raise ConfigError(f"{source}: providers.{name}.{key}: {where} (this one is {kind})")
        entries[name] = {k: v for k, v in entry.items() if k in _COMMON_PROVIDER_KEYS}
        try:
            found[name] = msgspec.convert(own, type=spec.options, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{source}: {describe(exc, own, f'providers.{name}')}") from None
    return found


def _convert(node: Any, type: Any, raw: Any, prefix: str, source: str) -> Any:
    try:
        return msgspec.convert(node, type=type, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {describe(exc, raw, prefix)}") from None


def dump_config(config: Config) -> bytes:
    """The effective config as JSON with secrets masked (for `edge config` and debugging)."""
    doc = jsonio.to_builtins(config)
    for provider in doc.get("providers", {}).values():
        if provider.get("api_key"):
            provider["api_key"] = "<redacted>"
    if doc.get("keys", {}).get("admin"):
        doc["keys"]["admin"] = "<redacted>"
    tracing = doc.get("tracing") or {}
    if tracing.get("headers"):  # exporter headers usually carry a vendor's API key
        tracing["headers"] = {name: "<redacted>" for name in tracing["headers"]}
    doc["state"]["ledger"] = redact_url(doc["state"]["ledger"])
    doc["state"]["redis"] = redact_url(doc["state"]["redis"])
    doc["cache"]["redis"] = redact_url(doc["cache"]["redis"])
    return jsonio.dumps(doc)
