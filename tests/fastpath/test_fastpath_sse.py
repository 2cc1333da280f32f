"""SSE framing vectors (WHATWG HTML "server-sent events", written by us) on both builds."""

from __future__ import annotations

import random

import pytest

from edge.fastpath import sse
from edge.fastpath._errors import SSEError

# (stream, [(event, data, id, retry), ...]) after feed + flush.
VECTORS = [
    (b"data: a\n\n", [("", b"a", None, None)]),
    (b"data: a\r\n\r\n", [("", b"a", None, None)]),
    (b"data: a\r\rdata: b\r\r", [("", b"a", None, None), ("", b"b", None, None)]),
    (b"data:a\n\n", [("", b"a", None, None)]),
    (b"data:  a\n\n", [("", b" a", None, None)]),  # only one leading space is stripped
    (b"data: a\ndata: b\n\n", [("", b"a\nb", None, None)]),
    (b"data\n\n", [("", b"", None, None)]),  # a field with no colon has an empty value
    (b"data\ndata\n\n", [("", b"\n", None, None)]),
    (b": comment\n\n", []),
    (b":\ndata: x\n: more\n\n", [("", b"x", None, None)]),
    (b"event: add\ndata: 1\n\n", [("add", b"1", None, None)]),
    (b"event: add\n\ndata: 2\n\n", [("", b"2", None, None)]),  # no data: event type resets
    (b"id: 7\ndata: a\n\ndata: b\n\n", [("", b"a", "7", None), ("", b"b", "7", None)]),
    (b"id: 7\ndata: a\n\nid\ndata: b\n\n", [("", b"a", "7", None), ("", b"b", "", None)]),
    (b"id: 1\x002\ndata: a\n\n", [("", b"a", None, None)]),  # an id with NUL is ignored
    (b"retry: 1500\ndata: a\n\n", [("", b"a", None, 1500)]),
    (b"retry: 15x\ndata: a\n\n", [("", b"a", None, None)]),
    (b"retry: -1\ndata: a\n\n", [("", b"a", None, None)]),
    (b"retry\ndata: a\n\n", [("", b"a", None, None)]),
    (b"foo: bar\ndata: a\n\n", [("", b"a", None, None)]),  # unknown fields are ignored
    (b"Data: a\n\n", []),  # field names are case-sensitive
    (b"\xef\xbb\xbfdata: bom\n\n", [("", b"bom", None, None)]),
    (b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n", []),  # only one BOM is stripped
    (b"data: \xc3\xa9\xe4\xbd\xa0\n\n", [("", "é你".encode(), None, None)]),
    (b"data: a\n\ndata: cut", [("", b"a", None, None), ("", b"cut", None, None)]),
    (b"data: a\ndata: b", [("", b"a\nb", None, None)]),  # flush dispatches an open event
    (b"event: x\n", []),  # ... but not one without data
    (b"\n\n\n", []),
    (b"data: a\r\n\ndata: b\n\r\n", [("", b"a", None, None), ("", b"b", None, None)]),
    (b"data: {\"a\": 1}\n\n", [("", b'{"a": 1}', None, None)]),
]


def _run(mod, stream: bytes, pieces: list[int] | None = None) -> list:
    dec = mod.SSEDecoder()
    events = []
    if pieces is None:
        events += dec.feed(stream)
    else:
        pos = 0
        for size in pieces:
            events += dec.feed(stream[pos : pos + size])
            pos += size
        events += dec.feed(stream[pos:])
    events += dec.flush()
    return [(e.event, e.data, e.id, e.retry) for e in events]


@pytest.mark.parametrize(("stream", "expected"), VECTORS)
def test_vectors(sse_mod, stream: bytes, expected: list) -> None:
    assert _run(sse_mod, stream) == expected


@pytest.mark.parametrize(("stream", "expected"), VECTORS)
def test_every_split_and_byte_at_a_time(sse_mod, stream: bytes, expected: list) -> None:
    for cut in range(len(stream) + 1):
        assert _run(sse_mod, stream, [cut]) == expected, cut
    assert _run(sse_mod, stream, [1] * len(stream)) == expected


def test_crlf_split_across_feeds(sse_mod) -> None:
    dec = sse_mod.SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert [e.data for e in dec.feed(b"\n\r")] == [b"a"]
    # The LF after that CR belongs to the same line end, not a second blank line.
    assert dec.feed(b"\ndata: b\r\n\r\n")[0].data == b"b"


def test_own_streams_split_equivalence(sse_mod, own_streams) -> None:
    rnd = random.Random(7)
    for path in sorted(own_streams.glob("*.sse")):
        raw = path.read_bytes()
        whole = _run(sse_mod, raw)
        assert whole
        for cut in range(len(raw) + 1):
            assert _run(sse_mod, raw, [cut]) == whole
        for _ in range(20):
            sizes = [rnd.randint(1, 40) for _ in range(len(raw) // 10)]
            assert _run(sse_mod, raw, sizes) == whole


def test_oversize_line_and_event(sse_mod) -> None:
    dec = sse_mod.SSEDecoder(max_event_bytes=64)
    with pytest.raises(SSEError, match="64"):
        for _ in range(10):
            dec.feed(b"x" * 10)  # no line break: bounded memory
    dec = sse_mod.SSEDecoder(max_event_bytes=64)
    with pytest.raises(SSEError):
        dec.feed(b"data: " + b"y" * 100 + b"\n")
    dec = sse_mod.SSEDecoder(max_event_bytes=64)
    with pytest.raises(SSEError):
        dec.feed(b"data: 0123456789\n" * 8)  # many small lines, one big event
    assert issubclass(SSEError, ValueError)


def test_data_only_mode(sse_mod) -> None:
    dec = sse_mod.SSEDecoder(data_only=True)
    assert dec.feed(b"event: e\ndata: a\ndata: b\n\n: c\ndata: z") == [b"a\nb"]
    assert dec.flush() == [b"z"]


def test_last_event_id_and_retry_state(sse_mod) -> None:
    dec = sse_mod.SSEDecoder()
    dec.feed(b"id: 5\nretry: 300\n\n")  # no data: not dispatched, but the state is kept
    assert (dec.last_event_id, dec.retry) == ("5", 300)
    assert dec.feed(b"data: x\n\n")[0].id == "5"


def test_event_value_semantics(sse_mod) -> None:
    a = sse_mod.SSEEvent("", b"x", None, None)
    assert a == sse_mod.SSEEvent("", b"x", None, None)
    assert a != sse_mod.SSEEvent("e", b"x", None, None)
    assert "b'x'" in repr(a)


def test_selector_exports() -> None:
    assert sse.IMPLEMENTATION in ("c", "py")
    assert sse.SSEError is SSEError
    assert {"SSEDecoder", "SSEEvent", "SSEError", "IMPLEMENTATION"} <= set(sse.__all__)
