"""Request smuggling against a real gateway: every framing a front proxy and the gateway could
read differently is refused with 400 and the connection closed, before any upstream call, and
the request hidden behind it is never answered. On both servers: edge.server (the hot
endpoints) and aiohttp (``server.lean_path: false``, and every other endpoint).

The variants are the classic ones (RFC 9112 sections 6.1-6.3 and 7.1, and the PortSwigger and
"HTTP Desync" lists): Content-Length with Transfer-Encoding either way round, two lengths,
a Transfer-Encoding that does not end in chunked or is obfuscated (folded, tab, space before
the colon), a length that is not digits, a malformed chunk size or chunk end, bare LF and CR
line ends, control bytes in a header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.server.raw_http import connect, parse_answers, read_until_closed
from tests.support import Mock, Server, gateway_config, write_config

_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
# Hidden behind the first request: answered only if the gateway misread the framing.
_SMUGGLED = b"GET /v1/models HTTP/1.1\r\nHost: edge\r\n\r\n"
_CHAT = b'{"model":"chat","messages":[{"role":"user","content":"smuggled"}]}'

VARIANTS = {
    "cl-te": _HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-cl": _HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    "two-lengths": _HEAD + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n%s" % (len(_CHAT), _CHAT),
    "same-length-twice": _HEAD + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n%s" % (len(_CHAT), len(_CHAT), _CHAT),
    "te-not-chunked-last": _HEAD + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te-unknown": _HEAD + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te-folded": _HEAD + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "te-space-before-colon": _HEAD + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te-vertical-tab": _HEAD + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
    "length-with-sign": _HEAD + b"Content-Length: +%d\r\n\r\n%s" % (len(_CHAT), _CHAT),
    "length-list": _HEAD + b"Content-Length: %d, %d\r\n\r\n%s" % (len(_CHAT), len(_CHAT), _CHAT),
    "chunk-size-hex-prefix": _HEAD + b"Transfer-Encoding: chunked\r\n\r\n0x%x\r\n%s\r\n0\r\n\r\n" % (len(_CHAT), _CHAT),
    "chunk-without-crlf": _HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%sXX0\r\n\r\n" % (len(_CHAT), _CHAT),
    "chunk-data-bare-lf": _HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\n0\r\n\r\n" % (len(_CHAT), _CHAT),
    "chunk-extension-bare-lf": _HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x;a\n%s\r\n0\r\n\r\n" % (len(_CHAT), _CHAT),
    "head-bare-lf": b"POST /v1/chat/completions HTTP/1.1\nHost: edge\nContent-Length: %d\n\n%s" % (len(_CHAT), _CHAT),
    "header-bare-cr": _HEAD + b"X-A: a\rb\r\nContent-Length: %d\r\n\r\n%s" % (len(_CHAT), _CHAT),
    "header-nul": _HEAD + b"X-A: a\x00b\r\nContent-Length: %d\r\n\r\n%s" % (len(_CHAT), _CHAT),
}


@pytest.fixture(scope="module", params=["lean", "aiohttp"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Mock, str]]:
    home = tmp_path_factory.mktemp(f"smuggling-{request.param}")
    mock = Mock()
    text = gateway_config(mock.base_url, home)
    if request.param == "aiohttp":
        text = text.replace("drain_timeout_s: 10\n", "drain_timeout_s: 10\n  lean_path: false\n")
    gw = Server(["serve", "--config", str(write_config(home / "edge.yaml", text))], cwd=str(home))
    yield gw, mock, request.param
    assert gw.stop() == 0
    mock.stop()
    assert "Traceback" not in gw.output, gw.output[-3000:]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_smuggling_variant_is_refused(gateway: tuple[Server, Mock, str], variant: str) -> None:
    gw, mock, server = gateway
    before = mock.stats()["requests"]
    sock = connect(gw.host, gw.port)
    try:
        sock.sendall(VARIANTS[variant] + _SMUGGLED)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed = read_until_closed(sock, 5.0)
    sock.close()
    assert closed, f"{variant}: the connection stayed open"
    assert data.startswith(b"HTTP/1.1 400 ") or data.startswith(b"HTTP/1.0 400 "), f"{variant} on {server}: {data[:300]!r}"
    # One answer (aiohttp's 400 quotes the bad line in its body, so count whole responses).
    assert len(parse_answers(data)) == 1, f"{variant} on {server}: the smuggled request was answered: {data[:600]!r}"
    assert mock.stats()["requests"] == before, f"{variant} on {server}: the upstream was called"
    if server == "lean":  # the gateway's own envelope, saying what was wrong
        assert b'"code":"malformed_request"' in data and b"Malformed HTTP request: " in data
