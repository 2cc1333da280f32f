"""The caching config (issue 17): what a bad value is told, with the path at fault."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, dump_config, parse_config

PROVIDERS = {"up": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}}


def _model(cache: object) -> dict[str, object]:
    return {"providers": PROVIDERS, "models": {"m": {"route": [{"provider": "up", "model": "x"}], "cache": cache}}}


def test_a_redis_backend_needs_a_url() -> None:
    with pytest.raises(ConfigError, match=r"cache.backend: redis needs cache.redis or state.redis"):
        parse_config({"cache": {"backend": "redis"}})
    config = parse_config({"cache": {"backend": "redis"}, "state": {"redis": "redis://127.0.0.1:6379/3"}})
    assert config.cache.backend == "redis" and config.cache.prefix == "edge:rc:"
    with pytest.raises(ConfigError, match=r"cache.redis: must be a redis:// URL"):
        parse_config({"cache": {"backend": "redis", "redis": "http://x"}})


def test_model_cache_values_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"models.m.cache.auto"):
        parse_config(_model({"auto": ["system", "messages"]}))
    with pytest.raises(ConfigError, match=r"models.m.cache.auto_ttl"):
        parse_config(_model({"auto": ["system"], "auto_ttl": "2h"}))
    with pytest.raises(ConfigError, match=r"models.m.cache.response.ttl_s: must be 0"):
        parse_config(_model({"response": {"ttl_s": -1}}))
    with pytest.raises(ConfigError, match=r"cache.max_mb: must be positive"):
        parse_config({"cache": {"max_mb": 0}})
    config = parse_config(_model({"auto": ["system", "tools"], "response": {"ttl_s": 60, "shared": True}}))
    cache = config.models["m"].cache
    assert cache is not None and cache.auto == ["system", "tools"] and cache.response is not None and cache.response.shared


def test_the_cache_redis_password_is_masked() -> None:
    config = parse_config({"cache": {"backend": "redis", "redis": "redis://:hunter2-secret@127.0.0.1:6379/0"}})
    assert b"hunter2-secret" not in dump_config(config)
