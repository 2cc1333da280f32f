"""The tracing: section and the standard OTEL_* variables: which wins, defaults, errors that say what is wrong."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, dump_config, parse_config


def tracing(doc: dict | None = None, **env: str):  # type: ignore[no-untyped-def]
    return parse_config({"tracing": doc} if doc is not None else {}, env=env).tracing


def test_off_by_default_with_the_otlp_defaults() -> None:
    t = tracing()
    assert t.enabled is False
    assert (t.endpoint, t.protocol, t.service_name, t.sampler, t.sampler_arg, t.capture_content) == (
        "http://localhost:4318/v1/traces", "http/protobuf", "llm-edge", "parentbased_always_on", 1.0, False,
    )


def test_an_otlp_endpoint_variable_turns_it_on_and_gets_the_signal_path() -> None:
    t = tracing(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/")
    assert t.enabled is True and t.endpoint == "http://collector:4318/v1/traces"
    assert tracing(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://c:9/custom").endpoint == "http://c:9/custom"
    grpc = tracing(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert (grpc.protocol, grpc.endpoint) == ("grpc", "http://collector:4317")


def test_the_file_wins_over_the_environment() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_SERVICE_NAME": "from-env", "OTEL_TRACES_SAMPLER": "always_off"}
    t = tracing({"enabled": False, "endpoint": "http://file:4318/v1/traces", "service_name": "from-file", "sampler": "traceidratio", "sampler_arg": 0.25}, **env)
    assert (t.enabled, t.endpoint, t.service_name, t.sampler, t.sampler_arg) == (False, "http://file:4318/v1/traces", "from-file", "traceidratio", 0.25)
    t = tracing({"enabled": True}, **env)
    assert (t.endpoint, t.service_name, t.sampler) == ("http://env:4318/v1/traces", "from-env", "always_off")


def test_the_sdk_kill_switches_win_over_the_file() -> None:
    assert tracing({"enabled": True}, OTEL_SDK_DISABLED="true").enabled is False
    assert tracing({"enabled": True}, OTEL_TRACES_EXPORTER="none").enabled is False


def test_headers_timeout_sampler_arg_and_content_from_the_environment() -> None:
    t = tracing(
        {"enabled": True},
        OTEL_EXPORTER_OTLP_HEADERS="api-key=s3cr%3Dt,x-team=a",
        OTEL_EXPORTER_OTLP_TIMEOUT="2500",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.1",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
    )
    assert t.headers == {"api-key": "s3cr=t", "x-team": "a"}
    assert (t.timeout_s, t.sampler, t.sampler_arg, t.capture_content) == (2.5, "parentbased_traceidratio", 0.1, True)
    # Exporter headers are credentials: `edge config` masks them.
    assert b"s3cr" not in dump_config(parse_config({"tracing": {"enabled": True}}, env={"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr3t"}))


@pytest.mark.parametrize(
    ("doc", "env", "message"),
    [
        ({"sampler": "sometimes"}, {}, "tracing.sampler: must be one of"),
        ({"sampler": "traceidratio", "sampler_arg": 2}, {}, "tracing.sampler_arg: must be between 0 and 1"),
        ({"endpoint": "collector:4318"}, {}, "tracing.endpoint: must be an http(s):// URL"),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json is not supported"),
        ({}, {"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: only 'otlp' or 'none'"),
        ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS: expected comma-separated key=value pairs"),
        ({}, {"OTEL_TRACES_SAMPLER_ARG": "half", "OTEL_TRACES_SAMPLER": "traceidratio"}, "OTEL_TRACES_SAMPLER_ARG: must be a number"),
        ({"protocol": "carrier-pigeon"}, {}, "tracing.protocol"),
        ({"enable": True}, {}, "tracing"),
    ],
)
def test_bad_values_name_the_key(doc: dict, env: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"tracing": doc}, env=env, source="edge.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("edge.yaml: ")
