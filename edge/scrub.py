"""Scrubbing: no configured secret leaves the gateway in anything an upstream sent back.

Some upstreams (and proxies in front of them) echo what they were sent: the Authorization
header in an error message, a custom auth header in ``error.param``, their own address in a
stack trace, a key inside an in-stream ``{"error": ...}`` event. One ``Scrubber``, built once per
worker from the frozen Config and kept on the Gateway (``gw.scrubber``), removes them from every
piece of upstream text before it reaches a client or a log:

- secrets, replaced everywhere (answers, error fields, stream events, log lines): every
  provider's ``api_key`` and ``headers`` values, passwords in provider, ledger and Redis URLs,
  secret-looking query parameters, and ``keys.admin``; also the forms they take inside JSON
  strings (escaped quotes, backslashes, ``\\/``);
- locations, replaced in error text only: each provider's ``host:port`` and host name (a model
  may mention ``api.openai.com`` in an answer; an error naming where the upstream lives tells a
  client about the inside of the network).

Values shorter than ``MIN_SECRET`` characters are not treated as secrets (a header value ``1``
would otherwise blank every digit). Error text also loses a secret's beginning when the text
ends with it (a body cut at a length limit mid-key). Each method returns its input object
unchanged when nothing matches, so the common case costs one substring search per needle.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from edge.fastpath import jsonio

if TYPE_CHECKING:
    from .config import Config
    from .errors import EdgeError

__all__ = ["MIN_SECRET", "REDACTED", "ScrubbingLogFilter", "Scrubber", "redact_credential_headers"]

REDACTED = "[redacted]"
MIN_SECRET = 6
# The shortest beginning of a secret that error text may not end with (three characters of a
# key are its public prefix, like "sk-"; four and more start to be the key).
MIN_PARTIAL = 4
_SECRET_QUERY = re.compile(r"pass|secret|token|key|auth", re.I)
# Header lines that carry credentials, in any text that quotes a request head (aiohttp's
# error for a malformed request shows the offending line, as a bytes repr). Everything after
# the name up to the end of the line goes: a value may hold quotes, so no quote ends it.
_CREDENTIAL_LINE = re.compile(
    r"(?i)\b(authorization|proxy-authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie)(['\"]?\s*:\s*)[^\r\n]*"
)


def redact_credential_headers(text: str) -> str:
    """``Authorization: Bearer sk-...`` -> ``Authorization: [redacted]`` wherever a header
    line carrying credentials is quoted (client keys are not in the config, so the Scrubber
    cannot know them: the header name says what to hide)."""
    return _CREDENTIAL_LINE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if parts.password:
        found += [parts.password, f"{parts.username or ''}:{parts.password}"]
    found += [value for name, value in parse_qsl(parts.query) if _SECRET_QUERY.search(name)]
    return found


def _locations(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        return [parts.netloc.rpartition("@")[2], parts.hostname or ""]
    except ValueError:
        return []


def _ordered(values: Iterable[str]) -> tuple[str, ...]:
    # Longest first: a secret that contains another is replaced whole.
    return tuple(sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True))


def _wire_forms(values: tuple[str, ...]) -> tuple[builtins.bytes, ...]:
    """Each value as raw UTF-8 and as it appears inside a JSON string (escaped, and with '/'
    escaped too, as some encoders do), longest first."""
    forms: set[builtins.bytes] = set()
    for value in values:
        raw = value.encode("utf-8", "surrogatepass")
        quoted = jsonio.dumps(value)[1:-1]
        forms.update((raw, quoted, quoted.replace(b"/", b"\\/")))
    return tuple(sorted(forms, key=len, reverse=True))


# Bytes of LLM traffic (JSON punctuation, English, ids, timestamps) from most to least common,
# roughly; bytes not listed are rarer still. A needle's two rarest bytes are its anchors.
_COMMON = b' "etaoinsrlhdcu:,pmfg{}y.bw_v0k1-2x53749j86qz[]/ETAOINSRHLDCUMFPGWYBVKXJQZ'


def _probe(needle: builtins.bytes) -> tuple[int, int, builtins.bytes]:
    """(anchor, anchor, needle): looking for one byte is a memchr, several times cheaper than a
    substring search, and a needle is absent whenever one of its bytes is (the usual case)."""
    rarest = sorted(set(needle), key=lambda b: _COMMON.find(b) % (len(_COMMON) + 1), reverse=True)  # absent (-1) ranks rarest
    return rarest[0], rarest[min(1, len(rarest) - 1)], needle


class Scrubber:
    """Immutable once built; see the module docstring for what it removes and where."""

    __slots__ = ("secrets", "locations", "_secret_bytes", "_location_bytes", "_probes")

    secrets: tuple[str, ...]
    locations: tuple[str, ...]
    _secret_bytes: tuple[builtins.bytes, ...]
    _location_bytes: tuple[builtins.bytes, ...]
    _probes: tuple[tuple[int, int, builtins.bytes], ...]

    def __init__(self, secrets: Iterable[str] = (), locations: Iterable[str] = ()) -> None:
        ordered = _ordered(secrets)
        places = tuple(v for v in _ordered(locations) if v not in ordered)
        forms, place_forms = _wire_forms(ordered), _wire_forms(places)
        for name, value in (
            ("secrets", ordered),
            ("locations", places),
            ("_secret_bytes", forms),
            ("_location_bytes", place_forms),
            ("_probes", tuple(_probe(form) for form in forms)),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Scrubber is immutable: build a new one from the Config")

    @classmethod
    def from_config(cls, config: Config) -> Scrubber:
        secrets: list[str] = [config.keys.admin or ""]
        locations: list[str] = []
        for provider in config.providers.values():
            secrets.append(provider.api_key or "")
            secrets.extend(provider.headers.values())
            secrets.extend(_url_secrets(provider.base_url))
            locations.extend(_locations(provider.base_url))
        secrets.extend(_url_secrets(config.state.ledger))
        secrets.extend(_url_secrets(config.state.redis))
        return cls(secrets, locations)

    # -- bytes and text ----------------------------------------------------------------------

    def bytes(self, data: builtins.bytes) -> builtins.bytes:
        """Secrets out of upstream bytes (a whole body, one SSE event or more)."""
        for first, second, needle in self._probes:
            if first in data and second in data and needle in data:
                return _replace_bytes(data, self._secret_bytes)
        return data

    def text(self, s: str) -> str:
        """Secrets out of decoded upstream text (or a log line)."""
        for secret in self.secrets:
            if secret in s:
                return _replace_text(s, self.secrets)
        return s

    def error_text(self, s: str) -> str:
        """Secrets and locations out of error text, and a secret's beginning off its end."""
        s = _replace_text(self.text(s), self.locations) if any(place in s for place in self.locations) else self.text(s)
        return _cut_tail(s, self.secrets)

    def sse(self, piece: builtins.bytes) -> builtins.bytes:
        """One output piece of a stream (whole ``data: ...`` events, as the relay writes
        them): secrets out of every event, locations out of error events."""
        piece = self.bytes(piece)
        # Error events are rare, and host names and addresses share their bytes with ids and
        # timestamps: look for the event first.
        if not self._location_bytes or b'"error"' not in piece:
            return piece
        for needle in self._location_bytes:
            if needle in piece:
                break
        else:
            return piece
        events = piece.split(b"\n\n")
        return b"\n\n".join(_replace_bytes(e, self._location_bytes) if b'"error"' in e else e for e in events)

    # -- errors ------------------------------------------------------------------------------

    def error(self, err: EdgeError) -> EdgeError:
        """The client-facing fields of an error (message, param, code, type), scrubbed in place;
        for an upstream error also the upstream's own report it carries."""
        for name in ("message", "param", "code", "type"):
            value = getattr(err, name)
            if isinstance(value, str) and value:
                clean = self.error_text(value)
                if clean is not value:
                    setattr(err, name, clean)
        info = getattr(err, "info", None)
        if isinstance(info, msgspec.Struct):
            setattr(err, "info", msgspec.structs.replace(info, message=err.message, param=err.param, code=err.code, type=err.type))
        return err


def _replace_bytes(data: builtins.bytes, needles: tuple[builtins.bytes, ...]) -> builtins.bytes:
    for needle in needles:
        if needle in data:
            data = data.replace(needle, b"[redacted]")
    return data


def _replace_text(s: str, needles: tuple[str, ...]) -> str:
    for needle in needles:
        if needle in s:
            s = s.replace(needle, REDACTED)
    return s


def _cut_tail(s: str, values: tuple[str, ...]) -> str:
    """Text that ends with the first MIN_PARTIAL+ characters of a value loses them."""
    for value in values:
        for size in range(min(len(value) - 1, len(s)), MIN_PARTIAL - 1, -1):
            if s.endswith(value[:size]):
                return s[:-size] + REDACTED
    return s


class ScrubbingLogFilter(logging.Filter):
    """A handler filter: every record's final text (message, arguments, traceback) is
    scrubbed of configured secrets before any handler writes it."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__("")
        self._scrubber = scrubber
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, with our text
            message = f"{record.msg} {record.args}"
        clean = self._scrubber.text(message)
        if clean is not message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrubber.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrubber.text(record.stack_info)
        return True
