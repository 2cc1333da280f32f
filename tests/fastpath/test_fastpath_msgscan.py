"""The Anthropic Messages stream scanner (fastpath/msgscan_py.py) on both builds.

Framing vectors written from WHATWG SSE and Anthropic's event names, the recorded Anthropic
streams cut at every byte and at random, and the compiled build held to the pure one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import ModuleType

import pytest

from edge.fastpath._errors import SSEError
from tests.adapters.replay_support import every_byte, jsonl_as_sse, random_pieces
from tests.fastpath.fastpath_builds import load_build

LOCAL = Path(__file__).resolve().parents[1] / "fixtures" / "streams" / "anthropic"


@pytest.fixture(params=["py", "c"])
def scan_mod(request: pytest.FixtureRequest) -> ModuleType:
    return load_build("msgscan", request.param)


def _event(kind: str, doc: dict[str, object], crlf: bool = False) -> bytes:
    out = f"event: {kind}\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n".encode()
    return out.replace(b"\n", b"\r\n") if crlf else out


def _run(mod: ModuleType, pieces: list[bytes]) -> tuple[bytes, list[tuple[int, bytes]], object]:
    """Output, the marked events (kind, bytes) in order, and the scanner."""
    scan = mod.MessagesScanner()
    out, marked = [], []
    for piece in [*pieces, None]:
        got = scan.feed(piece) if piece is not None else scan.flush()
        marked += [(kind, got[s:e]) for kind, s, e in scan.marks]
        out.append(got)
    return b"".join(out), marked, scan


def _stream(crlf: bool = False) -> bytes:
    usage = {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    parts = [
        _event("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": usage}}, crlf),
        _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, crlf),
        _event("ping", {"type": "ping"}, crlf),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}, crlf),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ' say "hi"'}}, crlf),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}, crlf),
        _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}, crlf),
        _event("message_stop", {"type": "message_stop"}, crlf),
    ]
    return b"".join(parts)


@pytest.mark.parametrize("crlf", [False, True])
def test_whole_events_pass_unchanged_and_the_right_ones_are_marked(scan_mod: ModuleType, crlf: bool) -> None:
    body = _stream(crlf)
    out, marked, scan = _run(scan_mod, [body])
    assert out == body
    kinds = [k for k, _ in marked]
    assert kinds == [scan_mod.MESSAGE_START, scan_mod.MESSAGE_DELTA, scan_mod.MESSAGE_STOP]
    assert marked[0][1].startswith(b"event: message_start") and marked[0][1].endswith(b"\r\n\r\n" if crlf else b"}\n\n")
    assert scan.events == 8
    # "Hello" and ' say "hi"' (11 bytes on the wire, 2 of them backslashes): 5 + 9
    assert scan.text_bytes == 14


def test_every_split_gives_the_same_output_marks_and_counts(scan_mod: ModuleType) -> None:
    body = _stream() + _stream(crlf=True)
    whole = _run(scan_mod, [body])
    for pieces in (every_byte(body), random_pieces(body, 3), random_pieces(body, 11)):
        out, marked, scan = _run(scan_mod, pieces)
        assert (out, marked) == whole[:2]
        assert (scan.events, scan.text_bytes) == (whole[2].events, whole[2].text_bytes)  # type: ignore[attr-defined]


def test_output_is_held_until_an_event_is_whole(scan_mod: ModuleType) -> None:
    scan = scan_mod.MessagesScanner()
    assert scan.feed(b"event: ping\ndata: {}\n") == b""
    assert scan.feed(b"\r") == b""  # LF, CR: a CRLF may still make it a blank line
    assert scan.feed(b"\nevent: ping") == b"event: ping\ndata: {}\n\r\n"
    assert scan.flush() == b"event: ping" and scan.marks == []
    assert scan.reads == 3 and scan.events == 2


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        (b'data: {"type":"message_stop"}\n\n', ["UNNAMED"]),  # no event: line, read by its type
        (b'data: {"type":"ping"}\nevent: message_stop\n\n', ["MESSAGE_STOP"]),  # the name on a later line
        (b'event:error\ndata: {"type":"error"}\n\n', ["ERROR"]),  # no space after the colon
        (b"event: message_started\ndata: {}\n\n", []),  # a longer name is another event
        (b"event: message_delta\r\ndata: {}\r\n\r\n", ["MESSAGE_DELTA"]),
        (b": a comment\n\n", []),  # neither a name nor data
        (b"\n\n\n\n", []),
        (b"event: content_block_delta\ndata: {}\n\n", []),
    ],
)
def test_names(scan_mod: ModuleType, body: bytes, kinds: list[str]) -> None:
    out, marked, _ = _run(scan_mod, [body])
    assert out == body
    assert [k for k, _ in marked] == [getattr(scan_mod, k) for k in kinds]


@pytest.mark.parametrize(
    ("delta", "size"),
    [
        ({"type": "text_delta", "text": "héllo"}, 6),  # UTF-8 bytes
        ({"type": "thinking_delta", "thinking": "let me see"}, 10),
        ({"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}, 17),  # 4 escaped quotes
        ({"type": "signature_delta", "signature": "c2lnLW1vY2s="}, 0),  # not output text
        ({"type": "input_json_delta", "partial_json": ""}, 0),
    ],
)
def test_text_bytes(scan_mod: ModuleType, delta: dict[str, str], size: int) -> None:
    body = b"event: content_block_delta\ndata: " + json.dumps({"type": "content_block_delta", "index": 0, "delta": delta}, ensure_ascii=False).encode() + b"\n\n"
    _, _, scan = _run(scan_mod, [body])
    assert scan.text_bytes == size  # type: ignore[attr-defined]


def test_an_oversized_event_raises(scan_mod: ModuleType) -> None:
    scan = scan_mod.MessagesScanner(max_event_bytes=64)
    assert scan.feed(b"event: ping\ndata: {}\n\n" + b"event: content_block_delta\ndata: " + b"x" * 20) != b""
    with pytest.raises(SSEError):
        scan.feed(b"y" * 40)
    with pytest.raises(ValueError):  # what the relay catches
        scan_mod.MessagesScanner(max_event_bytes=10).feed(b"data: " + b"z" * 20)


def _recorded(shared: Path) -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in sorted((shared / "anthropic").glob("*.sse"))]
    out += [(p.name, jsonl_as_sse(p, True)) for p in sorted((shared / "anthropic").glob("*.jsonl"))]
    out += [(p.name, p.read_bytes()) for p in sorted(LOCAL.glob("*.sse"))]
    return out


@pytest.mark.shared_fixtures
def test_recorded_streams_on_both_builds_agree(shared_fixtures: Path) -> None:
    py, c = load_build("msgscan", "py"), load_build("msgscan", "c")
    rng = random.Random(5)
    for name, body in _recorded(shared_fixtures):
        out, marked, scan = _run(py, [body])
        assert out == body, name
        named = [json.loads(ev.split(b"data:", 1)[1].split(b"\n", 1)[0])["type"] for _, ev in marked]
        expected = [t for t in ("message_start", "message_delta", "message_stop", "error") if f'"type":"{t}"'.encode() in body.replace(b'": "', b'":"')]
        assert sorted(set(named)) == sorted(expected), name
        for pieces in (every_byte(body), random_pieces(body, rng.randrange(1, 50))):
            again = _run(c, pieces)
            assert again[:2] == (out, marked), name
            assert again[2].text_bytes == scan.text_bytes, name  # type: ignore[attr-defined]
