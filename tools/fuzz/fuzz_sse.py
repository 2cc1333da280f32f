"""SSE framing (edge.fastpath.sse), both builds: same events from sse_py and sse_c, in any
split, and nothing raised but SSEError (an event over max_event_bytes)."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["edge"]):
    from edge.fastpath import sse_c, sse_py
    from edge.fastpath._errors import SSEError

from tools.fuzz._harness import fixture_seeds, main, splits


def _run(module: object, pieces: list[bytes], limit: int, data_only: bool) -> tuple[object, ...]:
    decoder = module.SSEDecoder(limit, data_only=data_only)  # type: ignore[attr-defined]
    events: list[object] = []
    try:
        for piece in pieces:
            events.extend(decoder.feed(piece))
        events.extend(decoder.flush())
    except SSEError:
        return ("SSEError",)
    if not data_only:
        events = [(e.event, e.data, e.id, e.retry) for e in events]
    return tuple(events)


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    limit = 16 + data[0] * 64  # small caps, so the oversize path runs often
    data_only = bool(data[1] & 1)
    body, pieces = splits(data[1:])
    py = _run(sse_py, pieces, limit, data_only)
    c = _run(sse_c, pieces, limit, data_only)
    assert py == c, f"sse_py and sse_c disagree:\n{py!r}\n{c!r}"
    whole = _run(sse_py, [body] if body else [], limit, data_only)
    assert whole == py, f"the split changed the events:\n{whole!r}\n{py!r}"


def seeds() -> list[bytes]:
    return [b"\xff" + s for s in fixture_seeds("openai", "anthropic")] + [b"\xff\x00data: a\r\ndata: b\rid: 1\nretry: 10\n\n:c\n\xef\xbb\xbfevent: x\ndata\n\n"]


if __name__ == "__main__":
    main("sse", one_input, seeds())
