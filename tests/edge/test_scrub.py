"""edge.scrub.Scrubber on its own: what counts as a secret, the forms it takes in JSON, where
locations are removed, and that nothing is copied when nothing matches (it runs per chunk).
End-to-end cases with a real echoing upstream are in tests/hostile/test_secrets_upstream.py."""

from __future__ import annotations

import json
import logging

import pytest

from edge.config import parse_config
from edge.errors import UpstreamError
from edge.adapters.types import UpstreamErrorInfo
from edge.scrub import Scrubber, ScrubbingLogFilter, redact_credential_headers

CONFIG = {
    "state": {"ledger": "postgresql://edge:pg-pass-0a1b2c@db.internal:5432/edge?sslpassword=ssl-pass-9z8y", "redis": "redis://:redis-pw-77aa@cache:6379/0"},
    "keys": {"admin": "sk-admin-aaaaaaaaaaaa"},
    "providers": {
        "up": {"kind": "openai", "base_url": "http://10.1.2.3:8000/v1", "api_key": "sk-up-key-1234567890", "headers": {"x-custom": 'quo"te/slash\\key', "x-flag": "1"}},
        "gem": {"kind": "gemini", "base_url": "https://user:url-pass-55@gemini.internal/v1beta", "api_key": "AIza-gem-key-0987654321"},
    },
}


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber.from_config(parse_config(CONFIG))


def test_every_secret_in_the_config_is_known(scrubber: Scrubber) -> None:
    for secret in ("sk-admin-aaaaaaaaaaaa", "sk-up-key-1234567890", 'quo"te/slash\\key', "AIza-gem-key-0987654321", "url-pass-55", "user:url-pass-55", "pg-pass-0a1b2c", "ssl-pass-9z8y", "redis-pw-77aa"):
        assert secret in scrubber.secrets, secret
    assert "1" not in scrubber.secrets  # shorter than MIN_SECRET: not treated as a secret
    assert {"10.1.2.3:8000", "10.1.2.3", "gemini.internal"} <= set(scrubber.locations)


def test_secrets_are_found_in_their_json_forms(scrubber: Scrubber) -> None:
    doc = json.dumps({"message": 'header quo"te/slash\\key'})
    wire = json.dumps({"m": 'quo"te/slash\\key'}).replace("/", "\\/").encode()  # PHP-style "\/"
    for data in (doc.encode(), wire):
        clean = scrubber.bytes(data)
        assert b"slash" not in clean and b"[redacted]" in clean
        json.loads(clean)  # still JSON


def test_nothing_is_copied_when_nothing_matches(scrubber: Scrubber) -> None:
    data = b'data: {"choices":[{"delta":{"content":"hello from 10.1.2.3:8000"}}]}\n\n'
    assert scrubber.bytes(data) is data
    assert scrubber.sse(data) is data  # a location in content is left alone
    text = "nothing secret here"
    assert scrubber.text(text) is text and scrubber.error_text(text) is text


def test_locations_leave_error_events_only(scrubber: Scrubber) -> None:
    piece = b'data: {"choices":[{"delta":{"content":"at 10.1.2.3:8000"}}]}\n\ndata: {"error": {"message": "upstream 10.1.2.3:8000 failed, key sk-up-key-1234567890"}}\n\n'
    clean = scrubber.sse(piece)
    first, second = clean.split(b"\n\n")[:2]
    assert b"10.1.2.3:8000" in first and b"10.1.2.3" not in second and b"sk-up-key" not in second
    assert second == b'data: {"error": {"message": "upstream [redacted] failed, key [redacted]"}}'


def test_error_text_loses_a_secret_cut_at_its_end(scrubber: Scrubber) -> None:
    assert scrubber.error_text("proxy said: Bearer sk-up-key-12") == "proxy said: Bearer [redacted]"
    assert scrubber.error_text("ends in sk-") == "ends in sk-"  # three characters are a public prefix
    assert scrubber.error_text("at http://10.1.2.3:8000/v1") == "at http://[redacted]/v1"


def test_an_upstream_error_is_scrubbed_in_every_field(scrubber: Scrubber) -> None:
    info = UpstreamErrorInfo(status=400, message="key sk-up-key-1234567890", type="t sk-up-key-1234567890", code="10.1.2.3:8000", param="AIza-gem-key-0987654321")
    err = scrubber.error(UpstreamError(info, "up"))
    assert (err.message, err.type, err.code, err.param) == ("key [redacted]", "t [redacted]", "[redacted]", "[redacted]")
    assert err.info.message == "key [redacted]" and err.info.param == "[redacted]"
    assert b"sk-up" not in err.envelope()


def test_a_scrubber_is_immutable(scrubber: Scrubber) -> None:
    with pytest.raises(AttributeError):
        scrubber.secrets = ()  # type: ignore[misc]


def test_credential_headers_are_redacted_by_name() -> None:
    text = "Invalid header value char:\n\n  b'Authorization: Bearer sk-client-1\\x01'\n      ^\n  X-Api-Key: abc'd\"ef\ncookie:s=1"
    clean = redact_credential_headers(text)
    assert "sk-client-1" not in clean and "abc" not in clean and "s=1" not in clean
    assert clean.count("[redacted]") == 3 and "Invalid header value char" in clean


def test_the_log_filter_scrubs_messages_arguments_and_tracebacks(scrubber: Scrubber) -> None:
    try:
        raise ValueError("boom sk-up-key-1234567890")
    except ValueError as exc:
        record = logging.LogRecord("edge", logging.ERROR, __file__, 1, "call to %s failed", ("sk-admin-aaaaaaaaaaaa",), (type(exc), exc, exc.__traceback__))
    assert ScrubbingLogFilter(scrubber).filter(record)
    line = logging.Formatter().format(record)
    assert "sk-admin" not in line and "sk-up-key" not in line and line.count("[redacted]") == 3  # message, source line, exception
